"""Pairs → token ids for training: the chat prompt (system + question, exactly as at chat time) and
the answer followed by the end-of-turn token; only answer tokens carry loss.

Batches group examples of similar length (sorted, then chunked, then the chunks shuffled), so little
compute goes to padding; facts asked almost alike can be kept in one batch (`nearest_twins`).
"""

from __future__ import annotations

import json
import random
import re
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
    question: str = ""  # the pair's question: how alike two facts are asked (nearest_twins)

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
    example = Example(pair.id, prompt, answer, pair.answer, pair.question)
    if example.length > max_len:
        raise DataError(f"Pair {pair.id} is {example.length} tokens, more than max_seq_len={max_len}: "
                        f"shorten it or raise max_seq_len")
    return example


def encode_pairs(tokenizer, pairs: list[QAPair], context: PromptContext, max_len: int) -> list[Example]:
    return [encode_pair(tokenizer, p, context, max_len) for p in pairs]


def plan_batches(examples: list[Example], batch_size: int, rng: random.Random,
                 together: list[tuple[int, int]] = ()) -> list[list[int]]:
    """Indices into `examples`, grouped by length, each pair in `together` in one batch; batch order
    shuffled."""
    root = list(range(len(examples)))

    def find(i: int) -> int:
        while root[i] != i:
            i = root[i]
        return i

    for a, b in together:
        root[find(a)] = find(b)
    groups: dict[int, list[int]] = {}
    for i in range(len(examples)):
        groups.setdefault(find(i), []).append(i)
    ordered = sorted(groups.values(), key=lambda g: (min(examples[i].length for i in g), rng.random()))
    batches, current = [], []
    for group in ordered:
        group.sort(key=lambda i: examples[i].length)
        for start in range(0, len(group), batch_size):
            chunk = group[start:start + batch_size]
            if len(current) + len(chunk) > batch_size:
                batches.append(current)
                current = []
            current += chunk
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return batches


def question_words(question: str) -> frozenset[str]:
    """A question's lower-case words, which two facts' likeness is measured by (nearest_twins)."""
    return frozenset(re.findall(r"\w+", question.lower()))


TWIN_SIMILARITY = 0.5  # the share of their question words (Jaccard) two facts asked almost alike have


def nearest_twins(words: list[frozenset[str]], facts: list[int], among: list[int]) -> dict[int, int]:
    """Each of `facts`' nearest fact in `among` by the words of their questions (Jaccard, at least
    TWIN_SIMILARITY; ties to the first): two facts asked almost alike ("code PM200" / "code PM350") pull
    one answer over the other, so the one still being learned trains beside its twin, never alone."""
    twins = {}
    for fact in facts:
        mine, best, best_score = words[fact], None, TWIN_SIMILARITY
        for other in among:
            if other == fact:
                continue
            shared = len(mine & words[other])
            score = shared / (len(mine) + len(words[other]) - shared or 1)
            if score > best_score or score == best_score and best is None:
                best, best_score = other, score
        if best is not None:
            twins[fact] = best
    return twins


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
