"""Load a deployment bundle (written by ``seqlab bundle``) and predict or generate with it.

A bundle is a folder: ONNX models (fp32, int8, fp16; for a language model these are its step graph,
and a conditioned one adds ``condition.onnx``; a seq2seq model's are its decoder-step graph, beside its
encoder graphs ``encoder*.onnx`` and the target vocabulary), the vocabulary (and ``chars.json`` / ``pairs.json``
for a tagger that reads characters / token pairs), ``config.json``, a model card and ``SHA256SUMS``.
Loading checks every file against SHA256SUMS, then picks the model for the provider that really
loads: fp16 on CUDA, int8 on the CPU. ``load_bundle`` returns a classifier, a tagger, a generator or an
encoder-decoder, as the bundle's config says.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.config import DecodeConfig
from seqlab.evaluation.tagging import bmes_words
from seqlab.inference.backends import OrtBackend, batched_outputs, softmax
from seqlab.inference.crf import tag_ids
from seqlab.inference.decode import OrtSeq2Seq, attention_weights, beam_decode
from seqlab.inference.generate import OrtStepModel, Sampler, TextGenerator
from seqlab.inference.sessions import CUDA, ProviderUnavailable, create_session, cuda_available, session_provider
from seqlab.io import InputError, read_json, read_lines, sha256_file
from seqlab.text.encoding import load_encoder
from seqlab.text.parallel import TargetCodec, target_joiner
from seqlab.text.vocab import TARGETS_FILE, Vocab

logger = logging.getLogger(__name__)

CHECKSUMS = "SHA256SUMS"
BUNDLE_VOCAB = "vocab.json"
MODEL_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx", "fp16": "model.fp16.onnx"}
CONDITION_FILE = "condition.onnx"
"""A conditioned language model's condition -> state graph (fp32: one embedding row per condition)."""
ENCODER_FILE = "encoder.onnx"
"""A seq2seq model's encoder graph, beside its decoder-step graph ``model.onnx``."""
ENCODER_FILES = {"fp32": ENCODER_FILE, "int8": "encoder.int8.onnx", "fp16": "encoder.fp16.onnx"}


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
    """A model served from a bundle through ONNX Runtime: checksums checked, config read, and the
    session of the model file the provider runs (fp16 on CUDA, int8 on the CPU) ready."""

    def __init__(self, folder: Path, provider: str = "auto", threads: int | None = None) -> None:
        folder = Path(folder)
        verify_checksums(folder)
        self.folder = folder
        self.config: dict[str, Any] = read_json(folder / "config.json")
        self.labels: list[str] = self.config["labels"]
        if provider not in ("auto", "cuda", "cpu"):
            raise ValueError(f"provider must be auto, cuda or cpu, not '{provider}'")
        if provider == "cuda" and not cuda_available():
            # Checked before any session is built: ONNX Runtime would fall back to the CPU with the fp16 graph,
            # and its CPU layout pass crashes the process on fp16 recurrent step graphs (ORT 1.31).
            raise ProviderUnavailable(f"{folder}: the CUDA execution provider does not load here "
                                      "(is a CUDA 13 / cuDNN 9 GPU present?)")
        use_cuda = provider == "cuda" or (provider == "auto" and cuda_available())
        self.precision = "fp16" if use_cuda else "int8"
        self.session = create_session(folder / MODEL_FILES[self.precision], "cuda" if use_cuda else "cpu", threads)
        self.provider = session_provider(self.session)
        self.name = f"ort_{self.precision}"
        logger.info("%s: %s on %s", folder, MODEL_FILES[self.precision], self.provider)

    @property
    def on_gpu(self) -> bool:
        return self.provider == CUDA


