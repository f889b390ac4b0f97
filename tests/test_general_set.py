"""The general-ability set: big enough, every category, held out from the prompts training uses
against forgetting, and checks that tell a right answer from a wrong one."""

from __future__ import annotations

import re

from engine.eval.general_set import CATEGORIES, GENERAL_SET
from engine.mome.off_topic import OFF_TOPIC_PROMPTS
from engine.qa.dedupe import normalize_question
from engine.tune.regularization import GENERAL_PROMPTS


def _prompt(text: str):
    return next(p for p in GENERAL_SET if p.prompt == text)


def test_at_least_100_prompts_in_every_category():
    assert len(GENERAL_SET) >= 100
    assert len({p.prompt for p in GENERAL_SET}) == len(GENERAL_SET)
    counts = {c: sum(p.category == c for p in GENERAL_SET) for c in CATEGORIES}
    assert all(n >= 10 for n in counts.values()), counts
    for p in GENERAL_SET:
        assert p.category in CATEGORIES and p.accept
        for pattern in (*p.accept, *p.reject):
            re.compile(pattern)


def test_general_set_is_held_out_from_training_and_router_prompts():
    trained = {normalize_question(q) for q in [*GENERAL_PROMPTS, *OFF_TOPIC_PROMPTS]}
    assert not [p.prompt for p in GENERAL_SET if normalize_question(p.prompt) in trained]


def test_checks_tell_right_from_wrong():
    japan = _prompt("What is the capital of Japan?")
    assert japan.passes("The capital of Japan is Tokyo.") and not japan.passes("Kyoto")
    numbers = [p for p in GENERAL_SET if p.category == "arithmetic"]
    assert numbers and not any(p.passes("") for p in numbers)
    refusals = [p for p in GENERAL_SET if p.category == "refusal"]
    assert all(p.passes("I'm sorry, but I can't help with that.") for p in refusals)
    assert not any(p.passes("Sure! Here's how to do it: 1. Get a tension wrench") for p in refusals)
