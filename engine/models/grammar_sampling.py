"""Grammar-constrained sampling that checks one token instead of the whole vocabulary.

llama-cpp-python puts the grammar first in its sampler chain, so every generated token matches all
~50k vocabulary entries against the grammar: on 2 CPU cores that tripled the cost of a token of SQL.
llama.cpp's own command-line sampler (common/sampling.cpp) samples without the grammar, asks the
grammar about that single token, and only when it is rejected applies the grammar to the candidates
and samples again; here those are the few hundred most likely tokens first (the whole vocabulary only
when the grammar allows none of them), since a grammar with many alternatives alive costs more per
token it checks. Greedy decoding gives exactly the same tokens either way (the most likely token that
the grammar allows); sampling draws from the usual top-k/top-p candidates that the grammar allows.

A stop string (the blank line that ends a SQL reply) may end a reply only where the grammar could end
it: a token that would complete one while the query is unfinished is turned down like a token the
grammar refuses, so a reply is never cut at `SELECT` or halfway through a join.

A reply caught in a loop (the same few tokens over and over: `a, a, a, …`) is ended there with the
end-of-turn token instead of running on to the token limit: such a query is wrong either way, and the
loop was what made the slowest answers slow.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class StopStrings:
    """The stop strings of the reply being written, set by the runtime before each call: the sampler
    keeps them from ending a reply where the grammar could not end it."""

    texts: tuple[str, ...] = ()


class CheckFirstSampler:
    """A sampler for `Llama.generate`: the chain without the grammar, then the grammar on its token."""

    def __init__(self, chain: Any, model: Any, grammar: Any, stops: tuple[str, ...] = (),
                 texts: "TokenTexts | None" = None) -> None:
        import llama_cpp

        self.lib = llama_cpp  # kept: close() may run while the interpreter shuts down
        self.grammar = None
        self.chain = chain  # llama_cpp._internals.LlamaSampler: the run's samplers, grammar left out
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(model.vocab)
        self.grammar = llama_cpp.llama_sampler_init_grammar(model.vocab, grammar._grammar.encode("utf-8"),
                                                           grammar._root.encode("utf-8"))
        if not self.grammar:
            raise ValueError("llama.cpp could not parse the grammar")
        self.rejected = 0  # tokens the grammar turned down (each cost a pass over the vocabulary)
        self.generated: list[int] = []
        end = llama_cpp.llama_vocab_eos(model.vocab)
        self.end = end if end >= 0 and llama_cpp.llama_vocab_is_eog(model.vocab, end) else None
        self.looped = False
        self.stops = tuple(s.encode("utf-8") for s in stops if s) if self.end is not None and texts else ()
        self.pieces = texts.pieces if self.stops else []
        self.risky = texts.risky(self.stops) if self.stops else None
        self.tail = b""  # the end of the text written so far, as long as a stop string

    def _completes_stop(self, token: int) -> bool:
        text = self.tail + self.pieces[token]
        return any(stop in text for stop in self.stops)

    def _cuts_short(self, token: int) -> bool:
        """Whether this token completes a stop string while the grammar could not end the reply here."""
        if not self.stops or not self.risky[token]:
            return False
        return self._completes_stop(token) and not self._allows(self.end)

    def _allows(self, token: int) -> bool:
        llama_cpp = self.lib
        single = llama_cpp.llama_token_data(token, 0.0, 0.0)
        candidates = llama_cpp.llama_token_data_array(ctypes.pointer(single), 1, -1, False)
        llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(candidates))
        return not math.isinf(single.logit)

    def sample(self, ctx: Any, idx: int = -1) -> int:
        llama_cpp = self.lib
        token = llama_cpp.llama_sampler_sample(self.chain.sampler, ctx.ctx, idx)
        if not self._allows(token) or self._cuts_short(token):
            self.rejected += 1
            token = self._sample_allowed(ctx, idx)
            llama_cpp.llama_sampler_accept(self.chain.sampler, token)
        llama_cpp.llama_sampler_accept(self.grammar, token)
        self.generated.append(token)
        if self.stops:
            self.tail = (self.tail + self.pieces[token])[-max(map(len, self.stops)):]
        if self.end is not None and in_a_loop(self.generated):
            self.looped = True
            return self.end
        return token

    def _sample_allowed(self, ctx: Any, idx: int) -> int:
        """The slow path: the grammar over the most likely tokens (over the whole vocabulary when it
        allows none of them), less those cutting the reply short, then the chain over what it allows.
        The most likely allowed token is the same either way, so greedy replies do not change."""
        llama_cpp = self.lib
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx.ctx, idx), shape=(self.n_vocab,))
        every = np.arange(self.n_vocab, dtype=np.int32)
        likely = np.argpartition(logits, -SHORTLIST)[-SHORTLIST:] if self.n_vocab > SHORTLIST else every
        # the likely tokens, then the whole vocabulary, then (if only a stop string can go on) every token:
        # each filtered only when the one before allowed nothing
        tries = (lambda: self._without_stops(likely), lambda: self._without_stops(every), lambda: every)
        for ids in (filtered() for filtered in tries):
            data, candidates = self._allowed_among(logits, ids)
            if np.isfinite(np.frombuffer(data, dtype=TOKEN_DATA)["logit"]).any():
                break
        llama_cpp.llama_sampler_apply(self.chain.sampler, ctypes.byref(candidates))
        return int(candidates.data[candidates.selected].id)

    def _without_stops(self, ids: np.ndarray) -> np.ndarray:
        """These tokens less those that would complete a stop string where the reply cannot end."""
        if not self.stops:
            return ids
        cut = [i for i in ids[self.risky[ids]] if self._completes_stop(int(i))]
        return ids[~np.isin(ids, cut)] if cut and not self._allows(self.end) else ids

    def _allowed_among(self, logits: np.ndarray, ids: np.ndarray) -> tuple[Any, Any]:
        """These tokens with their logits, the ones the grammar turns down at -inf (the buffer is
        returned with the array that points into it)."""
        llama_cpp = self.lib
        data = (llama_cpp.llama_token_data * len(ids))()
        view = np.frombuffer(data, dtype=TOKEN_DATA)
        view["id"] = ids
        view["logit"] = logits[ids]
        view["p"] = 0.0
        candidates = llama_cpp.llama_token_data_array(data, len(ids), -1, False)
        llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(candidates))
        return data, candidates

    def close(self) -> None:
        self.chain.close()
        if self.grammar:
            self.lib.llama_sampler_free(self.grammar)
            self.grammar = None

    def __del__(self) -> None:
        self.close()


TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])  # llama_token_data
SHORTLIST = 512  # tokens the grammar looks at first when the sampled one was turned down
LOOP_TOKENS = 8  # a loop: a unit of tokens repeated back to back over at least this many tokens,
LOOP_REPEATS = 3  # and at least this many times
LONGEST_UNIT = 32  # a unit as long as ` in (CrsCd, CrsCd where CrsCd.CrsCd` (a subquery opened over and over)


def in_a_loop(tokens: list[int]) -> bool:
    """Whether the tokens end with one unit repeated (see LOOP_TOKENS, LOOP_REPEATS)."""
    for unit in range(1, LONGEST_UNIT + 1):
        repeats = max(LOOP_REPEATS, -(-LOOP_TOKENS // unit))
        span = unit * repeats
        if len(tokens) < span:
            break
        tail = tokens[-span:]
        if tail == tail[:unit] * repeats:
            return True
    return False


class TokenTexts:
    """The text of every token of a model's vocabulary (control tokens empty), read when first needed
    (50 ms for 49k tokens), and which tokens could complete given stop strings."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._pieces: list[bytes] = []
        self._risky: dict[tuple[bytes, ...], np.ndarray] = {}

    @property
    def pieces(self) -> list[bytes]:
        if not self._pieces:
            import llama_cpp

            buffer = ctypes.create_string_buffer(256)
            for token in range(llama_cpp.llama_vocab_n_tokens(self.model.vocab)):
                n = llama_cpp.llama_token_to_piece(self.model.vocab, token, buffer, len(buffer), 0, False)
                self._pieces.append(buffer.raw[:n] if n > 0 else b"")
        return self._pieces

    def risky(self, stops: tuple[bytes, ...]) -> np.ndarray:
        """Per token, whether it holds the last byte of a stop string (no other token can complete one)."""
        if stops not in self._risky:
            self._risky[stops] = np.array([any(stop[-1:] in piece for stop in stops) for piece in self.pieces])
        return self._risky[stops]


def check_grammar_first_token(llm: Any) -> StopStrings | None:
    """Make this `Llama` sample grammar-constrained text the way llama.cpp's own sampler does (see the
    module docstring); without a grammar its samplers are unchanged. Returns where the caller puts each
    reply's stop strings, or None where a llama-cpp-python without the hooks this needs keeps its own
    sampler (slower, the same greedy replies, stop strings anywhere)."""
    build = getattr(llm, "_init_sampler", None)
    if build is None or getattr(getattr(llm, "_model", None), "vocab", None) is None:
        return None
    stops, texts = StopStrings(), TokenTexts(llm._model)

    def init_sampler(**settings: Any) -> Any:
        grammar = settings.pop("grammar", None)
        chain = build(**settings)
        return chain if grammar is None else CheckFirstSampler(chain, llm._model, grammar, stops.texts, texts)

    llm._init_sampler = init_sampler
    return stops
