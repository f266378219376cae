"""The fast paths of conv_fast.py against the reference of im2col.py, on every backend, in float64: each fast
function equals its reference, the reference col2im is the adjoint of im2col, and the layers give the same
numbers (forward, dx, dW, db) with conv.FAST on and off."""
import numpy as np
import pytest

from conftest import host
from scratchae import Conv2D, Conv2DTranspose, assert_close, check_layer
from scratchae import conv
from scratchae.conv_fast import conv_backward_by_output, conv_forward_by_output, im2col_take, shift_add, shift_spread
from scratchae.gradcheck import random_like
from scratchae.im2col import col2im, conv_geometry, im2col

# (k, s, H, W, padding): strides 1 to 3, "same" and "valid", odd and even, non-square, k = 1 and k > s.
GEOMETRIES = [(3, 2, 8, 9, "same"), (3, 2, 7, 7, "same"), (3, 1, 5, 6, "same"), (3, 1, 6, 5, "valid"),
              (3, 2, 9, 8, "valid"), (2, 3, 9, 10, "valid"), (4, 3, 10, 7, "same"), (5, 1, 4, 5, "same"),
              (1, 1, 3, 4, "valid")]
ALL_OFF = {name: False for name in conv.FAST}


def _setup(backend, rng, k, s, h, w, padding, c=3):
    oh, top, bottom = conv_geometry(h, k, s, padding)
    ow, left, right = conv_geometry(w, k, s, padding)
    x = backend.asarray(rng.standard_normal((2, h, w, c)))
    return x, (oh, ow), (top, bottom, left, right)


@pytest.mark.parametrize("k, s, h, w, padding", GEOMETRIES)
def test_reference_col2im_is_the_adjoint_of_im2col(backend, rng, k, s, h, w, padding):
    # <im2col(x), d> == <x, col2im(d)> for random x and d: the identity every backward here relies on.
    x, out_hw, pads = _setup(backend, rng, k, s, h, w, padding)
    d = backend.asarray(rng.standard_normal((2 * out_hw[0] * out_hw[1], k * k * 3)))
    lhs = float(backend.xp.sum(im2col(x, k, s, out_hw, pads) * d))
    rhs = float(backend.xp.sum(x * col2im(d, tuple(x.shape), k, s, out_hw, pads)))
    assert lhs == pytest.approx(rhs, rel=1e-12)


@pytest.mark.parametrize("k, s, h, w, padding", GEOMETRIES)
def test_im2col_take_equals_im2col(backend, rng, k, s, h, w, padding):
    x, out_hw, pads = _setup(backend, rng, k, s, h, w, padding)
    np.testing.assert_array_equal(host(im2col_take(x, k, s, out_hw, pads)), host(im2col(x, k, s, out_hw, pads)))


@pytest.mark.parametrize("k, s, h, w, padding", [g for g in GEOMETRIES if g[1] == 1])
@pytest.mark.parametrize("c, f", [(4, 1), (5, 2), (2, 3)])
def test_by_output_equals_im2col_conv(backend, rng, k, s, h, w, padding, c, f):
    """conv_forward_by_output and its backward against im2col @ W + b and its backward, built here by hand."""
    xp = backend.xp
    x, out_hw, pads = _setup(backend, rng, k, s, h, w, padding, c)
    W, b = backend.asarray(rng.standard_normal((k, k, c, f))), backend.asarray(rng.standard_normal(f))
    cols = im2col(x, k, 1, out_hw, pads)  # (N oh ow, k k C)
    W2 = xp.reshape(W, (k * k * c, f))
    ref = xp.reshape(cols @ W2 + b, (2, *out_hw, f))
    np.testing.assert_allclose(host(conv_forward_by_output(x, W, b, out_hw, pads)), host(ref), rtol=1e-12,
                               atol=1e-12)
    dout = random_like(ref, rng)
    dout2 = xp.reshape(dout, (-1, f))
    dx, dW, db = conv_backward_by_output(x, W, dout, pads)
    refs = (col2im(dout2 @ W2.T, tuple(x.shape), k, 1, out_hw, pads), xp.reshape(cols.T @ dout2, (k, k, c, f)),
            xp.sum(dout2, axis=0))
    for got, want in zip((dx, dW, db), refs):
        np.testing.assert_allclose(host(got), host(want), rtol=1e-12, atol=1e-12)
    assert conv_backward_by_output(x, W, dout, pads, input_grad=False)[0] is None


