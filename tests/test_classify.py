"""Softmax regression: the loss gradient-checked, its fused backward against the plain softmax-then-CE chain,
values against NumPy, and a small training run against scikit-free closed facts."""
import numpy as np
import pytest

from conftest import host
from scratchae import assert_close, check_loss, to_device
from scratchae.classify import SoftmaxCrossEntropy, accuracy, log_softmax, one_hot, predict, softmax_regression


def labels(backend, values):
    """Integer labels on the backend's device (to_device keeps their int64 dtype)."""
    return to_device(np.asarray(values, dtype=np.int64), backend.xp, backend.device)


def test_softmax_ce_gradcheck(backend, rng, record_gradcheck):
    z = backend.asarray(rng.standard_normal((6, 4)) * 3)
    y = labels(backend, rng.integers(0, 4, 6))
    report = check_loss(SoftmaxCrossEntropy(), z, y)
    record_gradcheck(report)
    assert_close(report, 1e-7)


def _plain_chain(z, y):
    """The unfused computation in NumPy: p = softmax(z), L = -mean log p[y], dp = -t / (p N), dz = J^T dp."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    t = np.eye(z.shape[1])[y]
    loss = -np.mean(np.log(p[np.arange(len(y)), y]))
    dp = -t / (p * len(y))
    dz = p * (dp - np.sum(dp * p, axis=1, keepdims=True))  # softmax's Jacobian (diag(p) - p p^T) times dp
    return loss, dz


def test_fused_backward_equals_softmax_then_ce(backend, rng):
    z, y = rng.standard_normal((8, 5)) * 2, rng.integers(0, 5, 8)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(backend.asarray(z), labels(backend, y))
    dz = host(loss.backward())
    plain_value, plain_dz = _plain_chain(z, y)
    assert float(host(value)) == pytest.approx(plain_value, rel=1e-12)
    np.testing.assert_allclose(dz, plain_dz, rtol=1e-10, atol=1e-14)


def test_log_softmax_is_finite_for_huge_logits(backend):
    z = backend.asarray([[1000.0, 0.0, -1000.0]], "float32")
    out = host(log_softmax(z))
    assert np.all(np.isfinite(out[:, :2])) and out[0, 0] == pytest.approx(0.0, abs=1e-6)


def test_one_hot_and_accuracy(backend):
    y = labels(backend, [2, 0, 1, 2])
    np.testing.assert_array_equal(host(one_hot(y, 3, backend.xp.float32)), np.eye(3)[[2, 0, 1, 2]])
    assert float(host(accuracy(labels(backend, [2, 1, 1, 0]), y))) == 0.5


def test_loss_refuses_mismatched_shapes(backend):
    with pytest.raises(ValueError, match="labels"):
        SoftmaxCrossEntropy().forward(backend.asarray(np.zeros((3, 4))), labels(backend, [0, 1]))
    with pytest.raises(RuntimeError, match="forward"):
        SoftmaxCrossEntropy().backward()


def test_softmax_regression_separates_blobs(backend, rng):
    centers = rng.standard_normal((3, 5)) * 4
    y = rng.integers(0, 3, 600)
    x = centers[y] + rng.standard_normal((600, 5))
    model, history = softmax_regression(backend.asarray(x[:500], "float32"), labels(backend, y[:500]), classes=3,
                                        steps=200, batch_size=50, lr=1e-2, x_val=backend.asarray(x[500:], "float32"),
                                        y_val=labels(backend, y[500:]), eval_every=50)
    pred = host(predict(model, backend.asarray(x[500:], "float32")))
    # The reported validation accuracy is the plain count of right answers.
    assert float(host(history[-1][1])) == pytest.approx(np.mean(pred == y[500:]))
    assert [s for s, _ in history] == [50, 100, 150, 200] and np.mean(pred == y[500:]) > 0.9


def test_weight_decay_shrinks_the_weights(rng):
    x, y = rng.standard_normal((200, 6)).astype(np.float32), rng.integers(0, 4, 200)
    plain, _ = softmax_regression(x, y, classes=4, steps=300, batch_size=50, lr=1e-2)
    decayed, _ = softmax_regression(x, y, classes=4, steps=300, batch_size=50, lr=1e-2, weight_decay=1.0)
    norm = [float(np.linalg.norm(m.layers[0].params["W"])) for m in (plain, decayed)]
    assert norm[1] < 0.5 * norm[0]
