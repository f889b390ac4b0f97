"""Light and dark appearance: follow the OS colour scheme that Qt reports (or the user's choice in
View → Appearance), for the widgets (Fusion palette) and for the pyqtgraph plots, which draw their
own background and would otherwise stay black on a light window."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

APPEARANCES = {"system": "Follow the system", "light": "Light", "dark": "Dark"}


def dark_palette() -> QPalette:
    """Fusion's dark counterpart of its standard palette (Qt ships only the light one)."""
    p = QPalette()
    window, base, text, mid = QColor("#2b2b2b"), QColor("#1e1e1e"), QColor("#e6e6e6"), QColor("#3c3c3c")
    for role, color in [(QPalette.ColorRole.Window, window), (QPalette.ColorRole.WindowText, text),
                        (QPalette.ColorRole.Base, base), (QPalette.ColorRole.AlternateBase, QColor("#262626")),
                        (QPalette.ColorRole.ToolTipBase, mid), (QPalette.ColorRole.ToolTipText, text),
                        (QPalette.ColorRole.PlaceholderText, QColor("#8a8a8a")), (QPalette.ColorRole.Text, text),
                        (QPalette.ColorRole.Button, mid), (QPalette.ColorRole.ButtonText, text),
                        (QPalette.ColorRole.BrightText, QColor("#ff6b6b")), (QPalette.ColorRole.Light, QColor("#505050")),
                        (QPalette.ColorRole.Midlight, QColor("#444444")), (QPalette.ColorRole.Mid, QColor("#333333")),
                        (QPalette.ColorRole.Dark, QColor("#181818")), (QPalette.ColorRole.Shadow, QColor("#000000")),
                        (QPalette.ColorRole.Highlight, QColor("#3d7ad6")),
                        (QPalette.ColorRole.HighlightedText, QColor("#ffffff")),
                        (QPalette.ColorRole.Link, QColor("#6ea8ff")), (QPalette.ColorRole.LinkVisited, QColor("#b48cff"))]:
        p.setColor(role, color)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    return p


def style_plot(plot: pg.PlotWidget, dark: bool) -> None:
    """Plot background, axes and title in the window's colours."""
    background, foreground = ("#1e1e1e", "#d0d0d0") if dark else ("#ffffff", "#303030")
    plot.setBackground(background)
    item = plot.getPlotItem()
    for name in ("left", "bottom", "right", "top"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(foreground))
        axis.setTextPen(pg.mkPen(foreground))
    title = item.titleLabel
    if title.text:
        title.setText(title.text, color=foreground)


class ThemeManager(QObject):
    """Owns the app's appearance: the saved choice, the OS scheme, the palette and the plots."""

    changed = Signal(bool)  # dark?

    def __init__(self, app: QApplication, settings: QSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.settings = settings
        self.system_scheme = app.styleHints().colorScheme()
        app.styleHints().colorSchemeChanged.connect(self.system_scheme_changed)
        self.dark = False
        self.apply()

    @property
    def appearance(self) -> str:
        value = str(self.settings.value("appearance", "system"))
        return value if value in APPEARANCES else "system"

    def set_appearance(self, appearance: str) -> None:
        if appearance not in APPEARANCES:
            raise ValueError(f"unknown appearance {appearance!r}; choose one of {', '.join(APPEARANCES)}")
        self.settings.setValue("appearance", appearance)
        self.apply()

    def system_scheme_changed(self, scheme: Qt.ColorScheme) -> None:
        """The OS switched light/dark while the app runs."""
        self.system_scheme = scheme
        self.apply()

    def wants_dark(self) -> bool:
        if self.appearance != "system":
            return self.appearance == "dark"
        return self.system_scheme == Qt.ColorScheme.Dark

    def apply(self) -> None:
        self.dark = self.wants_dark()
        self.app.setPalette(dark_palette() if self.dark else self.app.style().standardPalette())
        for widget in QApplication.allWidgets():
            if isinstance(widget, pg.PlotWidget):
                style_plot(widget, self.dark)
            elif widget.styleSheet():  # a widget with its own style sheet keeps its old palette until re-polished
                widget.setStyleSheet(widget.styleSheet())
        self.changed.emit(self.dark)
