"""The cross-run report: reports/summary.md (a table per task, chosen by its structure), plots and champions.

The inputs are read and checked by :mod:`seqlab.report.results` before anything is written.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from seqlab.config import Params, TaskConfig
from seqlab.io import write_json, write_text
from seqlab.paths import Layout
from seqlab.report.champion import champions_record, set_champion_aliases
from seqlab.report.plots import write_task_plots
from seqlab.report.results import BACKENDS, RunResult, TaskResults, load_results

logger = logging.getLogger(__name__)

GENERATION_BACKENDS: tuple[str, ...] = ("ort_fp32", "ort_int8")
INT8_BACKEND: dict[str, str] = {"ort_int8": BACKENDS["ort_int8"]}
SIZES: tuple[str, ...] = ("fp32", "int8", "fp16")
TEXT_SCORES: dict[str, str] = {"bleu": "BLEU", "chrf": "chrF"}  # seq2seq on a user corpus: sacrebleu's 0-100 scores


def _score(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


def _flag(value: bool) -> str:
    return "yes" if value else "no"


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _mb(size: float | None) -> str:
    return "–" if size is None else f"{size / 1e6:.2f}"


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _test_size(results: TaskResults) -> tuple[str, str]:
    """What the task's test split is counted in, and the evaluation key holding the count."""
    if results.seq2seq:
        return "test items", "test_items"
    return ("test characters", "test_characters") if results.generative else ("test examples", "test_examples")


def _measured_on(results: TaskResults) -> str:
    """One line saying how the numbers were measured (test size, provider, threads; for a generating task
    also the generated length and the sliding window; for a sequence-to-sequence task the beam width),
    per distinct setting."""
    unit, size_key = _test_size(results)
    settings = sorted({(str(r.evaluation.get(size_key, "?")), str(r.evaluation.get("provider", "?")),
                        str(r.evaluation.get("threads", "?"))) for r in results.runs})
    said = "; ".join(f"{size} {unit}, ONNX Runtime provider {provider}, {threads} threads"
                     for size, provider, threads in settings)
    if results.generative:
        speeds = sorted({(int(speed["length"]), int(speed["window"])) for r in results.runs
                         for speed in r.evaluation["generation"].values()})
        said += "".join(f"; generation speed over {length} characters, sliding window {window}"
                        for length, window in speeds)
    if results.seq2seq:
        beams = sorted({int(backend["beam"]) for r in results.runs for backend in r.evaluation["backends"].values()
                        if "beam" in backend})
        said += "".join(f"; beam search of width {beam}" for beam in beams)
    return f"Measured on {said}."


def _table(header: list[str], text_columns: int, rows: list[list[str]]) -> list[str]:
    """Markdown table lines; the first ``text_columns`` columns left-aligned, the numbers right-aligned."""
    rule = "|" + "|".join(["---"] * text_columns + ["---:"] * (len(header) - text_columns)) + "|"
    padded = [row + ["–"] * (len(header) - len(row)) for row in rows]
    return ["| " + " | ".join(header) + " |", rule, *("| " + " | ".join(row) + " |" for row in padded)]


def _latency(results: TaskResults, result: RunResult | None = None, name: str = "p50 ms",
             backends: dict[str, str] = BACKENDS) -> list[str]:
    """The latency columns' header (no ``result``) or ``result``'s cells: p50 per batch size and backend
    (``backends``: key -> column label)."""
    batches = results.batch_sizes()
    if result is None:
        return [f"{name} b{batch} {label}" for batch in batches for label in backends.values()]
    return [_ms(result.latency_p50(backend, batch)) for batch in batches for backend in backends]


SIZE_COLUMNS = [*(f"{kind} MB" for kind in SIZES), "fp32/int8"]


def _sizes(result: RunResult) -> list[str]:
    """The model-size cells: MB per file kind and how many times smaller int8 is than fp32."""
    sizes = result.evaluation["sizes_bytes"]
    ratio = f"{sizes['fp32'] / sizes['int8']:.1f}×" if sizes.get("fp32") and sizes.get("int8") else "–"
    return [_mb(sizes.get(kind)) for kind in SIZES] + [ratio]


