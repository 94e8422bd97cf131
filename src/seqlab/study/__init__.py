"""The cell study: the seeds' claims about vanilla RNNs, LSTMs and GRUs, measured.

- ``adding``: the adding problem and the equal-budget training of one cell on it (long-range memory);
- ``gradients``: ||dLoss/dh_t|| against the distance from the loss, through the scratch cells;
- ``sizes``: parameter counts and per-step latency of the fused cells at equal sizes;
- ``report`` and ``plots``: reports/study/study.md and its figures.
"""
