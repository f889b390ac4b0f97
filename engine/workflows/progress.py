"""How a workflow reports progress: one Step per unit of work, which the CLI prints and the UI turns
into its progress bar."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Step:
    done: int
    total: int  # 0 while unknown
    message: str


OnStep = Callable[[Step], None]


def ignore(step: Step) -> None:
    """The default progress callback: nobody is watching."""
