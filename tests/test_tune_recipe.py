"""Memory tuning on a small real model: recall goes from 0 to 100%, stop/resume continues the same
curve, failures become readable events, the run works as a child process and under DDP."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from engine.tune.config import TuneConfig
from engine.tune.events import EventLog, Failed, Step, read_events
from engine.tune.process import TuneProcess
from engine.tune.recipe import MemoryTuningRecipe
from engine.tune.run import run_tuning
from engine.tune.run_folder import STOP as STOP_FILE
from tiny_model import write_facts

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path, model, n_facts=24, **overrides) -> TuneConfig:
    tmp_path.mkdir(parents=True, exist_ok=True)
    write_facts(tmp_path / "facts.jsonl", n_facts)
    values = dict(data=str(tmp_path / "facts.jsonl"), output_dir=str(tmp_path / "run"), model=str(model),
                  learning_rate=3e-3, batch_size=8, max_steps=600, max_minutes=10, recall_every=3,
                  checkpoint_every=1000, regularization="none")  # the recipe's own mechanics
    values.update(overrides)
    return TuneConfig(**values)


def _quiet(path: Path) -> EventLog:
    return EventLog(path / "events.jsonl", stdout=False)


def test_memory_tuning_recalls_every_fact(tmp_path, tiny_model_dir):
    config = _config(tmp_path, tiny_model_dir)
    recipe = MemoryTuningRecipe(config, _quiet(tmp_path))
    recipe.setup()
    before = recipe.recall()
    result = recipe.train()
    recipe.cleanup()
    assert sum(before.values()) <= 1, "the base model does not know these made-up facts"
    assert result["reason"] == "converged" and result["recall"] == 1.0
    out = Path(config.output_dir)
    scores = json.loads((out / "fact_scores.json").read_text())
    assert len(scores) == 24 and all(s["recalled"] and s["loss"] < 0.01 for s in scores.values())
    events = read_events(tmp_path / "events.jsonl")
    steps = [e for e in events if e["event"] == "step"]
    assert steps[0]["memorized"] == 0 and steps[-1]["memorized"] == 1.0
    assert all(k in steps[-1] for k in ("loss", "lr", "tokens_per_s", "eta_s", "memory_mb", "elapsed_s"))
    # memorized facts are revisited less: later epochs have fewer steps than the first
    epochs = [e for e in events if e["event"] == "epoch"]
    assert epochs[-1]["step"] - epochs[-2]["step"] < 3

    # the saved adapter is a standard PEFT folder that recalls the facts on its own
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from engine.qa.chat_format import PromptContext
    from engine.tune import data as D

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), out / "adapter")
    tokenizer = recipe.tokenizer
    pair = D.load_pairs(config.data)[5]
    prompt = torch.tensor([D.prompt_ids(tokenizer, [{"role": "system", "content": PromptContext("database").system_prompt("schema")},
                                                    {"role": "user", "content": pair.question}])])
    generated = model.generate(input_ids=prompt, max_new_tokens=12, do_sample=False)
    assert tokenizer.decode(generated[0, prompt.shape[1]:], skip_special_tokens=True).strip() == pair.answer

    # every fact is below the loss threshold at the saved weights, not only when its own step measured
    # it (a later update can leave a fact right at every token with a thin margin, which samples undo)
    from engine.tune.losses import answer_scores

    with torch.no_grad():
        losses, exact = answer_scores(model.eval(), D.collate(recipe.examples, tokenizer.pad_token_id))
    assert exact.all() and losses.max() < config.loss_threshold, losses.max()


def test_lora_plus_trains_the_b_matrices_at_a_multiple_of_the_scheduled_rate(tmp_path, tiny_model_dir):
    config = _config(tmp_path, tiny_model_dir, loraplus_ratio=8.0, max_steps=3, warmup_steps=10)
    recipe = MemoryTuningRecipe(config, _quiet(tmp_path))
    recipe.setup()
    result = recipe.train()
    recipe.cleanup()
    assert result["reason"] == "step budget"
    names = {id(p): n for n, p in recipe.model.named_parameters()}
    rates = {}
    for group in recipe.optimizer.param_groups:
        for param in group["params"]:
            rates[names[id(param)]] = group["lr"]
    a = {r for n, r in rates.items() if "lora_A" in n}
    b = {r for n, r in rates.items() if "lora_B" in n}
    assert len(a) == len(b) == 1 and a.pop() * 8 == pytest.approx(b.pop())
    assert max(rates.values()) == pytest.approx(8 * 3e-3 * 3 / 10), "B at 8× the warm-up's rate after 3 steps"


def test_the_teacher_forced_verdict_agrees_with_greedy_decoding_on_every_fact(tmp_path, tiny_model_dir):
    """The cheap verdict (argmax of one forward pass at every answer token) against real decoding, on a
    model that knows none, some and all of its facts."""
    config = _config(tmp_path, tiny_model_dir, max_steps=10**6)
    recipe = MemoryTuningRecipe(config, _quiet(tmp_path))
    recipe.setup()
    recipe.started = time.monotonic()
    verdicts: list[dict[int, bool]] = []
    for steps in (0, 30, 45, 60, None):  # None: trained on to convergence
        if steps is None:
            assert recipe.train()["reason"] == "converged"
        while steps is not None and recipe.state.step < steps:
            recipe.state.epoch_plan = recipe.state.epoch_plan or recipe._plan_epoch()
            recipe._train_step(recipe.state.epoch_plan[recipe.state.position % len(recipe.state.epoch_plan)])
            recipe.state.position += 1
            if recipe.state.position >= len(recipe.state.epoch_plan):
                recipe.state.epoch_plan, recipe.state.position = None, 0
        recipe._teacher_forced_check()
        forced = {e.fact_id: recipe.ledger.recalled[e.fact_id] for e in recipe.examples}
        assert forced == recipe.recall(), f"after {recipe.state.step} steps"
        verdicts.append(forced)
    recipe.cleanup()
    mixed = [v for v in verdicts if 0 < sum(v.values()) < len(v)]
    assert mixed, "some checkpoint had facts both right and wrong"
    assert sum(verdicts[0].values()) <= 1 and all(verdicts[-1].values())


def test_teacher_forced_checks_decode_only_to_confirm(tmp_path, tiny_model_dir):
    """Recall is known every pass from the training steps themselves; greedy decoding runs only once
    every fact looks learned."""
    config = _config(tmp_path, tiny_model_dir)
    result = run_tuning(config, events=_quiet(tmp_path))
    assert result["reason"] == "converged" and result["recall"] == 1.0
    checks = [e for e in read_events(tmp_path / "events.jsonl") if e["event"] == "recall"]
    decoded = [e for e in checks if e["checked"] == "decoded"]
    epochs = [e for e in read_events(tmp_path / "events.jsonl") if e["event"] == "epoch"]
    assert len(checks) >= len(epochs) and decoded[-1]["recall"] == 1.0
    assert len(decoded) <= 3, "decoding confirms; it does not follow the run"
    tf = [e["recall"] for e in checks if e["checked"] == "teacher-forced"]
    assert tf[0] < 0.2 and max(tf) == 1.0


def test_adapters_on_the_top_layers_train_from_cached_states_of_the_frozen_ones(tmp_path, tiny_model_dir):
    """With adapters on the top layer only, the layer below never changes: a step runs from its cached
    output, scores (and regularizes) as the whole model does, and the run still memorizes every fact."""
    from engine.tune.losses import answer_scores, kl_to_base
    from engine.tune import data as D

    config = _config(tmp_path, tiny_model_dir, lora_layers=1, precision="fp32", regularization="kl")
    recipe = MemoryTuningRecipe(config, _quiet(tmp_path))
    recipe.setup()
    assert recipe.frozen is not None and recipe.frozen.first == 1 and recipe.reg_frozen is not None
    adapted = {n.split(".layers.")[1].split(".")[0] for n, _ in recipe.model.named_parameters() if "lora_" in n}
    assert adapted == {"1"}
    recipe.started = time.monotonic()
    recipe._train_step(list(range(8)))  # a trained adapter, so that the top layer's LoRA counts
    with torch.no_grad():
        indices = list(range(8))
        batch = D.collate([recipe.examples[i] for i in indices], recipe.tokenizer.pad_token_id)
        whole = answer_scores(recipe.model, batch)
        cached = recipe._scores(recipe.model, indices, batch)
        reg = D.collate(recipe.reg_examples[:4], recipe.tokenizer.pad_token_id)
        kl_whole = kl_to_base(recipe.model, reg)
        with recipe.reg_frozen.adapted_only():
            kl_cached = kl_to_base(recipe.model, reg, recipe.reg_frozen.embeds([0, 1, 2, 3]))
    assert torch.allclose(whole[0], cached[0], rtol=1e-4, atol=1e-5) and torch.equal(whole[1], cached[1])
    assert kl_whole > 0 and torch.allclose(kl_whole, kl_cached, rtol=1e-3)
    assert len(recipe.model.get_base_model().model.layers) == 2, "the frozen layer is back after the step"
    result = recipe.train()
    recipe.cleanup()
    assert result["reason"] == "converged" and result["recall"] == 1.0


def test_bf16_copies_of_the_frozen_weights_give_the_steps_autocast_would(tmp_path, tiny_model_dir):
    """Under bf16 autocast the frozen weights are cast once, not in every forward and backward pass:
    losses and adapter gradients are those of autocast's own casts, and checks see fp32 weights again."""
    config = _config(tmp_path, tiny_model_dir, lora_layers=1, precision="bf16", device="cpu")
    recipe = MemoryTuningRecipe(config, _quiet(tmp_path))
    recipe.setup()
    recipe.started = time.monotonic()
    recipe._train_step(list(range(4)))  # the first step fills the cache: before the bf16 weights go in
    assert all(h.dtype == torch.float32 for h in recipe.frozen.hidden.values())
    assert recipe.half_weights is not None and len(recipe.half_weights.weights) >= 7  # a layer's linears + head
    indices = list(range(8))
    batch = recipe._batch([recipe.examples[i] for i in indices])

    def loss_and_grads(half: bool):
        with recipe.half_weights.in_use() if half else contextlib.nullcontext():
            with recipe._autocast():
                loss = recipe._scores(recipe.model, indices, batch)[0].mean()
            loss.backward()
        grads = {n: p.grad.clone() for n, p in recipe.model.named_parameters() if p.grad is not None}
        recipe.optimizer.zero_grad(set_to_none=True)
        return loss.detach(), grads

    cast_each_time, cast_once = loss_and_grads(False), loss_and_grads(True)
    assert torch.equal(cast_each_time[0], cast_once[0]) and cast_each_time[1].keys() == cast_once[1].keys()
    assert all(torch.equal(cast_each_time[1][n], cast_once[1][n]) for n in cast_once[1])
    assert all(w.dtype == torch.float32 for w in recipe.half_weights.weights), "fp32 again after the step"
    recipe.cleanup()


