"""N vs N: a sequence tagger (one tag per token), e.g. part-of-speech tags or b/m/e/s segmentation.

embedding (+ a character CNN per word) -> recurrent encoder -> per-step linear. Bidirectional
taggers see the whole sentence at every position; the encoder is exact under padding, so a
sentence gets the same tags alone or in a padded batch.

Character features (``char_embed_dim > 0``) give a word that was never seen in training a
representation from its characters (Ma & Hovy 2016 use a char CNN the same way): each position's
input row is ``[word id, char ids...]`` (see ``seqlab.text.encoding``).
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.config import ModelConfig
from seqlab.models.encoder import RecurrentEncoder


class CharCNN(nn.Module):
    """A word's characters -> one feature vector: embedding, width-3 convolution, ReLU, max over characters."""

    def __init__(self, char_vocab_size: int, embed_dim: int, channels: int, pad_id: int = 0) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.embed = nn.Embedding(char_vocab_size, embed_dim, padding_idx=pad_id)
        self.conv = nn.Conv1d(embed_dim, channels, kernel_size=3, padding=1)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        """``chars`` (B, T, L) ids -> (B, T, channels)."""
        batch, steps, width = chars.shape
        flat = chars.reshape(batch * steps, width)  # (B*T, L)
        x = self.embed(flat).transpose(1, 2)  # (B*T, E, L)
        features = torch.relu(self.conv(x))  # (B*T, K, L), >= 0
        # Zero at padding characters: the max over a word's real characters is then exact, and a
        # padding word (no characters) gets zeros rather than -inf.
        features = features * (flat != self.pad_id).unsqueeze(1).to(features.dtype)  # (B*T, K, L)
        return features.amax(dim=2).reshape(batch, steps, -1)  # (B, T, K)


class SequenceTagger(nn.Module):
    """Maps token ids (B, T) or (B, T, 1 + chars) and lengths (B,) to tag logits (B, T, K)."""

    def __init__(self, config: ModelConfig, vocab_size: int, num_classes: int, pad_id: int = 0,
                 char_vocab_size: int = 0) -> None:
        super().__init__()
        if config.char_embed_dim and char_vocab_size < 1:
            raise ValueError("char_embed_dim > 0 needs a character vocabulary (char_vocab_size)")
        self.embed = nn.Embedding(vocab_size, config.embed_dim, padding_idx=pad_id)
        self.chars = (CharCNN(char_vocab_size, config.char_embed_dim, config.char_channels, pad_id)
                      if config.char_embed_dim else None)
        width = config.embed_dim + (config.char_channels if self.chars is not None else 0)
        self.encoder = RecurrentEncoder(config, width)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(self.encoder.output_size, num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Tag logits at every position; values at padding positions are meaningless."""
        if self.chars is not None:
            x = torch.cat([self.embed(tokens[..., 0]), self.chars(tokens[..., 1:])], dim=-1)  # (B, T, E+K)
        else:
            x = self.embed(tokens)  # (B, T, E)
        states = self.encoder(self.dropout(x), lengths)  # (B, T, D*H)
        return self.head(self.dropout(states))  # (B, T, num_classes)
