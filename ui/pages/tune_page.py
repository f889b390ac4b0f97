"""Tune page: choose the model and hyper-parameters (tooltips from TuneConfig's help), start, stop
and resume memory tuning, and watch it live: loss, share of facts memorized and learning rate
plots, progress, ETA, tokens/s, memory, the event log and the run history.

Plots read growing numpy buffers and redraw at most ~10 times a second (a QTimer), however fast
events arrive."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QAbstractSpinBox, QComboBox, QFileDialog, QFormLayout, QGridLayout, QGroupBox,
                               QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPlainTextEdit, QProgressBar,
                               QPushButton, QSplitter, QVBoxLayout, QWidget)

from engine.tune.config import METHODS, TuneConfig
from engine.tune.events import Diverged, Event, Failed, Finished, Recall, Restarted, Started, Step, Stopped, duration
from engine.tune.run_folder import RunFolder
from ui.errors import show_error
from ui.jobs import Job
from ui.state import AppState
from ui.widgets import double_box, spin_box
from ui.tune_process import TuneRunner

HELP = TuneConfig.help()
# events drawn as a marker on the loss plot: label and colour
MARKERS = {"diverged": ("diverged", "#d62728"), "restarted": ("restarted", "#9467bd")}


class Series:
    """A growing x/y buffer for one curve."""

    def __init__(self) -> None:
        self.x: list[float] = []
        self.y: list[float] = []

    def add(self, x: float, y: float | None) -> None:
        if y is not None:
            self.x.append(x)
            self.y.append(y)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.x, dtype=float), np.asarray(self.y, dtype=float)


class TunePage(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.runner = TuneRunner(self)
        self.runner.event.connect(self.on_event)
        self.runner.ended.connect(self.on_ended)
        self.run_id: int | None = None
        self.run_dir: Path | None = None
        self.max_steps = 0

        # -- settings form ----------------------------------------------------------------------------
        defaults = TuneConfig()
        self.model_choice = QComboBox()
        self.model_choice.addItem("Bundled SmolLM2-135M-Instruct", "bundled")
        self.model_choice.addItem("Hugging Face folder…", "pick-folder")
        self.model_choice.addItem("GGUF file…", "pick-gguf")
        self.model_choice.activated.connect(self._pick_model)
        self.method = QComboBox()
        self.method.addItems(list(METHODS))
        self.expert_size = spin_box(2, 10_000, defaults.expert_size)
        self.experts_at_once = spin_box(0, 64, defaults.experts_at_once)
        self.experts_at_once.setSpecialValueText("by device")  # 0: one at a time (engine/tune/device.py)
        self.lora_r = spin_box(1, 256, defaults.lora_r)
        self.lora_layers = spin_box(0, 512, defaults.lora_layers)
        self.lora_layers.setSpecialValueText("every layer")
        self.batch_size = spin_box(0, 512, defaults.batch_size)
        self.batch_size.setSpecialValueText("by device")  # 0: 4 on a CPU, 10 on a GPU
        self.max_steps_box = spin_box(0, 1_000_000, defaults.max_steps)
        self.epochs = spin_box(1, 1000, defaults.epochs)
        self.lr = double_box(1e-6, 0.5, defaults.learning_rate, 5)
        self.clip = double_box(0, 100, defaults.max_grad_norm, 2, step=0.5)
        self.clip.setSpecialValueText("no clipping")
        self.threshold = double_box(1e-5, 5.0, defaults.loss_threshold, 4)
        self.max_minutes = double_box(0, 10_000, defaults.max_minutes, 1)
        for budget in (self.max_steps_box, self.max_minutes):
            budget.setSpecialValueText("no limit")
        self.regularization = QComboBox()
        self.regularization.addItems(["auto", "kl", "mix", "none"])
        form = QFormLayout()
        rows = (("Model", self.model_choice, "model"), ("Method", self.method, "method"),
                ("LoRA rank", self.lora_r, "lora_r"), ("LoRA layers", self.lora_layers, "lora_layers"),
                ("Learning rate", self.lr, "learning_rate"),
                ("Clip gradient norm", self.clip, "max_grad_norm"),
                ("Batch size", self.batch_size, "batch_size"), ("Loss threshold", self.threshold, "loss_threshold"),
                ("Max steps", self.max_steps_box, "max_steps"), ("Max minutes", self.max_minutes, "max_minutes"),
                ("Epochs (instruction)", self.epochs, "epochs"),
                ("Facts per expert (experts)", self.expert_size, "expert_size"),
                ("Experts at once (experts)", self.experts_at_once, "experts_at_once"),
                ("Regularization", self.regularization, "regularization"))
        for label, widget, key in rows:
            widget.setToolTip(HELP[key])
            form.addRow(label, widget)
        # the number boxes by TuneConfig field: what config() reads and show_settings() fills
        self.number_boxes = {key: widget for _, widget, key in rows if isinstance(widget, QAbstractSpinBox)}
        # the settings the form does not show (seed, warm-up, LoRA scale…) come from the run shown last, so a
        # run from the CLI viewed in the history runs again as it was; a new project starts from the defaults
        self.shown_config = defaults
        settings = QGroupBox("Run settings")
        settings.setLayout(form)

        self.start_button = QPushButton("Start tuning")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setEnabled(False)
        self.resume_button.clicked.connect(self.resume)
        self.update_button = QPushButton("Update memory")
        self.update_button.setEnabled(False)
        self.update_button.setToolTip(
            "Memory experts: give the facts whose value changed in the database their new answer, add the pairs "
            "approved since this run, and train only the experts they touch")
        self.update_button.clicked.connect(self.update_memory)
        self.update_job: Job | None = None
        buttons = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.resume_button, self.update_button):
            buttons.addWidget(button)

        self.history = QListWidget()
        self.history.itemDoubleClicked.connect(self._load_history_item)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(settings)
        left_layout.addLayout(buttons)
        left_layout.addWidget(QLabel("Run history (double-click to view)"))
        left_layout.addWidget(self.history, 1)

        # -- live view ----------------------------------------------------------------------------
        pg.setConfigOptions(antialias=True)
        self.loss_plot = pg.PlotWidget(title="Loss (batch, log scale)")
        self.loss_plot.setLogMode(y=True)
        self.memo_plot = pg.PlotWidget(title="Facts memorized / recalled")
        self.memo_plot.setYRange(0, 1.05)
        self.memo_plot.addLegend(offset=(10, 10))
        self.lr_plot = pg.PlotWidget(title="Learning rate")
        for plot in (self.loss_plot, self.memo_plot, self.lr_plot):
            plot.setLabel("bottom", "step")
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
        self.loss_series, self.memo_series, self.recall_series, self.lr_series = Series(), Series(), Series(), Series()
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen("#1f77b4", width=2))
        self.memo_curve = self.memo_plot.plot(pen=pg.mkPen("#2ca02c", width=2), name="below loss threshold")
        self.recall_curve = self.memo_plot.plot(pen=None, symbol="o", symbolBrush="#d62728", name="exact recall")
        self.lr_curve = self.lr_plot.plot(pen=pg.mkPen("#ff7f0e", width=2))
        self.markers: list[pg.InfiniteLine] = []  # where the run went back (diverged) or started again
        plots = QGridLayout()
        plots.addWidget(self.loss_plot, 0, 0)
        plots.addWidget(self.memo_plot, 0, 1)
        plots.addWidget(self.lr_plot, 1, 0)

        self.progress = QProgressBar()
        self.progress.setFormat("%p% of facts memorized")
        self.stats = QLabel("No run yet")
        self.expert_label = QLabel("")  # memory experts: which expert is training
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        status_box = QWidget()
        status_layout = QVBoxLayout(status_box)
        status_layout.addWidget(self.progress)
        status_layout.addWidget(self.stats)
        status_layout.addWidget(self.expert_label)
        status_layout.addWidget(self.log, 1)
        plots.addWidget(status_box, 1, 1)
        right = QWidget()
        right.setLayout(plots)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(100)  # at most 10 redraws a second
        self.redraw_timer.timeout.connect(self.redraw)
        self._dirty = False
        state.runs_changed.connect(self.refresh_history)
        state.database_changed.connect(self.refresh_history)
        state.database_changed.connect(self._forget_shown_run)
        state.models_changed.connect(self._list_models)

    def _list_models(self) -> None:
        """The local models found (engine/models/catalogue.py) after the bundled one; those Engram cannot
        train are shown greyed, the reason in their tooltip."""
        for entry in self.state.models:
            if self.model_choice.findData(str(entry.path)) >= 0:
                continue
            index = self.model_choice.findData("pick-folder")
            self.model_choice.insertItem(index, entry.label, str(entry.path))
            self.model_choice.setItemData(index, str(entry.path) if entry.train.ok else
                                          f"Cannot train: {entry.train.reason}", Qt.ItemDataRole.ToolTipRole)
            if not entry.train.ok:
                self.model_choice.model().item(index).setEnabled(False)

    def _forget_shown_run(self) -> None:
        self.shown_config = TuneConfig()

    def _pick_model(self, index: int) -> None:
        kind = self.model_choice.itemData(index)
        if kind == "pick-folder":
            path = QFileDialog.getExistingDirectory(self, "Hugging Face model folder")
        elif kind == "pick-gguf":
            path, _ = QFileDialog.getOpenFileName(self, "GGUF model", "", "GGUF (*.gguf)")
        else:
            return
        if path:
            self.model_choice.insertItem(0, Path(path).name, path)
        self.model_choice.setCurrentIndex(0)

    def config(self) -> TuneConfig:
        """The run settings as the form shows them."""
        numbers = {key: box.value() for key, box in self.number_boxes.items()}
        shown = self.shown_config  # LoRA scale keeps the shown run's alpha / r
        alpha = max(1, round(numbers["lora_r"] * shown.lora_alpha / shown.lora_r))
        return replace(shown, model=self.model_choice.currentData() or "bundled", method=self.method.currentText(),
                       regularization=self.regularization.currentText(), lora_alpha=alpha, **numbers)

    def show_settings(self, config: TuneConfig) -> None:
        """Fill the form with a past run's settings, so a run viewed from the history can be run again
        with a change or two."""
        self.shown_config = config
        model = self.model_choice.findData(config.model)
        if model < 0:
            self.model_choice.insertItem(0, Path(config.model).name, config.model)
            model = 0
        self.model_choice.setCurrentIndex(model)
        self.method.setCurrentText(config.method)
        self.regularization.setCurrentText(config.regularization)
        for key, box in self.number_boxes.items():
            box.setValue(getattr(config, key))

    # -- run control -----------------------------------------------------------------------------
    def start(self, run_dir: str | Path | None = None) -> None:
        from engine.tune.prepare import prepare_run

        store = self.state.store
        if store is None or self.runner.running:
            return
        try:
            config, self.run_id = prepare_run(store, self.config(), run_dir or None)
        except Exception as error:  # noqa: BLE001
            show_error(self, "Cannot start tuning", str(error))
            return
        self.run_dir = Path(config.output_dir)
        self.max_steps = config.max_steps
        self._reset_view()
        self._launch(resume=False)

    def _launch(self, resume: bool) -> None:
        self.runner.start(RunFolder(self.run_dir).config, resume=resume)
        self.start_button.setEnabled(False)
        self.resume_button.setEnabled(False)
        self.update_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.redraw_timer.start()
        self.log.appendPlainText(f"{'Resuming' if resume else 'Starting'} run in {self.run_dir}")
        self.state.runs_changed.emit()

    def stop(self) -> None:
        self.runner.stop()
        self.stop_button.setEnabled(False)
        self.log.appendPlainText("Stop requested: saving a checkpoint…")

    def resume(self) -> None:
        if self.run_dir is not None and not self.runner.running:
            self._launch(resume=True)

    def update_memory(self) -> None:
        """Incremental memory for the shown experts run: re-check its facts against the database and the
        project off the UI thread (the router embeds new questions with the base model), then resume the
        run, which trains only the experts that changed or are new."""
        from engine.mome.update import plan_memory_update

        state, run = self.state, self.run_dir
        if run is None or state.store is None or state.db is None or self.runner.running or self.update_job:
            return
        self.start_button.setEnabled(False)
        self.resume_button.setEnabled(False)
        self.update_button.setEnabled(False)
        self.log.appendPlainText("Checking the facts against the database and the dataset…")
        job = Job("Updating memory", lambda report, token: plan_memory_update(state.store, state.db, run), self)
        job.succeeded.connect(self._memory_update_planned)
        job.failed.connect(lambda message, details: show_error(self, "Cannot update the memory", message, details))
        job.ended.connect(self._memory_update_ended)
        self.update_job = job.start()

    def _memory_update_planned(self, update) -> None:
        for fact in update.stale:
            self.log.appendPlainText(f"Stale: {fact.question} {fact.old!r} → {fact.new!r}")
        self.log.appendPlainText(update.summary())
        if update.stale:
            self.state.pairs_changed.emit()
        if update.to_train:
            self._launch(resume=True)
        else:
            self.log.appendPlainText("Nothing to train: every expert is up to date.")

    def _memory_update_ended(self) -> None:
        self.update_job = None
        if not self.runner.running:
            self.start_button.setEnabled(True)
            self._enable_update()

    def _enable_update(self) -> None:
        self.update_button.setEnabled(self.run_dir is not None and RunFolder(self.run_dir).is_experts
                                      and not self.runner.running and self.update_job is None)

    def _reset_view(self) -> None:
        for series in (self.loss_series, self.memo_series, self.recall_series, self.lr_series):
            series.x.clear()
            series.y.clear()
        for marker in self.markers:
            self.loss_plot.removeItem(marker)
        self.markers.clear()
        self.progress.setValue(0)
        self.expert_label.setText("")
        self.log.clear()
        self._dirty = True
        self.redraw()

    # -- events ----------------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if isinstance(event, Step):
            self.loss_series.add(event.step, max(event.loss, 1e-6))
            self.memo_series.add(event.step, event.memorized)
            self.lr_series.add(event.step, event.lr)
            self.progress.setValue(round(100 * (event.memorized or 0)))
            eta, memory = event.eta_s, event.memory_mb
            self.stats.setText(
                f"step {event.step}" + (f" / {self.max_steps}" if self.max_steps else "")
                + f" · epoch {event.epoch} · loss {event.loss:.4f}"
                + f" · {event.facts_memorized} facts memorized"
                + f" · {event.tokens_per_s or 0:.0f} tokens/s"
                + (f" · ETA {duration(eta)}" if eta is not None else "")
                + (f" · memory {memory:.0f} MiB" if memory else ""))
            self._dirty = True
            return
        if isinstance(event, Recall):
            self.recall_series.add(event.step, event.recall)
            self._dirty = True
        if isinstance(event, (Diverged, Restarted)):
            self._mark(event.step, *MARKERS[event.name])
        if isinstance(event, (Finished, Stopped)) and event.is_final:
            # the last step event can be a few steps before the end: show where the run really ended
            share = event.memorized if isinstance(event, Finished) and event.memorized is not None else \
                getattr(event, "recall", None)  # an experts run reports its recall
            if share is not None:
                self.progress.setValue(round(100 * share))
            tokens = getattr(event, "tokens_per_s", None)
            self.stats.setText(f"{event.describe()} · {duration(event.elapsed_s or 0)}"
                               + (f" · {tokens:.0f} tokens/s" if tokens else ""))
        if isinstance(event, (Started, Finished)) and event.scope is not None:
            scope, finished = event.scope, isinstance(event, Finished)
            done = scope.index + (scope.together if finished else 0)
            self.expert_label.setText(f"Memory experts: {done} of {scope.count} trained · "
                                      + (f"{scope.expert} done" if finished
                                         else f"now training {scope.expert} ({event.facts} facts)"))
        self.log.appendPlainText(event.describe())

    def _mark(self, step: int, label: str, color: str) -> None:
        """A dashed line on the loss plot where the run diverged or restarted: the jump in the curve
        that follows is explained where it happens, not only in the log."""
        marker = pg.InfiniteLine(pos=step, angle=90, pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DashLine),
                                 label=label, labelOpts={"position": 0.9, "color": color})
        self.loss_plot.addItem(marker)
        self.markers.append(marker)

    def redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self.loss_curve.setData(*self.loss_series.arrays())
        self.memo_curve.setData(*self.memo_series.arrays())
        self.recall_curve.setData(*self.recall_series.arrays())
        steps, rates = self.lr_series.arrays()
        self.lr_curve.setData(steps, rates)
        if len(rates):  # from zero: a constant rate would otherwise be drawn as a flat line at "0"
            self.lr_plot.setYRange(0, float(rates.max()) * 1.15 or 1.0, padding=0)

    def on_ended(self, final: Event) -> None:
        from engine.tune.prepare import record_run

        self.redraw_timer.stop()
        self._dirty = True
        self.redraw()
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.resume_button.setEnabled(final.name in ("stopped", "failed") and self.run_dir is not None
                                      and RunFolder(self.run_dir).can_resume)
        if self.state.store is not None and self.run_id is not None:
            record_run(self.state.store, self.run_id, self.run_dir)
        self._enable_update()
        if isinstance(final, Failed):
            show_error(self, "Tuning failed", final.reason)
        self.state.runs_changed.emit()

    def refresh_history(self) -> None:
        self.history.clear()
        store = self.state.store
        if store is None:
            return
        for run in reversed(store.runs()):
            summary = json.loads(run["summary_json"]) if run["summary_json"] else {}
            recall = summary.get("recall")
            text = f"{run['name']} · {run['method']} · {run['status']}" + (
                f" · recall {recall:.0%}" if isinstance(recall, (int, float)) else "")
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, run["folder"])
            self.history.addItem(item)

    def _load_history_item(self, item: QListWidgetItem) -> None:
        """Show a past run's curves from its event log."""
        folder = item.data(Qt.ItemDataRole.UserRole)
        if not folder or self.runner.running:
            return
        self.run_dir = Path(folder)
        store = self.state.store  # a resume or update of this run is recorded under its own id
        self.run_id = next((r["id"] for r in store.runs() if r["folder"] == str(folder)), None) if store else None
        self._reset_view()
        run = RunFolder(self.run_dir)
        if run.has_config:
            self.show_settings(TuneConfig.load(run.config))
        events = run.events()
        for event in events:
            self.on_event(event)
        self.redraw()
        self.resume_button.setEnabled(bool(events) and events[-1].name == "stopped")
        self._enable_update()



