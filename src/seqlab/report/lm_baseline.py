"""The language models' baseline: an interpolated Witten-Bell character n-gram model.

The classic count-based model a recurrent language model has to beat (Witten & Bell 1991; Chen &
Goodman 1998 compare it with other smoothings). Each order interpolates with the order below:

    P(c | h) = (C(h c) + N1+(h .) * P(c | h')) / (C(h) + N1+(h .))

where h' is h without its first character, N1+(h .) the number of distinct characters seen after
h, and the order below the shortest context is uniform over the train characters plus one unseen
symbol. It scores exactly what the neural models score: every character of a text and an end
symbol after it (a review also starts from a begin symbol, which is context, not scored).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.io import read_jsonl
from seqlab.paths import SPLITS
from seqlab.text.vocab import Vocab

UNKNOWN, BEGIN, END = "\x01", "\x02", "\x03"
"""Symbols standing for ``<unk>``, ``<bos>`` and ``<eos>``: control characters, never in the vocabulary's text."""


@dataclass
class CharNgram:
    """Counts of every n-gram up to ``order`` characters (context ``order - 1``)."""

    order: int
    grams: list[Counter[str]] = field(default_factory=list)  # grams[n]: counts of (n+1)-grams
    contexts: list[Counter[str]] = field(default_factory=list)  # contexts[n]: C(h) for contexts of n chars
    followers: list[Counter[str]] = field(default_factory=list)  # followers[n]: N1+(h .)
    symbols: int = 0

    def fit(self, texts: Iterable[str]) -> CharNgram:
        """Count the n-grams of ``texts`` (each carrying its begin/end symbols)."""
        texts = list(texts)
        self.grams = [Counter() for _ in range(self.order)]
        for text in texts:
            for n in range(self.order):
                self.grams[n].update(text[i - n : i + 1] for i in range(n, len(text)))
        self.contexts, self.followers = [], []
        for gram in self.grams:
            context: Counter[str] = Counter()
            followers: Counter[str] = Counter()
            for key, count in gram.items():
                context[key[:-1]] += count
                followers[key[:-1]] += 1
            self.contexts.append(context)
            self.followers.append(followers)
        self.symbols = len(self.grams[0]) + 1  # the train characters and one unseen symbol
        return self

    def probabilities(self, history: str, char: str) -> list[float]:
        """P(char | the last n - 1 characters of history) for every order n = 1 .. ``order``, each
        interpolated down to the uniform (one pass: order n builds on order n - 1)."""
        p = 1.0 / self.symbols
        found = []
        for n in range(self.order):
            if n <= len(history):
                context = history[len(history) - n :] if n else ""
                seen = self.contexts[n].get(context, 0)
                if seen:
                    distinct = self.followers[n][context]
                    p = (self.grams[n].get(context + char, 0) + distinct * p) / (seen + distinct)
            found.append(p)
        return found

    def nats(self, texts: Sequence[str], skip_first: bool = False) -> tuple[list[float], int]:
        """Total negative log-likelihood (nats) of ``texts`` at every order 1 .. ``order``, and the number
        of scored symbols. ``skip_first``: the first symbol of each text (a begin symbol) is context only."""
        totals = [0.0] * self.order
        scored = 0
        width = self.order - 1
        for text in texts:
            for i in range(1 if skip_first else 0, len(text)):
                for n, p in enumerate(self.probabilities(text[max(0, i - width) : i], text[i])):
                    totals[n] -= math.log(p)
                scored += 1
        return totals, scored


def ngram_baseline(train: dict[str, list[str]], valid: dict[str, list[str]], test: dict[str, list[str]],
                   max_order: int = 7, begin: bool = False) -> dict[str, float | int]:
    """Fit one n-gram model per group (a condition; one group for a plain language model), choose the order
    by valid bits per character, and score test.

    Each split maps a group to its texts, end symbols included; ``begin``: texts start from a begin
    symbol (conditioned reviews), which is context, not scored.
    Returns test loss (nats per symbol), bits per character and the chosen order.
    """
    def marked(texts: list[str]) -> list[str]:
        return [BEGIN + text for text in texts] if begin else texts

    models = {group: CharNgram(max_order).fit(marked(texts)) for group, texts in train.items()}

    def loss(split: dict[str, list[str]]) -> list[float]:
        """Nats per scored symbol at every order, over all groups."""
        parts = [models[group].nats(marked(texts), skip_first=begin) for group, texts in split.items()]
        scored = sum(count for _, count in parts)
        return [sum(totals[n] for totals, _ in parts) / scored for n in range(max_order)]

    valid_loss = loss(valid)
    best = min(range(1, max_order), key=lambda n: valid_loss[n])  # index n is order n + 1; order >= 2
    test_loss = loss(test)[best]
    return {"order": best + 1, "valid_bpc": valid_loss[best] / math.log(2), "test_loss": test_loss,
            "test_bpc": test_loss / math.log(2)}


def read_groups(path: Path, vocab: Vocab, conditioned: bool, max_len: int) -> dict[str, list[str]]:
    """A prepared split's texts as the neural models see them, grouped by condition (one group without).

    Characters outside ``vocab`` become the unknown symbol (the models read them as ``<unk>``); a
    conditioned text is cut like the models' ``<bos> text <eos>`` sequences of at most ``max_len`` ids,
    so an end symbol is only scored where the model scores ``<eos>``.
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for _, row in read_jsonl(path):
        text = "".join(char if char in vocab else UNKNOWN for char in row["text"])
        if conditioned:
            groups[row["label"]].append(text[: max_len - 1] + (END if len(text) <= max_len - 2 else ""))
        else:
            groups[""].append(text + END)
    return groups


def train_text_baseline(prepared_dir: Path, vocab: Vocab, conditioned: bool, max_len: int) -> dict[str, Any]:
    """The n-gram baseline of a generating task (lm, or condlm with ``conditioned``): test bits per character."""
    splits = {name: read_groups(prepared_dir / f"{name}.jsonl", vocab, conditioned, max_len) for name in SPLITS}
    scores = ngram_baseline(splits["train"], splits["valid"], splits["test"], begin=conditioned)
    return {"model": "char n-gram (Witten-Bell)" + (", one per condition" if conditioned else ""), **scores}
