"""N vs N: a sequence tagger (one tag per token), e.g. part-of-speech tags or b/m/e/s segmentation.

embedding (+ a character CNN per word) -> recurrent encoder -> per-step linear. Bidirectional
taggers see the whole sentence at every position; the encoder is exact under padding, so a
sentence gets the same tags alone or in a padded batch.

Extra features per position come as columns of ``tokens`` (B, T, C) (see ``seqlab.text.encoding``):
- pairs (``pair_embed_dim > 0``): the token joined with the next one, for characters the bigram,
  the strongest single cue for Chinese word segmentation (Pei et al. 2014, Chen et al. 2015);
- characters (``char_embed_dim > 0``): a char CNN gives a word never seen in training a
  representation from its characters (Ma & Hovy 2016 use it the same way);
- edge characters (``edge_embed_dim > 0``, with characters): embeddings of a word's first and last
  character. The CNN's max over positions cannot tell 市 in 开封市 (a place) from 市 in 市场 (a noun);
  the class of a Chinese word shows at its edges (-市 -省 -化 -性 -者 -级, 非-), so these two say where.

With ``crf: true`` the per-step scores are a linear-chain CRF's emissions (``seqlab.models.crf``): the
graph is the same, the loss is the likelihood of the whole tag sequence, decoding is Viterbi.
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.config import ModelConfig
from seqlab.inference.crf import TagTransitions
from seqlab.models.crf import LinearChainCRF
from seqlab.models.encoder import RecurrentEncoder

PADDING_SCORE = -1e4
"""A padding character's convolution output in the char CNN: below any real character's (and within fp16), so
the max over a word's characters never takes it; a padding word, all padding, gets ReLU(-1e4) = 0."""


class CharCNN(nn.Module):
    """A word's characters -> one feature vector: embedding, width-3 convolution, max over characters, ReLU."""

    def __init__(self, char_vocab_size: int, embed_dim: int, channels: int, pad_id: int = 0) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.embed = nn.Embedding(char_vocab_size, embed_dim, padding_idx=pad_id)
        self.conv = nn.Conv1d(embed_dim, channels, kernel_size=3, padding=1)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        """``chars`` (B, T, L) right-padded ids -> (B, T, channels)."""
        # The convolution is linear in the embeddings, so each character's share of it at each window offset
        # is a table row: conv[l] = before[c(l-1)] + own[c(l)] + after[c(l+1)], with before = embed @ W[:, :, 0],
        # own = embed @ W[:, :, 1] + bias, after = embed @ W[:, :, 2]. Three lookups and two additions per
        # character replace a matrix product; ONNX Runtime computes the tables once, when a session loads.
        embeddings = self.embed.weight  # (V, E)
        padding = (torch.arange(embeddings.shape[0], device=embeddings.device) == self.pad_id).unsqueeze(1)  # (V, 1)
        # The padding id's row: zero, as the conv's own padding, and kept so (read here, not through
        # self.embed, its row would otherwise take gradients).
        embeddings = embeddings.masked_fill(padding, 0.0)
        tables = embeddings @ self.conv.weight.permute(1, 2, 0).flatten(1)  # (V, 3K)
        before, own, after = tables.split(self.conv.out_channels, dim=1)  # (V, K) each
        own = (own + self.conv.bias).masked_fill(padding, PADDING_SCORE)
        edged = nn.functional.pad(chars, (1, 1), value=self.pad_id)  # (B, T, L+2)
        scores = (nn.functional.embedding(edged[..., :-2], before) + nn.functional.embedding(chars, own)
                  + nn.functional.embedding(edged[..., 2:], after))  # (B, T, L, K)
        # max then ReLU = ReLU then max; the padding characters' scores never win.
        return torch.relu(scores.amax(dim=-2))  # (B, T, K)


class EdgeChars(nn.Module):
    """A word's first and last characters -> their own embeddings, concatenated (zeros for a padding word)."""

    def __init__(self, char_vocab_size: int, embed_dim: int, pad_id: int = 0) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.first = nn.Embedding(char_vocab_size, embed_dim, padding_idx=pad_id)
        self.last = nn.Embedding(char_vocab_size, embed_dim, padding_idx=pad_id)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        """``chars`` (B, T, L) right-padded ids -> (B, T, 2 * embed_dim)."""
        count = (chars != self.pad_id).sum(dim=-1, keepdim=True)  # (B, T, 1)
        # A padding word has no characters: index 0 holds its padding id, whose embedding is zero.
        last = chars.gather(-1, (count - 1).clamp(min=0)).squeeze(-1)  # (B, T)
        return torch.cat([self.first(chars[..., 0]), self.last(last)], dim=-1)  # (B, T, 2E)


class SequenceTagger(nn.Module):
    """Maps token ids (B, T) or feature rows (B, T, C) and lengths (B,) to tag logits (B, T, K)."""

    def __init__(self, config: ModelConfig, vocab_size: int, num_classes: int, pad_id: int = 0,
                 char_vocab_size: int = 0, pair_vocab_size: int = 0) -> None:
        super().__init__()
        if config.char_embed_dim and char_vocab_size < 1:
            raise ValueError("char_embed_dim > 0 needs a character vocabulary (char_vocab_size)")
        if config.pair_embed_dim and pair_vocab_size < 1:
            raise ValueError("pair_embed_dim > 0 needs a vocabulary of token pairs (pair_vocab_size)")
        self.embed = nn.Embedding(vocab_size, config.embed_dim, padding_idx=pad_id)
        self.pairs = nn.Embedding(pair_vocab_size, config.pair_embed_dim, padding_idx=pad_id) \
            if config.pair_embed_dim else None
        self.chars = (CharCNN(char_vocab_size, config.char_embed_dim, config.char_channels, pad_id)
                      if config.char_embed_dim else None)
        self.edges = EdgeChars(char_vocab_size, config.edge_embed_dim, pad_id) if config.edge_embed_dim else None
        width = (config.embed_dim + (config.pair_embed_dim if self.pairs is not None else 0)
                 + (config.char_channels if self.chars is not None else 0)
                 + (2 * config.edge_embed_dim if self.edges is not None else 0))
        self.encoder = RecurrentEncoder(config, width)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(self.encoder.output_size, num_classes)
        self.crf = LinearChainCRF(num_classes) if config.crf else None

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Tag logits (CRF emissions, with a CRF layer) at every position; padding positions are meaningless."""
        if tokens.dim() == 2:
            x = self.embed(tokens)  # (B, T, E)
        else:
            features = [self.embed(tokens[..., 0])]  # (B, T, E)
            if self.pairs is not None:
                features.append(self.pairs(tokens[..., 1]))  # (B, T, P)
            chars = tokens[..., 2 if self.pairs is not None else 1 :]  # (B, T, L)
            if self.chars is not None:
                features.append(self.chars(chars))  # (B, T, K)
            if self.edges is not None:
                features.append(self.edges(chars))  # (B, T, 2D)
            x = torch.cat(features, dim=-1)  # (B, T, E+P+K+2D)
        states = self.encoder(self.dropout(x), lengths)  # (B, T, D*H)
        return self.head(self.dropout(states))  # (B, T, num_classes)

    def transitions(self) -> TagTransitions | None:
        """The CRF layer's scores for decoding, or None: without a CRF each position takes its top tag."""
        return self.crf.table() if self.crf is not None else None
