"""Scratch cells: the written-out equations equal torch's fused kernels, forward and backward."""

import pytest
import torch
from torch import nn

from seqlab.config import ModelConfig
from seqlab.models.cells import ScratchRecurrent
from seqlab.models.registry import build_model, fused_equivalent

FUSED = {
    "rnn_tanh": lambda *a, **k: nn.RNN(*a, nonlinearity="tanh", **k),
    "rnn_relu": lambda *a, **k: nn.RNN(*a, nonlinearity="relu", **k),
    "lstm": nn.LSTM,
    "gru": nn.GRU,
}
# Random shapes: (batch, time, input, hidden, layers, bidirectional), drawn once with a fixed seed.
_rng = torch.Generator().manual_seed(7)
SHAPES = [tuple(int(v) for v in torch.randint(1, 9, (4,), generator=_rng)) + (layers, bi)
          for layers, bi in [(1, False), (2, True), (3, False), (1, True)]]


def _pair(cell: str, input_size: int, hidden: int, layers: int, bidirectional: bool) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    fused = FUSED[cell](input_size, hidden, num_layers=layers, bidirectional=bidirectional, batch_first=True)
    scratch = ScratchRecurrent(cell, input_size, hidden, num_layers=layers, bidirectional=bidirectional)
    scratch.load_state_dict(fused.state_dict())  # same names and shapes, or this raises
    return fused, scratch


def _flat(state) -> list[torch.Tensor]:
    return list(state) if isinstance(state, tuple) else [state]


@pytest.mark.parametrize("cell", list(FUSED))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "b{}t{}i{}h{}-l{}-bi{:d}".format(*s))
def test_scratch_equals_fused_forward_and_backward(cell: str, shape: tuple) -> None:
    batch, steps, input_size, hidden, layers, bidirectional = shape
    fused, scratch = _pair(cell, input_size, hidden, layers, bidirectional)
    x = torch.randn(batch, steps, input_size)
    start = torch.randn(layers * (2 if bidirectional else 1), batch, hidden)
    hx = (start, torch.randn_like(start)) if cell == "lstm" else start
    results = []
    for module in (fused, scratch):
        inputs = x.clone().requires_grad_()
        output, final = module(inputs, hx)
        # A loss touching every output and final state, so every path carries gradient.
        loss = output.sin().sum() + sum((f * f).sum() for f in _flat(final))
        grads = torch.autograd.grad(loss, [inputs, *module.parameters()])
        results.append((output, _flat(final), grads, dict(module.named_parameters())))
    (out_f, final_f, grads_f, names_f), (out_s, final_s, grads_s, names_s) = results
    torch.testing.assert_close(out_s, out_f, rtol=0, atol=1e-5)
    for s, f in zip(final_s, final_f, strict=True):
        torch.testing.assert_close(s, f, rtol=0, atol=1e-5)
    torch.testing.assert_close(grads_s[0], grads_f[0], rtol=0, atol=1e-5)  # dLoss/dx
    by_name = dict(zip(names_f, grads_f[1:], strict=True))
    for name, grad in zip(names_s, grads_s[1:], strict=True):
        torch.testing.assert_close(grad, by_name[name], rtol=0, atol=1e-5, msg=f"d/d{name}")


def test_scratch_zero_start_state_and_output_shapes() -> None:
    fused, scratch = _pair("lstm", 3, 5, 2, True)
    x = torch.randn(4, 6, 3)
    output, (h, c) = scratch(x)
    assert output.shape == (4, 6, 10) and h.shape == c.shape == (4, 4, 5)
    torch.testing.assert_close(output, fused(x)[0], rtol=0, atol=1e-5)


def test_unroll_gives_one_autograd_node_per_step() -> None:
    # The gradient study reads dLoss/dh_t from these states; earlier steps must get smaller but nonzero gradient.
    torch.manual_seed(0)
    scratch = ScratchRecurrent("rnn_tanh", 2, 4)
    x = torch.randn(3, 10, 2)
    states = scratch.unroll(x, "_l0", torch.zeros(3, 4))
    grads = torch.autograd.grad(states[-1].sum(), states)
    assert len(grads) == 10 and all(g.abs().sum() > 0 for g in grads)
    torch.testing.assert_close(grads[-1], torch.ones(3, 4))


def test_unknown_cell_is_named() -> None:
    with pytest.raises(ValueError, match="choose from: rnn_tanh, rnn_relu, lstm, gru"):
        ScratchRecurrent("elman", 2, 3)


@pytest.mark.parametrize("cell", list(FUSED))
def test_scratch_classifier_exports_through_its_fused_twin(cell: str) -> None:
    config = ModelConfig(cell=cell, embed_dim=6, hidden=5, layers=2, bidirectional=True, residual=True, impl="scratch")
    torch.manual_seed(0)
    scratch = build_model("classify", config, vocab_size=20, num_classes=3, pad_id=0).eval()
    fused = fused_equivalent(scratch, "classify", config, vocab_size=20, num_classes=3, pad_id=0)
    assert not any(isinstance(m, ScratchRecurrent) for m in fused.modules())
    tokens, lengths = torch.randint(1, 20, (4, 9)), torch.tensor([9, 5, 1, 7])
    with torch.no_grad():
        torch.testing.assert_close(fused(tokens, lengths), scratch(tokens, lengths), rtol=0, atol=1e-5)
