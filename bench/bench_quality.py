"""Answering quality on questions nobody generated: the held-out benchmark, end to end, as a user runs it.

For each demo database (Lumen, and Kestrel, shaped unlike it): `engram generate` (templates, approve
valid, dedupe, split, paraphrases) → a leakage check against evals/<db>.jsonl → `engram tune` (a fixed
budget) → `engram export --quant q8_0` → `engram eval --heldout` for the base (bundled) and the tuned
GGUF side by side, and `engram eval --run` for the fact recall of what was trained. Prints execution
accuracy overall, per construct and per error kind, fact recall and general ability; writes
docs/benchmarks/quality.{md,json}. `--ablation-questions N` adds the SQL-answering ablation (the tuned
model on the first N questions with one part switched off); with `--resume` it runs on top of a finished
benchmark (`make bench-sql-ablation` after `make bench-quality`).

    .venv/bin/python bench/bench_quality.py [--databases lumen kestrel] [--max-pairs 80] [--minutes 12]
        [--regularization none|mix|kl] [--ablation-questions 0] [--work .bench-work/quality] [--resume]
        [--out docs/benchmarks]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.db import open_database  # noqa: E402
from engine.project import ProjectStore  # noqa: E402
from engine.qa.heldout import CONSTRUCTS, HeldOutIndex, load_heldout  # noqa: E402
from engine.tune.data import load_pairs  # noqa: E402

DEMO = ROOT / "resources" / "demo"
# SQL answering with one part switched off (engram eval flags); "all on" is the reference on the same questions
ABLATIONS = (("all on", ()), ("no schema", ("--no-schema",)), ("no examples", ("--examples", "0")),
             ("no grammar", ("--no-grammar",)), ("no voting", ("--no-voting", "--k", "1")),
             ("no edited examples", ("--no-edited-examples",)), ("no sketch", ("--no-sketch",)))
EVALS = ROOT / "evals"


def run_engram(log: Path, *args: str, env: dict) -> float:
    """Run one `engram` command as a user would (its output to a log); seconds taken."""
    started = time.monotonic()
    with log.open("a") as out:
        out.write(f"$ engram {' '.join(args)}\n")
        out.flush()
        code = subprocess.call([sys.executable, "-m", "app.cli", *args], stdout=out, stderr=subprocess.STDOUT,
                               cwd=ROOT, env=env)
    if code not in (0, 1):
        raise SystemExit(f"engram {args[0]} failed ({code}); see {log}")
    return time.monotonic() - started


def leaks(questions, pairs, dialect: str) -> list[str]:
    index = HeldOutIndex.of(questions, dialect)
    return [p.question for p in pairs if index.leaks(p, dialect)]


def measure(name: str, args, work: Path) -> dict:
    database = DEMO / f"{name}.sqlite"
    folder = work / name
    if not args.resume:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ENGRAM_HOME": str(folder / "home")}
    log = folder / "commands.log"
    project = folder / f"{name}.engram"
    with open_database(database) as db:
        questions = load_heldout(EVALS / f"{name}.jsonl", db)
    done = folder / "seconds.json"  # each finished step's time; --resume skips what is in it
    seconds = json.loads(done.read_text()) if args.resume and done.is_file() else {}

    def engram(log, *command, env):
        key = " ".join(command)
        if key not in seconds:
            seconds[key] = run_engram(log, *command, env=env)
            done.write_text(json.dumps(seconds, indent=1))
        return seconds[key]

    seconds_of = {}
    seconds_of["generate"] = engram(log, "generate", str(database), "--project", str(project), "--approve-valid",
                                 "--dedupe", "--split", "0.2", "--paraphrase", env=env)
    with ProjectStore(project) as store:
        generated = store.pairs()
    leaked = leaks(questions, generated, "sqlite")
    run = folder / "run"
    tune = ["tune", "--project", str(project), "--database", str(database), "--max-pairs", str(args.max_pairs),
            "--max-minutes", str(args.minutes), "--run-dir", str(run)]
    if args.regularization:
        tune += ["--regularization", args.regularization]
    seconds_of["tune"] = engram(log, *tune, env=env)
    trained = load_pairs(run / "data.jsonl")
    leaked += leaks(questions, trained, "sqlite")
    if leaked:
        raise SystemExit(f"{name}: held-out questions leaked into training data: {leaked[:3]}")
    seconds_of["export"] = engram(log, "export", str(run), "--quant", "q8_0", env=env)
    gguf = next(p for p in sorted((run / "export").glob("*.gguf")) if "q8_0" in p.name and "lora" not in p.name)
    seconds_of["eval_heldout"] = engram(log, "eval", "--heldout", str(EVALS / f"{name}.jsonl"), "--database",
                                     str(database), "--base", "bundled", "--model", str(gguf),
                                     "--out", str(folder / "heldout.json"), env=env)
    seconds_of["eval_recall"] = engram(log, "eval", "--run", str(run), "--project", str(project), "--database",
                                    str(database), "--model", str(gguf), "--no-general",
                                    "--out", str(folder / "recall.json"), env=env)
    ablations = {}
    for label, switch in ABLATIONS if args.ablation_questions else ():  # each part off in turn, the first N questions
        out = folder / f"ablation-{label}.json"
        seconds_of[f"ablation {label}"] = engram(log, "eval", "--heldout", str(EVALS / f"{name}.jsonl"), "--database",
                                              str(database), "--model", str(gguf), "--no-general", "--limit",
                                              str(args.ablation_questions), *switch, "--out", str(out), env=env)
        ablations[label] = json.loads(out.read_text())["reports"][0]["summary"]
    heldout = json.loads((folder / "heldout.json").read_text())["reports"]
    recall = json.loads((folder / "recall.json").read_text())["reports"][0]["summary"]
    final = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines() if line.strip()][-1]
    row = {"database": name, "heldout_questions": len(questions), "generated_pairs": len(generated),
           "trained_pairs": len(trained), "trained_facts": sum(p.kind != "sql" for p in trained),
           "tune": {k: final.get(k) for k in ("event", "reason", "step", "recall", "elapsed_s")},
           "fact_recall": recall["fact_recall"], "trained_sql_accuracy": recall["execution_accuracy"],
           "base": heldout[0]["summary"], "tuned": heldout[1]["summary"], "ablations": ablations, "seconds": seconds_of}
    (folder / "row.json").write_text(json.dumps(row, indent=1, default=str))
    return row


def pct(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def report(rows: list[dict], args) -> str:
    lines = [f"Held-out questions, bundled SmolLM2-135M, {args.max_pairs} trained pairs at most, {args.minutes:g} min "
             f"tuning budget, regularization {args.regularization or 'default'} (`make bench-quality`).", ""]
    header = "| | " + " | ".join(f"{r['database']} base | {r['database']} tuned" for r in rows) + " |"
    lines += [header, "|---" * (1 + 2 * len(rows)) + "|"]

    def row(label, get):
        cells = []
        for r in rows:
            cells += [get(r["base"]), get(r["tuned"])]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("execution accuracy", lambda s: pct(s["execution_accuracy"]))
    row("SQL validity", lambda s: pct(s["sql_validity"]))
    row("general ability", lambda s: pct(s["general_ability"]))
    row("seconds per SQL answer: median / p90", lambda s: "-" if not s.get("sql_seconds") else
        f"{s['sql_seconds']['median']:.1f} / {s['sql_seconds']['p90']:.1f}")
    for construct in CONSTRUCTS:
        def cell(s, c=construct):
            g = s["by_group"].get(f"construct:{c}")
            return "-" if g is None else f"{g['correct']}/{g['total']}"
        row(f"{construct}", cell)
    kinds = sorted({k for r in rows for s in (r["base"], r["tuned"]) for k in s["errors"]})
    for kind in kinds:
        row(f"errors: {kind}", lambda s, k=kind: str(s["errors"].get(k, 0)))
    if any(r.get("ablations") for r in rows):  # none with --ablation-questions 0
        asked = ("every held-out question" if all(args.ablation_questions >= r["heldout_questions"] for r in rows)
                 else f"the first {args.ablation_questions} held-out questions of each set")
        lines += ["", f"Ablation (tuned q8_0, {asked}): "
                  "execution accuracy / unknown table + unknown column + syntax errors / median seconds per question", "",
                  "| | " + " | ".join(label for label, _ in ABLATIONS) + " |", "|---" * (1 + len(ABLATIONS)) + "|"]
        for r in rows:
            cells = []
            for label, _ in ABLATIONS:
                s = r.get("ablations", {}).get(label)
                if s is None:
                    cells.append("-")
                    continue
                bad = sum(s["errors"].get(k, 0) for k in ("unknown_table", "unknown_column", "syntax"))
                median = (s.get("sql_seconds") or {}).get("median")
                cells.append(f"{pct(s['execution_accuracy'])} / {bad} / {median if median is None else round(median, 1)}")
            lines.append(f"| {r['database']} | " + " | ".join(cells) + " |")
    lines += ["", "| database | held-out questions | generated pairs | trained pairs (facts) | tuning | fact recall "
              "(tuned q8_0) | seconds (generate / tune / export / eval) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        t, s = r["tune"], r["seconds"]
        lines.append(f"| {r['database']} | {r['heldout_questions']} | {r['generated_pairs']} | {r['trained_pairs']} "
                     f"({r['trained_facts']}) | {t['reason']} at step {t['step']}, recall {pct(t['recall'])} | "
                     f"{pct(r['fact_recall'])} | {s['generate']:.0f} / {s['tune']:.0f} / {s['export']:.0f} / "
                     f"{s['eval_heldout'] + s['eval_recall']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", nargs="+", default=["lumen", "kestrel"])
    parser.add_argument("--max-pairs", type=int, default=80, help="pairs trained per database (the run's budget)")
    parser.add_argument("--minutes", type=float, default=12.0, help="tuning time budget per database")
    parser.add_argument("--regularization", choices=["none", "mix", "kl"], default=None)
    parser.add_argument("--ablation-questions", type=int, default=0,
                        help="the first N held-out questions answer each ablation (the tuned model); 0: no ablation; "
                        "at least a set's size: every question")
    parser.add_argument("--work", type=Path, default=ROOT / ".bench-work" / "quality")
    parser.add_argument("--out", type=Path, default=None, help="write quality.{md,json} into this folder")
    parser.add_argument("--resume", action="store_true", help="keep --work's finished steps and run the rest "
                        "(same settings; a step is its command line)")
    parser.add_argument("--report-only", action="store_true", help="only redo the table from --work's row.json files")
    args = parser.parse_args()
    started = time.monotonic()
    if args.report_only:
        rows = [json.loads((args.work / name / "row.json").read_text()) for name in args.databases]
    else:
        rows = [measure(name, args, args.work) for name in args.databases]
    text = report(rows, args)
    print(text)
    print(f"total {time.monotonic() - started:.0f} s")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "quality.md").write_text(text)
        (args.out / "quality.json").write_text(json.dumps({"settings": {k: str(v) for k, v in vars(args).items()},
                                                           "rows": rows}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
