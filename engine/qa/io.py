"""Import and export QA pairs: CSV and JSONL in, JSONL chat messages and CSV out.

Imports are all or nothing: every row is checked first and the first bad one is reported with its
line number; only a clean file is added (in one transaction). JSONL export writes the chat-messages
format that HF TRL, OpenAI and Unsloth read: {"messages": [system, user, assistant]}.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterable

from engine.errors import EngramError
from engine.project.pairs import KINDS, SPLITS, STATUSES, QAPair
from engine.qa.chat_format import PromptContext, messages_for

IMPORT_FIELDS = ("question", "answer", "kind", "sql", "status", "split", "tables", "intent")
CSV_EXPORT_FIELDS = ("id", "kind", "question", "answer", "sql", "status", "split", "source", "validation",
                     "tables", "intent")


class PairImportError(EngramError):
    """A file that cannot be imported; the message names the line and the problem."""


def _pair_from_record(record: dict[str, Any], where: str) -> QAPair:
    question = str(record.get("question") or "").strip()
    answer = record.get("answer")
    answer = "" if answer is None else str(answer).strip()
    if not question:
        raise PairImportError(f"{where}: the question is empty")
    if not answer:
        raise PairImportError(f"{where}: the answer is empty")
    kind = (record.get("kind") or ("sql" if record.get("sql") and record.get("sql") == answer else "schema")).strip()
    for name, allowed, value in (("kind", KINDS, kind), ("status", STATUSES, record.get("status")),
                                 ("split", SPLITS, record.get("split"))):
        if value and value not in allowed:
            raise PairImportError(f"{where}: {name} must be one of {', '.join(allowed)}, not {value!r}")
    sql = (record.get("sql") or "").strip() or (answer if kind == "sql" else None)
    return QAPair(question, answer, kind=kind, sql=sql, status=record.get("status") or "pending",
                  split=record.get("split") or "train", source="import",
                  tables=record.get("tables") or None, intent=record.get("intent") or None)


def _record_from_messages(messages: Any, where: str) -> dict[str, Any]:
    if not isinstance(messages, list):
        raise PairImportError(f"{where}: 'messages' must be a list of {{role, content}} objects")
    by_role: dict[str, str] = {}
    for message in messages:
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise PairImportError(f"{where}: each message needs a 'role' and a 'content'")
        by_role.setdefault(message["role"], message["content"])
    if "user" not in by_role or "assistant" not in by_role:
        raise PairImportError(f"{where}: the messages need a user turn and an assistant turn")
    is_sql = "SQL query" in by_role.get("system", "")
    return {"question": by_role["user"], "answer": by_role["assistant"], "kind": "sql" if is_sql else None}


def read_jsonl(path: str | Path) -> list[QAPair]:
    """Objects with question/answer (and optional kind, sql, status, split...) or chat messages."""
    path = Path(path)
    pairs = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise PairImportError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from None
            if not isinstance(record, dict):
                raise PairImportError(f"{where}: expected a JSON object, found {type(record).__name__}")
            if "messages" in record:
                record = {**record, **_record_from_messages(record["messages"], where)}
            pairs.append(_pair_from_record(record, where))
    if not pairs:
        raise PairImportError(f"{path.name} has no rows to import")
    return pairs


def read_csv(path: str | Path) -> list[QAPair]:
    """A header row with at least 'question' and 'answer' (other IMPORT_FIELDS optional)."""
    path = Path(path)
    pairs = []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise PairImportError(f"{path.name} is empty") from None
        except csv.Error as error:
            raise PairImportError(f"{path.name} line 1: {error}") from None
        missing = {"question", "answer"} - set(header)
        if missing:
            raise PairImportError(f"{path.name} line 1: the header needs column(s) {', '.join(sorted(missing))}; "
                               f"found {', '.join(header)}")
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                raise PairImportError(f"{path.name} line {reader.line_num}: {error}") from None
            if not any(cell.strip() for cell in row):
                continue
            where = f"{path.name} line {reader.line_num}"
            if len(row) != len(header):
                raise PairImportError(f"{where}: expected {len(header)} fields, found {len(row)}")
            pairs.append(_pair_from_record(dict(zip(header, row)), where))
    if not pairs:
        raise PairImportError(f"{path.name} has no rows to import")
    return pairs


def read_pairs(path: str | Path) -> list[QAPair]:
    path = Path(path)
    if not path.is_file():
        raise PairImportError(f"No such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return read_jsonl(path)
    if suffix in (".csv", ".tsv"):
        return read_csv(path)
    raise PairImportError(f"{path.name}: import reads .csv or .jsonl files")


def write_jsonl(pairs: Iterable[QAPair], path: str | Path, context: PromptContext,
                with_metadata: bool = False) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for pair in pairs:
            record: dict[str, Any] = {"messages": messages_for(pair, context)}
            if with_metadata:
                record["metadata"] = {"id": pair.id, "kind": pair.kind, "sql": pair.sql, "split": pair.split,
                                      "intent": pair.intent}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_csv(pairs: Iterable[QAPair], path: str | Path) -> int:
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_EXPORT_FIELDS)
        for pair in pairs:
            writer.writerow(["" if getattr(pair, f) is None else getattr(pair, f) for f in CSV_EXPORT_FIELDS])
            count += 1
    return count
