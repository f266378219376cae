"""FusedAdam against the teaching Adam: the same numbers bit for bit, the same state, far fewer array operations.

Bit for bit holds because FusedAdam runs Adam.step's elementwise operations in the same order with the same
Python-float constants: +, *, / and sqrt are correctly rounded in IEEE arithmetic, so an element's result does
not depend on whether it sits in a (in, out) array or in a flat buffer.
"""
import array_api_strict
import numpy as np
import pytest

from conftest import host
from scratchae import (BCE, MSE, Adam, Dense, Sequential, conv_autoencoder, dense_autoencoder, dense_vae,
                       optim_fast, train)
from scratchae.fit import load_checkpoint
from scratchae.optim_fast import FusedAdam, ViewsUnavailable, make_adam
from scratchae.seq2seq import lstm_autoencoder
from scratchae.training import train_step
from scratchae.vae import KL, vae_step
from test_checkpoint_compat import DATA, raw_arrays
from test_train import QUICK, params_of, run_main
from test_train_conv import small_test_set  # noqa: F401 (a fixture)


def set_grads(model, grads):
    """Give every parameter a chosen gradient, as backward would (fresh arrays)."""
    for layer in model.layers:
        if layer.params:
            layer.grads = {k: grads.pop(0) for k in layer.params}


def random_grads(model, backend, rng):
    return [backend.asarray(rng.standard_normal(tuple(p.shape)), p.dtype) for _, p, _ in model.named_params()]


def assert_same(a, b, opt_a, opt_b):
    """Every parameter and both moments of two models and their optimizers equal bit for bit."""
    state_a, state_b = opt_a.state_dict(), opt_b.state_dict()
    for (name, p, _), (name_b, q, _) in zip(a.named_params(), b.named_params(), strict=True):
        assert name == name_b
        np.testing.assert_array_equal(host(p), host(q), err_msg=name)
        for key in ("m", "v"):
            np.testing.assert_array_equal(host(state_a[key][name]), host(state_b[key][name]), err_msg=f"{key} {name}")


def dense_step(model, opt, xb, rng):
    return train_step(model, BCE(), opt, xb)


def lstm_step(model, opt, xb, rng):
    return train_step(model, MSE(), opt, xb)


def vae_train_step(model, opt, xb, rng):
    return vae_step(model, BCE(reduction="image"), KL(), opt, xb, rng)["loss"]


