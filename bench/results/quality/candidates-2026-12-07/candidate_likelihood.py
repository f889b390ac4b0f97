"""Each recorded candidate's log-likelihood under the tuned model (transformers, the run's adapter) for the
prompt the agent showed; written beside the candidates for likelihood_vote.py.

    .venv/bin/python bench/results/quality/candidates-2026-12-07/candidate_likelihood.py kestrel <run dir> <export.gguf> \
        kestrel.json kestrel-likelihood.json
"""
import copy
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
from engine.models.locate import resolve_model
from engine.tune.model_loading import hf_folder_for
from engine.tune import data as D
from engine.db import open_database
from engine.qa.chat_format import PromptContext, messages_for
from engine.sqlgen.grounding import grounding_for

name, run, export, path, out = sys.argv[1:6]
torch.set_num_threads(2)
folder = hf_folder_for(resolve_model('bundled'))
tok = AutoTokenizer.from_pretrained(folder)
model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32), f'{run}/adapter').eval()
recs = json.load(open(path))
eot = D.end_of_turn_ids(tok)
with open_database(ROOT / 'resources' / 'demo' / f'{name}.sqlite') as db, torch.no_grad():
    g = grounding_for(db, export)
    ctx = PromptContext(name, db.dialect, g)
    for n, r in enumerate(recs):
        grounded = ctx.grounded(r['question'], None)
        msgs = messages_for(None, ctx, question=r['question'], kind='sql', with_answer=False, grounded=grounded)
        prompt = D.prompt_ids(tok, msgs)
        o = model(torch.tensor([prompt]), use_cache=True)
        for c in r['cands']:
            ids = tok.encode(c['sql'], add_special_tokens=False) + eot
            past = copy.deepcopy(o.past_key_values)
            logits = model(torch.tensor([ids]), past_key_values=past).logits[0]
            allp = torch.cat([o.logits[0, -1:], logits[:-1]]).log_softmax(-1)
            lp = allp[torch.arange(len(ids)), torch.tensor(ids)]
            c['logprob'] = float(lp.sum()); c['tokens'] = len(ids)
        if n % 20 == 0: print(n, flush=True)
json.dump(recs, open(out, 'w'))
