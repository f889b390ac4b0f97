"""Chat messages a model's own template accepts. Some templates refuse a system turn (Gemma 2's
raises "System role not supported"); for those the system text goes in front of the first user
message, in training (transformers) and at chat time (llama.cpp) alike, so the tuned model is asked
as it learned."""

from __future__ import annotations

import functools

_PROBE = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]


class _Refused(Exception):
    pass


@functools.lru_cache(maxsize=16)
def accepts_system_turn(template: str | None) -> bool:
    """Whether a Jinja chat template renders a system turn rather than calling raise_exception."""
    if not template:
        return True
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def refuse(message: str):
        raise _Refused(message)

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    try:
        environment.from_string(template).render(messages=_PROBE, add_generation_prompt=True,
                                                 raise_exception=refuse, bos_token="", eos_token="")
    except _Refused:
        return False
    except (TemplateError, TypeError, ValueError):  # a template needing more than this probe gives it
        return True
    return True


def for_template(messages: list[dict[str, str]], template: str | None) -> list[dict[str, str]]:
    """The messages as the template takes them: unchanged, or with the system text in front of the
    first user message when it refuses a system turn."""
    return messages if accepts_system_turn(template) else without_system_turn(messages)


def without_system_turn(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The system messages' text put in front of the first user message."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if not system:
        return rest
    first_user = next((m for m in rest if m["role"] == "user"), None)
    if first_user is None:
        return [{"role": "user", "content": system}, *rest]
    first_user["content"] = f"{system}\n\n{first_user['content']}"
    return rest
