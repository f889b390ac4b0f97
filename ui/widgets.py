"""Small widget builders shared by the pages, so every number box is set up the same way."""

from __future__ import annotations

from PySide6.QtWidgets import QDoubleSpinBox, QSpinBox


def spin_box(low: int, high: int, value: int, prefix: str = "") -> QSpinBox:
    """An integer box with its range and starting value (range first, or Qt clamps the value)."""
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    if prefix:
        box.setPrefix(prefix)
    return box


def double_box(low: float, high: float, value: float, decimals: int, step: float | None = None) -> QDoubleSpinBox:
    """A decimal box; the arrow step defaults to ten units of the last shown decimal."""
    box = QDoubleSpinBox()
    box.setDecimals(decimals)
    box.setRange(low, high)
    box.setValue(value)
    box.setSingleStep(step if step is not None else 10 ** -decimals * 10)
    return box
