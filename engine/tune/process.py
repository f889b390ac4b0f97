"""Start a training run as a child process and read its events — for the CLI and the app alike.

The child writes JSON lines on stdout; anything else it prints becomes a "log" event. Its stderr
(library warnings, a native crash report) goes to `stderr.log` in the run folder. If the child ends
without saying how (killed, segfault), a "failed" event with its exit status is made up here, so the
caller always learns how a run ended. `stop()` asks for a clean stop (checkpoint, then exit)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

from engine.tune.events import Event, crash_event, parse_event_line
from engine.tune.run_folder import RunFolder

ROOT = Path(__file__).resolve().parents[2]


def child_command(config_path: str | Path, resume: bool = False, launcher: list[str] | None = None) -> list[str]:
    """The command line that starts the training child. A frozen app (PyInstaller) has no `-m`:
    its one executable starts the child when given `--tune-child` (see app.bootstrap.main)."""
    if launcher is None and getattr(sys, "frozen", False):
        command = [sys.executable, "--tune-child"]
    else:
        command = [*(launcher or [sys.executable]), "-m", "engine.workflows.train"]
    return command + ["--config", str(config_path)] + (["--resume"] if resume else [])


def child_environment(base: dict[str, str]) -> dict[str, str]:
    """The child's environment: unbuffered events, no tokenizer threads fighting the training's, and
    this checkout importable (a source run has no installed package)."""
    return {**base, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")]))}


class TuneProcess:
    def __init__(self, config_path: str | Path, resume: bool = False, launcher: list[str] | None = None) -> None:
        self.config_path = Path(config_path)
        self.run_dir = self.config_path.parent
        self.folder = RunFolder(self.run_dir)
        self.resume = resume
        self.command = child_command(self.config_path, resume, launcher)
        self.proc: subprocess.Popen | None = None
        self.final: Event | None = None

    def start(self) -> "TuneProcess":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.folder.clear_stop()
        self._stderr = open(self.folder.stderr_log, "ab")
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
                                     bufsize=1, env=child_environment(dict(os.environ)))
        return self

    def events(self) -> Iterator[Event]:
        """Every event until the child exits; the last one is always finished, stopped or failed."""
        assert self.proc is not None and self.proc.stdout is not None, "start() first"
        for line in self.proc.stdout:
            event = parse_event_line(line)
            if event is None:
                continue
            if event.is_final:
                self.final = event
            yield event
        code = self.proc.wait()
        self._stderr.close()
        if self.final is None:
            self.final = crash_event(code, self.run_dir)
            yield self.final

    def stop(self) -> None:
        """Ask for a clean stop: the run saves a checkpoint and exits at the end of its current step."""
        self.folder.request_stop()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
