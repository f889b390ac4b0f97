"""Held-out analyst questions: the measuring stick for questions nobody generated.

A held-out set is JSONL, one question a line: {id, question, gold_sql, constructs}; the gold SQL is
written in SQLite's dialect and transpiled by sqlglot for another engine. The sets shipped in
`evals/` are never trained on: `heldout_index` lets the generators and the run preparation check a
pair against them, and a test fails if any generated or trained pair matches one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import sqlglot

from engine.db import Database
from engine.db.errors import QueryRejected, SQLSyntaxError
from engine.db.readonly import parse_read_only
from engine.errors import EngramError
from engine.project.pairs import QAPair
from engine.qa.dedupe import canonical_sql, normalize_question
from engine.qa.validate import ValidationConfig, validate_sql

# The SQL constructs a set must cover, one tag or more per question.
CONSTRUCTS = ("filter", "join", "group_by", "having", "order_limit", "nested", "set_op", "multi_aggregate",
              "like", "distinct", "date_range", "null", "aggregate")
GOLD_DIALECT = "sqlite"
EVALS_DIR = Path(__file__).resolve().parents[2] / "evals"


@dataclass(frozen=True)
class HeldOutQuestion:
    id: str
    question: str
    gold_sql: str  # in GOLD_DIALECT
    constructs: tuple[str, ...]
    line: int

    def gold_for(self, dialect: str) -> str:
        """The gold SQL in the database's own dialect."""
        if dialect == GOLD_DIALECT:
            return self.gold_sql
        return sqlglot.transpile(self.gold_sql, read=GOLD_DIALECT, write=dialect)[0]

    def as_pair(self, dialect: str) -> QAPair:
        """An eval-split SQL pair (id = line number), so evaluation scores it like any SQL pair."""
        sql = self.gold_for(dialect)
        return QAPair(self.question, sql, kind="sql", sql=sql, split="eval", source="import",
                      intent=f"heldout:{self.id}", id=self.line)


def heldout_pairs(questions: list[HeldOutQuestion], dialect: str) -> tuple[list[QAPair], dict[int, tuple[str, ...]]]:
    """The questions as pairs to evaluate, and each pair's constructs by pair id (for per-construct scores)."""
    return [q.as_pair(dialect) for q in questions], {q.line: q.constructs for q in questions}


def _refuse(path: Path, number: int, why: str) -> EngramError:
    return EngramError(f"{path.name} line {number}: {why}")


def load_heldout(path: str | Path, db: Database | None = None) -> list[HeldOutQuestion]:
    """Parse a held-out file; with a database, every gold SQL must run there read-only (else the line
    number and why)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise EngramError(f"Cannot read {path}: {error.strerror or error}") from None
    questions: list[HeldOutQuestion] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            ident, question, gold = str(record["id"]), str(record["question"]).strip(), str(record["gold_sql"]).strip()
            constructs = tuple(record.get("constructs") or ())
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise _refuse(path, number, f"expected {{id, question, gold_sql, constructs}} ({error})") from None
        unknown = [c for c in constructs if c not in CONSTRUCTS]
        if unknown:
            raise _refuse(path, number, f"unknown construct {unknown[0]!r} (known: {', '.join(CONSTRUCTS)})")
        if ident in seen:
            raise _refuse(path, number, f"id {ident!r} is used twice")
        if not question or not gold:
            raise _refuse(path, number, "the question and the gold SQL must not be empty")
        try:
            parse_read_only(gold, GOLD_DIALECT)
        except SQLSyntaxError as error:
            raise _refuse(path, number, f"the gold SQL does not parse: {error}") from None
        except QueryRejected as error:
            raise _refuse(path, number, f"the gold SQL is not a read-only query: {error}") from None
        seen.add(ident)
        questions.append(HeldOutQuestion(ident, question, gold, constructs, number))
    if not questions:
        raise EngramError(f"{path.name} has no questions")
    if db is not None:
        config = ValidationConfig(allow_empty=True, max_rows=10_000)
        for q in questions:
            checked = validate_sql(db, q.gold_for(db.dialect), config)
            if checked.status != "ok":
                raise _refuse(path, q.line, f"the gold SQL does not run on {db.path.name}: "
                                            f"{checked.message or checked.status}")
    return questions


def heldout_file(database: str | Path) -> Path | None:
    """The shipped held-out set for a demo database (evals/<stem>.jsonl), if there is one."""
    candidate = EVALS_DIR / f"{Path(database).stem}.jsonl"
    return candidate if candidate.is_file() else None


@dataclass
class HeldOutIndex:
    """Normalized questions and canonical SQL of held-out sets, to keep them out of training data."""
    questions: set[str]
    sql: set[str]

    @classmethod
    def of(cls, questions: list[HeldOutQuestion], dialect: str) -> "HeldOutIndex":
        sql = {canonical_sql(q.gold_for(dialect), dialect) for q in questions}
        return cls({normalize_question(q.question) for q in questions}, {s for s in sql if s})

    def leaks(self, pair: QAPair, dialect: str) -> bool:
        """True when a pair repeats a held-out question, or a held-out gold query as its SQL."""
        return self.repeats([pair.question], pair.sql, dialect)

    def repeats(self, questions: list[str], sql: str | None, dialect: str) -> bool:
        """True when any of the questions, or the SQL, is one of the held-out set's."""
        if any(normalize_question(q) in self.questions for q in questions):
            return True
        return bool(sql) and canonical_sql(sql, dialect) in self.sql


def heldout_index(database: str | Path, dialect: str) -> HeldOutIndex | None:
    """The held-out index of a database that ships a held-out set (the demo databases), else None."""
    path = heldout_file(database)
    return HeldOutIndex.of(load_heldout(path), dialect) if path else None


def heldout_index_for(db: Database) -> HeldOutIndex | None:
    return heldout_index(db.path, db.dialect)
