"""The anomaly command end to end on a small --limit: every printed number recomputed independently, and errors."""
import contextlib
import csv
import io
import pathlib
import statistics
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest

from scratchae import anomaly, load_model
from scratchae.data import load

ROOT = pathlib.Path(__file__).resolve().parent.parent
TINY = ["--limit", "600", "--epochs", "2", "--dims", "784", "16", "--batch-size", "32", "--quiet"]


def run_main(*args):
    """Run the command in-process; returns (exit code, stdout)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = anomaly.main([str(a) for a in args])
    return code, buf.getvalue()


@pytest.fixture(scope="module")
def all_classes(tmp_path_factory):
    out = tmp_path_factory.mktemp("anomaly") / "run"
    code, printed = run_main(*TINY, "--out", out)
    return code, printed, out


@pytest.fixture(scope="module")
def mnist():
    return load("mnist")


def mse_per_image(out, x):
    """Per-row mean squared error in float64."""
    return np.mean((out.astype(np.float64) - x) ** 2, axis=1)


def bce_per_image(p, x):
    """Per-row mean BCE in float64, written out again: -mean(x log p + (1 - x) log(1 - p)), p clipped like BCE."""
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    x = x.astype(np.float64)
    return -np.mean(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1)


def pairwise_auc(scores, labels):
    pos, neg = scores[labels][:, None], scores[~labels][None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_run_folder_has_everything(all_classes):
    code, printed, out = all_classes
    assert code == 0 and "done: AUC, scores and figures in" in printed
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["config.json", "results.csv", "scores.csv", "histograms.png", "roc.png", "worst.png",
                            *(f"model-{c}.npz" for c in range(10))])
    for name in ("histograms.png", "roc.png", "worst.png"):
        picture = matplotlib.image.imread(out / name)
        assert picture.ndim == 3 and picture.shape[0] > 300 and picture.std() > 0.05, name
    assert len(read_csv(out / "scores.csv")) == 10 * 10_000


def test_every_printed_number_matches_an_independent_computation(all_classes, mnist):
    code, printed, out = all_classes
    x_train, y_train, x_test, y_test = mnist
    x_train, y_train = x_train[:600], y_train[:600]
    lines = printed.splitlines()
    table = lines[lines.index(anomaly.HEADER) + 1:]
    results = read_csv(out / "results.csv")
    scores = read_csv(out / "scores.csv")
    written = {key: np.array([float(r[key]) for r in scores]).reshape(10, 10_000) for key in ("ae_score", "pca_score")}
    assert [int(r["normal"]) for r in scores[::10_000]] == list(range(10))
    ae_aucs, pca_aucs = [], []
    for c in range(10):
        fields = table[c].split()
        assert fields[0] == fields[1] == str(c) and int(fields[2]) == int(np.sum(y_train == c))
        ae_auc, pca_auc, threshold, precision, recall, accuracy = map(float, fields[3:])
        # The autoencoder's scores from its saved weights, in float64.
        model = load_model(out / f"model-{c}.npz")
        ae = mse_per_image(model.forward(x_test), x_test)
        np.testing.assert_allclose(written["ae_score"][c], ae, rtol=1e-5)
        # PCA-32 through NumPy's SVD in float64.
        normal = x_train[y_train == c].astype(np.float64)
        mean = normal.mean(axis=0)
        v = np.linalg.svd(normal - mean, full_matrices=False)[2][:32].T
        pca = np.mean((x_test - mean - (x_test - mean) @ v @ v.T) ** 2, axis=1)
        np.testing.assert_allclose(written["pca_score"][c], pca, rtol=1e-3)
        is_anomaly = y_test != c
        ae_aucs.append(pairwise_auc(ae, is_anomaly))
        pca_aucs.append(pairwise_auc(pca, is_anomaly))
        assert ae_auc == pytest.approx(100 * ae_aucs[-1], abs=0.006)
        assert pca_auc == pytest.approx(100 * pca_aucs[-1], abs=0.006)
        assert float(results[c]["ae_auc"]) == pytest.approx(ae_aucs[-1], abs=1e-6)
        # The threshold from the training images' errors; the rates by counting.
        train_errors = mse_per_image(model.forward(x_train[y_train == c]), x_train[y_train == c])
        expected = statistics.mean(train_errors.tolist()) + statistics.pstdev(train_errors.tolist())
        assert threshold == pytest.approx(expected, abs=6e-6)
        flagged = ae > expected
        tp, fp = int(np.sum(flagged & is_anomaly)), int(np.sum(flagged & ~is_anomaly))
        fn, tn = int(np.sum(~flagged & is_anomaly)), int(np.sum(~flagged & ~is_anomaly))
        assert precision == pytest.approx(100 * tp / (tp + fp), abs=0.006)
        assert recall == pytest.approx(100 * tp / (tp + fn), abs=0.006)
        assert accuracy == pytest.approx(100 * (tp + tn) / 10_000, abs=0.006)
    mean_fields = table[10].split()
    assert mean_fields[0] == "mean"
    assert float(mean_fields[1]) == pytest.approx(100 * np.mean(ae_aucs), abs=0.006)
    assert float(mean_fields[2]) == pytest.approx(100 * np.mean(pca_aucs), abs=0.006)


def test_one_class_bce(tmp_path):
    code, printed = run_main(*TINY, "--normal", "7", "--loss", "bce", "--out", tmp_path / "run")
    assert code == 0
    lines = printed.splitlines()
    table = lines[lines.index(anomaly.HEADER) + 1:]
    assert table[0].split()[0] == "7" and table[1].startswith("done")  # one class: no mean line
    row = read_csv(tmp_path / "run" / "results.csv")[0]
    scores = read_csv(tmp_path / "run" / "scores.csv")
    model = load_model(tmp_path / "run" / "model-7.npz")
    _, _, x_test, y_test = load("mnist")
    bce = bce_per_image(model.forward(x_test), x_test)
    np.testing.assert_allclose([float(r["ae_score"]) for r in scores], bce, rtol=1e-5)
    assert float(row["ae_auc"]) == pytest.approx(pairwise_auc(bce, y_test != 7), abs=1e-6)
    assert 100 * float(row["ae_auc"]) == pytest.approx(float(table[0].split()[3]), abs=0.006)


@pytest.mark.parametrize("bad, message", [
    (["--normal", "10"], "invalid choice: '10'"),
    (["--normal", "cat"], "invalid choice: 'cat'"),
    (["--limit", "5", "--normal", "2"], "class 2 has no training images among the first 5"),
    (["--limit", "5"], "class 2 has no training images among the first 5"),
    (["--epochs", "0"], "--epochs: must be > 0"),
    (["--components", "-3"], "--components: must be > 0"),
    (["--dims", "100", "16"], "--dims must start with 784"),
    (["--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["--bogus"], "unrecognized arguments"),
])
def test_usage_errors_are_one_line_and_exit_2(bad, message, tmp_path, capsys):
    assert anomaly.main([*bad, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing written for a run that never started


def test_command_line_error_has_no_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "scratchae.anomaly", "--normal", "11", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "invalid choice: '11'" in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_command_line_runs_one_class(tmp_path):
    done = subprocess.run([sys.executable, "-m", "scratchae.anomaly", *TINY, "--epochs", "1", "--normal", "1",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and "done: AUC" in done.stdout
    assert float(read_csv(tmp_path / "run" / "results.csv")[0]["ae_auc"]) > 0.5


def test_a_diverged_loss_exits_1(tmp_path, capsys, monkeypatch):
    real = anomaly.make_run

    def nan_steps(*args, **kw):
        run = real(*args, **kw)
        run.step = lambda xb, rng: xb[0, 0] * float("nan")  # a 0-d device array, as a real step returns
        return run
    monkeypatch.setattr(anomaly, "make_run", nan_steps)
    assert anomaly.main([*TINY, "--normal", "3", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "loss became nan at epoch 1" in err and "--lr" in err and err.count("\n") == 1


def test_ctrl_c_keeps_the_finished_classes(tmp_path, capsys, monkeypatch):
    real = anomaly.one_class

    def ctrl_c_at_class_2(c, *args):
        if c == 2:
            raise KeyboardInterrupt
        return real(c, *args)

    monkeypatch.setattr(anomaly, "one_class", ctrl_c_at_class_2)
    assert anomaly.main([*TINY, "--epochs", "1", "--out", str(tmp_path / "run")]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and err.count("\n") == 1 and "Traceback" not in err
    assert [int(r["normal"]) for r in read_csv(tmp_path / "run" / "results.csv")] == [0, 1]
    assert len(read_csv(tmp_path / "run" / "scores.csv")) == 2 * 10_000


def test_gpu_without_cupy_is_a_usage_error(tmp_path, capsys):
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed here: --gpu would not fail")
    except ImportError:
        pass
    assert anomaly.main(["--gpu", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "drop --gpu to run on the CPU" in err and err.count("\n") == 1 and not (tmp_path / "run").exists()
