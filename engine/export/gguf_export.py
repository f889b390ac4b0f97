"""Export a tuned model for llama.cpp: LoRA merged into the base, written as an f16 GGUF with the
`gguf` package's writer, then quantized by llama.cpp itself (`llama_model_quantize`); the adapter
alone as a GGUF LoRA; an Ollama Modelfile.

Metadata (tokenizer, chat template, the architecture's own settings) is copied from the GGUF the base
model came from (the bundled one, or the user's); the hyper-parameters are written from the HF config
(it may differ, e.g. in the number of layers). Tensors get llama.cpp's names for the architecture
(`gguf.get_tensor_name_map`); what llama.cpp's convert_hf_to_gguf.py does beyond naming, per
architecture, is in ARCHITECTURES (transformers' GGUF reader undoes exactly that when it loads the
file); the tied output matrix is not written.

Every file is written under a temporary name and renamed when complete, so a crash or a cancel never
leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Generator, Iterator, TypeVar

import numpy as np

from engine.cancel import CancelToken
from engine.errors import EngramError

T = TypeVar("T")

QUANT_TYPES = {"f16": "LLAMA_FTYPE_MOSTLY_F16", "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
               "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M", "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M"}
SOURCE_FILE = "engram_source.json"  # written next to a converted model: which GGUF it came from
_SKIP_KEYS = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count", "general.architecture", "general.file_type",
              "general.quantization_version"}


@dataclass(frozen=True)
class Architecture:
    """How llama.cpp's converter writes one transformers architecture, beyond the tensor names."""

    gguf_arch: str  # llama.cpp's name for it
    permute_qk: bool = False  # q/k rows in llama.cpp's rotary layout (Llama-style models only)
    norm_shift: float = 0.0  # added to every norm weight: Gemma's norms scale by 1 + w, llama.cpp's by w


# transformers model_type -> how it is written; Mistral is a Llama to llama.cpp (convert_hf_to_gguf.py)
ARCHITECTURES = {"llama": Architecture("llama", permute_qk=True), "mistral": Architecture("llama", permute_qk=True),
                 "qwen2": Architecture("qwen2"), "qwen3": Architecture("qwen3"), "phi3": Architecture("phi3"),
                 "gemma2": Architecture("gemma2", norm_shift=1.0), "gemma3_text": Architecture("gemma3", norm_shift=1.0)}


def architecture_of(config) -> Architecture:
    """The export rules for a model's config, or a one-line refusal naming what is supported."""
    model_type = getattr(config, "model_type", None)
    if model_type not in ARCHITECTURES:
        raise ExportError(f"GGUF export writes {', '.join(ARCHITECTURES)} models; this one is {model_type}")
    return ARCHITECTURES[model_type]


class ExportError(EngramError):
    pass


@dataclass
class ExportStep:
    """A progress event: `stage` is one of merge, write, quantize, adapter, modelfile, done."""

    stage: str
    message: str
    done: int = 0
    total: int = 0
    path: str | None = None


def run_steps(steps: Generator[ExportStep, None, T], on_step: Callable[[int, ExportStep], None]) -> T:
    """Drain an export generator (export_model, export_experts), handing each step and its number
    (from 1) to `on_step`, which may raise to stop; returns the generator's result."""
    number = 0
    while True:
        try:
            step = next(steps)
        except StopIteration as stop:
            return stop.value
        number += 1
        on_step(number, step)


@dataclass
class ExportResult:
    files: dict[str, Path] = field(default_factory=dict)  # quant type -> GGUF
    adapter_gguf: Path | None = None
    modelfile: Path | None = None


def source_gguf(model_folder: Path) -> Path:
    """The GGUF a (converted) HF model folder came from; its metadata seeds the export."""
    marker = model_folder / SOURCE_FILE
    if marker.is_file():
        path = Path(json.loads(marker.read_text())["gguf"])
        if path.is_file():
            return path
    raise ExportError(
        f"{model_folder} was not loaded from a GGUF file, so Engram has no tokenizer metadata to copy; "
        "export models that started from a GGUF (the bundled model or your own .gguf)")


