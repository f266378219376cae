"""Sparse autoencoders: an L1 activity penalty on the code pushes most code units to zero for each image.

The objective is the reconstruction loss plus P(h) = lambda * (1/N) sum_n sum_j |h_nj|, the code h = encode(x)
summed over its units and averaged over the batch: the reduction of the Keras blog's
``activity_regularizer=regularizers.l1(10e-5)`` (lambda = 1e-4) in the Keras version that produced its numbers.
The penalty's gradient, lambda sign(h) / N, joins the decoder's gradient at the code, so the training step splits
the backward pass there.
"""
from .backend import get_xp
from .data import batch_slices
from .layers import check_forward_ran
from .training import output_grad


class L1Activity:
    """L1 activity penalty, P = lam * sum(|h|) / N.  h: (N, ...) -> 0-d; backward: dh = lam * sign(h) / N.

    The sum runs over every code unit of an example, the mean over the N examples of the batch. At h = 0 the
    gradient is 0 (the subgradient that sign gives; behind a ReLU code those units pass no gradient anyway).
    """

    def __init__(self, lam=1e-4):
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam >= 0:
            raise ValueError(f"L1Activity: lam must be a number >= 0, got {lam!r}")
        self.lam = float(lam)
        self.h = None

    def __repr__(self):
        return f"L1Activity(lam={self.lam:g})"

    def forward(self, h):
        """h: (N, ...) -> 0-d penalty lam * sum(|h|) / N."""
        if h.ndim < 1 or h.shape[0] < 1:
            raise ValueError(f"{self!r}: expected a code of shape (N, ...) with N >= 1, got {tuple(h.shape)}")
        self.h = h
        return get_xp(h).sum(get_xp(h).abs(h)) * (self.lam / h.shape[0])

    def backward(self):
        """-> dh = lam * sign(h) / N, the shape of h."""
        check_forward_ran(self, self.h, "forward(h)")
        xp, h = get_xp(self.h), self.h
        # sign(h) as (h > 0) - (h < 0): array_api_compat's CuPy sign sets NaNs through a mask, a wait for the GPU
        dh = xp.astype(h > 0, h.dtype)
        dh -= xp.astype(h < 0, h.dtype)
        dh *= self.lam / h.shape[0]
        return dh


def sparse_step(model, loss, penalty, optimizer, xb):
    """One sparse-autoencoder step on xb: (B, D); returns {"loss": reconstruction + penalty, "penalty": P} (0-d)."""
    h = model.encode(xb)  # (B, k): the code the penalty acts on
    out = model.decode(h)  # (B, D)
    reconstruction = loss.forward(out, xb)
    p = penalty.forward(h)
    dout, skip_last = output_grad(model, loss)
    dh = model.decoder.backward(dout, skip_last=skip_last)  # (B, k): the reconstruction's gradient at the code...
    dh = dh + penalty.backward()  # ...plus the penalty's: both terms depend on h
    model.encoder.backward(dh, input_grad=False)
    optimizer.step()
    return {"loss": reconstruction + p, "penalty": p}


def evaluate_sparse(model, loss, penalty, x, batch_size=1000):
    """Test metrics of a sparse autoencoder: reconstruction loss, penalty, and the mean code activation
    (the mean of h over images and units, the number the Keras blog reports).  x: (N, D) -> dict of floats."""
    total = {"test_loss": 0.0, "test_penalty": 0.0, "test_code_mean": 0.0}
    for start, stop in batch_slices(x.shape[0], batch_size):
        xb = x[start:stop, ...]
        h = model.encode(xb)
        n = stop - start  # batch means weighted by the batch size: the last batch may be smaller
        total["test_loss"] += float(loss.forward(model.decode(h), xb)) * n
        total["test_penalty"] += float(penalty.forward(h)) * n
        total["test_code_mean"] += float(get_xp(h).mean(h)) * n
    return {key: value / x.shape[0] for key, value in total.items()}
