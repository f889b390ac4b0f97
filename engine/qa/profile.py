"""What each column of the analyst's database *is* — key, identifier, category, measure, date,
free text — decided from its type, its keys and a look at its values. The template generator needs
this to ask sensible questions ("orders per channel", not "orders per order_id").

Profiling reads at most `sample_rows` rows per table, so a huge database costs the same as a small one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.db import Database, Table
from engine.db.database import quote_identifier

Role = Literal["key", "identifier", "category", "flag", "measure", "date", "label", "text", "other"]

_NUMERIC = re.compile(r"INT|DEC|NUMERIC|REAL|DOUBLE|FLOAT|HUGEINT", re.I)
_DATE = re.compile(r"DATE|TIME", re.I)
_TEXT = re.compile(r"CHAR|TEXT|STRING|CLOB|VARCHAR", re.I)
_LABEL_NAMES = re.compile(r"(^|_)(name|title|description|label|subject)$", re.I)
MAX_CATEGORIES = 12
MAX_CATEGORY_LENGTH = 40


@dataclass
class ColumnProfile:
    table: str
    name: str
    type: str
    role: Role
    nullable: bool
    distinct: int = 0
    nulls: int = 0
    values: list[Any] = field(default_factory=list)  # categories, most frequent first
    min: Any = None
    max: Any = None


@dataclass
class TableProfile:
    table: Table
    columns: list[ColumnProfile]

    @property
    def name(self) -> str:
        return self.table.name

    def role(self, *roles: str) -> list[ColumnProfile]:
        return [c for c in self.columns if c.role in roles]

    @property
    def label(self) -> ColumnProfile | None:
        """The column a person would name a row by (product_name, description, full_name)."""
        labels = self.role("label")
        return labels[0] if labels else None

    @property
    def identifier(self) -> ColumnProfile | None:
        """A unique, human-visible code (customer_code, sku), or a text primary key."""
        ids = self.role("identifier")
        if ids:
            return ids[0]
        pk = self.table.primary_key
        if len(pk) == 1:
            column = self.column(pk[0])
            if column and _TEXT.search(column.type):
                return column
        return None

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)


def _profile_column(db: Database, table: Table, column, sample_rows: int) -> ColumnProfile:
    q = quote_identifier(column.name)
    source = f"(SELECT {q} AS v FROM {quote_identifier(table.name)} LIMIT {int(sample_rows)}) AS s"
    keys = set(table.primary_key) | {c for fk in table.foreign_keys for c in fk.columns}
    ctype = column.type or ""
    stats = db.query(f"SELECT COUNT(DISTINCT v), SUM(CASE WHEN v IS NULL THEN 1 ELSE 0 END), COUNT(*), "
                     f"MIN(v), MAX(v), AVG(LENGTH(CAST(v AS VARCHAR))) FROM {source}", max_rows=1).rows[0]
    distinct, nulls, rows, low, high, avg_len = stats
    distinct, nulls, rows = int(distinct or 0), int(nulls or 0), int(rows or 0)
    profile = ColumnProfile(table.name, column.name, ctype, "other", column.nullable, distinct, nulls,
                            min=low, max=high)
    non_null = rows - nulls
    if column.name in keys or (column.name.lower().endswith("_id") and _NUMERIC.search(ctype)):
        profile.role = "key"
        if column.name in table.primary_key and _TEXT.search(ctype) and len(table.primary_key) == 1:
            profile.role = "identifier"
    elif _DATE.search(ctype) or re.search(r"(_date|_at|_on)$", column.name, re.I):
        profile.role = "date"
    elif distinct <= 2 and _NUMERIC.search(ctype) and non_null:
        profile.role = "flag"
    elif _TEXT.search(ctype) or not ctype:
        if non_null and distinct == non_null and (avg_len or 0) <= MAX_CATEGORY_LENGTH:
            profile.role = "label" if _LABEL_NAMES.search(column.name) else "identifier"
        elif 2 <= distinct <= MAX_CATEGORIES and non_null >= 2 * distinct and (avg_len or 0) <= MAX_CATEGORY_LENGTH:
            profile.role = "category"
        elif (_LABEL_NAMES.search(column.name) and (avg_len or 0) <= MAX_CATEGORY_LENGTH
              and distinct >= 0.9 * non_null):  # nearly unique: a name rows are known by
            profile.role = "label"
        else:
            profile.role = "text"
    elif _NUMERIC.search(ctype):
        profile.role = "measure"
    if profile.role == "category":
        rows_ = db.query(f"SELECT v, COUNT(*) AS n FROM {source} WHERE v IS NOT NULL GROUP BY v "
                         f"ORDER BY n DESC, v", max_rows=MAX_CATEGORIES).rows
        profile.values = [r[0] for r in rows_]
    return profile


def profile_database(db: Database, sample_rows: int = 20_000) -> list[TableProfile]:
    """Profiles of every table (views are left out: their rows duplicate their tables')."""
    profiles = []
    for table in db.schema().tables:
        if table.kind != "table":
            continue
        columns = [_profile_column(db, table, c, sample_rows) for c in table.columns]
        profiles.append(TableProfile(table, columns))
    return profiles
