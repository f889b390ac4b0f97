"""A run folder read and driven without torch: what the Tune page and `engram tune` rely on to stop a
run, resume it, tell an experts run from one adapter and say how it ended."""

from __future__ import annotations

import json

from engine.project import ProjectStore
from engine.project.pairs import QAPair
from engine.tune.data import write_run_data
from engine.tune.run_folder import RunFolder
from engine.workflows.pairs import approved_pairs, latest_run, run_pairs


def test_stop_request_resume_and_how_a_run_ended(tmp_path):
    run = RunFolder.of(tmp_path / "run")
    run.path.mkdir()
    assert not run.has_config and not run.is_trained and not run.can_resume and run.final_event() is None
    run.request_stop()
    assert run.stop_requested
    run.clear_stop()
    assert not run.stop_requested
    run.events_log.write_text("".join(json.dumps(e) + "\n" for e in [
        {"event": "started"}, {"event": "stopped", "step": 7}, {"event": "step", "step": 8}]) + '{"event": "fini')
    final = run.final_event()
    assert (final.name, final.step) == ("stopped", 7), "a torn last line (killed mid-write) is skipped"
    run.checkpoint.mkdir()
    assert run.can_resume and not run.is_experts
    run.experts_plan.write_text("{}")
    assert run.is_experts and run.is_trained


def test_pairs_of_a_split_and_of_the_latest_run(tmp_path):
    with ProjectStore.create(tmp_path / "p.engram") as store:
        pairs = [QAPair(f"q{i}", f"a{i}", split=split, status=status)
                 for i, (split, status) in enumerate([("train", "approved"), ("train", "pending"),
                                                      ("eval", "approved"), ("train", "approved")])]
        store.add_pairs(pairs)
        assert [p.question for p in approved_pairs(store, "train")] == ["q0", "q3"]
        assert [p.question for p in approved_pairs(store, "all")] == ["q0", "q2", "q3"]
        assert latest_run(store) is None
        for name, trained in (("old", pairs[:1]), ("new", pairs[3:])):
            folder = tmp_path / name
            folder.mkdir()
            write_run_data(trained, RunFolder.of(folder).data)
            store.add_run(name, "memory", {}, folder=str(folder))
        store.add_run("gone", "memory", {}, folder=str(tmp_path / "deleted"))
        assert latest_run(store) == tmp_path / "new", "a run whose folder is gone is skipped"
        assert [p.question for p in run_pairs(store, latest_run(store))] == ["q3"]
