"""A model whose chat template refuses a system turn (Gemma 2's) is asked with the system text in
front of the first user message; every other template gets the messages unchanged."""

from __future__ import annotations

from engine.models.chat_template import accepts_system_turn, for_template
from tiny_model import GEMMA2_TEMPLATE

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
MESSAGES = [{"role": "system", "content": "You write SQLite queries."},
            {"role": "user", "content": "How many orders?"}, {"role": "assistant", "content": "SELECT 1"},
            {"role": "user", "content": "And customers?"}]


def test_a_template_that_refuses_a_system_turn_gets_it_in_the_first_user_message():
    assert not accepts_system_turn(GEMMA2_TEMPLATE) and accepts_system_turn(CHATML) and accepts_system_turn(None)
    folded = for_template(MESSAGES, GEMMA2_TEMPLATE)
    assert [m["role"] for m in folded] == ["user", "assistant", "user"]
    assert folded[0]["content"] == "You write SQLite queries.\n\nHow many orders?"
    assert folded[2]["content"] == "And customers?" and MESSAGES[1]["content"] == "How many orders?", "a copy"
    assert for_template(MESSAGES, CHATML) is MESSAGES


def test_a_template_needing_more_than_the_probe_is_taken_to_accept_a_system_turn():
    needs_a_function = "{{ strftime_now('%Y') }}{% for m in messages %}{{ m.content }}{% endfor %}"
    assert accepts_system_turn(needs_a_function)
