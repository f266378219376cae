"""Layers: gradient checks in float64 with a random upstream gradient, shapes, dtypes and misuse errors."""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import host
from scratchae import Dense, ReLU, Sigmoid, assert_close, check_layer
from scratchae.gradcheck import random_like

TOL = 1e-7


def away_from_zero(rng, shape, low=0.1):
    """Values with |v| in [low, 1]: a nudge of h = 1e-5 never crosses ReLU's kink at 0."""
    return rng.uniform(low, 1.0, shape) * rng.choice([-1.0, 1.0], shape)


def test_dense_gradcheck(backend, rng, record_gradcheck):
    layer = Dense(7, 5, rng=rng, **backend.kw())
    report = check_layer(layer, backend.asarray(rng.standard_normal((4, 7))), rng=rng)
    record_gradcheck(report)
    assert set(report) == {"x", "W", "b"}
    assert_close(report, TOL)


def test_relu_gradcheck_away_from_kink(backend, rng, record_gradcheck):
    report = check_layer(ReLU(), backend.asarray(away_from_zero(rng, (4, 6))), rng=rng)
    record_gradcheck(report)
    assert_close(report, TOL)


def test_sigmoid_gradcheck(backend, rng, record_gradcheck):
    report = check_layer(Sigmoid(), backend.asarray(3 * rng.standard_normal((4, 6))), rng=rng)
    record_gradcheck(report)
    assert_close(report, TOL)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 5), n_in=st.integers(1, 8), n_out=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
def test_random_shapes_gradcheck(backend, n, n_in, n_out, seed, record_gradcheck):
    rng = np.random.default_rng(seed)
    for layer, x in ((Dense(n_in, n_out, rng=rng, **backend.kw()), rng.standard_normal((n, n_in))),
                     (ReLU(), away_from_zero(rng, (n, n_in))), (Sigmoid(), rng.standard_normal((n, n_in)))):
        assert_close(record_gradcheck(check_layer(layer, backend.asarray(x), rng=rng)), TOL)


@pytest.mark.parametrize("make", [lambda b, r: Dense(6, 3, rng=r, **b.kw()), lambda b, r: ReLU(), lambda b, r: Sigmoid()],
                         ids=["Dense", "ReLU", "Sigmoid"])
def test_backward_leaves_dout_unchanged(backend, rng, make):
    layer = make(backend, rng)
    out = layer.forward(backend.asarray(rng.standard_normal((3, 6))))
    dout = random_like(out, rng)
    before = host(dout).copy()
    layer.backward(dout)
    np.testing.assert_array_equal(host(dout), before)


def test_float32_in_float32_everywhere(backend, rng):
    f32 = backend.xp.float32
    layers = [Dense(6, 4, rng=rng, **backend.kw("float32")), ReLU(), Dense(4, 6, rng=rng, **backend.kw("float32")),
              Sigmoid()]
    x = backend.asarray(rng.standard_normal((3, 6)), "float32")
    for layer in layers:
        x = layer.forward(x)
        assert x.dtype == f32, layer
    dout = random_like(x, rng)
    for layer in reversed(layers):
        dout = layer.backward(dout)
        assert dout.dtype == f32, layer
        for name in layer.params:
            assert layer.params[name].dtype == f32 and layer.grads[name].dtype == f32, (layer, name)


def test_input_grad_false_skips_dx_but_fills_grads(backend, rng):
    layer = Dense(5, 3, rng=rng, **backend.kw())
    x = backend.asarray(rng.standard_normal((2, 5)))
    dout = random_like(layer.forward(x), rng)
    dx = layer.backward(dout)
    dW = host(layer.grads["W"]).copy()
    assert layer.backward(dout, input_grad=False) is None
    np.testing.assert_array_equal(host(layer.grads["W"]), dW)
    assert dx.shape == (2, 5)


def test_he_normal_init_and_seeded_reproducibility():
    layer = Dense(784, 256, rng=0)
    W = host(layer.params["W"])
    assert W.shape == (784, 256) and layer.params["b"].shape == (256,)
    assert abs(W.std() / np.sqrt(2 / 784) - 1) < 0.02
    assert abs(W.mean()) < 0.002
    assert not host(layer.params["b"]).any()
    np.testing.assert_array_equal(host(Dense(784, 256, rng=0).params["W"]), W)


def test_same_seed_same_weights_on_every_backend(backend):
    W = host(Dense(9, 4, rng=7, **backend.kw("float32")).params["W"])
    np.testing.assert_array_equal(W, host(Dense(9, 4, rng=7).params["W"]))


