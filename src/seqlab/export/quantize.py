"""Smaller models for serving: int8 for the CPU, float16 for CUDA.

ONNX Runtime's dynamic quantizer makes LSTM a DynamicQuantizeLSTM and quantizes MatMul, Gemm and the
embedding Gather, but leaves GRU and RNN nodes in float (it has no quantized kernel for them).
``quantize_recurrent`` finishes the job: int8 weights for every GRU/RNN node, and an int8 Scan that
beats the float kernel on large batches (figures in docs/library-notes.md).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from onnx import AttributeProto, GraphProto, NodeProto, TensorProto, ValueInfoProto, helper, numpy_helper

from seqlab.io import atomic_path

SCAN_MIN_BATCH = 8
"""Batches at least this large run the int8 Scan; smaller ones the runtime's float kernel on the
dequantized weights (there the Scan's per-step overhead outweighs the int8 arithmetic)."""

WEIGHT_LIMIT = 63
"""Largest int8 weight code, 7 bits as with the runtime's ``reduce_range``: CPUs without VNNI (AVX2, and
AVX-512 before VNNI) multiply uint8 activations by int8 weights with an instruction (vpmaddubsw) that
adds two products into int16 and saturates when both are large; 255 * 63 * 2 fits, 255 * 127 * 2 does not.
A bundle is built once and served on any CPU, so every int8 model takes the 7-bit codes."""

MS_DOMAIN = "com.microsoft"  # ONNX Runtime's contrib ops (DynamicQuantizeMatMul)
GATES = {"GRU": 3, "RNN": 1}  # gate blocks stacked in W, R and B (GRU order: z, r, h)
_SCAN_ACTIVATIONS = {"GRU": ([], ["Sigmoid", "Tanh"]), "RNN": ([], ["Tanh"], ["Relu"])}


def quantize_int8(source: Path, target: Path) -> None:
    """int8 weights for every layer: ONNX Runtime dynamic quantization, then ``quantize_recurrent``.

    LSTM becomes DynamicQuantizeLSTM and MatMul/Gemm/Gather are quantized by the runtime (uint8
    activations computed at run time); GRU and RNN nodes, which it leaves in float, are handled here.
    A tagger's char CNN stays in float: its graph has no Conv (see ``seqlab.models.tagger.CharCNN``), and
    its lookup tables are a product computed once when a session loads, which the quantizer leaves alone.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer suggests a pre-processing pass through the root logger; it does not apply here.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with atomic_path(target) as tmp:
            quantize_dynamic(source, tmp, weight_type=QuantType.QInt8, reduce_range=True)
            model = onnx.load(str(tmp))
            quantize_recurrent(model)
            onnx.checker.check_model(model)
            onnx.save(model, str(tmp))
    finally:
        root.setLevel(level)


def symmetric_int8(weights: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and one float32 scale per index along ``axis`` with ``weights ~= codes * scale``.

    Symmetric (zero point 0, codes in [-WEIGHT_LIMIT, WEIGHT_LIMIT]); the error is at most half a step,
    ``scale / 2``.
    """
    others = tuple(i for i in range(weights.ndim) if i != axis)
    scale = np.abs(weights).max(axis=others) / WEIGHT_LIMIT
    scale = np.where(scale > 0, scale, 1).astype(np.float32)  # an all-zero row keeps codes 0
    codes = np.clip(np.rint(weights / np.expand_dims(scale, others)), -WEIGHT_LIMIT, WEIGHT_LIMIT).astype(np.int8)
    return codes, scale


def quantize_recurrent(model: onnx.ModelProto) -> int:
    """Give every float GRU/RNN node of ``model``'s main graph int8 weights; returns how many changed.

    W and R become int8 initializers ``<prefix>W_int8``, ``<prefix>R_int8`` (symmetric, one scale per
    output row: axis 1 of [1, gates*H, in]). A node the Scan can express (forward, no sequence_lens,
    default activations, GRU with linear_before_reset=1) becomes an ``If`` on the batch size: from
    ``SCAN_MIN_BATCH`` on, the input projection of all steps is one DynamicQuantizeMatMul and the
    recurrence a Scan whose step multiplies by R with another; smaller batches, and other nodes,
    run the original op on the dequantized weights.
    """
    graph = model.graph
    floats = {t.name: numpy_helper.to_array(t) for t in graph.initializer if t.data_type == TensorProto.FLOAT}
    nodes: list[NodeProto] = []
    replaced: set[str] = set()
    count = 0
    for node in graph.node:
        if node.op_type not in GATES or node.input[1] not in floats or node.input[2] not in floats:
            nodes.append(node)
            continue
        prefix = f"{node.op_type.lower()}{count}_int8/"
        for key, name in (("W", node.input[1]), ("R", node.input[2])):
            codes, scale = symmetric_int8(floats[name], axis=1)
            graph.initializer.extend([numpy_helper.from_array(codes, f"{prefix}{key}_int8"),
                                      numpy_helper.from_array(scale, f"{prefix}{key}_scale")])
        if _scannable(node, floats):
            graph.initializer.append(numpy_helper.from_array(_scan_bias(node, floats), f"{prefix}B"))
            nodes.extend(_batch_switch(node, prefix))
        else:
            nodes.extend(_dequantized(node, prefix, list(node.output), [*node.input, ""][3]))
        replaced.update(node.input[1:4])
        count += 1
    graph.ClearField("node")
    graph.node.extend(nodes)
    used = _used_names(graph)
    kept = [t for t in graph.initializer if t.name not in replaced or t.name in used]
    graph.ClearField("initializer")
    graph.initializer.extend(kept)
    if count and all(entry.domain != MS_DOMAIN for entry in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return count


def _used_names(graph: GraphProto) -> set[str]:
    """Every tensor name read by a node of ``graph`` or of its subgraphs, or output by ``graph``."""
    names = {output.name for output in graph.output}
    for node in graph.node:
        names.update(node.input)
        for attribute in node.attribute:
            for subgraph in [attribute.g] if attribute.type == AttributeProto.GRAPH else attribute.graphs:
                names |= _used_names(subgraph)
    return names


def _attributes(node: NodeProto) -> dict[str, object]:
    """The node's attributes as Python values (strings decoded)."""
    values = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return {k: [s.decode() for s in v] if k == "activations" else v.decode() if isinstance(v, bytes) else v
            for k, v in values.items()}


def _scannable(node: NodeProto, floats: dict[str, np.ndarray]) -> bool:
    """Whether the int8 Scan computes what ``node`` computes (up to quantization)."""
    attributes = _attributes(node)
    inputs = [*node.input, "", "", "", ""]
    known = {"hidden_size", "activations", "direction", "linear_before_reset"}
    return (set(attributes) <= known and attributes.get("direction", "forward") == "forward"
            and attributes.get("activations", []) in _SCAN_ACTIVATIONS[node.op_type]
            and attributes.get("linear_before_reset", 0) == (node.op_type == "GRU")
            and (not inputs[3] or inputs[3] in floats) and not inputs[4])


def _scan_bias(node: NodeProto, floats: dict[str, np.ndarray]) -> np.ndarray:
    """B rearranged with the same results, (1, 2*G*H): [bias of the input projection, bias of h R^T].

    Wb + Rb move into the input projection, except GRU's Rb_h, which the reset gate multiplies.
    """
    size = GATES[node.op_type] * int(_attributes(node)["hidden_size"])
    name = [*node.input, ""][3]
    bias = floats[name][0] if name else np.zeros(2 * size, np.float32)
    moving = 2 * size // 3 if node.op_type == "GRU" else size  # Rb of the leading gates moves
    moved = np.concatenate([bias[size:size + moving], np.zeros(size - moving, np.float32)])
    return np.concatenate([bias[:size] + moved, bias[size:] - moved])[None]


def _dequantized(node: NodeProto, prefix: str, outputs: list[str], bias: str) -> list[NodeProto]:
    """``node`` on float W and R rebuilt from the int8 initializers (codes * row scale) and ``bias``.

    Cast and Mul compute what DequantizeLinear(axis=1) computes, but ONNX Runtime constant-folds them
    into float weights when the session is created; it keeps DequantizeLinear nodes (for its QDQ
    fusions) and would dequantize on every call.
    """
    inputs = [*node.input, "", ""][:max(len(node.input), 4)]
    inputs[1:4] = [f"{prefix}W", f"{prefix}R", bias]
    copy = helper.make_node(node.op_type, inputs, outputs, name=node.name)
    copy.attribute.extend(node.attribute)
    nodes = [_constant(f"{prefix}row_axes", [0, 2])]
    for key in ("W", "R"):
        nodes += [helper.make_node("Cast", [f"{prefix}{key}_int8"], [f"{prefix}{key}_codes"], to=TensorProto.FLOAT),
                  helper.make_node("Unsqueeze", [f"{prefix}{key}_scale", f"{prefix}row_axes"],
                                   [f"{prefix}{key}_row_scale"]),  # (1, G*H, 1)
                  helper.make_node("Mul", [f"{prefix}{key}_codes", f"{prefix}{key}_row_scale"], [f"{prefix}{key}"])]
    return [*nodes, copy]


def _batch_switch(node: NodeProto, prefix: str) -> list[NodeProto]:
    """Nodes that run the int8 Scan for batches of ``SCAN_MIN_BATCH`` or more, else the float ``node``."""
    hidden = int(_attributes(node)["hidden_size"])
    outputs = [name or f"{prefix}unused_{i}" for i, name in enumerate([*node.output, "", ""][:2])]
    float_outputs = [f"{prefix}float/Y", f"{prefix}float/Y_h"]
    float_branch = helper.make_graph(_dequantized(node, prefix, float_outputs, f"{prefix}B"), f"{prefix}float", [],
                                     _state_infos(float_outputs, hidden))
    return [
        _constant(f"{prefix}one", [1]),
        _constant(f"{prefix}min_batch", [SCAN_MIN_BATCH]),
        helper.make_node("Shape", [node.input[0]], [f"{prefix}x_shape"]),
        helper.make_node("Gather", [f"{prefix}x_shape", f"{prefix}one"], [f"{prefix}batch"], axis=0),  # (1,)
        helper.make_node("GreaterOrEqual", [f"{prefix}batch", f"{prefix}min_batch"], [f"{prefix}use_scan"]),
        helper.make_node("If", [f"{prefix}use_scan"], outputs, name=node.name or f"{prefix}switch",
                         then_branch=_scan_branch(node, prefix), else_branch=float_branch),
    ]


def _constant(name: str, values: list[int]) -> NodeProto:
    """A Constant node holding a 1-D int64 tensor."""
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(values, np.int64)))


