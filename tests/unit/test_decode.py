"""Beam search on a decoder whose probabilities are written down, so the right answer is known exactly.

The toy decoder says: after ``<bos>``, ``A`` with probability 0.9, or one of five other tokens with 0.02
each; after each of those, ``<eos>`` with 0.5 or another of them with 0.1 each; ``A`` repeats four times and
then ends, each step with 0.99. So ``A A A A`` (log-probability about -0.15) is by far the most likely
output, while the improbable outputs of the other tokens (-4.6 and less) end early, with an ``<eos>`` that
ranks high among the few live hypotheses.
"""

import numpy as np
import pytest

from seqlab.inference.decode import beam_decode, decode_sources, greedy_decode

PAD, UNK, BOS, EOS, A = 0, 1, 2, 3, 4
OTHERS = [5, 6, 7, 8, 9]
VOCAB = 10
CHAIN = 4  # how many A's the likely output has


class MarkovDecoder:
    """A ``Seq2SeqModel`` whose next-token distribution depends only on the last token and on how many
    ``A`` it has written (the state); the source is ignored."""

    name = "markov"

    def encode(self, source: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        batch = len(source)
        return np.zeros((batch, 1, 1), np.float32), np.ones((batch, 1), bool), np.zeros((1, batch, 1), np.float32)

    def step(self, tokens: np.ndarray, state: np.ndarray, memory: np.ndarray,
             mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        logits = np.full((len(tokens), tokens.shape[1], VOCAB), -30.0)
        state = state.copy()
        for t in range(tokens.shape[1]):
            for row, token in enumerate(tokens[:, t]):
                probs = np.full(VOCAB, 1e-13)
                if token == BOS:
                    probs[A], probs[OTHERS] = 0.9, 0.02
                elif token == A:
                    state[0, row, 0] += 1
                    probs[EOS if state[0, row, 0] >= CHAIN else A] = 0.99
                    probs[UNK] = 0.01  # suppressed: the search never writes it, and A keeps probability 0.99
                else:
                    probs[EOS], probs[OTHERS] = 0.5, 0.1
                logits[row, t] = np.log(probs)
        return logits.astype(np.float32), state, np.ones((len(tokens), tokens.shape[1], 1), np.float32)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_beam_keeps_searching_while_a_live_hypothesis_beats_the_ended_ones(length_penalty: float) -> None:
    # Guards: a search that stops once `beam` hypotheses have ended, returning an improbable early one.
    nbest = beam_decode(MarkovDecoder(), [[5, 6]], BOS, EOS, 5, length_penalty, 20, suppress=[PAD, UNK])[0]
    assert nbest[0][0] == [A] * CHAIN
    expected = np.log(0.9) + CHAIN * np.log(0.99)
    assert nbest[0][1] == pytest.approx(expected / (CHAIN + 1) ** length_penalty, abs=1e-4)
    assert len(nbest) == 5 and len({tuple(tokens) for tokens, _ in nbest}) == 5


def test_beam_is_never_worse_than_greedy_on_the_toy_decoder() -> None:
    # Guards: greedy and beam disagreeing on an output that both can find.
    source, lengths = np.array([[5, 6], [7, 0]]), np.array([2, 1])
    greedy = greedy_decode(MarkovDecoder(), source, lengths, BOS, EOS, 20, [PAD, UNK])
    best = decode_sources(MarkovDecoder(), [[5, 6], [7]], BOS, EOS, 5, 1.0, 20, suppress=[PAD, UNK])
    assert greedy == best == [[A] * CHAIN, [A] * CHAIN]


def test_beam_stops_at_max_steps_with_the_live_hypotheses() -> None:
    # Guards: a search cut by max_steps that returns nothing, or outputs longer than max_steps.
    nbest = beam_decode(MarkovDecoder(), [[5]], BOS, EOS, 3, 0.0, 2, suppress=[PAD, UNK])[0]
    assert nbest and all(len(tokens) <= 2 for tokens, _ in nbest)
    assert [A, A] in [tokens for tokens, _ in nbest]
