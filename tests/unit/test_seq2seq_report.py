"""The report, champions and plots of sequence-to-sequence tasks (seq2seq): word and phoneme error rates, BLEU and
chrF for user corpora, published CMUdict results beside the champion, and the champion's attention heat maps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_generative_report import tables  # the markdown table reader of the other report tests

from seqlab.config import Params
from seqlab.io import InputError, csv_text, read_json, write_json, write_text
from seqlab.paths import Layout
from seqlab.report import plots
from seqlab.report.champion import champions_record
from seqlab.report.plots import attention_samples_plot
from seqlab.report.results import load_results
from seqlab.report.summary import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TASK, USER_TASK = "g2p", "pairs"

# Two g2p runs. The BiLSTM has the lower VALID WER, the GRU the lower TEST WER: the champion must be the BiLSTM.
RUNS: dict[str, dict[str, Any]] = {
    "g2p-bilstm": {"cell": "lstm", "bidirectional": True, "layers": 1, "parameters": 2_104_000,
                   "valid_wer": 0.2510, "valid_per": 0.0580, "curve": [0.4, 0.3, 0.2510, 0.2600],
                   "wer": {"torch_fp32": 0.24310, "ort_fp32": 0.24310, "ort_int8": 0.24406},
                   "greedy_wer": 0.2562, "per": 0.05712, "int8_points": 0.095,
                   "p50": (3.456, 41.2), "sizes": {"fp32": 8_420_000, "int8": 2_150_000, "fp16": 4_210_000}},
    "g2p-gru": {"cell": "gru", "bidirectional": False, "layers": 2, "parameters": 1_380_000,
                "valid_wer": 0.2620, "valid_per": 0.0601, "curve": [0.45, 0.2620],
                "wer": {"torch_fp32": 0.2300, "ort_fp32": 0.2300, "ort_int8": 0.2301},
                "greedy_wer": 0.2400, "per": 0.0550, "int8_points": 0.01,
                "p50": (2.1, 30.0), "sizes": {"fp32": 5_520_000, "int8": 1_400_000, "fp16": 2_760_000}},
}
USER_RUN = {"pairs-gru": {**RUNS["g2p-gru"], "bleu": 31.456, "chrf": 55.5}}

G2P_SAMPLES = [
    {"source": list("cat"), "output": ["K", "AE", "T", "<eos>"], "references": [["K", "AE", "T"]],
     "weights": [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.0, 0.1, 0.9], [0.0, 0.0, 1.0]]},
    {"source": list("tomato"), "output": ["T", "AH", "M", "EY", "T", "OW", "<eos>"],
     "references": [["T", "AH", "M", "EY", "T", "OW"], ["T", "AH", "M", "AA", "T", "OW"]],
     "weights": np.full((7, 6), 1 / 6).round(4).tolist()},
    {"source": list("a"), "output": ["AH", "<eos>"], "references": [["AH"], ["EY"]], "weights": [[1.0], [1.0]]},
]
USER_SAMPLES = [{"source": ["the", "cat"], "output": ["le", "chat", "<eos>"], "references": [["le", "chat"]],
                 "weights": [[0.8, 0.2], [0.1, 0.9], [0.5, 0.5]]}]


def fake_eval(run: str, task: str, spec: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """An evaluate-stage record of a seq2seq run as metrics/eval/<run>.json holds it."""
    backends = {}
    for backend, wer in spec["wer"].items():
        latency = {f"batch_{batch}": {"p50_ms": p50, "p95_ms": p50 * 1.3, "items_per_s": batch * 1000 / p50}
                   for batch, p50 in zip((1, 64), spec["p50"], strict=True)}
        scores = {"greedy_wer": spec["greedy_wer"], "greedy_per": spec["per"] + 0.002, "beam_wer": wer,
                  "beam_per": spec["per"], "wer": wer, "per": spec["per"], "accuracy": 1 - wer, "items": 6_700,
                  "beam": 5, "latency": latency}
        backends[backend] = {**scores, **{key: spec[key] for key in ("bleu", "chrf") if key in spec}}
    return {"run": run, "task": task, "structure": "seq2seq", "cell": spec["cell"],
            "bidirectional": spec["bidirectional"], "layers": spec["layers"], "residual": False, "impl": "fused",
            "parameters": spec["parameters"], "threads": 2, "provider": "CPUExecutionProvider", "test_items": 6_700,
            "sizes_bytes": spec["sizes"], "int8_wer_increase_points": spec["int8_points"], "backends": backends,
            "attention_samples": samples}


def write_runs(layout: Layout, task: str, runs: dict[str, dict[str, Any]], samples: list[dict[str, Any]]) -> None:
    """Every report input of ``runs`` of ``task`` (train and eval metrics, curve, registry) and its null baseline."""
    for run, spec in runs.items():
        curve = [{"epoch": epoch, "lr": 0.003, "train_loss": 1.0 / epoch, "valid_wer": wer,
                  "valid_per": wer / 4, "valid_accuracy": 1 - wer, "epoch_seconds": 60.0}
                 for epoch, wer in enumerate(spec["curve"], start=1)]
        write_text(layout.curve(run), csv_text(curve))
        write_json(layout.train_metrics(run), {
            "best_epoch": spec["curve"].index(spec["valid_wer"]) + 1, "epochs": len(curve), "stop_reason": "patience",
            "train_seconds": 600.0, "steps": 4000, "parameters": spec["parameters"],
            "train_target_tokens_per_second": 90000.0, "valid_wer": spec["valid_wer"], "valid_per": spec["valid_per"],
            "valid_accuracy": 1 - spec["valid_wer"]})
        write_json(layout.eval_metrics(run), fake_eval(run, task, spec, samples))
        write_json(layout.registry_record(run), {"model_name": f"seqlab-{task}", "version": "2", "run_id": f"id-{run}"})
    write_json(layout.baseline(task), {"model": None, "note": "no fitted baseline for seq2seq tasks"})


def seq2seq_repo(root: Path, keep_stress: bool = False, user_task: bool = False) -> tuple[Layout, Params]:
    """A tmp repository with the g2p task (CMUdict) and, with ``user_task``, a one-run user-corpus task."""
    layout = Layout(root)
    write_runs(layout, TASK, RUNS, G2P_SAMPLES)
    tasks = {TASK: {"structure": "seq2seq", "source": {"kind": "cmudict"}, "labels": [], "keep_stress": keep_stress}}
    runs = {run: {"task": TASK, "model": {"cell": spec["cell"], "bidirectional": spec["bidirectional"]}}
            for run, spec in RUNS.items()}
    if user_task:
        write_runs(layout, USER_TASK, USER_RUN, USER_SAMPLES)
        tasks[USER_TASK] = {"structure": "seq2seq", "source": {"kind": "file", "path": "data/user/pairs.tsv"},
                            "labels": [], "tokenizer": "whitespace"}
        runs["pairs-gru"] = {"task": USER_TASK, "model": {"cell": "gru"}}
    return layout, Params.model_validate({"tasks": tasks, "runs": runs})


def report(root: Path, **repo: bool) -> tuple[Layout, dict[str, dict[str, Any]], str]:
    """Write the report of a seq2seq repository; returns its layout, champions and summary.md."""
    layout, params = seq2seq_repo(root, **repo)
    champions = write_report(layout, params, set_aliases=False)
    return layout, champions, (layout.reports / "summary.md").read_text(encoding="utf-8")


def test_seq2seq_table(tmp_path: Path) -> None:
    # Guards the g2p table: error rates as percentages in the right columns, int8 latency only, no baseline row.
    _, _, summary = report(tmp_path)
    [rows] = tables(summary)
    assert list(rows) == ["g2p-bilstm", "g2p-gru"]
    bilstm = rows["g2p-bilstm"]
    assert (bilstm["cell"], bilstm["bi"], bilstm["layers"], bilstm["params"]) == ("lstm", "yes", "1", "2,104,000")
    assert (bilstm["valid WER"], bilstm["test WER beam torch"], bilstm["test WER beam ORT fp32"],
            bilstm["test WER beam ORT int8"]) == ("25.10%", "24.31%", "24.31%", "24.41%")
    assert (bilstm["test WER greedy ORT int8"], bilstm["PER beam ORT int8"]) == ("25.62%", "5.71%")
    assert bilstm["int8 WER increase (pts)"] == "+0.10"
    assert (bilstm["p50 ms b1 ORT int8"], bilstm["p50 ms b64 ORT int8"]) == ("3.46", "41.2")
    assert (bilstm["fp32 MB"], bilstm["int8 MB"], bilstm["fp32/int8"]) == ("8.42", "2.15", "3.9×")
    assert not any(column.startswith(("BLEU", "chrF")) or "torch" in column and "p50" in column for column in bilstm)
    assert "Measured on 6700 test items, ONNX Runtime provider CPUExecutionProvider, 2 threads; beam search of " \
           "width 5." in summary


def test_champion_is_lowest_valid_wer(tmp_path: Path) -> None:
    # Guards model selection: the lowest VALID WER wins although another run has the lower test WER.
    layout, champions, summary = report(tmp_path)
    assert champions == {TASK: {"run": "g2p-bilstm", "valid_wer": 0.251, "test_wer": 0.24406, "test_per": 0.05712,
                                "model_name": "seqlab-g2p", "version": "2"}}
    assert read_json(layout.champions) == champions
    assert ("**Champion:** `g2p-bilstm`, lowest valid WER 25.10% (greedy), test WER 24.41%, PER 5.71% (ORT int8, "
            "beam search of width 5); registered as `seqlab-g2p` version 2, alias `champion`.") in summary


def test_champion_ties_go_to_valid_per(tmp_path: Path) -> None:
    # Guards the tie-break: equal valid WER -> the lower valid PER, whatever the names.
    layout, params = seq2seq_repo(tmp_path)
    metrics = read_json(layout.train_metrics("g2p-gru"))
    write_json(layout.train_metrics("g2p-gru"), {**metrics, "valid_wer": 0.2510, "valid_per": 0.0570})
    assert champions_record(load_results(layout, params))[TASK]["run"] == "g2p-gru"


@pytest.mark.parametrize(("keep_stress", "said"), [
    (False, "This task strips the vowels' stress digits (`keep_stress: false`): compare with the stress-stripped"),
    (True, "This task keeps the vowels' stress digits (AH0, AH1; `keep_stress: true`): compare with the stress-kept")])
def test_published_results_for_cmudict(tmp_path: Path, keep_stress: bool, said: str) -> None:
    # Guards the literature comparison: labelled as published, both stress settings, and which one this run is.
    _, _, summary = report(tmp_path, keep_stress=keep_stress)
    assert "Published results on CMUdict (as published, not run here" in summary
    assert "Phonetisaurus WFST 24.4% WER (classic 106,837/12,000 split, Novak et al.) and 24.8%" in summary
    assert "23.55% WER / 5.45% PER (Yao & Zweig 2015)" in summary and "20.24% WER / 4.69% PER" in summary
    assert "stress kept: Phonetisaurus 32.5% WER" in summary and said in summary


def test_user_corpus_has_bleu_and_no_published_results(tmp_path: Path) -> None:
    # Guards a user's parallel corpus beside g2p: BLEU and chrF columns in its table only, the CMUdict
    # comparison once (for g2p), and the legend's seq2seq section without the other kinds'.
    layout, champions, summary = report(tmp_path, user_task=True)
    g2p, pairs = tables(summary)
    assert not any(column.startswith(("BLEU", "chrF")) for column in g2p["g2p-bilstm"])
    assert (pairs["pairs-gru"]["BLEU ORT int8"], pairs["pairs-gru"]["chrF ORT int8"]) == ("31.46", "55.50")
    assert pairs["pairs-gru"]["test WER beam ORT int8"] == "23.01%"
    assert champions[USER_TASK]["run"] == "pairs-gru"
    assert summary.count("Published results on CMUdict") == 1
    assert summary.index("Published results on CMUdict") < summary.index(f"## Task `{USER_TASK}`")
    assert "Sequence-to-sequence tasks" in summary and "LOWEST *VALID* WER" in summary
    assert "Classify and tag tasks" not in summary and "Generating tasks" not in summary
    assert (layout.reports / "plots" / f"{USER_TASK}_attention.png").read_bytes()[:8] == PNG_MAGIC


def test_seq2seq_plots_are_png_and_linked(tmp_path: Path) -> None:
    # Guards the figures: WER per backend, valid-WER curves, size, latency and the champion's attention heat maps.
    layout, _, summary = report(tmp_path)
    for kind in ("wer", "curves", "size", "latency", "attention"):
        png = layout.reports / "plots" / f"{TASK}_{kind}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000
        assert f"](plots/{TASK}_{kind}.png)" in summary
    assert not (layout.reports / "plots" / f"{TASK}_accuracy.png").exists()


def test_missing_valid_wer_names_file_and_stage(tmp_path: Path) -> None:
    # Guards the error a user sees when train metrics predate seq2seq: the file and the stage that makes it.
    layout, params = seq2seq_repo(tmp_path)
    metrics = read_json(layout.train_metrics("g2p-gru"))
    del metrics["valid_wer"]
    write_json(layout.train_metrics("g2p-gru"), metrics)
    with pytest.raises(InputError, match=r"train/g2p-gru\.json: missing valid_wer; rerun stage train@g2p-gru"):
        write_report(layout, params, set_aliases=False)
    assert not (layout.reports / "summary.md").exists()


def test_attention_samples_plot_titles_and_shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Guards the evaluate stage's helper: characters joined into a word, words with spaces, wrong shapes refused.
    drawn: list[str] = []
    draw = plots.attention_grid

    def spy(examples: list[tuple[str, list[str], list[str], np.ndarray]], title: str, path: Path) -> Path:
        drawn.extend(word for word, *_ in examples)
        return draw(examples, title, path)

    monkeypatch.setattr(plots, "attention_grid", spy)
    path = attention_samples_plot([G2P_SAMPLES[0], *USER_SAMPLES], "attention", tmp_path / "attention.png")
    assert drawn == ["cat", "the cat"] and path.read_bytes()[:8] == PNG_MAGIC
    wrong = {**G2P_SAMPLES[0], "weights": np.ones((3, 4)).tolist()}  # transposed: source x output
    with pytest.raises(ValueError, match=r"cat: attention weights of shape \(3, 4\).*shape \(4, 3\)"):
        attention_samples_plot([wrong], "attention", tmp_path / "wrong.png")
    assert not (tmp_path / "wrong.png").exists()
