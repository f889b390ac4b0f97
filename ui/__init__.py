"""Engram's Qt user interface (PySide6 + pyqtgraph). Talks to engine/ only through job objects."""
