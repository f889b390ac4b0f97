"""Run events: typed records a training run emits, one JSON line each on stdout (the parent process —
CLI or app — reads them live) and in the run folder's events.jsonl (the record a resumed or finished
run keeps). `Event.from_json` reads a record back; `describe()` is the line a person reads, the same
in `engram tune` and the Tune page."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

FINAL_EVENTS = ("finished", "stopped", "failed")  # how a run ends (an expert's own ending is not one)
SCOPED_NAMES = ("started", "finished", "stopped", "failed", "checkpoint")  # "expert_…" inside an expert


def _now() -> float:
    return round(time.time(), 3)


@dataclass(frozen=True)
class ExpertScope:
    """Which memory expert(s) an event of an experts run belongs to."""

    expert: str  # the expert's name, or a group's names joined by ", "
    index: int  # experts trained before it
    count: int  # experts in the run
    together: int = 1  # experts trained in this group
    step: int | None = None  # the expert's own step (the event's step counts from the run's start)

    def to_json(self) -> dict[str, Any]:
        record = {"expert": self.expert, "expert_index": self.index, "experts": self.count,
                  "experts_together": self.together}
        return record if self.step is None else {**record, "expert_step": self.step}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> ExpertScope | None:
        if "expert" not in record:
            return None
        return cls(record["expert"], record.get("expert_index", 0), record.get("experts", 1),
                   record.get("experts_together", 1), record.get("expert_step"))


SCOPE_KEYS = ("expert", "expert_index", "experts", "experts_together", "expert_step")


@dataclass(kw_only=True)
class Event:
    """What every event carries: when it happened, the expert it belongs to (experts runs), and the
    fields of a newer or older record this version does not know (kept, so a record reads back whole)."""

    KIND: ClassVar[str] = ""
    time: float = field(default_factory=_now)
    scope: ExpertScope | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The record's "event": an expert's own start or end is named "expert_…", not the run's."""
        return f"expert_{self.KIND}" if self.scope is not None and self.KIND in SCOPED_NAMES else self.KIND

    @property
    def is_final(self) -> bool:
        """The run's ending (finished, stopped or failed), not an expert's."""
        return self.name in FINAL_EVENTS

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"event": self.name, "time": self.time}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name not in ("time", "scope", "extra") and value is not None:
                record[item.name] = value
        if self.scope is not None:
            record.update(self.scope.to_json())
        return {**record, **self.extra}

    @staticmethod
    def from_json(record: dict[str, Any]) -> Event:
        """A record as its typed event; one of an unknown kind, or missing what its kind needs, reads
        as a log line (an events.jsonl from another version still shows)."""
        name = str(record.get("event", ""))
        kind = KINDS.get(name.removeprefix("expert_") if name.removeprefix("expert_") in SCOPED_NAMES else name)
        if kind is None:
            return Log(line=json.dumps(record, default=_plain))
        own = {item.name for item in fields(kind)} - {"scope", "extra"}
        known = own | set(SCOPE_KEYS) | {"event"}
        try:
            return kind(**{k: v for k, v in record.items() if k in own}, scope=ExpertScope.from_json(record),
                        extra={k: v for k, v in record.items() if k not in known})
        except TypeError:
            return Log(line=json.dumps(record, default=_plain))

    def describe(self) -> str:
        return json.dumps(self.to_json(), default=_plain)


@dataclass(kw_only=True)
class Started(Event):
    KIND: ClassVar[str] = "started"
    facts: int
    device: str = ""
    run: str = ""
    method: str = "memory"
    trainable_params: int | None = None
    batch_size: int | None = None
    processes: int | None = None
    estimated_memory_mb: int | None = None
    resumed_from_step: int | None = None
    experts: int | None = None  # an experts run: how many experts, how many still to train, how many at once
    experts_to_train: int | None = None
    experts_at_once: int | None = None

    def describe(self) -> str:
        if self.scope is not None and self.scope.together > 1:
            first = self.scope.index + 1
            return (f"Experts {first}–{first + self.scope.together - 1}/{self.scope.count} trained together "
                    f"({self.scope.expert}): {self.facts} facts")
        if self.scope is not None:
            return f"Expert {self.scope.index + 1}/{self.scope.count} '{self.scope.expert}': {self.facts} facts"
        if self.method == "experts":
            return (f"Started memory experts on {self.device}: {self.facts} facts in {self.experts} experts, "
                    f"{self.experts_to_train} to train"
                    + (f", {self.experts_at_once} at a time" if (self.experts_at_once or 1) > 1 else ""))
        memory = f", about {self.estimated_memory_mb:,} MiB at peak" if self.estimated_memory_mb else ""
        return f"Started on {self.device}: {self.facts} facts, {self.trainable_params or 0:,} trainable parameters{memory}"


