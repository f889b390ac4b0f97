"""The memory-tuning recipe: read it top to bottom — `setup()`, `train()`, `cleanup()`.

Memory tuning (Lamini; Li et al. 2024, "Banishing LLM Hallucinations Requires Rethinking
Generalization") drives the loss of *each* chosen fact to ~zero instead of the average, so the model
commits to the exact answer. The loop:

1) every epoch trains on the facts not yet memorized (loss ≥ threshold) plus a revisited share of
   memorized ones (at least as many as the unlearned), so compute follows what is still unlearned
   without the adapter forgetting what it already holds; a fact asked almost like a memorized one
   trains in one batch with it, so the two answers do not knock each other out;
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

import copy
import contextlib
import math
import random
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from engine.models.locate import resolve_model
from engine.sqlgen.grounding import run_context
from engine.tune import data as D
from engine.tune.adapters import OneAdapter, lora_targets
from engine.tune.config import TuneConfig
from engine.tune.device import default_batch_size, memory_mb, pick_device
from engine.tune.events import Checkpoint, Diverged, Epoch, EventLog, Finished, Recall, Restarted, Started, Step, Stopped
from engine.tune.frozen_layers import FrozenLayers
from engine.tune.half_weights import HalfWeights
from engine.tune.ledger import FactLedger
from engine.tune.losses import answer_scores, kl_to_base
from engine.tune.memory_estimate import MemoryEstimate, ModelShape, estimate_memory, fit_or_load_in_4bit
from engine.tune.model_loading import hf_folder_for, load_base_model, load_tokenizer
from engine.tune.policies import Divergence, Plateau, Settling
from engine.tune.recall_check import decoded_exactly, greedy_completions, judge_each
from engine.tune.regularization import GENERAL_PROMPTS
from engine.tune.run_folder import CHECKPOINT, EVENTS, STOP
from engine.tune.train_state import TrainState, load_checkpoint, save_checkpoint


class StopRequested(Exception):
    pass


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
                 stop_file: Path | None = None, adapters: OneAdapter | None = None) -> None:
        self.config = config
        self.out = Path(config.output_dir)
        self.resume = resume
        self._events = events
        self.adapters = adapters or OneAdapter()  # which LoRA adapters: one, or one per memory expert
        self.stop_requested = False
        self.outer_stop_file = stop_file  # a stop asked of an enclosing job (memory experts) stops this run too

    # == setup ====================================================================================
    def setup(self) -> None:
        from accelerate import Accelerator
        from peft import LoraConfig

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
        self.question_words = [D.question_words(e.question) for e in self.examples]  # for each fact's twin
        self.adapters.check(cfg, self.examples, self.accelerator.num_processes)
        # before the weights are loaded; on CUDA a run that fits only in 4-bit loads the base so
        self.memory_estimate, self.in_4bit = self._check_memory(folder, dtype)
        base = load_base_model(folder, dtype, self.in_4bit)
        if self.in_4bit:
            from peft import prepare_model_for_kbit_training

            base = prepare_model_for_kbit_training(base)
        lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          task_type="CAUSAL_LM", **lora_targets(base, cfg.target_modules, cfg.lora_layers))
        self.model = self.adapters.attach(base, lora)
        if not self.in_4bit:  # on its device before the base model answers the regularization prompts
            self.model.to(self.accelerator.device)
        # 3) data: regularization examples answered by the base model itself
        self.reg_examples = self._regularization_examples() if cfg.regularization_in_effect != "none" else []
        pad, device = self.tokenizer.pad_token_id, self.accelerator.device  # the frozen layers' caches: filled by train()
        self.frozen = FrozenLayers.for_run(self.model, self.examples, cfg.lora_layers, pad, device)
        self.reg_frozen = FrozenLayers.for_run(self.model, self.reg_examples, cfg.lora_layers, pad, device) \
            if self.frozen and self.reg_examples else None
        self.half_weights = self._half_weights()
        # 4) optimizer and schedule
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = self._optimizer(params)
        self.model, self.optimizer = self.accelerator.prepare(self.model, self.optimizer)
        # 5) state: the per-fact ledger and the policies (restored from the checkpoint when resuming)
        self.ledger = FactLedger.of([e.fact_id for e in self.examples], cfg.loss_threshold,
                                    teacher_forced=cfg.recall_check == "teacher-forced")
        self.divergence = Divergence(enabled=cfg.method == "memory" and cfg.rollback_on_divergence)
        self.plateau = Plateau(passes=cfg.restart_after_plateau if cfg.method == "memory" else 0)
        self.settling = Settling(factor=cfg.settle_factor)
        self.state = TrainState(self.ledger, self.divergence, self.plateau, self.settling)
        if self.resume:
            self._load_checkpoint()
        self.adapters.refresh(self.ledger)  # resumed: experts already memorized stay frozen
        self.tokens_at_start = self.state.tokens_seen
        trainable = sum(p.numel() for p in params)
        device = self.plan.describe() + (", base loaded in 4-bit" if self.in_4bit else "")
        self.events.emit(Started(run=str(self.out), device=device, method=cfg.method,
                                 facts=len(self.examples), trainable_params=trainable,
                                 batch_size=cfg.batch_size, processes=self.accelerator.num_processes,
                                 estimated_memory_mb=round(self.memory_estimate.total / 2**20),
                                 resumed_from_step=self.state.step if self.resume else None))

    def _half_weights(self) -> HalfWeights | None:
        """bf16 copies of the frozen weights a step multiplies by, where fp32 weights train under bf16
        autocast from the frozen layers' cache (without the cache, the embeddings tied to the output
        head would be looked up in bf16 too)."""
        if self.frozen is None or self.plan.device != "cpu" or self.plan.mixed_precision != "bf16":
            return None
        return HalfWeights.of([*self.frozen.decoder.layers[self.frozen.first:], self.model.get_output_embeddings()])

    def _optimizer(self, params: list) -> torch.optim.Optimizer:
        """AdamW; with LoRA+ (peft's grouping) the B matrices' group keeps its rate as a multiple of the
        run's, which the schedule scales."""
        cfg = self.config
        if cfg.loraplus_ratio == 1.0:
            return torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        from peft.optimizers import create_loraplus_optimizer

        optimizer = create_loraplus_optimizer(self.model, torch.optim.AdamW, lr=cfg.learning_rate,
                                              loraplus_lr_ratio=cfg.loraplus_ratio, weight_decay=cfg.weight_decay)
        for group in optimizer.param_groups:
            group["lr_ratio"] = group["lr"] / cfg.learning_rate
        return optimizer

    def _check_memory(self, folder: Path, dtype: torch.dtype) -> tuple[MemoryEstimate, bool]:
        """The run's peak memory estimated from the model's config and the facts, and whether the base
        loads in 4-bit; a run that would not fit in what the device has free stops here with what to
        change (WillNotFit)."""
        from transformers import AutoConfig

        from engine.models.catalogue import safetensors_parameters

        cfg = self.config
        shape = ModelShape.of(AutoConfig.from_pretrained(str(folder)), safetensors_parameters(folder))
        prompts = len(GENERAL_PROMPTS) if cfg.regularization_in_effect != "none" else 0
        def estimate(in_4bit: bool) -> MemoryEstimate:
            return estimate_memory(
                shape, batch_size=cfg.batch_size, sequence=max((e.length for e in self.examples), default=1),
                answer=max((len(e.answer_ids) for e in self.examples), default=1), facts=len(self.examples),
                lora_rank=cfg.lora_r, lora_layers=cfg.lora_layers, weight_bytes=dtype.itemsize,
                load_in_4bit=in_4bit, regularization_prompts=prompts,
                autocast_bytes=2 if dtype == torch.float32 and self.plan.mixed_precision != "no" else 0)

        return fit_or_load_in_4bit(estimate, self.plan.device, cfg.batch_size, cfg.lora_layers, cfg.load_in_4bit)

    def _regularization_examples(self) -> list[D.Example]:
        """The base model's own greedy answers to general prompts (cached in the run folder)."""
        import json

        path = self.out / "regularization.json"
        if path.exists():
            answers = json.loads(path.read_text())
        else:
            prompts = [D.prompt_ids(self.tokenizer, [{"role": "user", "content": p}]) for p in GENERAL_PROMPTS]
            with self.model.disable_adapter():
                texts = [text for start in range(0, len(prompts), 16) for text in greedy_completions(
                    self.model, self.tokenizer, prompts[start:start + 16], 48, self.accelerator.device)]
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
        cfg, state = self.config, self.state
        self._install_stop_handlers()
        self.started = time.monotonic()
        try:
            self._fill_caches(between=self._check_stop)  # a pass over every fact: a stop request can end it
            while True:
                # 1) which facts this epoch, in which batches (kept in checkpoints for exact resume)
                if state.epoch_plan is None:
                    state.epoch_plan = self._plan_epoch()
                    state.position = 0
                    self._start_pass()
                # 2) the steps of the epoch
                while state.position < len(state.epoch_plan):
                    self._train_step(state.epoch_plan[state.position])
                    state.position += 1
                    reason = self._budget_exhausted()
                    if reason:
                        return self._finish(reason)
                    if state.step % cfg.checkpoint_every == 0:
                        self._save_checkpoint()
                    self._check_stop()
                state.epoch += 1
                state.epoch_plan = None
                memorized = self.ledger.memorized()
                mean_loss = self.ledger.mean_loss()
                self.events.emit(Epoch(epoch=state.epoch, step=state.step, memorized=memorized / len(self.examples),
                                       max_fact_loss=self.ledger.max_loss(), mean_fact_loss=mean_loss))
                if self._watch_divergence(mean_loss) or self._watch_plateau(mean_loss, memorized):
                    memorized = self.ledger.memorized()
                # 3) stop conditions
                if cfg.method == "instruction":
                    if state.epoch >= cfg.epochs:
                        return self._finish("epochs done")
                    continue
                # once every fact looks learned, check at once — but after such a check found one still
                # wrong, give its extra training a few steps before checking all again
                since = state.step - state.recall_step_checked
                if cfg.recall_check == "teacher-forced":
                    ready = all(self.ledger.looks_learned(e.fact_id) for e in self.examples)
                    if ready and self.settling.ready(since):
                        # confirm: a fresh teacher-forced pass over every fact (cheap), then real decoding
                        if self._teacher_forced_check():
                            self._recall_check(every_fact=True)
                            if state.last_recall == 1.0:
                                return self._finish("converged")
                        self.settling.failed_check(self._steps_per_full_epoch())
                    else:
                        self._emit_recall("teacher-forced")  # the training steps' own verdicts: free
                    continue
                all_below = memorized == len(self.examples)
                # epochs shrink as facts are learned: decode by steps trained, not epochs counted
                due = since >= self._steps_per_full_epoch() * cfg.recall_every
                if all_below and self.settling.ready(since) or due:
                    self._recall_check()
                    if all_below and state.last_recall == 1.0:
                        return self._finish("converged")
                    if all_below:  # every loss under the threshold, yet a fact decoded wrong
                        self.settling.failed_check(self._steps_per_full_epoch())
                    else:
                        self.settling.wait = 0
        except StopRequested:
            self._save_checkpoint()
            self._save_outputs()
            elapsed = self._elapsed()
            self.events.emit(Stopped(step=state.step, checkpoint=str(self.out / CHECKPOINT), elapsed_s=elapsed))
            return {"status": "stopped", "step": state.step, "elapsed_s": elapsed}

    def _elapsed(self) -> float:
        """Seconds trained so far, over every sitting of this run (resumes included)."""
        return self.state.elapsed_before + time.monotonic() - self.started

    def _steps_per_full_epoch(self) -> int:
        return math.ceil(len(self.examples) / (self.config.batch_size * self.accelerator.num_processes))

    def _plan_epoch(self) -> list[list[int]]:
        cfg = self.config
        rng = random.Random(f"{cfg.seed}|epoch|{self.state.epoch}")
        self.adapters.refresh(self.ledger)
        together: list[tuple[int, int]] = []
        if cfg.method == "instruction":
            chosen = list(range(len(self.examples)))
        else:
            # a fact is learned when its loss is below the threshold and the last recall check did not
            # find it wrong: a low mean loss can hide one uncertain token of a long answer, and such a
            # fact must keep its place in the epoch until greedy decoding gets it exactly right
            learned = [i for i, e in enumerate(self.examples) if self.ledger.learned(e.fact_id)]
            taken = set(learned)
            unlearned = [i for i in range(len(self.examples)) if i not in taken]
            # each unlearned fact trains in one batch with the learned fact asked most like it: training
            # one of two near-identical questions alone knocks the other's answer out, pass after pass
            twins = D.nearest_twins(self.question_words, unlearned,
                                    [i for i in learned if self.adapters.in_plan(self.examples[i].fact_id)])
            together = list(twins.items())
            # at least as many memorized facts as unlearned ones, so the last few stubborn facts never
            # get the adapter to themselves (that made it forget the others, measured on the demo)
            wanted = max(1, round(len(learned) * cfg.revisit_fraction), len(unlearned))
            first = sorted(set(twins.values()))
            pinned = set(first)
            rest = [i for i in learned if i not in pinned]
            revisit = first + rng.sample(rest, min(len(rest), max(0, wanted - len(first))))
            chosen = unlearned + revisit
        subset = [self.examples[i] for i in chosen]
        position = {index: n for n, index in enumerate(chosen)}
        # under DDP one step takes a global batch, each process its world_size-th share
        batches = D.plan_batches(subset, cfg.batch_size * self.accelerator.num_processes, rng,
                                 [(position[a], position[b]) for a, b in together])
        plan = [[chosen[i] for i in batch if self.adapters.in_plan(self.examples[chosen[i]].fact_id)]
                for batch in batches]
        return [batch for batch in plan if batch]

    def _my_share(self, indices: list[int]) -> list[int]:
        world, rank = self.accelerator.num_processes, self.accelerator.process_index
        if world == 1:
            return indices
        share = indices[rank::world]
        return share or indices[:1]

    def _lr(self) -> float:
        cfg, step = self.config, self.state.step
        warm = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
        if cfg.method == "instruction":
            total = max(1, cfg.epochs * math.ceil(len(self.examples) / cfg.batch_size))
            return cfg.learning_rate * warm * max(0.0, 1 - step / total)
        return cfg.learning_rate * warm * self.divergence.lr_scale * self.settling.scale

    def _train_step(self, indices: list[int]) -> None:
        cfg, state = self.config, self.state
        began = time.monotonic()
        mine = self._my_share(indices)
        examples = [self.examples[i] for i in mine]
        batch = self._batch(examples)
        lr = self._lr()
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_ratio", 1.0)
        self.adapters.train_mode(self.model)
        self._fill_caches()  # complete, at full precision, before the bf16 weights go in
        # the backward pass too runs on the bf16 weights its graph saved
        with self.half_weights.in_use() if self.half_weights else contextlib.nullcontext():
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
        # per-fact losses (and teacher-forced verdicts, before this step's update) from every process
        mine_scores = [(self.examples[i].fact_id, float(l), bool(x))
                       for i, l, x in zip(mine, losses.detach().cpu(), exact.cpu())]
        gathered = self.accelerator.gather_for_metrics(mine_scores, use_gather_object=True) \
            if self.accelerator.num_processes > 1 else mine_scores
        self.ledger.record_scores(gathered)
        state.step += 1
        tokens = int(batch["attention_mask"].sum()) * self.accelerator.num_processes
        state.tokens_seen += tokens
        if state.step % cfg.log_every == 0:
            elapsed = self._elapsed()
            memorized = self.ledger.memorized()
            self.events.emit(Step(step=state.step, epoch=state.epoch, loss=float(loss.detach()), lr=lr,
                                  tokens_per_s=tokens / max(1e-9, time.monotonic() - began),
                                  memorized=memorized / len(self.examples), facts_memorized=memorized,
                                  max_fact_loss=self.ledger.max_loss(), elapsed_s=elapsed,
                                  eta_s=self._eta(elapsed, memorized), memory_mb=memory_mb(self.plan.device)))

    def _fill_caches(self, between=None) -> None:
        """The frozen layers' states of the facts and regularization prompts (no-op once complete)."""
        for cache in (self.frozen, self.reg_frozen):
            if cache:
                cache.fill(between=between)

    def _batch(self, examples: list[D.Example]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.accelerator.device) for k, v in D.collate(examples, self.tokenizer.pad_token_id).items()}

    def _scores(self, model, indices: list[int], batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """`answer_scores` of these examples, through the adapted layers only when the frozen ones are
        cached."""
        adapters = self.adapters.names_for([self.examples[i] for i in indices])
        if self.frozen is None:
            return answer_scores(model, batch, adapters)
        with self.frozen.adapted_only():
            return answer_scores(model, batch, adapters, self.frozen.embeds(indices))

    def _autocast(self):
        if self.plan.device == "cpu":
            return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.plan.mixed_precision == "bf16")
        return self.accelerator.autocast()

    def _regularization_loss(self) -> torch.Tensor:
        cfg = self.config
        rng = random.Random(f"{cfg.seed}|reg|{self.state.step}")
        indices = rng.sample(range(len(self.reg_examples)), min(len(self.reg_examples), max(1, cfg.batch_size // 2)))
        chosen = [self.reg_examples[i] for i in indices]
        batch = self._batch(chosen)
        mix = cfg.regularization_in_effect == "mix"
        model = self.model if mix else self.accelerator.unwrap_model(self.model)
        embeds = self.reg_frozen.embeds(indices) if self.reg_frozen else None
        with self.reg_frozen.adapted_only() if self.reg_frozen else contextlib.nullcontext():
            return answer_scores(model, batch, inputs_embeds=embeds)[0].mean() if mix else kl_to_base(model, batch, embeds)

    def _eta(self, elapsed: float, memorized: int) -> float | None:
        """Seconds left: from the pace of memorization, capped by the budgets."""
        cfg, step = self.config, self.state.step
        caps = []
        if cfg.max_steps:
            caps.append((cfg.max_steps - step) * elapsed / max(1, step))
        if cfg.max_minutes:
            caps.append(cfg.max_minutes * 60 - elapsed)
        if cfg.method == "instruction":
            total = cfg.epochs * max(1, len(self.state.epoch_plan or [1]))
            caps.append(max(0, total - step) * elapsed / max(1, step))
        elif memorized:
            caps.append((len(self.examples) - memorized) * elapsed / memorized)
        return max(0.0, min(caps)) if caps else None

    def _budget_exhausted(self) -> str | None:
        cfg = self.config
        if cfg.max_steps and self.state.step >= cfg.max_steps:
            return "step budget"
        if cfg.max_minutes and self._elapsed() >= cfg.max_minutes * 60:
            return "time budget"
        return None

    # -- the policies act ---------------------------------------------------------------------------
    def _start_pass(self) -> None:
        """The adapter, optimizer and verdicts as this epoch begins: the epoch's fact losses are measured
        with these weights, so they are what a low mean vouches for (engine.tune.policies.Divergence)."""
        self.divergence.begin_pass(lambda: {
            "step": self.state.step, "adapter": self._adapter_weights(),
            "optimizer": _on_cpu(self.optimizer.state_dict()),
            "recalled": dict(self.ledger.recalled), "missed": set(self.ledger.missed)})

    def _watch_divergence(self, mean_loss: float) -> bool:
        """Back to the kept epoch with half the learning rate when this one diverged. True when it did."""
        best = self.divergence.end_pass(mean_loss, self.ledger.loss)
        if best is None:
            return False
        self._restore(best)
        self.events.emit(Diverged(step=self.state.step, epoch=self.state.epoch, mean_fact_loss=mean_loss,
                                  best_mean_fact_loss=best["mean_loss"], back_to_step=best["step"],
                                  learning_rate=self.config.learning_rate * self.divergence.lr_scale))
        return True

    def _watch_plateau(self, mean_loss: float, memorized: int) -> bool:
        """A fresh adapter from the next seed when the run sits on a plateau (engine.tune.policies.Plateau).
        True when it restarted."""
        plateau, epoch = self.plateau, self.state.epoch
        if not plateau.should_restart(epoch, mean_loss, memorized, len(self.examples)):
            return False
        best, flat = plateau.best, epoch - plateau.epoch
        plateau.restarted(epoch)
        seed = self.config.seed + plateau.restarts
        self._restart_adapter(seed)
        self.events.emit(Restarted(step=self.state.step, epoch=epoch, mean_fact_loss=mean_loss,
                                   best_mean_fact_loss=best, passes_without_gain=flat, seed=seed))
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
        self.ledger.reset()
        self.divergence.forget()
        self.settling.forget()

    def _restore(self, snapshot: dict[str, Any]) -> None:
        """The adapter, optimizer moments and per-fact scores of a kept epoch (its step count stays: the
        steps since were trained and count in budgets and plots)."""
        self._load_adapter_weights(snapshot["adapter"])
        self.optimizer.load_state_dict(_on_cpu(snapshot["optimizer"]))  # a copy: Adam updates its state in place
        self.ledger.restore(snapshot)
        self.adapters.refresh(self.ledger)  # an expert done since the kept epoch is trained again

    # -- recall --------------------------------------------------------------------------------------
    def recall(self, indices: list[int] | None = None, batch_size: int = 16) -> dict[int, bool]:
        """Exact-match greedy recall of the given facts (all by default), gathered across processes."""
        def decoded_right(model, chunk: list[int]) -> list[bool]:
            examples = [self.examples[i] for i in chunk]
            return decoded_exactly(model, self.tokenizer, examples, self.accelerator.device,
                                   self.adapters.names_for(examples))

        return judge_each(self.model, self.examples, indices, self.accelerator, batch_size, decoded_right)

    def _teacher_forced_check(self, batch_size: int = 16) -> bool:
        """Every fact's loss and teacher-forced verdict from one forward pass of the current weights (no
        decoding; full precision, as decoding uses): True when every fact looks learned. A training step
        measures a fact's loss before its own update and before the epoch's later updates, so a fact can
        end an epoch right at every token yet far above the loss threshold; voting's samples would then
        disagree with its memorized answer."""
        def forced(model, chunk: list[int]) -> list[tuple[float, bool]]:
            losses, exact = self._scores(model, chunk, self._batch([self.examples[i] for i in chunk]))
            return list(zip(losses.tolist(), exact.tolist()))

        verdicts = judge_each(self.model, self.examples, None, self.accelerator, batch_size, forced)
        self.ledger.record_scores([(fact_id, loss, right) for fact_id, (loss, right) in verdicts.items()])
        self.state.recall_step_checked = self.state.step
        self._emit_recall("teacher-forced")
        return all(self.ledger.looks_learned(e.fact_id) for e in self.examples)

    def _emit_recall(self, checked: str) -> None:
        recalled = self.ledger.recalled_count()
        self.state.last_recall = recalled / len(self.examples)
        self.events.emit(Recall(step=self.state.step, epoch=self.state.epoch, recall=self.state.last_recall,
                                recalled=recalled, total=len(self.examples), checked=checked))

    def _recall_check(self, every_fact: bool = False) -> None:
        """Greedy exact-match recall. In memory mode a periodic check decodes only the facts already
        below the loss threshold (the others are not memorized yet and count as not recalled), so
        early checks cost little; the final check decodes every fact."""
        if self.config.method == "memory" and not every_fact:
            below = [i for i, e in enumerate(self.examples) if self.ledger.below(e.fact_id)]
            self.ledger.record_decoding(self.recall(below) if below else {}, every_fact=False)
        else:
            self.ledger.record_decoding(self.recall(), every_fact=True)
        self.adapters.refresh(self.ledger)
        self.state.recall_step = self.state.recall_step_checked = self.state.step
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
        model = self.accelerator.unwrap_model(self.model)
        save_checkpoint(self.out / CHECKPOINT, {
            **self.state.to_checkpoint(self._elapsed()), "adapter": self.adapters.state_dict(model),
            "optimizer": self.optimizer.state_dict(), "torch_rng": torch.get_rng_state()})
        self.events.emit(Checkpoint(step=self.state.step, path=str(self.out / CHECKPOINT)))

    def _load_checkpoint(self) -> None:
        saved = load_checkpoint(self.out / CHECKPOINT)
        self.adapters.load_state_dict(self.accelerator.unwrap_model(self.model), saved["adapter"])
        self.optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["torch_rng"])
        self.state.load_checkpoint(saved)
        (self.out / STOP).unlink(missing_ok=True)

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

    def _save_outputs(self) -> Path:
        self._barrier()
        if not self.main:
            return self.out
        return self.adapters.save(self.accelerator.unwrap_model(self.model), self.tokenizer, self.out, self.ledger)

    def _finish(self, reason: str) -> dict[str, Any]:
        state = self.state
        if state.recall_step != state.step or reason != "converged":
            self._recall_check(every_fact=True)
        self._save_checkpoint()
        adapter = self._save_outputs()
        elapsed = self._elapsed()
        summary = {"status": "finished", "reason": reason, "step": state.step, "epoch": state.epoch,
                   "recall": state.last_recall, "memorized": self.ledger.memorized() / len(self.examples),
                   "elapsed_s": elapsed, "adapter": str(adapter),
                   "tokens_per_s": (state.tokens_seen - self.tokens_at_start) / max(1e-9, time.monotonic() - self.started),
                   **self.adapters.summary(self.ledger)}
        self.events.emit(Finished(**{k: v for k, v in summary.items() if k != "status"}))
        return summary

    # == cleanup ==================================================================================
    def cleanup(self) -> None:
        if not hasattr(self, "accelerator"):  # setup failed before the accelerator existed
            return
        self.accelerator.end_training()
        if self.plan.device == "cuda":
            torch.cuda.empty_cache()
