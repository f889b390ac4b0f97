"""Memory experts trained, routed, exported and updated on the 2-layer test model: every fact recalled,
each expert answering its own, a database change retraining only what it touched."""

from __future__ import annotations

import pytest

from engine.db import open_database
from engine.project import ProjectStore
from engine.qa.generate import generate_template_pairs
from engine.tune.events import EventLog, Step

GROUPS = ("orders", "customers", "products")


def _fact_rows(n: int, start: int = 0) -> list[dict]:
    from tiny_model import facts

    return [{"id": start + i + 1, "kind": "schema", "question": q, "answer": a, "tables": GROUPS[i % 3]}
            for i, (q, a) in enumerate(facts(start + n)[start:])]


def _ask(row: dict, context) -> list[dict]:
    from engine.qa.chat_format import messages_for

    return messages_for(None, context, question=row["question"], kind="schema", with_answer=False)


def _write(path, rows) -> None:
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _experts_config(folder, rows: list[dict], model_dir, **settings):
    """A memory-experts run of the tiny model on `rows` (written to FOLDER/facts.jsonl) into FOLDER/run:
    18 facts in 3 experts of 6 by default."""
    from engine.tune.config import TuneConfig

    _write(folder / "facts.jsonl", rows)
    settings = {"expert_size": 6, "batch_size": 6, "max_steps": 400, **settings}
    return TuneConfig(data=str(folder / "facts.jsonl"), output_dir=str(folder / "run"), model=str(model_dir),
                      method="experts", learning_rate=3e-3, recall_every=3, checkpoint_every=10_000,
                      regularization="none", **settings)


@pytest.fixture(scope="module")
def experts_run(tmp_path_factory, tiny_model_dir):
    from engine.tune.events import EventLog
    from engine.workflows.train import train

    folder = tmp_path_factory.mktemp("experts")
    rows = _fact_rows(18)
    config = _experts_config(folder, rows, tiny_model_dir, experts_at_once=1)  # a GPU would group them
    result = train(config, events=EventLog(folder / "events.jsonl", stdout=False))
    return folder, config, rows, result


def test_experts_train_one_after_another_until_their_facts_are_recalled(experts_run):
    from engine.mome.experts import ExpertSet
    from engine.tune.events import read_events

    folder, config, rows, result = experts_run
    assert result["status"] == "finished" and result["recall"] == 1.0, result
    manifest = ExpertSet.load(folder / "run")
    assert sorted(e.name for e in manifest.experts) == sorted(GROUPS)
    assert all(e.status == "trained" and e.recall == 1.0 and len(e.fact_ids) == 6 for e in manifest.experts)
    assert all((e.adapter(folder / "run") / "adapter_config.json").exists() for e in manifest.experts)
    events = read_events(folder / "events.jsonl")
    names = [e["event"] for e in events]
    assert names.count("started") == 1 and names.count("finished") == 1 and names[-1] == "finished"
    assert names.count("expert_started") == 3 and names.count("expert_finished") == 3
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert steps == sorted(steps), "steps count on across experts, so the plots read as one run"
    memorized = [e["memorized"] for e in events if e["event"] == "step"]
    assert memorized[-1] == 1.0 and max(memorized[:5]) < 0.5, "memorized is a share of all facts"


def test_router_and_per_request_adapters_with_transformers(experts_run):
    from engine.mome.experts import ExpertSet
    from engine.workflows.evaluate import open_predictor
    from engine.mome.inference import TransformersExperts
    from engine.qa.chat_format import PromptContext

    folder, config, rows, _ = experts_run
    owner = ExpertSet.load(folder / "run").owner_of()
    predictor = open_predictor(str(folder / "run"), "experts")  # what `engram eval --model RUN` opens
    assert isinstance(predictor, TransformersExperts)
    context = PromptContext(config.database_name, config.dialect)
    for row in rows[:6]:  # alternating experts: each request switches adapter
        messages = _ask(row, context)
        assert predictor.predict(messages, 24).strip() == row["answer"]
        assert predictor.last_route.experts == [owner[row["id"]]]
    predictor.routing.router.threshold = 1.01  # nothing is that close: the base model answers
    messages = _ask(rows[0], context)
    assert predictor.predict(messages, 24).strip() != rows[0]["answer"] and predictor.last_route.experts == []


