"""Check a pair's SQL by running it read-only against the analyst's database.

Each way a query can be wrong is its own status (see `QAPair.VALIDATIONS`) with the message kept,
so the analyst can filter "unknown column" apart from "empty result". A valid query keeps a hash of
its result (order-insensitive unless the query orders its rows) and a short preview: execution
accuracy in evaluation compares these hashes, not SQL strings.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from engine.db import Database
from engine.db.errors import QueryFailed, QueryRejected, QueryTimeout, SQLSyntaxError
from engine.db.readonly import parse_read_only

DEFAULT_MAX_ROWS = 100
DEFAULT_TIMEOUT_S = 10.0
PREVIEW_ROWS = 5

_UNKNOWN_TABLE = re.compile(r"no such table|table with name .* does not exist|catalog error: table", re.I)
_UNKNOWN_COLUMN = re.compile(r"no such column|referenced column .* not found|column .* does not exist|"
                             r"binder error: .*column", re.I)


@dataclass(frozen=True)
class ValidationConfig:
    max_rows: int = DEFAULT_MAX_ROWS  # more rows than this is "too_many_rows": not a fact to memorize
    timeout_s: float = DEFAULT_TIMEOUT_S
    allow_empty: bool = False


@dataclass(frozen=True)
class Validation:
    status: str  # one of QAPair VALIDATIONS
    message: str | None = None
    result_hash: str | None = None
    preview: str | None = None  # JSON {"columns": [...], "rows": [...]} of the first rows
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_pair_fields(self) -> dict[str, Any]:
        return {"validation": self.status, "validation_message": self.message,
                "result_hash": self.result_hash, "result_preview": self.preview}


def normalize_value(value: Any) -> Any:
    """One representation per value across engines (DECIMAL vs float, date objects vs text)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, (int, float, decimal.Decimal)):
        number = round(float(value), 6)
        return int(number) if number.is_integer() else number
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def result_hash(rows: list[tuple[Any, ...]] | tuple, ordered: bool) -> str:
    """Hash of a result's values (column names ignored); row order counts only if `ordered`."""
    normalized = [json.dumps([normalize_value(v) for v in row], default=str) for row in rows]
    if not ordered:
        normalized.sort()
    return hashlib.sha256("\n".join(normalized).encode()).hexdigest()[:16]


def unknown_tables(statement: exp.Expression, db: Database) -> list[str]:
    """Tables the query names that the database does not have (CTE names excluded)."""
    known = {t.name.lower() for t in db.schema().tables}
    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    missing = []
    for table in statement.find_all(exp.Table):
        name = table.name.lower()
        if name and name not in known and name not in ctes and name not in missing:
            missing.append(table.name)
    return missing


def is_ordered(statement: exp.Expression) -> bool:
    return statement.args.get("order") is not None


def validate_sql(db: Database, sql: str, config: ValidationConfig = ValidationConfig()) -> Validation:
    """Run `sql` read-only (row cap + time limit) and classify the outcome."""
    # 1) it must parse in this database's dialect, as one read-only query
    try:
        statement = parse_read_only(sql, db.dialect)
    except SQLSyntaxError as error:
        return Validation("parse_error", str(error))
    except QueryRejected as error:
        return Validation("not_read_only", str(error))
    # 2) every table it names must exist (a clearer message than the engine's)
    missing = unknown_tables(statement, db)
    if missing:
        return Validation("unknown_table", f"No table named {', '.join(missing)} in this database")
    # 3) run it
    try:
        result = db.query(sql, max_rows=config.max_rows, timeout_s=config.timeout_s)
    except QueryTimeout as error:
        return Validation("timeout", str(error))
    except QueryFailed as error:
        message = str(error)
        if _UNKNOWN_TABLE.search(message):
            return Validation("unknown_table", message)
        if _UNKNOWN_COLUMN.search(message):
            return Validation("unknown_column", message)
        return Validation("runtime_error", message)
    preview = json.dumps({"columns": result.columns,
                          "rows": [[normalize_value(v) for v in row] for row in result.rows[:PREVIEW_ROWS]]},
                         default=str)
    rows = tuple(result.rows)
    if result.truncated:
        return Validation("too_many_rows", f"{result.note.capitalize()}; narrow the question",
                          preview=preview, columns=tuple(result.columns), rows=rows)
    if not result.rows and not config.allow_empty:
        return Validation("empty", "The query returns no rows", preview=preview, columns=tuple(result.columns))
    return Validation("ok", None, result_hash(result.rows, is_ordered(statement)), preview,
                      tuple(result.columns), rows)
