"""What each column of the analyst's database *is* — key, identifier, code, category, flag, measure,
date, year, label, free text — decided from its type, its name and a look at its values. The template
generator needs this to ask sensible questions ("orders per channel", not "orders per order_id"), and
to never take a year, a number, a place or a person's name for a code with a meaning.

Names are read as words (`CustNm` → "cust nm", `Is_Active` → "is active"); values decide what a type
hides (years, numbers and dates stored as text; 'Y'/'N' and 'T'/'F' flags). Profiling reads at most
`sample_rows` rows per table, so a huge database costs the same as a small one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.db import Database, Table
from engine.db.database import quote_identifier
from engine.qa.phrasing import identifier_words

Role = Literal["key", "identifier", "code", "category", "flag", "measure", "date", "year", "label", "text",
               "other"]

_NUMERIC = re.compile(r"INT|DEC|NUMERIC|REAL|DOUBLE|FLOAT|HUGEINT", re.I)
_DATE = re.compile(r"DATE|TIME", re.I)
_TEXT = re.compile(r"CHAR|TEXT|STRING|CLOB|VARCHAR", re.I)
_BINARY = re.compile(r"BLOB|BINARY|BYTEA", re.I)


def is_numeric_type(sql_type: str) -> bool:
    """Whether a declared column type holds numbers (INTEGER, DECIMAL(10,2), DOUBLE, HUGEINT, …)."""
    return bool(_NUMERIC.search(sql_type or ""))


LABEL_WORDS = {"name", "nm", "title", "description", "desc", "label", "subject"}
CODE_WORDS = {"code", "cd", "sku", "abbr", "abbreviation", "symbol", "ref", "iso"}
YEAR_WORDS = {"year", "yr", "yyyy"}
PLACE_WORDS = {"city", "town", "country", "location", "place", "address", "venue", "street", "state",
               "county", "province", "village", "hometown"}
PERSON_WORDS = {"person", "contact", "owner", "manager", "author", "singer", "artist", "player"}
TRUE_VALUES = ("1", "y", "t", "yes", "true")
FLAG_VALUES = {"0", "1", "y", "n", "t", "f", "yes", "no", "true", "false"}
_YEAR_VALUE = re.compile(r"^(1[5-9]|20)\d\d$")
_NUMBER_VALUE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_DATE_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_CODE_VALUE = re.compile(r"^(?=.*[A-Z0-9])[A-Za-z0-9][A-Za-z0-9_\-./#]*$")
_WORD_VALUE = re.compile(r"^[A-Z]?[a-z]+$")  # 'Leeds', 'blue': a word, not a code
MAX_CATEGORIES = 12
MAX_CATEGORY_LENGTH = 40
MAX_CODE_LENGTH = 16
LOOKUP_TABLE_ROWS = 50  # a table this small with a code and a label explains its codes
SAMPLE_VALUES = 200


@dataclass
class ColumnProfile:
    table: str
    name: str
    type: str
    role: Role
    nullable: bool
    distinct: int = 0
    nulls: int = 0
    values: list[Any] = field(default_factory=list)  # categories (most frequent first), a flag's values
    min: Any = None
    max: Any = None
    stored_as_text: bool = False  # a measure, year or date kept in a text column

    @property
    def true_value(self) -> Any:
        """The value a flag takes for 'yes' (1, 'Y', 'T', 'yes', 'true')."""
        for value in self.values:
            if str(value).strip().lower() in TRUE_VALUES:
                return value
        return 1


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
        """The column a person would name a row by (product_name, description, CustNm)."""
        labels = self.role("label")
        return labels[0] if labels else None

    @property
    def identifier(self) -> ColumnProfile | None:
        """A unique, human-visible code (customer_code, sku; a lookup table's code)."""
        ids = self.role("identifier", "code")
        return ids[0] if ids else None

    @property
    def code(self) -> ColumnProfile | None:
        """The code column of a lookup table, whose meaning the table's label gives."""
        codes = self.role("code")
        return codes[0] if codes else None

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)


def _all(values: list[Any], pattern: re.Pattern) -> bool:
    return bool(values) and all(pattern.match(str(v).strip()) for v in values)


