"""Retrieved examples edited for the question: the question's values go where the example's were, and
the edited query joins the vote as a candidate that must run."""

from __future__ import annotations

from engine.db import open_database
from engine.qa.chat_format import PromptContext
from engine.sqlgen.adapt import adapt_example, adapted_examples, column_values
from engine.sqlgen.answer import AnswerSettings, answer_sql, chat_writer
from engine.sqlgen.examples import Example, ExampleStore
from engine.sqlgen.grounding import SqlGrounding
from engine.sqlgen.schema_card import schema_card
from scripted_chat import Scripted


def edit(db, sql: str, question: str) -> tuple[str, bool]:
    return adapt_example(sql, question, column_values(db), db.dialect)


def test_a_text_value_of_the_same_column_named_in_the_question_replaces_the_examples(demo_sqlite):
    with open_database(demo_sqlite) as db:
        sql, changed = edit(db, "SELECT full_name FROM support_agents WHERE team = 'Returns'",
                            "who works on the orders & delivery team?")
        assert changed and "'Orders & Delivery'" in sql and "Returns" not in sql
        rows = db.query(sql).rows
        assert rows and len(rows) == db.query(
            "SELECT COUNT(*) FROM support_agents WHERE team = 'Orders & Delivery'").rows[0][0]
        # through an alias, in a join
        sql, changed = edit(db, "SELECT COUNT(*) FROM orders AS o JOIN customers AS c ON c.customer_id = "
                                "o.customer_id WHERE c.country = 'DE'", "orders from customers in JP")
        assert changed and "'JP'" in sql


def test_values_the_question_repeats_or_does_not_name_stay_as_they_are(demo_sqlite):
    with open_database(demo_sqlite) as db:
        example = "SELECT COUNT(*) FROM customers WHERE segment = 'business' AND country = 'US'"
        assert edit(db, example, "how many business customers in the US")[1] is False
        assert edit(db, example, "business customers with no phone, in the us")[1] is False, \
            "a short code is matched as written: 'no' is not Norway"
        sql, changed = edit(db, example, "count of business clients in FR")
        assert changed and "'business'" in sql and "'FR'" in sql and "'US'" not in sql
        assert edit(db, example, "how many customers are there")[1] is False, "no value named: nothing to edit"


def test_numbers_and_the_limit_take_the_questions_numbers_in_order(demo_sqlite):
    with open_database(demo_sqlite) as db:
        sql, changed = edit(db, "SELECT product_name FROM products WHERE unit_cost > 100 ORDER BY unit_cost DESC "
                                "LIMIT 5", "the three priciest products costing over 250")
        assert changed and "> 250" in sql and "LIMIT 3" in sql
        # a count that does not match the slots leaves the numbers alone
        assert "> 100" in edit(db, "SELECT product_name FROM products WHERE unit_cost > 100 LIMIT 5",
                               "products over 250")[0]
        # numbers inside codes are not the question's numbers
        assert "LIMIT 5" in edit(db, "SELECT * FROM customers LIMIT 5", "orders of customer C0007")[0]


def test_a_year_in_the_question_moves_the_examples_dates(demo_sqlite):
    with open_database(demo_sqlite) as db:
        sql, changed = edit(db, "SELECT COUNT(*) FROM orders WHERE order_date >= '2023-01-01' AND "
                                "order_date < '2024-01-01'", "orders placed in 2024")
        assert changed and "'2024-01-01'" in sql
        sql, changed = edit(db, "SELECT COUNT(*) FROM orders WHERE strftime('%Y', order_date) = '2023'",
                            "number of orders in 2025")
        assert changed and "'2025'" in sql and "'%Y'" in sql


def test_unparsable_and_duplicate_examples_are_skipped(demo_sqlite):
    with open_database(demo_sqlite) as db:
        edits = adapted_examples(["SELECT COUNT(*) FROM customers WHERE country = 'DE'", "SELEC nonsense ((",
                                  "SELECT COUNT(*) FROM customers WHERE country = 'GB'"],
                                 "customers in NO", column_values(db), db.dialect)
    assert [e.example for e in edits] == [0], "both examples edit to the same query; the broken one is skipped"
    assert "'NO'" in edits[0].sql and edits[0].changed


