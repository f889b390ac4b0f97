"""Which of a project's pairs a workflow works on: an approved split, or exactly the pairs a run
trained on (or their held-out rewordings)."""

from __future__ import annotations

from pathlib import Path

from engine.project import ProjectStore
from engine.project.pairs import QAPair
from engine.tune.run_folder import RunFolder

SPLITS = {"train": "split = 'train'", "eval": "split = 'eval'", "paraphrase": "split = 'paraphrase'", "all": "1 = 1"}


def approved_pairs(store: ProjectStore, split: str, limit: int | None = None) -> list[QAPair]:
    """The approved pairs of one split ('train', 'eval', 'paraphrase' or 'all')."""
    return store.pairs(f"status = 'approved' AND {SPLITS[split]}", limit=limit)


def latest_run(store: ProjectStore) -> Path | None:
    """The newest of the project's runs whose folder still holds its training pairs."""
    folders = [Path(r["folder"]) for r in store.runs() if r["folder"] and RunFolder.of(r["folder"]).data.is_file()]
    return folders[-1] if folders else None


def run_pairs(store: ProjectStore, run_dir: str | Path, paraphrases: bool = False,
              limit: int | None = None) -> list[QAPair]:
    """The project's pairs a run trained on (or their held-out paraphrases)."""
    from engine.tune.data import load_pairs

    ids = [p.id for p in load_pairs(RunFolder.of(run_dir).data)]
    column = "paraphrase_of" if paraphrases else "id"
    return store.pairs(f"{column} IN ({','.join('?' * len(ids))})", ids, limit=limit)
