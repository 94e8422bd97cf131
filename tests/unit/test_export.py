"""ONNX export: ORT matches torch at new shapes, padding stays exact in ORT, quantization works."""

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from seqlab.config import ExportConfig, ModelConfig
from seqlab.entry import StageError
from seqlab.export.onnx_export import export_model
from seqlab.export.parity import check_parity, parity_report
from seqlab.export.quantize import convert_fp16, op_counts, quantize_int8
from seqlab.inference.backends import OrtBackend, batched_outputs, stack_rows
from seqlab.inference.sessions import create_session, session_provider
from seqlab.inference.torch_models import TorchBackend
from seqlab.models.registry import build_model
from seqlab.text.encoding import TextEncoder
from seqlab.text.vocab import SPECIALS, Vocab

VOCAB_200 = Vocab([*SPECIALS, *map(str, range(196))])
NATIVE_OP = {"rnn_tanh": "RNN", "rnn_relu": "RNN", "lstm": "LSTM", "gru": "GRU"}


def _sequences(count: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(4, 40, size=int(n)).tolist() for n in rng.integers(1, 60, size=count)]


CASES = [("lstm", True), ("gru", True), ("rnn_tanh", False), ("rnn_relu", True)]


def _export(cell: str, bidirectional: bool, hidden: int, folder: Path) -> tuple[str, torch.nn.Module, Path, int]:
    torch.manual_seed(0)
    config = ModelConfig(cell=cell, embed_dim=32, hidden=hidden, layers=2, bidirectional=bidirectional, pooling="max")
    model = build_model("classify", config, vocab_size=200, num_classes=2, pad_id=0).eval()
    export_model(model, folder / "model.onnx", 17, TextEncoder("char", VOCAB_200, 64))
    return cell, model, folder / "model.onnx", 2 * (2 if bidirectional else 1)


@pytest.fixture(scope="module", params=CASES, ids=lambda p: f"{p[0]}-bi{int(p[1])}")
def exported(request, tmp_path_factory):
    cell, bidirectional = request.param
    return _export(cell, bidirectional, 64, tmp_path_factory.mktemp(cell))


@pytest.fixture(scope="module", params=CASES, ids=lambda p: f"{p[0]}-bi{int(p[1])}")
def wide(request, tmp_path_factory):
    """Recurrent weights dominate the file (vanilla RNNs of the small fixture are mostly graph)."""
    cell, bidirectional = request.param
    return _export(cell, bidirectional, 160, tmp_path_factory.mktemp(f"wide-{cell}"))


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
    batched = stack_rows(batched_outputs(backend, sequences, pad_id=0, batch_size=20))
    alone = stack_rows(batched_outputs(backend, sequences, pad_id=0, batch_size=1))
    np.testing.assert_allclose(batched, alone, rtol=0, atol=1e-5)


def test_parity_gate_fails_on_a_different_model(exported) -> None:
    # Guards: a parity check that cannot fail.
    _, model, path, _ = exported
    other = build_model("classify", ModelConfig(cell="gru", embed_dim=16, hidden=24), vocab_size=40, num_classes=2)
    report = parity_report(TorchBackend(other.eval()), OrtBackend(create_session(path, "cpu")), _sequences(30, 3), 0)
    with pytest.raises(StageError, match="does not match PyTorch"):
        check_parity(report, ExportConfig(), "test")


def _all_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The nodes of ``graph`` and of every subgraph (If branches, Scan bodies)."""
    nodes = []
    for node in graph.node:
        nodes.append(node)
        for attribute in node.attribute:
            for subgraph in [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else attribute.graphs:
                nodes += _all_nodes(subgraph)
    return nodes


def test_int8_and_fp16_files(wide, tmp_path: Path) -> None:
    # Guards: a cell type left in float by int8 quantization (the runtime's quantizer skips GRU and RNN).
    cell, _, path, recurrent_nodes = wide
    int8_path = tmp_path / "m.int8.onnx"
    quantize_int8(path, int8_path)
    convert_fp16(path, tmp_path / "m.fp16.onnx")
    assert int8_path.stat().st_size < path.stat().st_size / 3
    ops = op_counts(int8_path)
    if cell == "lstm":
        assert ops["DynamicQuantizeLSTM"] == recurrent_nodes
    else:  # one If per node: an int8 Scan for large batches, the float op on dequantized weights for small ones
        assert ops["If"] == recurrent_nodes and NATIVE_OP[cell] not in ops
    graph = onnx.load(str(int8_path)).graph
    float_weights = {t.name for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    recurrent = [n for n in _all_nodes(graph) if n.op_type in {"RNN", "GRU", "LSTM", "DynamicQuantizeLSTM"}]
    assert len(recurrent) == recurrent_nodes and not float_weights & {n.input[i] for n in recurrent for i in (1, 2)}
    int8_backend, fp32_backend = OrtBackend(create_session(int8_path, "cpu")), OrtBackend(create_session(path, "cpu"))
    sequences = _sequences(100, 4)
    fp32 = stack_rows(batched_outputs(fp32_backend, sequences, 0))  # matches torch (parity test above)
    for batch_size in (1, 64):  # both sides of the int8 GRU/RNN batch switch
        int8 = stack_rows(batched_outputs(int8_backend, sequences, 0, batch_size))
        assert np.abs(int8 - fp32).max() < 0.05  # int8 is close, not equal
        assert (int8.argmax(axis=1) == fp32.argmax(axis=1)).mean() >= 0.95  # random weights: some near-ties
    assert tmp_path.joinpath("m.fp16.onnx").stat().st_size < 0.6 * path.stat().st_size
    onnx.checker.check_model(str(tmp_path / "m.fp16.onnx"))
