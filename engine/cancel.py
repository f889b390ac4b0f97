"""Cooperative cancellation shared by every long job (queries, generation, training, export)."""

from __future__ import annotations

import threading

from engine.errors import EngramError


class Cancelled(EngramError):
    """Raised inside a job when its cancel token was set."""

    def __init__(self, what: str = "the job") -> None:
        super().__init__(f"Cancelled {what}.")


class CancelToken:
    """A flag a UI or CLI sets and a job checks between units of work."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds; True as soon as the token is cancelled."""
        return self._event.wait(timeout)

    def raise_if_cancelled(self, what: str = "the job") -> None:
        if self._event.is_set():
            raise Cancelled(what)
