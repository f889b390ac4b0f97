"""Build the second demo database shipped in resources/demo/ (SQLite and DuckDB twins).

Kestrel Training is a made-up company that runs short IT courses for business customers. It is
shaped unlike Lumen on purpose, the way many real databases are: CamelCase and abbreviated names
(`CustNm`, `Is_Active`), years and numbers stored as text, 'T'/'F' and 'Y'/'N' flags, a composite
primary key on a many-to-many link table (Enrollments: sessions x customers), one relationship with
no declared foreign key (Sessions.InstrID → Instructors), plural table names and singular ones
(`Cust`, `CourseCatalog`), and a small table whose unique town and year columns are not codes.
Everything comes from one seeded RNG, so the script always writes the same rows:

    python scripts/make_kestrel_db.py         # writes resources/demo/kestrel.sqlite and kestrel.duckdb
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_demo_db import OUT_DIR, write_duckdb, write_sqlite  # noqa: E402

SEED = 20251104

DDL = [
    """CREATE TABLE RegionCodes (
    RegCd VARCHAR PRIMARY KEY,
    RegNm VARCHAR NOT NULL
)""",
    """CREATE TABLE Cust (
    CustID INTEGER PRIMARY KEY,
    CustNm VARCHAR NOT NULL,
    ContactNm VARCHAR NOT NULL,
    City VARCHAR NOT NULL,
    RegCd VARCHAR NOT NULL REFERENCES RegionCodes(RegCd),
    Sector VARCHAR NOT NULL,
    Is_Active VARCHAR NOT NULL,
    SinceYr VARCHAR NOT NULL,
    CreditLmt VARCHAR NOT NULL,
    Email VARCHAR
)""",
    """CREATE TABLE Instructors (
    InstrID INTEGER PRIMARY KEY,
    FullNm VARCHAR NOT NULL,
    HomeCity VARCHAR NOT NULL,
    HireYr VARCHAR NOT NULL,
    IsSenior VARCHAR NOT NULL,
    DayRate DECIMAL(8,2) NOT NULL
)""",
    """CREATE TABLE Venues (
    VenueID INTEGER PRIMARY KEY,
    VenueName VARCHAR NOT NULL,
    Town VARCHAR NOT NULL,
    OpenedYear VARCHAR NOT NULL,
    Rooms INTEGER NOT NULL
)""",
    """CREATE TABLE CourseCatalog (
    CrsCd VARCHAR PRIMARY KEY,
    CrsTitle VARCHAR NOT NULL,
    Topic VARCHAR NOT NULL,
    Lvl VARCHAR NOT NULL,
    DurDays VARCHAR NOT NULL,
    ListPrice DECIMAL(8,2) NOT NULL
)""",
    """CREATE TABLE Sessions (
    SessID INTEGER PRIMARY KEY,
    CrsCd VARCHAR NOT NULL REFERENCES CourseCatalog(CrsCd),
    InstrID INTEGER NOT NULL,
    VenueID INTEGER REFERENCES Venues(VenueID),
    StartDt DATE NOT NULL,
    Mode VARCHAR NOT NULL,
    SeatCap INTEGER NOT NULL,
    Cancelled VARCHAR NOT NULL
)""",
    """CREATE TABLE Enrollments (
    SessID INTEGER NOT NULL REFERENCES Sessions(SessID),
    CustID INTEGER NOT NULL REFERENCES Cust(CustID),
    Seats INTEGER NOT NULL,
    FeePaid DECIMAL(10,2) NOT NULL,
    Certified VARCHAR NOT NULL,
    Rating INTEGER,
    PRIMARY KEY (SessID, CustID)
)""",
]

REGIONS = [("NE", "North East"), ("NW", "North West"), ("MID", "Midlands"), ("SE", "South East"),
           ("SW", "South West"), ("LDN", "Greater London")]
CITIES = {"NE": ["Newcastle", "Sunderland", "Durham"], "NW": ["Manchester", "Liverpool", "Preston"],
          "MID": ["Birmingham", "Nottingham", "Leicester", "Derby"], "SE": ["Brighton", "Reading", "Oxford"],
          "SW": ["Bristol", "Exeter", "Plymouth"], "LDN": ["London"]}
REGION_WEIGHTS = {"NE": 10, "NW": 18, "MID": 20, "SE": 17, "SW": 12, "LDN": 23}
SECTORS = [("Retail", 22), ("Finance", 18), ("Health", 15), ("Public Sector", 12), ("Manufacturing", 20),
           ("Education", 13)]
COMPANY_FIRST = ("Alder Birch Cobalt Delta Ember Fjord Granite Harbour Iris Juniper Kelp Linden Maple Nimbus "
                 "Orchard Pebble Quarry Rowan Saffron Thistle Umber Vale Willow Yarrow Zephyr Bramble Cedar "
                 "Heron Lark Moss").split()
COMPANY_SECOND = ("Foods Logistics Health Bank Housing Systems Engineering Retail Pharma Partners Insurance "
                  "Energy Textiles Schools Trust").split()
SUFFIXES = ["Ltd", "plc", "Group", "& Co", "LLP"]
PEOPLE_FIRST = ("Amara Ben Chloe Dev Ellie Farah George Hana Isaac Jade Kiran Leo Maya Nate Olu Priya "
                "Quinn Rosa Sam Tariq Uma Viktor Wen Yusuf Zara").split()
PEOPLE_LAST = ("Adeyemi Brooks Chen Davies Evans Fraser Gill Hughes Iqbal Jones Khan Lewis Morgan Nolan "
               "Owen Patel Reid Singh Taylor Walsh").split()
INSTRUCTORS = [  # full name, home town, hire year, senior, day rate
    ("Margaret Osei", "Leeds", "2012", "T", 690.0),
    ("Tom Whitaker", "York", "2015", "T", 640.0),
    ("Sunita Rao", "Cambridge", "2016", "F", 560.0),
    ("Declan Murphy", "Cardiff", "2018", "F", 520.0),
    ("Alice Fontaine", "Bath", "2013", "T", 710.0),
    ("Jonas Berg", "Norwich", "2020", "F", 480.0),
    ("Lucy Kimani", "Sheffield", "2019", "F", 505.0),
    ("Raj Mehta", "Coventry", "2011", "T", 735.0),
    ("Helen Price", "Swansea", "2022", "F", 450.0),
    ("Owen Gallagher", "Hull", "2017", "T", 600.0),
]
VENUES = [  # name, town, opened year, rooms
    ("Kestrel House", "Manchester", "2009", 6),
    ("Quayside Centre", "Newcastle", "2014", 4),
    ("The Old Mill", "Nottingham", "2011", 3),
    ("Harbourside Rooms", "Bristol", "2016", 4),
    ("Thames Court", "London", "2007", 8),
    ("Lanes Studio", "Brighton", "2019", 2),
    ("Canal Works", "Birmingham", "2013", 5),
]
COURSES = [  # code, title, topic, level, days, price
    ("SQL101", "SQL for Analysts", "Data", "Beginner", "2", 890.0),
    ("SQL201", "Advanced SQL and Window Functions", "Data", "Intermediate", "2", 1090.0),
    ("PBI110", "Power BI Dashboards", "Data", "Beginner", "1", 540.0),
    ("PY150", "Python for Data Work", "Data", "Intermediate", "3", 1390.0),
    ("ML300", "Machine Learning in Practice", "Data", "Advanced", "5", 2450.0),
    ("AZ104", "Azure Administration", "Cloud", "Intermediate", "4", 1890.0),
    ("AWS120", "AWS Cloud Essentials", "Cloud", "Beginner", "1", 590.0),
    ("K8S240", "Kubernetes Operations", "Cloud", "Advanced", "3", 1750.0),
    ("SEC100", "Cyber Security Awareness", "Security", "Beginner", "1", 390.0),
    ("SEC310", "Incident Response", "Security", "Advanced", "3", 1980.0),
    ("GDP120", "Data Protection and GDPR", "Security", "Beginner", "1", 450.0),
    ("PM200", "Agile Project Management", "Management", "Intermediate", "2", 990.0),
    ("PM350", "Programme Leadership", "Management", "Advanced", "3", 1650.0),
    ("ITL101", "ITIL Foundations", "Management", "Beginner", "2", 820.0),
]

START = dt.date(2023, 1, 9)
END = dt.date(2025, 6, 30)


def _weighted(rng: random.Random, pairs):
    pairs = list(pairs)
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def generate(seed: int = SEED) -> dict[str, list[tuple]]:
    """Every table's rows, in insertion order (parents before children)."""
    rng = random.Random(seed)
    rows: dict[str, list[tuple]] = {"RegionCodes": list(REGIONS)}

    customers, names = [], set()
    for cid in range(1, 161):
        while True:
            name = f"{rng.choice(COMPANY_FIRST)} {rng.choice(COMPANY_SECOND)} {rng.choice(SUFFIXES)}"
            if name not in names:
                names.add(name)
                break
        region = _weighted(rng, REGION_WEIGHTS.items())
        contact = f"{rng.choice(PEOPLE_FIRST)} {rng.choice(PEOPLE_LAST)}"
        domain = name.split()[0].lower() + name.split()[1].lower()
        email = None if rng.random() < 0.15 else f"{contact.split()[0].lower()}@{domain}.co.uk"
        customers.append((cid, name, contact, rng.choice(CITIES[region]), region, _weighted(rng, SECTORS),
                          "N" if rng.random() < 0.18 else "Y", str(rng.randint(2009, 2024)),
                          str(rng.choice([2500, 5000, 7500, 10000, 15000, 25000])), email))
    rows["Cust"] = customers
    rows["Instructors"] = [(i, *row) for i, row in enumerate(INSTRUCTORS, 1)]
    rows["Venues"] = [(i, *row) for i, row in enumerate(VENUES, 1)]
    rows["CourseCatalog"] = list(COURSES)

    sessions = []
    day = START
    for sid in range(1, 241):
        course = rng.choice(COURSES)
        instructor = rng.randint(1, len(INSTRUCTORS))
        remote = rng.random() < 0.3
        venue = None if remote else rng.randint(1, len(VENUES))
        day = min(day + dt.timedelta(days=rng.choice([1, 2, 3, 4, 5, 7])), END)
        cancelled = "T" if rng.random() < 0.08 else "F"
        sessions.append((sid, course[0], instructor, venue, day.isoformat(), "Remote" if remote else "Onsite",
                         rng.choice([8, 10, 12, 16]) if not remote else 20, cancelled))
    rows["Sessions"] = sessions

    enrollments = []
    # active customers, and a few inactive ones that trained before they left
    pool = [c for c in customers if c[6] == "Y" or c[0] <= 20]
    for session in sessions:
        price = next(c[5] for c in COURSES if c[0] == session[1])
        for cust in rng.sample(pool, rng.randint(1, 6)):
            seats = rng.choices([1, 2, 3, 4], weights=[55, 25, 12, 8])[0]
            discount = rng.choice([0, 0, 0, 10, 15])
            fee = round(seats * price * (1 - discount / 100), 2)
            done = session[7] == "F" and session[4] < "2025-06-20"
            certified = "Y" if done and rng.random() < 0.82 else "N"
            rating = rng.choices([1, 2, 3, 4, 5], weights=[3, 6, 18, 40, 33])[0] if done and rng.random() < 0.7 else None
            enrollments.append((session[0], cust[0], seats, fee, certified, rating))
    rows["Enrollments"] = enrollments
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder to write kestrel.sqlite/.duckdb into")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    rows = generate()
    write_sqlite(args.out / "kestrel.sqlite", rows, DDL)
    write_duckdb(args.out / "kestrel.duckdb", rows, DDL)
    print(f"wrote {args.out}/kestrel.sqlite and kestrel.duckdb: "
          + ", ".join(f"{t} {len(r)}" for t, r in rows.items()))


if __name__ == "__main__":
    main()
