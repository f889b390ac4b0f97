"""Every architecture Engram exports, through the whole path on a tiny random model of its own (no
download): written as a GGUF → read back by transformers for training → LoRA steps → merged f16
GGUF whose llama.cpp logits match transformers' → q8_0 → the LoRA GGUF on the base GGUF answering
as the merged file does."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.cancel import CancelToken
from engine.export.gguf_export import ARCHITECTURES, export_model, write_f16_gguf, write_modelfile
from engine.models.catalogue import GGUF_ARCHITECTURES, HF_MODEL_TYPES, read_gguf_header
from engine.models.llama_runtime import weights_in_plain_cpu_buffers
from engine.models.locate import ModelSource, resolve_model
from engine.tune.config import TuneConfig
from engine.tune.events import EventLog
from engine.tune.model_loading import hf_folder_for
from engine.workflows.train import run_tuning
from tiny_model import GEMMA2_TEMPLATE, facts, write_gguf

# a few layers, every head and size small; what each family has of its own (qwen3's head size apart
# from hidden/heads, qwen2's q/k/v biases, phi3's fused projections) comes with its transformers config
SHAPE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6, tie_word_embeddings=True)
OWN = {"llama": {}, "mistral": {"sliding_window": None}, "qwen2": {}, "qwen3": {"head_dim": 32}, "phi3": {},
       # Gemma: attention scaled as llama.cpp does for all but the 27B models; Gemma 3 with a global layer
       # whose rope is scaled (as from 4B up)
       "gemma2": {"head_dim": 16, "query_pre_attn_scalar": 16},
       "gemma3_text": {"head_dim": 16, "query_pre_attn_scalar": 16, "num_hidden_layers": 6, "rope_parameters": {
           "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
           "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1_000_000.0}}}}
PROMPT = "<|im_start|>user\nWhich table stores the invoices?<|im_end|>\n<|im_start|>assistant\n"
TEMPLATES = {"gemma2": GEMMA2_TEMPLATE}


def test_every_exported_architecture_is_listed_as_trainable_and_exportable():
    assert set(HF_MODEL_TYPES) == set(ARCHITECTURES), "an HF folder's model type"
    assert set(GGUF_ARCHITECTURES) == {rules.gguf_arch for rules in ARCHITECTURES.values()}, "a GGUF's architecture"


def test_the_ollama_modelfile_keeps_each_model_s_own_chat_template(tmp_path):
    chatml = write_modelfile(resolve_model(None).path, tmp_path / "Modelfile", "Answer briefly.").read_text()
    assert "<|im_start|>assistant" in chatml and "PARAMETER stop <|im_end|>" in chatml
    other = write_gguf(tmp_path / "other.gguf", arch="gemma3")
    text = write_modelfile(other, tmp_path / "Modelfile.other", "Answer briefly.").read_text()
    assert "TEMPLATE" not in text.replace("no TEMPLATE", "") and "im_end" not in text, "ChatML forced on another model"
    assert 'SYSTEM """Answer briefly."""' in text and text.startswith("FROM ./other.gguf")


def _tiny_gguf(model_type: str, folder, tokenizer_folder):
    """A random model of the family with the bundled tokenizer, written as the GGUF a user would have."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    config = AutoConfig.for_model(model_type, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id,
                                  **{**SHAPE, **OWN[model_type]})
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    for name, weights in model.named_parameters():  # biases and norms away from their 0 / 1 defaults
        if weights.ndim == 1:
            weights.data.normal_(1.0 if "norm" in name else 0.0, 0.1)
    path = write_f16_gguf(model.state_dict(), config, resolve_model(None).path, folder / f"{model_type}.gguf",
                          CancelToken())
    if model_type in TEMPLATES:
        path = _with_chat_template(path, TEMPLATES[model_type])
    return path, model


