"""The training command end to end on a small --limit: the run folder, usage errors, divergence, Ctrl-C, resume."""
import csv
import json
import os
import signal
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest

from scratchae import losses, optim_fast, train
from scratchae.fit import load_checkpoint

QUICK = ["--limit", "600", "--batch-size", "128", "--dims", "784", "32", "8", "--quiet"]


def run_main(*args):
    return train.main([str(a) for a in args])


def params_of(checkpoint):
    model, state, progress, config = load_checkpoint(checkpoint)
    return {name: p.copy() for name, p, _ in model.named_params()}, state, progress


def test_run_folder_has_everything(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_main(*QUICK, "--epochs", 2, "--out", out) == 0
    printed = capsys.readouterr().out
    assert "epoch   1  train bce" in printed and "img/s" in printed and "done: test bce" in printed
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "config.json", "latent.png", "loss_curve.png",
                                                     "metrics.csv", "network.png", "reconstructions.png"]
    config = json.loads((out / "config.json").read_text())
    assert config["dims"] == [784, 32, 8] and config["lr"] == 1e-3 and config["limit"] == 600
    assert config["versions"]["numpy"] == np.__version__
    with open(out / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[1]["test_loss"]) < float(rows[0]["test_loss"]) < 0.7
    for name in ("reconstructions.png", "loss_curve.png", "latent.png", "network.png"):
        picture = matplotlib.image.imread(out / name)
        assert picture.ndim == 3 and picture.shape[0] > 200 and picture.std() > 0.05, name
    _, state, progress = params_of(out / "checkpoint.npz")
    assert progress.epoch == 2 and state["t"] == 2 * 5 and len(progress.metrics) == 2


