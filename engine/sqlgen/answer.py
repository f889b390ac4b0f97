"""Answering a question with SQL: the one place the SQL agent, chat's SQL mode and evaluation share.

A question an approved pair asks word for word is answered with that pair's curated query (a verified
query: the model never trained on a prompt showing a question's own query, and the analyst already
approved the answer). Otherwise the retrieved examples' queries edited for the question and the
question's sketched reading (written by no model) are run first, then the model writes k candidates for
the grounded prompt (the greedy one, then samples), each limited by the schema grammar where the runtime supports one; every candidate is
checked read-only and run under the usual row, byte and time caps; failures are dropped and the answer
is the result most candidates agree on. When none runs, the model gets the error back for a corrected
query (the agent's retry). k is lowered on the fly when the first candidate shows the rest would not fit
the latency budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Protocol

from engine.cancel import CancelToken
from engine.db import Database
from engine.db.errors import DatabaseError
from engine.models.llama_runtime import Sampling
from engine.qa.chat_format import PromptContext, extract_sql, messages_for
from engine.sqlgen.adapt import adapted_examples, column_values
from engine.sqlgen.grammar import SqlGrammar, compile_grammar, sql_grammar
from engine.sqlgen.sketch import sketch_queries
from engine.sqlgen.terms import terms
from engine.sqlgen.voting import Vote, vote

RETRY_PREFIX = "That query failed:"  # the feedback turn, not a new question (see mome routing)
EXAMPLE_LIKENESS = 0.5  # shared content words over all (Jaccard) at which a question is asked like an example


def asked_like_an_example(question: str, examples) -> bool:
    """Whether the question shares most of its content words with a retrieved example's: then that example,
    edited, is the likelier reading of it; otherwise the question's sketched reading is."""
    words = set(terms(question))
    for example in examples:
        theirs = set(terms(example.question))
        if words and len(words & theirs) >= EXAMPLE_LIKENESS * len(words | theirs):
            return True
    return False


def default_k() -> int:
    """Candidates per question: 8 where llama.cpp offloads to a GPU, 4 on a CPU."""
    import llama_cpp

    return 8 if llama_cpp.llama_supports_gpu_offload() else 4


@dataclass(frozen=True)
class AnswerSettings:
    k: int = 4  # candidates written (1 = greedy only)
    temperature: float = 0.8  # of the sampled candidates
    grammar: bool = True  # limit names to the schema's (llama.cpp only)
    voting: bool = True  # False: the first candidate that runs is the answer
    edited_examples: bool = True  # the retrieved examples' queries with the question's values join the vote
    sketch: bool = True  # the question's plain reading as SQL (engine/sqlgen/sketch.py) joins the vote
    latency_budget_s: float = 3.0  # no new candidate once the estimate says it would not fit (3 s against 6 s:
    # no lower accuracy on the generated dev questions, bench/results/sql-latency)
    retries: int = 1  # corrected queries asked for when no candidate runs
    approved_answers: bool = True  # a question an approved pair asks is answered with its query (not in evaluation)
    max_rows: int = 100
    timeout_s: float = 30.0
    max_tokens: int = 200


@dataclass
class Candidate:
    sql: str
    source: str  # greedy | sample N | retry N
    error: str | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    truncated: bool = False
    note: str = ""
    seconds: float = 0.0

    @property
    def ran(self) -> bool:
        return self.error is None


@dataclass
class SqlAnswer:
    question: str
    candidates: list[Candidate]
    vote: Vote
    grammar_used: bool
    tables: tuple[str, ...] = ()
    seconds: float = 0.0
    unmatched: bool = False  # no word of the question names a table, column or value of the database
    approved: bool = False  # the answer is the query of an approved pair asking this question

    @property
    def chosen(self) -> Candidate | None:
        return self.candidates[self.vote.winner] if self.vote.winner is not None else None

    @property
    def sql(self) -> str:
        """The chosen query, or the first candidate's when none ran (its error is the answer's)."""
        chosen = self.chosen or (self.candidates[0] if self.candidates else None)
        return chosen.sql if chosen else ""

    def failure(self) -> str:
        errors = "; ".join(f"{c.source}: {c.error}" for c in self.candidates if c.error)
        return f"no query found that runs ({errors})" if errors else "no query found that runs"


class Writer(Protocol):
    """What writes a candidate: chat messages, sampling and an optional grammar in, text out."""

    def __call__(self, messages: list[dict[str, str]], sampling: Sampling, grammar: SqlGrammar | None) -> str: ...


def chat_writer(chat) -> Writer:
    """A writer over a LlamaChat (or memory experts through llama.cpp): grammar-constrained."""
    compiled: dict[str, object] = {}

    def write(messages, sampling, grammar):
        if grammar is None:
            text = chat.complete(messages, sampling)
        else:
            if grammar.text not in compiled:
                compiled[grammar.text] = compile_grammar(chat, grammar) if hasattr(chat, "grammar") else None
            text = chat.complete(messages, sampling, grammar=compiled[grammar.text])
        # a sample reuses the prompt's cached keys and values: what it costs is its decoding
        write.decode_s = getattr(chat, "last_decode_s", None)
        return text

    write.supports_grammar = True
    return write