@pytest.mark.parametrize("k, s, h, w, padding", [g for g in GEOMETRIES if g[1] == 1])
def test_shift_spread_is_the_adjoint_of_shift_add(backend, rng, k, s, h, w, padding):
    _, out_hw, pads = _setup(backend, rng, k, s, h, w, padding)
    y = backend.asarray(rng.standard_normal((2, h, w, k * k, 4)))
    dout = backend.asarray(rng.standard_normal((2, *out_hw, 4)))
    lhs = float(backend.xp.sum(shift_add(y, k, out_hw, pads) * dout))
    rhs = float(backend.xp.sum(y * shift_spread(dout, (h, w), k, pads)))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def _run(layer, x, dout):
    out = layer.forward(x)
    dx = layer.backward(dout)
    return [host(a) for a in (out, dx, layer.grads["W"], layer.grads["b"])]


@pytest.mark.parametrize("make, shape", [
    (lambda kw: Conv2D(4, 1, 3, **kw), (2, 7, 6, 4)),  # stride 1, F < C: the output-side path
    (lambda kw: Conv2D(5, 2, 3, padding="valid", **kw), (2, 6, 7, 5)),
    (lambda kw: Conv2D(3, 4, 3, stride=2, **kw), (2, 7, 8, 3)),
    (lambda kw: Conv2D(3, 4, 3, stride=2, padding="valid", **kw), (1, 9, 7, 3)),
    (lambda kw: Conv2D(3, 5, 3, **kw), (2, 5, 5, 3)),
    (lambda kw: Conv2DTranspose(3, 2, 3, stride=2, **kw), (2, 4, 5, 3)),
    (lambda kw: Conv2DTranspose(3, 2, 3, stride=2, padding="valid", **kw), (2, 3, 3, 3)),
    (lambda kw: Conv2DTranspose(4, 2, 3, stride=1, **kw), (1, 5, 4, 4))],
    ids=["c2d-4to1-s1", "c2d-5to2-valid", "c2d-s2-odd", "c2d-s2-valid", "c2d-3to5", "c2dt-s2", "c2dt-s2-valid",
         "c2dt-s1"])
def test_layers_fast_equal_reference(backend, rng, monkeypatch, make, shape):
    """The same layer, the same weights and batch: conv.FAST all on against all off (the lesson's reference)."""
    layer = make({"rng": rng, **backend.kw()})
    layer.params["b"][...] = backend.asarray(rng.standard_normal(layer.filters))
    x = backend.asarray(rng.standard_normal(shape))
    dout = random_like(layer.forward(x), rng)
    fast = _run(layer, x, dout)
    for name, on in ALL_OFF.items():
        monkeypatch.setitem(conv.FAST, name, on)
    assert not getattr(layer, "by_output", False)
    for got, want in zip(fast, _run(layer, x, dout)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make, shape", [
    (lambda rng, kw: Conv2D(3, 1, 3, rng=rng, **kw), (2, 5, 6, 3)),
    (lambda rng, kw: Conv2D(3, 4, 3, stride=2, rng=rng, **kw), (2, 7, 7, 3)),
    (lambda rng, kw: Conv2DTranspose(3, 2, 3, stride=2, rng=rng, **kw), (2, 4, 3, 3)),
    (lambda rng, kw: Conv2DTranspose(3, 2, 3, stride=2, padding="valid", rng=rng, **kw), (1, 3, 3, 3))],
    ids=["c2d-s1", "c2d-s2", "c2dt-same", "c2dt-valid"])
def test_reference_path_gradcheck(backend, rng, record_gradcheck, monkeypatch, make, shape):
    """The reference (all of conv.FAST off) passes the same gradient check as the fast path in test_conv.py."""
    for name, on in ALL_OFF.items():
        monkeypatch.setitem(conv.FAST, name, on)
    layer = make(rng, backend.kw())
    report = record_gradcheck(check_layer(layer, backend.asarray(rng.standard_normal(shape)), rng=rng,
                                          max_entries=40))
    assert_close(report, 1e-7)


@pytest.mark.parametrize("module", ["conv.py", "conv_fast.py", "im2col.py", "pooling.py"])
def test_conv_modules_stay_on_the_array_api(module):
    """Math code takes xp from its data: no numpy or cupy import in the convolution modules."""
    import ast
    import pathlib

    tree = ast.parse((pathlib.Path(conv.__file__).parent / module).read_text())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.split(".")[0] in ("numpy", "cupy")], imported
