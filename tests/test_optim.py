"""Optimizers: checked against an independent step-by-step computation of the published update rules."""
import numpy as np
import pytest

from conftest import host
from scratchae import SGD, Adam, Dense, Sequential


def model_with(backend, rng, dtype="float64"):
    return Sequential([Dense(4, 3, rng=rng, **backend.kw(dtype)), Dense(3, 2, rng=rng, **backend.kw(dtype))])


def set_grads(model, backend, grads, dtype="float64"):
    """Give every layer a chosen gradient, as backward would (fresh arrays)."""
    for layer, g in zip(model.layers, grads):
        layer.grads = {k: backend.asarray(v, dtype) for k, v in g.items()}


def random_grads(model, rng, steps):
    return [[{k: rng.standard_normal(tuple(p.shape)) for k, p in layer.params.items()} for layer in model.layers]
            for _ in range(steps)]


def reference_adam(p, gs, lr, b1, b2, eps):
    """Algorithm 1 of Kingma & Ba (2015), written out literally in float64."""
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(gs, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def test_adam_matches_the_paper_step_by_step(backend, rng):
    model = model_with(backend, rng)
    start = [{k: host(p).copy() for k, p in layer.params.items()} for layer in model.layers]
    grads = random_grads(model, rng, steps=7)
    opt = Adam(model, lr=0.01, betas=(0.8, 0.95), eps=1e-6)
    for step_grads in grads:
        set_grads(model, backend, step_grads)
        opt.step()
    assert opt.t == 7
    for i, layer in enumerate(model.layers):
        for k, p in layer.params.items():
            expected = reference_adam(start[i][k], [g[i][k] for g in grads], 0.01, 0.8, 0.95, 1e-6)
            np.testing.assert_allclose(host(p), expected, rtol=1e-12, atol=1e-14)


def test_adam_first_step_is_about_lr_times_sign(rng):
    model = Sequential([Dense(5, 4, rng=rng, dtype="float64")])
    before = model.layers[0].params["W"].copy()
    g = rng.standard_normal((5, 4))
    model.layers[0].grads = {"W": g, "b": np.ones(4)}
    Adam(model, lr=1e-3).step()
    np.testing.assert_allclose(model.layers[0].params["W"] - before, -1e-3 * np.sign(g), rtol=1e-4)


def test_sgd_matches_the_update_rule(backend, rng):
    model = model_with(backend, rng)
    start = [{k: host(p).copy() for k, p in layer.params.items()} for layer in model.layers]
    grads = random_grads(model, rng, steps=4)
    opt = SGD(model, lr=0.1)
    for step_grads in grads:
        set_grads(model, backend, step_grads)
        opt.step()
    for i, layer in enumerate(model.layers):
        for k, p in layer.params.items():
            expected = start[i][k] - 0.1 * sum(g[i][k] for g in grads)
            np.testing.assert_allclose(host(p), expected, rtol=1e-12)


@pytest.mark.parametrize("make", [lambda m: Adam(m), lambda m: SGD(m, lr=0.1)], ids=["Adam", "SGD"])
def test_updates_in_place_and_keep_float32(backend, rng, make):
    model = model_with(backend, rng, "float32")
    ids = [id(p) for _, p, _ in model.named_params()]
    opt = make(model)
    set_grads(model, backend, random_grads(model, rng, 1)[0], "float32")
    opt.step()
    assert [id(p) for _, p, _ in model.named_params()] == ids
    for _, p, _ in model.named_params():
        assert p.dtype == backend.xp.float32
    for arrays in (getattr(opt, "m", {}), getattr(opt, "v", {})):
        assert all(a.dtype == backend.xp.float32 for a in arrays.values())


def test_adam_state_round_trip_resumes_exactly(backend, rng):
    grads = random_grads(model_with(backend, np.random.default_rng(0)), rng, steps=6)
    a, b = model_with(backend, np.random.default_rng(0)), model_with(backend, np.random.default_rng(0))
    opt_a = Adam(a)
    for g in grads:
        set_grads(a, backend, g)
        opt_a.step()
    opt_b = Adam(b)
    for g in grads[:3]:
        set_grads(b, backend, g)
        opt_b.step()
    state = {k: ({n: host(arr).copy() for n, arr in v.items()} if isinstance(v, dict) else v)
             for k, v in opt_b.state_dict().items()}
    assert sorted(state["m"]) == ["0.W", "0.b", "1.W", "1.b"]
    opt_c = Adam(b, lr=0.5)  # a fresh optimizer, restored from host arrays as a checkpoint holds them
    opt_c.load_state_dict(state)
    for g in grads[3:]:
        set_grads(b, backend, g)
        opt_c.step()
    for (_, pa, _), (_, pb, _) in zip(a.named_params(), b.named_params()):
        np.testing.assert_array_equal(host(pa), host(pb))


def test_adam_state_must_fit_the_model(rng):
    state = Adam(Sequential([Dense(4, 3, rng=rng)])).state_dict()
    other = Adam(Sequential([Dense(4, 5, rng=rng)]))
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match="SGD"):
        SGD(other.model, lr=1).load_state_dict(state)


@pytest.mark.parametrize("lr", [0, -1e-3, float("nan"), float("inf"), "0.1"])
def test_bad_learning_rate_is_a_clear_error(lr, rng):
    model = Sequential([Dense(2, 2, rng=rng)])
    for make in (Adam, SGD):
        with pytest.raises(ValueError, match="learning rate"):
            make(model, lr=lr)
