"""Attention heat maps: written as PNG, the same bytes on a rerun, and weights of the wrong shape refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqlab.report.plots import attention_grid, attention_plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def shares(rows: int, columns: int, seed: int = 0) -> np.ndarray:
    """Random attention weights whose rows sum to 1, as a softmax gives."""
    weights = np.random.default_rng(seed).random((rows, columns))  # (rows, columns)
    return weights / weights.sum(axis=1, keepdims=True)


# Guards the single plot: a PNG at the path returned, byte-identical on a rerun (DVC caching).
def test_attention_plot_writes_png(tmp_path: Path) -> None:
    source, output = list("tomato"), ["T", "AH", "M", "EY", "T", "OW"]
    path = attention_plot(source, output, shares(len(output), len(source)), "tomato", tmp_path / "attention.png")
    assert path == tmp_path / "attention.png"
    first = path.read_bytes()
    assert first.startswith(PNG_MAGIC)
    attention_plot(source, output, shares(len(output), len(source)), "tomato", path)
    assert path.read_bytes() == first


# Guards the grid: an odd number of examples in two columns, one file.
def test_attention_grid_writes_png(tmp_path: Path) -> None:
    examples = [
        ("cat", list("cat"), ["K", "AE", "T"], shares(3, 3, 1)),
        ("tomato", list("tomato"), ["T", "AH", "M", "EY", "T", "OW"], shares(6, 6, 2)),
        ("a", list("a"), ["AH"], shares(1, 1, 3)),
    ]
    path = attention_grid(examples, "attention on test words", tmp_path / "grid.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


# Guards misuse: weights transposed or of the wrong size are refused with both shapes named, nothing written.
def test_wrong_shape_raises(tmp_path: Path) -> None:
    source, output = list("cat"), ["K", "AE"]
    with pytest.raises(ValueError, match=r"shape \(3, 2\).*shape \(2, 3\)"):
        attention_plot(source, output, shares(3, 2), "cat", tmp_path / "attention.png")
    with pytest.raises(ValueError, match=r"dog: attention weights of shape \(3,\)"):
        attention_grid([("cat", source, output, shares(2, 3)), ("dog", list("dog"), ["D"], np.ones(3))], "t",
                       tmp_path / "grid.png")
    with pytest.raises(ValueError, match="no attention examples"):
        attention_grid([], "t", tmp_path / "grid.png")
    assert not list(tmp_path.iterdir())
