"""What SQL answering shows the model and how it answers, for `engram ask`, `engram eval`, chat's SQL
agent and the Evaluate page alike: the schema card, retrieved examples (a project's approved SQL pairs,
else those saved with the model's run), and the candidates-and-vote settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.db import Database
from engine.project import ProjectStore
from engine.project.pairs import QAPair
from engine.qa.chat_format import PromptContext
from engine.sqlgen.answer import AnswerSettings


@dataclass
class AnswerOptions:
    k: int | None = None  # candidates per question; None: by device
    examples: int | None = None  # retrieved examples in the prompt; None: the run's, or the default
    schema: bool = True
    grammar: bool = True
    voting: bool = True
    edited_examples: bool = True  # the retrieved examples' queries with the question's values join the vote
    sketch: bool = True  # the question's plain reading as SQL, written by no model, joins the vote
    approved_answers: bool = True  # a question an approved pair asks gets that pair's query
    retries: int = 1
    max_rows: int = 100

    def settings(self) -> AnswerSettings:
        from engine.sqlgen.answer import default_k

        return AnswerSettings(k=self.k or default_k(), grammar=self.grammar, voting=self.voting,
                              edited_examples=self.edited_examples, sketch=self.sketch,
                              approved_answers=self.approved_answers,
                              retries=self.retries, max_rows=self.max_rows)


def project_examples(store: ProjectStore | None) -> list[QAPair]:
    """A project's pairs that serve as retrieved examples (approved, valid SQL of the training split)."""
    from engine.sqlgen.grounding import EXAMPLES_WHERE

    return store.pairs(EXAMPLES_WHERE) if store is not None else []


def sql_context(db: Database, model: str | Path | None = None, examples: list[QAPair] | None = None,
                options: AnswerOptions = AnswerOptions(), name: str | None = None) -> PromptContext:
    """The prompt context for SQL answers on a live database, grounded for `model`: `examples` (a
    project's, `project_examples`) are retrieved from, else those saved with the model's run."""
    from engine.sqlgen.grounding import grounding_for

    grounding = grounding_for(db, model, examples or None, options.examples)
    grounding.show_schema = options.schema
    return PromptContext(name or Path(db.path).stem, db.dialect, grounding)
