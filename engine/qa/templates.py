"""Template generators: QA pairs about one database, built from its schema and its values.

Each generator yields `Intent`s — one thing to know ("the primary key of orders", "orders per channel
as SQL") with several phrasings of its question. The pipeline keeps the first phrasing as the pair to
train on and the others as held-out paraphrases. Everything is decided by the seed, so the same
database and seed give the same pairs.

SQL is written in DuckDB's dialect and transpiled with sqlglot to the database's own dialect.
Data facts carry the SQL that yields their answer; the pipeline runs it to fill the answer in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Iterator

import sqlglot

from engine.db import Database
from engine.qa.compositional import CompositionalFamilies
from engine.qa.phrasing import an, ident, literal, table_words, words
from engine.qa.profile import ColumnProfile, TableProfile, profile_database


@dataclass
class Intent:
    family: str  # the template family, e.g. "schema.primary_key"
    key: str  # unique per intent, e.g. "schema.primary_key:orders"
    kind: str  # schema | data | sql
    questions: list[str]  # phrasings; the first is the one to train on
    answer: str | None  # None for data facts until their SQL runs
    sql: str | None = None
    tables: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TemplateConfig:
    seed: int = 0
    entities_per_table: int = 12  # entity lookups sampled per table with an identifier
    attributes_per_entity: int = 2
    top_n: tuple[int, ...] = (3, 5, 10)
    max_per_family: int = 60  # keeps one family from crowding out the others


def _q(table: str, column: str | None = None) -> str:
    return ident(table) if column is None else f"{ident(table)}.{ident(column)}"


class TemplateGenerator(CompositionalFamilies):
    """Builds intents for one database; `intents()` yields them family by family."""

    def __init__(self, db: Database, config: TemplateConfig = TemplateConfig()) -> None:
        self.db = db
        self.config = config
        self.profiles = profile_database(db)
        self.by_name = {p.name: p for p in self.profiles}

    # -- plumbing --------------------------------------------------------------------------------
    def sql(self, duckdb_sql: str) -> str:
        if self.db.dialect == "duckdb":
            return duckdb_sql
        return sqlglot.transpile(duckdb_sql, read="duckdb", write=self.db.dialect)[0]

    def pick(self, phrasings: list[str]) -> list[str]:
        """Phrasings as written; `intents()` shuffles them per intent (see `_rng`)."""
        return phrasings

    @staticmethod
    def num(column: ColumnProfile, prefix: str = "") -> str:
        """A measure as a number in SQL: cast when the database keeps it as text."""
        name = prefix + ident(column.name)
        return f"CAST({name} AS DOUBLE)" if column.stored_as_text else name

    def _rng(self, *parts: object) -> random.Random:
        """A generator seeded by the config seed and a name, so one family's choices never shift
        another's (and the SQLite and DuckDB twins get the same pairs)."""
        return random.Random("|".join(map(str, (self.config.seed, *parts))))

    def intents(self) -> Iterator[Intent]:
        families: list[Callable[[], Iterator[Intent]]] = [
            self.schema_column_location, self.schema_table_columns, self.schema_primary_key,
            self.schema_joins, self.schema_code_meanings, self.schema_column_types,
            self.data_row_counts, self.data_entity_lookups, self.data_parent_lookups,
            self.data_category_counts, self.data_measure_aggregates, self.data_date_ranges,
            self.sql_counts, self.sql_filtered_counts, self.sql_group_counts, self.sql_group_sums,
            self.sql_top_n, self.sql_join_groups, self.sql_date_ranges, self.sql_lookups,
            self.sql_distinct_values, self.sql_missing_values,
            self.sql_having, self.sql_nested, self.sql_set_ops, self.sql_multi_aggregates, self.sql_like,
            self.sql_month_ranges, self.sql_row_lists,
        ]
        for family in families:
            intents = list(family())
            if len(intents) > self.config.max_per_family:
                keep = self._rng(family.__name__).sample(intents, self.config.max_per_family)
                intents = sorted(keep, key=lambda i: i.key)
            for intent in intents:
                # which phrasing is trained on (first) varies across intents, reproducibly
                self._rng(intent.key).shuffle(intent.questions)
                yield intent

    # -- schema facts ----------------------------------------------------------------------------
    def schema_column_location(self) -> Iterator[Intent]:
        for t in self.profiles:
            one, _ = table_words(t.name)
            for c in t.columns:
                if c.role == "key":
                    continue
                what = words(c.name)
                yield Intent("schema.column_location", f"schema.column_location:{t.name}.{c.name}", "schema",
                             self.pick([f"Which table and column store the {what} of {an(one)}?",
                                        f"Where is {an(one)}'s {what} stored?",
                                        f"In which column is the {what} of {an(one)} kept?"]),
                             f"{t.name}.{c.name}", tables=[t.name])

    def schema_table_columns(self) -> Iterator[Intent]:
        for t in self.profiles:
            yield Intent("schema.table_columns", f"schema.table_columns:{t.name}", "schema",
                         self.pick([f"What columns does the {t.name} table have?",
                                    f"List the columns of {t.name}.",
                                    f"Which fields make up the {t.name} table?"]),
                         ", ".join(t.table.column_names), tables=[t.name])

    def schema_primary_key(self) -> Iterator[Intent]:
        for t in self.profiles:
            if not t.table.primary_key:
                continue
            one, _ = table_words(t.name)
            yield Intent("schema.primary_key", f"schema.primary_key:{t.name}", "schema",
                         self.pick([f"What is the primary key of the {t.name} table?",
                                    f"Which column uniquely identifies {an(one)}?",
                                    f"What is the key column of {t.name}?"]),
                         ", ".join(t.table.primary_key), tables=[t.name])

    def schema_joins(self) -> Iterator[Intent]:
        for t in self.profiles:
            for fk in t.table.foreign_keys:
                condition = " AND ".join(f"{t.name}.{a} = {fk.ref_table}.{b}"
                                         for a, b in zip(fk.columns, fk.ref_columns))
                yield Intent("schema.join", f"schema.join:{t.name}.{','.join(fk.columns)}", "schema",
                             self.pick([f"How do I join {t.name} to {fk.ref_table}?",
                                        f"Which columns link {t.name} and {fk.ref_table}?",
                                        f"What is the join condition between {t.name} and {fk.ref_table}?"]),
                             condition, tables=[t.name, fk.ref_table])

    def _lookup_tables(self) -> Iterator[tuple[TableProfile, ColumnProfile, ColumnProfile]]:
        """Small code tables (a text code and its meaning): the facts only this database knows."""
        for t in self.profiles:
            code, label = t.code, t.label
            if code and label:
                yield t, code, label

    def schema_code_meanings(self) -> Iterator[Intent]:
        for t, code, label in self._lookup_tables():
            one, _ = table_words(t.name)
            rows = self.db.query(f"SELECT {ident(code.name)}, {ident(label.name)} FROM {ident(t.name)} "
                                 f"ORDER BY 1", max_rows=50).rows
            for value, meaning in rows:
                if value is None or meaning is None:
                    continue
                yield Intent("schema.code_meaning", f"schema.code_meaning:{t.name}:{value}", "schema",
                             self.pick([f"What does the {one if one.endswith('code') else one + ' code'} {value} mean?",
                                        f"What is {value} in {t.name}?",
                                        f"Which {words(label.name)} does the {words(code.name)} {value} stand for?"]),
                             str(meaning), tables=[t.name])
                yield Intent("schema.code_for", f"schema.code_for:{t.name}:{value}", "schema",
                             self.pick([f"What is the {words(code.name)} for '{meaning}'?",
                                        f"Which code does {t.name} use for '{meaning}'?",
                                        f"How is the {one} '{meaning}' coded?"]),
                             str(value), tables=[t.name])

    def schema_column_types(self) -> Iterator[Intent]:
        for t in self.profiles:
            for c in t.columns:
                if c.role in ("measure", "date") and c.type:
                    yield Intent("schema.column_type", f"schema.column_type:{t.name}.{c.name}", "schema",
                                 self.pick([f"What is the data type of {t.name}.{c.name}?",
                                            f"Which SQL type does the column {c.name} of {t.name} have?",
                                            f"How is {t.name}.{c.name} typed?"]),
                                 c.type, tables=[t.name])

    # -- data facts (answers filled in by running the SQL) ---------------------------------------
    def data_row_counts(self) -> Iterator[Intent]:
        for t in self.profiles:
            one, many = table_words(t.name)
            yield Intent("data.row_count", f"data.row_count:{t.name}", "data",
                         self.pick([f"How many rows does the {t.name} table have?",
                                    f"How many {many} are recorded in the database?",
                                    f"What is the row count of {t.name}?"]),
                         None, self.sql(f"SELECT COUNT(*) FROM {_q(t.name)}"), [t.name])

    def _sample_values(self, t: TableProfile, column: ColumnProfile, n: int) -> list:
        rows = self.db.query(f"SELECT {ident(column.name)} FROM {ident(t.name)} WHERE {ident(column.name)} "
                             f"IS NOT NULL ORDER BY 1", max_rows=5000).rows
        values = [r[0] for r in rows]
        rng = self._rng("values", t.name, column.name)
        return sorted(rng.sample(values, min(n, len(values))), key=str)

    def data_entity_lookups(self) -> Iterator[Intent]:
        for t in self.profiles:
            key = t.identifier
            if key is None or key.role != "identifier" or (t.table.row_count or 0) <= 50:
                continue  # code tables are covered by schema.code_meaning
            one, _ = table_words(t.name)
            attributes = [c for c in t.columns if c.role in ("category", "measure", "date", "year", "label",
                                                             "identifier", "flag") and c is not key]
            for value in self._sample_values(t, key, self.config.entities_per_table):
                rng = self._rng("attributes", t.name, value)
                for c in rng.sample(attributes, min(self.config.attributes_per_entity, len(attributes))):
                    what = words(c.name)
                    yield Intent("data.lookup", f"data.lookup:{t.name}.{c.name}:{value}", "data",
                                 self.pick([f"What is the {what} of {one} {value}?",
                                            f"For {one} {value}, what is the {what}?",
                                            f"Give the {what} of the {one} with {words(key.name)} {value}.",
                                            f"{value}: {what}?",
                                            f"Look up the {what} recorded for {value}."]),
                                 None, self.sql(f"SELECT {ident(c.name)} FROM {ident(t.name)} "
                                                f"WHERE {ident(key.name)} = {literal(value)}"), [t.name])

    def data_parent_lookups(self) -> Iterator[Intent]:
        """'Which customer placed order 17?': follow a foreign key to the parent's identifier."""
        for t in self.profiles:
            if len(t.table.primary_key) != 1:
                continue
            pk = t.table.primary_key[0]
            one, _ = table_words(t.name)
            for fk in t.table.foreign_keys:
                parent = self.by_name.get(fk.ref_table)
                if parent is None or parent.identifier is None or len(fk.columns) != 1:
                    continue
                parent_one, _ = table_words(parent.name)
                pid = parent.identifier
                if pid.name == fk.ref_columns[0]:
                    continue  # the child already stores the code itself
                for value in self._sample_values(t, t.column(pk), 4):
                    sql = (f"SELECT p.{ident(pid.name)} FROM {ident(t.name)} AS c JOIN {ident(parent.name)} AS p "
                           f"ON c.{ident(fk.columns[0])} = p.{ident(fk.ref_columns[0])} "
                           f"WHERE c.{ident(pk)} = {literal(value)}")
                    yield Intent("data.parent_lookup", f"data.parent_lookup:{t.name}.{fk.columns[0]}:{value}", "data",
                                 self.pick([f"Which {parent_one} is {one} {value} linked to? Give its {words(pid.name)}.",
                                            f"What is the {words(pid.name)} of the {parent_one} of {one} {value}?",
                                            f"{one.capitalize()} {value} belongs to which {parent_one} ({words(pid.name)})?"]),
                                 None, self.sql(sql), [t.name, parent.name])

    def data_category_counts(self) -> Iterator[Intent]:
        for t in self.profiles:
            _, many = table_words(t.name)
            for c in t.role("category"):
                for value in c.values[:6]:
                    yield Intent("data.category_count", f"data.category_count:{t.name}.{c.name}:{value}", "data",
                                 self.pick([f"How many {many} have {words(c.name)} {value}?",
                                            f"Count the {many} whose {words(c.name)} is {value}.",
                                            f"What is the number of {many} with {words(c.name)} '{value}'?"]),
                                 None, self.sql(f"SELECT COUNT(*) FROM {ident(t.name)} "
                                                f"WHERE {ident(c.name)} = {literal(value)}"), [t.name])

    def data_measure_aggregates(self) -> Iterator[Intent]:
        for t in self.profiles:
            _, many = table_words(t.name)
            for c in t.role("measure"):
                what = words(c.name)
                for fn, word in (("SUM", "total"), ("AVG", "average"), ("MAX", "highest"), ("MIN", "lowest")):
                    expr = f"ROUND({fn}({self.num(c)}), 2)" if fn in ("SUM", "AVG") else f"{fn}({self.num(c)})"
                    yield Intent("data.aggregate", f"data.aggregate:{t.name}.{c.name}:{fn}", "data",
                                 self.pick([f"What is the {word} {what} across all {many}?",
                                            f"Across {t.name}, what is the {word} {what}?",
                                            f"Give the {word} value of {t.name}.{c.name}.",
                                            f"{word.capitalize()} {what} of {many}?"]),
                                 None, self.sql(f"SELECT {expr} FROM {ident(t.name)}"), [t.name])

    def data_date_ranges(self) -> Iterator[Intent]:
        for t in self.profiles:
            _, many = table_words(t.name)
            for c in t.role("date"):
                for fn, word in (("MIN", "earliest"), ("MAX", "latest")):
                    yield Intent("data.date_range", f"data.date_range:{t.name}.{c.name}:{fn}", "data",
                                 self.pick([f"What is the {word} {words(c.name)} in {t.name}?",
                                            f"When is the {word} {words(c.name)} among {many}?",
                                            f"Give the {word} value of {t.name}.{c.name}."]),
                                 None, self.sql(f"SELECT {fn}({ident(c.name)}) FROM {ident(t.name)}"), [t.name])

    # -- text-to-SQL pairs -----------------------------------------------------------------------
    def _sql_intent(self, family: str, key: str, questions: list[str], duckdb_sql: str,
                    tables: list[str]) -> Intent:
        sql = self.sql(duckdb_sql)
        return Intent(family, key, "sql", self.pick(questions), sql, sql, tables)

    def sql_counts(self) -> Iterator[Intent]:
        for t in self.profiles:
            _, many = table_words(t.name)
            yield self._sql_intent("sql.count", f"sql.count:{t.name}",
                                   [f"How many {many} are there?", f"Count all {many}.",
                                    f"What is the total number of {many}?"],
                                   f"SELECT COUNT(*) FROM {ident(t.name)}", [t.name])

    def sql_filtered_counts(self) -> Iterator[Intent]:
        for t in self.profiles:
            _, many = table_words(t.name)
            for c in t.role("category", "flag"):
                values = c.values[:4] if c.role == "category" else [c.true_value]
                for value in values:
                    if c.role == "flag":
                        phrase = [f"How many {many} are {words(c.name).removeprefix('is ')}?",
                                  f"Count the {many} with {words(c.name)} set.",
                                  f"How many {many} have {words(c.name)} = {value}?"]
                    else:
                        phrase = [f"How many {many} have {words(c.name)} {value}?",
                                  f"Count {many} where {words(c.name)} is {value}.",
                                  f"Number of {many} with {words(c.name)} '{value}'?"]
                    yield self._sql_intent("sql.filtered_count", f"sql.filtered_count:{t.name}.{c.name}:{value}",
                                           phrase, f"SELECT COUNT(*) FROM {ident(t.name)} "
                                                   f"WHERE {ident(c.name)} = {literal(value)}", [t.name])

    def sql_group_counts(self) -> Iterator[Intent]:
        for t in self.profiles:
            _, many = table_words(t.name)
            for c in t.role("category"):
                what = words(c.name)
                yield self._sql_intent("sql.group_count", f"sql.group_count:{t.name}.{c.name}",
                                       [f"How many {many} are there per {what}?", f"Count {many} by {what}.",
                                        f"Break down the number of {many} by {what}."],
                                       f"SELECT {ident(c.name)}, COUNT(*) AS n FROM {ident(t.name)} "
                                       f"GROUP BY {ident(c.name)} ORDER BY n DESC", [t.name])

    def sql_group_sums(self) -> Iterator[Intent]:
        for t in self.profiles:
            _, many = table_words(t.name)
            for c in t.role("category"):
                for m in t.role("measure"):
                    yield self._sql_intent("sql.group_sum", f"sql.group_sum:{t.name}.{c.name}.{m.name}",
                                           [f"What is the total {words(m.name)} per {words(c.name)}?",
                                            f"Sum {words(m.name)} of {many} by {words(c.name)}.",
                                            f"For each {words(c.name)}, what is the total {words(m.name)}?"],
                                           f"SELECT {ident(c.name)}, SUM({self.num(m)}) AS total_{m.name} "
                                           f"FROM {ident(t.name)} GROUP BY {ident(c.name)} "
                                           f"ORDER BY total_{m.name} DESC", [t.name])

    def sql_top_n(self) -> Iterator[Intent]:
        for t in self.profiles:
            _, many = table_words(t.name)
            name = t.label or t.identifier
            shown = ident(name.name) + ", " if name else (ident(t.table.primary_key[0]) + ", " if t.table.primary_key else "")
            for m in t.role("measure"):
                n = self._rng("top_n", t.name, m.name).choice(self.config.top_n)
                for direction, word in (("DESC", "highest"), ("ASC", "lowest")):
                    yield self._sql_intent("sql.top_n", f"sql.top_n:{t.name}.{m.name}:{direction}",
                                           [f"Which {n} {many} have the {word} {words(m.name)}?",
                                            f"List the top {n} {many} by {'' if direction == 'DESC' else 'lowest '}{words(m.name)}.",
                                            f"Show the {n} {many} with the {word} {words(m.name)}."],
                                           f"SELECT {shown}{ident(m.name)} FROM {ident(t.name)} "
                                           f"ORDER BY {self.num(m)} {direction} LIMIT {n}", [t.name])

    def sql_join_groups(self) -> Iterator[Intent]:
        for t in self.profiles:
            _, many = table_words(t.name)
            for fk in t.table.foreign_keys:
                parent = self.by_name.get(fk.ref_table)
                if parent is None or len(fk.columns) != 1:
                    continue
                parent_one, _ = table_words(parent.name)
                on = f"c.{ident(fk.columns[0])} = p.{ident(fk.ref_columns[0])}"
                for g in parent.role("category", "label"):
                    if g.role == "label" and (parent.table.row_count or 0) > 50:
                        continue
                    what = f"{parent_one} {words(g.name)}"
                    yield self._sql_intent("sql.join_count", f"sql.join_count:{t.name}.{fk.columns[0]}.{g.name}",
                                           [f"How many {many} are there per {what}?",
                                            f"Count {many} by {what}.",
                                            f"Break down {many} by the {what}."],
                                           f"SELECT p.{ident(g.name)}, COUNT(*) AS n FROM {ident(t.name)} AS c "
                                           f"JOIN {ident(parent.name)} AS p ON {on} GROUP BY p.{ident(g.name)} "
                                           f"ORDER BY n DESC", [t.name, parent.name])
                    for m in t.role("measure")[:2]:
                        yield self._sql_intent(
                            "sql.join_sum", f"sql.join_sum:{t.name}.{fk.columns[0]}.{g.name}.{m.name}",
                            [f"What is the total {words(m.name)} of {many} per {what}?",
                             f"Sum {words(m.name)} by {what}.",
                             f"For each {what}, add up the {words(m.name)} of its {many}.",
                             f"{words(m.name).capitalize()} totals grouped by {what}?"],
                            f"SELECT p.{ident(g.name)}, SUM({self.num(m, 'c.')}) AS total_{m.name} "
                            f"FROM {ident(t.name)} AS c JOIN {ident(parent.name)} AS p ON {on} "
                            f"GROUP BY p.{ident(g.name)} ORDER BY total_{m.name} DESC", [t.name, parent.name])

    def sql_date_ranges(self) -> Iterator[Intent]:
        for t in self.profiles:
            _, many = table_words(t.name)
            for c in t.role("date"):
                if c.min is None or c.max is None:
                    continue
                first, last = int(str(c.min)[:4]), int(str(c.max)[:4])
                col = ident(c.name)
                for year in range(first, last + 1):
                    yield self._sql_intent("sql.year_count", f"sql.year_count:{t.name}.{c.name}:{year}",
                                           [f"How many {many} have a {words(c.name)} in {year}?",
                                            f"Count the {many} by {words(c.name)} during {year}.",
                                            f"Number of {many} with {words(c.name)} in the year {year}?"],
                                           f"SELECT COUNT(*) FROM {ident(t.name)} WHERE {col} >= '{year}-01-01' "
                                           f"AND {col} < '{year + 1}-01-01'", [t.name])
                year = self._rng("year", t.name, c.name).randint(first, last)
                yield self._sql_intent("sql.monthly_count", f"sql.monthly_count:{t.name}.{c.name}:{year}",
                                       [f"How many {many} were there per month in {year}, by {words(c.name)}?",
                                        f"Monthly count of {many} in {year} ({words(c.name)}).",
                                        f"Break down {year}'s {many} by month of {words(c.name)}."],
                                       f"SELECT strftime(CAST({col} AS TIMESTAMP), '%Y-%m') AS month, COUNT(*) AS n "
                                       f"FROM {ident(t.name)} WHERE {col} >= '{year}-01-01' AND {col} < "
                                       f"'{year + 1}-01-01' GROUP BY month ORDER BY month", [t.name])

    def sql_lookups(self) -> Iterator[Intent]:
        for t in self.profiles:
            key = t.identifier
            if key is None or key.role != "identifier":
                continue
            one, _ = table_words(t.name)
            others = [c for c in t.columns if c.role in ("category", "measure", "date", "label") and c is not key]
            for value in self._sample_values(t, key, 4):
                for c in self._rng("lookup", t.name, value).sample(others, min(1, len(others))):
                    yield self._sql_intent("sql.lookup", f"sql.lookup:{t.name}.{c.name}:{value}",
                                           [f"Write a query for the {words(c.name)} of {one} {value}.",
                                            f"Query the {words(c.name)} of the {one} with {words(key.name)} {value}.",
                                            f"SQL to get {one} {value}'s {words(c.name)}?"],
                                           f"SELECT {ident(c.name)} FROM {ident(t.name)} "
                                           f"WHERE {ident(key.name)} = {literal(value)}", [t.name])

    def sql_distinct_values(self) -> Iterator[Intent]:
        for t in self.profiles:
            for c in t.role("category"):
                yield self._sql_intent("sql.distinct", f"sql.distinct:{t.name}.{c.name}",
                                       [f"Which {words(c.name)} values occur in {t.name}?",
                                        f"List the distinct {words(c.name)} values of {t.name}.",
                                        f"What are the possible values of {t.name}.{c.name}?"],
                                       f"SELECT DISTINCT {ident(c.name)} FROM {ident(t.name)} "
                                       f"ORDER BY {ident(c.name)}", [t.name])

    def sql_missing_values(self) -> Iterator[Intent]:
        for t in self.profiles:
            _, many = table_words(t.name)
            for c in t.columns:
                if c.nulls and c.role != "text":
                    yield self._sql_intent("sql.missing", f"sql.missing:{t.name}.{c.name}",
                                           [f"How many {many} have no {words(c.name)}?",
                                            f"Count the {many} whose {words(c.name)} is missing.",
                                            f"How many {many} are missing a {words(c.name)}?"],
                                           f"SELECT COUNT(*) FROM {ident(t.name)} WHERE {ident(c.name)} IS NULL",
                                           [t.name])
