"""The training command with the conv models on a small --limit: the run folder, presets, --model, resume,
Ctrl-C, a NaN loss and usage errors (as tests/test_train.py does for the dense model)."""
import csv
import json
import os
import signal
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest

from scratchae import BCE, Conv2D, Conv2DTranspose, MaxPool2D, losses, optim_fast, train
from scratchae.data import load
from scratchae.fit import load_checkpoint

QUICK = ["--preset", "keras-conv", "--limit", "256", "--quiet"]
N_TEST = 300


@pytest.fixture
def small_test_set(monkeypatch):
    """The first 300 test images only: evaluating 10,000 through a conv model every epoch would dominate a test."""
    def load_small(dataset, data_dir=None):
        x_train, y_train, x_test, y_test = load(dataset, data_dir)
        return x_train, y_train, x_test[:N_TEST], y_test[:N_TEST]
    monkeypatch.setattr(train, "load", load_small)


def run_main(*args):
    return train.main([str(a) for a in args])


def params_of(checkpoint):
    model, state, progress, _ = load_checkpoint(checkpoint)
    return {name: p.copy() for name, p, _ in model.named_params()}, state, progress


def test_keras_conv_run_folder(tmp_path, capsys, small_test_set):
    out = tmp_path / "run"
    assert run_main(*QUICK, "--epochs", 2, "--out", out) == 0
    printed = capsys.readouterr().out
    assert "training conv autoencoder on fashion-mnist (256 images)" in printed and "batch 128" in printed
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "config.json", "latent.png", "loss_curve.png",
                                                     "metrics.csv", "reconstructions.png"]
    config = json.loads((out / "config.json").read_text())
    assert (config["model"], config["dataset"], config["loss"], config["batch_size"], config["lr"], config["epochs"]) \
        == ("conv", "fashion-mnist", "bce", 128, 1e-3, 2)
    assert "dims" not in config and config["output_bias"] == "zero"
    with open(out / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[1]["test_loss"]) < float(rows[0]["test_loss"]) < 0.7
    for name in ("reconstructions.png", "loss_curve.png", "latent.png"):
        picture = matplotlib.image.imread(out / name)
        assert picture.ndim == 3 and picture.shape[0] > 200 and picture.std() > 0.05, name
    model, state, progress, _ = load_checkpoint(out / "checkpoint.npz")
    assert progress.epoch == 2 and state["t"] == 2 * 2
    assert [type(layer) for layer in model.layers if layer.params] == [Conv2D, Conv2D, Conv2DTranspose,
                                                                       Conv2DTranspose, Conv2D]
    # The reported test BCE, recomputed independently from the saved weights on the same 300 images.
    x_test = load("fashion-mnist")[2][:N_TEST]
    p = np.clip(model.forward(x_test).astype(np.float64), 1e-7, 1 - 1e-7)
    bce = -np.mean(x_test * np.log(p) + (1 - x_test) * np.log(1 - p))
    assert float(rows[1]["test_loss"]) == pytest.approx(bce, rel=1e-5)
    assert model.encode(x_test[:3]).shape == (3, 7 * 7 * 64)  # the latent map's codes


def test_conv_pool_model_and_dense_with_the_conv_preset(tmp_path, small_test_set):
    assert run_main(*QUICK, "--model", "conv-pool", "--limit", 128, "--epochs", 1, "--out", tmp_path / "pool") == 0
    model, _, _, config = load_checkpoint(tmp_path / "pool" / "checkpoint.npz")
    assert config["model"] == "conv-pool" and sum(isinstance(layer, MaxPool2D) for layer in model.layers) == 2
    assert run_main(*QUICK, "--model", "dense", "--limit", 128, "--epochs", 1, "--out", tmp_path / "dense") == 0
    _, _, _, config = load_checkpoint(tmp_path / "dense" / "checkpoint.npz")
    assert config["model"] == "dense" and config["dims"] == [784, 256, 128, 64, 32, 32]


@pytest.mark.parametrize("bad, message", [
    (["--preset", "keras-conv", "--dims", "784", "32"], "the conv model has fixed shapes, drop --dims"),
    (["--model", "conv-pool", "--output-bias", "mean"], "drop --output-bias"),
    (["--model", "conv3d"], "invalid choice: 'conv3d'"),
])
def test_conv_usage_errors_are_one_line_and_exit_2(bad, message, capsys):
    assert train.main(bad) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_gpu_without_cupy_is_a_one_line_error(tmp_path):
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed here: --gpu would not fail")
    except ImportError:
        pass
    done = subprocess.run([sys.executable, "-m", "scratchae.train", "--preset", "keras-conv", "--gpu", "--out",
                           str(tmp_path / "r")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 2 and "drop --gpu to run on the CPU" in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_ctrl_c_then_resume_matches_an_uninterrupted_run(tmp_path, capsys, monkeypatch, small_test_set):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    assert run_main(*QUICK, "--epochs", 2, "--seed", 5, "--out", straight) == 0
    calls = {"n": 0}
    real = optim_fast.FusedAdam.step  # the command's Adam

    def step_then_ctrl_c(self):
        calls["n"] += 1
        if calls["n"] == 3:  # epoch 2, step 1 of 2
            os.kill(os.getpid(), signal.SIGINT)
        real(self)

    with monkeypatch.context() as m:
        m.setattr(optim_fast.FusedAdam, "step", step_then_ctrl_c)
        assert run_main(*QUICK, "--epochs", 2, "--seed", 5, "--out", broken) == 130
    assert "interrupted at epoch 2, step 1" in capsys.readouterr().err
    assert run_main("--resume", broken / "checkpoint.npz") == 0
    a, _, pa = params_of(straight / "checkpoint.npz")
    b, _, pb = params_of(broken / "checkpoint.npz")
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert [r["test_loss"] for r in pa.metrics] == [r["test_loss"] for r in pb.metrics]


def test_nan_loss_stops_with_advice_and_keeps_the_last_checkpoint(tmp_path, capsys, monkeypatch, small_test_set):
    out = tmp_path / "run"
    assert run_main(*QUICK, "--epochs", 1, "--out", out) == 0
    good = (out / "checkpoint.npz").read_bytes()
    calls = {"n": 0}
    real = losses.BCE.forward

    def poisoned(self, pred, target):
        calls["n"] += 1
        value = real(self, pred, target)
        return value * float("nan") if calls["n"] == 2 else value

    monkeypatch.setattr(BCE, "forward", poisoned)
    assert run_main("--resume", out / "checkpoint.npz", "--epochs", 2) == 1
    err = capsys.readouterr().err
    assert "loss became nan at epoch 2, step 2" in err and "smaller --lr than 0.001" in err and "Traceback" not in err
    assert (out / "checkpoint.npz").read_bytes() == good
