"""k-nearest neighbours: each test row takes the majority label of its k closest training rows.

Squared distances come from one matrix product per batch of test rows, ||q - x||^2 = ||q||^2 - 2 q.x + ||x||^2,
so the (B, N) distance block never needs a (B, N, D) difference array. A tie in the vote goes to the tied class
whose member is nearest; a tie in distance goes to the training row that comes first.
"""
import math

from .backend import device_of, get_xp
from .classify import one_hot
from .data import batch_slices


def nearest(x_train, q, k=5, x_norms=None):
    """The indices of the k training rows closest to each row of q, nearest first.

    x_train: (N, D), q: (B, D) -> idx: (B, k) ints. x_norms: (N,) the rows' squared norms (computed if None).
    """
    xp = get_xp(x_train, q)
    if x_norms is None:
        x_norms = xp.sum(x_train * x_train, axis=1)  # (N,)
    # ||q||^2 is the same for every candidate of one query, so it cannot change the order: left out.
    d = x_norms - 2.0 * (q @ x_train.T)  # (B, N), squared distance minus ||q||^2
    rows = xp.arange(x_train.shape[0], device=device_of(q))  # (N,)
    picked = []
    for _ in range(k):  # k passes of argmin instead of a full sort: k is small
        j = xp.argmin(d, axis=1)  # (B,), the first index among equal distances
        picked.append(j)
        d = xp.where(rows == xp.expand_dims(j, axis=1), math.inf, d)  # never pick row j again
    return xp.stack(picked, axis=1)  # (B, k)


def vote(labels, classes=10):
    """labels: (B, k) neighbours' labels, nearest first -> (B,) the majority label, ties to the nearest.

    score_c = count_c (k + 1) - (rank of the nearest neighbour of class c): the count decides, and among equal
    counts the class seen first in the nearest-first list wins (absent classes get rank k and a count of 0).
    """
    xp = get_xp(labels)
    k = labels.shape[1]
    counts = xp.zeros((labels.shape[0], classes), dtype=xp.int64, device=device_of(labels))  # (B, C)
    first = xp.full((labels.shape[0], classes), k, dtype=xp.int64, device=device_of(labels))  # (B, C)
    for r in reversed(range(k)):  # from the farthest, so the nearest rank writes last
        hit = one_hot(labels[:, r], classes, xp.int64)  # (B, C)
        counts = counts + hit
        first = xp.where(hit == 1, r, first)
    return xp.argmax(counts * (k + 1) - first, axis=1)


def knn_predict(x_train, y_train, x_test, *, k=5, classes=10, batch_size=500):
    """x_train: (N, D), y_train: (N,) ints, x_test: (M, D) -> (M,) predicted labels, on x_test's device."""
    xp = get_xp(x_train, y_train, x_test)
    if not 1 <= k <= x_train.shape[0]:
        raise ValueError(f"knn_predict: k must lie in [1, {x_train.shape[0]}] (the training rows), got {k}")
    x_norms = xp.sum(x_train * x_train, axis=1)  # (N,) once, for every batch
    preds = []
    for a, b in batch_slices(x_test.shape[0], batch_size):
        idx = nearest(x_train, x_test[a:b, ...], k, x_norms)  # (B, k)
        labels = xp.reshape(xp.take(y_train, xp.reshape(idx, (-1,)), axis=0), idx.shape)  # (B, k)
        preds.append(vote(labels, classes))
    return xp.concat(preds)
