"""One memory expert of the recorded 5,000-fact scaling run (bench_mome_scaling.py), retrained alone
with the bench's settings, or with some of them changed: how a change to the recipe moves the steps
and time an expert takes, above all in its last-facts phase (every loss under the threshold, yet
greedy decoding still missing some of the facts).

    .venv/bin/python bench/bench_expert_alone.py --expert support_tickets-25 [--set loss_threshold=0.005 ...]

Prints the recall checks as they come and, at the end, the steps, seconds, steps per fact and when
the last-facts phase began (the first check that found at least 90% recalled) and how long it lasted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import fields, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_mome_scaling import make_parser, prepare, row_facts  # noqa: E402
from engine.mome.experts import ExpertSet  # noqa: E402
from engine.tune.config import TuneConfig  # noqa: E402
from engine.tune.events import EventLog, read_events  # noqa: E402
from engine.tune.run import run_tuning  # noqa: E402

RECORD = Path(__file__).resolve().parent / "results" / "mome-scaling" / "experts-5000"


def overrides(pairs: list[str]) -> dict:
    """`name=value` settings of TuneConfig, each value parsed as its field's type."""
    types = {f.name: f.type for f in fields(TuneConfig)}
    result = {}
    for item in pairs:
        name, _, value = item.partition("=")
        if name not in types:
            raise SystemExit(f"--set {item}: TuneConfig has no field {name!r}")
        kind = {"int": int, "float": float, "bool": lambda v: v.lower() in ("1", "true", "yes"), "str": str}[types[name]]
        result[name] = kind(value)
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--expert", default="support_tickets-25")
    parser.add_argument("--set", nargs="*", default=[], help="TuneConfig fields to change, as name=value")
    parser.add_argument("--work", default=None, help="run folder (default: a temporary one)")
    args = parser.parse_args()
    manifest = ExpertSet.load(RECORD)
    expert = manifest.by_name(args.expert)
    pairs = {p.id: p for p in row_facts(5000)}
    changed = overrides(args.set)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(args.work or temporary)
        # the scaling bench's own settings for one expert (its defaults: rank 8, lr 1e-3, clip 1.0, batch by
        # device), as its experts job trains each one: a memory run on the expert's facts, no budget
        scaling = make_parser().parse_args([])
        config = prepare(folder, [pairs[i] for i in expert.fact_ids], "memory", scaling.expert_rank, 0, scaling)
        config = replace(config, **changed)
        log = folder / "events.jsonl"
        result = run_tuning(config, events=EventLog(log, stdout=False))
        checks = [e for e in read_events(log) if e["event"] == "recall"]
    for check in checks:
        print(f"step {check['step']:>5}: {check['recalled']} of {check['total']}")
    settling = next((c["step"] for c in checks if c["recall"] >= 0.9), None)
    summary = {"expert": args.expert, "changed": changed, "facts": len(expert.fact_ids),
               "status": result.get("status"), "reason": result.get("reason"), "recall": result.get("recall"),
               "steps": result.get("step"), "seconds": round(result.get("elapsed_s") or 0, 1),
               "steps_per_fact": (result.get("step") or 0) / len(expert.fact_ids),
               "recorded_steps": expert.steps, "last_facts_from_step": settling,
               "last_facts_steps": None if settling is None else (result.get("step") or 0) - settling}
    print(json.dumps(summary))
    return 0 if result.get("status") == "finished" else 1


if __name__ == "__main__":
    sys.exit(main())
