"""The VAE presets of the training command on a small --limit: run folder and figures, the printed numbers against
an independent computation, NaN, Ctrl-C and an exact resume, usage errors."""
import csv
import json

import matplotlib.image
import numpy as np
import pytest

from scratchae import train, vae
from scratchae.backend import GPUUnavailableError
from scratchae.data import load
from scratchae.fit import load_checkpoint
from test_train import interrupt_at
from test_vae import numpy_negative_elbo

QUICK = ["--limit", "600", "--quiet"]


def run_main(*args):
    return train.main([str(a) for a in args])


def rows_of(out):
    with open(out / "metrics.csv", newline="") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def test_vae_preset_run_folder_and_numbers(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_main("--preset", "vae", *QUICK, "--epochs", 2, "--out", out) == 0
    printed = capsys.readouterr().out
    assert "784-400-20 VAE" in printed and "train elbo" in printed and "test_kl" in printed
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "config.json", "latent.png", "loss_curve.png",
                                                     "metrics.csv", "reconstructions.png", "samples.png"]
    config = json.loads((out / "config.json").read_text())
    assert (config["dims"], config["batch_size"], config["lr"], config["loss"]) == ([784, 400, 20], 128, 1e-3, "elbo")
    rows = rows_of(out)
    for row in rows:
        assert row["train_loss"] == pytest.approx(row["train_recon"] + row["train_kl"], rel=1e-6)
        assert row["test_loss"] == pytest.approx(row["test_recon"] + row["test_kl"], rel=1e-9)
    assert rows[1]["test_loss"] < rows[0]["test_loss"] < 543.5 * 0.6  # below 60% of 784 log 2 (a coin per pixel)
    # The last test loss, recomputed in float64 NumPy from the saved weights with the evaluation's eps.
    model, _, _, _ = load_checkpoint(out / "checkpoint.npz")
    x_test = load("mnist")[2]
    eps_rng = np.random.default_rng(config["seed"])
    eps = np.concatenate([eps_rng.standard_normal((1000, 20)) for _ in range(10)])  # batches of 1000, in order
    recon, kl = numpy_negative_elbo(model, x_test, eps)
    np.testing.assert_allclose([rows[-1]["test_recon"], rows[-1]["test_kl"]], [recon, kl], rtol=1e-5)
    for name in ("reconstructions.png", "loss_curve.png", "latent.png", "samples.png"):
        picture = matplotlib.image.imread(out / name)
        assert picture.ndim == 3 and picture.shape[0] > 150 and picture.std() > 0.05, name


def test_vae_2d_preset_draws_the_manifold_and_the_codes(tmp_path):
    out = tmp_path / "run"
    assert run_main("--preset", "vae-2d", *QUICK, "--epochs", 1, "--out", out) == 0
    assert {"manifold.png", "latent.png", "samples.png"} <= {p.name for p in out.iterdir()}
    picture = matplotlib.image.imread(out / "manifold.png")
    assert picture.shape[0] > 500 and picture.std() > 0.05


def test_vae_ctrl_c_then_resume_matches_an_uninterrupted_run(tmp_path, capsys, monkeypatch):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    args = ["--preset", "vae", *QUICK, "--dims", 784, 64, 4, "--epochs", 2, "--seed", 3]
    assert run_main(*args, "--out", straight) == 0
    with monkeypatch.context() as m:
        interrupt_at(m, step=7)  # epoch 2, step 2 of 5
        assert run_main(*args, "--out", broken) == 130
    assert "interrupted at epoch 2, step 2" in capsys.readouterr().err
    assert run_main("--resume", broken / "checkpoint.npz") == 0
    a, _, pa, _ = load_checkpoint(straight / "checkpoint.npz")
    b, _, pb, _ = load_checkpoint(broken / "checkpoint.npz")
    for (name, p, _), (_, q, _) in zip(a.named_params(), b.named_params()):
        np.testing.assert_array_equal(p, q, err_msg=name)  # eps came from the same per-step generators
    drop = ("seconds", "images_per_s")
    assert [{k: v for k, v in r.items() if k not in drop} for r in pa.metrics] == \
        [{k: v for k, v in r.items() if k not in drop} for r in pb.metrics]


def test_vae_nan_loss_stops_with_advice(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    real = vae.KL.forward
    calls = {"n": 0}

    def poisoned(self, mu, logvar):
        calls["n"] += 1
        value = real(self, mu, logvar)
        return value * float("nan") if calls["n"] == 3 else value

    monkeypatch.setattr(vae.KL, "forward", poisoned)
    assert run_main("--preset", "vae", *QUICK, "--epochs", 1, "--out", out) == 1
    err = capsys.readouterr().err
    assert "loss became nan at epoch 1, step 3" in err and "smaller --lr" in err and "Traceback" not in err


@pytest.mark.parametrize("bad, message", [
    (["--preset", "vae", "--dims", "784", "20"], "a VAE's --dims needs"),
    (["--preset", "vae", "--loss", "bce"], "--loss elbo goes with the VAE"),
    (["--loss", "elbo"], "--loss elbo goes with the VAE"),
    (["--preset", "vae-2d", "--dims", "100", "2"], "--dims must start with 784"),
])
def test_vae_usage_errors_are_one_line(bad, message, capsys):
    assert train.main(bad) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_vae_gpu_flag_without_a_gpu_is_a_usage_error(tmp_path, capsys, monkeypatch):
    def no_gpu():
        raise GPUUnavailableError("--gpu needs CuPy, which is not installed; drop --gpu to run on the CPU")

    monkeypatch.setattr(train, "gpu_xp", no_gpu)
    assert run_main("--preset", "vae", "--gpu", *QUICK, "--out", tmp_path / "r") == 2
    err = capsys.readouterr().err
    assert "drop --gpu" in err and err.count("\n") == 1
