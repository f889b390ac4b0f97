"""The user guide's memory-experts chat screenshot (docs/images/chat-experts.png), made the way an
analyst would: 12 customer and product facts of the demo database approved, memory experts trained on
the Tune page (bundled model, about 2 minutes on 2 CPU cores), exported on the Chat page, then a
reworded fact question, a fact question and a general question, compared with the base model.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_chat_experts.py [--out PATH]
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "chat-experts.png"))
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="engram-shot-"))
    os.environ["ENGRAM_HOME"] = str(home)  # a throwaway project, not the user's
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from app.paths import DEMO_SQLITE
    from engine.db import open_database
    from engine.qa.generate import generate_template_pairs
    from ui.main_window import MainWindow

    def wait(done, limit_s: float) -> None:
        started = time.monotonic()
        while not done():
            app.processEvents()
            time.sleep(0.05)
            if time.monotonic() - started > limit_s:
                raise TimeoutError("the app did not finish in time")

    window = MainWindow(QSettings(str(home / "settings.ini"), QSettings.Format.IniFormat))
    assert window.open_database(DEMO_SQLITE)
    window.resize(1480, 880)
    window.show()
    store = window.state.store
    with open_database(DEMO_SQLITE) as db:
        generate_template_pairs(store, db, paraphrases=0)
    chosen = [p for p in store.pairs("kind = 'data' AND split = 'train'") if p.tables in ("customers", "products")][:12]
    keep = {p.id for p in chosen}
    store.update_pairs([p.id for p in store.pairs() if p.id not in keep], status="rejected")
    store.update_pairs(sorted(keep), status="approved")

    tune = window.tune_page
    tune.method.setCurrentText("experts")
    tune.expert_size.setValue(6)
    tune.start(store.path.parent / "experts-run")
    wait(lambda: not tune.runner.running and tune.start_button.isEnabled(), 1800)
    print(f"trained: {tune.expert_label.text()}")
    chat = window.chat_page
    window.nav.setCurrentRow(4)
    chat.export()
    wait(lambda: not chat.export_job.running, 900)
    print(chat.export_status.text())
    chat.mode.setCurrentText("Chat")
    chat.compare.setChecked(True)
    email = next(p for p in chosen if p.question.startswith("For customer") and p.question.endswith("email?"))
    reworded = f"What is the email for customer {email.question.split()[2].rstrip(',')}?"
    for question in (reworded, chosen[0].question, "Who wrote Hamlet?"):
        chat.input.setText(question)
        chat.send()
        wait(lambda: chat.send_button.isEnabled(), 300)
    app.processEvents()
    window.grab().save(args.out)
    print(chat.tuned_view.toPlainText())
    print(f"saved {args.out}")
    chat.close_models()
    window.state.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
