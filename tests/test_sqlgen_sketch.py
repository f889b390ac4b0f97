"""Queries sketched from what a question names: plainly worded questions get the query an analyst means,
on both engines, and the sketch joins the vote as one more candidate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.db import open_database
from engine.qa.chat_format import PromptContext
from engine.sqlgen.answer import AnswerSettings, answer_sql, chat_writer
from engine.sqlgen.examples import ExampleStore
from engine.sqlgen.grounding import SqlGrounding
from engine.sqlgen.schema_card import schema_card
from engine.sqlgen.sketch import sketch_queries
from scripted_chat import Scripted

KESTREL = Path(__file__).resolve().parents[1] / "resources" / "demo"


def rows(db, sql: str) -> list:
    return sorted(db.query(sql, max_rows=1000).rows, key=repr)


def sketched_rows(db, question: str) -> list:
    sketches = sketch_queries(db, question)
    assert sketches, f"no sketch for {question!r}"
    return rows(db, sketches[0])


@pytest.mark.parametrize("question, gold", [
    ("how many orders came through the marketplace", "SELECT COUNT(*) FROM orders WHERE channel = 'marketplace'"),
    ("how many products are not discontinued", "SELECT COUNT(*) FROM products WHERE is_discontinued = 0"),
    ("cheapest climbing product",
     "SELECT product_name FROM products WHERE category = 'Climbing' ORDER BY unit_price LIMIT 1"),
    ("orders per channel", "SELECT channel, COUNT(*) FROM orders GROUP BY channel"),
    ("how many Gold members", "SELECT COUNT(*) FROM customers c JOIN loyalty_tiers t ON c.tier_code = t.tier_code "
                              "WHERE t.tier_name = 'Gold'"),
    ("how many orders without a coupon", "SELECT COUNT(*) FROM orders WHERE coupon_code IS NULL"),
    ("how many signups in 2024", "SELECT COUNT(*) FROM customers WHERE signup_date BETWEEN '2024-01-01' AND '2024-12-31'"),
    ("avg pages viewed on tablet", "SELECT AVG(pages_viewed) FROM web_sessions WHERE device = 'tablet'"),
    ("which channels do we sell through", "SELECT DISTINCT channel FROM orders"),
])
def test_a_plainly_worded_question_is_sketched_as_the_query_it_means(demo_db, question, gold):
    with open_database(demo_db) as db:
        assert sketched_rows(db, question) == rows(db, gold)


@pytest.mark.parametrize("suffix", ["sqlite", "duckdb"])
def test_names_abbreviated_flags_and_years_kept_as_text_are_read_as_an_analyst_means(tmp_path, suffix):
    path = Path(shutil.copy2(KESTREL / f"kestrel.{suffix}", tmp_path / f"kestrel.{suffix}"))
    with open_database(path) as db:
        assert sketched_rows(db, "customers since before 2012") == \
            rows(db, "SELECT CustNm FROM Cust WHERE CAST(SinceYr AS INTEGER) < 2012")  # '2009' < 2012 as numbers
        assert sketched_rows(db, "how many inactive customers") == \
            rows(db, "SELECT COUNT(*) FROM Cust WHERE Is_Active = 'N'")
        assert sketched_rows(db, "highest credit limit") == \
            rows(db, "SELECT MAX(CAST(CreditLmt AS INTEGER)) FROM Cust")  # not '7500' > '25000' as text


def test_a_question_naming_nothing_in_the_database_gets_no_sketch(demo_sqlite):
    with open_database(demo_sqlite) as db:
        assert sketch_queries(db, "what is the weather like today") == []


def test_the_sketch_joins_the_vote_ahead_of_the_model_and_is_left_out_when_switched_off(demo_sqlite):
    question = "how many orders came through the marketplace"
    with open_database(demo_sqlite) as db:
        context = PromptContext("lumen", db.dialect, SqlGrounding(schema_card(db), ExampleStore([])))
        replies = ["SELECT COUNT(*) FROM orders", "SELECT COUNT(*) FROM customers", "SELECT nope FROM orders"]
        settings = AnswerSettings(k=3, latency_budget_s=60, grammar=False)
        answer = answer_sql(chat_writer(Scripted(replies)), db, question, context, settings)
        assert [c.source for c in answer.candidates] == ["sketch", "greedy", "sample 1", "sample 2"]
        assert answer.chosen.source == "sketch", "three different results: the tie goes to the sketch"
        assert answer.chosen.rows == db.query("SELECT COUNT(*) FROM orders WHERE channel = 'marketplace'").rows
        off = answer_sql(chat_writer(Scripted(replies)), db, question, context,
                         AnswerSettings(k=3, latency_budget_s=60, grammar=False, sketch=False))
        assert [c.source for c in off.candidates] == ["greedy", "sample 1", "sample 2"]
        assert off.chosen.rows == db.query("SELECT COUNT(*) FROM orders").rows


def test_a_sketch_that_cannot_be_made_leaves_the_answer_to_the_model(demo_sqlite, monkeypatch, caplog):
    from engine.sqlgen import sketch

    def broken(*args):
        raise KeyError("a table the profile never saw")

    monkeypatch.setattr(sketch, "_sketch", broken)
    with open_database(demo_sqlite) as db:
        context = PromptContext("lumen", db.dialect, SqlGrounding(schema_card(db), ExampleStore([])))
        answer = answer_sql(chat_writer(Scripted(["SELECT COUNT(*) FROM orders"])), db, "how many orders", context,
                            AnswerSettings(k=1, grammar=False))
    assert [c.source for c in answer.candidates] == ["greedy"] and answer.chosen.rows == [(2400,)]
    assert "no sketched query" in caplog.text


def test_a_question_asked_like_an_example_puts_the_edited_example_first_else_the_sketch(demo_sqlite):
    from engine.sqlgen.examples import Example

    example = Example("list the agents on the Returns team",
                      "SELECT full_name FROM support_agents WHERE team = 'Returns'", ("support_agents",))
    with open_database(demo_sqlite) as db:
        context = PromptContext("lumen", db.dialect, SqlGrounding(schema_card(db), ExampleStore([example])))
        settings = AnswerSettings(k=1, latency_budget_s=60, grammar=False)
        alike = answer_sql(chat_writer(Scripted(["SELECT 1"])), db, "agents in the Returns team?", context, settings)
        assert [c.source for c in alike.candidates] == ["example 1", "sketch", "greedy"]
        unlike = answer_sql(chat_writer(Scripted(["SELECT 1"])), db, "how many Product Advice agents", context,
                            settings)
        assert [c.source for c in unlike.candidates] == ["sketch", "example 1, edited", "greedy"]
        assert unlike.chosen.source == "sketch" and unlike.chosen.rows == \
            db.query("SELECT COUNT(*) FROM support_agents WHERE team = 'Product Advice'").rows
