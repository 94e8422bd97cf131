"""The cell study: the adding problem, the equal-budget trainer, gradient flow, sizes and the report."""

import copy
import math
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from seqlab.config import ConfigError, StudyConfig, load_params
from seqlab.io import InputError, csv_text, read_csv_numbers
from seqlab.study import adding
from seqlab.study.adding import (
    TRIVIAL_MSE,
    AddingModel,
    adding_batch,
    initial_model,
    load_study_model,
    mean_squared_error,
    save_study_model,
    train_adding,
)
from seqlab.study.gradients import CONDITIONS, flow_rows, flow_summary, gradient_flow, gradient_norms
from seqlab.study.report import StudyResults, study_markdown
from seqlab.study.sizes import parameter_count, size_table
from seqlab.training.tracking import NullTracker

FUSED_CELLS = {
    "rnn_tanh": lambda i, h: nn.RNNCell(i, h, nonlinearity="tanh"),
    "lstm": nn.LSTMCell,
    "gru": nn.GRUCell,
}


def _study(**train: float) -> StudyConfig:
    """A tiny study: short sequences, small models, a few steps."""
    return StudyConfig.model_validate({
        "seed": 3, "lengths": [6, 12], "test_size": 256,
        "train": {"hidden": 16, "batch_size": 32, "lr": 0.01, "steps": 60, "eval_every": 20, **train},
        "gradients": {"length": 12, "sequences": 16},
    })


@pytest.mark.parametrize("length", [2, 7, 50])
def test_adding_batch_has_one_marker_per_half_and_the_target_is_their_sum(length: int) -> None:
    inputs, targets = adding_batch(500, length, torch.Generator().manual_seed(0))
    assert inputs.shape == (500, length, 2) and targets.shape == (500,)
    values, markers = inputs[..., 0], inputs[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(markers.unique().tolist()) <= {0.0, 1.0}
    half = length // 2
    assert (markers[:, :half].sum(dim=1) == 1).all() and (markers[:, half:].sum(dim=1) == 1).all()
    torch.testing.assert_close(targets, (values * markers).sum(dim=1))


def test_adding_batch_is_seeded() -> None:
    first = adding_batch(8, 10, torch.Generator().manual_seed(5))
    again = adding_batch(8, 10, torch.Generator().manual_seed(5))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))


def test_always_predicting_one_scores_the_trivial_mse() -> None:
    # Guards: the 0.167 line every result is read against.
    _, targets = adding_batch(40_000, 20, torch.Generator().manual_seed(1))
    assert float(((targets - 1.0) ** 2).mean()) == pytest.approx(TRIVIAL_MSE, abs=0.004)
    assert abs(TRIVIAL_MSE - 0.1667) < 1e-4


def test_lstm_forget_gate_bias_is_set_in_the_forget_block_only() -> None:
    model = AddingModel("lstm", hidden=4, forget_bias=1.0)
    bias = model.recurrent.bias_ih_l0.detach() + model.recurrent.bias_hh_l0.detach()
    torch.testing.assert_close(bias[4:8], torch.ones(4))
    assert not torch.equal(bias[:4], torch.ones(4))
    untouched = AddingModel("gru", hidden=4, forget_bias=1.0)  # other cells ignore it
    assert not torch.equal(untouched.recurrent.bias_ih_l0.detach()[4:8], torch.ones(4))


def test_a_short_training_run_lowers_the_test_error() -> None:
    # Guards: a trainer that does not learn; a GRU learns 6-step sequences within 150 steps (about 2 s).
    study = _study(steps=150, eval_every=50)
    before = mean_squared_error(initial_model("gru", study), *adding.test_set(study, 6))
    result = train_adding("gru", 6, study, clip=True, tracker=NullTracker())
    assert result.summary["test_mse"] < min(before, TRIVIAL_MSE) / 4
    assert [point["step"] for point in result.curve] == [50, 100, 150]
    assert result.summary["steps"] == 150 and result.summary["clip_norm"] == 1.0
    assert result.summary["diverged_at_step"] is None
    assert all(point["grad_norm_max"] >= point["grad_norm_mean"] > 0 for point in result.curve)


def test_clipped_and_unclipped_runs_start_alike_and_differ_only_in_clipping() -> None:
    study = _study(steps=20, clip_norm=0.01)
    torch.testing.assert_close(initial_model("lstm", study).state_dict(), initial_model("lstm", study).state_dict())
    clipped = train_adding("lstm", 6, study, clip=True, tracker=NullTracker())
    unclipped = train_adding("lstm", 6, study, clip=False, tracker=NullTracker())
    assert unclipped.summary["clip_norm"] is None
    weights = [dict(r.model.named_parameters())["head.weight"] for r in (clipped, unclipped)]
    assert not torch.equal(*weights)


