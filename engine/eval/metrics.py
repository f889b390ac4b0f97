"""Scoring one prediction against its gold answer, and naming what went wrong.

Facts: exact match, and normalized match (case, spacing, a trailing period). A miss is a near miss
(close by edit distance: the model knows roughly but not exactly — what memory tuning fixes), a
refusal, garbage, or simply wrong.
SQL: valid (parses as one read-only query and runs); execution match (same result as the gold query:
row order counts only when the gold query orders, floats compared with a tolerance); exact match of
the sqlglot-normalized SQL as a secondary figure. A miss is invalid SQL (syntax, unknown table,
unknown column, a function this dialect lacks, other runtime error), not read-only, an empty result,
or a wrong result.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any

from engine.db import Database
from engine.db.errors import DatabaseError
from engine.qa.dedupe import canonical_sql, normalize_answer
from engine.qa.validate import is_ordered, normalize_value, validate_sql, ValidationConfig

NEAR_MISS_RATIO = 0.8
_REFUSAL = re.compile(r"\b(i'?m sorry|i cannot|i can'?t|as an ai|i don'?t know|unable to)\b", re.I)
_DIALECT_FUNCTION = re.compile(r"no such function|function with name .* does not exist|"
                               r"scalar function .* does not exist|no function matches", re.I)
ERROR_KINDS = ("near_miss", "refusal", "garbage", "wrong_fact", "syntax", "unknown_table", "unknown_column",
               "dialect_function", "runtime_error", "not_read_only", "empty_result", "wrong_result", "timeout")


@dataclass
class Score:
    correct: bool
    error: str | None = None  # one of ERROR_KINDS when not correct
    normalized_match: bool = False
    valid_sql: bool | None = None
    exact_sql: bool | None = None
    detail: str = ""


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.strip().lower(), b.strip().lower()).ratio()


def score_fact(prediction: str, gold: str) -> Score:
    exact = prediction.strip() == gold.strip()
    normalized = normalize_answer(prediction) == normalize_answer(gold)
    if exact:
        return Score(True, normalized_match=True)
    text = prediction.strip()
    if normalized:
        return Score(False, "near_miss", True, detail="differs only in case or spacing")
    if _REFUSAL.search(text):
        error = "refusal"
    elif not text or sum(ch.isalnum() for ch in text) < max(1, len(text) // 4):
        error = "garbage"
    elif similarity(text, gold) >= NEAR_MISS_RATIO:
        error = "near_miss"
    else:
        error = "wrong_fact"
    return Score(False, error, False, detail=f"similarity {similarity(text, gold):.2f}")


def _close(a: Any, b: Any) -> bool:
    a, b = normalize_value(a), normalize_value(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def same_result(predicted: list[tuple], gold: list[tuple], ordered: bool) -> bool:
    if len(predicted) != len(gold):
        return False
    if any(len(p) != len(g) for p, g in zip(predicted, gold)):
        return False
    if not ordered:
        key = lambda row: [str(normalize_value(v)) for v in row]  # noqa: E731
        predicted, gold = sorted(predicted, key=key), sorted(gold, key=key)
    return all(_close(x, y) for p, g in zip(predicted, gold) for x, y in zip(p, g))


def score_sql(db: Database, predicted_sql: str, gold_sql: str, max_rows: int = 10_000,
              timeout_s: float = 30.0) -> Score:
    exact = canonical_sql(predicted_sql, db.dialect) is not None and \
        canonical_sql(predicted_sql, db.dialect) == canonical_sql(gold_sql, db.dialect)
    gold = db.query(gold_sql, max_rows=max_rows, timeout_s=timeout_s)
    checked = validate_sql(db, predicted_sql, ValidationConfig(max_rows=max_rows, timeout_s=timeout_s,
                                                               allow_empty=True))
    if checked.status != "ok" and checked.status != "too_many_rows":
        kind = {"parse_error": "syntax", "unknown_table": "unknown_table", "unknown_column": "unknown_column",
                "not_read_only": "not_read_only", "timeout": "timeout"}.get(checked.status, "runtime_error")
        if kind == "runtime_error" and _DIALECT_FUNCTION.search(checked.message or ""):
            kind = "dialect_function"
        return Score(False, kind, valid_sql=False, exact_sql=exact, detail=checked.message or "")
    try:
        predicted = db.query(predicted_sql, max_rows=max_rows, timeout_s=timeout_s)
    except DatabaseError as error:  # pragma: no cover - validate_sql ran it already
        return Score(False, "runtime_error", valid_sql=False, exact_sql=exact, detail=str(error))
    from engine.db.readonly import parse_read_only

    ordered = is_ordered(parse_read_only(gold_sql, db.dialect))
    if same_result(predicted.rows, gold.rows, ordered):
        return Score(True, valid_sql=True, exact_sql=exact)
    if not predicted.rows and gold.rows:
        return Score(False, "empty_result", valid_sql=True, exact_sql=exact, detail="no rows; the gold query has some")
    return Score(False, "wrong_result", valid_sql=True, exact_sql=exact,
                 detail=f"{predicted.row_count} row(s) vs {gold.row_count} expected")
