"""The training command's variants end to end on a small --limit: denoising (--noise), sparse codes (--sparsity),
the t-SNE latent map, their presets and their bad input. Every number written is recomputed here independently."""
import csv
import sys

import matplotlib.image
import numpy as np
import pytest

from scratchae import plots, train
from scratchae.data import load
from scratchae.fit import load_checkpoint

QUICK = ["--limit", "600", "--batch-size", "128", "--dims", "784", "32", "8", "--quiet"]


def run_main(*args):
    return train.main([str(a) for a in args])


def last_row(out):
    with open(out / "metrics.csv", newline="") as fh:
        return {k: float(v) for k, v in list(csv.DictReader(fh))[-1].items()}


def test_denoising_run_reports_psnr_against_an_independent_computation(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_main(*QUICK, "--noise", 0.5, "--epochs", 2, "--seed", 3, "--out", out) == 0
    printed = capsys.readouterr().out
    assert "(denoising, noise 0.5)" in printed and "test_psnr" in printed and "noisy_psnr" in printed
    row = last_row(out)
    model, _, _, _ = load_checkpoint(out / "checkpoint.npz")
    _, _, x, _ = load("mnist")
    # The fixed noisy test set, written out from the formula: generator (seed, 2**32 - 1), float32 draws.
    eps = np.random.default_rng([3, 2**32 - 1]).standard_normal(x.shape, dtype=np.float32)
    noisy = np.clip(x + 0.5 * eps, 0, 1)
    pred = model.forward(noisy).astype(np.float64)
    x64 = x.astype(np.float64)

    def psnr(a):
        return np.mean(10 * np.log10(1 / np.mean((a - x64) ** 2, axis=1)))

    p = np.clip(pred, 1e-7, 1 - 1e-7)
    assert row["test_loss"] == pytest.approx(-np.mean(x64 * np.log(p) + (1 - x64) * np.log(1 - p)), rel=1e-4)
    assert row["test_psnr"] == pytest.approx(psnr(pred), rel=1e-5)
    assert row["noisy_psnr"] == pytest.approx(psnr(noisy.astype(np.float64)), rel=1e-5)
    assert 9.0 < row["noisy_psnr"] < 10.0 < row["test_psnr"]  # about 9.4 dB in; any training beats it
    three = matplotlib.image.imread(out / "reconstructions.png")
    assert three.shape[0] > 400  # three rows of images: noisy, denoised, clean (two rows are 280 pixels)


def test_denoising_resume_repeats_the_noise(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert run_main(*QUICK, "--noise", 0.3, "--epochs", 2, "--out", straight) == 0
    assert run_main(*QUICK, "--noise", 0.3, "--epochs", 1, "--out", split) == 0
    assert run_main("--resume", split / "checkpoint.npz", "--epochs", 2, "--quiet") == 0
    a, b = (load_checkpoint(out / "checkpoint.npz")[0] for out in (straight, split))
    for (name, p, _), (_, q, _) in zip(a.named_params(), b.named_params()):
        np.testing.assert_array_equal(p, q, err_msg=name)
    assert last_row(straight) | {"seconds": 0, "images_per_s": 0} == last_row(split) | {"seconds": 0,
                                                                                        "images_per_s": 0}


@pytest.mark.parametrize("lam", [1e-2, 0.0])
def test_sparse_run_reports_code_activity_against_an_independent_computation(tmp_path, capsys, lam):
    out = tmp_path / "run"
    assert run_main("--preset", "keras-sparse", "--sparsity", lam, "--limit", 600, "--epochs", 2, "--quiet",
                    "--out", out) == 0
    assert f"784-32 autoencoder (L1 code penalty {lam:g})" in capsys.readouterr().out
    row = last_row(out)
    model, _, _, config = load_checkpoint(out / "checkpoint.npz")
    assert config["dims"] == [784, 32] and config["sparsity"] == lam and config["loss"] == "bce"
    _, _, x, _ = load("mnist")
    h = model.encode(x).astype(np.float64)
    assert row["test_code_mean"] == pytest.approx(np.mean(h), rel=1e-5)
    assert row["test_penalty"] == pytest.approx(lam * np.mean(np.sum(np.abs(h), axis=1)), rel=1e-5, abs=1e-12)
    assert "train_penalty" in row and (row["train_penalty"] > 0) == (lam > 0)


def test_tf_denoise_preset(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_main("--preset", "tf-denoise", "--limit", 64, "--epochs", 1, "--quiet", "--out", out) == 0
    assert "tf-denoiser autoencoder (denoising, noise 0.2) on fashion-mnist" in capsys.readouterr().out
    model, _, _, config = load_checkpoint(out / "checkpoint.npz")
    assert [config[k] for k in ("model", "noise", "loss", "batch_size")] == ["tf-denoiser", 0.2, "mse", 32]
    assert 15.5 < last_row(out)["noisy_psnr"] < 16.5  # Fashion-MNIST at noise 0.2: about 16.0 dB
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "config.json", "latent.png", "loss_curve.png",
                                                     "metrics.csv", "reconstructions.png"]


def test_tsne_latent_map_is_wired_to_the_flag(tmp_path, monkeypatch):
    """The real t-SNE is tested on small data in test_tsne.py; here only that --latent-map tsne reaches it."""
    calls = []

    def fake_tsne(z, seed=0):
        calls.append((z.shape, seed))
        return plots.pca_2d(z)

    monkeypatch.setattr(plots, "tsne_2d", fake_tsne)
    monkeypatch.setattr(plots, "tsne_available", lambda: True)
    assert run_main(*QUICK, "--epochs", 1, "--seed", 2, "--latent-map", "tsne", "--out", tmp_path / "run") == 0
    assert calls == [((10000, 8), 2)]


def test_tsne_without_scikit_learn_is_one_line_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)  # what an environment without the extra sees
    assert run_main(*QUICK, "--latent-map", "tsne", "--out", tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert 'pip install -e ".[tsne]"' in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


@pytest.mark.parametrize("bad, message", [
    (["--noise", "-0.1"], "--noise: must be >= 0"),
    (["--noise", "nan"], "--noise: must be >= 0"),
    (["--noise", "lots"], "is not a number"),
    (["--sparsity=-1e-4"], "--sparsity: must be >= 0"),
    (["--noise", "0.5", "--sparsity", "1e-4"], "--noise and --sparsity do not combine"),
    (["--preset", "keras-sparse", "--noise", "0.5"], "--noise and --sparsity do not combine"),
    (["--latent-map", "umap"], "invalid choice: 'umap'"),
])
def test_variant_usage_errors_are_one_line_and_exit_2(bad, message, capsys, tmp_path):
    assert train.main([*bad, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
