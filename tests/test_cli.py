"""`engram` CLI: what a user types and sees."""

from __future__ import annotations

import subprocess
import sys

from app.cli import main
from app.paths import DEMO_DUCKDB, DEMO_SQLITE


def _schema_part(text: str) -> str:
    return text.split("\n", 1)[1]  # the first line names the file and engine


def test_inspect_sqlite_and_duckdb_twins_print_the_same_schema(capsys):
    assert main(["inspect", str(DEMO_SQLITE)]) == 0
    sqlite_out = capsys.readouterr().out
    assert main(["inspect", str(DEMO_DUCKDB)]) == 0
    duckdb_out = capsys.readouterr().out
    assert "table orders (2,400 rows)" in sqlite_out
    assert "status_code VARCHAR  NOT NULL -> order_statuses.status_code" in sqlite_out
    assert _schema_part(sqlite_out) == _schema_part(duckdb_out)


def test_inspect_with_samples(capsys):
    assert main(["inspect", str(DEMO_SQLITE), "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "-- order_statuses: first 2 rows" in out


def test_query_prints_rows_and_cap(capsys):
    assert main(["query", str(DEMO_DUCKDB), "SELECT order_id FROM orders ORDER BY order_id", "--max-rows", "3"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["order_id", "1", "2", "3"]
    assert "truncated" in captured.err


def test_errors_are_one_line_and_exit_2(tmp_path):
    text_file = tmp_path / "notes.db"
    text_file.write_text("id,name\n1,Ann\n")
    for args in (["inspect", str(text_file)], ["query", str(DEMO_SQLITE), "DELETE FROM orders"]):
        proc = subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True)
        assert proc.returncode == 2
        assert proc.stderr.startswith("engram: error: ")
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr


def test_demo_runs(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "Orders by status:" in out and "SmolLM2-135M-Instruct" in out


def test_frozen_build_starts_the_training_child_and_cli_through_its_one_executable(capsys, monkeypatch, tmp_path):
    """A PyInstaller build has no `python -m`: the app's executable takes --tune-child and --cli."""
    from app.bootstrap import main as app_main
    from engine.tune.process import child_command

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert child_command(tmp_path / "config.json", resume=True) == [
        sys.executable, "--tune-child", "--config", str(tmp_path / "config.json"), "--resume"]
    (tmp_path / "config.json").write_text("{not json")
    assert app_main(["Engram", "--tune-child", "--config", str(tmp_path / "config.json")]) == 1
    assert '"event": "failed"' in capsys.readouterr().out
    assert app_main(["Engram", "--cli", "inspect", str(DEMO_SQLITE)]) == 0
    assert "customers" in capsys.readouterr().out


def test_self_test_runs_offline(capsys):
    assert main(["self-test"]) == 0
    out = capsys.readouterr().out
    assert "bundled model: ok" in out and "self-test passed" in out
