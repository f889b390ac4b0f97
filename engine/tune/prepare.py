"""Turn a project into a run folder (data + config) and record a finished run back in the project."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

from engine.db.detect import detect_kind
from engine.errors import EngramError
from engine.paths import user_data_dir
from engine.project import ProjectStore
from engine.tune.config import TuneConfig
from engine.tune.data import write_run_data
from engine.tune.events import Event
from engine.tune.run_folder import FACT_SCORES, RunFolder

TRAIN_WHERE = "status = 'approved' AND split = 'train'"


def new_run_dir(store: ProjectStore) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return user_data_dir() / "runs" / f"{store.path.stem}-{stamp}"


def sample_by_kind(pairs: list, limit: int, seed: int = 0) -> list:
    """At most `limit` pairs, each kind keeping its share (for a quick first run on a big dataset)."""
    import random
    from collections import defaultdict

    if limit <= 0 or len(pairs) <= limit:
        return pairs
    by_kind = defaultdict(list)
    for pair in pairs:
        by_kind[pair.kind].append(pair)
    rng = random.Random(seed)
    chosen = []
    for kind, group in sorted(by_kind.items()):
        share = max(1, round(limit * len(group) / len(pairs)))
        chosen += rng.sample(group, min(share, len(group)))
    return sorted(chosen[:limit], key=lambda p: p.id)


def without_heldout(pairs: list, database: Path | None) -> list:
    """The pairs minus any that would leak the database's held-out questions into training."""
    from engine.qa.heldout import heldout_index

    if database is None:
        return pairs
    dialect = detect_kind(database) if database.exists() else "sqlite"
    index = heldout_index(database, dialect)
    return pairs if index is None else [p for p in pairs if not index.leaks(p, dialect)]


def save_grounding(store: ProjectStore, database: Path, folder: Path) -> None:
    """The run's SQL prompts: the database's schema card and, as retrieved examples, every approved
    training SQL pair of the project (held-out questions kept out), saved beside the data."""
    from engine.db import open_database
    from engine.sqlgen.grounding import EXAMPLES_WHERE, SqlGrounding

    with open_database(database) as db:
        SqlGrounding.of_database(db, store.pairs(EXAMPLES_WHERE)).save(folder)


def prepare_run(store: ProjectStore, config: TuneConfig, run_dir: str | Path | None = None,
                where: str = TRAIN_WHERE, max_pairs: int = 0) -> tuple[TuneConfig, int]:
    """Write the project's training pairs and the config into a run folder; register the run. Pairs that
    repeat a question or gold query of the database's shipped held-out set (evals/) never train."""
    pairs = sample_by_kind(without_heldout(store.pairs(where), store.source_db), max_pairs, config.seed)
    if not pairs:
        raise EngramError("No approved training pairs in this project: generate and approve some first")
    folder = Path(run_dir) if run_dir else new_run_dir(store)
    folder.mkdir(parents=True, exist_ok=True)
    run = RunFolder(folder)
    write_run_data(pairs, run.data)
    source = store.source_db
    if source is not None and source.exists():
        save_grounding(store, source, folder)
    config = replace(config, data=str(run.data), output_dir=str(folder),
                     database_name=source.stem if source else config.database_name,
                     dialect=detect_kind(source) if source and source.exists() else config.dialect)
    config.save(run.config)
    run_id = store.add_run(folder.name, config.method, json.loads(config.to_json()), folder=str(folder))
    return config, run_id


def record_run(store: ProjectStore, run_id: int, run_dir: str | Path) -> Event | None:
    """Copy a run's outcome (status, summary, per-fact scores, adapter path) into the project."""
    folder = Path(run_dir)
    run = RunFolder(folder)
    final = run.final_event()
    status = final.name if final else "failed"
    store.update_run(run_id, status=status, summary=final.to_json() if final else {"reason": "no events"}, finished=True)
    # a memory-experts run keeps one score file per expert
    paths = [run.fact_scores, *sorted(folder.glob(f"experts/*/{FACT_SCORES}"))]
    scores = {k: v for path in paths if path.exists() for k, v in json.loads(path.read_text()).items()}
    if scores:
        known = set(store.pair_ids())
        store.set_fact_scores(run_id, [(int(k), v["loss"], v["recalled"]) for k, v in scores.items()
                                       if int(k) in known])
    adapter = run.adapter
    if adapter.is_dir() and not any(a["path"] == str(adapter) for a in store.artifacts(run_id)):
        store.add_artifact("adapter", str(adapter), run_id=run_id)
    return final
