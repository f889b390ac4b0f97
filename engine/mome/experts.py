"""Mixture of memory experts: one small LoRA adapter per group of facts, each trained with the
memory-tuning recipe until its own facts are recalled, in the same child process: one after another,
or on a GPU several at once in shared batches (engine.mome.expert_batch).

Why: one adapter holding every fact gets slower to train and its facts interfere as they grow; with
experts, training cost follows the facts being learned, and new or changed facts retrain only the
experts they touch (`update_experts`). The run folder holds:

    experts.json        the experts: fact ids, status, recall, steps, seconds (the manifest)
    vectors.npz         the base model's embedding of every fact question (the router's memory)
    experts/NAME/       a normal memory-tuning run per expert (facts.jsonl, events, adapter/)
    groups/FIRST/       experts trained together (on a GPU): the group's data, events and checkpoint;
                        each expert's adapter, facts and scores still go to experts/NAME/
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import EngramError
from engine.mome.expert_batch import MEMBERS, can_train_together, expert_batch_recipe, same_group
from engine.mome.partition import embed_questions, partition
from engine.mome.router import Router
from engine.project.pairs import QAPair
from engine.tune import data as D
from engine.tune.config import TuneConfig
from engine.tune.events import Event, EventLog, ExpertsAtOnce, ExpertScope, Finished, Started, Stopped, in_expert
from engine.tune.run_folder import ADAPTER, CHECKPOINT, CONFIG, DATA, EXPERTS, STOP

VECTORS = "vectors.npz"
GROUPS = "groups"  # experts trained together: each group's run (data, events, checkpoint)


@dataclass
class ExpertRecord:
    name: str
    fact_ids: list[int]
    status: str = "pending"  # pending | trained | failed
    recall: float | None = None
    steps: int = 0
    seconds: float = 0.0
    reason: str = ""

    def folder(self, run_dir: Path) -> Path:
        return Path(run_dir) / "experts" / self.name

    def adapter(self, run_dir: Path) -> Path:
        return self.folder(run_dir) / ADAPTER


@dataclass
class ExpertSet:
    experts: list[ExpertRecord]
    threshold: float = 0.5
    embedding: str = "mean-pooled last hidden state of the base model"
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per training session

    def save(self, run_dir: Path) -> None:
        path = Path(run_dir) / EXPERTS
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(asdict(self), indent=1))
        partial.replace(path)

    @classmethod
    def load(cls, run_dir: Path) -> "ExpertSet":
        path = Path(run_dir) / EXPERTS
        if not path.exists():
            raise EngramError(f"{run_dir} is not a memory-experts run (no {EXPERTS})")
        raw = json.loads(path.read_text())
        return cls([ExpertRecord(**e) for e in raw.pop("experts")], **raw)

    def by_name(self, name: str) -> ExpertRecord:
        return next(e for e in self.experts if e.name == name)

    def owner_of(self) -> dict[int, str]:
        return {fact_id: e.name for e in self.experts for fact_id in e.fact_ids}

    def trained(self) -> list[ExpertRecord]:
        return [e for e in self.experts if e.status == "trained"]


def save_vectors(run_dir: Path, ids: list[int], vectors: np.ndarray) -> None:
    np.savez(Path(run_dir) / VECTORS, ids=np.array(ids, dtype=np.int64), vectors=vectors.astype(np.float32))


def load_vectors(run_dir: Path) -> dict[int, np.ndarray]:
    with np.load(Path(run_dir) / VECTORS) as data:
        return {int(i): v for i, v in zip(data["ids"], data["vectors"])}


def expert_facts(run_dir: Path, manifest: ExpertSet) -> dict[str, list[QAPair]]:
    """Each trained expert's facts, as it was trained on them (kept in its folder)."""
    return {e.name: D.load_pairs(e.folder(run_dir) / "facts.jsonl") for e in manifest.trained()}


