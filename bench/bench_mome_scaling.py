"""Memory experts vs one adapter as facts grow (issue #8): recall, training time and time per fact for
N row-level facts of the demo database, then the cost of adding new facts to the experts' memory.

Facts: "What is the email of customer C0001?"-style lookups read from the demo database (one table
per group, interleaved), so any N up to several thousand exists. Single adapter and MoME have the
same total trainable parameters: the single adapter's rank is the experts' rank times the number of
experts (capped by --max-rank). Writes a table (markdown) and a plot (PNG, pyqtgraph offscreen).

    .venv/bin/python bench/bench_mome_scaling.py --sizes 100 1000 5000 --minutes 0 --new 100

Long runs in short sittings (a lent GPU gives 10-minute commands): `--work DIR` keeps every run and
each finished point in DIR, and `--stop-after MIN` stops training (with a checkpoint) after MIN
minutes of this sitting; run the same command again to go on where it stopped (exit status 3 means
"not done yet"). `--record DIR` keeps, apart from the work folder, the little a new machine needs to go
on: the finished points and each memory-experts run's manifest and seconds (small files, committed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from itertools import zip_longest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.paths import DEMO_SQLITE  # noqa: E402
from engine.mome.experts import ExpertSet  # noqa: E402
from engine.project.pairs import QAPair  # noqa: E402
from engine.tune import data as D  # noqa: E402
from engine.tune.config import TuneConfig  # noqa: E402
from engine.tune.events import EventLog, read_events  # noqa: E402
from engine.workflows.train import train as train_run  # noqa: E402
from engine.tune.run_folder import EXPERTS as MANIFEST  # noqa: E402

# the points recorded with the recipe as it was before issue #36 (every layer, decoding recall checks),
# printed beside each point measured now
REFERENCE = Path(__file__).resolve().parent / "results" / "mome-scaling" / "points.json"


def against_reference(key: str, now: dict, reference: Path = REFERENCE) -> str:
    """One line: this point's steps and seconds beside the recorded reference's, and the speed-up."""
    recorded = json.loads(reference.read_text()).get(key) if reference.exists() else None
    if not recorded or not recorded.get("seconds") or not now.get("seconds"):
        return f"{key}: no recorded reference to compare with"
    return (f"{key}: {now.get('steps')} steps, {now['seconds']:.0f} s; recorded reference {recorded.get('steps')} steps, "
            f"{recorded['seconds']:.0f} s: {recorded['seconds'] / now['seconds']:.2f}x as fast")


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


class NotDone(Exception):
    """This sitting's time is up; the run stopped with a checkpoint and goes on next time."""


class Sitting:
    """Stops the training run in progress after `minutes` of this invocation (0: never), the way the
    Stop button does: a STOP file in the run folder, then a checkpoint."""

    def __init__(self, minutes: float) -> None:
        self.deadline = time.monotonic() + minutes * 60 if minutes else None

    def watch(self, run_dir: Path) -> threading.Event:
        done = threading.Event()

        def stop_at_deadline() -> None:
            if not done.wait(max(0.0, self.deadline - time.monotonic())):
                (run_dir / "STOP").touch()

        if self.deadline is not None:
            threading.Thread(target=stop_at_deadline, daemon=True).start()
        return done


def keep_account(spent_file: Path, spent: float, started: float, done: threading.Event) -> threading.Thread:
    """The run's seconds so far written every minute of the sitting: a sitting killed outright (the
    session ended under it) loses a minute of its account at most, not all of it (the fifth 5,000-fact
    sitting lost its 6,672 s that way). Only the work folder's account: --record is written when a
    sitting ends, so a rebuild from it never counts an expert's time that it trains again."""

    def write_every_minute() -> None:
        while not done.wait(60):
            spent_file.write_text(json.dumps({"seconds": spent + time.monotonic() - started}))

    writer = threading.Thread(target=write_every_minute, daemon=True)
    writer.start()
    return writer