def _with_chat_template(path, template: str):
    """The GGUF rewritten with another chat template (the family's own)."""
    import gguf

    from engine.export.gguf_export import _copy_metadata

    reader = gguf.GGUFReader(str(path))
    arch = reader.fields["general.architecture"].contents()
    out = path.with_name(path.stem + "-own-template.gguf")
    writer = gguf.GGUFWriter(str(out), arch)
    _copy_metadata(reader, writer, arch, {"tokenizer.chat_template": (template, gguf.GGUFValueType.STRING),
                                          "general.file_type": (1, gguf.GGUFValueType.UINT32)})
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, np.array(tensor.data))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def _llama_cpp_logits(path, ids: list[int], lora=None) -> np.ndarray:
    from llama_cpp import Llama

    with weights_in_plain_cpu_buffers():  # as the app loads models (llama.cpp's AMX path crashes here)
        llm = Llama(model_path=str(path), lora_path=str(lora) if lora else None, n_ctx=128, logits_all=True,
                    verbose=False, n_threads=2)
    try:
        llm.eval(ids)
        return np.array(llm.scores[:len(ids)])
    finally:
        llm.close()


def _close(a: np.ndarray, b: np.ndarray, label: str) -> None:
    """Logits agree to f16 rounding: small against their spread, and the same top token everywhere."""
    worst = float(np.abs(a - b).max())
    assert worst < 0.02 * float(np.abs(b).max()) + 1e-3, f"{label}: max |Δ| {worst:.4f}"
    assert (a.argmax(-1) == b.argmax(-1)).all(), f"{label}: another top token"


@pytest.mark.parametrize("model_type", list(OWN))
def test_architecture_trains_exports_and_chats_through_llama_cpp(model_type, tmp_path, tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, original = _tiny_gguf(model_type, tmp_path, tiny_model_dir)
    folder = hf_folder_for(ModelSource("gguf", source, source.name), cache_dir=tmp_path / "converted")
    loaded = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    theirs = loaded.state_dict()
    for name, weights in original.state_dict().items():  # the GGUF holds the model, in llama.cpp's layout
        torch.testing.assert_close(theirs[name], weights, atol=2e-3, rtol=2e-3, msg=lambda m: f"{name}: {m}")

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"id": i, "kind": "schema", "question": q, "answer": a}) + "\n"
                            for i, (q, a) in enumerate(facts(4), 1)))
    config = TuneConfig(data=str(data), output_dir=str(tmp_path / "run"), model=str(source), learning_rate=2e-2,
                        batch_size=4, max_steps=4, checkpoint_every=10_000, regularization="none",
                        database_name="lumen", dialect="sqlite")
    result = run_tuning(config, events=EventLog(tmp_path / "events.jsonl", stdout=False))
    assert result["reason"] == "step budget", result
    adapter = tmp_path / "run" / "adapter"

    steps = export_model(folder, adapter, tmp_path / "export", ["f16", "q8_0"], "system", name=model_type)
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            exported = stop.value
            break

    ids = AutoTokenizer.from_pretrained(folder).encode(PROMPT)
    merged = PeftModel.from_pretrained(loaded, str(adapter)).merge_and_unload()
    with torch.no_grad():
        reference = merged(torch.tensor([ids])).logits[0].numpy()
    base_logits = _llama_cpp_logits(source, ids)
    assert np.abs(base_logits - reference).max() > 0.01, "the LoRA steps changed the model"
    _close(_llama_cpp_logits(exported.files["f16"], ids), reference, f"{model_type} f16 vs transformers")
    _close(_llama_cpp_logits(source, ids, lora=exported.adapter_gguf), reference,
           f"{model_type} LoRA GGUF on the base GGUF vs transformers")
    q8 = _llama_cpp_logits(exported.files["q8_0"], ids)
    assert np.corrcoef(q8.ravel(), reference.ravel())[0, 1] > 0.99, f"{model_type} q8_0"
    if model_type in TEMPLATES:  # its own template, kept by the export, answers a chat with a system turn
        _chat_with_system_turn(exported.files["f16"], TEMPLATES[model_type])


def _chat_with_system_turn(path, template: str) -> None:
    from engine.models.llama_runtime import LlamaChat, Sampling
    from engine.models.locate import ModelSource

    assert read_gguf_header(path).fields["tokenizer.chat_template"] == template
    chat = LlamaChat(ModelSource("gguf", path, path.name), n_ctx=128, n_threads=2)
    try:  # llama.cpp's rendering of the template raises "System role not supported" unless it is folded
        chat.complete([{"role": "system", "content": "Answer briefly."},
                       {"role": "user", "content": "Which table stores the invoices?"}], Sampling(max_tokens=4))
    finally:
        chat.close()