@pytest.mark.parametrize("bad, message", [
    (["--epochs", "0"], "--epochs: must be > 0"),
    (["--batch-size", "0"], "--batch-size: must be > 0"),
    (["--lr", "0"], "--lr: must be > 0"),
    (["--lr", "-0.1"], "--lr: must be > 0"),
    (["--lr", "nan"], "--lr: must be > 0"),
    (["--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["--dims", "100", "32"], "--dims must start with 784"),
    (["--epochs", "two"], "is not a number"),
    (["--bogus"], "unrecognized arguments"),
    (["--code", "tanh"], "invalid choice: 'tanh'"),
    (["--preset", "keras-conv", "--code", "linear"], "--code sets a dense autoencoder's latent activation"),
    (["--preset", "vae", "--code", "linear"], "the vae model has its own, drop --code"),
])
def test_usage_errors_are_one_line_and_exit_2(bad, message, capsys):
    assert train.main(bad) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_unwritable_out_is_a_usage_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert run_main(*QUICK, "--out", blocker / "run") == 2
    err = capsys.readouterr().err
    assert "--out" in err and "cannot write there" in err and err.count("\n") == 1


def test_missing_data_is_a_usage_error(tmp_path, capsys):
    assert run_main(*QUICK, "--data-dir", tmp_path, "--out", tmp_path / "run") == 2
    assert "missing; put the original mnist IDX files" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [(["--gpu", "--epochs", "1"], "drop --gpu to run on the CPU"),
                                           (["--epochs", "0"], "--epochs: must be > 0")])
def test_command_line_errors_have_no_traceback(args, message, tmp_path):
    env = {**os.environ, "PYTHONPATH": ""}
    if "--gpu" in args:
        pytest.importorskip("numpy")
        try:
            import cupy  # noqa: F401
            pytest.skip("CuPy is installed here: --gpu would not fail")
        except ImportError:
            pass
    done = subprocess.run([sys.executable, "-m", "scratchae.train", *args, "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and message in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_nan_loss_stops_with_advice_and_keeps_the_last_checkpoint(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert run_main(*QUICK, "--epochs", 1, "--out", out) == 0
    good = (out / "checkpoint.npz").read_bytes()
    calls = {"n": 0}
    real = losses.BCE.forward

    def poisoned(self, pred, target):
        calls["n"] += 1
        value = real(self, pred, target)
        return value * float("nan") if calls["n"] == 3 else value

    monkeypatch.setattr(losses.BCE, "forward", poisoned)
    assert run_main("--resume", out / "checkpoint.npz", "--epochs", 3, "--quiet") == 1
    err = capsys.readouterr().err
    assert "loss became nan at epoch 2, step 3" in err and "smaller --lr than 0.001" in err
    assert "last good checkpoint" in err and "Traceback" not in err
    assert (out / "checkpoint.npz").read_bytes() == good


def interrupt_at(monkeypatch, step):
    """Send ourselves SIGINT during optimizer step number ``step``, as a Ctrl-C in the middle of training would."""
    calls = {"n": 0}
    real = optim_fast.FusedAdam.step  # the command's Adam

    def step_then_ctrl_c(self):
        calls["n"] += 1
        if calls["n"] == step:
            os.kill(os.getpid(), signal.SIGINT)
        real(self)

    monkeypatch.setattr(optim_fast.FusedAdam, "step", step_then_ctrl_c)


def test_ctrl_c_then_resume_matches_an_uninterrupted_run(tmp_path, capsys, monkeypatch):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    assert run_main(*QUICK, "--epochs", 3, "--seed", 5, "--out", straight) == 0
    with monkeypatch.context() as m:
        interrupt_at(m, step=7)  # epoch 2, step 2 of 5
        assert run_main(*QUICK, "--epochs", 3, "--seed", 5, "--out", broken) == 130
    err = capsys.readouterr().err
    assert "interrupted at epoch 2, step 2" in err and "--resume" in err
    _, state, progress = params_of(broken / "checkpoint.npz")
    assert (progress.epoch, progress.step, state["t"]) == (1, 2, 7)
    assert run_main("--resume", broken / "checkpoint.npz") == 0
    a, _, pa = params_of(straight / "checkpoint.npz")
    b, _, pb = params_of(broken / "checkpoint.npz")
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert [(r["train_loss"], r["test_loss"]) for r in pa.metrics] == [(r["train_loss"], r["test_loss"]) for r in pb.metrics]


def test_resume_refuses_to_change_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_main(*QUICK, "--epochs", 1, "--out", out) == 0
    assert run_main("--resume", out / "checkpoint.npz", "--lr", "0.01") == 2
    assert "drop --lr" in capsys.readouterr().err
    assert run_main("--resume", tmp_path / "nope.npz") == 2
    assert "no such file" in capsys.readouterr().err


def test_a_linear_code_run_saves_resumes_and_keeps_its_code(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_main(*QUICK, "--code", "linear", "--epochs", 1, "--out", out) == 0
    assert "784-32-8 autoencoder (linear code)" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["code"] == "linear"
    assert run_main("--resume", out / "checkpoint.npz", "--code", "relu") == 2
    assert "drop --code" in capsys.readouterr().err
    assert run_main("--resume", out / "checkpoint.npz", "--epochs", 2) == 0
    model, _, progress, cfg = load_checkpoint(out / "checkpoint.npz")
    assert progress.epoch == 2 and cfg["code"] == "linear"
    assert [type(layer).__name__ for layer in model.encoder.layers] == ["Dense", "ReLU", "Dense"]
    relu = tmp_path / "relu"
    assert run_main(*QUICK, "--epochs", 1, "--out", relu) == 0  # the default: the assignment's ReLU code
    assert json.loads((relu / "config.json").read_text())["code"] == "relu"
    assert [type(layer).__name__ for layer in load_checkpoint(relu / "checkpoint.npz")[0].encoder.layers][-1] == "ReLU"


def test_crash_during_checkpoint_save_leaves_the_old_one(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert run_main(*QUICK, "--epochs", 1, "--out", out) == 0
    good = (out / "checkpoint.npz").read_bytes()

    def crash_half_way(fh, **arrays):
        fh.write(b"PK\x03\x04 half a zip file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash_half_way)
    with pytest.raises(OSError, match="disk full"):
        run_main("--resume", out / "checkpoint.npz", "--epochs", 2)
    assert (out / "checkpoint.npz").read_bytes() == good
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".tmp")) == []


def test_real_sigint_saves_and_exits_cleanly(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "scratchae.train", *QUICK[:-1], "--limit", "2000", "--epochs",
                             "500", "--out", str(out), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    for line in proc.stdout:  # wait until training is under way
        if line.startswith("epoch"):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "checkpoint saved" in err and "Traceback" not in err
    _, _, progress = params_of(out / "checkpoint.npz")
    assert 1 <= progress.epoch < 500


def test_keras_basic_preset(tmp_path):
    out = tmp_path / "run"
    assert run_main("--preset", "keras-basic", "--limit", 256, "--epochs", 1, "--quiet", "--out", out) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["dataset"], config["dims"], config["loss"], config["batch_size"]) == ("fashion-mnist", [784, 64],
                                                                                          "mse", 32)


def test_resume_detects_a_changed_seed_even_when_it_is_zero(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_main(*QUICK, "--epochs", 1, "--seed", 3, "--out", out) == 0
    assert run_main("--resume", out / "checkpoint.npz", "--seed", 0) == 2
    assert "drop --seed" in capsys.readouterr().err


def test_resume_from_a_weights_file_is_a_clear_error(tmp_path, capsys):
    from scratchae import dense_autoencoder, save_model

    weights = tmp_path / "weights.npz"
    save_model(dense_autoencoder((784, 16), rng=0), weights)
    assert run_main("--resume", weights) == 2
    err = capsys.readouterr().err
    assert "not a training checkpoint" in err and err.count("\n") == 1


def test_ctrl_c_while_loading_data_exits_130_without_traceback(tmp_path, capsys, monkeypatch):
    def interrupted_load(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "load", interrupted_load)
    assert run_main(*QUICK, "--out", tmp_path / "run") == 130
    err = capsys.readouterr().err
    assert "interrupted outside training" in err and err.count("\n") == 1


def test_importing_the_commands_leaves_matplotlib_backend_alone():
    # A notebook that imports scratchae.train must keep its inline figures: the library draws outside pyplot.
    code = ("import matplotlib; matplotlib.use('svg'); import scratchae.train, scratchae.anomaly, scratchae.plots; "
            "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_no_progress_bar_in_a_log(tmp_path):
    # stderr is a pipe here, as in CI or `> log.txt`: one line per epoch on stdout, no stream of carriage returns.
    args = [a for a in QUICK if a != "--quiet"]
    done = subprocess.run([sys.executable, "-m", "scratchae.train", *args, "--epochs", "2", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "\r" not in done.stdout and done.stderr == ""
    assert sum(line.startswith("epoch") for line in done.stdout.splitlines()) == 2
