"""The schema as the model reads it: one compact line per table (columns with types, keys, foreign keys
and a few values of low-cardinality text columns), built once per database and saved with a run so
training, export parity, chat and evaluation all show the same text."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from engine.db import Database
from engine.db.database import quote_identifier
from engine.db.errors import DatabaseError
from engine.db.schema import Table

MAX_DISTINCT = 12  # a text column with at most this many values shows some of them
SHOWN_VALUES = 4
MAX_VALUE_CHARS = 24
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED = {"select", "from", "where", "group", "order", "by", "limit", "table", "index", "join", "on", "as",
             "and", "or", "not", "in", "is", "null", "case", "when", "then", "else", "end", "union", "all",
             "having", "distinct", "values", "default", "check", "key", "primary", "foreign", "references",
             "desc", "asc", "user", "to", "into", "set", "update", "delete", "insert", "create", "drop"}


def sql_name(name: str) -> str:
    """A name as it must be written in a query: bare when it can be, double-quoted otherwise."""
    if _PLAIN_NAME.fullmatch(name) and name.lower() not in _RESERVED:
        return name
    return quote_identifier(name)


def _short_type(sql_type: str) -> str:
    """A type in few tokens: 'VARCHAR(40)' → 'text', 'DECIMAL(10,2)' → 'decimal', 'TIMESTAMP' → 'timestamp'."""
    base = (sql_type or "any").split("(")[0].strip().lower()
    if any(k in base for k in ("char", "text", "clob", "string")):
        return "text"
    if "int" in base:
        return "int"
    return {"double": "real", "float": "real", "numeric": "decimal"}.get(base, base or "any")


@dataclass(frozen=True)
class TableCard:
    name: str
    columns: tuple[str, ...]
    text: str  # the table's line in the prompt
    values: tuple[str, ...] = ()  # the sample values shown (table selection matches them too)
    neighbours: tuple[str, ...] = ()  # tables linked by a foreign key, either way


@dataclass(frozen=True)
class SchemaCard:
    dialect: str
    tables: tuple[TableCard, ...]

    def table(self, name: str) -> TableCard:
        for table in self.tables:
            if table.name.lower() == name.lower():
                return table
        raise KeyError(name)

    def render(self, names: list[str] | None = None) -> str:
        """The prompt's schema block for these tables (all by default), in the database's order."""
        wanted = None if names is None else {n.lower() for n in names}
        return "\n".join(t.text for t in self.tables if wanted is None or t.name.lower() in wanted)

    def to_json(self) -> dict:
        return {"dialect": self.dialect, "tables": [asdict(t) for t in self.tables]}

    @classmethod
    def from_json(cls, data: dict) -> "SchemaCard":
        return cls(data["dialect"], tuple(TableCard(t["name"], tuple(t["columns"]), t["text"], tuple(t["values"]),
                                                    tuple(t["neighbours"])) for t in data["tables"]))


def _low_cardinality_values(db: Database, table: Table, column: str) -> tuple[str, ...]:
    sql = (f"SELECT DISTINCT {quote_identifier(column)} FROM {quote_identifier(table.name)} "
           f"WHERE {quote_identifier(column)} IS NOT NULL LIMIT {MAX_DISTINCT + 1}")
    try:
        rows = db.query(sql, max_rows=MAX_DISTINCT + 1, timeout_s=5.0).rows
    except DatabaseError:
        return ()
    values = [r[0] for r in rows]
    if len(values) > MAX_DISTINCT or not all(isinstance(v, str) and 0 < len(v) <= MAX_VALUE_CHARS for v in values):
        return ()
    return tuple(sorted(values)[:SHOWN_VALUES])


def _is_text(sql_type: str) -> bool:
    t = (sql_type or "").upper()
    return any(k in t for k in ("CHAR", "TEXT", "CLOB", "STRING")) or t == ""


def _table_card(db: Database, table: Table, neighbours: tuple[str, ...]) -> TableCard:
    parts, shown = [], []
    for column in table.columns:
        piece = f"{sql_name(column.name)} {_short_type(column.type)}"
        if column.name in table.primary_key or column.primary_key:
            piece += " PK"
        for fk in table.foreign_keys:
            if column.name in fk.columns:
                ref = fk.ref_columns[fk.columns.index(column.name)] if fk.ref_columns else column.name
                piece += f" -> {sql_name(fk.ref_table)}.{sql_name(ref)}"
        if _is_text(column.type) and column.name not in table.primary_key:
            values = _low_cardinality_values(db, table, column.name)
            if values:
                piece += " e.g. " + ", ".join("'" + v.replace("'", "''") + "'" for v in values)
                shown += values
        parts.append(piece)
    return TableCard(table.name, tuple(table.column_names), f"{sql_name(table.name)}({', '.join(parts)})",
                     tuple(shown), neighbours)


def schema_card(db: Database) -> SchemaCard:
    """The database's card: every table and view, with the values worth showing."""
    tables = db.schema().tables
    links: dict[str, set[str]] = {t.name: set() for t in tables}
    key_of = {t.primary_key[0].lower(): t.name for t in tables if len(t.primary_key) == 1}
    for table in tables:
        refs = [fk.ref_table for fk in table.foreign_keys]
        # a column named like another table's single-column key is a link even when no foreign key says so
        refs += [key_of[c.lower()] for c in table.column_names if c.lower() in key_of]
        for ref_name in refs:
            ref = next((t.name for t in tables if t.name.lower() == ref_name.lower()), None)
            if ref and ref != table.name:
                links[table.name].add(ref)
                links[ref].add(table.name)
    return SchemaCard(db.dialect, tuple(_table_card(db, t, tuple(sorted(links[t.name]))) for t in tables))
