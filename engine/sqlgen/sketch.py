"""Queries sketched from what a question names, without any model: the tables, columns and stored values
its words name (read off the column profiler's roles), the aggregate, superlative, grouping and
comparison words around them, joined along the schema's links. A small model given a question worded
unlike any example writes a query over the right names that returns the wrong rows; the sketch is the
plain reading ("how many tents in Camping" → COUNT(*) with the value's column) and joins the vote as one
more candidate that must run and agree."""

from __future__ import annotations

import logging
import re
import weakref
from collections import deque
from dataclasses import dataclass, field

from engine.db import Database
from engine.db.schema import Schema, Table
from engine.qa.phrasing import identifier_words
from engine.qa.profile import ColumnProfile, TableProfile, is_numeric_type, profile_database
from engine.sqlgen.adapt import MAX_VALUES, _mentions, column_values
from engine.sqlgen.schema_card import sql_name
from engine.sqlgen.terms import STOP_WORDS, fold

log = logging.getLogger(__name__)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*|\d+(?:\.\d+)?")
# what an analyst calls a thing that the schema names otherwise (plain English, not any one database's words)
SYNONYMS = {"client": "customer", "member": "customer", "buyer": "customer", "shopper": "customer",
            "purchase": "order", "sale": "order", "item": "product", "staff": "agent", "employee": "agent",
            "revenue": "amount", "spend": "amount", "spent": "amount", "value": "amount", "income": "amount",
            "pricey": "price", "expensive": "price", "cheap": "price", "costly": "price", "heavy": "weight",
            "long": "duration", "length": "duration", "signed": "signup", "joined": "signup",
            "units": "quantity"}
COUNT_WORDS = ("how many", "number of", "count", "no. of", "# of", "how often")
AGGREGATE_WORDS = {"average": "AVG", "avg": "AVG", "mean": "AVG", "total": "SUM", "sum": "SUM", "overall": "SUM",
                   "max": "MAX", "maximum": "MAX", "min": "MIN", "minimum": "MIN"}
# superlative word -> (direction, the measure word it implies when the question names none)
SUPERLATIVES = {"highest": ("DESC", None), "largest": ("DESC", None), "biggest": ("DESC", None),
                "most": ("DESC", None), "top": ("DESC", None), "greatest": ("DESC", None), "best": ("DESC", None),
                "lowest": ("ASC", None), "smallest": ("ASC", None), "least": ("ASC", None), "fewest": ("ASC", None),
                "bottom": ("ASC", None), "worst": ("ASC", None), "priciest": ("DESC", "price"),
                "cheapest": ("ASC", "price"), "heaviest": ("DESC", "weight"), "lightest": ("ASC", "weight"),
                "longest": ("DESC", "duration"), "shortest": ("ASC", "duration"), "newest": ("DESC", "date"),
                "latest": ("DESC", "date"), "oldest": ("ASC", "date"), "earliest": ("ASC", "date")}
FREQUENT = {"common", "frequent", "popular", "often"}  # "most common X": X counted
GROUP_MARKERS = ("per", "by", "each", "every", "for each", "for every", "breakdown")
COMPARISONS = [(r"(?:at least|no less than|minimum of|or more)", ">="), (r"(?:at most|no more than|or less|or fewer)", "<="),
               (r"(?:more than|over|above|greater than|exceeding|after|bigger than|larger than)", ">"),
               (r"(?:less than|fewer than|under|below|before|smaller than|cheaper than)", "<"),
               (r"(?:since|from)", ">=")]
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]
NEGATIONS = ("not", "non", "no", "never", "without")
NULL_MARKERS = {"with": False, "has": False, "have": False, "used": False, "using": False, "without": True,
                "no": True, "missing": True, "lacking": True, "null": True, "empty": True, "blank": True}
MAX_SKETCHES = 1


@dataclass(frozen=True)
class Word:
    text: str  # as typed, lower case
    term: str  # folded, synonyms applied
    start: int


@dataclass
class Index:
    """A database's profile and stored text values, read once and kept for every question asked of it."""
    schema: Schema
    profiles: dict[str, TableProfile]
    values: dict[str, list[tuple[str, str, str]]]  # a value's first word -> (table, column, value)
    links: dict[str, list[tuple[str, str, str]]]  # table -> (column, other table, other column)

    def column(self, table: str, name: str) -> ColumnProfile:
        return self.profiles[table].column(name)


