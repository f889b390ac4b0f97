"""Every candidate (source, query, ran, right) of the SQL answer for N generated dev questions whose
query the example store does not hold, and for every held-out question, answered by a tuned export as
`engram eval` answers them (approved answers off).

    .venv/bin/python bench/results/quality/candidates-2026-12-07/record_candidates.py kestrel \
        <bench work>/kestrel/kestrel.engram <bench work>/kestrel/run/export/kestrel-q8_0.gguf 60 kestrel.json
"""
import json
import sys
import time
from pathlib import Path
ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))
from engine.db import open_database
from engine.eval.metrics import score_sql
from engine.project import ProjectStore
from engine.qa.heldout import load_heldout
from engine.qa.dedupe import canonical_sql
from engine.sqlgen.grounding import grounding_for
from engine.sqlgen.terms import terms
from engine.models.llama_runtime import LlamaChat
from engine.qa.chat_format import PromptContext
from engine.sqlgen.answer import AnswerSettings, answer_sql, chat_writer
from engine.sqlgen.voting import result_key

name, project, export, n_dev, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
db_path = ROOT / 'resources' / 'demo' / f'{name}.sqlite'
records = []
with open_database(db_path) as db, ProjectStore(project) as store:
    grounding = grounding_for(db, export)
    canon = set(grounding.store._canonical)
    dev = [(p.question, p.sql or p.answer) for p in store.pairs("kind = 'sql' AND split != 'train'") if p.validation in (None, 'ok')]
    novel = [d for d in dev if (canonical_sql(d[1], db.dialect) or d[1]) not in canon]
    dev_s = novel[::max(1, len(novel) // n_dev)][:n_dev]
    held = [(q.question, q.gold_for(db.dialect)) for q in load_heldout(ROOT / 'evals' / f'{name}.jsonl', db)]
    print(len(dev), 'dev', len(novel), 'novel', len(dev_s), 'sampled', len(held), 'heldout', flush=True)
    context = PromptContext(name, db.dialect, grounding)
    with LlamaChat(export, n_ctx=4096) as chat:
        write = chat_writer(chat)
        for part, qs in (('dev', dev_s), ('heldout', held)):
            for question, gold in qs:
                t0 = time.monotonic()
                answer = answer_sql(write, db, question, context, AnswerSettings(approved_answers=False))
                q = terms(question)
                scores = grounding.store._index.get_scores(q) if q else []
                ex = grounding.store.nearest(question, 3)
                top = ex[0] if ex else None
                jac = (len(set(q) & set(terms(top.question))) / len(set(q) | set(terms(top.question)))) if top and q else 0.0
                cands = [{'source': c.source, 'sql': c.sql, 'ran': c.ran, 'empty': c.ran and not c.rows,
                          'key': hash(result_key(c.rows)) if c.ran else None,
                          'right': bool(c.ran and score_sql(db, c.sql, gold).correct)} for c in answer.candidates]
                records.append({'part': part, 'question': question, 'gold': gold, 'winner': answer.vote.winner,
                                'bm25': float(max(scores)) if len(scores) else 0.0, 'jaccard': jac,
                                'nearest': bool(ex), 'cands': cands, 'seconds': time.monotonic() - t0})
                print(part, int(any(c['right'] for c in cands)), int(answer.vote.winner is not None and cands[answer.vote.winner]['right']), flush=True)
Path(out).write_text(json.dumps(records, indent=1))
