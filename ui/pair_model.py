"""The table editor's model: QA pairs of the project store, fetched lazily.

The model holds only the ids matching the current filter; rows are read from the store a page at a
time when the view needs them (the Anki browser pattern), so 100k pairs stay smooth. Edits go
through the Curator, so every edit is an undoable command and SQL edits are re-validated.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from engine.project.pairs import QAPair
from engine.qa.curation import Curator, PairFilter

PAGE = 200
COLUMNS = [("id", "ID"), ("kind", "Kind"), ("question", "Question"), ("answer", "Answer"), ("sql", "SQL"),
           ("status", "Status"), ("split", "Split"), ("validation", "Validation"), ("source", "Source"),
           ("loss", "Fact loss"), ("recalled", "Recalled")]
EDITABLE = {"question", "answer", "sql", "status", "split", "kind"}
_STATUS_COLOURS = {"approved": QColor(46, 160, 67, 60), "rejected": QColor(218, 54, 51, 60)}


class PairTableModel(QAbstractTableModel):
    edit_failed = Signal(str)
    edited = Signal()  # an undoable edit was made

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.curator: Curator | None = None
        self.filter = PairFilter()
        self.ids: list[int] = []
        self._cache: dict[int, QAPair] = {}
        self.scores: dict[int, tuple[float | None, bool | None]] = {}

    # -- data source ----------------------------------------------------------------------------------
    def set_curator(self, curator: Curator | None) -> None:
        self.curator = curator
        self.reload()

    def set_filter(self, flt: PairFilter) -> None:
        self.filter = flt
        self.reload()

    def set_scores(self, scores: dict[int, tuple[float | None, bool | None]]) -> None:
        self.scores = scores
        if self.ids:
            self.dataChanged.emit(self.index(0, 9), self.index(len(self.ids) - 1, 10))

    def reload(self) -> None:
        self.beginResetModel()
        self._cache.clear()
        if self.curator is None:
            self.ids = []
        else:
            where, params = self.filter.where()
            self.ids = self.curator.store.pair_ids(where, params)
        self.endResetModel()

    def refresh_rows(self) -> None:
        """Re-read cached rows after an edit/undo without losing the view's position."""
        self._cache.clear()
        if self.ids:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.ids) - 1, len(COLUMNS) - 1))

    def pair(self, row: int) -> QAPair | None:
        if not 0 <= row < len(self.ids):
            return None
        pair_id = self.ids[row]
        if pair_id not in self._cache:
            start = (row // PAGE) * PAGE
            page = self.ids[start:start + PAGE]
            placeholders = ",".join("?" * len(page))
            for pair in self.curator.store.pairs(f"id IN ({placeholders})", page):
                self._cache[pair.id] = pair
        return self._cache.get(pair_id)

    # -- Qt model ------------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.ids)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][1]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        pair = self.pair(index.row())
        if pair is None:
            return None
        name = COLUMNS[index.column()][0]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if name == "loss":
                loss = self.scores.get(pair.id, (None, None))[0]
                return None if loss is None else f"{loss:.4f}"
            if name == "recalled":
                recalled = self.scores.get(pair.id, (None, None))[1]
                return None if recalled is None else ("yes" if recalled else "no")
            value = getattr(pair, name)
            return "" if value is None else value if role == Qt.ItemDataRole.EditRole else str(value)
        if role == Qt.ItemDataRole.ToolTipRole and name == "validation" and pair.validation_message:
            return pair.validation_message
        if role == Qt.ItemDataRole.BackgroundRole and name == "status":
            return _STATUS_COLOURS.get(pair.status)
        if role == Qt.ItemDataRole.ForegroundRole and name == "validation" and pair.validation not in (None, "ok"):
            return QColor(200, 40, 40)
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.isValid() and COLUMNS[index.column()][0] in EDITABLE:
            return base | Qt.ItemFlag.ItemIsEditable
        return base

    def setData(self, index: QModelIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid() or self.curator is None:
            return False
        name = COLUMNS[index.column()][0]
        pair = self.pair(index.row())
        text = str(value).strip()
        if pair is None or name not in EDITABLE or text == (getattr(pair, name) or ""):
            return False
        try:
            self.curator.edit(pair.id, **{name: text or None} if name == "sql" else {name: text})
        except (ValueError, Exception) as error:  # noqa: BLE001 - shown to the user, nothing written
            self.edit_failed.emit(str(error))
            return False
        self._cache.pop(pair.id, None)
        self.dataChanged.emit(self.index(index.row(), 0), self.index(index.row(), len(COLUMNS) - 1))
        self.edited.emit()
        return True

    def selected_ids(self, rows: list[int]) -> list[int]:
        return [self.ids[r] for r in sorted(set(rows)) if 0 <= r < len(self.ids)]
