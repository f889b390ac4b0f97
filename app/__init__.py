"""Engram's application layer: CLI, bootstrap, settings and project management (Qt only in ui/)."""
