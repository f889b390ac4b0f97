"""Tell a SQLite file from a DuckDB file by its header bytes, and turn every way a path can be
unusable (missing, a folder, empty, unreadable, text, truncated) into a specific error before any
database library touches it. The extension is never trusted: analysts rename files.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Literal

from engine.db.errors import (
    CorruptDatabase,
    DatabaseNotFound,
    DatabasePermissionDenied,
    EmptyDatabaseFile,
    NotADatabase,
    NotAFile,
)

DatabaseKind = Literal["sqlite", "duckdb"]

SQLITE_MAGIC = b"SQLite format 3\x00"
DUCKDB_MAGIC = b"DUCK"  # at offset 8, after an 8-byte checksum
HEADER_BYTES = 100


def _describe_content(head: bytes) -> str:
    """A short human description of what the file seems to be instead of a database."""
    if head.startswith(b"PK\x03\x04"):
        return "it looks like a ZIP archive (an .xlsx or .zip?)"
    if head.startswith(b"%PDF"):
        return "it looks like a PDF document"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "its first bytes match no known database format"
    first_line = text.strip().splitlines()[0][:40] if text.strip() else ""
    return f"it looks like a text file (starts with {first_line!r})"


def read_header(path: Path) -> bytes:
    """The first bytes of `path`, after checking it is a readable, non-empty regular file."""
    if not path.exists():
        raise DatabaseNotFound(f"No such file: {path}")
    if path.is_dir():
        raise NotAFile(f"{path} is a folder; choose a .sqlite/.db or .duckdb file inside it")
    if not path.is_file():
        raise NotAFile(f"{path} is not a regular file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEADER_BYTES)
    except PermissionError:
        raise DatabasePermissionDenied(
            f"Permission denied reading {path}: ask for read access or copy the file somewhere you own"
        ) from None
    if not head:
        raise EmptyDatabaseFile(f"{path} is empty (0 bytes), so it holds no database")
    return head


def _check_sqlite_size(path: Path, head: bytes) -> None:
    """Catch a truncated SQLite file from its header (page size x page count vs file size)."""
    if len(head) < HEADER_BYTES:
        raise CorruptDatabase(f"{path} is truncated: only {len(head)} bytes, less than a SQLite header")
    page_size = struct.unpack(">H", head[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    change_counter, page_count, valid_for = (
        struct.unpack(">I", head[24:28])[0],
        struct.unpack(">I", head[28:32])[0],
        struct.unpack(">I", head[92:96])[0],
    )
    if page_count and change_counter == valid_for:  # the in-header size is trustworthy
        expected = page_size * page_count
        actual = os.path.getsize(path)
        if actual < expected:
            raise CorruptDatabase(
                f"{path} is truncated: its header says {expected:,} bytes but the file has "
                f"{actual:,}; restore it from a complete copy"
            )


def detect_kind(path: str | os.PathLike) -> DatabaseKind:
    """'sqlite' or 'duckdb' from the file's magic bytes, or a specific error saying why not."""
    path = Path(path)
    head = read_header(path)
    if head.startswith(SQLITE_MAGIC):
        _check_sqlite_size(path, head)
        return "sqlite"
    if head[8:12] == DUCKDB_MAGIC:
        return "duckdb"
    if SQLITE_MAGIC.startswith(head):
        raise CorruptDatabase(f"{path} is truncated: it ends inside the database header")
    raise NotADatabase(f"{path} is not a SQLite or DuckDB database: {_describe_content(head)}")


def duckdb_storage_version(head: bytes) -> int:
    """The storage version number a DuckDB file header declares (little-endian u64 after the magic)."""
    return struct.unpack("<Q", head[12:20])[0]
