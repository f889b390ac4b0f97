"""LLM paraphrases of template questions, kept only when they still mean the same query.

Templates phrase every question in a few fixed frames; an analyst does not. A local model (best a
stronger one than the bundled 135M) rewords each template SQL question; the SQL stays the
template's. A rewording that drifted in meaning is caught by execution: the same model writes SQL for
the rewording alone (schema in the prompt), and the rewording is kept only when that SQL runs and
returns the template query's result. Kept rewordings join the template pair's intent and split, so a
split never separates them.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Iterator

from engine.cancel import CancelToken
from engine.db import Database
from engine.project.pairs import QAPair
from engine.qa.chat_format import DIALECT_NAMES, extract_sql
from engine.qa.dedupe import normalize_question
from engine.qa.heldout import heldout_index_for
from engine.qa.llm_generate import Complete, compact_schema
from engine.qa.validate import ValidationConfig, validate_sql

_NUMBERING = re.compile(r"^\s*(?:[-*•]|\d+[.)]|rewording\s*\d*:?|question:?)\s*", re.I)


@dataclass(frozen=True)
class ParaphraseConfig:
    per_question: int = 3  # rewordings asked for per template question
    max_questions: int = 100  # template questions reworded in one pass
    seed: int = 0


@dataclass
class ParaphraseCheck:
    source: QAPair
    question: str
    sql: str  # what the model wrote for the rewording alone
    verdict: str  # kept | changed_meaning | invalid_sql | duplicate

    @property
    def kept(self) -> bool:
        return self.verdict == "kept"

    def to_pair(self) -> QAPair:
        """The rewording as a pair with the template's SQL, in its intent and split."""
        s = self.source
        return QAPair(self.question, s.answer, kind="sql", sql=s.sql, source="llm", intent=s.intent, tables=s.tables,
                      template="llm.paraphrase", split=s.split, validation=s.validation, result_hash=s.result_hash,
                      result_preview=s.result_preview)


def reword_messages(question: str, n: int) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You rewrite questions about a database the way busy analysts type them."},
            {"role": "user", "content": f"Rewrite this question {n} different ways, keeping exactly its meaning: "
                                        f"other words, other word order, shorter. One per line, nothing else.\n\n"
                                        f"{question}"}]


def sql_messages(db: Database, question: str, tables: set[str] | None) -> list[dict[str, str]]:
    dialect = DIALECT_NAMES.get(db.dialect, db.dialect)
    return [{"role": "system", "content": f"You write {dialect} queries. Reply with one SQL query and nothing else."},
            {"role": "user", "content": f"Tables:\n{compact_schema(db, tables)}\n\nQuestion: {question}"}]


def parse_rewordings(text: str) -> list[str]:
    """Lines of the model's reply, numbering, bullets and quotes removed."""
    found = []
    for line in text.splitlines():
        line = _NUMBERING.sub("", line).strip().strip('"').strip("'").strip()
        if len(line.split()) >= 2 and not line.lower().startswith(("here are", "sure")):
            found.append(line)
    return found


def paraphrase_pairs(db: Database, complete: Complete, pairs: list[QAPair], known: list[QAPair] = (),
                     config: ParaphraseConfig = ParaphraseConfig(), validation: ValidationConfig = ValidationConfig(),
                     cancel: CancelToken | None = None) -> Iterator[ParaphraseCheck]:
    """Every rewording of the validated SQL pairs, with its verdict; only `kept` ones mean the same query."""
    cancel = cancel or CancelToken()
    seen = {normalize_question(p.question) for p in [*known, *pairs]}
    heldout = heldout_index_for(db)
    if heldout is not None:
        seen |= heldout.questions
    sources = [p for p in pairs if p.kind == "sql" and p.validation == "ok" and p.result_hash]
    rng = random.Random(config.seed)
    for number, pair in enumerate(rng.sample(sources, min(config.max_questions, len(sources)))):
        cancel.raise_if_cancelled("LLM paraphrasing")
        text = complete(reword_messages(pair.question, config.per_question), config.seed * 1000 + number)
        tables = {t.strip().lower() for t in (pair.tables or "").split(",") if t.strip()} or None
        for question in parse_rewordings(text)[:config.per_question]:
            key = normalize_question(question)
            if key in seen:
                yield ParaphraseCheck(pair, question, "", "duplicate")
                continue
            sql = extract_sql(complete(sql_messages(db, question, tables), config.seed * 1000 + number))
            checked = validate_sql(db, sql, validation)
            if not checked.ok:
                verdict = "invalid_sql"
            elif checked.result_hash != pair.result_hash:
                verdict = "changed_meaning"
            else:
                verdict = "kept"
                seen.add(key)
            yield ParaphraseCheck(pair, question, sql, verdict)