def text_table(results: TaskResults) -> list[str]:
    """A classify or tag task's table: one row per run (accuracy, sizes, latency), then the baseline row."""
    header = ["run", "cell", "bi", "layers", "residual", "impl", "params", "valid acc", "test acc torch",
              "test acc ORT fp32", "test acc ORT int8", "macro-F1 ORT int8", "int8 drop (pts)", *SIZE_COLUMNS,
              *_latency(results)]
    rows = []
    for result in results.runs:
        ev = result.evaluation
        row = [f"`{result.run}`", str(ev["cell"]), _flag(ev["bidirectional"]), str(ev["layers"]),
               _flag(ev["residual"]), str(ev["impl"]), f"{int(ev['parameters']):,}",
               _score(result.valid_accuracy)]
        row += [_score(result.test_score(backend)) for backend in BACKENDS]
        row += [_score(ev["backends"]["ort_int8"].get("macro_f1")), f"{float(ev['int8_accuracy_drop_points']):.2f}"]
        rows.append(row + _sizes(result) + _latency(results, result))
    base = results.baseline
    rows.append(["baseline", str(base["model"]), "–", "–", "–", "–", "–", _score(base["valid_accuracy"]),
                 _score(base["test_accuracy"]), "–", "–", _score(base["test_macro_f1"])])
    return _table(header, 7, rows)


def generative_table(results: TaskResults) -> list[str]:
    """A generating task's table: one row per run (bits per character, step latency, generation speed,
    sizes), then the n-gram baseline row."""
    generation = [f"{label} {BACKENDS[backend]}" for backend in GENERATION_BACKENDS
                  for label in ("chars/s stateful", "chars/s window", "speed-up")]
    header = ["run", "cell", "layers", "params", "valid bpc", *(f"test bpc {label}" for label in BACKENDS.values()),
              "int8 bpc increase", "next-char acc ORT int8", *_latency(results, name="step p50 ms"), *generation,
              *SIZE_COLUMNS]
    rows = []
    for result in results.runs:
        ev = result.evaluation
        row = [f"`{result.run}`", str(ev["cell"]), str(ev["layers"]), f"{int(ev['parameters']):,}",
               _score(result.valid_bpc), *(_score(result.test_score(backend, "bpc")) for backend in BACKENDS),
               f"{float(ev['int8_bpc_increase']):+.4f}", _score(result.test_score("ort_int8", "accuracy")),
               *_latency(results, result)]
        for backend in GENERATION_BACKENDS:
            speed = ev["generation"].get(backend, {})
            speedup = speed.get("speedup")
            row += [_rate(speed.get("stateful_chars_per_s")), _rate(speed.get("sliding_window_chars_per_s")),
                    "–" if speedup is None else f"{float(speedup):.1f}×"]
        rows.append(row + _sizes(result))
    base = results.baseline
    rows.append(["baseline", f"{base['model']}, order {base['order']}", "–", "–", _score(base["valid_bpc"]),
                 _score(base["test_bpc"])])
    return _table(header, 3, rows)


def _text_scores(results: TaskResults) -> list[str]:
    """The corpus scores (BLEU, chrF) that any of the task's int8 models reports: user corpora only."""
    return [key for key in TEXT_SCORES
            if any(key in result.evaluation["backends"]["ort_int8"] for result in results.runs)]


def seq2seq_table(results: TaskResults) -> list[str]:
    """A sequence-to-sequence task's table: one row per run (error rates as percentages, BLEU and chrF when
    reported, greedy decoding latency of ORT int8, sizes); there is no baseline row."""
    text_scores = _text_scores(results)
    header = ["run", "cell", "bi", "layers", "params", "valid WER",
              *(f"test WER beam {label}" for label in BACKENDS.values()), "test WER greedy ORT int8",
              "PER beam ORT int8", *(f"{TEXT_SCORES[key]} ORT int8" for key in text_scores), "int8 WER increase (pts)",
              *_latency(results, backends=INT8_BACKEND), *SIZE_COLUMNS]
    rows = []
    for result in results.runs:
        ev = result.evaluation
        int8 = ev["backends"]["ort_int8"]
        row = [f"`{result.run}`", str(ev["cell"]), _flag(ev["bidirectional"]), str(ev["layers"]),
               f"{int(ev['parameters']):,}", _percent(result.valid_wer),
               *(_percent(result.test_score(backend, "wer")) for backend in BACKENDS),
               _percent(result.test_score("ort_int8", "greedy_wer")), _percent(result.test_score("ort_int8", "per")),
               *(_score(int8.get(key), 2) for key in text_scores), f"{float(ev['int8_wer_increase_points']):+.2f}",
               *_latency(results, result, backends=INT8_BACKEND)]
        rows.append(row + _sizes(result))
    return _table(header, 3, rows)


