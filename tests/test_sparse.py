"""Sparse codes: the L1 activity penalty's value and gradient, the whole sparse model's gradient check, and the
step's gradients against the plain chain rule."""
import numpy as np
import pytest

from conftest import host
from scratchae import BCE, MSE, assert_close, dense_autoencoder
from scratchae.gradcheck import Check, numerical_gradient, rel_error
from scratchae.sparse import L1Activity, evaluate_sparse, sparse_step
from test_denoise import Recorder


def _code(backend, rng, shape=(5, 6)):
    """Random codes kept at least 0.01 away from |h|'s kink at 0 (central differences use h = 1e-5)."""
    h = rng.uniform(0.01, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return backend.asarray(h)


def test_penalty_value_is_lambda_times_the_batch_mean_of_the_sum(backend, rng):
    h = _code(backend, rng)
    expected = 1e-4 * np.mean(np.sum(np.abs(host(h)), axis=1))
    assert float(L1Activity(1e-4).forward(h)) == pytest.approx(expected, rel=1e-12)


def test_penalty_gradcheck(backend, rng, record_gradcheck):
    penalty, h = L1Activity(0.3), _code(backend, rng)
    penalty.forward(h)
    dh = host(penalty.backward())
    np.testing.assert_allclose(dh, 0.3 * np.sign(host(h)) / 5, rtol=1e-12)
    numeric = numerical_gradient(lambda: float(penalty.forward(h)), h)
    report = {"h": Check("h", rel_error(numeric, dh), numeric.ravel(), dh.ravel())}
    record_gradcheck(report)
    assert_close(report, 1e-7)


def test_penalty_keeps_float32_and_rejects_bad_input(backend, rng):
    h = backend.asarray(rng.standard_normal((3, 4)), "float32")
    penalty = L1Activity()
    assert penalty.forward(h).dtype == backend.xp.float32 and penalty.backward().dtype == backend.xp.float32
    with pytest.raises(RuntimeError, match="before forward"):
        L1Activity().backward()
    for lam in (-1e-4, float("nan"), "1e-4", True):
        with pytest.raises(ValueError, match="lam"):
            L1Activity(lam)


def _objective(model, loss, penalty, x):
    h = model.encode(x)
    return float(loss.forward(model.decode(h), x)) + float(penalty.forward(h))


def test_sparse_model_gradcheck(backend, rng, record_gradcheck):
    """Every parameter gradient of BCE(decode(h), x) + P(h), h = encode(x), as sparse_step computes it."""
    model = dense_autoencoder((12, 7, 4), rng=rng, **backend.kw())  # ReLU code, Sigmoid output
    x = backend.asarray(rng.uniform(0, 1, (5, 12)))
    loss, penalty, recorder = BCE(), L1Activity(0.05), Recorder(model)  # a large lambda: both terms count
    sparse_step(model, loss, penalty, recorder, x)
    report = {}
    for name, param, _ in model.named_params():
        numeric = numerical_gradient(lambda: _objective(model, loss, penalty, x), param)
        analytic = recorder.grads[name]
        report[name] = Check(name, rel_error(numeric, analytic), numeric.ravel(), analytic.ravel())
    record_gradcheck(report)
    assert_close(report, 1e-7)


@pytest.mark.parametrize("loss", [BCE(), MSE()], ids=repr)
def test_sparse_step_is_the_plain_chain_rule(backend, rng, loss):
    """The step against every layer's backward (Sigmoid included) and the penalty's gradient written out here."""
    model = dense_autoencoder((12, 7, 4), rng=rng, **backend.kw())
    x = backend.asarray(rng.uniform(0, 1, (5, 12)))
    lam = 0.05
    h = model.encoder.forward(x)
    rec = float(loss.forward(model.decoder.forward(h), x))
    dh = model.decoder.backward(loss.backward())
    h_host = host(h)
    dh = dh + backend.asarray(lam * np.sign(h_host) / h_host.shape[0])
    model.encoder.backward(dh)
    plain = {name: host(g).copy() for name, _, g in model.named_params()}
    recorder = Recorder(model)
    values = sparse_step(model, loss, L1Activity(lam), recorder, x)
    pen = lam * np.mean(np.sum(np.abs(h_host), axis=1))
    assert float(values["penalty"]) == pytest.approx(pen, rel=1e-12)
    assert float(values["loss"]) == pytest.approx(rec + pen, rel=1e-12)
    for name, g in plain.items():
        np.testing.assert_allclose(recorder.grads[name], g, rtol=1e-9, atol=1e-14, err_msg=name)
    # Without the penalty's term the encoder's gradients would differ: the test sees it.
    assert not np.allclose(recorder.grads["encoder.0.W"], _without_penalty(model, loss, x), rtol=1e-6)


def _without_penalty(model, loss, x):
    recorder = Recorder(model)
    sparse_step(model, loss, L1Activity(0.0), recorder, x)
    return recorder.grads["encoder.0.W"]


def test_evaluate_sparse_against_a_direct_computation(rng):
    model = dense_autoencoder((12, 7, 4), rng=rng)
    x = rng.uniform(0, 1, (25, 12)).astype(np.float32)
    got = evaluate_sparse(model, BCE(), L1Activity(1e-2), x, batch_size=10)  # 10 + 10 + 5: a short last batch
    h = model.encode(x).astype(np.float64)
    out = np.clip(model.forward(x).astype(np.float64), 1e-7, 1 - 1e-7)
    x64 = x.astype(np.float64)
    assert got["test_loss"] == pytest.approx(-np.mean(x64 * np.log(out) + (1 - x64) * np.log(1 - out)), rel=1e-5)
    assert got["test_penalty"] == pytest.approx(1e-2 * np.mean(np.sum(np.abs(h), axis=1)), rel=1e-5)
    assert got["test_code_mean"] == pytest.approx(np.mean(h), rel=1e-5)
