"""The training command with the LSTM autoencoder on a small --limit: --preset seq2seq, --model lstm, --validation,
resume, Ctrl-C, a NaN loss, usage errors and the GPU stand-in. Every number written is recomputed here."""
import csv
import json

import matplotlib.image
import numpy as np
import pytest

from scratchae import backend, losses, train
from scratchae.data import load
from scratchae.fit import load_checkpoint

from test_commands_standin import check_run_folder
from test_train import interrupt_at

N_TEST = 300
QUICK = ["--preset", "seq2seq", "--limit", "96", "--validation", "200", "--quiet"]  # 3 steps of 32 an epoch


@pytest.fixture(autouse=True)
def small_test_set(monkeypatch):
    """The first 300 test images only: 10,000 through three LSTMs every epoch would dominate a test."""
    def load_small(dataset, data_dir=None):
        x_train, y_train, x_test, y_test = load(dataset, data_dir)
        return x_train, y_train, x_test[:N_TEST], y_test[:N_TEST]
    monkeypatch.setattr(train, "load", load_small)


def run_main(*args):
    return train.main([str(a) for a in args])


def read_rows(out):
    with open(out / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_seq2seq_run_folder_and_validation_loss_recomputed(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_main(*QUICK, "--epochs", 2, "--out", out) == 0
    printed = capsys.readouterr().out
    assert "training lstm autoencoder on fashion-mnist (96 images, 200 more for validation)" in printed
    assert "epoch   2  train mse" in printed and "val mse" in printed and "done: test mse" in printed
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "config.json", "latent.png", "loss_curve.png",
                                                     "metrics.csv", "reconstructions.png"]
    config = json.loads((out / "config.json").read_text())
    assert (config["model"], config["validation"], config["batch_size"], config["loss"]) == ("lstm", 200, 32, "mse")
    rows = read_rows(out)
    assert list(rows[0]) == ["epoch", "train_loss", "val_loss", "test_loss", "seconds", "images_per_s"]
    model, state, progress, _ = load_checkpoint(out / "checkpoint.npz")
    assert state["t"] == 2 * 3 and progress.epoch == 2
    x_train, _, x_test, _ = load("fashion-mnist")
    for x, key in ((x_train[-200:], "val_loss"), (x_test[:N_TEST], "test_loss")):
        pred = model.forward(x).astype(np.float64)  # the saved model, through NumPy in float64 for the mean
        assert float(rows[-1][key]) == pytest.approx(np.mean((pred - x) ** 2), rel=1e-5), key
    assert float(rows[1]["val_loss"]) < float(rows[0]["val_loss"])
    assert tuple(model.encode(x_test[:5]).shape) == (5, 30)  # the 30-number code the latent map draws
    for name in ("reconstructions.png", "loss_curve.png", "latent.png"):
        picture = matplotlib.image.imread(out / name)
        assert picture.ndim == 3 and picture.shape[0] > 200 and picture.std() > 0.05, name


def test_model_lstm_with_another_preset_and_validation_on_a_dense_model(tmp_path):
    assert run_main("--preset", "keras-basic", "--model", "lstm", "--limit", "64", "--epochs", "1", "--quiet",
                    "--out", tmp_path / "lstm") == 0
    assert list(read_rows(tmp_path / "lstm")[0])[:3] == ["epoch", "train_loss", "test_loss"]  # no validation
    assert run_main("--preset", "keras-basic", "--dims", "784", "16", "--limit", "64", "--epochs", "1", "--quiet",
                    "--validation", "100", "--out", tmp_path / "dense") == 0
    row = read_rows(tmp_path / "dense")[0]
    model, _, _, _ = load_checkpoint(tmp_path / "dense" / "checkpoint.npz")
    x_val = load("fashion-mnist")[0][-100:]
    pred = model.forward(x_val).astype(np.float64)
    assert float(row["val_loss"]) == pytest.approx(np.mean((pred - x_val) ** 2), rel=1e-5)


@pytest.mark.parametrize("bad, message", [
    (["--preset", "seq2seq", "--loss", "bce"], "the lstm model's output is linear"),
    (["--model", "lstm"], "use --loss mse, not bce"),  # the reference preset's loss
    (["--preset", "seq2seq", "--dims", "784", "32"], "the lstm model has fixed shapes, drop --dims"),
    (["--preset", "seq2seq", "--output-bias", "mean"], "drop --output-bias"),
    (["--preset", "seq2seq", "--validation", "0"], "--validation: must be > 0"),
    (["--preset", "seq2seq", "--validation", "60000"], "--validation 60000 leaves no training images"),
    (["--preset", "vae", "--validation", "100"], "drop it for the VAE"),
    (["--preset", "seq2seq", "--noise", "0.3"], "drop it for the VAE, --noise or --sparsity"),
])
def test_usage_errors_are_one_line_and_exit_2(bad, message, tmp_path, capsys):
    assert run_main(*bad, "--out", tmp_path / "r", "--quiet") == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_ctrl_c_then_resume_matches_an_uninterrupted_run(tmp_path, capsys, monkeypatch):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    assert run_main(*QUICK, "--epochs", 2, "--out", straight) == 0
    with monkeypatch.context() as m:
        interrupt_at(m, step=5)  # epoch 2, step 2 of 3
        assert run_main(*QUICK, "--epochs", 2, "--out", broken) == 130
    assert "interrupted at epoch 2, step 2" in capsys.readouterr().err
    assert run_main("--resume", broken / "checkpoint.npz", "--quiet") == 0
    a, _, pa, _ = load_checkpoint(straight / "checkpoint.npz")
    b, _, pb, _ = load_checkpoint(broken / "checkpoint.npz")
    for (name, p, _), (_, q, _) in zip(a.named_params(), b.named_params()):
        np.testing.assert_array_equal(p, q, err_msg=name)  # bit for bit
    assert [(r["val_loss"], r["test_loss"]) for r in pa.metrics] == [(r["val_loss"], r["test_loss"])
                                                                     for r in pb.metrics]
    assert run_main("--resume", broken / "checkpoint.npz", "--validation", "100") == 2  # part of the run
    assert "drop --validation" in capsys.readouterr().err


def test_nan_loss_stops_with_advice_and_keeps_the_last_checkpoint(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert run_main(*QUICK, "--epochs", 1, "--out", out) == 0
    good = (out / "checkpoint.npz").read_bytes()
    calls = {"n": 0}
    real = losses.MSE.forward

    def poisoned(self, pred, target):
        calls["n"] += 1
        value = real(self, pred, target)
        return value * float("nan") if calls["n"] == 2 else value

    monkeypatch.setattr(losses.MSE, "forward", poisoned)
    assert run_main("--resume", out / "checkpoint.npz", "--epochs", 2, "--quiet") == 1
    err = capsys.readouterr().err
    assert "loss became nan at epoch 2, step 2" in err and "smaller --lr than 0.002" in err and "Traceback" not in err
    assert (out / "checkpoint.npz").read_bytes() == good


def test_seq2seq_on_the_standin_matches_numpy(tmp_path, monkeypatch, capsys):
    args = [*QUICK, "--limit", "64", "--epochs", "1"]
    assert run_main(*args, "--out", tmp_path / "numpy") == 0
    with monkeypatch.context() as m:
        m.setattr(backend, "_standin", None)
        m.setenv(backend.BACKEND_ENV, "standin")
        assert run_main(*args, "--gpu", "--out", tmp_path / "standin") == 0
    assert "with standin" in capsys.readouterr().out
    check_run_folder(tmp_path / "standin", tmp_path / "numpy")
