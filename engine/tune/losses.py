"""The losses of memory tuning: each fact's answer loss with greedy decoding's verdict from the same
logits, and the KL to the base model that keeps a tuned model an assistant (regularization "kl")."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from engine.tune import data as D


def answer_scores(model, batch: dict[str, torch.Tensor], adapter_names: list[str] | None = None,
                  inputs_embeds: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per example: the mean answer-token cross-entropy, and whether greedy decoding would give the
    answer exactly. Under teacher forcing, greedy decoding reproduces the answer iff the argmax at every
    answer position (the end-of-turn token included) is the target token, so the verdict comes from the
    logits the loss needs anyway. Logits are computed only over the span of positions that predict
    answer tokens (transformers' `logits_to_keep`), not the whole prompt. `adapter_names`: one LoRA
    adapter per example (peft's mixed-adapter batch), for experts trained together. `inputs_embeds`:
    the hidden states the first layer the model runs takes (`FrozenLayers`), instead of the tokens."""
    keep, targets = answer_span(batch["labels"])
    routing = {"adapter_names": adapter_names} if adapter_names else {}
    logits = model(**model_inputs(batch, inputs_embeds), logits_to_keep=keep, **routing).logits.float()
    token_loss = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=D.IGNORE, reduction="none")
    labelled = targets != D.IGNORE
    counts = labelled.sum(dim=1).clamp(min=1)
    exact = ((logits.detach().argmax(dim=-1) == targets) | ~labelled).all(dim=1)
    return token_loss.sum(dim=1) / counts, exact


def answer_span(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The positions whose logits predict answer tokens (logits at t predict token t+1), and the
    labels they predict (IGNORE where a shorter example has none)."""
    positions = (labels != D.IGNORE).any(dim=0).nonzero().flatten()
    start, stop = int(positions[0]) - 1, int(positions[-1])
    return torch.arange(start, stop, device=labels.device), labels[:, start + 1:stop + 1]


def model_inputs(batch: dict[str, torch.Tensor], inputs_embeds: torch.Tensor | None) -> dict[str, Any]:
    inputs = {"input_ids": batch["input_ids"]} if inputs_embeds is None else \
        {"inputs_embeds": inputs_embeds, "use_cache": False}
    return {**inputs, "attention_mask": batch["attention_mask"]}


def kl_to_base(model, batch: dict[str, torch.Tensor], inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
    """KL(base ‖ tuned) on the answer positions of regularization examples (adapter off = base), with
    logits only over the answer span."""
    keep, targets = answer_span(batch["labels"])
    mask = targets != D.IGNORE
    inputs = model_inputs(batch, inputs_embeds)
    with torch.no_grad(), model.disable_adapter():
        base = model(**inputs, logits_to_keep=keep).logits.float()
    tuned = model(**inputs, logits_to_keep=keep).logits.float()
    kl = F.kl_div(F.log_softmax(tuned, -1), F.log_softmax(base, -1), log_target=True, reduction="none").sum(-1)
    return (kl * mask).sum() / mask.sum().clamp(min=1)
