"""A linear-chain CRF output layer for taggers (Lafferty et al. 2001; Lample et al. 2016 put it on a BiLSTM).

The tagger's per-position scores become emissions; the CRF adds a score for each pair of neighbouring
tags and trains on the likelihood of the whole gold sequence, so a tag is chosen with its neighbours
in view. Training runs here in torch; decoding and marginals run on numpy in ``seqlab.inference.crf``,
shared by PyTorch and ONNX Runtime.
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.inference.crf import TagTransitions


class LinearChainCRF(nn.Module):
    """Transition scores between ``num_tags`` tags, plus start and end scores, learnt with the tagger."""

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))  # [i, j]: tag j after tag i
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))

    def negative_log_likelihood(self, emissions: torch.Tensor, tags: torch.Tensor,
                                lengths: torch.Tensor) -> torch.Tensor:
        """Summed -log P(tags | sentence) over the batch: ``emissions`` (B, T, K), ``tags`` (B, T) (any
        value at padding positions), ``lengths`` (B,)."""
        batch, steps, _ = emissions.shape
        mask = torch.arange(steps, device=emissions.device)[None, :] < lengths[:, None]  # (B, T)
        tags = torch.where(mask, tags, torch.zeros_like(tags))  # padding: any valid index, masked out below
        rows = torch.arange(batch, device=emissions.device)
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, T)
        moved = self.transitions[tags[:, :-1], tags[:, 1:]]  # (B, T-1)
        last = tags[rows, lengths - 1]  # (B,)
        gold = (self.start[tags[:, 0]] + (emitted * mask).sum(1) + (moved * mask[:, 1:]).sum(1)
                + self.end[last])  # (B,)
        # The forward recursion alpha_t[j] = log sum_i exp(alpha_t-1[i] + transitions[i, j]) + emissions[t, j] as a
        # (B, K) @ (K, K) product of exponentials, shifted by each row's maximum so nothing overflows: a few ops on
        # (B, K) per step rather than a logsumexp over (B, K, K), which costs several times more and, on a
        # busy CPU, waits on thread synchronisation at every one of the T steps.
        shift = self.transitions.detach().max()
        weights = torch.exp(self.transitions - shift)  # (K, K), entries in (0, 1]
        alpha = self.start + emissions[:, 0]  # (B, K): log-sum of the scores of all paths ending in each tag
        for t in range(1, steps):
            top = alpha.detach().amax(dim=1, keepdim=True)  # (B, 1)
            total = torch.exp(alpha - top) @ weights  # (B, K)
            step = torch.log(total.clamp_min(torch.finfo(total.dtype).tiny)) + top + shift + emissions[:, t]
            alpha = torch.where(mask[:, t : t + 1], step, alpha)  # a finished sentence keeps its alpha
        log_partition = torch.logsumexp(alpha + self.end, dim=1)  # (B,)
        return (log_partition - gold).sum()

    def table(self) -> TagTransitions:
        """The learnt scores on numpy, for decoding (PyTorch and ONNX Runtime alike)."""
        return TagTransitions(*(value.detach().cpu().double().numpy()
                                for value in (self.transitions, self.start, self.end)))