def _state_infos(names: list[str], hidden: int) -> list[ValueInfoProto]:
    """Value infos of a recurrent node's outputs Y (T, 1, B, H) and Y_h (1, B, H)."""
    return [helper.make_tensor_value_info(names[0], TensorProto.FLOAT, [None, 1, None, hidden]),
            helper.make_tensor_value_info(names[1], TensorProto.FLOAT, [1, None, hidden])]


def _scan_branch(node: NodeProto, prefix: str) -> GraphProto:
    """The int8 path: one DynamicQuantizeMatMul for the input projection of all steps, then a Scan.

    Reads the node's X and initial_h, the int8 initializers, B and the batch size from the outer scope;
    the weight and bias reshaping below depends on initializers only and is folded by the runtime.
    """
    hidden = int(_attributes(node)["hidden_size"])
    inputs = [*node.input, "", "", ""]
    p = f"{prefix}scan/"
    nodes = [_constant(f"{p}axis0", [0]), _constant(f"{p}axis1", [1]), _constant(f"{p}flat", [-1])]
    for key in ("W", "R"):  # int8 [1, G*H, in] -> [in, G*H], the layout of DynamicQuantizeMatMul's B
        nodes += [helper.make_node("Transpose", [f"{prefix}{key}_int8"], [f"{p}{key}_t"], perm=[0, 2, 1]),
                  helper.make_node("Squeeze", [f"{p}{key}_t", f"{p}axis0"], [f"{p}{key}"])]
    nodes += [helper.make_node("Reshape", [f"{prefix}B", f"{p}flat"], [f"{p}B"]),
              helper.make_node("Split", [f"{p}B"], [f"{p}x_bias", f"{p}h_bias"], axis=0),
              helper.make_node("DynamicQuantizeMatMul", [inputs[0], f"{p}W", f"{prefix}W_scale", "", f"{p}x_bias"],
                               [f"{p}x_proj"], domain=MS_DOMAIN)]  # (T, B, G*H)
    if inputs[5]:
        nodes.append(helper.make_node("Squeeze", [inputs[5], f"{p}axis0"], [f"{p}h0"]))
    else:
        nodes += [_constant(f"{p}hidden", [hidden]),
                  helper.make_node("Concat", [f"{prefix}batch", f"{p}hidden"], [f"{p}h_shape"], axis=0),
                  helper.make_node("ConstantOfShape", [f"{p}h_shape"], [f"{p}h0"])]
    step = _gru_step(prefix, hidden) if node.op_type == "GRU" else _rnn_step(prefix, hidden, node)
    outputs = [f"{p}Y", f"{p}Y_h"]
    nodes += [helper.make_node("Scan", [f"{p}h0", f"{p}x_proj"], [f"{p}h_last", f"{p}states"],
                               num_scan_inputs=1, body=step),
              helper.make_node("Unsqueeze", [f"{p}states", f"{p}axis1"], [outputs[0]]),
              helper.make_node("Unsqueeze", [f"{p}h_last", f"{p}axis0"], [outputs[1]])]
    return helper.make_graph(nodes, f"{prefix}scan", [], _state_infos(outputs, hidden))


