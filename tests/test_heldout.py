"""The held-out analyst questions (evals/): they load, their gold SQL runs the same on both engines,
they cover every construct, bad files are refused with a line number, and they never train."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import shutil
from pathlib import Path

import pytest

from engine.db import open_database
from engine.errors import EngramError
from engine.eval.evaluate import evaluate, format_summary
from engine.project import ProjectStore
from engine.project.pairs import QAPair
from engine.qa.chat_format import PromptContext
from engine.qa.generate import generate_template_pairs
from engine.qa.heldout import CONSTRUCTS, EVALS_DIR, HeldOutIndex, heldout_pairs, load_heldout
from engine.qa.split import add_paraphrases, apply_split
from engine.tune.config import TuneConfig
from engine.tune.data import load_pairs
from engine.tune.prepare import prepare_run

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo"
SETS = {"lumen": 100, "kestrel": 60}  # the least number of questions each set must have


def _normalize(value):
    if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        return round(float(value), 6)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return value


@pytest.mark.parametrize("name", sorted(SETS))
def test_set_runs_the_same_on_both_engines_and_covers_every_construct(name):
    path = EVALS_DIR / f"{name}.jsonl"
    with open_database(DEMO / f"{name}.sqlite") as lite, open_database(DEMO / f"{name}.duckdb") as duck:
        questions = load_heldout(path, lite)
        assert load_heldout(path, duck) == questions  # every gold SQL also runs on the DuckDB twin
        for q in questions:
            a = lite.query(q.gold_for("sqlite"), max_rows=10_000).rows
            b = duck.query(q.gold_for("duckdb"), max_rows=10_000).rows
            key = lambda row: [str(_normalize(v)) for v in row]  # noqa: E731
            assert sorted(map(key, a)) == sorted(map(key, b)), q.id
    assert len(questions) >= SETS[name]
    counts = {c: sum(c in q.constructs for q in questions) for c in CONSTRUCTS}
    assert all(n >= 4 for n in counts.values()), counts
    assert all(q.constructs for q in questions)
    assert sum("join" in q.constructs for q in questions) >= len(questions) // 4


def _write(tmp_path, *records) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_bad_held_out_files_are_refused_with_their_line_number(tmp_path, demo_sqlite):
    good = {"id": "a", "question": "How many orders?", "gold_sql": "SELECT COUNT(*) FROM orders",
            "constructs": ["aggregate"]}
    with open_database(demo_sqlite) as db:
        assert len(load_heldout(_write(tmp_path, good), db)) == 1
        cases = [
            ({"id": "b", "question": "x", "gold_sql": "SELECT nope FROM orders", "constructs": []},
             r"line 2: the gold SQL does not run on lumen.sqlite.*nope"),
            ({"id": "b", "question": "x", "gold_sql": "DELETE FROM orders", "constructs": []},
             r"line 2: the gold SQL is not a read-only query"),
            ({"id": "b", "question": "x", "gold_sql": "SELEC 1", "constructs": []}, r"line 2: the gold SQL does not parse"),
            ({"id": "b", "question": "x", "gold_sql": "SELECT 1", "constructs": ["pivot"]}, r"line 2: unknown construct 'pivot'"),
            ({"id": "a", "question": "x", "gold_sql": "SELECT 1", "constructs": []}, r"line 2: id 'a' is used twice"),
            ({"question": "x"}, r"line 2: expected"),
        ]
        for record, message in cases:
            with pytest.raises(EngramError, match=message):
                load_heldout(_write(tmp_path, good, record), db)
        before = demo_sqlite.read_bytes()
    assert demo_sqlite.read_bytes() == before  # refusing a DELETE never ran it


@pytest.mark.parametrize("name", sorted(SETS))
def test_generated_and_trained_pairs_never_contain_a_held_out_question(name, tmp_path):
    database = Path(shutil.copy2(DEMO / f"{name}.sqlite", tmp_path / f"{name}.sqlite"))
    questions = load_heldout(EVALS_DIR / f"{name}.jsonl")
    index = HeldOutIndex.of(questions, "sqlite")
    with open_database(database) as db, ProjectStore.create(tmp_path / "p.engram", database) as store:
        generate_template_pairs(store, db, paraphrases=2)
        apply_split(store, 0.2, seed=0)
        add_paraphrases(store)
        generated = store.pairs()
        assert generated and not [p.question for p in generated if index.leaks(p, "sqlite")]
        # a held-out question the analyst approved into the project anyway never reaches training
        q = questions[0]
        store.add_pairs([QAPair(q.question, q.gold_sql, kind="sql", status="approved"),
                         QAPair(q.question.upper() + "!!", "1", kind="data", status="approved"),
                         QAPair("other wording", q.gold_sql.replace("SELECT", "select"), kind="sql", status="approved")])
        store.update_pairs(store.pair_ids("split = 'train'"), status="approved")
        config, _ = prepare_run(store, TuneConfig(), tmp_path / "run")
    trained = load_pairs(config.data)
    assert trained and not [p.question for p in trained if index.leaks(p, "sqlite")]
    assert len(trained) == len([p for p in generated if p.split == "train"])


def test_evaluation_scores_held_out_questions_per_construct(demo_sqlite):
    questions = load_heldout(EVALS_DIR / "lumen.jsonl")

    class Oracle:  # right on the first ten questions, made-up SQL on the rest
        name = "oracle"

        def predict(self, messages, max_tokens):
            asked = messages[-1]["content"]
            right = {q.question: q.gold_sql for q in questions[:10]}
            return right.get(asked, "SELECT * FROM made_up_table")

    with open_database(demo_sqlite) as db:
        pairs, constructs = heldout_pairs(questions, db.dialect)
        report = evaluate(Oracle(), pairs, db, PromptContext("lumen"), general=False, constructs=constructs)
    summary = report.summary()
    assert summary["execution_accuracy"] == pytest.approx(10 / len(questions), abs=1e-4)
    assert summary["errors"] == {"unknown_table": len(questions) - 10}
    for construct in {c for q in questions for c in q.constructs}:
        group = summary["by_group"][f"construct:{construct}"]
        assert group["total"] == sum(construct in q.constructs for q in questions)
        assert group["correct"] == sum(construct in q.constructs for q in questions[:10])
    assert "construct:join" in format_summary([report])


def test_cli_refuses_a_bad_held_out_file_in_one_line_before_loading_a_model(tmp_path, demo_sqlite, capsys):
    from app.cli import main

    bad = _write(tmp_path, {"id": "a", "question": "q", "gold_sql": "SELECT nope FROM orders", "constructs": []})
    assert main(["eval", "--heldout", str(bad), "--database", str(demo_sqlite), "--model", "bundled"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "set.jsonl line 1: the gold SQL does not run on lumen.sqlite" in err
