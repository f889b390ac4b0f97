"""Engram's headless core: databases, datasets, training, export, evaluation.

Nothing under engine/ imports Qt, the UI or the app layer (an import-linter contract in
pyproject.toml and tests/test_architecture.py check it), so the CLI, the training child process and
the desktop app all share one library.
"""

__version__ = "0.1.0"
