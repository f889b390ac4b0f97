"""How many questions the sketched query alone answers (engine/sqlgen/sketch.py; no model runs).

Scored by execution (the gold query's rows) on the development questions the rules were made on
(bench/dev_questions/<db>.jsonl), on those written after the rules were set (<db>-unseen.jsonl) and, as
a report only, on the held-out sets (evals/, `--heldout`). Printed per
database and set: questions sketched, right, and right per construct; `--out` writes sketch.json.

    .venv/bin/python bench/bench_sketch.py [--databases lumen kestrel] [--heldout] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.db import open_database  # noqa: E402
from engine.eval.metrics import score_sql  # noqa: E402
from engine.qa.heldout import load_heldout  # noqa: E402
from engine.sqlgen.sketch import sketch_queries  # noqa: E402

DEMO = ROOT / "resources" / "demo"


def score(db, questions) -> dict:
    sketched = right = 0
    per, total = Counter(), Counter()
    started = time.monotonic()
    for question in questions:
        sketches = sketch_queries(db, question.question)
        ok = bool(sketches) and score_sql(db, sketches[0], question.gold_for(db.dialect)).correct
        sketched += bool(sketches)
        right += ok
        for construct in question.constructs:
            total[construct] += 1
            per[construct] += ok
    n = len(questions)
    return {"questions": n, "sketched": sketched, "right": right, "accuracy": round(right / n, 4),
            "seconds": round(time.monotonic() - started, 1),
            "per_construct": {c: f"{per[c]}/{total[c]}" for c in sorted(total)}}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--databases", nargs="+", default=["lumen", "kestrel"])
    parser.add_argument("--heldout", action="store_true", help="also score evals/ (a report: rules are made on dev)")
    parser.add_argument("--out", default=None, help="write sketch.json here")
    args = parser.parse_args()
    results = {}
    for name in args.databases:
        with open_database(DEMO / f"{name}.sqlite") as db:
            sets = {"dev": ROOT / "bench" / "dev_questions" / f"{name}.jsonl",
                    "unseen": ROOT / "bench" / "dev_questions" / f"{name}-unseen.jsonl"}
            if args.heldout:
                sets["heldout"] = ROOT / "evals" / f"{name}.jsonl"
            results[name] = {part: score(db, load_heldout(path, db)) for part, path in sets.items()}
    print(f"{'database':10} {'set':8} {'questions':>9} {'sketched':>9} {'right':>6} {'accuracy':>9}")
    for name, parts in results.items():
        for part, r in parts.items():
            print(f"{name:10} {part:8} {r['questions']:>9} {r['sketched']:>9} {r['right']:>6} {r['accuracy']:>9.0%}")
            print(f"{'':10} per construct: " + ", ".join(f"{c} {v}" for c, v in r["per_construct"].items()))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "sketch.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