def run_candidate(db: Database, sql: str, source: str, settings: AnswerSettings, cancel: CancelToken,
                  seconds: float) -> Candidate:
    """One candidate checked read-only and run under the caps (an error is recorded, never raised)."""
    if not sql.strip():
        return Candidate(sql, source, "the reply has no query", seconds=seconds)
    try:
        result = db.query(sql, max_rows=settings.max_rows, timeout_s=settings.timeout_s, cancel=cancel)
    except DatabaseError as error:  # a reply nested too deeply to parse is a syntax error (engine/db/readonly.py)
        return Candidate(sql, source, str(error), seconds=seconds)
    return Candidate(sql, source, None, list(result.columns), list(result.rows), result.truncated, result.note,
                     seconds)


def answer_steps(write: Writer, db: Database, question: str, context: PromptContext,
                 settings: AnswerSettings = AnswerSettings(), cancel: CancelToken | None = None,
                 exclude_sql: str | None = None) -> Iterator[Candidate | SqlAnswer]:
    """Each candidate as soon as it has run, then the `SqlAnswer`. `exclude_sql`: a pair's own query,
    never shown as an example (see messages_for)."""
    cancel = cancel or CancelToken()
    started = time.monotonic()
    approved = (context.grounding.store.approved_query(question, exclude_sql)
                if settings.approved_answers and context.grounding is not None else None)
    if approved is not None:
        stored = run_candidate(db, approved.sql, "approved pair", settings, cancel, 0.0)
        yield stored
        if stored.ran:  # else the database changed under the pair: the model answers as usual
            yield SqlAnswer(question, [stored], vote([(stored.rows, stored.columns)]), False, approved.tables,
                            time.monotonic() - started, approved=True)
            return
    grounded = context.grounded(question, exclude_sql)
    messages = messages_for(None, context, question=question, kind="sql", with_answer=False, grounded=grounded)
    grammar = None
    if settings.grammar and getattr(write, "supports_grammar", False) and context.grounding is not None:
        grammar = sql_grammar(context.grounding.card, list(grounded.tables) if grounded else None,
                              context.grounding.store.aliases)
    greedy = Sampling(temperature=0.0, max_tokens=settings.max_tokens, stop=("\n\n",))  # a blank line ends a query
    k = settings.k if getattr(write, "can_sample", True) else 1
    candidates: list[Candidate] = [stored] if approved is not None else []  # a pair's query that failed counts

    def attempt(turns, sampling, source) -> Candidate:
        cancel.raise_if_cancelled("the SQL answer")
        t0 = time.monotonic()
        sql = extract_sql(write(turns, sampling, grammar))
        candidate = run_candidate(db, sql, source, settings, cancel, time.monotonic() - t0)
        candidates.append(candidate)
        return candidate

    examples = grounded.examples if grounded is not None else ()

    def edited_examples() -> Iterator[Candidate]:
        if settings.edited_examples and settings.voting and examples:
            for edited in adapted_examples([e.sql for e in examples], question, column_values(db), db.dialect,
                                           db.schema()):
                cancel.raise_if_cancelled("the SQL answer")
                source = f"example {edited.example + 1}" + (", edited" if edited.changed else "")
                candidates.append(run_candidate(db, edited.sql, source, settings, cancel, 0.0))  # written by no model
                yield candidates[-1]

    def sketches() -> Iterator[Candidate]:
        if settings.sketch and settings.voting:
            for sql in sketch_queries(db, question):
                cancel.raise_if_cancelled("the SQL answer")
                candidates.append(run_candidate(db, sql, "sketch", settings, cancel, 0.0))  # written by no model
                yield candidates[-1]

    # queries written by no model come first, so a tie goes to them: the edited examples first for a question
    # asked like an example, else the sketch (chosen on the dev questions, bench/results/quality/HISTORY.md)
    if asked_like_an_example(question, examples):
        yield from edited_examples()
        yield from sketches()
    else:
        yield from sketches()
        yield from edited_examples()
    first = attempt(messages, greedy, "greedy")
    yield first
    if settings.voting or not first.ran:
        for i in range(1, k):
            estimate = getattr(write, "decode_s", None) or candidates[-1].seconds
            if time.monotonic() - started + estimate > settings.latency_budget_s:
                break  # k lowered: the next candidate would not fit the latency budget
            if not settings.voting and any(c.ran for c in candidates):
                break
            yield attempt(messages, replace(greedy, temperature=settings.temperature, seed=i), f"sample {i}")
    turns = messages
    for retry in range(1, settings.retries + 1):
        if any(c.ran for c in candidates):
            break
        last = candidates[-1]
        turns = turns + [{"role": "assistant", "content": last.sql},
                         {"role": "user", "content": f"{RETRY_PREFIX} {last.error}. Reply with one corrected query."}]
        yield attempt(turns, greedy, f"retry {retry}")
    tally = vote([(c.rows, c.columns) if c.ran else None for c in candidates])
    unmatched = context.grounding is not None and not context.grounding.selector.matches(question)
    yield SqlAnswer(question, candidates, tally, grammar is not None, grounded.tables if grounded else (),
                    time.monotonic() - started, unmatched)


def answer_sql(write: Writer, db: Database, question: str, context: PromptContext,
               settings: AnswerSettings = AnswerSettings(), cancel: CancelToken | None = None,
               exclude_sql: str | None = None, on_candidate: Callable[[Candidate], None] | None = None) -> SqlAnswer:
    """The whole answer (see answer_steps)."""
    for step in answer_steps(write, db, question, context, settings, cancel, exclude_sql):
        if isinstance(step, SqlAnswer):
            return step
        if on_candidate:
            on_candidate(step)
    raise AssertionError("answer_steps ends with an SqlAnswer")