def test_the_edited_example_joins_the_vote_and_wins_when_the_model_copies_the_example(demo_sqlite):
    example = Example("list the agents on the Returns team",
                      "SELECT full_name FROM support_agents WHERE team = 'Returns'", ("support_agents",))
    question = "show me the agents on the product advice team"
    with open_database(demo_sqlite) as db:
        context = PromptContext("lumen", db.dialect, SqlGrounding(schema_card(db), ExampleStore([example])))
        copied = "SELECT full_name FROM support_agents WHERE team = 'Returns'"
        settings = AnswerSettings(k=3, latency_budget_s=60, grammar=False, sketch=False)  # the examples and the model
        answer = answer_sql(chat_writer(Scripted([copied, "SELECT full_name FROM support_agents WHERE team = 'Product Advice'",
                                                  "SELECT nope FROM support_agents"])),
                            db, question, context, settings)
        advice_team = db.query("SELECT full_name FROM support_agents WHERE team = 'Product Advice'").rows
        assert [c.source for c in answer.candidates] == ["example 1, edited", "greedy", "sample 1", "sample 2"]
        assert sorted(answer.chosen.rows) == sorted(advice_team) and answer.vote.votes == 2
        assert answer.vote.winner == 0, "a tie-free win, and the edited example is the group's first"
        off = answer_sql(chat_writer(Scripted([copied, copied, copied])), db, question, context,
                         AnswerSettings(k=3, latency_budget_s=60, grammar=False, edited_examples=False, sketch=False))
        assert [c.source for c in off.candidates] == ["greedy", "sample 1", "sample 2"]


def test_the_questions_wording_sets_whether_a_bound_is_inclusive(demo_sqlite):
    with open_database(demo_sqlite) as db:
        example = "SELECT product_name FROM products WHERE unit_cost > 100"
        assert "unit_cost >= 120" in edit(db, example, "products costing 120 or more")[0]
        assert "unit_cost >= 120" in edit(db, example, "products at least $120")[0]
        assert "unit_cost > 120" in edit(db, "SELECT product_name FROM products WHERE unit_cost >= 100",
                                         "products over 120")[0]
        assert "unit_cost < 30" in edit(db, "SELECT product_name FROM products WHERE unit_cost < 50",
                                        "products under 30")[0]


def test_the_column_the_question_names_takes_the_place_of_one_it_does_not(demo_sqlite):
    """A copied example over the wrong column or table is edited into the query the question asks for;
    what the question already names (a value, a row's name, a key) and kinds that differ stay as they are."""
    def swapped(db, sql: str, question: str) -> tuple[str, bool]:
        return adapt_example(sql, question, column_values(db), db.dialect, db.schema())

    with open_database(demo_sqlite) as db:
        sql, changed = swapped(db, "SELECT device, COUNT(*), ROUND(AVG(duration_seconds), 2) FROM web_sessions "
                                   "GROUP BY device", "sessions and their average duration by referrer")
        assert changed and sorted(db.query(sql).rows, key=repr) == sorted(db.query(
            "SELECT referrer, COUNT(*), ROUND(AVG(duration_seconds), 2) FROM web_sessions GROUP BY referrer").rows,
            key=repr)
        # the table follows the column in a query over one table
        sql, changed = swapped(db, "SELECT MIN(unit_price), MAX(unit_price) FROM products",
                               "lowest and highest total amount of orders")
        assert changed and db.query(sql).rows == db.query("SELECT MIN(total_amount), MAX(total_amount) FROM orders").rows
        # a compared column is swapped only with a value of the new one, which then replaces the old value
        sql, changed = swapped(db, "SELECT COUNT(*) FROM customers WHERE country = 'US'",
                               "how many customers in the business segment")
        assert changed and "segment = 'business'" in sql and "country" not in sql
        for example, question in (
                ("SELECT COUNT(*) FROM customers WHERE country = 'US'", "how many customers by city"),  # no city named
                ("SELECT product_name FROM products WHERE category = 'Climbing'", "subcategories in Climbing"),
                ("SELECT MIN(unit_price) FROM products", "the earliest signup date of customers"),  # a date for a price
                ("SELECT COUNT(*) FROM orders", "how many orders per channel")):  # nothing in the query to swap
            assert swapped(db, example, question) == (example, False), question
