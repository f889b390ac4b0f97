"""`engram tune` shows a person a progress bar and milestone lines, not a wall of JSON."""

from __future__ import annotations

import io

from app.cli.tune_progress import TuneProgress
from engine.tune.events import Event

EVENTS = [Event.from_json(record) for record in [
    {"event": "started", "device": "cpu (float32)", "facts": 80, "trainable_params": 4_884_480},
    {"event": "step", "step": 1, "loss": 5.76, "facts_memorized": 0, "eta_s": 898.0},
    {"event": "step", "step": 152, "loss": 0.753, "facts_memorized": 34, "eta_s": 612.0},
    {"event": "recall", "step": 160, "recall": 0.5, "recalled": 40, "total": 80, "checked": "teacher-forced"},
    {"event": "recall", "step": 300, "recall": 1.0, "recalled": 80, "total": 80, "checked": "decoded"},
    {"event": "finished", "reason": "converged", "step": 300, "recall": 1.0},
]]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_of_facts_memorized_with_step_loss_and_budget():
    screen = Terminal()
    progress = TuneProgress(screen)
    for event in EVENTS[:3]:
        progress(event)
    assert progress.bar.n == 34 and progress.bar.total == 80
    progress.bar.refresh()
    shown = screen.getvalue()
    assert "memorized 34/80" in shown and "step 152" in shown and "loss 0.753" in shown and "budget left 10m12s" in shown
    assert "Started on cpu (float32): 80 facts" in shown and "{" not in shown
    progress.close()


def test_a_log_file_gets_one_readable_line_per_milestone():
    log = io.StringIO()
    progress = TuneProgress(log)
    for event in EVENTS:
        progress(event)
    progress.close()
    assert log.getvalue().splitlines() == ["Started on cpu (float32): 80 facts, 4,884,480 trainable parameters",
                                           "Step 160: exact recall 40/80 (50%, teacher-forced)",
                                           "Step 300: exact recall 80/80 (100%, decoded)",
                                           "Finished (converged) at step 300: recall 100%"]
