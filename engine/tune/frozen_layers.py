"""The layers below the lowest adapted one never change during a run (TuneConfig.lora_layers), so the
hidden state each fact's tokens reach there is computed once, in one no-grad pass, and every training
step runs only the adapted layers on it: a shorter forward pass as well as a shorter backward one.
The pass is made by the training loop, where a stop request can end it, or on first use."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch

from engine.tune import data as D

CACHE_LIMIT_BYTES = 2 * 2**30  # beyond this the hidden states are recomputed every step instead


def decoder_of(model) -> torch.nn.Module | None:
    """The transformer stack (the module holding `.layers`) of a peft-wrapped causal LM, if it has one."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    inner = getattr(base, "model", None)
    return inner if isinstance(getattr(inner, "layers", None), torch.nn.ModuleList) else None


class FrozenLayers:
    """Per fact, the hidden states entering layer `first`; `adapted_only()` runs the model from there."""

    def __init__(self, model, decoder: torch.nn.Module, first: int, examples: list[D.Example], pad_id: int,
                 device: torch.device) -> None:
        self.model, self.decoder, self.first = model, decoder, first
        self.examples, self.pad_id, self.device = examples, pad_id, device
        self.hidden: dict[int, torch.Tensor] = {}  # example index -> (length, hidden size)

    @classmethod
    def for_run(cls, model, examples: list[D.Example], top_layers: int, pad_id: int,
                device: torch.device) -> "FrozenLayers | None":
        """The cache for a run whose adapters sit on the top `top_layers` layers, or None when every
        layer is adapted, the model's layers cannot be found, or the states would take too much memory."""
        decoder = decoder_of(model)
        if decoder is None or not top_layers or top_layers >= len(decoder.layers):
            return None
        width = decoder.config.hidden_size if hasattr(decoder, "config") else 0
        size = sum(e.length for e in examples) * width * next(model.parameters()).element_size()
        if not width or size > CACHE_LIMIT_BYTES:
            return None
        return cls(model, decoder, len(decoder.layers) - top_layers, examples, pad_id, device)

    def fill(self, between: Callable[[], None] | None = None, batch_size: int = 16) -> None:
        """The examples not cached yet, in one pass without gradients at the model's own precision,
        through the frozen layers only; `between` is called after each batch (the training loop's stop
        check)."""
        if len(self.hidden) >= len(self.examples):
            return
        was_training = self.model.training
        self.model.eval()
        captured: list[torch.Tensor] = []
        def keep_output(module, inputs, output) -> None:  # a decoder layer returns a tensor or a tuple
            captured.append(output[0] if isinstance(output, tuple) else output)

        layers = self.decoder.layers
        hook = layers[self.first - 1].register_forward_hook(keep_output)
        self.decoder.layers = layers[:self.first]  # the final norm and one position's logits run on top: cheap
        try:
            with torch.no_grad():
                for start in range(len(self.hidden), len(self.examples), batch_size):
                    chunk = self.examples[start:start + batch_size]
                    batch = D.collate(chunk, self.pad_id)
                    captured.clear()
                    self.model(input_ids=batch["input_ids"].to(self.device),
                               attention_mask=batch["attention_mask"].to(self.device), logits_to_keep=1, use_cache=False)
                    states = captured[-1]  # the output of layer `first - 1`: the input of layer `first`
                    for row, example in enumerate(chunk):
                        self.hidden[start + row] = states[row, :example.length].clone()
                    if between:
                        between()
        finally:
            hook.remove()
            self.decoder.layers = layers
            self.model.train(was_training)

    def embeds(self, indices: list[int]) -> torch.Tensor:
        """The cached states of these examples, right-padded like `data.collate` pads their tokens."""
        self.fill()
        states = [self.hidden[i] for i in indices]
        width = max(s.shape[0] for s in states)
        padded = states[0].new_zeros((len(states), width, states[0].shape[1]))
        for row, s in enumerate(states):
            padded[row, :s.shape[0]] = s
        return padded

    @contextmanager
    def adapted_only(self) -> Iterator[None]:
        """The model with its frozen layers taken out, to be fed `embeds()` as its input embeddings (the
        cache is completed first: it needs the whole model)."""
        self.fill()
        layers = self.decoder.layers
        self.decoder.layers = layers[self.first:]
        try:
            yield
        finally:
            self.decoder.layers = layers
