"""Run a model over QA pairs and score it by execution against the real database.

A model is a `Predictor`: a GGUF through llama.cpp (the same code path as chat) or a transformers
model with an optional LoRA adapter. Evaluation covers the training facts (memorization), held-out
paraphrases and eval-split SQL (generalization) and the shipped general set (retention). Reports of
two models line up per example (`compare`), and save as JSON and a self-contained HTML page.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

from engine.cancel import CancelToken
from engine.db import Database
from engine.errors import EngramError
from engine.eval.general_set import GENERAL_SET
from engine.eval.metrics import score_fact, score_sql
from engine.models.chat_template import for_template
from engine.project.pairs import QAPair
from engine.qa.chat_format import PromptContext, extract_sql, messages_for

if TYPE_CHECKING:
    from engine.sqlgen.answer import AnswerSettings

Progress = Callable[[int, int], None]
GENERAL_MAX_TOKENS = 64


class Predictor(Protocol):
    name: str

    def predict(self, messages: list[dict[str, str]], max_tokens: int) -> str: ...


def greedy_reply(model, tokenizer, messages: list[dict[str, str]], max_tokens: int, sampling=None) -> str:
    """The model's reply to chat messages (transformers), as text: greedy, or sampled as `sampling` says."""
    import torch

    inputs = tokenizer.apply_chat_template(for_template(messages, tokenizer.chat_template),
                                           add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True).to(model.device)
    options = dict(do_sample=False)
    if sampling is not None and sampling.temperature > 0:
        torch.manual_seed(sampling.seed)
        options = dict(do_sample=True, temperature=sampling.temperature, top_k=sampling.top_k, top_p=sampling.top_p)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_tokens, pad_token_id=tokenizer.pad_token_id or
                             tokenizer.eos_token_id, **options)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def predictor_writer(predictor: Predictor):
    """How a predictor writes SQL candidates: its own writer (llama.cpp, with the grammar), else its
    greedy reply (transformers; sampled candidates where it can sample, no grammar)."""
    if hasattr(predictor, "writer"):
        return predictor.writer()

    def write(messages, sampling, grammar):
        if sampling.temperature > 0 and hasattr(predictor, "sample"):
            return predictor.sample(messages, sampling)
        return predictor.predict(messages, sampling.max_tokens)

    write.can_sample = hasattr(predictor, "sample")
    return write


class TransformersPredictor:
    """A transformers model folder (optionally with a PEFT adapter), greedy decoding."""

    def __init__(self, folder: str | Path, adapter: str | Path | None = None, name: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
        if adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter))
        self.model = model.eval()
        self.name = name or (f"{Path(folder).name} + {Path(adapter).parent.name}" if adapter else Path(folder).name)

    def predict(self, messages, max_tokens):
        return greedy_reply(self.model, self.tokenizer, messages, max_tokens)

    def sample(self, messages, sampling):
        return greedy_reply(self.model, self.tokenizer, messages, sampling.max_tokens, sampling)

    def close(self) -> None:
        pass


@dataclass
class ExampleResult:
    id: int | None
    kind: str
    split: str
    tables: str | None
    question: str
    gold: str
    prediction: str
    correct: bool
    error: str | None
    detail: str = ""
    normalized_match: bool = False
    valid_sql: bool | None = None
    exact_sql: bool | None = None
    constructs: tuple[str, ...] = ()  # a held-out question's SQL constructs (engine/qa/heldout.py)
    candidates: int = 1  # SQL candidates written for the answer
    seconds: float | None = None  # time to answer a SQL question (candidates, runs, vote)


def general_by_category(results: list[tuple[str, str, bool]]) -> dict[str, dict]:
    """General-set results per category (world, arithmetic, instruction, code, chat, refusal)."""
    category = {p.prompt: p.category for p in GENERAL_SET}
    by = defaultdict(lambda: [0, 0])
    for question, _, passed in results:
        by[category.get(question, "other")][0] += passed
        by[category.get(question, "other")][1] += 1
    return {k: {"passed": c, "total": n} for k, (c, n) in by.items()}


