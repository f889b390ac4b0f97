"""Curation: every change the table editor makes, as undoable command objects over the store.

A command records the pairs' previous field values before it writes, so `undo()` restores them
exactly and `redo()` re-applies. Editing a pair's SQL re-validates it against the database (and, for
data facts, the stored validation reflects the new SQL). `PairFilter` turns the editor's filter
controls into a parameterized WHERE clause — user text never becomes SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from engine.db import Database
from engine.project import ProjectStore
from engine.project.pairs import KINDS, SPLITS, STATUSES, VALIDATIONS, QAPair
from engine.qa.validate import ValidationConfig, validate_sql

_VALIDATION_FIELDS = ("validation", "validation_message", "result_hash", "result_preview")


@dataclass
class PairFilter:
    kind: str | None = None
    status: str | None = None
    split: str | None = None
    validation: str | None = None  # a VALIDATIONS value, or "none" for not validated
    source: str | None = None
    table: str | None = None
    text: str | None = None  # substring of question, answer or SQL (case-insensitive)

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = [], []
        for name, allowed in (("kind", KINDS), ("status", STATUSES), ("split", SPLITS)):
            value = getattr(self, name)
            if value:
                if value not in allowed:
                    raise ValueError(f"Unknown {name} {value!r}; use one of {', '.join(allowed)}")
                clauses.append(f"{name} = ?")
                params.append(value)
        if self.validation == "none":
            clauses.append("validation IS NULL")
        elif self.validation:
            if self.validation not in VALIDATIONS:
                raise ValueError(f"Unknown validation {self.validation!r}")
            clauses.append("validation = ?")
            params.append(self.validation)
        if self.source:
            clauses.append("source = ?")
            params.append(self.source)
        if self.table:
            clauses.append("(',' || COALESCE(tables, '') || ',') LIKE ?")
            params.append(f"%,{self.table},%")
        if self.text:
            clauses.append("(question LIKE ? ESCAPE '\\' OR answer LIKE ? ESCAPE '\\' "
                           "OR COALESCE(sql, '') LIKE ? ESCAPE '\\')")
            escaped = "%" + self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [escaped] * 3
        return " AND ".join(clauses), params


class Command:
    """One undoable change. `apply` and `revert` are each one store transaction."""

    label = "change"

    def apply(self, store: ProjectStore) -> None:
        raise NotImplementedError

    def revert(self, store: ProjectStore) -> None:
        raise NotImplementedError


class UpdatePairs(Command):
    """Set fields on pairs; remembers each pair's previous values of exactly those fields."""

    def __init__(self, ids: Iterable[int], changes_by_id: dict[int, dict[str, Any]], label: str) -> None:
        self.ids = list(ids)
        self.changes_by_id = changes_by_id
        self.label = label
        self.before: dict[int, dict[str, Any]] = {}

    def apply(self, store: ProjectStore) -> None:
        for pair_id in self.ids:
            current = store.get_pair(pair_id)
            self.before[pair_id] = {k: getattr(current, k) for k in self.changes_by_id[pair_id]}
        store.update_pairs_each({i: self.changes_by_id[i] for i in self.ids})

    def revert(self, store: ProjectStore) -> None:
        store.update_pairs_each(self.before)


class AddPairs(Command):
    def __init__(self, pairs: list[QAPair], label: str = "add pairs") -> None:
        self.pairs = pairs
        self.label = label

    def apply(self, store: ProjectStore) -> None:
        store.add_pairs(self.pairs)  # keeps ids on redo

    def revert(self, store: ProjectStore) -> None:
        store.delete_pairs([p.id for p in self.pairs])


class DeletePairs(Command):
    def __init__(self, ids: Iterable[int], label: str = "delete pairs") -> None:
        self.ids = list(ids)
        self.label = label
        self.saved: list[QAPair] = []

    def apply(self, store: ProjectStore) -> None:
        self.saved = [store.get_pair(i) for i in self.ids]
        store.delete_pairs(self.ids)

    def revert(self, store: ProjectStore) -> None:
        store.add_pairs(self.saved)


