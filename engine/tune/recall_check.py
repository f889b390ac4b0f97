"""Recall checking: does greedy decoding give each fact's answer exactly? The memory-tuning recipe
asks it of its facts (and of the base model for the regularization answers); verdicts are split
across processes and gathered, so a DDP run checks each fact once."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import torch

from engine.tune import data as D

Verdict = TypeVar("Verdict")
Judge = Callable[[Any, list[int]], list[Verdict]]  # (model, chunk of example indices) -> one verdict each


def greedy_completions(model, tokenizer, prompts: list[list[int]], max_new: int, device: torch.device,
                       adapter_names: list[str] | None = None) -> list[str]:
    """Greedy completions of token-id prompts, batched with left padding (`adapter_names`: one adapter
    per prompt)."""
    pad = tokenizer.pad_token_id
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, width - len(p):] = torch.tensor(p)
        mask[row, width - len(p):] = 1
    routing = {"adapter_names": adapter_names} if adapter_names else {}
    with torch.no_grad():
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new,
                             do_sample=False, pad_token_id=pad, eos_token_id=tokenizer.eos_token_id, **routing)
    return [tokenizer.decode(row[width:], skip_special_tokens=True).strip() for row in out]


def decoded_exactly(model, tokenizer, examples: list[D.Example], device: torch.device,
                    adapter_names: list[str] | None = None) -> list[bool]:
    """Whether greedy decoding of each example's prompt gives its answer exactly."""
    longest = max(len(e.answer_ids) for e in examples)
    texts = greedy_completions(model, tokenizer, [e.prompt_ids for e in examples], longest + 2, device, adapter_names)
    return [t == e.answer.strip() for e, t in zip(examples, texts)]


def judge_each(model, examples: list[D.Example], indices: list[int] | None, accelerator, batch_size: int,
               judge: Judge) -> dict[int, Verdict]:
    """fact id -> verdict for the given example indices (all by default): this process's share, in
    chunks of similar length passed to `judge` (evaluation mode, no gradients), gathered across processes."""
    model = accelerator.unwrap_model(model)
    model.eval()
    indices = list(range(len(examples))) if indices is None else indices
    mine = indices[accelerator.process_index::accelerator.num_processes]
    # chunks of similar answer length: a chunk decodes as many tokens as its longest answer needs (then
    # of similar prompt length: a chunk is padded to its longest prompt)
    mine = sorted(mine, key=lambda i: (len(examples[i].answer_ids), len(examples[i].prompt_ids)))
    results = []
    with torch.no_grad():
        for start in range(0, len(mine), batch_size):
            chunk = mine[start:start + batch_size]
            results += zip([examples[i].fact_id for i in chunk], judge(model, chunk))
    if accelerator.num_processes > 1:
        results = accelerator.gather_for_metrics(results, use_gather_object=True)
    return dict(results)
