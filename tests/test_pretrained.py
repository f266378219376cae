"""The shipped models: each loads, scores its recorded test numbers again on its test set, and trains on."""
import math

import numpy as np
import pytest

from scratchae import pretrained
from scratchae.backend import to_device, to_numpy
from scratchae.data import load
from scratchae.fit import load_checkpoint
from scratchae.presets import PRESETS
from scratchae.recipes import make_run
from scratchae.serialize import CheckpointError, atomic_savez, read_npz


@pytest.fixture(scope="module")
def mnist():
    return load("mnist")


TRAINED = [name for name in pretrained.NAMES if name in PRESETS]  # by python -m scratchae.train --preset NAME
SWEEP = {2: "code-2", 8: "code-8", 32: "code-32", 64: "code-64"}  # lesson 14's models, by their code size


def test_every_name_is_a_preset_or_the_one_class_model_or_the_sweep_and_ships_one_file_and_nothing_else_ships():
    assert set(pretrained.NAMES) - set(TRAINED) == {"anomaly-4", *SWEEP.values()}
    assert sorted(p.stem for p in pretrained.WEIGHTS.glob("*.npz")) == sorted(pretrained.NAMES)
    sizes = [pretrained.path_of(name).stat().st_size for name in pretrained.NAMES]
    assert sum(sizes) < 8e6  # "a few MB in all": weights only, stored as float16


@pytest.mark.parametrize("name", pretrained.NAMES)
def test_the_file_stores_float16_that_loads_as_float32_exactly(name):
    arrays, meta = read_npz(pretrained.path_of(name))
    assert meta["stored"] == "float16" and meta["dtype"] == "float32"
    assert {a.dtype for a in arrays.values()} == {np.dtype("float16")}
    model = pretrained.load(name).model
    for n, a, _ in model.named_params():
        assert a.dtype == np.float32 and np.array_equal(a, arrays[f"param/{n}"].astype(np.float32)), n


def test_a_file_not_stored_as_float16_is_refused_in_one_line(tmp_path, monkeypatch):
    arrays, meta = read_npz(pretrained.path_of("code-2"))
    atomic_savez(tmp_path / "code-2.npz", {k: a.astype(np.float32) for k, a in arrays.items()},
                 {**meta, "stored": "float32"})
    monkeypatch.setattr(pretrained, "WEIGHTS", tmp_path)
    with pytest.raises(CheckpointError, match=r"^pretrained code-2: stored as 'float32', expected 'float16'; "
                                              r"reinstall scratchae$"):
        pretrained.load("code-2")


def test_an_unknown_name_is_one_line_naming_the_choices():
    with pytest.raises(ValueError, match=r"no pretrained model 'vae-3d'; choose one of reference, vae-2d, cvae, "
                                         r"anomaly-4, code-2, code-8, code-32, code-64$"):
        pretrained.load("vae-3d")


@pytest.mark.parametrize("name", TRAINED)
def test_the_record_is_the_preset_run_in_full(name):
    p = pretrained.load(name)
    preset = PRESETS[name]
    assert p.command == f"python -m scratchae.train --preset {name}"
    assert {k: p.settings[k] for k in preset} == preset and p.settings["preset"] == name
    assert p.settings["limit"] is None and "out" not in p.settings  # all the training data; no machine's path
    assert [row["epoch"] for row in p.metrics] == list(range(1, preset["epochs"] + 1))
    assert_the_test_numbers_are_the_runs_rounded(p)
    assert math.isclose(p.seconds, sum(row["seconds"] for row in p.metrics))
    assert {a.dtype for _, a, _ in p.model.named_params()} == {np.dtype("float32")}


def assert_the_test_numbers_are_the_runs_rounded(p):
    """The run's own test numbers are its last epoch's; the stored (float16) weights' are within 0.1% of them."""
    assert p.trained_test == {k: v for k, v in p.metrics[-1].items() if k.startswith("test_")}
    assert p.test.keys() == p.trained_test.keys() and "test_loss" in p.test
    for key, value in p.test.items():
        assert value == pytest.approx(p.trained_test[key], rel=1e-3) and value != p.trained_test[key], key


