"""``python -m scratchae.features``: the table of a small run, every number recomputed independently in NumPy,
the same numbers on the GPU stand-in, and one-line usage errors with exit code 2."""
import csv

import numpy as np
import pytest

from scratchae import backend, features, train
from scratchae.classify import softmax_regression
from scratchae.data import load
from scratchae.fit import load_checkpoint

from test_knn import brute_force

N_TRAIN, N_TEST = 600, 200
ARGS = ["--labels", "100", "600", "--steps", "40"]


@pytest.fixture(autouse=True)
def small_data(monkeypatch):
    def small_load(dataset="mnist", data_dir=None):
        x_train, y_train, x_test, y_test = load(dataset, data_dir)
        return x_train[:N_TRAIN], y_train[:N_TRAIN], x_test[:N_TEST], y_test[:N_TEST]
    monkeypatch.setattr(train, "load", small_load)
    monkeypatch.setattr(features, "load", small_load)
    return small_load


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(train, "load", lambda dataset="mnist", data_dir=None: [a[:N_TRAIN] for a in load(dataset)])
        assert train.main(["--dims", "784", "64", "8", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    return out


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_table_is_what_numpy_computes(run_dir, small_data, capsys):
    assert features.main([str(run_dir), *ARGS]) == 0
    printed = capsys.readouterr().out
    rows = read_csv(run_dir / "features.csv")
    assert {r["features"] for r in rows} == {"pixels", "PCA-32", "reference code"}
    x_train, y_train, x_test, y_test = small_data()
    model, _, _, _ = load_checkpoint(run_dir / "checkpoint.npz")
    # The code in NumPy from the saved weights: two Dense + ReLU layers, written out.
    W0, b0, W1, b1 = (p for _, p, _ in list(model.named_params())[:4])
    def code(x):
        return np.maximum(np.maximum(x @ W0 + b0, 0) @ W1 + b1, 0)
    centred = x_train - x_train.mean(0)
    vt = np.linalg.svd(centred, full_matrices=False)[2][:32]
    sets = {"pixels": (x_train, x_test), "reference code": (code(x_train), code(x_test)),
            "PCA-32": (centred @ vt.T, (x_test - x_train.mean(0)) @ vt.T)}
    order = np.random.default_rng(0).permutation(N_TRAIN)
    for r in rows:
        if r["classifier"] == "knn5":
            f_train, f_test = sets[r["features"]]
            idx = order[: int(r["labels"])]
            _, pred = brute_force(f_train[idx].astype(np.float64), y_train[idx], f_test.astype(np.float64), 5, 10)
            # float32 distances may order two nearly equal neighbours differently: at most one image in 200.
            assert float(r["accuracy"]) == pytest.approx(np.mean(pred == y_test), abs=1 / N_TEST + 1e-9), r
        else:  # refit with the reported choice on the standardized features, predict with NumPy
            f_train, f_test = sets[r["features"]]
            mean, std = f_train.mean(0), f_train.std(0)
            std[std == 0] = 1
            z_train, z_test = (f_train - mean) / std, (f_test - mean) / std
            idx = order[: int(r["labels"])]
            fit, _ = softmax_regression(z_train[idx].astype(np.float32), y_train[idx], steps=int(r["steps"]),
                                        batch_size=min(256, len(idx)), weight_decay=float(r["weight_decay"]))
            W, b = fit.layers[0].params["W"], fit.layers[0].params["b"]
            want = np.mean(np.argmax(z_test @ W + b, axis=1) == y_test)
            assert float(r["accuracy"]) == pytest.approx(want, abs=1 / N_TEST + 1e-9), r
            assert int(r["steps"]) % 2 == 0 and float(r["weight_decay"]) in (0, 1e-4, 1e-3, 1e-2)
        assert f"{100 * float(r['accuracy']):6.2f}%" in printed
    recon = read_csv(run_dir / "reconstruction.csv")
    out = model.forward(x_test)
    assert float(recon[0]["mse_per_pixel"]) == pytest.approx(np.mean((out - x_test) ** 2), rel=1e-5)
    vt8 = vt[:8]
    xc = x_test - x_train.mean(0)
    pca8 = np.mean((xc - xc @ vt8.T @ vt8) ** 2)
    assert recon[1]["model"] == "PCA-8" and float(recon[1]["mse_per_pixel"]) == pytest.approx(pca8, rel=1e-4)
    assert float(recon[1]["squared_error_per_image"]) == pytest.approx(784 * pca8, rel=1e-4)
    table = (run_dir / "features.md").read_text()
    assert "| pixels | 784 |" in table and "| PCA-8 | 8 |" in table


def test_the_standin_gives_numpys_table(run_dir, tmp_path, monkeypatch, capsys):
    args = [str(run_dir), "--features", "code", *ARGS]
    assert features.main(args) == 0
    want = read_csv(run_dir / "features.csv")
    monkeypatch.setattr(backend, "_standin", None)
    monkeypatch.setenv(backend.BACKEND_ENV, "standin")
    assert features.main([*args, "--gpu"]) == 0
    assert "with standin" in capsys.readouterr().out
    got = read_csv(run_dir / "features.csv")
    assert [(r["labels"], r["classifier"]) for r in got] == [(r["labels"], r["classifier"]) for r in want]
    for r, w in zip(got, want):
        assert float(r["accuracy"]) == pytest.approx(float(w["accuracy"]), abs=1 / N_TEST + 1e-9)


@pytest.mark.parametrize("argv, message", [
    (["{missing}"], "no checkpoint.npz"),
    (["{run}", "--labels", "601"], "only 600"),
    (["{run}", "--features", "colour"], "invalid choice"),
    (["{run}", "--steps", "0"], "must be > 0"),
])
def test_usage_errors_are_one_line_and_exit_2(run_dir, tmp_path, capsys, argv, message):
    argv = [a.format(run=run_dir, missing=tmp_path / "nothing") for a in argv]
    assert features.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("scratchae.features: error: ") and message in err and "\n" not in err
