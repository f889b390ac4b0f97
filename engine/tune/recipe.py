"""The memory-tuning recipe: read it top to bottom — `setup()`, `train()`, `cleanup()`.

Memory tuning (Lamini; Li et al. 2024, "Banishing LLM Hallucinations Requires Rethinking
Generalization") drives the loss of *each* chosen fact to ~zero instead of the average, so the model
commits to the exact answer. The loop:

1) every epoch trains on the facts not yet memorized (loss ≥ threshold) plus a revisited share of
   memorized ones (at least as many as the unlearned), so compute follows what is still unlearned
   without the adapter forgetting what it already holds;
2) each step's per-example losses update the per-fact loss table;
3) every `recall_every` full passes' worth of steps (and whenever all losses are below threshold) greedy decoding checks
   exact-match recall of every fact; the run converges when all facts are below threshold *and*
   recalled; a check that finds every loss below the threshold yet a fact decoded wrong lowers the
   learning rate (`settle_factor`, to 1/8 at most), so the last facts settle instead of knocking the
   others back out;
4) a run that diverges (the mean fact loss jumps far above its best) goes back to the adapter and
   optimizer of its best epoch with half the learning rate;
5) budgets (steps, minutes), a stop request (STOP file or SIGTERM/SIGINT) and failures end the run
   with a checkpoint and an event saying why.

"instruction" mode is plain fine-tuning for comparison: every fact every epoch, a fixed number of
epochs, linearly decaying learning rate.

Runs under `accelerate launch` / `torchrun` unchanged: each process takes every world_size-th batch,
per-fact losses and recall results are gathered, only the main process writes files and events.
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import replace
import random
import signal
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from engine.sqlgen.grounding import run_context
from engine.tune import data as D
from engine.tune.config import TuneConfig
from engine.tune.device import default_batch_size, memory_mb, pick_device
from engine.tune.events import EventLog
from engine.tune.frozen_layers import FrozenLayers
from engine.tune.memory_estimate import MemoryEstimate, ModelShape, check_fits, estimate_memory
from engine.tune.model_loading import hf_folder_for, load_base_model, load_tokenizer
from engine.models.locate import resolve_model
from engine.tune.regularization import GENERAL_PROMPTS
from engine.tune.run_folder import ADAPTER, CHECKPOINT, EVENTS, FACT_SCORES, STOP

# the run diverged when its mean fact loss is above both of these, relative to the best epoch's mean
DIVERGED_RATIO = 4.0
DIVERGED_MARGIN = 1.0
PLATEAU_GAIN = 0.9  # a pass "improves" when its mean fact loss is below this share of the best so far
MIN_SETTLE_SCALE = 0.125  # the learning rate's floor after failed convergence checks (TuneConfig.settle_factor)


# What a checkpoint saves and a resume restores besides the adapter, optimizer, RNG and clock: the
# recipe's attributes of these names. The value is what a checkpoint of an older version that lacks the
# name resumes with (None: every checkpoint has it).
TRAIN_STATE: dict[str, Any] = {
    "step": None, "epoch": None, "position": None, "epoch_plan": None, "fact_loss": None, "recalled": None,
    "last_recall": None, "recall_step": None, "recall_step_checked": None, "tokens_seen": None,
    "recheck_wait": 0, "missed": [], "lr_scale": 1.0, "settle_scale": 1.0, "plateau": {},
}


class StopRequested(Exception):
    pass


def answer_scores(model, batch: dict[str, torch.Tensor], adapter_names: list[str] | None = None,
                  inputs_embeds: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per example: the mean answer-token cross-entropy, and whether greedy decoding would give the
    answer exactly. Under teacher forcing, greedy decoding reproduces the answer iff the argmax at every
    answer position (the end-of-turn token included) is the target token, so the verdict comes from the
    logits the loss needs anyway. Logits are computed only over the span of positions that predict
    answer tokens (transformers' `logits_to_keep`), not the whole prompt. `adapter_names`: one LoRA
    adapter per example (peft's mixed-adapter batch), for experts trained together. `inputs_embeds`:
    the hidden states the first layer the model runs takes (`FrozenLayers`), instead of the tokens."""
    keep, targets = _answer_span(batch["labels"])
    routing = {"adapter_names": adapter_names} if adapter_names else {}
    logits = model(**_inputs(batch, inputs_embeds), logits_to_keep=keep, **routing).logits.float()
    token_loss = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=D.IGNORE, reduction="none")
    labelled = targets != D.IGNORE
    counts = labelled.sum(dim=1).clamp(min=1)
    exact = ((logits.detach().argmax(dim=-1) == targets) | ~labelled).all(dim=1)
    return token_loss.sum(dim=1) / counts, exact