_INDEXES: "weakref.WeakKeyDictionary[Database, Index]" = weakref.WeakKeyDictionary()


def index_of(db: Database) -> Index:
    """The sketching index of a database, built on first use (one profiling pass, one DISTINCT per text column)."""
    if db not in _INDEXES:
        profiles = {p.name: p for p in profile_database(db, sample_rows=5000)}
        schema = Schema(tuple(t for t in db.schema().tables if t.name in profiles))  # tables, not views
        values_of = column_values(db)
        values: dict[str, list[tuple[str, str, str]]] = {}
        for profile in profiles.values():
            for column in profile.columns:
                if column.role in ("label", "category", "code", "identifier", "text") and \
                        (column.distinct or 0) <= MAX_VALUES:
                    for value in values_of(profile.name, column.name):
                        first = _TOKEN.search(value)
                        if first:  # a question can name the value only if it has the value's first word
                            values.setdefault(first.group(0).lower(), []).append((profile.name, column.name, value))
        _INDEXES[db] = Index(schema, profiles, values, _links(schema))
    return _INDEXES[db]


def _links(schema: Schema) -> dict[str, list[tuple[str, str, str]]]:
    """Join edges: declared foreign keys, and a column named like another table's one-column key."""
    edges: dict[str, list[tuple[str, str, str]]] = {t.name: [] for t in schema.tables}
    key_of = {t.primary_key[0].lower(): t for t in schema.tables if len(t.primary_key) == 1}

    def add(a: str, ca: str, b: str, cb: str) -> None:
        if a != b and (ca, b, cb) not in edges[a]:
            edges[a].append((ca, b, cb))
            edges[b].append((cb, a, ca))

    for table in schema.tables:
        for fk in table.foreign_keys:
            ref = next((t for t in schema.tables if t.name.lower() == fk.ref_table.lower()), None)
            if ref is not None and len(fk.columns) == 1:
                add(table.name, fk.columns[0], ref.name, (fk.ref_columns or ref.primary_key)[0])
        for column in table.column_names:
            other = key_of.get(column.lower())
            if other is not None and other.name != table.name:
                add(table.name, column, other.name, other.primary_key[0])
    return edges


def _words(question: str) -> list[Word]:
    out = []
    for match in _TOKEN.finditer(question):
        text = match.group(0).lower()
        out.append(Word(text, SYNONYMS.get(text) or SYNONYMS.get(fold(text), fold(text)), match.start()))
    return out


def _name_terms(name: str) -> list[str]:
    return [fold(w) for w in identifier_words(name) if w not in STOP_WORDS and w != "id"] or [fold(name.lower())]


@dataclass
class Named:
    """A table or column the question names, where, and how fully (matched words of the name's words)."""
    table: str
    column: str | None
    start: int
    score: float


@dataclass
class Reading:
    question: str
    words: list[Word]
    tables: list[Named] = field(default_factory=list)
    columns: list[Named] = field(default_factory=list)
    filtered: set[tuple[str, str]] = field(default_factory=set)  # (table, column) a condition uses
    spans: list[tuple[int, int]] = field(default_factory=list)  # question characters taken by values


def _named(index: Index, words: list[Word], spans: list[tuple[int, int]]) -> tuple[list[Named], list[Named]]:
    free = [w for w in words if not any(a <= w.start < b for a, b in spans)]
    positions: dict[str, int] = {}
    for w in free:
        positions.setdefault(w.term, w.start)
    tables, columns = [], []
    for table in index.schema.tables:
        table_terms = _name_terms(table.name)
        hit = [t for t in table_terms if t in positions]
        if hit and (table_terms[-1] in hit or len(hit) * 2 >= len(table_terms)):  # the head noun, or most of it
            tables.append(Named(table.name, None, min(positions[t] for t in hit), len(hit) / len(table_terms)))
        for column in table.columns:
            profile = index.column(table.name, column.name)
            if profile is None or (profile.role == "key" and not _code_link(index, table, column.name)):
                continue
            name = _name_terms(column.name)
            hit = [t for t in name if t in positions]
            if len(hit) < len(name) and set(hit) <= set(table_terms):
                continue  # "courses" names the course table, not its course code
            if hit and (len(hit) == len(name) or ((name[-1] in hit or name[0] in hit) and len(hit) * 2 >= len(name))):
                columns.append(Named(table.name, column.name, min(positions[t] for t in hit), len(hit) / len(name)))
    tables.sort(key=lambda n: (n.start, -n.score))
    columns.sort(key=lambda n: (-n.score, n.start))
    return tables, columns


