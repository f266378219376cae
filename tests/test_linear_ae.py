"""Baldi and Hornik (1989): a linear autoencoder trained with MSE spans PCA's top-k subspace. Checked by the
principal angles between the decoder's rows and the top principal directions, which must fall from near 90
degrees to near 0; a short training and the wrong directions must fail the same bar."""
import numpy as np
import pytest

from scratchae import MSE, Adam, Autoencoder, Dense, ReLU, Sequential, to_device, to_numpy
from scratchae.data import batch_slices, epoch_order
from scratchae.pca import pca_fit
from scratchae.training import train_step

D, K, N = 30, 3, 600


def principal_angles(a, b):
    """a, b: (D, k) -> the k principal angles between their column spaces, in degrees."""
    q1, _ = np.linalg.qr(a)
    q2, _ = np.linalg.qr(b)
    return np.degrees(np.arccos(np.clip(np.linalg.svd(q1.T @ q2, compute_uv=False), -1.0, 1.0)))


def data(rng):
    """N points near a K-dimensional subspace: variances 9, 6, 4 in it, 0.05 outside, plus an offset."""
    basis, _ = np.linalg.qr(rng.standard_normal((D, D)))
    scales = np.r_[3.0, 2.45, 2.0, np.full(D - K, 0.22)]
    return (rng.standard_normal((N, D)) * scales) @ basis.T + 0.5


def train(backend, x, encoder_layers, epochs=120):
    xd = backend.asarray(x, "float32")
    model = Autoencoder(Sequential(encoder_layers), Sequential([Dense(K, D, rng=1, **backend.kw("float32"))]))
    optimizer, loss = Adam(model, lr=1e-2), MSE()
    for epoch in range(epochs):
        order = to_device(epoch_order(N, 0, epoch), backend.xp, backend.device)
        for a, b in batch_slices(N, 100):
            train_step(model, loss, optimizer, backend.xp.take(xd, order[a:b], axis=0))
    return model


def decoder_angles(model, x, backend):
    _, components = pca_fit(backend.asarray(x), K)
    return principal_angles(to_numpy(model.decoder.layers[0].params["W"]).T.astype(np.float64),
                            to_numpy(components).T)


def test_a_linear_autoencoder_spans_the_principal_subspace(backend, rng):
    x = data(rng)
    untrained = train(backend, x, [Dense(D, K, rng=0, **backend.kw("float32"))], epochs=0)
    model = train(backend, x, [Dense(D, K, rng=0, **backend.kw("float32"))])
    before, after = decoder_angles(untrained, x, backend), decoder_angles(model, x, backend)
    print(f"principal angles before {np.round(before, 1)}, after {np.round(after, 3)} degrees")
    assert before.min() > 30 and after.max() < 1.0


def test_the_bar_fails_a_short_training_and_the_wrong_directions(backend, rng):
    # The check can fail: after 3 epochs the decoder is still far from the subspace, and a trained decoder is
    # nearly perpendicular to the next K principal directions.
    x = data(rng)
    short = train(backend, x, [Dense(D, K, rng=0, **backend.kw("float32"))], epochs=3)
    assert decoder_angles(short, x, backend).max() > 1.0
    model = train(backend, x, [Dense(D, K, rng=0, **backend.kw("float32"))])
    _, components = pca_fit(backend.asarray(x), 2 * K)
    wrong = principal_angles(to_numpy(model.decoder.layers[0].params["W"]).T.astype(np.float64),
                             to_numpy(components)[K:].T)
    assert wrong.min() > 80


def test_principal_angles_against_scipy(rng):
    scipy_linalg = pytest.importorskip("scipy.linalg")
    a, b = rng.standard_normal((12, 3)), rng.standard_normal((12, 3))
    np.testing.assert_allclose(np.sort(principal_angles(a, b)), np.sort(np.degrees(scipy_linalg.subspace_angles(a, b))),
                               atol=1e-9)
    assert np.allclose(principal_angles(a, a @ rng.standard_normal((3, 3))), 0, atol=1e-5)
