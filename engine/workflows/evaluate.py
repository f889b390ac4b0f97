"""Evaluate one or more models side by side, by execution on the database, each on the same pairs and
the same SQL answering context: what `engram eval` and the Evaluate page run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.cancel import CancelToken
from engine.db import Database
from engine.eval.evaluate import EvalReport, Predictor, TransformersPredictor, evaluate
from engine.project.pairs import QAPair
from engine.qa.chat_format import PromptContext
from engine.sqlgen.answer import AnswerSettings
from engine.tune.run_folder import RunFolder
from engine.workflows.progress import OnStep, Step, ignore


class LlamaPredictor:
    """A GGUF model (optionally with a GGUF LoRA), or an exported memory-experts folder, answering
    greedily through llama.cpp."""

    def __init__(self, model: str | None, lora: str | None = None, name: str | None = None) -> None:
        from engine.mome.inference import open_chat

        self.chat = open_chat(model, n_ctx=4096, lora=lora)
        self.name = name or self.chat.source.name

    def predict(self, messages, max_tokens):
        from engine.models.llama_runtime import Sampling

        return self.chat.complete(messages, Sampling(temperature=0.0, max_tokens=max_tokens))

    def writer(self):
        """SQL candidates through llama.cpp, grammar-constrained (engine/sqlgen/answer.py)."""
        from engine.sqlgen.answer import chat_writer

        return chat_writer(self.chat)

    def close(self) -> None:
        self.chat.close()


def model_kind(spec: str | None) -> str:
    """What a model the user named is: 'bundled', 'adapter' (a run's adapter folder), 'experts-run' (a
    memory-experts run folder), 'experts-export' (its exported folder or experts-gguf.json) or 'gguf'."""
    if not spec or spec == "bundled":
        return "bundled"
    path = Path(spec)
    if path.is_dir() and (path / "adapter_config.json").is_file():
        return "adapter"
    if path.is_dir() and RunFolder(path).is_experts:
        return "experts-run"
    from engine.mome.inference import is_experts_export

    return "experts-export" if is_experts_export(path) else "gguf"


def open_predictor(spec: str | None, name: str) -> Predictor:
    """The model the user picked, ready to evaluate: 'bundled', a GGUF file or an exported memory-
    experts folder (llama.cpp); a run's adapter folder or a memory-experts run folder (transformers
    and peft, the reference before export)."""
    kind = model_kind(spec)
    if kind == "experts-run":
        from engine.mome.inference import TransformersExperts

        return TransformersExperts(Path(spec), name=name)
    if kind == "adapter":
        from engine.models.locate import resolve_model
        from engine.tune.config import TuneConfig
        from engine.tune.model_loading import hf_folder_for

        path = Path(spec)
        run_config = TuneConfig.load(RunFolder(path.parent).config)
        return TransformersPredictor(hf_folder_for(resolve_model(run_config.model)), path, name=name)
    return LlamaPredictor(spec, name=name)


@dataclass(frozen=True)
class ModelChoice:
    spec: str | None  # 'bundled', a GGUF, a run's adapter/ folder, an experts run or its export
    name: str  # how it shows in reports


def model_label(spec: str | None) -> str:
    """How a model shows in reports: the file, or the run folder an adapter / experts run belongs to."""
    kind = model_kind(spec)
    if kind == "bundled":
        return "bundled"
    path = Path(spec)
    if kind == "adapter":
        return f"{path.parent.name} (transformers)"
    if kind == "experts-run":
        return f"{path.name} (memory experts, transformers)"
    if kind == "experts-export":
        folder = path.parent if path.is_file() else path
        return f"{folder.parent.name} (memory experts)"
    return path.name


def evaluate_models(models: list[ModelChoice], pairs: list[QAPair], db: Database, context: PromptContext,
                    answering: AnswerSettings | None = None, general: bool = True,
                    constructs: dict[int, tuple[str, ...]] | None = None, progress: OnStep = ignore,
                    cancel: CancelToken | None = None) -> list[EvalReport]:
    """One report per model, in order; each model is loaded, evaluated and closed before the next."""
    reports = []
    for index, choice in enumerate(models):
        predictor = open_predictor(choice.spec, choice.name)
        progress(Step(index * len(pairs), len(models) * len(pairs), f"evaluating {predictor.name} on {len(pairs)} pair(s)…"))
        try:
            reports.append(evaluate(predictor, pairs, db, context, general=general, constructs=constructs,
                                    answering=answering, cancel=cancel, progress=lambda d, t, i=index: progress(
                                        Step(i * t + d, len(models) * t, ""))))
        finally:
            predictor.close()
    return reports