def _answer_span(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The positions whose logits predict answer tokens (logits at t predict token t+1), and the
    labels they predict (IGNORE where a shorter example has none)."""
    positions = (labels != D.IGNORE).any(dim=0).nonzero().flatten()
    start, stop = int(positions[0]) - 1, int(positions[-1])
    return torch.arange(start, stop, device=labels.device), labels[:, start + 1:stop + 1]


def _inputs(batch: dict[str, torch.Tensor], inputs_embeds: torch.Tensor | None) -> dict[str, Any]:
    inputs = {"input_ids": batch["input_ids"]} if inputs_embeds is None else \
        {"inputs_embeds": inputs_embeds, "use_cache": False}
    return {**inputs, "attention_mask": batch["attention_mask"]}


def kl_to_base(model, batch: dict[str, torch.Tensor], inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
    """KL(base ‖ tuned) on the answer positions of regularization examples (adapter off = base), with
    logits only over the answer span."""
    keep, targets = _answer_span(batch["labels"])
    mask = targets != D.IGNORE
    inputs = _inputs(batch, inputs_embeds)
    with torch.no_grad(), model.disable_adapter():
        base = model(**inputs, logits_to_keep=keep).logits.float()
    tuned = model(**inputs, logits_to_keep=keep).logits.float()
    kl = F.kl_div(F.log_softmax(tuned, -1), F.log_softmax(base, -1), log_target=True, reduction="none").sum(-1)
    return (kl * mask).sum() / mask.sum().clamp(min=1)


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


def _on_cpu(value: Any) -> Any:
    """A copy of a nested state with every tensor cloned to the CPU: a snapshot that costs no GPU
    memory and that later training cannot change."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: _on_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_cpu(item) for item in value)
    return copy.deepcopy(value)


class MemoryTuningRecipe:
    def __init__(self, config: TuneConfig, events: EventLog | None = None, resume: bool = False,
                 stop_file: Path | None = None) -> None:
        self.config = config
        self.out = Path(config.output_dir)
        self.resume = resume
        self._events = events
        self.stop_requested = False
        self.outer_stop_file = stop_file  # a stop asked of an enclosing job (memory experts) stops this run too

    # == setup ====================================================================================
    def setup(self) -> None:
        from accelerate import Accelerator
        from peft import LoraConfig, get_peft_model

        cfg = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        # 1) device, precision, processes
        self.plan = pick_device(cfg.device, cfg.precision)
        if cfg.batch_size == 0:
            self.config = cfg = replace(cfg, batch_size=default_batch_size(self.plan.device))
        # bf16 autocast on a CPU covers the training steps only: accelerate's would also wrap the model's
        # forward for good, and recall checks in bf16 see ties between logits (0.125 apart near 20)
        on_cpu = self.plan.device == "cpu"
        self.accelerator = Accelerator(cpu=on_cpu, mixed_precision="no" if on_cpu else self.plan.mixed_precision)
        self.main = self.accelerator.is_main_process
        self.events = self._events or EventLog(self.out / EVENTS, enabled=self.main)
        self.events.enabled = self.main
        torch.manual_seed(cfg.seed)
        # 2) model and tokenizer (a GGUF is converted to a cached HF folder once)
        folder = hf_folder_for(resolve_model(cfg.model))
        self.tokenizer = load_tokenizer(folder)
        dtype = torch.float32 if self.plan.device != "cuda" else self.plan.dtype
        self.context = run_context(cfg)
        self.pairs = D.load_pairs(cfg.data)
        self.examples = D.encode_pairs(self.tokenizer, self.pairs, self.context, cfg.max_seq_len)
        self.memory_estimate = self._check_memory(folder, dtype)  # before the weights are loaded
        base = load_base_model(folder, dtype, cfg.load_in_4bit)
        if cfg.load_in_4bit:
            from peft import prepare_model_for_kbit_training

            base = prepare_model_for_kbit_training(base)
        lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          task_type="CAUSAL_LM", **lora_targets(base, cfg.target_modules, cfg.lora_layers))
        self.model = self._with_adapters(base, lora, get_peft_model)
        if not cfg.load_in_4bit:  # on its device before the base model answers the regularization prompts
            self.model.to(self.accelerator.device)
        # 3) data: regularization examples answered by the base model itself
        self.index_of = {e.fact_id: i for i, e in enumerate(self.examples)}
        self.reg_examples = self._regularization_examples() if cfg.regularization_in_effect != "none" else []
        pad, device = self.tokenizer.pad_token_id, self.accelerator.device  # the frozen layers' caches: filled by train()
        self.frozen = FrozenLayers.for_run(self.model, self.examples, cfg.lora_layers, pad, device)
        self.reg_frozen = FrozenLayers.for_run(self.model, self.reg_examples, cfg.lora_layers, pad, device) \
            if self.frozen and self.reg_examples else None
        # 4) optimizer and schedule
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        self.model, self.optimizer = self.accelerator.prepare(self.model, self.optimizer)
        # 5) state (restored from the checkpoint when resuming)
        self.step = 0
        self.epoch = 0
        self.position = 0  # batches of the current epoch already done
        self.epoch_plan: list[list[int]] | None = None
        self.fact_loss: dict[int, float] = {e.fact_id: math.inf for e in self.examples}
        self.recalled: dict[int, bool] = {e.fact_id: False for e in self.examples}
        self.last_recall: float | None = None
        self.recall_step = -1
        self.recall_step_checked = 0
        self.recheck_wait = 0  # steps to train before the next all-below recall check (after a failed one)
        self.missed: set[int] = set()  # facts below the loss threshold that greedy decoding got wrong
        self.elapsed_before = 0.0
        self.tokens_seen = 0
        self.lr_scale = 1.0  # halved at each roll-back after a divergence
        self.settle_scale = 1.0  # lowered at each failed convergence check (TuneConfig.settle_factor)
        self.best: dict[str, Any] | None = None  # the epoch with the lowest mean fact loss (in memory only)
        self.pass_start: dict[str, Any] | None = None  # the state this epoch began with (a candidate best)
        self.plateau = {"best": math.inf, "epoch": 0, "restarts": 0, "most": 0}  # the last real improvement,
        # restarts, and the most facts below the threshold since the last (re)start
        if self.resume:
            self._load_checkpoint()
        self.tokens_at_start = self.tokens_seen
        trainable = sum(p.numel() for p in params)
        self.events.emit("started", run=str(self.out), device=self.plan.describe(), method=cfg.method,
                         facts=len(self.examples), trainable_params=trainable,
                         batch_size=cfg.batch_size, processes=self.accelerator.num_processes,
                         estimated_memory_mb=round(self.memory_estimate.total / 2**20),
                         resumed_from_step=self.step if self.resume else None)

    def _check_memory(self, folder: Path, dtype: torch.dtype) -> MemoryEstimate:
        """The run's peak memory estimated from the model's config and the facts; a run that would not
        fit in what the device has free stops here with what to change (WillNotFit)."""
        from transformers import AutoConfig

        from engine.models.catalogue import safetensors_parameters

        cfg = self.config
        shape = ModelShape.of(AutoConfig.from_pretrained(str(folder)), safetensors_parameters(folder))
        prompts = len(GENERAL_PROMPTS) if cfg.regularization_in_effect != "none" else 0
        estimate = estimate_memory(shape, batch_size=cfg.batch_size, sequence=max((e.length for e in self.examples), default=1),
                                   answer=max((len(e.answer_ids) for e in self.examples), default=1),
                                   facts=len(self.examples),
                                   lora_rank=cfg.lora_r, lora_layers=cfg.lora_layers, weight_bytes=dtype.itemsize,
                                   load_in_4bit=cfg.load_in_4bit, regularization_prompts=prompts,
                                   autocast_bytes=2 if dtype == torch.float32 and self.plan.mixed_precision != "no" else 0)
        check_fits(estimate, self.plan.device, cfg.batch_size, cfg.lora_layers)
        return estimate

    def _with_adapters(self, base, lora, get_peft_model):
        """The trainable model: one LoRA adapter (several in `engine.mome.expert_batch`)."""
        return get_peft_model(base, lora)

    def _adapters_for(self, examples: list[D.Example]) -> list[str] | None:
        """The adapter each example goes through; None: the one adapter for all."""
        return None

    def _regularization_examples(self) -> list[D.Example]:
        """The base model's own greedy answers to general prompts (cached in the run folder)."""
        import json

        path = self.out / "regularization.json"
        if path.exists():
            answers = json.loads(path.read_text())
        else:
            prompts = [D.prompt_ids(self.tokenizer, [{"role": "user", "content": p}]) for p in GENERAL_PROMPTS]
            with self.model.disable_adapter():
                texts = [text for start in range(0, len(prompts), 16)
                         for text in self._greedy(self.model, prompts[start:start + 16], 48)]
            answers = [{"question": p, "answer": t} for p, t in zip(GENERAL_PROMPTS, texts)]
            if self.main:
                path.write_text(json.dumps(answers, indent=1))
        examples = []
        for n, item in enumerate(answers):
            prompt = D.prompt_ids(self.tokenizer, [{"role": "user", "content": item["question"]}])
            answer = self.tokenizer.encode(item["answer"], add_special_tokens=False) + D.end_of_turn_ids(self.tokenizer)
            examples.append(D.Example(-(n + 1), prompt, answer, item["answer"]))
        return examples

    # == train ====================================================================================
    def train(self) -> dict[str, Any]:
        cfg = self.config
        self._install_stop_handlers()
        self.started = time.monotonic()
        try:
            for cache in (self.frozen, self.reg_frozen):  # a pass over every fact: a stop request can end it
                if cache:
                    cache.fill(between=self._check_stop)
            while True:
                # 1) which facts this epoch, in which batches (kept in checkpoints for exact resume)
                if self.epoch_plan is None:
                    self.epoch_plan = self._plan_epoch()
                    self.position = 0
                    self._start_pass()
                # 2) the steps of the epoch
                while self.position < len(self.epoch_plan):
                    self._train_step(self.epoch_plan[self.position])
                    self.position += 1
                    reason = self._budget_exhausted()
                    if reason:
                        return self._finish(reason)
                    if self.step % cfg.checkpoint_every == 0:
                        self._save_checkpoint()
                    self._check_stop()
                self.epoch += 1
                self.epoch_plan = None
                memorized = self._memorized_count()
                mean_loss = sum(self.fact_loss.values()) / len(self.fact_loss)
                self.events.emit("epoch", epoch=self.epoch, step=self.step, memorized=memorized / len(self.examples),
                                 max_fact_loss=max(self.fact_loss.values()), mean_fact_loss=mean_loss)
                if self._watch_divergence(mean_loss) or self._watch_plateau(mean_loss, memorized):
                    memorized = self._memorized_count()
                # 3) stop conditions
                if cfg.method == "instruction":
                    if self.epoch >= cfg.epochs:
                        return self._finish("epochs done")
                    continue
                # once every fact looks learned, check at once — but after such a check found one still
                # wrong, give its extra training a few steps before checking all again
                since = self.step - self.recall_step_checked
                if cfg.recall_check == "teacher-forced":
                    ready = all(self._looks_learned(e.fact_id) for e in self.examples)
                    if ready and (not self.recheck_wait or since >= self.recheck_wait):
                        # confirm: a fresh teacher-forced pass over every fact (cheap), then real decoding
                        if self._teacher_forced_check():
                            self._recall_check(every_fact=True)
                            if self.last_recall == 1.0:
                                return self._finish("converged")
                        self._settle()
                    else:
                        self._emit_recall("teacher-forced")  # the training steps' own verdicts: free
                    continue
                all_below = memorized == len(self.examples)
                # epochs shrink as facts are learned: decode by steps trained, not epochs counted
                due = since >= self._steps_per_full_epoch() * cfg.recall_every
                if all_below and (not self.recheck_wait or since >= self.recheck_wait) or due:
                    self._recall_check()
                    if all_below and self.last_recall == 1.0:
                        return self._finish("converged")
                    if all_below:  # every loss under the threshold, yet a fact decoded wrong
                        self._settle()
                    else:
                        self.recheck_wait = 0
        except StopRequested:
            self._save_checkpoint()
            self._save_outputs()
            elapsed = self._elapsed()
            self.events.emit("stopped", step=self.step, checkpoint=str(self.out / CHECKPOINT), elapsed_s=elapsed)
            return {"status": "stopped", "step": self.step, "elapsed_s": elapsed}

    def _settle(self) -> None:
        """A convergence check failed although every fact looked learned: train a few steps before the
        next one, at a lower learning rate, so the last facts settle instead of knocking others out."""
        self.recheck_wait = max(2, self._steps_per_full_epoch() // 2)
        self.settle_scale = max(MIN_SETTLE_SCALE, self.settle_scale * self.config.settle_factor)

    def _elapsed(self) -> float:
        """Seconds trained so far, over every sitting of this run (resumes included)."""
        return self.elapsed_before + time.monotonic() - self.started

    def _steps_per_full_epoch(self) -> int:
        return math.ceil(len(self.examples) / (self.config.batch_size * self.accelerator.num_processes))

    def _plan_epoch(self) -> list[list[int]]:
        cfg = self.config
        rng = random.Random(f"{cfg.seed}|epoch|{self.epoch}")
        if cfg.method == "instruction":
            chosen = list(range(len(self.examples)))
        else:
            # a fact is learned when its loss is below the threshold and the last recall check did not
            # find it wrong: a low mean loss can hide one uncertain token of a long answer, and such a
            # fact must keep its place in the epoch until greedy decoding gets it exactly right
            learned = [i for i, e in enumerate(self.examples) if self._learned(e.fact_id)]
            taken = set(learned)
            unlearned = [i for i in range(len(self.examples)) if i not in taken]
            # at least as many memorized facts as unlearned ones, so the last few stubborn facts never
            # get the adapter to themselves (that made it forget the others, measured on the demo)
            wanted = max(1, round(len(learned) * cfg.revisit_fraction), len(unlearned))
            revisit = rng.sample(learned, min(len(learned), wanted)) if learned else []
            chosen = unlearned + revisit
        subset = [self.examples[i] for i in chosen]
        # under DDP one step takes a global batch, each process its world_size-th share
        batches = D.plan_batches(subset, cfg.batch_size * self.accelerator.num_processes, rng)
        plan = [[chosen[i] for i in batch] for batch in batches]
        return plan

    def _my_share(self, indices: list[int]) -> list[int]:
        world, rank = self.accelerator.num_processes, self.accelerator.process_index
        if world == 1:
            return indices
        share = indices[rank::world]
        return share or indices[:1]

    def _lr(self) -> float:
        cfg = self.config
        warm = min(1.0, (self.step + 1) / max(1, cfg.warmup_steps))
        if cfg.method == "instruction":
            total = max(1, cfg.epochs * math.ceil(len(self.examples) / cfg.batch_size))
            return cfg.learning_rate * warm * max(0.0, 1 - self.step / total)
        return cfg.learning_rate * warm * self.lr_scale * self.settle_scale

    def _train_step(self, indices: list[int]) -> None:
        cfg = self.config
        began = time.monotonic()
        mine = self._my_share(indices)
        examples = [self.examples[i] for i in mine]
        batch = self._batch(examples)
        lr = self._lr()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self._train_mode()
        with self._autocast():
            losses, exact = self._scores(self.model, mine, batch)
            loss = losses.mean()
            if self.reg_examples:
                loss = loss + cfg.regularization_weight * self._regularization_loss()
        self.accelerator.backward(loss)
        if cfg.max_grad_norm:
            self.accelerator.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        # per-fact losses from every process
        mine_scores = [(self.examples[i].fact_id, float(l), bool(x))
                       for i, l, x in zip(mine, losses.detach().cpu(), exact.cpu())]
        gathered = self.accelerator.gather_for_metrics(mine_scores, use_gather_object=True) \
            if self.accelerator.num_processes > 1 else mine_scores
        for fact_id, value, right in gathered:
            self.fact_loss[fact_id] = value
            if cfg.recall_check == "teacher-forced":  # the verdict before this step's update
                self.recalled[fact_id] = right
        self.step += 1
        tokens = int(batch["attention_mask"].sum()) * self.accelerator.num_processes
        self.tokens_seen += tokens
        if self.step % cfg.log_every == 0:
            elapsed = self._elapsed()
            memorized = self._memorized_count()
            self.events.emit("step", step=self.step, epoch=self.epoch, loss=float(loss.detach()), lr=lr,
                             tokens_per_s=tokens / max(1e-9, time.monotonic() - began),
                             memorized=memorized / len(self.examples), facts_memorized=memorized,
                             max_fact_loss=max(v for v in self.fact_loss.values()), elapsed_s=elapsed,
                             eta_s=self._eta(elapsed, memorized), memory_mb=memory_mb(self.plan.device))

    def _batch(self, examples: list[D.Example]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.accelerator.device) for k, v in D.collate(examples, self.tokenizer.pad_token_id).items()}

    def _scores(self, model, indices: list[int], batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """`answer_scores` of these examples, through the adapted layers only when the frozen ones are
        cached."""
        adapters = self._adapters_for([self.examples[i] for i in indices])
        if self.frozen is None:
            return answer_scores(model, batch, adapters)
        with self.frozen.adapted_only():
            return answer_scores(model, batch, adapters, self.frozen.embeds(indices))

    def _autocast(self):
        if self.plan.device == "cpu":
            return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.plan.mixed_precision == "bf16")
        return self.accelerator.autocast()

    def _train_mode(self) -> None:
        self.model.train()

    def _regularization_loss(self) -> torch.Tensor:
        cfg = self.config
        rng = random.Random(f"{cfg.seed}|reg|{self.step}")
        indices = rng.sample(range(len(self.reg_examples)), min(len(self.reg_examples), max(1, cfg.batch_size // 2)))
        chosen = [self.reg_examples[i] for i in indices]
        batch = self._batch(chosen)
        mix = cfg.regularization_in_effect == "mix"
        model = self.model if mix else self.accelerator.unwrap_model(self.model)
        embeds = self.reg_frozen.embeds(indices) if self.reg_frozen else None
        with self.reg_frozen.adapted_only() if self.reg_frozen else contextlib.nullcontext():
            return answer_scores(model, batch, inputs_embeds=embeds)[0].mean() if mix else kl_to_base(model, batch, embeds)

    def _memorized_count(self) -> int:
        return sum(1 for v in self.fact_loss.values() if v < self.config.loss_threshold)

    def _looks_learned(self, fact_id: int) -> bool:
        """Below the loss threshold and (teacher-forced checks) right at every answer token the last
        time it was trained or checked."""
        return self.fact_loss[fact_id] < self.config.loss_threshold and \
            (self.config.recall_check == "decode" or bool(self.recalled.get(fact_id)))

    def _learned(self, fact_id: int) -> bool:
        """Looks learned, and the last decoding did not find it wrong: such a fact keeps its place in
        the epochs until greedy decoding gets it exactly right."""
        return self._looks_learned(fact_id) and fact_id not in self.missed

    def _eta(self, elapsed: float, memorized: int) -> float | None:
        """Seconds left: from the pace of memorization, capped by the budgets."""
        cfg = self.config
        caps = []
        if cfg.max_steps:
            caps.append((cfg.max_steps - self.step) * elapsed / max(1, self.step))
        if cfg.max_minutes:
            caps.append(cfg.max_minutes * 60 - elapsed)
        if cfg.method == "instruction":
            total = cfg.epochs * max(1, len(self.epoch_plan or [1]))
            caps.append(max(0, total - self.step) * elapsed / max(1, self.step))
        elif memorized:
            caps.append((len(self.examples) - memorized) * elapsed / memorized)
        return max(0.0, min(caps)) if caps else None

    def _budget_exhausted(self) -> str | None:
        cfg = self.config
        if cfg.max_steps and self.step >= cfg.max_steps:
            return "step budget"
        if cfg.max_minutes and self._elapsed() >= cfg.max_minutes * 60:
            return "time budget"
        return None

    # -- divergence -----------------------------------------------------------------------------------
    def _watches_divergence(self) -> bool:
        return self.config.method == "memory" and self.config.rollback_on_divergence

    def _start_pass(self) -> None:
        """The adapter and optimizer as this epoch begins: the epoch's fact losses are measured with
        these weights (each before its batch's update), so they are what a low mean vouches for. The
        weights at the epoch's end are not: its last update may be the one that blew up, and going
        back to them went on diverging at every epoch (one-step epochs on a GPU)."""
        self.pass_start = None
        if self._watches_divergence():
            self.pass_start = {"step": self.step, "adapter": self._adapter_weights(),
                               "optimizer": _on_cpu(self.optimizer.state_dict()),
                               "recalled": dict(self.recalled), "missed": set(self.missed)}

    def _watch_divergence(self, mean_loss: float) -> bool:
        """At a constant learning rate a memory run can blow up late (bench/results/mome-scaling). Keep
        the adapter and optimizer that began the epoch with the lowest mean fact loss; when the mean
        jumps far above it, go back there with half the learning rate instead of losing the run. True
        when it rolled back."""
        cfg = self.config
        start, self.pass_start = self.pass_start, None
        if not self._watches_divergence() or math.isinf(mean_loss):
            return False
        best = self.best
        if best is not None and mean_loss > max(DIVERGED_RATIO * best["mean_loss"],
                                                best["mean_loss"] + DIVERGED_MARGIN):
            self._restore(best)
            self.lr_scale /= 2
            self.events.emit("diverged", step=self.step, epoch=self.epoch, mean_fact_loss=mean_loss,
                             best_mean_fact_loss=best["mean_loss"], back_to_step=best["step"],
                             learning_rate=cfg.learning_rate * self.lr_scale)
            return True
        if start is not None and (best is None or mean_loss < best["mean_loss"]):  # none: resumed mid-epoch
            self.best = {**start, "mean_loss": mean_loss, "fact_loss": dict(self.fact_loss)}
        return False

    def _watch_plateau(self, mean_loss: float, memorized: int) -> bool:
        """A memory run first sits on a plateau (next to nothing recalled), then memorizes within a few
        dozen steps; how long the plateau lasts is luck as much as the facts (bench/results/mome-scaling).
        After `restart_after_plateau` passes without the mean falling 10% below its best (twice as many
        after each restart), start the adapter again from the next seed: the steps since are lost, an
        endless run is not. A run that once had half its facts below the threshold is past the plateau
        (its last facts come and go for a while) and is never restarted. True when it restarted."""
        cfg, plateau = self.config, self.plateau
        if cfg.method != "memory" or not cfg.restart_after_plateau or math.isinf(mean_loss):
            return False
        plateau["most"] = max(plateau["most"], memorized)
        if 2 * plateau["most"] >= len(self.examples):
            return False
        if mean_loss < PLATEAU_GAIN * plateau["best"]:
            plateau["best"], plateau["epoch"] = mean_loss, self.epoch
            return False
        patience = cfg.restart_after_plateau * 2 ** plateau["restarts"]  # more room after each restart: a
        # slow start is not cut forever (a tiny model, restarted every 3 flat passes, never finished)
        if self.epoch - plateau["epoch"] < patience:
            return False
        plateau["restarts"] += 1
        seed = cfg.seed + plateau["restarts"]
        self._restart_adapter(seed)
        self.events.emit("restarted", step=self.step, epoch=self.epoch, mean_fact_loss=mean_loss,
                         best_mean_fact_loss=plateau["best"], passes_without_gain=self.epoch - plateau["epoch"],
                         seed=seed)
        plateau["best"], plateau["epoch"], plateau["most"] = math.inf, self.epoch, 0
        return True

    def _restart_adapter(self, seed: int) -> None:
        """Fresh LoRA weights (peft's own initialization, from `seed`) and optimizer moments; the per-fact
        scores start over; the step count stays (those steps were trained and count in budgets)."""
        torch.manual_seed(seed)
        for module in self.accelerator.unwrap_model(self.model).modules():
            if hasattr(module, "reset_lora_parameters") and hasattr(module, "lora_A"):
                for name in list(module.lora_A.keys()):
                    module.reset_lora_parameters(name, True)
        getattr(self.optimizer, "optimizer", self.optimizer).state.clear()
        self.fact_loss = {fact_id: math.inf for fact_id in self.fact_loss}
        self.recalled = {fact_id: False for fact_id in self.recalled}
        self.missed = set()
        self.best, self.pass_start, self.lr_scale, self.settle_scale = None, None, 1.0, 1.0

    def _restore(self, snapshot: dict[str, Any]) -> None:
        """The adapter, optimizer moments and per-fact scores of a kept epoch (its step count stays: the
        steps since were trained and count in budgets and plots)."""
        self._load_adapter_weights(snapshot["adapter"])
        self.optimizer.load_state_dict(_on_cpu(snapshot["optimizer"]))  # a copy: Adam updates its state in place
        self.fact_loss, self.recalled = dict(snapshot["fact_loss"]), dict(snapshot["recalled"])
        self.missed = set(snapshot["missed"])

    # -- recall --------------------------------------------------------------------------------------
    def _greedy(self, model, prompts: list[list[int]], max_new: int, adapter_names: list[str] | None = None) -> list[str]:
        """Greedy completions of token-id prompts, batched with left padding (`adapter_names`: one
        adapter per prompt)."""
        pad = self.tokenizer.pad_token_id
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, p in enumerate(prompts):
            ids[row, width - len(p):] = torch.tensor(p)
            mask[row, width - len(p):] = 1
        device = self.accelerator.device
        routing = {"adapter_names": adapter_names} if adapter_names else {}
        with torch.no_grad():
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new,
                                 do_sample=False, pad_token_id=pad, eos_token_id=self.tokenizer.eos_token_id, **routing)
        return [self.tokenizer.decode(row[width:], skip_special_tokens=True).strip() for row in out]

    def _judge_each(self, indices: list[int] | None, batch_size: int, judge) -> dict[int, bool]:
        """fact id -> verdict for the given facts (all by default): this process's share, in chunks of
        example indices passed to `judge(model, chunk) -> list[bool]` (evaluation mode, no gradients),
        gathered across processes."""
        model = self.accelerator.unwrap_model(self.model)
        model.eval()
        indices = list(range(len(self.examples))) if indices is None else indices
        mine = indices[self.accelerator.process_index::self.accelerator.num_processes]
        results = []
        with torch.no_grad():
            for start in range(0, len(mine), batch_size):
                chunk = mine[start:start + batch_size]
                results += zip([self.examples[i].fact_id for i in chunk], judge(model, chunk))
        if self.accelerator.num_processes > 1:
            results = self.accelerator.gather_for_metrics(results, use_gather_object=True)
        return dict(results)

    def recall(self, indices: list[int] | None = None, batch_size: int = 16) -> dict[int, bool]:
        """Exact-match greedy recall of the given facts (all by default), gathered across processes."""
        def decoded_right(model, chunk: list[int]) -> list[bool]:
            examples = [self.examples[i] for i in chunk]
            longest = max(len(e.answer_ids) for e in examples)
            texts = self._greedy(model, [e.prompt_ids for e in examples], longest + 2, self._adapters_for(examples))
            return [t == e.answer.strip() for e, t in zip(examples, texts)]

        return self._judge_each(indices, batch_size, decoded_right)

    def _teacher_forced_check(self, batch_size: int = 16) -> bool:
        """Every fact's teacher-forced verdict from one forward pass of the current weights (no decoding;
        full precision, as decoding uses): True when every fact looks learned. The loss table keeps the
        training steps' losses, as decoding checks leave it."""
        def forced_right(model, chunk: list[int]) -> list[bool]:
            return self._scores(model, chunk, self._batch([self.examples[i] for i in chunk]))[1].tolist()

        self.recalled.update(self._judge_each(None, batch_size, forced_right))
        self.recall_step_checked = self.step
        self._emit_recall("teacher-forced")
        return all(self._looks_learned(e.fact_id) for e in self.examples)

    def _emit_recall(self, checked: str) -> None:
        recalled = sum(1 for e in self.examples if self.recalled.get(e.fact_id))
        self.last_recall = recalled / len(self.examples)
        self.events.emit("recall", step=self.step, epoch=self.epoch, recall=self.last_recall, recalled=recalled,
                         total=len(self.examples), checked=checked)

    def _recall_check(self, every_fact: bool = False) -> None:
        """Greedy exact-match recall. In memory mode a periodic check decodes only the facts already
        below the loss threshold (the others are not memorized yet and count as not recalled), so
        early checks cost little; the final check decodes every fact."""
        threshold = self.config.loss_threshold
        if self.config.method == "memory" and not every_fact:
            below = [i for i, e in enumerate(self.examples) if self.fact_loss[e.fact_id] < threshold]
            results = self.recall(below) if below else {}
            self.recalled = {e.fact_id: False for e in self.examples}
        else:
            results = self.recall()
        self.recalled.update(results)
        for fact_id, ok in results.items():  # below the threshold yet decoded wrong: keep training it
            if ok:
                self.missed.discard(fact_id)
            elif self.fact_loss[fact_id] < threshold:
                self.missed.add(fact_id)
        self.recall_step = self.recall_step_checked = self.step
        self._emit_recall("decoded")

    # -- stop, checkpoints, outputs -----------------------------------------------------------------
    def _install_stop_handlers(self) -> None:
        def request_stop(signum, frame):
            self.stop_requested = True

        for name in ("SIGTERM", "SIGINT"):
            try:
                signal.signal(getattr(signal, name), request_stop)
            except (ValueError, AttributeError):  # not the main thread, or no such signal here
                pass

    def _check_stop(self) -> None:
        stop = self.stop_requested or (self.out / STOP).exists() or \
            (self.outer_stop_file is not None and self.outer_stop_file.exists())
        if self.accelerator.num_processes > 1:
            flag = torch.tensor([1.0 if stop else 0.0], device=self.accelerator.device)
            stop = bool(self.accelerator.reduce(flag, reduction="sum").item() > 0)
        if stop:
            raise StopRequested()

    def _barrier(self) -> None:
        """Every process here before one writes what all trained. Not accelerate's wait_for_everyone:
        it names the process's GPU (device_ids=[local rank]) for CPU processes too, and two CPU processes
        on a one-GPU machine failed there with "invalid device ordinal" (seen on an H100; accelerate
        issue #3775 is the same error with gloo)."""
        if self.accelerator.num_processes > 1:
            on_gpu = self.accelerator.device.type == "cuda"
            torch.distributed.barrier(device_ids=[self.accelerator.local_process_index] if on_gpu else None)

    def _save_checkpoint(self) -> None:
        self._barrier()
        if not self.main:
            return
        state = {name: getattr(self, name) for name in TRAIN_STATE}
        state.update(missed=sorted(self.missed), elapsed=self._elapsed(), adapter=self._adapter_state(),
                     optimizer=self.optimizer.state_dict(), torch_rng=torch.get_rng_state())
        folder = self.out / CHECKPOINT
        folder.mkdir(exist_ok=True)
        partial = folder / "state.pt.partial"
        torch.save(state, partial)
        partial.replace(folder / "state.pt")  # atomic: a crash never leaves a half checkpoint
        self.events.emit("checkpoint", step=self.step, path=str(folder))

    def _adapter_weights(self) -> dict[str, torch.Tensor]:
        """Every LoRA weight (of every adapter) copied to the CPU: the roll-back's snapshot, taken each
        epoch. peft's state dict, kept for checkpoints, walks the modules once per key: 0.1 s per
        adapter on an H100, longer than the epoch's one step."""
        return {name: weight.detach().to("cpu", copy=True)
                for name, weight in self.accelerator.unwrap_model(self.model).named_parameters() if "lora_" in name}

    def _load_adapter_weights(self, weights: dict[str, torch.Tensor]) -> None:
        current = dict(self.accelerator.unwrap_model(self.model).named_parameters())
        with torch.no_grad():
            for name, weight in weights.items():
                current[name].copy_(weight)

    def _adapter_state(self) -> dict[str, Any]:
        from peft import get_peft_model_state_dict

        return get_peft_model_state_dict(self.accelerator.unwrap_model(self.model))

    def _load_adapter_state(self, state: dict[str, Any]) -> None:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(self.accelerator.unwrap_model(self.model), state)

    def _load_checkpoint(self) -> None:
        path = self.out / CHECKPOINT / "state.pt"
        if not path.exists():
            raise FileNotFoundError(f"No checkpoint to resume from in {self.out}")
        state = torch.load(path, map_location="cpu", weights_only=False)
        self._load_adapter_state(state["adapter"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        plateau = self.plateau
        for name, default in TRAIN_STATE.items():
            setattr(self, name, state[name] if default is None else state.get(name, default))
        self.missed = set(self.missed)
        self.plateau = {**plateau, **self.plateau}  # older checkpoints lack "most" or all of it
        self.elapsed_before = state["elapsed"]
        stop_file = self.out / STOP
        if stop_file.exists():
            stop_file.unlink()

    def _save_outputs(self) -> Path:
        import json

        self._barrier()
        adapter = self.out / ADAPTER
        if self.main:
            self.accelerator.unwrap_model(self.model).save_pretrained(adapter)
            self.tokenizer.save_pretrained(adapter)
            scores = {str(fid): {"loss": None if math.isinf(v) else v, "recalled": self.recalled.get(fid)}
                      for fid, v in self.fact_loss.items()}
            (self.out / FACT_SCORES).write_text(json.dumps(scores, indent=1))
        return adapter

    def _finish(self, reason: str) -> dict[str, Any]:
        if self.recall_step != self.step or reason != "converged":
            self._recall_check(every_fact=True)
        self._save_checkpoint()
        adapter = self._save_outputs()
        elapsed = self._elapsed()
        summary = {"status": "finished", "reason": reason, "step": self.step, "epoch": self.epoch,
                   "recall": self.last_recall, "memorized": self._memorized_count() / len(self.examples),
                   "elapsed_s": elapsed, "adapter": str(adapter),
                   "tokens_per_s": (self.tokens_seen - self.tokens_at_start) / max(1e-9, time.monotonic() - self.started)}
        self.events.emit("finished", **summary)
        return summary

    # == cleanup ==================================================================================
    def cleanup(self) -> None:
        if not hasattr(self, "accelerator"):  # setup failed before the accelerator existed
            return
        self.accelerator.end_training()
        if self.plan.device == "cuda":
            torch.cuda.empty_cache()
