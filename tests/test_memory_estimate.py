"""A run that would not fit in memory is refused before the model loads, with the estimate and what to
change; the estimate grows with what costs memory."""

from __future__ import annotations

import pytest

from engine.tune.memory_estimate import ModelShape, WillNotFit, estimate_memory, fit_or_load_in_4bit

SMOL = ModelShape(parameters=134_515_008, layers=30, hidden=576, intermediate=1536, heads=9, kv_heads=3,
                  head_dim=64, vocab=49_152)  # SmolLM2-135M, the bundled model


def _estimate(**changes):
    settings = dict(batch_size=4, sequence=96, answer=16, facts=100, lora_rank=16, lora_layers=10, autocast_bytes=2)
    return estimate_memory(SMOL, **{**settings, **changes})


def test_the_estimate_grows_with_batch_layers_and_model_and_shrinks_with_4_bit():
    base = _estimate()
    assert base.weights == SMOL.parameters * 4
    assert _estimate(batch_size=16).activations > 3 * base.activations - base.activations // 2
    assert _estimate(lora_layers=0).activations > base.activations and _estimate(lora_layers=0).cache == 0
    assert _estimate(lora_layers=0).adapters == 3 * base.adapters
    assert _estimate(load_in_4bit=True).weights < base.weights / 4
    assert 1.0e9 < base.total < 1.5e9, "the bundled model at batch 4 measured 1,167 MiB at peak"


def _fit(device: str, free: int | None, batch_size: int = 4, lora_layers: int = 10, asked_4bit: bool = False,
         can_load_4bit: bool = False):
    return fit_or_load_in_4bit(lambda in_4bit: _estimate(batch_size=batch_size, lora_layers=lora_layers,
                                                         load_in_4bit=in_4bit),
                               device, batch_size, lora_layers, asked_4bit, free=free, can_load_4bit=can_load_4bit)


def test_a_run_that_would_not_fit_is_refused_with_what_to_change():
    estimate = _estimate()
    assert _fit("cpu", free=estimate.total + 1) == (estimate, False)  # fits: runs as asked
    with pytest.raises(WillNotFit) as refused:
        _fit("cpu", free=estimate.total // 2)
    message = str(refused.value)
    assert "needs about" in message and "free" in message and "batch size of 2" in message
    assert "fewer layers" in message and "4-bit" not in message  # 4-bit loading is CUDA's
    with pytest.raises(WillNotFit, match="install bitsandbytes"):
        _fit("cuda", free=0, batch_size=1, lora_layers=4)
    assert _fit("mps", free=None)[1] is False  # unknown free memory: not refused


def test_on_cuda_a_run_that_fits_only_in_4_bit_loads_the_base_in_4_bit():
    full, quantized = _estimate(), _estimate(load_in_4bit=True)
    between = (full.total + quantized.total) // 2
    assert _fit("cuda", free=between, can_load_4bit=True) == (quantized, True)
    assert _fit("cuda", free=full.total, can_load_4bit=True) == (full, False), "fits: full precision"
    with pytest.raises(WillNotFit):
        _fit("cuda", free=between, can_load_4bit=False)  # no bitsandbytes
    with pytest.raises(WillNotFit):
        _fit("cpu", free=between, can_load_4bit=True)  # bitsandbytes' 4-bit training is CUDA's
    with pytest.raises(WillNotFit):
        _fit("cuda", free=quantized.total - 1, can_load_4bit=True)  # not even in 4-bit
    assert _fit("cuda", free=between, asked_4bit=True) == (quantized, True), "asked for"