@pytest.mark.parametrize("k, name", SWEEP.items())
def test_the_sweep_records_are_lesson_14s_command_in_full(k, name):
    p = pretrained.load(name)
    assert p.command == f"python -m scratchae.train --dims 784 256 128 64 {k} --code linear"
    assert p.settings["dims"] == [784, 256, 128, 64, k] and p.settings["code"] == "linear"
    assert p.settings["dataset"] == "mnist" and p.settings["loss"] == "bce" and p.settings["model"] == "dense"
    assert p.settings["epochs"] == 20 and p.settings["batch_size"] == 256 and p.settings["seed"] == 0
    assert p.settings["preset"] == "reference"  # the command's defaults, with --dims and --code over them
    assert p.settings["limit"] is None and "out" not in p.settings
    assert [row["epoch"] for row in p.metrics] == list(range(1, 21))
    assert_the_test_numbers_are_the_runs_rounded(p)
    assert math.isclose(p.seconds, sum(row["seconds"] for row in p.metrics))


def test_the_one_class_record_is_lesson_12s_model():
    p = pretrained.load("anomaly-4")
    assert p.command == "python -m scratchae.anomaly --normal 4 --epochs 20"
    assert p.settings["normal"] == "4" and p.settings["epochs"] == 20 and p.settings["loss"] == "mse"
    assert p.settings["dims"] == [784, 256, 128, 64, 32, 32] and p.settings["limit"] is None
    assert p.metrics[0]["train_images"] == 5842 and p.trained_test == {"ae_auc": p.metrics[0]["ae_auc"]}
    assert p.test["ae_auc"] == pytest.approx(p.trained_test["ae_auc"], abs=1e-3)
    assert p.seconds > 0 and "out" not in p.settings
    with pytest.raises(ValueError, match="has no --resume"):
        pretrained.write_checkpoint("anomaly-4", "unused")
    dtypes = {a.dtype for _, a, _ in p.model.named_params()}
    assert dtypes == {np.dtype("float32")}


@pytest.mark.parametrize("name", pretrained.NAMES)
def test_evaluating_on_the_test_set_reproduces_the_recorded_numbers(name, mnist):
    p = pretrained.load(name)
    x_test, y_test = mnist[2], mnist[3]
    assert x_test.shape == (10000, 784)  # the whole test set, as the run scored it every epoch
    got = pretrained.evaluate(p, x_test, y_test)
    assert got.keys() == p.test.keys()
    for key, value in p.test.items():
        # float32 sums: two BLAS threads instead of the run's one moved the reference's by 8e-9 here
        assert got[key] == pytest.approx(value, rel=1e-6), key
    # Independently of the recipe: the reconstruction term by hand from the model's own output (the dense AE's
    # output; the VAE's decode of its mean code, without noise). A new model kind adds its own line here.
    kind = "one-class" if "normal" in p.settings else p.settings["model"]
    assert kind in ("dense", "vae", "cvae", "one-class"), f"add an independent check for the {kind} model"
    if kind == "one-class":  # AUC = P(an anomaly scores above a normal image), by the Mann-Whitney U statistic
        from scipy.stats import mannwhitneyu
        mse = ((np.asarray(p.model.forward(x_test), dtype=np.float64) - x_test) ** 2).mean(axis=1)  # (N,)
        normal = y_test == 4
        u = mannwhitneyu(mse[~normal], mse[normal]).statistic
        assert u / (np.sum(~normal) * np.sum(normal)) == pytest.approx(p.test["ae_auc"], abs=1e-5)  # float64 ranks
        return
    if kind == "cvae":  # the tutorial's targets: every pixel 1 above the threshold, else 0
        x_test = (x_test > p.settings["binarize"]).astype(np.float32)
    out = p.model.forward(x_test) if kind == "dense" else p.model.decode(p.model.encode(x_test))
    out = np.asarray(out, dtype=np.float64).clip(1e-7, 1 - 1e-7)  # (N, 784), BCE's clip
    bce = -(x_test * np.log(out) + (1 - x_test) * np.log1p(-out))  # (N, 784)
    if kind in ("vae", "cvae"):  # from mu, no sampled z: a little better than the recorded test_recon, never far from it
        assert 0.9 * p.test["test_recon"] < bce.sum(axis=1).mean() < p.test["test_recon"]
    else:
        assert bce.mean() == pytest.approx(p.test["test_loss"], rel=1e-4)


