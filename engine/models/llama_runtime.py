"""A llama.cpp model (llama-cpp-python) owned explicitly: loaded once, closed once, used for chat
completions — whole or streamed, with a cancel token checked between tokens.

Only GGUF files load here; a Hugging Face folder is exported to GGUF first (engine/export).
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from engine.cancel import CancelToken
from engine.models.chat_template import for_template
from engine.models.grammar_sampling import check_grammar_first_token
from engine.models.locate import ModelLoadError, ModelSource, resolve_model


_LOAD_LOCK = threading.Lock()


def cpu_has_amx() -> bool:
    """Whether llama.cpp's CPU backend was built with, and runs on, Intel AMX."""
    import llama_cpp

    return b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()


@contextmanager
def weights_in_plain_cpu_buffers(wanted: bool | None = None):
    """llama.cpp repacks the weights for AMX on CPUs that have it (Xeon Sapphire Rapids and later),
    and that path computes garbage and then segfaults on Q4_0/Q4_1 weights, the bundled model's
    format (ggml-org/llama.cpp#16315, #20824). llama-cpp-python's `Llama` has no argument for
    llama.cpp's `use_extra_bufts`, so its default parameters are wrapped while one model loads."""
    import llama_cpp.llama_cpp as lib

    if wanted is None:
        wanted = cpu_has_amx()
    if not wanted:
        yield
        return
    default = lib.llama_model_default_params

    def without_extra_buffers():
        params = default()
        params.use_extra_bufts = False
        return params

    with _LOAD_LOCK:
        lib.llama_model_default_params = without_extra_buffers
        try:
            yield
        finally:
            lib.llama_model_default_params = default


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0  # 0: greedy, the model's single most likely answer
    top_k: int = 40
    top_p: float = 0.95
    max_tokens: int = 256
    seed: int = 0
    stop: tuple[str, ...] = ()


class LlamaChat:
    """One loaded GGUF model. Not thread-safe by itself: calls are serialized with a lock."""

    def __init__(self, source: ModelSource | str | None = None, n_ctx: int = 4096,
                 lora_path: str | None = None, n_threads: int | None = None) -> None:
        if not isinstance(source, ModelSource):
            source = resolve_model(source)
        if source.kind != "gguf":
            raise ModelLoadError(f"{source.path} is a Hugging Face folder; llama.cpp needs a GGUF file "
                                 "(export the model to GGUF first)")
        from llama_cpp import Llama

        self.source = source
        self._lock = threading.Lock()
        try:
            with weights_in_plain_cpu_buffers():
                self._llm = Llama(model_path=str(source.path), n_ctx=n_ctx, lora_path=lora_path, verbose=False,
                                  n_threads=n_threads or max(1, (os.cpu_count() or 2)), n_gpu_layers=-1)
        except (ValueError, RuntimeError) as error:
            raise ModelLoadError(f"llama.cpp could not load {source.path}: {error}") from None
        self._stops = check_grammar_first_token(self._llm)  # a stop string ends only a finished query
        self._chat_template = self._llm.metadata.get("tokenizer.chat_template")
        self._adapters: dict[str, object] = {}
        self._active: dict[str, float] = {}
        self.last_decode_s: float | None = None

    # -- LoRA adapters applied per request (memory experts) ------------------------------------------
    def load_adapter(self, name: str, path: str | Path) -> None:
        """Load a LoRA GGUF once; `use_adapters` then switches between loaded adapters per request."""
        import llama_cpp

        adapter = llama_cpp.llama_adapter_lora_init(self._llm.model, str(path).encode("utf-8"))
        if not adapter:
            raise ModelLoadError(f"llama.cpp could not load the LoRA adapter {path}")
        self._adapters[name] = adapter
        self._llm._stack.callback(llama_cpp.llama_adapter_lora_free, adapter)

    def use_adapters(self, scales: dict[str, float]) -> None:
        """Apply exactly these loaded adapters with these scales ({} = the base model) from the next
        request on. The prompt cache is dropped: its keys and values were computed under the old ones."""
        import ctypes

        import llama_cpp

        if scales == self._active:
            return
        unknown = [n for n in scales if n not in self._adapters]
        if unknown:
            raise KeyError(f"adapter(s) not loaded: {', '.join(unknown)}")
        with self._lock:
            n = len(scales)
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * max(1, n))(*[self._adapters[k] for k in scales])
            values = (ctypes.c_float * max(1, n))(*scales.values())
            if llama_cpp.llama_set_adapters_lora(self._llm.ctx, adapters if n else None, n, values if n else None):
                raise ModelLoadError(f"llama.cpp could not apply the adapters {', '.join(scales)}")
            self._llm.reset()
            self._active = dict(scales)

    def close(self) -> None:
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    def __enter__(self) -> "LlamaChat":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def n_ctx(self) -> int:
        return self._llm.n_ctx()

    def tokenize(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def detokenize(self, tokens: list[int]) -> str:
        return self._llm.detokenize(tokens).decode("utf-8", "replace")

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def grammar(self, text: str):
        """A GBNF grammar ready for `complete`, or None when llama.cpp cannot parse it (checked here:
        llama-cpp-python parses only when sampling starts, and a broken grammar then kills the process)."""
        import llama_cpp
        from llama_cpp import LlamaGrammar

        sampler = llama_cpp.llama_sampler_init_grammar(llama_cpp.llama_model_get_vocab(self._llm.model),
                                                       text.encode("utf-8"), b"root")
        if not sampler:
            return None
        llama_cpp.llama_sampler_free(sampler)
        return LlamaGrammar.from_string(text, verbose=False)

    def _decode_ms(self) -> float:
        import llama_cpp

        return float(llama_cpp.llama_perf_context(self._llm.ctx).t_eval_ms)

    def _kwargs(self, sampling: Sampling) -> dict:
        return dict(max_tokens=sampling.max_tokens, temperature=sampling.temperature, top_p=sampling.top_p,
                    top_k=sampling.top_k, seed=sampling.seed, stop=list(sampling.stop) or None)

    def complete(self, messages: list[dict[str, str]], sampling: Sampling = Sampling(), grammar=None) -> str:
        """The whole reply; `grammar` (a llama_cpp.LlamaGrammar) limits what can be sampled.
        `last_decode_s` is then the time spent generating, without reading the prompt."""
        with self._lock:
            if self._stops is not None:
                self._stops.texts = sampling.stop
            before = self._decode_ms()
            out = self._llm.create_chat_completion(messages=for_template(messages, self._chat_template),
                                                   grammar=grammar, **self._kwargs(sampling))
            self.last_decode_s = max(0.0, self._decode_ms() - before) / 1000
        return out["choices"][0]["message"]["content"] or ""

    def stream(self, messages: list[dict[str, str]], sampling: Sampling = Sampling(),
               cancel: CancelToken | None = None) -> Iterator[str]:
        """Text pieces as they are generated; stops early (no error) when `cancel` is set."""
        cancel = cancel or CancelToken()
        with self._lock:
            for chunk in self._llm.create_chat_completion(messages=for_template(messages, self._chat_template),
                                                          stream=True, **self._kwargs(sampling)):
                if cancel.cancelled:
                    break
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece
