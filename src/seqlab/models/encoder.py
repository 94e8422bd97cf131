"""Recurrent encoder: RNN, LSTM or GRU; uni- or bidirectional; stacked; residual; exact under padding.

Each layer and direction is its own single-layer recurrent module: a fused torch module (cuDNN /
oneDNN kernels, exported to native ONNX RNN/LSTM/GRU nodes) or, with ``impl: scratch``, the
step-by-step equations of ``seqlab.models.cells`` with the same parameter names.

The backward direction reads every sequence reversed *within its own length*, so right padding
never reaches a real position: a padded batch gives, per sequence, exactly what that sequence
gives alone, in torch and in ONNX Runtime.
(PackedSequence would do the same in torch but does not export to ONNX.)
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.config import ModelConfig
from seqlab.models.cells import ScratchRecurrent

_FUSED: dict[str, tuple[type[nn.RNNBase], dict[str, str]]] = {
    "rnn_tanh": (nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, {}),
    "gru": (nn.GRU, {}),
}


def make_recurrent_layer(cell: str, input_size: int, hidden: int, impl: str = "fused") -> nn.Module:
    """One single-direction, single-layer recurrent module for ``cell``: fused kernel or scratch equations."""
    if cell not in _FUSED:
        raise ValueError(f"unknown cell '{cell}' (choose from: {', '.join(_FUSED)})")
    if impl == "scratch":
        return ScratchRecurrent(cell, input_size, hidden)
    module, options = _FUSED[cell]
    return module(input_size, hidden, batch_first=True, **options)


def valid_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, T) bool: True at the real (non-padding) positions of each sequence."""
    positions = torch.arange(steps, device=lengths.device).unsqueeze(0)  # (1, T)
    return positions < lengths.unsqueeze(1)  # (B, T)


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of ``x`` (B, T, D) over its first ``length`` steps; padding stays put."""
    positions = torch.arange(x.shape[1], device=x.device).unsqueeze(0)  # (1, T)
    last = lengths.unsqueeze(1) - 1  # (B, 1)
    index = torch.where(positions <= last, last - positions, positions)  # (B, T)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))  # (B, T, D)


class RecurrentEncoder(nn.Module):
    """Stacked (bi)directional recurrent layers over embedded tokens.

    With ``residual`` every layer adds its input to its output, h_l = cell_l(h_{l-1}) + h_{l-1}
    (h_0 being the embedded tokens), through a bias-free linear projection where the widths differ.
    """

    def __init__(self, config: ModelConfig, input_size: int) -> None:
        super().__init__()
        self.directions = 2 if config.bidirectional else 1
        self.hidden = config.hidden
        self.layers = nn.ModuleList()
        self.shortcuts = nn.ModuleList()
        for layer in range(config.layers):
            width = input_size if layer == 0 else self.output_size
            self.layers.append(nn.ModuleList(
                make_recurrent_layer(config.cell, width, config.hidden, config.impl) for _ in range(self.directions)
            ))
            if config.residual:
                same = width == self.output_size
                self.shortcuts.append(nn.Identity() if same else nn.Linear(width, self.output_size, bias=False))
        self.between_layers = nn.Dropout(config.dropout)

    @property
    def output_size(self) -> int:
        """Features per time step: hidden size times directions."""
        return self.hidden * self.directions

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Encode ``x`` (B, T, E) -> (B, T, directions * hidden); values at padding are meaningless."""
        for depth, directions in enumerate(self.layers):
            layer_input = self.between_layers(x) if depth > 0 else x
            forward_out, _ = directions[0](layer_input)  # (B, T, H)
            outputs = [forward_out]
            if self.directions == 2:
                backward_out, _ = directions[1](reverse_within_length(layer_input, lengths))  # reversed time
                outputs.append(reverse_within_length(backward_out, lengths))
            out = torch.cat(outputs, dim=-1)  # (B, T, D*H)
            x = out + self.shortcuts[depth](x) if self.shortcuts else out
        return x
