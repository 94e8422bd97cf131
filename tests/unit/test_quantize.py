"""int8 GRU/RNN rewrite: weights round-trip within a step; both paths of the batch switch match float."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from seqlab.export.quantize import SCAN_MIN_BATCH, WEIGHT_LIMIT, quantize_recurrent, symmetric_int8
from seqlab.inference.sessions import create_session

HIDDEN, INPUT = 16, 8


def test_symmetric_int8_reproduces_each_row_within_half_a_step() -> None:
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(1, 12, 5)).astype(np.float32) * rng.uniform(0.01, 3, size=(1, 12, 1))
    weights[0, 3] = 0  # an all-zero row must not divide by zero
    codes, scale = symmetric_int8(weights, axis=1)
    assert codes.dtype == np.int8 and scale.shape == (12,) and np.abs(codes).max() <= WEIGHT_LIMIT
    np.testing.assert_array_equal(np.abs(codes).max(axis=(0, 2))[[0, 1, 2, 4]], WEIGHT_LIMIT)  # each row: full range
    error = np.abs(codes * scale[None, :, None] - weights)
    assert (error <= scale[None, :, None] / 2 + 1e-7).all()


def _recurrent_model(op: str, rng: np.random.Generator, **attributes: object) -> onnx.ModelProto:
    """One GRU/RNN node: X (T, B, INPUT) and initial_h (1, B, HIDDEN) in; Y and Y_h out.

    Weights are multiples of a power of two per row, so the int8 codes represent them exactly.
    """
    gates = 3 if op == "GRU" else 1
    weights = {"B": rng.normal(scale=0.1, size=(1, 2 * gates * HIDDEN))}
    for key, width in (("W", INPUT), ("R", HIDDEN)):
        codes = rng.integers(-WEIGHT_LIMIT, WEIGHT_LIMIT + 1, (1, gates * HIDDEN, width))
        codes[0, :, 0] = WEIGHT_LIMIT  # each row's largest code is the limit: its scale is exactly the power of two
        weights[key] = codes * 2.0 ** rng.integers(-11, -8, (1, gates * HIDDEN, 1))
    node = helper.make_node(op, ["X", "W", "R", "B", "", "h0"], ["Y", "Y_h"], hidden_size=HIDDEN, **attributes)
    graph = helper.make_graph(
        [node], "recurrent",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", INPUT]),
         helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, "B", HIDDEN])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", 1, "B", HIDDEN]),
         helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [1, "B", HIDDEN])],
        [numpy_helper.from_array(value.astype(np.float32), key) for key, value in weights.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _run(model: onnx.ModelProto, path, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    onnx.save(model, str(path))
    feeds = {"X": rng.normal(size=(9, batch, INPUT)).astype(np.float32),
             "h0": rng.uniform(-0.5, 0.5, size=(1, batch, HIDDEN)).astype(np.float32)}
    return create_session(path, "cpu").run(None, feeds)


@pytest.mark.parametrize(("op", "attributes"), [("GRU", {"linear_before_reset": 1}), ("RNN", {}),
                                                ("RNN", {"activations": ["Relu"]})])
def test_int8_recurrent_matches_float_on_both_paths(op: str, attributes: dict, tmp_path) -> None:
    float_model = _recurrent_model(op, np.random.default_rng(1), **attributes)
    int8_model = onnx.ModelProto()
    int8_model.CopyFrom(float_model)
    assert quantize_recurrent(int8_model) == 1
    onnx.checker.check_model(int8_model)
    assert {t.name for t in int8_model.graph.initializer} & {"W", "R"} == set()  # no float W or R left
    switch = next(n for n in int8_model.graph.node if n.op_type == "If")
    then_branch = next(a.g for a in switch.attribute if a.name == "then_branch")
    assert {"DynamicQuantizeMatMul", "Scan"} <= {n.op_type for n in then_branch.node}
    for batch in (1, SCAN_MIN_BATCH - 1, SCAN_MIN_BATCH, 40):
        expected = _run(float_model, tmp_path / "float.onnx", batch, np.random.default_rng(batch))
        got = _run(int8_model, tmp_path / "int8.onnx", batch, np.random.default_rng(batch))
        for want, have in zip(expected, got, strict=True):
            assert have.shape == want.shape
            error = np.abs(have - want).max()
            if batch < SCAN_MIN_BATCH:  # the float kernel on the (here exactly) dequantized weights
                assert error < 1e-5
            else:  # the Scan: int8 weights, activations quantized to uint8 at run time
                assert 1e-6 < error < 0.03


def test_other_recurrent_nodes_get_dequantized_weights_only(tmp_path) -> None:
    # linear_before_reset=0 multiplies R by (r * h): the Scan does not implement it, the float kernel runs.
    float_model = _recurrent_model("GRU", np.random.default_rng(2))
    int8_model = onnx.ModelProto()
    int8_model.CopyFrom(float_model)
    assert quantize_recurrent(int8_model) == 1
    assert [n.op_type for n in int8_model.graph.node].count("If") == 0
    assert {t.data_type for t in int8_model.graph.initializer if t.name.endswith(("W_int8", "R_int8"))} == {
        TensorProto.INT8}
    for batch in (1, 40):
        expected = _run(float_model, tmp_path / "float.onnx", batch, np.random.default_rng(batch))
        got = _run(int8_model, tmp_path / "int8.onnx", batch, np.random.default_rng(batch))
        for want, have in zip(expected, got, strict=True):
            np.testing.assert_allclose(have, want, rtol=0, atol=1e-5)
