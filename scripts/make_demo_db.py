"""Build the demo database shipped in resources/demo/ (SQLite and DuckDB twins).

Lumen Outfitters is a made-up outdoor-gear retailer: customers, products, orders, order items, web
sessions, support tickets, plus code tables whose meanings only this database knows (the kind of
proprietary fact memory tuning is for). Everything comes from one seeded RNG, so the script always
writes the same rows:

    python scripts/make_demo_db.py            # writes resources/demo/lumen.sqlite and lumen.duckdb

The DDL uses types both engines keep verbatim (INTEGER, VARCHAR, DATE, TIMESTAMP, DECIMAL(p,s)), so
`engram inspect` prints the same schema for both files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sqlite3
from pathlib import Path

SEED = 20240601
OUT_DIR = Path(__file__).resolve().parents[1] / "resources" / "demo"

DDL = [
    """CREATE TABLE support_agents (
    agent_id INTEGER PRIMARY KEY,
    full_name VARCHAR NOT NULL,
    team VARCHAR NOT NULL,
    hired_on DATE NOT NULL
)""",
    """CREATE TABLE loyalty_tiers (
    tier_code VARCHAR PRIMARY KEY,
    tier_name VARCHAR NOT NULL,
    min_annual_spend DECIMAL(10,2) NOT NULL,
    discount_pct DECIMAL(5,2) NOT NULL
)""",
    """CREATE TABLE order_statuses (
    status_code VARCHAR PRIMARY KEY,
    description VARCHAR NOT NULL,
    is_final INTEGER NOT NULL
)""",
    """CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    customer_code VARCHAR NOT NULL UNIQUE,
    first_name VARCHAR NOT NULL,
    last_name VARCHAR NOT NULL,
    email VARCHAR NOT NULL,
    phone VARCHAR,
    country VARCHAR NOT NULL,
    city VARCHAR NOT NULL,
    segment VARCHAR NOT NULL,
    tier_code VARCHAR NOT NULL REFERENCES loyalty_tiers(tier_code),
    signup_date DATE NOT NULL,
    marketing_opt_in INTEGER NOT NULL
)""",
    """CREATE TABLE products (
    product_id INTEGER PRIMARY KEY,
    sku VARCHAR NOT NULL UNIQUE,
    product_name VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    subcategory VARCHAR NOT NULL,
    unit_price DECIMAL(10,2) NOT NULL,
    unit_cost DECIMAL(10,2) NOT NULL,
    weight_kg DECIMAL(6,2),
    launched_on DATE NOT NULL,
    is_discontinued INTEGER NOT NULL
)""",
    """CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
    order_date DATE NOT NULL,
    status_code VARCHAR NOT NULL REFERENCES order_statuses(status_code),
    channel VARCHAR NOT NULL,
    shipping_country VARCHAR NOT NULL,
    shipping_cost DECIMAL(10,2) NOT NULL,
    coupon_code VARCHAR,
    total_amount DECIMAL(10,2) NOT NULL
)""",
    """CREATE TABLE order_items (
    order_item_id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(order_id),
    product_id INTEGER NOT NULL REFERENCES products(product_id),
    quantity INTEGER NOT NULL,
    unit_price DECIMAL(10,2) NOT NULL,
    discount_pct DECIMAL(5,2) NOT NULL
)""",
    """CREATE TABLE web_sessions (
    session_id INTEGER PRIMARY KEY,
    customer_id INTEGER REFERENCES customers(customer_id),
    started_at TIMESTAMP NOT NULL,
    device VARCHAR NOT NULL,
    referrer VARCHAR,
    pages_viewed INTEGER NOT NULL,
    duration_seconds INTEGER NOT NULL,
    order_id INTEGER REFERENCES orders(order_id)
)""",
    """CREATE TABLE support_tickets (
    ticket_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
    order_id INTEGER REFERENCES orders(order_id),
    agent_id INTEGER REFERENCES support_agents(agent_id),
    opened_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP,
    priority VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    subject VARCHAR NOT NULL,
    body VARCHAR NOT NULL
)""",
    # A view of plain column references only, so both engines report the same column types.
    """CREATE VIEW order_overview AS
SELECT o.order_id, o.order_date, c.customer_code, c.country, s.description AS status,
       o.channel, o.total_amount
