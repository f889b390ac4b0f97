"""LLM paraphrases of template questions: kept only when the SQL the model writes for the rewording
returns the template query's result; held-out questions and duplicates are never added."""

from __future__ import annotations

from engine.db import open_database
from engine.project import ProjectStore
from engine.qa.generate import generate_template_pairs
from engine.qa.heldout import EVALS_DIR, load_heldout
from engine.qa.llm_paraphrase import ParaphraseConfig, paraphrase_pairs, parse_rewordings


def test_rewordings_are_parsed_from_numbered_or_bulleted_lines():
    text = "Sure, here are rewordings:\n1. orders per channel?\n- \"count orders by channel\"\n* how many per channel"
    assert parse_rewordings(text) == ["orders per channel?", "count orders by channel", "how many per channel"]


def test_a_rewording_is_kept_only_when_its_sql_means_the_same(demo_sqlite, tmp_path):
    heldout = load_heldout(EVALS_DIR / "lumen.jsonl")[0].question
    with open_database(demo_sqlite) as db, ProjectStore.create(tmp_path / "p.engram", demo_sqlite) as store:
        generate_template_pairs(store, db)
        [source] = store.pairs("intent = 'sql.count:orders' AND split = 'train'")
        sql_for = {"all the orders, how many": "SELECT COUNT(order_id) FROM orders",  # same result: kept
                   "number of customers": "SELECT COUNT(*) FROM customers",  # another query: meaning changed
                   "orders total count": "SELECT COUNT(*) FROM order"}  # does not run

        def complete(messages, seed):
            asked = messages[-1]["content"]
            if asked.startswith("Rewrite"):
                return "\n".join([*sql_for, heldout, source.question])
            question = asked.rsplit("Question: ", 1)[1]
            return "```sql\n" + sql_for.get(question, "SELECT 1") + "\n```"

        checks = list(paraphrase_pairs(db, complete, [source], store.pairs(), ParaphraseConfig(per_question=5)))
    verdicts = {c.question: c.verdict for c in checks}
    assert verdicts == {"all the orders, how many": "kept", "number of customers": "changed_meaning",
                        "orders total count": "invalid_sql", heldout: "duplicate", source.question: "duplicate"}
    [kept] = [c.to_pair() for c in checks if c.kept]
    assert (kept.sql, kept.intent, kept.split, kept.source) == (source.sql, source.intent, source.split, "llm")