def test_sigmoid_is_stable_for_huge_inputs(backend):
    x = backend.asarray([[-1000.0, -100.0, -20.0, 0.0, 20.0, 100.0, 1000.0]], "float32")
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        out = host(Sigmoid().forward(x))
    assert np.all(np.isfinite(out)) and out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.0, 2.06e-9, 0.5, 1.0, 1.0, 1.0]], atol=1e-8)


def test_relu_values():
    x = np.array([[-2.0, -0.0, 0.0, 3.0]], dtype=np.float32)
    relu = ReLU()
    np.testing.assert_array_equal(relu.forward(x), [[0.0, 0.0, 0.0, 3.0]])
    np.testing.assert_array_equal(relu.backward(np.ones_like(x) * 5), [[0.0, 0.0, 0.0, 5.0]])


def test_dense_computes_x_at_W_plus_b(rng):
    layer = Dense(3, 2, rng=rng, dtype="float64")
    x = rng.standard_normal((4, 3))
    layer.params["b"][...] = [1.5, -2.0]
    np.testing.assert_allclose(layer.forward(x), x @ layer.params["W"] + [1.5, -2.0], rtol=1e-12)


def test_dense_rejects_wrong_input_shape(backend, rng):
    layer = Dense(5, 3, rng=rng, **backend.kw())
    with pytest.raises(ValueError, match=r"Dense\(5, 3\).*\(N, 5\).*\(2, 4\)"):
        layer.forward(backend.asarray(np.zeros((2, 4))))
    with pytest.raises(ValueError, match=r"Dense\(5, 3\)"):
        layer.forward(backend.asarray(np.zeros(5)))


def test_dense_rejects_dtype_mismatch(rng):
    layer = Dense(5, 3, rng=rng)  # float32 weights
    with pytest.raises(TypeError, match="float64.*cast"):
        layer.forward(np.zeros((2, 5)))


@pytest.mark.parametrize("layer", [Dense(3, 2, rng=0), ReLU(), Sigmoid()], ids=repr)
def test_backward_before_forward_names_the_layer(layer):
    with pytest.raises(RuntimeError, match=r"backward called before forward"):
        layer.backward(np.zeros((1, 2), dtype=np.float32))


def test_backward_rejects_wrong_dout_shape(rng):
    for layer, x in ((Dense(3, 2, rng=rng), np.zeros((4, 3), np.float32)), (Sigmoid(), np.zeros((4, 3), np.float32))):
        layer.forward(x)
        with pytest.raises(ValueError, match=repr(layer).replace("(", r"\(").replace(")", r"\)")):
            layer.backward(np.zeros((4, 5), np.float32))


@pytest.mark.parametrize("args", [(0, 3), (3, -1), (2.5, 3), (True, 3)])
def test_dense_rejects_bad_sizes(args):
    with pytest.raises(ValueError, match="positive int"):
        Dense(*args)


def test_dense_rejects_unknown_dtype():
    with pytest.raises(ValueError, match="float32"):
        Dense(2, 2, dtype="float16")


def _fresh_parts():
    """One of every layer, loss and penalty with a backward, none of them run forward yet."""
    from scratchae import BCE, MSE, Clip, Conv2D, Conv2DTranspose, Flatten, MaxPool2D, Reshape, UpSampling2D
    from scratchae.sparse import L1Activity
    from scratchae.vae import KL, Reparameterize
    layers = [Dense(3, 2, rng=0), ReLU(), Sigmoid(), Clip(-1, 1), Conv2D(1, 2, rng=0), Conv2DTranspose(2, 1, rng=0),
              MaxPool2D(2), UpSampling2D(2), Flatten(), Reshape((2, 2, 1))]
    others = [BCE(), MSE(), BCE(reduction="image"), L1Activity(1e-4), KL()]
    return layers, others + [Reparameterize()]


def test_backward_before_forward_says_so_in_one_wording():
    import numpy as np
    layers, others = _fresh_parts()
    for part in layers:
        with pytest.raises(RuntimeError, match=r"backward called before forward; call forward\(.*\) first"):
            part.backward(np.zeros((1, 2), dtype=np.float32))
    for part in others:
        with pytest.raises(RuntimeError, match=r"backward called before forward; call forward\(.*\) first"):
            part.backward() if not hasattr(part, "noise") else part.backward(np.zeros((1, 2)))
