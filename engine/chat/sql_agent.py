"""The SQL agent: question → the model writes SQL → checked read-only → run on the analyst's
database → rows → a short answer. On an error the error goes back to the model for another try
(bounded). Every step is an `AgentStep` the UI and CLI display as it happens.

The final answer is written from the rows without the model: small models phrase numbers badly, and
the rows are the truth the analyst wants to see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from engine.cancel import CancelToken
from engine.db import Database
from engine.db.errors import DatabaseError
from engine.models.llama_runtime import LlamaChat, Sampling
from engine.qa.chat_format import PromptContext, extract_sql, messages_for
from engine.qa.phrasing import format_value

RETRY_PREFIX = "That query failed:"  # the agent's own feedback turn, not a new question (see mome routing)


@dataclass
class AgentStep:
    kind: str  # sql | error | rows | answer | gave_up
    text: str = ""
    attempt: int = 1
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    truncated: bool = False


def summarize(columns: list[str], rows: list[tuple], truncated: bool, note: str = "") -> str:
    if not rows:
        return "The query returned no rows."
    if len(rows) == 1 and len(columns) == 1:
        return f"{format_value(rows[0][0])}"
    shown = "; ".join(", ".join(format_value(v) for v in row) for row in rows[:5])
    more = f" ({note})" if truncated and note else " (more rows exist)" if truncated else ""
    return f"{len(rows)} row(s){more}: {shown}" + (" …" if len(rows) > 5 else "")


def run_agent(chat: LlamaChat, db: Database, question: str, context: PromptContext, max_attempts: int = 3,
              max_rows: int = 100, timeout_s: float = 30.0, cancel: CancelToken | None = None,
              sampling: Sampling | None = None) -> Iterator[AgentStep]:
    cancel = cancel or CancelToken()
    sampling = sampling or Sampling(temperature=0.0, max_tokens=256)
    messages = messages_for(None, context, question=question, kind="sql", with_answer=False)
    for attempt in range(1, max_attempts + 1):
        cancel.raise_if_cancelled("the SQL agent")
        reply = chat.complete(messages, sampling)
        sql = extract_sql(reply)
        yield AgentStep("sql", sql, attempt)
        try:
            result = db.query(sql, max_rows=max_rows, timeout_s=timeout_s, cancel=cancel)
        except DatabaseError as error:
            yield AgentStep("error", str(error), attempt)
            messages = messages + [{"role": "assistant", "content": sql},
                                   {"role": "user", "content": f"{RETRY_PREFIX} {error}. "
                                                               "Reply with one corrected query."}]
            continue
        yield AgentStep("rows", f"{result.row_count} row(s)" + (f" ({result.note})" if result.note else ""), attempt,
                        list(result.columns), list(result.rows), result.truncated)
        yield AgentStep("answer", summarize(result.columns, result.rows, result.truncated, result.note), attempt)
        return
    yield AgentStep("gave_up", f"No working query after {max_attempts} attempts", max_attempts)
