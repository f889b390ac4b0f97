"""Export a finished run: one adapter merged into quantized GGUF files, or a memory-experts run as the
base GGUF plus one LoRA GGUF per expert; recall checked through llama.cpp, recorded in parity.json and,
with a project, its artefacts registered."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.cancel import CancelToken
from engine.errors import EngramError
from engine.project import ProjectStore
from engine.tune.run_folder import EXPORTED_EXPERTS, PARITY, RunFolder
from engine.workflows.progress import OnStep, Step, ignore

# export_model's steps besides one per quantization: merge, write f16, adapter GGUF, Modelfile
_FIXED_STEPS = 4


@dataclass
class ExportOutcome:
    run: Path
    out: Path
    experts: bool
    database_name: str  # the name the prompts use (and the Ollama model's)
    files: dict[str, Path] = field(default_factory=dict)  # quantization -> GGUF (experts: the base model)
    recall: dict[str, float] = field(default_factory=dict)  # quantization -> recall through llama.cpp
    reference_recall: float | None = None  # recall in transformers at the end of the run
    lost: list[str] = field(default_factory=list)  # quantizations that recall less than the run did
    adapter_gguf: Path | None = None  # one-adapter runs: the LoRA alone, for a base GGUF the user has
    modelfile: Path | None = None
    expert_adapters: dict[str, Path] = field(default_factory=dict)
    manifest: Path | None = None  # experts: experts-gguf.json, what chat and evaluation open

    @property
    def passed(self) -> bool:
        return not self.lost


def export_run(run_dir: str | Path, quants: list[str], out: str | Path | None = None,
               store: ProjectStore | None = None, progress: OnStep = ignore,
               cancel: CancelToken | None = None) -> ExportOutcome:
    """Export a run (one adapter: every quantization; experts: the first), check recall, record it."""
    run = RunFolder.of(run_dir)
    if not quants:
        raise EngramError("Choose at least one quantization to export")
    if not run.has_config or not run.is_trained:
        raise EngramError(f"{run.path} is not a finished run folder (needs {run.config.name} and "
                          f"{run.adapter.name}/ or an experts plan)")
    out = Path(out) if out else run.export_dir
    outcome = _export_experts(run, quants[0], out, progress, cancel) if run.is_experts else \
        _export_adapter(run, quants, out, progress, cancel)
    from engine.sqlgen.grounding import copy_grounding

    copy_grounding(run.path, out)
    if store is not None:
        _record(store, outcome)
    return outcome


def _steps(gen, progress: OnStep, total: int, cancel: CancelToken | None):
    from engine.export.gguf_export import run_steps

    def on_step(number, step) -> None:
        if cancel is not None:
            cancel.raise_if_cancelled("export")
        progress(Step(number, total, f"{step.stage:<9} {step.message}"))

    return run_steps(gen, on_step)


def _export_adapter(run: RunFolder, quants: list[str], out: Path, progress: OnStep,
                    cancel: CancelToken | None) -> ExportOutcome:
    from engine.export.gguf_export import export_model
    from engine.export.parity import check_parity, run_reference_recall
    from engine.models.locate import resolve_model
    from engine.sqlgen.grounding import run_context
    from engine.tune.config import TuneConfig
    from engine.tune.data import load_pairs
    from engine.tune.model_loading import hf_folder_for

    config = TuneConfig.load(run.config)
    context = run_context(config)
    total = len(quants) + _FIXED_STEPS
    result = _steps(export_model(hf_folder_for(resolve_model(config.model)), run.adapter, out, quants,
                                 context.system_prompt("sql"), name=config.database_name, cancel=cancel),
                    progress, total, cancel)
    progress(Step(total, total, "checking recall through llama.cpp"))
    report = check_parity(result.files, load_pairs(config.data), context, run_reference_recall(run.path), cancel)
    (out / PARITY).write_text(json.dumps({"reference_recall": report.reference_recall, "recall": report.recall,
                                          "misses": report.misses, "passed": report.passed}, indent=1))
    return ExportOutcome(run.path, out, False, config.database_name, dict(result.files), dict(report.recall), report.reference_recall,
                         report.dropped(), result.adapter_gguf, result.modelfile)


def _export_experts(run: RunFolder, quant: str, out: Path, progress: OnStep,
                    cancel: CancelToken | None) -> ExportOutcome:
    from engine.export.parity import run_reference_recall
    from engine.mome.inference import LlamaExperts, experts_recall, export_experts
    from engine.sqlgen.grounding import run_context
    from engine.tune.config import TuneConfig
    from engine.tune.data import load_pairs

    config = TuneConfig.load(run.config)
    exported = _steps(export_experts(run.path, out, quant=quant), progress, 0, cancel)
    progress(Step(0, 0, "checking recall through llama.cpp with routing"))
    with LlamaExperts(run.path, exported) as chat:
        recall, misses = experts_recall(chat, load_pairs(config.data), run_context(config), cancel=cancel)
    (out / PARITY).write_text(json.dumps({"recall": recall, "misses": misses}, indent=1))
    reference = run_reference_recall(run.path)
    lost = [quant] if reference is not None and recall < reference - 1e-9 else []
    return ExportOutcome(run.path, out, True, config.database_name, {quant: exported.base}, {quant: recall}, reference, lost,
                         expert_adapters=dict(exported.adapters), manifest=out / EXPORTED_EXPERTS)


def _record(store: ProjectStore, outcome: ExportOutcome) -> None:
    """The project's artefact list: each GGUF (or the experts' manifest) with its quantization and recall."""
    if outcome.experts:
        quant, recall = next(iter(outcome.recall.items()))
        store.add_artifact("experts", str(outcome.manifest), meta={"quant": quant, "recall": recall})
        return
    for quant, path in outcome.files.items():
        store.add_artifact("gguf", str(path), meta={"quant": quant, "recall": outcome.recall[quant]})
