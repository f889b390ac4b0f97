"""Retrieved examples edited for the question: each example's query with the question's own column put
in place of one the question does not name (and its table, in a query over one table), then the
question's own values in place of the example's (a text value of the same column, the question's
numbers, its year). A small model shown an example often copies it whole, names and values included;
the edited query is what that copy should have been, and it joins the vote as one more candidate that
must run and agree."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import sqlglot
from sqlglot import exp

from engine.db import Database
from engine.db.database import quote_identifier
from engine.db.errors import DatabaseError
from engine.db.schema import Schema, Table
from engine.qa.profile import is_numeric_type
from engine.sqlgen.schema_card import sql_name
from engine.sqlgen.terms import terms

MAX_VALUES = 500  # distinct values of a column searched for the question's words
MAX_VALUE_CHARS = 60
_NUMBER = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)(?![0-9])")
_YEAR = re.compile(r"(?<![0-9])((?:19|20)\d\d)(?![0-9])")
_DATE = re.compile(r"^((?:19|20)\d\d)(-\d\d(?:-\d\d)?(?:[ T].*)?)?$")
_NUMBER_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
                 "eight": "8", "nine": "9", "ten": "10", "twenty": "20"}
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In, exp.Between, exp.Like, exp.ILike)

ValuesOf = Callable[[str, str], list[str]]  # (table, column) -> the column's distinct text values


@dataclass(frozen=True)
class Adapted:
    sql: str
    example: int  # which retrieved example (0 = the nearest)
    changed: bool  # False: the example's query as it was (the question repeats its values)


def column_values(db: Database) -> ValuesOf:
    """The distinct short text values of a column, read once per column (capped)."""
    cache: dict[tuple[str, str], list[str]] = {}

    def values(table: str, column: str) -> list[str]:
        key = (table.lower(), column.lower())
        if key not in cache:
            sql = (f"SELECT DISTINCT {quote_identifier(column)} FROM {quote_identifier(table)} "
                   f"WHERE {quote_identifier(column)} IS NOT NULL LIMIT {MAX_VALUES}")
            try:
                rows = db.query(sql, max_rows=MAX_VALUES, timeout_s=5.0).rows
            except DatabaseError:
                rows = []
            cache[key] = [r[0] for r in rows if isinstance(r[0], str) and 0 < len(r[0]) <= MAX_VALUE_CHARS]
        return cache[key]

    return values


def _mentions(question: str, value: str) -> int:
    """Where the question names the value as a whole word or phrase (case ignored); -1 if it does not."""
    if len(value) < 2 or value.isdigit():
        return -1
    exact = value.isupper() and len(value) <= 3  # a code like 'US' or 'NO' is not the word "us" or "no"
    found = re.search(r"(?<![A-Za-z0-9])" + re.escape(value) + r"(?![A-Za-z0-9])", question,
                      0 if exact else re.IGNORECASE)
    return found.start() if found else -1


def _column_of(literal: exp.Literal) -> exp.Column | None:
    """The column a literal is compared with (col = 'x', col IN ('x'), col LIKE 'x', col > 3)."""
    parent = literal.parent
    if not isinstance(parent, _COMPARISONS):
        return None
    column = parent.this
    return column if isinstance(column, exp.Column) else None


def _table_of(column: exp.Column, tree: exp.Expression) -> str | None:
    """The table a column belongs to: by its qualifier, or the query's only table."""
    tables = list(tree.find_all(exp.Table))
    if column.table:
        for table in tables:
            if column.table.lower() in (table.alias_or_name.lower(), table.name.lower()):
                return table.name
        return None
    names = {t.name for t in tables}
    return names.pop() if len(names) == 1 else None