class TextBundle(BundleModel):
    """A model that reads whole texts (a classifier or a tagger): the encoder and a batched backend."""

    def __init__(self, folder: Path, provider: str = "auto", threads: int | None = None) -> None:
        super().__init__(folder, provider, threads)
        self.encoder = load_encoder(self.folder, self.config["tokenizer"], self.config["max_len"],
                                    self.config.get("model", {}), BUNDLE_VOCAB)
        self.backend = OrtBackend(self.session, self.name)

    def _tokens(self, texts: list[str]) -> list[list[str]]:
        """Each text's tokens; empty text is a ValueError naming its position."""
        tokens = []
        for position, text in enumerate(texts):
            try:
                tokens.append(self.encoder.tokens(text))
            except ValueError as err:
                raise ValueError(f"text {position + 1}: {err}") from err
        return tokens

    def _outputs(self, tokens: list[list[str]]) -> list[np.ndarray]:
        """The graph's outputs per text: (labels,) logits for a classifier, (tokens, tags) for a tagger."""
        sequences = [self.encoder.encode_tokens(words) for words in tokens]
        return batched_outputs(self.backend, sequences, self.encoder.vocab.pad_id)


class ClassifierBundle(TextBundle):
    """A text classifier served from a bundle."""

    def predict(self, texts: list[str]) -> list[Prediction]:
        """Label and probabilities for each text; empty text is a ValueError naming its position."""
        return [self._prediction(softmax(row)) for row in self._outputs(self._tokens(texts))]

    def _prediction(self, row: np.ndarray) -> Prediction:
        best = int(row.argmax())
        return Prediction(self.labels[best], float(row[best]), dict(zip(self.labels, map(float, row), strict=True)))


class TaggerBundle(TextBundle):
    """A sequence tagger (part-of-speech tags, or b/m/e/s word segmentation) served from a bundle."""

    def predict(self, texts: list[str]) -> list[TaggedText]:
        """Tags for each text's tokens (and its words, for segmentation); empty text is a ValueError."""
        tokens = self._tokens(texts)
        transitions = self.backend.transitions
        results = []
        for words, emissions in zip(tokens, self._outputs(tokens), strict=True):
            best = tag_ids(emissions, transitions)
            # Each tag's probability: its CRF marginal, or without a CRF layer the softmax of its row.
            rows = softmax(emissions) if transitions is None else transitions.marginals(emissions)
            tags = [self.labels[i] for i in best]
            segmented = bmes_words(words, tags) if self.config.get("tag_scheme") == "bmes" else None
            results.append(TaggedText(words, tags, [float(rows[i, j]) for i, j in enumerate(best)], segmented))
        return results


class GeneratorBundle(BundleModel):
    """A character language model (structure ``lm``) or a conditioned one (``condlm``: a text from a
    label such as a sentiment) served from a bundle: a :class:`~seqlab.inference.generate.TextGenerator`
    over the step graph, one character per step (see there where generation starts and ends)."""

    def __init__(self, folder: Path, provider: str = "auto", threads: int | None = None) -> None:
        super().__init__(folder, provider, threads)
        if self.config["tokenizer"] != "char":
            raise InputError(f"{self.folder / 'config.json'}: a generator reads and writes characters "
                             f"(tokenizer 'char'), not '{self.config['tokenizer']}'")
        conditioned = self.config["structure"] == "condlm"
        # The condition graph is one embedding lookup per text: the CPU runs it whatever the provider.
        conditions = create_session(self.folder / CONDITION_FILE, "cpu", threads) if conditioned else None
        try:
            self.generator = TextGenerator(OrtStepModel(self.session, conditions, name=self.name),
                                           Vocab.load(self.folder / BUNDLE_VOCAB), self.labels if conditioned else ())
        except ValueError as err:
            raise InputError(f"{self.folder / BUNDLE_VOCAB}: {err}") from err

    def stream(self, prompt: str, length: int, sampler: Sampler, condition: str | None = None) -> Iterator[str]:
        """Up to ``length`` characters continuing ``prompt`` (without it), each yielded as soon as it is
        chosen. Bad arguments (an unknown or missing condition, a negative length) raise at once."""
        return self.generator.stream(prompt, length, sampler, condition)


@dataclass(frozen=True)
class Transduction:
    """One source's outputs, best first, each with its score (log-probability / length ** length_penalty)."""

    source: str
    outputs: list[str]
    scores: list[float]


