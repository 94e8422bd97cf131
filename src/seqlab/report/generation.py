"""What the generating models write: samples at several temperatures, and whether conditioned text
carries its condition.

Condition agreement (1 vs N): each condition's model state generates N texts, which the champion
of a classifier task (the sentiment classifier, by default) then labels. The share labelled as the
conditioning label says how much of the condition the texts carry; the share labelled as the
*swapped* label (the next label in the list: for neg/pos, the other one) is the control, and the
classifier's accuracy on real test texts of each label is the ceiling to compare with.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from seqlab.checkpoint import ModelSpec, load_checkpoint
from seqlab.config import GENERATIVE, GenerationConfig, Params
from seqlab.entry import StageError
from seqlab.inference.backends import OrtBackend, batched_outputs
from seqlab.inference.bundle import CONDITION_FILE
from seqlab.inference.generate import OrtStepModel, Sampler, TextGenerator
from seqlab.inference.sessions import create_session
from seqlab.io import read_json, read_jsonl, write_json, write_text
from seqlab.paths import Layout
from seqlab.text.encoding import load_encoder
from seqlab.text.vocab import TOKENS_FILE, Vocab

logger = logging.getLogger(__name__)

Classify = Callable[[list[str]], list[str]]
"""Texts -> predicted labels (the classifier that judges conditioned text)."""


def run_classifier(checkpoint: Path, model: Path, vocab_dir: Path, threads: int | None = None) -> Classify:
    """The classifier of a classify run as a function of texts: its ONNX ``model`` (int8, as served) read
    through the run's own encoder (the spec in ``checkpoint``)."""
    spec = ModelSpec(**load_checkpoint(checkpoint)["spec"])
    encoder = load_encoder(vocab_dir, spec.tokenizer, spec.max_len, spec.model)
    backend = OrtBackend(create_session(model, "cpu", threads), "ort_int8")

    def classify(texts: list[str]) -> list[str]:
        outputs = batched_outputs(backend, [encoder.encode(text) for text in texts], encoder.vocab.pad_id)
        return [spec.labels[int(row.argmax())] for row in outputs]

    return classify


def samples(generator: TextGenerator, prompt: str, settings: GenerationConfig) -> list[dict[str, Any]]:
    """One seeded sample per temperature (and per condition, for a conditioned model)."""
    rows = []
    for condition in generator.conditions or [None]:
        for temperature in settings.temperatures:
            sampler = Sampler(temperature, seed=settings.seed)
            text = "".join(generator.stream(prompt, settings.sample_length, sampler, condition))
            rows.append({"condition": condition, "temperature": temperature, "prompt": prompt, "text": text})
    return rows


def condition_agreement(generator: TextGenerator, classify: Classify, real: dict[str, list[str]],
                        settings: GenerationConfig, length: int) -> list[dict[str, Any]]:
    """Per condition: texts generated, the share the classifier labels as the condition, as the swapped
    label (the control), and its accuracy on ``real`` test texts of that label (the ceiling). Shares are
    of all generated texts; an empty one (the model chose ``<eos>`` first) counts for neither label."""
    conditions = generator.conditions
    rows = []
    for index, condition in enumerate(conditions):
        swapped = conditions[(index + 1) % len(conditions)]
        texts = generator.texts(condition, settings.samples_per_condition, length,
                                Sampler(1.0, seed=settings.seed + index))
        written = [text for text in texts if text.strip()]  # a text may end at once (<eos> first): no label then
        labels = classify(written) if written else []
        real_labels = classify(real[condition]) if real.get(condition) else []
        rows.append({
            "condition": condition, "swapped": swapped, "texts": len(texts),
            "empty_texts": len(texts) - len(written),
            "agreement": _share(labels, condition, len(texts)),
            "swapped_agreement": _share(labels, swapped, len(texts)),
            "real_texts": len(real_labels), "real_accuracy": _share(real_labels, condition) if real_labels else None,
            "mean_characters": sum(map(len, texts)) / max(len(texts), 1),
            "distinct_share": len(set(texts)) / max(len(texts), 1),
        })
        logger.info("condition %s: %.1f%% of %d generated texts classified %s (swapped %s: %.1f%%)", condition,
                    100 * rows[-1]["agreement"], len(texts), condition, swapped, 100 * rows[-1]["swapped_agreement"])
    return rows


def _share(labels: Sequence[str], wanted: str, out_of: int | None = None) -> float:
    """The share of ``labels`` equal to ``wanted``, out of ``out_of`` texts (default: all the labels)."""
    return sum(label == wanted for label in labels) / max(len(labels) if out_of is None else out_of, 1)


