"""Dataset page: generate pairs (templates or the local LLM), curate them in the table editor
(inline edits, bulk approve/reject/delete, undo/redo, filters), check a pair's SQL against the
database in the side panel, import and export."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit,
                               QPlainTextEdit, QProgressBar, QPushButton, QSplitter,
                               QStyledItemDelegate, QTableView, QToolBar, QVBoxLayout, QWidget)

from engine.project.pairs import KINDS, SPLITS, STATUSES, VALIDATIONS
from engine.qa.curation import PairFilter
from ui.errors import show_error
from ui.jobs import Job
from ui.pair_model import COLUMNS, PairTableModel
from ui.result_model import ResultModel
from ui.state import AppState
from ui.widgets import spin_box

_CHOICES = {"kind": KINDS, "status": STATUSES, "split": SPLITS}


class ChoiceDelegate(QStyledItemDelegate):
    """A combo box for the enum columns (kind, status, split), free text elsewhere."""

    def createEditor(self, parent, option, index):
        name = COLUMNS[index.column()][0]
        if name in _CHOICES:
            combo = QComboBox(parent)
            combo.addItems(_CHOICES[name])
            return combo
        return super().createEditor(parent, option, index)

    def setEditorData(self, editor, index):
        if isinstance(editor, QComboBox):
            editor.setCurrentText(index.data(Qt.ItemDataRole.EditRole))
        else:
            super().setEditorData(editor, index)

    def setModelData(self, editor, model, index):
        if isinstance(editor, QComboBox):
            model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)
        else:
            super().setModelData(editor, model, index)


def _combo(label: str, values) -> QComboBox:
    combo = QComboBox()
    combo.addItem(f"any {label}", None)
    for value in values:
        combo.addItem(value, value)
    return combo


class DatasetPage(QWidget):
    message = Signal(str)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.job: Job | None = None
        self.model = PairTableModel(self)
        self.model.edit_failed.connect(lambda text: show_error(self, "Edit refused", text))
        self.model.edited.connect(lambda: self._update_actions())

        # -- toolbar: generation and bulk operations ------------------------------------------------
        bar = gen_bar = QToolBar()
        self.generate_action = bar.addAction("Generate from templates", self.generate_templates)
        self.llm_rounds = spin_box(1, 50, 3, prefix="LLM rounds ")
        bar.addWidget(self.llm_rounds)
        self.llm_action = bar.addAction("Generate with LLM", self.generate_llm)
        self.cancel_action = bar.addAction("Cancel", lambda: self.job and self.job.cancel())
        self.cancel_action.setEnabled(False)
        bar = edit_bar = QToolBar()
        self.approve_action = bar.addAction("Approve", lambda: self._bulk("approve"))
        self.approve_action.setShortcut("Ctrl+Shift+A")
        self.reject_action = bar.addAction("Reject", lambda: self._bulk("reject"))
        self.reject_action.setShortcut("Ctrl+Shift+R")
        self.delete_action = bar.addAction("Delete", lambda: self._bulk("delete"))
        self.delete_action.setShortcut(QKeySequence.StandardKey.Delete)
        bar.addAction("Approve all valid", lambda: self._run_command(lambda c: c.approve_valid()))
        bar.addAction("Split 80/20", self.split)
        bar.addSeparator()
        self.undo_action = QAction("Undo", self)
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.undo_action.triggered.connect(self.undo)
        self.redo_action = QAction("Redo", self)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence.StandardKey.Redo])
        self.redo_action.triggered.connect(self.redo)
        bar.addAction(self.undo_action)
        bar.addAction(self.redo_action)
        io_bar = QToolBar()
        io_bar.addAction("Import CSV/JSONL…", self.import_pairs)
        io_bar.addAction("Export approved…", self.export_pairs)
        for action in (self.approve_action, self.reject_action, self.delete_action, self.undo_action,
                       self.redo_action):
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(action)

        # -- filters --------------------------------------------------------------------------------
        self.kind_filter = _combo("kind", KINDS)
        self.status_filter = _combo("status", STATUSES)
        self.split_filter = _combo("split", SPLITS)
        self.validation_filter = _combo("validation", ("none", *VALIDATIONS))
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search question, answer or SQL…")
        self.search.setClearButtonEnabled(True)
        filters = QHBoxLayout()
        for widget in (self.kind_filter, self.status_filter, self.split_filter, self.validation_filter):
            widget.currentIndexChanged.connect(self.apply_filter)
            filters.addWidget(widget)
        self.search.textChanged.connect(self.apply_filter)
        filters.addWidget(self.search, 1)
        self.count_label = QLabel()
        filters.addWidget(self.count_label)

        # -- table and side panel -------------------------------------------------------------------
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setItemDelegate(ChoiceDelegate(self.view))
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setWordWrap(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        for column, width in ((0, 50), (1, 60), (2, 360), (3, 260), (4, 260)):
            self.view.setColumnWidth(column, width)
        self.view.selectionModel().selectionChanged.connect(self._show_selected)

        self.detail = QLabel("Select a pair to see its SQL result")
        self.detail.setWordWrap(True)
        self.sql_view = QPlainTextEdit()
        self.sql_view.setReadOnly(True)
        self.sql_view.setMaximumHeight(120)
        self.preview_model = ResultModel(self)
        preview = QTableView()
        preview.setModel(self.preview_model)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(self.detail)
        side_layout.addWidget(self.sql_view)
        side_layout.addWidget(preview, 1)
        splitter = QSplitter()
        splitter.addWidget(self.view)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(gen_bar)
        top.addStretch(1)
        top.addWidget(io_bar)
        layout.addLayout(top)
        layout.addWidget(edit_bar)
        layout.addLayout(filters)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.progress)
        state.pairs_changed.connect(self._on_pairs_changed)
        state.runs_changed.connect(self._load_scores)
        self._update_actions()

    # -- data -----------------------------------------------------------------------------------------
    def _on_pairs_changed(self) -> None:
        if self.model.curator is not self.state.curator:
            self.model.set_curator(self.state.curator)
        else:
            self.model.reload()
        self._update_count()
        self._update_actions()

    def _load_scores(self) -> None:
        store = self.state.store
        runs = store.runs() if store else []
        finished = [r for r in runs if r["status"] in ("finished", "stopped")]
        self.model.set_scores(store.fact_scores(finished[-1]["id"]) if finished else {})

    def apply_filter(self) -> None:
        flt = PairFilter(kind=self.kind_filter.currentData(), status=self.status_filter.currentData(),
                         split=self.split_filter.currentData(), validation=self.validation_filter.currentData(),
                         text=self.search.text().strip() or None)
        self.model.set_filter(flt)
        self._update_count()

    def _update_count(self) -> None:
        total = self.state.store.count_pairs() if self.state.store else 0
        self.count_label.setText(f"{len(self.model.ids):,} of {total:,} pairs")

    def _update_actions(self) -> None:
        curator = self.state.curator
        self.undo_action.setEnabled(bool(curator and curator.can_undo))
        self.redo_action.setEnabled(bool(curator and curator.can_redo))
        if curator and curator.undo_stack:
            self.undo_action.setText(f"Undo {curator.undo_stack[-1].label}")
        if curator and curator.redo_stack:
            self.redo_action.setText(f"Redo {curator.redo_stack[-1].label}")

    def selected_rows(self) -> list[int]:
        return [index.row() for index in self.view.selectionModel().selectedRows()]

    # -- curation --------------------------------------------------------------------------------------
    def _run_command(self, action) -> None:
        if self.state.curator is None:
            return
        try:
            action(self.state.curator)
        except Exception as error:  # noqa: BLE001
            show_error(self, "Could not change the pairs", str(error))
        self.model.refresh_rows()
        self._update_actions()

    def _bulk(self, what: str) -> None:
        ids = self.model.selected_ids(self.selected_rows())
        if not ids:
            return
        if what == "delete":
            self._run_command(lambda c: c.delete(ids))
            self.model.reload()
            self._update_count()
        else:
            self._run_command(lambda c: getattr(c, what)(ids))

    def undo(self) -> None:
        self._run_command(lambda c: c.undo())
        self.model.reload()
        self._update_count()

    def redo(self) -> None:
        self._run_command(lambda c: c.redo())
        self.model.reload()
        self._update_count()

    def split(self) -> None:
        from engine.qa.split import apply_split

        if self.state.store is None:
            return
        counts = apply_split(self.state.store, 0.2)
        self.model.refresh_rows()
        self.message.emit("Split: " + ", ".join(f"{k} {v}" for k, v in counts.items()))

    def _show_selected(self) -> None:
        rows = self.selected_rows()
        pair = self.model.pair(rows[0]) if rows else None
        if pair is None:
            return
        self.sql_view.setPlainText(pair.sql or "")
        status = pair.validation or "not validated"
        self.detail.setText(f"#{pair.id} · {pair.kind} · {pair.source} · validation: {status}"
                            + (f" — {pair.validation_message}" if pair.validation_message else ""))
        if pair.sql and self.state.db is not None:
            try:
                result = self.state.db.query(pair.sql, max_rows=100, timeout_s=5)
                self.preview_model.set_result(result.columns, result.rows)
            except Exception as error:  # noqa: BLE001 - the validation column already says why
                self.preview_model.set_result(["error"], [(str(error),)])
        else:
            self.preview_model.set_result([], [])

    # -- generation (background jobs) ----------------------------------------------------------------
    def _start(self, job: Job, done_text) -> None:
        self.job = job
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.cancel_action.setEnabled(True)
        self.generate_action.setEnabled(False)
        self.llm_action.setEnabled(False)
        job.progress.connect(lambda d, t: (self.progress.setRange(0, t), self.progress.setValue(d)))
        job.succeeded.connect(lambda result: self.message.emit(done_text(result)))
        job.failed.connect(lambda message, details: show_error(self, f"{job.name} failed", message, details))
        job.cancelled.connect(lambda: self.message.emit(f"{job.name}: cancelled"))
        job.ended.connect(self._job_ended)
        job.start()

    def _job_ended(self) -> None:
        self.progress.setVisible(False)
        self.cancel_action.setEnabled(False)
        self.generate_action.setEnabled(True)
        self.llm_action.setEnabled(True)
        self.state.pairs_changed.emit()

    def generate_templates(self) -> None:
        from engine.qa.generate import generate_template_pairs

        db, store = self.state.db, self.state.store
        if db is None:
            return
        job = Job("Generating pairs", lambda report, token: generate_template_pairs(
            store, db, progress=report, cancel=token), self)
        self._start(job, lambda r: "Generated: " + r.summary().replace("\n", "; "))

    def generate_llm(self) -> None:
        from engine.workflows.generate import generate_with_llm

        db, store = self.state.db, self.state.store
        if db is None:
            return
        rounds = self.llm_rounds.value()

        def work(report, token):
            return generate_with_llm(store, db, rounds=rounds, cancel=token,
                                     progress=lambda step: report(step.done, step.total))

        self._start(Job("LLM generation", work, self), lambda done: f"The LLM proposed {done.added} new valid pair(s)")

    # -- import / export ------------------------------------------------------------------------------
    def import_pairs(self, path: str | None = None) -> None:
        from engine.qa.io import read_pairs

        if self.state.curator is None:
            return
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Import pairs", "", "Pairs (*.csv *.jsonl *.json)")
        if not path:
            return
        try:
            pairs = read_pairs(path)
        except Exception as error:  # noqa: BLE001 - nothing was imported
            show_error(self, "Import failed — nothing was imported", str(error))
            return
        self._run_command(lambda c: c.add(pairs, f"import {Path(path).name}"))
        self.state.pairs_changed.emit()
        self.message.emit(f"Imported {len(pairs)} pair(s)")

    def export_pairs(self, path: str | None = None) -> None:
        from engine.qa.chat_format import PromptContext
        from engine.qa.io import write_csv, write_jsonl

        store, db = self.state.store, self.state.db
        if store is None or db is None:
            return
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Export approved pairs", "pairs.jsonl",
                                                  "Chat JSONL (*.jsonl);;CSV (*.csv)")
        if not path:
            return
        pairs = store.pairs("status = 'approved'")
        if path.lower().endswith(".csv"):
            n = write_csv(pairs, path)
        else:
            n = write_jsonl(pairs, path, PromptContext(Path(db.path).stem, db.dialect))
        self.message.emit(f"Exported {n} approved pair(s) to {path}")

