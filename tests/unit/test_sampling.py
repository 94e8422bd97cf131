"""Sampling and the generation loops: the sampler's filters and randomness, and a stateful generator
that costs one step per token yet computes what re-reading the whole prefix computes."""

import numpy as np
import pytest
import torch

from seqlab.config import ModelConfig
from seqlab.inference.backends import softmax
from seqlab.inference.generate import (
    Sampler,
    SuppressTokens,
    generate,
    generate_batch,
    sliding_window_generate,
)
from seqlab.inference.torch_models import TorchStepModel
from seqlab.models.registry import build_model

VOCAB_SIZE = 30
PROMPT = [5, 9, 3, 17]


def _frequencies(sampler: Sampler, logits: np.ndarray, draws: int) -> np.ndarray:
    """Share of each id over ``draws`` picks from the same logits row."""
    picks = sampler.pick(np.repeat(logits[None], draws, axis=0))
    return np.bincount(picks, minlength=len(logits)) / draws


def test_temperature_zero_and_top_k_one_are_argmax() -> None:
    logits = np.random.default_rng(0).normal(size=(200, VOCAB_SIZE)).astype(np.float32)
    expected = logits.argmax(axis=1)
    np.testing.assert_array_equal(Sampler(temperature=0).pick(logits), expected)
    np.testing.assert_array_equal(Sampler(temperature=1.5, top_k=1, seed=3).pick(logits), expected)
    np.testing.assert_array_equal(Sampler(temperature=1.0, top_p=1e-6, seed=3).pick(logits), expected)


def test_top_k_keeps_the_k_likeliest_in_proportion() -> None:
    logits = np.log(np.array([0.1, 0.4, 0.05, 0.3, 0.15]))
    shares = _frequencies(Sampler(top_k=2, seed=0), logits, 8000)
    assert set(np.flatnonzero(shares)) == {1, 3}
    assert shares[1] == pytest.approx(0.4 / 0.7, abs=0.02)


@pytest.mark.parametrize(("top_p", "kept"), [(0.45, {0}), (0.7, {0, 1}), (0.85, {0, 1, 2}), (0.95, {0, 1, 2, 3})])
def test_top_p_keeps_the_smallest_set_reaching_p(top_p: float, kept: set[int]) -> None:
    probabilities = np.array([0.5, 0.25, 0.15, 0.1])
    shares = _frequencies(Sampler(top_p=top_p, seed=1), np.log(probabilities), 8000)
    assert set(np.flatnonzero(shares)) == kept
    expected = probabilities[sorted(kept)] / probabilities[sorted(kept)].sum()  # renormalised over the kept set
    np.testing.assert_allclose(shares[sorted(kept)], expected, atol=0.02)


def test_draws_follow_the_softmax_and_sharpen_as_temperature_falls() -> None:
    logits = np.array([2.0, 1.0, 0.5, 0.0, -1.0])
    at_one = _frequencies(Sampler(temperature=1.0, seed=2), logits, 20000)
    np.testing.assert_allclose(at_one, softmax(logits), atol=0.015)
    top_share = [_frequencies(Sampler(temperature=t, seed=2), logits, 20000)[0] for t in (2.0, 1.0, 0.5, 0.25)]
    assert top_share == sorted(top_share) and top_share[-1] > 0.9 and top_share[0] < 0.4


def test_a_seed_repeats_its_draws() -> None:
    logits = np.random.default_rng(1).normal(size=(64, VOCAB_SIZE))
    first, again, other = Sampler(seed=7), Sampler(seed=7), Sampler(seed=8)
    draws = [first.pick(logits) for _ in range(5)]
    assert all((draw == again.pick(logits)).all() for draw in draws)
    assert any((draw != other.pick(logits)).any() for draw in draws)


def test_suppressed_tokens_are_never_drawn() -> None:
    logits = np.zeros((4000, 6))
    logits[:, [0, 2]] = -np.inf
    assert set(np.unique(Sampler(top_k=5, seed=0).pick(logits))) == {1, 3, 4, 5}


@pytest.mark.parametrize(("options", "message"), [
    ({"temperature": -0.5}, "temperature must be a number >= 0"),
    ({"temperature": float("nan")}, "temperature must be a number >= 0"),
    ({"top_k": -1}, "top_k must be a whole number >= 0"),
    ({"top_k": 2.5}, "top_k must be a whole number >= 0"),
    ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
    ({"top_p": 1.2}, r"top_p must be in \(0, 1\]"),
])
def test_bad_sampler_settings_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Sampler(**options)


def test_pick_wants_one_row_per_text() -> None:
    with pytest.raises(ValueError, match="batch, vocabulary"):
        Sampler().pick(np.zeros(VOCAB_SIZE))


