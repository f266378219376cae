"""The LSTM of lstm.py with fewer array operations per time step: the same parameters, results and checkpoints.

lstm.py's ``LSTM`` is the layer lesson 15 teaches, and it stays as it reads. ``FastLSTM`` inherits its weights,
initialisation and ``spec()`` (a checkpoint names the type "LSTM" either way) and computes the same forward and
gradients in another order (tests/test_lstm_fast.py checks them against it, to rounding):

- forward: the kernels and bias are multiplied by the gate scale once per call (0.5 on the sigmoid blocks, 1 on
  g; exact, since both are powers of two), so a step's pre-activation needs no ``a * scale``; the recurrent
  product is added in place to the input projection, and the one tanh's ``z * scale + shift`` is done in place
  with full (N, 4H) arrays. Per step: one product, 9 elementwise operations, 6 new arrays (the plain loop: 10, 10).
- backward: each gate's derivative is written from its activation, ``u act - act^2 + v`` (u = 1, v = 0 on the
  sigmoids, u = 0, v = 1 on g), then multiplied by the factor each gate meets, [g, c_{t-1}, i, tanh(c_t)], and by
  [dc, dc, dc, dh]; Wh.T is multiplied as a row-major copy; dWh reuses the stacked hidden states of the forward.
  Per step: one product, 14 elementwise operations, 8 new arrays (the plain loop: 16, 14).

benchmarks/README.md (seq2seq) gives the measurements, and the rearrangements that were tried and not kept.
"""
from .backend import device_of, get_xp, to_device
from .layers import check_forward_ran
from .lstm import LSTM


