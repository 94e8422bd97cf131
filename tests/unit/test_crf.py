"""The CRF output layer of taggers: Viterbi, marginals and likelihoods exact against brute force over every
tag sequence; the torch loss equal to the numpy likelihood and blind to padding; the scores carried through
ONNX (fp32, int8, fp16) so a bundle decodes exactly as torch does."""

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab.bundle import _graph_config, _run_line
from seqlab.checkpoint import ModelSpec
from seqlab.config import ConfigError, ModelConfig, load_params
from seqlab.evaluation.quality import split_quality
from seqlab.export.onnx_export import export_model
from seqlab.export.quantize import convert_fp16, quantize_int8
from seqlab.inference.backends import OrtBackend, batched_outputs
from seqlab.inference.crf import METADATA_KEY, TagTransitions, tag_ids
from seqlab.inference.sessions import create_session
from seqlab.inference.torch_models import TorchBackend
from seqlab.models.registry import build_model
from seqlab.text.dataset import IGNORE_INDEX, EncodedSplit
from seqlab.text.encoding import TextEncoder, pad_batch
from seqlab.text.vocab import Vocab
from seqlab.training.splits import sequence_loss

TAGS = 3
VOCAB = Vocab.build([list("迈向充满希望的新世纪")])
CRF_TAGGER = ModelConfig(cell="lstm", embed_dim=8, hidden=6, bidirectional=True, crf=True)


def _random_transitions(seed: int) -> TagTransitions:
    rng = np.random.default_rng(seed)
    return TagTransitions(rng.normal(size=(TAGS, TAGS)) * 2, rng.normal(size=TAGS), rng.normal(size=TAGS))


def _path_scores(table: TagTransitions, emissions: np.ndarray) -> dict[tuple[int, ...], float]:
    """Every tag sequence's score, by the CRF's definition."""
    scores = {}
    for path in itertools.product(range(TAGS), repeat=len(emissions)):
        score = table.start[path[0]] + table.end[path[-1]] + sum(emissions[t, k] for t, k in enumerate(path))
        scores[path] = score + sum(table.transitions[a, b] for a, b in itertools.pairwise(path))
    return scores


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_viterbi_marginals_and_likelihood_match_brute_force(steps: int) -> None:
    table = _random_transitions(steps)
    emissions = np.random.default_rng(10 + steps).normal(size=(steps, TAGS))
    scores = _path_scores(table, emissions)
    log_partition = np.logaddexp.reduce(list(scores.values()))
    assert tuple(table.best_path(emissions)) == max(scores, key=scores.get)
    marginals = table.marginals(emissions)
    for t, k in itertools.product(range(steps), range(TAGS)):
        through = [score for path, score in scores.items() if path[t] == k]
        assert marginals[t, k] == pytest.approx(np.exp(np.logaddexp.reduce(through) - log_partition), abs=1e-12)
    for path in [next(iter(scores)), max(scores, key=scores.get)]:
        expected = scores[path] - log_partition
        assert table.log_likelihood(emissions, np.array(path)) == pytest.approx(expected, abs=1e-9)


def test_batched_viterbi_gives_each_sentence_its_own_best_path() -> None:
    table = _random_transitions(7)
    rng = np.random.default_rng(8)
    sentences = [rng.normal(size=(n, TAGS)) * 2 for n in (5, 1, 3, 5)]
    # Padding scores that would win every step if they were read; the batch is wider than its longest sentence,
    # and out of length order, as the decoder sorts it longest first.
    padded = np.full((4, 7, TAGS), 50.0)
    for row, emissions in enumerate(sentences):
        padded[row, : len(emissions)] = emissions
    paths = table.best_paths(padded, np.array([len(e) for e in sentences]))
    for path, emissions in zip(paths, sentences, strict=True):
        scores = _path_scores(table, emissions)
        assert tuple(path) == max(scores, key=scores.get)


def test_strong_transitions_overrule_per_position_scores() -> None:
    # Tag 1 may not follow tag 0: a per-position argmax says [0, 1], the CRF must not.
    forbidden = np.zeros((2, 2))
    forbidden[0, 1] = -100.0
    table = TagTransitions(forbidden, np.zeros(2), np.zeros(2))
    emissions = np.array([[2.0, 0.0], [0.0, 1.0]])
    assert tag_ids(emissions, None).tolist() == [0, 1]
    assert tag_ids(emissions, table).tolist() == [0, 0]
    assert np.array_equal(TagTransitions.from_json(table.to_json()).transitions, forbidden)