FROM orders o
JOIN customers c ON c.customer_id = o.customer_id
JOIN order_statuses s ON s.status_code = o.status_code""",
]

FIRST = ("Ava Liam Noah Emma Olivia Mateo Sofia Lucas Mia Elias Hannah Jonas Lea Finn Clara Oscar "
         "Ines Hugo Nora Felix Yara Omar Leila Kenji Aiko Ravi Priya Tomas Elena Marta Pablo Zoe "
         "Ingrid Lars Freya Nils Chloe Louis Amelie Jakub").split()
LAST = ("Smith Johnson Garcia Muller Rossi Dubois Novak Silva Tanaka Kowalski Jensen Larsen Moreau "
        "Fischer Weber Costa Bianchi Ivanova Hansen Lindqvist Okafor Mensah Patel Sharma Nakamura "
        "Schmidt Bauer Keller Romano Ferreira").split()
CITIES = {
    "DE": ["Berlin", "Munich", "Hamburg", "Cologne"],
    "FR": ["Paris", "Lyon", "Marseille", "Toulouse"],
    "US": ["Denver", "Seattle", "Portland", "Boston", "Austin"],
    "GB": ["London", "Manchester", "Edinburgh"],
    "NO": ["Oslo", "Bergen", "Tromso"],
    "IT": ["Milan", "Turin", "Bologna"],
    "JP": ["Tokyo", "Sapporo", "Osaka"],
    "CA": ["Vancouver", "Calgary", "Montreal"],
}
COUNTRY_WEIGHTS = {"DE": 22, "FR": 14, "US": 26, "GB": 12, "NO": 6, "IT": 8, "JP": 5, "CA": 7}
TIERS = [  # code, name, min annual spend, discount
    ("BRZ", "Bronze", 0.00, 0.00),
    ("SLV", "Silver", 500.00, 3.00),
    ("GLD", "Gold", 1500.00, 5.00),
    ("PLT", "Trailblazer Platinum", 4000.00, 8.00),
]
STATUSES = [  # code, description, is_final
    ("PND", "Payment pending", 0),
    ("PKD", "Packed in the Leipzig warehouse, waiting for the carrier", 0),
    ("SHP", "Handed to the carrier", 0),
    ("DLV", "Delivered to the customer", 1),
    ("CNL", "Cancelled before shipping", 1),
    ("RTN", "Returned for a refund", 1),
]
CATALOG = {  # category -> subcategory -> (name stems, price range, weight range)
    "Camping": {
        "Tents": (["Ridgeline 2P Tent", "Basecamp 4P Tent", "Featherlite Bivy", "Summit Dome 3P"],
                  (149, 649), (0.8, 6.5)),
        "Sleeping Bags": (["Aurora -5C Bag", "Nightjar Down Bag", "Ember Synthetic Bag"],
                          (89, 429), (0.7, 2.2)),
        "Stoves": (["Flint Canister Stove", "Cascade Alcohol Stove", "Hearth Twin Burner"],
                   (29, 189), (0.1, 3.1)),
    },
    "Climbing": {
        "Ropes": (["Vertex 9.5mm Rope", "Granite 10.2mm Rope", "Skyline Half Rope"], (129, 289), (2.5, 4.4)),
        "Harnesses": (["Traverse Harness", "Crux Alpine Harness"], (59, 139), (0.3, 0.6)),
        "Carabiners": (["Keylock Carabiner", "Wiregate Carabiner 6-pack", "HMS Belay Carabiner"],
                       (9, 69), (0.03, 0.4)),
    },
    "Apparel": {
        "Jackets": (["Squall Rain Shell", "Drift Down Parka", "Tundra Softshell"], (99, 459), (0.3, 1.1)),
        "Base Layers": (["Merino 200 Crew", "Merino 150 Leggings", "Thermal Zip Top"], (39, 119), (0.15, 0.3)),
        "Footwear": (["Talus Hiking Boot", "Scree Trail Runner", "Camp Slide"], (35, 239), (0.4, 1.6)),
    },
    "Navigation": {
        "GPS": (["Pathfinder GPS 64", "Waypoint Mini GPS"], (179, 449), (0.1, 0.3)),
        "Compasses": (["Baseplate Compass", "Sighting Compass Pro"], (15, 79), (0.03, 0.1)),
    },
}
CHANNELS = [("web", 62), ("store", 23), ("phone", 6), ("marketplace", 9)]
DEVICES = [("mobile", 55), ("desktop", 35), ("tablet", 10)]
REFERRERS = ["search", "newsletter", "instagram", "partner_blog", "direct"]
COUPONS = ["SPRING10", "TRAIL15", "WELCOME5", "BLACKFRIDAY25"]
TEAMS = ["Orders & Delivery", "Returns", "Product Advice"]
TICKET_KINDS = {
    "delivery": ("Where is my order {order}?",
                 "Hi, my order {order} was supposed to arrive last week but tracking has not moved. "
                 "Can you check with the carrier?"),
    "damaged": ("{product} arrived damaged",
                "The {product} from order {order} arrived with a torn package and a broken part. "
                "I would like a replacement."),
    "sizing": ("Sizing question about {product}",
               "Before I order the {product}: does it run small? I am usually between two sizes."),
    "refund": ("Refund not received for {order}",
               "I returned order {order} two weeks ago and the refund has not shown up on my card yet."),
    "account": ("Cannot log in to my account",
                "Password reset emails never arrive. My customer code is {code}."),
}
PRIORITIES = [("low", 35), ("normal", 45), ("high", 15), ("urgent", 5)]

START = dt.date(2023, 1, 1)
END = dt.date(2025, 6, 30)


def _weighted(rng: random.Random, pairs):
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _day(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randrange((end - start).days + 1))


def generate(seed: int = SEED) -> dict[str, list[tuple]]:
    """Every table's rows, in insertion order (parents before children)."""
    rng = random.Random(seed)
    rows: dict[str, list[tuple]] = {}

    rows["support_agents"] = [
        (i, f"{rng.choice(FIRST)} {rng.choice(LAST)}", TEAMS[i % 3], _day(rng, dt.date(2019, 1, 1), dt.date(2023, 6, 1)).isoformat())
        for i in range(1, 13)
    ]
    rows["loyalty_tiers"] = list(TIERS)
    rows["order_statuses"] = list(STATUSES)

    customers = []
    for cid in range(1, 601):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        country = _weighted(rng, COUNTRY_WEIGHTS.items())
        phone = None if rng.random() < 0.3 else f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(1000000, 9999999)}"
        segment = _weighted(rng, [("consumer", 80), ("club", 12), ("business", 8)])
        tier = _weighted(rng, [("BRZ", 55), ("SLV", 25), ("GLD", 15), ("PLT", 5)])
        customers.append((
            cid, f"CU-{cid * 7 + 10000:05d}", first, last,
            f"{first.lower()}.{last.lower()}{cid}@example.{country.lower()}", phone, country,
            rng.choice(CITIES[country]), segment, tier,
            _day(rng, dt.date(2021, 1, 1), END).isoformat(), int(rng.random() < 0.4),
        ))
    rows["customers"] = customers

    products = []
    pid = 0
    for category, subs in CATALOG.items():
        for sub, (stems, (lo, hi), (wlo, whi)) in subs.items():
            for stem in stems:
                for variant in ("", " Pro", " Lite")[: rng.randint(1, 3)]:
                    pid += 1
                    price = round(rng.uniform(lo, hi), 0) - 0.01
                    weight = None if rng.random() < 0.1 else round(rng.uniform(wlo, whi), 2)
                    code = "".join(w[0] for w in (category, sub)).upper()
                    products.append((
                        pid, f"LO-{code}-{pid * 13 % 997:03d}", stem + variant, category, sub,
                        round(price, 2), round(price * rng.uniform(0.35, 0.6), 2), weight,
                        _day(rng, dt.date(2019, 3, 1), dt.date(2025, 3, 1)).isoformat(),
                        int(rng.random() < 0.12),
                    ))
    rows["products"] = products

    orders, items = [], []
    item_id = 0
    for oid in range(1, 2401):
        cust = rng.choice(customers)
        order_date = _day(rng, max(dt.date.fromisoformat(cust[10]), START), END)
        age = (END - order_date).days
        status = ("PND" if age < 2 else "PKD" if age < 4 else "SHP" if age < 8 else
                  _weighted(rng, [("DLV", 86), ("CNL", 7), ("RTN", 7)]))
        total = 0.0
        for _ in range(rng.choices([1, 2, 3, 4, 5], weights=[40, 30, 15, 10, 5])[0]):
            item_id += 1
            prod = rng.choice(products)
            qty = rng.choices([1, 2, 3, 4], weights=[75, 17, 6, 2])[0]
            disc = rng.choice([0, 0, 0, 0, 5, 10, 15])
            items.append((item_id, oid, prod[0], qty, prod[5], float(disc)))
            total += qty * prod[5] * (1 - disc / 100)
        shipping = 0.0 if total > 150 or cust[6] == "DE" else round(rng.choice([4.95, 7.95, 12.5]), 2)
        coupon = rng.choice(COUPONS) if rng.random() < 0.15 else None
        orders.append((
            oid, cust[0], order_date.isoformat(), status, _weighted(rng, CHANNELS),
            cust[6] if rng.random() < 0.95 else rng.choice(list(CITIES)), shipping, coupon,
            round(total + shipping, 2),
        ))
    rows["orders"], rows["order_items"] = orders, items

    sessions = []
    web_orders = [o for o in orders if o[4] == "web"]
    for sid in range(1, 3201):
        converted = rng.choice(web_orders) if rng.random() < 0.18 else None
        customer = converted[1] if converted else (rng.choice(customers)[0] if rng.random() < 0.55 else None)
        day = dt.date.fromisoformat(converted[2]) if converted else _day(rng, START, END)
        started = dt.datetime.combine(day, dt.time(rng.randrange(24), rng.randrange(60), rng.randrange(60)))
        pages = rng.randint(1, 40)
        sessions.append((
            sid, customer, started.isoformat(sep=" "), _weighted(rng, DEVICES),
            None if rng.random() < 0.25 else rng.choice(REFERRERS), pages,
            pages * rng.randint(8, 95), converted[0] if converted else None,
        ))
    rows["web_sessions"] = sessions

    tickets = []
    for tid in range(1, 451):
        kind = rng.choice(list(TICKET_KINDS))
        order = rng.choice(orders)
        cust = customers[order[1] - 1]
        product = products[next(i for i in items if i[1] == order[0])[2] - 1]
        opened = dt.datetime.combine(
            dt.date.fromisoformat(order[2]) + dt.timedelta(days=rng.randint(1, 20)),
            dt.time(rng.randint(7, 21), rng.randrange(60)),
        )
        status = _weighted(rng, [("closed", 70), ("open", 18), ("waiting_on_customer", 12)])
        closed = (opened + dt.timedelta(hours=rng.randint(1, 240))).isoformat(sep=" ") if status == "closed" else None
        subject, body = TICKET_KINDS[kind]
        fill = {"order": f"#{order[0]}", "product": product[2], "code": cust[1]}
        tickets.append((
            tid, cust[0], None if kind == "account" else order[0],
            None if status == "open" and rng.random() < 0.5 else rng.randint(1, 12),
            opened.isoformat(sep=" "), closed, _weighted(rng, PRIORITIES), status, kind,
            subject.format(**fill), body.format(**fill),
        ))
    rows["support_tickets"] = tickets
    return rows


