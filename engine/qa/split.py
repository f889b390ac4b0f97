"""Train/eval split by intent, and held-out paraphrases.

All phrasings of one intent land on the same side, so evaluation never asks a question the model
trained on in other words. Paraphrase pairs (split "paraphrase") stay held out whichever side their
intent is on: they measure whether a memorized fact survives rewording.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict

from engine.project import ProjectStore
from engine.project.pairs import QAPair


def split_pairs(pairs: list[QAPair], eval_fraction: float = 0.2, seed: int = 0,
                kinds: tuple[str, ...] = ("sql",)) -> dict[int, str]:
    """New split ('train' or 'eval') per pair id, for pairs of `kinds`; pairs of other kinds (the
    facts to memorize) all train. Groups by intent (or by the pair itself when it has none),
    stratified by kind so each kind gets its share of eval."""
    if not 0 <= eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in [0, 1); got {eval_fraction}")
    rng = random.Random(seed)
    groups: dict[str, dict[str, list[QAPair]]] = defaultdict(lambda: defaultdict(list))
    for pair in pairs:
        if pair.split == "paraphrase":
            continue
        key = pair.intent or f"pair:{pair.id}"
        groups[pair.kind][key].append(pair)
    result: dict[int, str] = {}
    for kind, by_intent in sorted(groups.items()):
        keys = sorted(by_intent)
        rng.shuffle(keys)
        n_eval = round(len(keys) * eval_fraction) if kind in kinds else 0
        for index, key in enumerate(keys):
            for pair in by_intent[key]:
                result[pair.id] = "eval" if index < n_eval else "train"
    return result


def apply_split(store: ProjectStore, eval_fraction: float = 0.2, seed: int = 0,
                kinds: tuple[str, ...] = ("sql",)) -> dict[str, int]:
    """Split the approved and pending pairs in the store; returns counts per split."""
    pairs = store.pairs("status != 'rejected'")
    assignment = split_pairs(pairs, eval_fraction, seed, kinds)
    by_split: dict[str, list[int]] = defaultdict(list)
    for pair_id, split in assignment.items():
        by_split[split].append(pair_id)
    for split, ids in by_split.items():
        store.update_pairs(ids, split=split)
    return {split: len(ids) for split, ids in sorted(by_split.items())}


# -- rule-based paraphrases for pairs without template alternatives (manual, imported, LLM) -------
_REWRITES: list[tuple[str, str]] = [
    (r"^how many (.+) are there\?$", r"What is the number of \1?"),
    (r"^what is the number of (.+)\?$", r"How many \1 are there?"),
    (r"^how many (.+)\?$", r"Count the \1."),
    (r"^which (.+)\?$", r"What \1?"),
    (r"^what is the (.+) of (.+)\?$", r"Tell me the \1 of \2."),
    (r"^what is (.+)\?$", r"Tell me \1."),
    (r"^what are (.+)\?$", r"List \1."),
    (r"^list (.+)\.$", r"Show \1."),
    (r"^show (.+)\.$", r"List \1."),
    (r"^(.+)\?$", r"Can you tell me: \1?"),
]


def rule_paraphrase(question: str) -> str | None:
    """A rewording of `question` by the first matching rule, or None when no rule applies."""
    text = question.strip()
    for pattern, replacement in _REWRITES:
        if re.match(pattern, text, flags=re.I):
            rewritten = re.sub(pattern, replacement, text, flags=re.I)
            rewritten = rewritten[0].upper() + rewritten[1:]
            if rewritten.lower() != text.lower():
                return rewritten
    return None


def add_paraphrases(store: ProjectStore) -> int:
    """Give every training pair without a held-out paraphrase one made by rule; returns how many."""
    covered = {p.paraphrase_of for p in store.pairs("split = 'paraphrase'")}
    new = []
    for pair in store.pairs("split = 'train' AND status != 'rejected'"):
        if pair.id in covered:
            continue
        question = rule_paraphrase(pair.question)
        if question:
            new.append(QAPair(question, pair.answer, kind=pair.kind, sql=pair.sql, status=pair.status,
                              split="paraphrase", source=pair.source, intent=pair.intent, tables=pair.tables,
                              template="paraphrase.rule", validation=pair.validation,
                              validation_message=pair.validation_message, result_hash=pair.result_hash,
                              result_preview=pair.result_preview, paraphrase_of=pair.id))
    store.add_pairs(new)
    return len(new)
