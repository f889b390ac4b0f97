"""Printing shared by the CLI's areas: result rows and workflow progress lines."""

from __future__ import annotations

import sys
from typing import Sequence

from engine.workflows.progress import Step


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join("NULL" if v is None else str(v) for v in row))


def print_step(step: Step) -> None:
    """A workflow's progress as lines on stderr (stdout keeps the results)."""
    if step.message:
        print(f"  {step.message}", file=sys.stderr, flush=True)
