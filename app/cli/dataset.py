"""Question/answer pairs: `engram generate`, `validate`, `import-data`, `export-data`."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli.output import print_step


def _print_counts(store) -> None:
    """Pairs per kind and status (and per split), the summary every dataset command ends with."""
    counts = store.counts_by("kind", "status")
    statuses = ["pending", "approved", "rejected"]
    print(f"{'kind':<8}" + "".join(f"{s:>10}" for s in statuses) + f"{'total':>10}")
    for kind in sorted({k for k, _ in counts}):
        row = [counts.get((kind, s), 0) for s in statuses]
        print(f"{kind:<8}" + "".join(f"{n:>10}" for n in row) + f"{sum(row):>10}")
    print("splits: " + ", ".join(f"{k[0]} {v}" for k, v in store.counts_by("split").items()))
    print(f"project: {store.path}")


def _curate(store, db, args) -> None:
    from engine.workflows.generate import CurationOptions, curate

    done = curate(store, db, CurationOptions(args.approve_valid, args.reject_invalid, args.dedupe, args.split,
                                             args.paraphrase, args.seed))
    if done.removed_duplicates is not None:
        print(f"dedupe: removed {done.removed_duplicates} duplicate(s); {done.conflicts} conflict(s) "
              f"and {done.equivalent_sql} equivalent-SQL group(s) left for review")
    if done.split is not None:
        print("split: " + ", ".join(f"{k} {v}" for k, v in done.split.items()))
    if done.paraphrases is not None:
        print(f"paraphrases: added {done.paraphrases} rule-based held-out paraphrase(s)")


def cmd_generate(args: argparse.Namespace) -> int:
    from app.projects import open_project
    from engine.db import open_database
    from engine.qa.generate import generate_template_pairs
    from engine.qa.templates import TemplateConfig
    from engine.qa.validate import ValidationConfig
    from engine.workflows.generate import generate_with_llm, paraphrase_with_llm

    validation = ValidationConfig(max_rows=args.max_rows)
    with open_database(args.database) as db, open_project(args.project, args.database) as store:
        report = generate_template_pairs(store, db, TemplateConfig(seed=args.seed), validation,
                                         paraphrases=args.paraphrases, keep_invalid=args.keep_invalid)
        print(f"templates: {report.summary()}")
        if args.llm_rounds:
            done = generate_with_llm(store, db, args.model, args.llm_rounds, args.seed, validation, print_step)
            print(f"llm: {done.proposed} proposals, {done.added} new valid pairs added")
        if args.llm_paraphrase:
            done = paraphrase_with_llm(store, db, args.model, args.llm_paraphrase, args.seed, validation, print_step)
            print("llm paraphrases: " + ", ".join(f"{k} {v}" for k, v in sorted(done.verdicts.items())) +
                  f"; {done.added} added to their template's intent")
        _curate(store, db, args)
        _print_counts(store)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from app.projects import open_project, project_database
    from engine.db import open_database
    from engine.qa.curation import Curator
    from engine.qa.validate import ValidationConfig

    with open_project(args.project, args.database) as store:
        with open_database(project_database(store, args.database)) as db:
            Curator(store, db, ValidationConfig(max_rows=args.max_rows)).revalidate()
            for (kind, status), n in store.counts_by("kind", "validation").items():
                if status is not None:
                    print(f"{kind:<8}{status:<16}{n:>6}")
            _curate(store, db, args)
        _print_counts(store)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from app.projects import open_project, project_database
    from engine.db import open_database
    from engine.qa.curation import Curator
    from engine.qa.io import read_pairs

    pairs = read_pairs(args.file)  # all rows checked before anything is added
    with open_project(args.project, args.database) as store:
        with open_database(project_database(store, args.database)) as db:
            Curator(store, db).add(pairs, f"import {args.file}")
        print(f"imported {len(pairs)} pair(s) from {args.file}")
        _print_counts(store)
    return 0


def cmd_export_data(args: argparse.Namespace) -> int:
    from app.projects import open_project, project_database
    from engine.db.detect import detect_kind
    from engine.qa.chat_format import PromptContext
    from engine.qa.curation import PairFilter
    from engine.qa.io import write_csv, write_jsonl

    with open_project(args.project, args.database) as store:
        where, params = PairFilter(status=args.status or None, split=args.split or None, kind=args.kind).where()
        pairs = store.pairs(where, params)
        out = Path(args.out)
        fmt = args.format or ("csv" if out.suffix.lower() == ".csv" else "jsonl")
        if fmt == "csv":
            n = write_csv(pairs, out)
        else:
            database = project_database(store, args.database)
            context = PromptContext(database=database.stem, dialect=detect_kind(database))
            n = write_jsonl(pairs, out, context, with_metadata=args.metadata)
    print(f"wrote {n} pair(s) to {out} ({fmt})")
    return 0


def _dataset_options(p: argparse.ArgumentParser, database_required: bool) -> None:
    if database_required:
        p.add_argument("database", help="the SQLite or DuckDB file the pairs are about")
    else:
        p.add_argument("--database", default=None, help="the database (default: the project's)")
    p.add_argument("--project", default=None, help="project file (default: one per database in the user folder)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-rows", type=int, default=100, help="a valid answer has at most this many rows")
    p.add_argument("--approve-valid", action="store_true", help="approve pending pairs that validated OK")
    p.add_argument("--reject-invalid", action="store_true", help="reject pairs whose SQL failed validation")
    p.add_argument("--dedupe", action="store_true", help="remove exact duplicates (conflicts are only reported)")
    p.add_argument("--split", type=float, default=None, metavar="FRACTION",
                   help="re-split SQL pairs by intent, FRACTION of them to eval")
    p.add_argument("--paraphrase", action="store_true", help="add rule-based held-out paraphrases")


def register(sub) -> None:
    p = sub.add_parser("generate", help="generate QA pairs about a database (templates, optionally the LLM)")
    _dataset_options(p, database_required=True)
    p.add_argument("--paraphrases", type=int, default=1, help="held-out paraphrases per template intent")
    p.add_argument("--keep-invalid", action="store_true", help="keep pairs whose SQL failed, for review")
    p.add_argument("--llm-rounds", type=int, default=0, help="also ask the LLM for new SQL pairs, N rounds")
    p.add_argument("--llm-paraphrase", type=int, default=0, metavar="N",
                   help="also have the LLM reword N template SQL questions; a rewording is kept only when the SQL "
                        "the model writes for it returns the template query's result (best with a stronger --model)")
    p.add_argument("--model", default=None, help="GGUF model for --llm-rounds and --llm-paraphrase (default: bundled)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("validate", help="re-run every pair's SQL read-only and store the outcome")
    _dataset_options(p, database_required=False)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("import-data", help="import pairs from CSV or JSONL (all or nothing)")
    p.add_argument("file")
    p.add_argument("--project", default=None)
    p.add_argument("--database", default=None)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export-data", help="export pairs as JSONL chat messages or CSV")
    p.add_argument("--project", default=None)
    p.add_argument("--database", default=None)
    p.add_argument("--out", required=True, help="output file (.jsonl or .csv)")
    p.add_argument("--format", choices=["jsonl", "csv"], default=None)
    p.add_argument("--status", default="approved", help="only pairs with this status ('' for all)")
    p.add_argument("--split", default="", help="only this split (train, eval, paraphrase)")
    p.add_argument("--kind", default=None, help="only this kind (schema, data, sql)")
    p.add_argument("--metadata", action="store_true", help="add a metadata object (id, kind, sql) per line")
    p.set_defaults(func=cmd_export_data)
