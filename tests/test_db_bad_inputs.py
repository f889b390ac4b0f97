"""Every way an analyst's file can be unusable gets its own clear error, and nothing is written."""

from __future__ import annotations

import os
import struct
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.db import open_database
from engine.db import errors as e


def test_missing_file(tmp_path):
    with pytest.raises(e.DatabaseNotFound, match="No such file"):
        open_database(tmp_path / "nope.sqlite")


def test_directory(tmp_path):
    with pytest.raises(e.NotAFile, match="is a folder"):
        open_database(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    with pytest.raises(e.EmptyDatabaseFile, match="empty"):
        open_database(path)


def test_text_file(tmp_path):
    path = tmp_path / "sales.sqlite"  # the extension lies; the header decides
    path.write_text("order_id,amount\n1,9.99\n")
    with pytest.raises(e.NotADatabase, match="text file.*order_id"):
        open_database(path)


def test_truncated_sqlite(demo_sqlite):
    data = demo_sqlite.read_bytes()
    demo_sqlite.write_bytes(data[: len(data) // 2])
    with pytest.raises(e.CorruptDatabase, match="truncated"):
        open_database(demo_sqlite)


def test_sqlite_with_garbled_schema_page(tiny_sqlite):
    data = bytearray(tiny_sqlite.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # page 1 after the header holds sqlite_master
    tiny_sqlite.write_bytes(bytes(data))
    with pytest.raises(e.CorruptDatabase, match="corrupt"):
        open_database(tiny_sqlite)


def test_truncated_duckdb(demo_duckdb):
    data = demo_duckdb.read_bytes()
    demo_duckdb.write_bytes(data[:5000])
    with pytest.raises(e.CorruptDatabase, match="could not be read as a DuckDB database"):
        open_database(demo_duckdb)


def _duckdb_header_checksum(block: bytes) -> int:
    """DuckDB's block checksum (src/common/checksum.cpp): xor of u64 words times a constant."""
    result = 5381
    for (word,) in struct.iter_unpack("<Q", block):
        result ^= (word * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    return result


def test_duckdb_from_a_newer_version(demo_duckdb):
    # Rewrite the storage version after the DUCK magic, and the header checksum that covers it, as
    # a DuckDB from the future would write them.
    data = bytearray(demo_duckdb.read_bytes())
    data[12:20] = (1000).to_bytes(8, "little")
    data[0:8] = _duckdb_header_checksum(bytes(data[8:4096])).to_bytes(8, "little")
    demo_duckdb.write_bytes(bytes(data))
    with pytest.raises(e.UnsupportedDatabaseVersion, match="newer DuckDB.*storage version 1000"):
        open_database(demo_duckdb)


def test_unreadable_permissions(tiny_sqlite, monkeypatch):
    if os.geteuid() != 0:
        tiny_sqlite.chmod(0)
    else:  # root reads anything; make the open itself fail the way it does for a normal user
        real_open = open

        def deny(path, *args, **kwargs):
            if Path(path) == tiny_sqlite:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr("builtins.open", deny)
    with pytest.raises(e.DatabasePermissionDenied, match="Permission denied"):
        open_database(tiny_sqlite)


def test_sqlite_locked_by_a_writer(tiny_sqlite):
    writer = sqlite3.connect(tiny_sqlite, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("INSERT INTO teams VALUES (3, 'Green')")
    try:
        from engine.db.database import SQLiteDatabase

        with pytest.raises(e.DatabaseLocked, match="locked by another program"):
            SQLiteDatabase(tiny_sqlite, busy_timeout_s=0.1)
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_duckdb_locked_by_a_writer(demo_duckdb):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(demo_duckdb)!r})
            print("ready", flush=True)
            sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(e.DatabaseLocked, match="locked by another program"):
            open_database(demo_duckdb)
    finally:
        holder.communicate("\n", timeout=30)


def test_error_messages_are_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("hello\nworld\n")
    for target in (tmp_path / "missing.db", tmp_path, tmp_path / "notes.txt"):
        with pytest.raises(e.DatabaseError) as info:
            open_database(target)
        assert "\n" not in str(info.value) and "Traceback" not in str(info.value)