def train_or_resume(config: TuneConfig, log: Path, sitting: Sitting, keep: Path | None = None) -> tuple[dict, float]:
    """Run (or resume) one training run; its seconds are summed over sittings in seconds.json. With
    `keep`, an experts run's manifest and seconds are copied there after every sitting, and a one-adapter
    run's events: its checkpoint (a rank-176 adapter and its optimizer state, some 650 MB at 1,000 facts)
    is too big to keep, its loss and recall curve is not, so a run lost with its machine still shows how
    far it got."""
    run = Path(config.output_dir)
    # a sitting killed outright leaves the last checkpoint (every 100 steps), or none yet: start over
    resume = (run / "config.json").exists() and ((run / "checkpoint" / "state.pt").exists()
                                                 or (run / "experts.json").exists())
    if resume and (run / "STOP").exists():
        (run / "STOP").unlink()
    spent_file = run.parent / "seconds.json"
    spent = json.loads(spent_file.read_text())["seconds"] if spent_file.exists() else 0.0
    done = sitting.watch(run)
    started = time.monotonic()
    writer = keep_account(spent_file, spent, started, done)
    try:
        result = train_run(TuneConfig.load(run / "config.json") if resume else config, resume=resume,
                            events=EventLog(log, stdout=False))
    finally:
        done.set()
        writer.join()
        spent += time.monotonic() - started
        spent_file.write_text(json.dumps({"seconds": spent}))
        if keep and (run / MANIFEST).exists():
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(run / MANIFEST, keep / MANIFEST)
            shutil.copy(spent_file, keep / spent_file.name)
        elif keep and log.exists() and furthest_step(log) >= furthest_step(keep / log.name):
            # a run started over on a new machine does not replace the kept curve of one that got further
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, keep / log.name)
    if result.get("status") == "stopped":
        raise NotDone(f"{run} stopped after {spent:.0f} s in all")
    if result.get("status") == "failed":
        raise SystemExit(f"{run}: {result.get('reason')}")
    return result, spent


def prepare(folder: Path, pairs: list[QAPair], method: str, rank: int, minutes: float, args,
            steps: int = 0) -> TuneConfig:
    """The run's facts and settings; an experts run the work folder lost is rebuilt from --record.
    LoRA alpha grows with the rank up to 16 and then stays at 32 (the default config's scale). Both
    methods train at one learning rate and clipping (--lr, --clip): at lr 2e-3 the one adapter (rank 32,
    100 row facts) diverged and 50-fact experts of row facts had memorized nothing after 1,000 steps; at
    1e-3 with the gradient norm clipped at 1.0 both converge (docs/benchmarks.md)."""
    folder.mkdir(parents=True, exist_ok=True)
    D.write_run_data(pairs, folder / "facts.jsonl")
    config = TuneConfig(data=str(folder / "facts.jsonl"), output_dir=str(folder / "run"), model="bundled",
                        database_name="lumen", method=method, expert_size=args.expert_size,
                        experts_at_once=args.experts_at_once, lora_r=rank, lora_alpha=2 * min(rank, 16),
                        batch_size=args.batch_size, max_steps=steps, max_minutes=minutes,
                        learning_rate=args.lr, max_grad_norm=args.clip, lora_layers=args.lora_layers,
                        recall_every=2, checkpoint_every=100, log_every=10,
                        regularization="none")  # as every recorded point
    kept = kept_folder(folder, args)
    if method == "experts" and kept and (kept / MANIFEST).exists() and not (folder / "run" / MANIFEST).exists():
        restore_experts_run(config, kept)
    return config


def kept_folder(folder: Path, args) -> Path | None:
    return args.record / folder.name if args.record else None


