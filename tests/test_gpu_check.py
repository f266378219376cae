"""benchmarks/gpu_check.py here, without a GPU: the whole command skips with reasons, and each stage's logic runs
against NumPy and the array_api_strict stand-in in place of CuPy (the stand-in refuses what makes CuPy wait)."""
import contextlib
import csv
import os
import pathlib
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest

from scratchae import backend, train
from scratchae.backend import cpu_xp, to_device, to_numpy
from scratchae.data import epoch_order, load
from scratchae.layers import ReLU
from scratchae.series import load_classification
from scratchae.series_detect import dense_series_autoencoder

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_cases  # noqa: E402  (scripts in benchmarks/, imported by path)
import gpu_check  # noqa: E402
import gpu_runs  # noqa: E402


def small_load(dataset="mnist", data_dir=None):
    x_train, y_train, x_test, y_test = load(dataset, data_dir)
    return x_train[:1000], y_train[:1000], x_test[:300], y_test[:300]


@pytest.fixture
def standin(monkeypatch):
    """The stand-in where --gpu and gpu_xp() would reach CuPy, for this test only."""
    monkeypatch.setattr(backend, "_standin", None)
    monkeypatch.setenv(backend.BACKEND_ENV, "standin")
    return backend.gpu_xp()


def subprocess_env(**extra):
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            **extra}


def test_the_whole_check_runs_without_a_gpu_skips_every_stage_with_why_and_exits_0(tmp_path):
    # The stand-in switch is the one "no GPU" that holds on every machine, a GPU machine included.
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--out", str(tmp_path / "r.md")],
                          env=subprocess_env(SCRATCHAE_BACKEND="standin"), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    why = "no GPU: $SCRATCHAE_BACKEND=standin is set (a test tool); unset it to check the real GPU"
    for name, (_, _, needs_gpu) in gpu_check.STAGES.items():
        status = f"skipped (0.0 s) {why}" if needs_gpu else "ok"
        assert f"\n{name}: {status}" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.md"]  # written atomically, no temporary left
    text = (tmp_path / "r.md").read_text()
    assert text.count(f"| skipped | 0.0 | {why} |") == len(gpu_check.STAGES) - 1
    assert f"| numpy | {np.__version__} |" in text
    assert "no stage failed" in done.stdout and done.stderr == ""


