"""The user's Engram folder (projects, model cache, runs); ENGRAM_HOME overrides it."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def user_data_dir() -> Path:
    override = os.environ.get("ENGRAM_HOME")
    path = Path(override) if override else Path(platformdirs.user_data_dir("Engram", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def model_cache_dir() -> Path:
    path = user_data_dir() / "model-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path