def _code_link(index: Index, table: Table, column: str) -> bool:
    """A text column linking to another table's code ('RegCd', 'status_code'): a value an analyst reads,
    named and grouped by like a category (an integer id is not)."""
    return not is_numeric_type(table.column(column).type) and column not in table.primary_key and \
        any(c == column for c, _, _ in index.links[table.name])


def _literal(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _col(table: str, column: str) -> str:
    return f"{sql_name(table)}.{sql_name(column)}"


def _number(profile: ColumnProfile, table: str) -> str:
    """A numeric column as a number, also where it is stored as text ('2014', '7500')."""
    return f"CAST({_col(table, profile.name)} AS DOUBLE)" if profile.stored_as_text else _col(table, profile.name)


def _value_options(index: Index, reading: Reading) -> list[list[tuple[str, str, str]]]:
    """Stored values the question names (longest first, each stretch of the question used once): per
    stretch, every (table, column, value) holding it."""
    found = []
    for word in dict.fromkeys(w.text for w in reading.words):
        for table, column, value in index.values.get(word, ()):
            at = _mentions(reading.question, value)
            if at >= 0:
                found.append((len(value), at, table, column, value))
    found.sort(key=lambda f: (-f[0], f[1]))
    by_span: dict[tuple[int, int], list[tuple[str, str, str]]] = {}
    for length, at, table, column, value in found:
        span = (at, at + length)
        if any(a < span[1] and span[0] < b for a, b in by_span if (a, b) != span):
            continue
        by_span.setdefault(span, []).append((table, column, value))
    reading.spans.extend(by_span)
    return list(by_span.values())


def _flag_filters(index: Index, reading: Reading) -> list[tuple[str, str, str]]:
    """Flags the question names ('active', 'discontinued', 'inactive', 'not certified'): (table, column, cond)."""
    out = []
    for table, profile in index.profiles.items():
        for column in profile.role("flag"):
            name = _name_terms(column.name)
            for i, w in enumerate(reading.words):
                negated = False
                if w.term in name:
                    negated = i > 0 and reading.words[i - 1].text in NEGATIONS
                elif any(w.text == p + t for t in name for p in ("in", "un", "non")):
                    negated = True
                else:
                    continue
                true = column.true_value
                false = next((v for v in column.values if v != true), 0 if isinstance(true, int) else None)
                value = false if negated else true
                if value is not None:
                    out.append((table, column.name, f"{_col(table, column.name)} = {_literal(value)}"))
                break
    return out


def _aggregate(reading: Reading) -> str | None:
    text = reading.question.lower()
    if any(re.search(r"(?<![a-z])" + re.escape(w) + r"(?![a-z])", text) for w in COUNT_WORDS):
        return "COUNT"
    for w in reading.words:
        if w.text in AGGREGATE_WORDS:
            return AGGREGATE_WORDS[w.text]
    return None


def _superlative(reading: Reading) -> tuple[str, str | None, int, bool] | None:
    """(direction, implied measure word, how many rows, counted) for 'top 3 ... by', 'cheapest', 'most common'."""
    for i, w in enumerate(reading.words):
        if w.text in SUPERLATIVES:
            direction, implied = SUPERLATIVES[w.text]
            after = reading.words[i + 1] if i + 1 < len(reading.words) else None
            n = int(after.text) if after is not None and after.text.isdigit() and w.text in ("top", "bottom") else 1
            if after is not None and after.text in SUPERLATIVES and after.text not in ("most", "least"):
                direction, implied = SUPERLATIVES[after.text]  # "the most expensive" reads as "priciest"
            if w.text in ("most", "least") and after is not None and after.term in ("price", "weight", "duration"):
                implied = after.term  # "the least expensive": ascending price
            counted = after is not None and after.text in FREQUENT
            return direction, implied, n, counted
    return None


def _path(index: Index, start: str, goal: str) -> list[tuple[str, str, str, str]] | None:
    """The shortest chain of join edges from one table to another: (table, column, other, other column)."""
    seen = {start: None}
    queue = deque([start])
    while queue:
        table = queue.popleft()
        if table == goal:
            break
        for column, other, other_column in index.links[table]:
            if other not in seen:
                seen[other] = (table, column, other, other_column)
                queue.append(other)
    if goal not in seen:
        return None
    steps = []
    while seen[goal] is not None:
        steps.append(seen[goal])
        goal = seen[goal][0]
    return steps[::-1]


def _from(index: Index, target: str, others: list[str]) -> str | None:
    joined = [target]
    clause = sql_name(target)
    for other in others:
        if other in joined:
            continue
        steps = _path(index, target, other)
        if steps is None:
            return None
        for table, column, nxt, nxt_column in steps:
            if nxt in joined:
                continue
            clause += f" JOIN {sql_name(nxt)} ON {_col(table, column)} = {_col(nxt, nxt_column)}"
            joined.append(nxt)
    return clause


def _label(index: Index, table: str) -> list[str]:
    """The columns a row is named by: its label, first and last name, its code, else its key."""
    profile = index.profiles[table]
    names = [c.name for c in profile.columns if _name_terms(c.name)[-1:] == ["name"]]
    first = [n for n in names if "first" in _name_terms(n)]
    last = [n for n in names if "last" in _name_terms(n)]
    if first and last:
        return [first[0], last[0]]
    if profile.label is not None:
        return [profile.label.name]
    if profile.identifier is not None:
        return [profile.identifier.name]
    return list(profile.table.primary_key[:1]) or [profile.columns[0].name]


def _measure(index: Index, reading: Reading, implied: str | None, tables: list[str]) -> tuple[str, ColumnProfile] | None:
    """The numeric column the question names (or its superlative implies), in a named table first."""
    named = [(n.table, index.column(n.table, n.column)) for n in reading.columns]
    numeric = [(t, c) for t, c in named if c.role in ("measure", "year") and (t, c.name) not in reading.filtered]
    if numeric:
        numeric.sort(key=lambda tc: tc[0] not in tables)
        return numeric[0]
    if implied is not None:
        for table in tables + [t for t in index.profiles if t not in tables]:
            for column in index.profiles[table].columns:
                terms = _name_terms(column.name)
                if implied in terms and column.role in ("measure", "date", "year"):
                    return table, column
    return None


def _conditions(index: Index, reading: Reading, target: str, options: list[list[tuple[str, str, str]]]) -> list[tuple[str, str]]:
    """One condition per value the question names, in the target table's column when it has one."""
    out = []
    named_columns = {(n.table, n.column) for n in reading.columns}
    for choices in options:
        choices = sorted(choices, key=lambda c: (c[0] != target, (c[0], c[1]) not in named_columns,
                                                 index.column(c[0], c[1]).role != "category"))
        table, column, value = choices[0]
        out.append((table, f"{_col(table, column)} = {_literal(value)}"))
        reading.filtered.add((table, column))
    return out


def _number_conditions(index: Index, reading: Reading, target: str, tables: list[str]) -> list[tuple[str, str]]:
    """'over 500', 'at least 4 rooms', 'before 2012', '5 day courses', 'in 2024', 'in March 2024'."""
    out = []
    text = reading.question.lower()
    taken = reading.spans
    for match in re.finditer(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w.])", text):
        if any(a <= match.start() < b for a, b in taken):
            continue
        number = match.group(1)
        before = text[:match.start()].rstrip()
        op = None
        for pattern, symbol in COMPARISONS:
            if re.search(pattern + r"\s*\$?$", before) or (symbol in (">=", "<=") and re.match(
                    r"\s*\S*\s*" + pattern, text[match.end():])):
                op = symbol
                break
        if re.search(r"\b(top|bottom|first|last)\s*$", before):
            continue  # "top 3": how many rows
        is_year = bool(re.fullmatch(r"(19|20)\d\d", number))
        month = re.search(r"\b(" + "|".join(_MONTHS) + r")\s*$", before)
        column = _number_column(index, reading, match.start(), is_year, target, tables)
        if column is None:
            continue
        table, profile = column
        if profile.role == "date":
            year = int(number)
            if month:
                m = _MONTHS.index(month.group(1)) + 1
                low, high = f"{year}-{m:02d}-01", (f"{year}-{m + 1:02d}-01" if m < 12 else f"{year + 1}-01-01")
            else:
                low, high = f"{year}-01-01", f"{year + 1}-01-01"
            col = _col(table, profile.name)
            if op in (">", ">="):
                out.append((table, f"{col} >= '{high if op == '>' else low}'"))
            elif op in ("<", "<="):
                out.append((table, f"{col} < '{low if op == '<' else high}'"))
            else:
                out.append((table, f"{col} >= '{low}' AND {col} < '{high}'"))
        else:
            out.append((table, f"{_number(profile, table)} {op or '='} {number}"))
        reading.filtered.add((table, profile.name))
    return out