def _decide_role(column, ctype: str, keys: set[str], table: Table, values: list[Any], distinct: int,
                 non_null: int, avg_len: float) -> tuple[str, bool]:
    """(role, stored_as_text) for one column from its type, name and sampled distinct values."""
    name = identifier_words(column.name)  # 'CustNm' → ['cust', 'nm'], 'Is_Active' → ['is', 'active']
    last = name[-1] if name else ""
    text_type = bool(_TEXT.search(ctype)) or not ctype
    numeric_type = is_numeric_type(ctype)
    if column.name in keys or (last == "id" and numeric_type):
        single_text_pk = list(table.primary_key) == [column.name] and text_type
        if not single_text_pk:
            return "key", False
    if _BINARY.search(ctype):
        return "other", False
    if _DATE.search(ctype):
        return "date", False
    flag_values = {str(v).strip().lower() for v in values}
    if non_null and distinct <= 2 and flag_values <= FLAG_VALUES and (numeric_type or len(flag_values) == 2 or
                                                                     name[:1] in (["is"], ["has"])):
        return "flag", False
    if last in YEAR_WORDS and _all(values, _YEAR_VALUE):
        return "year", text_type
    if text_type and _all(values, _DATE_VALUE):
        return "date", True
    if text_type and _all(values, _NUMBER_VALUE) and last not in CODE_WORDS:
        if _all(values, _YEAR_VALUE) and distinct > 1:
            return "year", True
        return "measure", True
    if numeric_type:
        return ("year", False) if last in YEAR_WORDS and _all(values, _YEAR_VALUE) else ("measure", False)
    if not text_type:
        return "other", False
    is_label = last in LABEL_WORDS
    is_place_or_person = last in PLACE_WORDS or last in PERSON_WORDS or (name and name[0] in PERSON_WORDS)
    short = (avg_len or 0) <= MAX_CATEGORY_LENGTH
    if non_null and distinct == non_null and short:  # unique: a name, a code, or neither
        if is_label:
            return "label", False
        code_like = all(_CODE_VALUE.match(str(v)) and len(str(v)) <= MAX_CODE_LENGTH
                        and not _WORD_VALUE.match(str(v)) for v in values)
        if (code_like or last in CODE_WORDS) and not is_place_or_person and "@" not in "".join(map(str, values)):
            return "identifier", False
        return "text", False
    if 2 <= distinct <= MAX_CATEGORIES and non_null >= 2 * distinct and short:
        return "category", False
    if is_label and short and distinct >= 0.9 * non_null:  # nearly unique: a name rows are known by
        return "label", False
    return "text", False


def _profile_column(db: Database, table: Table, column, sample_rows: int) -> ColumnProfile:
    q = quote_identifier(column.name)
    source = f"(SELECT {q} AS v FROM {quote_identifier(table.name)} LIMIT {int(sample_rows)}) AS s"
    keys = set(table.primary_key) | {c for fk in table.foreign_keys for c in fk.columns}
    ctype = column.type or ""
    binary = bool(_BINARY.search(ctype))
    length = "0" if binary else "AVG(LENGTH(CAST(v AS VARCHAR)))"
    stats = db.query(f"SELECT COUNT(DISTINCT v), SUM(CASE WHEN v IS NULL THEN 1 ELSE 0 END), COUNT(*), "
                     f"{'NULL, NULL' if binary else 'MIN(v), MAX(v)'}, {length} FROM {source}", max_rows=1).rows[0]
    distinct, nulls, rows, low, high, avg_len = stats
    distinct, nulls, rows = int(distinct or 0), int(nulls or 0), int(rows or 0)
    values = [] if binary else [r[0] for r in db.query(f"SELECT DISTINCT v FROM {source} WHERE v IS NOT NULL",
                                                       max_rows=SAMPLE_VALUES).rows]
    role, as_text = _decide_role(column, ctype, keys, table, values, distinct, rows - nulls, avg_len or 0)
    profile = ColumnProfile(table.name, column.name, ctype, role, column.nullable, distinct, nulls,
                            min=low, max=high, stored_as_text=as_text)
    if role == "category":
        rows_ = db.query(f"SELECT v, COUNT(*) AS n FROM {source} WHERE v IS NOT NULL GROUP BY v "
                         f"ORDER BY n DESC, v", max_rows=MAX_CATEGORIES).rows
        profile.values = [r[0] for r in rows_]
    elif role == "flag":
        profile.values = sorted(values, key=str)
    return profile


def _mark_codes(profile: TableProfile) -> None:
    """In a small table that names its rows, the unique code column is a code with a meaning."""
    if (profile.table.row_count or 0) > LOOKUP_TABLE_ROWS or profile.label is None:
        return
    for column in profile.columns:
        if column.role == "identifier":
            column.role = "code"
            return


def profile_database(db: Database, sample_rows: int = 20_000) -> list[TableProfile]:
    """Profiles of every table (views are left out: their rows duplicate their tables')."""
    profiles = []
    for table in db.schema().tables:
        if table.kind != "table":
            continue
        columns = [_profile_column(db, table, c, sample_rows) for c in table.columns]
        profile = TableProfile(table, columns)
        _mark_codes(profile)
        profiles.append(profile)
    return profiles