def task_table(results: TaskResults) -> list[str]:
    """The task's markdown table, as its structure reads: error rates, bits per character or accuracy."""
    if results.seq2seq:
        return seq2seq_table(results)
    return generative_table(results) if results.generative else text_table(results)


TAGGING_FIGURES: dict[str, str] = {
    "oov_accuracy": "accuracy on words unseen in training", "word_precision": "word precision",
    "word_recall": "word recall", "word_f1": "word F1",
}


def _tagging_lines(results: TaskResults, champion: str, most: int = 12) -> list[str]:
    """For a tag task: the champion's unseen-word accuracy or word F1 beside the baseline's, and its
    precision, recall and F1 on the ``most`` most frequent tags."""
    scores = results.run_result(champion).evaluation["backends"]["ort_int8"]
    found = [(key, label) for key, label in TAGGING_FIGURES.items() if scores.get(key) is not None]
    if not found:
        return []
    said = ", ".join(f"{label} {scores[key]:.4f}" for key, label in found)
    base = ", ".join(f"{label} {results.baseline[f'test_{key}']:.4f}" for key, label in found
                     if results.baseline.get(f"test_{key}") is not None)
    lines = [f"Tagging figures, test split: champion (ORT int8) {said}" + (f"; baseline {base}." if base else "."), ""]
    per_tag = sorted(scores.get("per_tag", {}).items(), key=lambda item: -item[1]["support"])[:most]
    if per_tag:
        lines += [f"Champion per tag ({len(per_tag)} most frequent tags in the test split):", "",
                  "| tag | test tokens | precision | recall | F1 |", "|---|---:|---:|---:|---:|"]
        lines += [f"| `{tag}` | {row['support']:,} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} |"
                  for tag, row in per_tag]
        lines.append("")
    return lines


def _registered(champion: dict[str, Any]) -> str:
    version = champion.get("version")
    return (f"registered as `{champion['model_name']}` version {version}, alias `champion`" if version
            else "not in the MLflow model registry (no alias set)")


PUBLISHED_G2P_STRIPPED = (
    "stress stripped: Phonetisaurus WFST 24.4% WER (classic 106,837/12,000 split, Novak et al.) and 24.8% on a "
    "recent cmudict; a 3-layer BiLSTM 23.55% WER / 5.45% PER (Yao & Zweig 2015); an attention encoder-decoder "
    "ensemble 20.24% WER / 4.69% PER (Toshniwal & Livescu 2016)")
PUBLISHED_G2P_KEPT = "stress kept: Phonetisaurus 32.5% WER on a recent cmudict"


def _published_g2p_lines(keep_stress: bool) -> list[str]:
    """Published CMUdict results (not run here), and which of them this task's stress setting compares with."""
    this = ("keeps the vowels' stress digits (AH0, AH1; `keep_stress: true`): compare with the stress-kept line"
            if keep_stress else "strips the vowels' stress digits (`keep_stress: false`): compare with the "
                                "stress-stripped lines")
    return ["Published results on CMUdict (as published, not run here; splits and dictionary versions differ):", "",
            f"- {PUBLISHED_G2P_STRIPPED}.", f"- {PUBLISHED_G2P_KEPT}.", "",
            f"This task {this}.", ""]


def _seq2seq_champion_lines(results: TaskResults, champion: dict[str, Any], task: TaskConfig) -> list[str]:
    """The champion line of a sequence-to-sequence task, and for CMUdict the published results beside it."""
    beam = results.run_result(champion["run"]).evaluation["backends"]["ort_int8"].get("beam", "?")
    lines = [f"**Champion:** `{champion['run']}`, lowest valid WER {_percent(champion['valid_wer'])} (greedy), "
             f"test WER {_percent(champion['test_wer'])}, PER {_percent(champion['test_per'])} (ORT int8, beam "
             f"search of width {beam}); {_registered(champion)}.", ""]
    return lines + (_published_g2p_lines(task.keep_stress) if task.source.kind == "cmudict" else [])


