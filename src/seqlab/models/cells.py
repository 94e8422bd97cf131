"""Vanilla RNN, LSTM and GRU written out step by step: the equations, not a library kernel.

``ScratchRecurrent`` is a drop-in for ``torch.nn.RNN/LSTM/GRU(batch_first=True)``: same
constructor arguments, same parameter names and shapes (``weight_ih_l0``, ``bias_hh_l1_reverse``,
...), same outputs. A state dict moves freely between the two, which is how a model trained with
``impl: scratch`` is exported through the fused ONNX nodes and how the gradient study reads
dLoss/dh_t at every step (the fused kernels never expose the per-step states to autograd).

The equations, with x_t the input and h_{t-1} the previous state (torch's gate order):

    rnn:  h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)            act = tanh | relu
    lstm: i, f, g, o = split(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
          c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
          h_t = sigmoid(o) * tanh(c_t)
    gru:  r, z, n_x = split(W_ih x_t + b_ih);  r_h, z_h, n_h = split(W_hh h_{t-1} + b_hh)
          r = sigmoid(r + r_h);  z = sigmoid(z + z_h)
          n = tanh(n_x + r * n_h)                                         (reset after the product)
          h_t = (1 - z) * n + z * h_{t-1}
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
StepFn = Callable[[torch.Tensor, State, torch.Tensor, torch.Tensor], State]

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def rnn_step(activation: Callable[[torch.Tensor], torch.Tensor]) -> StepFn:
    """The vanilla RNN update for ``activation`` (tanh or relu)."""

    def step(x_proj: torch.Tensor, h: State, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
        return activation(x_proj + h @ w_hh.T + b_hh)

    return step


def lstm_step(x_proj: torch.Tensor, state: State, w_hh: torch.Tensor, b_hh: torch.Tensor) -> State:
    """One LSTM update from the projected input ``x_proj`` (B, 4H) and ``(h, c)``."""
    h, c = state
    i, f, g, o = (x_proj + h @ w_hh.T + b_hh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def gru_step(x_proj: torch.Tensor, h: State, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    """One GRU update from the projected input ``x_proj`` (B, 3H) and ``h``."""
    r_x, z_x, n_x = x_proj.chunk(3, dim=-1)
    r_h, z_h, n_h = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(r_x + r_h)
    z = torch.sigmoid(z_x + z_h)
    n = torch.tanh(n_x + r * n_h)
    return (1 - z) * n + z * h


STEPS: dict[str, StepFn] = {
    "rnn_tanh": rnn_step(torch.tanh),
    "rnn_relu": rnn_step(torch.relu),
    "lstm": lstm_step,
    "gru": gru_step,
}


def _hidden(state: State) -> torch.Tensor:
    return state[0] if isinstance(state, tuple) else state


class ScratchRecurrent(nn.Module):
    """Stacked, optionally bidirectional recurrence over (B, T, F) inputs, one Python step at a time."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False) -> None:
        super().__init__()
        if cell not in STEPS:
            raise ValueError(f"unknown cell '{cell}' (choose from: {', '.join(STEPS)})")
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.directions = 2 if bidirectional else 1
        rows = GATES[cell] * hidden_size
        bound = 1 / math.sqrt(hidden_size)  # torch's initialisation, so both impls start alike
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size * self.directions
            for suffix in self._suffixes(layer):
                for name, shape in [("weight_ih", (rows, width)), ("weight_hh", (rows, hidden_size)),
                                    ("bias_ih", (rows,)), ("bias_hh", (rows,))]:
                    self.register_parameter(f"{name}{suffix}", nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.directions]

    def _initial(self, x: torch.Tensor, hx: State | None, index: int) -> State:
        """The start state of layer-direction ``index`` (torch's h_0 / c_0 ordering)."""
        if hx is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_size)
            return (zeros, zeros) if self.cell == "lstm" else zeros
        if isinstance(hx, tuple):
            return hx[0][index], hx[1][index]
        return hx[index]

    def unroll(self, x: torch.Tensor, suffix: str, start: State) -> list[State]:
        """Run one layer-direction over ``x`` (B, T, F) forward in time; the state after every step.

        Each returned state is its own autograd node, so ``torch.autograd.grad(loss, states)``
        gives dLoss/dh_t through the recurrence.
        """
        weight = lambda name: getattr(self, f"{name}{suffix}")  # noqa: E731
        projected = x @ weight("weight_ih").T + weight("bias_ih")  # (B, T, G*H): every step in one product
        step = STEPS[self.cell]
        states, state = [], start
        for t in range(x.shape[1]):
            state = step(projected[:, t], state, weight("weight_hh"), weight("bias_hh"))
            states.append(state)
        return states

    def forward(self, x: torch.Tensor, hx: State | None = None) -> tuple[torch.Tensor, State]:
        """Like the fused module: output (B, T, D*H) of the top layer and final states (L*D, B, H)."""
        finals: list[State] = []
        for layer in range(self.num_layers):
            outputs = []
            for direction, suffix in enumerate(self._suffixes(layer)):
                start = self._initial(x, hx, layer * self.directions + direction)
                sequence = x if direction == 0 else x.flip(1)
                states = self.unroll(sequence, suffix, start)
                hidden = torch.stack([_hidden(s) for s in states], dim=1)  # (B, T, H)
                outputs.append(hidden if direction == 0 else hidden.flip(1))
                finals.append(states[-1])
            x = torch.cat(outputs, dim=-1)
        if self.cell == "lstm":
            return x, (torch.stack([h for h, _ in finals]), torch.stack([c for _, c in finals]))
        return x, torch.stack(finals)
