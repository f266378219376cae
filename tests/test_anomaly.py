"""Reconstruction-error scores and the PCA baseline on every backend, against direct computations."""
import numpy as np
import pytest

from scratchae import BCE, MSE, Adam, dense_autoencoder
from scratchae.backend import to_numpy as host  # as conftest.host, which lessons/conftest.py can shadow
from scratchae.fit import Diverged, fit
from scratchae.pca import pca_errors, pca_fit
from scratchae.training import reconstruction_errors, train_step


@pytest.mark.parametrize("loss", [BCE(), MSE()], ids=["bce", "mse"])
def test_per_image_is_the_loss_of_each_row(backend, rng, loss):
    out = backend.asarray(rng.uniform(0, 1, (6, 20)))
    out = backend.xp.where(out > 0.95, backend.xp.ones_like(out), out)  # some exact 1s: the clip matters
    x = backend.asarray(rng.uniform(0, 1, (6, 20)))
    e = host(loss.per_image(out, x))
    assert e.shape == (6,) and e.dtype == np.float64
    for i in range(6):
        assert e[i] == pytest.approx(float(loss.forward(out[i:i + 1, ...], x[i:i + 1, ...])), rel=1e-12)


@pytest.mark.parametrize("loss", [BCE(), MSE()], ids=["bce", "mse"])
def test_reconstruction_errors_in_batches_average_to_the_loss(backend, rng, loss):
    model = dense_autoencoder((20, 8, 3), rng=0, **backend.kw("float32"))
    x = backend.asarray(rng.uniform(0, 1, (23, 20)), "float32")
    e = reconstruction_errors(model, loss, x, batch_size=5)  # 5 batches, the last one of 3
    assert tuple(e.shape) == (23,) and e.dtype == backend.xp.float32
    np.testing.assert_allclose(host(e), host(loss.per_image(model.forward(x), x)), rtol=1e-6)
    # Every image has the same number of pixels, so the mean of the per-image means is the loss of the batch.
    assert float(backend.xp.mean(e)) == pytest.approx(float(loss.forward(model.forward(x), x)), rel=1e-5)


def direct_pca_errors(train, test, k):
    """Reconstruction through the top-k right singular vectors, in float64 NumPy: mean squared error per row."""
    mean = train.mean(axis=0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    v = vt[:k].T  # (D, k)
    recon = mean + (test - mean) @ v @ v.T
    return np.mean((test - recon) ** 2, axis=1)


@pytest.mark.parametrize("k", [1, 4, 9])
def test_pca_errors_match_a_direct_svd_reconstruction(backend, rng, k):
    train = rng.standard_normal((40, 12)) @ rng.standard_normal((12, 12))  # correlated columns
    test = rng.standard_normal((15, 12)) @ rng.standard_normal((12, 12))
    mean, components = pca_fit(backend.asarray(train), k)
    assert tuple(components.shape) == (k, 12)
    np.testing.assert_allclose(host(components) @ host(components).T, np.eye(k), atol=1e-12)
    e = pca_errors(backend.asarray(test), mean, components, batch_size=4)
    np.testing.assert_allclose(host(e), direct_pca_errors(train, test, k), rtol=1e-10)


def test_pca_with_every_component_reconstructs_exactly(backend, rng):
    train, test = rng.standard_normal((30, 8)), rng.standard_normal((5, 8))
    mean, components = pca_fit(backend.asarray(train), 100)  # more than D: all 8 directions
    assert tuple(components.shape) == (8, 8)
    assert float(backend.xp.max(pca_errors(backend.asarray(test), mean, components))) < 1e-25


def test_pca_errors_keep_float32(backend, rng):
    train = backend.asarray(rng.uniform(0, 1, (50, 16)), "float32")
    mean, components = pca_fit(train, 4)
    assert pca_errors(train, mean, components).dtype == backend.xp.float32


def test_training_on_one_class_lowers_its_error(backend, rng):
    x = backend.asarray(rng.uniform(0, 1, (64, 20)) * (rng.uniform(0, 1, 20) > 0.5), "float32")  # one "class"
    model = dense_autoencoder((20, 16, 4), rng=1, **backend.kw("float32"))
    loss = BCE()
    before = float(backend.xp.mean(reconstruction_errors(model, loss, x)))
    seen = []
    optimizer = Adam(model, lr=1e-2)
    rows = fit(model, optimizer, lambda xb, rng: train_step(model, loss, optimizer, xb), None, x, epochs=30,
               batch_size=16, seed=0, on_epoch=seen.append, quiet=True)
    assert [row["epoch"] for row in seen] == list(range(1, 31)) and seen == rows
    assert float(backend.xp.mean(reconstruction_errors(model, loss, x))) < 0.8 * before


def test_training_stops_when_the_loss_is_not_finite(rng):
    x = rng.uniform(0, 1, (8, 20)).astype(np.float32)
    x[3, 5] = np.nan
    model, loss = dense_autoencoder((20, 4), rng=0), BCE()
    optimizer = Adam(model)
    with pytest.raises(Diverged, match="loss became nan at epoch 1, step 1"):
        fit(model, optimizer, lambda xb, rng: train_step(model, loss, optimizer, xb), None, x, epochs=2,
            batch_size=8, seed=0, quiet=True)
