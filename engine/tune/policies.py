"""The three convergence policies of a memory-tuning run, each owning its state: going back after a
divergence, starting again from a plateau, and settling the last facts at a lower learning rate.
They decide; the recipe acts (restores weights, restarts the adapter, emits the event)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# the run diverged when its mean fact loss is above both of these, relative to the best epoch's mean
DIVERGED_RATIO = 4.0
DIVERGED_MARGIN = 1.0
PLATEAU_GAIN = 0.9  # a pass "improves" when its mean fact loss is below this share of the best so far
MIN_SETTLE_SCALE = 0.125  # the learning rate's floor after failed convergence checks (TuneConfig.settle_factor)


@dataclass
class Divergence:
    """At a constant learning rate a memory run can blow up late (bench/results/mome-scaling). Keep the
    state that began the epoch with the lowest mean fact loss; when the mean jumps far above it, go back
    there with half the learning rate. The state at an epoch's end is not kept: its last update may be
    the one that blew up (one-step epochs on a GPU went on diverging from there)."""

    enabled: bool
    lr_scale: float = 1.0  # halved at each roll-back (saved in checkpoints)
    best: dict[str, Any] | None = None  # the kept epoch's snapshot and mean loss (in memory only)
    pass_start: dict[str, Any] | None = None  # the snapshot this epoch began with

    def begin_pass(self, snapshot) -> None:
        """`snapshot()`: the adapter, optimizer and ledger as this epoch begins (taken only when enabled)."""
        self.pass_start = snapshot() if self.enabled else None

    def end_pass(self, mean_loss: float, fact_loss: dict[int, float]) -> dict[str, Any] | None:
        """The snapshot to go back to when this pass diverged (the learning rate is halved), else None.
        `fact_loss`: the pass's losses, each measured before its batch's update, so with the weights the
        pass began with: what a low mean vouches for."""
        start, self.pass_start = self.pass_start, None
        if not self.enabled or math.isinf(mean_loss):
            return None
        best = self.best
        if best is not None and mean_loss > max(DIVERGED_RATIO * best["mean_loss"], best["mean_loss"] + DIVERGED_MARGIN):
            self.lr_scale /= 2
            return best
        if start is not None and (best is None or mean_loss < best["mean_loss"]):  # none: resumed mid-epoch
            self.best = {**start, "mean_loss": mean_loss, "fact_loss": dict(fact_loss)}
        return None

    def forget(self) -> None:
        """A fresh adapter: nothing kept, the full learning rate."""
        self.best, self.pass_start, self.lr_scale = None, None, 1.0


@dataclass
class Plateau:
    """A memory run first sits on a plateau (next to nothing recalled), then memorizes within a few dozen
    steps; how long the plateau lasts is luck as much as the facts. After `passes` passes without the mean
    falling 10% below its best (twice as many after each restart), the adapter starts again from the next
    seed. A run that once had half its facts below the threshold is past the plateau and never restarts."""

    passes: int  # TuneConfig.restart_after_plateau (0: never)
    best: float = math.inf  # the best mean fact loss since the last (re)start
    epoch: int = 0  # the pass of the last real improvement
    restarts: int = 0
    most: int = 0  # the most facts below the threshold since the last (re)start

    def should_restart(self, epoch: int, mean_loss: float, memorized: int, facts: int) -> bool:
        if not self.passes or math.isinf(mean_loss):
            return False
        self.most = max(self.most, memorized)
        if 2 * self.most >= facts:
            return False
        if mean_loss < PLATEAU_GAIN * self.best:
            self.best, self.epoch = mean_loss, epoch
            return False
        patience = self.passes * 2 ** self.restarts  # more room after each restart: a slow start is not
        # cut forever (a tiny model, restarted every 3 flat passes, never finished)
        return epoch - self.epoch >= patience

    def restarted(self, epoch: int) -> None:
        self.restarts += 1
        self.best, self.epoch, self.most = math.inf, epoch, 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "epoch": self.epoch, "restarts": self.restarts, "most": self.most}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, value in state.items():  # older checkpoints lack "most", or all of it
            setattr(self, name, value)


@dataclass
class Settling:
    """A convergence check failed although every fact looked learned: train a few steps before the next
    one, at a lower learning rate (by `factor`, to 1/8 at most), so the last facts settle instead of
    knocking the others back out."""

    factor: float  # TuneConfig.settle_factor (1: never lower)
    scale: float = 1.0  # the learning rate's factor now
    wait: int = 0  # steps to train before the next all-below check (0: check at once)

    def failed_check(self, steps_per_epoch: int) -> None:
        self.wait = max(2, steps_per_epoch // 2)
        self.scale = max(MIN_SETTLE_SCALE, self.scale * self.factor)

    def ready(self, steps_since_check: int) -> bool:
        return not self.wait or steps_since_check >= self.wait

    def forget(self) -> None:
        self.scale = 1.0
