"""The ``seqlab`` command: predict or generate with a bundle, write bundles, and more as the project grows."""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from seqlab.entry import USER_ERRORS, configure_logging
from seqlab.inference.sessions import ProviderUnavailable


class Provider(StrEnum):
    """Where ONNX Runtime runs the model."""

    auto = "auto"
    cuda = "cuda"
    cpu = "cpu"


app = typer.Typer(help="seqlab: train, export and serve recurrent sequence models.", no_args_is_help=True,
                  add_completion=False)
err = Console(stderr=True)


def _friendly(command: Callable[..., None]) -> Callable[..., None]:
    """Turn errors a user can fix into one red line and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        configure_logging("WARNING")
        try:
            command(*args, **kwargs)
        except (*USER_ERRORS, ValueError, ProviderUnavailable) as error:
            err.print(f"[red]error:[/red] {error}")
            raise typer.Exit(1) from error

    return wrapper


@app.command()
@_friendly
def predict(
    texts: Annotated[list[str], typer.Argument(help="Texts to run (for a POS tagger: words separated by spaces).")],
    bundle: Annotated[Path, typer.Option(help="A bundle folder written by `make export`, e.g. dist/sentiment.")],
    provider: Annotated[Provider, typer.Option(help="auto: CUDA when it loads, else the CPU.")] = Provider.auto,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per text.")] = False,
    beam: Annotated[int | None, typer.Option(min=1, help="seq2seq: print the BEAM best outputs with their scores "
                                                         "(default: the best of the bundle's beam search).")] = None,
) -> None:
    """Run a bundle on TEXTS: a classifier prints label and probability, a tagger word/tag pairs, a
    segmenter the words separated by spaces, an encoder-decoder (e.g. grapheme-to-phoneme) its output."""
    from seqlab.inference.bundle import GeneratorBundle, Seq2SeqBundle, TaggedText, load_bundle

    model = load_bundle(bundle, provider.value)
    if isinstance(model, GeneratorBundle):
        raise ValueError(f"{bundle} holds a language model: run `seqlab generate --bundle {bundle}`")
    if isinstance(model, Seq2SeqBundle):
        _print_transductions(model.transduce(texts, beam), as_json, n_best=beam is not None)
        err.print(f"ran {model.name} on {model.provider}")
        return
    if beam is not None:
        raise ValueError(f"--beam: {bundle} holds a {model.config.get('structure', 'classify')} model, which "
                         "does not search; leave it out")
    for text, result in zip(texts, model.predict(texts), strict=True):
        if as_json:
            typer.echo(json.dumps({"text": text, **asdict(result)}, ensure_ascii=False))
        elif not isinstance(result, TaggedText):
            typer.echo(f"{result.label}\t{result.probability:.4f}\t{text}")
        elif result.words is not None:
            typer.echo(" ".join(result.words))
        else:
            typer.echo(" ".join(f"{token}/{tag}" for token, tag in zip(result.tokens, result.tags, strict=True)))
    err.print(f"ran {model.backend.name} on {model.provider}")


def _print_transductions(results: list, as_json: bool, n_best: bool) -> None:
    """An encoder-decoder's outputs: the best one per line, or with ``n_best`` each text's outputs numbered
    with their scores."""
    for result in results:
        if as_json:
            typer.echo(json.dumps(asdict(result), ensure_ascii=False))
        elif not n_best:
            typer.echo(result.outputs[0] if result.outputs else "")
        else:
            typer.echo(result.source)
            for rank, (output, score) in enumerate(zip(result.outputs, result.scores, strict=True), start=1):
                typer.echo(f"  {rank}. {output}\t{score:.4f}")


@app.command()
@_friendly
def generate(
    bundle: Annotated[Path, typer.Option(help="A language model bundle written by `make export`, e.g. dist/lm.")],
    prompt: Annotated[str, typer.Option(help="Text to continue (empty: a new text from the start).")] = "",
    length: Annotated[int, typer.Option(min=1, help="Characters to generate (fewer if the text ends).")] = 500,
    temperature: Annotated[float, typer.Option(min=0, help="0: always the likeliest character.")] = 0.8,
    top_k: Annotated[int, typer.Option(min=0, help="Draw from the K likeliest characters only (0: all).")] = 0,
    top_p: Annotated[float, typer.Option(help="Draw from the likeliest characters holding P of the "
                                              "probability (1: all).")] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Seed of the draws: the same seed repeats a text.")] = None,
    condition: Annotated[str | None, typer.Option(help="What to generate from (a conditioned model), "
                                                       "e.g. pos or neg.")] = None,
    provider: Annotated[Provider, typer.Option(help="auto: CUDA when it loads, else the CPU.")] = Provider.auto,
) -> None:
    """Continue PROMPT with a language model bundle, printing the prompt and then each character as it
    is generated."""
    from seqlab.inference.bundle import GeneratorBundle, load_bundle
    from seqlab.inference.generate import Sampler

    model = load_bundle(bundle, provider.value)
    if not isinstance(model, GeneratorBundle):
        raise ValueError(f"{bundle} holds a {model.config.get('structure', 'classify')} model, which does not "
                         f"generate: run `seqlab predict --bundle {bundle}`")
    characters = model.stream(prompt, length, Sampler(temperature, top_k, top_p, seed), condition)
    typer.echo(prompt, nl=False)
    for character in characters:
        typer.echo(character, nl=False)  # echo flushes: the text appears as it is generated
    typer.echo()
    err.print(f"ran {model.name} on {model.provider}")


@app.command()
@_friendly
def serve(
    bundles: Annotated[Path, typer.Option(help="A folder of bundles written by `make export`.")] = Path("dist"),
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    provider: Annotated[Provider, typer.Option(help="auto: CUDA and fp16 when it loads, else the CPU and int8.")]
    = Provider.auto,
    threads: Annotated[int, typer.Option(min=1, help="ONNX Runtime threads per call; calls run side by side.")] = 1,
    max_items: Annotated[int, typer.Option(min=1, help="Texts per predict request.")] = 64,
    max_chars: Annotated[int, typer.Option(min=1, help="Characters per text or prompt.")] = 1000,
    max_length: Annotated[int, typer.Option(min=1, help="Characters per generated text.")] = 2000,
    max_beam: Annotated[int, typer.Option(min=1, help="Widest beam a seq2seq request may ask for.")] = 16,
) -> None:
    """Serve every bundle in BUNDLES over HTTP (OpenAPI docs at /docs). Bundles are checked against their
    SHA256SUMS and loaded before the server listens; a missing or altered file stops it, naming the file."""
    import uvicorn

    from seqlab.serving.app import create_app
    from seqlab.serving.catalog import load_catalog
    from seqlab.serving.schemas import ServeLimits

    logging.getLogger("seqlab").setLevel(logging.INFO)  # say which model runs where
    limits = ServeLimits(max_items=max_items, max_chars=max_chars, max_length=max_length, max_beam=max_beam)
    app_ = create_app(load_catalog(bundles, provider.value, threads), limits)
    uvicorn.run(app_, host=host, port=port, log_level="info")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@_friendly
def repro(
    context: typer.Context,
    profile: Annotated[str | None, typer.Option(help="Run with profiles/PROFILE.yaml's values (e.g. gpu) as a DVC "
                                                     "experiment: `dvc exp run -S key=value ...`.")] = None,
) -> None:
    """Run `dvc repro` (any extra arguments are passed on) and keep its output, with the seconds since the
    start on every line, in reports/repro.log: `make bench` reads each stage's wall time from it."""
    from seqlab.bench.stages import run_logged
    from seqlab.config import ConfigError
    from seqlab.paths import Layout, repo_root
    from seqlab.profiles import profile_overrides, profile_path

    layout = Layout(repo_root())
    command = ["dvc", "repro"]
    if profile is not None:
        params, overrides = profile_overrides(layout.root / "params.yaml", profile_path(layout.root, profile))
        if params.distributed.device == "cuda":  # no GPU: say so now, not after the data stages
            import torch

            if not torch.cuda.is_available():
                raise ConfigError(f"profile '{profile}' trains on a CUDA GPU (distributed.device: cuda), but torch "
                                  "sees none here (a CPU build of torch, or no driver): run `make repro` instead")
        command = ["dvc", "exp", "run", *overrides]
    layout.reports.mkdir(exist_ok=True)
    raise typer.Exit(run_logged([*command, *context.args], layout.root, layout.repro_log))


