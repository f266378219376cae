"""Convolution layers on NHWC activations with Keras's semantics: Conv2D and Conv2DTranspose.

Both follow the layer contract of layers.py (forward caches, backward assigns fresh grads and never changes dout,
``input_grad=False`` skips dx). Activations are (N, H, W, C) as in Keras, kernels keep Keras's shapes, and
"same"/"valid" padding is TensorFlow's (see im2col.py), so a Keras model's weights and outputs carry over.
A convolution is im2col, one matrix product, and col2im for its input gradient; the transposed convolution is the
same three pieces used the other way round. Which code runs is decided in one place, FAST below.
"""
import math

from . import conv_fast
from .backend import cpu_xp, make_rng, resolve_dtype, to_device
from .im2col import PADDINGS, col2im, conv_geometry, im2col, transpose_size
from .layers import check_forward_ran, check_positive_int

INITS = ("glorot_uniform", "he_normal")

# Which code the layers run. All False: the reference of im2col.py, the code lesson 09 prints. True: a measured
# speed-up from conv_fast.py, tested equal to its reference (tests/test_conv_fast.py). Read at each call.
FAST = {
    "gather_im2col": True,  # im2col as one xp.take (conv_fast.im2col_take)
    "by_output": True,  # stride-1 Conv2D with fewer filters than inputs from the output side (conv_fast)
}


def _im2col(x, k, s, out_hw, pads):
    """im2col(x, ...): (N oh ow, k k C), by the gather when FAST["gather_im2col"] is on."""
    if FAST["gather_im2col"]:
        return conv_fast.im2col_take(x, k, s, out_hw, pads)
    return im2col(x, k, s, out_hw, pads)


def _check_args(name, ints, padding, init):
    for arg, value in ints.items():
        check_positive_int(name, arg, value)
    if padding not in PADDINGS:
        raise ValueError(f"{name}: padding must be 'same' or 'valid', got {padding!r}")
    if init not in INITS:
        raise ValueError(f"{name}: init must be 'glorot_uniform' or 'he_normal', got {init!r}")


def init_kernel(shape, fan_in, fan_out, init, rng, xp, device, dtype):
    """A kernel of ``shape``, drawn in float64 on the host and moved once (same weights on every backend).

    glorot_uniform (Keras's default; Glorot & Bengio 2010): U(-a, a) with a = sqrt(6 / (fan_in + fan_out)).
    he_normal (He et al. 2015, arXiv 1502.01852): N(0, 2 / fan_in), which keeps the variance through ReLUs.
    """
    rng = make_rng(rng)
    if init == "glorot_uniform":
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        host = rng.uniform(-limit, limit, shape)
    else:
        host = rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)
    return to_device(host, xp, device, dtype)


class _Conv:
    """What both convolutions share: arguments, weights, input checks."""

    def __init__(self, in_channels, filters, kernel_size, stride, padding, init, kernel_shape, rng, xp, device,
                 dtype):
        _check_args(type(self).__name__, {"in_channels": in_channels, "filters": filters,
                                          "kernel_size": kernel_size, "stride": stride}, padding, init)
        self.in_channels, self.filters, self.kernel_size = in_channels, filters, kernel_size
        self.stride, self.padding, self.init = stride, padding, init
        self.xp = cpu_xp if xp is None else xp
        dtype = resolve_dtype(self.xp, dtype)
        # Keras's fans for a (k, k, a, b) kernel: a k k and b k k, whichever convolution it belongs to.
        k2 = kernel_size * kernel_size
        fan_in, fan_out = kernel_shape[2] * k2, kernel_shape[3] * k2
        self.params = {
            "W": init_kernel(kernel_shape, fan_in, fan_out, init, rng, self.xp, device, dtype),
            "b": self.xp.zeros((filters,), dtype=dtype, device=device),
        }
        self.grads = {name: self.xp.zeros_like(p) for name, p in self.params.items()}
        self.x = None

    def __repr__(self):
        return (f"{type(self).__name__}({self.in_channels}, {self.filters}, {self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding!r})")

    def spec(self):
        """The constructor arguments that rebuild this layer (saved with the weights)."""
        return {"type": type(self).__name__, "in_channels": self.in_channels, "filters": self.filters,
                "kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding, "init": self.init}

    def _check_input(self, x, channels, what="input"):
        if x.ndim != 4 or x.shape[0] < 1 or x.shape[3] != channels:
            raise ValueError(f"{self!r}: expected {what} of shape (N, H, W, {channels}) with N >= 1, "
                             f"got {tuple(x.shape)}")
        if x.dtype != self.params["W"].dtype:  # NumPy would silently promote float32 weights to float64
            raise TypeError(f"{self!r}: {what} dtype {x.dtype} differs from the weights' {self.params['W'].dtype}; "
                            "cast it first")

    def _check_dout(self, cached, dout):
        check_forward_ran(self, cached)
        if tuple(dout.shape) != self.out_shape:
            raise ValueError(f"{self!r}: dout must have the output's shape {self.out_shape}, got {tuple(dout.shape)}")


class Conv2D(_Conv):
    """2-D convolution (cross-correlation, as in every framework), out = im2col(x) @ W + b.

    x: (N, H, W, in) -> out: (N, oh, ow, filters); W: (k, k, in, filters) (Keras's layout), b: (filters,).
    "same": oh = ceil(H / stride); "valid": oh = (H - k) // stride + 1. Weights are He-normal by default, as
    Dense's, or Glorot-uniform (Keras's default) with init="glorot_uniform"; biases start at zero. He-normal
    trains keras-conv faster in its first epochs (docs/results.md#conv2d-initialisation).
    """

    def __init__(self, in_channels, filters, kernel_size=3, *, stride=1, padding="same", init="he_normal",
                 rng=None, xp=None, device=None, dtype="float32"):
        k = kernel_size
        super().__init__(in_channels, filters, kernel_size, stride, padding, init, (k, k, in_channels, filters),
                         rng, xp, device, dtype)
        self.cols = self.x = None
        self.path = None  # "by_output" or "im2col": what the last forward ran, so backward runs its twin

    @property
    def by_output(self):
        """True when forward hands this layer to conv_fast's output-side path: FAST["by_output"] is on, stride 1,
        and fewer filters than inputs (keras-conv's last layer, 32 -> 1); its arrays have k k F columns, not k k C."""
        return FAST["by_output"] and self.stride == 1 and self.filters < self.in_channels

    def geometry(self, h, w):
        """(oh, ow, pads) for an h x w input; pads = (top, bottom, left, right)."""
        k, s = self.kernel_size, self.stride
        oh, top, bottom = conv_geometry(h, k, s, self.padding)
        ow, left, right = conv_geometry(w, k, s, self.padding)
        if oh < 1 or ow < 1:
            raise ValueError(f"{self!r}: a {h}x{w} input is smaller than the {k}x{k} kernel; use padding='same'")
        return oh, ow, (top, bottom, left, right)

    def forward(self, x):
        """x: (N, H, W, in) -> out: (N, oh, ow, filters).  out = im2col(pad(x)) @ W.reshape(k k in, filters) + b."""
        self._check_input(x, self.in_channels)
        xp, k = self.xp, self.kernel_size
        n, h, w, _ = x.shape
        oh, ow, pads = self.geometry(h, w)
        self.x_shape, self.pads, self.out_hw = tuple(x.shape), pads, (oh, ow)
        self.out_shape = (n, oh, ow, self.filters)
        self.path = "by_output" if self.by_output else "im2col"
        if self.path == "by_output":  # the fast case, handed over whole (tested equal to the lines below)
            self.x, self.cols = x, None
            return conv_fast.conv_forward_by_output(x, self.params["W"], self.params["b"], (oh, ow), pads)
        self.x, self.cols = None, _im2col(x, k, self.stride, (oh, ow), pads)  # (N oh ow, k k in), kept for dW
        out = self.cols @ xp.reshape(self.params["W"], (k * k * self.in_channels, self.filters))  # (N oh ow, F)
        out += self.params["b"]
        return xp.reshape(out, self.out_shape)

    def backward(self, dout, *, input_grad=True):
        """dout: (N, oh, ow, filters) -> dx: (N, H, W, in).

        dW = cols.T @ dout, db = dout summed over N, oh, ow, dx = col2im(dout @ W.T) (the padding's share dropped).
        """
        self._check_dout(self.x if self.path == "by_output" else self.cols, dout)
        if self.path == "by_output":
            dx, self.grads["W"], self.grads["b"] = conv_fast.conv_backward_by_output(
                self.x, self.params["W"], dout, self.pads, input_grad)
            return dx
        xp, k = self.xp, self.kernel_size
        W = self.params["W"]
        dout2 = xp.reshape(dout, (-1, self.filters))  # (N oh ow, F)
        self.grads["W"] = xp.reshape(self.cols.T @ dout2, tuple(W.shape))  # (k, k, in, F)
        self.grads["b"] = xp.sum(dout2, axis=0)  # (F,)
        if not input_grad:
            return None
        dcols = dout2 @ xp.reshape(W, (k * k * self.in_channels, self.filters)).T  # (N oh ow, k k in)
        return col2im(dcols, self.x_shape, k, self.stride, self.out_hw, self.pads)  # (N, H, W, in)


class Conv2DTranspose(_Conv):
    """Transposed convolution, the adjoint of a Conv2D: out = col2im(x @ W.T) + b (Keras's Conv2DTranspose).

    x: (N, h, w, in) -> out: (N, H, W, filters) with H = h stride ("same") or h stride + max(k - stride, 0)
    ("valid"); W: (k, k, filters, in) (Keras's layout), b: (filters,). Weights are initialised as Conv2D's.
    The identity it is built on: for the Conv2D C that maps (N, H, W, filters) to (N, h, w, in) with kernel W,
    this layer's forward is C's input gradient (col2im of x @ W.T), and its backward is C's forward pieces
    (dx = im2col(dout) @ W, dW = im2col(dout).T @ x). No zeros are inserted between pixels, so no work is wasted.
    """

    def __init__(self, in_channels, filters, kernel_size=3, *, stride=2, padding="same", init="he_normal",
                 rng=None, xp=None, device=None, dtype="float32"):
        k = kernel_size
        super().__init__(in_channels, filters, kernel_size, stride, padding, init, (k, k, filters, in_channels),
                         rng, xp, device, dtype)

    def geometry(self, h, w):
        """(H, W, pads) for an h x w input: the output size and the padding of the Conv2D it is the adjoint of."""
        k, s = self.kernel_size, self.stride
        out_h, out_w = transpose_size(h, k, s, self.padding), transpose_size(w, k, s, self.padding)
        _, top, bottom = conv_geometry(out_h, k, s, self.padding)
        _, left, right = conv_geometry(out_w, k, s, self.padding)
        return out_h, out_w, (top, bottom, left, right)

    def forward(self, x):
        """x: (N, h, w, in) -> out: (N, H, W, filters).  out = col2im(x @ W.reshape(k k filters, in).T) + b."""
        self._check_input(x, self.in_channels)
        xp, k, f = self.xp, self.kernel_size, self.filters
        n, h, w, _ = x.shape
        out_h, out_w, pads = self.geometry(h, w)
        self.x, self.pads = x, pads
        self.out_shape = (n, out_h, out_w, f)
        dcols = xp.reshape(x, (-1, self.in_channels)) @ xp.reshape(self.params["W"], (k * k * f, self.in_channels)).T
        return col2im(dcols, self.out_shape, k, self.stride, (h, w), pads) + self.params["b"]  # (N, H, W, F)

    def backward(self, dout, *, input_grad=True):
        """dout: (N, H, W, filters) -> dx: (N, h, w, in).

        cols = im2col(pad(dout)); dW = cols.T @ x, db = dout summed over N, H, W, dx = cols @ W.
        """
        self._check_dout(self.x, dout)
        xp, k, f = self.xp, self.kernel_size, self.filters
        W = self.params["W"]
        n, h, w, c = self.x.shape
        cols = _im2col(dout, k, self.stride, (h, w), self.pads)  # (N h w, k k F)
        x2 = xp.reshape(self.x, (-1, c))  # (N h w, in)
        self.grads["W"] = xp.reshape(cols.T @ x2, tuple(W.shape))  # (k, k, F, in)
        self.grads["b"] = xp.sum(xp.reshape(dout, (-1, f)), axis=0)  # (F,)
        if not input_grad:
            return None
        return xp.reshape(cols @ xp.reshape(W, (k * k * f, c)), (n, h, w, c))  # (N, h, w, in)
