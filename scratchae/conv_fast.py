"""The measured speed-ups of the convolution layers; each one equals a reference in im2col.py.

Kept because each buys a clear share of a keras-conv epoch; an unpadded col2im (clipped slices, no padded
buffer) was measured too and removed: its gain on the epoch was within the noise, so the layers call im2col.col2im.

im2col.py holds the definitions that lesson 09 prints. This module holds faster forms of the same numbers,
and conv.py's FAST switch says which of them the layers run. Each docstring names the reference it equals and
what it bought on keras-conv (benchmarks/README.md, "Fast paths"); tests/test_conv_fast.py pins each one to its
reference on every backend. Only array-API calls on ``xp = get_xp(x)``, as everywhere in the library.
"""
from .backend import device_of, get_xp
from .im2col import pad2d


def im2col_take(x, k, s, out_hw, pads):
    """Equals im2col(x, k, s, out_hw, pads): the same (N oh ow, k k C) columns, from one xp.take.

    The flat index of pixel (y s + i, x s + j) is (y s + i) Wp + x s + j, so one gather replaces k k slice copies
    and a stack: 14% to 24% of a keras-conv epoch saved, at 1 and 2 threads.
    """
    xp = get_xp(x)
    xpad = pad2d(x, pads)
    n, hp, wp, c = xpad.shape
    oh, ow = out_hw
    index = patch_index(xp, device_of(x), k, s, out_hw, wp)  # (oh ow k k,)
    patches = xp.take(xp.reshape(xpad, (n, hp * wp, c)), index, axis=1)  # (N, oh ow k k, C)
    return xp.reshape(patches, (n * oh * ow, k * k * c))


_PATCH_INDEX = {}  # (namespace, device, k, s, out_hw, wp) -> index: made once, not ten operations every step


def patch_index(xp, device, k, s, out_hw, wp):
    """im2col_take's gather index: (oh ow k k,), entry (y, x, i, j) = (y s + i) wp + x s + j, kept per shape."""
    key = (xp, str(device), k, s, tuple(out_hw), wp)  # str: a device need not be hashable
    if key not in _PATCH_INDEX:
        oh, ow = out_hw
        rows = xp.reshape(xp.arange(oh, device=device) * s, (oh, 1, 1, 1)) + xp.reshape(xp.arange(k, device=device),
                                                                                       (1, 1, k, 1))
        cols = xp.reshape(xp.arange(ow, device=device) * s, (1, ow, 1, 1)) + xp.reshape(xp.arange(k, device=device),
                                                                                       (1, 1, 1, k))
        _PATCH_INDEX[key] = xp.reshape(rows * wp + cols, (-1,))  # flat pixel of patch (y, x), tap (i, j)
    return _PATCH_INDEX[key]


def tap_range(i, before, size, s, out):
    """For kernel offset i along one axis: the output positions y in [lo, hi) whose input pixel y s + i - before
    lies inside the unpadded axis of length ``size``, and that pixel's index for y = lo."""
    lo = max(0, -((i - before) // s))  # ceil((before - i) / s), at least 0
    hi = min(out, (size - 1 + before - i) // s + 1)
    return lo, hi, lo * s + i - before


def shift_add(y, k, out_hw, pads, start=None):
    """y: (N, H, W, k k, F) -> out: (N, oh, ow, F), out[n, p, q] = sum over (i, j) of
    y[n, p + i - top, q + j - left, (i, j)] (stride 1; terms on the padding are zero and skipped), from ``start``.

    y[n, p, q, (i, j)] = x[n, p, q] @ W[i, j] is what pixel (p, q) gives, through tap (i, j), to output
    (p - i + top, q - j + left): the last step of a stride-1 convolution computed from the output side.
    """
    xp = get_xp(y)
    n, h, w, _, f = y.shape
    oh, ow = out_hw
    top, _, left, _ = pads
    out = xp.zeros((n, oh, ow, f), dtype=y.dtype, device=device_of(y))
    if start is not None:
        out += start
    for i in range(k):
        y0, y1, r = tap_range(i, top, h, 1, oh)
        for j in range(k):
            x0, x1, q = tap_range(j, left, w, 1, ow)
            if y1 > y0 and x1 > x0:
                out[:, y0:y1, x0:x1, :] += y[:, r:r + y1 - y0, q:q + x1 - x0, i * k + j, :]
    return out


def shift_spread(dout, x_hw, k, pads):
    """The adjoint of shift_add: dout: (N, oh, ow, F) -> dy: (N, H, W, k k, F), zero but for
    dy[n, p + i - top, q + j - left, (i, j)] = dout[n, p, q] where that pixel lies inside H x W."""
    xp = get_xp(dout)
    n, oh, ow, f = dout.shape
    h, w = x_hw
    top, _, left, _ = pads
    dy = xp.zeros((n, h, w, k * k, f), dtype=dout.dtype, device=device_of(dout))
    for i in range(k):
        y0, y1, r = tap_range(i, top, h, 1, oh)
        for j in range(k):
            x0, x1, q = tap_range(j, left, w, 1, ow)
            if y1 > y0 and x1 > x0:
                dy[:, r:r + y1 - y0, q:q + x1 - x0, i * k + j, :] = dout[:, y0:y1, x0:x1, :]
    return dy


def kernel_by_input(W):
    """W: (k, k, C, F) -> (C, k k F): row c holds what input channel c gives to every tap and filter."""
    xp = get_xp(W)
    k, _, c, f = W.shape
    return xp.reshape(xp.permute_dims(W, (2, 0, 1, 3)), (c, k * k * f))


def conv_forward_by_output(x, W, b, out_hw, pads):
    """Equals Conv2D's im2col forward at stride 1: x: (N, H, W, C) -> out: (N, oh, ow, F).

    out = shift_add(x @ kernel_by_input(W)) + b. Its big array has k k F columns instead of im2col's k k C, which
    pays when F < C (keras-conv's last layer, 32 -> 1: 9 columns instead of 288): 38% to 55% of the epoch saved.
    """
    xp = get_xp(x)
    n, h, w, c = x.shape
    k, f = W.shape[0], W.shape[3]
    y = xp.reshape(xp.reshape(x, (-1, c)) @ kernel_by_input(W), (n, h, w, k * k, f))  # (N, H, W, k k, F)
    return shift_add(y, k, out_hw, pads, start=b)


def conv_backward_by_output(x, W, dout, pads, input_grad=True):
    """The backward of conv_forward_by_output: dout: (N, oh, ow, F) -> (dx or None, dW, db).

    dy = shift_spread(dout): (N H W, k k F); dW = x.T @ dy, db = dout summed over N, oh, ow, dx = dy @ W'.T,
    with no (M, F) @ (F, k k C) product and no col2im.
    """
    xp = get_xp(dout)
    n, h, w, c = x.shape
    k, f = W.shape[0], W.shape[3]
    dy = xp.reshape(shift_spread(dout, (h, w), k, pads), (-1, k * k * f))  # (N H W, k k F)
    dW = xp.reshape(xp.reshape(x, (-1, c)).T @ dy, (c, k, k, f))  # (C, k, k, F)
    db = xp.sum(xp.reshape(dout, (-1, f)), axis=0)  # (F,)
    dx = xp.reshape(dy @ kernel_by_input(W).T, (n, h, w, c)) if input_grad else None  # (N, H, W, C)
    return dx, xp.permute_dims(dW, (1, 2, 0, 3)), db
