"""Memory experts vs one adapter as facts grow (issue #8): recall, training time and time per fact for
N row-level facts of the demo database, then the cost of adding new facts to the experts' memory.

Facts: "What is the email of customer C0001?"-style lookups read from the demo database (one table
per group, interleaved), so any N up to several thousand exists. Single adapter and MoME have the
same total trainable parameters: the single adapter's rank is the experts' rank times the number of
experts (capped by --max-rank). Writes a table (markdown) and a plot (PNG, pyqtgraph offscreen).

    .venv/bin/python bench/bench_mome_scaling.py --sizes 100 1000 5000 --minutes 30 --new 100
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from itertools import zip_longest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.paths import DEMO_SQLITE  # noqa: E402
from engine.qa.pairs import QAPair  # noqa: E402
from engine.tune import data as D  # noqa: E402
from engine.tune.config import TuneConfig  # noqa: E402
from engine.tune.events import EventLog  # noqa: E402
from engine.tune.run import run_tuning  # noqa: E402

LOOKUPS = [  # (table, key column, noun, columns asked about)
    ("customers", "customer_code", "customer", ["email", "city", "segment", "signup_date"]),
    ("products", "sku", "product", ["product_name", "category", "unit_price"]),
    ("support_tickets", "ticket_id", "support ticket", ["priority", "category", "opened_at"]),
    ("orders", "order_id", "order", ["order_date", "channel", "total_amount"]),
]


def row_facts(limit: int) -> list[QAPair]:
    """Up to `limit` lookup facts, the tables interleaved so every prefix mixes them."""
    per_table = []
    with sqlite3.connect(f"file:{DEMO_SQLITE}?mode=ro", uri=True) as db:
        for table, key, noun, columns in LOOKUPS:
            rows = db.execute(f"SELECT {key}, {', '.join(columns)} FROM {table} ORDER BY {key}").fetchall()
            per_table.append([(table, f"What is the {c.replace('_', ' ')} of {noun} {r[0]}?", str(v))
                              for r in rows for c, v in zip(columns, r[1:]) if v is not None])
    facts = [item for group in zip_longest(*per_table) for item in group if item is not None]
    return [QAPair(q, a, kind="data", id=i + 1, tables=t) for i, (t, q, a) in enumerate(facts[:limit])]


def train(folder: Path, pairs: list[QAPair], method: str, rank: int, args) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    D.write_run_data(pairs, folder / "facts.jsonl")
    config = TuneConfig(data=str(folder / "facts.jsonl"), output_dir=str(folder / "run"), model="bundled",
                        database_name="lumen", method=method, expert_size=args.expert_size, lora_r=rank,
                        lora_alpha=2 * rank, batch_size=args.batch_size, learning_rate=2e-3, max_steps=0,
                        max_minutes=args.minutes, recall_every=2, checkpoint_every=10**6, log_every=10)
    started = time.monotonic()
    result = run_tuning(config, events=EventLog(folder / "events.jsonl", stream=None))
    seconds = time.monotonic() - started
    return {"method": method, "facts": len(pairs), "rank": rank, "recall": result.get("recall"),
            "status": result.get("status"), "reason": result.get("reason"), "seconds": seconds,
            "seconds_per_fact": seconds / len(pairs), "experts": result.get("experts")}


def add_new_facts(run: Path, old: list[QAPair], new: list[QAPair]) -> dict:
    from engine.mome.experts import update_experts

    started = time.monotonic()
    report = update_experts(run, old + new)
    config = TuneConfig.load(run / "config.json")
    result = run_tuning(config, resume=True, events=EventLog(run.parent / "update-events.jsonl", stream=None))
    return {"seconds": time.monotonic() - started, "new_experts": report["new_experts"],
            "recall": result.get("recall"), "status": result.get("status")}


def plot(rows: list[dict], path: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    import pyqtgraph.exporters
    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication([])
    widget = pg.PlotWidget(title="Training time vs facts (labels: exact recall at the end)")
    widget.setBackground("w")
    widget.addLegend()
    for method, color in (("memory", "#1f77b4"), ("experts", "#2ca02c")):
        points = sorted((r["facts"], r["seconds"], r["recall"]) for r in rows if r["method"] == method)
        if points:
            widget.plot([p[0] for p in points], [p[1] for p in points], pen=pg.mkPen(color, width=2), symbol="o",
                        symbolBrush=color, name="one adapter" if method == "memory" else "memory experts")
        for facts, seconds, recall in points:  # a run stopped by its time budget shows it here
            label = pg.TextItem("-" if recall is None else f"{recall:.0%}", color=color, anchor=(0.5, 1.3))
            label.setPos(facts, seconds)
            widget.addItem(label)
    facts = [r["facts"] for r in rows]
    widget.setXRange(min(facts) * 0.9, max(facts) * 1.05)
    widget.setYRange(0, max(r["seconds"] for r in rows) * 1.15)  # room for the labels; time from zero
    widget.setLabel("bottom", "facts")
    widget.setLabel("left", "seconds")
    widget.resize(720, 420)
    pyqtgraph.exporters.ImageExporter(widget.getPlotItem()).export(str(path))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--minutes", type=float, default=30.0, help="time budget of each training run")
    parser.add_argument("--expert-size", type=int, default=50)
    parser.add_argument("--expert-rank", type=int, default=8)
    parser.add_argument("--max-rank", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=0, help="0: by device (4 on a CPU, 10 on a GPU)")
    parser.add_argument("--new", type=int, default=100, help="facts added to the largest memory afterwards")
    parser.add_argument("--skip-single", action="store_true")
    parser.add_argument("--out", default=None, help="folder for mome-scaling.md / .png / .json")
    parser.add_argument("--replot", default=None, help="only redraw the PNG from a mome-scaling.json")
    args = parser.parse_args()
    if args.replot:
        plot(json.loads(Path(args.replot).read_text())["rows"], Path(args.replot).with_suffix(".png"))
        return 0
    everything = row_facts(max(args.sizes) + args.new)
    if len(everything) < max(args.sizes) + args.new:
        raise SystemExit(f"the demo database gives only {len(everything)} lookup facts")
    rows, update = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            pairs = everything[:size]
            mome = train(Path(tmp) / f"experts-{size}", pairs, "experts", args.expert_rank, args)
            rows.append(mome)
            print(json.dumps(mome), flush=True)
            if not args.skip_single:
                single = train(Path(tmp) / f"single-{size}", pairs, "memory",
                               min(args.max_rank, args.expert_rank * mome["experts"]), args)  # same total rank
                rows.append(single)
                print(json.dumps(single), flush=True)
        largest = max(args.sizes)
        if args.new:
            update = add_new_facts(Path(tmp) / f"experts-{largest}" / "run", everything[:largest],
                                   everything[largest:largest + args.new])
            full = next(r for r in rows if r["method"] == "experts" and r["facts"] == largest)
            update["share_of_full_retrain"] = update["seconds"] / full["seconds"]
            print(json.dumps(update), flush=True)
    lines = ["| facts | method | rank | recall | training time | time per fact |", "|---|---|---|---|---|---|"]
    for r in rows:
        name = f"memory experts ({r['experts']})" if r["method"] == "experts" else "one adapter"
        recall = "-" if r["recall"] is None else f"{r['recall']:.1%}"
        lines.append(f"| {r['facts']} | {name} | {r['rank']} | {recall} | {r['seconds']:.0f} s | "
                     f"{r['seconds_per_fact']:.2f} s |")
    if update:
        lines.append(f"\nAdding {args.new} facts to the {largest}-fact memory: {update['seconds']:.0f} s "
                     f"({update['share_of_full_retrain']:.1%} of the full training), recall after "
                     f"{(update['recall'] or 0):.1%}, new experts {', '.join(update['new_experts'])}")
    table = "\n".join(lines)
    print(table)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "mome-scaling.md").write_text(table + "\n")
        (out / "mome-scaling.json").write_text(json.dumps({"rows": rows, "update": update}, indent=1))
        try:
            plot(rows, out / "mome-scaling.png")
        except ImportError as error:  # a machine without Qt: redraw later with --replot
            print(f"plot skipped ({error})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
