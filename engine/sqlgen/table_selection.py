"""Which tables a question's prompt shows when the whole schema would not fit: tables scored by the
words they share with the question (table names count most, then shown values, then columns), the
tables of the retrieved examples, and optionally the cosine of base-model embeddings; then one-hop
bridge tables so a join between two chosen tables has its link table."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, Sequence

from engine.sqlgen.schema_card import SchemaCard, TableCard
from engine.sqlgen.terms import terms

SCHEMA_BUDGET_CHARS = 1800  # about 500 tokens of schema in the prompt
NAME_WEIGHT, VALUE_WEIGHT, COLUMN_WEIGHT, EXAMPLE_WEIGHT, EMBEDDING_WEIGHT = 3.0, 2.0, 1.0, 2.0, 4.0


class Embedder(Protocol):
    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


@dataclass
class TableSelector:
    """Scores a card's tables against questions; table embeddings are computed once."""
    card: SchemaCard
    budget_chars: int = SCHEMA_BUDGET_CHARS
    embedder: Embedder | None = None

    def __post_init__(self) -> None:
        self._terms = {t.name: (set(terms(t.name)), {w for c in t.columns for w in terms(c)},
                                {w for v in t.values for w in terms(v)}) for t in self.card.tables}
        self._vectors = None
        self._last_question: tuple[str, list[float]] | None = None  # the example fallback scores a question twice
        if self.embedder is not None and not self.fits_whole():
            self._vectors = dict(zip([t.name for t in self.card.tables],
                                     self.embedder.embed([t.text for t in self.card.tables])))

    def fits_whole(self) -> bool:
        return sum(len(t.text) + 1 for t in self.card.tables) <= self.budget_chars

    def scores(self, question: str, example_tables: Sequence[str] = ()) -> dict[str, float]:
        words = set(terms(question))
        hinted = {t.lower() for t in example_tables}
        question_vector = self._question_vector(question) if self._vectors else None
        out = {}
        for table in self.card.tables:
            names, columns, values = self._terms[table.name]
            whole_name = NAME_WEIGHT * (bool(names) and names <= words)  # 'orders' over 'order_items' for "orders"
            score = (NAME_WEIGHT * len(words & names) + whole_name + COLUMN_WEIGHT * len(words & columns)
                     + VALUE_WEIGHT * len(words & values) + EXAMPLE_WEIGHT * (table.name.lower() in hinted))
            if question_vector is not None:
                score += EMBEDDING_WEIGHT * _cosine(question_vector, self._vectors[table.name])
            out[table.name] = score
        return out

    def _question_vector(self, question: str) -> list[float]:
        if self._last_question is None or self._last_question[0] != question:
            self._last_question = (question, self.embedder.embed([question])[0])
        return self._last_question[1]

    def matches(self, question: str) -> bool:
        """Whether any word of the question names a table, column or shown value of the schema."""
        words = set(terms(question))
        return any(words & (names | columns | values) for names, columns, values in self._terms.values())

    def select(self, question: str, example_tables: Sequence[str] = ()) -> list[str]:
        """The tables to show, in the database's order: all of them when they fit the budget."""
        if self.fits_whole():
            return [t.name for t in self.card.tables]
        scores = self.scores(question, example_tables)
        ranked = sorted(self.card.tables, key=lambda t: (-scores[t.name], -len(t.neighbours), t.name))
        names: set[str] = set()
        used = 0

        def add(table: TableCard) -> None:
            nonlocal used
            if table.name not in names and (used + len(table.text) + 1 <= self.budget_chars or not names):
                names.add(table.name)
                used += len(table.text) + 1

        for table in ranked:
            if scores[table.name] > 0 or not names:
                add(table)
        for bridge in self.card.tables:  # a link table between two chosen tables
            if len(names & set(bridge.neighbours)) >= 2:
                add(bridge)
        for table in ranked:  # what budget is left: neighbours of the chosen tables first
            if names & set(table.neighbours):
                add(table)
        for table in ranked:
            add(table)
        return [t.name for t in self.card.tables if t.name in names]


class LlamaEmbedder:
    """Mean-pooled embeddings of a GGUF model through llama.cpp (the bundled base model by default)."""

    def __init__(self, model: str | None = None) -> None:
        from llama_cpp import Llama

        from engine.models.locate import resolve_model

        self._llm = Llama(model_path=str(resolve_model(model).path), embedding=True, n_ctx=512, verbose=False)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            vector = self._llm.embed(text[:1500], normalize=True)
            if vector and isinstance(vector[0], list):  # one vector per token: mean-pool them
                vector = [sum(col) / len(vector) for col in zip(*vector)]
            out.append(list(vector))
        return out

    def close(self) -> None:
        self._llm.close()
