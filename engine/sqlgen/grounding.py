"""What a SQL prompt is grounded in: the schema card, the tables chosen for the question and the
retrieved examples. Built from the live database (and a project's approved pairs), saved in a run
folder as grounding.json so the training child, export parity, chat and evaluation render the same
prompt for the same question."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.db import Database
from engine.project.pairs import QAPair
from engine.sqlgen.examples import DEFAULT_K, Example, ExampleStore
from engine.sqlgen.schema_card import SchemaCard, schema_card
from engine.sqlgen.table_selection import SCHEMA_BUDGET_CHARS, Embedder, TableSelector

GROUNDING_FILE = "grounding.json"
EXAMPLES_WHERE = "status = 'approved' AND split = 'train' AND kind = 'sql'"  # a project's pairs the store holds


@dataclass(frozen=True)
class GroundedPrompt:
    tables: tuple[str, ...]
    schema: str
    examples: tuple[Example, ...]

    def text(self) -> str:
        """The block between the SQL system prompt's first and last sentence."""
        parts = ["Tables:\n" + self.schema] if self.schema else []
        if self.examples:
            parts.append("Examples:\n" + "\n".join(f"Q: {e.question}\nSQL: {e.sql}" for e in self.examples))
        return "\n".join(parts)


@dataclass
class SqlGrounding:
    card: SchemaCard
    store: ExampleStore = field(default_factory=lambda: ExampleStore([]))
    k: int = DEFAULT_K
    budget_chars: int = SCHEMA_BUDGET_CHARS
    embedder: Embedder | None = None
    show_schema: bool = True  # False: tables still chosen (for the grammar) but not shown (an ablation)

    def __post_init__(self) -> None:
        self.selector = TableSelector(self.card, self.budget_chars, self.embedder)

    @classmethod
    def of_database(cls, db: Database, pairs: list[QAPair] = (), k: int = DEFAULT_K,
                    embedder: Embedder | None = None) -> "SqlGrounding":
        """The grounding for a database: its card, and a store of the approved SQL pairs given (a
        database's shipped held-out questions are kept out of the store)."""
        from engine.qa.heldout import heldout_index_for

        store = ExampleStore.of_pairs([p for p in pairs if p.status == "approved"], db.dialect, heldout_index_for(db))
        return cls(schema_card(db), store, k, embedder=embedder)

    def prompt(self, question: str, exclude_sql: str | None = None) -> GroundedPrompt:
        examples = self.store.nearest(question, self.k, exclude_sql=exclude_sql)
        if not examples:  # no example's question shares a word: examples over the tables the question names
            named = [t for t, score in self.selector.scores(question).items() if score > 0]
            examples = self.store.over_tables(question, named, self.k, exclude_sql=exclude_sql)
        tables = self.selector.select(question, [t for e in examples for t in e.tables])
        return GroundedPrompt(tuple(tables), self.card.render(tables) if self.show_schema else "", tuple(examples))

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / GROUNDING_FILE
        path.write_text(json.dumps({"card": self.card.to_json(), "examples": self.store.to_json(), "k": self.k,
                                    "budget_chars": self.budget_chars}, indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "SqlGrounding":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        card = SchemaCard.from_json(data["card"])
        return cls(card, ExampleStore.from_json(data["examples"], card.dialect), data["k"], data["budget_chars"])


def find_grounding(*places: str | Path | None) -> Path | None:
    """The grounding.json saved with a run: in a given folder, beside a given file, or one level up
    (an exported GGUF sits in the run's export/ folder)."""
    for place in places:
        if not place:
            continue
        path = Path(place)
        folder = path if path.is_dir() else path.parent
        for candidate in (folder / GROUNDING_FILE, folder.parent / GROUNDING_FILE):
            if candidate.is_file():
                return candidate
    return None


def run_context(config) -> "PromptContext":
    """A run's prompt context (a TuneConfig): its database's name and dialect, and the grounding saved
    in its folder when it trained with one — what training, export parity and chat must all show."""
    from engine.qa.chat_format import PromptContext

    path = Path(config.output_dir) / GROUNDING_FILE if config.output_dir else None
    grounding = SqlGrounding.load(path) if path is not None and path.is_file() else None
    return PromptContext(config.database_name, config.dialect, grounding)


def copy_grounding(run_dir: str | Path, out: str | Path) -> None:
    """An export folder carries its run's grounding, so chat and evaluation of the GGUF show the model
    the prompts it learned from."""
    source = Path(run_dir) / GROUNDING_FILE
    target = Path(out) / GROUNDING_FILE
    if source.is_file() and source.resolve() != target.resolve():
        Path(out).mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())


def grounding_for(db: Database, model: str | Path | None = None, pairs: list[QAPair] | None = None,
                  k: int | None = None) -> SqlGrounding:
    """The grounding chat, `engram ask` and evaluation use with a live database: its card, and as
    examples the approved SQL pairs given (a project's), else those saved with the model's run."""
    saved_path = find_grounding(model) if model and str(model) != "bundled" else None
    saved = SqlGrounding.load(saved_path) if saved_path else None
    if pairs is not None or saved is None:
        grounding = SqlGrounding.of_database(db, pairs or [], k if k is not None else DEFAULT_K)
    else:
        grounding = SqlGrounding(schema_card(db), saved.store, saved.k if k is None else k, saved.budget_chars)
    return grounding
