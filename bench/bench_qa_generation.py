"""Template QA generation on the demo database: pairs per second, per engine.

Target (issue #3): at least 300 distinct valid pairs in under 10 s on a 2-core laptop.
    .venv/bin/python bench/bench_qa_generation.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.paths import DEMO_DUCKDB, DEMO_SQLITE  # noqa: E402
from engine.db import open_database  # noqa: E402
from engine.project import ProjectStore  # noqa: E402
from engine.qa.generate import generate_template_pairs  # noqa: E402

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
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
