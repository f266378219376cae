"""Sliding windows, point scores and the nearest-window distance against plain loops, on every backend; the
detectors' pieces against their plain computations."""
import numpy as np
import pytest

from conftest import host
from scratchae import windows
from scratchae.gradcheck import assert_close, check_model
from scratchae.losses import MSE
from scratchae.series_detect import dense_series_autoencoder, found, reconstruction_scores, window_scores


def test_sliding_windows_against_a_loop(backend, rng):
    s = rng.standard_normal(23)
    for w in (1, 5, 23):
        got = host(windows.sliding_windows(backend.asarray(s), w))
        expected = np.array([s[i:i + w] for i in range(23 - w + 1)])
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="window length"):
        windows.sliding_windows(backend.asarray(s), 24)


def test_point_scores_against_a_loop(backend, rng):
    n, w = 17, 6
    ws = rng.random(n)
    got = host(windows.point_scores(backend.asarray(ws), w))
    expected = []
    for p in range(n + w - 1):  # the windows i with i <= p <= i + w - 1
        covering = [ws[i] for i in range(n) if i <= p <= i + w - 1]
        expected.append(sum(covering) / len(covering))
    assert got.shape == (n + w - 1,)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_nearest_distances_against_brute_force(backend, rng):
    q, r = rng.standard_normal((29, 7)), rng.standard_normal((11, 7))
    r[3] = q[5]  # an exact match: distance 0, where rounding could give a tiny negative square
    got = host(windows.nearest_distances(backend.asarray(q), backend.asarray(r), batch_size=8))
    expected = [min(np.sqrt(np.sum((qi - rk) ** 2)) for rk in r) for qi in q]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-6)
    assert got[5] < 1e-6


def test_mean_squared_errors_against_numpy(backend, rng):
    x = rng.standard_normal((9, 5, 1))

    class Halve:  # a model whose reconstruction is x / 2: the error is mean(x^2) / 4
        def forward(self, xb):
            return xb * 0.5
    got = host(windows.mean_squared_errors(Halve(), backend.asarray(x), batch_size=4))
    np.testing.assert_allclose(got, np.mean(x.reshape(9, -1) ** 2, axis=1) / 4, rtol=1e-12)


def test_dense_series_autoencoder_gradients(backend, rng, record_gradcheck):
    # Wide enough that no row turns every hidden ReLU off (z = 0 would put the decoder at the kink).
    model = dense_series_autoencoder(12, 16, 3, rng=0, **backend.kw("float64"))
    x = backend.asarray(rng.standard_normal((4, 12)))
    assert_close(record_gradcheck(check_model(model, MSE(), x, x, rng=rng)))


def test_pca_scores_are_the_plain_projection_error(backend, rng):
    x_fit, x = rng.standard_normal((30, 8)), rng.standard_normal((10, 8))
    got = host(reconstruction_scores("pca", backend.asarray(x_fit), backend.asarray(x), {"code": 3}))
    mean = x_fit.mean(axis=0)
    v = np.linalg.svd(x_fit - mean)[2][:3].T  # (8, 3)
    expected = np.mean(((x - mean) - (x - mean) @ v @ v.T) ** 2, axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_window_scores_of_the_baseline_are_the_composition(backend, rng):
    train, test = rng.standard_normal(40), rng.standard_normal(60)
    got = host(window_scores("nearest", backend.asarray(train), backend.asarray(test), {"window": 8}))
    tw = np.array([train[i:i + 8] for i in range(33)])
    per_window = [min(np.linalg.norm(test[i:i + 8] - t) for t in tw) for i in range(53)]
    expected = [np.mean([per_window[i] for i in range(53) if i <= p < i + 8]) for p in range(60)]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-6)


def test_an_autoencoder_trains_and_scores_on_every_backend(backend, rng):
    x = backend.asarray(rng.standard_normal((20, 6)), "float32")
    cfg = {"hidden": 4, "code": 2, "epochs": 2, "batch_size": 8, "lr": 1e-2, "seed": 0}
    scores = host(reconstruction_scores("dense", x, x, cfg))
    assert scores.shape == (20,) and np.all(np.isfinite(scores)) and scores.dtype == np.float32


def test_the_archive_rule():
    assert found(4087, 4187, 4198) and found(4298, 4187, 4198) and found(4190, 4187, 4198)
    assert not found(4086, 4187, 4198) and not found(4299, 4187, 4198)
