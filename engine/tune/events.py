"""Run events as JSON lines: printed to stdout (the parent process — CLI or app — reads them live)
and appended to the run folder's events.jsonl (the record a resumed or finished run keeps)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO


class EventLog:
    def __init__(self, path: Path | None, stream: TextIO | None = sys.stdout, enabled: bool = True) -> None:
        self.path = path
        self.stream = stream
        self.enabled = enabled

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {"event": event, "time": round(time.time(), 3), **fields}
        if not self.enabled:
            return record
        line = json.dumps(record, default=_plain)
        if self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        return record


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """Events of a run folder's log; a torn last line (killed mid-write) is skipped."""
    events = []
    path = Path(path)
    if not path.exists():
        return events
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def parse_event_line(line: str) -> dict[str, Any] | None:
    """One line of a child's stdout as an event; other output becomes a "log" event; blank → None."""
    line = line.strip()
    if not line:
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return {"event": "log", "line": line}
    if not isinstance(event, dict) or "event" not in event:
        return {"event": "log", "line": line}
    return event


def crash_event(code: int, run_dir: Path) -> dict[str, Any]:
    """What a caller reports when the child ended without saying how (killed, segfault)."""
    return {"event": "failed", "kind": "crash", "exit_code": code,
            "reason": f"the training process ended unexpectedly (exit status {code}); see {run_dir / 'stderr.log'}"}


def duration(seconds: float) -> str:
    """'4m05s', or '1h02m' from an hour on: how run times read in the CLI and the Tune page."""
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def describe(event: dict[str, Any]) -> str:
    """One line a person reads for an event: the Tune page's log and `engram tune` print the same."""
    kind = event.get("event")
    if kind == "started" and event.get("method") == "experts":
        return (f"Started memory experts on {event.get('device')}: {event.get('facts')} facts in "
                f"{event.get('experts')} experts, {event.get('experts_to_train')} to train"
                + (f", {event['experts_at_once']} at a time" if event.get("experts_at_once", 1) > 1 else ""))
    if kind == "started":
        memory = f", about {event['estimated_memory_mb']:,} MiB at peak" if event.get("estimated_memory_mb") else ""
        return (f"Started on {event.get('device')}: {event.get('facts')} facts, "
                f"{event.get('trainable_params'):,} trainable parameters{memory}")
    if kind == "experts_at_once":
        return f"Out of memory with experts trained together: going on {event['experts_at_once']} at a time"
    if kind == "expert_started" and event.get("experts_together", 1) > 1:
        first, together = event["expert_index"] + 1, event["experts_together"]
        return (f"Experts {first}–{first + together - 1}/{event['experts']} trained together "
                f"({event['expert']}): {event.get('facts')} facts")
    if kind == "expert_started":
        return f"Expert {event['expert_index'] + 1}/{event['experts']} '{event['expert']}': {event.get('facts')} facts"
    if kind == "expert_finished":
        noun = "Experts" if event.get("experts_together", 1) > 1 else "Expert"
        return (f"{noun} '{event['expert']}' done ({event.get('reason')}) after {event.get('expert_step')} steps: "
                f"recall {event.get('recall') or 0:.0%}")
    if kind == "expert_failed":
        return f"Expert(s) '{event['expert']}' failed: {event.get('reason')}"
    if kind == "recall":
        how = f", {event['checked']}" if event.get("checked") else ""  # teacher-forced or decoded (older runs: decoded)
        return f"Step {event['step']}: exact recall {event['recalled']}/{event['total']} ({event['recall']:.0%}{how})"
    if kind == "epoch":
        return f"Epoch {event['epoch']}: {event['memorized']:.0%} below threshold, max fact loss {event['max_fact_loss']:.4f}"
    if kind == "checkpoint":
        return f"Checkpoint saved at step {event['step']}"
    if kind == "diverged":
        return (f"Step {event['step']}: the loss diverged (mean fact loss {event['mean_fact_loss']:.3f}, best "
                f"{event['best_mean_fact_loss']:.3f}): back to step {event['back_to_step']}'s adapter with "
                f"learning rate {event['learning_rate']:.2g}")
    if kind == "restarted":
        return (f"Step {event['step']}: no progress in {event['passes_without_gain']} passes (mean fact loss "
                f"{event['mean_fact_loss']:.3f}, best {event['best_mean_fact_loss']:.3f}): the adapter starts "
                f"again from seed {event['seed']}")
    if kind == "expert_checkpoint":
        return f"Checkpoint of '{event['expert']}' saved at step {event['step']}"
    if kind == "expert_stopped":
        return f"'{event['expert']}' stopped at step {event['step']}"
    if kind == "finished":
        return f"Finished ({event['reason']}) at step {event['step']}: recall {event.get('recall') or 0:.0%}"
    if kind == "stopped":
        return f"Stopped at step {event['step']}; Resume continues from the checkpoint"
    if kind == "failed":
        return f"FAILED: {event.get('reason')}"
    if kind == "log":
        return event.get("line", "")
    return json.dumps(event)
