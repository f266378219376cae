"""The LSTM, RepeatVector and TimeDistributed: float64 gradient checks with a random upstream gradient on every
backend, the forward against a plain step-by-step reference, Keras's init, a PyTorch float64 oracle, save/load and
misuse errors."""
import math

import numpy as np
import pytest

from conftest import host
from scratchae import MSE, Dense, Sequential, assert_close, check_layer, check_model, load_model, save_model
from scratchae.gradcheck import random_like
from scratchae.lstm import LSTM, orthogonal
from scratchae.seq import RepeatVector, TimeDistributed
from scratchae.seq2seq import lstm_autoencoder

TOL = 1e-7


@pytest.mark.parametrize("steps", [1, 7])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("batch", [1, 3])
def test_lstm_gradcheck(backend, rng, record_gradcheck, steps, return_sequences, batch):
    layer = LSTM(4, 5, return_sequences, rng=rng, **backend.kw())
    x = backend.asarray(rng.standard_normal((batch, steps, 4)))
    report = record_gradcheck(check_layer(layer, x, rng=rng, max_entries=60))
    assert set(report) == {"x", "Wx", "Wh", "b"}
    assert_close(report, TOL)


def test_repeat_vector_gradcheck(backend, rng, record_gradcheck):
    assert_close(record_gradcheck(check_layer(RepeatVector(4), backend.asarray(rng.standard_normal((3, 5))),
                                              rng=rng)), TOL)


def test_time_distributed_dense_gradcheck(backend, rng, record_gradcheck):
    layer = TimeDistributed(Dense(5, 3, rng=rng, **backend.kw()))
    report = record_gradcheck(check_layer(layer, backend.asarray(rng.standard_normal((3, 4, 5))), rng=rng))
    assert set(report) == {"x", "W", "b"}
    assert_close(report, TOL)


@pytest.mark.parametrize("batch", [1, 3])
def test_seq2seq_model_gradcheck_end_to_end(backend, rng, record_gradcheck, batch):
    model = lstm_autoencoder(6, 3, hidden=5, code=4, rng=rng, **backend.kw())
    x = backend.asarray(rng.standard_normal((batch, 6, 3)))
    report = record_gradcheck(check_model(model, MSE(), x, x, rng=rng, max_entries=30))
    assert len(report) == 1 + 3 * 3 + 2  # x, three LSTMs' Wx, Wh, b, the Dense's W, b
    assert_close(report, TOL)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _plain_lstm(x, Wx, Wh, b):
    """The textbook LSTM in NumPy, one gate at a time: the reference for the fused one-tanh forward."""
    n, steps, _ = x.shape
    H = Wh.shape[0]
    h, c, hs = np.zeros((n, H)), np.zeros((n, H)), []
    for t in range(steps):
        a = x[:, t] @ Wx + h @ Wh + b
        i, f, g, o = (_sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]),
                      _sigmoid(a[:, 3 * H:]))
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
    return np.stack(hs, axis=1)


@pytest.mark.parametrize("return_sequences", [False, True])
def test_forward_equals_the_plain_step_by_step_lstm(backend, rng, return_sequences):
    layer = LSTM(3, 4, return_sequences, rng=rng, **backend.kw())
    layer.params["b"][...] = backend.asarray(rng.standard_normal(16))
    x = rng.standard_normal((2, 5, 3))
    out = host(layer.forward(backend.asarray(x)))
    ref = _plain_lstm(x, *(host(layer.params[k]) for k in ("Wx", "Wh", "b")))
    np.testing.assert_allclose(out, ref if return_sequences else ref[:, -1], rtol=0, atol=1e-13)


def test_keras_init_glorot_orthogonal_forget_bias_one():
    layer = LSTM(28, 100, rng=0)
    Wx, Wh, b = (host(layer.params[k]) for k in ("Wx", "Wh", "b"))
    limit = math.sqrt(6 / (28 + 400))
    assert Wx.shape == (28, 400) and Wx.max() <= limit and Wx.min() >= -limit
    assert abs(Wx.std() / (limit / math.sqrt(3)) - 1) < 0.05
    assert Wh.shape == (100, 400)
    np.testing.assert_allclose(Wh @ Wh.T, np.eye(100), atol=1e-5)  # orthonormal rows (float32 weights)
    np.testing.assert_array_equal(b, np.r_[np.zeros(100), np.ones(100), np.zeros(200)])
    q = orthogonal(5, 3, np.random.default_rng(1))  # more rows than columns: orthonormal columns
    assert q.shape == (5, 3)
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-12)
    layer.x = None


def test_same_seed_same_weights_on_every_backend(backend):
    a, b = LSTM(3, 4, rng=5, **backend.kw("float32")), LSTM(3, 4, rng=5)
    for name in ("Wx", "Wh", "b"):
        np.testing.assert_array_equal(host(a.params[name]), host(b.params[name]))


def _parts(kw, rng):
    return [LSTM(3, 4, True, rng=rng, **kw), LSTM(4, 2, rng=rng, **kw), RepeatVector(5),
            LSTM(2, 4, True, rng=rng, **kw), TimeDistributed(Dense(4, 3, rng=rng, **kw))]


