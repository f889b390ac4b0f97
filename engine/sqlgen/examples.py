"""Retrieved examples: the approved SQL pairs most like a question (BM25+ over folded words, rank-bm25;
BM25+ keeps every shared word's weight positive, which plain BM25 does not in a small store),
shown in the prompt so the model edits a query that runs instead of inventing one. A database's
held-out questions never enter the store, and in training a pair never sees its own query."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Collection

from engine.project.pairs import QAPair
from engine.qa.dedupe import canonical_sql, normalize_question
from engine.sqlgen.terms import terms

DEFAULT_K = 3


@dataclass(frozen=True)
class Example:
    question: str
    sql: str
    tables: tuple[str, ...] = ()


class ExampleStore:
    """Approved text-to-SQL pairs, searchable by question."""

    def __init__(self, examples: list[Example], dialect: str = "sqlite") -> None:
        self.dialect = dialect
        self.examples = list(examples)
        self._canonical = [canonical_sql(e.sql, dialect) or e.sql for e in self.examples]
        self._index = None
        self._terms = [set(terms(e.question)) for e in self.examples]
        self._questions = [normalize_question(e.question) for e in self.examples]
        if self.examples:
            from rank_bm25 import BM25Plus

            self._index = BM25Plus([sorted(t) or ["_"] for t in self._terms])

    def __len__(self) -> int:
        return len(self.examples)

    @classmethod
    def of_pairs(cls, pairs: list[QAPair], dialect: str, heldout=None) -> "ExampleStore":
        """The store of a project's approved SQL pairs, minus any that repeat a held-out question."""
        chosen = [p for p in pairs if p.kind == "sql" and (p.sql or p.answer)
                  and not (heldout is not None and heldout.leaks(p, dialect))]
        return cls([Example(p.question, p.sql or p.answer, tuple(t for t in (p.tables or "").split(",") if t))
                    for p in chosen], dialect)

    def approved_query(self, question: str, exclude_sql: str | None = None) -> Example | None:
        """The approved pair that asks exactly this question (case, accents, punctuation and spacing
        aside): its curated query is the answer, as a verified query is. None when no pair asks it, when
        the pairs that do disagree on the query, or when that query is `exclude_sql`."""
        key = normalize_question(question)
        found = {self._canonical[i]: e for i, e in enumerate(self.examples) if self._questions[i] == key}
        excluded = canonical_sql(exclude_sql, self.dialect) or exclude_sql if exclude_sql else None
        if len(found) != 1 or excluded in found:
            return None
        return next(iter(found.values()))

    def nearest(self, question: str, k: int = DEFAULT_K, exclude_sql: str | None = None) -> list[Example]:
        """The k most similar examples, one per distinct query, never one whose query is `exclude_sql`."""
        if not self.examples or k <= 0:
            return []
        query = terms(question)
        if not query:
            return []
        scores = self._index.get_scores(query)
        shared = set(query)
        # BM25+ scores every example above zero; one sharing no word is not similar
        similar = [i for i in range(len(self.examples)) if shared & self._terms[i]]
        return self._distinct(sorted(similar, key=lambda i: (-scores[i], i)), k, exclude_sql)

    def over_tables(self, question: str, tables: Collection[str], k: int = DEFAULT_K,
                    exclude_sql: str | None = None) -> list[Example]:
        """The k examples over these tables only (the tables a question names by their columns or
        values, when its words match no example's question): those whose query shares words with the
        question first, then those over more of the tables, then the simplest."""
        wanted = {t.lower() for t in tables}
        if not wanted or k <= 0:
            return []
        words = set(terms(question))
        owns = [{t.lower() for t in e.tables} for e in self.examples]
        inside = [i for i, own in enumerate(owns) if own and own <= wanted]
        inside.sort(key=lambda i: (-len(words & self._sql_terms[i]), -len(owns[i] & wanted), len(owns[i]), i))
        return self._distinct(inside, k, exclude_sql)

    def _distinct(self, ranked: list[int], k: int, exclude_sql: str | None) -> list[Example]:
        """The first k of these examples, one per distinct query, never one whose query is `exclude_sql`."""
        excluded = canonical_sql(exclude_sql, self.dialect) or exclude_sql if exclude_sql else None
        chosen, seen = [], {excluded}
        for i in ranked:
            if len(chosen) == k:
                break
            if self._canonical[i] not in seen:
                seen.add(self._canonical[i])
                chosen.append(self.examples[i])
        return chosen

    @cached_property
    def _sql_terms(self) -> list[set[str]]:
        return [set(terms(e.sql)) for e in self.examples]

    @cached_property
    def aliases(self) -> set[str]:
        """The names the examples give their result columns (AS total): the grammar allows reusing them."""
        import sqlglot
        from sqlglot import exp

        found: set[str] = set()
        for example in self.examples:
            try:
                tree = sqlglot.parse_one(example.sql, read=self.dialect)
            except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, RecursionError):
                continue
            found.update(a.alias for a in tree.find_all(exp.Alias) if a.alias)
        return found

    def to_json(self) -> list[dict]:
        return [asdict(e) for e in self.examples]

    @classmethod
    def from_json(cls, data: list[dict], dialect: str) -> "ExampleStore":
        return cls([Example(e["question"], e["sql"], tuple(e.get("tables", ()))) for e in data], dialect)
