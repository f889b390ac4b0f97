"""Router accuracy of memory experts on held-out paraphrases (issue #8): the demo database's template
facts (schema and data) are partitioned into experts with the bundled model's own embeddings; each
fact's held-out rewording is routed, and a hit is the expert that holds its fact. Prints accuracy
(top-1 and top-2) against chance, and how often the confidence threshold sends a question to no expert.

    .venv/bin/python bench/bench_mome_router.py [--expert-size 40] [--threshold 0.5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.paths import DEMO_SQLITE  # noqa: E402
from engine.db import open_database  # noqa: E402
from engine.mome.experts import BaseEmbedder  # noqa: E402
from engine.mome.partition import partition  # noqa: E402
from engine.mome.router import Router  # noqa: E402
from engine.project import ProjectStore  # noqa: E402
from engine.qa.generate import generate_template_pairs  # noqa: E402
from engine.tune.config import TuneConfig  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--expert-size", type=int, default=TuneConfig().expert_size)
    parser.add_argument("--threshold", type=float, default=TuneConfig().router_threshold)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, open_database(DEMO_SQLITE) as db, \
            ProjectStore.create(Path(tmp) / "p.engram", DEMO_SQLITE) as store:
        generate_template_pairs(store, db, paraphrases=1)
        facts = store.pairs("kind IN ('schema', 'data') AND split = 'train' AND validation != 'too_many_rows'")
        rewordings = store.pairs("split = 'paraphrase' AND kind IN ('schema', 'data')")
    by_id = {p.id: i for i, p in enumerate(facts)}
    held_out = [p for p in rewordings if p.paraphrase_of in by_id]
    embed = BaseEmbedder(TuneConfig(model="bundled"))
    started = time.monotonic()
    vectors = embed([p.question for p in facts])
    questions = embed([p.question for p in held_out])
    seconds = time.monotonic() - started
    experts = partition(facts, vectors, max_per_expert=args.expert_size)
    owner = {i: e.name for e in experts for i in e.pair_ids}
    expected = [owner[p.paraphrase_of] for p in held_out]
    fact_vectors = [vectors[[by_id[i] for i in e.pair_ids]] for e in experts]
    names = [e.name for e in experts]
    top1 = Router(names, fact_vectors, threshold=0.0).accuracy(questions, expected)
    two = Router(names, fact_vectors, threshold=0.0, top_k=2)
    top2 = sum(name in two.route(q).experts for q, name in zip(questions, expected)) / len(expected)
    gated = Router(names, fact_vectors, threshold=args.threshold)
    to_base = sum(not gated.route(q).experts for q in questions) / len(questions)
    print(f"{len(facts)} facts in {len(experts)} experts (≤ {args.expert_size} each); "
          f"{len(held_out)} held-out paraphrases; embedding {len(facts) + len(held_out)} questions: {seconds:.1f} s")
    print(f"router accuracy: top-1 {top1:.1%}, top-2 {top2:.1%} (chance {1 / len(experts):.1%}); "
          f"below the {args.threshold} threshold (base model answers): {to_base:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