def write_sqlite(path: Path, rows: dict[str, list[tuple]], ddl: list[str] = DDL) -> None:
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    with con:
        for stmt in ddl:
            con.execute(stmt)
        for table, data in rows.items():
            marks = ",".join("?" * len(data[0]))
            con.executemany(f"INSERT INTO {table} VALUES ({marks})", data)
    con.execute("VACUUM")
    con.close()


def write_duckdb(path: Path, rows: dict[str, list[tuple]], ddl: list[str] = DDL) -> None:
    import duckdb

    path.unlink(missing_ok=True)
    path.with_name(path.name + ".wal").unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    for stmt in ddl:
        con.execute(stmt)
    for table, data in rows.items():
        marks = ",".join("?" * len(data[0]))
        con.executemany(f"INSERT INTO {table} VALUES ({marks})", data)
    con.execute("CHECKPOINT")
    con.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder to write lumen.sqlite/.duckdb into")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    rows = generate()
    write_sqlite(args.out / "lumen.sqlite", rows)
    write_duckdb(args.out / "lumen.duckdb", rows)
    print(f"wrote {args.out}/lumen.sqlite and lumen.duckdb: "
          + ", ".join(f"{t} {len(r)}" for t, r in rows.items()))


if __name__ == "__main__":
    main()
