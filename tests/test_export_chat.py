"""A tuned tiny model exported to f16 and Q8_0 keeps its memorized answers through llama.cpp; the
adapter alone works as a llama.cpp LoRA; chat streams and stops; the SQL agent runs trained queries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cancel import Cancelled, CancelToken
from engine.chat.session import ChatSession
from engine.chat.sql_agent import run_agent, summarize
from engine.db import open_database
from engine.export.gguf_export import ExportError, export_model, source_gguf
from engine.export.parity import check_parity, gguf_recall
import engine.models.llama_runtime as llama_runtime
from engine.models.llama_runtime import LlamaChat, ModelLoadError, Sampling
from engine.project.pairs import QAPair
from engine.qa.chat_format import PromptContext, extract_sql
from engine.sqlgen.answer import AnswerSettings
from engine.sqlgen.grounding import SqlGrounding, run_context
from engine.tune import data as D
from engine.tune.config import TuneConfig
from engine.tune.events import EventLog
from engine.tune.run import run_tuning
from app.paths import DEMO_SQLITE
from scripted_chat import Scripted
from tiny_model import facts

SQL_PAIRS = [
    ("How many orders are there?", "SELECT COUNT(*) FROM orders"),
    ("How many customers are there?", "SELECT COUNT(*) FROM customers"),
    ("Orders per channel?", "SELECT channel, COUNT(*) AS n FROM orders GROUP BY channel ORDER BY n DESC"),
]


def _run(gen):
    steps = []
    try:
        while True:
            steps.append(next(gen))
    except StopIteration as stop:
        return steps, stop.value


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, tiny_model_dir):
    folder = tmp_path_factory.mktemp("tuned")
    rows = [{"id": i + 1, "kind": "schema", "question": q, "answer": a} for i, (q, a) in enumerate(facts(8))]
    rows += [{"id": 100 + i, "kind": "sql", "question": q, "answer": s} for i, (q, s) in enumerate(SQL_PAIRS)]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = TuneConfig(data=str(folder / "data.jsonl"), output_dir=str(folder / "run"), model=str(tiny_model_dir),
                        database_name="lumen", dialect="sqlite", learning_rate=3e-3, batch_size=6, max_steps=800,
                        recall_every=3, checkpoint_every=10_000, regularization="none")
    (folder / "run").mkdir()
    with open_database(DEMO_SQLITE) as db:  # SQL prompts grounded in the schema and the pairs, as prepare_run does
        SqlGrounding.of_database(db, [QAPair(q, s, kind="sql", sql=s, status="approved", id=100 + i)
                                      for i, (q, s) in enumerate(SQL_PAIRS)]).save(folder / "run")
    result = run_tuning(config, events=EventLog(folder / "events.jsonl", stdout=False))
    assert result["reason"] == "converged", result
    steps, exported = _run(export_model(tiny_model_dir, folder / "run" / "adapter", folder / "export",
                                        ["f16", "q8_0"], "system", name="tuned"))
    return folder, config, exported, steps


def test_export_writes_files_atomically_with_progress(tuned):
    folder, _, exported, steps = tuned
    assert set(exported.files) == {"f16", "q8_0"}
    assert all(p.read_bytes()[:4] == b"GGUF" for p in exported.files.values())
    assert exported.files["q8_0"].stat().st_size < exported.files["f16"].stat().st_size
    assert not list((folder / "export").glob("*.partial"))
    assert [s.stage for s in steps][0] == "merge" and steps[-1].stage == "done"
    assert "FROM ./tuned-q8_0.gguf" in exported.modelfile.read_text()


def test_memorized_answers_survive_export_to_f16_and_q8_0(tuned):
    folder, config, exported, _ = tuned
    pairs = D.load_pairs(config.data)
    report = check_parity(exported.files, pairs, run_context(config), reference_recall=1.0)
    assert report.recall == {"f16": 1.0, "q8_0": 1.0}, report.misses
    assert report.passed


def test_adapter_alone_as_llama_cpp_lora(tuned, tmp_path, tiny_model_dir):
    folder, config, exported, _ = tuned
    _, base = _run(export_model(tiny_model_dir, None, tmp_path, ["f16"], "system", name="base"))
    pairs = D.load_pairs(config.data)
    base_recall, _ = gguf_recall(base.files["f16"], pairs, run_context(config))
    lora_recall, misses = gguf_recall(base.files["f16"], pairs, run_context(config),
                                      lora_path=exported.adapter_gguf)
    assert base_recall < 0.2 and lora_recall == 1.0, misses


def test_parity_failure_is_reported(tuned, tmp_path, tiny_model_dir):
    folder, config, exported, _ = tuned
    _, base = _run(export_model(tiny_model_dir, None, tmp_path, ["f16"], "system", name="base"))
    report = check_parity({"untuned": base.files["f16"]}, D.load_pairs(config.data), PromptContext("lumen"), 1.0)
    assert not report.passed and report.dropped() == ["untuned"]


def test_export_workflow_checks_recall_records_artefacts_and_the_cli_prints_it(tuned, tmp_path, capsys):
    """`engram export` and the Chat page's Export run the same workflow: GGUF files, recall through
    llama.cpp in parity.json, the run's grounding beside them, and (with a project) the artefacts listed."""
    from app.cli import main
    from engine.project import ProjectStore
    from engine.workflows.export import export_run

    folder, _, _, _ = tuned
    assert main(["export", str(folder / "run"), "--quant", "q8_0", "--out", str(tmp_path / "cli")]) == 0
    printed = capsys.readouterr()
    assert "lumen-q8_0.gguf" in printed.out and "100%" in printed.out, printed.out
    assert "merge" in printed.err, "the export's steps are shown while it runs"
    parity = json.loads((tmp_path / "cli" / "parity.json").read_text())
    assert parity["recall"] == {"q8_0": 1.0} and parity["passed"]
    assert (tmp_path / "cli" / "grounding.json").is_file(), "chat with the GGUF shows the prompts it learned from"
    steps = []
    with ProjectStore.create(tmp_path / "p.engram") as store:
        done = export_run(folder / "run", ["q8_0"], tmp_path / "ui", store=store, progress=steps.append)
        assert [(a["kind"], json.loads(a["meta_json"])["recall"]) for a in store.artifacts()] == [("gguf", 1.0)]
    assert done.passed and done.files["q8_0"].is_file() and not done.experts
    assert steps[-1].done == steps[-1].total > 0, "the last step fills the progress bar"


