"""Softmax regression on features: a Dense layer, the softmax cross-entropy loss, Adam, and accuracy.

This is where labels enter scratchae: the autoencoders never see them. ``SoftmaxCrossEntropy`` works on logits
and fuses the softmax into its backward, as ``BCE.backward_logits`` fuses the Sigmoid: dz = (softmax(z) - t) / N.
"""
from .backend import device_of, get_xp, to_device
from .data import batch_slices, epoch_order
from .layers import Dense, check_forward_ran
from .models import Sequential
from .optim import Adam


def one_hot(y, classes, dtype):
    """y: (N,) ints in [0, classes) -> t: (N, classes), t[n, c] = 1 where y[n] == c, else 0."""
    xp = get_xp(y)
    grid = xp.arange(classes, dtype=y.dtype, device=device_of(y))  # (C,)
    return xp.astype(xp.expand_dims(y, axis=1) == grid, dtype)  # (N, C)


def log_softmax(z):
    """z: (N, C) -> log p = z - max(z) - log sum exp(z - max(z)), row by row (the max keeps exp from overflowing)."""
    xp = get_xp(z)
    shifted = z - xp.max(z, axis=1, keepdims=True)  # (N, C), every entry <= 0
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


class SoftmaxCrossEntropy:
    """Cross-entropy of softmax(z) against integer labels, L = -(1/N) sum_n log softmax(z_n)[y_n].

    z: (N, C) logits (float), y: (N,) integer labels -> 0-d loss. backward() -> dz = (softmax(z) - onehot(y)) / N.
    """

    def __init__(self):
        self.p = self.t = None

    def __repr__(self):
        return "SoftmaxCrossEntropy()"

    def forward(self, z, y):
        """z: (N, C), y: (N,) ints -> 0-d mean loss."""
        if z.ndim != 2 or y.ndim != 1 or y.shape[0] != z.shape[0]:
            raise ValueError(f"{self!r}: expected logits (N, C) and labels (N,), got {tuple(z.shape)} and "
                             f"{tuple(y.shape)}")
        xp = get_xp(z, y)
        logp = log_softmax(z)  # (N, C)
        self.t = one_hot(y, z.shape[1], z.dtype)  # (N, C)
        self.p = xp.exp(logp)  # kept for backward: softmax(z)
        return -xp.sum(logp * self.t) / z.shape[0]

    def backward(self):
        """-> dz = (p - t) / N: softmax's Jacobian times -t / p collapses to this (the fused backward)."""
        check_forward_ran(self, self.p, "forward(z, y)")
        return (self.p - self.t) / self.p.shape[0]


def predict(model, x, batch_size=1000):
    """x: (N, D) -> labels (N,): the argmax of the logits, batch by batch, on x's device."""
    xp = get_xp(x)
    return xp.concat([xp.argmax(model.forward(x[a:b, ...]), axis=1) for a, b in batch_slices(x.shape[0], batch_size)])


def accuracy(pred, y):
    """pred, y: (N,) labels -> 0-d fraction of equal entries (on the device; to_numpy or float() reads it)."""
    xp = get_xp(pred, y)
    return xp.mean(xp.astype(pred == y, xp.float64))  # float64: exact for any test set size


def softmax_regression(x, y, *, classes=10, steps=3000, batch_size=256, lr=1e-3, weight_decay=0.0, seed=0,
                       x_val=None, y_val=None, eval_every=150, rng=None):
    """Train out = x @ W + b under SoftmaxCrossEntropy with Adam for ``steps`` minibatch steps.

    The loss is L + (weight_decay / 2) ||W||^2, so dW gains weight_decay * W. x: (N, D) float, y: (N,) ints ->
    (model, history); history lists (step, validation accuracy as a 0-d array) every ``eval_every`` steps when
    x_val, y_val are given. Batches follow epoch_order(N, seed, epoch), so a run is reproducible.
    """
    xp = get_xp(x, y)
    model = Sequential([Dense(x.shape[1], classes, rng=seed if rng is None else rng, xp=xp, device=device_of(x),
                              dtype=x.dtype)])
    dense, loss, opt = model.layers[0], SoftmaxCrossEntropy(), Adam(model, lr=lr)
    n, history, step, epoch = x.shape[0], [], 0, 0
    while step < steps:
        order = to_device(epoch_order(n, seed, epoch), xp, device_of(x))  # (N,) a fresh order each epoch
        for a, b in batch_slices(n, batch_size):
            idx = order[a:b]
            loss.forward(model.forward(xp.take(x, idx, axis=0)), xp.take(y, idx, axis=0))
            model.backward(loss.backward(), input_grad=False)
            if weight_decay:
                dense.grads["W"] = dense.grads["W"] + weight_decay * dense.params["W"]  # fresh array, as backward's
            opt.step()
            step += 1
            if x_val is not None and step % eval_every == 0:
                history.append((step, accuracy(predict(model, x_val), y_val)))
            if step == steps:
                break
        epoch += 1
    return model, history
