"""Generation speed of each language-model champion: the stateful step graph in ONNX Runtime, the same
stateful steps in PyTorch, and the sliding-window method of the seed documents (re-reading the last
``window`` characters from a zero state for every new one), in characters per second at several lengths."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from seqlab.bench.figures import spread
from seqlab.bench.runs import benched_runs
from seqlab.checkpoint import load_model
from seqlab.config import Params
from seqlab.evaluation.generative import chars_per_second
from seqlab.inference.generate import (
    OrtStepModel,
    Sampler,
    StepModel,
    generate,
    sliding_window_generate,
)
from seqlab.inference.sessions import create_session
from seqlab.inference.torch_models import TorchStepModel
from seqlab.paths import Layout
from seqlab.text.encoding import load_encoder

Method = Callable[[StepModel, Sequence[int], int, Sampler], Iterator[int]]


def bench_generation(layout: Layout, params: Params) -> dict[str, Any]:
    """Per lm champion and length: characters per second of each method, and stateful ORT over the window."""
    settings, window = params.bench.generation, params.generation.window
    runs: dict[str, Any] = {}
    for task, run in benched_runs(layout, params).items():
        if params.task(task).structure != "lm":
            continue
        model, spec = load_model(layout.checkpoint(run))
        vocab = load_encoder(layout.vocab(task), spec.tokenizer, spec.max_len, spec.model).vocab
        prompt = vocab.encode(params.generation.prompts.get(task, "")) or [vocab.index["<eos>"]]
        ort = OrtStepModel(create_session(layout.onnx_model(run), "cpu", params.bench.threads))
        methods: dict[str, tuple[StepModel, Method]] = {
            "ort_stateful": (ort, generate),
            "torch_stateful": (TorchStepModel(model), generate),
            "ort_sliding_window": (ort, functools.partial(sliding_window_generate, window=window)),
        }
        lengths = {}
        for length in settings.lengths:
            rates = {name: spread(chars_per_second(step_model, method, prompt, length, settings.repeats,
                                                   params.generation.seed), 1)
                     for name, (step_model, method) in methods.items()}
            rates["stateful_over_window"] = round(rates["ort_stateful"]["median"]
                                                  / rates["ort_sliding_window"]["median"], 1)
            rates["ort_over_torch"] = round(rates["ort_stateful"]["median"] / rates["torch_stateful"]["median"], 2)
            lengths[str(length)] = rates
        runs[run] = {"task": task, "window": window, "lengths": lengths}
    return {"repeats": settings.repeats, "runs": runs}
