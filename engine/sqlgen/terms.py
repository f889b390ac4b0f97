"""The words a question and a schema are compared by: lower case, names split into words, common
abbreviations spoken in full, plurals folded ('CustNm' and 'customer names' share 'customer', 'name')."""

from __future__ import annotations

import re

from engine.qa.phrasing import ABBREVIATIONS, identifier_words

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*|\d+")
STOP_WORDS = {"the", "a", "an", "of", "in", "on", "for", "to", "and", "or", "is", "are", "was", "were", "what",
              "which", "who", "how", "many", "much", "me", "show", "list", "give", "find", "with", "by", "per",
              "each", "all", "any", "that", "this", "there", "do", "does", "did", "have", "has", "their", "its",
              "from", "at", "be", "it", "as", "than", "i", "we", "our", "you", "get", "tell", "please"}


def fold(word: str) -> str:
    """One form per word: abbreviations expanded, a plural made singular."""
    word = ABBREVIATIONS.get(word, word)
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """The content words of a question, a name or a value, folded (stop words left out)."""
    out = []
    for token in _WORD.findall(text):
        for word in identifier_words(token):
            if word not in STOP_WORDS:
                out.append(fold(word))
    return out
