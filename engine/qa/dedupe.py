"""Find duplicates, conflicts and equivalent SQL among QA pairs, so the analyst trains each fact
once and never teaches two answers to one question.

- duplicate: same kind, same normalized question, same answer → keep the oldest, the rest can go;
- conflict: same kind, same normalized question, different answers → flagged, the analyst decides;
- equivalent SQL: different SQL text that sqlglot normalizes to the same AST, or that returns the
  same result (same `result_hash`) for a different question → shown for review, never auto-removed
  (two questions may rightly share a query).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

import sqlglot
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from engine.project.pairs import QAPair

_PUNCTUATION = re.compile(r"[^\w\s]")


def normalize_question(text: str) -> str:
    """Case, accents, punctuation and spacing removed: 'How many  Orders?' == 'how many orders'."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = _PUNCTUATION.sub(" ", text.lower())
    return " ".join(text.split())


def normalize_answer(text: str) -> str:
    return " ".join((text or "").split()).rstrip(".").lower()


def canonical_sql(sql: str, dialect: str) -> str | None:
    """One spelling per query: identifiers case-normalized, formatting and aliases' quoting unified."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except (ParseError, TokenError, RecursionError):  # RecursionError: absurdly deep nesting
        return None
    if tree is None:
        return None
    tree = normalize_identifiers(tree, dialect=dialect)
    return tree.sql(dialect=dialect, normalize=True, comments=False)


@dataclass
class DedupeReport:
    duplicates: list[list[int]] = field(default_factory=list)  # [kept id, removable ids...]
    conflicts: list[list[int]] = field(default_factory=list)  # ids with one question, several answers
    equivalent_sql: list[list[int]] = field(default_factory=list)  # same query, or same result

    @property
    def removable(self) -> list[int]:
        return [i for group in self.duplicates for i in group[1:]]


def find_duplicates(pairs: list[QAPair], dialect: str) -> DedupeReport:
    report = DedupeReport()
    by_question: dict[tuple[str, str], list[QAPair]] = defaultdict(list)
    for pair in sorted(pairs, key=lambda p: p.id or 0):
        by_question[(pair.kind, normalize_question(pair.question))].append(pair)
    for group in by_question.values():
        if len(group) < 2:
            continue
        answers: dict[str, list[int]] = defaultdict(list)
        for pair in group:
            answers[normalize_answer(pair.answer)].append(pair.id)
        for ids in answers.values():
            if len(ids) > 1:
                report.duplicates.append(ids)
        if len(answers) > 1:
            report.conflicts.append([p.id for p in group])
    sql_pairs = [p for p in pairs if p.kind == "sql" and p.sql and p.split != "paraphrase"]
    groups: dict[str, list[int]] = defaultdict(list)
    for pair in sql_pairs:
        key = canonical_sql(pair.sql, dialect)
        if key:
            groups["ast:" + key].append(pair.id)
        if pair.result_hash:
            groups["result:" + pair.result_hash].append(pair.id)
    seen: set[tuple[int, ...]] = set()
    duplicate_sets = {tuple(sorted(g)) for g in report.duplicates}
    for ids in groups.values():
        unique = tuple(sorted(set(ids)))
        if len(unique) > 1 and unique not in seen and unique not in duplicate_sets:
            seen.add(unique)
            report.equivalent_sql.append(list(unique))
    return report
