"""LLM generator: a local model proposes new question/SQL pairs "similar but different" from a few
curated examples, given the schema; every proposal is validated by running it read-only.

Each round shows the model the compact schema and a seeded sample of examples, asks for a few new
pairs in a fixed "Question:/SQL:" format, parses them, drops ones already known (same normalized
question or same canonical SQL) and validates the rest. The generator yields one `Proposal` per
parsed pair, so callers stream progress and can stop between rounds (cancel token).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Callable, Iterator

from engine.cancel import CancelToken
from engine.db import Database
from engine.project.pairs import QAPair
from engine.qa.chat_format import DIALECT_NAMES
from engine.qa.dedupe import canonical_sql, normalize_question
from engine.qa.heldout import heldout_index_for
from engine.qa.validate import Validation, ValidationConfig, validate_sql

Complete = Callable[[list[dict[str, str]], int], str]  # (messages, seed) -> model text

# A one-line question, then SQL up to a blank line, the next "Question:" or another "Label:" line.
_BLOCK = re.compile(r"Question:[ \t]*(?P<q>[^\n]+?)[ \t]*\n\s*SQL:\s*(?P<sql>.+?)"
                    r"(?=\n\s*\n|\n\s*[A-Za-z]{1,12}:|\Z)", re.S | re.I)


@dataclass(frozen=True)
class LLMGenerationConfig:
    rounds: int = 5
    examples_per_round: int = 4
    pairs_per_round: int = 4
    temperature: float = 0.8
    max_tokens: int = 400
    seed: int = 0


@dataclass
class Proposal:
    round: int
    question: str
    sql: str
    validation: Validation
    duplicate: bool = False

    @property
    def accepted(self) -> bool:
        return self.validation.ok and not self.duplicate

    def to_pair(self) -> QAPair:
        return QAPair(self.question, self.sql, kind="sql", sql=self.sql, source="llm", template="llm",
                      **self.validation.as_pair_fields())


def compact_schema(db: Database, only: set[str] | None = None) -> str:
    """One line per table: name(column TYPE, ...) plus its foreign keys; `only` limits it to some
    tables (small models lose the thread in a long schema)."""
    lines = []
    for table in db.schema().tables:
        if only and table.name.lower() not in only:
            continue
        columns = ", ".join(f"{c.name} {c.type}".strip() for c in table.columns)
        refs = "; ".join(f"{','.join(fk.columns)} -> {fk.ref_table}.{','.join(fk.ref_columns)}"
                         for fk in table.foreign_keys)
        lines.append(f"{table.name}({columns})" + (f"  [{refs}]" if refs else ""))
    return "\n".join(lines)


def build_messages(db: Database, examples: list[QAPair], n_new: int) -> list[dict[str, str]]:
    dialect = DIALECT_NAMES.get(db.dialect, db.dialect)
    shots = "\n\n".join(f"Question: {e.question}\nSQL: {e.sql or e.answer}" for e in examples)
    tables = {t.strip().lower() for e in examples for t in (e.tables or "").split(",") if t.strip()}
    return [
        {"role": "system", "content": f"You write question and {dialect} SQL pairs about one database."},
        {"role": "user", "content": f"Tables:\n{compact_schema(db, tables or None)}\n\nExamples:\n{shots}\n\n"
                                    f"Write {n_new} new, different questions about these tables, each followed "
                                    "by its SQL, in the same format."},
    ]


def _pick_examples(rng: random.Random, examples: list[QAPair], n: int) -> list[QAPair]:
    """Examples about one table (chosen at random), so the prompt's schema stays small."""
    by_table: dict[str, list[QAPair]] = {}
    for example in examples:
        first = (example.tables or "").split(",")[0].strip().lower()
        by_table.setdefault(first, []).append(example)
    group = by_table[rng.choice(sorted(by_table))]
    return rng.sample(group, min(n, len(group)))


def parse_proposals(text: str) -> list[tuple[str, str]]:
    """(question, sql) pairs from the model's "Question:/SQL:" text; code fences and ';' trimmed."""
    found = []
    for match in _BLOCK.finditer(text):
        question = " ".join(match.group("q").split())
        sql = match.group("sql").strip().strip("`").strip()
        sql = re.sub(r"^sql\s*\n", "", sql, flags=re.I).strip().rstrip(";").strip()
        if question and sql:
            found.append((question, sql))
    return found


def generate_llm_pairs(db: Database, complete: Complete, examples: list[QAPair],
                       known: list[QAPair] = (), config: LLMGenerationConfig = LLMGenerationConfig(),
                       validation: ValidationConfig = ValidationConfig(),
                       cancel: CancelToken | None = None) -> Iterator[Proposal]:
    """Yield every parsed proposal, validated; `accepted` ones are new and run correctly."""
    if not examples:
        raise ValueError("The LLM generator needs at least one example pair (approve a few SQL pairs first)")
    cancel = cancel or CancelToken()
    rng = random.Random(config.seed)
    seen_questions = {normalize_question(p.question) for p in [*known, *examples]}
    seen_sql = {canonical_sql(p.sql, db.dialect) for p in [*known, *examples] if p.sql}
    heldout = heldout_index_for(db)
    if heldout is not None:  # a proposal repeating a held-out question counts as a duplicate
        seen_questions |= heldout.questions
        seen_sql |= heldout.sql
    for round_ in range(config.rounds):
        cancel.raise_if_cancelled("LLM generation")
        shots = _pick_examples(rng, list(examples), config.examples_per_round)
        text = complete(build_messages(db, shots, config.pairs_per_round), config.seed * 1000 + round_)
        for question, sql in parse_proposals(text):
            checked = validate_sql(db, sql, validation)
            key_q, key_sql = normalize_question(question), canonical_sql(sql, db.dialect)
            duplicate = key_q in seen_questions or (key_sql is not None and key_sql in seen_sql)
            proposal = Proposal(round_, question, sql, checked, duplicate)
            if proposal.accepted:
                seen_questions.add(key_q)
                seen_sql.add(key_sql)
            yield proposal


def llama_completer(chat, config: LLMGenerationConfig = LLMGenerationConfig()) -> Complete:
    """Adapt a LlamaChat to the `Complete` signature."""
    from engine.models.llama_runtime import Sampling

    def complete(messages: list[dict[str, str]], seed: int) -> str:
        return chat.complete(messages, Sampling(temperature=config.temperature, max_tokens=config.max_tokens,
                                                seed=seed))

    return complete
