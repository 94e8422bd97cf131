"""The parts of `make bench` that need no pipeline outputs: the stage log, figures, the g2p_en peer."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from seqlab.bench.figures import spread
from seqlab.bench.kernels import lstm_flops
from seqlab.bench.peers import G2pEn
from seqlab.bench.stages import run_logged, stage_times
from seqlab.data.parallel import cmudict_files, read_cmudict, read_symbols, strip_stress
from seqlab.evaluation.seq2seq_metrics import seq2seq_scores

FAKE_DVC = """
import sys, time
print("Running stage 'prepare@a':", flush=True)
print("> python pipeline/prepare.py a", flush=True)
time.sleep(0.6)
print("Running stage 'train@a':", flush=True)
time.sleep(0.2)
print("done", flush=True)
sys.exit(3)
"""


def test_stage_log_times_each_stage_and_keeps_the_exit_status(tmp_path: Path, capsys) -> None:
    # Guards: stage times read from the wrong lines, a log lost when the command fails, output swallowed.
    log = tmp_path / "reports" / "repro.log"
    log.parent.mkdir()
    status = run_logged([sys.executable, "-c", FAKE_DVC], tmp_path, log)
    assert status == 3
    assert "Running stage 'train@a':" in capsys.readouterr().out  # passed through as it came
    times = stage_times(log)
    assert list(times) == ["prepare@a", "train@a"]
    assert 0.5 <= times["prepare@a"] < 5 and 0.1 <= times["train@a"] < times["prepare@a"]
    assert log.read_text().splitlines()[-1].endswith("(exit status 3)")


def test_spread_gives_min_median_max_and_refuses_nothing() -> None:
    # Guards: a figure stated without its spread, or an empty measurement passing silently.
    assert spread([3.0, 1.0, 2.0, 10.0]) == {"min": 1.0, "median": 2.5, "max": 10.0}
    with pytest.raises(ValueError, match="at least one"):
        spread([])


def test_lstm_flops_counts_the_gate_products() -> None:
    # Guards: a closeness ratio computed on the wrong amount of work (4 gates, input and recurrent products).
    assert lstm_flops(batch=2, steps=3, input_size=5, hidden=7) == 2 * 2 * 3 * (5 + 7) * 4 * 7


def test_g2p_en_checkpoint_decodes_dictionary_words_near_its_published_error() -> None:
    # Guards: a peer decoded wrongly (gate order, symbol tables) and so reported far worse than it is. The
    # package's authors give about 26% WER without stress on words it most likely trained on.
    model = G2pEn.installed()
    dictionary, symbols = cmudict_files()
    pairs = read_cmudict(dictionary, read_symbols(symbols))
    chosen = random.Random(0).sample([pair for pair in pairs if pair.source.isalpha()], 300)
    predictions = [strip_stress(" ".join(model.phonemes(pair.source))).split() for pair in chosen]
    references = [[strip_stress(pair.target).split()] for pair in chosen]
    scores = seq2seq_scores(predictions, references)
    assert scores["wer"] < 0.35 and scores["per"] < 0.12
    assert model.phonemes("hello") == ["HH", "EH1", "L", "OW0"]
