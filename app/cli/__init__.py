"""`engram` command line: each module parses one area's arguments and prints; the work is done by
engine/ (its workflows for the multi-step ones).

Every failure the user can act on is an EngramError: printed as one line on stderr with exit
status 2, never a traceback (set ENGRAM_DEBUG=1 to see one)."""

from __future__ import annotations

import argparse
import os
import sys

from app.cli import chat, database, dataset, evaluate, export, tune
from engine.errors import EngramError

AREAS = (database, dataset, tune, export, chat, evaluate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engram", description="Memory-tune a local LLM on your database.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for area in AREAS:
        area.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
