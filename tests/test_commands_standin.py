"""Every command, preset and model family run end to end on the GPU stand-in, as `--gpu` runs them on a T4.

The switch SCRATCHAE_BACKEND=standin puts array_api_strict on Device("device1") where CuPy would be (see
scratchae/standin.py): every array a command creates lands on that device, and any host conversion outside
backend.to_numpy raises. Each run is checked against the same run on NumPy: the same weights are drawn on the host,
so the losses must agree to float32 rounding, and the run folder must hold the same files. The commands read a
small slice of the data (128 to 1,000 training and 300 test images) so that every family fits in the suite's time.
"""
import csv
import json

import matplotlib.image
import numpy as np
import pytest

from scratchae import anomaly, backend, train
from scratchae.data import load
from scratchae.fit import load_checkpoint

from test_train import interrupt_at  # Ctrl-C after a chosen optimizer step

LIMIT = ["--limit", "128", "--epochs", "1", "--quiet"]
RUNS = {
    "dense": ["--dims", "784", "32", "8"],
    "keras-basic": ["--preset", "keras-basic"],
    "keras-conv": ["--preset", "keras-conv"],
    "conv-pool": ["--preset", "keras-conv", "--model", "conv-pool"],
    "vae": ["--preset", "vae"],
    "vae-2d": ["--preset", "vae-2d"],
    "cvae": ["--preset", "cvae"],
    "noise": ["--dims", "784", "32", "--noise", "0.3"],
    "keras-sparse": ["--preset", "keras-sparse"],
    "tf-denoise": ["--preset", "tf-denoise"],
    "keras-denoise": ["--preset", "keras-denoise"],
}


@pytest.fixture(autouse=True)
def small_data(monkeypatch):
    """The commands' data, cut to the first 1,000 training and 300 test images (every class is among them)."""
    def small_load(dataset="mnist", data_dir=None):
        x_train, y_train, x_test, y_test = load(dataset, data_dir)
        return x_train[:1000], y_train[:1000], x_test[:300], y_test[:300]
    monkeypatch.setattr(train, "load", small_load)
    monkeypatch.setattr(anomaly, "load", small_load)


@pytest.fixture
def standin(monkeypatch):
    """Switch the stand-in on for one test, and off again after it."""
    monkeypatch.setattr(backend, "_standin", None)
    monkeypatch.setenv(backend.BACKEND_ENV, "standin")
    yield
    monkeypatch.delenv(backend.BACKEND_ENV)


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def check_run_folder(out, numpy_out):
    """The stand-in's run folder has NumPy's files, readable figures, and the same numbers to float32 rounding."""
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in numpy_out.iterdir())
    assert json.loads((out / "config.json").read_text())["versions"]["array_namespace"] == "standin"
    for picture in out.glob("*.png"):
        image = matplotlib.image.imread(picture)
        assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0.02, picture.name
    rows, expected = read_csv(out / "metrics.csv"), read_csv(numpy_out / "metrics.csv")
    assert [r.keys() for r in rows] == [r.keys() for r in expected]
    for row, want in zip(rows, expected):
        for key in row:
            if key not in ("seconds", "images_per_s"):
                assert float(row[key]) == pytest.approx(float(want[key]), rel=2e-4, abs=1e-6), key
    model, _, progress, _ = load_checkpoint(out / "checkpoint.npz")
    assert progress.epoch == 1


@pytest.mark.parametrize("name", sorted(RUNS))
def test_every_preset_and_family_runs_on_the_standin(name, tmp_path, monkeypatch, capsys):
    args = [*RUNS[name], *LIMIT]
    assert train.main([*args, "--out", str(tmp_path / "numpy")]) == 0
    with monkeypatch.context() as m:
        m.setattr(backend, "_standin", None)
        m.setenv(backend.BACKEND_ENV, "standin")
        assert train.main([*args, "--gpu", "--out", str(tmp_path / "standin")]) == 0
    assert "with standin" in capsys.readouterr().out
    check_run_folder(tmp_path / "standin", tmp_path / "numpy")


def test_tsne_map_on_the_standin(tmp_path, standin, capsys):
    pytest.importorskip("sklearn")
    assert train.main([*RUNS["dense"], *LIMIT, "--latent-map", "tsne", "--gpu", "--out", str(tmp_path)]) == 0
    assert matplotlib.image.imread(tmp_path / "latent.png").std() > 0.02


def test_ctrl_c_and_resume_on_the_standin_end_where_a_straight_run_ends(tmp_path, standin, monkeypatch, capsys):
    args = [*RUNS["dense"], "--limit", "600", "--batch-size", "128", "--epochs", "2", "--quiet", "--gpu"]
    assert train.main([*args, "--out", str(tmp_path / "straight")]) == 0
    with monkeypatch.context() as m:
        interrupt_at(m, step=7)  # epoch 2, step 2 of 5
        assert train.main([*args, "--out", str(tmp_path / "broken")]) == 130
    assert train.main(["--resume", str(tmp_path / "broken" / "checkpoint.npz"), "--gpu", "--quiet"]) == 0
    a, _, pa, _ = load_checkpoint(tmp_path / "straight" / "checkpoint.npz")
    b, _, pb, _ = load_checkpoint(tmp_path / "broken" / "checkpoint.npz")
    for (name, p, _), (_, q, _) in zip(a.named_params(), b.named_params()):
        np.testing.assert_array_equal(p, q, err_msg=name)  # bit for bit
    assert [r["test_loss"] for r in pa.metrics] == [r["test_loss"] for r in pb.metrics]


def test_anomaly_command_on_one_class_on_the_standin(tmp_path, monkeypatch, capsys):
    args = ["--normal", "1", "--epochs", "1", "--dims", "784", "16", "--quiet"]
    assert anomaly.main([*args, "--out", str(tmp_path / "numpy")]) == 0
    with monkeypatch.context() as m:
        m.setattr(backend, "_standin", None)
        m.setenv(backend.BACKEND_ENV, "standin")
        assert anomaly.main([*args, "--gpu", "--out", str(tmp_path / "standin")]) == 0
    out, ref = tmp_path / "standin", tmp_path / "numpy"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in ref.iterdir())
    row, want = read_csv(out / "results.csv")[0], read_csv(ref / "results.csv")[0]
    assert float(row["ae_auc"]) == pytest.approx(float(want["ae_auc"]), abs=1e-4)
    assert float(row["pca_auc"]) == pytest.approx(float(want["pca_auc"]), abs=1e-4)
    for picture in out.glob("*.png"):
        assert matplotlib.image.imread(picture).std() > 0.02, picture.name
