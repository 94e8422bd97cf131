"""Text generation one step at a time, the recurrent state carried between steps, on any backend.

A ``StepModel`` maps (tokens (B, T), state (L, B, S)) to (logits (B, T, V), next state): the language
model in PyTorch (``TorchStepModel`` in ``seqlab.inference.torch_models``) or its ONNX step graph in ONNX
Runtime (``OrtStepModel``). On top of it: ``Sampler`` (temperature, top-k, nucleus), ``generate`` (one
text, streamed token by token), ``generate_batch`` (many texts at once, for evaluation) and
``sliding_window_generate`` (re-read the last few tokens from a zero state for every new token: the
baseline the stateful generator beats); ``SuppressTokens`` keeps tokens with no text (``<pad>``,
``<bos>``) from being chosen, and ``TextGenerator`` turns it all into characters in, characters out.
Evaluation, the report, the CLI and the server all generate through this module.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from itertools import takewhile
from typing import Protocol

import numpy as np

from seqlab.inference.backends import softmax
from seqlab.text.vocab import BOS, EOS, PAD, UNK, Vocab


class StepModel(Protocol):
    """Anything that reads tokens from a recurrent state and returns next-token logits and the new state."""

    name: str

    def step(self, tokens: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """tokens (B, T) int64, state (L, B, S) float32 -> logits (B, T, V), state after the last token."""
        ...

    def initial_state(self, batch: int) -> np.ndarray:
        """The all-zero state (L, B, S) a text starts from without a condition."""
        ...

    def condition_state(self, conditions: np.ndarray) -> np.ndarray:
        """The learnt start state of each condition id (B,) -> (L, B, S); a ValueError without conditions."""
        ...


class OrtStepModel:
    """A step graph (``tokens``, ``state`` -> ``logits``, ``next_state``) in ONNX Runtime, and optionally
    the condition graph (``condition`` -> ``state``) of a conditioned model.

    The state's layers and size come from the step graph's ``state`` input (fixed axes of
    [layers, batch, state_size]) unless given.
    """

    def __init__(self, step_session: object, condition_session: object | None = None, layers: int | None = None,
                 state_size: int | None = None, name: str = "ort") -> None:
        self.session = step_session
        self.condition_session = condition_session
        self.name = name
        shape = next((i.shape for i in step_session.get_inputs() if i.name == "state"), None)  # type: ignore[attr-defined]
        if shape is None:
            raise ValueError("the step graph has no 'state' input: is it a seqlab language model step graph?")
        self.layers = layers or shape[0]
        self.state_size = state_size or shape[2]
        if not isinstance(self.layers, int) or not isinstance(self.state_size, int):
            raise ValueError(f"the step graph's state shape {shape} does not fix layers and state size: give them")

    def step(self, tokens: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One session run over ``tokens`` (B, T) from ``state`` (L, B, S)."""
        logits, next_state = self.session.run(None, {"tokens": tokens, "state": state})  # type: ignore[attr-defined]
        return logits, next_state

    def initial_state(self, batch: int) -> np.ndarray:
        """Zeros (L, B, S)."""
        return np.zeros((self.layers, batch, self.state_size), dtype=np.float32)

    def condition_state(self, conditions: np.ndarray) -> np.ndarray:
        """The condition graph's state per condition id; a ValueError when there is no condition graph."""
        if self.condition_session is None:
            raise ValueError("this model has no condition graph (it was trained without conditions)")
        return self.condition_session.run(None, {"condition": conditions})[0]  # type: ignore[attr-defined]


