"""Route a question to the memory experts that hold its fact: score each expert by the best cosine
similarity between the question and the expert's fact questions; top-k above a confidence threshold,
or none (the base model answers)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Route:
    experts: list[str]
    scores: list[float]


class Router:
    def __init__(self, names: list[str], fact_vectors: list[np.ndarray], threshold: float = 0.5, top_k: int = 1):
        self.names = names
        self.fact_vectors = fact_vectors  # per expert: (n_facts, dim) unit vectors
        self.threshold = threshold
        self.top_k = top_k

    def scores(self, question: np.ndarray) -> np.ndarray:
        return np.array([float(np.max(vectors @ question)) for vectors in self.fact_vectors])

    def route(self, question: np.ndarray) -> Route:
        scores = self.scores(question)
        order = [int(i) for i in np.argsort(-scores)[:self.top_k] if scores[i] >= self.threshold]
        return Route([self.names[i] for i in order], [float(scores[i]) for i in order])

    def accuracy(self, questions: np.ndarray, expected: list[str]) -> float:
        """Share of questions whose top expert is the one holding their fact."""
        hits = sum(1 for q, name in zip(questions, expected) if self.route(q).experts[:1] == [name])
        return hits / max(1, len(expected))
