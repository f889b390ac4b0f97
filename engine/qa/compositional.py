"""Text-to-SQL template families that compose what analysts ask beyond single lookups: GROUP BY …
HAVING, nested IN / NOT IN, INTERSECT / EXCEPT, several aggregates at once, LIKE, month ranges and the
rows a filter keeps (not only their count) — over any database's own tables, relationships and column
roles.

Each intent has at least three phrasings that differ in verb, word order and wording (synonyms from
the column names, with and without the table's name), so the trained phrasing and its held-out
paraphrases do not share one sentence frame; `phrasing_variety` measures it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterator

from engine.qa.phrasing import an, ident, literal, plural, table_words, words
from engine.qa.profile import ColumnProfile, TableProfile
from engine.qa.validate import DEFAULT_MAX_ROWS

if TYPE_CHECKING:
    from engine.qa.templates import Intent

_WORD = re.compile(r"[A-Za-z][a-z]{3,}")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def phrasing_variety(questions: list[str], n: int = 2) -> float:
    """Share of distinct word n-grams among all n-grams of an intent's phrasings: 1.0 when no two
    phrasings share a word pair, low when they are one frame with a word swapped."""
    grams = []
    for question in questions:
        tokens = re.findall(r"[a-z0-9']+", question.lower())
        grams += [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


class CompositionalFamilies:
    """Mixed into TemplateGenerator: needs its profiles, by_name, db, _sql_intent, _rng and num."""

    def _relations(self) -> Iterator[tuple[TableProfile, str, str, TableProfile, ColumnProfile]]:
        """(child, child column, parent column, parent, parent's name column) for each single-column
        foreign key whose parent rows have a name or code a person would use."""
        for child in self.profiles:
            for fk in child.table.foreign_keys:
                parent = self.by_name.get(fk.ref_table)
                if parent is None or len(fk.columns) != 1 or parent is child:
                    continue
                shown = parent.label or parent.identifier
                if shown is not None:
                    yield child, fk.columns[0], fk.ref_columns[0], parent, shown

    def _group_sizes(self, table: str, column: str) -> list[int]:
        rows = self.db.query(f"SELECT COUNT(*) FROM {ident(table)} WHERE {ident(column)} IS NOT NULL "
                             f"GROUP BY {ident(column)} ORDER BY 1", max_rows=5000).rows
        return [int(r[0]) for r in rows]

    def sql_having(self) -> Iterator["Intent"]:
        """Groups above a size: 'which customers have more than 5 orders?'."""
        for child, fk, ref, parent, shown in self._relations():
            sizes = self._group_sizes(child.name, fk)
            if len(sizes) < 4:
                continue
            above = min(20, max(1, len(sizes) // 10))  # a short list: at most 20 parents, about a tenth
            n = sizes[-above - 1]
            if n < 1 or n == sizes[-1]:
                continue
            one, many = table_words(child.name)
            p_one, p_many = table_words(parent.name)
            sql = (f"SELECT p.{ident(shown.name)} FROM {ident(parent.name)} AS p JOIN {ident(child.name)} AS c "
                   f"ON c.{ident(fk)} = p.{ident(ref)} GROUP BY p.{ident(ref)}, p.{ident(shown.name)} "
                   f"HAVING COUNT(*) > {n}")
            yield self._sql_intent("sql.having", f"sql.having:{child.name}.{fk}:{n}",
                                   [f"Which {p_many} have more than {n} {many}?",
                                    f"List every {p_one} with over {n} {many}.",
                                    f"{p_many.capitalize()} that account for more than {n} {many} in {child.name}?",
                                    f"Show me the {words(shown.name)} of each {p_one} having {n + 1} or more {many}."],
                                   sql, [child.name, parent.name])
        for t in self.profiles:
            _, many = table_words(t.name)
            for c in t.role("category"):
                sizes = self._group_sizes(t.name, c.name)
                if len(sizes) < 3:
                    continue
                n = sizes[len(sizes) // 2]
                yield self._sql_intent("sql.having", f"sql.having:{t.name}.{c.name}:{n}",
                                       [f"Which {words(c.name)} values have more than {n} {many}?",
                                        f"List the {plural(words(c.name))} with over {n} {many} each.",
                                        f"In {t.name}, which {words(c.name)} groups count more than {n} rows?"],
                                       f"SELECT {ident(c.name)} FROM {ident(t.name)} GROUP BY {ident(c.name)} "
                                       f"HAVING COUNT(*) > {n}", [t.name])

    def sql_nested(self) -> Iterator["Intent"]:
        """NOT IN (parents without children) and IN (parents with a kind of child), as counts."""
        for child, fk, ref, parent, shown in self._relations():
            one, many = table_words(child.name)
            p_one, p_many = table_words(parent.name)
            sub = f"SELECT {ident(fk)} FROM {ident(child.name)} WHERE {ident(fk)} IS NOT NULL"
            yield self._sql_intent("sql.not_in", f"sql.not_in:{child.name}.{fk}",
                                   [f"How many {p_many} have no {many}?",
                                    f"Count the {p_many} that never appear in {child.name}.",
                                    f"Number of {p_many} without any {one}?",
                                    f"How many {p_many} are there with zero {many} recorded?"],
                                   f"SELECT COUNT(*) FROM {ident(parent.name)} WHERE {ident(ref)} NOT IN ({sub})",
                                   [parent.name, child.name])
            for c in child.role("category")[:2]:
                value = c.values[len(c.values) // 2] if c.values else None
                if value is None:
                    continue
                yield self._sql_intent(
                    "sql.in", f"sql.in:{child.name}.{fk}.{c.name}:{value}",
                    [f"How many {p_many} have at least one {one} with {words(c.name)} {value}?",
                     f"Count the distinct {p_many} behind {many} whose {words(c.name)} is '{value}'.",
                     f"Number of {p_many} with any {words(c.name)} = {value} {one}?"],
                    f"SELECT COUNT(*) FROM {ident(parent.name)} WHERE {ident(ref)} IN (SELECT {ident(fk)} FROM "
                    f"{ident(child.name)} WHERE {ident(c.name)} = {literal(value)})", [parent.name, child.name])

    def sql_set_ops(self) -> Iterator["Intent"]:
        """INTERSECT / EXCEPT of two kinds of child rows, counted per parent."""
        for child, fk, ref, parent, shown in self._relations():
            one, many = table_words(child.name)
            p_one, p_many = table_words(parent.name)
            for c in child.role("category")[:1]:
                if len(c.values) < 2:
                    continue
                a, b = c.values[0], c.values[1]
                side = f"SELECT {ident(fk)} FROM {ident(child.name)} WHERE {ident(c.name)} = "
                what = words(c.name)
                yield self._sql_intent(
                    "sql.intersect", f"sql.intersect:{child.name}.{fk}.{c.name}",
                    [f"How many {p_many} have {many} with {what} {a} and also with {what} {b}?",
                     f"Count {p_many} that appear with both {a} and {b} {what} in {child.name}.",
                     f"Number of {p_many} having both {an(f'{a} {one}')} and {an(f'{b} {one}')}?"],
                    f"SELECT COUNT(*) FROM ({side}{literal(a)} INTERSECT {side}{literal(b)}) AS s",
                    [child.name, parent.name])
                yield self._sql_intent(
                    "sql.except", f"sql.except:{child.name}.{fk}.{c.name}",
                    [f"How many {p_many} have {many} with {what} {b} but none with {what} {a}?",
                     f"Count the {p_many} with {an(f'{b} {one}')} and never {an(str(a))} one.",
                     f"Number of {p_many} whose {many} include {what} {b} yet exclude {a}?"],
                    f"SELECT COUNT(*) FROM ({side}{literal(b)} EXCEPT {side}{literal(a)}) AS s",
                    [child.name, parent.name])

    def sql_multi_aggregates(self) -> Iterator["Intent"]:
        """Several aggregates in one query, overall and per category."""
        for t in self.profiles:
            _, many = table_words(t.name)
            for m in t.role("measure")[:3]:
                what, x = words(m.name), self.num(m)
                yield self._sql_intent("sql.multi_aggregate", f"sql.multi_aggregate:{t.name}.{m.name}",
                                       [f"What are the smallest, largest and average {what} of {many}?",
                                        f"Give min, max and mean {what} across {t.name}.",
                                        f"Show the range of {what} among {many} (lowest and highest) and its average."],
                                       f"SELECT MIN({x}), MAX({x}), ROUND(AVG({x}), 2) FROM {ident(t.name)}", [t.name])
                for c in t.role("category")[:1]:
                    yield self._sql_intent(
                        "sql.group_multi_aggregate", f"sql.group_multi_aggregate:{t.name}.{c.name}.{m.name}",
                        [f"For each {words(c.name)}, how many {many} are there and what is their average {what}?",
                         f"Count of {many} and mean {what} by {words(c.name)}.",
                         f"Per {words(c.name)}: number of rows in {t.name} and avg {what}?"],
                        f"SELECT {ident(c.name)}, COUNT(*), ROUND(AVG({x}), 2) FROM {ident(t.name)} "
                        f"GROUP BY {ident(c.name)}", [t.name])

    def sql_like(self) -> Iterator["Intent"]:
        """A word inside a name or a free-text column (case-insensitive on every engine)."""
        for t in self.profiles:
            _, many = table_words(t.name)
            for c in t.role("label", "text")[:2]:
                rows = self.db.query(f"SELECT {ident(c.name)} FROM {ident(t.name)} WHERE {ident(c.name)} IS NOT NULL",
                                     max_rows=2000).rows
                counts: dict[str, int] = {}
                for (value,) in rows:
                    for word in set(w.lower() for w in _WORD.findall(str(value))):
                        counts[word] = counts.get(word, 0) + 1
                common = sorted(w for w, k in counts.items() if 2 <= k <= max(2, len(rows) // 3))
                if not common:
                    continue
                word = self._rng("like", t.name, c.name).choice(common)
                what = words(c.name)
                yield self._sql_intent("sql.like", f"sql.like:{t.name}.{c.name}:{word}",
                                       [f"How many {many} have '{word}' in their {what}?",
                                        f"Count {t.name} rows whose {what} mentions {word}.",
                                        f"Number of {many} with a {what} containing the word {word}?"],
                                       f"SELECT COUNT(*) FROM {ident(t.name)} "
                                       f"WHERE LOWER({ident(c.name)}) LIKE '%{word}%'", [t.name])

    def sql_month_ranges(self) -> Iterator["Intent"]:
        """Rows in one month: a date range with both ends."""
        for t in self.profiles:
            _, many = table_words(t.name)
            for c in t.role("date"):
                if c.min is None or c.max is None:
                    continue
                first, last = str(c.min)[:7], str(c.max)[:7]
                rng = self._rng("month", t.name, c.name)
                year = rng.randint(int(first[:4]), int(last[:4]))
                month = rng.randint(1, 12)
                start = f"{year}-{month:02d}-01"
                if not first <= start[:7] <= last:
                    continue
                end = f"{year + (month == 12)}-{month % 12 + 1:02d}-01"
                name = f"{MONTHS[month - 1]} {year}"
                col = ident(c.name)
                yield self._sql_intent("sql.month_count", f"sql.month_count:{t.name}.{c.name}:{start[:7]}",
                                       [f"How many {many} have a {words(c.name)} in {name}?",
                                        f"{many.capitalize()} during {name} by {words(c.name)}: how many?",
                                        f"Count {t.name} rows with {words(c.name)} between {start} and the end of {name}."],
                                       f"SELECT COUNT(*) FROM {ident(t.name)} WHERE {col} >= '{start}' AND {col} < '{end}'",
                                       [t.name])

    def _round_bound(self, t: TableProfile, m: ColumnProfile) -> int | float | None:
        """A round number that about a fifth of the measure's values exceed (two significant digits)."""
        values = [r[0] for r in self.db.query(f"SELECT {self.num(m)} FROM {ident(t.name)} WHERE {ident(m.name)} "
                                              f"IS NOT NULL ORDER BY 1", max_rows=5000).rows if r[0] is not None]
        if len(values) < 5:
            return None
        bound = float(f"{float(values[int(len(values) * 0.8)]):.2g}")
        bound = int(bound) if bound.is_integer() else bound
        return bound if values[0] <= bound < values[-1] else None

    def _listable(self, t: TableProfile, where: str) -> bool:
        """A filter whose rows make a list to answer with: some rows but not all, and no more than a pair's
        result may hold."""
        kept, total = self.db.query(f"SELECT COUNT(*) FILTER (WHERE {where}), COUNT(*) FROM {ident(t.name)}").rows[0]
        return 0 < kept < total and kept <= DEFAULT_MAX_ROWS

    def sql_row_lists(self) -> Iterator["Intent"]:
        """The names of the rows a filter keeps, not their count: a flag set, a category, a missing value,
        a measure above a round bound ('which …' is asked as often as 'how many …')."""
        for t in self.profiles:
            name = t.label
            if name is None:
                continue
            one, many = table_words(t.name)
            named = words(name.name)

            def listing(family: str, key: str, questions: list[str], where: str) -> Iterator["Intent"]:
                if self._listable(t, where):
                    yield self._sql_intent(family, key, questions,
                                           f"SELECT {ident(name.name)} FROM {ident(t.name)} WHERE {where}", [t.name])

            for c in t.role("flag"):
                what = words(c.name).removeprefix("is ")
                yield from listing("sql.flag_list", f"sql.flag_list:{t.name}.{c.name}",
                                   [f"Which {many} are {what}?", f"List the {what} {many}.",
                                    f"Show every {one} with {words(c.name)} set.",
                                    f"{named.capitalize()} of the {many} flagged {what}?"],
                                   f"{ident(c.name)} = {literal(c.true_value)}")
            for c in t.role("category")[:2]:
                if not c.values:
                    continue
                value = self._rng("list", t.name, c.name).choice(c.values[:4])
                yield from listing("sql.category_list", f"sql.category_list:{t.name}.{c.name}:{value}",
                                   [f"Which {many} have {words(c.name)} {value}?",
                                    f"List {many} where {words(c.name)} is {value}.",
                                    f"Show the {named} of every {one} in {value}.",
                                    f"{value} {many}: which ones?"],
                                   f"{ident(c.name)} = {literal(value)}")
            for c in t.columns:
                if c.nulls and c.role not in ("text", "label", "key"):
                    yield from listing("sql.missing_list", f"sql.missing_list:{t.name}.{c.name}",
                                       [f"Which {many} have no {words(c.name)}?",
                                        f"List the {many} missing a {words(c.name)}.",
                                        f"Show {many} without any {words(c.name)} on file."],
                                       f"{ident(c.name)} IS NULL")
            for m in t.role("measure")[:2]:
                bound = self._round_bound(t, m)
                if bound is None:
                    continue
                what = words(m.name)
                yield from listing("sql.threshold_list", f"sql.threshold_list:{t.name}.{m.name}:{bound}",
                                   [f"Which {many} have {what} over {bound}?",
                                    f"List {many} with {what} above {bound}.",
                                    f"Show every {one} whose {what} is more than {bound}.",
                                    f"{many.capitalize()} where {what} > {bound}?"],
                                   f"{self.num(m)} > {bound}")