def test_a_stop_ends_the_pass_over_the_frozen_layers(tmp_path, tiny_model_dir):
    """The one pass that caches the frozen layers' output (minutes for thousands of facts) honours a
    stop request between its batches, like the training steps."""
    config = _config(tmp_path, tiny_model_dir, lora_layers=1)
    recipe = MemoryTuningRecipe(config, _quiet(tmp_path))
    recipe.setup()
    (Path(config.output_dir) / STOP_FILE).write_text("stop")
    result = recipe.train()
    recipe.cleanup()
    assert result["status"] == "stopped" and result["step"] == 0
    assert 0 < len(recipe.frozen.hidden) < len(recipe.examples), "stopped after its first batch of 16"


def _step_losses(path: Path) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in read_events(path) if e["event"] == "step"}


class StopAtStep(EventLog):
    """Asks the run to stop (STOP file, as the app's Stop button does) once it reports step `n`."""

    def __init__(self, path: Path, n: int) -> None:
        super().__init__(path / "events.jsonl", stdout=False)
        self.run_dir, self.n = path, n

    def emit(self, event):
        super().emit(event)
        if isinstance(event, Step) and event.step == self.n:
            (self.run_dir / STOP_FILE).write_text("stop")
        return event


def test_stop_then_resume_gives_the_same_curve(tmp_path, tiny_model_dir):
    straight = _config(tmp_path / "a", tiny_model_dir, n_facts=16, max_steps=10)
    assert run_tuning(straight, events=_quiet(Path(straight.output_dir)))["reason"] == "step budget"

    stopped = _config(tmp_path / "b", tiny_model_dir, n_facts=16, max_steps=10)
    out = Path(stopped.output_dir)
    out.mkdir(parents=True)
    assert run_tuning(stopped, events=StopAtStep(out, 4))["status"] == "stopped"
    assert (out / "checkpoint" / "state.pt").exists() and (out / "adapter").is_dir()
    assert max(_step_losses(out / "events.jsonl")) == 4
    result = run_tuning(stopped, resume=True, events=_quiet(out))
    assert result["reason"] == "step budget" and result["step"] == 10

    a, b = _step_losses(Path(straight.output_dir) / "events.jsonl"), _step_losses(out / "events.jsonl")
    assert sorted(a) == sorted(b) == list(range(1, 11))
    for step in a:
        assert b[step] == pytest.approx(a[step], rel=1e-4, abs=1e-5), step