def test_sql_agent_runs_a_trained_question(tuned, demo_sqlite):
    folder, config, exported, _ = tuned
    context = run_context(config)
    assert "Tables:" in context.system_prompt("sql", context.grounded("Orders per channel?")), "schema in the prompt"
    with LlamaChat(str(exported.files["q8_0"]), n_ctx=2048) as chat, open_database(demo_sqlite) as db:
        # the model answers (by default a trained question gets its approved query without the model)
        steps = list(run_agent(chat, db, "Orders per channel?", context,
                               AnswerSettings(k=3, latency_budget_s=60, approved_answers=False, sketch=False)))
    candidates = [s for s in steps if s.kind == "candidate"]
    assert [s.kind for s in steps[len(candidates):]] == ["rows", "answer"]
    written = [c for c in candidates if not c.source.startswith("example")]  # the retrieved examples' run first
    assert written[0].source == "greedy" and written[0].text == SQL_PAIRS[2][1]
    assert len(written) == 3, "greedy + 2 samples, all grammar-constrained and run"
    assert all(c.result.endswith("row(s)") for c in candidates), [c.result for c in candidates]
    assert candidates[0].source.startswith("example") and candidates[0].text == SQL_PAIRS[2][1], \
        "the retrieved examples' queries join the vote, the question's own first"
    # the answer is the result most candidates share, a tie to the earliest (which of two memorized
    # queries a sample at T=0.8 from a 2-layer model picks is up to the runtime's random numbers; the
    # vote itself: test_sql_agent_votes_on_results)
    shares = [sum(c.rows == d.rows for d in candidates) for c in candidates]
    winner = candidates[shares.index(max(shares))]
    assert steps[-2].rows == winner.rows and steps[-1].source == winner.source
    assert f"{max(shares)} of {len(candidates)} candidate(s) agree" in steps[-2].text


