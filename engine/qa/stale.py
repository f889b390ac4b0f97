"""Facts the database no longer supports: a data fact's answer was read from the database by its SQL;
when the data changes, running that SQL again gives another value and the memorized answer is stale."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.db import Database
from engine.project import ProjectStore
from engine.qa.phrasing import format_value
from engine.qa.validate import validate_sql

DATA_FACTS = "kind = 'data' AND sql IS NOT NULL AND status = 'approved'"


@dataclass(frozen=True)
class StaleFact:
    pair_id: int
    question: str
    old: str
    new: str


def find_stale_facts(store: ProjectStore, db: Database, where: str = DATA_FACTS) -> list[StaleFact]:
    """Approved data facts whose SQL now returns a different single value (the database is only read)."""
    stale = []
    for pair in store.pairs(where):
        checked = validate_sql(db, pair.sql)
        if not (checked.ok and len(checked.columns) == 1 and len(checked.rows) == 1):
            continue  # no longer one value: `engram validate` reports it; nothing to relearn here
        new = format_value(checked.rows[0][0])
        if not states_value(pair.answer, new):
            stale.append(StaleFact(pair.id, pair.question, pair.answer, new))
    return stale


def states_value(answer: str, value: str) -> bool:
    """The answer is the value, or an analyst's rewording that still states it ("57 products")."""
    return answer == value or re.search(rf"(?<![\w.]){re.escape(value)}(?![\w]|\.\d)", answer) is not None


def refresh_stale_facts(store: ProjectStore, stale: list[StaleFact]) -> None:
    """Give stale facts their current answer, noting the old one in the validation message."""
    store.update_pairs_each({s.pair_id: {"answer": s.new, "validation_message": f"answer changed in the database "
                                         f"(was {s.old!r})"} for s in stale})
