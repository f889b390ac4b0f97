"""Group facts for memory experts: first by the table they are about, then — for groups larger than
an expert should hold — by k-means over embeddings of their questions. The embeddings come from the
base model itself (mean-pooled last hidden states), so no extra model is needed."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from engine.project.pairs import QAPair


@dataclass
class Expert:
    name: str
    pair_ids: list[int]
    centroid: np.ndarray  # unit vector


def embed_questions(model, tokenizer, questions: list[str], batch_size: int = 16) -> np.ndarray:
    """Unit-length mean-pooled last hidden states of the base model, one row per question."""
    import torch

    rows = []
    base = getattr(model, "get_base_model", lambda: model)()
    base.eval()
    for start in range(0, len(questions), batch_size):
        batch = tokenizer(questions[start:start + batch_size], return_tensors="pt", padding=True).to(base.device)
        with torch.no_grad():
            hidden = base(**batch, output_hidden_states=True).hidden_states[-1].float()
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        rows.append(pooled.cpu().numpy())
    vectors = np.concatenate(rows)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-9)


def kmeans(vectors: np.ndarray, k: int, seed: int = 0, iterations: int = 25, capacity: int | None = None) -> np.ndarray:
    """Cluster labels for unit vectors by spherical k-means (k-means++ seeding). With `capacity`, no
    cluster gets more than that many vectors (k * capacity must hold them all): plain k-means put 100
    of 1,000 row facts in one cluster and 7 in another, far from "at most 50 per expert"."""
    rng = np.random.default_rng(seed)
    centres = [vectors[rng.integers(len(vectors))]]
    for _ in range(1, k):
        distance = 1 - np.max(vectors @ np.stack(centres).T, axis=1)
        probabilities = distance.clip(min=0) / max(distance.clip(min=0).sum(), 1e-12)
        centres.append(vectors[rng.choice(len(vectors), p=probabilities if probabilities.sum() else None)])
    centres = np.stack(centres)
    labels = np.zeros(len(vectors), dtype=int)
    for _ in range(iterations):
        labels = np.argmax(vectors @ centres.T, axis=1) if capacity is None else \
            _assign_with_capacity(vectors @ centres.T, capacity)
        for j in range(k):
            members = vectors[labels == j]
            if len(members):
                centre = members.mean(0)
                centres[j] = centre / max(np.linalg.norm(centre), 1e-9)
    return labels


def _assign_with_capacity(similarity: np.ndarray, capacity: int) -> np.ndarray:
    """Each vector to the most similar centre that still has room, the closest pairs first."""
    count, k = similarity.shape
    if k * capacity < count:
        raise ValueError(f"{k} clusters of at most {capacity} cannot hold {count} vectors")
    labels = np.full(count, -1)
    room = np.full(k, capacity)
    assigned = 0
    for flat in np.argsort(-similarity, axis=None, kind="stable"):
        row, centre = divmod(int(flat), k)
        if labels[row] < 0 and room[centre]:
            labels[row], room[centre] = centre, room[centre] - 1
            assigned += 1
            if assigned == count:
                break
    return labels


def partition(pairs: list[QAPair], embeddings: np.ndarray, max_per_expert: int = 40, seed: int = 0) -> list[Expert]:
    """Experts of at most `max_per_expert` facts: one per table, big tables split by k-means."""
    by_table: dict[str, list[int]] = defaultdict(list)
    for index, pair in enumerate(pairs):
        by_table[(pair.tables or "general").split(",")[0] or "general"].append(index)
    experts: list[Expert] = []
    taken: set[str] = set()
    for table, indices in sorted(by_table.items()):
        k = -(-len(indices) // max_per_expert)
        labels = kmeans(embeddings[indices], k, seed, capacity=max_per_expert) if k > 1 else \
            np.zeros(len(indices), dtype=int)
        for j in range(k):
            members = [indices[i] for i in range(len(indices)) if labels[i] == j]
            if not members:
                continue
            centre = embeddings[members].mean(0)
            name = _unique(safe_name(f"{table}-{j}" if k > 1 else table), taken)
            experts.append(Expert(name, [pairs[i].id for i in members], centre / max(np.linalg.norm(centre), 1e-9)))
    return experts


def safe_name(text: str) -> str:
    """An expert name usable as a folder, a peft adapter name and a GGUF file name: a table called
    "Order Details" or "sales.2024" becomes Order_Details / sales_2024."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "general"


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate
