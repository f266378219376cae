"""Layers without parameters that change an activation's shape: MaxPool2D, UpSampling2D, Flatten, Reshape.

They follow the layer contract of layers.py (``params`` and ``grads`` are empty). Activations are NHWC, and
Flatten reads them in row-major (h, w, c) order, as Keras's Flatten does, so a flattened code matches Keras's.
"""
from .backend import device_of, get_xp
from .im2col import PADDINGS, conv_geometry, crop2d, pad2d, window
from .layers import check_forward_ran, check_positive_int


def _check_nhwc(layer, x):
    if x.ndim != 4 or x.shape[0] < 1:
        raise ValueError(f"{layer!r}: expected input of shape (N, H, W, C) with N >= 1, got {tuple(x.shape)}")


def _check_dout(layer, dout):
    """Raise unless forward ran (it sets ``layer.out_shape``) and dout has the output's shape."""
    check_forward_ran(layer, layer.out_shape)
    if tuple(dout.shape) != layer.out_shape:
        raise ValueError(f"{layer!r}: dout must have the output's shape {layer.out_shape}, got {tuple(dout.shape)}")


class MaxPool2D:
    """Max over non-overlapping p x p windows, out[n, y, x, c] = max of x[n, y p : y p + p, x p : x p + p, c].

    x: (N, H, W, C) -> out: (N, oh, ow, C); "valid" (Keras's default): oh = H // p, the leftover rows dropped;
    "same": oh = ceil(H / p), padded at the bottom and right with -inf so the padding never wins.
    The gradient goes to the first maximum of each window in row-major order (as PyTorch and Keras do on ties):
    backward multiplies dout by masks kept from forward, with no argmax and no scatter.
    """

    def __init__(self, pool_size=2, *, padding="valid"):
        check_positive_int("MaxPool2D", "pool_size", pool_size)
        if padding not in PADDINGS:
            raise ValueError(f"MaxPool2D: padding must be 'same' or 'valid', got {padding!r}")
        self.pool_size, self.padding = pool_size, padding
        self.params, self.grads = {}, {}
        self.masks, self.out_shape = None, None

    def __repr__(self):
        return f"MaxPool2D({self.pool_size}, padding={self.padding!r})"

    def spec(self):
        """The constructor arguments that rebuild this layer (saved with the weights)."""
        return {"type": "MaxPool2D", "pool_size": self.pool_size, "padding": self.padding}

    def forward(self, x):
        """x: (N, H, W, C) -> out: (N, oh, ow, C), the maximum of each p x p window."""
        _check_nhwc(self, x)
        xp, p = get_xp(x), self.pool_size
        n, h, w, c = x.shape
        oh, top, bottom = conv_geometry(h, p, p, self.padding)
        ow, left, right = conv_geometry(w, p, p, self.padding)
        if oh < 1 or ow < 1:
            raise ValueError(f"{self!r}: a {h}x{w} input is smaller than the pooling window; use padding='same'")
        self.pads = (top, bottom, left, right)
        xpad = pad2d(x, self.pads, value=-float("inf"))
        parts = [xpad[:, window(p, p, oh, i), window(p, p, ow, j), :] for i in range(p) for j in range(p)]
        out = parts[0]
        for part in parts[1:]:
            out = xp.maximum(out, part)  # (N, oh, ow, C)
        # One mask per window offset, 1.0 where this offset holds the window's first maximum.
        taken = xp.zeros(tuple(out.shape), dtype=xp.bool, device=device_of(x))
        self.masks = []
        for part in parts:
            first = xp.logical_and(part == out, xp.logical_not(taken))
            taken = xp.logical_or(taken, first)
            self.masks.append(xp.astype(first, x.dtype))
        self.x_shape, self.padded_shape, self.out_shape = tuple(x.shape), tuple(xpad.shape), tuple(out.shape)
        return out

    def backward(self, dout, *, input_grad=True):
        """dout: (N, oh, ow, C) -> dx: (N, H, W, C), dout placed at each window's first maximum, 0 elsewhere."""
        _check_dout(self, dout)
        if not input_grad:
            return None
        xp, p = get_xp(dout), self.pool_size
        oh, ow = self.out_shape[1:3]
        # Windows do not overlap, so each pixel is written at most once: plain assignment, no adds.
        dxpad = xp.zeros(self.padded_shape, dtype=dout.dtype, device=device_of(dout))
        for i in range(p):
            for j in range(p):
                dxpad[:, window(p, p, oh, i), window(p, p, ow, j), :] = dout * self.masks[i * p + j]
        return crop2d(dxpad, self.pads)


