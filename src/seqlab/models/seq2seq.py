"""N vs M: an encoder-decoder with Bahdanau (additive) attention, e.g. grapheme-to-phoneme conversion.

encoder: embedding -> (bi)directional stacked RNN/LSTM/GRU (``RecurrentEncoder``, exact under padding)
    -> memory (B, S, D), zero at padding, and the mask of real source positions (B, S);
bridge: the forward state at the last real step and the backward state at the first (as a classifier's
    ``last`` pooling) -> tanh(linear) -> the decoder's initial state;
decoder step t, reading the previous target token y_{t-1} from the state s_{t-1} (Bahdanau et al. 2015):

    e_tj = v^T tanh(W s_{t-1} + U h_j)          (-inf at padded source positions j)
    a_t  = softmax_j(e_tj)                      c_t = sum_j a_tj h_j
    s_t  = cell([embed(y_{t-1}); c_t], s_{t-1}) logits_t = linear([s_t; c_t])

so the context chosen at step t feeds the recurrence of that step and the output (the attention
query is the top layer's hidden state; the decoder stacks ``layers`` cells of the encoder's kind, fused
or scratch). Each step depends on the previous state, so ``step`` walks its T tokens one at a time:
teacher forcing over T tokens in one call and T calls of one token give the same numbers. The
recurrent state is one tensor (layers, B, state_size) as in the language model (LSTM: [h | c]), so ONNX
graphs and the decoders carry a single array.

References: Bahdanau, Cho & Bengio 2015 (arXiv:1409.0473); Toshniwal & Livescu 2016 (attention for
grapheme-to-phoneme conversion).
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.config import ModelConfig
from seqlab.models.classifier import pool_states
from seqlab.models.encoder import RecurrentEncoder, make_recurrent_layer, valid_mask


class AdditiveAttention(nn.Module):
    """score(s, h_j) = v^T tanh(W s + U h_j); padded positions get weight exactly 0."""

    def __init__(self, query_size: int, memory_size: int, attention_dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(query_size, attention_dim, bias=False)  # W
        self.keys = nn.Linear(memory_size, attention_dim)  # U, and the one bias of the sum
        self.score = nn.Linear(attention_dim, 1, bias=False)  # v

    def forward(self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``query`` (B, Q), ``keys`` = ``self.keys(memory)`` (B, S, A) -> context (B, D), weights (B, S)."""
        energy = self.score(torch.tanh(keys + self.query(query).unsqueeze(1))).squeeze(-1)  # (B, S)
        weights = torch.softmax(energy.masked_fill(~mask, float("-inf")), dim=-1)  # (B, S)
        return torch.bmm(weights.unsqueeze(1), memory).squeeze(1), weights  # (B, D), (B, S)