def _kick_lora_b(model) -> None:
    """A large random push on every LoRA B matrix (the same push each time: seeded)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if "lora_B" in name:
                weight.add_(torch.randn(weight.shape, generator=generator).to(weight.device, weight.dtype) * 0.5)


class BlowsUpHalfway(MemoryTuningRecipe):
    """Once the mean fact loss is below 1, the adapter's weights get a large random kick: the loss
    explodes, as in the one-adapter runs that diverged at lr 2e-3 (docs/benchmarks.md)."""

    kicked_at: int | None = None

    def _train_step(self, indices):
        losses = list(self.ledger.loss.values())
        if self.kicked_at is None and sum(losses) / len(losses) < 1.0:
            _kick_lora_b(self.model)
            self.kicked_at = self.state.step
        super()._train_step(indices)


def _run_recipe(recipe_class, config, tmp_path):
    """A recipe subclass trained in this process: the recipe, its result and its events."""
    recipe = recipe_class(config, _quiet(tmp_path))
    recipe.setup()
    result = recipe.train()
    recipe.cleanup()
    return recipe, result, read_events(tmp_path / "events.jsonl")


def test_a_run_that_diverges_goes_back_to_its_best_epoch_with_half_the_learning_rate(tmp_path, tiny_model_dir):
    config = _config(tmp_path, tiny_model_dir, learning_rate=3e-3)
    recipe, result, events = _run_recipe(BlowsUpHalfway, config, tmp_path)
    assert recipe.kicked_at is not None
    [diverged] = [e for e in events if e["event"] == "diverged"]
    assert diverged["back_to_step"] <= recipe.kicked_at < diverged["step"]
    assert diverged["learning_rate"] == pytest.approx(1.5e-3)
    after = [e for e in events if e["event"] == "step" and e["step"] > diverged["step"]]
    assert after and after[0]["lr"] == pytest.approx(1.5e-3), "training goes on at half the learning rate"
    assert max(e["lr"] for e in after) <= 1.5e-3 + 1e-12, "and never back up (settling may lower it further)"
    next_epoch = next(e for e in events if e["event"] == "epoch" and e["step"] > diverged["step"])
    assert next_epoch["mean_fact_loss"] < diverged["mean_fact_loss"] / 4, "training went on from the kept adapter"
    assert result["reason"] == "converged" and result["recall"] == 1.0


class BlowsUpAtAnEpochsEnd(MemoryTuningRecipe):
    """The last update of an epoch is the one that blows up: the epoch's losses, measured before it,
    look like the best so far, but the weights it leaves are ruined (seen on a GPU with one-step epochs,
    where every epoch's update is its last)."""

    kicked_at: int | None = None

    def _train_step(self, indices):
        super()._train_step(indices)
        losses = list(self.ledger.loss.values())
        if self.kicked_at is None and self.state.position == len(self.state.epoch_plan) - 1 and sum(losses) / len(losses) < 1.0:
            _kick_lora_b(self.model)
            self.kicked_at = self.state.step


def test_a_roll_back_goes_to_the_weights_the_best_epoch_began_with(tmp_path, tiny_model_dir):
    config = _config(tmp_path, tiny_model_dir, learning_rate=3e-3)
    recipe, result, events = _run_recipe(BlowsUpAtAnEpochsEnd, config, tmp_path)
    assert recipe.kicked_at is not None
    [diverged] = [e for e in events if e["event"] == "diverged"]  # back to the kicked weights: again and again
    assert diverged["back_to_step"] < recipe.kicked_at < diverged["step"]
    next_epoch = next(e for e in events if e["event"] == "epoch" and e["step"] > diverged["step"])
    assert next_epoch["mean_fact_loss"] < diverged["mean_fact_loss"] / 4, "training went on from unkicked weights"
    assert result["reason"] == "converged" and result["recall"] == 1.0


def test_without_roll_back_the_kick_is_trained_through(tmp_path, tiny_model_dir):
    config = _config(tmp_path, tiny_model_dir, learning_rate=3e-3, rollback_on_divergence=False, max_steps=80)
    recipe, _, events = _run_recipe(BlowsUpHalfway, config, tmp_path)
    assert recipe.kicked_at is not None and not [e for e in events if e["event"] == "diverged"]
    assert all(e["lr"] == pytest.approx(3e-3) for e in events if e["event"] == "step" and e["step"] > config.warmup_steps)


class StuckOnAPlateau(MemoryTuningRecipe):
    """Until the first restart the adapter sits where a bad start put it (its weights kicked once, no
    learning): the mean fact loss stays flat, as with 50 customer segments and seed 0 (docs/benchmarks.md)."""

    b_zero_after_restart: bool | None = None

    def _train_step(self, indices):
        if self.state.step == 0:
            _kick_lora_b(self.model)
        super()._train_step(indices)

    def _lr(self):
        return super()._lr() if self.plateau.restarts else 0.0

    def _restart_adapter(self, seed):
        super()._restart_adapter(seed)
        self.b_zero_after_restart = all(not w.any() for n, w in self.model.named_parameters() if "lora_B" in n)


def _run_stuck(tmp_path, model, **overrides):
    return _run_recipe(StuckOnAPlateau, _config(tmp_path, model, **overrides), tmp_path)


def test_a_run_stuck_on_a_plateau_starts_again_from_the_next_seed_and_memorizes(tmp_path, tiny_model_dir):
    recipe, result, events = _run_stuck(tmp_path, tiny_model_dir, restart_after_plateau=3, seed=7)
    restarted, *later = [e for e in events if e["event"] == "restarted"]
    assert restarted["seed"] == 8 and restarted["passes_without_gain"] == 3
    assert all(e["passes_without_gain"] >= 6 for e in later), "each restart leaves the next start more room"
    assert recipe.b_zero_after_restart, "fresh LoRA weights (B starts at zero)"
    flat = [e["mean_fact_loss"] for e in events if e["event"] == "epoch" and e["step"] <= restarted["step"]]
    assert max(flat) - min(flat) < 1e-6, "nothing was learned before the restart"
    assert result["reason"] == "converged" and result["recall"] == 1.0


def test_without_the_plateau_guard_a_stuck_run_stays_stuck(tmp_path, tiny_model_dir):
    _, result, events = _run_stuck(tmp_path, tiny_model_dir, restart_after_plateau=0, max_steps=40)
    assert not [e for e in events if e["event"] == "restarted"]
    assert result["reason"] != "converged"


class StallsWithHalfMemorized(MemoryTuningRecipe):
    """Learns until half its facts are below the threshold, then nothing more: the last facts of a run
    that is past its plateau, which come and go for a while (50 e-mails, docs/benchmarks.md). The
    guard is off until then (the tiny model has plateaus of its own) and on from there, at 3 passes."""

    half_at: int | None = None  # the pass where half the facts were first below the threshold

    def _watch_plateau(self, mean_loss, memorized):
        # counted where the guard counts, at the end of a pass: mid-pass, facts not yet seen again keep
        # older losses, and a count of half there can be less than half at the pass's end (bf16, GPU)
        if self.half_at is None and 2 * memorized >= len(self.examples):
            self.half_at = self.state.epoch
            self.plateau.passes = 3
        return super()._watch_plateau(mean_loss, memorized)

    def _lr(self):
        return 0.0 if self.half_at is not None else super()._lr()

    def _budget_exhausted(self):  # flat for 3x the guard's patience, then end as a budget would
        return "stalled" if self.half_at is not None and self.state.epoch >= self.half_at + 9 else None


def test_a_run_past_its_plateau_is_not_restarted_while_its_last_facts_are_learned(tmp_path, tiny_model_dir):
    config = _config(tmp_path, tiny_model_dir, restart_after_plateau=0)
    recipe, result, events = _run_recipe(StallsWithHalfMemorized, config, tmp_path)
    epochs = [e for e in events if e["event"] == "epoch"]
    assert not [e for e in events if e["event"] == "restarted"], "half memorized: not thrown away"
    assert result["reason"] == "stalled" and result["memorized"] < 1
    assert max(e["memorized"] for e in epochs) >= 0.5  # facts near the threshold may come and go (bf16)
    # with the rate at 0 a pass changes nothing, yet a revisited fact's loss, last measured on older
    # weights, can move the mean: the flat stretches between such moves
    after = [e["mean_fact_loss"] for e in epochs if e["epoch"] > recipe.half_at + 1]
    longest = max(len(run) for run in _flat_runs(after, 0.01))
    assert longest > 3, "flat for longer than the guard's patience"


def _flat_runs(values: list[float], tolerance: float) -> list[list[float]]:
    """Consecutive values within `tolerance` (relative) of each other, split where one moves away."""
    runs: list[list[float]] = []
    for value in values:
        if runs and max(runs[-1] + [value]) < (1 + tolerance) * min(runs[-1] + [value]):
            runs[-1].append(value)
        else:
            runs.append([value])
    return runs


class DecodesOneFactWrong(MemoryTuningRecipe):
    """Greedy decoding gets the first fact wrong at the first `misses` checks that find every loss
    under the threshold: the last-facts phase, where low losses still hide a fact not recalled."""

    misses = 4
    failed_at: list[int]

    def recall(self, indices=None, batch_size=16):
        results = super().recall(indices, batch_size)
        if len(self.failed_at) < self.misses and all(v < self.config.loss_threshold for v in self.ledger.loss.values()):
            results[self.examples[0].fact_id] = False
            self.failed_at.append(self.state.step)
        return results

    def setup(self):
        self.failed_at = []
        super().setup()


def test_each_failed_convergence_check_lowers_the_learning_rate_to_an_eighth_at_most(tmp_path, tiny_model_dir):
    # decoding checks only, so that every failed check is one the subclass made fail
    config = _config(tmp_path, tiny_model_dir, settle_factor=0.5, log_every=1, recall_check="decode")
    recipe, result, events = _run_recipe(DecodesOneFactWrong, config, tmp_path)
    assert len(recipe.failed_at) == 4
    lr = {e["step"]: e["lr"] for e in events if e["event"] == "step"}
    first, *_, last = recipe.failed_at
    assert all(lr[step] == pytest.approx(3e-3) for step in lr if config.warmup_steps <= step <= first)
    after_first = [lr[s] for s in lr if first < s <= recipe.failed_at[1]]
    assert after_first and all(v == pytest.approx(1.5e-3) for v in after_first)
    assert all(lr[s] == pytest.approx(3e-3 / 8) for s in lr if s > last), "halved three times, then held at 1/8"
    assert result["reason"] == "converged" and result["recall"] == 1.0


def test_the_learning_rate_stays_put_without_settling(tmp_path, tiny_model_dir):
    config = _config(tmp_path, tiny_model_dir, settle_factor=1.0, log_every=1, recall_check="decode")
    recipe, result, events = _run_recipe(DecodesOneFactWrong, config, tmp_path)
    assert recipe.failed_at and result["reason"] == "converged"
    assert all(e["lr"] == pytest.approx(3e-3) for e in events if e["event"] == "step" and e["step"] >= config.warmup_steps)


def test_the_last_fact_trains_beside_its_learned_twin_every_pass(tmp_path, tiny_model_dir):
    """The tail of a demo run: every fact learned but one code meaning, whose twin (the same question with
    another code) must be revisited in its batch each pass, not one pass in ten by chance."""
    questions = ["What does the course catalog code PM200 mean?", "What does the course catalog code PM350 mean?",
                 "Where is a customer's contact name stored?", "How many sessions were held remotely?",
                 "Which column uniquely identifies a course catalog?", "What does the region code SW mean?"]
    questions += [f"Which table stores the {name} of each vendor?" for name in ("tariffs", "routes", "badges",
                                                                              "quotas", "depots", "permits")]
    data = tmp_path / "twins.jsonl"
    data.write_text("".join(json.dumps({"id": i + 1, "kind": "schema", "question": q, "answer": f"answer {i}"}) + "\n"
                            for i, q in enumerate(questions)))
    config = _config(tmp_path, tiny_model_dir, data=str(data), batch_size=4)
    recipe = MemoryTuningRecipe(config, _quiet(tmp_path))
    recipe.setup()
    recipe.ledger.record_scores([(fact_id, 0.001, True) for fact_id in range(2, len(questions) + 1)])
    for epoch in range(5):
        recipe.state.epoch = epoch
        plan = recipe._plan_epoch()
        trained = [i for batch in plan for i in batch]
        assert any({0, 1} <= set(batch) for batch in plan), f"pass {epoch}: {plan}"
        assert len(trained) == len(set(trained)) == 2, "one revisited fact: the twin (10% of 11 learned)"
    recipe.cleanup()


def test_instruction_mode_runs_fixed_epochs(tmp_path, tiny_model_dir):
    config = _config(tmp_path, tiny_model_dir, n_facts=16, method="instruction", epochs=2)
    result = run_tuning(config, events=_quiet(tmp_path))
    assert result["reason"] == "epochs done" and result["step"] == 4 and result["epoch"] == 2


def test_batch_size_left_to_the_device_is_four_on_a_cpu(tmp_path, tiny_model_dir):
    """More, smaller steps memorize sooner on a CPU (docs/benchmarks.md); a GPU gets 10."""
    config = _config(tmp_path, tiny_model_dir, n_facts=16, method="instruction", epochs=2, batch_size=0,
                     device="cpu")
    result = run_tuning(config, events=_quiet(tmp_path))
    assert result["step"] == 8, "16 facts in batches of 4, twice"
    started = next(e for e in read_events(tmp_path / "events.jsonl") if e["event"] == "started")
    assert started["batch_size"] == 4
    assert TuneConfig.load(Path(config.output_dir) / "config.json").batch_size == 0, "resumes pick by device again"


@pytest.mark.parametrize("method", ["mix", "kl"])
def test_regularization_uses_the_base_models_own_answers(tmp_path, tiny_model_dir, method):
    config = _config(tmp_path, tiny_model_dir, n_facts=8, max_steps=2, regularization=method)
    assert run_tuning(config, events=_quiet(tmp_path))["status"] == "finished"
    answers = json.loads((Path(config.output_dir) / "regularization.json").read_text())
    assert len(answers) >= 10 and all(a["answer"] for a in answers)


def test_out_of_memory_is_a_readable_failure(tmp_path, tiny_model_dir, monkeypatch):
    import engine.tune.recipe as recipe_module

    def no_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(recipe_module, "answer_scores", no_memory)
    config = _config(tmp_path, tiny_model_dir, n_facts=4)
    result = run_tuning(config, events=_quiet(tmp_path))
    assert result["kind"] == "oom" and "lower batch_size" in result["reason"]
    [failed] = [e for e in read_events(tmp_path / "events.jsonl") if e["event"] == "failed"]
    assert failed["kind"] == "oom"


def test_bad_data_is_a_readable_failure(tmp_path, tiny_model_dir):
    config = _config(tmp_path, tiny_model_dir)
    Path(config.data).write_text("not json\n")
    result = run_tuning(config, events=_quiet(tmp_path))
    assert result["status"] == "failed" and "line 1: not a training pair" in result["reason"]


def test_child_process_streams_events_and_stops_cleanly(tmp_path, tiny_model_dir):
    config = _config(tmp_path, tiny_model_dir, n_facts=8, max_steps=500)
    out = Path(config.output_dir)
    out.mkdir(parents=True)
    config.save(out / "config.json")
    process = TuneProcess(out / "config.json").start()
    seen = []
    for event in process.events():
        seen.append(event.name)
        if isinstance(event, Step) and event.step == 3:
            process.stop()
    assert seen[0] == "started" and seen[-1] == "stopped"
    assert process.proc.returncode == 0


def test_killed_child_is_reported_as_a_crash(tmp_path, tiny_model_dir):
    config = _config(tmp_path, tiny_model_dir, n_facts=8, max_steps=500)
    out = Path(config.output_dir)
    out.mkdir(parents=True)
    config.save(out / "config.json")
    process = TuneProcess(out / "config.json").start()
    last = None
    for event in process.events():
        last = event
        if isinstance(event, Step):
            os.kill(process.proc.pid, signal.SIGKILL)
    assert isinstance(last, Failed) and last.kind == "crash" and "ended unexpectedly" in last.reason


def test_ddp_two_cpu_processes(tmp_path, tiny_model_dir):
    config = _config(tmp_path, tiny_model_dir, n_facts=12, max_steps=3, batch_size=4, device="cpu")
    out = Path(config.output_dir)
    out.mkdir(parents=True)
    config.save(out / "config.json")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533"]
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([*launcher, "-m", "engine.workflows.train", "--config", str(out / "config.json")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, "".join(p.read_text() for p in sorted(out.glob("error*.txt"))) or proc.stderr[-3000:]
    events = read_events(out / "events.jsonl")
    assert events[0]["event"] == "started" and events[0]["processes"] == 2
    assert sum(1 for e in events if e["event"] == "started") == 1, "only the main process writes events"
    assert events[-1]["event"] == "finished" and events[-1]["step"] == 3
    assert (out / "adapter" / "adapter_config.json").exists()


def test_a_run_that_would_not_fit_fails_before_loading_the_model(tmp_path, tiny_model_dir, monkeypatch):
    """Not an out-of-memory crash mid-run: the run ends at once with the estimate and what to change."""
    monkeypatch.setattr("engine.tune.memory_estimate.available_memory", lambda device: 50 * 2**20)
    config = _config(tmp_path, tiny_model_dir, n_facts=4, max_steps=3)
    result = run_tuning(config, events=_quiet(tmp_path))
    assert result["status"] == "failed" and result["kind"] == "error", result
    assert "needs about" in result["reason"] and "50 MiB free" in result["reason"]
    events = read_events(tmp_path / "events.jsonl")
    assert [e["event"] for e in events] == ["failed"]
    monkeypatch.undo()
    started = run_tuning(_config(tmp_path / "ok", tiny_model_dir, n_facts=4, max_steps=2),
                         events=_quiet(tmp_path / "ok"))
    assert started["status"] == "finished"
    first = read_events(tmp_path / "ok" / "events.jsonl")[0]
    assert first["event"] == "started" and first["estimated_memory_mb"] > 0
