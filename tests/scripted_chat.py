"""A chat that replies from a script and records what it was asked: SQL answering without a model."""

from __future__ import annotations


class Scripted:
    def __init__(self, replies):
        self.replies = iter(replies)
        self.seen = []

    def complete(self, messages, sampling, grammar=None):
        self.seen.append(messages)
        return next(self.replies)
