"""Run configs and training data: what the model is shown and where the loss goes."""

from __future__ import annotations

import json
import random

import pytest

from engine.project.pairs import QAPair
from engine.qa.chat_format import PromptContext, messages_for
from engine.tune import data as D
from engine.tune.config import TuneConfig


def test_config_round_trip_and_help(tmp_path):
    config = TuneConfig(data="d.jsonl", output_dir="out", lora_r=8, method="instruction")
    config.save(tmp_path / "c.json")
    assert TuneConfig.load(tmp_path / "c.json") == config
    assert "LoRA rank" in TuneConfig.help()["lora_r"]
    assert all(TuneConfig.help().values()), "every field documents itself"


@pytest.mark.parametrize("field, value, message", [
    ("method", "magic", "method must be one of"), ("lora_r", 0, "lora_r must be at least 1"),
    ("learning_rate", 5.0, "learning_rate must be in"), ("batch_size", -1, "batch_size must be 0"), ("regularization", "l2", "regularization must be one of"),
])
def test_bad_config_names_the_field(field, value, message):
    with pytest.raises(ValueError, match=f"TuneConfig.{message}"):
        TuneConfig(**{field: value})


def test_unknown_keys_warn_not_fail(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"lora_r": 4, "colour": "blue"}))
    with pytest.warns(UserWarning, match="colour"):
        assert TuneConfig.load(tmp_path / "c.json").lora_r == 4


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from engine.tune.model_loading import load_tokenizer

    return load_tokenizer(tiny_model_dir)


def test_loss_only_on_answer_and_end_of_turn(tokenizer):
    context = PromptContext("lumen", "duckdb")
    pair = QAPair("Which table stores emails?", "customers.email", id=7)
    example = D.encode_pair(tokenizer, pair, context, 512)
    # the prompt is exactly what chat time sends (template + generation prompt)
    chat_prompt = tokenizer.apply_chat_template(messages_for(pair, context, with_answer=False), tokenize=False,
                                                add_generation_prompt=True)
    assert tokenizer.decode(example.prompt_ids) == chat_prompt
    batch = D.collate([example], tokenizer.pad_token_id)
    labelled = batch["labels"][0][batch["labels"][0] != D.IGNORE].tolist()
    assert tokenizer.decode(labelled) == "customers.email" + tokenizer.eos_token
    full = tokenizer.apply_chat_template(messages_for(pair, context), tokenize=False)
    assert full.startswith(tokenizer.decode(example.prompt_ids + example.answer_ids))


def test_batches_group_similar_lengths(tokenizer):
    context = PromptContext("db")
    pairs = [QAPair(f"Question {i}?", "x " * (1 + (i * 37) % 40), id=i) for i in range(60)]
    examples = D.encode_pairs(tokenizer, pairs, context, 512)
    batches = D.plan_batches(examples, 10, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(60))
    def waste(groups):  # padding tokens
        return sum(len(b) * max(examples[i].length for i in b) - sum(examples[i].length for i in b) for b in groups)

    in_order = [list(range(k, k + 10)) for k in range(0, 60, 10)]
    assert waste(batches) < 0.3 * waste(in_order)


def test_a_fact_still_being_learned_shares_its_batch_with_its_twin(tokenizer):
    """Two codes asked alike pull one answer over the other: the one still being learned trains beside
    its learned twin, and a fact asked like nothing else is paired with nothing."""
    questions = ["What does the course catalog code PM200 mean?", "Where is a customer's contact name stored?",
                 "How many sessions were held remotely in 2024?", "What does the course catalog code PM350 mean?",
                 "List every venue with more than 40 rooms."]
    pairs = [QAPair(q, "answer " * (1 + 5 * i), id=i) for i, q in enumerate(questions)]
    examples = D.encode_pairs(tokenizer, pairs, PromptContext("db"), 512)
    words = [D.question_words(e.question) for e in examples]
    assert D.nearest_twins(words, [0, 4], [1, 2, 3]) == {0: 3}
    for seed in range(5):
        batches = D.plan_batches(examples, 2, random.Random(seed), together=[(0, 3)])
        assert sorted(i for b in batches for i in b) == list(range(5))
        assert any({0, 3} <= set(b) for b in batches) and all(len(b) <= 2 for b in batches)
    alone = D.plan_batches(examples, 2, random.Random(0))
    assert not any({0, 3} <= set(b) for b in alone), "the lengths alone keep them apart"


def test_too_long_pair_is_refused(tokenizer):
    with pytest.raises(D.DataError, match="max_seq_len=40"):
        D.encode_pair(tokenizer, QAPair("q?", "word " * 100, id=1), PromptContext("db"), 40)


def test_malformed_run_data(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"id": 1, "question": "q", "answer": "a"}\n{"id": 2, "question": "q"}\n')
    with pytest.raises(D.DataError, match="line 2"):
        D.load_pairs(path)


def test_bf16_autocast_is_chosen_only_on_a_cpu_that_computes_bf16_natively(monkeypatch):
    """An AVX-512 CPU without BF16 instructions trains in fp32: oneDNN would emulate bf16 there, about four
    times slower per step; with AVX512-BF16 (or AMX) 'auto' autocasts, and 'bf16' is always honoured."""
    import torch

    from engine.tune import device

    monkeypatch.setattr(device.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    assert device.pick_device("cpu", "auto").mixed_precision == "no"
    assert device.pick_device("cpu", "bf16").mixed_precision == "bf16"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert device.pick_device("cpu", "auto").mixed_precision == "bf16"
