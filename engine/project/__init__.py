"""The per-project store (QA pairs, runs, evaluations, artefacts)."""

from engine.project.store import ProjectError, ProjectStore

__all__ = ["ProjectError", "ProjectStore"]
