"""The series command end to end on small settings: the CSV files recomputed independently, figures written,
and one-line usage errors with exit code 2."""
import contextlib
import csv
import io
import json

import matplotlib.image
import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from scratchae import backend, series_anomaly
from scratchae.series import load_classification

TINY = ["--epochs", "2", "--hidden", "4", "--code", "2", "--batch-size", "16", "--quiet"]


def run_main(*args):
    """Run the command in-process; returns (exit code, stdout)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = series_anomaly.main([str(a) for a in args])
    return code, buf.getvalue()


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def italy(tmp_path_factory):
    out = tmp_path_factory.mktemp("series") / "italy"
    code, printed = run_main("--dataset", "ItalyPowerDemand", *TINY, "--out", out)
    return code, printed, out


def test_one_class_run_writes_its_folder(italy):
    code, printed, out = italy
    assert code == 0, printed
    assert {p.name for p in out.iterdir()} >= {"config.json", "results.csv", "scores.csv", "roc.png"}
    assert json.loads((out / "config.json").read_text())["code"] == 2
    assert matplotlib.image.imread(out / "roc.png").shape[0] > 100


def test_one_class_aucs_agree_with_the_scores_and_mann_whitney(italy):
    _, printed, out = italy
    rows, scores = read_csv(out / "results.csv"), read_csv(out / "scores.csv")
    _, _, _, y_test = load_classification("ItalyPowerDemand")
    assert [int(r["normal"]) for r in rows] == [1, 2]
    for r in rows:
        c = int(r["normal"])
        mine = [s for s in scores if int(s["normal"]) == c]
        assert [int(s["label"]) for s in mine] == y_test.tolist()
        for name in ("lstm", "dense", "pca"):
            s = np.array([float(m[f"{name}_score"]) for m in mine])
            anomalous = y_test != c
            u = mannwhitneyu(s[anomalous], s[~anomalous]).statistic  # U of the anomalies' sample
            assert float(r[f"{name}_auc"]) == pytest.approx(u / (anomalous.sum() * (~anomalous).sum()), abs=1e-12)
            assert f"{100 * float(r[f'{name}_auc']):.2f}" in printed


@pytest.fixture(scope="module")
def series135(tmp_path_factory):
    out = tmp_path_factory.mktemp("series") / "s135"
    code, printed = run_main("--dataset", "series135", "--models", "dense", "pca", "--window", "16", *TINY,
                             "--out", out)
    return code, printed, out


def test_series_135_answers_are_the_top_points_of_points_csv(series135):
    code, printed, out = series135
    assert code == 0, printed
    rows, points = read_csv(out / "results.csv"), read_csv(out / "points.csv")
    assert [r["detector"] for r in rows] == ["dense", "pca", "nearest"] and len(points) == 7501
    flagged = [i for i, p in enumerate(points) if p["is_anomaly"] == "1"]
    assert (flagged[0], flagged[-1]) == (4187, 4198)
    for r in rows:
        score = np.array([float(p[f"{r['detector']}_score"]) for p in points])
        answer = int(np.argmax(score))
        assert int(r["answer"]) == answer
        assert r["found"] == str(4087 <= answer <= 4298)
        assert int(r["distance"]) == max(4187 - answer, answer - 4198, 0)
    nearest = np.array([float(p["nearest_score"]) for p in points])
    # Windows inside the training points have a copy among the training windows: distance 0 up to float32 rounding.
    assert nearest[:1200 - 15].max() < 0.01 * nearest[1200:].max()
    assert (out / "series135.png").is_file()


def test_the_lstm_runs_on_series_135(tmp_path):
    code, printed = run_main("--dataset", "series135", "--models", "lstm", "--window", "8", "--epochs", "1",
                             "--hidden", "3", "--code", "2", "--quiet", "--out", tmp_path / "run")
    assert code == 0, printed
    assert [r["detector"] for r in read_csv(tmp_path / "run" / "results.csv")] == ["lstm", "nearest"]


@pytest.mark.parametrize("args, message", [
    (["--dataset", "ItalyPowerDemand", "--code", "24"], "--code 24 must be below the series length 24"),
    (["--dataset", "series135", "--window", "1"], "--window must be 2 .. 600"),
    (["--dataset", "series135", "--window", "8", "--code", "8"], "above --code"),
    (["--dataset", "ECG"], "invalid choice"),
    (["--epochs", "0"], "must be > 0"),
    (["--models", "vae"], "invalid choice"),
])
def test_usage_errors_are_one_line_and_exit_2(args, message, tmp_path, capsys):
    code, _ = run_main(*args, "--quiet", "--out", tmp_path / "run")
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and err.startswith("scratchae.series_anomaly: error:")


def test_missing_data_is_a_usage_error(tmp_path, capsys):
    code, _ = run_main("--data-dir", tmp_path, "--quiet", "--out", tmp_path / "run")
    err = capsys.readouterr().err
    assert code == 2 and "cannot read it" in err and err.count("\n") == 1


def test_gpu_without_cupy_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SCRATCHAE_BACKEND", raising=False)
    pytest.importorskip("scipy")
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    code, _ = run_main("--gpu", "--quiet", "--out", tmp_path / "run")
    assert code == 2 and "--gpu needs CuPy" in capsys.readouterr().err


@pytest.mark.parametrize("args", [
    ["--dataset", "ItalyPowerDemand", "--normal", "2", *TINY],
    ["--dataset", "series135", "--models", "lstm", "dense", "pca", "--window", "8", "--epochs", "1", "--hidden", "3",
     "--code", "2", "--quiet"],
], ids=["one-class", "series135"])
def test_the_stand_in_gives_numpys_numbers(args, tmp_path, monkeypatch):
    code, printed = run_main(*args, "--out", tmp_path / "numpy")
    assert code == 0, printed
    monkeypatch.setattr(backend, "_standin", None)
    monkeypatch.setenv(backend.BACKEND_ENV, "standin")  # array_api_strict on a second device, where CuPy would be
    code, printed = run_main(*args, "--gpu", "--out", tmp_path / "standin")
    assert code == 0, printed
    assert json.loads((tmp_path / "standin" / "config.json").read_text())["versions"]["array_namespace"] == "standin"
    for name in ("results.csv", "scores.csv" if "ItalyPowerDemand" in args else "points.csv"):
        got, want = read_csv(tmp_path / "standin" / name), read_csv(tmp_path / "numpy" / name)
        assert len(got) == len(want) and got[0].keys() == want[0].keys()
        for row, expected in zip(got, want):
            for key, value in row.items():
                if key in ("answer", "distance", "found", "detector"):  # ties could flip an argmax: compare scores
                    continue
                assert float(value) == pytest.approx(float(expected[key]), rel=1e-3, abs=1e-5), (name, key)
