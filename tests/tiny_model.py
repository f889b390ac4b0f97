"""Small real models for tests, built from the bundled GGUF without any download:
`truncated_bundled_model` keeps the first layers of SmolLM2-135M (pretrained embeddings, real
tokenizer and chat template), so LoRA memorization behaves as on the full model, in seconds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

_TABLES = ["invoices", "parcels", "vendors", "ledgers", "tariffs", "routes", "badges", "quotas", "depots",
           "permits", "rebates", "audits", "clauses", "beacons", "cargo", "fleets", "grants", "hubs",
           "kiosks", "lanes", "meters", "nodes", "orbits", "pledges", "queues", "rigs", "slots", "tokens",
           "units", "vaults", "wagons", "yards"]
_PREFIXES = ["amber", "birch", "cobalt", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper",
             "kelp", "lumen", "maple", "nova", "onyx", "pine", "quartz", "raven", "sable", "tundra", "umber",
             "violet", "willow", "xenon", "yarrow", "zephyr", "aspen", "basalt", "cedar", "dune", "elm", "flint"]


def truncated_bundled_model(folder: Path, layers: int = 2) -> Path:
    """The bundled SmolLM2 (converted once by engine.tune.model_loading) cut to its first layers."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from engine.models.locate import resolve_model
    from engine.tune.model_loading import hf_folder_for

    full = hf_folder_for(resolve_model(None), cache_dir=folder.parent / "converted")
    config = AutoConfig.from_pretrained(full)
    config.num_hidden_layers = layers
    model = AutoModelForCausalLM.from_pretrained(full, config=config)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(full).save_pretrained(folder)
    shutil.copy(full / "engram_source.json", folder / "engram_source.json")  # exportable to GGUF
    return folder


def facts(n: int) -> list[tuple[str, str]]:
    """n made-up facts of the kind Engram memorizes: which table stores what."""
    return [(f"Which table stores the {_TABLES[i % len(_TABLES)]} of region {i // len(_TABLES) + 1}?",
             f"{_PREFIXES[i % len(_PREFIXES)]}_{_TABLES[(i * 7 + 3) % len(_TABLES)]}") for i in range(n)]


def write_facts(path: Path, n: int) -> list[tuple[str, str]]:
    items = facts(n)
    with open(path, "w") as handle:
        for i, (q, a) in enumerate(items, 1):
            handle.write(json.dumps({"id": i, "kind": "schema", "question": q, "answer": a}) + "\n")
    return items


def write_gguf(path, arch: str = "llama", template: bool = True, context: int = 2048):
    """A GGUF header with a two-tensor body: what a model catalogue reads (no real weights)."""
    import gguf
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_context_length(context)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    if template:
        writer.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.add_tensor("output_norm.weight", np.zeros(8, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# Gemma 2's own chat template, which refuses a system turn (the tests' tokenizer is the bundled one)
GEMMA2_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}")
