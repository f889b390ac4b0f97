"""Start the desktop app: QApplication, settings, the main window on the last (or the demo)
database. The only place in app/ that imports Qt (and ui/), so the CLI runs without a display."""

from __future__ import annotations

import sys
from pathlib import Path


def settings_path() -> Path:
    from app.paths import user_data_dir

    return user_data_dir() / "settings.ini"


def create_window(argv: list[str] | None = None):
    """The app and its window, ready to show (tests and screenshots use this too)."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.paths import DEMO_DUCKDB
    from ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("Engram")
    app.setOrganizationName("Engram")
    app.setStyle("Fusion")  # the palette still follows the OS light/dark setting
    settings = QSettings(str(settings_path()), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    requested = next((a for a in (argv or [])[1:] if not a.startswith("-")), None)
    last = settings.value("database/last")
    target = requested or (last if last and Path(last).exists() else None) or DEMO_DUCKDB
    if not window.open_database(target) and target != DEMO_DUCKDB:
        window.open_database(DEMO_DUCKDB)
    return app, window


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    app, window = create_window(argv)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
