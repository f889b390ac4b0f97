"""Choices by likelihood among the recorded candidates that run: the highest sum or mean log-likelihood,
the result with the highest total likelihood, the vote with ties to the likeliest.

    .venv/bin/python bench/results/quality/candidates-2026-12-07/likelihood_vote.py kestrel kestrel-likelihood.json
"""
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))
from engine.db import open_database
from engine.db.errors import DatabaseError
from engine.sqlgen.voting import result_key
name, path = sys.argv[1], sys.argv[2]
recs = json.load(open(path))
def lse(xs):
    m = max(xs); return m + math.log(sum(math.exp(x - m) for x in xs))
with open_database(ROOT / 'resources' / 'demo' / f'{name}.sqlite') as db:
    for part in ('dev', 'heldout'):
        rs = [r for r in recs if r['part'] == part]
        t = {'current': 0, 'max sum': 0, 'max mean': 0, 'marginal': 0, 'vote, tie lp': 0, 'model-only marginal': 0, 'any': 0}
        for r in rs:
            cs = r['cands']
            t['current'] += r['winner'] is not None and cs[r['winner']]['right']
            t['any'] += any(c['right'] for c in cs)
            ran = []
            for c in cs:
                if not c['ran']: continue
                try:
                    res = db.query(c['sql'], max_rows=100, timeout_s=30)
                except DatabaseError:
                    continue
                ran.append((c, result_key(res.rows), not res.rows))
            if not ran: continue
            pick = lambda key: max(ran, key=key)[0]['right']
            t['max sum'] += pick(lambda x: (not x[2], x[0]['logprob']))
            t['max mean'] += pick(lambda x: (not x[2], x[0]['logprob'] / x[0]['tokens']))
            groups = {}
            for c, k, e in ran: groups.setdefault(k, []).append((c, e))
            def best(groups, score):
                k = max(groups, key=score); return groups[k][0][0]['right']
            t['marginal'] += best(groups, lambda k: (not groups[k][0][1], lse([c['logprob'] for c, _ in groups[k]])))
            t['vote, tie lp'] += best(groups, lambda k: (not groups[k][0][1], len(groups[k]), max(c['logprob'] for c, _ in groups[k])))
            mg = {k: v for k, v in groups.items() if any(not c['source'].startswith('example') for c, _ in v)}
            if mg: t['model-only marginal'] += best(mg, lambda k: (not mg[k][0][1], lse([c['logprob'] for c, _ in mg[k] if not c['source'].startswith('example')])))
        print(name, part, len(rs), t)
