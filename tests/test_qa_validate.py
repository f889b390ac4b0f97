"""Every SQL answer is checked by running it; each failure is its own status with its message."""

from __future__ import annotations

import pytest

from engine.db import open_database
from engine.qa.validate import ValidationConfig, validate_sql

CASES = [
    ("SELECT COUNT(*) FROM orders", "ok", None),
    ("SELEC COUNT(*) FROM orders", "parse_error", "does not parse"),
    ("SELECT (1", "parse_error", "does not parse"),
    ("", "parse_error", "empty"),
    ("DELETE FROM orders", "not_read_only", "DELETE"),
    ("SELECT 1; DROP TABLE orders", "not_read_only", "one statement"),
    ("SELECT * FROM invoices", "unknown_table", "invoices"),
    ("SELECT discount_code FROM orders", "unknown_column", "discount_code"),
    ("SELECT no_such_function(order_id) FROM orders", "runtime_error", "no_such_function"),
    ("SELECT order_id FROM orders WHERE channel = 'fax'", "empty", "no rows"),
    ("SELECT order_id FROM orders", "too_many_rows", "More than 100 rows"),
]


@pytest.mark.parametrize("sql, status, message", CASES)
def test_each_outcome_has_its_status(demo_db, sql, status, message):
    with open_database(demo_db) as db:
        result = validate_sql(db, sql)
    assert result.status == status
    if message:
        assert message.lower() in result.message.lower()


def test_ok_keeps_hash_and_preview(demo_db):
    with open_database(demo_db) as db:
        result = validate_sql(db, "SELECT channel, COUNT(*) AS n FROM orders GROUP BY channel")
    assert result.ok and len(result.result_hash) == 16
    assert '"columns": ["channel", "n"]' in result.preview


def test_row_cap_is_configurable(demo_sqlite):
    with open_database(demo_sqlite) as db:
        sql = "SELECT customer_id FROM customers WHERE customer_id <= 150"
        assert validate_sql(db, sql).status == "too_many_rows"
        assert validate_sql(db, sql, ValidationConfig(max_rows=200)).status == "ok"


def test_result_hash_ignores_row_order_unless_ordered(demo_sqlite, demo_duckdb):
    with open_database(demo_sqlite) as db:
        a = validate_sql(db, "SELECT status_code FROM order_statuses")
        b = validate_sql(db, "SELECT status_code FROM order_statuses ORDER BY status_code DESC")
        c = validate_sql(db, "SELECT status_code FROM order_statuses ORDER BY status_code")
    with open_database(demo_duckdb) as db:
        d = validate_sql(db, "SELECT status_code FROM order_statuses ORDER BY status_code")
        e = validate_sql(db, "SELECT ROUND(AVG(total_amount), 2) FROM orders")
    with open_database(demo_sqlite) as db:
        f = validate_sql(db, "SELECT ROUND(AVG(total_amount), 2) FROM orders")
    assert b.result_hash != c.result_hash  # ordered results differ by order
    assert c.result_hash == d.result_hash, "the same result in both engines hashes the same"
    assert e.result_hash == f.result_hash, "DECIMAL vs float does not change the hash"


def test_unordered_results_hash_equal_whatever_the_order(demo_sqlite):
    with open_database(demo_sqlite) as db:
        a = validate_sql(db, "SELECT status_code FROM order_statuses")
        b = validate_sql(db, "SELECT status_code FROM (SELECT status_code FROM order_statuses ORDER BY 1 DESC) AS t")
    assert a.result_hash == b.result_hash
