"""No host synchronisation inside a training step: every model the commands train, on scratchae.audit's namespace.

The audit refuses, inside a step, what makes CuPy wait for the GPU (host reads, boolean masks, data-dependent
shapes, and array_api_compat's CuPy clip and sign); fit's own read of the losses every SYNC_EVERY steps is allowed
and counted. The namespace itself is checked first: a test tool that let a sync through would prove nothing.
"""
import math
import pathlib
import sys

import numpy as np
import pytest

from scratchae import audit
from scratchae.backend import get_xp, to_device, to_numpy
from scratchae.classify import softmax_regression
from scratchae.fit import SYNC_EVERY, fit

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import op_counts  # noqa: E402  (a script in benchmarks/, imported by path)


@pytest.fixture
def ns():
    return audit.namespace()


def test_the_audit_refuses_each_kind_of_sync_inside_a_step(ns):
    x = to_device(np.array([[1.0, -2.0], [3.0, 0.5]]), ns)
    refused = {
        "float": lambda: float(x[0, 0]),
        "int": lambda: int(x[0, 0]),
        "bool": lambda: bool(x[0, 0] > 0),
        "np.asarray": lambda: np.asarray(x),
        "to_numpy": lambda: to_numpy(x),
        "boolean mask": lambda: x[x > 0],
        "boolean assignment": lambda: x.__setitem__(x > 0, 0.0),
        "boolean mask in a tuple": lambda: x[x[:, 0] > 0, 0:1],
        "clip": lambda: ns.clip(x, 0.0, 1.0),
        "sign": lambda: ns.sign(x),
    }
    for what, call in refused.items():
        with pytest.raises(audit.SyncError), ns.audit.step():
            call()
        assert not ns.audit.in_step, what
    with ns.audit.step(), pytest.raises(Exception, match="data-dependent"):
        ns.nonzero(x > 0)  # array_api_strict's flag


def test_the_audit_allows_reads_outside_a_step_and_counts_them(ns):
    x = to_device(np.array([1.0, 2.0]), ns)
    assert ns.audit.uploads == 1
    assert float(ns.sum(x)) == 3.0 and to_numpy(x).tolist() == [1.0, 2.0] and ns.clip(x, 0.0, 1.5) is not None
    assert ns.audit.reads == 2


def test_the_audit_counts_kernels_and_not_views(ns):
    a = to_device(np.ones((4, 3)), ns)
    b = to_device(np.ones((3, 2)), ns)
    ns.audit.reset()
    with ns.audit.step():
        views = [a.T, ns.reshape(a, (3, 4)), a[1:3, ...], ns.expand_dims(a, axis=0), ns.astype(a, a.dtype, copy=False),
                 ns.permute_dims(a, (1, 0)), a.shape, a.dtype]
        assert ns.audit.ops == 0, ns.audit.by_name
        c = a @ b  # 1
        c += 1.0  # 2: in place, the same object
        d = -c  # 3
        e = ns.sum(d * d, axis=0)  # 4, 5
        a[0, ...] = 2.0  # 6
        f = ns.reshape(a.T, (12,))  # 7: a transposed array's reshape copies
        g = ns.zeros((2,))  # 8: a fill kernel
    assert ns.audit.ops == 8, ns.audit.by_name
    assert views[4] is a and get_xp(c) is ns and (e.shape, f.shape, g.shape) == ((2,), (12,), (2,))
    assert to_numpy(a)[0].tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("name", sorted(op_counts.TRAIN_RUNS) + sorted(op_counts.SERIES_RUNS))
def test_one_step_of_every_model_needs_no_host_read(name):
    runs = op_counts.TRAIN_RUNS if name in op_counts.TRAIN_RUNS else op_counts.SERIES_RUNS
    ns = audit.namespace()
    if runs is op_counts.TRAIN_RUNS:
        run = op_counts.train_run(ns, *runs[name])
    else:
        run = op_counts.series_run(ns, runs[name])
    ns.audit.reset()  # building may read the host (FusedAdam checks its views once); the step must not
    terms = run.step()  # raises audit.SyncError on any sync
    value = terms["loss"] if isinstance(terms, dict) else terms
    assert ns.audit.reads == 0 and math.isfinite(float(value))  # the read, after the step


def test_fit_reads_the_losses_every_sync_every_steps_and_nowhere_else():
    ns = audit.namespace()
    steps = 2 * SYNC_EVERY + 3  # two reads mid-epoch, one at its end
    run = op_counts.train_run(ns, "reference", {}, batch=2)
    x = to_device(op_counts.images(2 * steps, np.random.default_rng(1)), ns)
    ns.audit.reset()
    rows = fit(run.optimizer.model, run.optimizer, ns.audit.wrap_step(run.run_step), None, x, epochs=1,
               batch_size=2, seed=0, on_epoch=lambda row: None, quiet=True)
    assert ns.audit.reads == 3 and math.isfinite(rows[0]["train_loss"])


