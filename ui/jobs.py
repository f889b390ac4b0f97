"""Background work for the UI: engine functions run off the UI thread and report through signals.

`Job` runs a plain function in Qt's thread pool (the git-cola / Orange pattern): the function gets
a `report(done, total)` callback and a CancelToken; its result or error comes back as a signal on the
UI thread. A job whose owner started a newer one is "stale" and its result is dropped. `JobCenter`
tracks the running jobs for the status bar. Training does not use this: it is a child process
(see ui/tune_process.py)."""

from __future__ import annotations

import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.cancel import Cancelled, CancelToken


class _Channel(QObject):
    progress = Signal(int, int)
    yielded = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str, str)  # readable message, traceback
    cancelled = Signal()


class _Runnable(QRunnable):
    def __init__(self, job: "Job") -> None:
        super().__init__()
        self.job = job

    def run(self) -> None:
        job = self.job
        try:
            if job.streams:  # a generator: every item goes to `yielded`, cancel checked between items
                result = None
                for item in job.fn(job.report, job.token):
                    if job.token.cancelled:
                        raise Cancelled(job.name)
                    job.channel.yielded.emit(item)
            else:
                result = job.fn(job.report, job.token)
        except Cancelled:
            job.channel.cancelled.emit()
        except Exception as error:  # noqa: BLE001 - every failure is shown to the user
            job.channel.failed.emit(str(error) or type(error).__name__, traceback.format_exc())
        else:
            job.channel.succeeded.emit(result)


class Job(QObject):
    """One unit of background work. Connect to `succeeded`, `failed`, `progress` before `start()`."""

    progress = Signal(int, int)
    yielded = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()
    ended = Signal()

    def __init__(self, name: str, fn: Callable[[Callable[[int, int], None], CancelToken], Any],
                 parent: QObject | None = None, streams: bool = False) -> None:
        super().__init__(parent)
        self.name = name
        self.fn = fn
        self.streams = streams
        self.token = CancelToken()
        self.stale = False
        self.running = False
        self.channel = _Channel()
        self.channel.progress.connect(self._on_progress)
        self.channel.yielded.connect(lambda item: None if self.stale else self.yielded.emit(item))
        self.channel.succeeded.connect(self._on_succeeded)
        self.channel.failed.connect(self._on_failed)
        self.channel.cancelled.connect(self._on_cancelled)

    def report(self, done: int, total: int) -> None:  # called from the worker thread
        self.token.raise_if_cancelled(self.name)
        self.channel.progress.emit(done, total)

    def start(self) -> "Job":
        self.running = True
        JobCenter.instance().add(self)
        QThreadPool.globalInstance().start(_Runnable(self))
        return self

    def cancel(self) -> None:
        self.token.cancel()

    def _on_progress(self, done: int, total: int) -> None:
        if not self.stale:
            self.progress.emit(done, total)

    def _finish(self) -> None:
        self.running = False
        self.ended.emit()

    def _on_succeeded(self, result: object) -> None:
        if not self.stale:
            self.succeeded.emit(result)
        self._finish()

    def _on_failed(self, message: str, details: str) -> None:
        if not self.stale:
            self.failed.emit(message, details)
        self._finish()

    def _on_cancelled(self) -> None:
        if not self.stale:
            self.cancelled.emit()
        self._finish()


class JobCenter(QObject):
    """The jobs now running, for the status bar ("Generating pairs… 40%", Cancel)."""

    changed = Signal()
    progress = Signal(str, int, int)
    _instance: "JobCenter | None" = None

    @classmethod
    def instance(cls) -> "JobCenter":
        if cls._instance is None:
            cls._instance = JobCenter()
        return cls._instance

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[Job] = []

    def add(self, job: Job) -> None:
        self.jobs.append(job)
        job.progress.connect(lambda d, t, j=job: self.progress.emit(j.name, d, t))
        job.ended.connect(lambda j=job: self._remove(j))
        self.changed.emit()

    def _remove(self, job: Job) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
        self.changed.emit()

    def cancel_all(self) -> None:
        for job in list(self.jobs):
            job.cancel()
