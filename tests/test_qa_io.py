"""Import is all or nothing with the bad line named; export is chat-messages JSONL and CSV."""

from __future__ import annotations

import csv
import json

import pytest

from engine.project import ProjectStore
from engine.project.pairs import QAPair
from engine.qa.chat_format import PromptContext
from engine.qa.io import PairImportError, read_pairs, write_csv, write_jsonl


def test_csv_import(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text('question,answer,kind\n"How many orders?","SELECT COUNT(*) FROM orders",sql\n'
                    'What is SHP?,"Handed to the carrier, then shipped",schema\n', encoding="utf-8")
    pairs = read_pairs(path)
    assert [(p.kind, p.sql, p.source) for p in pairs] == [("sql", "SELECT COUNT(*) FROM orders", "import"),
                                                         ("schema", None, "import")]
    assert pairs[1].answer == "Handed to the carrier, then shipped"


def test_jsonl_import_plain_and_chat(tmp_path):
    path = tmp_path / "pairs.jsonl"
    chat = {"messages": [{"role": "system", "content": PromptContext("lumen").system_prompt("sql")},
                         {"role": "user", "content": "Orders?"},
                         {"role": "assistant", "content": "SELECT COUNT(*) FROM orders"}]}
    path.write_text(json.dumps({"question": "What is BRZ?", "answer": "Bronze"}) + "\n\n" + json.dumps(chat) + "\n")
    pairs = read_pairs(path)
    assert [(p.question, p.kind) for p in pairs] == [("What is BRZ?", "schema"), ("Orders?", "sql")]


@pytest.mark.parametrize("name, content, message", [
    ("bad.jsonl", '{"question": "a", "answer": "b"}\n{"question": "c", "answer": \n', "line 2: not valid JSON"),
    ("bad.jsonl", '{"question": "a", "answer": "b"}\n["a", "b"]\n', "line 2: expected a JSON object"),
    ("bad.jsonl", '{"question": "", "answer": "b"}\n', "line 1: the question is empty"),
    ("bad.jsonl", '{"question": "q", "answer": "b", "kind": "fact"}\n', "line 1: kind must be one of"),
    ("bad.jsonl", '{"messages": [{"role": "user", "content": "q"}]}\n', "line 1: the messages need"),
    ("bad.csv", "question,answer\nq1,a1\nq2,a2,extra\n", "line 3: expected 2 fields, found 3"),
    ("bad.csv", 'question,answer\nq1,a1\n"q2,a2\n', "line 3"),
    ("bad.csv", "query,reply\nq1,a1\n", r"line 1: the header needs column\(s\) answer, question"),
    ("bad.csv", "question,answer\nq1,\n", "line 2: the answer is empty"),
    ("bad.csv", "", "is empty"),
    ("bad.txt", "hello", "reads .csv or .jsonl"),
])
def test_malformed_files_name_the_line_and_import_nothing(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(PairImportError, match=message):
        read_pairs(path)


def test_failed_import_leaves_project_untouched(tmp_path):
    from app.cli import main

    store_path = tmp_path / "p.engram"
    ProjectStore.create(store_path, source_db=tmp_path / "db.sqlite").close()
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nq1,a1\nq2,a2\nq3\n")
    assert main(["import-data", str(bad), "--project", str(store_path)]) == 2
    with ProjectStore(store_path) as store:
        assert store.count_pairs() == 0


def test_export_jsonl_chat_messages_and_csv(tmp_path):
    pairs = [QAPair("What is SHP?", "Shipped", kind="schema", id=1),
             QAPair("Orders?", "SELECT COUNT(*) FROM orders", kind="sql", sql="SELECT COUNT(*) FROM orders", id=2)]
    jsonl = tmp_path / "train.jsonl"
    assert write_jsonl(pairs, jsonl, PromptContext("lumen", "duckdb")) == 2
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [m["role"] for m in lines[0]["messages"]] == ["system", "user", "assistant"]
    assert "DuckDB" in lines[1]["messages"][0]["content"]
    assert lines[1]["messages"][2]["content"] == "SELECT COUNT(*) FROM orders"
    assert [(p.question, p.answer, p.kind) for p in read_pairs(jsonl)] == [
        (p.question, p.answer, p.kind) for p in pairs], "our export imports back"
    out = tmp_path / "pairs.csv"
    write_csv(pairs, out)
    rows = list(csv.DictReader(out.open()))
    assert rows[1]["sql"] == "SELECT COUNT(*) FROM orders" and rows[0]["sql"] == ""