def test_softmax_regression_of_the_features_command_needs_no_host_read():
    ns = audit.namespace()
    rng = np.random.default_rng(0)
    x = to_device(rng.random((12, 5), dtype=np.float32), ns)
    y = to_device(rng.integers(0, 3, 12), ns)
    with ns.audit.step():  # its whole loop, model and optimizer included
        model, _ = softmax_regression(x, y, classes=3, steps=4, batch_size=4, weight_decay=1e-3)
    assert ns.audit.reads == 0 and model.layers[0].params["W"].shape == (5, 3)


# The sync-free forms give xp.clip's and xp.sign's numbers bit for bit, edges and NaN included.
EDGES = [0.0, 1e-8, 1e-7, 0.3, 1 - 1e-7, 1.0, -0.5, 1.5, -0.0, float("nan")]


def test_bce_without_clip_gives_the_clipped_numbers(backend):
    from scratchae.losses import BCE

    pred = np.array(EDGES + [0.7, 0.2], dtype=np.float32)
    target = np.linspace(0, 1, pred.size, dtype=np.float32)
    p = np.clip(pred, np.float32(1e-7), np.float32(1 - 1e-7))  # what xp.clip gave
    ll = (np.log(p) - np.log1p(-p)) * target + np.log1p(-p)
    for keep in (np.isfinite(pred), np.ones(pred.size, dtype=bool)):  # NaN in, NaN out
        loss = BCE()
        value = loss.forward(backend.asarray(pred[keep], "float32"), backend.asarray(target[keep], "float32"))
        np.testing.assert_array_equal(to_numpy(loss.p), p[keep])
        np.testing.assert_array_equal(to_numpy(value), -(np.sum(ll[keep]) / int(keep.sum())))  # float32


def test_clip_layer_without_clip_gives_the_clipped_numbers_and_mask(backend):
    from scratchae.layers import Clip

    x = np.array(EDGES + [-15.0, 10.0, -15.5, 10.5, 3.0], dtype=np.float64)
    layer = Clip(-0.0, 1.0)
    out = layer.forward(backend.asarray(x))
    np.testing.assert_array_equal(to_numpy(out), np.clip(x, -0.0, 1.0))
    with np.errstate(invalid="ignore"):
        mask = ((x >= -0.0) & (x <= 1.0)).astype(np.float64)
    np.testing.assert_array_equal(to_numpy(layer.mask), mask)


def test_add_noise_without_clip_gives_the_clipped_numbers(backend):
    from scratchae.denoise import add_noise

    x = np.random.default_rng(3).random((4, 7), dtype=np.float32)
    noisy = add_noise(backend.asarray(x, "float32"), 0.5, np.random.default_rng(9))
    eps = np.random.default_rng(9).standard_normal(x.shape, dtype="float32")
    np.testing.assert_array_equal(to_numpy(noisy), np.clip(x + 0.5 * eps, 0.0, 1.0))


def test_nearest_distances_without_clip_give_the_clipped_numbers(backend):
    from scratchae.windows import nearest_distances

    r = np.random.default_rng(4).standard_normal((6, 3))
    q = np.concatenate([r[:2], r[:2] + 1e-9, np.ones((1, 3))])  # exact copies: d2 may round below 0
    d = nearest_distances(backend.asarray(q), backend.asarray(r))
    d2 = np.sum(q * q, axis=1)[:, None] + np.sum(r * r, axis=1)[None, :] - 2.0 * (q @ r.T)
    np.testing.assert_array_equal(to_numpy(d), np.sqrt(np.clip(d2.min(axis=1), 0.0, None)))


def test_l1_penalty_gradient_without_sign_gives_signs(backend):
    from scratchae.sparse import L1Activity

    h = np.array([[0.0, -0.0, 2.5, -3.0], [1e-30, -1e-30, 0.0, 7.0]])
    penalty = L1Activity(1e-4)
    penalty.forward(backend.asarray(h))
    np.testing.assert_array_equal(to_numpy(penalty.backward()), np.sign(h) * (1e-4 / 2))


def test_output_bias_without_clip_gives_the_clipped_logit(backend):
    from scratchae.models import dense_autoencoder, init_output_bias

    model = dense_autoencoder([5, 2], rng=0, **backend.kw("float64"))
    m = np.array([0.0, 1.0, 0.5, 1e-9, 0.25])
    init_output_bias(model, backend.asarray(m))
    c = np.clip(m, 1e-3, 1 - 1e-3)  # init_output_bias's eps
    np.testing.assert_array_equal(to_numpy(model.layers[-2].params["b"]), np.log(c) - np.log1p(-c))
