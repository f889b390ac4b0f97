"""The losses of memory tuning: each fact's answer loss with greedy decoding's verdict from the same
logits, and the KL to the base model that keeps a tuned model an assistant (regularization "kl")."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from engine.tune import data as D


def answer_scores(model, batch: dict[str, torch.Tensor], adapter_names: list[str] | None = None,
                  inputs_embeds: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per example: the mean answer-token cross-entropy, and whether greedy decoding would give the
    answer exactly. Under teacher forcing, greedy decoding reproduces the answer iff the argmax at every
    answer position (the end-of-turn token included) is the target token, so the verdict comes from the
    logits the loss needs anyway. Logits are computed only at the positions that predict each example's
    own answer tokens (`answer_positions`), not over the prompt. `adapter_names`: one LoRA
    adapter per example (peft's mixed-adapter batch), for experts trained together. `inputs_embeds`:
    the hidden states the first layer the model runs takes (`FrozenLayers`), instead of the tokens."""
    keep, index, targets = answer_positions(batch["labels"])
    routing = {"adapter_names": adapter_names} if adapter_names else {}
    with logits_only_at(model, index):
        logits = model(**model_inputs(batch, inputs_embeds), logits_to_keep=keep, **routing).logits.float()
    token_loss = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=D.IGNORE, reduction="none")
    labelled = targets != D.IGNORE
    counts = labelled.sum(dim=1).clamp(min=1)
    exact = ((logits.detach().argmax(dim=-1) == targets) | ~labelled).all(dim=1)
    return token_loss.sum(dim=1) / counts, exact


def answer_positions(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where each example's answer is predicted (logits at t predict token t+1): the span of positions
    the model keeps (transformers' `logits_to_keep`), each example's own positions within that span,
    packed to the left (as wide as the longest answer), and the labels they predict (IGNORE past an
    example's answer). In a batch whose prompts differ in length the answers sit at different offsets,
    so their union can be hundreds of positions wide; each one's logits cover a whole vocabulary."""
    following = labels[:, 1:]
    labelled = following != D.IGNORE
    width = int(labelled.sum(dim=1).max())
    # a stable sort puts each row's labelled positions first, in order
    positions = torch.sort((~labelled).to(torch.uint8), dim=1, stable=True).indices[:, :width]
    valid = labelled.gather(1, positions)
    targets = torch.where(valid, following.gather(1, positions), torch.full_like(positions, D.IGNORE))
    span = labelled.any(dim=0).nonzero().flatten()
    start, stop = int(span[0]), int(span[-1]) + 1
    index = torch.where(valid, positions - start, torch.zeros_like(positions))  # past an answer: any kept position
    return torch.arange(start, stop, device=labels.device), index, targets


@contextmanager
def logits_only_at(model, index: torch.Tensor) -> Iterator[None]:
    """While inside, the output head sees only the hidden states at `index` (per example, within the
    kept span): the head's input is gathered by a forward pre-hook, so final norms, logit soft-capping
    and LoRA routing stay the model's own."""
    head = getattr(model, "module", model).get_output_embeddings()  # DDP wraps the model in .module

    def gather(module, args):
        hidden = args[0]
        picked = hidden.gather(1, index.to(hidden.device).unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
        return (picked, *args[1:])

    handle = head.register_forward_pre_hook(gather)
    try:
        yield
    finally:
        handle.remove()


def model_inputs(batch: dict[str, torch.Tensor], inputs_embeds: torch.Tensor | None) -> dict[str, Any]:
    inputs = {"input_ids": batch["input_ids"]} if inputs_embeds is None else \
        {"inputs_embeds": inputs_embeds, "use_cache": False}
    return {**inputs, "attention_mask": batch["attention_mask"]}


def kl_to_base(model, batch: dict[str, torch.Tensor], inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
    """KL(base ‖ tuned) on the answer positions of regularization examples (adapter off = base), with
    logits only at the answers' positions."""
    keep, index, targets = answer_positions(batch["labels"])
    mask = targets != D.IGNORE
    inputs = model_inputs(batch, inputs_embeds)
    with logits_only_at(model, index):
        with torch.no_grad(), model.disable_adapter():
            base = model(**inputs, logits_to_keep=keep).logits.float()
        tuned = model(**inputs, logits_to_keep=keep).logits.float()
    kl = F.kl_div(F.log_softmax(tuned, -1), F.log_softmax(base, -1), log_target=True, reduction="none").sum(-1)
    return (kl * mask).sum() / mask.sum().clamp(min=1)
