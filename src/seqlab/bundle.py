"""Write a deployment bundle for a task's champion run: models, vocabulary, config, card, checksums."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from seqlab.checkpoint import load_checkpoint
from seqlab.inference.bundle import BUNDLE_VOCAB, CHECKSUMS, MODEL_FILES
from seqlab.io import atomic_path, read_json, sha256_file, write_json, write_text
from seqlab.paths import Layout
from seqlab.text.vocab import CHARS_FILE, PAIRS_FILE, TOKENS_FILE
from seqlab.training.tracking import git_commit


def _percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def model_card(task: str, run: str, config: dict[str, Any], evaluation: dict[str, Any], manifest: dict[str, Any],
               commit: str | None, parity: dict[str, Any]) -> str:
    """A markdown model card: what the model is, what it was trained on, how good and fast it is."""
    backends = evaluation["backends"]
    sizes = evaluation["sizes_bytes"]
    source = manifest["source"]
    tagger = config["structure"] == "tag"
    counts = {name: c["sentences"] if tagger else sum(c.values()) for name, c in manifest["counts"].items()}
    rows = "\n".join(
        f"| {name} | {_percent(b['accuracy'])} | {b['macro_f1']:.4f} | "
        + " | ".join(f"{b['latency'][k]['p50_ms']:.2f}" for k in sorted(b["latency"]))
        + " |"
        for name, b in backends.items()
    )
    batches = sorted(next(iter(backends.values()))["latency"])
    latency_columns = " | ".join(f"p50 ms, {batch.replace('_', ' ')}" for batch in batches)
    model = config["model"]
    return f"""# seqlab model card: {task}

- **Run**: `{run}` ({model['cell']}, {'bidirectional' if model['bidirectional'] else 'unidirectional'},
  {model['layers']} layer(s), hidden {model['hidden']}, {evaluation['parameters']:,} parameters)
- **Task**: {_task_line(config)}
- **Data**: {source['kind']} ({source.get('package') or 'user file'} {source.get('package_version') or ''}),
  deduplicated, contradictory {'sentences' if tagger else 'texts'} removed; train {counts['train']},
  valid {counts['valid']}, test {counts['test']}{' sentences' if tagger else ''}.
- **Commit**: `{commit or 'unknown'}`; bundle written {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}.

## Test-split quality and CPU latency ({evaluation['threads']} threads)

| model | {'token accuracy' if tagger else 'accuracy'} | macro-F1 | {latency_columns} |
| --- | --- | --- | {' | '.join('---' for _ in batches)} |
{rows}

{_tagging_line(backends)}ONNX Runtime matches PyTorch within {parity['max_abs_diff']:.1e} (max |logit difference|), with
{_percent(parity['agreement'])} prediction agreement. Sizes: fp32 {sizes['fp32'] / 1e6:.2f} MB,
int8 {sizes['int8'] / 1e6:.2f} MB, fp16 {sizes['fp16'] / 1e6:.2f} MB.

## Use

`seqlab predict --bundle <this folder> "text"` runs the fp16 model on CUDA when a GPU is present and
the int8 model on the CPU otherwise. {_caveat(config)}
"""


def _tagging_line(backends: dict[str, Any]) -> str:
    """For a tagger: the int8 model's accuracy on words unseen in training, or its word F1 (segmentation)."""
    int8 = backends.get("ort_int8", {})
    figures = []
    if int8.get("oov_accuracy") is not None:
        figures.append(f"accuracy on the {int8['oov_tokens']:,} test tokens unseen in training "
                       f"{_percent(int8['oov_accuracy'])}")
    if int8.get("word_f1") is not None:
        figures.append(f"word precision {_percent(int8['word_precision'])}, recall {_percent(int8['word_recall'])}, "
                       f"F1 {_percent(int8['word_f1'])}")
    return f"int8 model: {'; '.join(figures)}.\n\n" if figures else ""


def _task_line(config: dict[str, Any]) -> str:
    """What the model does, in one sentence."""
    limit = f"at most {config['max_len']} {config['tokenizer']} tokens per text (longer texts are truncated)"
    if config["structure"] != "tag":
        return f"classify a text into one of {', '.join(config['labels'])}; {limit}."
    if config.get("tag_scheme") == "bmes":
        return f"segment text into words (a b/m/e/s tag per character); {limit}."
    return f"tag each word with one of {len(config['labels'])} tags; words separated by spaces; {limit}."


def _caveat(config: dict[str, Any]) -> str:
    """Where the model may do worse than its test figures say."""
    if config["structure"] == "tag":
        return ("The model learnt from People's Daily news of January 1998; other genres (social media, "
                "dialogue) and newer vocabulary will be tagged less well.")
    return ("The model learnt from product and book reviews; texts of other kinds (news, dialogue) may be "
            "classified less well.")


def _tokens_input(model: dict[str, Any]) -> str:
    """The ``tokens`` input's layout: ids, or rows of [token, pair?, characters?] per position."""
    columns = ["token"] + (["pair"] if model.get("pair_embed_dim") else [])
    columns += [f"{model['max_word_chars']} chars"] if model.get("char_embed_dim") else []
    return "int64 [batch, time]" if len(columns) == 1 else f"int64 [batch, time, {' + '.join(columns)}]"


def write_bundle(layout: Layout, task: str, run: str, out_dir: Path) -> Path:
    """Assemble ``out_dir`` from run outputs atomically and return it."""
    payload = load_checkpoint(layout.checkpoint(run))
    spec = payload["spec"]
    config = {
        "task": task, "run": run, "structure": spec["structure"], "labels": spec["labels"],
        "tokenizer": spec["tokenizer"], "max_len": spec["max_len"], "model": spec["model"],
        "tag_scheme": spec.get("tag_scheme", "tags"),
        "inputs": {"tokens": _tokens_input(spec["model"]), "lengths": "int64 [batch]"},
        "outputs": {"logits": "float32 [batch, time, labels]" if spec["structure"] == "tag"
                    else "float32 [batch, labels]"},
    }
    evaluation = read_json(layout.eval_metrics(run))
    sources = {
        MODEL_FILES["fp32"]: layout.onnx_model(run),
        MODEL_FILES["int8"]: layout.quantized_dir(run) / MODEL_FILES["int8"],
        MODEL_FILES["fp16"]: layout.quantized_dir(run) / MODEL_FILES["fp16"],
        BUNDLE_VOCAB: layout.vocab(task) / TOKENS_FILE,
    }
    if spec["model"].get("char_embed_dim"):
        sources[CHARS_FILE] = layout.vocab(task) / CHARS_FILE
    if spec["model"].get("pair_embed_dim"):
        sources[PAIRS_FILE] = layout.vocab(task) / PAIRS_FILE
    with atomic_path(out_dir) as staging:
        staging.mkdir()
        for name, path in sources.items():
            shutil.copy2(path, staging / name)
        write_json(staging / "config.json", config)
        write_json(staging / "metrics.json", evaluation)
        card = model_card(task, run, config, evaluation, read_json(layout.prepared(task) / "manifest.json"),
                          git_commit(layout.root), read_json(layout.parity_report(run)))
        write_text(staging / "MODEL_CARD.md", card)
        names = sorted(path.name for path in staging.iterdir())
        write_text(staging / CHECKSUMS, "".join(f"{sha256_file(staging / n)}  {n}\n" for n in names))
    return out_dir
