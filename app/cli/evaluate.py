"""`engram eval`: models side by side by execution on the database (fact recall, SQL accuracy, errors by
kind, general ability), on a project's pairs, a run's pairs, a held-out set or an external benchmark."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.chat import add_answer_options, answer_options, examples_of
from app.cli.output import print_step
from engine.errors import EngramError
from engine.workflows.pairs import SPLITS


def _pairs(args: argparse.Namespace):
    """(pairs, database, constructs per pair id, the project store or None) for the options given."""
    from engine.db import open_database

    if args.heldout:
        from engine.qa.heldout import heldout_pairs, load_heldout

        if not args.database:
            raise EngramError("Give the database the held-out questions are about (--database)")
        with open_database(args.database) as db:
            pairs, constructs = heldout_pairs(load_heldout(args.heldout, db), db.dialect)
        return (pairs[:args.limit] if args.limit else pairs), Path(args.database), constructs, None
    if args.pairs:
        from engine.eval.evaluate import load_benchmark

        return load_benchmark(args.pairs), Path(args.database) if args.database else None, None, None
    from app.projects import open_project, project_database
    from engine.workflows.pairs import approved_pairs, run_pairs

    store = open_project(args.project, args.database)
    if args.run:  # exactly the pairs that run trained on
        pairs = run_pairs(store, args.run, paraphrases=args.split == "paraphrase")
    else:
        pairs = approved_pairs(store, args.split, limit=args.limit)
    return pairs, project_database(store, args.database), None, store


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate one or two models (base vs tuned) by execution on the database; write a report."""
    from engine.db import open_database
    from engine.eval.evaluate import format_summary, write_report
    from engine.workflows.answering import sql_context
    from engine.workflows.evaluate import ModelChoice, evaluate_models, model_label

    pairs, database, constructs, store = _pairs(args)
    if database is None:
        raise EngramError("Give the database to evaluate against (--database)")
    if not pairs:
        raise EngramError("Nothing to evaluate: no approved pairs in that split")
    models = [ModelChoice(args.base, f"base: {model_label(args.base)}")] if args.base else []
    models.append(ModelChoice(args.model, f"{'tuned' if args.base else 'model'}: {model_label(args.model)}"))
    options = answer_options(args)
    with open_database(database) as db:  # one grounding for both models: the tuned model's examples
        context = sql_context(db, args.model, examples_of(args.project), options, args.name)
        reports = evaluate_models(models, pairs, db, context, options.settings(), general=not args.no_general,
                                  constructs=constructs, progress=print_step)
    print(format_summary(reports))
    if args.out:
        print(f"report: {write_report(reports, args.out)}")
    if store is not None:
        for report in reports:
            store.add_evaluation(report.model, report.summary(), report_path=args.out)
        store.close()
    return 0


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate models by execution: fact recall, SQL accuracy, errors by kind")
    p.add_argument("--model", default=None, help="the model to evaluate: a GGUF, a run's adapter/ folder, a "
                   "memory-experts run folder or its export/ folder")
    p.add_argument("--base", default=None, help="also evaluate this model (e.g. 'bundled') side by side")
    p.add_argument("--database", default=None)
    p.add_argument("--project", default=None)
    p.add_argument("--pairs", default=None, help="an external JSONL of {question, gold_sql} instead of a project")
    p.add_argument("--heldout", default=None, help="a held-out question set (evals/*.jsonl: {id, question, gold_sql, "
                   "constructs}); every gold SQL is checked on --database first; scores per construct")
    p.add_argument("--split", choices=list(SPLITS), default="train",
                   help="which pairs; with --run, 'paraphrase' means the held-out rewordings of its pairs")
    p.add_argument("--run", default=None, help="evaluate on the pairs this run folder trained on")
    p.add_argument("--limit", type=int, default=None, help="evaluate at most N pairs")
    p.add_argument("--name", default=None, help="database name used in prompts (default: file name)")
    p.add_argument("--no-general", action="store_true", help="skip the general-ability set")
    p.add_argument("--out", default=None, help="write a report (.json or .html)")
    p.add_argument("--attempts", type=int, default=2, help="corrected queries asked for when no candidate runs, + 1")
    p.add_argument("--max-rows", type=int, default=100)
    add_answer_options(p)
    p.set_defaults(func=cmd_eval)
