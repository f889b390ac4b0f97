"""Where a memory-tuning run is: the counters, the per-fact ledger and the policies' state, saved in a
checkpoint and loaded from one in one place (besides the adapter, optimizer and RNG, which the
recipe adds). A resumed run continues exactly where the checkpoint left it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.tune.ledger import FactLedger
from engine.tune.policies import Divergence, Plateau, Settling

STATE_FILE = "state.pt"  # in the run's checkpoint folder


@dataclass
class TrainState:
    ledger: FactLedger
    divergence: Divergence
    plateau: Plateau
    settling: Settling
    step: int = 0
    epoch: int = 0
    position: int = 0  # batches of the current epoch already done
    epoch_plan: list[list[int]] | None = None  # the current epoch's batches (example indices)
    last_recall: float | None = None
    recall_step: int = -1  # the step of the last decoding check
    recall_step_checked: int = 0  # the step of the last check of any kind
    tokens_seen: int = 0
    elapsed_before: float = 0.0  # seconds trained in earlier sittings

    def to_checkpoint(self, elapsed: float) -> dict[str, Any]:
        """The checkpoint's fields (names as every version wrote them, so older checkpoints resume)."""
        ledger = self.ledger
        return {"step": self.step, "epoch": self.epoch, "position": self.position, "epoch_plan": self.epoch_plan,
                "fact_loss": ledger.loss, "recalled": ledger.recalled, "missed": sorted(ledger.missed),
                "last_recall": self.last_recall, "recall_step": self.recall_step,
                "recall_step_checked": self.recall_step_checked, "tokens_seen": self.tokens_seen,
                "recheck_wait": self.settling.wait, "settle_scale": self.settling.scale,
                "lr_scale": self.divergence.lr_scale, "plateau": self.plateau.state_dict(), "elapsed": elapsed}

    def load_checkpoint(self, state: dict[str, Any]) -> None:
        """Back to a checkpoint's state; fields an older version did not save keep their start values."""
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        self.epoch_plan, self.last_recall = state["epoch_plan"], state["last_recall"]
        self.recall_step, self.recall_step_checked = state["recall_step"], state["recall_step_checked"]
        self.tokens_seen, self.elapsed_before = state["tokens_seen"], state["elapsed"]
        self.ledger.loss, self.ledger.recalled = state["fact_loss"], state["recalled"]
        self.ledger.missed = set(state.get("missed", []))
        self.settling.wait = state.get("recheck_wait", 0)
        self.settling.scale = state.get("settle_scale", 1.0)
        self.divergence.lr_scale = state.get("lr_scale", 1.0)
        self.plateau.load_state_dict(state.get("plateau", {}))


def save_checkpoint(folder: Path, state: dict[str, Any]) -> None:
    """Written to a partial file and moved into place: a crash never leaves half a checkpoint."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{STATE_FILE}.partial"
    torch.save(state, partial)
    partial.replace(folder / STATE_FILE)


def load_checkpoint(folder: Path) -> dict[str, Any]:
    import torch

    path = folder / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(f"No checkpoint to resume from in {folder.parent}")
    return torch.load(path, map_location="cpu", weights_only=False)