def test_a_non_finite_loss_stops_training_before_the_step(monkeypatch: pytest.MonkeyPatch) -> None:
    # Guards: a diverging unclipped run that spoils the weights or crashes the stage.
    real_batch = adding.adding_batch
    calls = []

    def poisoned(count: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = real_batch(count, length, generator)
        calls.append(1)
        return (inputs * math.nan, targets) if len(calls) == 4 else (inputs, targets)  # call 1 is the test set

    monkeypatch.setattr(adding, "adding_batch", poisoned)
    result = train_adding("rnn_tanh", 6, _study(), clip=False, tracker=NullTracker())
    assert result.summary["diverged_at_step"] == 3 and result.summary["steps"] == 2
    assert [point["step"] for point in result.curve] == [2]
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


def test_study_model_round_trip_and_missing_file(tmp_path: Path) -> None:
    model = initial_model("gru", _study())
    save_study_model(tmp_path / "m.pt", model, {"test_mse": 0.1})
    loaded = load_study_model(tmp_path / "m.pt", "study_adding@gru-6")
    inputs, _ = adding_batch(4, 6, torch.Generator().manual_seed(0))
    torch.testing.assert_close(loaded(inputs), model.eval()(inputs))
    with pytest.raises(InputError, match=r"made by stage study_adding@lstm-100"):
        load_study_model(tmp_path / "missing.pt", "study_adding@lstm-100")


@pytest.mark.parametrize("cell", list(FUSED_CELLS))
def test_gradient_norms_equal_a_hand_unrolled_fused_cell(cell: str) -> None:
    # Guards: the study's dLoss/dh_t read through the scratch cells differing from torch's own cells.
    torch.manual_seed(0)
    model = AddingModel(cell, hidden=5, forget_bias=1.0)
    inputs, targets = adding_batch(3, 9, torch.Generator().manual_seed(1))
    step = FUSED_CELLS[cell](2, 5).double()
    step.load_state_dict({name.removesuffix("_l0"): value for name, value in model.recurrent.state_dict().items()})
    head = copy.deepcopy(model.head).double()
    h = torch.zeros(3, 5, dtype=torch.float64)
    c = torch.zeros_like(h)
    states = []
    for t in range(9):
        if cell == "lstm":
            h, c = step(inputs[:, t].double(), (h, c))
        else:
            h = step(inputs[:, t].double(), h)
        states.append(h)
    loss = ((head(states[-1]).squeeze(-1) - targets.double()) ** 2).sum()
    expected = [grad.norm(dim=-1).mean().item() for grad in reversed(torch.autograd.grad(loss, states))]
    measured = gradient_norms(model, inputs, targets)
    assert len(measured) == 9 and all(math.isfinite(n) and n > 0 for n in measured)
    assert measured == pytest.approx(expected, rel=1e-9)


def test_gates_keep_the_gradient_that_a_vanilla_rnn_loses_at_initialisation() -> None:
    # The seeds' claim, at init: 29 steps back, the vanilla RNN keeps a far smaller share of the gradient.
    study = StudyConfig.model_validate({"lengths": [30], "test_size": 32, "train": {"hidden": 32},
                                        "gradients": {"length": 30, "sequences": 32}})
    shares = {}
    for cell in ("rnn_tanh", "lstm", "gru"):
        flow = gradient_flow({"init": initial_model(cell, study)}, study)
        shares[cell] = flow_summary(cell, study, flow)["conditions"]["init"]["far_over_near"]
    assert shares["rnn_tanh"] < shares["lstm"] / 10 and shares["rnn_tanh"] < shares["gru"] / 10


def test_flow_rows_round_trip_through_csv(tmp_path: Path) -> None:
    flow = {"init": [1.0, 0.5, 0.25], "clipped": [2.0, 1.0, 0.5]}
    (tmp_path / "norms.csv").write_text(csv_text(flow_rows(flow)), encoding="utf-8")
    rows = read_csv_numbers(tmp_path / "norms.csv", "study_gradients@gru")
    assert rows == [{"distance": 0.0, "init": 1.0, "clipped": 2.0}, {"distance": 1.0, "init": 0.5, "clipped": 1.0},
                    {"distance": 2.0, "init": 0.25, "clipped": 0.5}]
    with pytest.raises(InputError, match="study_gradients@gru"):
        read_csv_numbers(tmp_path / "missing.csv", "study_gradients@gru")


@pytest.mark.parametrize(("input_size", "hidden"), [(128, 128), (128, 256), (7, 3), (1, 512)])
def test_gru_has_three_quarters_of_the_lstm_parameters(input_size: int, hidden: int) -> None:
    lstm, gru, rnn = (parameter_count(cell, input_size, hidden) for cell in ("lstm", "gru", "rnn_tanh"))
    assert lstm * 3 == gru * 4 and lstm == 4 * rnn
    assert rnn == hidden * input_size + hidden * hidden + 2 * hidden


def test_size_table_has_every_cell_size_and_batch() -> None:
    study = StudyConfig.model_validate({"sizes": {"input_size": 8, "hidden_sizes": [4, 8], "batch_sizes": [1, 3],
                                                  "steps": 3, "repeats": 2, "warmup": 0}})
    table = size_table(["rnn_tanh", "lstm", "gru"], study.sizes)
    assert list(table["hidden"]) == ["4", "8"]
    for row in table["hidden"].values():
        assert row["gru"]["parameters_vs_lstm"] == 0.75 and row["rnn_tanh"]["parameters_vs_lstm"] == 0.25
        assert all(row[cell][f"us_per_step_b{b}"] > 0 for cell in row for b in (1, 3))


def test_study_config_is_strict_and_consistent(tmp_path: Path, repo: Path) -> None:
    data = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    data["study"]["train"]["hiden"] = 64
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"study\.train\.hiden"):
        load_params(tmp_path / "params.yaml")
    with pytest.raises(ValueError, match=r"study\.gradients\.length 100 must be one of study\.lengths"):
        StudyConfig.model_validate({"lengths": [50]})
    with pytest.raises(ConfigError, match="study.cells has no 'rnn_relu'"):
        StudyConfig().check("rnn_relu")
    with pytest.raises(ConfigError, match="study.lengths has no 70"):
        StudyConfig().check("lstm", 70)


