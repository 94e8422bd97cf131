"""Causal recurrent language model (N vs N generation) and its conditioned form (1 vs N).

The recurrent state is an explicit input and output of ``forward``, packed into one tensor
``state`` of shape (layers, B, state_size): for an LSTM the hidden and cell states side by side
(state_size = 2 * hidden), for a GRU or vanilla RNN the hidden state (state_size = hidden). So one
graph serves training with truncated backpropagation through time (the state of one batch is the
start of the next, detached), evaluation over a whole text, and generation one character per step.

With ``num_conditions`` > 0 the model also learns one initial state per condition (a sentiment
label, say): ``condition_state(condition)`` gives the state the text is generated from.

References: Karpathy's char-rnn; pytorch/examples word_language_model (the split of model, data,
loop and generation).
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.config import ModelConfig

_CELLS: dict[str, tuple[type[nn.RNNBase], dict[str, str]]] = {
    "rnn_tanh": (nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, {}),
    "gru": (nn.GRU, {}),
}


class LanguageModel(nn.Module):
    """Embedding -> stacked unidirectional RNN/LSTM/GRU -> linear over the vocabulary."""

    def __init__(self, config: ModelConfig, vocab_size: int, pad_id: int = 0, num_conditions: int = 0) -> None:
        super().__init__()
        module, options = _CELLS[config.cell]
        self.cell = config.cell
        self.layers = config.layers
        self.hidden = config.hidden
        self.embed = nn.Embedding(vocab_size, config.embed_dim, padding_idx=pad_id)
        self.rnn = module(config.embed_dim, config.hidden, num_layers=config.layers, batch_first=True,
                          dropout=config.dropout if config.layers > 1 else 0.0, **options)
        self.drop = nn.Dropout(config.dropout)
        self.out = nn.Linear(config.hidden, vocab_size)
        self.conditions = nn.Embedding(num_conditions, config.layers * self.state_size) if num_conditions else None

    @property
    def state_size(self) -> int:
        """Features per layer in the packed state: 2 * hidden for an LSTM (h and c), hidden otherwise."""
        return 2 * self.hidden if self.cell == "lstm" else self.hidden

    def initial_state(self, batch: int) -> torch.Tensor:
        """The all-zero state a text starts from without a condition: (layers, B, state_size)."""
        return torch.zeros(self.layers, batch, self.state_size, device=self.out.weight.device)

    def condition_state(self, condition: torch.Tensor) -> torch.Tensor:
        """The learnt initial state of each condition id (B,) -> (layers, B, state_size)."""
        if self.conditions is None:
            raise ValueError("this language model was trained without conditions")
        rows = self.conditions(condition)  # (B, layers * S)
        return rows.view(-1, self.layers, self.state_size).transpose(0, 1).contiguous()  # (L, B, S)

    def forward(self, tokens: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Read ``tokens`` (B, T) from ``state`` (L, B, S); return logits (B, T, V) for the next token
        at every step, and the state after the last step (L, B, S)."""
        x = self.drop(self.embed(tokens))  # (B, T, E)
        if self.cell == "lstm":
            h, c = state.split(self.hidden, dim=-1)  # (L, B, H) each
            out, (h, c) = self.rnn(x, (h.contiguous(), c.contiguous()))  # (B, T, H)
            next_state = torch.cat([h, c], dim=-1)  # (L, B, 2H)
        else:
            out, next_state = self.rnn(x, state.contiguous())  # (B, T, H), (L, B, H)
        return self.out(self.drop(out)), next_state  # (B, T, V), (L, B, S)


def build_language_model(config: ModelConfig, vocab_size: int, pad_id: int = 0, num_classes: int = 0,
                         **_: int) -> LanguageModel:
    """The registry's constructor: ``num_classes`` conditions (0 for a plain language model)."""
    return LanguageModel(config, vocab_size, pad_id, num_conditions=num_classes)
