"""What `engram tune` and `engram update` show a person while a run trains: a progress bar of facts
memorized with the step, the loss and the time budget left, and one line per milestone (recall
checks, experts, checkpoints, the end) in the words the Tune page uses. `--json` prints the raw
events instead, for scripts."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from engine.tune.events import Event, Started, Step, duration


class JsonLines:
    """The run's events as JSON lines on stdout, one per event (`--json`)."""

    def __call__(self, event: Event) -> None:
        print(json.dumps(event.to_json()), flush=True)

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

    def __call__(self, event: Event) -> None:
        if isinstance(event, Started) and event.scope is None:
            self.facts = event.facts
            self.bar.reset(total=self.facts or None)
        if isinstance(event, Step):
            memorized = event.facts_memorized
            if memorized is None or event.scope is not None:  # an expert's count is its own; the share is the run's
                memorized = round((event.memorized or 0) * self.facts)
            self.bar.n = int(memorized)
            budget = event.eta_s
            self.bar.set_postfix_str(f"step {event.step} · loss {event.loss:.3f}"
                                     + (f" · budget left {duration(budget)}" if budget is not None else ""))
            return
        if self.bar.disable:
            print(event.describe(), file=self.stream, flush=True)
        else:
            self.bar.write(event.describe(), file=self.stream)

    def close(self) -> None:
        self.bar.close()
