"""Under bf16 autocast over fp32 weights (a CPU with bf16 instructions), every matrix product casts its
frozen weight to bf16 again, in the forward pass and in the backward one: for the bundled model's top
10 layers and output head that is ~13% of a training step (profiled). The frozen weights a step
multiplies by are cast once instead, and put in place only for the training steps; recall checks and
decoding keep the fp32 weights (in bf16, logits tie)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


class HalfWeights:
    """bf16 copies of frozen linear weights, swapped in by `in_use()` and out again after it."""

    def __init__(self, weights: list[torch.nn.Parameter], dtype: torch.dtype = torch.bfloat16) -> None:
        self.weights = weights
        self.full = [w.data for w in weights]
        self.half = [w.detach().to(dtype) for w in weights]

    @classmethod
    def of(cls, modules: list[torch.nn.Module]) -> "HalfWeights":
        """The frozen `nn.Linear` weights inside these modules (LoRA's base layers and the output head;
        not the adapters, which train and stay fp32), each once (a tied output head is the embeddings)."""
        seen: dict[int, torch.nn.Parameter] = {}
        for module in modules:
            for linear in module.modules():
                if isinstance(linear, torch.nn.Linear) and not linear.weight.requires_grad:
                    seen.setdefault(id(linear.weight), linear.weight)
        return cls(list(seen.values()))

    @contextmanager
    def in_use(self) -> Iterator[None]:
        for weight, half in zip(self.weights, self.half):
            weight.data = half
        try:
            yield
        finally:
            for weight, full in zip(self.weights, self.full):
                weight.data = full