def _permute(weights: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """llama.cpp's rotary layout for q/k rows (convert_hf_to_gguf.LlamaModel.permute)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _copy_metadata(reader, writer, arch: str, overrides: dict[str, tuple]) -> None:
    """The source GGUF's keys (tokenizer, chat template, names), with its architecture's settings
    only when it is the same architecture, then `overrides`."""
    import gguf

    source_arch = reader.fields["general.architecture"].contents() if "general.architecture" in reader.fields else arch
    for key, f in reader.fields.items():
        if key in _SKIP_KEYS or key in overrides or (source_arch != arch and key.startswith(f"{source_arch}.")):
            continue
        vtype = f.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, f.contents(), vtype, sub_type=f.types[-1])
        else:
            writer.add_key_value(key, f.contents(), vtype)
    for key, (value, vtype) in overrides.items():
        writer.add_key_value(key, value, vtype)


def _config_overrides(config, arch: str) -> dict[str, tuple]:
    """The hyper-parameters llama.cpp reads, from the HF config (as convert_hf_to_gguf.py writes them)."""
    import gguf

    u32, f32 = gguf.GGUFValueType.UINT32, gguf.GGUFValueType.FLOAT32
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    rope = getattr(config, "rope_parameters", None) or {}
    values = {
        f"{arch}.context_length": (config.max_position_embeddings, u32),
        f"{arch}.block_count": (config.num_hidden_layers, u32),
        f"{arch}.embedding_length": (config.hidden_size, u32),
        f"{arch}.feed_forward_length": (config.intermediate_size, u32),
        f"{arch}.attention.head_count": (heads, u32),
        f"{arch}.attention.head_count_kv": (kv_heads, u32),
        f"{arch}.attention.key_length": (head_dim, u32),
        f"{arch}.attention.value_length": (head_dim, u32),
        f"{arch}.attention.layer_norm_rms_epsilon": (float(config.rms_norm_eps), f32),
        f"{arch}.vocab_size": (config.vocab_size, u32),
        "general.file_type": (1, u32),  # mostly f16
    }
    rope = rope.get("full_attention", rope)  # Gemma 3: one rope per layer type; llama.cpp fixes the local one
    theta = rope.get("rope_theta", getattr(config, "rope_theta", None))
    if theta is not None:
        values[f"{arch}.rope.freq_base"] = (float(theta), f32)
    # the dimensions of each head that are rotated (all but in partial-rotary models)
    values[f"{arch}.rope.dimension_count"] = (int(head_dim * rope.get("partial_rotary_factor", 1.0)), u32)
    if rope.get("rope_type") == "linear":
        values[f"{arch}.rope.scaling.type"] = ("linear", gguf.GGUFValueType.STRING)
        values[f"{arch}.rope.scaling.factor"] = (float(rope["factor"]), f32)
    if arch in ("gemma2", "gemma3"):  # llama.cpp fixes which layers slide (every 2nd / all but every 6th)
        values[f"{arch}.attention.sliding_window"] = (int(config.sliding_window), u32)
        for name in ("attn_logit_softcapping", "final_logit_softcapping"):
            if getattr(config, name, None) is not None:
                values[f"{arch}.{name}"] = (float(getattr(config, name)), f32)
    return values


def _atomic(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


@contextlib.contextmanager
def _gguf_file(out: Path, arch: str) -> Iterator:
    """A GGUFWriter on a temporary name: written and renamed to `out` only if the body succeeds."""
    import gguf

    partial = _atomic(out)
    writer = gguf.GGUFWriter(str(partial), arch)
    try:
        yield writer
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    writer.close()
    partial.replace(out)


def write_f16_gguf(state_dict: dict, config, base_gguf: Path, out: Path, cancel: CancelToken,
                   progress: Callable[[int, int], None] | None = None) -> Path:
    """Write merged HF weights as an f16 GGUF of the model's architecture (norms and biases stay f32)."""
    import gguf

    rules = architecture_of(config)
    reader = gguf.GGUFReader(str(base_gguf))
    names = _tensor_names(rules, config)
    with _gguf_file(out, rules.gguf_arch) as writer:
        _copy_metadata(reader, writer, rules.gguf_arch, _config_overrides(config, rules.gguf_arch))
        items = [(k, v) for k, v in state_dict.items()
                 if not (k == "lm_head.weight" and getattr(config, "tie_word_embeddings", False))]
        for done, (key, tensor) in enumerate(items, 1):
            cancel.raise_if_cancelled("export")
            name = names.get_name(key, try_suffixes=(".weight", ".bias"))
            if name is None:
                raise ExportError(f"No llama.cpp name for tensor {key}")
            data = tensor.detach().float().cpu().numpy()
            if rules.permute_qk and key.endswith("q_proj.weight"):
                data = _permute(data, config.num_attention_heads)
            elif rules.permute_qk and key.endswith("k_proj.weight"):
                data = _permute(data, config.num_attention_heads, config.num_key_value_heads)
            elif rules.norm_shift and key.endswith("norm.weight"):
                data = data + rules.norm_shift
            writer.add_tensor(name, data.astype(np.float16 if data.ndim > 1 else np.float32))
            if progress:
                progress(done, len(items))
    return out


def _tensor_names(rules: Architecture, config):
    import gguf

    arch = next(a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == rules.gguf_arch)
    return gguf.get_tensor_name_map(arch, config.num_hidden_layers)


def quantize(source: Path, out: Path, quant: str) -> Path:
    """llama.cpp's own quantizer, in process."""
    import llama_cpp

    if quant not in QUANT_TYPES:
        raise ExportError(f"Unknown quantization {quant!r}; choose from {', '.join(QUANT_TYPES)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANT_TYPES[quant])
    partial = _atomic(out)
    code = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), params)
    if code != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        raise ExportError(f"llama.cpp could not quantize {source.name} to {quant} (code {code})")
    partial.replace(out)
    return out


