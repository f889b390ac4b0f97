"""Where projects live and how the CLI/app find one: a project file per analyst database, by
default `<user data>/projects/<database name>.engram`."""

from __future__ import annotations

from pathlib import Path

from app.paths import user_data_dir
from engine.errors import EngramError
from engine.project import ProjectStore


def default_project_path(database: str | Path) -> Path:
    return user_data_dir() / "projects" / f"{Path(database).stem}.engram"


def open_project(project: str | Path | None, database: str | Path | None = None) -> ProjectStore:
    """Open `project`, or the default project of `database`, creating it for that database if new."""
    if project is None and database is None:
        raise EngramError("Give a project file (--project) or a database to work on")
    path = Path(project) if project else default_project_path(database)
    if path.exists():
        store = ProjectStore(path)
        if database is not None and store.source_db is None:
            store.set_meta("source_db", str(Path(database).resolve()))
        return store
    if database is None:
        raise EngramError(f"No project at {path}; create one by giving its database too")
    return ProjectStore.create(path, source_db=database)


def project_database(store: ProjectStore, database: str | Path | None = None) -> Path:
    path = Path(database) if database else store.source_db
    if path is None:
        raise EngramError(f"{store.path} does not name its database; give the database path")
    return path
