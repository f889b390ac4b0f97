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
    from PySide6.QtGui import QIcon

    from app.paths import RESOURCES

    app.setWindowIcon(QIcon(str(RESOURCES / "icons" / "engram.svg")))
    settings = QSettings(str(settings_path()), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    requested = next((a for a in (argv or [])[1:] if not a.startswith("-")), None)
    last = settings.value("database/last")
    target = requested or (last if last and Path(last).exists() else None) or DEMO_DUCKDB
    if not window.open_database(target) and target != DEMO_DUCKDB:
        window.open_database(DEMO_DUCKDB)
    return app, window


def setup_logging() -> Path:
    """Logs to a rotating file in the user data folder (what a bug report asks for)."""
    import logging
    from logging.handlers import RotatingFileHandler

    from app.paths import user_data_dir

    path = user_data_dir() / "logs" / "engram.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    return path


def install_crash_dialog() -> None:
    """An unexpected error shows a readable dialog (with details to copy) instead of killing the app."""
    import logging
    import traceback

    def hook(kind, value, tb):
        details = "".join(traceback.format_exception(kind, value, tb))
        logging.getLogger("engram").error("unhandled error\n%s", details)
        from ui.errors import show_error

        show_error(None, "Something went wrong", f"{kind.__name__}: {value}\n\nThe details are in the log; "
                   "use Show Details to copy them into a bug report.", details)

    sys.excepthook = hook


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    if "--self-test" in argv:
        from app.cli import main as cli_main

        return cli_main(["self-test"])
    if argv[1:2] == ["--tune-child"]:  # how a frozen build starts its training child (no `python -m`)
        from engine.workflows.train import main as child_main

        return child_main(argv[2:])
    if argv[1:2] == ["--cli"]:  # the command line of a frozen build: `Engram --cli inspect db.sqlite`
        from app.cli import main as cli_main

        return cli_main(argv[2:])
    setup_logging()
    install_crash_dialog()
    app, window = create_window(argv)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