@dataclass(frozen=True)
class Attention:
    """An output's attention weights over its source: ``weights[t][s]`` for output token t, source token s."""

    source: list[str]
    output: list[str]
    weights: list[list[float]]


class Seq2SeqBundle(BundleModel):
    """An encoder-decoder (e.g. grapheme-to-phoneme) served from a bundle: the encoder graph and the
    decoder-step graph of the precision the provider runs, searched with the bundle's decode settings."""

    def __init__(self, folder: Path, provider: str = "auto", threads: int | None = None) -> None:
        super().__init__(folder, provider, threads)
        encoder = create_session(self.folder / ENCODER_FILES[self.precision], "cuda" if self.on_gpu else "cpu",
                                 threads)
        self.model = OrtSeq2Seq(encoder, self.session, self.name)
        self.encoder = load_encoder(self.folder, self.config["tokenizer"], self.config["max_len"],
                                    self.config["model"], BUNDLE_VOCAB)
        self.codec = TargetCodec(Vocab.load(self.folder / TARGETS_FILE))
        self.decode = DecodeConfig.model_validate(self.config["decode"])
        self.joiner = target_joiner(self.config["target_tokenizer"])

    def transduce(self, texts: list[str], beam: int | None = None) -> list[Transduction]:
        """The ``beam`` best outputs of each text (default: the bundle's beam width, best only); empty text
        is a ValueError naming its position."""
        sources = []
        for position, text in enumerate(texts):
            try:
                sources.append(list(self.encoder.encode(self._normalised(text))))
            except ValueError as err:
                raise ValueError(f"text {position + 1}: {err}") from err
        width = beam or self.decode.beam
        found = beam_decode(self.model, sources, self.codec.bos, self.codec.eos, width, self.decode.length_penalty,
                            self.decode.max_steps, self.encoder.vocab.pad_id, self.codec.suppressed)
        keep = width if beam else 1
        return [Transduction(text, [self.joiner.join(self.codec.decode(ids)) for ids, _ in best[:keep]],
                             [round(score, 4) for _, score in best[:keep]])
                for text, best in zip(texts, found, strict=True)]

    def attention(self, text: str, output: str) -> Attention:
        """Where the decoder looked while writing ``output`` (one of ``text``'s outputs, e.g. the best) for
        ``text``: one row per output token and a last one for ``<eos>``, one column per source token."""
        source_tokens = self.encoder.tokens(self._normalised(text))
        output_tokens = (output.split(self.joiner) if self.joiner else list(output)) if output else []
        weights = attention_weights(self.model, self.encoder.encode_tokens(source_tokens),
                                    self.codec.vocab.encode(output_tokens), self.codec.bos)  # (T + 1, S)
        return Attention(source_tokens, [*output_tokens, "<eos>"], np.round(weights.astype(np.float64), 4).tolist())

    def _normalised(self, text: str) -> str:
        """CMUdict words are lower case: a word typed in capitals is read as the dictionary spells it."""
        return text.strip().lower() if self.config.get("source_kind") == "cmudict" else text


def load_bundle(folder: Path, provider: str = "auto",
                threads: int | None = None) -> ClassifierBundle | TaggerBundle | GeneratorBundle | Seq2SeqBundle:
    """The bundle at ``folder`` as the model its config names (a classifier, a tagger, a generator or an
    encoder-decoder)."""
    config = folder / "config.json"
    structure = read_json(config).get("structure", "classify") if config.is_file() else "classify"
    kinds: dict[str, type[BundleModel]] = {
        "classify": ClassifierBundle, "tag": TaggerBundle, "lm": GeneratorBundle, "condlm": GeneratorBundle,
        "seq2seq": Seq2SeqBundle}
    if structure not in kinds:
        raise InputError(f"{config}: unknown structure '{structure}' (this seqlab serves: {', '.join(kinds)})")
    return kinds[structure](folder, provider, threads)  # type: ignore[return-value]
