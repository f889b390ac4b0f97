"""The project store keeps every committed edit, even when the process is killed mid-write."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.project import ProjectStore
from engine.project.pairs import QAPair
from engine.project.store import SCHEMA_VERSION, ProjectError

ROOT = Path(__file__).resolve().parents[1]


def test_create_and_reopen_keeps_everything(tmp_path, demo_sqlite):
    path = tmp_path / "p.engram"
    with ProjectStore.create(path, source_db=demo_sqlite, name="Lumen") as store:
        ids = store.add_pairs([
            QAPair("Which table stores customer emails?", "customers.email", kind="schema", source="template"),
            QAPair("How many orders are there?", "SELECT COUNT(*) FROM orders", kind="sql", sql="SELECT COUNT(*) FROM orders"),
        ])
        store.update_pair(ids[0], status="approved")
        run = store.add_run("r1", "memory", {"lr": 0.002})
        store.set_fact_scores(run, [(ids[0], 0.01, True), (ids[1], 1.5, False)])
        store.add_evaluation("tuned", {"recall": 0.5}, run_id=run)
        store.add_artifact("adapter", str(tmp_path / "adapter"), run_id=run)
    with ProjectStore(path) as store:
        assert store.get_meta("name") == "Lumen"
        assert store.source_db == demo_sqlite.resolve()
        assert store.schema_version == SCHEMA_VERSION
        assert [p.status for p in store.pairs()] == ["approved", "pending"]
        assert store.counts_by("kind") == {("schema",): 1, ("sql",): 1}
        assert store.fact_scores(run) == {ids[0]: (0.01, True), ids[1]: (1.5, False)}
        assert store.evaluations()[0]["run_id"] == run
        assert store.artifacts(run)[0]["kind"] == "adapter"
        assert store._con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_invalid_edit_is_refused_and_changes_nothing(tmp_path):
    with ProjectStore.create(tmp_path / "p.engram") as store:
        [pid] = store.add_pairs([QAPair("q", "a")])
        with pytest.raises(ValueError, match="status must be one of"):
            store.update_pair(pid, status="maybe")
        with pytest.raises(ProjectError, match="Cannot edit"):
            store.update_pair(pid, id=7)
        assert store.get_pair(pid).status == "pending"


def test_failed_batch_is_all_or_nothing(tmp_path):
    with ProjectStore.create(tmp_path / "p.engram") as store:
        [pid] = store.add_pairs([QAPair("q", "a")])
        with pytest.raises(ProjectError):
            store.update_pairs([pid, 999], status="approved")  # second id does not exist
        assert store.get_pair(pid).status == "pending"


def test_deleted_pair_comes_back_with_its_id(tmp_path):
    with ProjectStore.create(tmp_path / "p.engram") as store:
        [pid] = store.add_pairs([QAPair("q", "a")])
        pair = store.get_pair(pid)
        store.delete_pairs([pid])
        assert store.count_pairs() == 0
        store.add_pairs([pair])
        assert store.get_pair(pid).question == "q"


def test_old_project_is_migrated(tmp_path):
    path = tmp_path / "old.engram"
    sqlite3.connect(path).close()  # version 0: an empty file from before the first schema
    with ProjectStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        store.add_pairs([QAPair("q", "a")])


def test_project_from_a_newer_engram_is_refused(tmp_path):
    path = tmp_path / "new.engram"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(ProjectError, match="newer Engram"):
        ProjectStore(path)


def test_not_a_project(tmp_path):
    path = tmp_path / "notes.engram"
    path.write_text("hello, this is text " * 50)
    with pytest.raises(ProjectError, match="not a usable Engram project"):
        ProjectStore(path)
    with pytest.raises(ProjectError, match="already exists"):
        ProjectStore.create(path)


def test_sigkill_mid_write_loses_no_committed_edit(tmp_path):
    """A child commits edits one by one and reports each after COMMIT; we SIGKILL it mid-stream.
    Every edit it reported must be in the file."""
    path = tmp_path / "p.engram"
    ProjectStore.create(path).close()
    child = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from engine.project import ProjectStore
        from engine.project.pairs import QAPair
        store = ProjectStore({str(path)!r})
        for i in range(100000):
            store.add_pairs([QAPair(f"question {{i}}", "x" * 2000)])
            print(i, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    reported = -1
    deadline = time.monotonic() + 60
    while reported < 200 and time.monotonic() < deadline:
        reported = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert reported >= 200
    with ProjectStore(path) as store:
        questions = {p.question for p in store.pairs()}
        assert all(f"question {i}" in questions for i in range(reported + 1))
        assert store._con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
