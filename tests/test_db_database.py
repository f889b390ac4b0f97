"""Describing and querying a database, read-only, in both engines."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from engine.cancel import Cancelled, CancelToken
from engine.db import open_database, parse_read_only
from engine.db import errors as e


def test_kind_is_detected_by_header_not_extension(demo_sqlite, demo_duckdb, tmp_path):
    swapped_sqlite = demo_sqlite.rename(tmp_path / "really_sqlite.duckdb")
    swapped_duck = demo_duckdb.rename(tmp_path / "really_duck.sqlite")
    with open_database(swapped_sqlite) as db:
        assert db.kind == "sqlite"
    with open_database(swapped_duck) as db:
        assert db.kind == "duckdb"


def test_schema_lists_tables_views_columns_keys_and_counts(demo_db):
    with open_database(demo_db) as db:
        schema = db.schema()
    assert schema.table_names[:3] == ["customers", "loyalty_tiers", "order_items"]
    orders = schema.table("orders")
    assert orders.kind == "table"
    assert orders.primary_key == ("order_id",)
    assert orders.row_count == 2400
    assert {(fk.columns, fk.ref_table, fk.ref_columns) for fk in orders.foreign_keys} == {
        (("customer_id",), "customers", ("customer_id",)),
        (("status_code",), "order_statuses", ("status_code",)),
    }
    assert orders.column("total_amount").type == "DECIMAL(10,2)"
    assert orders.column("coupon_code").nullable
    assert not orders.column("order_date").nullable
    view = schema.table("order_overview")
    assert view.kind == "view" and view.row_count is None
    assert view.column("total_amount").type == "DECIMAL(10,2)"
    assert schema.tables[-1] is view, "views come after tables"


def test_sample_rows(demo_db):
    with open_database(demo_db) as db:
        result = db.sample_rows("order_statuses", limit=3)
    assert result.columns == ["status_code", "description", "is_final"]
    assert len(result.rows) == 3


def test_query_row_cap_sets_truncated(demo_db):
    with open_database(demo_db) as db:
        capped = db.query("SELECT order_id FROM orders ORDER BY order_id", max_rows=10)
        whole = db.query("SELECT status_code FROM order_statuses", max_rows=10)
    assert capped.rows == [(i,) for i in range(1, 11)] and capped.truncated
    assert len(whole.rows) == 6 and not whole.truncated


SLOW = {
    "sqlite": "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT COUNT(*) FROM r",
    "duckdb": "SELECT SUM(i * i) FROM range(100000000000) t(i)",
}


def test_query_time_limit(demo_db):
    with open_database(demo_db) as db:
        with pytest.raises(e.QueryTimeout, match="time limit"):
            db.query(SLOW[db.kind], timeout_s=0.3)
        assert db.query("SELECT COUNT(*) FROM customers").rows == [(600,)]  # still usable


def test_query_cancel_from_another_thread(demo_db):
    token = CancelToken()
    with open_database(demo_db) as db:
        threading.Timer(0.3, token.cancel).start()
        with pytest.raises(Cancelled):
            db.query(SLOW[db.kind], timeout_s=60, cancel=token)


@pytest.mark.parametrize(
    "sql, reason",
    [
        ("DELETE FROM customers", "DELETE"),
        ("UPDATE orders SET status_code = 'DLV'", "UPDATE"),
        ("DROP TABLE orders", "DROP"),
        ("CREATE TABLE x (a INT)", "CREATE"),
        ("INSERT INTO teams VALUES (9, 'x')", "INSERT"),
        ("SELECT 1; DELETE FROM customers", "one statement"),
        ("ATTACH 'other.db' AS other", "read-only"),
        ("PRAGMA writable_schema = 1", "read-only"),
        ("SELECT * INTO copy_of FROM customers", "INTO"),
        ("SELEC * FROM customers", "does not parse"),
        ("   ", "empty"),
    ],
)
def test_refuses_anything_but_one_read_only_query(sql, reason, demo_db):
    with open_database(demo_db) as db:
        with pytest.raises(e.QueryRejected, match=reason):
            db.query(sql)


def test_accepts_ctes_unions_and_trailing_semicolon():
    for sql in ("WITH t AS (SELECT 1 AS a) SELECT a FROM t;", "SELECT 1 UNION ALL SELECT 2"):
        parse_read_only(sql, "sqlite")


def test_runtime_error_is_a_query_failure(demo_db):
    with open_database(demo_db) as db:
        with pytest.raises(e.QueryFailed):
            db.query("SELECT no_such_column FROM customers")


def _fingerprint(path):
    return hashlib.sha256(path.read_bytes()).hexdigest(), os.stat(path).st_mtime_ns, sorted(os.listdir(path.parent))


def test_a_session_of_use_never_modifies_the_file(demo_db):
    before = _fingerprint(demo_db)
    for _ in range(2):
        with open_database(demo_db) as db:
            db.schema()
            for table in db.schema().table_names:
                db.sample_rows(table)
            db.query("SELECT c.country, SUM(o.total_amount) FROM orders o JOIN customers c "
                     "ON c.customer_id = o.customer_id GROUP BY c.country")
            with pytest.raises(e.QueryRejected):
                db.query("DELETE FROM orders")
    assert _fingerprint(demo_db) == before


def test_a_huge_value_is_refused_and_a_big_result_is_cut_by_bytes(demo_db, capsys):
    """`SELECT randomblob(1000000000)` once returned a 1 GB value (6.6 GB resident): results are capped
    in bytes as well as rows, with a note saying which cap cut them."""
    import resource

    from app.cli import main as cli
    from engine.db.errors import QueryFailed

    with open_database(demo_db) as db:
        if db.kind == "sqlite":  # SQLite refuses to build the value at all
            with pytest.raises(QueryFailed, match="larger than 16 MB"):
                db.query("SELECT randomblob(1000000000)")
        wide = "SELECT repeat('x', 100000) FROM orders" if db.kind == "duckdb" else \
            "SELECT hex(randomblob(50000)) FROM orders"
        cut = db.query(wide, max_rows=1000, max_bytes=1_000_000)
        assert cut.truncated and 5 <= cut.row_count <= 10 and "larger than" in cut.note and "MB" in cut.note
        rows = db.query("SELECT order_id FROM orders", max_rows=10)
        assert rows.truncated and rows.note == "more than 10 rows: the first 10 are shown"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 4 * 2**20  # KB: never near a gigabyte value
    assert cli(["query", str(demo_db), wide, "--max-rows", "1000"]) == 0
    err = capsys.readouterr().err
    assert "truncated: the result is larger than 16 MB" in err