def build_router(run_dir: Path, manifest: ExpertSet | None = None, top_k: int = 1,
                 off_topic_vectors: np.ndarray | None = None,
                 facts: dict[str, list[QAPair]] | None = None) -> Router:
    """The router over the trained experts: each expert scored by its closest fact question (embedding
    and words; the words come from the facts each expert was trained on: `facts`, read from the
    experts' folders when not given). With `off_topic_vectors` (engine.mome.off_topic embedded by the
    base model), questions closer to those than to an expert's facts go to the base model."""
    manifest = manifest or ExpertSet.load(run_dir)
    vectors = load_vectors(run_dir)
    experts = manifest.trained()
    facts = facts if facts is not None else expert_facts(run_dir, manifest)
    questions = {p.id: p.question for pairs in facts.values() for p in pairs}
    return Router([e.name for e in experts], [np.stack([vectors[i] for i in e.fact_ids]) for e in experts],
                  threshold=manifest.threshold, top_k=top_k,
                  fact_questions=[[questions[i] for i in e.fact_ids] for e in experts],
                  off_topic_vectors=off_topic_vectors)


class BaseEmbedder:
    """Question embeddings from the base model (no adapter), on the training device."""

    def __init__(self, config: TuneConfig) -> None:
        import torch

        from engine.models.locate import resolve_model
        from engine.tune.device import pick_device
        from engine.tune.model_loading import hf_folder_for, load_base_model, load_tokenizer

        folder = hf_folder_for(resolve_model(config.model))
        self.tokenizer = load_tokenizer(folder)
        self.model = load_base_model(folder, torch.float32, False).to(pick_device(config.device).device)

    def __call__(self, questions: list[str]) -> np.ndarray:
        return embed_questions(self.model, self.tokenizer, questions)


class _ExpertEvents(EventLog):
    """The run events of an expert (or of experts trained together), passed to the whole run's log in
    the expert's scope (`engine.tune.events.in_expert`). `index`: experts trained before these;
    `count`: experts in the run."""

    def __init__(self, parent: EventLog, experts: list[ExpertRecord], index: int, count: int, steps_before: int,
                 facts_before: int, total_facts: int) -> None:
        super().__init__(None, stdout=False)
        self.parent = parent
        self.name = ", ".join(e.name for e in experts)
        self.scope = ExpertScope(self.name, index, count, together=len(experts))
        self.facts = sum(len(e.fact_ids) for e in experts)
        self.steps_before, self.facts_before, self.total_facts = steps_before, facts_before, total_facts

    def emit(self, event: Event) -> Event:
        scoped = in_expert(event, self.scope, self.steps_before, self.facts_before, self.facts, self.total_facts)
        return self.parent.emit(scoped) if self.enabled else scoped