class Curator:
    """The editing session over one project: commands with undo/redo, re-validation on SQL edits."""

    def __init__(self, store: ProjectStore, db: Database | None = None,
                 validation: ValidationConfig = ValidationConfig()) -> None:
        self.store = store
        self.db = db
        self.validation = validation
        self.undo_stack: list[Command] = []
        self.redo_stack: list[Command] = []

    # -- the stack -------------------------------------------------------------------------------
    def execute(self, command: Command) -> Command:
        command.apply(self.store)
        self.undo_stack.append(command)
        self.redo_stack.clear()
        return command

    @property
    def can_undo(self) -> bool:
        return bool(self.undo_stack)

    @property
    def can_redo(self) -> bool:
        return bool(self.redo_stack)

    def undo(self) -> Command | None:
        if not self.undo_stack:
            return None
        command = self.undo_stack.pop()
        command.revert(self.store)
        self.redo_stack.append(command)
        return command

    def redo(self) -> Command | None:
        if not self.redo_stack:
            return None
        command = self.redo_stack.pop()
        command.apply(self.store)
        self.undo_stack.append(command)
        return command

    # -- operations ------------------------------------------------------------------------------
    def edit(self, pair_id: int, **changes: Any) -> Command:
        """Edit fields of one pair; a changed SQL is re-validated (and a SQL pair's answer follows it)."""
        current = self.store.get_pair(pair_id)
        changes = {k: v for k, v in changes.items() if getattr(current, k) != v}
        if not changes:
            return self.execute(UpdatePairs([], {}, "no change"))
        if current.kind == "sql" and "answer" in changes and "sql" not in changes:
            changes["sql"] = changes["answer"]
        if current.kind == "sql" and "sql" in changes:
            changes["answer"] = changes["sql"]
        if "sql" in changes:
            changes.update(self._validate(changes["sql"]))
        QAPair(**{**current.to_dict(), **changes})  # refuse bad values before anything is written
        label = "edit " + ", ".join(sorted(k for k in changes if k not in _VALIDATION_FIELDS))
        return self.execute(UpdatePairs([pair_id], {pair_id: changes}, label))

    def set_field(self, ids: Iterable[int], label: str, **changes: Any) -> Command:
        ids = list(ids)
        for name, value in changes.items():
            QAPair(question="q", answer="a", **{name: value})  # validates enum fields
        return self.execute(UpdatePairs(ids, {i: dict(changes) for i in ids}, label))

    def approve(self, ids: Iterable[int]) -> Command:
        return self.set_field(ids, "approve", status="approved")

    def reject(self, ids: Iterable[int]) -> Command:
        return self.set_field(ids, "reject", status="rejected")

    def set_split(self, ids: Iterable[int], split: str) -> Command:
        return self.set_field(ids, f"move to {split}", split=split)

    def delete(self, ids: Iterable[int]) -> Command:
        return self.execute(DeletePairs(ids))

    def add(self, pairs: list[QAPair], label: str = "add pairs") -> Command:
        for pair in pairs:
            if pair.sql and self.db is not None and pair.validation is None:
                for name, value in self._validate(pair.sql).items():
                    setattr(pair, name, value)
        return self.execute(AddPairs(pairs, label))

    def approve_valid(self) -> Command:
        """Approve every pending pair that is either validated OK or has no SQL to validate."""
        ids = self.store.pair_ids("status = 'pending' AND (validation = 'ok' OR (validation IS NULL AND sql IS NULL))")
        return self.approve(ids)

    def reject_invalid(self) -> Command:
        ids = self.store.pair_ids("status != 'rejected' AND validation IS NOT NULL AND validation != 'ok'")
        return self.reject(ids)

    def revalidate(self, ids: Iterable[int] | None = None) -> Command:
        """Run the SQL of the given pairs (all with SQL by default) again and store the outcome."""
        ids = list(ids) if ids is not None else self.store.pair_ids("sql IS NOT NULL")
        changes = {}
        for pair_id in ids:
            pair = self.store.get_pair(pair_id)
            if pair.sql:
                changes[pair_id] = self._validate(pair.sql)
        return self.execute(UpdatePairs(list(changes), changes, "re-validate"))

    def _validate(self, sql: str) -> dict[str, Any]:
        if self.db is None:
            return {"validation": None, "validation_message": "Not validated: no database is open",
                    "result_hash": None, "result_preview": None}
        return validate_sql(self.db, sql, self.validation).as_pair_fields()

    def pairs(self, flt: PairFilter = PairFilter(), limit: int | None = None, offset: int = 0) -> list[QAPair]:
        where, params = flt.where()
        return self.store.pairs(where, params, limit=limit, offset=offset)
