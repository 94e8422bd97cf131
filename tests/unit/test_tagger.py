"""Taggers (N vs N): per-token logits exact under padding, in torch and ONNX Runtime, with and without
character features; int8 stays close; a tagger bundle predicts tags and segmented words."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from seqlab.config import ExportConfig, ModelConfig, TrainConfig
from seqlab.evaluation.quality import split_quality
from seqlab.export.onnx_export import export_model
from seqlab.export.parity import check_parity, parity_report
from seqlab.export.quantize import convert_fp16, op_counts, quantize_int8
from seqlab.inference.backends import OrtBackend, batched_outputs
from seqlab.inference.bundle import TaggerBundle, load_bundle
from seqlab.inference.sessions import create_session
from seqlab.inference.torch_models import TorchBackend
from seqlab.io import sha256_file, write_json
from seqlab.models.registry import build_model
from seqlab.models.tagger import CharCNN, EdgeChars
from seqlab.text.dataset import IGNORE_INDEX, EncodedSplit, load_encoded_split
from seqlab.text.encoding import TextEncoder, pad_batch
from seqlab.text.tokenizers import next_pairs
from seqlab.text.vocab import CHARS_FILE, Vocab
from seqlab.training.splits import epoch_batches, sequence_loss

WORDS = ["迈向", "充满", "希望", "的", "新", "世纪", "一九九八年", "新年", "讲话"]
CHARS = Vocab.build([list("".join(WORDS))])
VOCAB = Vocab.build([WORDS])
PAIRS = Vocab.build([next_pairs(WORDS)])
CHAR_TAGGER = ModelConfig(cell="lstm", embed_dim=8, hidden=10, bidirectional=True, layers=2,
                          char_embed_dim=6, char_channels=5, max_word_chars=4)
PAIR_TAGGER = ModelConfig(cell="gru", embed_dim=8, hidden=10, bidirectional=True, pair_embed_dim=4)
EDGE_TAGGER = CHAR_TAGGER.model_copy(update={"edge_embed_dim": 3})
TAGGERS = [
    ModelConfig(cell="gru", embed_dim=8, hidden=10, bidirectional=True),
    ModelConfig(cell="rnn_tanh", embed_dim=8, hidden=10, layers=2),
    CHAR_TAGGER,
    PAIR_TAGGER,
    PAIR_TAGGER.model_copy(update={"char_embed_dim": 3, "max_word_chars": 3}),
    EDGE_TAGGER,
    PAIR_TAGGER.model_copy(update={"char_embed_dim": 3, "edge_embed_dim": 2, "max_word_chars": 3}),
]


def _tagger(config: ModelConfig) -> torch.nn.Module:
    torch.manual_seed(0)
    sizes = {"char_vocab_size": len(CHARS), "pair_vocab_size": len(PAIRS)}
    return build_model("tag", config, vocab_size=len(VOCAB), num_classes=5, pad_id=0, **sizes).eval()


def _encoder(config: ModelConfig) -> TextEncoder:
    chars = CHARS if config.char_embed_dim else None
    pairs = PAIRS if config.pair_embed_dim else None
    return TextEncoder("whitespace", VOCAB, 50, chars, config.max_word_chars if chars else 0, pairs)


def _sentences(count: int, seed: int, config: ModelConfig) -> list:
    rng = np.random.default_rng(seed)
    words = WORDS + ["未见过的词"]  # one word outside the vocabulary: <unk> plus its characters
    encoder = _encoder(config)
    return [encoder.encode_tokens(list(rng.choice(words, size=int(n)))) for n in rng.integers(1, 30, size=count)]


def test_encoder_rows_carry_each_words_characters() -> None:
    encoder = _encoder(CHAR_TAGGER)
    rows = encoder.encode("新 一九九八年 未见")
    assert [row[0] for row in rows] == VOCAB.encode(["新", "一九九八年", "未见"])
    assert rows[0][1:] == CHARS.encode(["新"]) + [0, 0, 0]
    assert rows[1][1:] == CHARS.encode(list("一九九年"))  # too long: first three characters and the last
    assert rows[2][0] == VOCAB.unk_id and rows[2][1:] == CHARS.encode(list("未见")) + [0, 0]
    tokens, lengths = pad_batch([rows, rows[:1]], pad_id=0)
    assert tokens.shape == (2, 3, 5) and lengths.tolist() == [3, 1] and (tokens[1, 1:] == 0).all()


def test_pair_column_joins_each_token_with_the_next() -> None:
    encoder = TextEncoder("char", VOCAB, 50, CHARS, 2, PAIRS)
    rows = encoder.encode_tokens(["新", "世纪", "讲话"])
    assert [row[1] for row in rows] == PAIRS.encode(["新世纪", "世纪讲话", "讲话"])
    assert [row[2:] for row in rows] == [CHARS.encode(["新"]) + [0], CHARS.encode(["世", "纪"]),
                                         CHARS.encode(["讲", "话"])]
    assert next_pairs(list("迈向")) == ["迈向", "向"]


def _tagger_id(c: ModelConfig) -> str:
    return f"{c.cell}-bi{int(c.bidirectional)}-pairs{c.pair_embed_dim}-chars{c.char_embed_dim}-edges{c.edge_embed_dim}"


def test_edge_chars_embed_each_words_first_and_last_character() -> None:
    encoder = _encoder(CHAR_TAGGER)  # 4 characters a word
    edges = EdgeChars(len(CHARS), 2)
    tokens, _ = pad_batch([encoder.encode_tokens(["新", "世纪", "一九九八年"]), encoder.encode_tokens(["的"])], 0)
    chars = torch.from_numpy(tokens[..., 1:])  # (2, 3, 4)
    got = edges(chars)  # (2, 3, 4): first character's vector, then the last one's
    first, last = edges.first.weight.detach(), edges.last.weight.detach()
    for row, col, word in [(0, 0, "新"), (0, 1, "世纪"), (0, 2, "一九九八年"), (1, 0, "的")]:
        want = torch.cat([first[CHARS.index[word[0]]], last[CHARS.index[word[-1]]]])
        torch.testing.assert_close(got[row, col], want)  # 一九九八年 is cut to 一九九年: its last, 年, kept
    assert (got[1, 1:] == 0).all()  # a padding word: zeros


def test_char_cnn_lookups_compute_the_convolution_over_each_words_characters() -> None:
    torch.manual_seed(3)
    cnn = CharCNN(len(CHARS), 5, 7)
    encoder = _encoder(CHAR_TAGGER)  # 4 characters a word
    tokens, _ = pad_batch([encoder.encode_tokens(["新", "世纪", "一九九八年"]), encoder.encode_tokens(["的"])], 0)
    chars = torch.from_numpy(tokens[..., 1:])  # (2, 3, 4), padding characters and a padding word included
    got = cnn(chars)

    # The textbook char CNN (Ma & Hovy 2016): embed, Conv1d, ReLU, max over the word's real characters only.
    flat = chars.reshape(-1, 4)
    convolved = torch.relu(cnn.conv(cnn.embed(flat).transpose(1, 2)))  # (6, 7, 4)
    real = (flat != 0).unsqueeze(1)
    want = torch.stack([row[:, mask[0]].amax(dim=1) if mask.any() else torch.zeros(7)
                        for row, mask in zip(convolved, real, strict=True)]).reshape(2, 3, 7)
    torch.testing.assert_close(got, want)
    assert (got[1, 1:] == 0).all()  # a padding word: zeros
    grads = torch.autograd.grad(got.sum(), [cnn.embed.weight, cnn.conv.weight, cnn.conv.bias])
    wants = torch.autograd.grad(want.sum(), [cnn.embed.weight, cnn.conv.weight, cnn.conv.bias])
    for grad, expected in zip(grads, wants, strict=True):
        torch.testing.assert_close(grad, expected)
    assert (grads[0][0] == 0).all()  # the padding character's embedding takes no gradient: it stays zero


@pytest.mark.parametrize("config", TAGGERS, ids=_tagger_id)
def test_tag_logits_do_not_depend_on_padding(config: ModelConfig) -> None:
    # Guards: padding (or a neighbour's padding characters) leaking into a token's tag.
    model = _tagger(config)
    sentences = _sentences(12, 0, config)
    batched = batched_outputs(TorchBackend(model), sentences, pad_id=0, batch_size=12)
    alone = batched_outputs(TorchBackend(model), sentences, pad_id=0, batch_size=1)
    assert [out.shape for out in batched] == [(len(s), 5) for s in sentences]
    for got, want in zip(batched, alone, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_loss_ignores_padding_positions() -> None:
    # Guards: padding positions counted in the loss (more padding would then change it).
    model = _tagger(CHAR_TAGGER)
    tokens, lengths = pad_batch(_sentences(2, 1, CHAR_TAGGER), 0)
    targets = np.full(tokens.shape[:2], IGNORE_INDEX)
    for row, length in enumerate(lengths):
        targets[row, :length] = np.arange(length) % 5
    tokens_t, lengths_t, targets_t = map(torch.from_numpy, (tokens, lengths, targets))
    more_tokens = torch.nn.functional.pad(tokens_t, (0, 0, 0, 3))  # three more padding words per sentence
    more_targets = torch.nn.functional.pad(targets_t, (0, 3), value=IGNORE_INDEX)
    torch.testing.assert_close(sequence_loss(model, (tokens_t, lengths_t, targets_t)),
                               sequence_loss(model, (more_tokens, lengths_t, more_targets)))


def test_tag_batches_pad_targets_and_drop_only_word_ids(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    rows = [{"tokens": ["迈向", "充满", "希望"], "tags": ["v", "v", "n"]}, {"tokens": ["新"], "tags": ["a"]}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    split = load_encoded_split(path, _encoder(CHAR_TAGGER), ["a", "n", "v"], "tag")
    assert split.per_token and split.targets([0, 1]).tolist() == [[2, 2, 1], [0, IGNORE_INDEX, IGNORE_INDEX]]
    config = TrainConfig(batch_size=2, token_dropout=0.99)
    (tokens, lengths, targets), = epoch_batches(split, config, seed=0, pad_id=0, unk_id=VOCAB.unk_id)(1)
    real = tokens[..., 0] != 0
    assert (tokens[..., 0][real] == VOCAB.unk_id).float().mean() > 0.5  # word ids dropped to <unk> ...
    encoded = torch.tensor(pad_batch([split.sequences[i] for i in range(2)], 0)[0])
    order = [0, 1] if lengths[0] == 3 else [1, 0]
    assert torch.equal(tokens[..., 1:], encoded[order][..., 1:])  # ... characters kept


@pytest.fixture(scope="module", params=[TAGGERS[0], CHAR_TAGGER, EDGE_TAGGER, TAGGERS[-1]], ids=_tagger_id)
def exported(request, tmp_path_factory):
    config = request.param
    folder = tmp_path_factory.mktemp("tagger")
    model = _tagger(config)
    export_model(model, folder / "model.onnx", 17, _encoder(config))
    return config, model, folder


def test_onnx_tagger_matches_torch_and_stays_exact_under_padding(exported) -> None:
    config, model, folder = exported
    backend = OrtBackend(create_session(folder / "model.onnx", "cpu"))
    sentences = _sentences(80, 2, config)
    report = parity_report(TorchBackend(model), backend, sentences, pad_id=0)
    assert report["max_abs_diff"] < 1e-5 and report["agreement"] == 1.0
    check_parity(report, ExportConfig(), "tagger")
    for got, want in zip(batched_outputs(backend, sentences, 0, 80), batched_outputs(backend, sentences, 0, 1),
                         strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_int8_tagger_keeps_the_char_cnn_float_and_stays_close(exported, tmp_path: Path) -> None:
    config, model, folder = exported
    # (File sizes are checked on wider models in test_export: graph overhead dominates these tiny ones.)
    quantize_int8(folder / "model.onnx", tmp_path / "model.int8.onnx")
    ops = op_counts(tmp_path / "model.int8.onnx")
    assert ops.get("DynamicQuantizeLSTM", 0) == (2 * 2 if config.cell == "lstm" else 0) and "GRU" not in ops
    # The char CNN is table lookups (no Conv); its tables, the float char embeddings times the conv weights,
    # stay a float MatMul that ONNX Runtime folds when the session loads.
    assert "Conv" not in ops and "ConvInteger" not in ops
    graph = onnx.load(str(tmp_path / "model.int8.onnx")).graph
    floats = {tensor.name: tuple(tensor.dims) for tensor in graph.initializer
              if tensor.data_type == onnx.TensorProto.FLOAT}
    float_tables = [node for node in graph.node if node.op_type == "MatMul"
                    and floats.get(node.input[0]) == (len(CHARS), config.char_embed_dim)]
    assert len(float_tables) == (1 if config.char_embed_dim else 0)
    sentences = _sentences(40, 3, config)
    fp32 = batched_outputs(OrtBackend(create_session(folder / "model.onnx", "cpu")), sentences, 0)
    int8 = batched_outputs(OrtBackend(create_session(tmp_path / "model.int8.onnx", "cpu")), sentences, 0)
    assert max(np.abs(a - b).max() for a, b in zip(fp32, int8, strict=True)) < 0.05


def _write_bundle(folder: Path, model: torch.nn.Module, config: ModelConfig, tag_scheme: str, labels: list[str],
                  encoder: TextEncoder) -> None:
    uses_chars = bool(config.char_embed_dim)
    vocab = encoder.vocab
    export_model(model, folder / "model.onnx", 17, encoder)
    quantize_int8(folder / "model.onnx", folder / "model.int8.onnx")
    convert_fp16(folder / "model.onnx", folder / "model.fp16.onnx")
    vocab.save(folder / "vocab.json")
    if uses_chars:
        CHARS.save(folder / CHARS_FILE)
    write_json(folder / "config.json", {"structure": "tag", "tag_scheme": tag_scheme, "labels": labels,
                                        "tokenizer": encoder.tokenizer, "max_len": 50, "model": config.model_dump()})
    names = sorted(p.name for p in folder.iterdir())
    (folder / "SHA256SUMS").write_text("".join(f"{sha256_file(folder / n)}  {n}\n" for n in names), encoding="utf-8")


def test_pos_bundle_tags_each_word_as_the_torch_model_does(tmp_path: Path) -> None:
    labels = ["a", "m", "n", "u", "v"]
    model = _tagger(CHAR_TAGGER)
    _write_bundle(tmp_path, model, CHAR_TAGGER, "tags", labels, _encoder(CHAR_TAGGER))
    tagger = load_bundle(tmp_path, "cpu")
    assert isinstance(tagger, TaggerBundle) and tagger.precision == "int8"
    text = "迈向 充满 希望 的 新 世纪"
    result, = tagger.predict([text])
    assert result.tokens == text.split() and result.words is None and len(result.tags) == 6
    expected = batched_outputs(TorchBackend(model), [tagger.encoder.encode(text)], 0)[0].argmax(axis=1)
    assert result.tags == [labels[i] for i in expected]
    with pytest.raises(ValueError, match="text 2: text is empty"):
        tagger.predict(["新", "  "])


def test_crf_bundle_decodes_jointly_and_reports_marginals(tmp_path: Path) -> None:
    labels = ["a", "m", "n", "u", "v"]
    config = CHAR_TAGGER.model_copy(update={"crf": True})
    model = _tagger(config)
    with torch.no_grad():  # transitions strong enough to matter (a fresh CRF starts at zero)
        model.crf.transitions.normal_(std=3.0)
    _write_bundle(tmp_path, model, config, "tags", labels, _encoder(config))
    tagger = load_bundle(tmp_path, "cpu")
    text = "迈向 充满 希望 的 新 世纪 一九九八年 新年 讲话"
    result, = tagger.predict([text])
    emissions = batched_outputs(tagger.backend, [tagger.encoder.encode(text)], 0)[0]  # the served int8 graph
    table = TorchBackend(model).transitions
    best = table.best_path(emissions)
    assert result.tags == [labels[i] for i in best] and not np.array_equal(best, emissions.argmax(axis=1))
    marginals = table.marginals(emissions)
    assert result.probabilities == pytest.approx([marginals[t, k] for t, k in enumerate(best)], abs=1e-4)


def test_segmentation_bundle_returns_words_that_rebuild_the_text(tmp_path: Path) -> None:
    config = ModelConfig(cell="gru", embed_dim=8, hidden=10, bidirectional=True)
    chars = Vocab.build([list("".join(WORDS))])
    torch.manual_seed(0)
    model = build_model("tag", config, vocab_size=len(chars), num_classes=4, pad_id=0).eval()
    _write_bundle(tmp_path, model, config, "bmes", ["b", "m", "e", "s"], TextEncoder("char", chars, 50))
    result, = load_bundle(tmp_path, "cpu").predict(["迈向充满希望的新世纪"])
    assert result.tokens == list("迈向充满希望的新世纪") and "".join(result.words) == "迈向充满希望的新世纪"


def test_split_quality_scores_tokens_and_segmented_words() -> None:
    # Guards: validation (no train words given) or segmentation scoring breaking for taggers.
    labels = ["b", "m", "e", "s"]
    gold = [np.array([0, 2, 3]), np.array([0, 1, 2])]  # 迈向/的 and a three-character word
    guessed = [np.array([0, 2, 3]), np.array([3, 0, 2])]  # second sentence: s + two-character word
    outputs = [np.eye(4)[row] * 5.0 for row in guessed]
    split = EncodedSplit([[1, 2, 3], [4, 5, 6]], gold, [list("迈向的"), list("新世纪")])
    scores = split_quality(outputs, split, labels, "bmes")
    assert scores["accuracy"] == pytest.approx(4 / 6) and "oov_accuracy" not in scores and "confusion" not in scores
    assert scores["word_precision"] == pytest.approx(2 / 4) and scores["word_recall"] == pytest.approx(2 / 3)
    detailed = split_quality(outputs, split, labels, "tags", known={"迈", "向", "的"}, detail=True)
    assert detailed["oov_tokens"] == 3 and detailed["oov_accuracy"] == pytest.approx(1 / 3)
    assert "word_f1" not in detailed and sum(map(sum, detailed["confusion"]["matrix"])) == 6