def test_report_marks_solved_lengths_and_names_the_unsolved(tmp_path: Path) -> None:
    study = _study()
    runs, curves = {}, {}
    for cell, mse in [("rnn_tanh", 0.165), ("lstm", 0.002), ("gru", 0.00004)]:
        for length, clip in [(6, 1.0), (12, 1.0), (12, None)]:
            name = f"{cell}-T{length}" + ("" if clip else "-noclip")
            runs[name] = {"cell": cell, "length": length, "clip_norm": clip, "test_mse": mse, "train_seconds": 2.0,
                          "diverged_at_step": None}
            curves[name] = [{"step": 20.0, "test_mse": 0.2}, {"step": 40.0, "test_mse": mse}]
    figures = {"norm_at_loss": 1.0, "norm_half_way": 1e-3, "norm_far": 1e-6, "far_over_near": 1e-6}
    gradients = {cell: {"conditions": dict.fromkeys(CONDITIONS, figures)} for cell in study.cells}
    sizes = {"input_size": 128, "steps": 50, "repeats": 15, "threads": 1, "hidden": {"128": {
        "rnn_tanh": {"parameters": 1, "parameters_vs_lstm": 0.25, "us_per_step_b1": 1.0, "us_per_step_b64": 3.0},
        "lstm": {"parameters": 4, "parameters_vs_lstm": 1.0, "us_per_step_b1": 2.0, "us_per_step_b64": 9.0},
        "gru": {"parameters": 3, "parameters_vs_lstm": 0.75, "us_per_step_b1": 3.0, "us_per_step_b64": 9.0}}}}
    results = StudyResults(runs, curves, gradients, {}, sizes)
    plots = {kind: tmp_path / f"{kind}.png" for kind in ("adding", "curves", "gradients")}
    text = study_markdown(study, results, plots)
    assert "| lstm | 0.0020 ✓ | 0.0020 ✓ | 0.0020 ✓ |" in text
    assert "| rnn_tanh | 0.1650 | 0.1650 | 0.1650 |" in text and "| gru | 4.0e-05 ✓ |" in text
    assert "ends worse than the constant prediction" not in text  # no run is above 0.167
    assert "- T=12: solved by lstm, gru; not solved by rnn_tanh (0.165)." in text
    assert ("- GRU / LSTM, hidden 128: parameters 0.750; time per step at batch 1: 1.50; "
            "time per step at batch 64: 1.00.") in text
    assert "![gradient flow](gradients.png)" in text and "0.167" in text
