"""The LLM generator: proposals are parsed, de-duplicated and validated by running them; the real
bundled model runs end to end through llama.cpp."""

from __future__ import annotations

import pytest

from engine.cancel import Cancelled, CancelToken
from engine.db import open_database
from engine.qa.llm_generate import (LLMGenerationConfig, build_messages, generate_llm_pairs, llama_completer,
                                    parse_proposals)
from engine.project.pairs import QAPair

EXAMPLES = [
    QAPair("How many orders are there per channel?", "SELECT channel, COUNT(*) AS n FROM orders GROUP BY channel",
           kind="sql", tables="orders"),
    QAPair("How many customers are there?", "SELECT COUNT(*) FROM customers", kind="sql", tables="customers"),
]


def test_parse_proposals_handles_fences_and_chatter():
    text = ("Sure! Here are some:\n\nQuestion: Orders per country?\nSQL: ```sql\nSELECT shipping_country, "
            "COUNT(*)\nFROM orders GROUP BY 1;\n```\n\nQuestion: Broken one\nNote: no SQL here\n\n"
            "Question: Top product?\nSQL: SELECT product_name FROM products LIMIT 1\nF: junk")
    assert parse_proposals(text) == [
        ("Orders per country?", "SELECT shipping_country, COUNT(*)\nFROM orders GROUP BY 1"),
        ("Top product?", "SELECT product_name FROM products LIMIT 1"),
    ]


def test_prompt_holds_the_schema_of_the_examples_tables(demo_sqlite):
    with open_database(demo_sqlite) as db:
        messages = build_messages(db, EXAMPLES[:1], 3)
    user = messages[1]["content"]
    assert "orders(order_id INTEGER" in user and "customers(" not in user
    assert "Question: How many orders are there per channel?" in user and "SQLite" in messages[0]["content"]


def test_only_new_valid_proposals_are_accepted(demo_duckdb):
    replies = iter([
        "Question: How many orders per shipping country?\nSQL: SELECT shipping_country, COUNT(*) FROM orders "
        "GROUP BY shipping_country\n\n"
        "Question: how many customers are there\nSQL: SELECT COUNT(*) FROM customers\n\n"  # known question
        "Question: Orders by status?\nSQL: SELECT status, COUNT(*) FROM orders GROUP BY status\n\n"  # bad column
        "Question: Remove old orders\nSQL: DELETE FROM orders\n",
    ])
    with open_database(demo_duckdb) as db:
        proposals = list(generate_llm_pairs(db, lambda messages, seed: next(replies), EXAMPLES,
                                            config=LLMGenerationConfig(rounds=1)))
    assert [(p.validation.status, p.duplicate, p.accepted) for p in proposals] == [
        ("ok", False, True), ("ok", True, False), ("unknown_column", False, False), ("not_read_only", False, False)]
    pair = proposals[0].to_pair()
    assert (pair.kind, pair.source, pair.validation) == ("sql", "llm", "ok")


def test_cancel_between_rounds(demo_sqlite):
    token = CancelToken()

    def complete(messages, seed):
        token.cancel()
        return "Question: Orders?\nSQL: SELECT COUNT(*) FROM orders WHERE channel = 'web'"

    with open_database(demo_sqlite) as db, pytest.raises(Cancelled):
        list(generate_llm_pairs(db, complete, EXAMPLES, config=LLMGenerationConfig(rounds=3), cancel=token))


def test_needs_examples(demo_sqlite):
    with open_database(demo_sqlite) as db, pytest.raises(ValueError, match="at least one example"):
        list(generate_llm_pairs(db, lambda m, s: "", []))


@pytest.mark.slow
def test_bundled_model_proposes_pairs_that_are_all_validated(demo_sqlite):
    from engine.models.llama_runtime import LlamaChat

    config = LLMGenerationConfig(rounds=2, max_tokens=200)
    with open_database(demo_sqlite) as db, LlamaChat(n_ctx=2048) as chat:
        proposals = list(generate_llm_pairs(db, llama_completer(chat, config), EXAMPLES, config=config))
    # a 135M model writes little valid SQL; what matters is that every proposal was run and classified
    assert all(p.validation.status for p in proposals)
    assert all(p.validation.status != "ok" or p.validation.result_hash for p in proposals)
