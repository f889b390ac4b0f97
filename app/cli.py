"""`engram` command line: a thin layer over engine/.

Every failure the user can act on is an EngramError: printed as one line on stderr with exit
status 2, never a traceback (set ENGRAM_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable

from engine.errors import EngramError

Command = Callable[[argparse.Namespace], int]


def _json_default(value: object) -> str:
    return str(value)


def cmd_inspect(args: argparse.Namespace) -> int:
    from engine.db import open_database

    with open_database(args.database) as db:
        schema = db.schema()
        if args.json:
            from dataclasses import asdict

            print(json.dumps({"kind": db.kind, "tables": [asdict(t) for t in schema.tables]},
                             indent=2, default=_json_default))
            return 0
        print(f"{args.database} ({db.kind}, read-only)")
        print(schema.describe())
        if args.samples:
            for table in schema.tables:
                result = db.sample_rows(table.name, args.samples)
                print(f"\n-- {table.name}: first {result.row_count} rows")
                print(" | ".join(result.columns))
                for row in result.rows:
                    print(" | ".join("NULL" if v is None else str(v) for v in row))
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from engine.db import open_database

    with open_database(args.database) as db:
        result = db.query(args.sql, max_rows=args.max_rows, timeout_s=args.timeout)
    print(" | ".join(result.columns))
    for row in result.rows:
        print(" | ".join("NULL" if v is None else str(v) for v in row))
    more = f" (truncated: {result.note})" if result.truncated else ""
    print(f"-- {result.row_count} row(s) in {result.elapsed_s:.3f}s{more}", file=sys.stderr)
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from engine.models.locate import resolve_model

    source = resolve_model(args.model)
    print(f"{source.name}\n  format: {source.kind}\n  path: {source.path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Headless tour: the demo database's schema and a query, and the bundled model answering."""
    from app.paths import DEMO_SQLITE
    from engine.db import open_database
    from engine.models.locate import resolve_model

    with open_database(DEMO_SQLITE) as db:
        print(f"Demo database: {DEMO_SQLITE}")
        print(db.schema().describe())
        result = db.query(
            "SELECT s.description, COUNT(*) AS orders FROM orders o "
            "JOIN order_statuses s ON s.status_code = o.status_code GROUP BY s.description ORDER BY orders DESC")
        print("\nOrders by status:")
        for description, count in result.rows:
            print(f"  {count:>5}  {description}")
    source = resolve_model(None)
    print(f"\nBundled model: {source.name} at {source.path}")
    return 0


def _print_counts(store) -> None:
    """Pairs per kind and status (and per split), the summary every dataset command ends with."""
    counts = store.counts_by("kind", "status")
    kinds = sorted({k for k, _ in counts})
    statuses = ["pending", "approved", "rejected"]
    print(f"{'kind':<8}" + "".join(f"{s:>10}" for s in statuses) + f"{'total':>10}")
    for kind in kinds:
        row = [counts.get((kind, s), 0) for s in statuses]
        print(f"{kind:<8}" + "".join(f"{n:>10}" for n in row) + f"{sum(row):>10}")
    splits = store.counts_by("split")
    print("splits: " + ", ".join(f"{k[0]} {v}" for k, v in splits.items()))
    print(f"project: {store.path}")