def _quoted(text: str) -> list[str]:
    """``text`` as a markdown block quote, line by line (empty lines kept)."""
    return [f"> {line}" if line else ">" for line in text.split("\n")]


def generation_markdown(run_samples: dict[str, list[dict[str, Any]]], agreement: dict[str, dict[str, Any]]) -> str:
    """reports/generation.md: the condition agreement tables, then every run's samples."""
    lines = ["# What the generating models write", ""]
    for run, record in agreement.items():
        lines += [f"## Condition agreement: `{run}`", "",
                  f"{record['per_condition'][0]['texts']} texts per condition, sampled at temperature 1.0 from the "
                  f"condition's learnt state (ORT int8), labelled by `{record['classifier_run']}`, the champion of "
                  f"task `{record['classifier_task']}`.", "",
                  "| condition | texts (empty) | classified as the condition | as the swapped label (control) | "
                  "classifier accuracy on real test texts of the label | mean characters | distinct texts |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for row in record["per_condition"]:
            real = "–" if row["real_accuracy"] is None else f"{100 * row['real_accuracy']:.1f}% ({row['real_texts']})"
            swapped = f"{100 * row['swapped_agreement']:.1f}% (`{row['swapped']}`)"
            lines.append(f"| `{row['condition']}` | {row['texts']} ({row['empty_texts']}) | "
                         f"{100 * row['agreement']:.1f}% | {swapped} | {real} | "
                         f"{row['mean_characters']:.0f} | {100 * row['distinct_share']:.0f}% |")
        lines.append("")
    for run, rows in run_samples.items():
        lines += [f"## Samples: `{run}`", ""]
        for row in rows:
            said = f"condition `{row['condition']}`, " if row["condition"] else ""
            prompt = f", prompt {row['prompt']!r}" if row["prompt"] else ""
            lines += [f"{said}temperature {row['temperature']}{prompt}:", "", *_quoted(row["prompt"] + row["text"]), ""]
    return "\n".join(lines)


def write_generation_report(layout: Layout, params: Params) -> dict[str, Any]:
    """Samples of every lm/condlm run of ``params`` and the condition agreement of condlm runs, written to
    reports/generation.md and reports/generation.json; returns what was written."""
    settings = params.generation
    threads = params.evaluate.threads
    run_samples: dict[str, list[dict[str, Any]]] = {}
    agreement: dict[str, dict[str, Any]] = {}
    for run, config in params.runs.items():
        task = params.task(config.task)
        if task.structure not in GENERATIVE:
            continue
        spec = ModelSpec(**load_checkpoint(layout.checkpoint(run))["spec"])
        condition = create_session(layout.onnx_dir(run) / CONDITION_FILE, "cpu", threads) \
            if task.structure == "condlm" else None
        model = OrtStepModel(create_session(layout.quantized_dir(run) / "model.int8.onnx", "cpu", threads), condition)
        generator = TextGenerator(model, Vocab.load(layout.vocab(config.task) / TOKENS_FILE), spec.labels)
        run_samples[run] = samples(generator, settings.prompts.get(config.task, ""), settings)
        if task.structure == "condlm":
            agreement[run] = _judged_by_champion(layout, generator, config.task, task.max_len, settings, threads)
    record = {"samples": run_samples, "agreement": agreement}
    write_json(layout.reports / "generation.json", record)
    write_text(layout.reports / "generation.md", generation_markdown(run_samples, agreement))
    logger.info("wrote %s", layout.reports / "generation.md")
    return record


def _judged_by_champion(layout: Layout, generator: TextGenerator, task: str, max_len: int, settings: GenerationConfig,
                       threads: int | None) -> dict[str, Any]:
    """The condition agreement of ``generator``'s texts, judged by the champion of the classifier task."""
    classifier_task = settings.classifier_task
    champions = read_json(layout.champions, made_by="report")
    if classifier_task not in champions:
        raise StageError(f"{layout.champions}: no champion of task '{classifier_task}' (params "
                         "generation.classifier_task) to classify conditioned text; add a run of that task")
    classifier = champions[classifier_task]["run"]
    classify = run_classifier(layout.checkpoint(classifier), layout.quantized_dir(classifier) / "model.int8.onnx",
                              layout.vocab(classifier_task), threads)
    real: dict[str, list[str]] = {}
    for _, row in read_jsonl(layout.prepared(task) / "test.jsonl"):
        real.setdefault(row["label"], []).append(row["text"])
    rows = condition_agreement(generator, classify, real, settings, max_len)
    return {"classifier_task": classifier_task, "classifier_run": classifier, "per_condition": rows}
