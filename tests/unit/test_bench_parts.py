"""The parts of `make bench` that need no pipeline outputs: the stage log, figures, the amount of work the
speed figures are measured against, the g2p_en peer."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from seqlab.bench.figures import spread
from seqlab.bench.kernels import lstm_flops, onednn_product
from seqlab.bench.peers import G2pEn
from seqlab.bench.report import figure
from seqlab.bench.stages import run_logged, stage_times
from seqlab.bench.training import matrix_products
from seqlab.config import BenchTrainingConfig
from seqlab.data.parallel import cmudict_files, read_cmudict, read_symbols, strip_stress
from seqlab.evaluation.seq2seq_metrics import seq2seq_scores
from seqlab.models.encoder import make_recurrent_layer

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


def test_figures_read_without_exponents() -> None:
    # Guards: a rate of a million tokens per second printed as 1.02792e+06 in the report.
    assert figure({"min": 999.5, "median": 1_027_920.4, "max": 1.5e6}) == "1,027,920 (999.5–1,500,000)"


def test_lstm_flops_counts_the_gate_products() -> None:
    # Guards: a closeness ratio computed on the wrong amount of work (4 gates, input and recurrent products).
    assert lstm_flops(batch=2, steps=3, input_size=5, hidden=7) == 2 * 2 * 3 * (5 + 7) * 4 * 7


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_products_only_do_the_matrix_work_of_a_layers_forward_and_backward(cell: str) -> None:
    # Guards: a bound on any kernel's speed-up computed on less (or more) work than a training step does:
    # torch's own counter sees the same matrix-product FLOPs in the written-out layer's forward and backward.
    settings = BenchTrainingConfig(batch=3, steps=5, input_size=4, hidden=6)
    layer = make_recurrent_layer(cell, settings.input_size, settings.hidden, "scratch")
    with FlopCounterMode(display=False) as step:
        outputs, _ = layer(torch.randn(settings.batch, settings.steps, settings.input_size))
        outputs.square().mean().backward()
    with FlopCounterMode(display=False) as products:
        matrix_products(cell, settings)()
    assert products.get_total_flops() == step.get_total_flops() > 0


def test_onednn_reference_computes_the_same_product() -> None:
    # Guards: the closeness ratio measured against a different (transposed, smaller) product than the LSTM's,
    # or no oneDNN reference at all (the pinned torch build has oneDNN).
    generator = torch.Generator().manual_seed(0)
    left, right = torch.randn(12, 10, generator=generator), torch.randn(10, 16, generator=generator)
    product = onednn_product(left, right)
    assert product is not None
    assert torch.allclose(product().to_dense(), left @ right, atol=1e-5)


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