class UpSampling2D:
    """Nearest-neighbour upsampling, out[n, y, x, c] = x[n, y // s, x // s, c] (Keras's default interpolation).

    x: (N, H, W, C) -> out: (N, H s, W s, C). Backward sums dout over each s x s block.
    """

    def __init__(self, size=2):
        check_positive_int("UpSampling2D", "size", size)
        self.size = size
        self.params, self.grads = {}, {}
        self.x_shape = self.out_shape = None

    def __repr__(self):
        return f"UpSampling2D({self.size})"

    def spec(self):
        """The constructor arguments that rebuild this layer (saved with the weights)."""
        return {"type": "UpSampling2D", "size": self.size}

    def forward(self, x):
        """x: (N, H, W, C) -> out: (N, H s, W s, C), each pixel repeated s x s times."""
        _check_nhwc(self, x)
        xp, s = get_xp(x), self.size
        n, h, w, c = x.shape
        self.x_shape, self.out_shape = tuple(x.shape), (n, h * s, w * s, c)
        blocks = xp.broadcast_to(xp.reshape(x, (n, h, 1, w, 1, c)), (n, h, s, w, s, c))
        return xp.reshape(blocks, (n, h * s, w * s, c))

    def backward(self, dout, *, input_grad=True):
        """dout: (N, H s, W s, C) -> dx: (N, H, W, C), the sum of dout over each s x s block."""
        _check_dout(self, dout)
        if not input_grad:
            return None
        xp, s = get_xp(dout), self.size
        n, h, w, c = self.x_shape
        return xp.sum(xp.reshape(dout, (n, h, s, w, s, c)), axis=(2, 4))


class Flatten:
    """Flatten all but the batch axis in row-major order.  x: (N, d1, d2, ...) -> out: (N, d1 d2 ...)."""

    def __init__(self):
        self.params, self.grads = {}, {}
        self.x_shape = self.out_shape = None

    def __repr__(self):
        return "Flatten()"

    def spec(self):
        """The constructor arguments that rebuild this layer (saved with the weights)."""
        return {"type": "Flatten"}

    def forward(self, x):
        """x: (N, ...) -> out: (N, prod(...))."""
        if x.ndim < 1 or x.shape[0] < 1:
            raise ValueError(f"{self!r}: expected input of shape (N, ...) with N >= 1, got {tuple(x.shape)}")
        self.x_shape, self.out_shape = tuple(x.shape), (x.shape[0], _prod(x.shape[1:]))
        return get_xp(x).reshape(x, self.out_shape)

    def backward(self, dout, *, input_grad=True):
        """dout: (N, prod(...)) -> dx: (N, ...), the same numbers in the input's shape."""
        _check_dout(self, dout)
        return get_xp(dout).reshape(dout, self.x_shape) if input_grad else None


def _prod(shape):
    out = 1
    for d in shape:
        out *= d
    return out


class Reshape:
    """Give each example a new shape (the batch axis kept).  x: (N, prod(shape)...) -> out: (N, *shape).

    Reshape((28, 28, 1)) turns flat (N, 784) images into the NHWC input of a convolution.
    """

    def __init__(self, shape):
        shape = tuple(shape)
        if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
            raise ValueError(f"Reshape: shape must be positive ints such as (28, 28, 1), got {shape!r}")
        self.shape = shape
        self.params, self.grads = {}, {}
        self.x_shape = self.out_shape = None

    def __repr__(self):
        return f"Reshape({self.shape})"

    def spec(self):
        """The constructor arguments that rebuild this layer (saved with the weights)."""
        return {"type": "Reshape", "shape": list(self.shape)}

    def forward(self, x):
        """x: (N, ...) with prod(...) = prod(shape) -> out: (N, *shape)."""
        if x.ndim < 1 or x.shape[0] < 1 or _prod(x.shape[1:]) != _prod(self.shape):
            raise ValueError(f"{self!r}: expected input of shape (N, ...) holding {_prod(self.shape)} values per "
                             f"example, got {tuple(x.shape)}")
        self.x_shape, self.out_shape = tuple(x.shape), (x.shape[0], *self.shape)
        return get_xp(x).reshape(x, self.out_shape)

    def backward(self, dout, *, input_grad=True):
        """dout: (N, *shape) -> dx: x's shape."""
        _check_dout(self, dout)
        return get_xp(dout).reshape(dout, self.x_shape) if input_grad else None
