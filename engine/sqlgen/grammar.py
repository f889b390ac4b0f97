"""A llama.cpp grammar (GBNF) that lets the model write only queries made of the database's own names.

The grammar is lexical, not a full SQL grammar: a query starts with SELECT or WITH and is a sequence
of words separated by spaces, punctuation or quoted strings, where every word is an SQL keyword or
function the read-only subset uses, a table or column name of the prompt's tables (quoted where the
name needs it), a number, a short alias (`t1`, `c`) or a name given after AS. An invented table or
column name cannot be sampled; structure is left to the model and the read-only check. Anything the
grammar cannot express falls back to free decoding with a log line (see `compile_grammar`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from engine.sqlgen.schema_card import SchemaCard, sql_name

log = logging.getLogger(__name__)

KEYWORDS = (
    "SELECT FROM WHERE GROUP BY HAVING ORDER ASC DESC LIMIT OFFSET JOIN INNER LEFT RIGHT FULL OUTER CROSS NATURAL "
    "USING ON AS AND OR NOT IN IS NULL LIKE ILIKE GLOB BETWEEN EXISTS DISTINCT UNION ALL INTERSECT EXCEPT CASE WHEN "
    "THEN ELSE END CAST WITH TRUE FALSE NULLS FIRST LAST ESCAPE FILTER OVER PARTITION ROWS "
    "COUNT SUM AVG MIN MAX TOTAL ROUND ABS LOWER UPPER LENGTH SUBSTR SUBSTRING TRIM LTRIM RTRIM REPLACE INSTR "
    "COALESCE IFNULL NULLIF IIF PRINTF GROUP_CONCAT STRING_AGG DATE TIME DATETIME STRFTIME JULIANDAY "
    "CURRENT_DATE CURRENT_TIMESTAMP NOW EXTRACT YEAR MONTH DAY QUARTER WEEK DATE_TRUNC DATE_PART STRPTIME INTERVAL "
    "INTEGER INT REAL TEXT NUMERIC FLOAT DOUBLE VARCHAR DECIMAL BIGINT BOOLEAN TIMESTAMP RANK ROW_NUMBER DENSE_RANK"
).split()


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _radix(words: set[str]) -> dict:
    """A prefix tree with single-child chains merged: {'cust': {'omers': {'': {}}, ...}} ('' ends a word)."""
    tree: dict = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def merge(node: dict) -> dict:
        out = {}
        for edge, child in node.items():
            while edge and len(child) == 1 and "" not in child:
                (next_edge, next_child), = child.items()
                edge, child = edge + next_edge, next_child
            out[edge] = merge(child) if edge else {}
        return out

    return merge(tree)


def _trie_rules(name: str, words: set[str]) -> list[str]:
    """GBNF rules matching exactly `words`, shaped as a prefix tree: llama.cpp then follows one branch
    per character instead of every alternative, which keeps constrained sampling fast."""
    rules: list[str] = []
    counter = [0]

    def emit(rule: str, node: dict) -> None:
        branches, optional = [], False
        for edge, child in sorted(node.items()):
            if edge == "":
                optional = True
            elif child == {"": {}}:
                branches.append(_literal(edge))
            else:
                counter[0] += 1
                sub = f"{name}-{counter[0]}"
                branches.append(f"{_literal(edge)} {sub}")
                emit(sub, child)
        body = " | ".join(branches)
        rules.append(f"{rule} ::= ({body})?" if optional else f"{rule} ::= {body}")

    emit(name, _radix(words))
    return rules


@dataclass(frozen=True)
class SqlGrammar:
    text: str  # GBNF
    names: tuple[str, ...]  # the table and column names it allows


COMMON_ALIASES = ("n", "total", "cnt", "num", "count", "amount", "value", "revenue", "average", "share", "pct")


def sql_grammar(card: SchemaCard, tables: list[str] | None = None, aliases: set[str] = frozenset()) -> SqlGrammar:
    """The grammar for queries over these tables of the card (all by default); `aliases` are result
    column names a query may refer back to (ORDER BY total), besides the common ones."""
    wanted = None if tables is None else {t.lower() for t in tables}
    names: set[str] = {a for a in (*COMMON_ALIASES, *aliases) if a.isidentifier()}
    for table in card.tables:
        if wanted is None or table.name.lower() in wanted:
            names.add(table.name)
            names.update(table.columns)
    spelled: set[str] = set()
    for name in names:
        written = sql_name(name)
        spelled.add(written)
        if written == name and name.lower() not in {k.lower() for k in KEYWORDS}:
            spelled.add(name.lower())
    keywords = {k for word in KEYWORDS for k in (word, word.lower())}
    text = "\n".join([
        'root ::= start sp gap? word (gap word)* gap?',
        'start ::= ("SELECT" | "select" | "WITH" | "with")',
        "gap ::= (sp | punct | string)+",
        "sp ::= [ \\t\\n]",
        "punct ::= [(),.*=<>!+/%|;-]",
        "string ::= \"'\" ([^'\\n] | \"''\")* \"'\"",
        "word ::= keyword | name | number | alias | named",
        *_trie_rules("keyword", keywords),
        *_trie_rules("name", spelled),
        'number ::= [0-9]+ ("." [0-9]+)?',
        "alias ::= [a-zA-Z] [0-9]?",
        'named ::= ("AS" | "as") sp+ [a-zA-Z_] [a-zA-Z0-9_]*',
    ])
    return SqlGrammar(text, tuple(sorted(names)))


def compile_grammar(chat, grammar: SqlGrammar | None):
    """The chat's compiled grammar, or None (free decoding) with a log line when it cannot be built."""
    if grammar is None:
        return None
    try:
        compiled = chat.grammar(grammar.text)
    except Exception as error:  # noqa: BLE001 - any failure means free decoding, never an error to the user
        compiled, reason = None, str(error)
    else:
        reason = "llama.cpp could not parse it"
    if compiled is None:
        log.warning("SQL grammar not used, free decoding instead: %s", reason)
    return compiled
