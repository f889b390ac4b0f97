"""How a QA pair is shown to the model: the chat messages used for training, evaluation, export
and the SQL agent. One place, so the tuned model sees at chat time exactly what it learned from.

Fact pairs (schema, data) and text-to-SQL pairs get different system prompts: the same question
("How many orders are there?") has a value as its fact answer and a query as its SQL answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.project.pairs import QAPair

if TYPE_CHECKING:
    from engine.sqlgen.grounding import GroundedPrompt, SqlGrounding

DIALECT_NAMES = {"sqlite": "SQLite", "duckdb": "DuckDB"}
_FENCE = re.compile(r"```(?:sql)?\s*(.+?)```", re.S | re.I)


@dataclass(frozen=True)
class PromptContext:
    database: str  # the name the analyst knows the database by, e.g. "lumen"
    dialect: str = "sqlite"
    grounding: "SqlGrounding | None" = field(default=None, compare=False)  # schema + examples for SQL prompts

    def grounded(self, question: str, exclude_sql: str | None = None) -> "GroundedPrompt | None":
        """The tables and examples a SQL prompt shows for this question (None without grounding)."""
        return self.grounding.prompt(question, exclude_sql) if self.grounding is not None else None

    def system_prompt(self, kind: str, grounded: "GroundedPrompt | None" = None) -> str:
        if kind == "sql":
            name = DIALECT_NAMES.get(self.dialect, self.dialect)
            middle = f"\n{grounded.text()}\n" if grounded is not None else " "
            return (f"You write {name} queries for the {self.database} database.{middle}"
                    "Reply with one SQL query and nothing else.")
        return f"You answer questions about the {self.database} database. Reply with the exact answer only."


def request_kind(messages: list[dict[str, str]]) -> str | None:
    """'sql' or 'fact' for messages Engram's system prompts start (see system_prompt), None for a free
    chat — so memory experts can answer a request with experts that learned its kind of answer."""
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    if system.startswith("You write ") and system.endswith("Reply with one SQL query and nothing else."):
        return "sql"
    if system.startswith("You answer questions about the ") and system.endswith("Reply with the exact answer only."):
        return "fact"
    return None


def messages_for(pair: QAPair | None, context: PromptContext, question: str | None = None,
                 kind: str | None = None, with_answer: bool = True,
                 grounded: "GroundedPrompt | None" = None) -> list[dict[str, str]]:
    """Chat messages for a pair (or a bare question of a kind), with the answer as the assistant turn.
    A SQL prompt shows the grounding's tables and examples; a pair never sees its own query as an
    example (in training it would learn to copy; parity and recall checks see the same prompt)."""
    kind = kind or (pair.kind if pair else "schema")
    text = question if question is not None else pair.question
    if kind == "sql" and grounded is None:
        grounded = context.grounded(text, exclude_sql=(pair.sql or pair.answer) if pair is not None else None)
    messages = [{"role": "system", "content": context.system_prompt(kind, grounded if kind == "sql" else None)},
                {"role": "user", "content": text}]
    if with_answer and pair is not None:
        messages.append({"role": "assistant", "content": pair.answer})
    return messages


def extract_sql(text: str) -> str:
    """The query in a model reply: a fenced block if any, else the text up to the first ';'."""
    match = _FENCE.search(text)
    sql = match.group(1) if match else text
    sql = sql.strip()
    if ";" in sql:
        sql = sql.split(";")[0]
    return sql.strip()
