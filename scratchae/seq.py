"""Layers that move between vectors and sequences: RepeatVector and TimeDistributed.

They follow the layer contract of layers.py. Sequences are (N, T, D): N examples, T steps, D features per step.
"""
from .backend import get_xp
from .layers import check_forward_ran, check_positive_int


class RepeatVector:
    """Repeat each example's vector T times, out[n, t, :] = x[n, :].  x: (N, D) -> out: (N, T, D).

    The decoder of a sequence-to-sequence autoencoder reads the code at every step. Backward: dx = sum over t.
    """

    def __init__(self, steps):
        check_positive_int("RepeatVector", "steps", steps)
        self.steps = steps
        self.params, self.grads = {}, {}
        self.out_shape = None

    def __repr__(self):
        return f"RepeatVector({self.steps})"

    def spec(self):
        """The constructor arguments that rebuild this layer (saved with the weights)."""
        return {"type": "RepeatVector", "steps": self.steps}

    def forward(self, x):
        """x: (N, D) -> out: (N, T, D), a read-only broadcast view (no copy)."""
        if x.ndim != 2 or x.shape[0] < 1:
            raise ValueError(f"{self!r}: expected input of shape (N, D) with N >= 1, got {tuple(x.shape)}")
        n, d = x.shape
        self.out_shape = (n, self.steps, d)
        return get_xp(x).broadcast_to(get_xp(x).expand_dims(x, axis=1), self.out_shape)

    def backward(self, dout, *, input_grad=True):
        """dout: (N, T, D) -> dx: (N, D) = dout.sum(axis=1), since every step used the same x."""
        check_forward_ran(self, self.out_shape)
        if tuple(dout.shape) != self.out_shape:
            raise ValueError(f"{self!r}: dout must have the output's shape {self.out_shape}, got {tuple(dout.shape)}")
        return get_xp(dout).sum(dout, axis=1) if input_grad else None


class TimeDistributed:
    """Apply one layer to every step with shared weights.  x: (N, T, D) -> out: (N, T, *layer's output).

    A reshape to (N T, D) around the layer: TimeDistributed(Dense(H, D)) is out[:, t] = x[:, t] @ W + b for all t.
    Its params and grads are the wrapped layer's own dicts, so an optimizer updates the wrapped layer.
    """

    def __init__(self, layer):
        self.layer = layer
        self.params, self.grads = layer.params, layer.grads
        self.x_shape = self.out_shape = None

    def __repr__(self):
        return f"TimeDistributed({self.layer!r})"

    def spec(self):
        """The constructor arguments that rebuild this layer (saved with the weights)."""
        return {"type": "TimeDistributed", "layer": self.layer.spec()}

    def forward(self, x):
        """x: (N, T, ...) -> out: (N, T, ...), the layer on the (N T, ...) stack of all steps."""
        if x.ndim < 3 or x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"{self!r}: expected input of shape (N, T, ...) with N, T >= 1, got {tuple(x.shape)}")
        xp = get_xp(x)
        n, steps = x.shape[0], x.shape[1]
        out = self.layer.forward(xp.reshape(x, (n * steps, *x.shape[2:])))  # (N T, ...)
        self.x_shape, self.out_shape = tuple(x.shape), (n, steps, *out.shape[1:])
        return xp.reshape(out, self.out_shape)

    def backward(self, dout, *, input_grad=True):
        """dout: (N, T, ...) -> dx: (N, T, ...); the wrapped layer's grads are summed over all N T rows."""
        check_forward_ran(self, self.out_shape)
        if tuple(dout.shape) != self.out_shape:
            raise ValueError(f"{self!r}: dout must have the output's shape {self.out_shape}, got {tuple(dout.shape)}")
        xp = get_xp(dout)
        n, steps = self.out_shape[:2]
        dx = self.layer.backward(xp.reshape(dout, (n * steps, *self.out_shape[2:])), input_grad=input_grad)
        return None if dx is None else xp.reshape(dx, self.x_shape)
