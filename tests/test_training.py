"""The epoch loop: losses read from the device in batches give the numbers a per-step read gives; extra terms."""
import numpy as np
import pytest

from scratchae import Adam, BCE, dense_autoencoder
from scratchae import fit as fit_module
from scratchae.data import step_rng
from scratchae.fit import Diverged, Progress, fit
from scratchae.training import train_step


def run_fit(tmp_path, step_of, n=700, batch_size=64, epochs=2, seed=3):
    """fit() on random images with a step made by step_of(model, loss, optimizer); returns (rows, model)."""
    x = np.random.default_rng(0).random((n, 784), dtype=np.float32)
    model = dense_autoencoder((784, 16, 8), rng=0)
    loss = BCE()
    optimizer = Adam(model)
    rows = fit(model, optimizer, step_of(model, loss, optimizer), lambda: {"test_loss": 0.5, "test_extra": 2.0}, x,
               epochs=epochs, batch_size=batch_size, seed=seed, progress=Progress(),
               checkpoint=tmp_path / "c.npz", config={}, on_epoch=lambda row: None, quiet=True)
    return rows, model


def test_batched_reads_report_what_per_step_reads_report(tmp_path, monkeypatch):
    seen = []  # (epoch-local batch size, loss read at once) for every step: the plain, syncing computation

    def recording(model, loss, optimizer):
        def step(xb, rng):
            value = train_step(model, loss, optimizer, xb)
            seen.append((xb.shape[0], float(value)))
            return value
        return step

    reads = {"n": 0}
    real = fit_module.to_numpy

    def counting(a):
        reads["n"] += 1
        return real(a)

    monkeypatch.setattr(fit_module, "to_numpy", counting)
    rows, _ = run_fit(tmp_path, recording)
    steps = -(-700 // 64)  # 11 steps an epoch, the last of 60 images
    for epoch, row in enumerate(rows):
        batch = seen[epoch * steps:(epoch + 1) * steps]
        expected = sum(size * value for size, value in batch) / sum(size for size, _ in batch)
        assert row["train_loss"] == pytest.approx(expected, rel=1e-12)
        assert (row["test_loss"], row["test_extra"]) == (0.5, 2.0)
    # one read after step 10 and one at the end of each epoch, not one per step
    assert reads["n"] == 2 * len(rows)


def test_extra_terms_become_train_columns(tmp_path):
    def two_terms(model, loss, optimizer):
        def step(xb, rng):
            value = train_step(model, loss, optimizer, xb)
            return {"loss": value, "half": value * 0.5}
        return step

    rows, _ = run_fit(tmp_path, two_terms, epochs=1)
    assert rows[0]["train_half"] == pytest.approx(rows[0]["train_loss"] / 2, rel=1e-6)
    assert list(rows[0])[:3] == ["epoch", "train_loss", "train_half"]


def test_divergence_names_the_first_bad_step_between_reads(tmp_path):
    def poisoned(model, loss, optimizer):
        calls = {"n": 0}

        def step(xb, rng):
            calls["n"] += 1
            value = train_step(model, loss, optimizer, xb)
            return value * float("inf") if calls["n"] >= 16 else value  # epoch 2, step 5 onward
        return step

    with pytest.raises(Diverged, match="loss became inf at epoch 2, step 5$"):
        run_fit(tmp_path, poisoned)


def test_step_rng_depends_on_seed_epoch_and_step_only():
    draw = [step_rng(s, e, k).standard_normal(3) for s, e, k in ((0, 1, 2), (0, 1, 2), (0, 2, 1), (1, 1, 2))]
    np.testing.assert_array_equal(draw[0], draw[1])
    assert not np.array_equal(draw[0], draw[2]) and not np.array_equal(draw[0], draw[3])