def train(folder: Path, pairs: list[QAPair], method: str, rank: int, minutes: float, args,
          sitting: Sitting, steps: int = 0) -> dict:
    """One run to full recall, or to its budget of `minutes` or `steps` (0: none)."""
    config = prepare(folder, pairs, method, rank, minutes, args, steps)
    result, seconds = train_or_resume(config, folder / "events.jsonl", sitting, keep=kept_folder(folder, args))
    return {"method": method, "facts": len(pairs), "rank": rank, "recall": result.get("recall"),
            "status": result.get("status"), "reason": result.get("reason"), "seconds": seconds,
            "steps": result.get("step"),
            "seconds_per_fact": seconds / len(pairs), "experts": result.get("experts"),
            "experts_at_once": args.experts_at_once, "learning_rate": config.learning_rate,
            "max_grad_norm": config.max_grad_norm, "budget_s": minutes * 60 or None, "budget_steps": steps or None}


def restore_experts_run(config: TuneConfig, kept: Path) -> None:
    """An experts run rebuilt from its kept manifest where the work folder was lost (a new machine):
    the trained experts keep their measured steps, time and recall, but their adapters are gone, so
    the rebuilt run serves this measurement, not chat. An expert that was part-trained starts over,
    and the time spent on it is taken off the run's seconds. The router's vectors are embedded again."""
    from engine.mome.experts import BaseEmbedder, save_vectors

    run = Path(config.output_dir)
    manifest = ExpertSet.load(kept)
    lost = [e for e in manifest.experts if e.status != "trained"]
    # one expert (or one group of experts, each with the group's time) is in progress at a time
    seconds = json.loads((kept / "seconds.json").read_text())["seconds"] - max((e.seconds for e in lost), default=0)
    for expert in lost:
        expert.steps, expert.seconds = 0, 0.0
    run.mkdir(parents=True, exist_ok=True)
    pairs = D.load_pairs(config.data)
    save_vectors(run, [p.id for p in pairs], BaseEmbedder(config)([p.question for p in pairs]))
    manifest.save(run)
    config.save(run / "config.json")
    (run.parent / "seconds.json").write_text(json.dumps({"seconds": seconds}))
    print(f"{run.parent.name}: rebuilt from {kept}: {len(manifest.trained())} of {len(manifest.experts)} experts "
          f"trained, {seconds:.0f} s", flush=True)


def add_new_facts(run: Path, old: list[QAPair], new: list[QAPair], sitting: Sitting) -> dict:
    """The new facts folded into a copy of the experts run (the original stays as the full-size point)."""
    from engine.mome.experts import update_experts

    copy = run.parent.parent / f"{run.parent.name}-plus-{len(new)}"
    marker = copy / "update.json"
    if not marker.exists():
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(run.parent, copy)
        config = TuneConfig.load(copy / "run" / "config.json")
        config.output_dir, config.data = str(copy / "run"), str(copy / "facts.jsonl")
        config.save(copy / "run" / "config.json")
        (copy / "seconds.json").unlink(missing_ok=True)
        started = time.monotonic()
        report = update_experts(copy / "run", old + new)
        marker.write_text(json.dumps({"new_experts": report["new_experts"], "seconds": time.monotonic() - started}))
    planned = json.loads(marker.read_text())
    result, seconds = train_or_resume(TuneConfig.load(copy / "run" / "config.json"), copy / "update-events.jsonl",
                                      sitting)
    steps = sum(e.steps for e in ExpertSet.load(copy / "run").experts if e.name in planned["new_experts"])
    return {"seconds": planned["seconds"] + seconds, "steps": steps, "new_experts": planned["new_experts"],
            "recall": result.get("recall"), "status": result.get("status")}


def recall_label(row: dict) -> str:
    if row["recall"] is None:
        return "-"
    if row.get("partial"):
        return f"≥{row['recall']:.0%} at {row['steps'] / row['budget_steps']:.0%} of its steps"
    return f"{row['recall']:.0%}"


