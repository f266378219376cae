"""Losses: binary cross-entropy (BCE) and mean squared error (MSE), each with a hand-written backward.

A loss is ``forward(pred, target) -> loss`` (a 0-d array; ``float(loss)`` reads it) and ``backward() -> dpred``
(dLoss/dpred, shape of pred). ``per_image(pred, target)`` gives each row's value before the reduction (the
anomaly scores). Two reductions of the same per-element values: ``"pixel"``, the mean over *all* elements, as Keras
and PyTorch report a reconstruction loss (for MNIST the mean per pixel, the same for any batch size); and
``"image"``, the sum over each row's elements and the mean over the rows (the VAE's nats per image).
"""
from .backend import get_xp
from .layers import check_forward_ran

REDUCTIONS = ("pixel", "image")


def _check_pair(loss, pred, target):
    """Raise a ValueError/TypeError naming ``loss`` unless pred and target have the same shape and dtype."""
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"{loss!r}: pred {tuple(pred.shape)} and target {tuple(target.shape)} must have one shape")
    if pred.dtype != target.dtype:  # mixing would silently promote float32 to float64
        raise TypeError(f"{loss!r}: pred is {pred.dtype} but target is {target.dtype}; cast target to pred's dtype")


def _check_reduction(name, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'pixel' or 'image', got {reduction!r}")


def _divisor(pred, reduction):
    """What the sum of the per-element values is divided by: every element ("pixel") or the rows ("image")."""
    return pred.size if reduction == "pixel" else pred.shape[0]


class BCE:
    """Binary cross-entropy on probabilities, l = -(t log p + (1 - t) log(1 - p)) per element, reduced.

    reduction="pixel": L = mean(l) over all elements; reduction="image": L = sum(l) / N for pred (N, D), the sum over
    each image's pixels averaged over the batch.  pred, target: same shape.
    Predictions are clipped to [eps, 1 - eps] first (as Keras does), so p = 0 or 1 exactly gives a finite loss,
    at most -log(eps) ~ 16.1 per element for eps = 1e-7, and a finite gradient: backward evaluates the formula's
    gradient at the clipped p. Behind a Sigmoid, use backward_logits, which stays exact where p saturates.
    """

    def __init__(self, eps=1e-7, *, reduction="pixel"):
        _check_reduction("BCE", reduction)
        self.eps, self.reduction = eps, reduction
        self.pred = self.p = self.t = None

    def __repr__(self):
        extra = "" if self.reduction == "pixel" else f", reduction={self.reduction!r}"
        return f"BCE(eps={self.eps}{extra})"

    def log_likelihood(self, pred, target):
        """pred, target -> t log p + (1 - t) log(1 - p) = -l, elementwise, with p = clip(pred, eps, 1 - eps)."""
        _check_pair(self, pred, target)
        xp = get_xp(pred, target)
        # minimum(maximum()), not xp.clip: array_api_compat's CuPy clip waits for the GPU (see audit.py)
        p = xp.minimum(xp.maximum(pred, self.eps), 1.0 - self.eps)
        log_1mp = xp.log1p(-p)  # log(1 - p), accurate when p is tiny
        # t log p + (1 - t) log(1 - p) = t (log p - log(1 - p)) + log(1 - p): one product instead of two
        ll = xp.log(p)
        ll -= log_1mp
        ll *= target
        ll += log_1mp
        self.pred, self.p, self.t = pred, p, target
        return ll

    def forward(self, pred, target):
        """pred, target: same shape, target in [0, 1] -> 0-d loss."""
        ll = self.log_likelihood(pred, target)
        return get_xp(ll).sum(ll) / -_divisor(pred, self.reduction)  # -(s / n) exactly, one operation fewer

    def per_image(self, pred, target):
        """pred, target: (N, ...) -> (N,): each example's loss, its mean ("pixel") or sum ("image") over the example."""
        ll = self.log_likelihood(pred, target)
        xp = get_xp(ll)
        ll = xp.reshape(ll, (ll.shape[0], -1))  # (N, numbers per example): images (N, D), sequences (N, T, D)
        return -xp.mean(ll, axis=1) if self.reduction == "pixel" else -xp.sum(ll, axis=1)

    def backward(self):
        """-> dpred = (p - t) / (p (1 - p)) / n, with p the clipped prediction and n numel or N (the reduction)."""
        check_forward_ran(self, self.p, "forward(pred, target)")
        p = self.p
        denom = 1.0 - p
        denom *= p
        denom *= _divisor(p, self.reduction)  # fold the reduction's 1/n in here: one pass fewer
        dpred = p - self.t
        dpred /= denom
        return dpred

    def backward_logits(self):
        """-> dz = (pred - t) / n, the gradient at z where pred = sigmoid(z) (a Sigmoid output layer).

        The chain rule through Sigmoid multiplies dpred by p (1 - p), which cancels BCE's denominator: the famous
        "prediction minus target". It is exact even where p saturates at 0 or 1, and costs two passes instead of
        the eight of backward() followed by Sigmoid.backward().
        """
        check_forward_ran(self, self.pred, "forward(pred, target)", "backward_logits")
        dz = self.pred - self.t
        dz *= 1.0 / _divisor(dz, self.reduction)
        return dz


class MSE:
    """Mean squared error, L = mean((pred - target)^2) ("pixel"), or the sum over each row, mean over rows ("image").

    pred, target: same shape.
    """

    def __init__(self, *, reduction="pixel"):
        _check_reduction("MSE", reduction)
        self.reduction = reduction
        self.diff = None

    def __repr__(self):
        return "MSE()" if self.reduction == "pixel" else f"MSE(reduction={self.reduction!r})"

    def forward(self, pred, target):
        """pred, target: same shape -> 0-d loss."""
        _check_pair(self, pred, target)
        xp = get_xp(pred, target)
        self.diff = pred - target
        return xp.sum(self.diff * self.diff) / _divisor(pred, self.reduction)

    def per_image(self, pred, target):
        """pred, target: (N, ...) -> (N,): each example's squared error, its mean ("pixel") or sum ("image") over it."""
        _check_pair(self, pred, target)
        xp = get_xp(pred, target)
        d = xp.reshape(pred - target, (pred.shape[0], -1))  # (N, numbers per example)
        return xp.mean(d * d, axis=1) if self.reduction == "pixel" else xp.sum(d * d, axis=1)

    def backward(self):
        """-> dpred = 2 (pred - target) / n, n = numel ("pixel") or N ("image")."""
        check_forward_ran(self, self.diff, "forward(pred, target)")
        return self.diff * (2.0 / _divisor(self.diff, self.reduction))
