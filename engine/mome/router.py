"""Route a question to the memory experts that hold its fact: score each expert by its closest fact
question; top-k of the experts the question is confidently about, or none (the base model answers).

A fact's closeness is the cosine similarity of the base model's embeddings plus, when the fact
questions' texts are known, a word-overlap term weighted by inverse document frequency. Why both:
embeddings of a small model capture the question's shape ("how many rows…", "what is the … of …")
but barely tell apart the names and ids that make a fact a fact (customer C0042 vs C0043, table
`orders` vs `order_items`); rare shared words do. The confidence threshold stays on the cosine alone,
so an off-topic question that shares a word with some fact still goes to the base model: only experts
whose closest fact is that similar are ranked. Given off-topic reference questions
(engine.mome.off_topic), some fact must also be closer to the question than the closest of those —
the gate that actually keeps general questions away from the experts with a small embedding model.
The gate decides whether the question is about the facts at all; which expert answers is still
decided by the ranking (the words included), as a fact reworded can embed closer to a neighbour.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from engine.qa.phrasing import singular

WORD = re.compile(r"[a-z0-9]+")
LEXICAL_WEIGHT = 2.0  # names and ids the embeddings blur settle the route (docs/benchmarks.md, router accuracy)


def words(text: str) -> set[str]:
    """Lower-case words in the singular, so 'orders' meets 'order'."""
    return {singular(w) for w in WORD.findall(text.lower())}


@dataclass
class Route:
    experts: list[str]
    scores: list[float]  # each routed expert's best cosine similarity to the question
    off_topic: float | None = None  # set when the off-topic gate sent the question to the base model:
    # the closest reference question's similarity
    reason: str = ""  # why no expert, when it is not the similarity (e.g. none learned this kind of answer)


class Router:
    def __init__(self, names: list[str], fact_vectors: list[np.ndarray], threshold: float = 0.5, top_k: int = 1,
                 fact_questions: list[list[str]] | None = None, lexical_weight: float = LEXICAL_WEIGHT,
                 off_topic_vectors: np.ndarray | None = None):
        self.names = names
        self.off_topic_vectors = off_topic_vectors  # (n, dim) unit vectors of questions about no database
        self.fact_vectors = fact_vectors  # per expert: (n_facts, dim) unit vectors
        self.threshold = threshold
        self.top_k = top_k
        self.lexical_weight = lexical_weight if fact_questions else 0.0
        self.fact_words = [[words(q) for q in questions] for questions in fact_questions or []]
        counts = Counter(w for expert in self.fact_words for fact in expert for w in fact)
        self.facts = sum(len(expert) for expert in self.fact_words)
        self.idf = {w: math.log((self.facts + 1) / (c + 1)) for w, c in counts.items()}

    def _weight(self, word: str) -> float:
        return self.idf.get(word, math.log(self.facts + 1))  # a word no fact has is as rare as can be

    def overlap(self, question: str) -> list[np.ndarray]:
        """Per expert, per fact: the IDF-weighted share of the question's words the fact question has."""
        asked = words(question)
        total = sum(self._weight(w) for w in asked) or 1.0
        return [np.array([sum(self._weight(w) for w in asked & fact) / total for fact in expert])
                for expert in self.fact_words]

    def _score(self, question: np.ndarray, text: str | None) -> tuple[np.ndarray, np.ndarray]:
        """(ranking score, best cosine) per expert."""
        cosines = [vectors @ question for vectors in self.fact_vectors]
        if self.lexical_weight and text:
            combined = [c + self.lexical_weight * o for c, o in zip(cosines, self.overlap(text))]
        else:
            combined = cosines
        return (np.array([float(np.max(c)) for c in combined]), np.array([float(np.max(c)) for c in cosines]))

    def scores(self, question: np.ndarray, text: str | None = None) -> np.ndarray:
        return self._score(question, text)[0]

    def route(self, question: np.ndarray, text: str | None = None, allowed: set[str] | None = None) -> Route:
        """`allowed`: only these experts may answer (None: all)."""
        ranking, cosine = self._score(question, text)
        candidates = {i for i, name in enumerate(self.names) if allowed is None or name in allowed}
        if not candidates:
            return Route([], [])
        if self.off_topic_vectors is not None and len(self.off_topic_vectors):
            off_topic = float(np.max(self.off_topic_vectors @ question))
            if max(cosine[i] for i in candidates) <= off_topic:  # closer to a question about no database than to any fact
                return Route([], [], off_topic)
        eligible = [int(i) for i in np.argsort(-ranking, kind="stable")
                    if cosine[i] >= self.threshold and int(i) in candidates]
        order = eligible[:self.top_k]
        return Route([self.names[i] for i in order], [float(cosine[i]) for i in order])

    def accuracy(self, questions: np.ndarray, expected: list[str], texts: list[str] | None = None) -> float:
        """Share of questions whose top expert is the one holding their fact."""
        texts = texts or [None] * len(expected)
        hits = sum(1 for q, t, name in zip(questions, texts, expected) if self.route(q, t).experts[:1] == [name])
        return hits / max(1, len(expected))
