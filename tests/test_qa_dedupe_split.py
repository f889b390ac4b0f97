"""Duplicates, conflicts, equivalent SQL; a split that never leaks an intent; held-out paraphrases."""

from __future__ import annotations

from engine.db import open_database
from engine.project import ProjectStore
from engine.project.pairs import QAPair
from engine.qa.dedupe import canonical_sql, find_duplicates, normalize_question
from engine.qa.generate import generate_template_pairs
from engine.qa.split import add_paraphrases, apply_split, rule_paraphrase, split_pairs


def _pairs(*specs):
    return [QAPair(q, a, kind=k, sql=a if k == "sql" else None, id=i + 1, result_hash=h)
            for i, (q, a, k, h) in enumerate(specs)]


def test_normalized_questions():
    assert normalize_question("How many  ORDERS are there?") == normalize_question("how many orders are there")
    assert normalize_question("Café total?") == "cafe total"


def test_duplicates_and_conflicts():
    pairs = _pairs(("What is SHP?", "Shipped", "schema", None),
                   ("what is shp", "Shipped.", "schema", None),
                   ("What is DLV?", "Delivered", "schema", None),
                   ("What is DLV", "Cancelled", "schema", None))
    report = find_duplicates(pairs, "sqlite")
    assert report.duplicates == [[1, 2]]
    assert report.removable == [2]
    assert report.conflicts == [[3, 4]]


def test_equivalent_sql_by_ast_and_by_result():
    pairs = _pairs(("Orders per channel?", "SELECT channel, COUNT(*) FROM orders GROUP BY channel", "sql", "h1"),
                   ("Count orders by channel", "select CHANNEL, count(*)\n  from ORDERS group by channel", "sql", "h2"),
                   ("How many orders?", "SELECT COUNT(*) FROM orders", "sql", "h3"),
                   ("Number of orders?", "SELECT COUNT(order_id) FROM orders", "sql", "h3"),
                   ("Customers?", "SELECT COUNT(*) FROM customers", "sql", "h4"))
    report = find_duplicates(pairs, "sqlite")
    assert sorted(report.equivalent_sql) == [[1, 2], [3, 4]]
    assert canonical_sql("select a from T", "sqlite") == canonical_sql("SELECT A FROM t", "sqlite")


def test_split_keeps_an_intent_on_one_side():
    pairs = []
    for n in range(40):
        for phrasing in range(3):
            pairs.append(QAPair(f"q{n}-{phrasing}", "SELECT 1", kind="sql", intent=f"i{n}", id=len(pairs) + 1))
    pairs += [QAPair(f"fact {n}", "x", kind="schema", id=1000 + n) for n in range(10)]
    assignment = split_pairs(pairs, eval_fraction=0.25, seed=3)
    sides = {}
    for pair in pairs:
        sides.setdefault(pair.intent or pair.id, set()).add(assignment[pair.id])
    assert all(len(s) == 1 for s in sides.values())
    eval_intents = {p.intent for p in pairs if p.intent and assignment[p.id] == "eval"}
    assert len(eval_intents) == 10
    assert all(assignment[1000 + n] == "train" for n in range(10)), "facts to memorize all train"
    assert split_pairs(pairs, 0.25, seed=3) == assignment


def test_apply_split_and_paraphrases_on_demo(demo_sqlite, tmp_path):
    with open_database(demo_sqlite) as db, ProjectStore.create(tmp_path / "p.engram", demo_sqlite) as store:
        generate_template_pairs(store, db, paraphrases=0)
        counts = apply_split(store, 0.2)
        assert counts["eval"] > 20 and counts["train"] > 300
        added = add_paraphrases(store)
        assert added > 100
        for pair in store.pairs("split = 'paraphrase'")[:30]:
            original = store.get_pair(pair.paraphrase_of)
            assert original.split == "train" and original.answer == pair.answer
            assert normalize_question(original.question) != normalize_question(pair.question)
        assert add_paraphrases(store) == 0, "a pair gets one held-out paraphrase, not one per run"


def test_rule_paraphrase():
    assert rule_paraphrase("How many orders are there?") == "What is the number of orders?"
    assert rule_paraphrase("List the columns of orders.") == "Show the columns of orders."
    assert rule_paraphrase("orders") is None
