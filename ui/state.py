"""What the window is working on: the open database, its project and the curation session.
Pages listen to its signals instead of reaching into each other."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.projects import open_project
from engine.db import Database, open_database
from engine.project import ProjectStore
from engine.qa.curation import Curator


class AppState(QObject):
    database_changed = Signal()
    pairs_changed = Signal()
    runs_changed = Signal()
    models_changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.db: Database | None = None
        self.store: ProjectStore | None = None
        self.curator: Curator | None = None
        self.models: list = []  # engine.models.catalogue.ModelEntry: the local models found
        self.models_job = None

    def find_models(self) -> None:
        """Look for the analyst's local models (Ollama, LM Studio, the Hugging Face cache) off the UI
        thread; the Tune and Chat pages list them when `models_changed` comes."""
        from engine.models.catalogue import discover
        from ui.jobs import Job

        job = Job("Finding local models", lambda report, token: discover(), self)
        job.succeeded.connect(self._found_models)
        self.models_job = job.start()

    def _found_models(self, entries: list) -> None:
        self.models = [e for e in entries if e.source != "bundled"]  # the pages list the bundled model first
        self.models_changed.emit()

    def open(self, path: str | Path, project: str | Path | None = None) -> None:
        """Open a database read-only and its project (created on first use); errors propagate."""
        db = open_database(path)
        db.schema()  # fail now, not later, on an unreadable file
        store = open_project(project, path)
        self.close()
        self.db, self.store = db, store
        self.curator = Curator(store, db)
        self.database_changed.emit()
        self.pairs_changed.emit()
        self.runs_changed.emit()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
        if self.store is not None:
            self.store.close()
        self.db = self.store = self.curator = None
