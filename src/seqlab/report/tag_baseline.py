"""Non-neural baselines for the tag tasks: most frequent tag per word (POS) and forward maximum matching
(word segmentation).

Every recurrent tagger in the report is compared with them. The most-frequent-tag baseline gives each
train word the tag it has most often in the train split and every unseen word the most frequent train
tag; on PKU POS tags it is the classic floor a tagger must clear, and its accuracy on out-of-vocabulary
tokens shows how little it knows of words it has not seen. Forward maximum matching (FMM) segments a
sentence greedily left to right with the dictionary of train words, taking at each position the
longest dictionary word that starts there; it fails where a longer word swallows the start of the next
one ("研究生命" -> "研究生" "命"). Both are fitted on the train split only and scored once on valid and
test; both are deterministic.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.data.prepare import require_prepared
from seqlab.evaluation.tagging import BMES_TAGS, bmes_words, segmentation_scores, tagging_scores
from seqlab.io import InputError, read_jsonl

logger = logging.getLogger(__name__)

TAG_BASELINE_MODELS: dict[str, str] = {
    "tags": "most frequent tag per word (train)",
    "bmes": "forward maximum matching, train dictionary",
}
"""The baseline each tag scheme gets, as the record's ``model`` describes it."""
MAX_WORD_LEN_CAP = 16
"""The longest dictionary word FMM tries, whatever the longest train word is."""

Sentence = tuple[list[str], list[str]]  # (tokens, tags) of one sentence


def load_tagged_split(path: Path, labels: list[str], single_characters: bool = False) -> list[Sentence]:
    """The ``(tokens, tags)`` of each row of one prepared split (JSONL rows with tokens and tags).

    A row without equal-length, non-empty lists of strings, or with a tag outside ``labels``, fails with
    ``file:line``; so does a token that is not one character when ``single_characters`` is set.
    """
    allowed = set(labels)
    sentences: list[Sentence] = []
    for number, row in read_jsonl(path):
        tokens, tags = row.get("tokens"), row.get("tags")
        if not (isinstance(tokens, list) and isinstance(tags, list) and tokens and len(tokens) == len(tags)
                and all(isinstance(item, str) for item in tokens + tags)):
            raise InputError(f"{path}:{number}: expected non-empty lists tokens and tags of equal length, "
                             f"got {row!r:.120}")
        unknown = [tag for tag in tags if tag not in allowed]
        if unknown:
            raise InputError(f"{path}:{number}: tag {unknown[0]!r} is not one of the labels {labels}")
        if single_characters and any(len(token) != 1 for token in tokens):
            token = next(token for token in tokens if len(token) != 1)
            raise InputError(f"{path}:{number}: token {token!r} is not one character, as BMES segmentation needs")
        sentences.append((tokens, tags))
    if not sentences:
        raise InputError(f"{path}: no sentences")
    return sentences


def _most_frequent(counts: Counter[str]) -> str:
    """The most frequent key, ties broken by the smallest key (so the result never depends on order)."""
    return min(counts, key=lambda tag: (-counts[tag], tag))


@dataclass(frozen=True)
class MostFrequentTagger:
    """Tags each known word with its most frequent train tag and any other word with ``default``."""

    by_word: dict[str, str]
    default: str

    def tag(self, tokens: Sequence[str]) -> list[str]:
        """One tag per token."""
        return [self.by_word.get(token, self.default) for token in tokens]


def most_frequent_tag(train_rows: Iterable[tuple[Sequence[str], Sequence[str]]]) -> MostFrequentTagger:
    """Fit the most-frequent-tag tagger on ``(tokens, tags)`` sentences; ties go to the smaller tag name."""
    per_word: dict[str, Counter[str]] = defaultdict(Counter)
    overall: Counter[str] = Counter()
    for tokens, tags in train_rows:
        if len(tokens) != len(tags):
            raise ValueError(f"{len(tokens)} tokens but {len(tags)} tags in {list(tokens)[:10]}")
        for token, tag in zip(tokens, tags, strict=True):
            per_word[token][tag] += 1
        overall.update(tags)
    if not overall:
        raise ValueError("no train tokens to learn tags from")
    return MostFrequentTagger({word: _most_frequent(counts) for word, counts in per_word.items()},
                              _most_frequent(overall))


