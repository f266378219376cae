"""Convolution, pooling and reshaping layers: float64 gradient checks with a random upstream gradient on every
backend, Keras's padding and shapes, the pooling tie rule, a PyTorch float64 oracle, and misuse errors."""
import math

import numpy as np
import pytest

from conftest import host
from scratchae import (Conv2D, Conv2DTranspose, Flatten, MaxPool2D, Reshape, Sequential, UpSampling2D,
                       assert_close, check_layer, load_model, save_model)
from scratchae.gradcheck import random_like
from scratchae.im2col import col2im, conv_geometry, im2col

TOL = 1e-7
PROBES = 40  # entries probed per array: every kernel offset and channel gets hit, and each check stays fast


@pytest.mark.parametrize("stride, size, padding, out", [
    (1, 7, "same", 7), (2, 7, "same", 4), (2, 8, "same", 4), (2, 6, "valid", 2), (1, 5, "valid", 3),
    (2, 7, "valid", 3)])
@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("channels", [(3, 4), (3, 1)], ids=["3to4", "3to1"])  # 3to1 at stride 1: the output side
def test_conv2d_gradcheck(backend, rng, record_gradcheck, stride, size, padding, out, batch, channels):
    layer = Conv2D(*channels, 3, stride=stride, padding=padding, rng=rng, **backend.kw())
    assert layer.by_output == (stride == 1 and channels[1] == 1)
    x = backend.asarray(rng.standard_normal((batch, size, size + 1 if stride == 1 else size, 3)))
    report = record_gradcheck(check_layer(layer, x, rng=rng, max_entries=PROBES))
    assert layer.out_shape[:2] == (batch, out) and set(report) == {"x", "W", "b"}
    assert_close(report, TOL)


@pytest.mark.parametrize("stride, size, padding, out", [
    (2, 4, "same", 8), (2, 7, "same", 14), (1, 5, "same", 5), (2, 4, "valid", 9), (3, 3, "valid", 9)])
@pytest.mark.parametrize("batch", [1, 2])
def test_conv2d_transpose_gradcheck(backend, rng, record_gradcheck, stride, size, padding, out, batch):
    layer = Conv2DTranspose(3, 2, 3, stride=stride, padding=padding, rng=rng, **backend.kw())
    x = backend.asarray(rng.standard_normal((batch, size, size, 3)))
    report = record_gradcheck(check_layer(layer, x, rng=rng, max_entries=PROBES))
    assert layer.out_shape == (batch, out, out, 2) and layer.params["W"].shape == (3, 3, 2, 3)
    assert_close(report, TOL)


@pytest.mark.parametrize("size, padding, out", [(8, "valid", 4), (7, "valid", 3), (7, "same", 4), (6, "same", 3)])
@pytest.mark.parametrize("batch", [1, 2])
def test_maxpool_gradcheck_on_continuous_data(backend, rng, record_gradcheck, size, padding, out, batch):
    # Random normal data has no ties (a tie would be split by central differences; the rule is tested below).
    layer = MaxPool2D(2, padding=padding)
    x = backend.asarray(rng.standard_normal((batch, size, size, 3)))
    report = record_gradcheck(check_layer(layer, x, rng=rng))
    assert layer.out_shape == (batch, out, out, 3)
    assert_close(report, TOL)


@pytest.mark.parametrize("make, shape", [
    (lambda: UpSampling2D(2), (2, 3, 4, 2)), (lambda: UpSampling2D(3), (1, 2, 2, 1)), (lambda: Flatten(), (2, 3, 4, 2)),
    (lambda: Reshape((3, 4, 2)), (2, 24)), (lambda: Reshape((2, 12)), (1, 4, 3, 2))],
    ids=["up2", "up3", "flatten", "reshape", "reshape4d"])
def test_shape_layers_gradcheck(backend, rng, record_gradcheck, make, shape):
    assert_close(record_gradcheck(check_layer(make(), backend.asarray(rng.standard_normal(shape)), rng=rng)), TOL)


@pytest.mark.parametrize("size, k, s, expected", [
    (28, 3, 2, (14, 0, 1)), (14, 3, 2, (7, 0, 1)), (7, 3, 2, (4, 1, 1)), (28, 3, 1, (28, 1, 1)),
    (5, 2, 2, (3, 0, 1)), (6, 1, 3, (2, 0, 0))])
