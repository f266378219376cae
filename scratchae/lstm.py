"""The LSTM layer, written by hand: a loop over time steps forward, backprop through time backward.

Keras's semantics, so weights carry over: one input kernel Wx (D, 4H), one recurrent kernel Wh (H, 4H) and one
bias b (4H,), the four gate blocks in the order input i, forget f, cell candidate g, output o. One step:

    a = x_t @ Wx + h_{t-1} @ Wh + b               (N, 4H), split into a_i, a_f, a_g, a_o
    i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), o = sigmoid(a_o)
    c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t),   with h_0 = c_0 = 0.

It follows the layer contract of layers.py. Deep Learning from Scratch 2 builds the same layer (its TimeLSTM).
"""
import math

from .backend import cpu_xp, device_of, get_xp, make_rng, resolve_dtype, to_device
from .layers import check_forward_ran, check_positive_int


def orthogonal(rows, cols, rng):
    """A host float64 (rows, cols) matrix with orthonormal rows or columns (Keras's Orthogonal, gain 1).

    Draw a normal (max, min) matrix, take Q of its QR and fix the signs by diag(R) so Q is uniform
    (Saxe et al. 2013, arXiv 1312.6120; Mezzadri 2007), then transpose when there are fewer rows than columns.
    """
    big, small = max(rows, cols), min(rows, cols)
    a = cpu_xp.asarray(make_rng(rng).standard_normal((big, small)))
    q, r = cpu_xp.linalg.qr(a)
    q = q * cpu_xp.sign(cpu_xp.linalg.diagonal(r))  # (big, small)
    return q.T if rows < cols else q


