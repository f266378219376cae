"""FastLSTM against the plain LSTM it stands beside: the same forward and every gradient in float64 on every
backend, float64 gradient checks with a random upstream gradient, the same weights and checkpoints, the builders'
default, and the same errors."""
import numpy as np
import pytest

from conftest import host
from scratchae import MSE, Adam, assert_close, check_layer, load_model, save_model
from scratchae.gradcheck import random_like
from scratchae.lstm import LSTM
from scratchae.lstm_fast import FastLSTM
from scratchae.seq2seq import lstm_autoencoder, rows_autoencoder
from scratchae.training import train_step

TOL = 1e-7


def _pair(backend, rng, in_features, units, return_sequences):
    """A plain and a fast layer with the same weights, the bias random so every gate block is exercised."""
    plain = LSTM(in_features, units, return_sequences, rng=7, **backend.kw())
    fast = FastLSTM(in_features, units, return_sequences, rng=7, **backend.kw())
    b = rng.standard_normal(4 * units)
    plain.params["b"] = backend.asarray(b)
    fast.params["b"] = backend.asarray(b)
    return plain, fast


@pytest.mark.parametrize("steps", [1, 2, 7])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("batch", [1, 3])
def test_forward_and_every_gradient_equal_the_plain_lstm(backend, rng, steps, return_sequences, batch):
    plain, fast = _pair(backend, rng, 4, 5, return_sequences)
    x = backend.asarray(rng.standard_normal((batch, steps, 4)))
    out_plain, out_fast = plain.forward(x), fast.forward(x)
    # The same float64 operations on exactly scaled weights (0.5 and 1 are powers of two): equal to rounding.
    np.testing.assert_allclose(host(out_fast), host(out_plain), rtol=1e-14, atol=1e-15)
    dout = random_like(out_plain, rng)
    before = host(dout).copy()
    dx_plain, dx_fast = plain.backward(dout), fast.backward(dout)
    np.testing.assert_array_equal(host(dout), before)  # backward never writes into dout
    # The backward multiplies the same factors in another order: a few units of the last place.
    np.testing.assert_allclose(host(dx_fast), host(dx_plain), rtol=1e-12, atol=1e-14)
    for name in ("Wx", "Wh", "b"):
        np.testing.assert_allclose(host(fast.grads[name]), host(plain.grads[name]), rtol=1e-12, atol=1e-14,
                                   err_msg=name)
    grads = {name: host(g).copy() for name, g in fast.grads.items()}
    assert fast.backward(dout, input_grad=False) is None
    for name, g in grads.items():
        np.testing.assert_array_equal(host(fast.grads[name]), g)


