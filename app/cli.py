"""`engram` command line: a thin layer over engine/.

Every failure the user can act on is an EngramError: printed as one line on stderr with exit
status 2, never a traceback (set ENGRAM_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable

from engine.errors import EngramError

Command = Callable[[argparse.Namespace], int]


def _json_default(value: object) -> str:
    return str(value)


def cmd_inspect(args: argparse.Namespace) -> int:
    from engine.db import open_database

    with open_database(args.database) as db:
        schema = db.schema()
        if args.json:
            from dataclasses import asdict

            print(json.dumps({"kind": db.kind, "tables": [asdict(t) for t in schema.tables]},
                             indent=2, default=_json_default))
            return 0
        print(f"{args.database} ({db.kind}, read-only)")
        print(schema.describe())
        if args.samples:
            for table in schema.tables:
                result = db.sample_rows(table.name, args.samples)
                print(f"\n-- {table.name}: first {result.row_count} rows")
                print(" | ".join(result.columns))
                for row in result.rows:
                    print(" | ".join("NULL" if v is None else str(v) for v in row))
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from engine.db import open_database

    with open_database(args.database) as db:
        result = db.query(args.sql, max_rows=args.max_rows, timeout_s=args.timeout)
    print(" | ".join(result.columns))
    for row in result.rows:
        print(" | ".join("NULL" if v is None else str(v) for v in row))
    more = " (truncated: more rows exist)" if result.truncated else ""
    print(f"-- {result.row_count} row(s) in {result.elapsed_s:.3f}s{more}", file=sys.stderr)
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from engine.models.locate import resolve_model

    source = resolve_model(args.model)
    print(f"{source.name}\n  format: {source.kind}\n  path: {source.path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Headless tour: the demo database's schema and a query, and the bundled model answering."""
    from app.paths import DEMO_SQLITE
    from engine.db import open_database
    from engine.models.locate import resolve_model

    with open_database(DEMO_SQLITE) as db:
        print(f"Demo database: {DEMO_SQLITE}")
        print(db.schema().describe())
        result = db.query(
            "SELECT s.description, COUNT(*) AS orders FROM orders o "
            "JOIN order_statuses s ON s.status_code = o.status_code GROUP BY s.description ORDER BY orders DESC")
        print("\nOrders by status:")
        for description, count in result.rows:
            print(f"  {count:>5}  {description}")
    source = resolve_model(None)
    print(f"\nBundled model: {source.name} at {source.path}")
    return 0


def _print_counts(store) -> None:
    """Pairs per kind and status (and per split), the summary every dataset command ends with."""
    counts = store.counts_by("kind", "status")
    kinds = sorted({k for k, _ in counts})
    statuses = ["pending", "approved", "rejected"]
    print(f"{'kind':<8}" + "".join(f"{s:>10}" for s in statuses) + f"{'total':>10}")
    for kind in kinds:
        row = [counts.get((kind, s), 0) for s in statuses]
        print(f"{kind:<8}" + "".join(f"{n:>10}" for n in row) + f"{sum(row):>10}")
    splits = store.counts_by("split")
    print("splits: " + ", ".join(f"{k[0]} {v}" for k, v in splits.items()))
    print(f"project: {store.path}")


def _curate(store, db, args) -> None:
    from engine.qa.curation import Curator
    from engine.qa.dedupe import find_duplicates
    from engine.qa.split import add_paraphrases, apply_split

    curator = Curator(store, db)
    if getattr(args, "approve_valid", False):
        curator.approve_valid()
    if getattr(args, "reject_invalid", False):
        curator.reject_invalid()
    if getattr(args, "dedupe", False):
        report = find_duplicates(store.pairs("split != 'paraphrase'"), db.dialect)
        if report.removable:
            curator.delete(report.removable)
        print(f"dedupe: removed {len(report.removable)} duplicate(s); {len(report.conflicts)} conflict(s) "
              f"and {len(report.equivalent_sql)} equivalent-SQL group(s) left for review")
    if getattr(args, "split", None) is not None:
        counts = apply_split(store, args.split, seed=args.seed)
        print("split: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if getattr(args, "paraphrase", False):
        print(f"paraphrases: added {add_paraphrases(store)} rule-based held-out paraphrase(s)")


def cmd_generate(args: argparse.Namespace) -> int:
    from app.projects import open_project
    from engine.db import open_database
    from engine.qa.generate import generate_template_pairs
    from engine.qa.templates import TemplateConfig
    from engine.qa.validate import ValidationConfig

    validation = ValidationConfig(max_rows=args.max_rows)
    with open_database(args.database) as db, open_project(args.project, args.database) as store:
        report = generate_template_pairs(store, db, TemplateConfig(seed=args.seed), validation,
                                         paraphrases=args.paraphrases, keep_invalid=args.keep_invalid)
        print(f"templates: {report.intents} intents, {report.added} new pairs (+{report.paraphrases} "
              f"paraphrases), {report.invalid} failed validation, {report.skipped_existing} already present "
              f"[{report.seconds:.1f}s]")
        if args.llm_rounds:
            _generate_llm(store, db, args, validation)
        _curate(store, db, args)
        _print_counts(store)
    return 0


def _generate_llm(store, db, args, validation) -> None:
    from engine.models.llama_runtime import LlamaChat
    from engine.qa.llm_generate import LLMGenerationConfig, generate_llm_pairs, llama_completer

    config = LLMGenerationConfig(rounds=args.llm_rounds, seed=args.seed)
    examples = store.pairs("kind = 'sql' AND split = 'train' AND status != 'rejected' AND validation = 'ok'")
    accepted, proposed = [], 0
    with LlamaChat(args.model) as chat:
        for proposal in generate_llm_pairs(db, llama_completer(chat, config), examples, store.pairs(),
                                           config, validation):
            proposed += 1
            if proposal.accepted:
                accepted.append(proposal.to_pair())
            print(f"  llm round {proposal.round + 1}: {proposal.validation.status:<14} {proposal.question[:70]}",
                  file=sys.stderr)
    store.add_pairs(accepted)
    print(f"llm: {proposed} proposals, {len(accepted)} new valid pairs added")


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
    from pathlib import Path

    from app.projects import open_project, project_database
    from engine.qa.chat_format import PromptContext
    from engine.qa.curation import PairFilter
    from engine.qa.io import write_csv, write_jsonl

    with open_project(args.project, args.database) as store:
        flt = PairFilter(status=args.status or None, split=args.split or None, kind=args.kind)
        where, params = flt.where()
        pairs = store.pairs(where, params)
        out = Path(args.out)
        fmt = args.format or ("csv" if out.suffix.lower() == ".csv" else "jsonl")
        if fmt == "csv":
            n = write_csv(pairs, out)
        else:
            from engine.db.detect import detect_kind

            database = project_database(store, args.database)
            context = PromptContext(database=database.stem, dialect=detect_kind(database))
            n = write_jsonl(pairs, out, context, with_metadata=args.metadata)
    print(f"wrote {n} pair(s) to {out} ({fmt})")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    """Run memory tuning in a child process; its JSON-lines events are echoed on stdout."""
    from pathlib import Path

    from engine.tune.config import TuneConfig
    from engine.tune.process import TuneProcess

    overrides = {k: v for k, v in {
        "method": args.method, "model": args.model, "max_steps": args.max_steps, "max_minutes": args.max_minutes,
        "batch_size": args.batch_size, "learning_rate": args.lr, "device": args.device,
        "regularization": args.regularization}.items() if v is not None}
    store = run_id = None
    if args.resume:
        config_path = Path(args.resume) / "config.json"
        if not config_path.is_file():
            raise EngramError(f"{args.resume} is not a run folder (no config.json)")
    elif args.config:
        config_path = Path(args.config)
        config = TuneConfig.load(config_path)
        if overrides:
            config = TuneConfig.from_dict({**json.loads(config.to_json()), **overrides})
            config.save(config_path)
    else:
        from app.projects import open_project
        from engine.tune.prepare import prepare_run

        store = open_project(args.project, args.database)
        config, run_id = prepare_run(store, TuneConfig(**overrides), args.run_dir)
        config_path = Path(config.output_dir) / "config.json"
    process = TuneProcess(config_path, resume=bool(args.resume)).start()
    try:
        for event in process.events():
            print(json.dumps(event), flush=True)
    except KeyboardInterrupt:
        process.stop()
        for event in process.events():
            print(json.dumps(event), flush=True)
    final = process.final or {}
    if store is not None:
        from engine.tune.prepare import record_run

        record_run(store, run_id, config_path.parent)
        store.close()
    summary = ", ".join(f"{k}={final[k]}" for k in ("reason", "step", "recall") if k in final)
    print(f"engram tune: {final.get('event')} ({summary}); run folder {config_path.parent}", file=sys.stderr)
    return 0 if final.get("event") in ("finished", "stopped") else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engram", description="Memory-tune a local LLM on your database.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("inspect", help="print a database's tables, columns, keys and row counts")
    p.add_argument("database", help="a SQLite or DuckDB file (opened read-only)")
    p.add_argument("--samples", type=int, default=0, metavar="N", help="also print N sample rows per table")
    p.add_argument("--json", action="store_true", help="print the schema as JSON")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("query", help="run one read-only SQL query and print the rows")
    p.add_argument("database")
    p.add_argument("sql")
    p.add_argument("--max-rows", type=int, default=100, help="row cap (default 100)")
    p.add_argument("--timeout", type=float, default=30.0, help="time limit in seconds (default 30)")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("model", help="show which model would be used (bundled by default)")
    p.add_argument("model", nargs="?", default=None, help="'bundled', a .gguf file or a Hugging Face folder")
    p.set_defaults(func=cmd_model)

    def dataset_options(p: argparse.ArgumentParser, database_required: bool) -> None:
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

    p = sub.add_parser("generate", help="generate QA pairs about a database (templates, optionally the LLM)")
    dataset_options(p, database_required=True)
    p.add_argument("--paraphrases", type=int, default=1, help="held-out paraphrases per template intent")
    p.add_argument("--keep-invalid", action="store_true", help="keep pairs whose SQL failed, for review")
    p.add_argument("--llm-rounds", type=int, default=0, help="also ask the LLM for new SQL pairs, N rounds")
    p.add_argument("--model", default=None, help="GGUF model for --llm-rounds (default: bundled)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("validate", help="re-run every pair's SQL read-only and store the outcome")
    dataset_options(p, database_required=False)
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

    p = sub.add_parser("tune", help="memory-tune LoRA adapters on a project's approved training pairs")
    p.add_argument("--config", default=None, help="run an existing run config (run folder/config.json)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="resume a stopped run from its checkpoint")
    p.add_argument("--database", default=None)
    p.add_argument("--project", default=None)
    p.add_argument("--run-dir", default=None, help="run folder (default: <user data>/runs/<project>-<time>)")
    p.add_argument("--method", choices=["memory", "instruction"], default=None)
    p.add_argument("--model", default=None, help="'bundled', a GGUF file or a Hugging Face folder")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--device", default=None, help="auto, cuda, mps or cpu")
    p.add_argument("--regularization", choices=["none", "mix", "kl"], default=None)
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("demo", help="headless tour of the demo database and the bundled model")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (EngramError, ValueError) as error:
        if os.environ.get("ENGRAM_DEBUG"):
            raise
        print(f"engram: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("engram: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
