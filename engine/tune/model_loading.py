"""Load a base model and its tokenizer into transformers for training.

A GGUF file (the bundled SmolLM2 one, or the user's) is dequantized by transformers
(`from_pretrained(..., gguf_file=...)`). transformers 5.x then marks the model as quantized, which
makes peft/Trainer refuse it and `save_pretrained` fail; so the weights are copied into a plain model
built from the same config, and that is cached as an ordinary HF folder (keyed by the GGUF's size and
mtime) — the next run loads in a second instead of dequantizing again. A HF folder loads directly.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch

from engine.models.locate import ModelLoadError, ModelSource, resolve_model
from engine.paths import model_cache_dir

log = logging.getLogger(__name__)


def _cache_key(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]


def hf_folder_for(source: ModelSource, cache_dir: Path | None = None) -> Path:
    """A plain HF folder holding `source`: the folder itself, or the cached conversion of a GGUF."""
    if source.kind == "hf_folder":
        return source.path
    target = (cache_dir or model_cache_dir()) / f"{source.path.stem}-{_cache_key(source.path)}"
    if (target / "config.json").is_file() and any(target.glob("*.safetensors")):
        if not (target / "engram_source.json").exists():
            (target / "engram_source.json").write_text(json.dumps({"gguf": str(source.path.resolve())}))
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to a transformers folder (once)", source.path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source.path.parent), gguf_file=source.path.name)
        gguf_model = AutoModelForCausalLM.from_pretrained(str(source.path.parent), gguf_file=source.path.name,
                                                          config=_gguf_config(source.path), dtype=torch.float32)
    except (ValueError, RuntimeError, OSError, KeyError) as error:
        raise ModelLoadError(f"transformers cannot read {source.path}: {error}") from None
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(gguf_model.state_dict())
    partial = target.with_name(target.name + ".partial")
    plain.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    # remember the source GGUF: export copies its tokenizer metadata (engine/export)
    (partial / "engram_source.json").write_text(json.dumps({"gguf": str(source.path.resolve())}))
    partial.rename(target)
    return target


def _gguf_config(path: Path):
    """The model's transformers config as read from the GGUF, with the head size the file states:
    transformers reads it for some architectures only (not qwen2/qwen3/phi3) and else takes the
    family's default, which a model with other heads does not match."""
    import gguf
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name)
    fields = gguf.GGUFReader(str(path)).fields
    arch = fields["general.architecture"].contents() if "general.architecture" in fields else ""
    key_length = fields.get(f"{arch}.attention.key_length")
    if key_length is not None and hasattr(config, "head_dim"):
        config.head_dim = int(key_length.contents())
    if arch in ("gemma2", "gemma3"):
        _gemma_as_llama_cpp_runs_it(config, fields, arch)
    return config


def _gemma_as_llama_cpp_runs_it(config, fields, arch: str) -> None:
    """Gemma settings transformers' GGUF reader leaves at the family's defaults, as llama.cpp reads the
    file: logit soft-capping when the file states it, Gemma 3's global rope (base and linear scaling; the
    local layers' is fixed), and attention scaled by 1/sqrt(head size), or by 1/sqrt(hidden/heads) in
    the 27B models, which llama.cpp tells by their layer count."""
    for name in ("attn_logit_softcapping", "final_logit_softcapping"):
        if f"{arch}.{name}" in fields:
            setattr(config, name, float(fields[f"{arch}.{name}"].contents()))
    if arch == "gemma3":
        full = {"rope_type": "default", "rope_theta": float(fields[f"{arch}.rope.freq_base"].contents())
                if f"{arch}.rope.freq_base" in fields else 1e6}
        if f"{arch}.rope.scaling.type" in fields and fields[f"{arch}.rope.scaling.type"].contents() == "linear":
            full.update(rope_type="linear", factor=float(fields[f"{arch}.rope.scaling.factor"].contents()))
        config.rope_parameters = {**config.rope_parameters, "full_attention": full}
    is_27b = config.num_hidden_layers == {"gemma2": 46, "gemma3": 62}[arch]
    config.query_pre_attn_scalar = config.hidden_size // config.num_attention_heads if is_27b else config.head_dim


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise ModelLoadError(f"The model at {folder} has no chat template; Engram needs an instruct/chat model")
    return tokenizer


def load_base_model(folder: Path, dtype: torch.dtype, load_in_4bit: bool = False):
    from transformers import AutoModelForCausalLM

    kwargs: dict = {"dtype": dtype}
    if load_in_4bit:
        try:
            from transformers import BitsAndBytesConfig
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise ModelLoadError("load_in_4bit needs the bitsandbytes package (and a CUDA GPU)") from None
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=dtype,
                                                           bnb_4bit_quant_type="nf4")
    try:
        return AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
    except (ValueError, OSError) as error:
        raise ModelLoadError(f"Cannot load the model at {folder}: {error}") from None


def resolve_hf_folder(spec: str | None) -> Path:
    return hf_folder_for(resolve_model(spec))
