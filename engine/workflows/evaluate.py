"""Evaluate one or more models side by side, by execution on the database, each on the same pairs and
the same SQL answering context: what `engram eval` and the Evaluate page run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.cancel import CancelToken
from engine.db import Database
from engine.eval.evaluate import EvalReport, evaluate, model_kind, open_predictor
from engine.qa.chat_format import PromptContext
from engine.qa.pairs import QAPair
from engine.sqlgen.answer import AnswerSettings
from engine.workflows.progress import OnStep, Step, ignore


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
