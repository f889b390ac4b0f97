"""Regenerate the user guide's screenshots from the real app (offscreen), on the demo database.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [--run RUN_DIR] [--export GGUF]

--run shows the curves of an existing run folder on the Tune page (e.g. one made with `engram tune`);
--export adds an exported GGUF to the Export & Chat page and asks the SQL agent a question with it.
--only NAME… writes just those images. Writes docs/images/*.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ENGRAM_HOME", tempfile.mkdtemp(prefix="engram-shots-"))


def wait(app, condition, timeout=600.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    app.processEvents()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default=None)
    parser.add_argument("--export", default=None)
    parser.add_argument("--question", default="How many orders are there?")
    parser.add_argument("--database", default=None, help="open this database (default: the demo)")
    parser.add_argument("--project", default=None, help="with --database: its project (e.g. the one --run came from)")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME",
                        help="write only these images (database, sql-console, dataset, tune, tune-dark, chat, evaluate)")
    args = parser.parse_args()
    from PySide6.QtWidgets import QListWidgetItem
    from PySide6.QtCore import Qt

    from app.bootstrap import create_window

    out = ROOT / "docs" / "images"
    out.mkdir(parents=True, exist_ok=True)
    app, window = create_window(["engram"])
    if args.database:
        window.state.open(args.database, args.project)
    window.resize(1440, 880)
    window.show()
    wait(app, lambda: False, 0.5)

    def shot(name: str) -> None:
        if args.only and name not in args.only:
            return
        wait(app, lambda: False, 0.3)
        window.grab().save(str(out / f"{name}.png"))
        print("wrote", out / f"{name}.png")

    db_page = window.database_page
    orders = next(db_page.tree.topLevelItem(i) for i in range(db_page.tree.topLevelItemCount())
                  if db_page.tree.topLevelItem(i).text(0) == "orders")
    orders.setExpanded(True)
    db_page.tree.setCurrentItem(orders)
    shot("database")
    db_page.tabs.setCurrentIndex(1)
    db_page.editor.setPlainText("SELECT s.description, COUNT(*) AS orders\nFROM orders o JOIN order_statuses s "
                                "ON s.status_code = o.status_code\nGROUP BY s.description ORDER BY orders DESC")
    db_page.run_query()
    wait(app, lambda: db_page.console_model.rowCount() > 0, 30)
    shot("sql-console")

    window.nav.setCurrentRow(1)
    page = window.dataset_page
    if not window.state.store.count_pairs():
        page.generate_templates()
        wait(app, lambda: page.job is not None and not page.job.running, 60)
    page.split_filter.setCurrentIndex(page.split_filter.findData("train"))
    page.kind_filter.setCurrentIndex(page.kind_filter.findData("sql"))
    page.view.selectRow(5)
    shot("dataset")

    window.nav.setCurrentRow(2)
    if args.run:
        item = QListWidgetItem("run")
        item.setData(Qt.ItemDataRole.UserRole, args.run)
        window.tune_page._load_history_item(item)
    shot("tune")
    window.theme.set_appearance("dark")
    shot("tune-dark")
    window.theme.set_appearance("system")

    if args.export:
        window.nav.setCurrentRow(4)
        chat = window.chat_page
        chat.add_model(args.export)
        chat.compare.setChecked(True)
        chat.input.setText(args.question)
        chat.send()
        wait(app, lambda: chat.send_button.isEnabled(), 300)
        shot("chat")
        window.nav.setCurrentRow(3)
        evaluate = window.evaluate_page
        evaluate.tuned_choice.insertItem(0, Path(args.export).name, args.export)
        evaluate.tuned_choice.setCurrentIndex(0)
        evaluate.limit.setValue(20)
        evaluate.run()
        wait(app, lambda: evaluate.run_button.isEnabled(), 900)
        shot("evaluate")
    window.chat_page.close_models()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
