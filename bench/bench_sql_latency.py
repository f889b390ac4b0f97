"""Seconds per SQL answer (the agent's: k grammar-constrained candidates, run and voted on), with the
grammar checked on the sampled token first (engine/models/grammar_sampling.py) against llama-cpp-python's
grammar-first sampler chain, in one run on the same questions: the baseline is the previous defaults
(grammar-first, a 6 s latency budget), then grammar-first at today's 3 s budget, then today's defaults.

For each demo database, template pairs are generated into a scratch project as `engram generate
--approve-valid --dedupe --split 0.2 --paraphrase` makes them; the approved training split is the example
store and N questions of the generated eval split (spread over the templates) are answered, by each
configuration in turn. Printed per database and configuration: median / p90 seconds per answer, candidates the model
wrote, and execution accuracy against the template's query (a check that speed cost no answers).

    .venv/bin/python bench/bench_sql_latency.py [--databases lumen kestrel] [--questions 20] [--model bundled]
        [--out bench/results/sql-latency]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_edited_examples import generated_dev_split  # noqa: E402
from engine.db import open_database  # noqa: E402
from engine.eval.metrics import score_sql  # noqa: E402
from engine.project import ProjectStore  # noqa: E402
from engine.qa.chat_format import PromptContext  # noqa: E402
from engine.sqlgen.examples import DEFAULT_K  # noqa: E402

DEMO = ROOT / "resources" / "demo"
CONFIGS = (("baseline: grammar-first, 6 s", "grammar-first", 6.0), ("grammar-first, 3 s", "grammar-first", 3.0),
           ("check-first, 3 s (default)", "check-first", 3.0))


def answer_all(chat, db, context, questions, settings, sampler: str) -> dict:
    from engine.sqlgen.answer import answer_sql, chat_writer

    llm = chat._llm
    check_first = llm._init_sampler
    if sampler != "check-first":
        llm._init_sampler = type(llm)._init_sampler.__get__(llm)  # llama-cpp-python's own chain
    try:
        write = chat_writer(chat)
        seconds, written, right = [], [], 0
        for question, gold in questions:
            started = time.monotonic()
            answer = answer_sql(write, db, question, context, replace(settings, approved_answers=False))  # the model's
            seconds.append(time.monotonic() - started)
            written.append(sum(1 for c in answer.candidates if not c.source.startswith("example")))
            right += answer.chosen is not None and score_sql(db, answer.chosen.sql, gold).correct
    finally:
        llm._init_sampler = check_first
    seconds.sort()
    return {"questions": len(questions), "median_s": round(statistics.median(seconds), 2),
            "p90_s": round(seconds[math.ceil(0.9 * len(seconds)) - 1], 2),  # nearest rank
            "mean_s": round(statistics.mean(seconds), 2),
            "model_candidates_mean": round(statistics.mean(written), 2),
            "execution_accuracy": round(right / len(questions), 4)}


def measure(name: str, folder: Path, model: str | None, n: int) -> dict:
    from engine.models.llama_runtime import LlamaChat
    from engine.sqlgen.answer import AnswerSettings, default_k

    with open_database(DEMO / f"{name}.sqlite") as db, ProjectStore.create(folder / f"{name}.engram",
                                                                           DEMO / f"{name}.sqlite") as store:
        grounding, dev = generated_dev_split(store, db, DEFAULT_K)
        questions = dev[::max(1, len(dev) // n)][:n]
        context = PromptContext(name, db.dialect, grounding)
        with LlamaChat(model, n_ctx=4096) as chat:
            answer_all(chat, db, context, questions[:2], AnswerSettings(k=default_k()), "check-first")  # warm-up
            return {label: answer_all(chat, db, context, questions, AnswerSettings(k=default_k(), latency_budget_s=budget),
                                      sampler) for label, sampler, budget in CONFIGS}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--databases", nargs="+", default=["lumen", "kestrel"])
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--model", default=None, help="a GGUF (default: the bundled model)")
    parser.add_argument("--out", default=None, help="write sql-latency.json here")
    args = parser.parse_args()
    results = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores", "model": args.model or "bundled"}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.databases:
            results[name] = measure(name, Path(tmp), args.model, args.questions)
    print(f"{'database':10} {'configuration':28} {'median s':>9} {'p90 s':>7} {'candidates':>11} {'exec acc':>9}")
    for name in args.databases:
        for label, _, _ in CONFIGS:
            r = results[name][label]
            print(f"{name:10} {label:28} {r['median_s']:>9.2f} {r['p90_s']:>7.2f} {r['model_candidates_mean']:>11.1f} "
                  f"{r['execution_accuracy']:>9.0%}")
        base, budget, new = (results[name][label] for label, _, _ in CONFIGS)
        print(f"{name:10} median {base['median_s'] / max(new['median_s'], 1e-9):.2f}x faster than the baseline, "
              f"{budget['median_s'] / max(new['median_s'], 1e-9):.2f}x faster than grammar-first at the same budget")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "sql-latency.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
