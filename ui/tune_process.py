"""The training child process seen from Qt: `python -m engine.workflows.train` under a QProcess, its
JSON-lines stdout turned into `event` signals. QProcess never blocks the event loop, and a crash or
out-of-memory in the child ends the child, not the window."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

from engine.tune.events import Event, crash_event, parse_event_line
from engine.tune.process import child_command, child_environment
from engine.tune.run_folder import RunFolder


class TuneRunner(QObject):
    event = Signal(object)  # an Event
    ended = Signal(object)  # the final Event (finished, stopped or failed)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process: QProcess | None = None
        self.run_dir: Path | None = None
        self.folder: RunFolder | None = None
        self.final: Event | None = None
        self._buffer = b""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def start(self, config_path: str | Path, resume: bool = False) -> None:
        config_path = Path(config_path)
        self.run_dir = config_path.parent
        self.folder = RunFolder(self.run_dir)
        self.folder.clear_stop()
        self.final = None
        self._buffer = b""
        process = QProcess(self)
        env = QProcessEnvironment()
        for name, value in child_environment(dict(os.environ)).items():
            env.insert(name, value)
        process.setProcessEnvironment(env)
        process.setStandardErrorFile(str(self.folder.stderr_log), QProcess.OpenModeFlag.Append)
        process.readyReadStandardOutput.connect(self._read)
        process.finished.connect(self._finished)
        program, *args = child_command(config_path, resume)
        self.process = process
        process.start(program, args)

    def stop(self) -> None:
        """Clean stop: the child checkpoints at the end of its step and exits."""
        if self.folder is not None:
            self.folder.request_stop()

    def kill(self) -> None:
        if self.running:
            self.process.kill()

    def _read(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            event = parse_event_line(line.decode("utf-8", "replace"))
            if event is None:
                continue
            if event.is_final:
                self.final = event
            self.event.emit(event)

    def _finished(self, code: int, status) -> None:
        self._read()
        if self.final is None:
            self.final = crash_event(code, self.run_dir)
            self.event.emit(self.final)
        self.ended.emit(self.final)