@dataclass(kw_only=True)
class Step(Event):
    """A training step's figures, every `log_every` steps: what the plots and the progress bar show."""

    KIND: ClassVar[str] = "step"
    step: int
    loss: float
    epoch: int | None = None
    lr: float | None = None
    tokens_per_s: float | None = None
    memorized: float | None = None  # share of facts below the loss threshold
    facts_memorized: int | None = None
    max_fact_loss: float | None = None
    elapsed_s: float | None = None
    eta_s: float | None = None  # time budget left
    memory_mb: float | None = None

    def describe(self) -> str:
        return f"Step {self.step}: loss {self.loss:.4f}"


@dataclass(kw_only=True)
class Epoch(Event):
    KIND: ClassVar[str] = "epoch"
    epoch: int
    step: int
    memorized: float
    max_fact_loss: float
    mean_fact_loss: float | None = None

    def describe(self) -> str:
        return f"Epoch {self.epoch}: {self.memorized:.0%} below threshold, max fact loss {self.max_fact_loss:.4f}"


@dataclass(kw_only=True)
class Recall(Event):
    KIND: ClassVar[str] = "recall"
    step: int
    recall: float
    recalled: int
    total: int
    epoch: int | None = None
    checked: str | None = None  # "teacher-forced" or "decoded" (older runs: decoded)

    def describe(self) -> str:
        how = f", {self.checked}" if self.checked else ""
        return f"Step {self.step}: exact recall {self.recalled}/{self.total} ({self.recall:.0%}{how})"


@dataclass(kw_only=True)
class Checkpoint(Event):
    KIND: ClassVar[str] = "checkpoint"
    step: int
    path: str = ""

    def describe(self) -> str:
        if self.scope is not None:
            return f"Checkpoint of '{self.scope.expert}' saved at step {self.step}"
        return f"Checkpoint saved at step {self.step}"


@dataclass(kw_only=True)
class Diverged(Event):
    """The loss blew up: training went back to the best epoch's adapter at half the learning rate."""

    KIND: ClassVar[str] = "diverged"
    step: int
    mean_fact_loss: float
    best_mean_fact_loss: float
    back_to_step: int
    learning_rate: float
    epoch: int | None = None

    def describe(self) -> str:
        return (f"Step {self.step}: the loss diverged (mean fact loss {self.mean_fact_loss:.3f}, best "
                f"{self.best_mean_fact_loss:.3f}): back to step {self.back_to_step}'s adapter with "
                f"learning rate {self.learning_rate:.2g}")


@dataclass(kw_only=True)
class Restarted(Event):
    """No progress for many passes: the adapter started again from a new seed."""

    KIND: ClassVar[str] = "restarted"
    step: int
    mean_fact_loss: float
    best_mean_fact_loss: float
    passes_without_gain: int
    seed: int
    epoch: int | None = None

    def describe(self) -> str:
        return (f"Step {self.step}: no progress in {self.passes_without_gain} passes (mean fact loss "
                f"{self.mean_fact_loss:.3f}, best {self.best_mean_fact_loss:.3f}): the adapter starts "
                f"again from seed {self.seed}")


@dataclass(kw_only=True)
class ExpertsAtOnce(Event):
    """Experts trained together ran out of memory: the run goes on with smaller groups."""

    KIND: ClassVar[str] = "experts_at_once"
    experts_at_once: int
    reason: str = ""
    step: int | None = None

    def describe(self) -> str:
        return f"Out of memory with experts trained together: going on {self.experts_at_once} at a time"


@dataclass(kw_only=True)
class Stopped(Event):
    KIND: ClassVar[str] = "stopped"
    step: int
    checkpoint: str | None = None
    elapsed_s: float | None = None

    def describe(self) -> str:
        if self.scope is not None:
            return f"'{self.scope.expert}' stopped at step {self.step}"
        return f"Stopped at step {self.step}; Resume continues from the checkpoint"