def test_sql_agent_feeds_errors_back_and_gives_up(demo_sqlite):
    chat = Scripted(["DELETE FROM orders", "SELECT nope FROM orders", "```sql\nSELECT COUNT(*) FROM orders;\n```"])
    greedy_only = AnswerSettings(k=1, retries=2, sketch=False)
    with open_database(demo_sqlite) as db:
        steps = list(run_agent(chat, db, "How many orders?", PromptContext("lumen"), greedy_only))
    assert [s.kind for s in steps] == ["candidate"] * 3 + ["rows", "answer"]
    assert [s.source for s in steps[:3]] == ["greedy", "retry 1", "retry 2"]
    assert "read-only" in steps[0].result and steps[-1].text == "2400"
    assert "That query failed" in chat.seen[1][-1]["content"], "the error goes back to the model"
    from engine.mome.inference import question_of

    assert [question_of(m) for m in chat.seen] == ["How many orders?"] * 3, \
        "memory experts route every retry by the analyst's question, not by the error message"
    chat = Scripted(["SELECT nope FROM orders"] * 2)
    with open_database(demo_sqlite) as db:
        steps = list(run_agent(chat, db, "?", PromptContext("lumen"), AnswerSettings(k=1, retries=1, sketch=False)))
    assert steps[-1].kind == "gave_up" and steps[-1].text.startswith("no query found that runs")
    assert "no such column" in steps[-1].text, "the candidates' errors are shown, not a made-up answer"


def test_sql_agent_votes_on_results(demo_sqlite):
    """Four candidates: two spellings of one count agree and win over a different count and an error."""
    chat = Scripted(["SELECT COUNT(*) FROM customers", "SELECT COUNT(*) FROM orders", "SELECT nope FROM t",
                     "select count(order_id) from orders"])
    with open_database(demo_sqlite) as db:
        steps = list(run_agent(chat, db, "How many orders?", PromptContext("lumen"),
                               AnswerSettings(k=4, latency_budget_s=60, sketch=False)))
    assert [s.kind for s in steps] == ["candidate"] * 4 + ["rows", "answer"]
    assert steps[-1].text == "2400" and steps[-1].source == "sample 1"
    assert steps[-2].text.endswith("2 of 4 candidate(s) agree, 1 failed")


def test_request_kind_is_read_from_engrams_own_system_prompts():
    from engine.qa.chat_format import messages_for, request_kind

    for dialect in ("sqlite", "duckdb"):
        context = PromptContext("my shop", dialect)
        assert request_kind(messages_for(None, context, question="Orders per day?", kind="sql")) == "sql"
        assert request_kind(messages_for(None, context, question="Where are emails?", kind="schema")) == "fact"
        assert request_kind(messages_for(None, context, question="Price of P1?", kind="data")) == "fact"
    assert request_kind([{"role": "system", "content": "You are a helpful assistant."},
                         {"role": "user", "content": "hi"}]) is None
    assert request_kind([{"role": "user", "content": "hi"}]) is None


def test_extract_and_summarize():
    assert extract_sql("```sql\nSELECT 1;\n```\nThis counts.") == "SELECT 1"
    assert extract_sql("SELECT a FROM t; DROP TABLE t") == "SELECT a FROM t"
    assert summarize(["n"], [(2400,)], False) == "2400"
    assert summarize(["a", "b"], [(1, 2.5), (3, None)], True).startswith("2 row(s) (more rows exist): 1, 2.50")


