"""Pairs → token ids for training: the chat prompt (system + question, exactly as at chat time) and
the answer followed by the end-of-turn token; only answer tokens carry loss.

Batches group examples of similar length (sorted, then chunked, then the chunks shuffled), so little
compute goes to padding.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import EngramError
from engine.models.chat_template import for_template
from engine.project.pairs import QAPair
from engine.qa.chat_format import PromptContext, messages_for

IGNORE = -100


class DataError(EngramError):
    pass


@dataclass
class Example:
    fact_id: int  # the QA pair id (or a running number for regularization prompts)
    prompt_ids: list[int]
    answer_ids: list[int]  # answer tokens + end-of-turn token
    answer: str

    @property
    def length(self) -> int:
        return len(self.prompt_ids) + len(self.answer_ids)


def load_pairs(path: str | Path) -> list[QAPair]:
    """The run's data file: JSON lines with id, kind, question, answer (what `write_run_data` writes)."""
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                pairs.append(QAPair(record["question"], record["answer"], kind=record.get("kind", "schema"),
                                    id=int(record.get("id", number)), tables=record.get("tables") or None))
            except (json.JSONDecodeError, KeyError, ValueError, TypeError) as error:
                raise DataError(f"{path} line {number}: not a training pair ({error})") from None
    if not pairs:
        raise DataError(f"{path} holds no training pairs")
    return pairs


def write_run_data(pairs: list[QAPair], path: str | Path) -> int:
    with open(path, "w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps({"id": pair.id, "kind": pair.kind, "question": pair.question,
                                     "answer": pair.answer, "tables": pair.tables}, ensure_ascii=False) + "\n")
    return len(pairs)


def prompt_ids(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    messages = for_template(messages, tokenizer.chat_template)
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):  # BatchEncoding in some versions
        ids = ids["input_ids"]
    return list(ids)


def end_of_turn_ids(tokenizer) -> list[int]:
    return [tokenizer.eos_token_id]


def encode_pair(tokenizer, pair: QAPair, context: PromptContext, max_len: int) -> Example:
    prompt = prompt_ids(tokenizer, messages_for(pair, context, with_answer=False))
    answer = tokenizer.encode(pair.answer, add_special_tokens=False) + end_of_turn_ids(tokenizer)
    example = Example(pair.id, prompt, answer, pair.answer)
    if example.length > max_len:
        raise DataError(f"Pair {pair.id} is {example.length} tokens, more than max_seq_len={max_len}: "
                        f"shorten it or raise max_seq_len")
    return example


def encode_pairs(tokenizer, pairs: list[QAPair], context: PromptContext, max_len: int) -> list[Example]:
    return [encode_pair(tokenizer, p, context, max_len) for p in pairs]


def plan_batches(examples: list[Example], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Indices into `examples`, grouped by length; batch order shuffled."""
    order = sorted(range(len(examples)), key=lambda i: (examples[i].length, rng.random()))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(examples: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded input_ids, attention_mask and labels (-100 everywhere but the answer)."""
    width = max(e.length for e in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        ids = e.prompt_ids + e.answer_ids
        input_ids[row, :len(ids)] = torch.tensor(ids)
        mask[row, :len(ids)] = 1
        labels[row, len(e.prompt_ids):len(ids)] = torch.tensor(e.answer_ids)
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}
