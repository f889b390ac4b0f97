"""How often a retrieved example, edited for the question, is already the right query (no model runs).

For each demo database, template pairs are generated into a scratch project exactly as `engram generate
--approve-valid --dedupe --split 0.2 --paraphrase` makes them; the approved training split is the example
store. Scored by execution (the gold query's rows) on two question sets:
- dev: the generated eval split and its paraphrases (intents the store never holds);
- held-out (`--heldout`): evals/<db>.jsonl (never in the store), reported once the rules are set on dev.
For each question: the nearest example as it is, the nearest example edited (engine/sqlgen/adapt.py),
and whether any of the k edited examples is right (what voting could pick at best). With `--model`, the
N dev questions of each database (spread over the list) are also answered by that model as the agent answers them, and the
vote is scored three ways from the same candidates: the model's alone, with the edited examples after
the model's (a tie goes to the model's greedy answer), and with them first (a tie goes to the nearest
edited example); and the question's sketch (engine/sqlgen/sketch.py) first, after the edited examples,
last, counted twice, alone, and first unless the question is asked like an example (the default order).
The same rules are also scored on bench/dev_questions/<db>-unseen.jsonl: analyst-style questions written
after the sketch's rules were set, never used to change them.

    .venv/bin/python bench/bench_edited_examples.py [--databases lumen kestrel] [--k 3] [--heldout]
        [--model bundled --questions 60] [--out bench/results/quality]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.db import open_database  # noqa: E402
from engine.eval.metrics import score_sql  # noqa: E402
from engine.project import ProjectStore  # noqa: E402
from engine.qa.generate import generate_template_pairs  # noqa: E402
from engine.qa.heldout import load_heldout  # noqa: E402
from engine.sqlgen.adapt import adapted_examples, column_values  # noqa: E402
from engine.sqlgen.grounding import EXAMPLES_WHERE, SqlGrounding  # noqa: E402
from engine.workflows.generate import CurationOptions, curate  # noqa: E402

DEMO = ROOT / "resources" / "demo"


def right(db, sql: str, gold: str) -> bool:
    return bool(sql) and score_sql(db, sql, gold).correct


def score(db, grounding: SqlGrounding, questions: list[tuple[str, str]], k: int) -> dict:
    """Share of questions the nearest example answers as it is, edited, and by any edited example."""
    values = column_values(db)
    as_is = edited = any_edited = changed = 0
    for question, gold in questions:
        examples = grounding.store.nearest(question, k)
        if not examples:
            continue
        edits = adapted_examples([e.sql for e in examples], question, values, db.dialect, db.schema())
        as_is += right(db, examples[0].sql, gold)
        top = next((e for e in edits if e.example == 0), None)
        edited += bool(top) and right(db, top.sql, gold)
        changed += bool(top) and top.changed
        any_edited += any(right(db, e.sql, gold) for e in edits)
    n = len(questions)
    return {"questions": n, "nearest_as_is": round(as_is / n, 4), "nearest_edited": round(edited / n, 4),
            "any_of_k_edited": round(any_edited / n, 4), "nearest_changed": round(changed / n, 4)}


def vote_rules(db, grounding: SqlGrounding, questions: list[tuple[str, str]], model: str) -> dict:
    """Execution accuracy of the vote over the model's candidates, with and without the edited examples."""
    from engine.models.llama_runtime import LlamaChat
    from engine.qa.chat_format import PromptContext
    from engine.sqlgen.answer import AnswerSettings, answer_sql, asked_like_an_example, chat_writer
    from engine.sqlgen.voting import vote

    context = PromptContext(Path(db.path).stem, db.dialect, grounding)
    rules = {"model only": 0, "edited after the model's": 0, "edited first": 0, "sketch first": 0,
             "sketch after the edited": 0, "sketch last": 0, "sketch counted twice": 0, "sketch alone": 0,
             "sketch first unless asked like an example": 0}
    with LlamaChat(model, n_ctx=4096) as chat:
        write = chat_writer(chat)
        for question, gold in questions:
            answer = answer_sql(write, db, question, context, AnswerSettings(approved_answers=False))  # the model's
            ok = {i: c.ran and right(db, c.sql, gold) for i, c in enumerate(answer.candidates)}
            results = [(c.rows, c.columns) if c.ran else None for c in answer.candidates]
            sketch = [i for i, c in enumerate(answer.candidates) if c.source == "sketch"]
            own = [i for i, c in enumerate(answer.candidates) if not c.source.startswith("example") and i not in sketch]
            edited = [i for i in range(len(results)) if i not in own and i not in sketch]
            like = asked_like_an_example(question, grounding.prompt(question).examples)
            for rule, order in (("model only", own), ("edited after the model's", own + edited),
                                ("edited first", edited + own), ("sketch first", sketch + edited + own),
                                ("sketch after the edited", edited + sketch + own),
                                ("sketch last", edited + own + sketch), ("sketch counted twice", sketch * 2 + edited + own),
                                ("sketch alone", sketch),
                                ("sketch first unless asked like an example",
                                 edited + sketch + own if like else sketch + edited + own)):
                winner = vote([results[i] for i in order]).winner
                rules[rule] += winner is not None and ok[order[winner]]
    return {"questions": len(questions), **{k: round(v / len(questions), 4) for k, v in rules.items()}}


