"""Losses: gradient checks in float64, exact values, finiteness at 0 and 1, and misuse errors."""
import numpy as np
import pytest

from conftest import host
from scratchae import BCE, MSE, assert_close, check_loss


def test_bce_gradcheck(backend, rng, record_gradcheck):
    pred = backend.asarray(rng.uniform(0.05, 0.95, (3, 7)))
    target = backend.asarray(rng.uniform(0, 1, (3, 7)))
    report = check_loss(BCE(), pred, target)
    record_gradcheck(report)
    assert_close(report, 1e-7)


def test_mse_gradcheck(backend, rng, record_gradcheck):
    report = check_loss(MSE(), backend.asarray(rng.standard_normal((3, 7))), backend.asarray(rng.standard_normal((3, 7))))
    record_gradcheck(report)
    assert_close(report, 1e-7)


def test_bce_value_is_the_mean_per_element(rng):
    p, t = rng.uniform(0.01, 0.99, (5, 4)), rng.uniform(0, 1, (5, 4))
    expected = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert float(BCE().forward(p, t)) == pytest.approx(expected, rel=1e-12)
    # The mean does not depend on the batch size.
    assert float(BCE().forward(np.vstack([p, p]), np.vstack([t, t]))) == pytest.approx(expected, rel=1e-12)


def test_mse_value(rng):
    p, t = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    assert float(MSE().forward(p, t)) == pytest.approx(np.mean((p - t) ** 2), rel=1e-12)
    np.testing.assert_allclose(_mse_grad(p, t), 2 * (p - t) / p.size, rtol=1e-12)


def _mse_grad(p, t):
    loss = MSE()
    loss.forward(p, t)
    return loss.backward()


def test_bce_is_finite_at_exact_zero_and_one(backend):
    pred = backend.asarray([[0.0, 1.0, 0.0, 1.0]], "float32")
    target = backend.asarray([[0.0, 1.0, 1.0, 0.0]], "float32")
    loss = BCE()
    value = float(loss.forward(pred, target))
    dpred = host(loss.backward())
    # Two right answers cost ~0, two confidently wrong ones cost -log(eps) = 16.1 each: mean ~8.06.
    assert np.isfinite(value) and value == pytest.approx(-np.log(1e-7) / 2, rel=1e-2)
    assert np.all(np.isfinite(dpred)) and dpred.dtype == np.float32
    # Wrong answers are pushed the right way: up where the target is 1, down where it is 0.
    assert dpred[0, 2] < 0 < dpred[0, 3]


def test_losses_keep_float32(backend, rng):
    pred = backend.asarray(rng.uniform(0.1, 0.9, (2, 3)), "float32")
    for loss in (BCE(), MSE()):
        assert loss.forward(pred, pred * 0.5).dtype == backend.xp.float32
        assert loss.backward().dtype == backend.xp.float32


@pytest.mark.parametrize("loss", [BCE(), MSE()], ids=repr)
def test_shape_and_dtype_mismatch_are_clear_errors(loss):
    with pytest.raises(ValueError, match="one shape"):
        loss.forward(np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32))
    with pytest.raises(TypeError, match="cast target"):
        loss.forward(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float64))


@pytest.mark.parametrize("loss", [BCE(), MSE()], ids=repr)
def test_backward_before_forward(loss):
    with pytest.raises(RuntimeError, match="before forward"):
        loss.backward()


@pytest.mark.parametrize("loss_class", [BCE, MSE], ids=["bce", "mse"])
@pytest.mark.parametrize("reduction", ["pixel", "image"])
def test_reductions_against_numpy_and_gradcheck(backend, rng, record_gradcheck, loss_class, reduction):
    # The two reductions of the same per-element values: mean over all ("pixel"), or row sums, mean over rows.
    p, t = rng.uniform(0.05, 0.95, (4, 6)), rng.uniform(0, 1, (4, 6))
    per_element = -(t * np.log(p) + (1 - t) * np.log(1 - p)) if loss_class is BCE else (p - t) ** 2
    loss = loss_class(reduction=reduction)
    pred, target = backend.asarray(p), backend.asarray(t)
    want_rows = per_element.mean(axis=1) if reduction == "pixel" else per_element.sum(axis=1)
    want = per_element.mean() if reduction == "pixel" else per_element.sum(axis=1).mean()
    assert float(loss.forward(pred, target)) == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(host(loss.per_image(pred, target)), want_rows, rtol=1e-12)
    report = check_loss(loss, pred, target)
    record_gradcheck(report)
    assert_close(report, 1e-7)


def test_an_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match="reduction must be 'pixel' or 'image'"):
        MSE(reduction="mean")


@pytest.mark.parametrize("reduction", ["pixel", "image"])
def test_per_image_reduces_over_every_axis_after_the_first(backend, rng, reduction):
    # A sequence batch (N, T, D) gives each example the loss of its T D numbers, as the flat (N, T D) rows do.
    p, t = rng.uniform(0.05, 0.95, (3, 4, 2)), rng.uniform(0, 1, (3, 4, 2))
    ll = t * np.log(p) + (1 - t) * np.log(1 - p)
    sq = (p - t) ** 2
    def reduce(a):
        rows = a.reshape(3, -1)
        return rows.mean(axis=1) if reduction == "pixel" else rows.sum(axis=1)

    pred, target = backend.asarray(p), backend.asarray(t)
    np.testing.assert_allclose(host(BCE(reduction=reduction).per_image(pred, target)), -reduce(ll), rtol=1e-12)
    np.testing.assert_allclose(host(MSE(reduction=reduction).per_image(pred, target)), reduce(sq), rtol=1e-12)
