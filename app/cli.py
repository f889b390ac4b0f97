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

    p = sub.add_parser("demo", help="headless tour of the demo database and the bundled model")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except EngramError as error:
        if os.environ.get("ENGRAM_DEBUG"):
            raise
        print(f"engram: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("engram: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