def plot(rows: list[dict], path: Path) -> None:
    """Training time and optimizer steps against facts, side by side: the seconds of a point measured
    over sittings on several machines carry their speeds, the steps do not. A dashed line shows what
    linear growth from the experts' smallest point would be."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication([])
    layout = pg.GraphicsLayoutWidget()
    layout.setBackground("w")
    panels = [("seconds", "Training time vs facts")]
    if all(r.get("steps") for r in rows):
        panels.append(("steps", "Optimizer steps vs facts"))
    facts = [r["facts"] for r in rows]
    for column, (quantity, title) in enumerate(panels):
        item = layout.addPlot(row=0, col=column, title=f"{title} (labels: exact recall at the end)")
        item.addLegend(offset=(10, 10))
        for method, color in (("memory", "#1f77b4"), ("experts", "#2ca02c")):
            points = sorted((r["facts"], r[quantity], recall_label(r), bool(r.get("partial"))) for r in rows
                            if r["method"] == method)
            if not points:
                continue
            name = "one adapter" if method == "memory" else "memory experts"
            finished = [p for p in points if not p[3]]
            item.plot([p[0] for p in finished], [p[1] for p in finished], pen=pg.mkPen(color, width=2), symbol="o",
                      symbolBrush=color, name=name)
            unfinished = [p for p in points if p[3]]  # a run not done yet: a hollow point, not on the curve
            if unfinished:
                item.plot([p[0] for p in unfinished], [p[1] for p in unfinished], pen=None, symbol="o",
                          symbolBrush="w", symbolPen=pg.mkPen(color, width=2), name=f"{name}, not finished")
            for x, y, text, partial in points:  # a run stopped by its budget, or still training, shows it here
                # one adapter's labels under its points, the experts' above: at 100 and 1,000 facts they meet
                anchor = (1.0 if partial else 0.5, -0.3 if method == "memory" else 1.3)
                label = pg.TextItem(text, color=color, anchor=anchor)
                label.setPos(x, y)
                item.addItem(label)
            if method == "experts":
                x0, y0, *_ = points[0]
                item.plot([0, max(facts)], [0, y0 / x0 * max(facts)], pen=pg.mkPen(color, width=1, style=pg.QtCore.Qt.DashLine),
                          name=f"linear from {x0} facts")
        item.setXRange(0, max(facts) * 1.05)
        item.setYRange(0, max(r[quantity] for r in rows) * 1.15)  # room for the labels; from zero
        item.setLabel("bottom", "facts")
        item.setLabel("left", quantity)
    layout.resize(640 * len(panels), 440)
    layout.show()  # laid out at its size (offscreen), then grabbed whole
    QApplication.processEvents()
    if not layout.grab().save(str(path)):
        raise OSError(f"could not write {path}")


def measure(everything: list[QAPair], args, work: Path, sitting: Sitting) -> tuple[list[dict], dict | None]:
    """Every point (size x method) and the update, each kept in points.json (in --record, else in the
    work folder) once done. The experts points and the update come first: they are what the issue's
    goals are about; the one adapter, which may never reach full recall, is the comparison."""
    work.mkdir(parents=True, exist_ok=True)
    saved = (args.record or work) / "points.json"
    saved.parent.mkdir(parents=True, exist_ok=True)
    done = json.loads(saved.read_text()) if saved.exists() else {}

    def point(key: str, measure_it) -> dict:
        settings = {"learning_rate": args.lr, "max_grad_norm": args.clip}
        trained = key.startswith(("experts-", "single-"))
        if trained and key in done and any(done[key].get(name) != value for name, value in settings.items()):
            del done[key]  # measured with other settings: measure again (its old run folder goes too)
            shutil.rmtree(work / key, ignore_errors=True)
        if key not in done:
            done[key] = measure_it()
            saved.write_text(json.dumps(done, indent=1))
            print(json.dumps(done[key]), flush=True)
            if saved.resolve() != REFERENCE.resolve():
                print(against_reference(key, done[key]), flush=True)
        return done[key]

    experts = {size: point(f"experts-{size}", lambda: train(work / f"experts-{size}", everything[:size], "experts",
                                                            args.expert_rank, args.minutes, args, sitting))
               for size in args.sizes}
    update = None
    if args.new:
        largest = max(args.sizes)
        full_run = work / f"experts-{largest}"

        def add_to_largest() -> dict:
            prepare(full_run, everything[:largest], "experts", args.expert_rank, args.minutes, args)
            return add_new_facts(full_run / "run", everything[:largest], everything[largest:largest + args.new],
                                 sitting)

        update = point(f"update-{largest}+{args.new}", add_to_largest)
        update.update(retrain_shares(update, experts[largest]))
    rows = []
    for size, mome in experts.items():
        rows.append(mome)
        if not args.skip_single:
            rank, minutes, steps = single_budget(mome, args)
            rows.append(point(f"single-{size}", lambda: train(work / f"single-{size}", everything[:size], "memory",
                                                              rank, minutes, args, sitting, steps)))
    return rows, update


def retrain_shares(update: dict, full: dict) -> dict:
    """What adding the new facts cost as a share of training the full memory, in seconds and in steps."""
    return {"share_of_full_retrain": update["seconds"] / full["seconds"],
            "share_of_full_retrain_steps": update["steps"] / full["steps"]}


def single_budget(mome: dict, args) -> tuple[int, float, int]:
    """The one adapter's rank, minutes and steps at the size of the experts point `mome`: the experts'
    total rank, and never open-ended: a budget in steps, the compute the experts needed (a step is one
    batch of the same size through the same model in both methods), so a point measured over sittings
    on machines of different speeds compares like with like; in minutes where asked for."""
    rank = min(args.max_rank, args.expert_rank * mome["experts"])
    steps = 0 if args.minutes else round(args.single_cap * mome["steps"])
    return rank, args.minutes, steps


def furthest_step(events: Path) -> int:
    """The last step a kept events log reached (0: none)."""
    if not events.exists():
        return 0
    return max((e.get("step") or 0 for e in read_events(events)), default=0)


def in_progress(events: Path, size: int, rank: int, budget: int) -> dict | None:
    """A one-adapter point not done yet, as far as its kept events go: the steps and seconds it reached
    and its last periodic recall check, a lower bound (such a check decodes only the facts already under
    the loss threshold). A run that needs more hours than a machine lasts shows where it got."""
    if not events.exists():
        return None
    log = read_events(events)
    progress = [e for e in log if e["event"] in ("step", "stopped") and "elapsed_s" in e]
    if not progress:
        return None
    last = progress[-1]
    check = next((e for e in reversed(log) if e["event"] == "recall"), None)
    return {"method": "memory", "facts": size, "rank": rank, "recall": check["recall"] if check else None,
            "recall_step": check["step"] if check else None, "status": "not finished", "reason": None,
            "steps": last["step"], "budget_steps": budget, "seconds": last["elapsed_s"],
            "seconds_per_fact": None, "experts": None, "partial": True}  # a share of a run is no rate


def rows_so_far(args, work: Path) -> tuple[list[dict], dict | None]:
    """The report's rows from what is kept: the finished points, and a one-adapter point in progress
    from its events (written when a sitting ends, and with --report-only)."""
    saved = (args.record or work) / "points.json"
    done = json.loads(saved.read_text()) if saved.exists() else {}
    rows = []
    for size in args.sizes:
        mome = done.get(f"experts-{size}")
        if mome is None:
            continue
        rows.append(mome)
        if args.skip_single:
            continue
        single = done.get(f"single-{size}")
        if single is None:
            rank, _, steps = single_budget(mome, args)
            folder = kept_folder(work / f"single-{size}", args) or work / f"single-{size}"
            single = in_progress(folder / "events.jsonl", size, rank, steps)
        if single:
            rows.append(single)
    largest = max(args.sizes)
    update = done.get(f"update-{largest}+{args.new}") if args.new else None
    if update and f"experts-{largest}" in done:
        update = {**update, **retrain_shares(update, done[f"experts-{largest}"])}
    return rows, update


def make_parser() -> argparse.ArgumentParser:
    """The bench's options; their defaults are the settings of the measured runs (bench_expert_alone.py
    retrains one expert with them)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--minutes", type=float, default=30.0, help="time budget of each training run")
    parser.add_argument("--expert-size", type=int, default=50)
    parser.add_argument("--expert-rank", type=int, default=8)
    parser.add_argument("--max-rank", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=0, help="0: by device (4 on a CPU, 10 on a GPU)")
    parser.add_argument("--experts-at-once", type=int, default=0,
                        help="experts trained together; 0: by device (one at a time)")
    parser.add_argument("--work", default=None, help="keep runs and finished points here, to go on later "
                        "(default: a temporary folder)")
    parser.add_argument("--record", type=Path, default=None, help="keep the finished points and each experts "
                        "run's manifest and seconds here too (small files, committed), so a new machine goes on")
    parser.add_argument("--stop-after", type=float, default=0.0,
                        help="minutes of training in this sitting; then checkpoint and exit 3 (0: no limit)")
    parser.add_argument("--new", type=int, default=100, help="facts added to the largest memory afterwards")
    parser.add_argument("--skip-single", action="store_true")
    parser.add_argument("--single-cap", type=float, default=1.0,
                        help="with --minutes 0: the one adapter stops at this many times the experts' optimizer "
                        "steps at the same size, the same compute at 1 (it may never reach full recall; 0: no cap)")
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate of both methods (at 2e-3 the one "
                        "adapter diverged on 100 row facts and 50-fact experts stalled)")
    parser.add_argument("--lora-layers", type=int, default=0,
                        help="adapters on the top N layers (default 0: every layer, as the recorded points)")
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip of both methods (0: none)")
    parser.add_argument("--out", default=None, help="folder for mome-scaling.md / .png / .json")
    parser.add_argument("--report-only", action="store_true", help="only write the table and plot from what "
                        "--record (or --work) keeps, a one-adapter point still training as far as it got")
    parser.add_argument("--replot", default=None, help="only redraw the PNG from a mome-scaling.json")
    return parser


