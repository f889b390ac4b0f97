"""The desktop app driven as a user would, under QT_QPA_PLATFORM=offscreen."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import QElapsedTimer, QSettings, Qt, QTimer
from PySide6.QtWidgets import QMessageBox

from engine.project import ProjectStore
from engine.tune.config import TuneConfig
from engine.tune.events import Event
from ui.main_window import MainWindow
from ui.pair_model import COLUMNS, PairTableModel
from ui.result_model import ResultModel


@pytest.fixture
def window(qtbot, tmp_path, demo_sqlite):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings)
    qtbot.addWidget(win)
    assert win.open_database(demo_sqlite)
    win.resize(1400, 850)
    win.show()
    yield win
    win.state.close()


def _dialogs(win) -> list[QMessageBox]:
    return [w for w in win.findChildren(QMessageBox) if w.isVisible()]


def test_database_page_shows_schema_samples_and_runs_queries(qtbot, window):
    page = window.database_page
    tables = [page.tree.topLevelItem(i).text(0) for i in range(page.tree.topLevelItemCount())]
    assert "orders" in tables and tables[-1] == "order_overview"
    orders = page.tree.topLevelItem(tables.index("orders"))
    assert orders.text(3) == "2,400"
    keys = {orders.child(i).text(0): orders.child(i).text(2) for i in range(orders.childCount())}
    assert keys["order_id"] == "PK" and keys["customer_id"] == "→ customers.customer_id"
    page.tree.setCurrentItem(orders)
    assert page.sample_model.columns[0] == "order_id" and page.sample_model.rowCount() == 100

    page.editor.setPlainText("SELECT channel, COUNT(*) FROM orders GROUP BY channel")
    page.run_query()
    qtbot.waitUntil(lambda: page.console_model.rowCount() == 4, timeout=5000)
    assert "row(s)" in page.query_status.text()

    page.row_cap.setValue(5)
    page.editor.setPlainText("SELECT * FROM orders")
    page.run_query()
    qtbot.waitUntil(lambda: "truncated" in page.query_status.text(), timeout=5000)
    assert page.console_model.rowCount() == 5


def test_write_query_is_refused_with_a_dialog(qtbot, window, demo_sqlite):
    before = demo_sqlite.read_bytes()
    page = window.database_page
    page.editor.setPlainText("DELETE FROM orders")
    page.run_query()
    qtbot.waitUntil(lambda: bool(_dialogs(window)), timeout=5000)
    assert "read-only" in _dialogs(window)[0].text()
    assert demo_sqlite.read_bytes() == before


def test_bad_file_shows_an_error_and_keeps_the_open_database(qtbot, window, tmp_path):
    bad = tmp_path / "notes.db"
    bad.write_text("just some text\n")
    assert not window.open_database(bad)
    qtbot.waitUntil(lambda: bool(_dialogs(window)), timeout=2000)
    assert "not a SQLite or DuckDB database" in _dialogs(window)[0].text()
    assert window.state.db is not None and window.state.db.path.name == "lumen.sqlite"


def test_generate_edit_undo_bulk_and_filter(qtbot, window):
    window.nav.setCurrentRow(1)
    page = window.dataset_page
    page.generate_templates()
    qtbot.waitUntil(lambda: page.job is not None and not page.job.running, timeout=30000)
    assert len(page.model.ids) > 600
    # edit a question in the table, then undo with the Edit menu's action
    column = [c[0] for c in COLUMNS].index("question")
    index = page.model.index(0, column)
    original = index.data()
    assert page.model.setData(index, "Where do we keep customer codes?")
    pid = page.model.ids[0]
    assert window.state.store.get_pair(pid).question == "Where do we keep customer codes?"
    assert page.undo_action.isEnabled() and page.undo_action.text() == "Undo edit question"
    page.undo_action.trigger()
    assert window.state.store.get_pair(pid).question == original
    assert page.model.index(0, column).data() == original
    page.redo_action.trigger()
    assert window.state.store.get_pair(pid).question == "Where do we keep customer codes?"
    # an SQL edit is re-validated
    sql_column = [c[0] for c in COLUMNS].index("sql")
    sql_row = next(r for r in range(50, 800) if page.model.pair(r).kind == "sql")
    assert page.model.setData(page.model.index(sql_row, sql_column), "SELECT nope FROM orders")
    assert page.model.pair(sql_row).validation == "unknown_column"
    # bulk approve a selection
    page.view.selectRow(3)
    page.view.selectionModel().select(page.model.index(4, 0), page.view.selectionModel().SelectionFlag.Select |
                                      page.view.selectionModel().SelectionFlag.Rows)
    page.approve_action.trigger()
    assert [page.model.pair(r).status for r in (3, 4)] == ["approved", "approved"]
    # filter by text and by validation
    page.search.setText("customer codes")
    assert len(page.model.ids) == 1
    page.search.setText("")
    page.validation_filter.setCurrentIndex(page.validation_filter.findData("unknown_column"))
    assert page.model.ids == [page.model.pair(0).id] and page.model.pair(0).validation == "unknown_column"


def test_import_bad_file_imports_nothing(qtbot, window, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nq1,a1\nq2\n")
    window.dataset_page.import_pairs(str(bad))
    assert window.state.store.count_pairs() == 0
    assert "line 3" in _dialogs(window)[0].text()


def test_models_pass_qtmodeltester(qtmodeltester, window):
    window.dataset_page.generate_templates()
    from PySide6.QtCore import QThreadPool

    QThreadPool.globalInstance().waitForDone(30000)
    model = PairTableModel()
    model.set_curator(window.state.curator)
    qtmodeltester.check(model)
    result = ResultModel()
    result.set_result(["a", "b"], [(1, None), (2, "x")])
    qtmodeltester.check(result)


def test_settings_and_recent_files_persist(qtbot, tmp_path, demo_sqlite, demo_duckdb):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    first = MainWindow(settings)
    qtbot.addWidget(first)
    first.open_database(demo_sqlite)
    first.open_database(demo_duckdb)
    first.resize(701, 503)  # within the offscreen screen (800x600)
    first.nav.setCurrentRow(2)
    first.close()
    first.state.close()
    second = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    assert second.size().width() == 701 and second.nav.currentRow() == 2
    assert [a.text() for a in second.recent_menu.actions()] == [str(demo_duckdb), str(demo_sqlite)]


def test_first_start_fits_a_laptop_screen(qtbot, tmp_path, demo_sqlite):
    """No page may need more than a 1440-pixel screen, even with long run names in the lists; the first
    window is no bigger than the screen's free area allows."""
    win = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.open_database(demo_sqlite)
    win.evaluate_page.tuned_choice.addItem("lumen-20261203-081500 (memory experts, 24 experts, q8_0) " * 2)
    win.show()
    assert win.minimumSizeHint().width() <= 1024
    screen = win.screen().availableGeometry()
    assert win.width() <= max(win.minimumSizeHint().width(), screen.width())
    win.state.close()


