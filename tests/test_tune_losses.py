"""The memory-tuning losses on a batch whose prompts differ in length (a short fact beside a grounded
SQL prompt): each example's loss, verdict and KL are those of the whole model's logits, while the
output head computes logits only at each example's own answer positions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.tune import data as D
from engine.tune.losses import answer_positions, answer_scores, kl_to_base


def _batch(tokenizer) -> dict[str, torch.Tensor]:
    """A short fact, a long prompt and a mid-length one, with answers of different lengths."""
    def example(i, prompt_words, answer):
        prompt = tokenizer.encode("table " * prompt_words, add_special_tokens=False)
        return D.Example(i, prompt, tokenizer.encode(answer, add_special_tokens=False) + [tokenizer.eos_token_id],
                         answer)
    examples = [example(1, 6, "north_sales"), example(2, 300, "SELECT COUNT(*) FROM orders"),
                example(3, 80, "crm_customers_eu")]
    return D.collate(examples, tokenizer.pad_token_id)


def _model(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    return tokenizer, model.eval()


def test_losses_use_only_each_examples_answer_positions(tiny_model_dir):
    tokenizer, model = _model(tiny_model_dir)
    batch = _batch(tokenizer)
    labels = batch["labels"]
    with torch.no_grad():
        full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        with model.disable_adapter():
            base_full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    # the reference: every position's logits, shifted against the labels
    shifted, following = full[:, :-1], labels[:, 1:]
    token_loss = F.cross_entropy(shifted.transpose(1, 2), following, ignore_index=D.IGNORE, reduction="none")
    labelled = following != D.IGNORE
    want_loss = token_loss.sum(1) / labelled.sum(1)
    want_exact = ((shifted.argmax(-1) == following) | ~labelled).all(1)
    kl = F.kl_div(F.log_softmax(shifted, -1), F.log_softmax(base_full[:, :-1], -1), log_target=True,
                  reduction="none").sum(-1)
    want_kl = (kl * labelled).sum() / labelled.sum()

    widths = []
    head = model.get_output_embeddings()
    handle = head.register_forward_hook(lambda module, args, out: widths.append(out.shape[1]))
    with torch.no_grad():
        loss, exact = answer_scores(model, batch)
        got_kl = kl_to_base(model, batch)
    handle.remove()

    assert torch.allclose(loss, want_loss, rtol=1e-4, atol=1e-5) and torch.equal(exact, want_exact)
    assert torch.allclose(got_kl, want_kl, rtol=1e-4, atol=1e-6)
    longest_answer = int(labelled.sum(1).max())
    _, index, targets = answer_positions(labels)
    span = int(labelled.any(0).nonzero().max() - labelled.any(0).nonzero().min()) + 1
    assert span > 250, "the answers sit hundreds of positions apart"
    assert widths == [longest_answer] * 3, "logits at the answer positions only, not the span between them"
    assert targets.shape == index.shape == (3, longest_answer)
    assert [t[t != D.IGNORE].tolist() for t in targets] == [r[r != D.IGNORE].tolist() for r in labels]
