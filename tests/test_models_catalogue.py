"""The models an analyst already has are found without network, described from their headers, and each
says whether Engram can train, export and chat with it, and why not."""

from __future__ import annotations

import json
import struct

from app.cli import main
from engine.models.catalogue import describe_model, discover
from tiny_model import write_gguf as _gguf


def _hf_folder(path, arch: str = "llama"):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": arch, "max_position_embeddings": 4096,
                                                  "torch_dtype": "bfloat16"}))
    (path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    (path / "tokenizer.json").write_text("{}")
    header = json.dumps({"w": {"dtype": "F32", "shape": [3, 5], "data_offsets": [0, 60]}}).encode()
    (path / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(60))
    return path


def test_models_found_in_ollama_lm_studio_the_hub_cache_and_a_folder(tmp_path, capsys):
    home = tmp_path / "home"
    ollama = home / ".ollama" / "models"
    _gguf(ollama / "blobs" / "sha256-abc", arch="deepseek2")
    manifest = ollama / "manifests" / "registry.ollama.ai" / "library" / "deepseek-coder-v2" / "16b"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"layers": [
        {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:def"},
        {"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:abc"}]}))
    _gguf(home / ".lmstudio" / "models" / "someone" / "Llama-3.2-1B-GGUF" / "llama-3.2-1b-q8_0.gguf")
    (home / ".lmstudio" / "models" / "someone" / "Llama-3.2-1B-GGUF" / "mmproj-f16.gguf").write_bytes(b"GGUF")
    hub = home / ".cache" / "huggingface" / "hub" / "models--HuggingFaceTB--SmolLM2-360M-Instruct" / "snapshots" / "r1"
    _hf_folder(hub)
    mine = tmp_path / "mine"
    (_hf_folder(mine / "weights-only") / "tokenizer.json").unlink()
    _gguf(mine / "base-no-template.gguf", template=False)
    (mine / "notes.gguf").write_text("not a model")  # no GGUF magic: not listed
    (mine / "torn.gguf").write_bytes(b"GGUF\x03\x00\x00\x00")  # a header cut short: listed, and why

    entries = {e.name: e for e in discover((mine,), home=home, env={})}
    names = set(entries)
    assert {"deepseek-coder-v2:16b", "someone/Llama-3.2-1B-GGUF/llama-3.2-1b-q8_0", "HuggingFaceTB/SmolLM2-360M-Instruct",
            "base-no-template", "torn"} <= names, names
    assert not any("mmproj" in n or "notes" in n for n in names)
    assert list(entries.values())[0].source == "bundled"

    coder = entries["deepseek-coder-v2:16b"]
    assert (coder.source, coder.architecture, coder.quantization, coder.context_length, coder.parameters) == \
        ("ollama", "deepseek2", "Q8_0", 2048, 40)
    assert coder.chat.ok and not coder.train.ok and "deepseek2" in coder.train.reason and not coder.export.ok
    llama = entries["someone/Llama-3.2-1B-GGUF/llama-3.2-1b-q8_0"]
    assert llama.train.ok and llama.export.ok and llama.chat.ok
    hf = entries["HuggingFaceTB/SmolLM2-360M-Instruct"]
    assert (hf.format, hf.parameters, hf.context_length, hf.chat_template) == ("hf_folder", 15, 4096, True)
    assert hf.train.ok and not hf.chat.ok and "GGUF" in hf.chat.reason
    assert not hf.export.ok and "convert_hf_to_gguf" in hf.export.reason, "export copies a GGUF's tokenizer"
    bare = entries["base-no-template"]
    assert not bare.train.ok and "chat template" in bare.train.reason and not bare.chat.ok
    assert not entries["torn"].train.ok and "unreadable" in entries["torn"].train.reason
    assert not entries["weights-only"].train.ok and "no tokenizer" in entries["weights-only"].train.reason

    bundled = discover(home=home, env={})[0]
    assert bundled.architecture == "llama" and bundled.quantization == "Q4_1" and 130e6 < bundled.parameters < 140e6

    assert main(["models", "--folder", str(mine)]) == 0
    out = capsys.readouterr().out
    assert "base-no-template" in out and "no chat template" in out


def test_ollama_store_named_by_its_environment_variable_and_duplicates_listed_once(tmp_path):
    store = tmp_path / "elsewhere"
    _gguf(store / "blobs" / "sha256-1", arch="llama")
    for tag in ("latest", "1b"):
        manifest = store / "manifests" / "registry.ollama.ai" / "library" / "llama3.2" / tag
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps({"layers": [{"mediaType": "application/vnd.ollama.image.model",
                                                     "digest": "sha256:1"}]}))
    entries = [e for e in discover(home=tmp_path / "nobody", env={"OLLAMA_MODELS": str(store)}) if e.source == "ollama"]
    assert [e.name for e in entries] == ["llama3.2:1b"], "one blob, two tags: one entry"
    assert describe_model(tmp_path / "nobody") is None


def test_a_model_is_named_as_the_catalogue_lists_it(tmp_path, monkeypatch):
    """`--model llama3.2:1b` finds Ollama's blob: nobody has to dig the file out of its store."""
    import pytest

    from engine.models.locate import ModelNotFound, resolve_model

    store = tmp_path / "home" / ".ollama" / "models"
    blob = _gguf(store / "blobs" / "sha256-1")
    manifest = store / "manifests" / "registry.ollama.ai" / "library" / "llama3.2" / "1b"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"layers": [{"mediaType": "application/vnd.ollama.image.model",
                                                 "digest": "sha256:1"}]}))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("OLLAMA_MODELS", "HF_HOME", "HF_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    source = resolve_model("llama3.2:1b")
    assert source.path == blob and source.name == "llama3.2:1b" and source.kind == "gguf"
    with pytest.raises(ModelNotFound, match="engram models"):
        resolve_model("llama3.2:70b")
