"""Parallel (seq2seq) splits through tokenize, vocab and batching: both sides tokenized, the target vocabulary,
every reference a training pair, decoder input and target shifted by one with <bos>/<eos>, bad rows named."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab.config import DecodeConfig, ModelConfig, TrainConfig, VocabConfig
from seqlab.inference.decode import attention_weights, decode_sources, greedy_decode
from seqlab.inference.torch_models import TorchSeq2Seq
from seqlab.io import InputError
from seqlab.models.seq2seq import Seq2Seq
from seqlab.text.dataset import IGNORE_INDEX
from seqlab.text.encoding import TextEncoder, pad_batch
from seqlab.text.parallel import TargetCodec, decoder_inputs, load_parallel_split, target_joiner, teacher_batch
from seqlab.text.tokenizers import tokenize_file
from seqlab.text.vocab import TARGETS_FILE, TOKENS_FILE, build_vocabularies
from seqlab.training.seq2seq import pair_batches, teacher_forced_loss

ROWS = [  # CMUdict entries as the prepare stage writes them (stress stripped)
    {"source": "read", "targets": ["R IY D", "R EH D"], "origin": "cmudict.dict:1"},
    {"source": "cat", "targets": ["K AE T"], "origin": "cmudict.dict:2"},
    {"source": "dog", "targets": ["D AO G"], "origin": "cmudict.dict:3"},
    {"source": "a", "targets": ["AH"], "origin": "cmudict.dict:4"},
]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def tokenized(tmp_path: Path) -> Path:
    prepared = _write_jsonl(tmp_path / "prepared.jsonl", ROWS)
    assert tokenize_file(prepared, tmp_path / "train.jsonl", "char", "whitespace") == 4
    return tmp_path / "train.jsonl"


def _codec_and_encoder(path: Path) -> tuple[TextEncoder, TargetCodec]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    vocabularies = build_vocabularies([row["tokens"] for row in rows], VocabConfig(),
                                      [target for row in rows for target in row["targets"]])
    return TextEncoder("char", vocabularies[TOKENS_FILE], 10), TargetCodec(vocabularies[TARGETS_FILE])


def test_tokenize_splits_both_sides(tokenized: Path) -> None:
    first = json.loads(tokenized.read_text().splitlines()[0])
    assert first == {"tokens": ["r", "e", "a", "d"], "targets": [["R", "IY", "D"], ["R", "EH", "D"]],
                     "origin": "cmudict.dict:1"}


def test_target_vocabulary_holds_every_reference_symbol(tokenized: Path) -> None:
    _, codec = _codec_and_encoder(tokenized)
    assert {"R", "IY", "EH", "D", "K", "AE", "T", "AO", "G"} <= set(codec.vocab.tokens)
    assert "r" not in codec.vocab  # source letters stay in the source vocabulary
    assert codec.vocab.decode([codec.bos, codec.eos]) == ["<bos>", "<eos>"]


def test_every_reference_is_a_training_pair_shifted_by_one(tokenized: Path) -> None:
    encoder, codec = _codec_and_encoder(tokenized)
    split = load_parallel_split(tokenized, encoder, codec.vocab, max_target_len=10)
    assert split.pairs() == [(0, 0), (0, 1), (1, 0), (2, 0), (3, 0)]
    assert split.references[0] == [["R", "IY", "D"], ["R", "EH", "D"]]
    source, lengths, decoder_in, decoder_out = teacher_batch(split, [(0, 1), (1, 0)], codec, pad_id=0)
    assert lengths.tolist() == [4, 3] and source[1, 3] == 0
    assert codec.decode(decoder_in[0, 1:].tolist()) == ["R", "EH", "D"] and decoder_in[0, 0] == codec.bos
    assert codec.decode(decoder_out[0, :3].tolist()) == ["R", "EH", "D"] and decoder_out[0, 3] == codec.eos
    assert decoder_out[1].tolist()[-1] == codec.eos  # "K AE T" fills the row as well
    _, _, short_in, short_out = teacher_batch(split, [(0, 0), (3, 0)], codec, pad_id=0)
    assert short_out[1].tolist() == [codec.vocab.index["AH"], codec.eos, IGNORE_INDEX, IGNORE_INDEX]
    assert short_in[1].tolist() == [codec.bos, codec.vocab.index["AH"], 0, 0]
    assert decoder_inputs(split, codec)[1] == [codec.bos, *codec.vocab.encode(["K", "AE", "T"])]


def test_cut_targets_keep_whole_references_and_an_epoch_reads_every_pair(tokenized: Path) -> None:
    encoder, codec = _codec_and_encoder(tokenized)
    split = load_parallel_split(tokenized, encoder, codec.vocab, max_target_len=2)  # cut: "R IY" <eos>
    _, _, decoder_in, decoder_out = teacher_batch(split, [(0, 0)], codec, pad_id=0)
    assert decoder_out[0].tolist() == [*codec.vocab.encode(["R", "IY"]), codec.eos]
    assert split.references[0][0] == ["R", "IY", "D"]  # scoring still sees the whole reference
    model = Seq2Seq(ModelConfig(hidden=8, embed_dim=4, decoder_embed_dim=4, attention_dim=4, bidirectional=True),
                    len(encoder.vocab), len(codec.vocab))
    batches = pair_batches(split, codec, TrainConfig(batch_size=2, bucket_pool=1), 3, encoder.vocab)(1)
    assert sum(len(batch[0]) for batch in batches) == 5  # every pair once an epoch
    source, lengths, decoder_in, decoder_out = batches[0]
    loss = teacher_forced_loss(1.0)(model, (source, lengths, decoder_in, decoder_out))
    assert torch.isfinite(loss) and loss.item() > 0


@pytest.mark.parametrize(("row", "message"), [
    ({"tokens": [], "targets": [["K"]]}, "non-empty list of source 'tokens'"),
    ({"tokens": ["c"], "targets": []}, "needs 'targets'"),
    ({"tokens": ["c"], "targets": [[]]}, "needs 'targets'"),
])
def test_bad_rows_are_named(tmp_path: Path, tokenized: Path, row: dict, message: str) -> None:
    encoder, codec = _codec_and_encoder(tokenized)
    path = _write_jsonl(tmp_path / "bad.jsonl", [{"tokens": ["c", "a", "t"], "targets": [["K"]]}, row])
    with pytest.raises(InputError, match=rf"bad.jsonl:2: .*{message}"):
        load_parallel_split(path, encoder, codec.vocab, 10)


def test_decode_sources_keeps_the_given_order_and_attention_rows_sum_to_one(tokenized: Path) -> None:
    encoder, codec = _codec_and_encoder(tokenized)
    torch.manual_seed(0)
    model = TorchSeq2Seq(Seq2Seq(ModelConfig(hidden=8, embed_dim=4, decoder_embed_dim=4, attention_dim=4,
                                             bidirectional=True), len(encoder.vocab), len(codec.vocab)))
    sources = [encoder.encode(word) for word in ("read", "at", "dog", "a")]
    decode = DecodeConfig(beam=1, max_steps=5)
    batched = decode_sources(model, sources, codec.bos, codec.eos, 1, 1.0, decode.max_steps, 0, codec.suppressed,
                             batch_size=3)
    alone = [greedy_decode(model, *pad_batch([source], 0), codec.bos, codec.eos, 5, codec.suppressed)[0]
             for source in sources]
    assert batched == alone
    weights = attention_weights(model, sources[0], batched[0], codec.bos)
    assert weights.shape == (len(batched[0]) + 1, 4) and np.allclose(weights.sum(axis=1), 1, atol=1e-5)


def test_target_joiner() -> None:
    assert target_joiner("char") == "" and target_joiner("whitespace") == " "
