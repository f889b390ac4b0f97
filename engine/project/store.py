"""The project store: one SQLite file per project holding everything Engram makes for one
analyst database — the source path, QA pairs, training runs, per-fact scores, evaluations and
artefact paths.

Durability rules:
1) WAL journal with synchronous=FULL, so a committed edit survives the process being killed
   (tests kill a writer with SIGKILL and check nothing committed is lost);
2) every public write runs in its own transaction (`with self._tx()`), all or nothing;
3) the schema carries a version (PRAGMA user_version) and `MIGRATIONS` upgrades old files in
   order, each step inside a transaction.
This is Engram's own file; the analyst's database is never written (see engine/db).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator

from engine.errors import EngramError
from engine.project.pairs import QAPair

SCHEMA_VERSION = 1

MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE qa_pairs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    sql TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    split TEXT NOT NULL DEFAULT 'train',
    source TEXT NOT NULL DEFAULT 'manual',
    intent TEXT,
    tables TEXT,
    template TEXT,
    validation TEXT,
    validation_message TEXT,
    result_hash TEXT,
    result_preview TEXT,
    paraphrase_of INTEGER REFERENCES qa_pairs(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX qa_pairs_kind ON qa_pairs(kind);
CREATE INDEX qa_pairs_status ON qa_pairs(status);
CREATE INDEX qa_pairs_split ON qa_pairs(split);
CREATE INDEX qa_pairs_intent ON qa_pairs(intent);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    method TEXT NOT NULL,
    status TEXT NOT NULL,
    folder TEXT,
    config_json TEXT NOT NULL,
    summary_json TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE fact_scores (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    pair_id INTEGER NOT NULL REFERENCES qa_pairs(id) ON DELETE CASCADE,
    loss REAL,
    recalled INTEGER,
    PRIMARY KEY (run_id, pair_id)
);
CREATE TABLE evaluations (
    id INTEGER PRIMARY KEY,
    run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    model TEXT NOT NULL,
    summary_json TEXT NOT NULL,
    report_path TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY,
    run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    meta_json TEXT,
    created_at TEXT NOT NULL
);
""",
}

_PAIR_COLUMNS = [name for name in QAPair.field_names() if name != "id"]
_EDITABLE = set(_PAIR_COLUMNS) - {"created_at", "updated_at"}


class ProjectError(EngramError):
    pass


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