def _number_column(index: Index, reading: Reading, at: int, is_year: bool, target: str,
                   tables: list[str]) -> tuple[str, ColumnProfile] | None:
    """The column a number is compared with: the numeric column named nearest to it, else a year's date."""
    named = [(abs(n.start - at), n.table, index.column(n.table, n.column)) for n in reading.columns]
    fitting = [(d, t, c) for d, t, c in named if c.role in ("measure", "year") or (is_year and c.role == "date")]
    if fitting:
        fitting.sort(key=lambda x: (x[0], x[1] != target))
        return fitting[0][1], fitting[0][2]
    if is_year:
        for table in [target] + tables:
            profile = index.profiles[table]
            dated = profile.role("year") or profile.role("date")
            if len(dated) >= 1:
                return table, dated[0]
    return None


def _group(index: Index, reading: Reading, target: str) -> tuple[str, list[str]] | None:
    """What follows 'per', 'by', 'each': a named column, or a named table (its label)."""
    text = reading.question.lower()
    for marker in GROUP_MARKERS:
        for match in re.finditer(r"\b" + marker + r"\b", text):
            after = match.end()
            columns = [n for n in reading.columns if n.start >= after and (n.table, n.column) not in reading.filtered
                       and index.column(n.table, n.column).role not in ("measure",)]
            tables = [n for n in reading.tables if n.start >= after]
            columns.sort(key=lambda n: (n.start, n.table != target, -n.score))
            if columns and (not tables or columns[0].start <= tables[0].start):
                return columns[0].table, [columns[0].column]
            if tables and tables[0].table != target:
                return tables[0].table, _label(index, tables[0].table)
    return None


