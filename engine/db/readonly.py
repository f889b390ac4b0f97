"""Refuse any SQL that is not one read-only query, before it reaches the database.

The connection itself is opened read-only too; this check exists so the user gets a clear reason
("this is a DELETE statement") instead of an engine error, and so a model-written query with a
second statement hidden after a semicolon never runs at all.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from engine.db.errors import QueryRejected, SQLSyntaxError

# Nodes that write or change state, wherever they appear inside a query (e.g. a CTE).
_WRITE_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name)
    for name in ("Insert", "Update", "Delete", "Create", "Drop", "Alter", "Merge", "Command",
                 "Copy", "Set", "Pragma", "Use", "Transaction", "Commit", "Rollback", "LoadData",
                 "Attach", "Detach", "Install")
    if hasattr(exp, name)
)


def _describe_parse_error(error: Exception) -> str:
    """sqlglot's first error as 'description (line L, column C)', without its token dump."""
    details = getattr(error, "errors", None)
    if details:
        first = details[0]
        description = str(first.get("description", "")).split(" but got <Token")[0]
        token = first.get("highlight")
        near = f" near {token!r}" if token else ""
        return f"{description}{near} (line {first.get('line')}, column {first.get('col')})"
    return str(error).splitlines()[0]


def parse_read_only(sql: str, dialect: str) -> exp.Query:
    """Parse `sql` and return its single query, or raise QueryRejected saying why it is refused."""
    if not sql or not sql.strip():
        raise SQLSyntaxError("The query is empty")
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (ParseError, TokenError) as error:
        detail = _describe_parse_error(error)
        raise SQLSyntaxError(f"The SQL does not parse ({dialect}): {detail}") from None
    except RecursionError:  # e.g. thousands of nested parentheses from a rambling model
        raise SQLSyntaxError(f"The SQL does not parse ({dialect}): it is nested too deeply to read") from None
    if not statements:
        raise SQLSyntaxError("The query is empty")
    if len(statements) > 1:
        raise QueryRejected(f"Only one statement at a time is allowed; found {len(statements)}")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        if not isinstance(statement, (*_WRITE_NODES, exp.DDL, exp.DML, exp.Describe)):
            # sqlglot reads stray words as an expression (e.g. "SELEC x" as an alias)
            raise SQLSyntaxError(f"The SQL does not parse ({dialect}): it is not a statement")
        kind = statement.key.upper()
        raise QueryRejected(f"Only read-only SELECT queries are allowed; this is a {kind} statement")
    for node in statement.walk():
        if isinstance(node, _WRITE_NODES):
            raise QueryRejected(
                f"Only read-only SELECT queries are allowed; it contains a {node.key.upper()}"
            )
        if isinstance(node, exp.Select) and node.args.get("into") is not None:
            raise QueryRejected("Only read-only SELECT queries are allowed; SELECT ... INTO writes a table")
    return statement
