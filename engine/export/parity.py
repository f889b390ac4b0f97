"""After export, ask llama.cpp the tuned facts again: recall per exported file next to the
transformers recall of the run. Facts lost in conversion (tokenizer or chat-template mismatch,
quantization) show up here, and the export is marked failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine.cancel import CancelToken
from engine.models.llama_runtime import LlamaChat, Sampling
from engine.project.pairs import QAPair
from engine.qa.chat_format import PromptContext, messages_for


@dataclass
class ParityReport:
    reference_recall: float | None  # transformers recall from the run (None if unknown)
    recall: dict[str, float] = field(default_factory=dict)  # file label -> llama.cpp recall
    misses: dict[str, list[int]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        if self.reference_recall is None:
            return True
        return all(r >= self.reference_recall - 1e-9 for r in self.recall.values())

    def dropped(self) -> list[str]:
        if self.reference_recall is None:
            return []
        return [label for label, r in self.recall.items() if r < self.reference_recall - 1e-9]


def run_reference_recall(run_dir: Path) -> float | None:
    """The share of facts the run recalled in transformers (its fact_scores.json), or None if unknown."""
    import json

    from engine.tune.run_folder import RunFolder

    path = RunFolder.of(run_dir).fact_scores
    if not path.exists():
        return None
    scores = json.loads(path.read_text())
    return sum(1 for s in scores.values() if s.get("recalled")) / len(scores) if scores else None


def gguf_recall(model_path: Path, pairs: list[QAPair], context: PromptContext, lora_path: Path | None = None,
                cancel: CancelToken | None = None) -> tuple[float, list[int]]:
    """Greedy exact-match recall of `pairs` through llama.cpp; returns (recall, ids missed)."""
    with LlamaChat(str(model_path), n_ctx=2048, lora_path=str(lora_path) if lora_path else None) as chat:
        recall, misses = chat_recall(chat, pairs, context, cancel)
    return recall, [pair.id for pair, _ in misses]


def chat_recall(chat, pairs: list[QAPair], context: PromptContext, cancel: CancelToken | None = None,
                on_miss: Callable[[QAPair, str], None] | None = None) -> tuple[float, list[tuple[QAPair, str]]]:
    """Greedy exact-match recall of `pairs` through an open chat (a LlamaChat, or memory experts routed
    per request); returns (recall, the missed pairs with what the model said). `on_miss` is called at
    once, while the chat still knows how it answered (e.g. which expert)."""
    cancel = cancel or CancelToken()
    misses = []
    sampling = Sampling(temperature=0.0, max_tokens=min(512, max((len(p.answer) for p in pairs), default=0) + 16))
    for pair in pairs:
        cancel.raise_if_cancelled("the parity check")
        text = chat.complete(messages_for(pair, context, with_answer=False), sampling)
        if text.strip() != pair.answer.strip():
            misses.append((pair, text))
            if on_miss is not None:
                on_miss(pair, text)
    return 1 - len(misses) / max(1, len(pairs)), misses


def check_parity(files: dict[str, Path], pairs: list[QAPair], context: PromptContext,
                 reference_recall: float | None, cancel: CancelToken | None = None) -> ParityReport:
    report = ParityReport(reference_recall)
    for label, path in files.items():
        recall, misses = gguf_recall(path, pairs, context, cancel=cancel)
        report.recall[label], report.misses[label] = recall, misses
    return report