class LSTM:
    """Long short-term memory, x: (N, T, D) -> out: (N, T, H) with return_sequences, else the last h: (N, H).

    Input kernel Glorot-uniform, U(-a, a) with a = sqrt(6 / (D + 4H)); recurrent kernel orthogonal; bias 0 but 1
    for the forget gate (Keras's unit_forget_bias, Jozefowicz et al. 2015): the cell keeps its memory at the
    start. Weights are drawn in float64 on the host from ``rng`` and moved once, as every init here.
    """

    def __init__(self, in_features, units, return_sequences=False, *, rng=None, xp=None, device=None,
                 dtype="float32"):
        check_positive_int("LSTM", "in_features", in_features)
        check_positive_int("LSTM", "units", units)
        self.in_features, self.units, self.return_sequences = in_features, units, bool(return_sequences)
        self.xp = cpu_xp if xp is None else xp
        dtype = resolve_dtype(self.xp, dtype)
        rng = make_rng(rng)
        H = units
        limit = math.sqrt(6.0 / (in_features + 4 * H))
        Wx = rng.uniform(-limit, limit, (in_features, 4 * H))  # (D, 4H), host float64
        Wh = orthogonal(H, 4 * H, rng)  # (H, 4H)
        b = [0.0] * H + [1.0] * H + [0.0] * 2 * H  # gate order i, f, g, o
        self.params = {"Wx": to_device(Wx, self.xp, device, dtype), "Wh": to_device(Wh, self.xp, device, dtype),
                       "b": to_device(b, self.xp, device, dtype)}
        self.grads = {name: self.xp.zeros_like(p) for name, p in self.params.items()}
        # One tanh serves all four gates: sigmoid(a) = 0.5 tanh(a / 2) + 0.5, so act = tanh(a * scale) * scale
        # + shift, with scale 0.5 on the sigmoid blocks and 1 on g (shift 0.5 and 0). One pass instead of four.
        self.scale = to_device([0.5] * 2 * H + [1.0] * H + [0.5] * H, self.xp, device, dtype)
        self.scale2 = self.scale * self.scale
        self.shift = to_device([0.5] * 2 * H + [0.0] * H + [0.5] * H, self.xp, device, dtype)
        self.x = None

    def __repr__(self):
        return f"LSTM({self.in_features}, {self.units}, return_sequences={self.return_sequences})"

    def spec(self):
        """The constructor arguments that rebuild this layer (saved with the weights)."""
        return {"type": "LSTM", "in_features": self.in_features, "units": self.units,
                "return_sequences": self.return_sequences}

    def forward(self, x):
        """x: (N, T, D) -> out: (N, T, H) or (N, H).  Caches every step's gates and cell for backward."""
        if x.ndim != 3 or x.shape[0] < 1 or x.shape[1] < 1 or x.shape[2] != self.in_features:
            raise ValueError(f"{self!r}: expected input of shape (N, T, {self.in_features}) with N, T >= 1, "
                             f"got {tuple(x.shape)}")
        Wx, Wh, b = self.params["Wx"], self.params["Wh"], self.params["b"]
        if x.dtype != Wx.dtype:  # NumPy would silently promote float32 weights to float64 here
            raise TypeError(f"{self!r}: input dtype {x.dtype} differs from the weights' {Wx.dtype}; cast x first")
        xp, H = get_xp(x), self.units
        n, steps, d = x.shape
        # Time-major, so that step t is one contiguous (N, 4H) block; all T input projections in one product.
        x_tm = xp.reshape(xp.permute_dims(x, (1, 0, 2)), (steps * n, d))  # (T N, D)
        xw = xp.reshape(x_tm @ Wx + b, (steps, n, 4 * H))  # (T, N, 4H)
        h = c = xp.zeros((n, H), dtype=x.dtype, device=device_of(x))
        self.h_prev, self.c_prev, self.zs, self.acts, self.tanh_c, hs = [], [], [], [], [], []
        for t in range(steps):
            # At t = 0, h is 0: h @ Wh would add zeros, so it is skipped (the gradient check covers T = 1).
            a = xw[t, ...] + h @ Wh if t else xw[t, ...]  # (N, 4H)
            z = xp.tanh(a * self.scale)
            act = z * self.scale
            act += self.shift  # columns: i, f, o in (0, 1), g in (-1, 1)
            i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
            self.h_prev.append(h)
            self.c_prev.append(c)
            c = f * c + i * g  # (N, H)
            tc = xp.tanh(c)
            h = o * tc  # (N, H)
            self.zs.append(z)
            self.acts.append(act)
            self.tanh_c.append(tc)
            hs.append(h)
        self.x, self.x_tm = x, x_tm
        if self.return_sequences:
            return xp.stack(hs, axis=1)  # (N, T, H)
        return h

    def backward(self, dout, *, input_grad=True):
        """dout: (N, T, H) or (N, H) -> dx: (N, T, D).  Backprop through time, from the last step to the first.

        With dh = dout_t + dh_next and dc_next, dh_next the gradients flowing back from step t + 1 (0 at t = T):
            do = dh * tanh(c_t),   dc = dc_next + dh * o * (1 - tanh(c_t)^2)
            di = dc * g,   df = dc * c_{t-1},   dg = dc * i,   dc_next = dc * f
            da = [di i (1 - i), df f (1 - f), dg (1 - g^2), do o (1 - o)]        (N, 4H)
            dh_next = da @ Wh.T
        then, summed over all steps in three products: dWx = x.T @ da, dWh = h_{t-1}.T @ da, db = sum of da,
        and dx_t = da_t @ Wx.T.
        """
        check_forward_ran(self, self.x)
        n, steps, _ = self.x.shape
        H = self.units
        want = (n, steps, H) if self.return_sequences else (n, H)
        if tuple(dout.shape) != want:
            raise ValueError(f"{self!r}: dout must have the output's shape {want}, got {tuple(dout.shape)}")
        xp, Wh = get_xp(dout), self.params["Wh"]
        dh_next = dc_next = None
        das = [None] * steps
        for t in reversed(range(steps)):
            if self.return_sequences:
                dh = dout[:, t, :] if dh_next is None else dout[:, t, :] + dh_next
            else:
                dh = dout if dh_next is None else dh_next
            act, tc = self.acts[t], self.tanh_c[t]
            i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
            dc = dh * o * (1.0 - tc * tc)
            if dc_next is not None:
                dc += dc_next
            dgates = xp.concat([dc * g, dc * self.c_prev[t], dc * i, dh * tc], axis=1)  # (N, 4H)
            # d act / d a = scale^2 (1 - z^2): s (1 - s) = (1 - z^2) / 4 for a sigmoid, 1 - g^2 for g.
            z = self.zs[t]
            da = 1.0 - z * z
            da *= self.scale2
            da *= dgates  # (N, 4H)
            das[t] = da
            dc_next = dc * f
            if t:  # the first step's h_{t-1} is the constant 0: no gradient flows past it
                dh_next = da @ Wh.T  # (N, H)
        da_all = xp.reshape(xp.stack(das, axis=0), (steps * n, 4 * H))  # (T N, 4H), time-major as x_tm
        h_prev = xp.reshape(xp.stack(self.h_prev, axis=0), (steps * n, H))  # (T N, H)
        self.grads["Wx"] = self.x_tm.T @ da_all  # (D, 4H)
        self.grads["Wh"] = h_prev.T @ da_all  # (H, 4H)
        self.grads["b"] = xp.sum(da_all, axis=0)  # (4H,)
        if not input_grad:
            return None
        dx_tm = xp.reshape(da_all @ self.params["Wx"].T, (steps, n, self.in_features))  # (T, N, D)
        return xp.permute_dims(dx_tm, (1, 0, 2))  # (N, T, D)