class ExpertTraining:
    """The job for method 'experts' (engine/workflows/train.py): partition (once), then train every expert that
    is not trained yet. Resuming continues the expert that was stopped from its checkpoint."""

    def __init__(self, config: TuneConfig, events: EventLog, resume: bool = False) -> None:
        self.config = config
        self.out = Path(config.output_dir)
        self.events = events
        self.resume = resume
        self.step = 0

    def setup(self) -> None:
        self.pairs = {p.id: p for p in D.load_pairs(self.config.data)}
        if self.resume and (self.out / EXPERTS).exists():
            self.manifest = ExpertSet.load(self.out)
            return
        self.manifest = plan_experts(self.config, list(self.pairs.values()), self.out)

    def train(self) -> dict[str, Any]:
        from engine.tune.device import default_batch_size, default_experts_at_once, pick_device

        cfg, out, manifest = self.config, self.out, self.manifest
        started = time.monotonic()
        total = sum(len(e.fact_ids) for e in manifest.experts)
        pending = [e for e in manifest.experts if e.status != "trained"]
        self.step = sum(e.steps for e in manifest.experts if e.status == "trained")
        device = pick_device(cfg.device, cfg.precision)
        together = cfg.experts_at_once or default_experts_at_once(device.device)
        if together > 1 and can_train_together(cfg):
            together = 1
        self.events.emit(Started(run=str(out), method="experts", device=device.describe(),
                                 facts=total, experts=len(manifest.experts), experts_to_train=len(pending),
                                 experts_at_once=together, resumed_from_step=self.step if self.resume else None))
        session = {"experts_trained": [], "started": time.time()}
        while pending:
            group = pending[:together]
            if (out / STOP).exists():
                return self._stopped(session)
            remaining = cfg.max_minutes - (time.monotonic() - started) / 60 if cfg.max_minutes else 0
            if cfg.max_minutes and remaining <= 0:
                break
            sub = replace(cfg, method="memory", regularization=cfg.regularization_in_effect,
                          max_minutes=max(remaining, 1e-3) if cfg.max_minutes else 0,
                          batch_size=cfg.batch_size or default_batch_size(device.device))  # per expert
            trained = manifest.trained()
            done_facts = sum(round((e.recall or 0) * len(e.fact_ids)) for e in trained)
            log = _ExpertEvents(self.events, group, len(trained), len(manifest.experts), self.step, done_facts, total)
            result = self._train_one(group[0], sub, log) if len(group) == 1 else self._train_group(group, sub, log)
            if result["status"] == "failed" and result.get("kind") == "oom" and len(group) > 1:
                together = len(group) // 2  # a group too big for the GPU: smaller groups, same experts
                self.events.emit(ExpertsAtOnce(experts_at_once=together, reason="out of memory", step=self.step))
                continue
            steps = int(result.get("step") or 0)
            for expert in group:
                expert.steps = steps or expert.steps
                expert.seconds = float(result.get("elapsed_s") or 0.0)
            self.step += steps
            if result["status"] == "stopped":
                manifest.save(out)
                return self._stopped(session)
            if result["status"] == "failed":
                for expert in group:
                    expert.status, expert.reason = "failed", result["reason"]
                manifest.save(out)
                raise EngramError(f"memory expert {log.name}: {result['reason']}")
            recall = result.get("expert_recall") or {group[0].name: result.get("recall")}
            for expert in group:
                expert.status, expert.recall, expert.reason = "trained", recall[expert.name], result.get("reason", "")
                session["experts_trained"].append(expert.name)
            manifest.save(out)
            pending = pending[len(group):]
        return self._finished(session, started, total)

    def _train_one(self, expert: ExpertRecord, config: TuneConfig, log: EventLog) -> dict[str, Any]:
        """One expert alone: a normal memory-tuning run in its folder."""
        from engine.tune.run import run_tuning

        folder = expert.folder(self.out)
        resume = self.resume and (folder / CHECKPOINT / "state.pt").exists()
        if not resume:
            self._write_facts(expert)
        sub = replace(config, data=str(folder / "facts.jsonl"), output_dir=str(folder))
        return run_tuning(sub, resume=resume, events=log, stop_file=self.out / STOP)

    def _write_facts(self, expert: ExpertRecord) -> None:
        """The facts an expert is trained on, in its folder (what routing and export read later)."""
        expert.folder(self.out).mkdir(parents=True, exist_ok=True)
        D.write_run_data([self.pairs[i] for i in expert.fact_ids], expert.folder(self.out) / "facts.jsonl")

    def _train_group(self, group: list[ExpertRecord], config: TuneConfig, log: EventLog) -> dict[str, Any]:
        """Experts trained together (engine.mome.expert_batch): the group's run in RUN/groups/FIRST,
        each expert's adapter written to its own folder. A stopped group resumes if it is still the
        same experts with the same facts."""
        from engine.tune.run import run_tuning

        members = {e.name: list(e.fact_ids) for e in group}
        folder = self.out / GROUPS / group[0].name
        resume = self.resume and (folder / CHECKPOINT / "state.pt").exists() and same_group(folder, members)
        if not resume:
            _clear_run(folder)
            folder.mkdir(parents=True)
            for expert in group:
                self._write_facts(expert)
            D.write_run_data([self.pairs[i] for e in group for i in e.fact_ids], folder / "facts.jsonl")
            (folder / MEMBERS).write_text(json.dumps(members))
        sub = replace(config, data=str(folder / "facts.jsonl"), output_dir=str(folder),
                      batch_size=config.batch_size * len(group))  # each expert's share of a step as when alone
        job = expert_batch_recipe(sub, members, {e.name: e.folder(self.out) for e in group}, log, resume=resume,
                                  stop_file=self.out / STOP)
        return run_tuning(sub, resume=resume, events=log, job=job)

    def _stopped(self, session: dict) -> dict[str, Any]:
        self._record(session)
        self.events.emit(Stopped(step=self.step, checkpoint=str(self.out)))
        return {"status": "stopped", "step": self.step}

    def _finished(self, session: dict, started: float, total: int) -> dict[str, Any]:
        self._record(session)
        manifest = self.manifest
        recalled = sum((e.recall or 0) * len(e.fact_ids) for e in manifest.trained())
        untrained = [e.name for e in manifest.experts if e.status != "trained"]
        summary = {"status": "finished", "reason": "time budget" if untrained else "converged" if recalled == total
                   else "experts trained", "step": self.step, "recall": recalled / max(1, total),
                   "experts": len(manifest.experts), "experts_untrained": untrained,
                   "elapsed_s": time.monotonic() - started, "adapter": str(self.out / "experts")}
        self.events.emit(Finished(**{k: v for k, v in summary.items() if k != "status"}))
        return summary

    def _record(self, session: dict) -> None:
        session["ended"] = time.time()
        self.manifest.history.append(session)
        self.manifest.save(self.out)

    def cleanup(self) -> None:
        pass