def _distribution(values: list[float]) -> dict | None:
    """Median, 90th percentile and maximum (the SQL answers' latency)."""
    if not values:
        return None
    ordered = sorted(values)
    return {"median": ordered[len(ordered) // 2], "p90": ordered[int(0.9 * (len(ordered) - 1))], "max": ordered[-1]}


@dataclass
class EvalReport:
    model: str
    examples: list[ExampleResult] = field(default_factory=list)
    general: list[tuple[str, str, bool]] = field(default_factory=list)
    created_at: str = field(default_factory=lambda: dt.datetime.now().isoformat(timespec="seconds"))

    def summary(self) -> dict:
        facts = [e for e in self.examples if e.kind != "sql"]
        sql = [e for e in self.examples if e.kind == "sql"]

        def rate(items, test) -> float | None:
            return round(sum(1 for i in items if test(i)) / len(items), 4) if items else None

        by = defaultdict(lambda: [0, 0])
        for e in self.examples:
            for key in (f"kind:{e.kind}", f"split:{e.split}", *(f"table:{t}" for t in (e.tables or "").split(",") if t),
                        *(f"construct:{c}" for c in e.constructs)):
                by[key][0] += e.correct
                by[key][1] += 1
        return {
            "model": self.model, "examples": len(self.examples),
            "fact_recall": rate(facts, lambda e: e.correct),
            "fact_recall_normalized": rate(facts, lambda e: e.normalized_match),
            "sql_validity": rate(sql, lambda e: e.valid_sql),
            "execution_accuracy": rate(sql, lambda e: e.correct),
            "exact_sql_match": rate(sql, lambda e: e.exact_sql),
            "general_ability": rate(self.general, lambda g: g[2]),
            "sql_seconds": _distribution([e.seconds for e in sql if e.seconds is not None]),
            "general_by_category": general_by_category(self.general),
            "errors": dict(Counter(e.error for e in self.examples if e.error).most_common()),
            "by_group": {k: {"correct": c, "total": n, "accuracy": round(c / n, 4)} for k, (c, n) in sorted(by.items())},
        }

    def to_json(self) -> dict:
        return {"model": self.model, "created_at": self.created_at, "summary": self.summary(),
                "examples": [asdict(e) for e in self.examples],
                "general": [{"question": q, "answer": a, "passed": p} for q, a, p in self.general]}


def evaluate(predictor: Predictor, pairs: list[QAPair], db: Database, context: PromptContext,
             general: bool = True, progress: Progress | None = None, cancel: CancelToken | None = None,
             constructs: dict[int, tuple[str, ...]] | None = None,
             answering: "AnswerSettings | None" = None) -> EvalReport:
    """Score every pair (and the general set); `constructs` tags held-out questions by pair id. SQL
    questions are answered as the agent answers them (candidates, grammar, voting: `answering`), or by
    the greedy reply alone when `answering` is None."""
    from engine.sqlgen.answer import answer_sql

    cancel = cancel or CancelToken()
    constructs = constructs or {}
    report = EvalReport(predictor.name)
    total = len(pairs) + (len(GENERAL_SET) if general else 0)
    write = predictor_writer(predictor) if answering is not None else None
    for done, pair in enumerate(pairs, 1):
        cancel.raise_if_cancelled("evaluation")
        candidates, seconds = 1, None
        if pair.kind == "sql":
            gold = pair.sql or pair.answer
            if write is not None:  # answer_sql renders the grounded prompt itself
                # the model answers: a question an approved pair asks is not looked up (a base model would
                # otherwise score on it too)
                answer = answer_sql(write, db, pair.question, context, replace(answering, approved_answers=False),
                                    cancel, exclude_sql=gold)
                predicted, candidates, seconds = answer.sql, len(answer.candidates), round(answer.seconds, 3)
            else:
                predicted = extract_sql(predictor.predict(messages_for(pair, context, with_answer=False), 256))
            score = score_sql(db, predicted, gold)
        else:
            predicted = predictor.predict(messages_for(pair, context, with_answer=False),
                                          max(32, len(pair.answer) + 16)).strip()
            score = score_fact(predicted, pair.answer)
            gold = pair.answer
        report.examples.append(ExampleResult(pair.id, pair.kind, pair.split, pair.tables, pair.question, gold,
                                             predicted, score.correct, score.error, score.detail,
                                             score.normalized_match, score.valid_sql, score.exact_sql,
                                             tuple(constructs.get(pair.id, ())), candidates, seconds))
        if progress:
            progress(done, total)
    if general:
        for done, prompt in enumerate(GENERAL_SET, len(pairs) + 1):
            cancel.raise_if_cancelled("evaluation")
            answer = predictor.predict([{"role": "user", "content": prompt.prompt}], GENERAL_MAX_TOKENS)
            report.general.append((prompt.prompt, answer.strip(), prompt.passes(answer)))
            if progress:
                progress(done, total)
    return report


def compare(base: EvalReport, tuned: EvalReport) -> list[dict]:
    """Per example, both outputs and what changed: fixed, broken, both right, both wrong."""
    rows = []
    tuned_by = {(e.id, e.question): e for e in tuned.examples}
    for b in base.examples:
        t = tuned_by.get((b.id, b.question))
        if t is None:
            continue
        change = {(False, True): "fixed", (True, False): "broken", (True, True): "both right",
                  (False, False): "both wrong"}[(b.correct, t.correct)]
        rows.append({"id": b.id, "kind": b.kind, "split": b.split, "question": b.question, "gold": b.gold,
                     "base": b.prediction, "base_error": b.error, "tuned": t.prediction, "tuned_error": t.error,
                     "change": change})
    return rows


SUMMARY_FIELDS = ("fact_recall", "fact_recall_normalized", "sql_validity", "execution_accuracy", "exact_sql_match",
                  "general_ability")


def format_summary(reports: list[EvalReport]) -> str:
    """A plain-text table: one column per model."""
    summaries = [r.summary() for r in reports]
    width = max(24, *(len(s["model"]) + 2 for s in summaries))
    lines = ["metric".ljust(26) + "".join(s["model"][:width - 2].rjust(width) for s in summaries)]
    for name in SUMMARY_FIELDS:
        cells = ["-" if s[name] is None else f"{s[name]:.0%}" for s in summaries]
        lines.append(name.ljust(26) + "".join(c.rjust(width) for c in cells))
    kinds = sorted({k for s in summaries for k in s["errors"]})
    for kind in kinds:
        lines.append(f"errors: {kind}".ljust(26) + "".join(str(s["errors"].get(kind, 0)).rjust(width) for s in summaries))
    groups = sorted({k for s in summaries for k in s["by_group"] if k.startswith("construct:")})
    for group in groups:
        cells = [s["by_group"].get(group) for s in summaries]
        lines.append(group.ljust(26) + "".join(
            ("-" if c is None else f"{c['correct']}/{c['total']} {c['accuracy']:.0%}").rjust(width) for c in cells))
    return "\n".join(lines)


def write_report(reports: list[EvalReport], path: str | Path) -> Path:
    """JSON (.json) or a self-contained HTML page (.html): summaries, errors, per-example diff."""
    path = Path(path)
    data = {"reports": [r.to_json() for r in reports],
            "comparison": compare(reports[0], reports[-1]) if len(reports) > 1 else []}
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(data, indent=1, default=str))
        return path
    if path.suffix.lower() not in (".html", ".htm"):
        raise EngramError(f"{path.name}: a report is written as .json or .html")
    esc = html.escape
    parts = ["<!doctype html><meta charset='utf-8'><title>Engram evaluation</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
             ".fixed{background:#e6ffed}.broken{background:#ffeef0}code{white-space:pre-wrap}</style>",
             "<h1>Engram evaluation</h1><h2>Summary</h2><pre>", esc(format_summary(reports)), "</pre>"]
    if data["comparison"]:
        parts.append(f"<h2>Per example: {esc(reports[0].model)} vs {esc(reports[-1].model)}</h2><table>"
                     "<tr><th>#</th><th>kind</th><th>question</th><th>gold</th><th>base</th><th>tuned</th>"
                     "<th>change</th></tr>")
        for row in data["comparison"]:
            parts.append(f"<tr class='{row['change'].replace(' ', '-')}'><td>{row['id']}</td><td>{row['kind']}</td>"
                         f"<td>{esc(row['question'])}</td><td><code>{esc(row['gold'])}</code></td>"
                         f"<td><code>{esc(row['base'])}</code><br><small>{esc(row['base_error'] or '')}</small></td>"
                         f"<td><code>{esc(row['tuned'])}</code><br><small>{esc(row['tuned_error'] or '')}</small></td>"
                         f"<td>{row['change']}</td></tr>")
        parts.append("</table>")
    path.write_text("".join(parts), encoding="utf-8")
    return path


def load_benchmark(path: str | Path) -> list[QAPair]:
    """An external benchmark: JSONL of {question, gold_sql} (or question/answer facts)."""
    pairs = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if "gold_sql" in record:
                pairs.append(QAPair(record["question"], record["gold_sql"], kind="sql", split="eval", id=number))
            else:
                pairs.append(QAPair(record["question"], str(record["answer"]), kind=record.get("kind", "data"),
                                    split="eval", id=number))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise EngramError(f"{Path(path).name} line {number}: expected {{question, gold_sql}} ({error})") from None
    if not pairs:
        raise EngramError(f"{path} has no examples")
    return pairs