def forward_maximum_matching(text: str, dictionary: Collection[str], max_word_len: int) -> list[str]:
    """Segment ``text`` greedily: at each position the longest ``dictionary`` word starting there.

    Words up to ``max_word_len`` characters are tried, longest first; where none matches, the single
    character is a word (whether or not it is in the dictionary). Pass a set for speed.
    """
    if max_word_len < 1:
        raise ValueError(f"max_word_len must be at least 1, got {max_word_len}")
    words: list[str] = []
    position = 0
    while position < len(text):
        length = min(max_word_len, len(text) - position)
        while length > 1 and text[position:position + length] not in dictionary:
            length -= 1
        words.append(text[position:position + length])
        position += length
    return words


def words_to_bmes(words: Iterable[str]) -> list[str]:
    """BMES tags for the characters of ``words``: ``s`` for a one-character word, else ``b m... e``."""
    tags: list[str] = []
    for word in words:
        if not word:
            raise ValueError("an empty word has no characters to tag")
        tags.extend(["s"] if len(word) == 1 else ["b", *["m"] * (len(word) - 2), "e"])
    return tags


def _fit(train: list[Sentence], scheme: str) -> Callable[[Sequence[str]], list[str]]:
    """A function from a sentence's tokens to predicted tags, fitted on the train sentences."""
    if scheme == "tags":
        return most_frequent_tag(train).tag
    dictionary = {word for tokens, tags in train for word in bmes_words(tokens, tags)}
    max_word_len = min(MAX_WORD_LEN_CAP, max(len(word) for word in dictionary))
    logger.info("tag baseline: %d train words in the dictionary, longest tried %d", len(dictionary), max_word_len)
    return lambda tokens: words_to_bmes(forward_maximum_matching("".join(tokens), dictionary, max_word_len))


def train_tag_baseline(prepared_dir: Path, labels: list[str], scheme: str) -> dict[str, Any]:
    """Fit the baseline of ``scheme`` on ``prepared_dir``/train.jsonl and score it on valid and test.

    ``scheme`` is ``"tags"`` (most frequent tag per word) or ``"bmes"`` (forward maximum matching with
    the train words as dictionary, words up to the longest train word, at most ``MAX_WORD_LEN_CAP``).
    Returns the metrics record: ``model``, valid and test token accuracy and macro-F1 (tag ids are
    indices into ``labels``), for ``tags`` the test accuracy on tokens unseen in train, for ``bmes``
    the word F1 on valid and word precision, recall and F1 on test, ``train_seconds``, and the test sentences
    tagged per second (``test_items_per_s``).
    """
    if scheme not in TAG_BASELINE_MODELS:
        raise ValueError(f"scheme must be one of {sorted(TAG_BASELINE_MODELS)}, got {scheme!r}")
    if scheme == "bmes" and not set(BMES_TAGS) <= set(labels):
        raise ValueError(f"the bmes scheme needs the labels {list(BMES_TAGS)}, got {labels}")
    require_prepared(prepared_dir)
    splits = {split: load_tagged_split(prepared_dir / f"{split}.jsonl", labels, single_characters=scheme == "bmes")
              for split in ("train", "valid", "test")}

    start = time.perf_counter()
    predict = _fit(splits["train"], scheme)
    train_seconds = time.perf_counter() - start
    known = {token for tokens, _ in splits["train"] for token in tokens}
    index = {label: number for number, label in enumerate(labels)}

    record: dict[str, Any] = {"model": TAG_BASELINE_MODELS[scheme]}
    for split in ("valid", "test"):
        sentences = splits[split]
        started = time.perf_counter()
        predicted = [predict(tokens) for tokens, _ in sentences]
        tagged_per_s = len(sentences) / (time.perf_counter() - started)
        scores = tagging_scores([[index[tag] for tag in tags] for _, tags in sentences],
                                [[index[tag] for tag in tags] for tags in predicted], labels,
                                tokens=[tokens for tokens, _ in sentences], known=known)
        record[f"{split}_accuracy"] = round(scores["accuracy"], 6)
        record[f"{split}_macro_f1"] = round(scores["macro_f1"], 6)
        if scheme == "tags" and split == "test":
            oov = scores["oov_accuracy"]
            record["test_oov_accuracy"] = None if oov is None else round(oov, 6)
        if scheme == "bmes":
            words = segmentation_scores([tags for _, tags in sentences], predicted)
            keys = ("word_f1",) if split == "valid" else ("word_f1", "word_precision", "word_recall")
            record.update({f"{split}_{key}": round(words[key], 6) for key in keys})
        logger.info("tag baseline (%s): %s accuracy %.4f, macro-F1 %.4f", record["model"], split,
                    scores["accuracy"], scores["macro_f1"])
    record["train_seconds"] = round(train_seconds, 2)
    record["test_items_per_s"] = round(tagged_per_s, 1)  # the last split tagged: test
    return record