def test_same_padding_is_tensorflows(size, k, s, expected):
    assert conv_geometry(size, k, s, "same") == expected
    assert conv_geometry(size, k, s, "valid") == ((size - k) // s + 1, 0, 0)


def test_im2col_columns_follow_the_kernel_layout(rng):
    x = rng.standard_normal((1, 4, 4, 2))
    cols = im2col(x, 3, 1, (2, 2), (0, 0, 0, 0))
    # Row (n, y, x), column (i, j, c) is x[n, y + i, x + j, c]: row 3 is the patch at (1, 1).
    np.testing.assert_array_equal(cols[3], x[0, 1:4, 1:4, :].reshape(-1))


def test_maxpool_ties_go_to_the_first_maximum():
    x = np.array([[1, 1, 2, 0], [1, 0, 2, 2], [0, 0, -1, 5], [0, 0, 5, 5]], dtype=np.float64)[None, :, :, None]
    pool = MaxPool2D(2)
    np.testing.assert_array_equal(pool.forward(x)[0, :, :, 0], [[1, 2], [0, 5]])
    dx = pool.backward(np.array([[10.0, 20.0], [30.0, 40.0]])[None, :, :, None])
    # Row-major order inside each window: the first of the tied maxima takes all of dout.
    np.testing.assert_array_equal(dx[0, :, :, 0], [[10, 0, 20, 0], [0, 0, 0, 0], [30, 0, 0, 40], [0, 0, 0, 0]])


def test_maxpool_same_padding_never_picks_the_pad(backend):
    x = backend.asarray(-np.arange(1.0, 10.0).reshape(1, 3, 3, 1))  # every value negative: a 0 pad would win
    pool = MaxPool2D(2, padding="same")
    np.testing.assert_array_equal(host(pool.forward(x))[0, :, :, 0], [[-1, -3], [-7, -9]])


def test_upsampling_repeats_pixels(backend):
    x = backend.asarray(np.array([[1.0, 2.0], [3.0, 4.0]])[None, :, :, None])
    expected = [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    np.testing.assert_array_equal(host(UpSampling2D(2).forward(x))[0, :, :, 0], expected)


def test_flatten_is_row_major_hwc(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    np.testing.assert_array_equal(Flatten().forward(x)[1, 5 * 4 + 2], x[1, 1, 0, 2])


def _every_layer(kw, rng):
    """One of each layer, chained: (N, 64) -> (N, 8, 8, 1) -> ... -> (N, 64)."""
    return [Reshape((8, 8, 1)), Conv2D(1, 3, 3, stride=2, rng=rng, **kw), MaxPool2D(2, padding="same"),
            UpSampling2D(2), Conv2DTranspose(3, 2, 3, rng=rng, **kw), Conv2D(2, 1, 1, padding="valid", rng=rng, **kw),
            Flatten()]


def test_backward_leaves_dout_unchanged_and_input_grad_false(backend, rng):
    x = backend.asarray(rng.standard_normal((2, 64)))
    for layer in _every_layer(backend.kw(), rng):
        out = layer.forward(x)
        dout = random_like(out, rng)
        before = host(dout).copy()
        dx = layer.backward(dout)
        np.testing.assert_array_equal(host(dout), before, err_msg=repr(layer))
        assert tuple(dx.shape) == tuple(x.shape), layer
        grads = {name: host(g).copy() for name, g in layer.grads.items()}
        assert layer.backward(dout, input_grad=False) is None, layer
        for name, g in grads.items():
            np.testing.assert_array_equal(host(layer.grads[name]), g)
        x = out


def test_float32_stays_float32(backend, rng):
    model = Sequential(_every_layer(backend.kw("float32"), rng))
    x = backend.asarray(rng.uniform(0, 1, (2, 64)), "float32")
    out = model.forward(x)
    dx = model.backward(random_like(out, rng))
    assert out.dtype == dx.dtype == backend.xp.float32
    for name, p, g in model.named_params():
        assert p.dtype == g.dtype == backend.xp.float32, name


def test_save_load_round_trip_every_layer(tmp_path, rng):
    model = Sequential(_every_layer({}, rng))
    model.layers[4].params["b"][...] = rng.standard_normal(2)
    save_model(model, tmp_path / "m.npz")
    back = load_model(tmp_path / "m.npz")
    assert [layer.spec() for layer in back.layers] == [layer.spec() for layer in model.layers]
    x = rng.uniform(0, 1, (3, 64)).astype(np.float32)
    np.testing.assert_array_equal(back.forward(x), model.forward(x))
    assert back.layers[1].stride == 2 and back.layers[2].padding == "same" and back.layers[0].shape == (8, 8, 1)


def test_init_glorot_uniform_and_he_normal():
    W = host(Conv2D(32, 64, 3, init="glorot_uniform", rng=0).params["W"])
    limit = math.sqrt(6 / (9 * 32 + 9 * 64))
    assert W.shape == (3, 3, 32, 64) and W.max() <= limit and W.min() >= -limit
    assert abs(W.std() / (limit / math.sqrt(3)) - 1) < 0.03
    W = host(Conv2DTranspose(64, 32, 3, rng=0).params["W"])  # the default
    assert W.shape == (3, 3, 32, 64) and abs(W.std() / math.sqrt(2 / (9 * 32)) - 1) < 0.03


def test_same_seed_same_weights_on_every_backend(backend):
    np.testing.assert_array_equal(host(Conv2D(2, 3, rng=5, **backend.kw("float32")).params["W"]),
                                  host(Conv2D(2, 3, rng=5).params["W"]))


# ---- PyTorch float64 oracle (torch is a test oracle only, never a dependency) ----

def _torch_conv(x, W, b, stride, pads, transpose=False, crop=None):
    """Our NHWC arrays through torch's NCHW conv; returns (out, dx, dW, db) for the upstream gradient ``dout``."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    Wt = torch.tensor(W.transpose(3, 2, 0, 1), requires_grad=True)  # (k, k, a, b) -> (b, a, k, k)
    bt = torch.tensor(b, requires_grad=True)
    if transpose:
        out = F.conv_transpose2d(xt, Wt, bt, stride=stride)  # padding 0: the full output, cropped below
        top, left, h, w = crop
        out = out[:, :, top:top + h, left:left + w]
    else:
        top, bottom, left, right = pads
        out = F.conv2d(F.pad(xt, (left, right, top, bottom)), Wt, bt, stride=stride)  # explicit, asymmetric pads
    return out, xt, Wt, bt


@pytest.mark.parametrize("stride, size, padding", [(2, 8, "same"), (2, 7, "same"), (1, 6, "same"), (2, 9, "valid")])
def test_conv2d_matches_pytorch(rng, stride, size, padding):
    layer = Conv2D(3, 5, 3, stride=stride, padding=padding, rng=rng, dtype="float64")
    layer.params["b"][...] = rng.standard_normal(5)
    x = rng.standard_normal((2, size, size, 3))
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    ref, xt, Wt, bt = _torch_conv(x, layer.params["W"], layer.params["b"], stride, layer.pads)
    (ref * pytest.importorskip("torch").tensor(dout.transpose(0, 3, 1, 2))).sum().backward()
    np.testing.assert_allclose(out, ref.detach().numpy().transpose(0, 2, 3, 1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], Wt.grad.numpy().transpose(2, 3, 1, 0), rtol=0, atol=1e-11)
    np.testing.assert_allclose(layer.grads["b"], bt.grad.numpy(), rtol=0, atol=1e-11)


@pytest.mark.parametrize("stride, size, padding", [(2, 4, "same"), (2, 7, "same"), (1, 5, "same"), (2, 4, "valid")])
def test_conv2d_transpose_matches_pytorch(rng, stride, size, padding):
    layer = Conv2DTranspose(3, 4, 3, stride=stride, padding=padding, rng=rng, dtype="float64")
    layer.params["b"][...] = rng.standard_normal(4)
    x = rng.standard_normal((2, size, size, 3))
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    top, _, left, _ = layer.pads
    ref, xt, Wt, bt = _torch_conv(x, layer.params["W"], layer.params["b"], stride, None, transpose=True,
                                  crop=(top, left, out.shape[1], out.shape[2]))
    (ref * pytest.importorskip("torch").tensor(dout.transpose(0, 3, 1, 2))).sum().backward()
    # torch's transposed weight is (in, out, k, k): the same tensor as the Conv2D it is the adjoint of.
    np.testing.assert_allclose(out, ref.detach().numpy().transpose(0, 2, 3, 1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], Wt.grad.numpy().transpose(2, 3, 1, 0), rtol=0, atol=1e-11)
    np.testing.assert_allclose(layer.grads["b"], bt.grad.numpy(), rtol=0, atol=1e-11)


def test_pooling_and_upsampling_match_pytorch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    # Small integers: plenty of ties, so this also checks the tie rule against PyTorch's.
    x = rng.integers(0, 3, (2, 8, 8, 3)).astype(np.float64)
    dout = rng.standard_normal((2, 4, 4, 3))
    pool = MaxPool2D(2)
    out, dx = pool.forward(x), pool.backward(dout)
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    ref = F.max_pool2d(xt, 2)
    (ref * torch.tensor(dout.transpose(0, 3, 1, 2))).sum().backward()
    np.testing.assert_array_equal(out, ref.detach().numpy().transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(dx, xt.grad.numpy().transpose(0, 2, 3, 1))
    up = UpSampling2D(2)
    x = rng.standard_normal((2, 3, 4, 2))
    ref = F.interpolate(torch.tensor(x.transpose(0, 3, 1, 2)), scale_factor=2, mode="nearest")
    np.testing.assert_array_equal(up.forward(x), ref.numpy().transpose(0, 2, 3, 1))


# ---- misuse ----

@pytest.mark.parametrize("make, match", [
    (lambda: Conv2D(0, 3), "in_channels must be a positive int"),
    (lambda: Conv2D(2, 3, 2.5), "kernel_size must be a positive int"),
    (lambda: Conv2D(2, 3, stride=0), "stride must be a positive int"),
    (lambda: Conv2D(2, 3, padding="full"), "padding must be 'same' or 'valid'"),
    (lambda: Conv2DTranspose(2, 3, init="zeros"), "init must be"),
    (lambda: MaxPool2D(0), "pool_size must be a positive int"),
    (lambda: MaxPool2D(2, padding="causal"), "padding must be"),
    (lambda: UpSampling2D(True), "size must be a positive int"),
    (lambda: Reshape((28, -1)), "shape must be positive ints")])
def test_bad_arguments_are_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_are_clear_errors(rng):
    conv = Conv2D(3, 4, rng=rng)
    with pytest.raises(ValueError, match=r"Conv2D\(3, 4, 3, stride=1, padding='same'\).*\(N, H, W, 3\).*\(2, 5, 5, 2"):
        conv.forward(np.zeros((2, 5, 5, 2), np.float32))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        conv.forward(np.zeros((2, 75), np.float32))
    with pytest.raises(TypeError, match="float64.*cast"):
        conv.forward(np.zeros((2, 5, 5, 3)))
    with pytest.raises(ValueError, match="smaller than the 3x3 kernel"):
        Conv2D(3, 4, padding="valid", rng=rng).forward(np.zeros((1, 2, 5, 3), np.float32))
    with pytest.raises(ValueError, match="smaller than the pooling window"):
        MaxPool2D(3).forward(np.zeros((1, 2, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"Reshape\(\(28, 28, 1\)\).*784.*\(2, 780\)"):
        Reshape((28, 28, 1)).forward(np.zeros((2, 780), np.float32))
    with pytest.raises(ValueError, match="MaxPool2D.*(N, H, W, C)"):
        MaxPool2D().forward(np.zeros((2, 16), np.float32))


@pytest.mark.parametrize("layer", [Conv2D(2, 3, rng=0), Conv2DTranspose(2, 3, rng=0), MaxPool2D(), UpSampling2D(),
                                   Flatten(), Reshape((2, 2))], ids=repr)
def test_backward_before_forward_and_wrong_dout(layer):
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.zeros((1, 4, 4, 3), np.float32))
    x = np.zeros((1, 4, 4, 2), np.float32) if not isinstance(layer, Reshape) else np.zeros((1, 4), np.float32)
    out = layer.forward(x)
    with pytest.raises(ValueError, match="dout must have the output's shape"):
        layer.backward(np.zeros((1, *out.shape), np.float32))