class FastLSTM(LSTM):
    """LSTM (same constructor, weights and checkpoints) with a shorter time loop; see the module docstring."""

    def __init__(self, in_features, units, return_sequences=False, *, rng=None, xp=None, device=None,
                 dtype="float32"):
        super().__init__(in_features, units, return_sequences, rng=rng, xp=xp, device=device, dtype=dtype)
        W = self.params["Wx"]
        # 1 on the sigmoid blocks i, f, o and 0 on g, and the other way round (4H,): see backward.
        self.sigmoid_blocks = to_device([1.0] * 2 * units + [0.0] * units + [1.0] * units, self.xp, device_of(W),
                                        W.dtype)
        self.tanh_block = 1.0 - self.sigmoid_blocks

    def __repr__(self):
        return f"FastLSTM({self.in_features}, {self.units}, return_sequences={self.return_sequences})"

    def forward(self, x):
        """x: (N, T, D) -> out: (N, T, H) or (N, H).  Caches every step's gates, cell and tanh(cell)."""
        if x.ndim != 3 or x.shape[0] < 1 or x.shape[1] < 1 or x.shape[2] != self.in_features:
            raise ValueError(f"{self!r}: expected input of shape (N, T, {self.in_features}) with N, T >= 1, "
                             f"got {tuple(x.shape)}")
        Wx, Wh, b = self.params["Wx"], self.params["Wh"], self.params["b"]
        if x.dtype != Wx.dtype:  # NumPy would silently promote float32 weights to float64 here
            raise TypeError(f"{self!r}: input dtype {x.dtype} differs from the weights' {Wx.dtype}; cast x first")
        xp, H = get_xp(x), self.units
        n, steps, d = x.shape
        # Scaling by 0.5 or 1 is exact, so (x Wx + h Wh + b) * scale equals x (Wx scale) + h (Wh scale) + b scale.
        Wx_s, Wh_s, b_s = Wx * self.scale, Wh * self.scale, b * self.scale
        x_tm = xp.reshape(xp.permute_dims(x, (1, 0, 2)), (steps * n, d))  # (T N, D), time-major
        a_in = x_tm @ Wx_s  # (T N, 4H): the scaled input pre-activations of all steps in one product
        a_in += b_s  # in place: one (T N, 4H) temporary instead of two
        a_in = xp.reshape(a_in, (steps, n, 4 * H))  # (T, N, 4H)
        # scale and shift as full (N, 4H) arrays: an in-place product with a same-shape array is about twice as fast
        # in NumPy as one that broadcasts a (4H,) row.
        ones = xp.ones((n, 4 * H), dtype=x.dtype, device=device_of(x))
        scale, shift = ones * self.scale, ones * self.shift  # (N, 4H)
        acts, cells, tanh_cells, hs = [], [], [], []
        for t in range(steps):
            if t:  # h_0 = 0: the first step has no recurrent product
                a = h @ Wh_s  # (N, 4H)
                a += a_in[t, ...]
            else:
                a = a_in[0, ...]
            act = xp.tanh(a)
            act *= scale
            act += shift  # i, f, o in (0, 1), g in (-1, 1)
            i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
            if t:
                c = f * c
                c += i * g  # (N, H)
            else:  # c_0 = 0
                c = i * g
            tc = xp.tanh(c)
            h = o * tc  # (N, H)
            acts.append(act)
            cells.append(c)
            tanh_cells.append(tc)
            hs.append(h)
        self.x, self.x_tm = x, x_tm
        self.acts, self.cells, self.tanh_cells = acts, cells, tanh_cells
        self.zero_cell = xp.zeros((n, H), dtype=x.dtype, device=device_of(x))
        self.hs = xp.stack(hs, axis=0)  # (T, N, H); shared with the output, which layers never write into
        if self.return_sequences:
            return xp.permute_dims(self.hs, (1, 0, 2))  # (N, T, H)
        return h

    def backward(self, dout, *, input_grad=True):
        """dout: (N, T, H) or (N, H) -> dx: (N, T, D).  LSTM.backward's formulas with fewer operations per step.

        Per step, with dh = dout_t + dh_next:  dc = dh o (1 - tanh(c_t)^2) + dc_next,
        da = (u act - act^2 + v) [g, c_{t-1}, i, tanh(c_t)] [dc, dc, dc, dh],  dc_next = dc f,  dh_next = da @ Wh.T;
        after the loop dWx = x.T @ da, dWh = h_{t-1}.T @ da, db = sum of da, dx = da @ Wx.T over all steps at once.
        """
        check_forward_ran(self, self.x)
        n, steps, _ = self.x.shape
        H = self.units
        want = (n, steps, H) if self.return_sequences else (n, H)
        if tuple(dout.shape) != want:
            raise ValueError(f"{self!r}: dout must have the output's shape {want}, got {tuple(dout.shape)}")
        xp, Wh = get_xp(dout), self.params["Wh"]
        # Wh.T as a row-major copy (flattened in row order, then reshaped): the product per step is faster on it.
        Wh_t = xp.reshape(xp.reshape(Wh.T, (-1,)), (4 * H, H))  # (4H, H)
        ones = xp.ones((n, 4 * H), dtype=dout.dtype, device=device_of(dout))
        sigmoid_blocks, tanh_block = ones * self.sigmoid_blocks, ones * self.tanh_block  # (N, 4H), as in forward
        if self.return_sequences:
            dout_tm = xp.permute_dims(dout, (1, 0, 2))  # (T, N, H)
        dh_next = dc_next = None
        das = [None] * steps
        for t in reversed(range(steps)):
            if self.return_sequences:
                dh = dout_tm[t, ...] if dh_next is None else dout_tm[t, ...] + dh_next
            else:
                dh = dout if dh_next is None else dh_next
            act, tc = self.acts[t], self.tanh_cells[t]
            i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
            dc = tc * tc
            dc = 1.0 - dc
            dc *= o
            dc *= dh
            if dc_next is not None:
                dc += dc_next  # (N, H)
            c_prev = self.cells[t - 1] if t else self.zero_cell
            da = sigmoid_blocks - act
            da *= act
            da += tanh_block  # s (1 - s) on i, f, o and 1 - g^2 on g
            da *= xp.concat([g, c_prev, i, tc], axis=1)
            da *= xp.concat([dc, dc, dc, dh], axis=1)  # (N, 4H)
            das[t] = da
            dc_next = dc * f
            if t:  # the first step's h_{t-1} is the constant 0: no gradient flows past it
                dh_next = da @ Wh_t  # (N, H)
        da_all = xp.reshape(xp.stack(das, axis=0), (steps * n, 4 * H))  # (T N, 4H), time-major as x_tm
        self.grads["Wx"] = self.x_tm.T @ da_all  # (D, 4H)
        if steps > 1:  # h_0 = 0 adds nothing to dWh
            h_prev = xp.reshape(self.hs[:-1, ...], ((steps - 1) * n, H))  # ((T-1) N, H)
            self.grads["Wh"] = h_prev.T @ da_all[n:, ...]  # (H, 4H)
        else:
            self.grads["Wh"] = xp.zeros_like(Wh)
        self.grads["b"] = xp.sum(da_all, axis=0)  # (4H,)
        if not input_grad:
            return None
        dx_tm = xp.reshape(da_all @ self.params["Wx"].T, (steps, n, self.in_features))  # (T, N, D)
        return xp.permute_dims(dx_tm, (1, 0, 2))  # (N, T, D)