def test_about_names_the_model_and_licences(window):
    box = window.show_about()
    assert "SmolLM2-135M-Instruct" in box.text() and "Apache-2.0" in box.text()
    assert "Engram 0." in box.text() and "LGPL" in box.text() and "llama.cpp" in box.text()


def _is_dark(color) -> bool:
    return color.lightness() < 128


def test_light_and_dark_follow_the_os_and_the_view_menu(qtbot, window, tmp_path):
    """The OS switching scheme (Qt's colorSchemeChanged) re-colours widgets and plots; View → Appearance
    overrides it and is remembered. Offscreen Qt cannot switch schemes itself, so the test sends the
    signal the platform would send."""
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    plot = window.tune_page.loss_plot
    hints = app.styleHints()
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert window.theme.dark and _is_dark(app.palette().color(QPalette.ColorRole.Window))
    assert _is_dark(plot.backgroundBrush().color())
    assert not _is_dark(app.palette().color(QPalette.ColorRole.Text))
    assert _is_dark(window.nav.palette().color(QPalette.ColorRole.Base)), "styled widgets follow too (page list)"
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert not window.theme.dark and not _is_dark(app.palette().color(QPalette.ColorRole.Window))
    assert not _is_dark(plot.backgroundBrush().color())

    window.appearance_actions["dark"].trigger()  # the user's choice wins over the OS
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert window.theme.dark and _is_dark(window.evaluate_page.chart.backgroundBrush().color())
    window.close()
    again = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    assert again.theme.appearance == "dark" and again.appearance_actions["dark"].isChecked()
    again.appearance_actions["system"].trigger()
    assert not again.theme.dark  # back to the OS, which said light
    again.state.close()


def test_tune_page_streams_a_run_without_freezing(qtbot, window, tiny_model_dir):
    store: ProjectStore = window.state.store
    from engine.project.pairs import QAPair

    store.add_pairs([QAPair(f"What does code X{i} mean?", f"meaning {i}", status="approved") for i in range(8)])
    window.nav.setCurrentRow(2)
    page = window.tune_page
    page.model_choice.insertItem(0, "tiny", str(tiny_model_dir))
    page.model_choice.setCurrentIndex(0)
    page.max_steps_box.setValue(6)
    page.batch_size.setValue(4)

    gaps, timer, clock = [], QTimer(), QElapsedTimer()
    clock.start()

    def tick():
        gaps.append(clock.restart())

    timer.timeout.connect(tick)
    timer.start(20)
    page.start(window.state.store.path.parent / "run")
    assert page.stop_button.isEnabled()
    qtbot.waitUntil(lambda: not page.runner.running and page.start_button.isEnabled(), timeout=180_000)
    timer.stop()
    assert page.runner.final.name == "finished", page.runner.final
    assert len(page.loss_series.x) == 6 and page.loss_curve.getData()[0] is not None
    assert len(page.loss_curve.getData()[0]) == 6, "the plot grew with every step"
    assert page.history.count() == 1 and "finished" in page.history.item(0).text()
    [run] = store.runs()
    assert run["status"] == "finished" and store.fact_scores(run["id"])
    longest = max(gaps[5:])  # after the first ticks (window painting)
    print(f"longest event-loop gap while training: {longest} ms")
    assert longest < 250, f"the UI froze for {longest} ms"

    page.model_choice.setCurrentIndex(page.model_choice.findData("bundled"))
    page.max_steps_box.setValue(2000)
    page.method.setCurrentText("experts")
    page._load_history_item(page.history.item(0))  # a double-click on the finished run
    assert (page.model_choice.currentData(), page.method.currentText()) == (str(tiny_model_dir), "memory")
    assert (page.max_steps_box.value(), page.batch_size.value()) == (6, 4), "the form shows that run's settings"
    assert len(page.loss_series.x) == 6


def test_tune_page_tells_a_divergence_and_shows_the_lower_learning_rate(window):
    page = window.tune_page
    page.on_event(Event.from_json({"event": "step", "step": 270, "epoch": 90, "loss": 0.02, "lr": 0.003, "memorized": 0.4}))
    page.on_event(Event.from_json({"event": "diverged", "step": 279, "epoch": 93, "mean_fact_loss": 5.8146,
                   "best_mean_fact_loss": 0.0208, "back_to_step": 276, "learning_rate": 0.0015}))
    page.on_event(Event.from_json({"event": "step", "step": 280, "epoch": 93, "loss": 0.03, "lr": 0.0015, "memorized": 0.4}))
    assert page.log.toPlainText().splitlines()[-1] == (
        "Step 279: the loss diverged (mean fact loss 5.815, best 0.021): back to step 276's adapter with "
        "learning rate 0.0015")
    assert list(page.lr_series.y) == [0.003, 0.0015]


def test_tune_page_marks_where_a_run_on_a_plateau_started_again(window):
    """The loss jumps back up after a restart; a marker at that step and a readable log line say why."""
    page = window.tune_page
    page.on_event(Event.from_json({"event": "step", "step": 390, "epoch": 30, "loss": 0.4, "lr": 0.001, "memorized": 0.0}))
    page.on_event(Event.from_json({"event": "restarted", "step": 390, "epoch": 30, "mean_fact_loss": 0.412,
                   "best_mean_fact_loss": 0.398, "passes_without_gain": 20, "seed": 1}))
    page.on_event(Event.from_json({"event": "diverged", "step": 700, "epoch": 54, "mean_fact_loss": 5.8,
                   "best_mean_fact_loss": 0.02, "back_to_step": 690, "learning_rate": 0.0005}))
    assert page.log.toPlainText().splitlines()[-2] == (
        "Step 390: no progress in 20 passes (mean fact loss 0.412, best 0.398): the adapter starts again "
        "from seed 1")
    on_plot = [item for item in page.loss_plot.getPlotItem().items if item in page.markers]
    assert [(m.value(), m.label.format) for m in on_plot] == [(390, "restarted"), (700, "diverged")]
    page._reset_view()  # a new run or another past run: no markers left from this one
    assert page.markers == [] and not [item for item in page.loss_plot.getPlotItem().items if item in on_plot]


