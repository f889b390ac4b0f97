"""Re-vote the recorded model candidates (record_candidates.py) with the edited examples of the current
adapt code, without (old) and with (swap) the column swap; a part name as 4th argument prints each
changed edit of that part. K=6 in the environment edits the 6 nearest examples (3 by default).

    .venv/bin/python bench/results/quality/candidates-2026-12-07/revote.py kestrel <export.gguf> kestrel.json [heldout]
"""
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))
from engine.db import open_database
from engine.eval.metrics import score_sql
from engine.sqlgen.adapt import adapted_examples, column_values
from engine.sqlgen.grounding import grounding_for
from engine.sqlgen.voting import vote
from engine.db.errors import DatabaseError

name, export, path = sys.argv[1], sys.argv[2], sys.argv[3]
K = int(os.environ.get('K', 3))  # examples edited per question
recs = json.load(open(path))
def run(db, sql):
    try:
        r = db.query(sql, max_rows=100, timeout_s=30)
        return (list(r.rows), list(r.columns))
    except DatabaseError:
        return None
with open_database(ROOT / 'resources' / 'demo' / f'{name}.sqlite') as db:
    g = grounding_for(db, export); values = column_values(db); schema = db.schema()
    for part in ('dev', 'heldout'):
        rs = [r for r in recs if r['part'] == part]
        tally = {'old': 0, 'swap': 0, 'old any-ex': 0, 'swap any-ex': 0, 'model only': 0, 'changed': 0}
        for r in rs:
            model = [c for c in r['cands'] if not c['source'].startswith('example')]
            mres = [run(db, c['sql']) if c['ran'] else None for c in model]
            mok = [c['right'] for c in model]
            ex = [e.sql for e in g.store.nearest(r['question'], K)] or None
            if ex is None:
                named = [t for t, s in g.selector.scores(r['question']).items() if s > 0]
                ex = [e.sql for e in g.store.over_tables(r['question'], named, K)]
            for label, sch in (('old', None), ('swap', schema)):
                edits = adapted_examples(ex, r['question'], values, db.dialect, sch)
                eres = [run(db, e.sql) for e in edits]
                eok = [res is not None and score_sql(db, e.sql, r['gold']).correct for e, res in zip(edits, eres)]
                w = vote(eres + mres).winner
                tally[label] += w is not None and (eok + mok)[w]
                tally[label + ' any-ex'] += any(eok)
                if label == 'swap':
                    old = adapted_examples(ex, r['question'], values, db.dialect, None)
                    tally['changed'] += [e.sql for e in old] != [e.sql for e in edits]
            w = vote(mres).winner
            tally['model only'] += w is not None and mok[w]
        print(name, part, len(rs), tally)
# detail: held-out changes
if len(sys.argv) > 4:
    with open_database(ROOT / 'resources' / 'demo' / f'{name}.sqlite') as db:
        for r in [r for r in recs if r['part'] == sys.argv[4]]:
            ex = [e.sql for e in g.store.nearest(r['question'], K)]
            old = adapted_examples(ex, r['question'], values, db.dialect, None)
            new = adapted_examples(ex, r['question'], values, db.dialect, schema)
            for o, n in zip(old, new):
                if o.sql != n.sql:
                    print('Q', r['question'], '\n   -', o.sql[:150], '\n   +', n.sql[:150], '\n   gold', r['gold'][:150], score_sql(db, n.sql, r['gold']).correct if run(db, n.sql) else 'FAIL')
