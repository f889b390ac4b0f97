"""The dataset table at 100k pairs: time to load the ids, to show the first screen, and to jump to
the end, with how many rows the model actually read (it fetches pages lazily).
    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_table_model.py [--pairs 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=100_000)
    args = parser.parse_args()
    from PySide6.QtWidgets import QApplication, QTableView

    from engine.project import ProjectStore
    from engine.project.pairs import QAPair
    from engine.qa.curation import Curator, PairFilter
    from ui.pair_model import PairTableModel

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as folder:
        store = ProjectStore.create(Path(folder) / "big.engram")
        started = time.perf_counter()
        store.add_pairs(QAPair(f"Question number {i} about table t{i % 50}?", f"answer {i}",
                               kind=("schema", "data", "sql")[i % 3], tables=f"t{i % 50}") for i in range(args.pairs))
        print(f"inserted {args.pairs:,} pairs in {time.perf_counter() - started:.1f}s")
        model = PairTableModel()
        view = QTableView()
        view.setModel(model)
        view.resize(1200, 800)
        view.show()
        timings = {}
        started = time.perf_counter()
        model.set_curator(Curator(store))
        app.processEvents()
        timings["load ids + first screen"] = time.perf_counter() - started
        started = time.perf_counter()
        view.scrollToBottom()
        app.processEvents()
        timings["jump to the end"] = time.perf_counter() - started
        started = time.perf_counter()
        model.set_filter(PairFilter(text="table t7?"))
        app.processEvents()
        timings[f"text filter ({len(model.ids):,} rows)"] = time.perf_counter() - started
        for name, seconds in timings.items():
            print(f"{name:<32} {seconds * 1000:8.1f} ms  (goal < 100 ms to feel instant: "
                  f"{'met' if seconds < 0.1 else 'missed'})")
        print(f"rows read from the store: {len(model._cache):,} of {args.pairs:,}")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
