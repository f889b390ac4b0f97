"""Execution-checked voting: candidates that ran are grouped by their result (rows compared as a
multiset, values normalized, numbers within rounding), and the biggest group wins. A non-empty result
beats an empty one (a wrong filter value returns no rows far more often than a question's true answer
is empty); a tie goes to the group holding the earliest candidate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from engine.qa.validate import normalize_value

Result = tuple[list[tuple[Any, ...]], list[str]]  # rows, columns


def result_key(rows: list[tuple[Any, ...]]) -> tuple:
    """One key per result, whatever the row order, column names or float noise."""
    def cell(value):
        value = normalize_value(value)
        if isinstance(value, float):
            return round(value, 6)
        return value

    return tuple(sorted((tuple(repr(cell(v)) for v in row) for row in rows)))


@dataclass(frozen=True)
class Vote:
    winner: int | None  # index of the chosen candidate (the first of the winning group)
    votes: int  # candidates that agree with it
    groups: tuple[tuple[int, ...], ...]  # candidate indexes per distinct result, winner's first
    failed: int  # candidates that did not run


def vote(results: Sequence[Result | None]) -> Vote:
    """The winning result among candidates (None for one that failed)."""
    groups: dict[tuple, list[int]] = {}
    empty: dict[tuple, bool] = {}
    for index, result in enumerate(results):
        if result is None:
            continue
        key = result_key(result[0])
        groups.setdefault(key, []).append(index)
        empty[key] = not result[0]
    failed = sum(1 for r in results if r is None)
    if not groups:
        return Vote(None, 0, (), failed)
    ordered = sorted(groups.items(), key=lambda item: (empty[item[0]], -len(item[1]), item[1][0]))
    winner = ordered[0][1]
    return Vote(winner[0], len(winner), tuple(tuple(g) for _, g in ordered), failed)