@dataclass(kw_only=True)
class Finished(Event):
    KIND: ClassVar[str] = "finished"
    reason: str
    step: int
    recall: float | None = None
    epoch: int | None = None
    memorized: float | None = None
    elapsed_s: float | None = None
    adapter: str | None = None
    tokens_per_s: float | None = None
    expert_recall: dict[str, float] | None = None  # experts trained together: each one's recall
    experts: int | None = None  # an experts run: how many experts it has
    experts_untrained: list[str] | None = None  # an experts run that hit its time budget

    def describe(self) -> str:
        if self.scope is not None:
            noun = "Experts" if self.scope.together > 1 else "Expert"
            return (f"{noun} '{self.scope.expert}' done ({self.reason}) after {self.scope.step} steps: "
                    f"recall {self.recall or 0:.0%}")
        return f"Finished ({self.reason}) at step {self.step}: recall {self.recall or 0:.0%}"


@dataclass(kw_only=True)
class Failed(Event):
    KIND: ClassVar[str] = "failed"
    reason: str
    kind: str = "error"  # error, oom, interrupted or crash
    step: int | None = None
    exit_code: int | None = None

    def describe(self) -> str:
        if self.scope is not None:
            return f"Expert(s) '{self.scope.expert}' failed: {self.reason}"
        return f"FAILED: {self.reason}"


@dataclass(kw_only=True)
class Log(Event):
    """A line the child printed that is not an event (a library's warning on stdout)."""

    KIND: ClassVar[str] = "log"
    line: str

    def describe(self) -> str:
        return self.line


KINDS: dict[str, type[Event]] = {kind.KIND: kind for kind in (
    Started, Step, Epoch, Recall, Checkpoint, Diverged, Restarted, ExpertsAtOnce, Stopped, Finished, Failed, Log)}


def in_expert(event: Event, scope: ExpertScope, steps_before: int, facts_before: int, facts: int,
              total_facts: int) -> Event:
    """An expert's own event as the whole run reports it: steps counted from the run's start, and
    shares of facts memorized or recalled given over all facts, so the plots read as one run."""
    changes: dict[str, Any] = {"scope": scope}
    step = getattr(event, "step", None)
    if isinstance(step, int):
        changes["scope"] = replace(scope, step=step)
        changes["step"] = step + steps_before
    if isinstance(event, Diverged):
        changes["back_to_step"] = event.back_to_step + steps_before
    if isinstance(event, Step) and event.facts_memorized is not None:
        changes["memorized"] = (facts_before + event.facts_memorized) / total_facts
    elif isinstance(event, (Step, Epoch)) and event.memorized is not None:
        changes["memorized"] = (facts_before + event.memorized * facts) / total_facts
    if isinstance(event, Recall):
        changes.update(recalled=event.recalled + facts_before, total=total_facts,
                       recall=(event.recalled + facts_before) / total_facts)
    return replace(event, **changes)


class EventLog:
    """Where a run's events go: its stdout (the parent reads them live) and its events.jsonl."""

    def __init__(self, path: Path | None, stdout: bool = True, enabled: bool = True) -> None:
        self.path = path
        self.stdout = stdout  # the stdout of the moment, read at each event (tests capture it)
        self.enabled = enabled  # off on the other processes of a multi-GPU run

    def emit(self, event: Event) -> Event:
        if not self.enabled:
            return event
        line = json.dumps(event.to_json(), default=_plain)
        if self.stdout:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        return event


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """The records of a run folder's events.jsonl, as written; a torn last line (killed mid-write) is skipped."""
    events = []
    path = Path(path)
    if not path.exists():
        return events
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            events.append(record)
    return events


def parse_event_line(line: str) -> Event | None:
    """One line of a child's stdout as an event; other output becomes a Log event; blank → None."""
    line = line.strip()
    if not line:
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return Log(line=line)
    if not isinstance(record, dict) or "event" not in record:
        return Log(line=line)
    return Event.from_json(record)


def crash_event(code: int, run_dir: Path) -> Failed:
    """What a caller reports when the child ended without saying how (killed, segfault)."""
    return Failed(kind="crash", exit_code=code,
                  reason=f"the training process ended unexpectedly (exit status {code}); see {run_dir / 'stderr.log'}")


def duration(seconds: float) -> str:
    """'4m05s', or '1h02m' from an hour on: how run times read in the CLI and the Tune page."""
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
