"""Export & Chat page: export a finished run to GGUF (quant choices, progress, recall check through
llama.cpp), then chat with any GGUF — streaming tokens with a Stop button and sampling settings — or
ask the SQL agent, which shows the SQL it wrote, the rows and the answer; "compare" asks the base
model the same thing side by side."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QProgressBar, QPushButton,
                               QSplitter, QTableView, QTextBrowser, QVBoxLayout, QWidget)

from engine.models.locate import BUNDLED_NAME
from engine.tune.run_folder import RunFolder
from ui.errors import show_error
from ui.jobs import Job
from ui.result_model import ResultModel
from ui.state import AppState
from ui.widgets import double_box, spin_box

QUANTS = ("f16", "q8_0", "q5_k_m", "q4_k_m")
EXPERTS_PREFIX = "experts:"  # a model choice that is a memory-experts export (base GGUF + expert LoRAs)


class Transcript(QTextBrowser):
    """One model's side of the conversation, appended to as tokens stream in."""

    def add_turn(self, who: str, text: str = "") -> None:
        self.append(f"<b>{who}:</b> ")
        if text:
            self.insert_text(text)

    def insert_text(self, text: str) -> None:
        cursor = self.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText(text)
        self.setTextCursor(cursor)
        self.ensureCursorVisible()


