"""The generation pipeline: template intents → validated QA pairs in the project store.

1) build intents from the schema and data (engine/qa/templates.py);
2) run every SQL read-only; data facts take their answer from the result, SQL pairs keep the
   validation status; intents whose SQL fails are kept only when `keep_invalid` (for review);
Intents that repeat a question or gold query of the database's held-out set (evals/) are left out.
3) write the trained phrasing of each intent as a pair, then its other phrasings as held-out
   paraphrases pointing at it (split "paraphrase", `paraphrase_of`).
Progress goes to a callback as (done, total); the cancel token is checked between intents.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from engine.cancel import CancelToken
from engine.db import Database
from engine.project import ProjectStore
from engine.project.pairs import QAPair
from engine.qa.heldout import heldout_index_for
from engine.qa.phrasing import format_value
from engine.qa.templates import Intent, TemplateConfig, TemplateGenerator
from engine.qa.validate import ValidationConfig, validate_sql

Progress = Callable[[int, int], None]


@dataclass
class GenerationReport:
    intents: int = 0
    added: int = 0
    paraphrases: int = 0
    invalid: int = 0
    skipped_existing: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)  # what could not be asked about, and why
    held_out: int = 0  # intents left out because they repeat a held-out question or gold query

    def summary(self) -> str:
        """What the CLI prints and the Dataset page shows: counts, then what was left out and why."""
        lines = [f"{self.intents} intents, {self.added} new pairs (+{self.paraphrases} paraphrases), {self.invalid} "
                 f"failed validation, {self.skipped_existing} already present [{self.seconds:.1f}s]"]
        if self.held_out:
            lines.append(f"held out: {self.held_out} intent(s) left out, they repeat questions of evals/ (never trained)")
        lines += [f"skipped: {note}" for note in self.skipped]
        return "\n".join(lines)


def unusable_tables(profiles) -> list[str]:
    """A line for each table none of whose columns a question can be asked about (only binary or
    unrecognised columns), so the analyst knows why it got no data or SQL pairs."""
    notes = []
    for t in profiles:
        if all(c.role in ("other", "key") for c in t.columns):
            kinds = ", ".join(sorted({c.type or "untyped" for c in t.columns if c.role == "other"})) or "keys only"
            notes.append(f"{t.name}: only schema facts; no column with values to ask about ({kinds})")
    return notes


def intent_to_pairs(intent: Intent, db: Database, validation: ValidationConfig,
                    paraphrases: int) -> list[QAPair]:
    """The trained pair first, then up to `paraphrases` held-out rewordings (same answer)."""
    fields = dict(kind=intent.kind, sql=intent.sql, source="template", intent=intent.key,
                  tables=",".join(intent.tables), template=intent.family)
    answer = intent.answer
    if intent.sql:
        checked = validate_sql(db, intent.sql, validation)
        fields.update(checked.as_pair_fields())
        if intent.kind == "data":
            if checked.ok and len(checked.columns) == 1 and len(checked.rows) == 1:
                answer = format_value(checked.rows[0][0])
            elif checked.ok:
                fields.update(validation="too_many_rows", validation_message="A data fact needs one value")
            if answer is None or answer == "NULL":
                answer = answer or ""
                if checked.ok:
                    fields.update(validation="empty", validation_message="The value is NULL")
    pairs = [QAPair(intent.questions[0], answer or "", **fields)]
    for question in intent.questions[1:1 + paraphrases]:
        pairs.append(QAPair(question, answer or "", split="paraphrase", **fields))
    return pairs


def generate_template_pairs(store: ProjectStore, db: Database, config: TemplateConfig = TemplateConfig(),
                            validation: ValidationConfig = ValidationConfig(), paraphrases: int = 1,
                            keep_invalid: bool = False, progress: Progress | None = None,
                            cancel: CancelToken | None = None) -> GenerationReport:
    """Add template pairs to the store; intents already in the store are skipped (re-running is safe)."""
    started = time.monotonic()
    cancel = cancel or CancelToken()
    report = GenerationReport()
    existing = {p.intent for p in store.pairs("source = 'template' AND split != 'paraphrase'")}
    heldout = heldout_index_for(db)
    generator = TemplateGenerator(db, config)
    report.skipped = unusable_tables(generator.profiles)
    intents = list(generator.intents())
    report.intents = len(intents)
    batch: list[list[QAPair]] = []
    for done, intent in enumerate(intents, 1):
        cancel.raise_if_cancelled("generation")
        if intent.key in existing:
            report.skipped_existing += 1
        elif heldout is not None and heldout.repeats(intent.questions, intent.sql, db.dialect):
            report.held_out += 1
        else:
            pairs = intent_to_pairs(intent, db, validation, paraphrases)
            if pairs[0].validation not in (None, "ok"):
                report.invalid += 1
                if not keep_invalid:
                    pairs = []
            if pairs:
                batch.append(pairs)
        if progress:
            progress(done, len(intents))
        if len(batch) >= 100 or done == len(intents):
            report.added, report.paraphrases = _store(store, batch, report.added, report.paraphrases)
            batch = []
    report.seconds = time.monotonic() - started
    return report


def _store(store: ProjectStore, groups: list[list[QAPair]], added: int, paraphrased: int) -> tuple[int, int]:
    mains = [g[0] for g in groups]
    store.add_pairs(mains)
    rest = []
    for group in groups:
        for extra in group[1:]:
            extra.paraphrase_of = group[0].id
            rest.append(extra)
    store.add_pairs(rest)
    return added + len(mains), paraphrased + len(rest)
