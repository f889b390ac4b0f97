"""Every metric and error kind with known-good and known-bad predictions, on the demo database."""

from __future__ import annotations

import json

import pytest

from engine.db import open_database
from engine.eval.evaluate import EvalReport, compare, evaluate, format_summary, load_benchmark, write_report
from engine.eval.general_set import GENERAL_SET
from engine.eval.metrics import same_result, score_fact, score_sql
from engine.project.pairs import QAPair
from engine.qa.chat_format import PromptContext


@pytest.mark.parametrize("prediction, correct, error, normalized", [
    ("customers.email", True, None, True),
    ("Customers.Email.", False, "near_miss", True),
    ("customers.emails", False, "near_miss", False),
    ("I'm sorry, I cannot answer that.", False, "refusal", False),
    ("", False, "garbage", False),
    ("!!! ### ???", False, "garbage", False),
    ("orders.total_amount", False, "wrong_fact", False),
])
def test_fact_scores(prediction, correct, error, normalized):
    score = score_fact(prediction, "customers.email")
    assert (score.correct, score.error, score.normalized_match) == (correct, error, normalized)


GOLD = "SELECT channel, COUNT(*) AS n FROM orders GROUP BY channel"


@pytest.mark.parametrize("prediction, correct, error, valid", [
    (GOLD, True, None, True),
    ("SELECT channel, COUNT(order_id) FROM orders GROUP BY 1 ORDER BY 2", True, None, True),  # order ignored
    ("SELEC channel FROM orders", False, "syntax", False),
    ("SELECT channel, COUNT(* FROM orders GROUP BY channel", False, "syntax", False),
    ("SELECT channel, COUNT(*) FROM purchases GROUP BY channel", False, "unknown_table", False),
    ("SELECT chanel, COUNT(*) FROM orders GROUP BY chanel", False, "unknown_column", False),
    ("SELECT channel, COUNTIF(*) FROM orders GROUP BY channel", False, "dialect_function", False),
    ("DELETE FROM orders", False, "not_read_only", False),
    ("SELECT channel, COUNT(*) FROM orders WHERE channel = 'fax' GROUP BY channel", False, "empty_result", True),
    ("SELECT status_code, COUNT(*) FROM orders GROUP BY status_code", False, "wrong_result", True),
])
def test_sql_scores_by_execution(demo_db, prediction, correct, error, valid):
    with open_database(demo_db) as db:
        score = score_sql(db, prediction, GOLD)
    assert (score.correct, score.error, score.valid_sql) == (correct, error, valid), score.detail


def test_order_matters_only_when_gold_orders(demo_sqlite):
    gold = "SELECT status_code FROM order_statuses ORDER BY status_code"
    with open_database(demo_sqlite) as db:
        assert score_sql(db, "SELECT status_code FROM order_statuses ORDER BY status_code", gold).correct
        assert not score_sql(db, "SELECT status_code FROM order_statuses ORDER BY status_code DESC", gold).correct
        assert score_sql(db, gold, gold).exact_sql
        assert not score_sql(db, "SELECT status_code FROM order_statuses ORDER BY 1", gold).exact_sql


def test_float_tolerance():
    assert same_result([(1, 0.30000000000000004)], [(1, 0.3)], ordered=False)
    assert not same_result([(1, 0.31)], [(1, 0.3)], ordered=False)


class Scripted:
    """Known predictions: a model that answers from a dict."""

    def __init__(self, name, answers):
        self.name, self.answers = name, answers

    def predict(self, messages, max_tokens):
        return self.answers.get(messages[-1]["content"], "I don't know")


PAIRS = [
    QAPair("Where are emails?", "customers.email", kind="schema", id=1, tables="customers"),
    QAPair("How many orders?", "2400", kind="data", id=2, tables="orders"),
    QAPair("Orders per channel?", GOLD, kind="sql", id=3, tables="orders", split="eval"),
]


def test_base_vs_tuned_report(demo_sqlite, tmp_path):
    base = Scripted("base", {"Where are emails?": "users.email", "Orders per channel?": "SELECT * FROM sales",
                             "What is the capital of Japan?": "Tokyo."})
    tuned = Scripted("tuned", {"Where are emails?": "customers.email", "How many orders?": "2400",
                               "Orders per channel?": "```sql\n" + GOLD + ";\n```",
                               "What is the capital of Japan?": "The capital is Tokyo."})
    with open_database(demo_sqlite) as db:
        context = PromptContext("lumen", "sqlite")
        reports = [evaluate(base, PAIRS, db, context), evaluate(tuned, PAIRS, db, context)]
    b, t = reports[0].summary(), reports[1].summary()
    assert (b["fact_recall"], t["fact_recall"]) == (0.0, 1.0)
    assert (b["execution_accuracy"], t["execution_accuracy"]) == (0.0, 1.0)
    assert b["errors"] == {"near_miss": 1, "refusal": 1, "unknown_table": 1}  # users.email: a near miss
    # Scripted says "I don't know" to every other prompt: it passes only the refusal-worthy ones
    declined = sum(p.passes("I don't know") for p in GENERAL_SET if p.prompt != "What is the capital of Japan?")
    assert all(p.category == "refusal" for p in GENERAL_SET if p.passes("I don't know"))
    assert b["general_ability"] == t["general_ability"] == pytest.approx((1 + declined) / len(GENERAL_SET), abs=1e-4)
    assert t["general_by_category"]["world"]["passed"] == 1
    assert t["by_group"]["table:orders"] == {"correct": 2, "total": 2, "accuracy": 1.0}
    assert [row["change"] for row in compare(*reports)] == ["fixed", "fixed", "fixed"]
    text = format_summary(reports)
    assert "fact_recall" in text and "100%" in text
    html = write_report(reports, tmp_path / "report.html").read_text()
    assert "class='fixed'" in html and "users.email" in html
    data = json.loads(write_report(reports, tmp_path / "report.json").read_text())
    assert data["reports"][1]["summary"]["execution_accuracy"] == 1.0


def test_external_benchmark(tmp_path, demo_duckdb):
    path = tmp_path / "bench.jsonl"
    path.write_text(json.dumps({"question": "Orders?", "gold_sql": "SELECT COUNT(*) FROM orders"}) + "\n")
    pairs = load_benchmark(path)
    assert pairs[0].kind == "sql" and pairs[0].sql == "SELECT COUNT(*) FROM orders"
    with open_database(demo_duckdb) as db:
        report = evaluate(Scripted("m", {"Orders?": "SELECT COUNT(order_id) FROM orders"}), pairs, db,
                          PromptContext("lumen", "duckdb"), general=False)
    assert report.summary()["execution_accuracy"] == 1.0
    path.write_text('{"question": "x"}\n')
    with pytest.raises(Exception, match="line 1"):
        load_benchmark(path)


def test_a_pathologically_nested_prediction_is_a_syntax_error_not_a_crash(demo_sqlite):
    """A model once answered with thousands of nested parentheses; sqlglot's parser ran out of stack and
    the whole evaluation died. It is one wrong answer."""
    nested = "SELECT " + "(" * 3000 + "1" + ")" * 3000
    with open_database(demo_sqlite) as db:
        report = evaluate(Scripted("m", {"Orders per channel?": nested}), PAIRS[2:], db,
                          PromptContext("lumen", "sqlite"), general=False)
        with pytest.raises(Exception, match="nested too deeply"):
            db.query(nested)
    assert report.summary()["errors"] == {"syntax": 1}
