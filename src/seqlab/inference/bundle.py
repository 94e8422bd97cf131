"""Load a deployment bundle (written by ``seqlab bundle``) and predict with it.

A bundle is a folder: ONNX models (fp32, int8, fp16), the vocabulary (and ``chars.json`` /
``pairs.json`` for a tagger that reads characters / token pairs), ``config.json``, a model card
and ``SHA256SUMS``. Loading checks every file against SHA256SUMS, then picks the model for the
provider that really loads: fp16 on CUDA, int8 on the CPU. ``load_bundle`` returns a classifier
or a tagger, as the bundle's config says.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.evaluation.tagging import bmes_words
from seqlab.inference.backends import OrtBackend, batched_outputs, softmax
from seqlab.inference.sessions import CUDA, create_session, cuda_available, session_provider
from seqlab.io import InputError, read_json, read_lines, sha256_file
from seqlab.text.encoding import load_encoder

logger = logging.getLogger(__name__)

CHECKSUMS = "SHA256SUMS"
BUNDLE_VOCAB = "vocab.json"
MODEL_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx", "fp16": "model.fp16.onnx"}


def verify_checksums(folder: Path) -> None:
    """Fail with the file's name if any file listed in SHA256SUMS is missing or altered."""
    listing = folder / CHECKSUMS
    if not listing.is_file():
        raise InputError(f"{listing}: missing; is {folder} a bundle written by `make export`?")
    for number, line in read_lines(listing):
        digest, _, name = line.partition("  ")
        path = folder / name
        if not path.is_file():
            raise InputError(f"{path}: listed in {listing}:{number} but missing")
        if sha256_file(path) != digest:
            raise InputError(f"{path}: checksum does not match {listing}:{number} (file altered or corrupt)")


@dataclass(frozen=True)
class Prediction:
    """One text's predicted label, its probability, and every label's probability."""

    label: str
    probability: float
    probabilities: dict[str, float]


@dataclass(frozen=True)
class TaggedText:
    """One text's tokens with a tag each and the tag's probability; ``words`` for b/m/e/s segmentation."""

    tokens: list[str]
    tags: list[str]
    probabilities: list[float]
    words: list[str] | None = None


class BundleModel:
    """A model served from a bundle through ONNX Runtime: checksums checked, encoder and session ready."""

    def __init__(self, folder: Path, provider: str = "auto", threads: int | None = None) -> None:
        folder = Path(folder)
        verify_checksums(folder)
        self.folder = folder
        self.config: dict[str, Any] = read_json(folder / "config.json")
        self.labels: list[str] = self.config["labels"]
        self.encoder = load_encoder(folder, self.config["tokenizer"], self.config["max_len"],
                                    self.config.get("model", {}), BUNDLE_VOCAB)
        if provider not in ("auto", "cuda", "cpu"):
            raise ValueError(f"provider must be auto, cuda or cpu, not '{provider}'")
        use_cuda = provider == "cuda" or (provider == "auto" and cuda_available())
        self.precision = "fp16" if use_cuda else "int8"
        session = create_session(folder / MODEL_FILES[self.precision], "cuda" if use_cuda else "cpu", threads)
        self.provider = session_provider(session)
        self.backend = OrtBackend(session, f"ort_{self.precision}")
        logger.info("%s: %s on %s", folder, MODEL_FILES[self.precision], self.provider)

    @property
    def on_gpu(self) -> bool:
        return self.provider == CUDA

    def _tokens(self, texts: list[str]) -> list[list[str]]:
        """Each text's tokens; empty text is a ValueError naming its position."""
        tokens = []
        for position, text in enumerate(texts):
            try:
                tokens.append(self.encoder.tokens(text))
            except ValueError as err:
                raise ValueError(f"text {position + 1}: {err}") from err
        return tokens

    def _probabilities(self, tokens: list[list[str]]) -> list[np.ndarray]:
        """Softmax outputs per text: (labels,) for a classifier, (tokens, tags) for a tagger."""
        sequences = [self.encoder.encode_tokens(words) for words in tokens]
        return [softmax(out) for out in batched_outputs(self.backend, sequences, self.encoder.vocab.pad_id)]


class ClassifierBundle(BundleModel):
    """A text classifier served from a bundle."""

    def predict(self, texts: list[str]) -> list[Prediction]:
        """Label and probabilities for each text; empty text is a ValueError naming its position."""
        return [self._prediction(row) for row in self._probabilities(self._tokens(texts))]

    def _prediction(self, row: np.ndarray) -> Prediction:
        best = int(row.argmax())
        return Prediction(self.labels[best], float(row[best]), dict(zip(self.labels, map(float, row), strict=True)))


class TaggerBundle(BundleModel):
    """A sequence tagger (part-of-speech tags, or b/m/e/s word segmentation) served from a bundle."""

    def predict(self, texts: list[str]) -> list[TaggedText]:
        """Tags for each text's tokens (and its words, for segmentation); empty text is a ValueError."""
        tokens = self._tokens(texts)
        results = []
        for words, rows in zip(tokens, self._probabilities(tokens), strict=True):
            best = rows.argmax(axis=1)
            tags = [self.labels[i] for i in best]
            segmented = bmes_words(words, tags) if self.config.get("tag_scheme") == "bmes" else None
            results.append(TaggedText(words, tags, [float(rows[i, j]) for i, j in enumerate(best)], segmented))
        return results


def load_bundle(folder: Path, provider: str = "auto", threads: int | None = None) -> ClassifierBundle | TaggerBundle:
    """The bundle at ``folder`` as the model its config names (a classifier or a tagger)."""
    config = folder / "config.json"
    structure = read_json(config).get("structure", "classify") if config.is_file() else "classify"
    kinds: dict[str, type[ClassifierBundle] | type[TaggerBundle]] = {"classify": ClassifierBundle, "tag": TaggerBundle}
    if structure not in kinds:
        raise InputError(f"{config}: unknown structure '{structure}' (this seqlab serves: {', '.join(kinds)})")
    return kinds[structure](folder, provider, threads)