def _tagger(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model("tag", CRF_TAGGER, vocab_size=len(VOCAB), num_classes=TAGS, pad_id=0).eval()
    with torch.no_grad():  # trained-looking transitions: a fresh CRF starts at zero, decoding like argmax
        for value in (model.crf.transitions, model.crf.start, model.crf.end):
            value.normal_(std=2.0)
    return model


def _sentences(count: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(2, len(VOCAB), size=int(n)).tolist() for n in rng.integers(1, 12, size=count)]


def test_torch_loss_is_the_numpy_likelihood_and_ignores_padding() -> None:
    model = _tagger()
    sentences = _sentences(6, 1)
    rng = np.random.default_rng(2)
    gold = [rng.integers(0, TAGS, size=len(s)) for s in sentences]
    tokens, lengths = pad_batch(sentences, 0)
    targets = np.full(tokens.shape, IGNORE_INDEX)
    for row, tags in enumerate(gold):
        targets[row, : len(tags)] = tags
    batch = tuple(map(torch.from_numpy, (tokens, lengths, targets)))
    with torch.no_grad():
        loss = sequence_loss(model, batch)
        padded = sequence_loss(model, (torch.nn.functional.pad(batch[0], (0, 4)), batch[1],
                                       torch.nn.functional.pad(batch[2], (0, 4), value=IGNORE_INDEX)))
    backend = TorchBackend(model)
    emissions = batched_outputs(backend, sentences, 0)
    expected = -sum(backend.transitions.log_likelihood(e, g) for e, g in zip(emissions, gold, strict=True))
    assert loss.item() == pytest.approx(expected / sum(map(len, gold)), rel=1e-5)
    torch.testing.assert_close(loss, padded)
    split = EncodedSplit(sentences, gold, [["x"] * len(s) for s in sentences])
    scores = split_quality(emissions, split, ["a", "b", "c"], transitions=backend.transitions)
    assert scores["loss"] == pytest.approx(loss.item(), rel=1e-5)  # the valid loss is the training loss


def test_crf_gradients_reach_the_transitions() -> None:
    model = _tagger().train()
    tokens, lengths = pad_batch(_sentences(4, 3), 0)
    targets = np.where(np.arange(tokens.shape[1])[None] < lengths[:, None], 1, IGNORE_INDEX)
    sequence_loss(model, tuple(map(torch.from_numpy, (tokens, lengths, targets)))).backward()
    assert model.crf.transitions.grad.abs().sum() > 0 and model.crf.start.grad.abs().sum() > 0


def test_onnx_models_carry_the_transitions(tmp_path: Path) -> None:
    model = _tagger()
    export_model(model, tmp_path / "model.onnx", 17, TextEncoder("char", VOCAB, 50))
    quantize_int8(tmp_path / "model.onnx", tmp_path / "model.int8.onnx")
    convert_fp16(tmp_path / "model.onnx", tmp_path / "model.fp16.onnx")
    torch_table = TorchBackend(model).transitions
    for name in ("model.onnx", "model.int8.onnx", "model.fp16.onnx"):
        carried = OrtBackend(create_session(tmp_path / name, "cpu")).transitions
        assert carried is not None, name
        for key in ("transitions", "start", "end"):
            np.testing.assert_allclose(getattr(carried, key), getattr(torch_table, key), rtol=0, atol=1e-7)
    plain = build_model("tag", CRF_TAGGER.model_copy(update={"crf": False}), vocab_size=len(VOCAB), num_classes=TAGS)
    export_model(plain, tmp_path / "plain.onnx", 17, TextEncoder("char", VOCAB, 50))
    assert OrtBackend(create_session(tmp_path / "plain.onnx", "cpu")).transitions is None


def test_a_crf_on_a_classifier_is_a_config_error(tmp_path: Path) -> None:
    params = Path("params.yaml").read_text(encoding="utf-8")
    marker = "  sentiment-bigru:\n    task: sentiment\n    model: {"
    assert marker in params
    (tmp_path / "params.yaml").write_text(params.replace(marker, marker + "crf: true, "), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"runs.sentiment-bigru.model.crf: a CRF output layer is for taggers"):
        load_params(tmp_path / "params.yaml")


def test_a_crf_bundle_config_and_model_card_say_how_it_decodes() -> None:
    spec = ModelSpec("tag", "pos", "pos-crf", CRF_TAGGER.model_dump(), {"vocab_size": len(VOCAB), "num_classes": TAGS},
                     ["a", "b", "c"], "char", 50)
    assert METADATA_KEY in _graph_config(spec)["decoding"]
    assert "CRF output layer" in _run_line("pos-crf", spec.model, 1000)
    plain = ModelSpec(**{**spec.__dict__, "model": CRF_TAGGER.model_copy(update={"crf": False}).model_dump()})
    assert "decoding" not in _graph_config(plain) and "CRF" not in _run_line("pos", plain.model, 1000)
