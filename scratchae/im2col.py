"""im2col and col2im: a 2-D convolution as one matrix product, on NHWC activations.

im2col copies every k x k patch of an image into one row of a matrix, so that a convolution with a kernel of
shape (k, k, C, F) is ``cols @ W.reshape(k * k * C, F)``. It does so with k * k strided-slice copies, one per
kernel offset (i, j), which is all the array API offers and the clearest form to read. col2im is its exact adjoint
(sum(im2col(x) * dcols) == sum(x * col2im(dcols)) for every x, dcols): the same k * k slices, added into a zeroed
buffer, because overlapping patches share pixels and the array API has no scatter-add.

Padding follows TensorFlow (and so Keras): "same" gives out = ceil(size / s) and splits the total padding
max((out - 1) s + k - size, 0) with the odd pixel at the bottom and right; "valid" pads nothing.
"""
from .backend import device_of, get_xp

PADDINGS = ("same", "valid")


def conv_geometry(size, k, s, padding):
    """Along one axis of length ``size``: (out, pad_before, pad_after) of a k-wide, stride-s convolution."""
    if padding == "same":
        out = -(-size // s)  # ceil(size / s) in integers
        total = max((out - 1) * s + k - size, 0)
        return out, total // 2, total - total // 2
    return (size - k) // s + 1, 0, 0


def transpose_size(size, k, s, padding):
    """The output length of a transposed convolution of an input of length ``size`` (Keras's rule)."""
    return size * s if padding == "same" else size * s + max(k - s, 0)


def pad2d(x, pads, value=0.0):
    """x: (N, H, W, C) -> (N, H + top + bottom, W + left + right, C), the border filled with ``value``.

    pads = (top, bottom, left, right). Returns x itself when there is nothing to pad.
    """
    top, bottom, left, right = pads
    if not any(pads):
        return x
    xp = get_xp(x)
    n, h, w, c = x.shape
    out = xp.full((n, h + top + bottom, w + left + right, c), value, dtype=x.dtype, device=device_of(x))
    out[:, top:top + h, left:left + w, :] = x
    return out


def crop2d(xpad, pads):
    """The inverse of pad2d's placement: xpad: (N, Hp, Wp, C) -> its interior (N, Hp - top - bottom, ..., C)."""
    top, bottom, left, right = pads
    return xpad[:, top:xpad.shape[1] - bottom, left:xpad.shape[2] - right, :]


def window(k, s, out, i):
    """The slice along one axis that kernel offset i reads for every one of the ``out`` output positions.

    Its stop, i + s (out - 1) + 1, never runs past the padded axis (array_api_strict rejects that).
    """
    return slice(i, i + s * (out - 1) + 1, s)


def im2col(x, k, s, out_hw, pads):
    """x: (N, H, W, C) -> cols: (N oh ow, k k C), cols[(n, y, x), (i, j, c)] = xpad[n, y s + i, x s + j, c], where
    xpad is x with ``pads`` = (top, bottom, left, right) rows and columns of zeros around it.

    The column order (i, j, c) is the row-major order of a (k, k, C, F) kernel, so W.reshape(k k C, F) lines
    up with no transpose.
    """
    xp = get_xp(x)
    xpad = pad2d(x, pads)
    n, c = x.shape[0], x.shape[3]
    oh, ow = out_hw
    patches = [xpad[:, window(k, s, oh, i), window(k, s, ow, j), :] for i in range(k) for j in range(k)]
    cols = xp.stack(patches, axis=3)  # (N, oh, ow, k k, C)
    return xp.reshape(cols, (n * oh * ow, k * k * c))


def im2col_take(x, k, s, out_hw, pads):
    """The same columns as im2col, gathered by one xp.take with the flat index of every patch pixel.

    One gather instead of k k slice copies and a stack: measured here (NumPy, one thread, interleaved medians)
    1.3x faster on the 14x14x64 and 1.9x on the 28x28x32 transposed-convolution inputs of keras-conv.
    """
    xp = get_xp(x)
    xpad = pad2d(x, pads)
    n, hp, wp, c = xpad.shape
    oh, ow = out_hw
    dev = device_of(x)
    rows = xp.reshape(xp.arange(oh, device=dev) * s, (oh, 1, 1, 1)) + xp.reshape(xp.arange(k, device=dev), (1, 1, k, 1))
    cols = xp.reshape(xp.arange(ow, device=dev) * s, (1, ow, 1, 1)) + xp.reshape(xp.arange(k, device=dev), (1, 1, 1, k))
    index = xp.reshape(rows * wp + cols, (-1,))  # (oh ow k k,): flat pixel of patch (y, x), tap (i, j)
    patches = xp.take(xp.reshape(xpad, (n, hp * wp, c)), index, axis=1)  # (N, oh ow k k, C)
    return xp.reshape(patches, (n * oh * ow, k * k * c))


def tap_range(i, before, size, s, out):
    """For kernel offset i along one axis: the output positions y in [lo, hi) whose input pixel y s + i - before
    lies inside the unpadded axis of length ``size``, and that pixel's index for y = lo."""
    lo = max(0, -((i - before) // s))  # ceil((before - i) / s), at least 0
    hi = min(out, (size - 1 + before - i) // s + 1)
    return lo, hi, lo * s + i - before


def col2im(dcols, x_shape, k, s, out_hw, pads, start=None):
    """dcols: (N oh ow, k k C) -> dx: x_shape (N, H, W, C), the adjoint of im2col(x, k, s, out_hw, pads).

    Each pixel receives the sum of the entries of every patch that contains it; entries that fall on the padding
    are dropped, so no padded buffer is made. The sum starts from zero, or from ``start`` (broadcast to x_shape,
    e.g. a bias): one pass fewer than adding it afterwards.
    """
    xp = get_xp(dcols)
    n, h, w, c = x_shape
    oh, ow = out_hw
    top, _, left, _ = pads
    dcols = xp.reshape(dcols, (n, oh, ow, k * k, c))
    dx = xp.zeros(x_shape, dtype=dcols.dtype, device=device_of(dcols))
    if start is not None:
        dx += start
    for i in range(k):
        y0, y1, r = tap_range(i, top, h, s, oh)
        for j in range(k):
            x0, x1, q = tap_range(j, left, w, s, ow)
            if y1 > y0 and x1 > x0:
                rows, cols = slice(r, r + s * (y1 - y0 - 1) + 1, s), slice(q, q + s * (x1 - x0 - 1) + 1, s)
                dx[:, rows, cols, :] += dcols[:, y0:y1, x0:x1, i * k + j, :]
    return dx


def shift_add(y, k, out_hw, pads, start=None):
    """y: (N, H, W, k k, F) -> out: (N, oh, ow, F), out[n, p, q] = sum over (i, j) of
    y[n, p + i - top, q + j - left, (i, j)] (stride 1; terms on the padding are zero and skipped), from ``start``.

    The last step of a stride-1 convolution computed from the output side: y[n, p, q, (i, j)] = x[n, p, q] @ W[i, j]
    is what pixel (p, q) gives, through tap (i, j), to output (p - i + top, q - j + left).
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
