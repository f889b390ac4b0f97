"""Several memory experts trained at once: one model, one memory-tuning loop, one adapter per expert.

Each expert is a named LoRA adapter of the same peft model. A batch mixes the facts of every expert
in the group and sends each example through its own expert's adapter (peft's mixed-adapter forward,
`adapter_names`), so a gradient reaches only the adapter its example went through: an expert learns
from its own facts alone, as if trained by itself, while the base model's share of a step — nearly
all of it for small adapters — is done once for the whole group. A group needs far fewer optimizer
steps than its experts one after another (40 facts in 4 experts: 115 against 387), but no less time:
on a CPU a step costs in proportion to its examples, and on an H100 peft's mixed-adapter forward,
which runs each adapter's rows separately in every LoRA layer, made a group's step cost about as much
as its experts' single steps together (141 s against 131 s one at a time). So experts train one at a
time by default (`engine.tune.device.default_experts_at_once`).

The group's own folder (RUN/groups/FIRST-EXPERT) holds its data, events and checkpoint, so a stopped
group resumes exactly; each expert's adapter, facts and per-fact scores go to the expert's folder as
if it had been trained alone, which is all that routing, export and incremental memory read.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from engine.tune import data as D
from engine.tune.config import TuneConfig
from engine.tune.adapters import OneAdapter
from engine.tune.events import EventLog
from engine.tune.ledger import FactLedger
from engine.tune.recipe import MemoryTuningRecipe
from engine.tune.run_folder import ADAPTER, FACT_SCORES

MEMBERS = "experts.json"  # in a group's folder: expert name -> fact ids


def can_train_together(config: TuneConfig) -> str | None:
    """Why experts of this config cannot share batches, or None when they can. peft takes per-example
    adapters only outside training mode, where dropout is off; regularization examples would need an
    expert of their own."""
    if config.lora_dropout:
        return "LoRA dropout is on (experts trained together run without dropout)"
    if config.regularization_in_effect != "none":
        return f"regularization '{config.regularization_in_effect}' trains one adapter at a time"
    return None


class ExpertAdapters(OneAdapter):
    """One LoRA adapter per expert of the group, each fact through its expert's adapter. An expert whose
    facts are all memorized and recalled is done: its facts leave the epochs, so its adapter stays as it
    is while the others go on. The group converges when every expert is done."""

    def __init__(self, members: dict[str, list[int]], folders: dict[str, Path]) -> None:
        self.members = members  # expert name -> its fact ids
        self.folders = folders  # expert name -> its folder in the run
        self.expert_of = {fact_id: name for name, ids in members.items() for fact_id in ids}
        self.done: set[str] = set()

    def check(self, config: TuneConfig, examples: list[D.Example], processes: int) -> None:
        reason = can_train_together(config)
        if reason:
            raise ValueError(f"memory experts cannot be trained together: {reason}")
        if processes > 1:
            raise ValueError("memory experts are trained together in one process only; set experts_at_once to 1")
        missing = [e.fact_id for e in examples if e.fact_id not in self.expert_of]
        if missing:
            raise ValueError(f"facts {missing[:5]} belong to no expert of the group")

    def attach(self, base, lora):
        from peft import get_peft_model

        names = list(self.members)
        model = get_peft_model(base, lora, adapter_name=names[0])
        for name in names[1:]:
            model.add_adapter(name, lora)
        model.base_model.set_adapter(names)  # every expert's adapter trainable
        return model

    def names_for(self, examples: list[D.Example]) -> list[str]:
        return [self.expert_of[e.fact_id] for e in examples]

    def train_mode(self, model) -> None:
        # peft refuses per-example adapters in training mode; with dropout off (can_train_together)
        # evaluation mode computes the same forward pass, gradients included
        model.eval()

    def state_dict(self, model) -> dict[str, Any]:
        from peft import get_peft_model_state_dict

        return {name: get_peft_model_state_dict(model, adapter_name=name) for name in self.members}

    def load_state_dict(self, model, state: dict[str, Any]) -> None:
        from peft import set_peft_model_state_dict

        for name, weights in state.items():
            set_peft_model_state_dict(model, weights, adapter_name=name)

    def refresh(self, ledger: FactLedger) -> None:
        """Experts whose every fact is below the loss threshold and was recalled at the last check (by
        decoding, or by the teacher-forced verdict of its last training step) are done; after a roll-back
        an expert done since the kept epoch is trained again."""
        self.done = {name for name, ids in self.members.items()
                     if all(ledger.loss.get(i, math.inf) < ledger.threshold and ledger.recalled.get(i)
                            and i not in ledger.missed for i in ids)}

    def in_plan(self, fact_id: int) -> bool:
        """Unlike facts in one adapter, experts cannot disturb each other: a done expert's facts need no
        revisiting."""
        return self.expert_of[fact_id] not in self.done

    def save(self, model, tokenizer, out: Path, ledger: FactLedger) -> Path:
        """Each expert's adapter (and tokenizer, and per-fact scores) in its own folder."""
        staging = out / "adapters"
        shutil.rmtree(staging, ignore_errors=True)
        for name, ids in self.members.items():
            model.save_pretrained(staging, selected_adapters=[name])  # peft: STAGING/NAME/ (not 'default')
            adapter = self.folders[name] / ADAPTER
            shutil.rmtree(adapter, ignore_errors=True)
            shutil.move(str(staging / name), adapter)
            tokenizer.save_pretrained(adapter)
            (self.folders[name] / FACT_SCORES).write_text(json.dumps(ledger.scores(ids), indent=1))
        shutil.rmtree(staging, ignore_errors=True)
        return out

    def summary(self, ledger: FactLedger) -> dict[str, Any]:
        """Each expert's share of its facts recalled exactly at the last check."""
        return {"expert_recall": {name: sum(bool(ledger.recalled.get(i)) for i in ids) / max(1, len(ids))
                                  for name, ids in self.members.items()}}


def expert_batch_recipe(config: TuneConfig, members: dict[str, list[int]], folders: dict[str, Path],
                        events: EventLog | None = None, resume: bool = False,
                        stop_file: Path | None = None) -> MemoryTuningRecipe:
    """The memory-tuning loop over the union of a group's facts, with one adapter per expert."""
    return MemoryTuningRecipe(config, events, resume=resume, stop_file=stop_file,
                              adapters=ExpertAdapters(members, folders))


def same_group(folder: Path, members: dict[str, list[int]]) -> bool:
    """Whether a group folder (left by a stopped run) was made for exactly these experts and facts."""
    path = Path(folder) / MEMBERS
    return path.exists() and json.loads(path.read_text()) == members