def _curate(store, db, args) -> None:
    from engine.qa.curation import Curator
    from engine.qa.dedupe import find_duplicates
    from engine.qa.split import add_paraphrases, apply_split

    curator = Curator(store, db)
    if getattr(args, "approve_valid", False):
        curator.approve_valid()
    if getattr(args, "reject_invalid", False):
        curator.reject_invalid()
    if getattr(args, "dedupe", False):
        report = find_duplicates(store.pairs("split != 'paraphrase'"), db.dialect)
        if report.removable:
            curator.delete(report.removable)
        print(f"dedupe: removed {len(report.removable)} duplicate(s); {len(report.conflicts)} conflict(s) "
              f"and {len(report.equivalent_sql)} equivalent-SQL group(s) left for review")
    if getattr(args, "split", None) is not None:
        counts = apply_split(store, args.split, seed=args.seed)
        print("split: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if getattr(args, "paraphrase", False):
        print(f"paraphrases: added {add_paraphrases(store)} rule-based held-out paraphrase(s)")


def cmd_generate(args: argparse.Namespace) -> int:
    from app.projects import open_project
    from engine.db import open_database
    from engine.qa.generate import generate_template_pairs
    from engine.qa.templates import TemplateConfig
    from engine.qa.validate import ValidationConfig

    validation = ValidationConfig(max_rows=args.max_rows)
    with open_database(args.database) as db, open_project(args.project, args.database) as store:
        report = generate_template_pairs(store, db, TemplateConfig(seed=args.seed), validation,
                                         paraphrases=args.paraphrases, keep_invalid=args.keep_invalid)
        print(f"templates: {report.summary()}")
        if args.llm_rounds:
            _generate_llm(store, db, args, validation)
        if args.llm_paraphrase:
            _paraphrase_llm(store, db, args, validation)
        _curate(store, db, args)
        _print_counts(store)
    return 0


def _generate_llm(store, db, args, validation) -> None:
    from engine.models.llama_runtime import LlamaChat
    from engine.qa.llm_generate import LLMGenerationConfig, generate_llm_pairs, llama_completer

    config = LLMGenerationConfig(rounds=args.llm_rounds, seed=args.seed)
    examples = store.pairs("kind = 'sql' AND split = 'train' AND status != 'rejected' AND validation = 'ok'")
    accepted, proposed = [], 0
    with LlamaChat(args.model) as chat:
        for proposal in generate_llm_pairs(db, llama_completer(chat, config), examples, store.pairs(),
                                           config, validation):
            proposed += 1
            if proposal.accepted:
                accepted.append(proposal.to_pair())
            print(f"  llm round {proposal.round + 1}: {proposal.validation.status:<14} {proposal.question[:70]}",
                  file=sys.stderr)
    store.add_pairs(accepted)
    print(f"llm: {proposed} proposals, {len(accepted)} new valid pairs added")


def _paraphrase_llm(store, db, args, validation) -> None:
    from collections import Counter

    from engine.models.llama_runtime import LlamaChat
    from engine.qa.llm_generate import LLMGenerationConfig, llama_completer
    from engine.qa.llm_paraphrase import ParaphraseConfig, paraphrase_pairs

    config = ParaphraseConfig(max_questions=args.llm_paraphrase, seed=args.seed)
    sources = store.pairs("kind = 'sql' AND source = 'template' AND split = 'train' AND status != 'rejected'")
    verdicts, kept = Counter(), []
    with LlamaChat(args.model) as chat:
        completer = llama_completer(chat, LLMGenerationConfig(temperature=0.7, max_tokens=200, seed=args.seed))
        for check in paraphrase_pairs(db, completer, sources, store.pairs(), config, validation):
            verdicts[check.verdict] += 1
            if check.kept:
                kept.append(check.to_pair())
            print(f"  {check.verdict:<16} {check.question[:70]}", file=sys.stderr)
    store.add_pairs(kept)
    print("llm paraphrases: " + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())) +
          f"; {len(kept)} added to their template's intent")


def cmd_validate(args: argparse.Namespace) -> int:
    from app.projects import open_project, project_database
    from engine.db import open_database
    from engine.qa.curation import Curator
    from engine.qa.validate import ValidationConfig

    with open_project(args.project, args.database) as store:
        with open_database(project_database(store, args.database)) as db:
            Curator(store, db, ValidationConfig(max_rows=args.max_rows)).revalidate()
            for (kind, status), n in store.counts_by("kind", "validation").items():
                if status is not None:
                    print(f"{kind:<8}{status:<16}{n:>6}")
            _curate(store, db, args)
        _print_counts(store)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from app.projects import open_project, project_database
    from engine.db import open_database
    from engine.qa.curation import Curator
    from engine.qa.io import read_pairs

    pairs = read_pairs(args.file)  # all rows checked before anything is added
    with open_project(args.project, args.database) as store:
        with open_database(project_database(store, args.database)) as db:
            Curator(store, db).add(pairs, f"import {args.file}")
        print(f"imported {len(pairs)} pair(s) from {args.file}")
        _print_counts(store)
    return 0


