"""Turn identifiers into words ("support_tickets" → "support tickets", singular "support ticket")
and write SQL literals/identifiers safely. Small on purpose: templates need readable English, not
linguistics."""

from __future__ import annotations

import re

_SIMPLE_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = {"order", "group", "select", "from", "where", "table", "user", "limit", "by", "to", "desc",
             "asc", "join", "on", "in", "is", "as", "and", "or", "not", "null", "case", "when", "end"}


# Abbreviations common in column and table names, spoken in full in questions ('CustNm' → 'customer name').
ABBREVIATIONS = {
    "cust": "customer", "custs": "customers", "nm": "name", "cd": "code", "crs": "course", "yr": "year",
    "yrs": "years", "dt": "date", "lvl": "level", "instr": "instructor", "amt": "amount", "qty": "quantity",
    "desc": "description", "addr": "address", "dept": "department", "emp": "employee", "sess": "session",
    "cap": "capacity", "lmt": "limit", "dur": "duration", "pct": "percent", "avg": "average", "tel": "phone",
    "prod": "product", "cat": "category", "txn": "transaction", "acct": "account", "mgr": "manager",
}


def identifier_words(identifier: str) -> list[str]:
    """The words of a name as written: 'CustNm' → ['cust', 'nm'], 'HTMLPage' → ['html', 'page']."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", identifier)
    return re.sub(r"[_\s]+", " ", spaced).strip().lower().split()


def words(identifier: str) -> str:
    """How a name is said: 'total_amount' → 'total amount'; 'orderDate' → 'order date'; 'CustNm' →
    'customer name'."""
    return " ".join(ABBREVIATIONS.get(w, w) for w in identifier_words(identifier))


def singular(phrase: str) -> str:
    """Singular of the last word: 'support tickets' → 'support ticket', 'categories' → 'category'."""
    head, _, last = phrase.rpartition(" ")
    if last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif re.search(r"(sses|uses|shes|ches|xes)$", last):
        last = last[:-2]
    elif last.endswith("s") and not re.search(r"(ss|us|is)$", last):
        last = last[:-1]
    return f"{head} {last}".strip()


def plural(phrase: str) -> str:
    head, _, last = phrase.rpartition(" ")
    if re.search(r"[^aeiou]y$", last):
        last = last[:-1] + "ies"
    elif re.search(r"(s|sh|ch|x)$", last):
        last += "es"
    else:
        last += "s"
    return f"{head} {last}".strip()


def table_words(table: str) -> tuple[str, str]:
    """(singular, plural) words for a table name, whichever number the name is in."""
    spoken = words(table)
    one = singular(spoken)
    return one, (spoken if one != spoken else plural(one))


def an(phrase: str) -> str:
    """'an order', 'a customer' (by first letter; good enough for column and table words)."""
    return ("an " if phrase[:1].lower() in "aeio" else "a ") + phrase


def ident(name: str) -> str:
    """An SQL identifier, quoted only when it has to be."""
    if _SIMPLE_IDENTIFIER.match(name) and name.lower() not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def literal(value: object) -> str:
    """An SQL literal for a value read from the database."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    return "'" + text.replace("'", "''") + "'"


def format_value(value: object) -> str:
    """How a data fact's answer is written: exact, no thousands separators, 2 decimals for
    fractional numbers, ISO dates."""
    from engine.qa.validate import normalize_value

    value = normalize_value(value)
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
