"""Load a deployment bundle (written by ``seqlab bundle``) and predict with it.

A bundle is a folder: ONNX models (fp32, int8, fp16), the vocabulary, ``config.json``, a model
card and ``SHA256SUMS``. Loading checks every file against SHA256SUMS, then picks the model for
the provider that really loads: fp16 on CUDA, int8 on the CPU.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.inference.backends import OrtBackend, batched_logits, softmax
from seqlab.inference.sessions import CUDA, create_session, cuda_available, session_provider
from seqlab.io import InputError, read_json, read_lines, sha256_file
from seqlab.text.encoding import TextEncoder
from seqlab.text.vocab import Vocab

logger = logging.getLogger(__name__)

CHECKSUMS = "SHA256SUMS"
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


class ClassifierBundle:
    """A text classifier served from a bundle through ONNX Runtime."""

    def __init__(self, folder: Path, provider: str = "auto", threads: int | None = None) -> None:
        folder = Path(folder)
        verify_checksums(folder)
        self.folder = folder
        self.config: dict[str, Any] = read_json(folder / "config.json")
        self.labels: list[str] = self.config["labels"]
        vocab = Vocab.load(folder / "vocab.json")
        self.encoder = TextEncoder(self.config["tokenizer"], vocab, self.config["max_len"])
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

    def predict(self, texts: list[str]) -> list[Prediction]:
        """Label and probabilities for each text; empty text is a ValueError naming its position."""
        sequences = []
        for position, text in enumerate(texts):
            try:
                sequences.append(self.encoder.encode(text))
            except ValueError as err:
                raise ValueError(f"text {position + 1}: {err}") from err
        probabilities = softmax(batched_logits(self.backend, sequences, self.encoder.vocab.pad_id))
        return [self._prediction(row) for row in probabilities]

    def _prediction(self, row: np.ndarray) -> Prediction:
        best = int(row.argmax())
        return Prediction(self.labels[best], float(row[best]), dict(zip(self.labels, map(float, row), strict=True)))