def sketch_queries(db: Database, question: str) -> list[str]:
    """Up to MAX_SKETCHES readings of the question as SQL, the likeliest first; none when it names nothing.
    A sketch is one candidate among several: one that cannot be made is a log line, never the answer's error."""
    try:
        return _sketch(index_of(db), question)
    except Exception as error:  # noqa: BLE001 - the model's candidates still answer
        log.warning("no sketched query for %r: %s: %s", question, type(error).__name__, error)
        return []


def _sketch(index: Index, question: str) -> list[str]:
    reading = Reading(question, _words(question))
    options = _value_options(index, reading)
    reading.tables, reading.columns = _named(index, reading.words, reading.spans)
    flags = _flag_filters(index, reading)
    reading.filtered |= {(t, c) for t, c, _ in flags}
    aggregate = _aggregate(reading)
    superlative = _superlative(reading)
    named_tables = [n.table for n in reading.tables]
    implied = superlative[1] if superlative else None
    measure = _measure(index, reading, implied, named_tables)
    if aggregate == "SUM" and measure is None:
        measure = _measure(index, reading, "amount", named_tables)
    targets = []
    if aggregate in ("AVG", "SUM", "MAX", "MIN") and measure is not None:
        targets.append(measure[0])
    targets += named_tables
    targets += [c[0][0] for c in options] + [t for t, _, _ in flags]
    targets += [n.table for n in reading.columns]
    targets = list(dict.fromkeys(targets))
    out = []
    for target in targets[:MAX_SKETCHES]:
        sql = _build(index, reading, target, options, flags, aggregate, superlative, measure)
        if sql and sql not in out:
            out.append(sql)
    return out