def test_a_model_loads_on_the_device_stand_in_and_scores_the_same(mnist):
    from scratchae.standin import DEVICE, namespace
    xp = namespace()
    p = pretrained.load("vae-2d", xp=xp)
    assert all(a.device == DEVICE for _, a, _ in p.model.named_params())
    got = pretrained.evaluate(p, to_device(mnist[2][:2000], xp, DEVICE))
    on_numpy = pretrained.evaluate(pretrained.load("vae-2d"), mnist[2][:2000])
    assert got["test_loss"] == pytest.approx(on_numpy["test_loss"], rel=1e-5)


@pytest.mark.parametrize("name", pretrained.NAMES)
def test_a_loaded_model_trains_a_step_and_its_loss_moves(name, mnist):
    p = pretrained.load(name)
    xb = mnist[0][:256]
    run = make_run(p.settings, np, xb, xb, model=p.model)
    before = run.evaluate()["test_loss"]
    weights = {n: a.copy() for n, a, _ in p.model.named_params()}
    for k in range(3):
        run.step(xb, np.random.default_rng(k))
    after = run.evaluate()["test_loss"]
    assert after != before and math.isfinite(after)
    assert all(not np.array_equal(a, weights[n]) for n, a, _ in p.model.named_params())


def test_write_checkpoint_continues_as_train_resume_would(tmp_path, mnist):
    path = pretrained.write_checkpoint("reference", tmp_path / "run")
    model, state, progress, config = load_checkpoint(path)
    p = pretrained.load("reference")
    assert progress.epoch == len(p.metrics) == config["epochs"] and progress.step == 0
    assert progress.metrics == p.metrics and config["out"] == str(tmp_path / "run")
    assert state["t"] == 0 and all(not a.any() for a in state["m"].values())  # Adam starts its moments afresh
    for (name, a, _), (_, b, _) in zip(model.named_params(), p.model.named_params()):
        assert np.array_equal(a, b), name
    # What train.run does with a checkpoint: the run's recipe around the saved model, the optimizer's state loaded.
    xb = mnist[0][:256]
    run = make_run(config, np, xb, to_device(xb, np), model=model)
    run.optimizer.load_state_dict(state)
    before = run.evaluate()["test_loss"]
    run.step(xb, np.random.default_rng(0))
    assert run.optimizer.t == 1 and run.evaluate()["test_loss"] != before
    assert to_numpy(model.forward(xb)).shape == (256, 784)


def test_the_lessons_flag_is_on_for_colab_without_a_gpu_and_the_variable_decides_everywhere():
    from scratchae.backend import cpu_xp
    from scratchae.standin import namespace
    assert pretrained.wanted(cpu_xp, environ={}, colab=True)
    assert not pretrained.wanted(namespace(), environ={}, colab=True)  # a GPU runtime trains
    assert not pretrained.wanted(cpu_xp, environ={}, colab=False)
    assert pretrained.wanted(cpu_xp, environ={"SCRATCHAE_PRETRAINED": "1"}, colab=False)
    assert not pretrained.wanted(cpu_xp, environ={"SCRATCHAE_PRETRAINED": "0"}, colab=True)
    with pytest.raises(ValueError, match="SCRATCHAE_PRETRAINED='yes': set it to 1"):
        pretrained.wanted(cpu_xp, environ={"SCRATCHAE_PRETRAINED": "yes"})


