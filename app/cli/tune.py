"""Memory tuning: `engram tune` and `engram update`. The run trains in a child process; this shows its
events (a progress bar, or JSON lines with --json) and records the outcome in the project."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from engine.errors import EngramError
from engine.tune.config import METHODS, PRECISIONS, REGULARIZATION, TuneConfig
from engine.tune.events import Event
from engine.tune.run_folder import RunFolder

# TuneConfig fields settable from the command line (their help is the field's own), and their choices
TUNE_OPTIONS = {"method": METHODS, "expert_size": None, "experts_at_once": None, "model": None, "max_steps": None,
                "max_minutes": None, "batch_size": None, "learning_rate": None, "device": None,
                "precision": PRECISIONS, "lora_layers": None, "regularization": REGULARIZATION,
                "regularization_weight": None}


def _overrides(args: argparse.Namespace) -> dict:
    return {name: getattr(args, name) for name in TUNE_OPTIONS if getattr(args, name) is not None}


def cmd_tune(args: argparse.Namespace) -> int:
    """Run memory tuning in a child process, showing its progress; record the run in the project."""
    from engine.tune.process import TuneProcess

    overrides = _overrides(args)
    store = run_id = None
    if args.resume:
        run = RunFolder.of(args.resume)
        if not run.has_config:
            raise EngramError(f"{args.resume} is not a run folder (no {run.config.name})")
        config_path = run.config
    elif args.config:
        config_path = Path(args.config)
        config = TuneConfig.load(config_path)
        if overrides:
            TuneConfig.from_dict({**json.loads(config.to_json()), **overrides}).save(config_path)
    else:
        from app.projects import open_project
        from engine.tune.prepare import prepare_run

        store = open_project(args.project, args.database)
        config, run_id = prepare_run(store, TuneConfig(**overrides), args.run_dir, max_pairs=args.max_pairs)
        config_path = RunFolder.of(config.output_dir).config
    final = _stream_run(TuneProcess(config_path, resume=bool(args.resume)).start(), args.json)
    if store is not None:
        from engine.tune.prepare import record_run

        record_run(store, run_id, config_path.parent)
        store.close()
    record = final.to_json()
    summary = ", ".join(f"{k}={record[k]}" for k in ("reason", "step", "recall") if k in record)
    print(f"engram tune: {final.name} ({summary}); run folder {config_path.parent}", file=sys.stderr)
    return 0 if final.name in ("finished", "stopped") else 1


def _stream_run(process, as_json: bool = False) -> Event:
    """Show a training child's events; Ctrl+C asks it to stop cleanly. Returns the final event."""
    from app.cli.tune_progress import JsonLines, TuneProgress

    show = JsonLines() if as_json else TuneProgress()
    try:
        for event in process.events():
            show(event)
    except KeyboardInterrupt:
        process.stop()
        for event in process.events():
            show(event)
    finally:
        show.close()
    return process.final


def cmd_update(args: argparse.Namespace) -> int:
    """Incremental memory for a memory-experts run: refresh facts the database changed, add newly
    approved pairs, and train only the experts that changed or are new."""
    from app.projects import open_project, project_database
    from engine.db import open_database
    from engine.mome.update import plan_memory_update
    from engine.tune.prepare import record_run
    from engine.tune.process import TuneProcess

    run = RunFolder.of(args.run)
    with open_project(args.project, args.database) as store:
        with open_database(project_database(store, args.database)) as db:
            update = plan_memory_update(store, db, run.path)
        for fact in update.stale:
            print(f"stale: {fact.question}  {fact.old!r} → {fact.new!r}")
        print(update.summary())
        if args.no_train or not update.to_train:
            return 0
        final = _stream_run(TuneProcess(run.config, resume=True).start(), args.json)
        run_id = next((r["id"] for r in store.runs() if r["folder"] == str(run.path)), None)
        if run_id is not None:
            record_run(store, run_id, run.path)
    print(f"engram update: {final.name} (recall={getattr(final, 'recall', None)})", file=sys.stderr)
    return 0 if final.name in ("finished", "stopped") else 1


def _add_tune_options(p: argparse.ArgumentParser) -> None:
    """One option per TUNE_OPTIONS field, typed and documented by TuneConfig itself."""
    config_fields = {f.name: f for f in fields(TuneConfig)}
    for name, choices in TUNE_OPTIONS.items():
        field = config_fields[name]
        flags = [f"--{name.replace('_', '-')}"] + (["--lr"] if name == "learning_rate" else [])
        kind = type(field.default) if field.default is not None else str
        p.add_argument(*flags, dest=name, type=kind, choices=choices, default=None,
                       help=f"{field.metadata['help']} (default {field.default})")


def register(sub) -> None:
    p = sub.add_parser("tune", help="memory-tune LoRA adapters on a project's approved training pairs")
    p.add_argument("--config", default=None, help="run an existing run config (run folder/config.json)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="resume a stopped run from its checkpoint")
    p.add_argument("--database", default=None)
    p.add_argument("--project", default=None)
    p.add_argument("--run-dir", default=None, help="run folder (default: <user data>/runs/<project>-<time>)")
    _add_tune_options(p)
    p.add_argument("--max-pairs", type=int, default=0,
                   help="train on at most N of the approved pairs (sampled per kind); 0: all")
    p.add_argument("--json", action="store_true", help="print the run's events as JSON lines (for scripts) "
                   "instead of a progress bar")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("update", help="memory experts: refresh stale facts, add new ones, train only what changed")
    p.add_argument("run", help="a memory-experts run folder")
    p.add_argument("--database", default=None)
    p.add_argument("--project", default=None)
    p.add_argument("--no-train", action="store_true", help="update the experts' plan only; train with tune --resume")
    p.add_argument("--json", action="store_true", help="print the run's events as JSON lines instead of a progress bar")
    p.set_defaults(func=cmd_update)
