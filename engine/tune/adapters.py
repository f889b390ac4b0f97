"""Which LoRA adapters a memory-tuning run trains, as a strategy the recipe is given: `OneAdapter` (the
default) or `ExpertAdapters` (engine.mome.expert_batch: one adapter per memory expert, trained
together). The recipe's loop is the same for both; only what is named here differs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from engine.tune import data as D
from engine.tune.config import TuneConfig
from engine.tune.ledger import FactLedger
from engine.tune.run_folder import ADAPTER, FACT_SCORES


def lora_targets(base, target_modules: str, top_layers: int) -> dict[str, Any]:
    """peft's target arguments: 'all-linear' or the named modules, on every layer or only the top
    `top_layers` (peft needs the module names spelled out to limit the layers)."""
    names: Any = target_modules if target_modules == "all-linear" else \
        [t.strip() for t in target_modules.split(",") if t.strip()]
    layers = base.config.num_hidden_layers
    if not top_layers or top_layers >= layers:
        return {"target_modules": names}
    if names == "all-linear":
        names = sorted({name.rsplit(".", 1)[-1] for name, module in base.named_modules()
                        if isinstance(module, torch.nn.Linear) and ".layers." in name})
    return {"target_modules": names, "layers_to_transform": list(range(layers - top_layers, layers))}


class OneAdapter:
    """One LoRA adapter for every fact, saved as the run's adapter/."""

    def check(self, config: TuneConfig, examples: list[D.Example], processes: int) -> None:
        """Refuse a run this strategy cannot train (before the weights load)."""

    def attach(self, base, lora):
        from peft import get_peft_model

        return get_peft_model(base, lora)

    def names_for(self, examples: list[D.Example]) -> list[str] | None:
        """The adapter each example goes through; None: the one adapter for all."""
        return None

    def train_mode(self, model) -> None:
        model.train()

    def state_dict(self, model) -> dict[str, Any]:
        from peft import get_peft_model_state_dict

        return get_peft_model_state_dict(model)

    def load_state_dict(self, model, state: dict[str, Any]) -> None:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, state)

    def refresh(self, ledger: FactLedger) -> None:
        """The ledger changed (a recall check, a roll-back, a new epoch)."""

    def in_plan(self, fact_id: int) -> bool:
        """Whether an epoch still trains this fact (memorized facts are revisited in one adapter)."""
        return True

    def save(self, model, tokenizer, out: Path, ledger: FactLedger) -> Path:
        """The adapter, its tokenizer and the per-fact scores; returns where the adapter went."""
        adapter = out / ADAPTER
        model.save_pretrained(adapter)
        tokenizer.save_pretrained(adapter)
        (out / FACT_SCORES).write_text(json.dumps(ledger.scores(), indent=1))
        return adapter

    def summary(self, ledger: FactLedger) -> dict[str, Any]:
        """What the finished event adds for this strategy."""
        return {}
