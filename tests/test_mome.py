"""Memory experts: facts partitioned by table and embedding clusters; the router sends a held-out
paraphrase to the expert that holds its fact."""

from __future__ import annotations

import numpy as np
import pytest

from engine.db import open_database
from engine.mome.partition import embed_questions, kmeans, partition
from engine.mome.router import Router
from engine.project import ProjectStore
from engine.qa.generate import generate_template_pairs


def test_kmeans_separates_clear_clusters():
    rng = np.random.default_rng(0)
    a = rng.normal([5, 0, 0], 0.1, (20, 3))
    b = rng.normal([0, 5, 0], 0.1, (20, 3))
    vectors = np.concatenate([a, b])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = kmeans(vectors, 2)
    assert len(set(labels[:20])) == 1 and len(set(labels[20:])) == 1 and labels[0] != labels[20]


@pytest.fixture(scope="module")
def demo_facts(tmp_path_factory):
    from app.paths import DEMO_SQLITE

    folder = tmp_path_factory.mktemp("mome")
    with open_database(DEMO_SQLITE) as db, ProjectStore.create(folder / "p.engram", DEMO_SQLITE) as store:
        generate_template_pairs(store, db, paraphrases=1)
        facts = store.pairs("kind = 'schema' AND split = 'train'")
        paraphrases = {p.paraphrase_of: p for p in store.pairs("split = 'paraphrase' AND kind = 'schema'")}
    return facts, paraphrases


def test_partition_and_route_paraphrases(demo_facts, tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    facts, paraphrases = demo_facts
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    vectors = embed_questions(model, tokenizer, [p.question for p in facts])
    assert vectors.shape == (len(facts), model.config.hidden_size)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)

    experts = partition(facts, vectors, max_per_expert=12)
    held = sorted(i for e in experts for i in e.pair_ids)
    assert held == sorted(p.id for p in facts), "every fact in exactly one expert"
    assert all(len(e.pair_ids) <= 12 for e in experts)
    by_id = {p.id: p for p in facts}
    assert all(len({by_id[i].tables.split(",")[0] for i in e.pair_ids}) == 1 for e in experts), "one table each"

    index = {p.id: i for i, p in enumerate(facts)}
    router = Router([e.name for e in experts], [vectors[[index[i] for i in e.pair_ids]] for e in experts],
                    threshold=0.0)
    owner = {i: e.name for e in experts for i in e.pair_ids}
    held_out = [paraphrases[p.id] for p in facts if p.id in paraphrases]
    questions = embed_questions(model, tokenizer, [p.question for p in held_out])
    accuracy = router.accuracy(questions, [owner[p.paraphrase_of] for p in held_out])
    chance = 1 / len(experts)
    print(f"router accuracy on {len(held_out)} held-out paraphrases: {accuracy:.0%} ({len(experts)} experts)")
    assert accuracy > 3 * chance


def test_router_threshold_means_no_expert():
    router = Router(["a", "b"], [np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])], threshold=0.9)
    assert router.route(np.array([1.0, 0.0])).experts == ["a"]
    assert router.route(np.array([0.7071, 0.7071])).experts == []