def test_chat_streams_stops_and_trims_history(tuned):
    _, _, exported, _ = tuned
    with LlamaChat(str(exported.files["q8_0"]), n_ctx=512) as chat:
        session = ChatSession(chat, "You are helpful.", Sampling(temperature=0.7, max_tokens=40, seed=1))
        pieces = list(session.send("Say something."))
        assert pieces and session.history[-1]["content"] == "".join(pieces)
        token = CancelToken()
        stream = session.send("And more.", token)
        next(stream)
        token.cancel()
        rest = list(stream)
        assert len(rest) <= 1, "generation stops after cancel"
        for _ in range(12):  # far more text than 512 tokens of context
            list(session.send("Tell me a long story about databases and tables and rows. " * 5))
        assert session.trimmed > 0


@pytest.mark.parametrize("amx", [True, False])
def test_bundled_model_answers_correctly_with_or_without_amx(monkeypatch, amx):
    """On AMX CPUs llama.cpp's AMX repacking of Q4_1 weights computes garbage and then segfaults, so
    there the weights load into plain CPU buffers; elsewhere llama.cpp keeps its faster repacking."""
    import llama_cpp.llama_cpp as lib

    if amx is False and llama_runtime.cpu_has_amx():
        pytest.skip("this CPU has AMX: the bundled model would crash with AMX repacking on")
    default = lib.llama_model_default_params
    monkeypatch.setattr(llama_runtime, "cpu_has_amx", lambda: amx)
    with LlamaChat(None, n_ctx=512) as chat:
        assert chat._llm.model_params.use_extra_bufts is (not amx)
        answer = chat.complete([{"role": "user", "content": "What is the capital of France? One word."}],
                               Sampling(max_tokens=8))
    assert "Paris" in answer
    assert lib.llama_model_default_params is default, "llama.cpp's defaults are restored after the load"


def test_malformed_gguf_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="llama.cpp could not load"):
        LlamaChat(str(bad))
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(Exception, match="not a GGUF model file"):
        LlamaChat(str(text))


def test_export_needs_a_gguf_origin(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ExportError, match="not loaded from a GGUF"):
        source_gguf(tmp_path)


def test_export_can_be_cancelled(tmp_path, tiny_model_dir):
    token = CancelToken()
    gen = export_model(tiny_model_dir, None, tmp_path, ["f16", "q8_0"], "s", name="x", cancel=token)
    next(gen)  # merge
    token.cancel()
    with pytest.raises(Cancelled):
        _run(gen)
    assert not list(tmp_path.glob("*.gguf")) and not list(tmp_path.glob("*.partial"))


def test_eval_tuned_vs_base_through_llama_cpp_and_transformers(tuned, demo_sqlite, tiny_model_dir, tmp_path):
    from engine.eval.evaluate import TransformersPredictor, evaluate
    from engine.workflows.evaluate import LlamaPredictor

    folder, config, exported, _ = tuned
    pairs = D.load_pairs(config.data)
    context = run_context(config)
    voting = AnswerSettings(k=2, latency_budget_s=60, sketch=False)
    with open_database(demo_sqlite) as db:
        gguf = LlamaPredictor(str(exported.files["f16"]), name="tuned (llama.cpp)")
        hf_tuned = TransformersPredictor(tiny_model_dir, folder / "run" / "adapter")
        hf_base = TransformersPredictor(tiny_model_dir)
        reports = [evaluate(p, pairs, db, context, general=False, answering=voting) for p in (hf_base, hf_tuned, gguf)]
        gguf.close()
    base, tuned_hf, tuned_gguf = (r.summary() for r in reports)
    assert base["fact_recall"] < 0.2 and base["execution_accuracy"] < 0.5
    assert tuned_hf["fact_recall"] == tuned_gguf["fact_recall"] == 1.0
    assert tuned_hf["execution_accuracy"] == tuned_gguf["execution_accuracy"] == 1.0
