"""A training run's folder: its file names in one place, readable without torch (the UI and the CLI
use it to start, stop and show runs; the training child writes what it names)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.tune.events import Event, read_events

CONFIG = "config.json"  # the TuneConfig the run trains with
DATA = "data.jsonl"  # the pairs it trains on (the run's own copy)
EVENTS = "events.jsonl"  # every event it emitted, appended across resumes
STDERR = "stderr.log"  # the child's stderr: library warnings, a native crash report
STOP = "STOP"  # written to ask the run to checkpoint and exit
ADAPTER = "adapter"  # the trained LoRA adapter (one-adapter runs)
CHECKPOINT = "checkpoint"  # state to resume from
FACT_SCORES = "fact_scores.json"  # per-fact recall at the end
EXPERTS = "experts.json"  # a memory-experts run's plan (experts and their facts)
EXPORT = "export"  # where export writes GGUF files by default
PARITY = "parity.json"  # export's recall check through llama.cpp
EXPORTED_EXPERTS = "experts-gguf.json"  # in export/: the experts' GGUF files and router


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @classmethod
    def of(cls, path: str | Path) -> "RunFolder":
        return cls(Path(path))

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def data(self) -> Path:
        return self.path / DATA

    @property
    def events_log(self) -> Path:
        return self.path / EVENTS

    @property
    def stderr_log(self) -> Path:
        return self.path / STDERR

    @property
    def stop_file(self) -> Path:
        return self.path / STOP

    @property
    def adapter(self) -> Path:
        return self.path / ADAPTER

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def fact_scores(self) -> Path:
        return self.path / FACT_SCORES

    @property
    def experts_plan(self) -> Path:
        return self.path / EXPERTS

    @property
    def export_dir(self) -> Path:
        return self.path / EXPORT

    @property
    def is_experts(self) -> bool:
        """A memory-experts run (its plan exists) rather than one adapter."""
        return self.experts_plan.is_file()

    @property
    def has_config(self) -> bool:
        return self.config.is_file()

    @property
    def is_trained(self) -> bool:
        """Something to export or chat with: an adapter, or an experts run."""
        return self.adapter.is_dir() or self.is_experts

    @property
    def can_resume(self) -> bool:
        return self.checkpoint.exists() or self.is_experts

    def request_stop(self) -> None:
        """Ask for a clean stop: the run saves a checkpoint and exits at the end of its current step."""
        self.stop_file.write_text("stop requested\n")

    def clear_stop(self) -> None:
        self.stop_file.unlink(missing_ok=True)

    @property
    def stop_requested(self) -> bool:
        return self.stop_file.exists()

    def events(self) -> list[Event]:
        return [Event.from_json(record) for record in read_events(self.events_log)]

    def final_event(self) -> Event | None:
        """How the run last ended (finished, stopped or failed), or None while it never has."""
        return next((e for e in reversed(self.events()) if e.is_final), None)