def _build(index: Index, reading: Reading, target: str, options, flags, aggregate, superlative, measure) -> str | None:
    reading.filtered = {(t, c) for t, c, _ in flags}
    conditions = _conditions(index, reading, target, options)
    conditions += [(t, cond) for t, _, cond in flags]
    tables = [n.table for n in reading.tables]
    conditions += _number_conditions(index, reading, target, tables)
    if measure is not None and (measure[0], measure[1].name) in reading.filtered:
        measure = None
    conditions += _null_conditions(index, reading)
    group = _group(index, reading, target)
    if group is not None and aggregate is None and superlative is None:
        aggregate = "COUNT"  # "orders per status": rows counted per group
    used = [t for t, _ in conditions]
    where = " WHERE " + " AND ".join(c for _, c in conditions) if conditions else ""
    if superlative is not None:
        direction, _, n, counted = superlative
        if counted or aggregate == "COUNT" or (measure is None and group is not None):
            key_table, keys = group or _counted_key(index, reading, target)
            if key_table is None:
                return None
            source = _from(index, target, used + [key_table])
            cols = ", ".join(_col(key_table, k) for k in keys)
            return source and (f"SELECT {cols} FROM {source}{where} GROUP BY {cols} "
                               f"ORDER BY COUNT(*) {direction} LIMIT {n}")
        if measure is None:
            return None
        m_table, m = measure
        if aggregate in ("MAX", "MIN") or (group is None and target == m_table and not _entity_named(reading, m_table)):
            fn = aggregate if aggregate in ("MAX", "MIN") else ("MAX" if direction == "DESC" else "MIN")
            source = _from(index, m_table, used)
            return source and f"SELECT {fn}({_number(m, m_table)}) FROM {source}{where}"
        entity = group[0] if group else target
        keys = group[1] if group else _label(index, entity)
        source = _from(index, entity, used + [m_table])
        cols = ", ".join(_col(entity, k) for k in keys)
        if group and entity != m_table:
            return source and (f"SELECT {cols} FROM {source}{where} GROUP BY {cols} "
                               f"ORDER BY SUM({_number(m, m_table)}) {direction} LIMIT {n}")
        return source and f"SELECT {cols} FROM {source}{where} ORDER BY {_number(m, m_table)} {direction} LIMIT {n}"
    if aggregate is not None:
        if aggregate == "COUNT":
            value = "COUNT(*)"
            distinct = re.search(r"\b(distinct|different|unique)\b", reading.question.lower())
            named = [n for n in reading.columns if (n.table, n.column) not in reading.filtered]
            if distinct and named:
                value = f"COUNT(DISTINCT {_col(named[0].table, named[0].column)})"
                used = used + [named[0].table]
        else:
            if measure is None:
                return None
            value = f"{aggregate}({_number(measure[1], measure[0])})"
            used = used + [measure[0]]
        if group is not None:
            source = _from(index, target, used + [group[0]])
            cols = ", ".join(_col(group[0], k) for k in group[1])
            return source and f"SELECT {cols}, {value} FROM {source}{where} GROUP BY {cols}"
        source = _from(index, target, used)
        return source and f"SELECT {value} FROM {source}{where}"
    # a list: the columns the question names (not those it filters on), else the rows' names
    named = [n for n in reading.columns if (n.table, n.column) not in reading.filtered
             and index.column(n.table, n.column).role not in ("flag",)]
    shown = [(n.table, n.column) for n in named if n.table == target] or \
            ([(named[0].table, named[0].column)] if named and not _entity_named(reading, target) else [])
    distinct = False
    if not shown:
        if not conditions and not _entity_named(reading, target):
            return None
        shown = [(target, c) for c in _label(index, target)]
    else:
        distinct = all(index.column(t, c).role in ("category", "year") for t, c in shown)
    source = _from(index, target, used + [t for t, _ in shown])
    cols = ", ".join(_col(t, c) for t, c in shown)
    return source and f"SELECT {'DISTINCT ' if distinct else ''}{cols} FROM {source}{where}"


def _entity_named(reading: Reading, table: str) -> bool:
    return any(n.table == table for n in reading.tables)


def _counted_key(index: Index, reading: Reading, target: str) -> tuple[str | None, list[str]]:
    """'most common category': the named column counted; 'customer with the most orders': the first table's rows."""
    named = {n.table for n in reading.tables}
    columns = sorted((n for n in reading.columns if (n.table, n.column) not in reading.filtered),
                     key=lambda n: (n.table not in named, -n.score, n.start))
    if columns:
        return columns[0].table, [columns[0].column]
    if len(reading.tables) >= 2:
        return reading.tables[0].table, _label(index, reading.tables[0].table)
    return None, []


def _null_conditions(index: Index, reading: Reading) -> list[tuple[str, str]]:
    """'used a coupon', 'with an email' (IS NOT NULL); 'without a phone', 'no email' (IS NULL)."""
    out = []
    for named in reading.columns:
        key = (named.table, named.column)
        profile = index.column(*key)
        if key in reading.filtered or not profile.nulls:
            continue
        before = [w.text for w in reading.words if w.start < named.start][-3:]
        marker = next((w for w in reversed(before) if w in NULL_MARKERS), None)
        if marker is None:
            continue
        out.append((named.table, f"{_col(*key)} IS {'NULL' if NULL_MARKERS[marker] else 'NOT NULL'}"))
        reading.filtered.add(key)
    return out