def test_a_past_run_shown_on_the_tune_page_runs_again_as_it_was(window):
    """A run made without clipping, with its own seed and LoRA scale (say from the CLI), re-run from the
    form keeps them; a change in the form still applies; another project starts from the defaults."""
    page = window.tune_page
    past = TuneConfig(method="memory", max_grad_norm=0.0, seed=7, revisit_fraction=0.3, lora_r=8, lora_alpha=8,
                      learning_rate=0.002, warmup_steps=0)
    page.show_settings(past)
    assert page.clip.text() == "no clipping"
    page.lora_r.setValue(16)
    again = page.config()
    assert (again.max_grad_norm, again.seed, again.revisit_fraction, again.warmup_steps) == (0.0, 7, 0.3, 0)
    assert (again.lora_r, again.lora_alpha, again.learning_rate) == (16, 16, 0.002), "alpha / r stays 1"

    page.clip.setValue(2.5)
    assert page.config().max_grad_norm == 2.5
    window.state.database_changed.emit()
    assert (page.config().seed, page.config().warmup_steps) == (TuneConfig().seed, TuneConfig().warmup_steps)


def test_whole_workflow_without_the_terminal(qtbot, window, tiny_model_dir):
    """Generate → approve → tune (tiny model) → export → ask the SQL agent → evaluate base vs tuned."""
    from engine.project.pairs import QAPair

    store = window.state.store
    store.add_pairs([QAPair("How many orders are there?", "SELECT COUNT(*) FROM orders", kind="sql",
                            status="approved", validation="ok"),
                     QAPair("What does status code SHP mean?", "Handed to the carrier", status="approved")])
    tune = window.tune_page
    tune.model_choice.insertItem(0, "tiny", str(tiny_model_dir))
    tune.model_choice.setCurrentIndex(0)
    tune.max_steps_box.setValue(300)  # stops earlier, once both pairs are recalled
    tune.lr.setValue(0.003)
    tune.start(store.path.parent / "run")
    qtbot.waitUntil(lambda: not tune.runner.running and tune.start_button.isEnabled(), timeout=300_000)
    assert tune.runner.final.name == "finished"

    chat = window.chat_page
    window.nav.setCurrentRow(4)
    assert chat.run_choice.count() == 1
    chat.quant_boxes["q8_0"].setChecked(True)
    chat.export()
    qtbot.waitUntil(lambda: not chat.export_job.running, timeout=120_000)
    assert chat.export_progress.value() == chat.export_progress.maximum() > 0, "a finished export shows 100%"
    assert "recall through llama.cpp" in chat.export_status.text(), chat.export_status.text()
    assert chat.model_choice.currentData().endswith("q8_0.gguf")
    assert any(a["kind"] == "gguf" for a in store.artifacts())

    chat.mode.setCurrentText("SQL agent")
    chat.input.setText("How many orders are there?")
    chat.send()
    qtbot.waitUntil(lambda: chat.send_button.isEnabled(), timeout=60_000)
    transcript = chat.tuned_view.toPlainText()
    assert "SQL (approved pair): SELECT COUNT(*) FROM orders" in transcript, "an approved question's own query"
    assert chat.rows_model.rows == [(2400,)] and "Answer: 2400" in transcript
    assert "SQL (greedy)" not in transcript, "the model is not asked"
    chat.input.setText("how many orders are there in all")  # worded otherwise: the tuned model writes the query
    chat.send()
    qtbot.waitUntil(lambda: chat.send_button.isEnabled(), timeout=60_000)
    transcript = chat.tuned_view.toPlainText()
    assert "SQL (greedy)" in transcript and transcript.endswith("Answer: 2400"), transcript

    chat.mode.setCurrentText("Chat")
    chat.max_tokens.setValue(200)
    chat.input.setText("Tell me about databases.")
    chat.send()
    qtbot.waitUntil(lambda: len(chat.tuned_view.toPlainText()) > len(transcript) + 40, timeout=30_000)
    chat.stop()
    qtbot.waitUntil(lambda: chat.send_button.isEnabled(), timeout=30_000)

    evaluate = window.evaluate_page
    window.nav.setCurrentRow(3)
    assert evaluate.tuned_choice.currentData().endswith(".gguf")
    evaluate.limit.setValue(2)
    evaluate.general.setChecked(False)  # the 113 general prompts twice take minutes on 2 cores
    evaluate.run()
    qtbot.waitUntil(lambda: evaluate.run_button.isEnabled(), timeout=180_000)
    assert evaluate.table_model.rowCount() == 2
    assert "→" in evaluate.cards["fact_recall"].text()
    assert evaluate.cards["general_ability"].text() == "–", "general ability is not asked when unticked"
    assert len(store.evaluations()) == 2
    window.chat_page.close_models()


