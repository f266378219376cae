"""k-NN against a brute-force NumPy computation (every distance by its differences, a stable sort, a counted
vote), on integer data where many distances and many votes tie exactly."""
import numpy as np
import pytest

from conftest import host
from scratchae import to_device
from scratchae.knn import knn_predict, nearest, vote


def brute_force(x_train, y_train, x_test, k, classes):
    """The plain computation: distances from differences, nearest first (ties to the lower index), then the
    vote, with a tied count going to the class of the nearest neighbour among the tied classes."""
    d = np.stack([((x_train - q) ** 2).sum(axis=1) for q in x_test])  # (M, N), one test row at a time
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    out = []
    for row in y_train[idx]:
        counts = np.bincount(row, minlength=classes)
        tied = set(np.flatnonzero(counts == counts.max()))
        out.append(next(c for c in row if c in tied))  # the nearest neighbour whose class is among the tied
    return idx, np.array(out)


def ints(backend, a):
    return to_device(np.asarray(a, dtype=np.int64), backend.xp, backend.device)


@pytest.mark.parametrize("k", [1, 4, 5])
def test_knn_matches_brute_force_with_ties(backend, rng, k):
    # Pixels in {0, 1, 2}: squared distances are small integers, so exact ties are everywhere.
    x_train, x_test = rng.integers(0, 3, (300, 6)).astype(float), rng.integers(0, 3, (70, 6)).astype(float)
    y_train = rng.integers(0, 4, 300)
    idx, expected = brute_force(x_train, y_train, x_test, k, 4)
    xt = backend.asarray(x_train)
    np.testing.assert_array_equal(host(nearest(xt, backend.asarray(x_test), k)), idx)
    got = host(knn_predict(xt, ints(backend, y_train), backend.asarray(x_test), k=k, classes=4, batch_size=32))
    np.testing.assert_array_equal(got, expected)
    ties = sum(len(set(np.flatnonzero(np.bincount(r, minlength=4) == np.bincount(r, minlength=4).max()))) > 1
               for r in y_train[idx])
    assert k == 1 or ties > 5, "the data should exercise tied votes"


def test_vote_breaks_ties_by_the_nearest(backend):
    labels = ints(backend, [[3, 1, 1, 3, 2], [0, 1, 2, 3, 4], [2, 2, 1, 1, 1], [4, 0, 0, 4, 1]])
    # 1 and 3 tie with two votes each, 3 is nearest; all tie, 0 is nearest; 1 wins outright; 4 and 0 tie, 4 nearer.
    np.testing.assert_array_equal(host(vote(labels, 5)), [3, 0, 1, 4])


def test_knn_float32_matches_float64_on_real_spread_data(backend, rng):
    x_train, x_test = rng.uniform(0, 1, (400, 20)), rng.uniform(0, 1, (50, 20))
    y_train = rng.integers(0, 10, 400)
    _, expected = brute_force(x_train, y_train, x_test, 5, 10)
    got = host(knn_predict(backend.asarray(x_train, "float32"), ints(backend, y_train),
                           backend.asarray(x_test, "float32")))
    assert np.mean(got == expected) >= 0.98  # float32 rounding may swap two nearly equal distances, rarely


def test_knn_refuses_a_k_larger_than_the_training_set(backend):
    with pytest.raises(ValueError, match="k must"):
        knn_predict(backend.asarray(np.zeros((3, 2))), ints(backend, [0, 1, 2]), backend.asarray(np.zeros((1, 2))), k=4)
