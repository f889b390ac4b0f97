"""Retention: does the tuned model stay a general assistant while recalling every fact?

On the demo database, one run each of memory tuning with `regularization` none, mix and kl, and of
memory experts (whose router sends off-topic questions to the base model): `engram tune` to full
recall (a time cap) → `engram export --quant q8_0` → `engram eval --run` through llama.cpp, which
scores fact recall on the trained pairs and general ability on the held-out general set
(engine/eval/general_set.py, none of it among the prompts `mix`/`kl` train on). The base model's
general ability is measured in the same run. Writes docs/benchmarks/retention.{md,json}.

    .venv/bin/python bench/bench_retention.py [--configs none mix kl kl:0.3 experts] [--max-pairs 60] [--minutes 20]

A configuration `kl:0.3` is `kl` with regularization_weight 0.3 (plain `kl` uses the default weight).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_quality import run_engram as engram  # noqa: E402

DATABASE = ROOT / "resources" / "demo" / "lumen.sqlite"


def summary_of(path: Path) -> dict:
    return json.loads(path.read_text())["reports"][-1]["summary"]


def row_of(config: str, work: Path, seconds: dict) -> dict:
    """One configuration's figures, from its run's events and its evaluation report."""
    events = [json.loads(line) for line in (work / f"run-{config}" / "events.jsonl").read_text().splitlines()
              if line.strip()]
    final = events[-1]
    summary = summary_of(work / f"eval-{config}.json")
    return {"config": config, "fact_recall": summary["fact_recall"], "trained_sql_accuracy": summary["execution_accuracy"],
            "general_ability": summary["general_ability"], "general_by_category": summary["general_by_category"],
            "tune": {k: final.get(k) for k in ("event", "reason", "step", "recall", "elapsed_s")}, "seconds": seconds}


def measure(config: str, args, work: Path, env: dict, project: Path, log: Path) -> dict:
    run = work / f"run-{config}"
    shutil.rmtree(run, ignore_errors=True)
    tune = ["tune", "--project", str(project), "--database", str(DATABASE), "--max-pairs", str(args.max_pairs),
            "--max-minutes", str(args.minutes), "--run-dir", str(run)]
    if config == "experts":
        tune += ["--method", "experts", "--expert-size", str(args.expert_size)]
    else:  # "kl" or "kl:0.3": a regularization and, after the colon, its weight
        regularization, _, weight = config.partition(":")
        tune += ["--regularization", regularization] + (["--regularization-weight", weight] if weight else [])
    seconds = {"tune": engram(log, *tune, env=env)}
    seconds["export"] = engram(log, "export", str(run), "--quant", "q8_0", env=env)
    model = run / "export" if config == "experts" else \
        next(p for p in sorted((run / "export").glob("*.gguf")) if "q8_0" in p.name and "lora" not in p.name)
    seconds["eval"] = engram(log, "eval", "--run", str(run), "--project", str(project), "--database", str(DATABASE),
                             "--model", str(model), "--out", str(work / f"eval-{config}.json"), env=env)
    return row_of(config, work, seconds)


def report(base: dict, rows: list[dict], args) -> str:
    lines = [f"Demo database, {args.max_pairs} trained pairs, bundled SmolLM2-135M, q8_0 through llama.cpp, "
             f"one run each (`bench/bench_retention.py`).", "",
             "| configuration | fact recall | general ability | of the base's | training (s) | steps |",
             "|---|---|---|---|---|---|",
             f"| base model | – | {base['general_ability']:.0%} | 100% | – | – |"]
    for r in rows:
        share = r["general_ability"] / base["general_ability"] if base["general_ability"] else 0
        regularization, _, weight = r["config"].partition(":")
        name = "memory experts (router gate)" if r["config"] == "experts" else \
            f"regularization {regularization}" + (f" (weight {weight})" if weight else "")
        lines.append(f"| {name} | {r['fact_recall']:.0%} | {r['general_ability']:.0%} | {share:.0%} | "
                     f"{r['tune']['elapsed_s'] or 0:.0f} | {r['tune']['step']} |")
    cats = sorted(base["general_by_category"])
    lines += ["", "General ability per category (passed / total):", "",
              "| | " + " | ".join(cats) + " |", "|---" * (len(cats) + 1) + "|"]
    for name, by in [("base", base["general_by_category"])] + [(r["config"], r["general_by_category"]) for r in rows]:
        lines.append(f"| {name} | " + " | ".join(f"{by[c]['passed']}/{by[c]['total']}" for c in cats) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["none", "mix", "kl", "experts"])
    parser.add_argument("--max-pairs", type=int, default=60)
    parser.add_argument("--minutes", type=float, default=20.0, help="tuning time cap per run")
    parser.add_argument("--expert-size", type=int, default=20)
    parser.add_argument("--work", type=Path, default=ROOT / ".bench-work" / "retention")
    parser.add_argument("--out", type=Path, default=None, help="write retention.{md,json} into this folder")
    parser.add_argument("--report-only", action="store_true", help="only redo the table from --work's runs and reports")
    args = parser.parse_args()
    started = time.monotonic()
    if args.report_only:
        return write(summary_of(args.work / "eval-base.json"), [row_of(c, args.work, {}) for c in args.configs],
                     args, started)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    env = {**os.environ, "ENGRAM_HOME": str(args.work / "home")}
    log, project = args.work / "commands.log", args.work / "lumen.engram"
    engram(log, "generate", str(DATABASE), "--project", str(project), "--approve-valid", "--dedupe", "--split", "0.2",
           env=env)
    rows = [measure(config, args, args.work, env, project, log) for config in args.configs]
    # the base model on the same pairs and general set (its facts are mostly wrong: only general ability counts)
    engram(log, "eval", "--run", str(args.work / f"run-{args.configs[0]}"), "--project", str(project), "--database",
           str(DATABASE), "--model", "bundled", "--out", str(args.work / "eval-base.json"), env=env)
    return write(summary_of(args.work / "eval-base.json"), rows, args, started)


def write(base: dict, rows: list[dict], args, started: float) -> int:
    text = report(base, rows, args)
    print(text)
    print(f"total {time.monotonic() - started:.0f} s")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "retention.md").write_text(text)
        (args.out / "retention.json").write_text(json.dumps({"settings": {k: str(v) for k, v in vars(args).items()},
                                                             "base": base, "rows": rows}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