def champion_lines(results: TaskResults, champion: dict[str, Any], task: TaskConfig) -> list[str]:
    """The champion line and the champion-against-baseline line of a task (``task``: its params.yaml entry)."""
    if results.seq2seq:
        return _seq2seq_champion_lines(results, champion, task)
    base = results.baseline
    if results.generative:
        return [f"**Champion:** `{champion['run']}`, lowest valid bpc {champion['valid_bpc']:.4f}, "
                f"test bpc (ORT int8) {champion['test_bpc']:.4f}; {_registered(champion)}.", "",
                f"Baseline ({base['model']}, order {base['order']}): test bpc {base['test_bpc']:.4f}; "
                f"champion (ORT int8) minus baseline: {champion['test_bpc'] - base['test_bpc']:+.4f} bpc.", ""]
    return [f"**Champion:** `{champion['run']}`, valid accuracy {champion['valid_accuracy']:.4f}, "
            f"test accuracy (ORT int8) {champion['test_accuracy']:.4f}; {_registered(champion)}.", "",
            f"Baseline ({base['model']}, C={base.get('C', '?')}): test accuracy "
            f"{base['test_accuracy']:.4f}; champion (ORT int8) minus baseline: "
            f"{100 * (champion['test_accuracy'] - base['test_accuracy']):+.2f} points.", "",
            *_tagging_lines(results, champion["run"])]


LEGEND_COMMON = """\
## How to read the tables

- **run**: the run's name in params.yaml; **cell / bi / layers / residual**: recurrent cell,
  bidirectional or not, stacked layers, residual connections between layers; **impl**: torch's fused
  kernels or the step-by-step cells of `seqlab.models.cells` (exported through the same ONNX nodes);
  **params**: trainable parameters.
- **fp32 / int8 / fp16 MB**: model file sizes in megabytes (10^6 bytes); **fp32/int8**: how many
  times smaller the int8 file is.
- Latencies and speeds come from the evaluate stage (CPU unless stated in metrics/eval); compare them
  within one machine only.
- A task's **champion** is chosen on the valid split: test numbers never take part in the choice, so
  they stay an honest estimate of how the champion does on new data.
"""

LEGEND_TEXT = """\
Classify and tag tasks:

- **valid acc**: accuracy of the best checkpoint on the valid split (the split used for early
  stopping). The **champion** of a task is the run with the highest *VALID* accuracy (ties: valid
  macro-F1, then lower valid loss, then name).
- **test acc torch / ORT fp32 / ORT int8**: accuracy on the held-out test split of the PyTorch model,
  the exported ONNX model in ONNX Runtime, and its int8 version (weights stored as int8 for every
  cell type; see docs/library-notes.md for what runs in int8).
  **macro-F1 ORT int8**: F1 averaged over classes (each class counts equally) of the int8 model.
- **int8 drop (pts)**: test accuracy lost by int8 quantization, in percentage points, as the evaluate
  stage measured it (positive: the int8 model is worse).
- **p50 ms bN**: median latency in milliseconds of one call on a batch of N texts.
- **baseline**: classify tasks: character 1-3-gram TF-IDF + logistic regression (scikit-learn, C
  chosen on valid); tag tasks: the most frequent train tag of each word (unseen words: the most
  frequent tag), or for segmentation forward maximum matching with the train split's words. Its test
  accuracy sits in the *test acc torch* column and its test macro-F1 in the macro-F1 column.
- **tag tasks**: *acc* is token accuracy (every token of every test sentence), *macro-F1* the F1
  averaged over tags; a confusion plot shows which tags the champion mixes up.
"""

LEGEND_GENERATIVE = """\
Generating tasks (lm: a character language model; condlm: text generated from a condition):

- **bpc**: bits per character = the mean cross-entropy in nats / ln 2 over every scored character
  (and each text's end); lower is better. **valid bpc**: the best checkpoint's on the valid split. The
  **champion** is the run with the LOWEST *VALID* bpc (ties: higher valid next-character accuracy,
  then name).
- **test bpc torch / ORT fp32 / ORT int8**: on the held-out test split (lm: the test documents read as
  one stream, each followed by `<eos>`; condlm: each test text from its condition's state), by the
  PyTorch model, the exported step graph in ONNX Runtime and its int8 version. **int8 bpc increase**:
  int8 minus fp32 (positive: the int8 model is worse). **next-char acc ORT int8**: share of test
  characters the int8 model rates likeliest.
- **step p50 ms bN**: median time of one step: one new character for each of N texts, the recurrent
  state carried in and out.
- **chars/s stateful / window, speed-up**: characters per second generating one text a character at a
  time: *stateful* runs one step per character, carrying the state; *window* is the seed documents'
  method, re-reading the last `window` characters from a zero state for every character (length and
  window: the "Measured on" line); speed-up = stateful / window.
- **baseline**: an interpolated Witten-Bell character n-gram model (one per condition for condlm), its
  order (in the cell column) chosen on valid bpc; its test bpc sits in the *test bpc torch* column.
- **curves**: valid bpc after each epoch of every run, the baseline's valid bpc dashed.
"""

