"""Losses: binary cross-entropy (BCE) and mean squared error (MSE), each with a hand-written backward.

A loss is ``forward(pred, target) -> loss`` (a 0-d array; ``float(loss)`` reads it) and ``backward() -> dpred``
(dLoss/dpred, shape of pred). Both reduce by the mean over *all* elements, as Keras and PyTorch report them: for
MNIST images that is the mean per pixel, so the number does not change with the batch size.
"""
from .backend import get_xp


def _check_pair(loss, pred, target):
    """Raise a ValueError/TypeError naming ``loss`` unless pred and target have the same shape and dtype."""
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"{loss!r}: pred {tuple(pred.shape)} and target {tuple(target.shape)} must have one shape")
    if pred.dtype != target.dtype:  # mixing would silently promote float32 to float64
        raise TypeError(f"{loss!r}: pred is {pred.dtype} but target is {target.dtype}; cast target to pred's dtype")


class BCE:
    """Binary cross-entropy on probabilities, L = -mean(t log p + (1 - t) log(1 - p)).  pred, target: same shape.

    Predictions are clipped to [eps, 1 - eps] first (as Keras does), so p = 0 or 1 exactly gives a finite loss,
    at most -log(eps) ~ 16.1 per element for eps = 1e-7, and a finite gradient: backward evaluates the formula's
    gradient at the clipped p. Behind a Sigmoid, use backward_logits, which stays exact where p saturates.
    """

    def __init__(self, eps=1e-7):
        self.eps = eps
        self.pred = self.p = self.t = None

    def __repr__(self):
        return f"BCE(eps={self.eps})"

    def forward(self, pred, target):
        """pred, target: same shape, target in [0, 1] -> 0-d loss."""
        _check_pair(self, pred, target)
        xp = get_xp(pred, target)
        p = xp.clip(pred, self.eps, 1.0 - self.eps)
        log_1mp = xp.log1p(-p)  # log(1 - p), accurate when p is tiny
        # t log p + (1 - t) log(1 - p) = t (log p - log(1 - p)) + log(1 - p): one product instead of two
        ll = xp.log(p)
        ll -= log_1mp
        ll *= target
        ll += log_1mp
        self.pred, self.p, self.t = pred, p, target
        return -xp.mean(ll)

    def backward(self):
        """-> dpred = (p - t) / (p (1 - p)) / numel, with p the clipped prediction."""
        if self.p is None:
            raise RuntimeError(f"{self!r}: backward called before forward; call forward(pred, target) first")
        p = self.p
        denom = 1.0 - p
        denom *= p
        denom *= p.size  # fold the mean's 1/numel in here: one pass fewer
        dpred = p - self.t
        dpred /= denom
        return dpred

    def backward_logits(self):
        """-> dz = (pred - t) / numel, the gradient at z where pred = sigmoid(z) (a Sigmoid output layer).

        The chain rule through Sigmoid multiplies dpred by p (1 - p), which cancels BCE's denominator: the famous
        "prediction minus target". It is exact even where p saturates at 0 or 1, and costs two passes instead of
        the eight of backward() followed by Sigmoid.backward().
        """
        if self.pred is None:
            raise RuntimeError(f"{self!r}: backward_logits called before forward; call forward(pred, target) first")
        dz = self.pred - self.t
        dz *= 1.0 / dz.size
        return dz


class MSE:
    """Mean squared error, L = mean((pred - target)^2).  pred, target: same shape."""

    def __init__(self):
        self.diff = None

    def __repr__(self):
        return "MSE()"

    def forward(self, pred, target):
        """pred, target: same shape -> 0-d loss."""
        _check_pair(self, pred, target)
        xp = get_xp(pred, target)
        self.diff = pred - target
        return xp.mean(self.diff * self.diff)

    def backward(self):
        """-> dpred = 2 (pred - target) / numel."""
        if self.diff is None:
            raise RuntimeError(f"{self!r}: backward called before forward; call forward(pred, target) first")
        return self.diff * (2.0 / self.diff.size)
