"""The user guide's picture of the Tune page's model list (docs/images/model-picker.png), from the real
app offscreen, with an Ollama store made for the picture in a temporary folder (OLLAMA_MODELS):
header-only GGUFs of a few families (their declared shapes give the parameter counts shown; no
weights), one of them of an architecture Engram does not train.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_model_picker.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ENGRAM_HOME", tempfile.mkdtemp(prefix="engram-shots-"))

# (ollama name, tag, gguf architecture, parameters, blocks, hidden size, vocabulary, context): the
# published figures of these models
HEADER_ONLY = [("qwen2.5-coder", "1.5b", "qwen2", 1_540_000_000, 28, 1536, 151_936, 32_768),
               ("gemma3", "1b", "gemma3", 1_000_000_000, 26, 1152, 262_144, 32_768),
               ("llama3.2", "3b", "llama", 3_210_000_000, 28, 3072, 128_256, 131_072),
               ("deepseek-coder-v2", "16b", "deepseek2", 15_700_000_000, 27, 2048, 102_400, 163_840)]


def _header_only_gguf(path: Path, arch: str, parameters: int, blocks: int, hidden: int, vocab: int,
                      context: int) -> None:
    """A GGUF whose header declares a model's tensors (what the catalogue reads) with no data behind it:
    the embedding, and each block's weights as one matrix of the block's share of the parameters."""
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_context_length(context)
    writer.add_block_count(blocks)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    writer.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    writer.add_tensor_info("token_embd.weight", (vocab, hidden), np.dtype(np.float16), vocab * hidden * 2)
    rows = (parameters - vocab * hidden) // blocks // hidden
    for block in range(blocks):
        writer.add_tensor_info(f"blk.{block}.ffn_up.weight", (rows, hidden), np.dtype(np.float16), rows * hidden * 2)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()


def _store(root: Path) -> Path:
    store = root / "ollama"
    (store / "blobs").mkdir(parents=True)
    for name, tag, *shape in HEADER_ONLY:
        _header_only_gguf(store / "blobs" / f"sha256-{name}", *shape)
        manifest = store / "manifests" / "registry.ollama.ai" / "library" / name / tag
        manifest.parent.mkdir(parents=True)
        manifest.write_text(json.dumps({"layers": [{"mediaType": "application/vnd.ollama.image.model",
                                                     "digest": f"sha256:{name}"}]}))
    return store


def main() -> int:
    os.environ["OLLAMA_MODELS"] = str(_store(Path(tempfile.mkdtemp(prefix="engram-ollama-"))))
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QPainter

    from app.bootstrap import create_window

    app, window = create_window(["engram"])
    window.resize(1440, 880)
    window.show()
    deadline = time.monotonic() + 60
    while len(window.state.models) < 1 + len(HEADER_ONLY) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.05)
    window.nav.setCurrentRow(2)
    choice = window.tune_page.model_choice
    choice.showPopup()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    picture = window.grab()
    popup = choice.view().window()
    painter = QPainter(picture)  # the open list is a window of its own: drawn where it opens
    painter.drawPixmap(window.mapFromGlobal(popup.mapToGlobal(QPoint(0, 0))), popup.grab())
    painter.end()
    out = ROOT / "docs" / "images" / "model-picker.png"
    picture.save(str(out))
    print("wrote", out)
    choice.hidePopup()
    window.chat_page.close_models()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