# name -> (model builder, step(model, optimizer, xb, rng), input shape): every kind of model the commands train
MODELS = {
    "dense": (lambda kw: dense_autoencoder((24, 12, 6, 3), rng=3, **kw), dense_step, (5, 24)),
    "conv": (lambda kw: conv_autoencoder(rng=3, **kw), dense_step, (2, 784)),
    "vae": (lambda kw: dense_vae((24, 10), 3, rng=3, **kw), vae_train_step, (5, 24)),
    "lstm": (lambda kw: lstm_autoencoder(4, 2, 5, 3, rng=3, **kw), lstm_step, (3, 4, 2)),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_training_steps_equal_the_teaching_adam_bit_for_bit(backend, kind, dtype):
    build, step, shape = MODELS[kind]
    a, b = build(backend.kw(dtype)), build(backend.kw(dtype))
    opt_a, opt_b = Adam(a, lr=0.01), FusedAdam(b, lr=0.01)
    data = np.random.default_rng(7)
    for k in range(4):  # the first step too: its bias correction is the largest
        xb = backend.asarray(data.random(shape), dtype)
        loss_a = step(a, opt_a, xb, np.random.default_rng(k))
        loss_b = step(b, opt_b, xb, np.random.default_rng(k))
        assert float(loss_a) == float(loss_b)
        assert_same(a, b, opt_a, opt_b)
    assert opt_b.t == 4 and opt_b.state_dict()["t"] == 4


def test_a_mixed_model_gets_one_buffer_per_dtype_and_the_same_numbers(backend, rng):
    def mixed():
        return Sequential([Dense(4, 3, rng=1, **backend.kw("float32")), Dense(3, 2, rng=2, **backend.kw("float64"))])
    a, b = mixed(), mixed()
    opt_a, opt_b = Adam(a, lr=0.1, betas=(0.8, 0.95), eps=1e-6), FusedAdam(b, lr=0.1, betas=(0.8, 0.95), eps=1e-6)
    assert [(g.p.shape, g.p.dtype) for g in opt_b.groups] == [((15,), backend.xp.float32), ((8,), backend.xp.float64)]
    for _ in range(3):
        grads = random_grads(a, backend, rng)
        set_grads(a, list(grads))
        set_grads(b, list(grads))
        opt_a.step()
        opt_b.step()
    assert_same(a, b, opt_a, opt_b)


def test_the_layers_see_the_buffer_and_the_buffer_sees_the_layers(backend, rng):
    model = dense_autoencoder((6, 4, 2), rng=0, **backend.kw())
    before = [host(p).copy() for _, p, _ in model.named_params()]
    opt = FusedAdam(model)
    flat = opt.groups[0].p
    assert flat.shape == (sum(p.size for p in before),)
    np.testing.assert_array_equal(host(flat), np.concatenate([p.ravel() for p in before]))  # values kept
    new = rng.standard_normal(flat.shape)
    flat[...] = backend.asarray(new)  # a write into the buffer...
    start = 0
    for _, p, _ in model.named_params():  # ...is what every layer now holds
        np.testing.assert_array_equal(host(p), new[start:start + p.size].reshape(p.shape))
        start += p.size
    x = backend.asarray(rng.random((3, 6)))
    W0 = host(model.layers[0].params["W"])
    expected = np.maximum(host(x) @ W0 + new[W0.size:W0.size + 4], 0)
    np.testing.assert_allclose(host(model.encoder.layers[1].forward(model.encoder.layers[0].forward(x))), expected,
                               rtol=1e-12)
    model.layers[-2].params["b"][...] = backend.asarray(np.full(6, 0.5))  # in place, as serialize.restore_model
    np.testing.assert_array_equal(host(flat)[-6:], np.full(6, 0.5))


def test_steps_keep_the_views_and_float32(backend, rng):
    model = dense_autoencoder((6, 4, 2), rng=0, **backend.kw("float32"))
    opt = FusedAdam(model)
    ids = [id(p) for _, p, _ in model.named_params()]
    set_grads(model, random_grads(model, backend, rng))
    opt.step()
    assert [id(p) for _, p, _ in model.named_params()] == ids
    assert all(g.p.dtype == g.m.dtype == g.v.dtype == backend.xp.float32 for g in opt.groups)


def test_a_second_optimizer_on_the_same_model_is_refused_at_the_first_step(rng):
    model = dense_autoencoder((6, 4, 2), rng=0, dtype="float64")
    first = FusedAdam(model)
    FusedAdam(model)  # rebinds the layers to its own buffer
    with pytest.raises(RuntimeError, match="build one optimizer per model"):
        first.step()


class CopyingNamespace:
    """NumPy's namespace, except that reshape copies (or, with ``fails``, raises): a backend without views."""

    def __init__(self, xp, fails=False):
        self.xp, self.fails = xp, fails

    def __getattr__(self, name):
        return getattr(self.xp, name)

    def reshape(self, x, shape):
        if self.fails:
            raise NotImplementedError("reshape of a slice")
        return self.xp.reshape(self.xp.asarray(x, copy=True), shape)


@pytest.mark.parametrize("fails", [False, True], ids=["copies", "fails"])
def test_a_backend_without_views_falls_back_to_adam_and_leaves_the_model_alone(monkeypatch, fails):
    model = dense_autoencoder((6, 4, 2), rng=0, dtype="float64")
    arrays = [p for _, p, _ in model.named_params()]
    real = optim_fast.get_xp
    monkeypatch.setattr(optim_fast, "get_xp", lambda *a: CopyingNamespace(real(*a), fails))
    with pytest.raises(ViewsUnavailable, match="gave copies" if not fails else "cannot slice and reshape"):
        FusedAdam(model)
    opt = make_adam(model, lr=0.01)
    assert type(opt) is Adam and opt.lr == 0.01
    assert all(p is q for (_, p, _), q in zip(model.named_params(), arrays))


class Valley:
    """Lesson 03's kind of model: named_params() and nothing else (no layers)."""

    def __init__(self):
        self.theta, self.grad = np.array([1.0, -2.0]), np.array([0.5, 0.5])

    def named_params(self):
        yield "theta", self.theta, self.grad


def test_a_model_without_layers_or_with_a_shared_parameter_gets_the_teaching_adam():
    with pytest.raises(ViewsUnavailable, match="not in the params of any of the model's layers"):
        FusedAdam(Valley())
    assert type(make_adam(Valley())) is Adam
    shared = Dense(3, 3, rng=0, dtype="float64")
    tied = Sequential([shared, shared])
    with pytest.raises(ViewsUnavailable, match="appears twice"):
        FusedAdam(tied)
    assert type(make_adam(tied)) is Adam


def test_state_is_adams_format_and_moves_both_ways(backend, rng):
    def model():
        return dense_autoencoder((6, 4, 2), rng=0, **backend.kw())
    a, b = model(), model()
    opt_a, opt_b = Adam(a, lr=0.02, betas=(0.8, 0.99), eps=1e-6), FusedAdam(b, lr=0.02, betas=(0.8, 0.99), eps=1e-6)
    grads = [random_grads(a, backend, rng) for _ in range(6)]
    for g in grads[:3]:
        set_grads(a, list(g))
        set_grads(b, list(g))
        opt_a.step()
        opt_b.step()
    state_a, state_b = opt_a.state_dict(), opt_b.state_dict()
    assert {k: v for k, v in state_b.items() if k not in ("m", "v")} == \
        {"type": "Adam", "lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-6, "t": 3}
    assert list(state_b["m"]) == list(state_a["m"]) == [name for name, _, _ in b.named_params()]
    host_state = {k: ({n: host(x).copy() for n, x in v.items()} if isinstance(v, dict) else v)
                  for k, v in state_a.items()}
    # Adam's state into a fresh FusedAdam and FusedAdam's into a fresh Adam: both continue as one run would.
    c, d = model(), model()
    for src, dst in ((a, c), (b, d)):
        for (_, p, _), (_, q, _) in zip(src.named_params(), dst.named_params()):
            q[...] = p
    opt_c, opt_d = FusedAdam(c), Adam(d)
    opt_c.load_state_dict(host_state)
    opt_d.load_state_dict(state_b)
    for g in grads[3:]:
        for m, o in ((a, opt_a), (c, opt_c), (d, opt_d)):
            set_grads(m, list(g))
            o.step()
    assert_same(a, c, opt_a, opt_c)
    assert_same(a, d, opt_a, opt_d)


def test_the_old_checkpoint_file_resumes_with_fused_adam():
    model, state, _, config = load_checkpoint(DATA / "old-checkpoint-9ebd188.npz")
    twin, _, _, _ = load_checkpoint(DATA / "old-checkpoint-9ebd188.npz")
    fused, plain = FusedAdam(model, lr=1e-2), Adam(twin, lr=1e-2)
    fused.load_state_dict(state)
    plain.load_state_dict(state)
    saved = raw_arrays(DATA / "old-checkpoint-9ebd188.npz")
    for name, _, _ in model.named_params():
        np.testing.assert_array_equal(fused.state_dict()["v"][name], saved[f"optim.v/{name}"])
    x = np.asarray(config["x"], dtype=np.float32)
    for m, opt in ((model, fused), (twin, plain)):
        train_step(m, BCE(), opt, x)
    assert fused.t == 4
    assert_same(model, twin, fused, plain)


def test_the_train_command_resumes_across_the_two_optimizers(tmp_path, monkeypatch, small_test_set):
    """A run saved by one Adam and resumed by the other ends bit for bit where one uninterrupted run ends."""
    from scratchae import recipes

    monkeypatch.setattr(train, "write_figures", lambda *args: None)  # not under test here, and slow
    made = []

    def using(cls):
        def make(model, lr):
            made.append(cls(model, lr=lr))
            return made[-1]
        return make

    straight = tmp_path / "straight"
    assert run_main(*QUICK, "--epochs", 2, "--seed", 4, "--out", straight) == 0
    a, state_a, pa = params_of(straight / "checkpoint.npz")
    for first, then in ((Adam, FusedAdam), (FusedAdam, Adam)):
        split = tmp_path / f"{first.__name__}-then-{then.__name__}"
        with monkeypatch.context() as m:
            m.setattr(recipes, "make_adam", using(first))
            assert run_main(*QUICK, "--epochs", 1, "--seed", 4, "--out", split) == 0
            m.setattr(recipes, "make_adam", using(then))
            assert run_main("--resume", split / "checkpoint.npz", "--epochs", 2, "--quiet") == 0
        b, state_b, pb = params_of(split / "checkpoint.npz")
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
            np.testing.assert_array_equal(state_a["v"][name], state_b["v"][name], err_msg=name)
        assert state_a["type"] == state_b["type"] == "Adam" and state_a["t"] == state_b["t"] == 10
        assert [r["test_loss"] for r in pa.metrics] == [r["test_loss"] for r in pb.metrics]
    assert [type(o) for o in made] == [Adam, FusedAdam, FusedAdam, Adam]  # the straight run: make_adam's FusedAdam


def test_the_commands_use_fused_adam():
    from scratchae import recipes, series_detect

    cfg = {"model": "dense", "dims": [12, 4], "seed": 0, "lr": 1e-3, "loss": "bce"}
    assert type(recipes.make_run(cfg, array_api_strict, np.zeros((4, 12), np.float32)).optimizer) is FusedAdam
    assert series_detect.make_adam is make_adam


class OpCounter:
    """Counts the array operations a call issues on array_api_strict: its functions and its arrays' operators.

    Only the outermost call counts (an operator that calls a function inside array_api_strict is one operation).
    A test tool for this file; benchmarks/op_counts.py counts whole steps.
    """

    OPERATORS = ("__add__", "__radd__", "__iadd__", "__sub__", "__rsub__", "__isub__", "__mul__", "__rmul__",
                 "__imul__", "__truediv__", "__rtruediv__", "__itruediv__", "__pow__", "__rpow__", "__neg__",
                 "__matmul__", "__getitem__", "__setitem__", "__eq__", "__lt__", "__gt__")

    def __init__(self, monkeypatch):
        self.calls, self.depth = {}, 0
        array = type(array_api_strict.asarray(0.0))
        for name in self.OPERATORS:
            monkeypatch.setattr(array, name, self.wrap(name, getattr(array, name)))
        for name in dir(array_api_strict):
            fn = getattr(array_api_strict, name)
            if not name.startswith("_") and callable(fn) and not isinstance(fn, type):
                monkeypatch.setattr(array_api_strict, name, self.wrap(name, fn))

    def wrap(self, name, fn):
        def counted(*args, **kw):
            if self.depth == 0:
                self.calls[name] = self.calls.get(name, 0) + 1
            self.depth += 1
            try:
                return fn(*args, **kw)
            finally:
                self.depth -= 1
        return counted

    def count(self, call):
        self.calls = {}
        call()
        return sum(self.calls.values()), dict(self.calls)


def test_fused_adam_issues_a_dozen_operations_where_adam_issues_twelve_per_parameter(monkeypatch):
    """The reference model (784-256-128-64-32-32 and its mirror, 20 parameters) on the array_api_strict backend."""
    strict = {"xp": array_api_strict, "device": array_api_strict.Device("device1")}
    a, b = dense_autoencoder(rng=0, **strict), dense_autoencoder(rng=0, **strict)
    opt_a, opt_b = Adam(a), FusedAdam(b)
    grads = [array_api_strict.asarray(np.random.default_rng(1).standard_normal(tuple(p.shape)), dtype=p.dtype,
                                      device=strict["device"]) for _, p, _ in a.named_params()]
    set_grads(a, list(grads))
    set_grads(b, list(grads))
    counter = OpCounter(monkeypatch)
    plain, plain_calls = counter.count(opt_a.step)
    fused, fused_calls = counter.count(opt_b.step)
    print(f"Adam.step: {plain} array operations {plain_calls}; FusedAdam.step: {fused} {fused_calls}")
    assert plain == 12 * 20 and plain_calls["sqrt"] == 20
    # 12 elementwise operations + 1 concat that flattens and joins the 20 gradients: 13, whatever their number.
    assert fused == 12 + 1 and fused_calls["concat"] == 1 and fused_calls["sqrt"] == 1
    assert_same(a, b, opt_a, opt_b)  # counting changed nothing
    # A whole training step (benchmarks/README.md quotes both): the forward and backward are the same work, so the
    # two counts differ by exactly the optimizers' difference.
    xb = array_api_strict.asarray(np.random.default_rng(2).random((8, 784)), dtype=array_api_strict.float32,
                                  device=strict["device"])
    whole_plain, _ = counter.count(lambda: train_step(a, BCE(), opt_a, xb))
    whole_fused, _ = counter.count(lambda: train_step(b, BCE(), opt_b, xb))
    print(f"a whole reference step: {whole_plain} with Adam, {whole_fused} with FusedAdam")
    assert whole_plain - whole_fused == plain - fused and whole_fused <= 120  # issue 24's target; 341 -> 114 here
