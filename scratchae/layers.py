"""Hand-written layers: Dense, ReLU, Sigmoid and Clip, each with an explicit forward and backward.

The layer contract, shared by every layer so that containers never special-case one:

- ``forward(x) -> out`` computes the output and caches what backward needs.
- ``backward(dout) -> dx`` takes dLoss/dout (same shape as out) and returns dLoss/dx (same shape as x). It
  *assigns* fresh arrays to ``self.grads`` (no ``+=``), so a layer used once per step needs no zero_grad. It never
  changes ``dout``. With ``input_grad=False`` it skips dx and returns None (the first layer of a model: nobody
  needs dLoss/d(data), so its matrix product would be wasted work, as in PyTorch for inputs without requires_grad).
- ``params`` and ``grads`` are dicts with the same keys and shapes (``"W"``, ``"b"``); empty for activations.

Names carry the math: ``dfoo`` is always dLoss/dfoo and has ``foo``'s shape.
"""
import math

from .backend import cpu_xp, get_xp, make_rng, resolve_dtype, to_device


def check_positive_int(owner, name, value):
    """Raise a ValueError naming ``owner`` unless ``value`` is an int >= 1 (a bool is not a count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")


def check_forward_ran(owner, cached, call="forward(x)", method="backward"):
    """Raise a RuntimeError unless forward has cached something (``cached`` is not None) for ``method`` to use."""
    if cached is None:
        raise RuntimeError(f"{owner!r}: {method} called before forward; call {call} first")


def _check_2d(layer, x, width, what="input"):
    """Raise a ValueError naming ``layer`` unless ``x`` has shape (N, width) with N >= 1."""
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != width:
        raise ValueError(f"{layer!r}: expected {what} of shape (N, {width}) with N >= 1, got {tuple(x.shape)}")


def _check_cached(layer, cached, dout):
    """Raise unless forward ran (``cached`` is set) and ``dout`` has the shape of forward's output."""
    check_forward_ran(layer, cached)
    if tuple(dout.shape) != tuple(cached.shape):
        raise ValueError(f"{layer!r}: dout must have the output's shape {tuple(cached.shape)}, got {tuple(dout.shape)}")


class Dense:
    """Fully connected layer, out = x @ W + b.  x: (N, in) -> out: (N, out); W: (in, out), b: (out,).

    Weights are He-normal, W ~ N(0, 2 / in) (He et al. 2015, arXiv 1502.01852), the init that keeps the variance
    of activations constant through ReLU layers; biases start at zero. They are drawn in float64 on the host from
    ``rng`` (a numpy Generator or a seed) and moved once, so NumPy and CuPy runs start from identical weights.
    """

    def __init__(self, in_features, out_features, *, rng=None, xp=None, device=None, dtype="float32"):
        check_positive_int("Dense", "in_features", in_features)
        check_positive_int("Dense", "out_features", out_features)
        self.in_features, self.out_features = in_features, out_features
        self.xp = cpu_xp if xp is None else xp
        dtype = resolve_dtype(self.xp, dtype)
        std = math.sqrt(2.0 / in_features)
        W = make_rng(rng).standard_normal((in_features, out_features)) * std  # (in, out), host float64
        self.params = {
            "W": to_device(W, self.xp, device, dtype),
            "b": self.xp.zeros((out_features,), dtype=dtype, device=device),
        }
        self.grads = {name: self.xp.zeros_like(p) for name, p in self.params.items()}
        self.x = None

    def __repr__(self):
        return f"Dense({self.in_features}, {self.out_features})"

    def spec(self):
        """The constructor arguments that rebuild this layer (saved with the weights)."""
        return {"type": "Dense", "in_features": self.in_features, "out_features": self.out_features}

    def forward(self, x):
        """x: (N, in) -> out: (N, out).  out = x @ W + b."""
        _check_2d(self, x, self.in_features)
        W, b = self.params["W"], self.params["b"]
        if x.dtype != W.dtype:  # NumPy would silently promote float32 weights to float64 here
            raise TypeError(f"{self!r}: input dtype {x.dtype} differs from the weights' {W.dtype}; cast x first")
        self.x = x
        out = x @ W  # (N, out)
        out += b  # in place: one pass, no second (N, out) array
        return out

    def backward(self, dout, *, input_grad=True):
        """dout: (N, out) -> dx: (N, in).  dW = x.T @ dout, db = dout.sum(0), dx = dout @ W.T."""
        check_forward_ran(self, self.x)
        _check_2d(self, dout, self.out_features, what="dout")
        if dout.shape[0] != self.x.shape[0]:
            raise ValueError(f"{self!r}: dout has {dout.shape[0]} rows but forward saw {self.x.shape[0]}")
        xp = self.xp
        self.grads["W"] = self.x.T @ dout  # (in, out)
        self.grads["b"] = xp.sum(dout, axis=0)  # (out,)
        if not input_grad:
            return None
        return dout @ self.params["W"].T  # (N, in)


