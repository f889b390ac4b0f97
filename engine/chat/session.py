"""A chat conversation with a llama.cpp model: history, a system prompt, sampling settings,
streamed replies that stop on cancel, and history trimmed (oldest turns first) so a long
conversation never overflows the context window."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from engine.cancel import CancelToken
from engine.models.llama_runtime import LlamaChat, Sampling

TEMPLATE_OVERHEAD = 8  # tokens per message for the chat template's markers


@dataclass
class ChatSession:
    chat: LlamaChat
    system_prompt: str = ""
    sampling: Sampling = field(default_factory=lambda: Sampling(temperature=0.7, max_tokens=256))
    history: list[dict[str, str]] = field(default_factory=list)
    trimmed: int = 0  # how many old messages were dropped to fit the context

    def messages(self) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return system + self.history

    def _fit(self) -> None:
        """Drop the oldest turns until prompt + reply fit in the context window."""
        budget = self.chat.n_ctx - self.sampling.max_tokens - 16
        def size(messages):
            return sum(self.chat.count_tokens(m["content"]) + TEMPLATE_OVERHEAD for m in messages)
        while len(self.history) > 1 and size(self.messages()) > budget:
            self.history.pop(0)
            self.trimmed += 1
        if size(self.messages()) > budget:  # one message alone is too long: keep its end
            last = self.history[-1]
            keep = max(16, budget - size(self.messages()[:-1]) - TEMPLATE_OVERHEAD)
            last["content"] = self.chat.detokenize(self.chat.tokenize(last["content"])[-keep:])

    def send(self, text: str, cancel: CancelToken | None = None) -> Iterator[str]:
        """Stream the reply to `text`; the (possibly partial) reply joins the history."""
        self.history.append({"role": "user", "content": text})
        self._fit()
        reply = []
        try:
            for piece in self.chat.stream(self.messages(), self.sampling, cancel):
                reply.append(piece)
                yield piece
        finally:
            self.history.append({"role": "assistant", "content": "".join(reply)})

    def reset(self) -> None:
        self.history.clear()
        self.trimmed = 0