def generated_dev_split(store: ProjectStore, db, k: int) -> tuple[SqlGrounding, list[tuple[str, str]]]:
    """The store filled as `engram generate --approve-valid --dedupe --split 0.2 --paraphrase` fills it: its
    grounding (the approved train split as example store) and its dev questions with their queries."""
    generate_template_pairs(store, db)
    curate(store, db, CurationOptions(approve_valid=True, dedupe=True, split=0.2, paraphrase=True))
    dev = [(p.question, p.sql or p.answer) for p in store.pairs("kind = 'sql' AND split != 'train'")
           if p.validation in (None, "ok")]
    return SqlGrounding.of_database(db, store.pairs(EXAMPLES_WHERE), k), dev


def measure(name: str, k: int, folder: Path, with_heldout: bool, model: str | None, n: int) -> dict:
    with open_database(DEMO / f"{name}.sqlite") as db, ProjectStore.create(folder / f"{name}.engram",
                                                                           DEMO / f"{name}.sqlite") as store:
        grounding, dev = generated_dev_split(store, db, k)
        result = {"examples_in_store": len(grounding.store), "dev": score(db, grounding, dev, k)}
        if model:
            result["dev_vote"] = vote_rules(db, grounding, dev[::max(1, len(dev) // n)][:n], model)  # spread over the templates
            unseen = load_heldout(ROOT / "bench" / "dev_questions" / f"{name}-unseen.jsonl", db)
            result["analyst_dev_vote"] = vote_rules(db, grounding, [(q.question, q.gold_for(db.dialect)) for q in unseen],
                                                    model)
        if with_heldout:
            heldout = load_heldout(ROOT / "evals" / f"{name}.jsonl", db)
            result["heldout"] = score(db, grounding, [(q.question, q.gold_for(db.dialect)) for q in heldout], k)
        return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--databases", nargs="+", default=["lumen", "kestrel"])
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--model", default=None, help="also answer dev questions with this model (bundled, a GGUF)")
    parser.add_argument("--questions", type=int, default=60, help="dev questions answered per database with --model")
    parser.add_argument("--heldout", action="store_true", help="also score evals/ (a report: rules are made on dev)")
    parser.add_argument("--out", default=None, help="write edited-examples.json here")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.databases:
            results[name] = measure(name, args.k, Path(tmp), args.heldout, args.model, args.questions)
    print(f"{'database':10} {'set':8} {'questions':>9} {'as is':>7} {'edited':>7} {'any of k':>9} {'changed':>8}")
    for name, result in results.items():
        for part in ("dev", "heldout"):
            if part not in result:
                continue
            r = result[part]
            print(f"{name:10} {part:8} {r['questions']:>9} {r['nearest_as_is']:>7.0%} {r['nearest_edited']:>7.0%} "
                  f"{r['any_of_k_edited']:>9.0%} {r['nearest_changed']:>8.0%}")
    for name, result in results.items():
        for part, label in (("dev_vote", "generated dev"), ("analyst_dev_vote", "analyst dev (unseen by the sketch rules)")):
            if part in result:
                print(f"{name}: vote on {result[part]['questions']} {label} questions (model {args.model}): " +
                      ", ".join(f"{k} {v:.0%}" for k, v in result[part].items() if k != "questions"))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "edited-examples.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
