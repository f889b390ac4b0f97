"""The QA pair: one question/answer the model must learn, with where it came from and whether its
SQL was checked against the real database.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

KINDS = ("schema", "data", "sql")  # schema fact, data fact, text-to-SQL pair
STATUSES = ("pending", "approved", "rejected")
SPLITS = ("train", "eval", "paraphrase")  # paraphrase: held-out rewordings of train questions
SOURCES = ("template", "llm", "manual", "import")
# Validation outcomes of running a pair's SQL read-only (None: not validated / no SQL).
VALIDATIONS = ("ok", "parse_error", "unknown_table", "unknown_column", "runtime_error", "empty",
               "too_many_rows", "timeout", "not_read_only")


@dataclass
class QAPair:
    """One training/evaluation example. `answer` is what the model must say; for `sql` pairs it is
    the SQL itself, for data facts the value with `sql` kept as provenance."""

    question: str
    answer: str
    kind: str = "schema"
    sql: str | None = None
    status: str = "pending"
    split: str = "train"
    source: str = "manual"
    intent: str | None = None  # paraphrases of one intent share it, so a split keeps them together
    tables: str | None = None  # comma-separated tables the pair is about (filtering, grouping)
    template: str | None = None
    validation: str | None = None
    validation_message: str | None = None
    result_hash: str | None = None
    result_preview: str | None = None  # JSON: {"columns": [...], "rows": [...]} (first rows)
    paraphrase_of: int | None = None
    id: int | None = None
    created_at: str | None = field(default=None, compare=False)
    updated_at: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name, allowed in (("kind", KINDS), ("status", STATUSES), ("split", SPLITS), ("source", SOURCES)):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"QAPair.{name} must be one of {', '.join(allowed)}; got {value!r}")
        if self.kind == "sql" and not self.sql:
            self.sql = self.answer  # a text-to-SQL pair's answer is its SQL
        if self.validation is not None and self.validation not in VALIDATIONS:
            raise ValueError(f"QAPair.validation must be one of {', '.join(VALIDATIONS)}; got {self.validation!r}")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.field_names()}