@app.command()
@_friendly
def bench(
    sections: Annotated[list[str] | None, typer.Argument(help="Sections to measure (default: all of them).")] = None,
    bundles: Annotated[Path, typer.Option(help="The bundles `make export` wrote (served by the server section).")]
    = Path("dist"),
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for bench.json and bench.md.")] = Path("reports"),
    root: Annotated[Path, typer.Option(help="Repository root (default: found from the current folder).")] = Path("."),
) -> None:
    """Measure speed and cost on this machine (params.yaml `bench` says how long) and write
    reports/bench.json and reports/bench.md. Run the pipeline and `make export` first."""
    from seqlab.bench.run import SECTIONS, run_bench
    from seqlab.config import load_params
    from seqlab.paths import Layout, repo_root

    layout = Layout(repo_root(root))
    written = run_bench(layout, load_params(layout.root / "params.yaml"), bundles, sections or list(SECTIONS),
                        out_dir, log=err.print)
    err.print("wrote " + " and ".join(map(str, written)))


@app.command("audit-labels")
@_friendly
def audit_labels(
    task: Annotated[str, typer.Argument(help="A classification task of params.yaml, e.g. sentiment.")],
    split: Annotated[str, typer.Option(help="The split to audit: train, valid or test.")] = "train",
    below: Annotated[float, typer.Option(help="List rows whose own label gets a probability below this.")] = 0.5,
    folds: Annotated[int, typer.Option(help="Folds for scoring train rows out of fold.")] = 5,
    out: Annotated[Path | None, typer.Option(help="Where to write the suspects (JSONL; default: "
                                             "reports/label_audit/<task>-<split>.jsonl).")] = None,
    root: Annotated[Path, typer.Option(help="Repository root (default: found from the current folder).")] = Path("."),
) -> None:
    """Rank the rows of a prepared classification split whose labels look wrong (run `dvc repro
    prepare@<task>` first): the TF-IDF baseline, fitted without each row, gives its own label a low probability."""
    from seqlab.config import load_params
    from seqlab.io import write_jsonl
    from seqlab.paths import Layout, repo_root
    from seqlab.report.label_audit import audit_labels as audit

    layout = Layout(repo_root(root))
    params = load_params(layout.root / "params.yaml")
    config = params.task(task)
    if config.structure != "classify":
        raise ValueError(f"tasks.{task}: the label audit is for classification tasks; this one is {config.structure}")
    result = audit(layout.prepared(task), config.labels, split, folds, params.seed, below)
    target = out or Path(os.path.relpath(layout.root / "reports" / "label_audit" / f"{task}-{split}.jsonl"))
    write_jsonl(target, result["suspects"])
    summary = result["summary"]
    bands = ", ".join(f"{count} in [{band})" for band, count in summary["p_label_bands"].items())
    typer.echo(f"{task} {split}: {summary['rows']} rows; held-out accuracy {summary['held_out_accuracy']:.4f} "
               f"(C={summary['C']:g})\n"
               f"own-label probability: {bands}\n"
               f"{summary['suspects']} suspects below {below:g}, least likely first, written to {target}")


@app.command()
@_friendly
def bundle(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write one bundle per task into.")] = Path("dist"),
    root: Annotated[Path, typer.Option(help="Repository root (default: found from the current folder).")] = Path("."),
) -> None:
    """Write a deployment bundle per task from the champion run chosen by the report stage."""
    from seqlab.bundle import write_bundle
    from seqlab.config import load_params
    from seqlab.io import read_json
    from seqlab.paths import Layout, repo_root

    layout = Layout(repo_root(root))
    decode = load_params(layout.root / "params.yaml").decode
    champions = read_json(layout.champions)
    if not champions:
        raise ValueError(f"{layout.champions} names no champion; run `make repro` first")
    for task, champion in champions.items():
        folder = write_bundle(layout, task, champion["run"], out_dir / task, decode)
        typer.echo(f"{task}: bundle of run {champion['run']} written to {folder}")


if __name__ == "__main__":
    app()
