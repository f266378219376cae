"""Anomaly detection by reconstruction error: train on one class only, and what reconstructs badly is anomalous.

The one-class protocol: an autoencoder (or the PCA baseline) learns the training images of the normal class;
each test image's score is its mean reconstruction error per pixel; ROC AUC measures how well the scores rank
the other nine classes above the normal one (``scratchae.metrics``). The library part lives here; the command
``python -m scratchae.anomaly`` is in ``scratchae.anomaly_cli``, which this module runs when executed.
"""
import math

from .backend import device_of, get_xp, to_device
from .data import batch_slices, epoch_order, step_rng
from .losses import BCE, MSE


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


def per_image_loss(loss, out, x):
    """Each row's mean loss per pixel, the per-image version of ``loss.forward(out, x)``.

    BCE: e_i = -mean_j (x_ij log p_ij + (1 - x_ij) log(1 - p_ij)), p = clip(out, eps, 1 - eps) as in BCE.forward;
    MSE: e_i = mean_j (out_ij - x_ij)^2.  out, x: (N, D) -> e: (N,).
    """
    xp = get_xp(out, x)
    if isinstance(loss, BCE):
        p = xp.clip(out, loss.eps, 1.0 - loss.eps)
        log_1mp = xp.log1p(-p)
        return -xp.mean(x * (xp.log(p) - log_1mp) + log_1mp, axis=1)
    if isinstance(loss, MSE):
        d = out - x
        return xp.mean(d * d, axis=1)
    raise TypeError(f"per_image_loss knows BCE and MSE, got {loss!r}")


def reconstruction_errors(model, loss, x, batch_size=1000):
    """Anomaly scores: each image's mean reconstruction error under ``loss``.  x: (N, D) -> scores: (N,), x's device."""
    xp = get_xp(x)
    return xp.concat([per_image_loss(loss, model.forward(x[a:b, ...]), x[a:b, ...])
                      for a, b in batch_slices(x.shape[0], batch_size)])


def pca_fit(x, k=32):
    """The PCA baseline's model: the mean image and the top-k principal directions of the normal training images.

    x - mean = U S V^T (thin SVD); components = the first k rows of V^T, orthonormal.
    x: (n, D) -> mean: (D,), components: (k', D) with k' = min(k, n, D).
    """
    xp = get_xp(x)
    mean = xp.mean(x, axis=0)  # (D,)
    _, _, vt = xp.linalg.svd(x - mean, full_matrices=False)  # vt: (min(n, D), D)
    return mean, vt[:min(k, vt.shape[0]), :]


def pca_errors(x, mean, components, batch_size=1000):
    """Each image's mean squared error after projecting onto the principal subspace and back.

    x_hat = mean + (x - mean) V V^T with V = components.T; e_i = mean_j (x_ij - x_hat_ij)^2.
    x: (N, D), mean: (D,), components: (k, D) -> e: (N,).
    """
    xp = get_xp(x)
    parts = []
    for a, b in batch_slices(x.shape[0], batch_size):
        xc = x[a:b, ...] - mean  # (B, D)
        d = xc - (xc @ components.T) @ components  # (B, D): the part of xc outside the subspace
        parts.append(xp.mean(d * d, axis=1))
    return xp.concat(parts)


def train_autoencoder(step, x, *, epochs, batch_size, seed, on_epoch=None):
    """Minibatch training on x (N, D) with ``step(xb, rng)`` (see recipes.make_step); returns the last epoch's loss.

    Each epoch visits x in the order ``epoch_order(N, seed, epoch)``; the losses stay on the device and are read
    once per epoch (no per-step wait on a GPU); on_epoch(epoch, mean_loss) after each epoch.
    """
    xp, n = get_xp(x), x.shape[0]
    mean_loss = float("nan")
    for epoch in range(epochs):
        order = to_device(epoch_order(n, seed, epoch), xp, device_of(x))  # (N,)
        total = 0.0
        for k, (a, b) in enumerate(batch_slices(n, batch_size)):
            terms = step(xp.take(x, order[a:b], axis=0), step_rng(seed, epoch, k))
            total = total + (terms["loss"] if isinstance(terms, dict) else terms) * (b - a)  # 0-d, on the device
        mean_loss = float(total) / n
        if not math.isfinite(mean_loss):
            raise Diverged(f"loss became {mean_loss} in epoch {epoch + 1}; try a smaller --lr")
        if on_epoch is not None:
            on_epoch(epoch + 1, mean_loss)
    return mean_loss


if __name__ == "__main__":
    import sys

    from .anomaly_cli import main

    sys.exit(main())
