"""What the table editor does, through the engine: edit (re-validates), approve/reject, delete,
filter, undo/redo."""

from __future__ import annotations

import pytest

from engine.db import open_database
from engine.project import ProjectStore
from engine.project.pairs import QAPair
from engine.qa.curation import Curator, PairFilter


@pytest.fixture
def curator(demo_sqlite, tmp_path):
    with open_database(demo_sqlite) as db, ProjectStore.create(tmp_path / "p.engram", demo_sqlite) as store:
        cur = Curator(store, db)
        cur.add([
            QAPair("How many orders?", "SELECT COUNT(*) FROM orders", kind="sql", tables="orders"),
            QAPair("What does SHP mean?", "Handed to the carrier", kind="schema", tables="order_statuses"),
            QAPair("Customers per country?", "SELECT country, COUNT(*) FROM customers GROUP BY country",
                   kind="sql", tables="customers"),
        ])
        cur.undo_stack.clear()
        yield cur


def test_added_sql_is_validated(curator):
    assert [p.validation for p in curator.pairs()] == ["ok", None, "ok"]


def test_edit_sql_revalidates_and_undo_restores(curator):
    pid = curator.pairs(PairFilter(text="How many orders"))[0].id
    curator.edit(pid, sql="SELECT COUNT(*) FROM orderz")
    pair = curator.store.get_pair(pid)
    assert pair.validation == "unknown_table" and pair.answer == "SELECT COUNT(*) FROM orderz"
    curator.undo()
    pair = curator.store.get_pair(pid)
    assert pair.validation == "ok" and pair.sql == "SELECT COUNT(*) FROM orders" and pair.answer == pair.sql
    curator.redo()
    assert curator.store.get_pair(pid).validation == "unknown_table"


def test_bulk_approve_reject_undo_redo(curator):
    ids = [p.id for p in curator.pairs()]
    curator.approve(ids)
    curator.reject(ids[:1])
    assert [p.status for p in curator.pairs()] == ["rejected", "approved", "approved"]
    curator.undo()
    assert [p.status for p in curator.pairs()] == ["approved", "approved", "approved"]
    curator.undo()
    assert [p.status for p in curator.pairs()] == ["pending"] * 3
    assert not curator.can_undo and curator.can_redo
    curator.redo()
    curator.redo()
    assert [p.status for p in curator.pairs()] == ["rejected", "approved", "approved"]


def test_new_command_clears_redo(curator):
    ids = [p.id for p in curator.pairs()]
    curator.approve(ids)
    curator.undo()
    curator.set_split(ids, "eval")
    assert not curator.can_redo


def test_delete_and_undo_bring_back_the_same_pairs(curator):
    before = curator.pairs()
    curator.delete([before[0].id, before[2].id])
    assert len(curator.pairs()) == 1
    curator.undo()
    after = curator.pairs()
    assert [(p.id, p.question, p.validation) for p in after] == [(p.id, p.question, p.validation) for p in before]


def test_invalid_value_is_refused_before_writing(curator):
    pid = curator.pairs()[0].id
    with pytest.raises(ValueError):
        curator.edit(pid, status="maybe")
    with pytest.raises(ValueError):
        curator.set_field([pid], "bad", split="holdout")
    assert curator.store.get_pair(pid).status == "pending"
    assert not curator.can_undo


def test_filters(curator):
    assert len(curator.pairs(PairFilter(kind="sql"))) == 2
    assert len(curator.pairs(PairFilter(table="customers"))) == 1
    assert len(curator.pairs(PairFilter(text="carrier"))) == 1
    assert len(curator.pairs(PairFilter(validation="none"))) == 1
    assert curator.pairs(PairFilter(text="'; DROP TABLE qa_pairs; --")) == []
    assert len(curator.pairs(PairFilter(text="%"))) == 0, "LIKE wildcards in user text are literal"
    with pytest.raises(ValueError, match="Unknown kind"):
        curator.pairs(PairFilter(kind="facts"))


def test_approve_valid_and_reject_invalid(curator):
    pid = curator.pairs(PairFilter(text="Customers per"))[0].id
    curator.edit(pid, sql="SELECT nope FROM customers")
    curator.approve_valid()
    curator.reject_invalid()
    assert [p.status for p in curator.pairs()] == ["approved", "approved", "rejected"]
