"""Train a run by its method, in this process: memory experts, or one adapter (memory / instruction
tuning). `python -m engine.workflows.train --config RUN/config.json [--resume]` is the training child
that `engram tune` and the app start (engine/tune/process.py); events go to stdout as JSON lines, and
the exit status is 0 when the run finished or was stopped, 1 when it failed."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from engine.tune.config import TuneConfig
from engine.tune.events import EventLog, Failed
from engine.tune.run import run_tuning
from engine.tune.run_folder import EVENTS


def train(config: TuneConfig, resume: bool = False, events: EventLog | None = None,
          stop_file: Path | None = None) -> dict[str, Any]:
    """Every ending becomes an event and the summary returned (finished, stopped or failed)."""
    if config.method != "experts":
        return run_tuning(config, resume=resume, events=events, stop_file=stop_file)
    from engine.mome.experts import ExpertTraining

    log = events or EventLog(Path(config.output_dir) / EVENTS)
    return run_tuning(config, resume=resume, events=log, job=ExpertTraining(config, log, resume=resume))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engine.workflows.train")
    parser.add_argument("--config", required=True)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    if hasattr(os, "nice"):
        os.nice(5)  # yield the CPU to the window that started us: training waits, the UI does not
    try:
        config = TuneConfig.load(args.config)
    except (OSError, ValueError) as error:
        EventLog(None).emit(Failed(kind="error", reason=f"bad run config: {error}"))
        return 1
    result = train(config, resume=args.resume)
    return 0 if result["status"] in ("finished", "stopped") else 1


if __name__ == "__main__":
    sys.exit(main())
