"""im2col and col2im, the reference: a 2-D convolution as one matrix product, on NHWC activations.

im2col copies every k x k patch of an image into one row of a matrix, so that a convolution with a kernel of
shape (k, k, C, F) is ``cols @ W.reshape(k * k * C, F)``. It does so with k * k strided-slice copies, one per
kernel offset (i, j), which is all the array API offers and the clearest form to read. col2im is its exact adjoint
(sum(im2col(x) * dcols) == sum(x * col2im(dcols)) for every x, dcols): the same k * k slices, added into a zeroed
padded buffer (overlapping patches share pixels, and the array API has no scatter-add), then cropped.
These are the definitions; conv_fast.py holds the faster forms the layers may run, each tested equal to these.

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


def col2im(dcols, x_shape, k, s, out_hw, pads):
    """dcols: (N oh ow, k k C) -> dx: x_shape (N, H, W, C), the adjoint of im2col(x, k, s, out_hw, pads).

    dxpad[n, y s + i, x s + j, c] += dcols[(n, y, x), (i, j, c)] on a zeroed padded buffer, which is then cropped:
    each pixel gets the sum of the entries of every patch that holds it, and the padding's share is dropped.
    """
    xp = get_xp(dcols)
    n, h, w, c = x_shape
    oh, ow = out_hw
    top, bottom, left, right = pads
    dcols = xp.reshape(dcols, (n, oh, ow, k * k, c))
    dxpad = xp.zeros((n, h + top + bottom, w + left + right, c), dtype=dcols.dtype, device=device_of(dcols))
    for i in range(k):
        for j in range(k):
            # Patches overlap when s < k, so this adds; assignment would keep only the last patch's share.
            dxpad[:, window(k, s, oh, i), window(k, s, ow, j), :] += dcols[:, :, :, i * k + j, :]
    return crop2d(dxpad, pads)
