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
