"""Structure name -> model constructor: the one place that turns config into a module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from seqlab.config import ModelConfig
from seqlab.models.classifier import SequenceClassifier
from seqlab.models.language_model import build_language_model
from seqlab.models.seq2seq import build_seq2seq
from seqlab.models.tagger import SequenceTagger

_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "classify": SequenceClassifier,
    "tag": SequenceTagger,
    "lm": build_language_model,
    "condlm": build_language_model,  # the same model with one learnt initial state per condition
    "seq2seq": build_seq2seq,  # sizes: vocab_size (source side) and target_vocab_size
}


def build_model(structure: str, config: ModelConfig, **sizes: Any) -> nn.Module:
    """A fresh model for ``structure`` (e.g. ``classify``) from ``config`` and data sizes.

    ``sizes`` are what the data decides (``vocab_size``, ``num_classes``, ``pad_id``, and for taggers
    with character features ``char_vocab_size``; for a language model ``num_classes`` counts its
    conditions, 0 without); they are
    stored in checkpoints beside the config so a model can be rebuilt from the file alone.
    """
    if structure not in _BUILDERS:
        raise ValueError(f"unknown structure '{structure}' (choose from: {', '.join(_BUILDERS)})")
    return _BUILDERS[structure](config, **sizes)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def fused_equivalent(model: nn.Module, structure: str, config: ModelConfig, **sizes: Any) -> nn.Module:
    """``model`` with torch's fused kernels in place of scratch cells, sharing its trained weights.

    Scratch cells carry the fused modules' parameter names, so the state dict moves across as is;
    ONNX export goes through this twin to get native RNN/LSTM/GRU nodes (a traced Python loop
    would fix the time axis to the example length).
    """
    if config.impl == "fused":
        return model
    twin = build_model(structure, config.model_copy(update={"impl": "fused"}), **sizes)
    twin.load_state_dict(model.state_dict())
    return twin.train(model.training)