def test_bad_flags_are_one_line_and_exit_2(tmp_path, capsys):
    assert gpu_check.main(["--out", str(tmp_path / "missing" / "r.md")]) == 2
    assert gpu_check.main(["--skip", "nothing"]) == 2
    assert gpu_check.main(["--limit", "0"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("gpu_check.py: error: ") for line in lines)
    assert "missing does not exist" in lines[0] and "invalid choice: 'nothing'" in lines[1]


def test_without_cupy_the_reason_is_that_it_is_not_installed(monkeypatch):
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    monkeypatch.delenv(backend.BACKEND_ENV, raising=False)
    assert gpu_check.find_gpu() == (None, "CuPy is not installed")


def test_a_failed_stage_is_one_line_in_the_report_and_exit_1_the_rest_still_run(tmp_path, standin, monkeypatch):
    def crash(ctx):
        raise ValueError("kernel launch failed\nsecond line of a long message")

    monkeypatch.setattr(gpu_check, "find_gpu", lambda: (standin, ""))
    monkeypatch.setattr(gpu_check, "STAGES", {"first": ("the crashing stage", crash, True),
                                              "second": ("a | stage", lambda ctx: gpu_check.Result("ok", "a|b"), True)})
    assert gpu_check.main(["--out", str(tmp_path / "r.md")]) == 1
    text = (tmp_path / "r.md").read_text()
    assert "| the crashing stage | failed |" in text and "ValueError: kernel launch failed |" in text
    assert "second line" not in text
    assert "| a / stage | ok |" in text and "| a/b |" in text  # a | inside a cell would break the table


def test_sync_audit_steps_every_cheap_model_on_the_standin_and_names_the_line_that_synchronises(standin,
                                                                                              monkeypatch):
    for name in ("series-dense", "series-lstm", "keras-sparse"):
        losses = gpu_cases.audit_steps(name, standin, gpu_cases.strict_guard, loader=lambda d: small_load(d)[0])
        assert losses.shape == (2,) and np.all(np.isfinite(losses)), name

    def forward_with_a_mask(self, x):  # a boolean mask: CuPy reads its count back to the host
        self.mask = x > 0
        return x[self.mask]
    monkeypatch.setattr(ReLU, "forward", forward_with_a_mask)
    with pytest.raises(gpu_cases.SyncError, match=r"^series-dense: \w+ inside a step at models.py:\d+ in forward"):
        gpu_cases.audit_steps("series-dense", standin, gpu_cases.strict_guard)


def test_fifty_steps_on_numpy_and_the_standin_agree_and_the_first_loss_is_the_models_mse(standin):
    a, b, worst = gpu_cases.compare_steps("series-dense", cpu_xp, standin, steps=50)
    assert a.shape == b.shape == (50,) and worst == 0.0  # the stand-in computes with NumPy: bit for bit
    # The first loss, recomputed from the model the series command builds and the command's first batch.
    x, y, _, _ = load_classification("ItalyPowerDemand")
    x = np.asarray(x[y == 1], dtype=np.float32)
    xb = x[epoch_order(x.shape[0], 0, 0)[:16]]
    out = to_numpy(dense_series_autoencoder(24, 32, 8, rng=0).forward(to_device(xb)))
    assert a[0] == pytest.approx(np.mean((out.astype(np.float64) - xb) ** 2), rel=1e-6)
    assert a[-1] < a[0]  # it trained


@pytest.mark.parametrize("found, status", [(1e-3, "ok"), (2e-3, "failed"), (np.nan, "failed")])
def test_the_comparison_fails_a_model_beyond_1e_3_or_not_a_number(found, status, monkeypatch):
    a = np.array([1.0, 0.5])
    monkeypatch.setattr(gpu_cases, "CASES", ("one",))
    monkeypatch.setattr(gpu_cases, "compare_steps", lambda name, xa, xb, steps: (a, a * (1 + found), found))
    result = gpu_check.stage_compare(gpu_check.Context(cpu_xp, ""))
    assert result.status == status and result.rows[0][-1] == status
    assert ("over: one" in result.detail) == (status == "failed")


def test_the_commands_stage_runs_a_preset_with_gpu_and_reads_its_epoch(tmp_path):
    ctx = gpu_check.Context(None, "", work=tmp_path, env=subprocess_env(SCRATCHAE_BACKEND="standin"))
    out = tmp_path / "train_reference"
    good = ["scratchae.train", "--preset", "reference", "--limit", "256", "--epochs", "1", "--quiet", "--out", str(out)]
    bad = ["scratchae.train", "--preset", "x", "--out", str(tmp_path / "bad")]
    result = gpu_check.stage_commands(ctx, [("train reference", good, out), ("bad", bad, tmp_path / "bad")])
    assert result.status == "failed" and "first failure: bad: exit 2: " in result.detail
    row, failed = result.rows
    with open(out / "metrics.csv", newline="") as fh:
        epoch = next(csv.DictReader(fh))
    assert row[0] == "`python -m scratchae.train --preset reference --limit 256 --epochs 1 --quiet --out " \
                     "$WORK/train_reference --gpu`"  # the report names no machine path
    assert row[1:4] == ("ok", 256, f"{float(epoch['seconds']):.2f}")
    assert row[4:] == (f"{float(epoch['images_per_s']):.0f}", f"{60000 / float(epoch['images_per_s']):.1f}", "-")
    assert failed[1].startswith("exit 2: ") and "--preset" in failed[1]


def test_the_commands_cover_every_preset_the_anomaly_commands_and_features(tmp_path):
    found = {argv[0]: [] for _, argv, _ in gpu_runs.commands(500, tmp_path)}
    for _, argv, out in gpu_runs.commands(500, tmp_path):
        found[argv[0]].append(argv[1:])
        assert str(out) in argv  # each names the run folder it writes (features: the reference run's)
    assert sorted(a[1] for a in found["scratchae.train"]) == sorted(train.PRESETS)
    assert all(a[a.index("--epochs") + 1] == "1" and a[a.index("--limit") + 1] == "500" for a in found["scratchae.train"])
    assert [a[a.index("--dataset") + 1] for a in found["scratchae.series_anomaly"]] == ["ItalyPowerDemand", "series135"]
    assert found["scratchae.features"][0][0] == str(tmp_path / "train_reference") and len(found["scratchae.anomaly"]) == 1


def test_checkpoints_cross_devices_on_the_standin_and_a_run_on_the_wrong_device_fails(tmp_path, standin, monkeypatch):
    monkeypatch.setattr(train, "load", small_load)
    rows = gpu_runs.cross_resume(tmp_path / "a", 256)
    assert [r[2:] for r in rows] == [("numpy", "ok"), ("numpy", "ok"), ("standin", "ok")]
    assert len({r[1] for r in rows}) == 1  # the stand-in computes with NumPy: the same loss every way
    monkeypatch.setattr(train, "gpu_xp", lambda: cpu_xp)  # a --gpu that silently stays on the CPU
    assert gpu_runs.cross_resume(tmp_path / "b", 256)[-1][2:] == ("numpy", "failed: ran on numpy")


class PerformanceWarning(RuntimeWarning):
    """Stands for cupy._util.PerformanceWarning, a RuntimeWarning."""


@pytest.mark.parametrize("message, category", [
    ("Jitify is performing a one-time only warm-up to populate the persistent cache, this may take a few seconds "
     "and will be improved in a future release...", PerformanceWarning),
    ("cupyx.allow_synchronize will be removed in future releases as it is not possible to reliably detect "
     "synchronizations.", UserWarning),
    ("CUDA path could not be detected. Set CUDA_PATH environment variable if CuPy fails to load.", UserWarning)])
def test_setup_cfg_lets_exactly_cupys_benign_warnings_through(message, category):
    warnings.warn(message, category)  # ignored by setup.cfg's filterwarnings (else an error here)
    with pytest.raises(category):
        warnings.warn("a different " + message, category)  # anything else is still an error


def test_versions_read_cupy_cuda_and_the_device(monkeypatch):
    runtime = types.SimpleNamespace(runtimeGetVersion=lambda: 12040, driverGetVersion=lambda: 12080,
                                    getDeviceProperties=lambda i: {"name": b"Tesla T4", "major": 7, "minor": 5,
                                                                   "totalGlobalMem": 15 * 2**30 + 2**29})
    cuda = types.SimpleNamespace(runtime=runtime, Device=lambda: types.SimpleNamespace(id=0))
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(__version__="13.3.0", cuda=cuda))
    monkeypatch.setattr(gpu_runs, "nvidia_driver", lambda: "550.54.15")
    rows = dict(gpu_runs.versions(object()))
    assert rows["numpy"] == np.__version__ and rows["cupy"] == "13.3.0"
    assert (rows["CUDA runtime"], rows["CUDA driver API"], rows["NVIDIA driver"]) == ("12.4", "12.8", "550.54.15")
    assert rows["device"] == "Tesla T4, compute capability 7.5, 15.5 GiB"
    assert "device" not in dict(gpu_runs.versions(None))  # CuPy without a device: its version only


