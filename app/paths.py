"""Where Engram's files live: shipped resources (demo database) and the user's data folder."""

from __future__ import annotations

from pathlib import Path

from engine.paths import user_data_dir  # noqa: F401  (re-exported for the app)

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
DEMO_SQLITE = RESOURCES / "demo" / "lumen.sqlite"
DEMO_DUCKDB = RESOURCES / "demo" / "lumen.duckdb"