def run_lesson_with_pretrained_on(lesson, tmp_path):
    """Lesson ``lesson`` (en) run as a plain script with the flag on, in quick mode: its stdout, after it passed.

    nbmake runs every lesson with the flag off (it is off outside Colab); this covers the other branch, and the
    explorer's static figure (no kernel, so no sliders)."""
    import os
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parent.parent
    env = {**os.environ, "SCRATCHAE_PRETRAINED": "1", "SCRATCHAE_QUICK": "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": str(root), "PYTHONWARNINGS": "ignore::UserWarning:matplotlib"}
    done = subprocess.run([sys.executable, str(root / "lessons" / "en" / f"{lesson}.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "PRETRAINED = True" in done.stdout
    return done.stdout


def test_lesson_13_with_pretrained_on_loads_the_shipped_vae_and_shows_the_static_explorer(tmp_path):
    from scratchae.explorer import NO_WIDGETS
    stdout = run_lesson_with_pretrained_on("13_vae", tmp_path)
    shipped = "PRETRAINED: loaded the shipped vae-2d (10 epochs of python -m scratchae.train --preset vae-2d)"
    assert shipped in stdout
    assert "epoch 1: test recon" not in stdout  # nothing trained the VAE
    assert NO_WIDGETS in stdout


def test_lesson_16_with_pretrained_on_loads_the_shipped_conv_vae_and_dense_vae(tmp_path):
    from scratchae.explorer import NO_WIDGETS
    stdout = run_lesson_with_pretrained_on("16_conv_vae", tmp_path)
    epochs = len(pretrained.load("cvae").metrics)
    assert f"PRETRAINED: loaded the shipped cvae ({epochs} epochs of python -m scratchae.train --preset cvae)" \
        in stdout
    assert "shipped: test recon" in stdout and "epoch 1:" not in stdout  # nothing trained either VAE
    assert NO_WIDGETS in stdout


def test_lesson_14_with_pretrained_on_loads_the_four_shipped_sweep_models(tmp_path):
    stdout = run_lesson_with_pretrained_on("14_codes_as_features", tmp_path)
    assert ("PRETRAINED: loaded the shipped models code-2, code-8, code-32 and code-64 (20 epochs of "
            "python -m scratchae.train) instead of training them here") in stdout
    # The table it prints: the 20-epoch autoencoders beat PCA at every code size on the quick run's test images.
    rows = [line.split("|") for line in stdout.splitlines() if line.strip()[:2] in ("2 ", "8 ", "32", "64")
            and line.count("|") == 4]
    assert [int(r[0]) for r in rows] == [2, 8, 32, 64]
    for r in rows:
        pca_mse, ae_mse = float(r[1]), float(r[2])
        assert ae_mse < pca_mse, r


def test_lesson_06_with_pretrained_on_loads_the_shipped_reference_and_scores_its_recorded_bce(tmp_path):
    stdout = run_lesson_with_pretrained_on("06_latent_space", tmp_path)
    assert ("PRETRAINED: loaded the shipped reference model (20 epochs of python -m scratchae.train) instead of "
            "training one here") in stdout and "trained for" not in stdout
    # The lesson scores the model on all 10,000 test images, as the record was scored.
    assert f"test BCE: {pretrained.load('reference').test['test_loss']:.4f}" in stdout


def test_lesson_12_with_pretrained_on_loads_the_shipped_one_class_model(tmp_path):
    stdout = run_lesson_with_pretrained_on("12_anomaly_detection", tmp_path)
    assert ("PRETRAINED: loaded the shipped anomaly-4 model (python -m scratchae.anomaly --normal 4 --epochs 20) "
            "instead of training it here") in stdout
    assert "epoch 1:" not in stdout  # nothing trained the model