def write_lora_gguf(adapter_dir: Path, config, base_gguf: Path, out: Path) -> Path:
    """The adapter alone as a llama.cpp LoRA GGUF (load with Llama(model_path=base, lora_path=...))."""
    import gguf
    from safetensors.torch import load_file

    rules = architecture_of(config)
    adapter_config = json.loads((adapter_dir / "adapter_config.json").read_text())
    weights = load_file(str(adapter_dir / "adapter_model.safetensors"))
    names = _tensor_names(rules, config)
    with _gguf_file(out, rules.gguf_arch) as writer:
        writer.add_string("general.type", "adapter")
        writer.add_string("adapter.type", "lora")
        writer.add_float32("adapter.lora.alpha", float(adapter_config["lora_alpha"]))
        for key, tensor in sorted(weights.items()):
            if ".lora_A." not in key:
                continue
            module = key.split("base_model.model.", 1)[-1].split(".lora_A.")[0]
            a = tensor.float().numpy()
            b = weights[key.replace(".lora_A.", ".lora_B.")].float().numpy()
            if rules.permute_qk and module.endswith("q_proj"):
                b = _permute(b, config.num_attention_heads)
            elif rules.permute_qk and module.endswith("k_proj"):
                b = _permute(b, config.num_attention_heads, config.num_key_value_heads)
            name = names.get_name(module + ".weight", try_suffixes=(".weight",))
            if name is None:
                raise ExportError(f"No llama.cpp name for adapted module {module}")
            writer.add_tensor(name + ".lora_a", a.astype(np.float32))
            writer.add_tensor(name + ".lora_b", b.astype(np.float32))
    return out


def write_modelfile(gguf_path: Path, out: Path, system: str) -> Path:
    """An Ollama Modelfile for the exported GGUF: ChatML models (SmolLM2, Qwen) get their template
    written out; for others Ollama takes the template from the GGUF's own chat template."""
    from engine.models.catalogue import read_gguf_header

    chat_template = read_gguf_header(gguf_path).fields.get("tokenizer.chat_template") or ""
    text = f"FROM ./{gguf_path.name}\n"
    if "<|im_start|>" in chat_template:
        text += ('TEMPLATE """{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}'
                 '{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"""\n'
                 "PARAMETER stop <|im_end|>\n")
    else:
        text += "# no TEMPLATE: Ollama reads the chat template from the GGUF\n"
    text += f'SYSTEM """{system}"""\nPARAMETER temperature 0\n'
    partial = _atomic(out)
    partial.write_text(text)
    partial.replace(out)
    return out


def export_model(model_folder: Path, adapter_dir: Path | None, out_dir: Path, quants: list[str],
                 system_prompt: str, name: str = "model", cancel: CancelToken | None = None,
                 ) -> Iterator[ExportStep]:
    """Merge, write f16, quantize to each type, write the LoRA GGUF and a Modelfile — as events.
    The generator's return value (StopIteration.value) is the ExportResult."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cancel = cancel or CancelToken()
    unknown = [q for q in quants if q not in QUANT_TYPES]
    if unknown:
        raise ExportError(f"Unknown quantization(s) {', '.join(unknown)}; choose from {', '.join(QUANT_TYPES)}")
    base_gguf = source_gguf(model_folder)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = ExportResult()
    config = AutoConfig.from_pretrained(str(model_folder))
    # 1) merge
    yield ExportStep("merge", "Merging the adapter into the base model")
    model = AutoModelForCausalLM.from_pretrained(str(model_folder), dtype=torch.float32)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    cancel.raise_if_cancelled("export")
    # 2) f16 GGUF
    f16 = out_dir / f"{name}-f16.gguf"
    steps: list[tuple[int, int]] = []
    yield ExportStep("write", f"Writing {f16.name}")
    write_f16_gguf(model.state_dict(), config, base_gguf, f16, cancel, lambda d, t: steps.append((d, t)))
    del model
    result.files["f16"] = f16
    yield ExportStep("write", f"Wrote {f16.name}", 1, 1, str(f16))
    # 3) quantized copies
    for index, quant in enumerate(q for q in quants if q != "f16"):
        cancel.raise_if_cancelled("export")
        target = out_dir / f"{name}-{quant}.gguf"
        yield ExportStep("quantize", f"Quantizing to {quant}", index, len(quants))
        result.files[quant] = quantize(f16, target, quant)
        yield ExportStep("quantize", f"Wrote {target.name}", index + 1, len(quants), str(target))
    if "f16" not in quants:
        result.files.pop("f16")
        f16.unlink()
    # 4) the adapter alone, and an Ollama Modelfile for the smallest file
    if adapter_dir is not None:
        result.adapter_gguf = write_lora_gguf(adapter_dir, config, base_gguf, out_dir / f"{name}-lora.gguf")
        yield ExportStep("adapter", f"Wrote {result.adapter_gguf.name}", path=str(result.adapter_gguf))
    if result.files:
        smallest = min(result.files.values(), key=lambda p: os.path.getsize(p))
        result.modelfile = write_modelfile(smallest, out_dir / "Modelfile", system_prompt)
        yield ExportStep("modelfile", "Wrote an Ollama Modelfile", path=str(result.modelfile))
    yield ExportStep("done", f"Exported {len(result.files)} GGUF file(s) to {out_dir}")
    return result
