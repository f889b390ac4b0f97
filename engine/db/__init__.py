"""Read-only access to the analyst's SQLite or DuckDB file."""

from engine.db.database import Database, open_database
from engine.db.readonly import parse_read_only
from engine.db.schema import Column, ForeignKey, QueryResult, Schema, Table

__all__ = ["Database", "open_database", "parse_read_only", "Column", "ForeignKey", "QueryResult",
           "Schema", "Table"]
