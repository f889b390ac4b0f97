"""Compositional SQL template families: every construct of the held-out benchmark has a family,
each intent has at least three phrasings that really differ, and the SQL runs on both engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.db import open_database
from engine.qa.compositional import phrasing_variety
from engine.qa.templates import TemplateGenerator
from engine.qa.validate import ValidationConfig, validate_sql

ROOT = Path(__file__).resolve().parents[1]
# the held-out constructs (engine/qa/heldout.py) and a family that writes each
CONSTRUCT_FAMILIES = {
    "filter": "sql.filtered_count", "join": "sql.join_count", "group_by": "sql.group_count",
    "having": "sql.having", "order_limit": "sql.top_n", "nested": "sql.not_in", "set_op": "sql.except",
    "multi_aggregate": "sql.multi_aggregate", "like": "sql.like", "distinct": "sql.distinct",
    "date_range": "sql.month_count", "null": "sql.missing", "aggregate": "sql.count",
}
NEW = ("sql.having", "sql.not_in", "sql.in", "sql.intersect", "sql.except", "sql.multi_aggregate",
       "sql.group_multi_aggregate", "sql.like", "sql.month_count", "sql.flag_list", "sql.category_list",
       "sql.missing_list", "sql.threshold_list")


@pytest.mark.parametrize("path", ["resources/demo/lumen.sqlite", "resources/demo/lumen.duckdb",
                                  "resources/demo/kestrel.sqlite", "resources/demo/kestrel.duckdb"])
def test_every_construct_has_valid_intents_with_three_different_phrasings(path):
    with open_database(ROOT / path) as db:
        intents = [i for i in TemplateGenerator(db).intents() if i.kind == "sql"]
        families = {i.family for i in intents}
        assert set(CONSTRUCT_FAMILIES.values()) <= families, set(CONSTRUCT_FAMILIES.values()) - families
        for intent in intents:
            assert len(intent.questions) >= 3, intent.key
            assert len({q.lower() for q in intent.questions}) == len(intent.questions), intent.key
        new = [i for i in intents if i.family in NEW]
        statuses = {i.key: validate_sql(db, i.sql, ValidationConfig(allow_empty=True)).status for i in new}
        assert all(s == "ok" for s in statuses.values()), {k: s for k, s in statuses.items() if s != "ok"}
    variety = [phrasing_variety(i.questions) for i in new]
    assert min(variety) >= 0.6 and sum(variety) / len(variety) >= 0.75


def test_phrasing_variety_measures_shared_word_pairs():
    assert phrasing_variety(["how many orders are there", "count all orders", "total number of orders"]) == 1.0
    same_frame = ["how many orders have status A", "how many orders have status B", "how many orders have status C"]
    assert phrasing_variety(same_frame) < 0.5


@pytest.mark.parametrize("path", ["resources/demo/lumen.sqlite", "resources/demo/kestrel.sqlite"])
def test_no_phrasing_is_shared_by_two_intents(path):
    """'Total unit price?' once meant order items and products alike: every phrasing names one intent."""
    from collections import Counter

    with open_database(ROOT / path) as db:
        intents = list(TemplateGenerator(db).intents())
    seen = Counter((i.kind, q.lower()) for i in intents for q in i.questions)
    assert not [k for k, n in seen.items() if n > 1]


@pytest.mark.parametrize("path", ["resources/demo/kestrel.sqlite", "resources/demo/lumen.duckdb"])
def test_row_lists_name_the_rows_their_filter_keeps(path):
    """'Which instructors are senior?' lists names, as many as 'How many instructors are senior?' counts;
    a bound over a measure is a round number some but not all rows exceed."""
    with open_database(ROOT / path) as db:
        intents = [i for i in TemplateGenerator(db).intents() if i.family.endswith("_list")]
        families = {i.family for i in intents}
        assert {"sql.flag_list", "sql.category_list", "sql.threshold_list"} <= families
        for intent in intents:
            select, where = intent.sql.split(" WHERE ", 1)
            table = select.split(" FROM ")[1]
            rows = db.query(intent.sql, max_rows=10_000).rows
            counted = db.query(f"SELECT COUNT(*) FROM {table} WHERE {where}").rows[0][0]
            total = db.query(f"SELECT COUNT(*) FROM {table}").rows[0][0]
            assert len(rows) == counted and 0 < counted < total, intent.key
            assert len(db.query(select, max_rows=10_000).columns) == 1, "one column: the rows' names"
            if intent.family == "sql.threshold_list":
                bound = float(intent.key.rsplit(":", 1)[1])
                assert float(f"{bound:.2g}") == bound, "a round bound"
