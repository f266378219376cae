"""benchmarks/ae_vs_pca.py: the table and the figure of the code-size sweep, every number recomputed in NumPy."""
import pathlib
import sys

import numpy as np
import pytest
from matplotlib.image import imread

from scratchae import train
from scratchae.data import load
from scratchae.fit import load_checkpoint

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import ae_vs_pca  # noqa: E402  (a script in benchmarks/, imported by path)

N_TRAIN, N_TEST = 600, 200
RUNS = (("mnist", 8, "relu"), ("fashion-mnist", 2, "relu"), ("mnist", 2, "linear"))


def planted(path):
    """The run's model with code unit 0 pushed far below zero: a ReLU code loses it, a linear code keeps it."""
    model, optimizer, progress, cfg = load_checkpoint(path)
    model.encoder.layers[2].params["b"][0] = -100.0  # Dense, ReLU, Dense: the code's Dense
    return model, optimizer, progress, cfg


def small_load(dataset="mnist", data_dir=None):
    x_train, y_train, x_test, y_test = load(dataset, data_dir)
    return x_train[:N_TRAIN], y_train[:N_TRAIN], x_test[:N_TEST], y_test[:N_TEST]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three small runs, given out of order: MNIST with codes 8 and 2 (linear), Fashion-MNIST with code 2."""
    folders = []
    with pytest.MonkeyPatch.context() as m:
        m.setattr(train, "load", small_load)
        for dataset, k, code in RUNS:
            out = tmp_path_factory.mktemp(f"{dataset}-{k}")
            assert train.main(["--dataset", dataset, "--dims", "784", "16", str(k), "--code", code, "--epochs", "2",
                               "--quiet", "--out", str(out)]) == 0
            folders.append(out)
    return folders


def test_the_table_and_the_pictures_are_what_numpy_computes(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ae_vs_pca, "load", small_load)
    monkeypatch.setattr(ae_vs_pca, "load_checkpoint", planted)
    figure = tmp_path / "sweep.png"
    ae_vs_pca.main([str(f) for f in runs] + ["--figure", str(figure)])
    printed = capsys.readouterr().out
    found = ae_vs_pca.evaluate(runs)
    assert [(r["dataset"], r["code_size"], r["epochs"], r["code"]) for r in found] == [
        ("mnist", 2, 2, "linear"), ("mnist", 8, 2, "relu"), ("fashion-mnist", 2, 2, "relu")]
    table = [line.split(" | ") for line in printed.splitlines() if line.startswith("| mnist") or
             line.startswith("| fashion")]
    assert len(table) == 3
    for folder, (dataset, k, code) in zip(runs, RUNS):
        x_train, y_train, x_test, y_test = small_load(dataset)
        model, _, _, _ = planted(folder / "checkpoint.npz")
        W0, b0, W1, b1 = (p for _, p, _ in list(model.named_params())[:4])
        z = np.maximum(x_test @ W0 + b0, 0) @ W1 + b1  # the code in NumPy, before the code's ReLU
        if code == "relu":
            z = np.maximum(z, 0)
        dead = int(np.sum(np.all(z == 0, axis=0)))
        assert dead >= (code == "relu")  # the planted unit is dead only under a ReLU
        ae = np.mean((model.forward(x_test) - x_test) ** 2)
        mean = x_train.mean(0)
        vt = np.linalg.svd(x_train - mean, full_matrices=False)[2][:k]
        pca = np.mean(((x_test - mean) - (x_test - mean) @ vt.T @ vt) ** 2)
        row = next(r for r in table if r[0] == f"| {dataset}" and r[1] == str(k))
        assert row[2:4] == [code, str(dead)]
        assert float(row[4]) == pytest.approx(pca, abs=5e-6) and float(row[5]) == pytest.approx(ae, abs=5e-6)
        assert float(row[6]) == pytest.approx(784 * pca, abs=5e-3) and float(row[7]) == pytest.approx(784 * ae, abs=5e-3)
        assert float(row[8].rstrip(" |")) == pytest.approx(ae / pca, abs=5e-3)
        # The figure's pictures: one test image per class, PCA's projection and the model's output.
        x, pca_pics, ae_pics = next(r for r in found if (r["dataset"], r["code_size"]) == (dataset, k))["pictures"]
        first = [int(np.flatnonzero(y_test == c)[0]) for c in range(8)]
        np.testing.assert_array_equal(x, x_test[first])
        np.testing.assert_allclose(pca_pics, mean + (x - mean) @ vt.T @ vt, atol=1e-5)
        np.testing.assert_allclose(ae_pics, model.forward(x), atol=1e-6)
    image = imread(figure)
    # 5 rows (original, PCA-2, AE-2, PCA-8, AE-8), 2 blocks of 8 columns, at 80 dots per inch.
    assert image.shape[:2] == (round(80 * (0.3 + 0.85 * 5)), round(80 * (0.8 + 0.8 * 16)))
    assert image[..., :3].std() > 0.1  # pictures drawn, not a blank canvas


def test_a_conv_run_is_refused_with_one_line(tmp_path, monkeypatch):
    run = tmp_path / "conv"
    run.mkdir()
    monkeypatch.setattr(ae_vs_pca, "load_checkpoint", lambda path: (None, None, None, {"model": "conv"}))
    with pytest.raises(SystemExit, match="a conv run; this comparison is for dense autoencoders"):
        ae_vs_pca.evaluate([run])


def test_two_runs_of_one_size_are_refused(runs, monkeypatch):
    monkeypatch.setattr(ae_vs_pca, "load", small_load)
    with pytest.raises(SystemExit, match="a second mnist run with a code of 8; give one run per size"):
        ae_vs_pca.evaluate([runs[0], runs[0]])
