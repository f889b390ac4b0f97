"""Pair generation with the local LLM and the curation passes after it (approve, reject, dedupe,
split, paraphrase): what `engram generate` / `engram validate` and the Dataset page run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from engine.cancel import CancelToken
from engine.db import Database
from engine.project import ProjectStore
from engine.qa.validate import ValidationConfig
from engine.workflows.progress import OnStep, Step, ignore

# the SQL pairs shown to the LLM as examples of what to write
LLM_EXAMPLES_WHERE = "kind = 'sql' AND split = 'train' AND status != 'rejected' AND validation = 'ok'"
# the template SQL questions the LLM rewords
PARAPHRASE_SOURCES_WHERE = "kind = 'sql' AND source = 'template' AND split = 'train' AND status != 'rejected'"


@dataclass
class LLMGenerationOutcome:
    proposed: int = 0
    added: int = 0


@dataclass
class ParaphraseOutcome:
    verdicts: Counter = field(default_factory=Counter)  # kept | changed_meaning | invalid_sql | duplicate
    added: int = 0


@dataclass
class CurationOptions:
    approve_valid: bool = False
    reject_invalid: bool = False
    dedupe: bool = False
    split: float | None = None  # share of SQL intents held out for evaluation
    paraphrase: bool = False  # rule-based held-out rewordings
    seed: int = 0


@dataclass
class CurationOutcome:
    removed_duplicates: int | None = None  # None: dedupe not asked for
    conflicts: int = 0
    equivalent_sql: int = 0
    split: dict[str, int] | None = None
    paraphrases: int | None = None


def generate_with_llm(store: ProjectStore, db: Database, model: str | None = None, rounds: int = 5, seed: int = 0,
                      validation: ValidationConfig = ValidationConfig(), progress: OnStep = ignore,
                      cancel: CancelToken | None = None) -> LLMGenerationOutcome:
    """Ask the model for new SQL pairs, `rounds` times; each valid new one is added as it comes (a
    cancelled run keeps what it had)."""
    from engine.models.llama_runtime import LlamaChat
    from engine.qa.llm_generate import LLMGenerationConfig, generate_llm_pairs, llama_completer

    config = LLMGenerationConfig(rounds=rounds, seed=seed)
    outcome = LLMGenerationOutcome()
    with LlamaChat(model, n_ctx=4096) as chat:
        for proposal in generate_llm_pairs(db, llama_completer(chat, config), store.pairs(LLM_EXAMPLES_WHERE),
                                           store.pairs(), config, validation, cancel=cancel):
            outcome.proposed += 1
            if proposal.accepted:
                store.add_pairs([proposal.to_pair()])
                outcome.added += 1
            progress(Step(proposal.round + 1, rounds,
                          f"llm round {proposal.round + 1}: {proposal.validation.status:<14} {proposal.question[:70]}"))
    return outcome


def paraphrase_with_llm(store: ProjectStore, db: Database, model: str | None = None, max_questions: int = 100,
                        seed: int = 0, validation: ValidationConfig = ValidationConfig(),
                        progress: OnStep = ignore, cancel: CancelToken | None = None) -> ParaphraseOutcome:
    """Have the model reword template SQL questions; a rewording joins its template's intent only when
    the SQL the model writes for it returns the template query's result."""
    from engine.models.llama_runtime import LlamaChat
    from engine.qa.llm_generate import LLMGenerationConfig, llama_completer
    from engine.qa.llm_paraphrase import ParaphraseConfig, paraphrase_pairs

    config = ParaphraseConfig(max_questions=max_questions, seed=seed)
    outcome = ParaphraseOutcome()
    with LlamaChat(model, n_ctx=4096) as chat:
        completer = llama_completer(chat, LLMGenerationConfig(temperature=0.7, max_tokens=200, seed=seed))
        for check in paraphrase_pairs(db, completer, store.pairs(PARAPHRASE_SOURCES_WHERE), store.pairs(),
                                      config, validation, cancel=cancel):
            outcome.verdicts[check.verdict] += 1
            if check.kept:
                store.add_pairs([check.to_pair()])
                outcome.added += 1
            progress(Step(sum(outcome.verdicts.values()), 0, f"{check.verdict:<16} {check.question[:70]}"))
    return outcome


def curate(store: ProjectStore, db: Database, options: CurationOptions) -> CurationOutcome:
    """The bulk curation passes, in the order that makes sense: approve / reject by validation, remove
    exact duplicates, re-split by intent, add rule-based paraphrases of the held-out split."""
    from engine.qa.curation import Curator
    from engine.qa.dedupe import find_duplicates
    from engine.qa.split import add_paraphrases, apply_split

    curator = Curator(store, db)
    outcome = CurationOutcome()
    if options.approve_valid:
        curator.approve_valid()
    if options.reject_invalid:
        curator.reject_invalid()
    if options.dedupe:
        report = find_duplicates(store.pairs("split != 'paraphrase'"), db.dialect)
        if report.removable:
            curator.delete(report.removable)
        outcome.removed_duplicates = len(report.removable)
        outcome.conflicts, outcome.equivalent_sql = len(report.conflicts), len(report.equivalent_sql)
    if options.split is not None:
        outcome.split = apply_split(store, options.split, seed=options.seed)
    if options.paraphrase:
        outcome.paraphrases = add_paraphrases(store)
    return outcome
