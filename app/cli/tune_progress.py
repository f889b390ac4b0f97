"""What `engram tune` and `engram update` show a person while a run trains: a progress bar of facts
memorized with the step, the loss and the time budget left, and one line per milestone (recall
checks, experts, checkpoints, the end) in the words the Tune page uses. `--json` prints the raw
events instead, for scripts."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from engine.tune.events import describe, duration


class JsonLines:
    """The run's events as JSON lines on stdout, one per event (`--json`)."""

    def __call__(self, event: dict[str, Any]) -> None:
        print(json.dumps(event), flush=True)

    def close(self) -> None:
        pass


class TuneProgress:
    """A tqdm bar on stderr (hidden when stderr is not a terminal; the milestone lines still print)."""

    def __init__(self, stream: TextIO = sys.stderr, enabled: bool | None = None) -> None:
        from tqdm import tqdm

        self.stream = stream
        self.bar = tqdm(total=None, unit="fact", desc="memorized", file=stream, dynamic_ncols=True,
                        disable=(not stream.isatty()) if enabled is None else not enabled,
                        bar_format="{desc} {n_fmt}/{total_fmt} |{bar}| {elapsed}<{remaining} · {postfix}")
        self.facts = 0

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "started":
            self.facts = int(event.get("facts") or 0)
            self.bar.reset(total=self.facts or None)
        if kind == "step":
            memorized = event.get("facts_memorized")
            if memorized is None:
                memorized = round((event.get("memorized") or 0) * self.facts)
            self.bar.n = int(memorized)
            budget = event.get("eta_s")
            self.bar.set_postfix_str(f"step {event['step']} · loss {event.get('loss', 0):.3f}"
                                     + (f" · budget left {duration(budget)}" if budget is not None else ""))
            return
        if self.bar.disable:
            print(describe(event), file=self.stream, flush=True)
        else:
            self.bar.write(describe(event), file=self.stream)

    def close(self) -> None:
        self.bar.close()
