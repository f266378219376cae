"""A long series cut into sliding windows, each window scored, and the scores spread back onto the points.

Window i of a series s (L,) is s[i : i + w], for i = 0 .. n - 1 with n = L - w + 1. A point p lies in the windows
i = max(0, p - w + 1) .. min(p, n - 1); its score is the mean of their scores. Both directions loop over the w
offsets of a window and copy one slice each, as im2col and col2im loop over a kernel's offsets.
"""
from .backend import device_of, get_xp
from .data import batch_slices
from .losses import MSE
from .training import reconstruction_errors


def sliding_windows(s, w):
    """Every window of w consecutive points.  s: (L,) -> windows: (n, w) with n = L - w + 1, windows[i] = s[i:i+w]."""
    xp = get_xp(s)
    n = s.shape[0] - w + 1
    if w < 1 or n < 1:
        raise ValueError(f"window length must be 1 .. {s.shape[0]} for a series of {s.shape[0]} points, got {w}")
    return xp.stack([s[j:j + n, ...] for j in range(w)], axis=1)  # column j holds s[i + j] for every i


def point_scores(window_scores, w):
    """Each point's mean over the windows that cover it.  window_scores: (n,) -> scores: (L,) with L = n + w - 1.

    score[p] = sum_{i: i <= p <= i + w - 1} window_scores[i] / (number of such i).
    """
    xp = get_xp(window_scores)
    n = window_scores.shape[0]
    total = xp.zeros((n + w - 1,), dtype=window_scores.dtype, device=device_of(window_scores))
    count = xp.zeros_like(total)
    for j in range(w):  # window i covers point i + j at offset j
        total[j:j + n, ...] = total[j:j + n, ...] + window_scores
        count[j:j + n, ...] = count[j:j + n, ...] + 1.0
    return total / count


def nearest_distances(queries, references, batch_size=1000):
    """Euclidean distance from each query window to its nearest reference window (the archive authors' baseline).

    d_i = min_k ||q_i - r_k||, through ||q||^2 + ||r||^2 - 2 q . r, clipped at 0 against rounding.
    queries: (N, w), references: (M, w) -> d: (N,).
    """
    xp = get_xp(queries, references)
    r2 = xp.sum(references * references, axis=1)  # (M,)
    parts = []
    for a, b in batch_slices(queries.shape[0], batch_size):
        q = queries[a:b, ...]
        d2 = xp.sum(q * q, axis=1)[:, None] + r2[None, :] - 2.0 * (q @ references.T)  # (B, M)
        parts.append(xp.sqrt(xp.maximum(xp.min(d2, axis=1), 0.0)))  # xp.clip would wait for a GPU (audit.py)
    return xp.concat(parts)


def mean_squared_errors(model, x, batch_size=500):
    """Each example's mean squared reconstruction error over all its numbers (any shape after the first axis).

    e_i = mean over (t, d) of (model(x)_itd - x_itd)^2: training.reconstruction_errors under MSE, whose
    per_image reduces over every axis after the first.  x: (N, ...) -> e: (N,), on x's device.
    """
    return reconstruction_errors(model, MSE(), x, batch_size)
