"""A run folder written from a notebook's model (lesson 05's path to the hand-in) packs and passes the grader."""
import numpy as np
import pytest

import scratchae as sa
from scratchae.data import load
from scratchae.models import init_output_bias
from scratchae.teacher.handin import pack
from scratchae.teacher.handin_check import check_handin
from scratchae.teacher.notebook_run import lesson_config, save_run
from scratchae.training import evaluate, train_step


@pytest.fixture(scope="module")
def trained():
    """The assignment's model after 40 steps on 2,048 images, with its validation and test BCE."""
    x_train, _, x_test, y_test = load("mnist")
    model = sa.dense_autoencoder(rng=0)
    init_output_bias(model, x_train[:2048].mean(axis=0))
    loss, opt = sa.BCE(), sa.Adam(model, lr=1e-3)
    for k in range(40):
        train_step(model, loss, opt, x_train[(k % 8) * 256:(k % 8 + 1) * 256])
    rows = [{"epoch": 1, "train_loss": 0.2, "val_loss": evaluate(model, sa.BCE(), x_train[55000:]),
             "test_loss": evaluate(model, sa.BCE(), x_test)}]
    return model, rows, x_test, y_test


def test_saved_run_packs_and_passes(trained, tmp_path):
    model, rows, x_test, y_test = trained
    cfg = lesson_config(epochs=1, n_fit=2048, batch_size=256, lr=1e-3, seed=0)
    run = save_run(tmp_path / "run", model, cfg, rows, x_test, y_test)
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.npz", "config.json", "loss_curve.png",
                                                     "metrics.csv", "network.png", "reconstructions.png"]
    restored = sa.load_model(run / "checkpoint.npz")  # the library reads the notebook's weights back exactly
    for (name, p, _), (name_r, q, _) in zip(model.named_params(), restored.named_params()):
        assert name == name_r and np.array_equal(p, q)
    nb = tmp_path / "05_build_it_yourself.ipynb"
    nb.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    pack(nb, run, tmp_path / "handin.zip")
    got = {r["name"]: r for r in check_handin(tmp_path / "handin.zip", "en")}
    assert [got[n]["status"] for n in ("handin.architecture", "handin.metrics", "handin.provenance")] == ["pass"] * 3
    assert got["handin.range"]["status"] == "warn" and "trained on 2048 images only" in got["handin.range"]["message"]


def test_a_model_of_other_widths_is_refused(trained, tmp_path):
    _, rows, x_test, y_test = trained
    cfg = lesson_config(epochs=1, n_fit=2048, batch_size=256, lr=1e-3, seed=0)
    with pytest.raises(ValueError, match="build the model with build_autoencoder"):
        save_run(tmp_path / "run", sa.dense_autoencoder((784, 64, 8), rng=0), cfg, rows, x_test, y_test)