class ReLU:
    """Rectified linear unit, out = max(x, 0), elementwise.  x: any shape -> out: same shape."""

    def __init__(self):
        self.params, self.grads = {}, {}
        self.mask = None

    def __repr__(self):
        return "ReLU()"

    def spec(self):
        """The constructor arguments that rebuild this layer (saved with the weights)."""
        return {"type": "ReLU"}

    def forward(self, x):
        """x -> out = x * mask, with mask = 1.0 where x > 0 else 0.0 (the derivative, cached for backward)."""
        # A float mask makes both passes one multiply, far faster than xp.where (docs/results.md#relu-float-mask).
        self.mask = get_xp(x).astype(x > 0, x.dtype)
        return x * self.mask

    def backward(self, dout, *, input_grad=True):
        """dout -> dx = dout * mask: the gradient flows where x > 0 (the kink at 0 gets 0, as in PyTorch)."""
        _check_cached(self, self.mask, dout)
        if not input_grad:
            return None
        return dout * self.mask


class Sigmoid:
    """Logistic sigmoid, out = 1 / (1 + exp(-x)), elementwise.  x: any shape -> out: same shape, in [0, 1]."""

    def __init__(self):
        self.params, self.grads = {}, {}
        self.out = None

    def __repr__(self):
        return "Sigmoid()"

    def spec(self):
        """The constructor arguments that rebuild this layer (saved with the weights)."""
        return {"type": "Sigmoid"}

    def forward(self, x):
        """x -> out = (1 + tanh(x / 2)) / 2, the same function as 1 / (1 + exp(-x))."""
        # The tanh form never overflows: exp(-x) is inf in float32 for x < -88 and warns; tanh saturates at -1.
        out = get_xp(x).tanh(x * 0.5)
        out += 1.0
        out *= 0.5
        self.out = out
        return out

    def backward(self, dout, *, input_grad=True):
        """dout -> dx = dout * out * (1 - out)."""
        _check_cached(self, self.out, dout)
        if not input_grad:
            return None
        dx = 1.0 - self.out
        dx *= self.out
        dx *= dout
        return dx


class Clip:
    """Clip to [low, high], out = min(max(x, low), high).  x: any shape -> out: same shape.

    Its derivative: 1 inside [low, high] (ends included, as torch.clamp), 0 outside: a clipped value does not move.
    """

    def __init__(self, low, high):
        self.low, self.high = float(low), float(high)
        if not self.low < self.high:
            raise ValueError(f"Clip: low must be below high, got {low!r} and {high!r}")
        self.params, self.grads = {}, {}
        self.mask = None

    def __repr__(self):
        return f"Clip({self.low}, {self.high})"

    def spec(self):
        """The constructor arguments that rebuild this layer (saved with the weights)."""
        return {"type": "Clip", "low": self.low, "high": self.high}

    def forward(self, x):
        """x -> out = min(max(x, low), high); caches mask = 1.0 where low <= x <= high else 0.0."""
        xp = get_xp(x)
        out = xp.minimum(xp.maximum(x, self.low), self.high)  # not xp.clip, which waits for a GPU (audit.py)
        self.mask = xp.astype(out == x, x.dtype)  # out == x exactly where x was inside [low, high] (NaN: 0)
        return out

    def backward(self, dout, *, input_grad=True):
        """dout -> dx = dout * mask."""
        _check_cached(self, self.mask, dout)
        return dout * self.mask if input_grad else None
