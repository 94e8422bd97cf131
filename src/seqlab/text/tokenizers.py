"""Tokenizers by name: ``char`` (characters), ``char_bigram`` (overlapping pairs), ``jieba`` (words),
``whitespace`` (words already separated by spaces, as a part-of-speech tagger takes them)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

from seqlab.io import read_jsonl, write_jsonl

Tokenizer = Callable[[str], list[str]]
TOKENIZERS: tuple[str, ...] = ("char", "char_bigram", "jieba", "whitespace")


def char_tokens(text: str) -> list[str]:
    """One token per character, spaces included (they separate Latin words in reviews)."""
    return list(text)


def next_pairs(tokens: Sequence[str]) -> list[str]:
    """One pair per position: the token joined with the next one (the last token alone)."""
    return [token + following for token, following in zip(tokens, [*tokens[1:], ""], strict=True)]


def char_bigram_tokens(text: str) -> list[str]:
    """One token per character position: that character and the next (the last one alone).

    Gives a recurrent model word-like units without a segmenter, one token per character.
    """
    return next_pairs(list(text))


def jieba_tokens(text: str) -> list[str]:
    """Chinese word tokens from jieba; whitespace-only tokens are dropped."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [token for token in jieba.lcut(text) if token.strip()]


def whitespace_tokens(text: str) -> list[str]:
    """The words of text whose words are separated by whitespace (ASCII or the full-width U+3000)."""
    return text.split()


@cache
def get_tokenizer(kind: str) -> Tokenizer:
    """The tokenizer called ``kind``; unknown names raise a ValueError listing the choices."""
    tokenizers: dict[str, Tokenizer] = {"char": char_tokens, "char_bigram": char_bigram_tokens, "jieba": jieba_tokens,
                                        "whitespace": whitespace_tokens}
    if kind not in tokenizers:
        raise ValueError(f"unknown tokenizer '{kind}' (choose from: {', '.join(TOKENIZERS)})")
    return tokenizers[kind]


def tokenize_file(source: Path, target: Path, kind: str, target_kind: str | None = None) -> int:
    """Tokenize every ``text`` of a prepared JSONL split into ``tokens``; returns the row count.

    Rows that already hold ``tokens`` (tagged sentences: the annotation fixes the tokens) keep them.
    A parallel row (``source`` and its ``targets``) becomes ``tokens`` (the source, by ``kind``) and
    ``targets`` (one token list per reference, by ``target_kind``).
    Other fields (label, tags, origin) are carried over; the target is written atomically.
    """
    tokenize = get_tokenizer(kind)
    tokenize_target = get_tokenizer(target_kind or kind)

    def tokenized(row: dict) -> dict:
        if "tokens" in row:
            return row
        if "source" in row:
            return {"tokens": tokenize(row.pop("source")),
                    "targets": [tokenize_target(text) for text in row.pop("targets")], **row}
        return {"tokens": tokenize(row.pop("text")), **row}

    rows = [tokenized(row) for _, row in read_jsonl(source)]
    write_jsonl(target, rows)
    return len(rows)
