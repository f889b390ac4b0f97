"""Template QA generation on both demo databases: pairs per second per engine, and how varied the
phrasings of one intent are (distinct word pairs among all of them, engine/qa/compositional.py).

Target (issue #3): at least 300 distinct valid pairs of the Lumen demo in under 10 s on a 2-core laptop.
    .venv/bin/python bench/bench_qa_generation.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collections import defaultdict  # noqa: E402

from app.paths import DEMO_DUCKDB, DEMO_SQLITE, RESOURCES  # noqa: E402
from engine.db import open_database  # noqa: E402
from engine.project import ProjectStore  # noqa: E402
from engine.qa.compositional import phrasing_variety  # noqa: E402
from engine.qa.generate import generate_template_pairs  # noqa: E402
from engine.qa.templates import TemplateGenerator  # noqa: E402

TARGET_PAIRS, TARGET_SECONDS = 300, 10.0


def main() -> int:
    ok = True
    for path in (DEMO_SQLITE, DEMO_DUCKDB):
        with tempfile.TemporaryDirectory() as folder, open_database(path) as db:
            with ProjectStore.create(Path(folder) / "bench.engram", path) as store:
                started = time.perf_counter()
                report = generate_template_pairs(store, db)
                seconds = time.perf_counter() - started
                valid = store.count_pairs("split != 'paraphrase' AND (validation = 'ok' OR validation IS NULL)")
        rate = valid / seconds
        met = valid >= TARGET_PAIRS and seconds < TARGET_SECONDS
        ok &= met
        print(f"{db.kind:<7} {valid} valid pairs (+{report.paraphrases} paraphrases) from {report.intents} intents "
              f"in {seconds:.2f}s = {rate:.0f} pairs/s; target {TARGET_PAIRS} in {TARGET_SECONDS:.0f}s: "
              f"{'met' if met else 'MISSED'} ({TARGET_SECONDS / seconds:.1f}x headroom)")
    for path in (DEMO_SQLITE, RESOURCES / "demo" / "kestrel.sqlite"):
        with open_database(path) as db:
            by_family = defaultdict(list)
            for intent in TemplateGenerator(db).intents():
                by_family[intent.family].append(phrasing_variety(intent.questions))
        means = {f: sum(v) / len(v) for f, v in by_family.items()}
        low = sorted(means.items(), key=lambda kv: kv[1])[:3]
        print(f"{path.stem}: phrasing variety (distinct word pairs / all, per intent) mean "
              f"{sum(means.values()) / len(means):.2f} over {len(means)} families; lowest "
              + ", ".join(f"{f} {v:.2f}" for f, v in low))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
