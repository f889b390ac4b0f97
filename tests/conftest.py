"""Shared fixtures: copies of the shipped demo databases and small hand-made files in tmp_path."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/tiny_model.py
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the UI tests never need a display

from app.paths import DEMO_DUCKDB, DEMO_SQLITE


def pytest_collection_modifyitems(items):
    """A test that builds or trains a model (the tiny model fixture, directly or through another
    fixture) is `slow`: `make test-fast` leaves it out, `make test` runs everything."""
    for item in items:
        if "tiny_model_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep settings, projects and caches out of the real user folder."""
    monkeypatch.setenv("ENGRAM_HOME", str(tmp_path_factory.mktemp("engram-home")))


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """Each training run here is a new process as far as accelerate knows, as every run is in the app:
    its state is process-wide, and a test asking for the CPU after one that trained on a GPU would
    otherwise fail ("AcceleratorState has already been initialized")."""
    yield
    if "accelerate.state" in sys.modules:
        sys.modules["accelerate.state"].AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture
def demo_sqlite(tmp_path: Path) -> Path:
    return Path(shutil.copy2(DEMO_SQLITE, tmp_path / "lumen.sqlite"))


@pytest.fixture
def demo_duckdb(tmp_path: Path) -> Path:
    return Path(shutil.copy2(DEMO_DUCKDB, tmp_path / "lumen.duckdb"))


@pytest.fixture(params=["sqlite", "duckdb"])
def demo_db(request, demo_sqlite, demo_duckdb) -> Path:
    """The demo database in each engine."""
    return demo_sqlite if request.param == "sqlite" else demo_duckdb


@pytest.fixture
def tiny_sqlite(tmp_path: Path) -> Path:
    """Two tables with a foreign key; rollback-journal mode so a writer can lock readers out."""
    path = tmp_path / "tiny.db"
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE teams (team_id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, team_id INTEGER REFERENCES teams);
        INSERT INTO teams VALUES (1, 'Red'), (2, 'Blue');
        INSERT INTO people VALUES (1, 'Ann', 1), (2, 'Bob', 2), (3, 'Cy', NULL);
        """
    )
    con.commit()
    con.close()
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The bundled SmolLM2 cut to 2 layers (pretrained weights, real tokenizer), built once per session."""
    from tiny_model import truncated_bundled_model

    return truncated_bundled_model(tmp_path_factory.mktemp("models") / "smol-2-layers", layers=2)