def test_backward_leaves_dout_unchanged_and_input_grad_false(backend, rng):
    x = backend.asarray(rng.standard_normal((2, 5, 3)))
    for layer in _parts(backend.kw(), rng):
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
    model = lstm_autoencoder(5, 3, hidden=4, code=2, rng=rng, **backend.kw("float32"))
    x = backend.asarray(rng.uniform(0, 1, (2, 5, 3)), "float32")
    out = model.forward(x)
    dx = model.backward(random_like(out, rng))
    assert out.dtype == dx.dtype == backend.xp.float32 and tuple(out.shape) == (2, 5, 3)
    assert tuple(model.encode(x).shape) == (2, 2)
    for name, p, g in model.named_params():
        assert p.dtype == g.dtype == backend.xp.float32, name


def test_the_model_is_the_briefs_architecture():
    model = lstm_autoencoder(28, 28, rng=0)
    assert [repr(layer) for layer in model.layers] == [
        "FastLSTM(28, 100, return_sequences=True)", "FastLSTM(100, 30, return_sequences=False)", "RepeatVector(28)",
        "FastLSTM(30, 100, return_sequences=True)", "TimeDistributed(Dense(100, 28))"]  # lstm_fast.py, by default
    names = [name for name, _, _ in model.named_params()]
    assert names[:3] == ["encoder.0.Wx", "encoder.0.Wh", "encoder.0.b"] and names[-2:] == ["decoder.2.W",
                                                                                          "decoder.2.b"]


def test_save_load_round_trip(tmp_path, rng):
    model = lstm_autoencoder(5, 3, hidden=4, code=2, rng=rng)
    save_model(model, tmp_path / "m.npz")
    back = load_model(tmp_path / "m.npz")
    assert back.spec() == model.spec()
    for (name, p, _), (name2, q, _) in zip(model.named_params(), back.named_params()):
        assert name == name2
        np.testing.assert_array_equal(host(p), host(q))
    x = rng.uniform(0, 1, (3, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(back.forward(x), model.forward(x))


def test_time_distributed_shares_the_wrapped_layers_dicts(rng):
    dense = Dense(4, 3, rng=rng)
    layer = TimeDistributed(dense)
    assert layer.params is dense.params and layer.grads is dense.grads
    x = rng.standard_normal((2, 5, 4)).astype(np.float32)
    np.testing.assert_allclose(layer.forward(x), x @ host(dense.params["W"]) + host(dense.params["b"]), rtol=1e-6)


def test_repeat_vector_repeats_and_sums(rng):
    x = rng.standard_normal((2, 3))
    out = RepeatVector(4).forward(x)
    np.testing.assert_array_equal(out, np.repeat(x[:, None, :], 4, axis=1))


@pytest.mark.parametrize("make", [lambda: LSTM(2, 3), lambda: RepeatVector(2), lambda: TimeDistributed(Dense(2, 3))])
def test_backward_before_forward_names_the_layer(make):
    layer = make()
    with pytest.raises(RuntimeError, match=r"backward called before forward; call forward\(x\) first"):
        layer.backward(np.zeros((1, 2, 3), dtype=np.float32))


def test_misuse_errors(rng):
    layer = LSTM(3, 4)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, T, 3\)"):
        layer.forward(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="cast x first"):
        layer.forward(np.zeros((2, 4, 3)))
    layer.forward(np.zeros((2, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"dout must have the output's shape \(2, 4\)"):
        layer.backward(np.zeros((2, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="units must be a positive int"):
        LSTM(3, 0)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        RepeatVector(True)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, D\)"):
        RepeatVector(2).forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, T, \.\.\.\)"):
        TimeDistributed(Dense(2, 3)).forward(np.zeros((2, 2), dtype=np.float32))


# ---- PyTorch float64 oracle (torch is a test oracle only, never a dependency) ----

@pytest.mark.parametrize("return_sequences", [False, True])
def test_lstm_matches_pytorch(rng, return_sequences):
    torch = pytest.importorskip("torch")
    D, H = 3, 5
    layer = LSTM(D, H, return_sequences, rng=rng, dtype="float64")
    layer.params["b"][...] = rng.standard_normal(4 * H)
    ref = torch.nn.LSTM(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():  # torch keeps (4H, D) kernels and two biases; gate order i, f, g, o as Keras
        ref.weight_ih_l0.copy_(torch.tensor(layer.params["Wx"].T))
        ref.weight_hh_l0.copy_(torch.tensor(layer.params["Wh"].T))
        ref.bias_ih_l0.copy_(torch.tensor(layer.params["b"]))
        ref.bias_hh_l0.zero_()
    x = rng.standard_normal((3, 7, D))
    xt = torch.tensor(x, requires_grad=True)
    seq, _ = ref(xt)
    out_t = seq if return_sequences else seq[:, -1]
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    (out_t * torch.tensor(dout)).sum().backward()
    dx = layer.backward(dout)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.grads["Wx"], ref.weight_ih_l0.grad.numpy().T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.grads["Wh"], ref.weight_hh_l0.grad.numpy().T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], ref.bias_ih_l0.grad.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], ref.bias_hh_l0.grad.numpy(), rtol=0, atol=1e-12)
