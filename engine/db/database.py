"""Open an analyst's SQLite or DuckDB file read-only, describe it, and run capped, time-limited
read-only queries on it.

Rules this module keeps:
1) the file is never written: SQLite opens with `mode=ro`, DuckDB with `read_only=True` and no
   external file access; every query also passes `parse_read_only` first;
2) every failure becomes a specific DatabaseError with a readable message;
3) a query stops at `max_rows` or `max_bytes` of values (the result says it was cut, and why) and at
   `timeout_s` or when its cancel token is set, whichever comes first; a worker thread may run it while
   the UI cancels. SQLite also refuses to build any one value over MAX_VALUE_BYTES, so a query such as
   `SELECT randomblob(1000000000)` fails at once instead of filling the memory.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.cancel import Cancelled, CancelToken
from engine.db.detect import DatabaseKind, detect_kind, duckdb_storage_version, read_header
from engine.db.errors import (
    CorruptDatabase,
    DatabaseError,
    DatabaseLocked,
    DatabasePermissionDenied,
    NotADatabase,
    QueryFailed,
    QueryTimeout,
    UnsupportedDatabaseVersion,
)
from engine.db.readonly import parse_read_only
from engine.db.schema import Column, ForeignKey, QueryResult, Schema, Table

DEFAULT_MAX_ROWS = 1000
DEFAULT_MAX_BYTES = 16 * 1024 * 1024  # of values in one result
MAX_VALUE_BYTES = 16 * 1024 * 1024  # one string or blob (SQLite's SQLITE_LIMIT_LENGTH)
FETCH_CHUNK = 64
DEFAULT_TIMEOUT_S = 30.0
COUNT_TIMEOUT_S = 5.0


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Database(ABC):
    """A read-only connection to one database file; use `open_database()` to get one."""

    kind: DatabaseKind
    dialect: str  # the sqlglot dialect name

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._schema: Schema | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None: ...

    # -- description -----------------------------------------------------------------------------
    def schema(self, refresh: bool = False) -> Schema:
        """Tables, then views, each sorted by name, with columns, keys and row counts (cached;
        counts of views are None, as counting a view can run an arbitrary query)."""
        if self._schema is None or refresh:
            with self._lock:
                tables = sorted(self._describe_tables(), key=lambda t: (t.kind == "view", t.name.lower()))
                self._schema = Schema(tuple(tables))
        return self._schema

    @abstractmethod
    def _describe_tables(self) -> list[Table]: ...

    def _count_rows(self, table: str) -> int | None:
        try:
            result = self.query(f"SELECT COUNT(*) FROM {quote_identifier(table)}", timeout_s=COUNT_TIMEOUT_S)
        except QueryTimeout:
            return None
        return int(result.rows[0][0])

    def sample_rows(self, table: str, limit: int = 50) -> QueryResult:
        """The first `limit` rows of a table or view, as stored."""
        name = self.schema().table(table).name
        return self.query(f"SELECT * FROM {quote_identifier(name)} LIMIT {int(limit)}", max_rows=limit)

    # -- queries ---------------------------------------------------------------------------------
    def query(
        self,
        sql: str,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        cancel: CancelToken | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> QueryResult:
        """Run one read-only query; at most `max_rows` rows and `max_bytes` of values come back
        (`truncated` and `note` say when and why the result was cut)."""
        parse_read_only(sql, self.dialect)
        started = time.monotonic()
        with self._lock:
            columns, rows, note = self._run(sql, Caps(max_rows, max_bytes), started + timeout_s,
                                            cancel or CancelToken())
        return QueryResult(columns, rows, bool(note), time.monotonic() - started, note)

    @abstractmethod
    def _run(
        self, sql: str, caps: "Caps", deadline: float, cancel: CancelToken
    ) -> tuple[list[str], list[tuple[Any, ...]], str]: ...


@dataclass(frozen=True)
class Caps:
    rows: int
    bytes: int


def _value_bytes(value: Any) -> int:
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        return len(value)
    return 8


def fetch_capped(cursor, caps: Caps) -> tuple[list[tuple[Any, ...]], str]:
    """Rows from a cursor a chunk at a time until the row or byte cap; the note says which cap cut it."""
    rows: list[tuple[Any, ...]] = []
    size = 0
    while True:
        chunk = cursor.fetchmany(FETCH_CHUNK)
        if not chunk:
            return rows, ""
        for row in chunk:
            if len(rows) == caps.rows:
                return rows, f"more than {caps.rows:,} rows: the first {caps.rows:,} are shown"
            size += sum(_value_bytes(v) for v in row)
            if size > caps.bytes:
                return rows, (f"the result is larger than {caps.bytes / 2**20:g} MB: cut after {len(rows):,} "
                              f"row(s)")
            rows.append(tuple(row))


class SQLiteDatabase(Database):
    kind = "sqlite"
    dialect = "sqlite"

    def __init__(self, path: Path, busy_timeout_s: float = 2.0) -> None:
        super().__init__(path)
        uri = f"{path.resolve().as_uri()}?mode=ro"
        try:
            self._con = sqlite3.connect(uri, uri=True, timeout=busy_timeout_s, check_same_thread=False)
            self._con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
            self._con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as error:
            raise _sqlite_error(path, error) from None

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def _run(self, sql, caps, deadline, cancel):
        state = {"reason": None}

        def progress() -> int:
            if cancel.cancelled:
                state["reason"] = "cancelled"
            elif time.monotonic() > deadline:
                state["reason"] = "timeout"
            return 1 if state["reason"] else 0

        self._con.set_progress_handler(progress, 1000)
        try:
            cursor = self._con.execute(sql)
            columns = [d[0] for d in cursor.description or ()]
            rows, note = fetch_capped(cursor, caps)
            cursor.close()
        except sqlite3.Error as error:
            if state["reason"] == "cancelled":
                raise Cancelled("the query") from None
            if state["reason"] == "timeout":
                raise QueryTimeout("The query ran past its time limit and was stopped") from None
            if "too big" in str(error).lower():
                raise QueryFailed(f"A value in the result is larger than {MAX_VALUE_BYTES / 2**20:g} MB, Engram's "
                                  "limit for one value; the query was stopped") from None
            raise _sqlite_error(self.path, error, query=True) from None
        finally:
            self._con.set_progress_handler(None, 0)
        return columns, rows, note

    def _describe_tables(self) -> list[Table]:
        objects = self._con.execute(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%' ORDER BY type, name"
        ).fetchall()
        pk_of = {}
        tables = []
        for name, kind in objects:
            info = self._con.execute(f"PRAGMA table_info({quote_identifier(name)})").fetchall()
            pk = tuple(row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5]))
            pk_of[name.lower()] = pk
            columns = tuple(
                Column(name=r[1], type=r[2] or "", nullable=not r[3] and not r[5], primary_key=bool(r[5]),
                       default=r[4])
                for r in info
            )
            tables.append((name, kind, columns, pk))
        described = []
        for name, kind, columns, pk in tables:
            groups: dict[int, list] = {}
            for row in self._con.execute(f"PRAGMA foreign_key_list({quote_identifier(name)})"):
                groups.setdefault(row[0], []).append(row)
            fks = []
            for rows in groups.values():
                rows.sort(key=lambda r: r[1])
                ref_table = rows[0][2]
                implicit = pk_of.get(ref_table.lower(), ())
                ref_cols = tuple(r[4] if r[4] else implicit[i] for i, r in enumerate(rows))
                fks.append(ForeignKey(tuple(r[3] for r in rows), ref_table, ref_cols))
            count = self._count_rows(name) if kind == "table" else None
            fks.sort(key=lambda fk: fk.columns)  # PRAGMA lists them newest first; DuckDB in order
            described.append(Table(name, kind, columns, pk, tuple(fks), count))
        return described


def _sqlite_error(path: Path, error: sqlite3.Error, query: bool = False) -> DatabaseError:
    message = str(error)
    lowered = message.lower()
    if "locked" in lowered or "busy" in lowered:
        return DatabaseLocked(
            f"{path} is locked by another program that is writing to it; wait for it to finish "
            "(or close it) and try again"
        )
    if "file is not a database" in lowered or "encrypted" in lowered:
        return NotADatabase(f"{path} is not a readable SQLite database ({message})")
    if "malformed" in lowered or "corrupt" in lowered:
        return CorruptDatabase(f"{path} is corrupt: SQLite says '{message}'; restore it from a good copy")
    if "unable to open" in lowered:
        if not os.access(path, os.R_OK):
            return DatabasePermissionDenied(f"Permission denied reading {path}")
        return DatabaseError(f"SQLite cannot open {path}: {message}")
    if query:
        return QueryFailed(message)
    return DatabaseError(f"SQLite cannot read {path}: {message}")


class DuckDBDatabase(Database):
    kind = "duckdb"
    dialect = "duckdb"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        import duckdb

        self._duckdb = duckdb
        try:
            self._con = duckdb.connect(
                str(path), read_only=True, config={"enable_external_access": False}
            )
            self._con.execute("SELECT 1").fetchall()
        except duckdb.Error as error:
            raise _duckdb_open_error(path, error) from None

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def _run(self, sql, caps, deadline, cancel):
        done = threading.Event()
        state = {"reason": None}

        def watchdog() -> None:
            while not done.is_set():
                if cancel.cancelled:
                    state["reason"] = "cancelled"
                elif time.monotonic() > deadline:
                    state["reason"] = "timeout"
                if state["reason"]:
                    self._con.interrupt()
                    return
                done.wait(0.02)

        watcher = threading.Thread(target=watchdog, daemon=True)
        watcher.start()
        try:
            cursor = self._con.execute(sql)
            columns = [d[0] for d in cursor.description or ()]
            rows, note = fetch_capped(cursor, caps)
        except self._duckdb.Error as error:
            if state["reason"] == "cancelled":
                raise Cancelled("the query") from None
            if state["reason"] == "timeout":
                raise QueryTimeout("The query ran past its time limit and was stopped") from None
            raise QueryFailed(str(error).splitlines()[0]) from None
        finally:
            done.set()
            watcher.join()
        return columns, rows, note

    def _describe_tables(self) -> list[Table]:
        objects = self._con.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_catalog = current_database() "
            "ORDER BY table_type DESC, table_name"
        ).fetchall()
        constraints = self._con.execute(
            "SELECT table_name, constraint_type, constraint_column_names, referenced_table, "
            "referenced_column_names FROM duckdb_constraints() "
            "WHERE schema_name = 'main' AND database_name = current_database() "
            "AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY') ORDER BY constraint_index"
        ).fetchall()
        described = []
        for name, table_type in objects:
            kind = "view" if table_type == "VIEW" else "table"
            pk: tuple[str, ...] = ()
            fks = []
            for t, ctype, cols, ref_table, ref_cols in constraints:
                if t != name:
                    continue
                if ctype == "PRIMARY KEY":
                    pk = tuple(cols)
                else:
                    fks.append(ForeignKey(tuple(cols), ref_table, tuple(ref_cols)))
            info = self._con.execute(
                "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
                "WHERE table_schema = 'main' AND table_catalog = current_database() AND table_name = ? "
                "ORDER BY ordinal_position",
                [name],
            ).fetchall()
            columns = tuple(
                Column(name=c, type=t, nullable=n == "YES" and c not in pk, primary_key=c in pk, default=d)
                for c, t, n, d in info
            )
            count = self._count_rows(name) if kind == "table" else None
            fks.sort(key=lambda fk: fk.columns)
            described.append(Table(name, kind, columns, pk, tuple(fks), count))
        return described


def _duckdb_open_error(path: Path, error: Exception) -> DatabaseError:
    message = str(error).splitlines()[0]
    lowered = message.lower()
    if "lock" in lowered:
        return DatabaseLocked(
            f"{path} is locked by another program that has it open for writing; close that "
            "program (or its connection) and try again"
        )
    if "version" in lowered and ("newer" in lowered or "can only" in lowered or "upgrade" in lowered):
        version = duckdb_storage_version(read_header(path))
        return UnsupportedDatabaseVersion(
            f"{path} was written by a newer DuckDB (storage version {version}) than this Engram "
            f"can read; update Engram, or export the data with that DuckDB version ({message})"
        )
    if "permission" in lowered:
        return DatabasePermissionDenied(f"Permission denied reading {path}")
    return CorruptDatabase(f"{path} could not be read as a DuckDB database: {message}")


def open_database(path: str | os.PathLike) -> Database:
    """Open a SQLite or DuckDB file read-only, detecting which by its header bytes."""
    path = Path(path).expanduser()
    kind = detect_kind(path)
    return SQLiteDatabase(path) if kind == "sqlite" else DuckDBDatabase(path)