class ChatPage(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._groundings: dict = {}  # the SQL agent's grounding, kept while its database, model and pairs stay
        self.state = state
        self.export_job: Job | None = None
        self.chat_jobs: list[Job] = []
        self.models: dict[str, object] = {}  # path -> loaded LlamaChat (kept warm between questions)
        self.sessions: dict[str, object] = {}

        # -- export -------------------------------------------------------------------------------
        self.run_choice = QComboBox()
        self.quant_boxes = {q: QCheckBox(q) for q in QUANTS}
        self.quant_boxes["q8_0"].setChecked(True)
        quant_row = QHBoxLayout()
        for box in self.quant_boxes.values():
            quant_row.addWidget(box)
        self.export_button = QPushButton("Export")
        self.export_button.clicked.connect(self.export)
        self.export_cancel = QPushButton("Cancel")
        self.export_cancel.setEnabled(False)
        self.export_cancel.clicked.connect(lambda: self.export_job and self.export_job.cancel())
        self.export_progress = QProgressBar()
        self.export_status = QLabel("Export a finished run to chat with it here or in llama.cpp / Ollama.")
        self.export_status.setWordWrap(True)
        export_box = QGroupBox("Export")
        export_form = QFormLayout(export_box)
        export_form.addRow("Run", self.run_choice)
        export_form.addRow("Quantization", quant_row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.export_cancel)
        export_form.addRow(buttons)
        export_form.addRow(self.export_progress)
        export_form.addRow(self.export_status)

        # -- chat settings ----------------------------------------------------------------------------
        self.model_choice = QComboBox()
        self.base_choice = QComboBox()
        self.mode = QComboBox()
        self.mode.addItems(["SQL agent", "Chat"])
        self.compare = QCheckBox("Compare with the base model")
        self.temperature = double_box(0, 2, 0, 2, step=0.1)
        self.temperature.setToolTip("0 = always the most likely token (what memory tuning trains for)")
        self.max_tokens = spin_box(16, 4096, 256)
        self.system = QLineEdit("You are a helpful assistant.")
        settings_box = QGroupBox("Chat")
        form = QFormLayout(settings_box)
        form.addRow("Model", self.model_choice)
        form.addRow("Base (compare)", self.base_choice)
        form.addRow("Mode", self.mode)
        form.addRow(self.compare)
        form.addRow("Temperature", self.temperature)
        form.addRow("Max tokens", self.max_tokens)
        form.addRow("System prompt (chat)", self.system)
        pick = QPushButton("Add a GGUF file…")
        pick.clicked.connect(self._pick_gguf)
        form.addRow(pick)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(export_box)
        left_layout.addWidget(settings_box)
        left_layout.addStretch(1)

        # -- conversation ------------------------------------------------------------------------------
        self.tuned_view = Transcript()
        self.base_view = Transcript()
        # each transcript is titled with the model that answers in it, so a comparison reads at a glance
        self.tuned_box, self.base_box = QGroupBox(), QGroupBox()
        for box, view, choice in ((self.tuned_box, self.tuned_view, self.model_choice),
                                  (self.base_box, self.base_view, self.base_choice)):
            QVBoxLayout(box).addWidget(view)
            choice.currentTextChanged.connect(box.setTitle)
        self.base_box.setVisible(False)
        self.compare.toggled.connect(self.base_box.setVisible)
        views = QSplitter()
        views.addWidget(self.tuned_box)
        views.addWidget(self.base_box)
        self.rows_model = ResultModel(self)
        self.rows_view = QTableView()
        self.rows_view.setModel(self.rows_model)
        self.rows_view.setMaximumHeight(180)
        self.input = QLineEdit()
        self.input.setPlaceholderText("Ask about your database…")
        self.input.returnPressed.connect(self.send)
        self.send_button = QPushButton("Send")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        entry = QHBoxLayout()
        entry.addWidget(self.input, 1)
        entry.addWidget(self.send_button)
        entry.addWidget(self.stop_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(views, 1)
        right_layout.addWidget(QLabel("Rows from the last query"))
        right_layout.addWidget(self.rows_view)
        right_layout.addLayout(entry)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        state.runs_changed.connect(self.refresh)
        state.models_changed.connect(self.refresh)
        state.database_changed.connect(self.refresh)
        self.refresh()
        self.tuned_box.setTitle(self.model_choice.currentText())
        self.base_box.setTitle(self.base_choice.currentText())

    # -- lists of runs and models ------------------------------------------------------------------
    def refresh(self) -> None:
        current_model = self.model_choice.currentData()
        self.run_choice.clear()
        self.model_choice.clear()
        self.base_choice.clear()
        store = self.state.store
        if store is not None:
            for run in reversed(store.runs()):
                if run["folder"] and RunFolder.of(run["folder"]).is_trained:
                    self.run_choice.addItem(f"{run['name']} ({run['status']})", run["folder"])
            for artifact in reversed(store.artifacts()):
                if artifact["kind"] == "gguf" and Path(artifact["path"]).exists():
                    self.model_choice.addItem(Path(artifact["path"]).name, artifact["path"])
                elif artifact["kind"] == "experts" and Path(artifact["path"]).exists():
                    self.model_choice.addItem(f"{Path(artifact['path']).parent.parent.name} (memory experts)",
                                              EXPERTS_PREFIX + artifact["path"])
        self.model_choice.addItem(BUNDLED_NAME, "bundled")
        self.base_choice.addItem(BUNDLED_NAME, "bundled")
        for entry in self.state.models:  # the analyst's own GGUFs (Ollama, LM Studio, the Hugging Face cache)
            if entry.chat.ok:
                for choice in (self.model_choice, self.base_choice):
                    choice.addItem(entry.label, str(entry.path))
        if current_model is not None:
            index = self.model_choice.findData(current_model)
            if index >= 0:
                self.model_choice.setCurrentIndex(index)

    def _pick_gguf(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "GGUF model", "", "GGUF (*.gguf)")
        if path:
            self.add_model(path)

    def add_model(self, path: str, label: str | None = None) -> None:
        self.model_choice.insertItem(0, label or Path(path).name, path)
        self.model_choice.setCurrentIndex(0)

    # -- export --------------------------------------------------------------------------------------
    def export(self) -> None:
        from engine.workflows.export import export_run

        folder = self.run_choice.currentData()
        quants = [q for q, box in self.quant_boxes.items() if box.isChecked()]
        if not folder or not quants:
            show_error(self, "Nothing to export", "Choose a finished run and at least one quantization.")
            return
        store = self.state.store

        def work(report, token):
            # the last steps (the recall check, the experts' adapters) may not know their total yet
            return export_run(folder, quants, store=store, cancel=token,
                              progress=lambda step: report(step.done, step.total or step.done + 1))

        job = Job("Exporting", work, self)
        job.progress.connect(lambda d, t: (self.export_progress.setRange(0, t), self.export_progress.setValue(d)))
        job.succeeded.connect(lambda _: self.export_progress.setValue(self.export_progress.maximum()))
        job.succeeded.connect(self._exported)
        job.cancelled.connect(lambda: self.export_status.setText("Export cancelled; no partial files were kept."))
        job.failed.connect(lambda message, details: show_error(self, "Export failed", message, details))
        job.ended.connect(lambda: (self.export_button.setEnabled(True), self.export_cancel.setEnabled(False)))
        self.export_button.setEnabled(False)
        self.export_cancel.setEnabled(True)
        self.export_status.setText("Exporting memory experts…" if RunFolder.of(folder).is_experts else "Exporting…")
        self.export_job = job.start()

    def _exported(self, done) -> None:
        if done.experts:
            quant, recall = next(iter(done.recall.items()))
            self.export_status.setText(f"Base model and {len(done.expert_adapters)} expert adapters exported to "
                                       f"{done.out}\nrecall through llama.cpp with routing: {recall:.0%}")
            self.add_model(EXPERTS_PREFIX + str(done.manifest), f"{done.run.name} (memory experts)")
        else:
            lines = [f"{path.name}: recall through llama.cpp {done.recall[quant]:.0%}"
                     + ("  — FAILED: facts lost in export" if quant in done.lost else "")
                     for quant, path in done.files.items()]
            reference = "unknown" if done.reference_recall is None else f"{done.reference_recall:.0%}"
            self.export_status.setText("\n".join(lines) + f"\n(transformers recall: {reference})")
            if done.files:
                self.add_model(str(min(done.files.values(), key=lambda p: p.stat().st_size)))
        self.state.runs_changed.emit()

    # -- chat / agent ------------------------------------------------------------------------------
    def _model(self, spec: str):
        from engine.mome.inference import open_chat

        if spec not in self.models:
            self.models[spec] = open_chat(spec.removeprefix(EXPERTS_PREFIX), n_ctx=4096)
        return self.models[spec]

    def send(self) -> None:
        text = self.input.text().strip()
        if not text or any(j.running for j in self.chat_jobs):
            return
        self.input.clear()
        targets = [(self.model_choice.currentData() or "bundled", self.tuned_view)]
        if self.compare.isChecked():
            targets.append((self.base_choice.currentData() or "bundled", self.base_view))
        self.chat_jobs = []
        for spec, view in targets:
            view.add_turn("You", text)
            job = self._agent_job(spec, text, view) if self.mode.currentText() == "SQL agent" else \
                self._chat_job(spec, text, view)
            job.failed.connect(lambda message, details: show_error(self, "The model failed", message, details))
            job.ended.connect(self._chat_ended)
            self.chat_jobs.append(job)
        self.send_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        for job in self.chat_jobs:  # one model at a time: both share the CPU
            job.start()

    def _chat_job(self, spec: str, text: str, view: Transcript) -> Job:
        from engine.chat.session import ChatSession
        from engine.models.llama_runtime import Sampling

        def work(report, token):
            session = self.sessions.get(spec)
            if session is None:
                session = self.sessions[spec] = ChatSession(self._model(spec), self.system.text())
            session.system_prompt = self.system.text()
            session.sampling = Sampling(temperature=self.temperature.value(), max_tokens=self.max_tokens.value())
            yield from session.send(text, token)
            note = getattr(session.chat, "route_note", None)
            if note is not None:
                yield f"\n[{note()}]"

        view.add_turn("Model")
        job = Job("Chatting", work, self, streams=True)
        job.yielded.connect(view.insert_text)
        return job

    def _agent_job(self, spec: str, text: str, view: Transcript) -> Job:
        from engine.chat.sql_agent import run_agent
        from engine.workflows.answering import AnswerOptions, project_examples, sql_context

        db = self.state.db
        model_path = spec[len(EXPERTS_PREFIX):] if spec.startswith(EXPERTS_PREFIX) else spec
        # the schema and, as examples, the open project's approved SQL pairs (else those of the model's run)
        pairs = project_examples(self.state.store)
        key = (str(db.path), model_path, tuple((p.id, p.question, p.answer) for p in pairs))
        contexts = self._groundings
        options = AnswerOptions()

        def work(report, token):
            if key not in contexts:  # the card and the example index, built once per database, model and pairs
                contexts.clear()
                contexts[key] = sql_context(db, model_path, pairs, options)
            yield from run_agent(self._model(spec), db, text, contexts[key], options.settings(), cancel=token)

        def show(step) -> None:
            if step.kind == "candidate":  # each candidate query and what running it gave
                view.add_turn(f"SQL ({step.source})", f"{step.text}\n→ {step.result}")
            elif step.kind == "rows":
                self.rows_model.set_result(step.columns, step.rows)
                view.add_turn(f"Rows ({step.source})", step.text)  # row count, votes, why rows were cut
            else:
                view.add_turn("Answer" if step.kind == "answer" else "Gave up", step.text)
                model = self.models.get(spec)
                if hasattr(model, "route_note"):
                    view.add_turn("Memory experts", model.route_note())

        job = Job("SQL agent", work, self, streams=True)
        job.yielded.connect(show)
        return job

    def stop(self) -> None:
        for job in self.chat_jobs:
            job.cancel()

    def _chat_ended(self) -> None:
        if not any(j.running for j in self.chat_jobs):
            self.send_button.setEnabled(True)
            self.stop_button.setEnabled(False)

    def close_models(self) -> None:
        for chat in self.models.values():
            chat.close()
        self.models.clear()
        self.sessions.clear()
