"""PyTorch models behind the inference protocols: a classifier or tagger as a ``Backend``, a seq2seq
model as a ``Seq2SeqModel``, a language model as a ``StepModel``.

Kept apart from the ONNX Runtime side so that serving a bundle (and every stage that only reads ONNX
graphs) never imports torch, which costs seconds per process.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from seqlab.models.language_model import LanguageModel
from seqlab.models.seq2seq import Seq2Seq
from seqlab.models.tagger import SequenceTagger


class TorchBackend:
    """A torch module run in eval mode without gradients, on whatever device its weights are."""

    def __init__(self, model: nn.Module, name: str = "torch") -> None:
        self.model = model.eval()
        self.name = name
        self.device = next(model.parameters()).device
        self.transitions = model.transitions() if isinstance(model, SequenceTagger) else None

    def logits(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            inputs = (torch.from_numpy(array).to(self.device) for array in (tokens, lengths))
            return self.model(*inputs).cpu().numpy()


class TorchSeq2Seq:
    """A ``Seq2Seq`` in eval mode without gradients, on whatever device its weights are."""

    def __init__(self, model: Seq2Seq, name: str = "torch") -> None:
        self.model = model.eval()
        self.name = name
        self.device = model.out.weight.device

    def _tensors(self, *arrays: np.ndarray) -> list[torch.Tensor]:
        return [torch.from_numpy(array).to(self.device) for array in arrays]

    def encode(self, source: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The model's ``encode`` on numpy arrays."""
        with torch.inference_mode():
            outputs = self.model.encode(*self._tensors(source, lengths))
        return tuple(output.cpu().numpy() for output in outputs)  # type: ignore[return-value]

    def step(self, tokens: np.ndarray, state: np.ndarray, memory: np.ndarray,
             mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The model's ``step`` on numpy arrays."""
        with torch.inference_mode():
            outputs = self.model.step(*self._tensors(tokens, state, memory, mask))
        return tuple(output.cpu().numpy() for output in outputs)  # type: ignore[return-value]


class TorchStepModel:
    """A ``LanguageModel`` in eval mode without gradients, on whatever device its weights are."""

    def __init__(self, model: LanguageModel, name: str = "torch") -> None:
        self.model = model.eval()
        self.name = name
        self.device = model.out.weight.device

    def step(self, tokens: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One call of the model over ``tokens`` (B, T) from ``state`` (L, B, S)."""
        with torch.inference_mode():
            logits, next_state = self.model(torch.from_numpy(tokens).to(self.device),
                                            torch.from_numpy(state).to(self.device))  # (B, T, V), (L, B, S)
        return logits.cpu().numpy(), next_state.cpu().numpy()

    def initial_state(self, batch: int) -> np.ndarray:
        """Zeros (L, B, S)."""
        return np.zeros((self.model.layers, batch, self.model.state_size), dtype=np.float32)

    def condition_state(self, conditions: np.ndarray) -> np.ndarray:
        """The model's learnt state per condition id; a ValueError for a model trained without conditions."""
        with torch.inference_mode():
            return self.model.condition_state(torch.from_numpy(conditions).to(self.device)).cpu().numpy()