def test_memory_experts_from_the_tune_page_to_the_chat(qtbot, window, tiny_model_dir):
    """Method 'memory experts': per-expert progress on the Tune page; facts approved later are added
    with "Update memory", which trains only a new expert; the chat names the expert."""
    from engine.project.pairs import QAPair
    from tiny_model import facts

    store = window.state.store
    store.add_pairs([QAPair(q, a, status="approved", tables=("orders", "customers")[i % 2])
                     for i, (q, a) in enumerate(facts(6))])
    tune = window.tune_page
    tune.model_choice.insertItem(0, "tiny", str(tiny_model_dir))
    tune.model_choice.setCurrentIndex(0)
    tune.method.setCurrentText("experts")
    tune.expert_size.setValue(3)
    tune.max_steps_box.setValue(300)
    tune.lr.setValue(0.003)
    tune.start(store.path.parent / "experts-run")
    qtbot.waitUntil(lambda: not tune.runner.running and tune.start_button.isEnabled(), timeout=300_000)
    assert tune.runner.final.name == "finished", tune.runner.final
    assert "2 of 2 trained" in tune.expert_label.text()
    log = tune.log.toPlainText()
    assert "Started memory experts" in log and "Expert 2/2" in log
    assert not [line for line in log.splitlines() if line.startswith("{")], "every event is told in words"
    assert "Checkpoint of 'customers' saved" in log and "Finished (converged)" in tune.stats.text()
    assert "experts" in tune.history.item(0).text()
    experts_dir = store.path.parent / "experts-run" / "experts"

    def adapters() -> dict[str, int]:
        return {p.parent.parent.name: p.stat().st_mtime_ns for p in experts_dir.glob("*/adapter/*.safetensors")}

    first_experts = adapters()
    assert len(first_experts) == 2

    assert tune.update_button.isEnabled()
    store.add_pairs([QAPair(q, a, status="approved", tables="products") for q, a in facts(8)[6:]])
    tune.update_button.click()
    qtbot.waitUntil(lambda: not tune.runner.running and tune.start_button.isEnabled(), timeout=300_000)
    assert tune.runner.final.name == "finished", tune.runner.final
    log = tune.log.toPlainText()
    assert "0 stale, 0 changed, 2 new, 0 removed fact(s)" in log, log[-2000:]
    assert "3 of 3 trained" in tune.expert_label.text()
    after = adapters()
    assert len(after) == 3 and {k: after[k] for k in first_experts} == first_experts, \
        "one new expert; the experts already trained were not touched"

    chat = window.chat_page
    window.nav.setCurrentRow(4)
    chat.export()
    qtbot.waitUntil(lambda: not chat.export_job.running, timeout=120_000)
    assert chat.export_progress.value() == chat.export_progress.maximum() > 0, "a finished export shows 100%"
    assert "recall through llama.cpp with routing: 100%" in chat.export_status.text(), chat.export_status.text()
    assert chat.model_choice.currentData().startswith("experts:")
    assert "memory experts" in chat.tuned_box.title(), "the transcript is titled with the model answering in it"
    chat.mode.setCurrentText("Chat")
    chat.input.setText(facts(6)[1][0])  # a customers fact
    chat.send()
    qtbot.waitUntil(lambda: chat.send_button.isEnabled(), timeout=60_000)
    assert "answered by memory expert customers" in chat.tuned_view.toPlainText()
    chat.input.setText("Who wrote Hamlet?")  # about no database: the base model answers, and the chat says so
    chat.send()
    qtbot.waitUntil(lambda: chat.send_button.isEnabled(), timeout=60_000)
    assert "closer to general questions" in chat.tuned_view.toPlainText().split("Who wrote Hamlet?")[-1]

    evaluate = window.evaluate_page  # the exported experts are evaluated like any tuned model
    window.nav.setCurrentRow(3)
    assert evaluate.tuned_choice.currentText() == "experts-run (memory experts)"
    evaluate.general.setChecked(False)
    evaluate.run()
    qtbot.waitUntil(lambda: evaluate.run_button.isEnabled(), timeout=180_000)
    assert evaluate.table_model.rowCount() == 8
    assert evaluate.cards["fact_recall"].text().endswith("→ 100%"), evaluate.cards["fact_recall"].text()
    window.chat_page.close_models()


