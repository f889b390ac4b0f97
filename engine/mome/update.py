"""Incremental memory for a memory-experts run, as one step the CLI (`engram update`) and the app's
Tune page share: refresh the facts the database changed, take in pairs approved since the run, drop
pairs no longer approved, and re-plan the experts so only those touched are trained again."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.db import Database
from engine.errors import EngramError
from engine.mome.experts import update_experts
from engine.project import ProjectStore
from engine.qa.stale import StaleFact, find_stale_facts, refresh_stale_facts
from engine.tune.data import load_pairs
from engine.tune.prepare import TRAIN_WHERE
from engine.tune.run_folder import RunFolder


@dataclass
class MemoryUpdate:
    stale: list[StaleFact]
    changed: list[int] = field(default_factory=list)
    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    to_train: list[str] = field(default_factory=list)  # expert names, retrained or new

    def summary(self) -> str:
        return (f"{len(self.stale)} stale, {len(self.changed)} changed, {len(self.added)} new, "
                f"{len(self.removed)} removed fact(s); experts to train: {', '.join(self.to_train) or 'none'}")


def plan_memory_update(store: ProjectStore, db: Database, run: Path) -> MemoryUpdate:
    """Bring the run's facts up to date with the project and the database (read-only); the training
    itself is a resume of the run (`engram tune --resume` or the Tune page), which trains only the
    experts left pending here. The run's pairs that are still approved stay; pairs approved after its
    newest one join (older unapproved ones were left out of the run on purpose, e.g. by --max-pairs)."""
    run = Path(run)
    if not RunFolder(run).is_experts:
        raise EngramError(f"{run} is not a memory-experts run (incremental updates need the experts method)")
    stale = find_stale_facts(store, db)
    refresh_stale_facts(store, stale)
    trained = [p.id for p in load_pairs(RunFolder(run).data)]
    newest = max(trained, default=0)
    marks = ",".join("?" * len(trained)) or "NULL"
    pairs = store.pairs(f"{TRAIN_WHERE} AND (id IN ({marks}) OR id > ?)", [*trained, newest])
    report = update_experts(run, pairs)
    return MemoryUpdate(stale, report["changed"], report["added"], report["removed"],
                        report["retrain"] + report["new_experts"])