class SuppressTokens:
    """A step model that never lets ``token_ids`` be chosen (their logits are -inf): e.g. ``<pad>``,
    ``<unk>`` and ``<bos>``, which have no text to show."""

    def __init__(self, model: StepModel, token_ids: Sequence[int]) -> None:
        self.model = model
        self.name = model.name
        self.token_ids = list(token_ids)

    def step(self, tokens: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The wrapped model's step with the suppressed tokens' logits set to -inf."""
        logits, next_state = self.model.step(tokens, state)  # (B, T, V)
        logits = logits.copy()
        logits[..., self.token_ids] = -np.inf
        return logits, next_state

    def initial_state(self, batch: int) -> np.ndarray:
        """The wrapped model's zero state."""
        return self.model.initial_state(batch)

    def condition_state(self, conditions: np.ndarray) -> np.ndarray:
        """The wrapped model's condition states."""
        return self.model.condition_state(conditions)


class Sampler:
    """Picks the next token from logits: ``temperature`` 0 is greedy (argmax); otherwise a draw from
    softmax(logits / temperature) restricted to the ``top_k`` most likely tokens (0: all) and to the
    smallest set of most likely tokens whose probability reaches ``top_p`` (nucleus sampling; 1: all).

    Draws come from a numpy Generator seeded with ``seed``, so a seed repeats a text exactly.
    """

    def __init__(self, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: int | None = None) -> None:
        if not math.isfinite(temperature) or temperature < 0:
            raise ValueError(f"temperature must be a number >= 0 (0 = greedy), not {temperature}")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
            raise ValueError(f"top_k must be a whole number >= 0 (0 = no limit), not {top_k}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] (1 = no limit), not {top_p}")
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.rng = np.random.default_rng(seed)

    def pick(self, logits: np.ndarray) -> np.ndarray:
        """One token id per row of ``logits`` (B, V) -> (B,) int64."""
        if logits.ndim != 2:
            raise ValueError(f"pick takes logits of shape (batch, vocabulary), not {logits.shape}")
        if self.temperature == 0:
            return logits.argmax(axis=-1).astype(np.int64)
        if not self.top_k and self.top_p == 1:
            # Plain sampling needs no ranking: the Gumbel-max trick draws exactly from softmax(logits / T)
            # in three array operations (this runs once per generated character).
            noisy = logits.astype(np.float64) / self.temperature + self.rng.gumbel(size=logits.shape)  # (B, V)
            return noisy.argmax(axis=-1).astype(np.int64)
        order = np.argsort(-logits, axis=-1, kind="stable")  # (B, V) most likely first
        ranked = softmax(np.take_along_axis(logits, order, axis=-1).astype(np.float64) / self.temperature)  # (B, V)
        keep = np.ones_like(ranked, dtype=bool)
        if self.top_k:
            keep[:, self.top_k:] = False
        if self.top_p < 1:
            before = np.cumsum(ranked, axis=-1) - ranked  # probability of the more likely tokens
            keep &= before < self.top_p
        kept = np.where(keep, ranked, 0.0)  # (B, V), zeros only after the kept tokens
        cumulative = np.cumsum(kept, axis=-1)  # (B, V)
        draw = self.rng.random(len(logits)) * cumulative[:, -1]  # (B,)
        position = np.minimum((cumulative <= draw[:, None]).sum(axis=-1), keep.sum(axis=-1) - 1)  # (B,)
        return order[np.arange(len(logits)), position].astype(np.int64)


def generate(model: StepModel, prompt_ids: Sequence[int], length: int, sampler: Sampler,
             state: np.ndarray | None = None) -> Iterator[int]:
    """``length`` new token ids after ``prompt_ids``, each yielded as soon as it is chosen.

    The prompt is read in one call from ``state`` (default: zeros), then every new token costs one
    step of the model on that token alone. Bad arguments raise here, before the first token.
    """
    if not prompt_ids:
        raise ValueError("prompt_ids is empty: give at least one id to start from (e.g. <bos> or <eos>)")
    if length < 0:
        raise ValueError(f"length must be >= 0, not {length}")
    start = model.initial_state(1) if state is None else state
    return _continue(model, np.array([prompt_ids], dtype=np.int64), length, sampler, start)


def _continue(model: StepModel, tokens: np.ndarray, length: int, sampler: Sampler,
              state: np.ndarray) -> Iterator[int]:
    """The loop of ``generate``: no step is taken after the last token is chosen."""
    for _ in range(length):
        logits, state = model.step(tokens, state)  # (1, T, V)
        token = sampler.pick(logits[:, -1])  # (1,)
        yield int(token[0])
        tokens = token[:, None]  # (1, 1): the next step reads the new token alone


def generate_batch(model: StepModel, states: np.ndarray, first_ids: Sequence[int] | np.ndarray, length: int,
                   sampler: Sampler, stop_id: int | None = None) -> list[list[int]]:
    """B texts at once: row b starts from ``states[:, b]`` (L, B, S) and ``first_ids[b]``, and gets at
    most ``length`` new ids; a row ends at ``stop_id`` (not included) and leaves the batch."""
    tokens = np.asarray(first_ids, dtype=np.int64)[:, None]  # (B, 1)
    if states.ndim != 3 or states.shape[1] != len(tokens):
        raise ValueError(f"states {states.shape} must be (layers, {len(tokens)}, state_size): one per first id")
    texts: list[list[int]] = [[] for _ in range(len(tokens))]
    rows = np.arange(len(tokens))  # the texts still running, in batch order
    state = states
    for _ in range(length):
        logits, state = model.step(tokens, state)  # (b, 1, V), (L, b, S)
        picked = sampler.pick(logits[:, -1])  # (b,)
        running = picked != stop_id if stop_id is not None else np.ones(len(picked), dtype=bool)
        for row, token in zip(rows[running], picked[running], strict=True):
            texts[row].append(int(token))
        if not running.all():
            rows, state, picked = rows[running], state[:, running], picked[running]
            if not len(rows):
                break
        tokens = picked[:, None]  # (b, 1)
    return texts


def sliding_window_generate(model: StepModel, prompt_ids: Sequence[int], length: int, sampler: Sampler,
                            window: int = 25) -> Iterator[int]:
    """The stateless baseline: for every new token re-read the last ``window`` ids from a zero state
    (``window`` steps per token where ``generate`` takes one)."""
    if not prompt_ids:
        raise ValueError("prompt_ids is empty: give at least one id to start from")
    if window < 1 or length < 0:
        raise ValueError(f"window must be >= 1 and length >= 0, not {window} and {length}")
    return _windows(model, list(prompt_ids), length, sampler, window)


def _windows(model: StepModel, ids: list[int], length: int, sampler: Sampler, window: int) -> Iterator[int]:
    """The loop of ``sliding_window_generate``."""
    for _ in range(length):
        logits, _ = model.step(np.array([ids[-window:]], dtype=np.int64), model.initial_state(1))  # (1, T, V)
        token = int(sampler.pick(logits[:, -1])[0])
        ids.append(token)
        yield token


class TextGenerator:
    """Characters in, characters out: a step model with its vocabulary and the conventions of training.

    A plain language model reads the prompt after ``<eos>`` from the zero state (in training every
    document follows an ``<eos>``, so an empty prompt starts a new document); a conditioned one reads
    ``<bos>`` and the prompt from the condition's learnt state. Prompt characters outside the vocabulary
    read as ``<unk>``; ``<pad>``, ``<unk>`` and ``<bos>`` are never chosen, and a text ends at ``<eos>``.
    The bundle server, the CLI and the report all generate through this class.
    """

    def __init__(self, model: StepModel, vocab: Vocab, conditions: Sequence[str] = ()) -> None:
        missing = [token for token in (PAD, UNK, BOS, EOS) if token not in vocab]
        if missing:
            raise ValueError(f"a generator's vocabulary needs {', '.join(missing)}")
        self.model = SuppressTokens(model, [vocab.index[token] for token in (PAD, UNK, BOS)])
        self.vocab = vocab
        self.conditions = list(conditions)
        self.eos = vocab.index[EOS]

    def stream(self, prompt: str, length: int, sampler: Sampler, condition: str | None = None) -> Iterator[str]:
        """Up to ``length`` characters continuing ``prompt`` (without it), each yielded as soon as it is
        chosen. Bad arguments (an unknown or missing condition, a negative length) raise at once."""
        ids, state = self._start(prompt, condition)
        tokens = generate(self.model, ids, length, sampler, state)
        return (self.vocab.tokens[token] for token in takewhile(lambda token: token != self.eos, tokens))

    def texts(self, condition: str, count: int, length: int, sampler: Sampler) -> list[str]:
        """``count`` texts of at most ``length`` characters from ``condition``'s state, generated as one batch."""
        state = self._condition_state(condition)  # (L, 1, S)
        states = np.repeat(state, count, axis=1)  # (L, count, S)
        first = np.full(count, self.vocab.index[BOS], dtype=np.int64)
        rows = generate_batch(self.model, states, first, length, sampler, stop_id=self.eos)
        return ["".join(self.vocab.tokens[token] for token in row) for row in rows]

    def _condition_state(self, condition: str | None) -> np.ndarray:
        if condition not in self.conditions:
            given = "no condition" if condition is None else f"unknown condition '{condition}'"
            raise ValueError(f"{given}: this model generates from one of {', '.join(self.conditions)}")
        return self.model.condition_state(np.array([self.conditions.index(condition)], dtype=np.int64))  # (L, 1, S)

    def _start(self, prompt: str, condition: str | None) -> tuple[list[int], np.ndarray]:
        """The ids generation reads first and the state it reads them from."""
        ids = self.vocab.encode(list(prompt))
        if not self.conditions:
            if condition is not None:
                raise ValueError("this is a plain language model: it takes no condition")
            return [self.eos, *ids], self.model.initial_state(1)
        return [self.vocab.index[BOS], *ids], self._condition_state(condition)
