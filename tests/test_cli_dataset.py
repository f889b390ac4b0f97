"""The dataset commands on the demo database: generate → curate → validate → export."""

from __future__ import annotations

import json

from app.cli import main
from app.projects import default_project_path
from engine.project import ProjectStore


def test_generate_curate_export(demo_duckdb, tmp_path, capsys):
    args = ["generate", str(demo_duckdb), "--approve-valid", "--dedupe", "--split", "0.2", "--paraphrase"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "templates: " in out and "split: eval" in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.split()[:1] in (["sql"], ["data"], ["schema"])}
    assert set(lines) == {"schema", "data", "sql"}
    assert all(int(row[1]) > 0 for row in lines.values()), "approved counts per kind"
    project = default_project_path(demo_duckdb)
    assert project.is_file()

    assert main(["validate", "--database", str(demo_duckdb)]) == 0
    assert "sql     ok" in capsys.readouterr().out

    train = tmp_path / "train.jsonl"
    assert main(["export-data", "--database", str(demo_duckdb), "--out", str(train), "--split", "train"]) == 0
    records = [json.loads(line) for line in train.read_text().splitlines()]
    with ProjectStore(project) as store:
        assert len(records) == store.count_pairs("split = 'train' AND status = 'approved'") > 300
    assert all(r["messages"][-1]["role"] == "assistant" for r in records)

    csv_out = tmp_path / "all.csv"
    assert main(["export-data", "--database", str(demo_duckdb), "--out", str(csv_out), "--status", ""]) == 0
    assert csv_out.read_text().startswith("id,kind,question,answer,sql")


def test_import_then_export(demo_sqlite, tmp_path, capsys):
    source = tmp_path / "mine.jsonl"
    source.write_text(json.dumps({"question": "What does PLT mean?", "answer": "Platinum"}) + "\n"
                      + json.dumps({"question": "Orders?", "answer": "SELECT COUNT(*) FROM orders", "kind": "sql"}) + "\n")
    project = tmp_path / "p.engram"
    assert main(["import-data", str(source), "--project", str(project), "--database", str(demo_sqlite)]) == 0
    with ProjectStore(project) as store:
        pairs = store.pairs()
        assert [(p.source, p.validation) for p in pairs] == [("import", None), ("import", "ok")]


def test_tune_from_a_project_records_the_run(demo_sqlite, tmp_path, tiny_model_dir, capsys):
    project = tmp_path / "p.engram"
    assert main(["generate", str(demo_sqlite), "--project", str(project), "--approve-valid"]) == 0
    with ProjectStore(project) as store:  # keep the run short: train on a handful of pairs
        keep = store.pair_ids("status = 'approved' AND split = 'train' AND kind = 'schema'")[:6]
        store.update_pairs(store.pair_ids(f"id NOT IN ({','.join(map(str, keep))})"), status="rejected")
    capsys.readouterr()
    run_dir = tmp_path / "run"
    code = main(["tune", "--project", str(project), "--run-dir", str(run_dir), "--model", str(tiny_model_dir),
                 "--max-steps", "2", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    events = [json.loads(line) for line in out.out.splitlines()]
    assert events[0]["event"] == "started" and events[-1]["event"] == "finished"
    assert "finished (reason=step budget, step=2" in out.err
    with ProjectStore(project) as store:
        [run] = store.runs()
        assert run["status"] == "finished" and run["folder"] == str(run_dir)
        assert set(store.fact_scores(run["id"])) == set(keep)
        assert store.artifacts(run["id"])[0]["kind"] == "adapter"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["database_name"] == "lumen" and config["dialect"] == "sqlite"


def test_eval_cli_on_an_external_benchmark(demo_duckdb, tmp_path, capsys):
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"question": "How many orders are there?", "gold_sql": "SELECT COUNT(*) FROM orders"}) + "\n")
    report = tmp_path / "report.json"
    assert main(["eval", "--pairs", str(bench), "--database", str(demo_duckdb), "--no-general", "--out", str(report)]) == 0
    out = capsys.readouterr().out
    assert "execution_accuracy" in out
    data = json.loads(report.read_text())
    assert data["reports"][0]["examples"][0]["gold"] == "SELECT COUNT(*) FROM orders"


def test_ask_prints_sql_and_what_happened(demo_sqlite, capsys):
    code = main(["ask", "How many orders are there?", "--database", str(demo_sqlite), "--attempts", "1", "--no-sketch"])
    out = capsys.readouterr().out
    assert out.startswith("SQL (greedy): ") and "  -> " in out
    assert code in (0, 1) and ("Answer:" in out) == (code == 0)
