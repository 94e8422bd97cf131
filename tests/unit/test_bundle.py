"""Bundles: checked against SHA256SUMS at load; predictions come from the int8 model on the CPU."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab.config import ModelConfig
from seqlab.export.onnx_export import export_model
from seqlab.export.quantize import convert_fp16, quantize_int8
from seqlab.inference.backends import batched_outputs, softmax, stack_rows
from seqlab.inference.bundle import ClassifierBundle, verify_checksums
from seqlab.inference.torch_models import TorchBackend
from seqlab.io import InputError, sha256_file, write_json
from seqlab.models.registry import build_model
from seqlab.text.encoding import TextEncoder
from seqlab.text.vocab import Vocab

TEXTS = ["这本书写得很好", "质量太差了", "还行吧"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> tuple[Path, torch.nn.Module, Vocab]:
    folder = tmp_path_factory.mktemp("bundle")
    vocab = Vocab.build([list("".join(TEXTS))])
    torch.manual_seed(0)
    model = build_model("classify", ModelConfig(cell="lstm", embed_dim=8, hidden=8, bidirectional=True),
                        vocab_size=len(vocab), num_classes=2).eval()
    export_model(model, folder / "model.onnx", 17, TextEncoder("char", vocab, 5))
    quantize_int8(folder / "model.onnx", folder / "model.int8.onnx")
    convert_fp16(folder / "model.onnx", folder / "model.fp16.onnx")
    vocab.save(folder / "vocab.json")
    write_json(folder / "config.json", {"labels": ["neg", "pos"], "tokenizer": "char", "max_len": 5})
    names = sorted(p.name for p in folder.iterdir())
    (folder / "SHA256SUMS").write_text("".join(f"{sha256_file(folder / n)}  {n}\n" for n in names), encoding="utf-8")
    return folder, model, vocab


def test_predict_on_cpu_uses_int8(bundle) -> None:
    folder, model, vocab = bundle
    classifier = ClassifierBundle(folder, "cpu")
    assert classifier.provider == "CPUExecutionProvider" and classifier.precision == "int8"
    predictions = classifier.predict(TEXTS)
    encoder = TextEncoder("char", vocab, 5)
    sequences = [encoder.encode(t) for t in TEXTS]
    expected = softmax(stack_rows(batched_outputs(TorchBackend(model), sequences, vocab.pad_id)))
    got = np.array([[p.probabilities["neg"], p.probabilities["pos"]] for p in predictions])
    np.testing.assert_allclose(got, expected, atol=0.02)  # int8 is close to the fp32 torch model
    assert all(p.probability == max(p.probabilities.values()) for p in predictions)


def test_empty_text_names_its_position(bundle) -> None:
    with pytest.raises(ValueError, match="text 2: text is empty"):
        ClassifierBundle(bundle[0], "cpu").predict(["好", "  "])


def test_tampered_file_stops_loading(bundle, tmp_path: Path) -> None:
    # Guards: serving a model file that is not the one exported and checked.
    copy = tmp_path / "b"
    shutil.copytree(bundle[0], copy)
    (copy / "vocab.json").write_text('{"tokens": []}', encoding="utf-8")
    with pytest.raises(InputError, match=r"vocab.json: checksum does not match .*SHA256SUMS:\d"):
        ClassifierBundle(copy, "cpu")


def test_missing_file_stops_loading(bundle, tmp_path: Path) -> None:
    copy = tmp_path / "b"
    shutil.copytree(bundle[0], copy)
    (copy / "model.int8.onnx").unlink()
    with pytest.raises(InputError, match=r"model.int8.onnx: listed in .*SHA256SUMS:\d+ but missing"):
        verify_checksums(copy)


def test_unknown_provider_is_refused(bundle) -> None:
    with pytest.raises(ValueError, match="auto, cuda or cpu"):
        ClassifierBundle(bundle[0], "tpu")


@pytest.mark.parametrize("module", ["seqlab.serving.app", "seqlab.inference.bundle", "seqlab.export.quantize"])
def test_serving_and_quantizing_never_import_torch(module: str) -> None:
    # Guards start-up time: torch costs seconds per process, and a bundle is served by ONNX Runtime alone.
    probe = f"import sys, {module}; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False", f"{module} imports torch"
