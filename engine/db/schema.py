"""Small typed answers about a database: its tables, columns, keys, and query results.

Both engines (SQLite, DuckDB) describe themselves with these same dataclasses, so everything
downstream (QA generation, the schema tree, `engram inspect`) is engine-agnostic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    primary_key: bool = False
    default: str | None = None


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    name: str
    kind: str  # "table" or "view"
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    row_count: int | None = None

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name.lower() == name.lower():
                return column
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class Schema:
    tables: tuple[Table, ...]

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name.lower() == name.lower():
                return table
        raise KeyError(f"no table or view named {name!r}")

    @property
    def table_names(self) -> list[str]:
        return [t.name for t in self.tables]

    def describe(self) -> str:
        """A compact text rendering (the CLI's `inspect` output and the LLM prompt's schema)."""
        lines = []
        for table in self.tables:
            count = "" if table.row_count is None else f" ({table.row_count:,} rows)"
            lines.append(f"{table.kind} {table.name}{count}")
            for column in table.columns:
                flags = []
                if column.primary_key:
                    flags.append("PK")
                if not column.nullable and not column.primary_key:
                    flags.append("NOT NULL")
                for fk in table.foreign_keys:
                    if column.name in fk.columns:
                        ref = fk.ref_columns[fk.columns.index(column.name)]
                        flags.append(f"-> {fk.ref_table}.{ref}")
                suffix = f"  {' '.join(flags)}" if flags else ""
                lines.append(f"  {column.name} {column.type}{suffix}")
        return "\n".join(lines)


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False
    elapsed_s: float = 0.0
    note: str = ""  # why a truncated result was cut (the row cap or the byte cap), for the user

    @property
    def row_count(self) -> int:
        return len(self.rows)
