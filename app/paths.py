"""Where Engram's files live: shipped resources (demo database) and the user's data folder."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
DEMO_SQLITE = RESOURCES / "demo" / "lumen.sqlite"
DEMO_DUCKDB = RESOURCES / "demo" / "lumen.duckdb"


def user_data_dir() -> Path:
    """Projects, caches and logs; ENGRAM_HOME overrides it (tests, portable installs)."""
    override = os.environ.get("ENGRAM_HOME")
    path = Path(override) if override else Path(platformdirs.user_data_dir("Engram", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path