def main() -> int:
    args = make_parser().parse_args()
    if args.replot:
        plot(json.loads(Path(args.replot).read_text())["rows"], Path(args.replot).with_suffix(".png"))
        return 0
    everything = row_facts(max(args.sizes) + args.new)
    if len(everything) < max(args.sizes) + args.new:
        raise SystemExit(f"the demo database gives only {len(everything)} lookup facts")
    with contextlib.ExitStack() as stack:
        work = Path(args.work) if args.work else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.report_only:
            write_report(*rows_so_far(args, work), args)
            return 0
        try:
            rows, update = measure(everything, args, work, Sitting(args.stop_after))
        except NotDone as stopped:
            print(f"not done yet: {stopped}; run the same command again to go on", flush=True)
            write_report(*rows_so_far(args, work), args)
            return 3
    write_report(rows, update, args)
    return 0


def write_report(rows: list[dict], update: dict | None, args) -> None:
    """The table (printed, and with --out as mome-scaling.md), the rows as JSON and the plot."""
    largest = max(args.sizes)
    lines = ["| facts | method | rank | recall | optimizer steps | training time | time per fact |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        name = f"memory experts ({r['experts']})" if r["method"] == "experts" else "one adapter"
        recall = "-" if r["recall"] is None else f"{r['recall']:.1%}"
        steps = f"{r['steps']:,}"
        if r.get("partial"):
            recall = "-" if r["recall"] is None else f"≥ {r['recall']:.1%} (a lower bound, at step {r['recall_step']:,})"
            steps += f" of {r['budget_steps']:,} (not finished)"
        elif r.get("reason") in ("time budget", "step budget"):
            recall += f" (stopped at its {r['reason']})"
        per_fact = "-" if r["seconds_per_fact"] is None else f"{r['seconds_per_fact']:.2f} s"
        lines.append(f"| {r['facts']} | {name} | {r['rank']} | {recall} | {steps} | {r['seconds']:.0f} s | {per_fact} |")
    if update:
        lines.append(f"\nAdding {args.new} facts to the {largest}-fact memory: {update['seconds']:.0f} s "
                     f"({update['share_of_full_retrain']:.1%} of the full training's time, "
                     f"{update['share_of_full_retrain_steps']:.1%} of its steps), recall after "
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

if __name__ == "__main__":
    sys.exit(main())