class Seq2Seq(nn.Module):
    """Source ids (B, S) and lengths (B,) -> target logits, one decoder step at a time or teacher forced."""

    def __init__(self, config: ModelConfig, source_vocab_size: int, target_vocab_size: int, pad_id: int = 0) -> None:
        super().__init__()
        self.cell = config.cell
        self.layers = config.layers
        self.hidden = config.hidden
        self.embed = nn.Embedding(source_vocab_size, config.embed_dim, padding_idx=pad_id)
        self.encoder = RecurrentEncoder(config, config.embed_dim)
        memory_size = self.encoder.output_size
        self.bridge = nn.Linear(memory_size, config.layers * self.state_size)
        self.target_embed = nn.Embedding(target_vocab_size, config.decoder_embed_dim, padding_idx=pad_id)
        self.attention = AdditiveAttention(config.hidden, memory_size, config.attention_dim)
        self.decoder = nn.ModuleList(
            make_recurrent_layer(config.cell, config.decoder_embed_dim + memory_size if layer == 0 else config.hidden,
                                 config.hidden, config.impl) for layer in range(config.layers))
        self.drop = nn.Dropout(config.dropout)
        self.out = nn.Linear(config.hidden + memory_size, target_vocab_size)

    @property
    def state_size(self) -> int:
        """Features per layer in the packed decoder state: 2 * hidden for an LSTM (h and c), hidden otherwise."""
        return 2 * self.hidden if self.cell == "lstm" else self.hidden

    def encode(self, source: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``source`` (B, S) ids and ``lengths`` (B,) -> memory (B, S, D) (zero at padding), mask (B, S) bool
        (True at real positions) and the decoder's initial state (L, B, state_size)."""
        states = self.encoder(self.drop(self.embed(source)), lengths)  # (B, S, D)
        mask = valid_mask(lengths, source.shape[1])  # (B, S)
        memory = states * mask.unsqueeze(-1).to(states.dtype)  # (B, S, D)
        summary = pool_states(states, lengths, "last", self.encoder.directions)  # (B, D)
        start = torch.tanh(self.bridge(summary))  # (B, L * state_size)
        return memory, mask, start.view(-1, self.layers, self.state_size).transpose(0, 1).contiguous()

    def step(self, tokens: torch.Tensor, state: torch.Tensor, memory: torch.Tensor,
             mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Read ``tokens`` (B, T) one at a time from ``state`` (L, B, state_size); return logits (B, T, V) for
        the token after each, the state after the last (L, B, state_size) and the attention weights (B, T, S)."""
        keys = self.attention.keys(memory)  # (B, S, A): the same for every step
        embedded = self.drop(self.target_embed(tokens))  # (B, T, E)
        logits, weights = [], []
        for t in range(tokens.shape[1]):
            query = state[-1, :, : self.hidden]  # (B, H): the top layer's hidden state s_{t-1}
            context, attention = self.attention(query, keys, memory, mask)  # (B, D), (B, S)
            x = torch.cat([embedded[:, t], context], dim=-1).unsqueeze(1)  # (B, 1, E + D)
            out, state = self._recur(x, state)  # (B, 1, H), (L, B, state_size)
            logits.append(self.out(self.drop(torch.cat([out.squeeze(1), context], dim=-1))))  # (B, V)
            weights.append(attention)
        return torch.stack(logits, dim=1), state, torch.stack(weights, dim=1)  # (B, T, V), (L, B, Sd), (B, T, S)

    def _recur(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of the stacked decoder layers over ``x`` (B, 1, F) from the packed ``state`` (L, B, Sd)."""
        next_states = []
        for depth, layer in enumerate(self.decoder):
            layer_state = state[depth : depth + 1]  # (1, B, Sd)
            x = self.drop(x) if depth else x
            if self.cell == "lstm":
                h, c = layer_state.split(self.hidden, dim=-1)  # (1, B, H) each
                x, (h, c) = layer(x, (h.contiguous(), c.contiguous()))  # (B, 1, H)
                next_states.append(torch.cat([h, c], dim=-1))  # (1, B, 2H)
            else:
                x, h = layer(x, layer_state.contiguous())  # (B, 1, H), (1, B, H)
                next_states.append(h)
        return x, torch.cat(next_states, dim=0)  # (B, 1, H), (L, B, Sd)

    def forward(self, source: torch.Tensor, lengths: torch.Tensor, targets_in: torch.Tensor,
                teacher_forcing: float = 1.0) -> torch.Tensor:
        """Logits (B, T, V) for every target position, reading ``targets_in`` (B, T) (``<bos>`` then the target).

        With ``teacher_forcing`` < 1 each step after the first reads the true previous token with that
        probability and the model's own previous prediction (argmax) otherwise (Bengio et al. 2015,
        scheduled sampling); draws come from torch's global generator.
        """
        memory, mask, state = self.encode(source, lengths)
        if teacher_forcing >= 1:
            return self.step(targets_in, state, memory, mask)[0]
        keep = torch.rand(targets_in.shape, device=targets_in.device) < teacher_forcing  # (B, T)
        tokens = targets_in[:, :1]  # (B, 1)
        logits = []
        for t in range(targets_in.shape[1]):
            if t:
                tokens = torch.where(keep[:, t:t + 1], targets_in[:, t:t + 1], logits[-1].argmax(-1))  # (B, 1)
            step_logits, state, _ = self.step(tokens, state, memory, mask)  # (B, 1, V)
            logits.append(step_logits)
        return torch.cat(logits, dim=1)  # (B, T, V)


def build_seq2seq(config: ModelConfig, vocab_size: int, target_vocab_size: int, pad_id: int = 0,
                  **_: int) -> Seq2Seq:
    """The registry's constructor: ``vocab_size`` is the source side's (as for every structure), plus the
    target side's; other sizes (``num_classes``: a seq2seq task has no labels) are ignored."""
    return Seq2Seq(config, vocab_size, target_vocab_size, pad_id)
