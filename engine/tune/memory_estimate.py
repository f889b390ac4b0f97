"""Peak memory a run will need, estimated before the model is loaded: the weights, the adapters and
their optimizer state, the activations the backward pass keeps for the adapted layers, the logits
over the answer span and the frozen layers' cache. A run that would not fit in what the device has
free is refused with the estimate and what to change, instead of running out of memory mid-run.
bench/bench_memory_estimate.py measures it against the real peak."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from engine.errors import EngramError

GIB = 2**30
MIB = 2**20
# what a training process holds besides the run's tensors (torch, transformers and peft loaded, kernels'
# buffers): the constant that, with 5% allocator slack, fits the measured peaks (bench/bench_memory_estimate.py)
PROCESS_BASE = 320 * MIB
SLACK = 0.05


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs from a model's config.json."""

    parameters: int
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int

    @classmethod
    def of(cls, config, parameters: int) -> "ModelShape":
        """`config`: a transformers config (or any object with its field names)."""
        hidden, heads = config.hidden_size, config.num_attention_heads
        return cls(parameters, config.num_hidden_layers, hidden, config.intermediate_size, heads,
                   getattr(config, "num_key_value_heads", None) or heads,
                   getattr(config, "head_dim", None) or hidden // heads, config.vocab_size)


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    adapters: int  # LoRA weights, their gradients and AdamW's two moments
    activations: int  # kept for the backward pass through the adapted layers, and the answer logits
    cache: int  # the frozen layers' output per fact and regularization prompt
    overhead: int  # the process's libraries and buffers, and allocator slack

    @property
    def training(self) -> int:
        return self.weights + self.adapters + self.activations + self.cache

    @property
    def total(self) -> int:
        return self.training + self.overhead

    def describe(self) -> str:
        parts = (("weights", self.weights), ("adapters and optimizer", self.adapters),
                 ("activations", self.activations), ("frozen-layer cache", self.cache))
        return f"about {_size(self.total)} (" + ", ".join(f"{name} {_size(n)}" for name, n in parts) + ")"


def estimate_memory(shape: ModelShape, *, batch_size: int, sequence: int, answer: int, facts: int,
                    lora_rank: int, lora_layers: int, weight_bytes: int = 4, load_in_4bit: bool = False,
                    regularization_prompts: int = 0, autocast_bytes: int = 0) -> MemoryEstimate:
    """`sequence`: the longest prompt + answer in tokens; `answer`: the longest answer span (the logits
    kept); `lora_layers`: 0 for every layer; `autocast_bytes`: 2 when fp32 weights train under bf16 /
    fp16 autocast, whose half-precision copies of the weights the backward pass keeps."""
    adapted = shape.layers if lora_layers in (0, None) or lora_layers > shape.layers else lora_layers
    q_out, kv_out = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    linears = [(shape.hidden, q_out), (shape.hidden, kv_out), (shape.hidden, kv_out), (q_out, shape.hidden),
               (shape.hidden, shape.intermediate), (shape.hidden, shape.intermediate),
               (shape.intermediate, shape.hidden)]  # q, k, v, o, gate, up, down: "all-linear"
    lora_params = adapted * sum(lora_rank * (n_in + n_out) for n_in, n_out in linears)
    weights = shape.parameters // 2 if load_in_4bit else shape.parameters * weight_bytes  # nf4: ~half a byte
    # per token and adapted layer, what autograd keeps: the norms' and residual's inputs, q/k/v and the
    # attention output, the MLP's gate, up, activation and product (fp32)
    per_token_layer = 4 * (5 * shape.hidden + 3 * q_out + 2 * kv_out + 4 * shape.intermediate)
    tokens = batch_size * sequence
    activations = tokens * adapted * per_token_layer + 3 * 4 * batch_size * answer * shape.vocab
    layer_weights = sum(n_in * n_out for n_in, n_out in linears)
    activations += autocast_bytes * (adapted * layer_weights + shape.vocab * shape.hidden)  # incl. the output layer
    cache = 4 * shape.hidden * sequence * (facts + regularization_prompts) if adapted < shape.layers else 0
    adapters = 4 * 4 * lora_params
    overhead = PROCESS_BASE + int(SLACK * (weights + adapters + activations + cache))
    return MemoryEstimate(weights, adapters, activations, cache, overhead)


def available_memory(device: str) -> int | None:
    """Bytes free for a new run on `device`, or None where it cannot be told (MPS)."""
    if device == "cuda":
        import torch

        return int(torch.cuda.mem_get_info()[0])
    if device != "cpu":
        return None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


class WillNotFit(EngramError):
    """The run's estimated peak memory is more than the device has free."""


def fit_or_load_in_4bit(estimate: Callable[[bool], MemoryEstimate], device: str, batch_size: int,
                        lora_layers: int, asked_4bit: bool, free: int | None = None,
                        can_load_4bit: bool | None = None) -> tuple[MemoryEstimate, bool]:
    """The run's estimate and whether the base loads in 4-bit: as asked, or chosen on CUDA (with
    bitsandbytes installed) when the full-precision run would not fit and the 4-bit one does; a run
    that fits neither way is refused with what to change (WillNotFit). `estimate(in_4bit)` estimates
    either way; `free` None: what the device has free now."""
    free = available_memory(device) if free is None else free
    full = estimate(asked_4bit)
    if free is None or full.total <= free:  # MPS cannot tell: not refused
        return full, asked_4bit
    may_quantize = device == "cuda" and not asked_4bit and \
        (bitsandbytes_installed() if can_load_4bit is None else can_load_4bit)
    if may_quantize:
        quantized = estimate(True)
        if quantized.total <= free:
            return quantized, True
    advice = []
    if batch_size > 1:
        advice.append(f"a batch size of {max(1, batch_size // 2)}")
    if lora_layers == 0 or lora_layers > 4:
        advice.append("adapters on fewer layers (LoRA layers 4)")
    if device == "cuda" and not asked_4bit and not may_quantize:
        advice.append("4-bit loading (install bitsandbytes)")
    advice.append("a smaller model")
    raise WillNotFit(f"This run needs {full.describe()} but {device} has {_size(free)} free: try "
                     + ", or ".join(advice))


def bitsandbytes_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("bitsandbytes") is not None


def _size(n: int) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"