def test_experts_as_llama_cpp_loras_switched_per_request(experts_run, tmp_path):
    from engine.mome.experts import ExpertSet
    from engine.mome.inference import LlamaExperts, export_experts
    from engine.qa.chat_format import messages_for
    from engine.qa.chat_format import PromptContext

    folder, config, rows, _ = experts_run
    gen = export_experts(folder / "run", tmp_path)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        exported = stop.value
    assert set(exported.adapters) == set(GROUPS)
    owner = ExpertSet.load(folder / "run").owner_of()
    context = PromptContext(config.database_name, config.dialect)
    with LlamaExperts(folder / "run", exported) as chat:
        for row in rows[:6] + rows[:2]:
            messages = _ask(row, context)
            assert chat.complete(messages).strip() == row["answer"]
            assert chat.last_route.experts == [owner[row["id"]]]
            assert chat.route_note().startswith(f"answered by memory expert {owner[row['id']]}")
        chat.complete([{"role": "user", "content": "Who wrote Hamlet?"}])  # about no database: no expert
        assert chat.last_route.experts == [] and chat.route_note().startswith("closer to general questions")
        # asked for SQL, experts that learned only facts stay out (they would answer with the fact)
        chat.complete(messages_for(None, context, question=rows[0]["question"], kind="sql", with_answer=False))
        assert chat.last_route.experts == [] and chat.route_note() == \
            "no expert learned SQL queries: the base model answered"
        chat.chat.use_adapters({})
        base = chat.chat.complete(_ask(rows[0], context))
        assert base.strip() != rows[0]["answer"], "without its expert the base model does not know the fact"

    # evaluation (app and `engram eval --model EXPORT`) opens the export folder the same way
    from app.paths import DEMO_SQLITE
    from engine.db import open_database
    from engine.eval.evaluate import evaluate
    from engine.project.pairs import QAPair
    from engine.workflows.evaluate import open_predictor

    pairs = [QAPair(r["question"], r["answer"], kind="schema", id=r["id"], tables=r["tables"]) for r in rows]
    predictor = open_predictor(str(tmp_path), "tuned: experts")
    try:
        with open_database(DEMO_SQLITE) as db:
            report = evaluate(predictor, pairs, db, context, general=False)
    finally:
        predictor.close()
    assert report.summary()["fact_recall"] == 1.0, report.summary()


def test_incremental_memory_retrains_only_what_changed(experts_run):
    import shutil

    from engine.mome.experts import ExpertSet, update_experts
    from engine.project.pairs import QAPair
    from engine.tune.config import TuneConfig
    from engine.tune.events import EventLog
    from engine.workflows.train import train

    folder, _, rows, _ = experts_run
    run = folder / "run-incremental"
    shutil.copytree(folder / "run", run)
    config = TuneConfig.load(run / "config.json")
    config.output_dir = str(run)
    config.save(run / "config.json")
    before = ExpertSet.load(run)
    owner = before.owner_of()
    untouched = next(e for e in before.experts if e.name != owner[rows[0]["id"]])
    stamp = (untouched.adapter(run) / "adapter_model.safetensors").stat().st_mtime_ns

    changed = [dict(r) for r in rows]
    changed[0]["answer"] = "dim_changed_table"  # the database changed: a stale fact
    added = _fact_rows(4, start=18)
    report = update_experts(run, [QAPair(r["question"], r["answer"], kind="schema", id=r["id"], tables=r["tables"])
                                  for r in changed + added])
    assert report["changed"] == [rows[0]["id"]] and report["retrain"] == [owner[rows[0]["id"]]]
    assert len(report["new_experts"]) >= 1 and sorted(report["added"]) == [r["id"] for r in added]
    pending = [e.name for e in ExpertSet.load(run).experts if e.status != "trained"]
    assert sorted(pending) == sorted(report["retrain"] + report["new_experts"])

    result = train(TuneConfig.load(run / "config.json"), resume=True,
                        events=EventLog(run / "update-events.jsonl", stdout=False))
    assert result["status"] == "finished" and result["recall"] == 1.0, result
    after = ExpertSet.load(run)
    assert all(e.status == "trained" for e in after.experts)
    assert (untouched.adapter(run) / "adapter_model.safetensors").stat().st_mtime_ns == stamp, \
        "an expert whose facts did not change is not retrained"
    trained_now = after.history[-1]["experts_trained"]
    assert sorted(trained_now) == sorted(pending)


