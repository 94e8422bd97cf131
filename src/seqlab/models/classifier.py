"""N vs 1: a sequence classifier (embedding -> recurrent encoder -> pooled state -> linear)."""

from __future__ import annotations

import torch
from torch import nn

from seqlab.config import ModelConfig
from seqlab.models.encoder import RecurrentEncoder, valid_mask


def pool_states(states: torch.Tensor, lengths: torch.Tensor, how: str, directions: int) -> torch.Tensor:
    """Reduce encoder states (B, T, D*H) to one vector per sequence (B, D*H), ignoring padding.

    ``last`` takes the forward direction at the last real step and the backward direction at the
    first step (where it finishes reading); ``mean`` and ``max`` pool over the real steps only.
    """
    mask = valid_mask(lengths, states.shape[1]).unsqueeze(-1)  # (B, T, 1)
    if how == "mean":
        return (states * mask).sum(dim=1) / lengths.unsqueeze(1).to(states.dtype)  # (B, D*H)
    if how == "max":
        return states.masked_fill(~mask, torch.finfo(states.dtype).min).amax(dim=1)  # (B, D*H)
    if how == "last":
        hidden = states.shape[-1] // directions
        index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, hidden)  # (B, 1, H)
        forward_last = states[..., :hidden].gather(1, index).squeeze(1)  # (B, H)
        if directions == 1:
            return forward_last
        return torch.cat([forward_last, states[:, 0, hidden:]], dim=-1)  # (B, 2H)
    raise ValueError(f"unknown pooling '{how}' (choose from: last, mean, max)")


class SequenceClassifier(nn.Module):
    """Maps token ids (B, T) and lengths (B,) to class logits (B, C)."""

    def __init__(self, config: ModelConfig, vocab_size: int, num_classes: int, pad_id: int = 0) -> None:
        super().__init__()
        self.pooling = config.pooling
        self.embed = nn.Embedding(vocab_size, config.embed_dim, padding_idx=pad_id)
        self.encoder = RecurrentEncoder(config, config.embed_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(self.encoder.output_size, num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Class logits for each sequence."""
        x = self.dropout(self.embed(tokens))  # (B, T, E)
        states = self.encoder(x, lengths)  # (B, T, D*H)
        pooled = pool_states(states, lengths, self.pooling, self.encoder.directions)  # (B, D*H)
        return self.head(self.dropout(pooled))  # (B, C)