def _step_graph(prefix: str, nodes: list[NodeProto], hidden: int, width: int) -> GraphProto:
    """A Scan body: state h (B, H) and projected input x (B, width) in, next state and a copy of it out.

    The body starts with h_r = h R^T + h_bias, int8 R and the state quantized to uint8 at each step.
    """
    s = f"{prefix}step/"
    product = helper.make_node("DynamicQuantizeMatMul", [f"{s}h", f"{prefix}scan/R", f"{prefix}R_scale", "",
                                                         f"{prefix}scan/h_bias"], [f"{s}h_r"], domain=MS_DOMAIN)
    return helper.make_graph(
        [product, *nodes, helper.make_node("Identity", [f"{s}h_next"], [f"{s}y"])], f"{prefix}step",
        [helper.make_tensor_value_info(f"{s}h", TensorProto.FLOAT, [None, hidden]),
         helper.make_tensor_value_info(f"{s}x", TensorProto.FLOAT, [None, width])],
        [helper.make_tensor_value_info(f"{s}h_next", TensorProto.FLOAT, [None, hidden]),
         helper.make_tensor_value_info(f"{s}y", TensorProto.FLOAT, [None, hidden])],
    )


def _gru_step(prefix: str, hidden: int) -> GraphProto:
    """One GRU step (linear_before_reset=1) given x = X W^T + every bias but Rb_h, h_r = h R^T + [0, 0, Rb_h]:
    z, r = sigmoid(x_zr + h_r_zr); n = tanh(x_n + r * h_r_n); h' = n + z * (h - n)."""
    s = f"{prefix}step/"
    nodes = [
        _constant(f"{s}split", [2 * hidden, hidden]),
        helper.make_node("Split", [f"{s}x", f"{s}split"], [f"{s}x_zr", f"{s}x_n"], axis=1),
        helper.make_node("Split", [f"{s}h_r", f"{s}split"], [f"{s}h_r_zr", f"{s}h_r_n"], axis=1),
        helper.make_node("Add", [f"{s}x_zr", f"{s}h_r_zr"], [f"{s}a_zr"]),
        helper.make_node("Sigmoid", [f"{s}a_zr"], [f"{s}zr"]),
        helper.make_node("Split", [f"{s}zr"], [f"{s}z", f"{s}r"], axis=1),
        helper.make_node("Mul", [f"{s}r", f"{s}h_r_n"], [f"{s}r_h_r_n"]),
        helper.make_node("Add", [f"{s}x_n", f"{s}r_h_r_n"], [f"{s}a_n"]),
        helper.make_node("Tanh", [f"{s}a_n"], [f"{s}n"]),
        helper.make_node("Sub", [f"{s}h", f"{s}n"], [f"{s}h_minus_n"]),
        helper.make_node("Mul", [f"{s}z", f"{s}h_minus_n"], [f"{s}z_h_minus_n"]),
        helper.make_node("Add", [f"{s}n", f"{s}z_h_minus_n"], [f"{s}h_next"]),
    ]
    return _step_graph(prefix, nodes, hidden, 3 * hidden)


def _rnn_step(prefix: str, hidden: int, node: NodeProto) -> GraphProto:
    """One vanilla RNN step given x = X W^T + Wb + Rb, h_r = h R^T: h' = f(x + h_r), f = Tanh or Relu."""
    s = f"{prefix}step/"
    activation = (_attributes(node).get("activations") or ["Tanh"])[0]
    nodes = [helper.make_node("Add", [f"{s}x", f"{s}h_r"], [f"{s}a"]),
             helper.make_node(activation, [f"{s}a"], [f"{s}h_next"])]
    return _step_graph(prefix, nodes, hidden, hidden)


def convert_fp16(source: Path, target: Path) -> None:
    """Float16 weights and compute, float32 inputs and outputs (for the CUDA execution provider)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    with atomic_path(target) as tmp:
        onnx.save(model, str(tmp))


def op_counts(path: Path) -> dict[str, int]:
    """How many nodes of each op type the graph holds (shows what quantization changed)."""
    return dict(sorted(Counter(node.op_type for node in onnx.load(str(path)).graph.node).items()))
