"""ONNX export: ORT matches torch at new shapes, padding stays exact in ORT, quantization works."""

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from seqlab.config import ExportConfig, ModelConfig
from seqlab.entry import StageError
from seqlab.export.onnx_export import export_classifier, op_counts
from seqlab.export.parity import check_parity, parity_report
from seqlab.export.quantize import convert_fp16, quantize_int8
from seqlab.inference.backends import OrtBackend, TorchBackend, batched_logits
from seqlab.inference.sessions import create_session, session_provider
from seqlab.models.registry import build_model

NATIVE_OP = {"rnn_tanh": "RNN", "rnn_relu": "RNN", "lstm": "LSTM", "gru": "GRU"}


def _sequences(count: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(4, 40, size=int(n)).tolist() for n in rng.integers(1, 60, size=count)]


@pytest.fixture(scope="module", params=[("lstm", True), ("gru", True), ("rnn_tanh", False), ("rnn_relu", True)],
                ids=lambda p: f"{p[0]}-bi{int(p[1])}")
def exported(request, tmp_path_factory):
    cell, bidirectional = request.param
    torch.manual_seed(0)
    config = ModelConfig(cell=cell, embed_dim=32, hidden=64, layers=2, bidirectional=bidirectional, pooling="max")
    model = build_model("classify", config, vocab_size=200, num_classes=2, pad_id=0).eval()
    path = tmp_path_factory.mktemp(cell) / "model.onnx"
    export_classifier(model, path, vocab_size=200, opset=17)
    return cell, model, path, 2 * (2 if bidirectional else 1)


def test_native_recurrent_ops(exported) -> None:
    # Guards: the exporter unrolling the recurrence with the time axis fixed to the example length.
    cell, _, path, recurrent_nodes = exported
    assert op_counts(path)[NATIVE_OP[cell]] == recurrent_nodes  # one node per layer and direction
    if cell == "gru":
        gru = next(n for n in onnx.load(str(path)).graph.node if n.op_type == "GRU")
        assert {a.name: a.i for a in gru.attribute}["linear_before_reset"] == 1


def test_ort_matches_torch_at_other_shapes(exported) -> None:
    # Guards: silent numeric drift between what we train and what we serve.
    _, model, path, _ = exported
    session = create_session(path, "cpu")
    assert session_provider(session) == "CPUExecutionProvider"
    report = parity_report(TorchBackend(model), OrtBackend(session), _sequences(150, 1), pad_id=0)
    assert report["max_abs_diff"] < 1e-4 and report["agreement"] == 1.0
    assert set(report["by_batch_size"]) == {"batch_1", "batch_7", "batch_64"}
    check_parity(report, ExportConfig(), "test")


def test_padding_is_exact_in_onnx_runtime(exported) -> None:
    _, _, path, _ = exported
    backend = OrtBackend(create_session(path, "cpu"))
    sequences = _sequences(20, 2)
    batched = batched_logits(backend, sequences, pad_id=0, batch_size=20)
    alone = batched_logits(backend, sequences, pad_id=0, batch_size=1)
    np.testing.assert_allclose(batched, alone, rtol=0, atol=1e-5)


def test_parity_gate_fails_on_a_different_model(exported) -> None:
    # Guards: a parity check that cannot fail.
    _, model, path, _ = exported
    other = build_model("classify", ModelConfig(cell="gru", embed_dim=16, hidden=24), vocab_size=40, num_classes=2)
    report = parity_report(TorchBackend(other.eval()), OrtBackend(create_session(path, "cpu")), _sequences(30, 3), 0)
    with pytest.raises(StageError, match="does not match PyTorch"):
        check_parity(report, ExportConfig(), "test")


def test_int8_and_fp16_files(exported, tmp_path: Path) -> None:
    cell, model, path, recurrent_nodes = exported
    quantize_int8(path, tmp_path / "m.int8.onnx")
    convert_fp16(path, tmp_path / "m.fp16.onnx")
    ops = op_counts(tmp_path / "m.int8.onnx")
    size = tmp_path.joinpath("m.int8.onnx").stat().st_size
    if cell == "lstm":
        assert ops["DynamicQuantizeLSTM"] == recurrent_nodes and size < 0.35 * path.stat().st_size
    else:  # the runtime's dynamic quantizer leaves GRU and RNN in float
        assert ops[NATIVE_OP[cell]] == recurrent_nodes
    int8 = batched_logits(OrtBackend(create_session(tmp_path / "m.int8.onnx", "cpu")), _sequences(50, 4), 0)
    fp32 = batched_logits(TorchBackend(model), _sequences(50, 4), 0)
    assert np.abs(int8 - fp32).max() < 0.2  # int8 is close, not equal
    assert tmp_path.joinpath("m.fp16.onnx").stat().st_size < 0.6 * path.stat().st_size
    onnx.checker.check_model(str(tmp_path / "m.fp16.onnx"))
