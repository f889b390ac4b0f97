"""The local models an analyst already has, found without network: the bundled one, GGUF files in
Ollama's store, LM Studio's folders, the Hugging Face hub cache (HF folders and GGUFs) and any folder
the user adds. Each entry says what it is (architecture, parameters, quantization, size, context, chat
template) and whether Engram can train, export or chat with it, with the reason when not."""

from __future__ import annotations

import json
import os
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Mapping

from engine.models.locate import GGUF_MAGIC, BUNDLED_NAME, bundled_model_path

# what engine/export writes and training reads (tests/test_model_architectures.py takes each through
# both): llama.cpp's names (a GGUF's general.architecture) and transformers' (an HF folder's
# model_type; "gemma3" there is the vision model, "gemma3_text" the LM)
GGUF_ARCHITECTURES = ("llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3")
HF_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gemma3_text")
OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
MAX_DEPTH = 6  # how deep a user folder is searched


@dataclass(frozen=True)
class Capability:
    ok: bool
    reason: str = ""  # why not, in a line

    def __str__(self) -> str:
        return "yes" if self.ok else f"no: {self.reason}"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    source: str  # bundled | ollama | lmstudio | huggingface | folder
    path: Path  # the GGUF file or the HF folder: what --model takes
    format: str  # gguf | hf_folder
    architecture: str | None
    parameters: int | None
    quantization: str | None
    size_bytes: int
    context_length: int | None
    chat_template: bool
    train: Capability
    export: Capability
    chat: Capability

    @property
    def parameters_text(self) -> str:
        """1.54B, 135M, 40 (a test model), or ? when the file does not say."""
        if not self.parameters:
            return "?"
        if self.parameters >= 999.5e6:  # not "1000M"
            return f"{self.parameters / 1e9:.2f}B"
        return f"{self.parameters / 1e6:.0f}M" if self.parameters >= 1e6 else f"{self.parameters:,}"

    @property
    def label(self) -> str:
        """How a model list names it: which one, from where, and what it is."""
        details = " · ".join(x for x in (self.architecture, self.parameters_text, self.quantization) if x and x != "?")
        return f"{self.name} ({self.source})" + (f" — {details}" if details else "")

    def to_json(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def discover(folders: tuple[str | Path, ...] = (), home: Path | None = None,
             env: Mapping[str, str] | None = None) -> list[ModelEntry]:
    """Every model found, the bundled one first; a file reached twice (a link, two stores) is listed once."""
    env = os.environ if env is None else env
    home = Path(home) if home else Path.home()
    found: list[ModelEntry] = []
    seen: set[Path] = set()
    for source, name, path in _candidates(folders, home, env):
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        entry = describe_model(path, name, source)
        if entry is not None:
            found.append(entry)
    return found


def find_by_name(name: str, home: Path | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The file or folder of the local model listed under `name` (an Ollama name:tag, a Hugging Face repo,
    an LM Studio file), matched on the stores' own names without reading any model; None if none is."""
    env = os.environ if env is None else env
    home = Path(home) if home else Path.home()
    return next((path for source, listed, path in _candidates((), home, env)
                 if source != "bundled" and listed == name), None)


def _candidates(folders, home: Path, env: Mapping[str, str]) -> Iterator[tuple[str, str, Path]]:
    try:
        yield "bundled", BUNDLED_NAME, bundled_model_path()
    except Exception:  # noqa: BLE001 - a missing bundled package is reported by resolve_model, not here
        pass
    yield from _ollama(home, env)
    for root in (home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"):
        for path in _ggufs(root):
            yield "lmstudio", str(path.relative_to(root).with_suffix("")), path
    yield from _huggingface(home, env)
    for folder in folders:
        root = Path(folder).expanduser()
        if root.is_file():
            yield "folder", root.stem, root
            continue
        for path in _ggufs(root):
            yield "folder", path.stem, path
        for path in _hf_folders(root):
            yield "folder", path.name, path


def _ollama(home: Path, env: Mapping[str, str]) -> Iterator[tuple[str, str, Path]]:
    """Ollama's store: manifests/REGISTRY/NAMESPACE/MODEL/TAG (JSON) name the blob holding the GGUF."""
    roots = [Path(env["OLLAMA_MODELS"])] if env.get("OLLAMA_MODELS") else \
        [home / ".ollama" / "models", Path("/usr/share/ollama/.ollama/models")]
    for root in roots:
        manifests = root / "manifests"
        if not manifests.is_dir():
            continue
        for manifest in sorted(p for p in manifests.rglob("*") if p.is_file()):
            try:
                layers = json.loads(manifest.read_text()).get("layers", [])
            except (OSError, ValueError, AttributeError):
                continue
            digest = next((layer.get("digest") for layer in layers if layer.get("mediaType") == OLLAMA_MODEL_LAYER), None)
            blob = root / "blobs" / str(digest).replace(":", "-")
            if digest and blob.is_file():
                parts = manifest.relative_to(manifests).parts  # registry, namespace, model, tag
                model = parts[-2] if len(parts) >= 2 and parts[-3:-2] == ("library",) else "/".join(parts[1:-1])
                yield "ollama", f"{model}:{parts[-1]}", blob


def _huggingface(home: Path, env: Mapping[str, str]) -> Iterator[tuple[str, str, Path]]:
    """The hub cache: models--ORG--NAME/snapshots/REVISION holds an HF folder, GGUF files, or both."""
    cache = Path(env["HF_HUB_CACHE"]) if env.get("HF_HUB_CACHE") else \
        Path(env.get("HF_HOME", home / ".cache" / "huggingface")) / "hub"
    if not cache.is_dir():
        return
    for repo in sorted(cache.glob("models--*")):
        snapshots = sorted((repo / "snapshots").glob("*"), key=lambda p: p.stat().st_mtime, reverse=True)
        if not snapshots:
            continue
        snapshot, name = snapshots[0], repo.name.removeprefix("models--").replace("--", "/")
        if _is_hf_folder(snapshot):
            yield "huggingface", name, snapshot
        for path in _ggufs(snapshot):
            yield "huggingface", f"{name}/{path.name}", path


def _ggufs(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for path in sorted(_walk(root)):
        if path.suffix.lower() == ".gguf" and not path.name.startswith("mmproj"):  # vision projectors
            yield path


def _hf_folders(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for path in sorted({p.parent for p in _walk(root) if p.name == "config.json"}):
        if _is_hf_folder(path):
            yield path


def _walk(root: Path, depth: int = 0) -> Iterator[Path]:
    try:
        children = list(root.iterdir())
    except OSError:
        return
    for child in children:
        if child.is_dir() and depth < MAX_DEPTH:
            yield from _walk(child, depth + 1)
        elif child.is_file():
            yield child


def _is_hf_folder(path: Path) -> bool:
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def describe_model(path: str | Path, name: str | None = None, source: str = "folder") -> ModelEntry | None:
    """One model's entry, read from its metadata (no weights loaded); None when it is no model at all."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        if path.is_dir():
            return _describe_hf(path, name or path.name, source) if _is_hf_folder(path) else None
        with open(path, "rb") as handle:
            if handle.read(4) != GGUF_MAGIC:
                return None
        return _describe_gguf(path, name or path.stem, source)
    except (OSError, ValueError, KeyError, IndexError, struct.error) as error:
        return ModelEntry(name or path.name, source, path, "gguf" if path.is_file() else "hf_folder", None, None,
                          None, _size(path), None, False, *(Capability(False, f"unreadable: {error}"),) * 3)


def _describe_gguf(path: Path, name: str, source: str) -> ModelEntry:
    from gguf.constants import LlamaFileType

    header = read_gguf_header(path)
    arch = header.fields.get("general.architecture")
    file_type = header.fields.get("general.file_type")
    quant = LlamaFileType(file_type).name.removeprefix("MOSTLY_").removeprefix("ALL_") if file_type is not None else None
    template = "tokenizer.chat_template" in header.fields
    context = header.fields.get(f"{arch}.context_length")
    return ModelEntry(name, source, path, "gguf", arch, header.parameters, quant, _size(path),
                      int(context) if context is not None else None, template,
                      train=_can_train(arch, template, GGUF_ARCHITECTURES), export=_can_export(arch),
                      chat=Capability(True) if template else Capability(False, "no chat template in the GGUF"))


@dataclass
class GGUFHeader:
    fields: dict  # scalar and string metadata; arrays are skipped (their key maps to None)
    parameters: int


def read_gguf_header(path: Path) -> GGUFHeader:
    """A GGUF's metadata and parameter count, from its header alone. gguf's GGUFReader builds numpy
    views of every field, two seconds for the bundled model's 49k-token vocabulary; a catalogue of a
    user's models reads a few keys of each file."""
    from gguf.constants import GGUFValueType as T

    fixed = {T.UINT8: "<B", T.INT8: "<b", T.UINT16: "<H", T.INT16: "<h", T.UINT32: "<I", T.INT32: "<i",
             T.FLOAT32: "<f", T.BOOL: "<?", T.UINT64: "<Q", T.INT64: "<q", T.FLOAT64: "<d"}
    with open(path, "rb") as handle:
        def read(fmt: str):
            size = struct.calcsize(fmt)
            data = handle.read(size)
            if len(data) != size:
                raise ValueError("the GGUF header is truncated")
            return struct.unpack(fmt, data)[0]

        def string() -> str:
            return handle.read(read("<Q")).decode("utf-8", "replace")

        def value(kind: int):
            if kind == T.STRING:
                return string()
            if kind == T.ARRAY:
                item, count = read("<I"), read("<Q")
                if item in fixed:
                    handle.seek(struct.calcsize(fixed[item]) * count, os.SEEK_CUR)
                else:
                    for _ in range(count):
                        value(item)
                return None
            return read(fixed[T(kind)])

        if handle.read(4) != GGUF_MAGIC:
            raise ValueError("not a GGUF file")
        read("<I")  # version
        tensors, kvs = read("<Q"), read("<Q")
        fields = {}
        for _ in range(kvs):
            key = string()
            fields[key] = value(read("<I"))
        parameters = 0
        for _ in range(tensors):
            string()  # name
            count = 1
            for _ in range(read("<I")):
                count *= read("<Q")
            read("<I"), read("<Q")  # type, offset
            parameters += count
    return GGUFHeader(fields, parameters)


def _describe_hf(path: Path, name: str, source: str) -> ModelEntry:
    config = json.loads((path / "config.json").read_text())
    arch = config.get("model_type")
    template = _hf_chat_template(path)
    parameters = safetensors_parameters(path)
    size = sum(_size(p) for p in path.glob("*.safetensors"))
    context = config.get("max_position_embeddings")
    return ModelEntry(name, source, path, "hf_folder", arch, parameters or None, str(config.get("torch_dtype") or
                      config.get("dtype") or "") or None, size, context, template,
                      train=_can_train(arch, template, HF_MODEL_TYPES) if _has_tokenizer(path) else _NO_TOKENIZER,
                      export=_HF_EXPORT, chat=_HF_CHAT)


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer.model", "vocab.json"))


_NO_TOKENIZER = Capability(False, "no tokenizer files in the folder (tokenizer.json, tokenizer.model or vocab.json)")


# export copies the tokenizer from the GGUF a model came from; writing one from a folder is llama.cpp's
# convert_hf_to_gguf.py (its per-model pre-tokenizer rules), which Engram does not bundle
_HF_EXPORT = Capability(False, "export starts from a GGUF (Engram copies its tokenizer): convert the folder with "
                               "llama.cpp's convert_hf_to_gguf.py and pick the .gguf")
_HF_CHAT = Capability(False, "a Hugging Face folder: llama.cpp chats with GGUF files (convert it with llama.cpp's "
                             "convert_hf_to_gguf.py)")


def _hf_chat_template(path: Path) -> bool:
    if (path / "chat_template.jinja").is_file() or (path / "chat_template.json").is_file():
        return True
    config = path / "tokenizer_config.json"
    return config.is_file() and bool(json.loads(config.read_text()).get("chat_template"))


def safetensors_parameters(folder: Path) -> int:
    """Parameters of an HF folder's weights, from the .safetensors headers alone (nothing loaded)."""
    return sum(_safetensors_elements(p) for p in Path(folder).glob("*.safetensors"))


def _safetensors_elements(path: Path) -> int:
    """Parameters in a .safetensors file, from its JSON header alone."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    total = 0
    for key, tensor in header.items():
        if key != "__metadata__":
            count = 1
            for dim in tensor["shape"]:
                count *= dim
            total += count
    return total


def _can_train(arch: str | None, template: bool, known: tuple[str, ...]) -> Capability:
    if arch not in known:
        return Capability(False, f"Engram trains {', '.join(known)} models so far; this is {arch or 'unknown'}")
    if not template:
        return Capability(False, "no chat template: Engram trains instruct/chat models")
    return Capability(True)


def _can_export(arch: str | None) -> Capability:
    if arch not in GGUF_ARCHITECTURES:
        return Capability(False, f"GGUF export writes {', '.join(GGUF_ARCHITECTURES)} models; this is "
                                 f"{arch or 'unknown'}")
    return Capability(True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