LEGEND_SEQ2SEQ = """\
Sequence-to-sequence tasks (seq2seq: g2p turns English words into phonemes; a user's parallel TSV, e.g.
for translation, is read the same way):

- **WER**: word error rate, the share of test items whose output equals none of their references (a
  word may have several pronunciations; matching any of them counts); lower is better. **valid WER**:
  the best checkpoint's on the valid split, greedy decoding. The **champion** is the run with the
  LOWEST *VALID* WER (ties: lower valid PER, then name).
- **PER**: phoneme (token) error rate, the edit distance (insertions, deletions, substitutions) from
  each output to its closest reference, summed over the test items and divided by the summed lengths of
  those references.
- **beam / greedy**: *greedy* takes the likeliest token at each step; *beam* keeps the best `decode.beam`
  partial outputs, scored by log-probability / length ** `decode.length_penalty` (params.yaml; the width
  used is in the "Measured on" line). **test WER beam torch / ORT fp32 / ORT int8**: the PyTorch model,
  the exported encoder and decoder graphs in ONNX Runtime and their int8 versions. **int8 WER increase
  (pts)**: int8 minus fp32 test WER in percentage points (positive: the int8 model is worse).
- **BLEU / chrF**: sacrebleu's corpus-level BLEU (n-grams up to 4 of words, or of characters for
  character targets; brevity penalty) and chrF (character n-gram F-score) of the beam outputs, 0-100,
  higher is better; only for user corpora, not CMUdict, where WER and PER are the usual measures.
- **p50 ms bN**: median time of the greedy decoding of a batch of N test sources by the int8 model
  (the encoder, then the decoder one step at a time until every output has ended). **MB**: the encoder
  and decoder files together.
- No fitted baseline: for CMUdict the champion is set beside published results instead.
- **curves**: valid WER (greedy) after each epoch of every run.
- **attention**: where the champion's decoder looked while writing each output token (rows, the last
  `<eos>`) over the source tokens (columns), for a few test items; a clean diagonal band means it reads
  the source in order.
"""

LEGENDS: dict[str, str] = {"text": LEGEND_TEXT, "generative": LEGEND_GENERATIVE, "seq2seq": LEGEND_SEQ2SEQ}


def _kind(results: TaskResults) -> str:
    """Which legend section explains the task's table."""
    if results.seq2seq:
        return "seq2seq"
    return "generative" if results.generative else "text"


def legend(results: dict[str, TaskResults]) -> str:
    """How to read the tables: the common columns, then the columns of each kind of task in the report."""
    kinds = {_kind(task_results) for task_results in results.values()}
    return "\n".join([LEGEND_COMMON, *(text for kind, text in LEGENDS.items() if kind in kinds)])


def summary_markdown(results: dict[str, TaskResults], champions: dict[str, dict[str, Any]],
                     plots: dict[str, dict[str, Path]], report_dir: Path, params: Params) -> str:
    """The whole reports/summary.md text; ``plots`` maps task -> kind -> PNG path (linked relatively)."""
    lines = ["# seqlab summary", "",
             "Every run in params.yaml, against a non-neural baseline where the task has one; see the legend below "
             "the tables.", ""]
    for task, task_results in results.items():
        lines += [f"## Task `{task}`", "", _measured_on(task_results), "", *task_table(task_results), "",
                  *champion_lines(task_results, champions[task], params.task(task))]
        for kind, path in plots.get(task, {}).items():
            lines += [f"![{task} {kind}]({path.relative_to(report_dir).as_posix()})", ""]
    lines.append(legend(results))
    return "\n".join(lines)


def write_report(layout: Layout, params: Params, set_aliases: bool = True) -> dict[str, dict[str, Any]]:
    """Write summary.md, the plots and champions.json under reports/; set the MLflow champion aliases.

    Every input is read (and checked) before anything is written. Returns the champions record.
    """
    results = load_results(layout, params)
    champions = champions_record(results)
    plot_dir = layout.reports / "plots"
    plots = {task: write_task_plots(task_results, plot_dir, champions[task]["run"])
             for task, task_results in results.items()}
    summary = layout.reports / "summary.md"
    write_text(summary, summary_markdown(results, champions, plots, layout.reports, params))
    write_json(layout.champions, champions)
    logger.info("wrote %s, %s and %d plots", summary, layout.champions, sum(map(len, plots.values())))
    if set_aliases:
        set_champion_aliases(champions, layout.root)
    return champions
