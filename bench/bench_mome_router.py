"""Router accuracy of memory experts on held-out paraphrases (issue #8): the demo database's template
facts (schema and data) are partitioned into experts with the bundled model's own embeddings; each
fact's held-out rewording is routed, and a hit is the expert that holds its fact. Then the same for
the scaling benchmark's row lookups ("What is the email of customer C0001?"), where many facts share
one wording and only the id tells them apart. Prints accuracy (top-1 and top-2) against chance, with
embeddings alone and with the word-overlap term, and how often the gate sends a question to no
expert — for the paraphrases (should be never) and for general questions (should be always), with the
similarity threshold alone and with the off-topic reference questions (engine.mome.off_topic). The
general questions are the evaluation's retention set plus a few more, none of them among the
references.

    .venv/bin/python bench/bench_mome_router.py [--expert-size 40] [--threshold 0.5] [--lexical-weight 2]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_mome_scaling import row_facts  # noqa: E402

from app.paths import DEMO_SQLITE  # noqa: E402
from engine.db import open_database  # noqa: E402
from engine.eval.general_set import GENERAL_SET  # noqa: E402
from engine.mome.experts import BaseEmbedder  # noqa: E402
from engine.mome.off_topic import OFF_TOPIC_PROMPTS  # noqa: E402
from engine.mome.partition import partition  # noqa: E402
from engine.mome.router import LEXICAL_WEIGHT, Router  # noqa: E402
from engine.project import ProjectStore  # noqa: E402
from engine.qa.generate import generate_template_pairs  # noqa: E402
from engine.tune.config import TuneConfig  # noqa: E402


# Not about any database and not among the off-topic references: measures the gate on unseen questions.
MORE_GENERAL = ["Write a haiku about autumn.", "Explain what a neural network is.", "Who wrote Hamlet?", "hi",
                "Thanks!", "How do I make pancakes?", "What is the tallest mountain in the world?", "Tell me a joke.",
                "What is a primary key?", "How do I sort a list in JavaScript?", "Can you help me plan my week?",
                "What is the speed of light?", "Describe a cat in three words.",
                "What year did humans land on the moon?", "Is coffee bad for you?"]


def report(args, names: list[str], fact_vectors: list[np.ndarray], fact_questions: list[list[str]],
           questions: np.ndarray, texts: list[str], expected: list[str], off_topic: np.ndarray) -> None:
    for label, weight in (("embeddings only", 0.0), (f"embeddings + words (weight {args.lexical_weight})",
                                                       args.lexical_weight)):
        def router(threshold: float, top_k: int = 1) -> Router:
            return Router(names, fact_vectors, threshold=threshold, top_k=top_k, fact_questions=fact_questions,
                          lexical_weight=weight)

        top1 = router(-1.0).accuracy(questions, expected, texts)
        two = router(-1.0, top_k=2)
        top2 = sum(name in two.route(q, t).experts for q, t, name in zip(questions, texts, expected)) / len(expected)
        gated = router(args.threshold)
        to_base = sum(not gated.route(q, t).experts for q, t in zip(questions, texts)) / len(texts)
        gated.off_topic_vectors = off_topic
        hits = gated.accuracy(questions, expected, texts)
        off = sum(not gated.route(q, t).experts for q, t in zip(questions, texts)) / len(texts)
        print(f"router accuracy, {label}: top-1 {top1:.1%}, top-2 {top2:.1%} (chance {1 / len(names):.1%}); "
              f"sent to no expert: {to_base:.1%} by the {args.threshold} threshold, {off:.1%} with the off-topic "
              f"gate (top-1 then {hits:.1%})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--expert-size", type=int, default=TuneConfig().expert_size)
    parser.add_argument("--threshold", type=float, default=TuneConfig().router_threshold)
    parser.add_argument("--lexical-weight", type=float, default=LEXICAL_WEIGHT)
    parser.add_argument("--row-facts", type=int, default=1000, help="row lookups of the scaling benchmark")
    parser.add_argument("--row-expert-size", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, open_database(DEMO_SQLITE) as db, \
            ProjectStore.create(Path(tmp) / "p.engram", DEMO_SQLITE) as store:
        generate_template_pairs(store, db, paraphrases=1)
        facts = store.pairs("kind IN ('schema', 'data') AND split = 'train' AND validation != 'too_many_rows'")
        rewordings = store.pairs("split = 'paraphrase' AND kind IN ('schema', 'data')")
    by_id = {p.id: i for i, p in enumerate(facts)}
    held_out = [p for p in rewordings if p.paraphrase_of in by_id]
    embed = BaseEmbedder(TuneConfig(model="bundled"))
    off_topic = embed(OFF_TOPIC_PROMPTS)
    started = time.monotonic()
    vectors = embed([p.question for p in facts])
    questions = embed([p.question for p in held_out])
    seconds = time.monotonic() - started
    experts = partition(facts, vectors, max_per_expert=args.expert_size)
    owner = {i: e.name for e in experts for i in e.pair_ids}
    expected = [owner[p.paraphrase_of] for p in held_out]
    fact_vectors = [vectors[[by_id[i] for i in e.pair_ids]] for e in experts]
    names = [e.name for e in experts]
    print(f"{len(facts)} template facts in {len(experts)} experts (≤ {args.expert_size} each); "
          f"{len(held_out)} held-out paraphrases; embedding {len(facts) + len(held_out)} questions: {seconds:.1f} s")
    report(args, names, fact_vectors, [[facts[by_id[i]].question for i in e.pair_ids] for e in experts],
           questions, [p.question for p in held_out], expected, off_topic)
    rows = row_facts(args.row_facts)  # "What is the email of customer C0001?" → "Tell me the email for …"
    reworded = [re.sub(r"^What is the (.+) of (.+)\?$", r"Tell me the \1 for \2.", p.question) for p in rows]
    vectors, questions = embed([p.question for p in rows]), embed(reworded)
    experts = partition(rows, vectors, max_per_expert=args.row_expert_size)
    index = {p.id: i for i, p in enumerate(rows)}
    owner = {i: e.name for e in experts for i in e.pair_ids}
    print(f"\n{len(rows)} row lookups in {len(experts)} experts (≤ {args.row_expert_size} each), each asked reworded")
    report(args, [e.name for e in experts], [vectors[[index[i] for i in e.pair_ids]] for e in experts],
           [[rows[index[i]].question for i in e.pair_ids] for e in experts], questions, reworded,
           [owner[p.id] for p in rows], off_topic)
    general = [g.prompt for g in GENERAL_SET if g.prompt not in OFF_TOPIC_PROMPTS] + MORE_GENERAL  # for the base model
    gated = Router(names, fact_vectors, threshold=args.threshold)
    vectors = embed(general)
    by_threshold = sum(not gated.route(q).experts for q in vectors)
    gated.off_topic_vectors = off_topic
    missed = [text for q, text in zip(vectors, general) if gated.route(q).experts]
    print(f"\n{len(general)} general questions sent to no expert: {by_threshold} by the {args.threshold} "
          f"threshold, {len(general) - len(missed)} with the off-topic gate "
          f"({len(OFF_TOPIC_PROMPTS)} references); still sent to an expert: {missed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
