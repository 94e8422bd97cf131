"""`make bench` kept working: `seqlab bench` on the tiny pipeline's outputs with the tiny params' short
settings. The figures themselves are for `make bench` on a quiet machine; here only their shape and
their sanity are checked (what a broken section would get wrong)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TASKS = {"sentiment", "pos", "seg", "lm", "reviews", "g2p", "numbers"}
BACKENDS = {"torch_fp32", "ort_fp32", "ort_int8"}


def _spread_ok(figure: dict[str, float]) -> bool:
    return 0 < figure["min"] <= figure["median"] <= figure["max"]


@pytest.fixture(scope="module")
def bench(project: Path, run) -> dict:
    run(["seqlab", "bench", "--bundles", "dist", "--out", "reports/bench"], project, timeout=900)
    return json.loads((project / "reports/bench/bench.json").read_text())


@pytest.mark.e2e
def test_inference_and_cells_time_every_backend(bench: dict) -> None:
    # Guards: a task or backend left out, a ratio computed from the wrong figures, p99 below p50.
    inference = bench["sections"]["inference"]["tasks"]
    assert set(inference) == TASKS
    for task, entry in inference.items():
        assert set(entry["backends"]) >= BACKENDS, task
        for batches in entry["backends"].values():
            assert set(batches) == {"batch_1", "batch_8"}
            for figures in batches.values():
                assert _spread_ok(figures["items_per_s"]) and figures["p50_ms"]["median"] <= figures["p99_ms"]["max"]
        rate = {name: entry["backends"][name]["batch_1"]["items_per_s"]["median"] for name in BACKENDS}
        assert entry["speedups"]["ort_fp32_over_torch_batch_1"] == pytest.approx(
            rate["ort_fp32"] / rate["torch_fp32"], rel=0.01)
        assert set(entry["quality"]) >= BACKENDS
    cells = bench["sections"]["cells"]["cells"]
    assert set(cells) == {"lstm", "gru", "rnn_tanh"}
    assert all(set(entry["ratios"]) == {"ort_fp32_over_torch_batch_1", "ort_fp32_over_torch_batch_8",
                                        "ort_int8_over_torch_batch_1", "ort_int8_over_torch_batch_8"}
               for entry in cells.values())


@pytest.mark.e2e
def test_generation_training_and_kernels(bench: dict) -> None:
    # Guards: the sliding window measured as the stateful method (no gap at all), a cell left out.
    generation = bench["sections"]["generation"]["runs"]["tiny-lm-gru"]["lengths"]
    assert set(generation) == {"20", "60"}
    assert all(_spread_ok(rates[name]) for rates in generation.values()
               for name in ("ort_stateful", "torch_stateful", "ort_sliding_window"))
    training = bench["sections"]["training"]
    assert set(training["cells"]) == {"rnn_tanh", "lstm", "gru"} and training["runs"]["tiny-g2p"]["counted"]
    assert all(entry["speedup"] > 0 for entry in training["cells"].values())
    kernels = bench["sections"]["kernels"]
    assert 0 < kernels["ratio"] < 10 and _spread_ok(kernels["lstm_gflops"])
    faster = max(figure["median"] for figure in (kernels["matmul_gflops"], kernels["onednn_matmul_gflops"]) if figure)
    assert kernels["ratio"] == pytest.approx(kernels["lstm_gflops"]["median"] / faster, rel=0.01)
    for entry in training["cells"].values():
        assert _spread_ok(entry["products_only_tokens_per_s"])
        assert entry["speedup_bound"] == pytest.approx(entry["products_only_tokens_per_s"]["median"]
                                                       / entry["scratch_tokens_per_s"]["median"], abs=0.006)


@pytest.mark.e2e
def test_peers_stages_and_server(bench: dict, project: Path) -> None:
    # Guards: a peer decoded or scored wrongly, stage times not read from the pipeline's own log, a server
    # error hidden in the load figures, or a report its reader can't use.
    peers = bench["sections"]["peers"]["tasks"]
    assert set(peers) == {"sentiment", "pos", "g2p"}
    g2p_en = next(row for row in peers["g2p"] if row["model"].startswith("g2p_en"))
    assert g2p_en["items"] == 100 and g2p_en["value"] < 0.4  # about 25% WER without stress
    bayes = next(row for row in peers["sentiment"] if row["model"] == "snownlp Bayes")
    assert bayes["value"] > 0.75  # it was trained on these reviews
    stages = bench["sections"]["stages"]
    assert set(stages["throughput"]) == TASKS
    assert stages["stage_seconds"]["train@tiny-bigru"] > 0 and "report" in stages["stage_seconds"]
    server = bench["sections"]["server"]
    assert set(server["tasks"]) == TASKS
    for task, figures in server["tasks"].items():
        assert figures["errors"] == 0, task
        assert figures["requests"] >= server["clients"] * server["rounds"], task
        assert _spread_ok(figures["requests_per_s"]), task
    assert server["tasks"]["lm"]["endpoint"] == "generate" and server["tasks"]["g2p"]["endpoint"] == "predict"
    markdown = (project / "reports/bench/bench.md").read_text()
    for heading in ("Inference", "per cell type", "Generation", "Training", "Closeness", "Peers", "Pipeline stages",
                    "Server under load"):
        assert heading in markdown
    server_table = markdown.split("## Server under load", 1)[1]
    assert all(f"\n| {task} | " in server_table for task in TASKS)


def test_an_unknown_section_is_refused_naming_the_known_ones(repo: Path) -> None:
    # Guards: a typo in a section name silently measuring nothing.
    seqlab = str(Path(sys.executable).parent / "seqlab")
    result = subprocess.run([seqlab, "bench", "sever"], cwd=repo, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "unknown benchmark section(s) sever" in result.stderr and "server" in result.stderr
