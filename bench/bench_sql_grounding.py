"""How well a SQL prompt is grounded, before any model answers: the schema's size in tokens, and how
often table selection shows every table a held-out question's gold SQL needs.

For each demo database: template pairs are generated into a scratch project (the example store; held-out
questions are kept out of it as in a real run), then for every held-out question the tables chosen
under the prompt's schema budget are compared with the tables of its gold SQL. Selection is scored
with lexical overlap alone, with the retrieved examples' tables, and with base-model embeddings.
A generated 200-table database (20 copies of a 10-table shop, with prefixes) measures the large-schema
case on questions generated for it (every fifth intent kept out of the store).

    .venv/bin/python bench/bench_sql_grounding.py [--databases lumen kestrel] [--no-embeddings] [--out docs/benchmarks]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlglot  # noqa: E402
from sqlglot import exp  # noqa: E402

from engine.db import open_database  # noqa: E402
from engine.project import ProjectStore  # noqa: E402
from engine.qa.generate import generate_template_pairs  # noqa: E402
from engine.qa.heldout import load_heldout  # noqa: E402
from engine.sqlgen.grounding import SqlGrounding  # noqa: E402
from engine.sqlgen.table_selection import LlamaEmbedder  # noqa: E402

DEMO = ROOT / "resources" / "demo"


def gold_tables(sql: str, names: list[str]) -> set[str]:
    known = {n.lower(): n for n in names}
    tree = sqlglot.parse_one(sql, read="sqlite")
    return {known[t.name.lower()] for t in tree.find_all(exp.Table) if t.name.lower() in known}


def approved_pairs(db, folder: Path) -> list:
    with ProjectStore(folder / "scratch.engram") as store:
        generate_template_pairs(store, db)
        return [replace(p, status="approved") for p in store.pairs() if p.validation in (None, "ok")]


def recall(grounding: SqlGrounding, questions: list[tuple[str, str]], names: list[str], examples: bool) -> dict:
    hits, shown = 0, []
    for question, sql in questions:
        hint = [t for e in grounding.store.nearest(question, grounding.k) for t in e.tables] if examples else []
        chosen = set(grounding.selector.select(question, hint))
        hits += gold_tables(sql, names) <= chosen
        shown.append(len(chosen))
    return {"recall": hits / len(questions), "tables_shown": sum(shown) / len(shown)}


def wide_database(path: Path, copies: int = 20) -> Path:
    """200 tables: copies of a small shop schema under different prefixes, linked by foreign keys."""
    con = sqlite3.connect(path)
    for i in range(copies):
        p = f"unit{i:02d}_"
        con.executescript(f"""
        CREATE TABLE {p}regions(region_id INTEGER PRIMARY KEY, region_name TEXT);
        CREATE TABLE {p}customers(customer_id INTEGER PRIMARY KEY, full_name TEXT, region_id INTEGER REFERENCES {p}regions);
        CREATE TABLE {p}suppliers(supplier_id INTEGER PRIMARY KEY, supplier_name TEXT, country TEXT);
        CREATE TABLE {p}products(product_id INTEGER PRIMARY KEY, product_name TEXT, price REAL, supplier_id INTEGER REFERENCES {p}suppliers);
        CREATE TABLE {p}orders(order_id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES {p}customers, order_date TEXT, total REAL);
        CREATE TABLE {p}order_lines(line_id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES {p}orders, product_id INTEGER REFERENCES {p}products, qty INTEGER);
        CREATE TABLE {p}warehouses(warehouse_id INTEGER PRIMARY KEY, city TEXT, capacity INTEGER);
        CREATE TABLE {p}stock(warehouse_id INTEGER REFERENCES {p}warehouses, product_id INTEGER REFERENCES {p}products, units INTEGER, PRIMARY KEY (warehouse_id, product_id));
        CREATE TABLE {p}employees(employee_id INTEGER PRIMARY KEY, employee_name TEXT, warehouse_id INTEGER REFERENCES {p}warehouses);
        CREATE TABLE {p}shipments(shipment_id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES {p}orders, carrier TEXT, shipped_on TEXT);
        """)
        for r in range(1, 6):
            con.execute(f"INSERT INTO {p}regions VALUES (?, ?)", (r, f"Region {r}"))
            con.execute(f"INSERT INTO {p}customers VALUES (?, ?, ?)", (r, f"Customer {i}-{r}", r))
            con.execute(f"INSERT INTO {p}suppliers VALUES (?, ?, ?)", (r, f"Supplier {r}", ["FR", "DE"][r % 2]))
            con.execute(f"INSERT INTO {p}products VALUES (?, ?, ?, ?)", (r, f"Product {r}", 10.0 * r, r))
            con.execute(f"INSERT INTO {p}orders VALUES (?, ?, ?, ?)", (r, r, f"2024-0{r}-01", 20.0 * r))
            con.execute(f"INSERT INTO {p}order_lines VALUES (?, ?, ?, ?)", (r, r, r, r))
            con.execute(f"INSERT INTO {p}warehouses VALUES (?, ?, ?)", (r, f"City {r}", 100 * r))
            con.execute(f"INSERT INTO {p}stock VALUES (?, ?, ?)", (r, r, r * 3))
            con.execute(f"INSERT INTO {p}employees VALUES (?, ?, ?)", (r, f"Employee {r}", r))
            con.execute(f"INSERT INTO {p}shipments VALUES (?, ?, ?, ?)", (r, r, ["UPS", "DHL"][r % 2], f"2024-0{r}-03"))
    con.commit()
    con.close()
    return path


def measure_demo(name: str, embedder, work: Path) -> dict:
    from engine.models.llama_runtime import LlamaChat

    with open_database(DEMO / f"{name}.sqlite") as db:
        questions = [(q.question, q.gold_sql) for q in load_heldout(ROOT / "evals" / f"{name}.jsonl", db)]
        pairs = approved_pairs(db, work)
        lexical = SqlGrounding.of_database(db, pairs)
        names = [t.name for t in lexical.card.tables]
    chat = LlamaChat(None, n_ctx=512)
    try:
        prompt_tokens = [chat.count_tokens(lexical.prompt(q).text()) for q, _ in questions]
        full_tokens = chat.count_tokens(lexical.card.render())
    finally:
        chat.close()
    row = {"database": name, "questions": len(questions), "store": len(lexical.store), "tables": len(names),
           "full_schema_tokens": full_tokens, "prompt_tokens_mean": sum(prompt_tokens) / len(prompt_tokens),
           "prompt_tokens_max": max(prompt_tokens),
           "lexical": recall(lexical, questions, names, examples=False),
           "lexical+examples": recall(lexical, questions, names, examples=True)}
    if embedder is not None:
        embedded = SqlGrounding(lexical.card, lexical.store, embedder=embedder)
        row["lexical+examples+embeddings"] = recall(embedded, questions, names, examples=True)
    return row


def measure_wide(embedder, work: Path) -> dict:
    path = wide_database(work / "wide.sqlite")
    with open_database(path) as db:
        pairs = [p for p in approved_pairs(db, work) if p.kind == "sql"]
        held = [p for i, p in enumerate(pairs) if i % 5 == 0]
        kept = [p for i, p in enumerate(pairs) if i % 5]
        grounding = SqlGrounding.of_database(db, kept)
        names = [t.name for t in grounding.card.tables]
    questions = [(p.question, p.sql or p.answer) for p in held]
    row = {"database": "wide (200 tables)", "questions": len(questions), "store": len(grounding.store),
           "tables": len(names), "lexical": recall(grounding, questions, names, examples=False),
           "lexical+examples": recall(grounding, questions, names, examples=True)}
    if embedder is not None:
        embedded = SqlGrounding(grounding.card, grounding.store, embedder=embedder)
        row["lexical+examples+embeddings"] = recall(embedded, questions, names, examples=True)
    return row


def report(rows: list[dict]) -> str:
    methods = [m for m in ("lexical", "lexical+examples", "lexical+examples+embeddings") if m in rows[0]]
    lines = ["| database | tables | held-out questions | example store | " + " | ".join(
        f"{m}: gold tables all shown (tables shown)" for m in methods) + " | full schema tokens | prompt tokens mean / max |",
             "|---" * (6 + len(methods)) + "|"]
    for r in rows:
        cells = [f"{r[m]['recall']:.0%} ({r[m]['tables_shown']:.1f})" for m in methods]
        tokens = (f"{r['full_schema_tokens']} | {r['prompt_tokens_mean']:.0f} / {r['prompt_tokens_max']}"
                  if "full_schema_tokens" in r else "- | -")
        lines.append(f"| {r['database']} | {r['tables']} | {r['questions']} | {r['store']} | " + " | ".join(cells)
                     + f" | {tokens} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", nargs="+", default=["lumen", "kestrel"])
    parser.add_argument("--no-embeddings", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    started = time.monotonic()
    embedder = None if args.no_embeddings else LlamaEmbedder()
    rows = []
    for name in args.databases:
        with tempfile.TemporaryDirectory() as work:
            rows.append(measure_demo(name, embedder, Path(work)))
    with tempfile.TemporaryDirectory() as work:
        rows.append(measure_wide(embedder, Path(work)))
    text = report(rows)
    print(text)
    print(f"total {time.monotonic() - started:.0f} s")
    if args.out:
        (args.out / "sql_grounding.md").write_text(text)
        (args.out / "sql_grounding.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
