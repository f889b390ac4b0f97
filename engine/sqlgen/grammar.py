"""A llama.cpp grammar (GBNF) that lets the model write only queries made of the database's own names,
each column with a table that has it.

The grammar follows the shape of a query, not all of SQL: SELECT … FROM one table, where the words
before and after the table may only be that table's columns (a query over one table cannot name
another table's column); SELECT … FROM a table JOIN …, where the first table and every joined one must
be real tables, each JOIN follows a table or a join condition (the clauses, WHERE and after, come after
the last join; a table joined to itself needs an alias) and the words may be any shown table's columns;
subqueries in parentheses, each with its own scope; UNION / EXCEPT / INTERSECT between them; and WITH
queries, which keep only the lexical limit (words are keywords, shown names, numbers, short aliases or
names given after AS). Structure within a clause is left to the model and the read-only check.
Anything the grammar cannot express falls back to free decoding with a log line (see `compile_grammar`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from engine.sqlgen.schema_card import SchemaCard, TableCard, sql_name

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
STRUCTURE = {"SELECT", "FROM", "JOIN", "WITH", "UNION", "INTERSECT", "EXCEPT"}  # placed by the grammar's rules
JOINING = {"INNER", "LEFT", "RIGHT", "FULL", "OUTER", "CROSS", "NATURAL", "ON", "USING"}  # not in a one-table query
LOWER_KEYWORDS = frozenset(k.lower() for k in KEYWORDS)  # a name spelled like one is always quoted
CLAUSES = ("WHERE", "GROUP", "HAVING", "ORDER", "LIMIT")  # what may follow the joins of a query
CLAUSE_WORDS = {*CLAUSES, "BY", "ASC", "DESC", "OFFSET"}  # never in a join condition
MAX_SCOPED_TABLES = 40  # more tables than this (a schema shown whole): one scope for all, no per-table branches


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _cases(*words: str) -> str:
    return "(" + " | ".join(_literal(v) for w in words for v in dict.fromkeys((w, w.lower()))) + ")"


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


def _spellings(names: set[str]) -> set[str]:
    """Each name as a query may write it: quoted where needed, else as spelled and in lower case."""
    spelled: set[str] = set()
    for name in names:
        written = sql_name(name)
        spelled.add(written)
        if written == name and name.lower() not in LOWER_KEYWORDS:
            spelled.add(name.lower())
    return spelled


def _scope_rules(scope: str, keywords: str, names: str | None, head: bool = True, between: bool = True) -> list[str]:
    """The words and separators of one scope: `word-S`; with `head`, `head-S` (a SELECT list, up to FROM);
    with `between`, `sep-S` (what goes between words after FROM); and the parentheses in them, where FROM
    may be a word (EXTRACT(YEAR FROM d)). `keywords` and `names` name the shared rules of the words the
    scope allows (`kw-any`, `name-any`); a scope writes only the rules some other rule refers to.

    A parenthesis after FROM may hold a subquery; one in a SELECT list may not. The list comes before
    the table that decides which branch a query is on, so every branch is still alive there, and a
    subquery in it would open every branch again inside each: alternatives multiplying with each level
    made a single token take seconds. For the same reason every rule reads a text one way only: a
    separator after a word always belongs to the repetition that follows it, never to an optional end."""
    from_kw = _cases("FROM")
    rules = [f"word-{scope} ::= {keywords} | number | alias | named" + (f" | {names}" if names else "")]
    if head:  # a word never touches FROM; something other than whitespace comes first (`SELECT FROM t` is no query)
        rules.append(f"head-{scope} ::= sp* ((word-{scope} flat-{scope})+ | (punct | string | flatparen-{scope}) "
                     f"flat-{scope}? (word-{scope} flat-{scope})*)")
    for sep, paren, subquery, wanted in ((f"sep-{scope}", f"paren-{scope}", "ws query | ", between),
                                         (f"flat-{scope}", f"flatparen-{scope}", "", head)):
        if wanted:
            inner = f"{sep}? ((word-{scope} | {from_kw}) {sep})* (word-{scope} | {from_kw})?"
            rules += [f"{sep} ::= (sp | punct | string | {paren})+",
                      f'{paren} ::= "(" ({subquery}{inner}) ")"']
    return rules


def _join_rules(shown: list[TableCard]) -> list[str]:
    """A query over joined tables: FROM a table or a subquery, then JOINs, each with its condition, then
    the clauses (WHERE, GROUP BY, ORDER BY, …). A condition holds no clause keyword and a clause no join,
    so every JOIN follows the table or condition before it (`JOIN b WHERE … JOIN c` and `ON … ON …` are
    not queries), and a table joined to itself needs an alias (`FROM a JOIN a` only names columns
    ambiguously). Any shown table's columns may be named: the SELECT list comes before the tables."""
    firsts = range(len(shown)) if len(shown) <= MAX_SCOPED_TABLES else ()  # more: self-joins unchecked
    first = "".join(f"from-{i} | " for i in firsts) if firsts else "table-any table-alias? link link* clauses? | "
    rules = [
        f"joined ::= head-any {_cases('FROM')} sp+ ({first}derived link* clauses?)",
        'derived ::= "(" ws query ")" table-alias?',
        # a letter (and digit), or after AS a lower-case name (`AS AS`, `AS ON` are not aliases)
        f"table-alias ::= sp+ (({_cases('AS')} sp+)? alias | {_cases('AS')} sp+ [a-z_] [a-z_] [a-z0-9_]*)",
        f"link-head ::= sp+ (join-kind sp+)? {_cases('JOIN')} sp+",
        "link ::= link-head (table-any table-alias? | derived) condition?",
        "join-kind ::= " + " | ".join(f"{_cases(w)} (sp+ {_cases('OUTER')})?" for w in ("LEFT", "RIGHT", "FULL"))
        + f" | {_cases('INNER')} | {_cases('CROSS')} | {_cases('NATURAL')}",
        f"condition ::= sp+ ({_cases('ON')} sep-cond (word-cond sep-cond)* word-cond? | "
        f'{_cases("USING")} ws "(" ws name-any (ws "," ws name-any)* ws ")")',
        f"clauses ::= sp+ {_cases(*CLAUSES)} (sep-rest (word-rest sep-rest)* word-rest?)?",
        "table-any ::= " + " | ".join(f"table-{i}" for i in range(len(shown))),
        *_scope_rules("any", "kw-any", "name-any", between=False),
        *_scope_rules("cond", "kw-cond", "name-any", head=False),
        *_scope_rules("rest", "kw-one", "name-any", head=False),
    ]
    for i in firsts:
        others = "".join(f"table-{j} table-alias? | " for j in range(len(shown)) if j != i)
        rules.append(f"from-{i} ::= table-{i} (table-alias link | link-head ({others}table-{i} table-alias | derived) "
                     "condition?) link* clauses?")
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
    shown: list[TableCard] = [t for t in card.tables if wanted is None or t.name.lower() in wanted]
    result_names = {a for a in (*COMMON_ALIASES, *aliases) if a.isidentifier()}
    every_name = result_names | {t.name for t in shown} | {c for t in shown for c in t.columns}
    any_keywords = [k for k in KEYWORDS if k not in STRUCTURE]
    one_table_keywords = [k for k in any_keywords if k not in JOINING]
    from_kw = _cases("FROM")
    scoped = shown if len(shown) <= MAX_SCOPED_TABLES else []
    bodies = [f"one-{i}" for i in range(len(scoped))] + (["joined"] if shown else []) + ["no-table"]
    rules = [
        "root ::= query | with-query",
        f"query ::= {_cases('SELECT')} sp body (sp+ setop sp+ {_cases('SELECT')} sp body)*",  # SELECT-1: not a query
        f"setop ::= ({_cases('UNION')} (sp+ {_cases('ALL')})? | {_cases('EXCEPT')} | {_cases('INTERSECT')})",
        "body ::= " + " | ".join(bodies),
        # a query without a table (SELECT 1, or subqueries): no column names
        # SELECT (SELECT …) too, but not SELECT and nothing (which a blank line would end: see grammar_sampling)
        "no-table ::= sp* (word-none (sep-none word-none)* sep-none? | (punct | string | paren-none) sep-none? "
        "(word-none sep-none)* word-none?)",
        *_scope_rules("none", "kw-any", None, head=False),
        # the keywords, one prefix tree each for every scope: with joins and in a query over one table
        *_trie_rules("kw-any", {v for k in any_keywords for v in (k, k.lower())}),
        *_trie_rules("kw-one", {v for k in one_table_keywords for v in (k, k.lower())}),
        *_trie_rules("kw-cond", {v for k in one_table_keywords if k not in CLAUSE_WORDS for v in (k, k.lower())}),
        # WITH: the lexical limit only
        f"with-query ::= {_cases('WITH')} sp+ lex-word (lex-gap lex-word)* lex-gap?",
        "lex-gap ::= (sp | punct | string | \"(\" | \")\")+",
        f"lex-word ::= word-{'any' if shown else 'none'} | {_cases(*sorted(STRUCTURE))}",
        "ws ::= sp*",
        "sp ::= [ \\t\\n]",
        "punct ::= [,.*=<>!+/%|;-]",
        "string ::= \"'\" ([^'\\n] | \"''\")* \"'\"",
        'number ::= [0-9]+ ("." [0-9]+)?',
        "alias ::= [a-zA-Z] [0-9]?",
        'named ::= ("AS" | "as") sp+ [a-zA-Z_] [a-zA-Z0-9_]*',
    ]
    if shown:
        rules += [*_join_rules(shown), *_trie_rules("name-any", _spellings(every_name))]
    for i, table in enumerate(shown):
        rules.append(f"table-{i} ::= " + " | ".join(_literal(s) for s in sorted(_spellings({table.name}))))
    for i, table in enumerate(scoped):
        # a query over one table: its own columns only, before FROM and after the table's name
        rules.append(f"one-{i} ::= head-{i} {from_kw} sp+ table-{i} (sep-{i} (word-{i} sep-{i})* word-{i}?)?")
        rules += _scope_rules(str(i), "kw-one", f"name-{i}")
        rules += _trie_rules(f"name-{i}", _spellings(result_names | {table.name, *table.columns}))
    return SqlGrammar("\n".join(rules), tuple(sorted(every_name)))


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