def _question_numbers(question: str, used: list[str]) -> list[str]:
    """The numbers a question states, in order, leaving out those inside a matched value or a year."""
    text = question
    for value in used:
        text = re.sub(re.escape(value), " ", text, flags=re.IGNORECASE)
    text = _YEAR.sub(" ", text)
    words = re.sub(r"[A-Za-z]+", lambda m: f" {_NUMBER_WORDS[m.group(0).lower()]} "
                   if m.group(0).lower() in _NUMBER_WORDS else m.group(0), text)
    return _NUMBER.findall(words)


def _kind(sql_type: str) -> str:
    """A column's kind for a swap: a number only stands in for a number, a text for a text."""
    return "number" if is_numeric_type(sql_type) else "text"


def _is_key(table: Table, column: str) -> bool:
    """A row's identifier, name or link: shown beside what a question asks for, not swapped for it."""
    return (column in table.primary_key or any(column in fk.columns for fk in table.foreign_keys)
            or terms(column)[-1:] in (["id"], ["key"], ["name"]))


def swap_column(tree: exp.Expression, question: str, schema: Schema, values_of: ValuesOf) -> bool:
    """Put the one column the question names and the query lacks in place of the one column of the query
    the question does not name (keys aside, and a column whose compared value the question names), when
    both are of one kind and, where the old one is compared with a text, the question names a value of
    the new one; in a query over one table the table follows the column when every other column of the
    query is also in the new table. Whether it changed anything."""
    words = set(terms(question))
    tables = {t.name.lower(): t for t in schema.tables}
    used = list(tree.find_all(exp.Table))
    resolved = []
    for column in tree.find_all(exp.Column):
        name = _table_of(column, tree)
        table = tables.get(name.lower()) if name else None
        if table is None or column.name not in table.column_names:
            return False  # a column of a subquery's alias or of no known table: leave the query alone
        resolved.append((column, table))
    compared = {id(c): node for node in tree.find_all(exp.Literal) if (c := _column_of(node)) is not None}
    texts = {(t.name, c.name) for c, t in resolved if id(c) in compared and compared[id(c)].is_string}
    named_value = {(t.name, c.name) for c, t in resolved if id(c) in compared
                   and _mentions(question, compared[id(c)].this) >= 0}
    strangers = {(t.name, c.name) for c, t in resolved
                 if not _is_key(t, c.name) and not words & set(terms(c.name)) and (t.name, c.name) not in named_value}
    present = {(t.name, c.name) for c, t in resolved}
    named = {(t.name, c.name) for t in schema.tables for c in t.columns
             if not _is_key(t, c.name) and (t.name, c.name) not in present and set(terms(c.name)) <= words
             and terms(c.name)}
    if len(strangers) != 1 or not named:
        return False
    (old_table, old_column), = strangers
    kind = _kind(tables[old_table.lower()].column(old_column).type)
    same = [n for n in named if _kind(tables[n[0].lower()].column(n[1]).type) == kind]
    here = [n for n in same if n[0] == old_table]  # else in a table the question names, else anywhere
    there = [n for n in same if set(terms(n[0])) <= words]
    choice = here or there or same
    if len(choice) != 1:
        return False
    new_table, new_column = choice[0]
    if (old_table, old_column) in texts and all(_mentions(question, v) < 0 for v in values_of(new_table, new_column)):
        return False  # `city = 'US'`: the question names no city to compare with
    if new_table != old_table:
        others = {c.name for c, _ in resolved if c.name != old_column}
        if len({t.name.lower() for t in used}) != 1 or words & set(terms(old_table)) or \
                not others <= set(tables[new_table.lower()].column_names):
            return False
        for table in used:
            table.set("this", exp.to_identifier(new_table, quoted=sql_name(new_table) != new_table))
    for column, table in resolved:
        if column.name == old_column and table.name == old_table:
            column.set("this", exp.to_identifier(new_column, quoted=sql_name(new_column) != new_column))
    return True