def test_database_change_makes_facts_stale_and_update_plans_only_what_changed(demo_sqlite, tiny_model_dir,
                                                                              tmp_path, capsys):
    """`engram update RUN`: a row deleted from the analyst's database (a copy here) changes a count; the
    fact's answer is refreshed, its expert alone is marked for retraining, a newly approved pair gets a
    new expert. (--no-train: the training itself is covered above.)"""
    import sqlite3

    from app.cli import main
    from engine.mome.experts import ExpertSet, plan_experts
    from engine.qa.stale import find_stale_facts
    from engine.tune.config import TuneConfig
    from engine.tune.prepare import prepare_run

    project = tmp_path / "p.engram"
    with open_database(demo_sqlite) as db, ProjectStore.create(project, demo_sqlite) as store:
        generate_template_pairs(store, db, paraphrases=0)
        counts = [p for p in store.pairs("intent LIKE 'data.row_count:%'") if p.tables in ("orders", "customers",
                                                                                            "products")]
        store.update_pairs([p.id for p in counts], status="approved")
        customers = next(p for p in counts if p.tables == "customers")
        store.update_pair(customers.id, answer=f"{customers.answer} customers")  # an analyst's rewording
        config, _ = prepare_run(store, TuneConfig(model=str(tiny_model_dir), method="experts", expert_size=2),
                                tmp_path / "run")
        manifest = plan_experts(config, store.pairs(f"id IN ({','.join(str(p.id) for p in counts)})"),
                                tmp_path / "run")
        for expert in manifest.experts:  # as if trained
            expert.status, expert.recall = "trained", 1.0
        manifest.save(tmp_path / "run")
        extra = store.pairs("intent LIKE 'data.row_count:support_agents'")[0]
        store.update_pair(extra.id, status="approved")
        assert find_stale_facts(store, db) == [], "a reworded answer that states the value is not stale"

    with sqlite3.connect(demo_sqlite) as raw:  # the data changes (on the copy)
        raw.execute("DELETE FROM products WHERE product_id = (SELECT MAX(product_id) FROM products)")
    assert main(["update", str(tmp_path / "run"), "--project", str(project), "--no-train"]) == 0
    out = capsys.readouterr().out
    assert "stale: How many" in out and "'57' → '56'" in out
    products = next(p for p in counts if p.tables == "products")
    after = ExpertSet.load(tmp_path / "run")
    owner = after.owner_of()
    pending = {e.name for e in after.experts if e.status == "pending"}
    assert owner[products.id] in pending and owner[extra.id] in pending
    assert len(pending) == 2, "only the stale fact's expert and the new fact's expert will train"
    with ProjectStore(project) as store:
        assert store.get_pair(products.id).answer == "56"
        assert store.get_pair(customers.id).answer.endswith(" customers"), "an unchanged fact keeps its wording"


def test_experts_trained_together_learn_only_from_their_own_facts(tmp_path, tiny_model_dir):
    """Experts sharing a batch: a step on one expert's facts changes that expert's adapter and no
    other's, so grouping experts (on a GPU) trains each exactly on what it holds."""
    import time

    import torch

    from engine.mome.expert_batch import expert_batch_recipe
    from engine.tune.config import TuneConfig
    from engine.tune.events import EventLog

    rows = _fact_rows(8)
    _write(tmp_path / "facts.jsonl", rows)
    members = {"first": [r["id"] for r in rows[:4]], "second": [r["id"] for r in rows[4:]]}
    config = TuneConfig(data=str(tmp_path / "facts.jsonl"), output_dir=str(tmp_path / "group"),
                        model=str(tiny_model_dir), batch_size=8, learning_rate=3e-3, warmup_steps=1,
                        regularization="none")
    recipe = expert_batch_recipe(config, members, {n: tmp_path / n for n in members},
                               EventLog(None, stdout=False))
    recipe.setup()
    recipe.started = time.monotonic()  # what train() sets before its first step

    def weights(name: str) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in recipe.model.named_parameters() if f".{name}." in k}

    before = {name: weights(name) for name in members}
    assert all(len(w) > 0 for w in before.values())
    first_only = [i for i, e in enumerate(recipe.examples) if e.fact_id in members["first"]]
    recipe._train_step(first_only)
    changed = {name: any(not torch.equal(v, before[name][k]) for k, v in weights(name).items()) for name in members}
    assert changed == {"first": True, "second": False}
    recipe._train_step(list(range(len(recipe.examples))))  # a mixed batch trains both
    assert any(not torch.equal(v, before["second"][k]) for k, v in weights("second").items())
    recipe.cleanup()


