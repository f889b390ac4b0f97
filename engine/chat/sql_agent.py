"""The SQL agent: question → the model writes candidate queries for a prompt grounded in the schema
and retrieved examples → each checked read-only and run → the result most candidates agree on → a
short answer. When no candidate runs, the error goes back to the model for a corrected query.
Every step is an `AgentStep` the UI and CLI display as it happens (engine/sqlgen/answer.py does the work).

The final answer is written from the rows without the model: small models phrase numbers badly, and
the rows are the truth the analyst wants to see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from engine.cancel import CancelToken
from engine.db import Database
from engine.qa.chat_format import PromptContext
from engine.qa.phrasing import format_value
from engine.sqlgen.answer import RETRY_PREFIX, AnswerSettings, Candidate, answer_steps, chat_writer

__all__ = ["RETRY_PREFIX", "AgentStep", "run_agent", "summarize"]


@dataclass
class AgentStep:
    kind: str  # candidate | rows | answer | gave_up
    text: str = ""
    attempt: int = 1  # the candidate's number
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    truncated: bool = False
    source: str = ""  # greedy | sample N | retry N
    result: str = ""  # a candidate's outcome: 'N row(s)' or its error


def summarize(columns: list[str], rows: list[tuple], truncated: bool, note: str = "") -> str:
    if not rows:
        return "The query returned no rows."
    if len(rows) == 1 and len(columns) == 1:
        return f"{format_value(rows[0][0])}"
    shown = "; ".join(", ".join(format_value(v) for v in row) for row in rows[:5])
    more = f" ({note})" if truncated and note else " (more rows exist)" if truncated else ""
    return f"{len(rows)} row(s){more}: {shown}" + (" …" if len(rows) > 5 else "")


def _outcome(candidate: Candidate) -> str:
    if not candidate.ran:
        return f"error: {candidate.error}"
    return f"{len(candidate.rows)} row(s)" + (f" ({candidate.note})" if candidate.note else "")


def run_agent(chat, db: Database, question: str, context: PromptContext,
              settings: AnswerSettings | None = None, cancel: CancelToken | None = None) -> Iterator[AgentStep]:
    """Candidates as they run, then the chosen rows and the answer (or why there is none)."""
    settings = settings or AnswerSettings()
    number = 0
    for step in answer_steps(chat_writer(chat), db, question, context, settings, cancel):
        if isinstance(step, Candidate):
            number += 1
            yield AgentStep("candidate", step.sql, number, list(step.columns), list(step.rows), step.truncated,
                            step.source, _outcome(step))
            continue
        chosen = step.chosen
        if chosen is None:
            yield AgentStep("gave_up", step.failure(), number)
            return
        ran = sum(1 for c in step.candidates if c.ran)
        agreement = f"{step.vote.votes} of {len(step.candidates)} candidate(s) agree" + (
            f", {len(step.candidates) - ran} failed" if ran < len(step.candidates) else "")
        if step.approved:
            agreement = "the query of an approved pair that asks this question"
        elif step.unmatched:  # the grammar only lets real names through: say when none was asked about
            agreement += ("; no word of the question names a table, column or value of this database, "
                          "so check that the query answers it")
        number = step.vote.winner + 1
        yield AgentStep("rows", f"{_outcome(chosen)}; {agreement}", number, list(chosen.columns), list(chosen.rows),
                        chosen.truncated, chosen.source)
        yield AgentStep("answer", summarize(chosen.columns, chosen.rows, chosen.truncated, chosen.note), number,
                        source=chosen.source)
        return