def test_comparison_model_and_lazy_loading(qtmodeltester, qtbot, tmp_path):
    from PySide6.QtWidgets import QTableView

    from engine.project.pairs import QAPair
    from engine.qa.curation import Curator
    from ui.pages.evaluate_page import ComparisonModel

    comparison = ComparisonModel()
    comparison.set_rows([{"id": 1, "kind": "sql", "question": "q", "gold": "g", "base": "b", "tuned": "g",
                          "base_error": "wrong_result", "tuned_error": None, "change": "fixed"}])
    qtmodeltester.check(comparison)

    with ProjectStore.create(tmp_path / "big.engram") as store:
        store.add_pairs(QAPair(f"question {i}?", f"answer {i}") for i in range(20_000))
        model = PairTableModel()
        view = QTableView()
        qtbot.addWidget(view)
        view.setModel(model)
        model.set_curator(Curator(store))
        view.show()
        view.scrollToBottom()
        qtbot.wait(50)
        assert model.rowCount() == 20_000
        assert len(model._cache) <= 4 * 200, "only the pages on screen are read"
        assert model.index(19_999, 2).data() == "question 19999?"


def test_drag_and_drop_opens_a_database(qtbot, window, demo_duckdb):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(demo_duckdb))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert window.state.db.kind == "duckdb" and window.windowTitle() == "Engram — lumen.duckdb"


def test_local_models_are_offered_on_the_tune_and_chat_pages(qtbot, tmp_path, demo_sqlite, monkeypatch):
    """Models in Ollama's store are listed without typing a path: those Engram cannot train are greyed
    on the Tune page with the reason, and every GGUF with a chat template can be chatted with."""
    import json

    from tiny_model import write_gguf

    home = tmp_path / "home"
    store = home / ".ollama" / "models"
    for digest, arch, model in (("aaa", "llama", "llama3.2"), ("bbb", "deepseek2", "deepseek-coder-v2")):
        write_gguf(store / "blobs" / f"sha256-{digest}", arch=arch)
        manifest = store / "manifests" / "registry.ollama.ai" / "library" / model / "latest"
        manifest.parent.mkdir(parents=True)
        manifest.write_text(json.dumps({"layers": [{"mediaType": "application/vnd.ollama.image.model",
                                                     "digest": f"sha256:{digest}"}]}))
    monkeypatch.setenv("HOME", str(home))
    for name in ("OLLAMA_MODELS", "HF_HOME", "HF_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: len(win.state.models) == 2, timeout=10_000)
    tune = win.tune_page.model_choice
    llama, coder = (tune.findText(f"{name}:latest (ollama) — {arch} · 40 · Q8_0")
                    for name, arch in (("llama3.2", "llama"), ("deepseek-coder-v2", "deepseek2")))
    assert llama >= 0 and coder >= 0
    assert tune.model().item(llama).isEnabled() and not tune.model().item(coder).isEnabled()
    assert "deepseek2" in tune.itemData(coder, Qt.ItemDataRole.ToolTipRole)
    chat = win.chat_page.model_choice
    assert chat.findText("llama3.2:latest (ollama)", Qt.MatchFlag.MatchStartsWith) >= 0
    assert chat.findText("deepseek-coder-v2:latest (ollama)", Qt.MatchFlag.MatchStartsWith) >= 0
    win.state.close()
