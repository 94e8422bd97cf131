"""Stage generation: samples of every generating run and the condition agreement of conditioned ones.

Runs after the report, because conditioned text is judged by the champion of a classifier task
(params generation.classifier_task). Writes reports/generation.md and metrics/generation.json.
"""

import logging
from typing import Any

from seqlab.checkpoint import ModelSpec, load_checkpoint
from seqlab.config import GENERATIVE, GenerationConfig, load_params
from seqlab.entry import StageError, run_entry
from seqlab.inference.bundle import CONDITION_FILE
from seqlab.inference.generate import OrtStepModel, TextGenerator
from seqlab.inference.sessions import create_session
from seqlab.io import read_json, read_jsonl, write_json, write_text
from seqlab.paths import Layout, repo_root
from seqlab.report.generation import condition_agreement, generation_markdown, run_classifier, samples
from seqlab.text.vocab import TOKENS_FILE, Vocab


def main() -> None:
    """Generate samples with every lm/condlm run; measure the condition agreement of condlm runs."""
    layout = Layout(repo_root())
    params = load_params(layout.root / "params.yaml")
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
            agreement[run] = judged_by_champion(layout, generator, config.task, task.max_len, settings, threads)
    write_json(layout.reports / "generation.json", {"samples": run_samples, "agreement": agreement})
    write_text(layout.reports / "generation.md", generation_markdown(run_samples, agreement))
    logging.getLogger(__name__).info("wrote %s", layout.reports / "generation.md")


def judged_by_champion(layout: Layout, generator: TextGenerator, task: str, max_len: int, settings: GenerationConfig,
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


if __name__ == "__main__":
    run_entry(main)
