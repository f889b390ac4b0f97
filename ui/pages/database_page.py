"""Database page: the schema tree, sample rows of the selected table, and a read-only SQL console.
Queries run in the background with a row cap and can be cancelled."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSplitter,
                               QTableView, QTabWidget, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from ui.errors import show_error
from ui.jobs import Job
from ui.result_model import ResultModel
from ui.state import AppState
from ui.widgets import spin_box


class DatabasePage(QWidget):
    open_requested = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.query_job: Job | None = None

        self.path_label = QLabel("No database open")
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        open_button = QPushButton("Open database…")
        open_button.clicked.connect(self.open_requested)
        header = QHBoxLayout()
        header.addWidget(self.path_label, 1)
        header.addWidget(open_button)

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Table / column", "Type", "Keys", "Rows"])
        self.tree.itemSelectionChanged.connect(self._show_sample)

        self.sample_model = ResultModel(self)
        self.sample_view = QTableView()
        self.sample_view.setModel(self.sample_model)

        self.editor = QPlainTextEdit()
        self.editor.setPlaceholderText("SELECT … (read-only; one statement)")
        self.editor.setFont(QFont("monospace"))
        self.run_button = QPushButton("Run (Ctrl+Enter)")
        self.run_button.setShortcut("Ctrl+Return")
        self.run_button.clicked.connect(self.run_query)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(lambda: self.query_job and self.query_job.cancel())
        self.row_cap = spin_box(1, 100_000, 1000, prefix="row cap ")
        self.query_status = QLabel("")
        self.console_model = ResultModel(self)
        self.console_view = QTableView()
        self.console_view.setModel(self.console_model)
        controls = QHBoxLayout()
        for widget in (self.run_button, self.cancel_button, self.row_cap):
            controls.addWidget(widget)
        controls.addWidget(self.query_status, 1)
        console = QWidget()
        console_layout = QVBoxLayout(console)
        console_layout.addWidget(self.editor, 1)
        console_layout.addLayout(controls)
        console_layout.addWidget(self.console_view, 3)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.sample_view, "Sample rows")
        self.tabs.addTab(console, "SQL console")
        splitter = QSplitter()
        splitter.addWidget(self.tree)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(splitter, 1)
        state.database_changed.connect(self.refresh)

    def refresh(self) -> None:
        self.tree.clear()
        db = self.state.db
        if db is None:
            self.path_label.setText("No database open")
            return
        self.path_label.setText(f"{db.path}  ({db.kind}, read-only)")
        for table in db.schema().tables:
            rows = "" if table.row_count is None else f"{table.row_count:,}"
            item = QTreeWidgetItem([table.name, table.kind, "", rows])
            item.setData(0, Qt.ItemDataRole.UserRole, table.name)
            for column in table.columns:
                keys = []
                if column.primary_key:
                    keys.append("PK")
                for fk in table.foreign_keys:
                    if column.name in fk.columns:
                        keys.append(f"→ {fk.ref_table}.{fk.ref_columns[fk.columns.index(column.name)]}")
                child = QTreeWidgetItem([column.name, column.type, " ".join(keys), ""])
                child.setData(0, Qt.ItemDataRole.UserRole, table.name)
                item.addChild(child)
            self.tree.addTopLevelItem(item)
        for i in range(4):
            self.tree.resizeColumnToContents(i)
        if self.tree.topLevelItemCount():
            self.tree.setCurrentItem(self.tree.topLevelItem(0))

    def _show_sample(self) -> None:
        items = self.tree.selectedItems()
        if not items or self.state.db is None:
            return
        table = items[0].data(0, Qt.ItemDataRole.UserRole)
        result = self.state.db.sample_rows(table, limit=100)
        self.sample_model.set_result(result.columns, result.rows)
        self.sample_view.resizeColumnsToContents()

    def run_query(self) -> None:
        db = self.state.db
        sql = self.editor.toPlainText()
        if db is None or not sql.strip():
            return
        if self.query_job and self.query_job.running:
            self.query_job.stale = True
            self.query_job.cancel()
        cap = self.row_cap.value()
        job = Job("Running query", lambda report, token: db.query(sql, max_rows=cap, cancel=token), self)
        job.succeeded.connect(self._show_result)
        job.failed.connect(lambda message, details: self._query_failed(message))
        job.cancelled.connect(lambda: self.query_status.setText("Cancelled"))
        job.ended.connect(lambda: self.cancel_button.setEnabled(False))
        self.query_job = job
        self.query_status.setText("Running…")
        self.cancel_button.setEnabled(True)
        job.start()

    def _show_result(self, result) -> None:
        self.console_model.set_result(result.columns, result.rows)
        self.console_view.resizeColumnsToContents()
        more = f" — truncated: {result.note}" if result.truncated else ""
        self.query_status.setText(f"{result.row_count} row(s) in {result.elapsed_s:.3f}s{more}")

    def _query_failed(self, message: str) -> None:
        self.query_status.setText("Query refused or failed")
        show_error(self, "Query failed", message)
