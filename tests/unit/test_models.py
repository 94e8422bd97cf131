"""Models: shapes, every cell, and padding that never changes a result."""

import pytest
import torch

from seqlab.config import ModelConfig
from seqlab.models.encoder import reverse_within_length
from seqlab.models.registry import build_model, count_parameters

CELLS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
VARIANTS = [
    ModelConfig(cell=cell, embed_dim=8, hidden=12, layers=layers, bidirectional=bi, pooling=pooling)
    for cell in CELLS
    for layers, bi, pooling in [(1, False, "last"), (2, True, "last"), (1, True, "max"), (2, False, "mean")]
] + [
    ModelConfig(cell=cell, embed_dim=8, hidden=12, layers=3, bidirectional=True, residual=True, impl=impl)
    for cell in CELLS
    for impl in ["fused", "scratch"]
]


def _classifier(config: ModelConfig) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("classify", config, vocab_size=30, num_classes=3, pad_id=0).eval()


def test_reverse_within_length_keeps_padding_in_place() -> None:
    x = torch.arange(8.0).view(2, 4, 1)  # two sequences of 4 steps, one feature
    out = reverse_within_length(x, torch.tensor([4, 2]))
    assert out.squeeze(-1).tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]


def _variant_id(c: ModelConfig) -> str:
    return f"{c.cell}-l{c.layers}-bi{int(c.bidirectional)}-{c.pooling}-res{int(c.residual)}-{c.impl}"


@pytest.mark.parametrize("config", VARIANTS, ids=_variant_id)
def test_padding_never_changes_a_result(config: ModelConfig) -> None:
    # Guards: padding leaking into results, the classic bug of bidirectional RNNs on padded batches.
    model = _classifier(config)
    torch.manual_seed(1)
    lengths = torch.tensor([9, 4, 1, 6])
    tokens = torch.randint(1, 30, (4, 9)) * (torch.arange(9) < lengths.unsqueeze(1))  # pads are 0
    with torch.no_grad():
        batched = model(tokens, lengths)
        alone = torch.cat([model(tokens[i : i + 1, : lengths[i]], lengths[i : i + 1]) for i in range(4)])
        extra_pad = model(torch.nn.functional.pad(tokens, (0, 5), value=0), lengths)
    assert batched.shape == (4, 3)
    torch.testing.assert_close(batched, alone, rtol=0, atol=1e-6)
    torch.testing.assert_close(extra_pad, alone, rtol=0, atol=1e-6)


def test_bidirectional_doubles_the_recurrent_parameters() -> None:
    uni = _classifier(ModelConfig(cell="gru", embed_dim=8, hidden=12))
    bi = _classifier(ModelConfig(cell="gru", embed_dim=8, hidden=12, bidirectional=True))
    recurrent = lambda m: sum(p.numel() for p in m.encoder.parameters())  # noqa: E731
    assert recurrent(bi) == 2 * recurrent(uni)
    assert count_parameters(bi) > count_parameters(uni)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_residual_adds_each_layers_input_with_a_projection_only_where_widths_differ(bidirectional: bool) -> None:
    config = ModelConfig(cell="lstm", embed_dim=8, hidden=12, layers=4, bidirectional=bidirectional, residual=True)
    model = _classifier(config)
    shortcuts = model.encoder.shortcuts
    assert len(shortcuts) == 4
    assert isinstance(shortcuts[0], torch.nn.Linear) and shortcuts[0].weight.shape == (model.encoder.output_size, 8)
    assert all(isinstance(s, torch.nn.Identity) for s in shortcuts[1:])
    # With every recurrent weight zeroed, LSTM outputs are 0 and each layer passes its input through.
    for parameter in model.encoder.layers.parameters():
        torch.nn.init.zeros_(parameter)
    x = torch.randn(2, 5, 8)
    out = model.encoder(x, torch.tensor([5, 3]))
    torch.testing.assert_close(out, shortcuts[0](x))


def test_residual_embedding_width_equal_to_output_needs_no_projection() -> None:
    model = _classifier(ModelConfig(cell="gru", embed_dim=24, hidden=12, layers=2, bidirectional=True, residual=True))
    assert all(isinstance(s, torch.nn.Identity) for s in model.encoder.shortcuts)
    plain = _classifier(ModelConfig(cell="gru", embed_dim=24, hidden=12, layers=2, bidirectional=True))
    assert count_parameters(model) == count_parameters(plain) and len(plain.encoder.shortcuts) == 0


def test_unknown_structure_lists_choices() -> None:
    with pytest.raises(ValueError, match="classify"):
        build_model("translate", ModelConfig(), vocab_size=5, num_classes=2)
