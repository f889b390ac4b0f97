"""Memory experts' routing: facts partitioned by table and embedding clusters; the router sends a
held-out paraphrase to the expert that holds its fact, and a general question to the base model."""

from __future__ import annotations

import numpy as np
import pytest

from engine.db import open_database
from engine.eval.general_set import GENERAL_SET
from engine.mome.partition import embed_questions, kmeans, partition
from engine.mome.off_topic import OFF_TOPIC_PROMPTS
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


def test_no_expert_holds_more_facts_than_allowed_however_the_questions_cluster():
    """Row facts of one table are near-identical questions ("email of customer C0001"): k-means alone
    put 100 of them in one expert and 7 in another at "at most 50"."""
    from engine.project.pairs import QAPair

    rng = np.random.default_rng(0)
    crowd = rng.normal([5, 0, 0], 0.05, (45, 3))  # most questions look alike
    rest = rng.normal([0, 5, 0], 0.05, (5, 3))
    vectors = np.concatenate([crowd, rest])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert max(np.bincount(kmeans(vectors, 3))) > 20, "unconstrained, one cluster takes the crowd"
    pairs = [QAPair(f"q{i}", "a", kind="data", id=i + 1, tables="customers") for i in range(50)]
    experts = partition(pairs, vectors, max_per_expert=20)
    assert len(experts) == 3 and all(len(e.pair_ids) <= 20 for e in experts)
    assert sorted(i for e in experts for i in e.pair_ids) == list(range(1, 51))
    rest_ids = set(range(46, 51))
    assert any(rest_ids <= set(e.pair_ids) for e in experts), "the distinct questions still share an expert"


def test_experts_named_after_tables_whatever_their_names():
    """Table names become folders, peft adapter names and GGUF file names: no dots, spaces or slashes."""
    from engine.project.pairs import QAPair

    tables = ["Order Details", "sales.2024", "sales_2024", "a/b"]
    pairs = [QAPair(f"q{i}", "a", kind="schema", id=i + 1, tables=t) for i, t in enumerate(tables)]
    names = [e.name for e in partition(pairs, np.eye(4), max_per_expert=5)]
    assert sorted(names) == ["Order_Details", "a_b", "sales_2024", "sales_2024_2"]


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

    # General questions (none of them among the off-topic references) go to the base model; the
    # paraphrases of facts still go to an expert.
    # The questions of the kind the references hold (world facts, arithmetic) nearly all go to the base
    # model; instructions and refusal-worthy requests, which no reference resembles, less often
    # (73% of the whole 113-prompt set on this 2-layer model).
    router.off_topic_vectors = embed_questions(model, tokenizer, OFF_TOPIC_PROMPTS)
    factual = [g.prompt for g in GENERAL_SET if g.category in ("world", "arithmetic")]
    general = embed_questions(model, tokenizer, factual)
    to_base = sum(not router.route(q).experts for q in general) / len(general)
    everything = embed_questions(model, tokenizer, [g.prompt for g in GENERAL_SET])
    all_to_base = sum(not router.route(q).experts for q in everything) / len(everything)
    kept = sum(bool(router.route(q).experts) for q in questions) / len(questions)
    print(f"general questions to the base model: {to_base:.0%} (whole set {all_to_base:.0%}); "
          f"paraphrases to an expert: {kept:.0%}")
    assert to_base >= 0.8 and all_to_base >= 0.7 and kept >= 0.95
    assert router.accuracy(questions, [owner[p.paraphrase_of] for p in held_out]) == accuracy


def test_router_threshold_means_no_expert():
    router = Router(["a", "b"], [np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])], threshold=0.9)
    assert router.route(np.array([1.0, 0.0])).experts == ["a"]
    assert router.route(np.array([0.7071, 0.7071])).experts == []

    gated = Router(["a", "b"], [np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])], threshold=0.5,
                   off_topic_vectors=np.array([[0.8, 0.6]]))
    route = gated.route(np.array([0.8, 0.6]))  # close to "a" (0.8), closer still to an off-topic question
    assert route.experts == [] and route.off_topic == pytest.approx(1.0)
    assert gated.route(np.array([1.0, 0.0])).experts == ["a"]  # "a"'s own fact (1.0) beats the reference (0.8)

    # allowed: only those experts may answer, even where another one is closer
    loose = Router(["a", "b"], [np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])], threshold=0.5)
    assert loose.route(np.array([0.6, 0.8])).experts == ["b"]
    assert loose.route(np.array([0.6, 0.8]), allowed={"a"}).experts == ["a"]
    assert loose.route(np.array([0.0, 1.0]), allowed={"a"}).experts == []  # a's similarity 0 is below the threshold
    assert loose.route(np.array([0.6, 0.8]), allowed=set()).experts == []


def test_router_words_tell_apart_facts_the_embeddings_cannot():
    """Lookups that differ only by an id embed alike; the rare shared word (the id) picks the expert,
    and the confidence threshold still looks at the embeddings alone."""
    same = np.array([[1.0, 0.0]])
    questions = [["What is the email of customer C0001?"], ["What is the email of customer C0002?"],
                 ["How many products are there?"]]
    vectors = [same, same, np.array([[0.0, 1.0]])]
    asked = "Tell me the e-mail for customer C0002."
    plain = Router(["c1", "c2", "p"], vectors, threshold=0.5)
    assert plain.route(same[0], asked).experts == ["c1"]  # a tie, broken by order: wrong
    router = Router(["c1", "c2", "p"], vectors, threshold=0.5, fact_questions=questions)
    route = router.route(same[0], asked)
    assert route.experts == ["c2"] and route.scores == [1.0]  # the score shown is the similarity
    assert router.route(same[0], "What is the email of customer C0001?").experts == ["c1"]
    assert router.route(np.array([0.0, 1.0]), "how many customers are there").experts == ["p"]
    off_topic = np.array([0.3, -0.954])  # shares "customer" and "email" with the facts, embeds far away
    assert router.route(off_topic, "Write an email to a customer").experts == []
