"""Databases and the model: `engram inspect`, `query`, `model`, `demo`, `self-test`."""

from __future__ import annotations

import argparse
import json
import sys

from app.cli.output import print_rows
from engine.errors import EngramError


def cmd_inspect(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from engine.db import open_database

    with open_database(args.database) as db:
        schema = db.schema()
        if args.json:
            print(json.dumps({"kind": db.kind, "tables": [asdict(t) for t in schema.tables]}, indent=2, default=str))
            return 0
        print(f"{args.database} ({db.kind}, read-only)")
        print(schema.describe())
        for table in schema.tables if args.samples else ():
            result = db.sample_rows(table.name, args.samples)
            print(f"\n-- {table.name}: first {result.row_count} rows")
            print_rows(result.columns, result.rows)
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from engine.db import open_database

    with open_database(args.database) as db:
        result = db.query(args.sql, max_rows=args.max_rows, timeout_s=args.timeout)
    print_rows(result.columns, result.rows)
    more = f" (truncated: {result.note})" if result.truncated else ""
    print(f"-- {result.row_count} row(s) in {result.elapsed_s:.3f}s{more}", file=sys.stderr)
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from engine.models.locate import resolve_model

    source = resolve_model(args.model)
    print(f"{source.name}\n  format: {source.kind}\n  path: {source.path}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """The local models found without network, and what Engram can do with each."""
    from engine.models.catalogue import discover

    entries = discover(tuple(args.folder))
    if args.json:
        print(json.dumps([e.to_json() for e in entries], indent=1))
        return 0
    print(f"{'model':<44}{'source':<12}{'arch':<9}{'params':>8}{'quant':>8}{'size':>9}{'ctx':>8}  train export chat")
    for e in entries:
        flags = "  ".join(f"{'yes' if c.ok else 'no':<5}" for c in (e.train, e.export, e.chat))
        print(f"{e.name[:43]:<44}{e.source:<12}{(e.architecture or '?')[:8]:<9}{e.parameters_text:>8}{(e.quantization or '?')[:7]:>8}"
              f"{e.size_bytes / 2**20:>8.0f}M{e.context_length or 0:>8}  {flags}")
        for what, capability in (("train", e.train), ("export", e.export), ("chat", e.chat)):
            if not capability.ok:
                print(f"    {what}: {capability.reason}")
        print(f"    {e.path}")
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


def cmd_self_test(args: argparse.Namespace) -> int:
    """Offline install check: the demo database opens, the bundled model loads through llama.cpp and
    answers one question. No network is touched."""
    import time

    from app.paths import DEMO_SQLITE
    from engine.db import open_database
    from engine.models.llama_runtime import LlamaChat, Sampling

    started = time.monotonic()
    with open_database(DEMO_SQLITE) as db:
        orders = db.schema().table("orders").row_count
    print(f"demo database: ok ({orders:,} orders)")
    with LlamaChat(None, n_ctx=1024) as chat:
        answer = chat.complete([{"role": "user", "content": "What is the capital of France? One word."}],
                               Sampling(max_tokens=8))
    print(f"bundled model: ok ({chat.source.name}) answered {answer.strip()!r}")
    if not answer.strip():
        raise EngramError("The bundled model loaded but produced no answer")
    if "paris" not in answer.lower():  # greedy decoding: a working build always says Paris
        raise EngramError(f"The bundled model answered {answer.strip()!r} instead of Paris: llama.cpp computes "
                          "wrong results on this machine")
    print(f"self-test passed in {time.monotonic() - started:.1f}s")
    return 0


def register(sub) -> None:
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

    p = sub.add_parser("models", help="list the local models found (bundled, Ollama, LM Studio, Hugging Face cache, "
                       "folders you add) and whether Engram can train, export and chat with each")
    p.add_argument("--folder", action="append", default=[], metavar="DIR",
                   help="also look in this folder (or at this file); repeatable")
    p.add_argument("--json", action="store_true", help="print the entries as JSON")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("self-test", help="offline install check: demo database + bundled model through llama.cpp")
    p.set_defaults(func=cmd_self_test)

    p = sub.add_parser("demo", help="headless tour of the demo database and the bundled model")
    p.set_defaults(func=cmd_demo)
