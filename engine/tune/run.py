"""Run one tuning job in this process and turn every ending into an event: finished, stopped, or
failed with a readable reason (out of memory included). `engram tune --config run.json` calls this
in a child process, so a crash never takes the caller down."""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Any

import torch

from engine.errors import EngramError
from engine.tune.config import TuneConfig
from engine.tune.events import EventLog, Failed
from engine.tune.run_folder import CONFIG, EVENTS

OOM_ADVICE = ("out of memory: lower batch_size or max_seq_len (memory experts: experts_at_once), use a "
              "smaller model, or (on CUDA) set load_in_4bit")


def _is_oom(error: BaseException) -> bool:
    return isinstance(error, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in str(error).lower()


def _job_for(config: TuneConfig, log: EventLog, resume: bool, stop_file: Path | None):
    """The memory-tuning recipe (memory or instruction tuning); memory experts bring their own job
    (engine/workflows/train.py)."""
    if config.method == "experts":
        raise EngramError("memory experts train through engine.workflows.train.train, which builds their job")
    from engine.tune.recipe import MemoryTuningRecipe

    return MemoryTuningRecipe(config, log, resume=resume, stop_file=stop_file)


def _keep_traceback(out: Path, job: Any) -> None:
    """error.txt for the main process; under torchrun another process's own error goes to
    error-rankN.txt and its stderr (only the main process writes events, and the main process's error
    is then only that a peer went away)."""
    if getattr(job, "main", True):
        (out / "error.txt").write_text(traceback.format_exc())
        return
    (out / f"error-rank{os.environ.get('RANK', '?')}.txt").write_text(traceback.format_exc())
    traceback.print_exc()


def run_tuning(config: TuneConfig, resume: bool = False, events: EventLog | None = None,
               stop_file: Path | None = None, job: Any = None) -> dict[str, Any]:
    """`job`: a recipe built by the caller (memory experts trained together); by default the config's
    method picks it."""
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        config.save(out / CONFIG)
    log = events or EventLog(out / EVENTS)
    job = job or _job_for(config, log, resume, stop_file)
    try:
        job.setup()
        return job.train()
    except BaseException as error:  # noqa: BLE001 - every ending must become an event
        if isinstance(error, KeyboardInterrupt):
            reason, kind = "interrupted", "interrupted"
        elif _is_oom(error):
            reason, kind = OOM_ADVICE, "oom"
        elif isinstance(error, (EngramError, ValueError, FileNotFoundError)):
            reason, kind = str(error), "error"
        else:
            reason, kind = f"{type(error).__name__}: {error}", "crash"
        _keep_traceback(out, job)
        log.emit(Failed(reason=reason, kind=kind, step=getattr(job, "step", 0)))
        return {"status": "failed", "reason": reason, "kind": kind}
    finally:
        job.cleanup()