class ProjectStore:
    """A project file, opened for reading and writing by one process at a time (others may read)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if self.path.exists() and self.path.is_dir():
            raise ProjectError(f"{self.path} is a folder, not an Engram project file")
        try:
            self._con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
            self._con.row_factory = sqlite3.Row
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=FULL")
            self._con.execute("PRAGMA foreign_keys=ON")
            self._lock = threading.RLock()
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise ProjectError(f"{self.path} is not a usable Engram project: {error}") from None

    # -- lifecycle -------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike, source_db: str | os.PathLike | None = None,
               name: str | None = None) -> "ProjectStore":
        path = Path(path)
        if path.exists():
            raise ProjectError(f"{path} already exists; open it instead of creating it")
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(path)
        store.set_meta("name", name or path.stem)
        store.set_meta("created_at", _now())
        if source_db is not None:
            store.set_meta("source_db", str(Path(source_db).resolve()))
        return store

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> "ProjectStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return self._con.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise ProjectError(
                f"{self.path} was written by a newer Engram (project schema {version}, this one "
                f"knows {SCHEMA_VERSION}); update Engram to open it"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self._tx() as con:
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        con.execute(statement)
                con.execute(f"PRAGMA user_version = {target}")

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: committed on success, rolled back on any error. Nested
        calls (a bulk write built from single writes) join the outer transaction."""
        with self._lock:
            if self._con.in_transaction:
                yield self._con
                return
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    # -- meta ------------------------------------------------------------------------------------
    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as con:
            con.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (key, value))

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    @property
    def source_db(self) -> Path | None:
        value = self.get_meta("source_db")
        return Path(value) if value else None

    # -- QA pairs --------------------------------------------------------------------------------
    def add_pairs(self, pairs: Iterable[QAPair]) -> list[int]:
        """Insert pairs in one transaction; returns their new ids (also set on the objects)."""
        now = _now()
        ids = []
        placeholders = ",".join("?" * len(_PAIR_COLUMNS))
        with self._tx() as con:
            for pair in pairs:
                pair.created_at = pair.created_at or now
                pair.updated_at = now
                values = [getattr(pair, c) for c in _PAIR_COLUMNS]
                if pair.id is None:
                    cursor = con.execute(
                        f"INSERT INTO qa_pairs({','.join(_PAIR_COLUMNS)}) VALUES ({placeholders})", values)
                else:  # re-inserting a deleted pair (undo) keeps its id
                    cursor = con.execute(
                        f"INSERT INTO qa_pairs(id,{','.join(_PAIR_COLUMNS)}) VALUES (?,{placeholders})",
                        [pair.id, *values])
                pair.id = cursor.lastrowid
                ids.append(pair.id)
        return ids

    def update_pair(self, pair_id: int, **changes: Any) -> QAPair:
        """Change some fields of one pair; validated through QAPair before anything is written."""
        return self.update_pairs([pair_id], **changes)[0]

    def update_pairs(self, pair_ids: Iterable[int], **changes: Any) -> list[QAPair]:
        unknown = set(changes) - _EDITABLE
        if unknown:
            raise ProjectError(f"Cannot edit QA pair field(s): {', '.join(sorted(unknown))}")
        updated = []
        with self._tx() as con:
            for pair_id in pair_ids:
                current = self.get_pair(pair_id)
                candidate = QAPair(**{**current.to_dict(), **changes})  # validates enums
                candidate.updated_at = _now()
                assignments = ", ".join(f"{k} = ?" for k in [*changes, "updated_at"])
                con.execute(f"UPDATE qa_pairs SET {assignments} WHERE id = ?",
                            [*changes.values(), candidate.updated_at, pair_id])
                updated.append(candidate)
        return updated

    def update_pairs_each(self, changes_by_id: dict[int, dict[str, Any]]) -> None:
        """Different changes per pair, all in one transaction (undo of a bulk edit)."""
        with self._tx():
            for pair_id, changes in changes_by_id.items():
                if changes:
                    self.update_pairs([pair_id], **changes)

    def delete_pairs(self, pair_ids: Iterable[int]) -> int:
        ids = list(pair_ids)
        with self._tx() as con:
            con.executemany("DELETE FROM qa_pairs WHERE id = ?", [(i,) for i in ids])
        return len(ids)

    def get_pair(self, pair_id: int) -> QAPair:
        row = self._con.execute("SELECT * FROM qa_pairs WHERE id = ?", (pair_id,)).fetchone()
        if row is None:
            raise ProjectError(f"No QA pair with id {pair_id}")
        return QAPair(**dict(row))

    def pairs(self, where: str = "", params: Iterable[Any] = (), order_by: str = "id",
              limit: int | None = None, offset: int = 0) -> list[QAPair]:
        """Pairs matching an SQL condition over qa_pairs columns (built by engine code, never user text)."""
        sql = "SELECT * FROM qa_pairs" + (f" WHERE {where}" if where else "") + f" ORDER BY {order_by}"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return [QAPair(**dict(row)) for row in self._con.execute(sql, list(params))]

    def pair_ids(self, where: str = "", params: Iterable[Any] = (), order_by: str = "id") -> list[int]:
        sql = "SELECT id FROM qa_pairs" + (f" WHERE {where}" if where else "") + f" ORDER BY {order_by}"
        return [row[0] for row in self._con.execute(sql, list(params))]

    def count_pairs(self, where: str = "", params: Iterable[Any] = ()) -> int:
        sql = "SELECT COUNT(*) FROM qa_pairs" + (f" WHERE {where}" if where else "")
        return self._con.execute(sql, list(params)).fetchone()[0]

    def counts_by(self, *columns: str) -> dict[tuple, int]:
        """e.g. counts_by('kind', 'status') -> {('sql', 'approved'): 120, ...}"""
        bad = set(columns) - set(_PAIR_COLUMNS)
        if bad:
            raise ProjectError(f"Unknown QA pair column(s): {', '.join(sorted(bad))}")
        cols = ", ".join(columns)
        rows = self._con.execute(f"SELECT {cols}, COUNT(*) FROM qa_pairs GROUP BY {cols} ORDER BY {cols}")
        return {tuple(row[:-1]): row[-1] for row in rows}

    # -- runs, scores, evaluations, artefacts ----------------------------------------------------
    def add_run(self, name: str, method: str, config: dict[str, Any], folder: str | None = None,
                status: str = "created") -> int:
        with self._tx() as con:
            cursor = con.execute(
                "INSERT INTO runs(name, method, status, folder, config_json, created_at) VALUES (?,?,?,?,?,?)",
                (name, method, status, folder, json.dumps(config), _now()))
        return cursor.lastrowid

    def update_run(self, run_id: int, status: str | None = None, summary: dict[str, Any] | None = None,
                   finished: bool = False) -> None:
        with self._tx() as con:
            if status is not None:
                con.execute("UPDATE runs SET status = ? WHERE id = ?", (status, run_id))
            if summary is not None:
                con.execute("UPDATE runs SET summary_json = ? WHERE id = ?", (json.dumps(summary), run_id))
            if finished:
                con.execute("UPDATE runs SET finished_at = ? WHERE id = ?", (_now(), run_id))

    def runs(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self._con.execute("SELECT * FROM runs ORDER BY id")]

    def set_fact_scores(self, run_id: int, scores: Iterable[tuple[int, float | None, bool | None]]) -> None:
        with self._tx() as con:
            con.executemany(
                "INSERT INTO fact_scores(run_id, pair_id, loss, recalled) VALUES (?,?,?,?) "
                "ON CONFLICT(run_id, pair_id) DO UPDATE SET loss = excluded.loss, recalled = excluded.recalled",
                [(run_id, pid, loss, None if rec is None else int(rec)) for pid, loss, rec in scores])

    def fact_scores(self, run_id: int) -> dict[int, tuple[float | None, bool | None]]:
        rows = self._con.execute("SELECT pair_id, loss, recalled FROM fact_scores WHERE run_id = ?", (run_id,))
        return {pid: (loss, None if rec is None else bool(rec)) for pid, loss, rec in rows}

    def add_evaluation(self, model: str, summary: dict[str, Any], run_id: int | None = None,
                       report_path: str | None = None) -> int:
        with self._tx() as con:
            cursor = con.execute(
                "INSERT INTO evaluations(run_id, model, summary_json, report_path, created_at) VALUES (?,?,?,?,?)",
                (run_id, model, json.dumps(summary), report_path, _now()))
        return cursor.lastrowid

    def evaluations(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self._con.execute("SELECT * FROM evaluations ORDER BY id")]

    def add_artifact(self, kind: str, path: str, run_id: int | None = None,
                     meta: dict[str, Any] | None = None) -> int:
        with self._tx() as con:
            cursor = con.execute(
                "INSERT INTO artifacts(run_id, kind, path, meta_json, created_at) VALUES (?,?,?,?,?)",
                (run_id, kind, path, json.dumps(meta) if meta else None, _now()))
        return cursor.lastrowid

    def artifacts(self, run_id: int | None = None) -> list[dict[str, Any]]:
        if run_id is None:
            rows = self._con.execute("SELECT * FROM artifacts ORDER BY id")
        else:
            rows = self._con.execute("SELECT * FROM artifacts WHERE run_id = ? ORDER BY id", (run_id,))
        return [dict(row) for row in rows]