def test_a_second_forward_replaces_the_first(backend, rng):
    """The caches belong to the last forward: a second call with another batch size must not mix with the first."""
    plain, fast = _pair(backend, rng, 3, 4, True)
    fast.forward(backend.asarray(rng.standard_normal((5, 6, 3))))
    x = backend.asarray(rng.standard_normal((2, 4, 3)))
    dout = random_like(plain.forward(x), rng)
    np.testing.assert_allclose(host(fast.forward(x)), host(plain.forward(x)), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(host(fast.backward(dout)), host(plain.backward(dout)), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("steps", [1, 7])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("batch", [1, 3])
def test_fast_lstm_gradcheck(backend, rng, record_gradcheck, steps, return_sequences, batch):
    layer = FastLSTM(4, 5, return_sequences, rng=rng, **backend.kw())
    layer.params["b"] = backend.asarray(rng.standard_normal(20))
    x = backend.asarray(rng.standard_normal((batch, steps, 4)))
    report = record_gradcheck(check_layer(layer, x, rng=rng, max_entries=60))
    assert set(report) == {"x", "Wx", "Wh", "b"}
    assert_close(report, TOL)


def test_same_weights_and_spec_as_the_plain_lstm(backend):
    plain = LSTM(3, 4, True, rng=5, **backend.kw("float32"))
    fast = FastLSTM(3, 4, True, rng=5, **backend.kw("float32"))
    assert fast.spec() == plain.spec() and fast.spec()["type"] == "LSTM"  # one checkpoint format
    assert repr(fast) == "FastLSTM(3, 4, return_sequences=True)"
    for name in ("Wx", "Wh", "b"):
        np.testing.assert_array_equal(host(fast.params[name]), host(plain.params[name]))


def test_builders_use_the_fast_lstm_and_fast_false_the_plain_one(rng):
    fast, plain = lstm_autoencoder(5, 3, hidden=4, code=2, rng=0), lstm_autoencoder(5, 3, hidden=4, code=2, rng=0,
                                                                                   fast=False)
    kinds = [type(layer) for layer in fast.layers if isinstance(layer, LSTM)]
    assert kinds == [FastLSTM] * 3
    assert [type(layer) for layer in plain.layers if isinstance(layer, LSTM)] == [LSTM] * 3
    assert [type(layer) for layer in rows_autoencoder(rng=0).layers if isinstance(layer, LSTM)] == [FastLSTM] * 3
    assert fast.spec() == plain.spec()
    for (name, p, _), (name2, q, _) in zip(fast.named_params(), plain.named_params()):
        assert name == name2
        np.testing.assert_array_equal(host(p), host(q))


def test_float32_training_steps_follow_the_plain_model(backend, rng):
    """Five Adam steps in float32 from the same weights and batches: the losses agree to float32 rounding."""
    models = [lstm_autoencoder(6, 3, hidden=8, code=4, rng=0, fast=fast, **backend.kw("float32"))
              for fast in (True, False)]
    opts, loss = [Adam(m, lr=1e-2) for m in models], MSE()
    for _ in range(5):
        xb = backend.asarray(rng.uniform(0, 1, (4, 6, 3)), "float32")
        values = [float(host(train_step(m, loss, o, xb))) for m, o in zip(models, opts)]
        assert values[0] == pytest.approx(values[1], rel=1e-5)
    for (name, p, _), (_, q, _) in zip(*(m.named_params() for m in models)):
        np.testing.assert_allclose(host(p), host(q), rtol=1e-4, atol=1e-6, err_msg=name)


def test_a_fast_model_saves_the_plain_models_checkpoint(tmp_path, rng):
    fast = lstm_autoencoder(5, 3, hidden=4, code=2, rng=rng)
    plain = lstm_autoencoder(5, 3, hidden=4, code=2, rng=0, fast=False)
    for (_, p, _), (_, q, _) in zip(fast.named_params(), plain.named_params()):
        q[...] = p
    save_model(fast, tmp_path / "fast.npz")
    save_model(plain, tmp_path / "plain.npz")
    back = load_model(tmp_path / "fast.npz")
    assert back.spec() == load_model(tmp_path / "plain.npz").spec() == plain.spec()
    # A saved "LSTM" loads as FastLSTM, so that a resumed run computes what the run it continues computed.
    assert [type(layer) for layer in back.layers if isinstance(layer, LSTM)] == [FastLSTM] * 3
    x = rng.uniform(0, 1, (3, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(back.forward(x), fast.forward(x))


def test_misuse_errors_as_the_plain_lstm():
    layer = FastLSTM(3, 4)
    with pytest.raises(ValueError, match=r"FastLSTM\(3, 4.*expected input of shape \(N, T, 3\)"):
        layer.forward(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="cast x first"):
        layer.forward(np.zeros((2, 4, 3)))
    with pytest.raises(RuntimeError, match=r"backward called before forward; call forward\(x\) first"):
        layer.backward(np.zeros((2, 4), dtype=np.float32))
    layer.forward(np.zeros((2, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"dout must have the output's shape \(2, 4\)"):
        layer.backward(np.zeros((2, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="units must be a positive int"):
        FastLSTM(3, 0)
