"""A token <-> id mapping with reserved specials and a JSON round-trip."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from seqlab.config import VocabConfig
from seqlab.io import InputError, read_json, read_jsonl, write_json
from seqlab.text.tokenizers import next_pairs

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS: tuple[str, ...] = (PAD, UNK, BOS, EOS)
TOKENS_FILE = "tokens.json"
"""The token vocabulary in the vocab stage's folder."""
CHARS_FILE = "chars.json"
"""The characters of the train tokens, beside the token vocabulary (vocab stage output and bundles alike)."""
PAIRS_FILE = "pairs.json"
"""The token pairs (each token joined with the next) of the train split, beside the token vocabulary."""
TARGETS_FILE = "targets.json"
"""seq2seq: the target-side vocabulary (e.g. phonemes) of the train split's references."""


class Vocab:
    """Tokens in id order; the specials come first, so ``<pad>`` is always id 0."""

    def __init__(self, tokens: Sequence[str], specials: Sequence[str] = SPECIALS) -> None:
        self.specials = tuple(specials)
        self.tokens: list[str] = list(tokens)
        if tuple(self.tokens[: len(self.specials)]) != self.specials:
            raise ValueError(f"vocabulary must start with the specials {self.specials}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("vocabulary tokens must be unique")
        self.index = {token: position for position, token in enumerate(self.tokens)}

    @classmethod
    def build(
        cls,
        sequences: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = SPECIALS,
    ) -> Vocab:
        """Count tokens and keep those seen ``min_freq`` times or more, most frequent first.

        Ties are broken by the token itself so the result never depends on input order.
        ``max_size`` counts the specials.
        """
        counts = Counter(token for sequence in sequences for token in sequence)
        for special in specials:
            counts.pop(special, None)
        ranked = sorted((item for item in counts.items() if item[1] >= min_freq), key=lambda kv: (-kv[1], kv[0]))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - len(specials))]
        return cls([*specials, *(token for token, _ in ranked)], specials)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    @property
    def pad_id(self) -> int:
        return self.index[PAD]

    @property
    def unk_id(self) -> int:
        return self.index[UNK]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of ``tokens``; unknown tokens map to ``<unk>``."""
        unk = self.unk_id
        return [self.index.get(token, unk) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``."""
        return [self.tokens[i] for i in ids]

    def to_dict(self) -> dict[str, list[str]]:
        """Plain-data form, as saved to JSON."""
        return {"specials": list(self.specials), "tokens": self.tokens}

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON (atomically)."""
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a vocabulary written by :meth:`save`."""
        data = read_json(path)
        try:
            return cls(data["tokens"], data["specials"])
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"{path}: not a seqlab vocabulary ({err})") from err


def build_vocabularies(train_tokens: Sequence[Sequence[str]], config: VocabConfig,
                       train_targets: Sequence[Sequence[str]] = ()) -> dict[str, Vocab]:
    """Every vocabulary of a task from its train split's tokens, by file name: the tokens, their
    characters (for taggers that read each word's characters), the token pairs (each token joined
    with the next, e.g. character bigrams, for taggers that read them) and, for seq2seq, the target
    tokens of every reference (``train_targets``; the output vocabulary keeps every target token
    seen, so ``min_freq`` and ``max_size`` apply to the source side only)."""
    vocabularies = {
        TOKENS_FILE: Vocab.build(train_tokens, config.min_freq, config.max_size),
        CHARS_FILE: Vocab.build((list(token) for tokens in train_tokens for token in tokens), config.min_freq),
        PAIRS_FILE: Vocab.build((next_pairs(tokens) for tokens in train_tokens), config.min_freq, config.max_size),
    }
    if train_targets:
        vocabularies[TARGETS_FILE] = Vocab.build(train_targets)
    return vocabularies


def vocabularies_of_split(tokenized_train: Path, config: VocabConfig) -> dict[str, Vocab]:
    """:func:`build_vocabularies` from a tokenized train split (JSONL rows with ``tokens``, and for seq2seq
    ``targets``: every reference of the row)."""
    rows = [row for _, row in read_jsonl(tokenized_train)]
    targets = [target for row in rows for target in row.get("targets", [])]
    return build_vocabularies([row["tokens"] for row in rows], config, targets)
