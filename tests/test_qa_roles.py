"""Column roles on databases shaped unlike the demo: a year, a number, a place or a person's name is
never taken for a code, and only real code tables give code-meaning facts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.db import open_database
from engine.project import ProjectStore
from engine.qa.generate import generate_template_pairs
from engine.qa.phrasing import words
from engine.qa.profile import profile_database
from engine.qa.templates import TemplateGenerator
from engine.qa.validate import ValidationConfig, validate_sql

ROOT = Path(__file__).resolve().parents[1]
KESTREL = {"sqlite": ROOT / "resources/demo/kestrel.sqlite", "duckdb": ROOT / "resources/demo/kestrel.duckdb"}

EXPECTED_KESTREL = {
    ("RegionCodes", "RegCd"): "code", ("RegionCodes", "RegNm"): "label",
    ("Cust", "CustID"): "key", ("Cust", "CustNm"): "label", ("Cust", "City"): "text",
    ("Cust", "Sector"): "category", ("Cust", "Is_Active"): "flag", ("Cust", "SinceYr"): "year",
    ("Cust", "CreditLmt"): "measure", ("Instructors", "HomeCity"): "text", ("Instructors", "HireYr"): "year",
    ("Instructors", "IsSenior"): "flag", ("Instructors", "FullNm"): "label", ("Venues", "Town"): "text",
    ("Venues", "OpenedYear"): "year", ("Venues", "VenueName"): "label", ("CourseCatalog", "CrsCd"): "code",
    ("CourseCatalog", "DurDays"): "measure", ("CourseCatalog", "Lvl"): "category", ("Sessions", "InstrID"): "key",
    ("Sessions", "StartDt"): "date", ("Sessions", "Cancelled"): "flag", ("Enrollments", "Certified"): "flag",
    ("Enrollments", "Rating"): "measure",
}


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_roles_of_the_second_demo_database(engine):
    with open_database(KESTREL[engine]) as db:
        profiles = {(t.name, c.name): c for t in profile_database(db) for c in t.columns}
    assert {k: profiles[k].role for k in EXPECTED_KESTREL} == EXPECTED_KESTREL
    assert profiles[("Cust", "CreditLmt")].stored_as_text and profiles[("Cust", "SinceYr")].stored_as_text
    assert profiles[("Cust", "Is_Active")].true_value == "Y" and profiles[("Sessions", "Cancelled")].true_value == "T"


def _code_facts(path):
    with open_database(path) as db:
        generator = TemplateGenerator(db)
        roles = {(t.name, c.name): c.role for t in generator.profiles for c in t.columns}
        codes = {t.name: t.code.name for t in generator.profiles if t.code}
        return [i for i in generator.intents() if i.family in ("schema.code_meaning", "schema.code_for")], roles, codes


@pytest.mark.parametrize("path, tables", [
    (KESTREL["sqlite"], {"RegionCodes", "CourseCatalog"}),
    (ROOT / "resources/demo/lumen.sqlite", {"loyalty_tiers", "order_statuses"}),
])
def test_every_code_meaning_fact_comes_from_a_code_column(path, tables):
    facts, roles, codes = _code_facts(path)
    assert {f.tables[0] for f in facts} == tables
    for fact in facts:  # the column each fact explains, and its role
        table = fact.tables[0]
        assert roles[(table, codes[table])] == "code", fact.key
    assert not [f for f in facts if any(v in " ".join(f.questions) for v in ("Leeds", "2012", "Manchester"))]


def test_years_places_and_names_are_never_codes(tmp_path):
    """The shapes that went wrong on a third-party database: a small table whose unique location
    or release-year column was taken for a code ("What does the stadium code Peterhead mean?")."""
    path = tmp_path / "concerts.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE stadium (Stadium_ID INTEGER PRIMARY KEY, Location TEXT, Name TEXT, Capacity INTEGER);
        CREATE TABLE singer (Singer_ID INTEGER PRIMARY KEY, Name TEXT, Country TEXT, Song_Name TEXT,
                             Song_release_year TEXT, Age INTEGER, Is_male TEXT);
        CREATE TABLE product_type (type_code TEXT PRIMARY KEY, type_name TEXT);
    """)
    towns = ["Peterhead", "Raith", "Ayr", "Stirling", "Balmoor", "Glebe", "Bayview", "Hampden", "Forthbank"]
    con.executemany("INSERT INTO stadium VALUES (?, ?, ?, ?)",
                    [(i, t, f"{t} Park", 1000 + 317 * i) for i, t in enumerate(towns, 1)])
    con.executemany("INSERT INTO singer VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(i, f"Singer {n}", "France" if i % 2 else "Netherlands", f"Song {n}", str(1990 + 2 * i),
                      20 + i, "T" if i % 2 else "F") for i, n in enumerate("Joe Ann Tim Rose Lee Kim".split(), 1)])
    con.executemany("INSERT INTO product_type VALUES (?, ?)", [("HW", "Hardware"), ("SW", "Software"), ("SV", "Services")])
    con.commit()
    con.close()
    facts, roles, codes = _code_facts(path)
    assert roles[("stadium", "Location")] != "code" and roles[("singer", "Song_release_year")] == "year"
    assert roles[("singer", "Name")] != "code" and roles[("singer", "Is_male")] == "flag"
    assert {f.tables[0] for f in facts} == {"product_type"}
    assert sorted(f.answer for f in facts if f.family == "schema.code_meaning") == ["Hardware", "Services", "Software"]


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_template_sql_runs_on_text_numbers_and_letter_flags(engine):
    with open_database(KESTREL[engine]) as db:
        intents = list(TemplateGenerator(db).intents())
        checked = {i.key: validate_sql(db, i.sql, ValidationConfig()) for i in intents if i.sql}
        failed = [(key, c.message) for key, c in checked.items() if c.status != "ok"]
    assert not failed
    by_key = {i.key: i for i in intents}
    assert "'Y'" in by_key["sql.filtered_count:Cust.Is_Active:Y"].sql
    sums = [i.sql for i in intents if i.family == "data.aggregate" and "CreditLmt" in i.key]
    assert sums and all("CAST" in sql for sql in sums)
    assert not [i for i in intents if "year" in i.family and "SinceYr" in i.key and i.family.startswith("data.aggregate")]


def test_abbreviated_names_are_spoken_in_full():
    assert words("CustNm") == "customer name" and words("RegCd") == "reg code" and words("SinceYr") == "since year"
    assert words("order_date") == "order date" and words("HTMLPage") == "html page"


def test_a_table_with_no_usable_column_is_skipped_with_a_reason(tmp_path):
    path = tmp_path / "blobs.sqlite"
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE images (data BLOB); CREATE TABLE tags (tag_id INTEGER PRIMARY KEY, label TEXT);")
    con.executemany("INSERT INTO images VALUES (?)", [(bytes([i]) * 10,) for i in range(5)])
    con.executemany("INSERT INTO tags VALUES (?, ?)", [(1, "red"), (2, "blue")])
    con.commit()
    con.close()
    with open_database(path) as db, ProjectStore.create(tmp_path / "p.engram", path) as store:
        report = generate_template_pairs(store, db)
        assert report.added > 0  # the pairs it can: the tags table, and schema facts
        assert len(report.skipped) == 1 and report.skipped[0].startswith("images: only schema facts")
        assert "BLOB" in report.skipped[0]
