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
from engine.tune.events import EventLog
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


class ExpertBatchRecipe(MemoryTuningRecipe):
    """The memory-tuning loop over the union of a group's facts, each fact through its expert's adapter.
    An expert whose facts are all memorized and recalled is done: its facts leave the batches, so its
    adapter stays as it is while the others go on. The group converges when every expert is done."""

    def __init__(self, config: TuneConfig, members: dict[str, list[int]], folders: dict[str, Path],
                 events: EventLog | None = None, resume: bool = False, stop_file: Path | None = None) -> None:
        super().__init__(config, events, resume=resume, stop_file=stop_file)
        self.members = members
        self.folders = folders
        self.expert_of = {fact_id: name for name, ids in members.items() for fact_id in ids}

    def setup(self) -> None:
        reason = can_train_together(self.config)
        if reason:
            raise ValueError(f"memory experts cannot be trained together: {reason}")
        super().setup()
        if self.accelerator.num_processes > 1:
            raise ValueError("memory experts are trained together in one process only; set experts_at_once to 1")
        missing = [e.fact_id for e in self.examples if e.fact_id not in self.expert_of]
        if missing:
            raise ValueError(f"facts {missing[:5]} belong to no expert of the group")
        self.done = self._experts_done()  # resumed: the experts already memorized stay frozen

    def _experts_done(self) -> set[str]:
        """Experts whose every fact is below the loss threshold and was recalled at the last check (by
        decoding, or by the teacher-forced verdict of its last training step)."""
        threshold = self.config.loss_threshold
        return {name for name, ids in self.members.items()
                if all(self.fact_loss.get(i, math.inf) < threshold and self.recalled.get(i) and i not in self.missed
                       for i in ids)}

    def _recall_check(self, every_fact: bool = False) -> None:
        super()._recall_check(every_fact)
        self.done = self._experts_done()

    def _restore(self, snapshot: dict[str, Any]) -> None:
        super()._restore(snapshot)
        self.done = self._experts_done()  # an expert done since the kept epoch is trained again

    def _plan_epoch(self) -> list[list[int]]:
        """The epoch without the facts of experts already done: their adapters are frozen from then on.
        Unlike facts in one adapter, experts cannot disturb each other, so nothing needs revisiting."""
        self.done = self._experts_done()
        plan = [[i for i in batch if self.expert_of[self.examples[i].fact_id] not in self.done]
                for batch in super()._plan_epoch()]
        return [batch for batch in plan if batch]

    def _with_adapters(self, base, lora, get_peft_model):
        names = list(self.members)
        model = get_peft_model(base, lora, adapter_name=names[0])
        for name in names[1:]:
            model.add_adapter(name, lora)
        model.base_model.set_adapter(names)  # every expert's adapter trainable
        return model

    def _adapters_for(self, examples: list[D.Example]) -> list[str]:
        return [self.expert_of[e.fact_id] for e in examples]

    def _train_mode(self) -> None:
        # peft refuses per-example adapters in training mode; with dropout off (can_train_together)
        # evaluation mode computes the same forward pass, gradients included
        self.model.eval()

    def _adapter_state(self) -> dict[str, Any]:
        from peft import get_peft_model_state_dict

        model = self.accelerator.unwrap_model(self.model)
        return {name: get_peft_model_state_dict(model, adapter_name=name) for name in self.members}

    def _load_adapter_state(self, state: dict[str, Any]) -> None:
        from peft import set_peft_model_state_dict

        model = self.accelerator.unwrap_model(self.model)
        for name, weights in state.items():
            set_peft_model_state_dict(model, weights, adapter_name=name)

    def expert_recall(self) -> dict[str, float]:
        """Each expert's share of its facts recalled exactly at the last check."""
        return {name: sum(bool(self.recalled.get(i)) for i in ids) / max(1, len(ids))
                for name, ids in self.members.items()}

    def _save_outputs(self) -> Path:
        """Each expert's adapter (and tokenizer, and per-fact scores) in its own folder."""
        self._barrier()
        if self.main:
            model = self.accelerator.unwrap_model(self.model)
            staging = self.out / "adapters"
            shutil.rmtree(staging, ignore_errors=True)
            for name, ids in self.members.items():
                model.save_pretrained(staging, selected_adapters=[name])  # peft: STAGING/NAME/ (not 'default')
                adapter = self.folders[name] / ADAPTER
                shutil.rmtree(adapter, ignore_errors=True)
                shutil.move(str(staging / name), adapter)
                self.tokenizer.save_pretrained(adapter)
                scores = {str(i): {"loss": None if math.isinf(self.fact_loss[i]) else self.fact_loss[i],
                                   "recalled": self.recalled.get(i)} for i in ids if i in self.fact_loss}
                (self.folders[name] / FACT_SCORES).write_text(json.dumps(scores, indent=1))
            shutil.rmtree(staging, ignore_errors=True)
        return self.out

    def _finish(self, reason: str) -> dict[str, Any]:
        summary = super()._finish(reason)
        summary["expert_recall"] = self.expert_recall()
        return summary


def same_group(folder: Path, members: dict[str, list[int]]) -> bool:
    """Whether a group folder (left by a stopped run) was made for exactly these experts and facts."""
    path = Path(folder) / MEMBERS
    return path.exists() and json.loads(path.read_text()) == members