def cmd_export_data(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.projects import open_project, project_database
    from engine.qa.chat_format import PromptContext
    from engine.qa.curation import PairFilter
    from engine.qa.io import write_csv, write_jsonl

    with open_project(args.project, args.database) as store:
        flt = PairFilter(status=args.status or None, split=args.split or None, kind=args.kind)
        where, params = flt.where()
        pairs = store.pairs(where, params)
        out = Path(args.out)
        fmt = args.format or ("csv" if out.suffix.lower() == ".csv" else "jsonl")
        if fmt == "csv":
            n = write_csv(pairs, out)
        else:
            from engine.db.detect import detect_kind

            database = project_database(store, args.database)
            context = PromptContext(database=database.stem, dialect=detect_kind(database))
            n = write_jsonl(pairs, out, context, with_metadata=args.metadata)
    print(f"wrote {n} pair(s) to {out} ({fmt})")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    """Run memory tuning in a child process; its JSON-lines events are echoed on stdout."""
    from pathlib import Path

    from engine.tune.config import TuneConfig
    from engine.tune.process import TuneProcess

    overrides = {k: v for k, v in {
        "method": args.method, "model": args.model, "max_steps": args.max_steps, "max_minutes": args.max_minutes,
        "batch_size": args.batch_size, "learning_rate": args.lr, "device": args.device,
        "regularization": args.regularization, "expert_size": args.expert_size,
        "experts_at_once": args.experts_at_once, "lora_layers": args.lora_layers,
        "precision": args.precision}.items() if v is not None}
    store = run_id = None
    if args.resume:
        config_path = Path(args.resume) / "config.json"
        if not config_path.is_file():
            raise EngramError(f"{args.resume} is not a run folder (no config.json)")
    elif args.config:
        config_path = Path(args.config)
        config = TuneConfig.load(config_path)
        if overrides:
            config = TuneConfig.from_dict({**json.loads(config.to_json()), **overrides})
            config.save(config_path)
    else:
        from app.projects import open_project
        from engine.tune.prepare import prepare_run

        store = open_project(args.project, args.database)
        config, run_id = prepare_run(store, TuneConfig(**overrides), args.run_dir, max_pairs=args.max_pairs)
        config_path = Path(config.output_dir) / "config.json"
    final = _stream_run(TuneProcess(config_path, resume=bool(args.resume)).start(), args.json)
    if store is not None:
        from engine.tune.prepare import record_run

        record_run(store, run_id, config_path.parent)
        store.close()
    summary = ", ".join(f"{k}={final[k]}" for k in ("reason", "step", "recall") if k in final)
    print(f"engram tune: {final.get('event')} ({summary}); run folder {config_path.parent}", file=sys.stderr)
    return 0 if final.get("event") in ("finished", "stopped") else 1


def _stream_run(process, as_json: bool = False) -> dict:
    """Show a training child's events (a progress bar, or JSON lines with --json); Ctrl+C asks it to stop
    cleanly. Returns the final event."""
    from app.tune_progress import JsonLines, TuneProgress

    show = JsonLines() if as_json else TuneProgress()
    try:
        for event in process.events():
            show(event)
    except KeyboardInterrupt:
        process.stop()
        for event in process.events():
            show(event)
    finally:
        show.close()
    return process.final or {}


def cmd_update(args: argparse.Namespace) -> int:
    """Incremental memory for a memory-experts run: refresh facts the database changed, add newly
    approved pairs, and train only the experts that changed or are new."""
    from pathlib import Path

    from app.projects import open_project, project_database
    from engine.db import open_database
    from engine.mome.update import plan_memory_update
    from engine.tune.prepare import record_run
    from engine.tune.process import TuneProcess

    run = Path(args.run)
    with open_project(args.project, args.database) as store:
        with open_database(project_database(store, args.database)) as db:
            update = plan_memory_update(store, db, run)
        for fact in update.stale:
            print(f"stale: {fact.question}  {fact.old!r} → {fact.new!r}")
        print(update.summary())
        if args.no_train or not update.to_train:
            return 0
        final = _stream_run(TuneProcess(run / "config.json", resume=True).start(), args.json)
        run_id = next((r["id"] for r in store.runs() if r["folder"] == str(run)), None)
        if run_id is not None:
            record_run(store, run_id, run)
    print(f"engram update: {final.get('event')} (recall={final.get('recall')})", file=sys.stderr)
    return 0 if final.get("event") in ("finished", "stopped") else 1


def _print_steps(gen):
    """Run an export generator, printing its steps on stderr; returns its result."""
    from engine.export.gguf_export import run_steps

    return run_steps(gen, lambda number, step: print(f"  {step.stage:<9} {step.message}", file=sys.stderr))


def _export_experts(run, args: argparse.Namespace) -> int:
    """A memory-experts run: the base GGUF plus one LoRA GGUF per expert, checked with routing."""
    from pathlib import Path

    from engine.mome.inference import LlamaExperts, experts_recall, export_experts
    from engine.sqlgen.grounding import copy_grounding, run_context
    from engine.tune.config import TuneConfig
    from engine.tune.data import load_pairs

    config = TuneConfig.load(run / "config.json")
    out = Path(args.out) if args.out else run / "export"
    exported = _print_steps(export_experts(run, out, quant=args.quant[0]))
    with LlamaExperts(run, exported) as chat:
        recall, misses = experts_recall(chat, load_pairs(config.data), run_context(config))
    copy_grounding(run, out)
    print(f"base model: {exported.base}\n{len(exported.adapters)} expert adapter(s) in {out / 'experts'}")
    print(f"recall through llama.cpp with routing: {recall:.0%}")
    (out / "parity.json").write_text(json.dumps({"recall": recall, "misses": misses}, indent=1))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Merge a run's adapter, write GGUF files, and check recall through llama.cpp."""
    from pathlib import Path

    from engine.export.gguf_export import export_model
    from engine.export.parity import check_parity, run_reference_recall
    from engine.models.locate import resolve_model
    from engine.sqlgen.grounding import copy_grounding, run_context
    from engine.tune.config import TuneConfig
    from engine.tune.data import load_pairs
    from engine.tune.model_loading import hf_folder_for

    run = Path(args.run)
    if (run / "experts.json").is_file():
        return _export_experts(run, args)
    if not (run / "config.json").is_file() or not (run / "adapter").is_dir():
        raise EngramError(f"{run} is not a finished run folder (needs config.json and adapter/)")
    config = TuneConfig.load(run / "config.json")
    context = run_context(config)
    out = Path(args.out) if args.out else run / "export"
    result = _print_steps(export_model(hf_folder_for(resolve_model(config.model)), run / "adapter", out, args.quant,
                                       context.system_prompt("sql"), name=config.database_name))
    copy_grounding(run, out)
    reference = run_reference_recall(run)
    report = check_parity(result.files, load_pairs(config.data), context, reference)
    print(f"{'file':<34}{'recall (llama.cpp)':>20}{'recall (transformers)':>24}")
    for label, path in result.files.items():
        ref = "-" if reference is None else f"{reference:.0%}"
        flag = "" if label not in report.dropped() else "  FAILED: facts lost in export"
        print(f"{path.name:<34}{report.recall[label]:>20.0%}{ref:>24}{flag}")
    if result.adapter_gguf:
        print(f"LoRA adapter: {result.adapter_gguf}")
    if result.modelfile:
        print(f"Ollama: cd {out} && ollama create {config.database_name} -f Modelfile")
    (out / "parity.json").write_text(json.dumps({"reference_recall": reference, "recall": report.recall,
                                                 "misses": report.misses, "passed": report.passed}, indent=1))
    return 0 if report.passed else 1


def _chat_model(args):
    from engine.mome.inference import open_chat

    return open_chat(args.model, n_ctx=args.ctx, lora=getattr(args, "lora", None))


def _route_note(chat) -> None:
    """Memory experts: which expert answered (or that the base model did), after the reply."""
    if hasattr(chat, "route_note"):
        print(f"[{chat.route_note()}]")


def cmd_chat(args: argparse.Namespace) -> int:
    from engine.cancel import CancelToken
    from engine.chat.session import ChatSession
    from engine.models.llama_runtime import Sampling

    sampling = Sampling(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                        max_tokens=args.max_tokens, seed=args.seed)
    with _chat_model(args) as chat:
        session = ChatSession(chat, args.system, sampling)
        print(f"Chatting with {chat.source.name} — empty line or Ctrl+D to quit, Ctrl+C stops a reply.",
              file=sys.stderr)
        while True:
            try:
                text = input("you> ").strip()
            except EOFError:
                break
            if not text:
                break
            token = CancelToken()
            print("model> ", end="", flush=True)
            try:
                for piece in session.send(text, token):
                    print(piece, end="", flush=True)
            except KeyboardInterrupt:
                token.cancel()
                print(" [stopped]", end="")
            print()
            _route_note(chat)
    return 0


def _sql_context(db, args):
    """The prompt context for SQL answers: the database's schema, and examples from --project's approved
    pairs or the model's run (engine/sqlgen/grounding.py); --no-schema / --examples 0 leave them out."""
    from pathlib import Path

    from engine.qa.chat_format import PromptContext
    from engine.sqlgen.grounding import EXAMPLES_WHERE, grounding_for

    pairs = None
    if getattr(args, "project", None):
        from engine.project import ProjectStore

        with ProjectStore(args.project) as store:
            pairs = store.pairs(EXAMPLES_WHERE)
    grounding = grounding_for(db, getattr(args, "model", None), pairs, args.examples)
    grounding.show_schema = not args.no_schema
    return PromptContext(args.name or Path(db.path).stem, db.dialect, grounding)


def _answer_settings(args):
    from engine.sqlgen.answer import AnswerSettings, default_k

    return AnswerSettings(k=args.k or default_k(), grammar=not args.no_grammar, voting=not args.no_voting,
                          retries=max(0, args.attempts - 1), max_rows=args.max_rows)


def cmd_ask(args: argparse.Namespace) -> int:
    from engine.db import open_database

    from engine.chat.sql_agent import run_agent

    with open_database(args.database) as db, _chat_model(args) as chat:
        context = _sql_context(db, args)
        answered = False
        for step in run_agent(chat, db, args.question, context, _answer_settings(args)):
            if step.kind == "candidate":
                print(f"SQL ({step.source}): {step.text}\n  -> {step.result}")
                _route_note(chat)
            elif step.kind == "rows":
                print(f"chosen: {step.source}, {step.text}")
                print(" | ".join(step.columns))
                for row in step.rows[:args.max_rows]:
                    print(" | ".join("NULL" if v is None else str(v) for v in row))
            elif step.kind == "answer":
                print(f"Answer: {step.text}")
                answered = True
            else:
                print(step.text)
    return 0 if answered else 1


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate one or two models (base vs tuned) by execution on the database; write a report."""
    from pathlib import Path

    from engine.db import open_database
    from engine.eval.evaluate import evaluate, format_summary, load_benchmark, open_predictor, write_report

    store, constructs = None, None
    if args.heldout:
        from engine.qa.heldout import heldout_pairs, load_heldout

        if not args.database:
            raise EngramError("Give the database the held-out questions are about (--database)")
        database = Path(args.database)
        with open_database(database) as db:
            pairs, constructs = heldout_pairs(load_heldout(args.heldout, db), db.dialect)
        pairs = pairs[:args.limit] if args.limit else pairs
    elif args.pairs:
        pairs = load_benchmark(args.pairs)
        database = Path(args.database) if args.database else None
    else:
        from app.projects import open_project, project_database

        store = open_project(args.project, args.database)
        database = project_database(store, args.database)
        if args.run:  # exactly the pairs that run trained on
            from engine.tune.prepare import run_pairs

            pairs = run_pairs(store, args.run, paraphrases=args.split == "paraphrase")
        else:
            splits = {"train": "split = 'train'", "eval": "split = 'eval'", "paraphrase": "split = 'paraphrase'",
                      "all": "1 = 1"}[args.split]
            pairs = store.pairs(f"status = 'approved' AND {splits}", limit=args.limit)
    if database is None:
        raise EngramError("Give the database to evaluate against (--database)")
    if not pairs:
        raise EngramError("Nothing to evaluate: no approved pairs in that split")
    models = [("base", args.base)] if args.base else []
    models.append(("tuned" if args.base else "model", args.model))
    reports = []
    with open_database(database) as db:
        context = _sql_context(db, args)  # one grounding for both models: the tuned model's examples
        settings = _answer_settings(args)
        for label, spec in models:
            predictor = open_predictor(spec, f"{label}: {_model_label(spec)}")
            print(f"evaluating {predictor.name} on {len(pairs)} pair(s)…", file=sys.stderr)
            reports.append(evaluate(predictor, pairs, db, context, general=not args.no_general,
                                    constructs=constructs, answering=settings))
            predictor.close()
    print(format_summary(reports))
    if args.out:
        print(f"report: {write_report(reports, args.out)}")
    if store is not None:
        for report in reports:
            store.add_evaluation(report.model, report.summary(), report_path=args.out)
        store.close()
    return 0


def _model_label(spec: str | None) -> str:
    """How a model shows in reports: the file, or the run folder an adapter / experts run belongs to."""
    from engine.eval.evaluate import model_kind

    kind = model_kind(spec)
    if kind == "bundled":
        return "bundled"
    path = Path(spec)
    if kind == "adapter":
        return f"{path.parent.name} (transformers)"
    if kind == "experts-run":
        return f"{path.name} (memory experts, transformers)"
    if kind == "experts-export":
        folder = path.parent if path.is_file() else path
        return f"{folder.parent.name} (memory experts)"
    return path.name


def cmd_self_test(args: argparse.Namespace) -> int:
    """Offline install check: the demo database opens, the bundled model loads through llama.cpp and
    answers one question. No network is touched."""
    import time

    from app.paths import DEMO_SQLITE
    from engine.db import open_database
    from engine.models.llama_runtime import LlamaChat, Sampling

    started = time.monotonic()
    with open_database(DEMO_SQLITE) as db:
        orders = db.schema().table("orders").row_count
    print(f"demo database: ok ({orders:,} orders)")
    with LlamaChat(None, n_ctx=1024) as chat:
        answer = chat.complete([{"role": "user", "content": "What is the capital of France? One word."}],
                               Sampling(max_tokens=8))
    print(f"bundled model: ok ({chat.source.name}) answered {answer.strip()!r}")
    if not answer.strip():
        raise EngramError("The bundled model loaded but produced no answer")
    if "paris" not in answer.lower():  # greedy decoding: a working build always says Paris
        raise EngramError(f"The bundled model answered {answer.strip()!r} instead of Paris: llama.cpp computes "
                          "wrong results on this machine")
    print(f"self-test passed in {time.monotonic() - started:.1f}s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engram", description="Memory-tune a local LLM on your database.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("inspect", help="print a database's tables, columns, keys and row counts")
    p.add_argument("database", help="a SQLite or DuckDB file (opened read-only)")
    p.add_argument("--samples", type=int, default=0, metavar="N", help="also print N sample rows per table")
    p.add_argument("--json", action="store_true", help="print the schema as JSON")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("query", help="run one read-only SQL query and print the rows")
    p.add_argument("database")
    p.add_argument("sql")
    p.add_argument("--max-rows", type=int, default=100, help="row cap (default 100)")
    p.add_argument("--timeout", type=float, default=30.0, help="time limit in seconds (default 30)")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("model", help="show which model would be used (bundled by default)")
    p.add_argument("model", nargs="?", default=None, help="'bundled', a .gguf file or a Hugging Face folder")
    p.set_defaults(func=cmd_model)

    def dataset_options(p: argparse.ArgumentParser, database_required: bool) -> None:
        if database_required:
            p.add_argument("database", help="the SQLite or DuckDB file the pairs are about")
        else:
            p.add_argument("--database", default=None, help="the database (default: the project's)")
        p.add_argument("--project", default=None, help="project file (default: one per database in the user folder)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--max-rows", type=int, default=100, help="a valid answer has at most this many rows")
        p.add_argument("--approve-valid", action="store_true", help="approve pending pairs that validated OK")
        p.add_argument("--reject-invalid", action="store_true", help="reject pairs whose SQL failed validation")
        p.add_argument("--dedupe", action="store_true", help="remove exact duplicates (conflicts are only reported)")
        p.add_argument("--split", type=float, default=None, metavar="FRACTION",
                       help="re-split SQL pairs by intent, FRACTION of them to eval")
        p.add_argument("--paraphrase", action="store_true", help="add rule-based held-out paraphrases")

    p = sub.add_parser("generate", help="generate QA pairs about a database (templates, optionally the LLM)")
    dataset_options(p, database_required=True)
    p.add_argument("--paraphrases", type=int, default=1, help="held-out paraphrases per template intent")
    p.add_argument("--keep-invalid", action="store_true", help="keep pairs whose SQL failed, for review")
    p.add_argument("--llm-rounds", type=int, default=0, help="also ask the LLM for new SQL pairs, N rounds")
    p.add_argument("--llm-paraphrase", type=int, default=0, metavar="N",
                   help="also have the LLM reword N template SQL questions; a rewording is kept only when the SQL "
                        "the model writes for it returns the template query's result (best with a stronger --model)")
    p.add_argument("--model", default=None, help="GGUF model for --llm-rounds and --llm-paraphrase (default: bundled)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("validate", help="re-run every pair's SQL read-only and store the outcome")
    dataset_options(p, database_required=False)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("import-data", help="import pairs from CSV or JSONL (all or nothing)")
    p.add_argument("file")
    p.add_argument("--project", default=None)
    p.add_argument("--database", default=None)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export-data", help="export pairs as JSONL chat messages or CSV")
    p.add_argument("--project", default=None)
    p.add_argument("--database", default=None)
    p.add_argument("--out", required=True, help="output file (.jsonl or .csv)")
    p.add_argument("--format", choices=["jsonl", "csv"], default=None)
    p.add_argument("--status", default="approved", help="only pairs with this status ('' for all)")
    p.add_argument("--split", default="", help="only this split (train, eval, paraphrase)")
    p.add_argument("--kind", default=None, help="only this kind (schema, data, sql)")
    p.add_argument("--metadata", action="store_true", help="add a metadata object (id, kind, sql) per line")
    p.set_defaults(func=cmd_export_data)

    p = sub.add_parser("tune", help="memory-tune LoRA adapters on a project's approved training pairs")
    p.add_argument("--config", default=None, help="run an existing run config (run folder/config.json)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="resume a stopped run from its checkpoint")
    p.add_argument("--database", default=None)
    p.add_argument("--project", default=None)
    p.add_argument("--run-dir", default=None, help="run folder (default: <user data>/runs/<project>-<time>)")
    p.add_argument("--method", choices=["memory", "instruction", "experts"], default=None,
                   help="memory (default), instruction, or experts (memory experts + router)")
    p.add_argument("--expert-size", type=int, default=None, help="experts: most facts one expert holds")
    p.add_argument("--experts-at-once", type=int, default=None,
                   help="experts: how many train together in shared batches (0: by device: one at a time everywhere so far)")
    p.add_argument("--model", default=None, help="'bundled', a GGUF file or a Hugging Face folder")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--device", default=None, help="auto, cuda, mps or cpu")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=None,
                   help="auto (default): bf16 autocast on GPUs and on CPUs with bf16 instructions")
    p.add_argument("--lora-layers", type=int, default=None,
                   help="adapters on the top N layers only (default 10; 0: every layer)")
    p.add_argument("--regularization", choices=["auto", "kl", "mix", "none"], default=None,
                   help="against forgetting (default auto: KL to the base model for one adapter, none for experts)")
    p.add_argument("--max-pairs", type=int, default=0,
                   help="train on at most N of the approved pairs (sampled per kind); 0: all")
    p.add_argument("--json", action="store_true", help="print the run's events as JSON lines (for scripts) "
                   "instead of a progress bar")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("update", help="memory experts: refresh stale facts, add new ones, train only what changed")
    p.add_argument("run", help="a memory-experts run folder")
    p.add_argument("--database", default=None)
    p.add_argument("--project", default=None)
    p.add_argument("--no-train", action="store_true", help="update the experts' plan only; train with tune --resume")
    p.add_argument("--json", action="store_true", help="print the run's events as JSON lines instead of a progress bar")
    p.set_defaults(func=cmd_update)

    p = sub.add_parser("export", help="export a run as merged, quantized GGUF files and check recall")
    p.add_argument("run", help="the run folder (has config.json and adapter/)")
    p.add_argument("--quant", nargs="+", default=["q8_0"], choices=["f16", "q8_0", "q5_k_m", "q4_k_m"])
    p.add_argument("--out", default=None, help="output folder (default: RUN/export)")
    p.set_defaults(func=cmd_export)

    def chat_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default=None, help="a GGUF file or an exported memory-experts folder "
                       "(default: the bundled model)")
        p.add_argument("--lora", default=None, help="a GGUF LoRA adapter to apply")
        p.add_argument("--ctx", type=int, default=4096, help="context length in tokens")

    def answer_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--k", type=int, default=None, help="SQL candidates per question, voted on by their results "
                       "(default: 4 on a CPU, 8 on a GPU)")
        p.add_argument("--examples", type=int, default=None, help="retrieved example pairs in the SQL prompt "
                       "(default: 3, or what the model's run trained with)")
        p.add_argument("--no-schema", action="store_true", help="leave the schema out of the SQL prompt")
        p.add_argument("--no-grammar", action="store_true", help="free decoding: names not limited to the schema")
        p.add_argument("--no-voting", action="store_true", help="the first candidate that runs is the answer")

    p = sub.add_parser("chat", help="chat with a GGUF model in the terminal (streaming)")
    chat_options(p)
    p.add_argument("--system", default="You are a helpful assistant.")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--top-k", type=int, default=40)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("ask", help="SQL agent: the model writes SQL, Engram runs it read-only and shows rows")
    p.add_argument("question")
    p.add_argument("--database", required=True)
    p.add_argument("--name", default=None, help="database name used in the prompt (default: file name)")
    p.add_argument("--project", default=None, help="a project whose approved SQL pairs are the retrieved examples")
    p.add_argument("--attempts", type=int, default=3, help="corrected queries asked for when no candidate runs, + 1")
    p.add_argument("--max-rows", type=int, default=20)
    chat_options(p)
    answer_options(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", help="evaluate models by execution: fact recall, SQL accuracy, errors by kind")
    p.add_argument("--model", default=None, help="the model to evaluate: a GGUF, a run's adapter/ folder, a "
                   "memory-experts run folder or its export/ folder")
    p.add_argument("--base", default=None, help="also evaluate this model (e.g. 'bundled') side by side")
    p.add_argument("--database", default=None)
    p.add_argument("--project", default=None)
    p.add_argument("--pairs", default=None, help="an external JSONL of {question, gold_sql} instead of a project")
    p.add_argument("--heldout", default=None, help="a held-out question set (evals/*.jsonl: {id, question, gold_sql, "
                   "constructs}); every gold SQL is checked on --database first; scores per construct")
    p.add_argument("--split", choices=["train", "eval", "paraphrase", "all"], default="train",
                   help="which pairs; with --run, 'paraphrase' means the held-out rewordings of its pairs")
    p.add_argument("--run", default=None, help="evaluate on the pairs this run folder trained on")
    p.add_argument("--limit", type=int, default=None, help="evaluate at most N pairs")
    p.add_argument("--name", default=None, help="database name used in prompts (default: file name)")
    p.add_argument("--no-general", action="store_true", help="skip the general-ability set")
    p.add_argument("--out", default=None, help="write a report (.json or .html)")
    p.add_argument("--attempts", type=int, default=2, help="corrected queries asked for when no candidate runs, + 1")
    p.add_argument("--max-rows", type=int, default=100)
    answer_options(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("self-test", help="offline install check: demo database + bundled model through llama.cpp")
    p.set_defaults(func=cmd_self_test)

    p = sub.add_parser("demo", help="headless tour of the demo database and the bundled model")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (EngramError, ValueError) as error:
        if os.environ.get("ENGRAM_DEBUG"):
            raise
        print(f"engram: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("engram: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
