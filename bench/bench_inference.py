"""llama.cpp vs transformers: generation tokens/s on the same prompt with the bundled model.

Goal (issue #5): llama.cpp ≥ 5× the tokens/s of transformers (fp32, CPU) — why chat and evaluation go
through exported GGUF files.
    .venv/bin/python bench/bench_inference.py [--tokens 128]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPT = [{"role": "user", "content": "Write a short paragraph explaining what a relational database is."}]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.models.llama_runtime import LlamaChat, Sampling
    from engine.models.locate import resolve_model
    from engine.tune.model_loading import hf_folder_for

    with LlamaChat(None, n_ctx=2048) as chat:
        chat.complete(PROMPT, Sampling(max_tokens=8))  # warm-up
        started = time.perf_counter()
        pieces = list(chat.stream(PROMPT, Sampling(max_tokens=args.tokens, temperature=0.0)))
        llama_s = time.perf_counter() - started
        llama_tokens = chat.count_tokens("".join(pieces))
    folder = hf_folder_for(resolve_model(None))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    inputs = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        model.generate(**inputs, max_new_tokens=8, do_sample=False)
        started = time.perf_counter()
        out = model.generate(**inputs, max_new_tokens=args.tokens, min_new_tokens=args.tokens, do_sample=False)
        hf_s = time.perf_counter() - started
    hf_tokens = out.shape[1] - inputs["input_ids"].shape[1]
    llama_rate, hf_rate = llama_tokens / llama_s, hf_tokens / hf_s
    print(f"llama.cpp (Q4_1 GGUF): {llama_tokens} tokens in {llama_s:.2f}s = {llama_rate:.0f} tokens/s")
    print(f"transformers (fp32)  : {hf_tokens} tokens in {hf_s:.2f}s = {hf_rate:.0f} tokens/s")
    print(f"ratio: {llama_rate / hf_rate:.1f}x (goal >= 5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