def plan_experts(config: TuneConfig, pairs: list[QAPair], out: Path) -> ExpertSet:
    """Embed every fact question with the base model, partition, and write the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    vectors = BaseEmbedder(config)([p.question for p in pairs])
    save_vectors(out, [p.id for p in pairs], vectors)
    groups = partition(pairs, vectors, max_per_expert=config.expert_size, seed=config.seed)
    manifest = ExpertSet([ExpertRecord(g.name, list(g.pair_ids)) for g in groups], threshold=config.router_threshold)
    manifest.save(out)
    return manifest


def update_experts(run_dir: Path, pairs: list[QAPair]) -> dict[str, list]:
    """Incremental memory: fold a new version of the facts into an experts run without retraining
    what did not change. Facts whose answer changed mark their expert for retraining (from scratch on
    its facts, so the old answer is not kept); new facts form new experts of their own; removed facts
    leave their expert (retrained). Returns what changed; `engram tune --resume RUN` then trains only
    the experts marked pending."""
    run_dir = Path(run_dir)
    config = TuneConfig.load(run_dir / CONFIG)
    manifest = ExpertSet.load(run_dir)
    old = {p.id: p for p in D.load_pairs(config.data)}
    new = {p.id: p for p in pairs}
    changed = sorted(i for i in new if i in old and (new[i].answer, new[i].question) != (old[i].answer, old[i].question))
    removed = sorted(i for i in old if i not in new)
    added = [new[i] for i in new if i not in old]
    owner = manifest.owner_of()
    touched = {owner[i] for i in changed + removed if i in owner}
    for expert in manifest.experts:
        expert.fact_ids = [i for i in expert.fact_ids if i in new]
        if expert.name in touched:
            expert.status, expert.recall, expert.steps, expert.reason = "pending", None, 0, ""
            _clear_run(expert.folder(run_dir))
    manifest.experts = [e for e in manifest.experts if e.fact_ids]
    vectors = load_vectors(run_dir)
    if changed or added:  # re-embed changed questions too: the router must see the new wording
        fresh = [new[i] for i in changed] + added
        embedded = BaseEmbedder(config)([p.question for p in fresh])
        vectors.update({p.id: v for p, v in zip(fresh, embedded)})
    created = []
    if added:
        taken = {e.name for e in manifest.experts}
        generation = 1 + max((e.get("generation", 0) for e in manifest.history), default=0)
        groups = partition(added, np.stack([vectors[p.id] for p in added]), max_per_expert=config.expert_size,
                           seed=config.seed)
        for group in groups:
            name = f"{group.name}-new{generation}"
            while name in taken:
                name += "x"
            manifest.experts.append(ExpertRecord(name, list(group.pair_ids)))
            created.append(name)
        manifest.history.append({"generation": generation, "added": len(added), "time": time.time()})
    kept = list(new)
    save_vectors(run_dir, kept, np.stack([vectors[i] for i in kept]))
    data = run_dir / DATA  # the run's own copy: the file it was first given is not rewritten
    D.write_run_data(list(new.values()), data)
    replace(config, data=str(data)).save(run_dir / CONFIG)
    manifest.save(run_dir)
    return {"changed": changed, "removed": removed, "added": [p.id for p in added],
            "retrain": sorted(touched), "new_experts": created}


def _clear_run(folder: Path) -> None:
    import shutil

    if folder.exists():
        shutil.rmtree(folder)
