"""Pick where and in which precision to train: CUDA (bf16 where supported, else fp16), Apple MPS
(fp32: its half-precision training is not reliable), else CPU (bf16 autocast over fp32 weights where
the CPU has bf16 instructions, else fp32)."""

from __future__ import annotations

import platform
from dataclasses import dataclass

import torch

from engine.tune.config import PRECISIONS


@dataclass(frozen=True)
class DevicePlan:
    device: str
    dtype: torch.dtype
    mixed_precision: str  # accelerate's name: "no", "bf16" or "fp16"

    def describe(self) -> str:
        autocast = f", {self.mixed_precision} autocast" if self.mixed_precision != "no" and self.dtype == torch.float32 else ""
        return f"{self.device} ({str(self.dtype).removeprefix('torch.')}{autocast})"


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products natively (AVX512-BF16 or AMX on x86), which is what
    makes bf16 autocast faster than fp32 rather than slower. oneDNN's own check says yes for any AVX-512
    CPU, where it emulates bf16: a training step of the bundled model took 20 s there against 5 s in fp32."""
    try:
        if platform.machine().lower() in ("x86_64", "amd64", "x86", "i386", "i686"):
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())  # Arm: its BF16 extension, where present
    except (AttributeError, RuntimeError):
        return False


def pick_device(requested: str = "auto", precision: str = "auto") -> DevicePlan:
    """`precision`: 'auto', 'fp32' or 'bf16' (TuneConfig.precision); weights stay fp32 off CUDA and
    bf16 is autocast."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if requested not in ("auto", "cuda", "mps", "cpu"):
        raise ValueError(f"device must be auto, cuda, mps or cpu; got {requested!r}")
    if requested in ("auto", "cuda") and torch.cuda.is_available():
        if precision == "fp32":
            return DevicePlan("cuda", torch.float32, "no")
        if torch.cuda.is_bf16_supported():
            return DevicePlan("cuda", torch.bfloat16, "bf16")
        return DevicePlan("cuda", torch.float16, "fp16")
    if requested == "cuda":
        raise ValueError("CUDA was requested but no CUDA GPU is available to torch")
    mps = getattr(torch.backends, "mps", None)
    if requested in ("auto", "mps") and mps is not None and mps.is_available():
        return DevicePlan("mps", torch.float32, "no")
    if requested == "mps":
        raise ValueError("MPS was requested but is not available")
    if precision == "bf16" or precision == "auto" and cpu_has_bf16():
        return DevicePlan("cpu", torch.float32, "bf16")
    return DevicePlan("cpu", torch.float32, "no")


def default_batch_size(device: str) -> int:
    """Examples per step when the config leaves it to the device (batch_size 0): on a CPU a step costs
    in proportion to its examples, so more, smaller steps memorize sooner; on a GPU a batch of 10 costs
    about what 4 do (bench/results/memory-tuning/HISTORY.md)."""
    return 4 if device == "cpu" else 10


def default_experts_at_once(device: str) -> int:
    """Memory experts trained together in one batch when the config leaves it to the device
    (experts_at_once 0): one at a time everywhere, because peft's mixed-adapter forward makes a group's
    step cost as much as its experts' single steps, on a CPU and on a GPU (docs/benchmarks.md)."""
    return 1


def memory_mb(device: str) -> float | None:
    """Peak memory of this process on its device, in MiB (CPU: peak resident set size)."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024
    except ImportError:  # Windows
        return None