def adapt_example(sql: str, question: str, values_of: ValuesOf, dialect: str,
                  schema: Schema | None = None) -> tuple[str, bool] | None:
    """The example's query with the question's column (given the schema) and values, and whether anything
    changed; None when it cannot be parsed."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, RecursionError):
        return None
    changed = schema is not None and swap_column(tree, question, schema, values_of)
    literals = [node for node in tree.walk(bfs=False) if isinstance(node, exp.Literal)]
    used = []
    years = _YEAR.findall(question)
    shift: int | None = None  # years the example's dates move by
    numbers_slots = []
    for literal in literals:
        if isinstance(literal.parent, exp.Limit):
            numbers_slots.append(literal)
            continue
        if not isinstance(literal.parent, _COMPARISONS):
            continue  # a function's argument ('%Y', ROUND's digits) is not the question's value
        if not literal.is_string:
            numbers_slots.append(literal)
            continue
        text = literal.this
        date = _DATE.match(text)
        if date:  # a date or a year compared: moved by as many years as the question's year is from the
            # example's first one, so a range's end moves with its start
            if shift is None:
                shift = int(years[0]) - int(date.group(1)) if years and date.group(1) not in years else 0
            if shift:
                literal.replace(exp.Literal.string(str(int(date.group(1)) + shift) + (date.group(2) or "")))
                changed = True
            continue
        if _mentions(question, text) >= 0 or isinstance(literal.parent, (exp.Like, exp.ILike)):
            used.append(text)  # the question repeats it, or a pattern (its words are not a value)
            continue
        column = _column_of(literal)
        if column is None:
            continue
        table = _table_of(column, tree)
        if table is None:
            continue
        mentioned = [(len(v), -_mentions(question, v), v) for v in values_of(table, column.name)
                     if v not in used and _mentions(question, v) >= 0]
        if mentioned:  # the longest value of this column the question names
            value = max(mentioned)[2]
            literal.replace(exp.Literal.string(value))
            used.append(value)
            changed = True
    numbers = _question_numbers(question, used)
    if numbers and len(numbers) == len(numbers_slots):
        for literal, number in zip(numbers_slots, numbers):
            bound = _bound(question, number, literal.parent)
            if bound is not None:  # "101 or more" against the example's "> 100": >= 101
                literal.parent.replace(bound(this=literal.parent.this, expression=exp.Literal.number(number)))
                changed = True
            elif literal.this != number:
                literal.replace(exp.Literal.number(number))
                changed = True
    return tree.sql(dialect=dialect), changed


_INCLUSIVE = {exp.GT: exp.GTE, exp.LT: exp.LTE}
_STRICT = {exp.GTE: exp.GT, exp.LTE: exp.LT}


def _bound(question: str, number: str, comparison: exp.Expression) -> type[exp.Expression] | None:
    """The comparison the question's wording asks for around this number, when it differs from the
    example's (inclusive "at least N", "N or more", "at most N", "N or fewer"; strict "more than N", "over N")."""
    n = re.escape(number)
    text = question.lower()
    inclusive = re.search(rf"(at least|at most|minimum of|maximum of)\s+\$?{n}\b|\b{n}\s*\S*\s+or (more|fewer|less|above|below)",
                          text)
    strict = re.search(rf"(more than|less than|fewer than|over|under|above|below|greater than|exceeding)\s+\$?{n}\b",
                       text)
    if inclusive and type(comparison) in _INCLUSIVE:
        return _INCLUSIVE[type(comparison)]
    if strict and not inclusive and type(comparison) in _STRICT:
        return _STRICT[type(comparison)]
    return None


def adapted_examples(sqls: list[str], question: str, values_of: ValuesOf, dialect: str,
                     schema: Schema | None = None) -> list[Adapted]:
    """Each retrieved example's query edited for the question (one per distinct query, nearest first)."""
    out, seen = [], set()
    for index, sql in enumerate(sqls):
        adapted = adapt_example(sql, question, values_of, dialect, schema)
        if adapted is None or adapted[0] in seen:
            continue
        seen.add(adapted[0])
        out.append(Adapted(adapted[0], index, adapted[1]))
    return out