class Recording:
    """A step model that records the shape of every call's tokens and the last position's logits."""

    def __init__(self, model: TorchStepModel) -> None:
        self.model = model
        self.name = model.name
        self.calls: list[tuple[int, ...]] = []
        self.last_logits: list[np.ndarray] = []

    def step(self, tokens: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls.append(tokens.shape)
        logits, state = self.model.step(tokens, state)
        self.last_logits.append(logits[:, -1])
        return logits, state

    def initial_state(self, batch: int) -> np.ndarray:
        return self.model.initial_state(batch)

    def condition_state(self, conditions: np.ndarray) -> np.ndarray:
        return self.model.condition_state(conditions)


def _model(cell: str, conditions: int = 0) -> TorchStepModel:
    torch.manual_seed(0)
    config = ModelConfig(cell=cell, embed_dim=12, hidden=16, layers=2)
    return TorchStepModel(build_model("condlm" if conditions else "lm", config, vocab_size=VOCAB_SIZE,
                                      num_classes=conditions, pad_id=0))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_stateful_generation_equals_rereading_the_prefix(cell: str) -> None:
    # Guards: a state that is dropped, reset or mixed up between steps (the text would still look plausible).
    model = _model(cell)
    recording = Recording(model)
    tokens = list(generate(recording, PROMPT, 25, Sampler(seed=4)))
    assert recording.calls == [(1, len(PROMPT))] + [(1, 1)] * 24  # the prompt once, then one step per token
    for position, logits in enumerate(recording.last_logits):
        prefix = np.array([PROMPT + tokens[:position]])
        full, _ = model.step(prefix, model.initial_state(1))
        np.testing.assert_allclose(logits, full[:, -1], rtol=0, atol=1e-5)


def test_tokens_come_as_they_are_chosen_and_from_a_given_state() -> None:
    model = _model("gru")
    recording = Recording(model)
    stream = generate(recording, PROMPT, 50, Sampler(temperature=0))
    first = next(stream)
    assert len(recording.calls) == 1  # nothing computed ahead of the reader
    _, after_prompt = model.step(np.array([PROMPT[:2]]), model.initial_state(1))
    resumed = list(generate(model, PROMPT[2:], 49, Sampler(temperature=0), state=after_prompt))
    assert [first, *resumed][:49] == [first, *list(stream)][:49]


def test_a_batch_of_texts_is_each_text_alone_and_stops_at_the_stop_id() -> None:
    model = _model("lstm", conditions=3)
    conditions = np.array([0, 1, 2, 1])
    first_ids = [4, 4, 4, 7]
    states = model.condition_state(conditions)  # (L, 4, S)
    alone = [list(generate(model, [first], 30, Sampler(temperature=0), state=states[:, [row]]))
             for row, first in enumerate(first_ids)]
    assert len({tuple(text) for text in alone}) > 1  # the conditions lead to different texts
    np.testing.assert_equal(generate_batch(model, states, first_ids, 30, Sampler(temperature=0)), alone)
    stop = alone[0][5]
    cut = [text[: text.index(stop)] if stop in text else text for text in alone]
    assert generate_batch(model, states, first_ids, 30, Sampler(temperature=0), stop_id=stop) == cut
    with pytest.raises(ValueError, match="one per first id"):
        generate_batch(model, states, first_ids[:2], 30, Sampler())


def test_sliding_window_rereads_the_last_ids_from_zero() -> None:
    model = _model("lstm")
    recording = Recording(model)
    greedy = Sampler(temperature=0)
    windowed = list(sliding_window_generate(recording, PROMPT, 12, greedy, window=3))
    assert recording.calls == [(1, 3)] * 12
    ids = list(PROMPT)
    for token in windowed:
        logits, _ = model.step(np.array([ids[-3:]]), model.initial_state(1))
        assert token == int(logits[0, -1].argmax())
        ids.append(token)
    # A window that holds the whole text re-reads what the stateful generator carries.
    assert list(sliding_window_generate(model, PROMPT, 12, greedy, window=100)) == list(
        generate(model, PROMPT, 12, greedy))


def test_suppressed_tokens_never_come_out_of_generation() -> None:
    model = _model("rnn_tanh")
    sampler = Sampler(temperature=3.0, seed=0)  # hot: every id is likely enough to show up somewhere
    assert {0, 1, 2} & set(generate(model, PROMPT, 400, sampler))
    assert not {0, 1, 2} & set(generate(SuppressTokens(model, [0, 1, 2]), PROMPT, 400, sampler))


def test_bad_generation_arguments_fail_before_the_first_step() -> None:
    model = _model("gru")
    with pytest.raises(ValueError, match="prompt_ids is empty"):
        generate(model, [], 5, Sampler())
    with pytest.raises(ValueError, match="length must be >= 0"):
        generate(model, PROMPT, -1, Sampler())
    with pytest.raises(ValueError, match="window must be >= 1"):
        sliding_window_generate(model, PROMPT, 5, Sampler(), window=0)
    with pytest.raises(ValueError, match="trained without conditions"):
        model.condition_state(np.array([0]))
