"""Evaluate page: base vs tuned on the project's pairs, scored by execution against the database.
Summary cards, an errors-by-kind chart, and a per-example table showing both answers and what
changed (fixed / broken); reports are saved as HTML and recorded in the project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
                               QProgressBar, QPushButton, QSplitter, QTableView, QVBoxLayout, QWidget)

from engine.eval.evaluate import SUMMARY_FIELDS, compare
from engine.eval.general_set import GENERAL_SET
from engine.models.locate import BUNDLED_NAME
from ui.errors import show_error
from ui.jobs import Job
from ui.state import AppState
from ui.widgets import spin_box

_CHANGE_COLOURS = {"fixed": QColor(46, 160, 67, 70), "broken": QColor(218, 54, 51, 70)}
_LABELS = {"fact_recall": "Fact recall", "fact_recall_normalized": "Fact recall (normalized)",
           "sql_validity": "SQL validity", "execution_accuracy": "Execution accuracy",
           "exact_sql_match": "Exact SQL match", "general_ability": "General ability"}


class ComparisonModel(QAbstractTableModel):
    COLUMNS = [("kind", "Kind"), ("question", "Question"), ("gold", "Gold"), ("base", "Base answer"),
               ("tuned", "Tuned answer"), ("change", "Change"), ("tuned_error", "Tuned error")]

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[dict] = []

    def set_rows(self, rows: list[dict]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section][1]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            value = row.get(self.COLUMNS[index.column()][0])
            return "" if value is None else str(value)
        if role == Qt.ItemDataRole.BackgroundRole:
            return _CHANGE_COLOURS.get(row["change"])
        return None


class EvaluatePage(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.job: Job | None = None
        self.reports: list = []

        self.base_choice = QComboBox()
        self.tuned_choice = QComboBox()
        for choice in (self.base_choice, self.tuned_choice):  # long run names must not widen the window
            choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            choice.setMinimumContentsLength(16)
        self.split = QComboBox()
        self.split.addItems(["latest run's pairs", "train", "paraphrase", "eval", "all"])
        self.split.setToolTip("the pairs the latest run trained on, or train (memorization) / paraphrase and "
                              "eval (generalization)")
        self.limit = spin_box(1, 100_000, 100)
        self.general = QCheckBox("General ability")
        self.general.setChecked(True)
        self.general.setToolTip(f"also ask both models the {len(GENERAL_SET)} general prompts, to see what "
                                "tuning cost outside the database")
        self.run_button = QPushButton("Run evaluation")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(lambda: self.job and self.job.cancel())
        self.save_button = QPushButton("Save report…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save_report)
        self.progress = QProgressBar()
        controls = QHBoxLayout()  # what to compare; below it, what to do (two rows fit a laptop screen)
        for label, widget in (("Base", self.base_choice), ("Tuned", self.tuned_choice), ("Pairs", self.split),
                              ("At most", self.limit)):
            controls.addWidget(QLabel(label))
            controls.addWidget(widget, 1 if widget in (self.base_choice, self.tuned_choice) else 0)
        actions = QHBoxLayout()
        for widget in (self.run_button, self.cancel_button, self.save_button, self.general):
            actions.addWidget(widget)
        actions.addWidget(self.progress, 1)

        cards = QGroupBox("Summary (base → tuned)")
        grid = QGridLayout(cards)
        self.cards: dict[str, QLabel] = {}
        for i, name in enumerate(SUMMARY_FIELDS):
            title = QLabel(_LABELS[name])
            value = QLabel("–")
            value.setStyleSheet("font-size: 20px; font-weight: bold;")
            row, column = 2 * (i // 3), i % 3  # three cards a row
            grid.addWidget(title, row, column)
            grid.addWidget(value, row + 1, column)
            self.cards[name] = value

        self.chart = pg.PlotWidget(title="Errors by kind (base: grey, tuned: blue)")
        self.chart.setMinimumHeight(180)
        self.table_model = ComparisonModel(self)
        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.setWordWrap(False)
        for column, width in ((0, 55), (1, 320), (2, 220), (3, 220), (4, 220)):
            self.table.setColumnWidth(column, width)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.chart)
        splitter.addWidget(self.table)
        splitter.setStretchFactor(1, 3)

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addLayout(actions)
        layout.addWidget(cards)
        layout.addWidget(splitter, 1)
        state.runs_changed.connect(self.refresh_models)
        state.database_changed.connect(self.refresh_models)
        self.refresh_models()

    def refresh_models(self) -> None:
        self.base_choice.clear()
        self.tuned_choice.clear()
        self.base_choice.addItem(BUNDLED_NAME, "bundled")
        store = self.state.store
        if store is not None:
            for artifact in reversed(store.artifacts()):
                if not Path(artifact["path"]).exists():
                    continue
                if artifact["kind"] == "gguf":
                    self.tuned_choice.addItem(Path(artifact["path"]).name, artifact["path"])
                elif artifact["kind"] == "experts":  # the export's experts-gguf.json
                    self.tuned_choice.addItem(f"{Path(artifact['path']).parent.parent.name} (memory experts)",
                                              artifact["path"])
        self.tuned_choice.addItem(BUNDLED_NAME, "bundled")

    def run(self) -> None:
        from engine.workflows.answering import AnswerOptions, project_examples, sql_context
        from engine.workflows.evaluate import ModelChoice, evaluate_models
        from engine.workflows.pairs import approved_pairs, latest_run, run_pairs

        store, db = self.state.store, self.state.db
        if store is None or db is None:
            return
        choice = self.split.currentText()
        if choice == "latest run's pairs":
            run = latest_run(store)
            pairs = run_pairs(store, run, limit=self.limit.value()) if run else []
        else:
            pairs = approved_pairs(store, choice, limit=self.limit.value())
        if not pairs:
            show_error(self, "Nothing to evaluate", "Approve some pairs in this split first.")
            return
        models = [ModelChoice(self.base_choice.currentData(), f"base: {self.base_choice.currentText()}"),
                  ModelChoice(self.tuned_choice.currentData(), f"tuned: {self.tuned_choice.currentText()}")]
        examples = project_examples(store)
        general = self.general.isChecked()

        def work(report, token):
            # SQL answered as the agent answers: the schema, the project's examples, candidates and a vote
            options = AnswerOptions()
            context = sql_context(db, models[1].spec, examples, options)
            return evaluate_models(models, pairs, db, context, options.settings(), general=general,
                                   cancel=token, progress=lambda step: report(step.done, step.total))

        job = Job("Evaluating", work, self)
        job.progress.connect(lambda d, t: (self.progress.setRange(0, t), self.progress.setValue(d)))
        job.succeeded.connect(self.show_reports)
        job.failed.connect(lambda message, details: show_error(self, "Evaluation failed", message, details))
        job.ended.connect(lambda: (self.run_button.setEnabled(True), self.cancel_button.setEnabled(False)))
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.job = job.start()

    def show_reports(self, reports: list) -> None:
        self.reports = reports
        base, tuned = (r.summary() for r in reports)
        for name, label in self.cards.items():
            a, b = base[name], tuned[name]
            label.setText("–" if a is None and b is None else f"{_pct(a)} → {_pct(b)}")
        kinds = sorted(set(base["errors"]) | set(tuned["errors"]))
        self.chart.clear()
        if kinds:
            x = np.arange(len(kinds))
            self.chart.addItem(pg.BarGraphItem(x=x - 0.2, height=[base["errors"].get(k, 0) for k in kinds],
                                               width=0.4, brush="#999999"))
            self.chart.addItem(pg.BarGraphItem(x=x + 0.2, height=[tuned["errors"].get(k, 0) for k in kinds],
                                               width=0.4, brush="#1f77b4"))
            self.chart.getAxis("bottom").setTicks([[(i, k) for i, k in enumerate(kinds)]])
        self.table_model.set_rows(compare(*reports))
        self.save_button.setEnabled(True)
        if self.state.store is not None:
            for report in reports:
                self.state.store.add_evaluation(report.model, report.summary())

    def save_report(self, path: str | None = None) -> None:
        from engine.eval.evaluate import write_report

        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Save evaluation report", "evaluation.html",
                                                  "HTML (*.html);;JSON (*.json)")
        if path and self.reports:
            write_report(self.reports, path)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"
