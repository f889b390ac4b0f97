"""The per-fact ledger of a memory-tuning run: each fact's last loss, whether greedy decoding gets it
exactly, and which facts looked learned yet decoded wrong. What the epochs train and when the run has
converged are read from here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FactLedger:
    threshold: float  # a fact is memorized below this loss (TuneConfig.loss_threshold)
    teacher_forced: bool  # recall verdicts come from the training steps' logits (else only from decoding)
    loss: dict[int, float] = field(default_factory=dict)  # fact id -> last loss (inf: not trained yet)
    recalled: dict[int, bool] = field(default_factory=dict)  # fact id -> exact at the last verdict
    missed: set[int] = field(default_factory=set)  # below the threshold, yet decoded wrong

    @classmethod
    def of(cls, fact_ids: list[int], threshold: float, teacher_forced: bool) -> FactLedger:
        ledger = cls(threshold, teacher_forced)
        ledger.reset(fact_ids)
        return ledger

    def reset(self, fact_ids: list[int] | None = None) -> None:
        """Every fact unlearned (a new run, or an adapter started again)."""
        ids = list(self.loss) if fact_ids is None else fact_ids
        self.loss = {fact_id: math.inf for fact_id in ids}
        self.recalled = {fact_id: False for fact_id in ids}
        self.missed = set()

    def record_scores(self, scores: list[tuple[int, float, bool]]) -> None:
        """(fact id, loss, teacher-forced verdict): a training step's, before its update, or a teacher-forced
        check's of the current weights."""
        for fact_id, value, right in scores:
            self.loss[fact_id] = value
            if self.teacher_forced:
                self.recalled[fact_id] = right

    def record_decoding(self, results: dict[int, bool], every_fact: bool) -> None:
        """Greedy decoding's verdicts. A partial check (the facts below the threshold) counts the others
        as not recalled; a fact below the threshold that decoded wrong keeps training until it is right."""
        if not every_fact:
            self.recalled = {fact_id: False for fact_id in self.loss}
        self.recalled.update(results)
        for fact_id, ok in results.items():
            if ok:
                self.missed.discard(fact_id)
            elif self.loss[fact_id] < self.threshold:
                self.missed.add(fact_id)

    def below(self, fact_id: int) -> bool:
        return self.loss[fact_id] < self.threshold

    def memorized(self) -> int:
        """Facts below the loss threshold."""
        return sum(1 for value in self.loss.values() if value < self.threshold)

    def recalled_count(self) -> int:
        return sum(1 for fact_id in self.loss if self.recalled.get(fact_id))

    def looks_learned(self, fact_id: int) -> bool:
        """Below the loss threshold and (teacher-forced checks) right at every answer token the last
        time it was trained or checked."""
        return self.below(fact_id) and (not self.teacher_forced or bool(self.recalled.get(fact_id)))

    def learned(self, fact_id: int) -> bool:
        """Looks learned, and the last decoding did not find it wrong: such a fact keeps its place in
        the epochs until greedy decoding gets it exactly right."""
        return self.looks_learned(fact_id) and fact_id not in self.missed

    def mean_loss(self) -> float:
        return sum(self.loss.values()) / len(self.loss)

    def max_loss(self) -> float:
        return max(self.loss.values())

    def snapshot(self) -> dict[str, Any]:
        return {"fact_loss": dict(self.loss), "recalled": dict(self.recalled), "missed": set(self.missed)}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.loss, self.recalled = dict(snapshot["fact_loss"]), dict(snapshot["recalled"])
        self.missed = set(snapshot["missed"])

    def scores(self, fact_ids: list[int] | None = None) -> dict[str, dict[str, Any]]:
        """fact_scores.json: each fact's last loss (None: never trained) and recall."""
        ids = list(self.loss) if fact_ids is None else [i for i in fact_ids if i in self.loss]
        return {str(i): {"loss": None if math.isinf(self.loss[i]) else self.loss[i], "recalled": self.recalled.get(i)}
                for i in ids}