def test_a_pytest_stage_is_ok_when_pytest_passes_and_lists_what_failed_when_not(tmp_path):
    env = subprocess_env()
    passed = gpu_check.pytest_stage(["tests/test_gpu_check.py::test_bad_flags_are_one_line_and_exit_2"], env, 300)
    assert passed.status == "ok" and passed.detail.startswith("exit 0: 1 passed") and passed.rows == []
    (tmp_path / "test_two.py").write_text("def test_passes():\n    pass\n\n\ndef test_fails():\n    assert 1 == 2\n")
    failed = gpu_check.pytest_stage([str(tmp_path / "test_two.py")], env, 300)
    assert failed.status == "failed" and failed.detail.startswith("exit 1: 1 failed, 1 passed")
    assert len(failed.rows) == 1 and failed.rows[0][0].startswith("FAILED ") and "test_two.py::test_fails" in failed.rows[0][0]


def test_one_models_failure_is_its_row_and_the_other_models_still_run(monkeypatch):
    def audit(name, xp, guard):
        if name == "syncs":
            raise gpu_cases.SyncError("syncs: DeviceSynchronized inside a step at losses.py:40 in forward (...)")
        if name == "crashes":
            raise ValueError("shapes (2, 3) and (4,) do not match\nmore")
        return np.zeros(2)

    def compare(name, xa, xb, steps):
        if name == "crashes":
            raise ValueError("shapes do not match")
        return np.ones(2), np.ones(2), 0.0
    monkeypatch.setattr(gpu_cases, "CASES", ("syncs", "crashes", "fine"))
    monkeypatch.setattr(gpu_cases, "audit_steps", audit)
    monkeypatch.setattr(gpu_cases, "compare_steps", compare)
    sync = gpu_check.stage_sync(gpu_check.Context(cpu_xp, ""))
    assert sync.status == "failed" and sync.detail.startswith("1 of 3 models step without a host synchronisation; "
                                                              "first: syncs: DeviceSynchronized inside a step at")
    assert [r[1] for r in sync.rows] == ["failed: syncs: DeviceSynchronized inside a step at losses.py:40 in "
                                         "forward (...)", "failed: crashes: ValueError: shapes (2, 3) and (4,) do "
                                         "not match", "ok"]
    compared = gpu_check.stage_compare(gpu_check.Context(cpu_xp, ""))
    assert compared.status == "failed" and [r[-1] for r in compared.rows] == [
        "ok", "failed: ValueError: shapes do not match", "ok"]


def test_the_cupy_guard_refuses_synchronisation_inside_and_hides_only_its_deprecation_warning(monkeypatch):
    state = {"allowed": True}

    @contextlib.contextmanager
    def allow_synchronize(allow):  # as CuPy 10-14's: warns at every use, then sets a thread-local flag
        warnings.warn("cupyx.allow_synchronize will be removed in future releases as it is not possible to "
                      "reliably detect synchronizations.")
        old, state["allowed"] = state["allowed"], allow
        try:
            yield
        finally:
            state["allowed"] = old
    monkeypatch.setitem(sys.modules, "cupyx", types.SimpleNamespace(allow_synchronize=allow_synchronize))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # stricter than setup.cfg, which lets this warning through
        with gpu_cases.cupy_guard():
            assert state["allowed"] is False
            with pytest.raises(UserWarning, match="a step's own"):
                warnings.warn("a step's own warning still shows")
    assert state["allowed"] is True