def test_experts_trained_together_roll_back_as_a_group_after_a_divergence(tmp_path, tiny_model_dir):
    """A group that diverges goes back to its best epoch: every expert's adapter as it was then, and an
    expert found done since then is trained again (its kept adapter had not memorized yet)."""
    import time

    import torch

    from engine.mome.expert_batch import expert_batch_recipe
    from engine.tune.config import TuneConfig
    from engine.tune.events import EventLog

    rows = _fact_rows(8)
    _write(tmp_path / "facts.jsonl", rows)
    members = {"first": [r["id"] for r in rows[:4]], "second": [r["id"] for r in rows[4:]]}
    config = TuneConfig(data=str(tmp_path / "facts.jsonl"), output_dir=str(tmp_path / "group"),
                        model=str(tiny_model_dir), batch_size=8, learning_rate=3e-3, warmup_steps=1,
                        regularization="none")
    recipe = expert_batch_recipe(config, members, {n: tmp_path / n for n in members}, EventLog(None, stdout=False))
    recipe.setup()
    recipe.started = time.monotonic()
    everything = list(range(len(recipe.examples)))
    recipe._start_pass()
    kept = {k: v.detach().clone() for k, v in recipe.model.named_parameters() if "lora_" in k}
    recipe._train_step(everything)
    assert not recipe._watch_divergence(2.0), "the first epoch is kept, as it began"
    recipe._start_pass()
    recipe._train_step(everything)
    for fact_id in members["first"]:  # "first" memorized since the kept epoch
        recipe.ledger.loss[fact_id], recipe.ledger.recalled[fact_id] = 0.001, True
    recipe.adapters.refresh(recipe.ledger)
    assert recipe.adapters.done == {"first"}
    assert recipe._watch_divergence(9.5), "4x the best mean fact loss: diverged"
    now = dict(recipe.model.named_parameters())
    assert all(torch.equal(now[k], v) for k, v in kept.items()), "both experts as the kept epoch began"
    assert recipe.adapters.done == set() and recipe._lr() == 1.5e-3
    recipe.cleanup()


class _StopAt(EventLog):
    """Writes the run's STOP file once training reaches a step, as the Stop button does."""

    def __init__(self, path, stop_file, step: int) -> None:
        super().__init__(path, stdout=False)
        self.stop_file, self.at = stop_file, step

    def emit(self, event):
        if isinstance(event, Step) and event.step >= self.at:
            self.stop_file.touch()
        return super().emit(event)


def test_experts_trained_together_stop_resume_and_recall_every_fact(tmp_path, tiny_model_dir):
    from engine.mome.experts import ExpertSet
    from engine.workflows.evaluate import open_predictor
    from engine.qa.chat_format import PromptContext
    from engine.tune.config import TuneConfig
    from engine.tune.events import EventLog, read_events
    from engine.workflows.train import train

    rows = _fact_rows(18)
    run = tmp_path / "run"
    config = _experts_config(tmp_path, rows, tiny_model_dir, experts_at_once=3)
    first = train(config, events=_StopAt(tmp_path / "events.jsonl", run / "STOP", step=5))
    assert first["status"] == "stopped"
    assert all(e.status == "pending" for e in ExpertSet.load(run).experts)
    stopped_group = ExpertSet.load(run).experts[:3]
    assert all(e.seconds > 0 for e in stopped_group), "a stopped expert's manifest says what it has cost so far"
    (run / "STOP").unlink()
    result = train(TuneConfig.load(run / "config.json"), resume=True,
                        events=EventLog(tmp_path / "events.jsonl", stdout=False))
    assert result["status"] == "finished" and result["recall"] == 1.0, result

    events = read_events(tmp_path / "events.jsonl")
    started = [e for e in events if e["event"] == "expert_started"]
    assert [e["experts_together"] for e in started] == [3, 3] and started[1]["resumed_from_step"] >= 5
    assert started[1]["facts"] == 18, "one loop over the three experts' facts"
    manifest = ExpertSet.load(run)
    assert all(e.status == "trained" and e.recall == 1.0 for e in manifest.experts)
    assert all((e.adapter(run) / "adapter_config.json").exists() for e in manifest.experts)

    owner = manifest.owner_of()
    predictor = open_predictor(str(run), "experts")  # each expert's adapter alone answers its facts
    context = PromptContext(config.database_name, config.dialect)
    for row in rows[:6]:
        assert predictor.predict(_ask(row, context), 24).strip() == row["answer"]
        assert predictor.last_route.experts == [owner[row["id"]]]


def test_experts_too_many_together_for_memory_go_on_fewer_at_a_time(tmp_path, tiny_model_dir, monkeypatch):
    """Out of memory with a group of experts (a big model on a small GPU): the same experts are trained
    in smaller groups, down to one at a time, instead of the run failing."""
    import torch

    from engine.mome.expert_batch import ExpertAdapters
    from engine.mome.experts import ExpertSet
    from engine.tune.events import read_events
    from engine.workflows.train import train

    def no_room(self, model):  # a group's training step, before its forward pass
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(ExpertAdapters, "train_mode", no_room)
    run = tmp_path / "run"
    config = _experts_config(tmp_path, _fact_rows(6), tiny_model_dir, expert_size=2, experts_at_once=2,
                             batch_size=2, max_steps=300)
    result = train(config, events=EventLog(tmp_path / "events.jsonl", stdout=False))
    assert result["status"] == "finished" and result["recall"] == 1.0, result
    assert all(e.status == "trained" for e in ExpertSet.load(run).experts)
    events = read_events(tmp_path / "events.jsonl")
    assert [e["experts_at_once"] for e in events if e["event"] == "experts_at_once"] == [1]
    assert [e["experts_together"] for e in events if e["event"] == "expert_started"] == [2, 1, 1, 1]
