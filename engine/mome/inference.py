"""Answering with memory experts: the router picks the expert that holds the question's fact and only
that expert's adapter is applied, for this request only — through transformers/peft (evaluation,
the reference) or through llama.cpp (chat, the SQL agent). Below the router's threshold no adapter is
applied and the base model answers.

Both paths route with the base model's own question embedding (the same one the experts were
partitioned with), so the transformers base model is loaded for routing in the llama.cpp path too."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from engine.errors import EngramError
from engine.mome.experts import BaseEmbedder, ExpertSet, build_router, expert_facts
from engine.mome.off_topic import OFF_TOPIC_PROMPTS
from engine.mome.router import Route
from engine.qa.chat_format import request_kind
from engine.tune.config import TuneConfig
from engine.tune.run_folder import CONFIG, EXPORTED_EXPERTS as EXPORTED



def question_of(messages: list[dict[str, str]]) -> str:
    """The question to route: the last user message that asks one — the SQL agent's feedback on a
    failed query continues the same question, so it keeps the same expert."""
    from engine.chat.sql_agent import RETRY_PREFIX

    return next((m["content"] for m in reversed(messages)
                 if m["role"] == "user" and not m["content"].startswith(RETRY_PREFIX)), "")


class ExpertRouting:
    """Question → Route, for one experts run."""

    def __init__(self, run_dir: str | Path, embedder: BaseEmbedder | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.manifest = ExpertSet.load(self.run_dir)
        if not self.manifest.trained():
            raise EngramError(f"{self.run_dir} has no trained memory experts yet")
        self.config = TuneConfig.load(self.run_dir / CONFIG)
        self.embedder = embedder or BaseEmbedder(self.config)
        facts = expert_facts(self.run_dir, self.manifest)
        self.router = build_router(self.run_dir, self.manifest, off_topic_vectors=self.embedder(OFF_TOPIC_PROMPTS),
                                   facts=facts)
        self.kinds = {name: {"sql" if p.kind == "sql" else "fact" for p in pairs} for name, pairs in facts.items()}

    def route(self, question: str, kind: str | None = None) -> Route:
        """The expert for a question; with a request `kind` ('sql' or 'fact'), only among the experts
        that learned that kind of answer — a fact expert asked for SQL answers with its fact."""
        allowed = None if kind is None else {name for name, kinds in self.kinds.items() if kind in kinds}
        if allowed is not None and not allowed:
            return Route([], [], reason=f"no expert learned {'SQL queries' if kind == 'sql' else 'facts'}")
        return self.router.route(self.embedder([question])[0], question, allowed)


class TransformersExperts:
    """Evaluation predictor (engine.eval Predictor): base model + every expert as a named peft adapter."""

    def __init__(self, run_dir: str | Path, name: str | None = None) -> None:
        from peft import PeftModel

        self.routing = ExpertRouting(run_dir)
        embedder = self.routing.embedder
        self.tokenizer = embedder.tokenizer
        trained = self.routing.manifest.trained()
        first, *rest = trained
        model = PeftModel.from_pretrained(embedder.model, str(first.adapter(self.routing.run_dir)),
                                          adapter_name=first.name)
        for expert in rest:
            model.load_adapter(str(expert.adapter(self.routing.run_dir)), adapter_name=expert.name)
        self.model = model.eval()
        self.routing.embedder.model = model  # routing embeds with adapters disabled (see route)
        self.name = name or f"{Path(run_dir).name} ({len(trained)} experts)"
        self.last_route: Route | None = None

    def route(self, question: str, kind: str | None = None) -> Route:
        with self.model.disable_adapter():
            return self.routing.route(question, kind)

    def predict(self, messages: list[dict[str, str]], max_tokens: int) -> str:
        from engine.eval.evaluate import greedy_reply

        route = self.last_route = self.route(question_of(messages), request_kind(messages))
        if route.experts:
            self.model.set_adapter(route.experts[0])
            adapters = contextlib.nullcontext()
        else:
            adapters = self.model.disable_adapter()
        with adapters:
            return greedy_reply(self.model, self.tokenizer, messages, max_tokens)

    def close(self) -> None:
        pass


@dataclass
class ExportedExperts:
    base: Path
    adapters: dict[str, Path] = field(default_factory=dict)


def export_experts(run_dir: str | Path, out_dir: str | Path, quant: str = "f16") -> Iterator:
    """The base model as GGUF and every trained expert as a llama.cpp LoRA GGUF (a generator of
    ExportSteps, like export_model; its return value is an ExportedExperts)."""
    from transformers import AutoConfig

    from engine.export.gguf_export import ExportStep, export_model, source_gguf, write_lora_gguf
    from engine.models.locate import resolve_model
    from engine.tune.model_loading import hf_folder_for

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    manifest = ExpertSet.load(run_dir)
    config = TuneConfig.load(run_dir / CONFIG)
    folder = hf_folder_for(resolve_model(config.model))
    base = yield from export_model(folder, None, out_dir, [quant], "", name="base")
    result = ExportedExperts(base.files[quant])
    model_config = AutoConfig.from_pretrained(str(folder))
    trained = manifest.trained()
    for index, expert in enumerate(trained):
        target = out_dir / "experts" / f"{expert.name}-lora.gguf"
        target.parent.mkdir(parents=True, exist_ok=True)
        result.adapters[expert.name] = write_lora_gguf(expert.adapter(run_dir), model_config, source_gguf(folder),
                                                       target)
        yield ExportStep("adapter", f"Wrote {target.name}", index + 1, len(trained), str(target))
    (out_dir / EXPORTED).write_text(json.dumps({"run": str(run_dir), "base": str(result.base),
                                                "adapters": {k: str(v) for k, v in result.adapters.items()}}, indent=1))
    yield ExportStep("done", f"Exported the base model and {len(trained)} expert(s) to {out_dir}")
    return result


def load_exported(out_dir: str | Path) -> tuple[Path, ExportedExperts]:
    """(run folder, exported files) of an experts export folder."""
    path = Path(out_dir) / EXPORTED
    if not path.exists():
        raise EngramError(f"{out_dir} holds no exported memory experts (no {EXPORTED})")
    raw = json.loads(path.read_text())
    return Path(raw["run"]), ExportedExperts(Path(raw["base"]), {k: Path(v) for k, v in raw["adapters"].items()})


def is_experts_export(spec: str | Path | None) -> bool:
    """An exported memory-experts folder, or its experts-gguf.json."""
    if not spec or spec == "bundled":
        return False
    path = Path(spec)
    return path.name == EXPORTED and path.is_file() or (path / EXPORTED).is_file()


def open_chat(spec: str | None, n_ctx: int = 4096, lora: str | None = None):
    """What chat, `engram ask` and evaluation talk to: a GGUF (or 'bundled') through llama.cpp, or
    an exported memory-experts folder (its base GGUF, the expert routed per request)."""
    if is_experts_export(spec):
        path = Path(spec)
        run, exported = load_exported(path.parent if path.name == EXPORTED else path)
        return LlamaExperts(run, exported, n_ctx=n_ctx)
    from engine.models.llama_runtime import LlamaChat

    return LlamaChat(spec, n_ctx=n_ctx, lora_path=lora)


def experts_recall(chat: "LlamaExperts", pairs: list, context, cancel=None) -> tuple[float, list[dict]]:
    """Exact-match recall of the facts through llama.cpp with routing, and the misses (who answered)."""
    from engine.export.parity import chat_recall

    misses: list[dict] = []
    recall, _ = chat_recall(chat, pairs, context, cancel, on_miss=lambda pair, got: misses.append(
        {"id": pair.id, "question": pair.question, "expected": pair.answer, "got": got.strip(),
         "experts": chat.last_route.experts if chat.last_route else []}))
    return recall, misses


class LlamaExperts:
    """A llama.cpp chat whose every request gets the routed expert's LoRA (scale 1) or none.
    `complete` and `stream` take the same arguments as LlamaChat's; `last_route` says who answered."""

    def __init__(self, run_dir: str | Path, exported: ExportedExperts, n_ctx: int = 2048,
                 routing: ExpertRouting | None = None) -> None:
        from engine.models.llama_runtime import LlamaChat

        self.routing = routing or ExpertRouting(run_dir)
        self.chat = LlamaChat(str(exported.base), n_ctx=n_ctx)
        for name, path in exported.adapters.items():
            self.chat.load_adapter(name, path)
        self.last_route: Route | None = None

    def _apply(self, messages: list[dict[str, str]]) -> None:
        route = self.last_route = self.routing.route(question_of(messages), request_kind(messages))
        self.chat.use_adapters({route.experts[0]: 1.0} if route.experts else {})

    def complete(self, messages, sampling=None, grammar=None) -> str:
        self._apply(messages)
        return self.chat.complete(messages, *([sampling] if sampling else []), grammar=grammar)

    def stream(self, messages, sampling=None, cancel=None) -> Iterator[str]:
        self._apply(messages)
        yield from self.chat.stream(messages, *([sampling] if sampling else []), cancel=cancel)

    def __getattr__(self, name: str):  # n_ctx, tokenize, count_tokens, detokenize: the chat's own
        return getattr(self.__dict__["chat"], name)

    def route_note(self) -> str:
        """Which expert answered the last request, for the transcript."""
        route = self.last_route
        if route is None:
            return ""
        if not route.experts:
            if route.reason:
                return f"{route.reason}: the base model answered"
            if route.off_topic is not None:
                return (f"closer to general questions (similarity {route.off_topic:.2f}) than to any memorized "
                        "fact: the base model answered")
            return "no expert was close enough: the base model answered"
        return "answered by memory expert " + ", ".join(f"{n} (similarity {s:.2f})"
                                                        for n, s in zip(route.experts, route.scores))

    def close(self) -> None:
        self.chat.close()

    def __enter__(self) -> "LlamaExperts":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
