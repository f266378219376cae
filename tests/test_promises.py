"""The training machinery's promises, one test each: what fit, the per-step randomness, the fused-gradient shortcut,
the passes over a data set, make_run and the builders say in their docstrings, checked against an independent
computation (float64 wherever numbers are compared)."""
import math
import os
import signal

import numpy as np
import pytest

from conftest import host
from scratchae.backend import to_device
from scratchae.conv import Conv2D, Conv2DTranspose, init_kernel
from scratchae.data import batch_slices, epoch_order, step_rng
from scratchae.denoise import add_noise, denoise_step, evaluate_denoising, keras_blog_denoiser, tf_denoiser
from scratchae.fit import Diverged, Interrupted, Progress, fit, load_checkpoint, save_checkpoint
from scratchae.layers import Clip, Dense, ReLU, Sigmoid
from scratchae.losses import BCE, MSE
from scratchae.models import Sequential, conv_autoencoder, conv_pool_autoencoder, dense_autoencoder, init_output_bias
from scratchae.optim import Adam
from scratchae.recipes import TEST_NOISE_STREAM, build_model, make_run, noisy_test_set
from scratchae.training import (backward_from_loss, encode_all, evaluate, output_grad, reconstruction_errors,
                                train_step)
from scratchae.vae import dense_vae

N, B = 50, 8  # 7 steps an epoch, the last of 2 images
SEED = 11


def quiet_fit(*args, **kw):
    kw.setdefault("on_epoch", lambda row: None)
    return fit(*args, quiet=True, **kw)


def index_images(backend, n=N, d=3):
    """(n, d) float64 images whose column 0 is the image's index, on the backend."""
    x = np.random.default_rng(0).random((n, d))
    x[:, 0] = np.arange(n)
    return backend.asarray(x)


# ---------------------------------------------------------------- fit: order, batches, per-step generators


def test_each_epoch_visits_every_image_once_in_epoch_order(backend):
    x = index_images(backend)
    xp = backend.xp
    seen = []  # (index array, batch size) per step

    def step(xb, rng):
        seen.append(host(xb[:, 0]).astype(int))
        return xp.sum(xb[:, 1]) * 0.0

    quiet_fit(None, None, step, None, x, epochs=3, batch_size=B, seed=SEED)
    steps = -(-N // B)
    assert len(seen) == 3 * steps
    orders = []
    for e in range(3):
        batches = seen[e * steps:(e + 1) * steps]
        assert [len(b) for b in batches] == [B] * (steps - 1) + [N - B * (steps - 1)]  # the last one smaller
        order = np.concatenate(batches)
        np.testing.assert_array_equal(order, epoch_order(N, SEED, e))  # the promised order...
        assert sorted(order.tolist()) == list(range(N))  # ...which visits every image exactly once
        orders.append(order)
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])


def test_epoch_order_repeats_for_the_same_seed_and_epoch_only():
    a = epoch_order(N, SEED, 1)
    np.testing.assert_array_equal(a, epoch_order(N, SEED, 1))
    assert not np.array_equal(a, epoch_order(N, SEED, 0)) and not np.array_equal(a, epoch_order(N, SEED + 1, 1))
    assert not np.array_equal(a, np.arange(N))  # shuffled, not the identity


def test_step_k_of_epoch_e_gets_step_rng_seed_e_k(backend):
    x = index_images(backend)
    xp = backend.xp
    draws = []

    def step(xb, rng):
        draws.append(rng.standard_normal(4))
        return xp.sum(xb[:, 1]) * 0.0

    quiet_fit(None, None, step, None, x, epochs=2, batch_size=B, seed=SEED)
    steps = -(-N // B)
    expected = [step_rng(SEED, e, k).standard_normal(4) for e in range(2) for k in range(steps)]
    np.testing.assert_array_equal(np.array(draws), np.array(expected))
    flat = np.array(draws)
    assert len({row.tobytes() for row in flat}) == len(flat)  # different at every step of every epoch


def test_batch_slices_cover_n_in_order_with_a_smaller_last():
    assert list(batch_slices(10, 4)) == [(0, 4), (4, 8), (8, 10)]
    assert list(batch_slices(8, 4)) == [(0, 4), (4, 8)]
    assert list(batch_slices(3, 10)) == [(0, 3)]


# ---------------------------------------------------------------- fit: the reported numbers


def test_train_terms_are_the_mean_over_the_epochs_images(backend):
    """Each term's value is a per-batch mean; the row's train_<name> is the mean over all N images, so the last,
    smaller batch counts by its size (an unweighted mean of the batch values would differ)."""
    x = index_images(backend)
    xp = backend.xp

    def step(xb, rng):
        return {"loss": xp.mean(xb[:, 0]), "square": xp.mean(xb[:, 1] * xb[:, 1])}

    rows = quiet_fit(None, None, step, None, x, epochs=2, batch_size=B, seed=SEED)
    xh = host(x)
    for row in rows:
        assert row["train_loss"] == pytest.approx(xh[:, 0].mean(), rel=1e-12)
        assert row["train_square"] == pytest.approx((xh[:, 1] ** 2).mean(), rel=1e-12)


def test_rows_hold_epoch_train_eval_seconds_and_images_per_s():
    x = np.random.default_rng(1).random((N, 3))
    calls = []

    def step(xb, rng):
        return np.sum(xb) * 0.0

    rows = quiet_fit(None, None, step, lambda: {"test_loss": 0.25}, x, epochs=2, batch_size=B, seed=SEED,
                     on_epoch=calls.append)
    assert calls == rows and [r["epoch"] for r in rows] == [1, 2]
    for row in rows:
        assert list(row) == ["epoch", "train_loss", "test_loss", "seconds", "images_per_s"]
        assert row["images_per_s"] == pytest.approx(N / row["seconds"], rel=1e-12)
    bare = quiet_fit(None, None, step, None, x, epochs=1, batch_size=B, seed=SEED)  # evaluate None adds nothing
    assert list(bare[0]) == ["epoch", "train_loss", "seconds", "images_per_s"]


def test_fit_trains_until_epochs_complete_from_progress():
    x = np.random.default_rng(1).random((N, 3))
    count = {"n": 0}

    def step(xb, rng):
        count["n"] += 1
        return np.sum(xb) * 0.0

    progress = Progress()
    rows = quiet_fit(None, None, step, None, x, epochs=2, batch_size=B, seed=SEED, progress=progress)
    assert count["n"] == 2 * 7 and rows is progress.metrics
    assert (progress.epoch, progress.step, progress.sums, progress.seen) == (2, 0, {}, 0)
    assert quiet_fit(None, None, step, None, x, epochs=2, batch_size=B, seed=SEED, progress=progress) == rows
    assert count["n"] == 14  # already complete: no step runs


# ---------------------------------------------------------------- fit: checkpoints, Ctrl-C, resume, divergence


def small_model(backend, seed=0):
    return dense_autoencoder((6, 4, 2), rng=seed, **backend.kw())


def denoising_step_of(model, optimizer, loss):
    def step(xb, rng):  # uses the step's generator: a resume must hand it the same one
        return denoise_step(model, loss, optimizer, xb, rng, 0.3)
    return step


def train_data(backend):
    return backend.asarray(np.random.default_rng(2).random((N, 6)))


def params_of(model):
    return {name: host(p).copy() for name, p, _ in model.named_params()}


def same_rows(a, b):
    strip = [{k: v for k, v in row.items() if k not in ("seconds", "images_per_s")} for row in a]
    return strip == [{k: v for k, v in row.items() if k not in ("seconds", "images_per_s")} for row in b]


def straight_run(backend, tmp_path, epochs=3):
    model = small_model(backend)
    optimizer, loss = Adam(model, lr=0.01), BCE()
    rows = quiet_fit(model, optimizer, denoising_step_of(model, optimizer, loss), lambda: {"test_loss": 1.0},
                     train_data(backend), epochs=epochs, batch_size=B, seed=SEED, checkpoint=tmp_path / "s.npz",
                     config={"run": "straight"})
    return rows, params_of(model)


def resume(backend, path, epochs=3):
    model, state, progress, config = load_checkpoint(path, xp=backend.xp, device=backend.device)
    optimizer, loss = Adam(model, lr=0.01), BCE()
    optimizer.load_state_dict(state)
    rows = quiet_fit(model, optimizer, denoising_step_of(model, optimizer, loss), lambda: {"test_loss": 1.0},
                     train_data(backend), epochs=epochs, batch_size=B, seed=SEED, progress=progress,
                     checkpoint=path, config=config)
    return rows, params_of(model)


def test_resume_after_ctrl_c_mid_epoch_ends_bit_for_bit_where_a_straight_run_ends(backend, tmp_path):
    rows, params = straight_run(backend, tmp_path)
    model = small_model(backend)
    optimizer, loss = Adam(model, lr=0.01), BCE()
    inner = denoising_step_of(model, optimizer, loss)
    calls = {"n": 0}

    def step(xb, rng):
        calls["n"] += 1
        if calls["n"] == 10:  # epoch 2, step 3: Ctrl-C arrives during the step
            os.kill(os.getpid(), signal.SIGINT)
        return inner(xb, rng)

    handler = signal.getsignal(signal.SIGINT)
    path = tmp_path / "c.npz"
    with pytest.raises(Interrupted, match="interrupted at epoch 2, step 3$"):
        quiet_fit(model, optimizer, step, lambda: {"test_loss": 1.0}, train_data(backend), epochs=3, batch_size=B,
                  seed=SEED, checkpoint=path, config={"run": "broken"})
    assert signal.getsignal(signal.SIGINT) is handler  # StopFlag put the previous handler back
    _, _, progress, config = load_checkpoint(path)
    assert (progress.epoch, progress.step, progress.seen) == (1, 3, 3 * B)  # the step ran to its end
    assert config == {"run": "broken"}
    resumed_rows, resumed = resume(backend, path)
    assert same_rows(resumed_rows, rows)
    for name in params:
        np.testing.assert_array_equal(resumed[name], params[name], err_msg=name)


def test_resume_from_an_end_of_epoch_checkpoint_is_bit_exact(backend, tmp_path):
    rows, params = straight_run(backend, tmp_path)
    model = small_model(backend)
    optimizer, loss = Adam(model, lr=0.01), BCE()
    path = tmp_path / "e.npz"
    quiet_fit(model, optimizer, denoising_step_of(model, optimizer, loss), lambda: {"test_loss": 1.0},
              train_data(backend), epochs=1, batch_size=B, seed=SEED, checkpoint=path, config={})
    resumed_rows, resumed = resume(backend, path)
    assert same_rows(resumed_rows, rows)
    for name in params:
        np.testing.assert_array_equal(resumed[name], params[name], err_msg=name)


def test_a_checkpoint_is_written_after_every_epoch(tmp_path):
    model = dense_autoencoder((6, 4, 2), rng=0, dtype="float64")
    optimizer, loss = Adam(model, lr=0.01), BCE()
    path = tmp_path / "c.npz"
    checked = []

    def on_epoch(row):
        saved, state, progress, config = load_checkpoint(path)
        assert progress.epoch == row["epoch"] and progress.step == 0 and progress.metrics[-1] == row
        assert state["t"] == optimizer.t and config == {"k": 1}
        for (name, p, _), (_, q, _) in zip(model.named_params(), saved.named_params()):
            np.testing.assert_array_equal(q, p, err_msg=name)
        checked.append(row["epoch"])

    quiet_fit(model, optimizer, lambda xb, rng: train_step(model, loss, optimizer, xb), None,
              np.random.default_rng(2).random((N, 6)), epochs=2, batch_size=B, seed=SEED, checkpoint=path,
              config={"k": 1}, on_epoch=on_epoch)
    assert checked == [1, 2]


def test_divergence_is_reported_at_its_step_and_the_checkpoint_predates_it(backend, tmp_path):
    model = small_model(backend)
    optimizer, loss = Adam(model, lr=0.01), BCE()
    path = tmp_path / "c.npz"
    calls = {"n": 0}
    after_epoch_1 = {}

    def step(xb, rng):
        calls["n"] += 1
        value = train_step(model, loss, optimizer, xb)  # the weights keep moving after the bad step
        return value * math.nan if calls["n"] >= 7 + 3 else value  # epoch 2, step 3 onward

    def on_epoch(row):
        after_epoch_1.update(params_of(model))

    with pytest.raises(Diverged, match="loss became nan at epoch 2, step 3$"):
        quiet_fit(model, optimizer, step, None, train_data(backend), epochs=3, batch_size=B, seed=SEED,
                  checkpoint=path, config={}, on_epoch=on_epoch)
    saved, state, progress, _ = load_checkpoint(path)
    assert (progress.epoch, progress.step, state["t"]) == (1, 0, 7)
    for name, p, _ in saved.named_params():
        np.testing.assert_array_equal(p, after_epoch_1[name], err_msg=name)


def test_an_infinite_loss_is_divergence_too():
    x = np.random.default_rng(1).random((N, 3))
    with pytest.raises(Diverged, match="loss became inf at epoch 1, step 1$"):
        quiet_fit(None, None, lambda xb, rng: np.asarray(np.inf), None, x, epochs=1, batch_size=B, seed=SEED)


def test_save_and_load_checkpoint_round_trip(backend, tmp_path):
    model = small_model(backend)
    optimizer, loss = Adam(model, lr=0.02, betas=(0.8, 0.99), eps=1e-6), BCE()
    x = train_data(backend)
    for _ in range(2):
        train_step(model, loss, optimizer, x)
    progress = Progress(epoch=2, step=3, sums={"loss": 1.5, "kl": 0.25}, seen=24, seconds=1.5,
                        metrics=[{"epoch": 1, "train_loss": 0.5}])
    save_checkpoint(tmp_path / "c.npz", model, optimizer, progress, {"seed": 3, "dims": [6, 4, 2]})
    loaded, state, got, config = load_checkpoint(tmp_path / "c.npz", xp=backend.xp, device=backend.device)
    assert got == progress and config == {"seed": 3, "dims": [6, 4, 2]}
    for (name, p, _), (_, q, _) in zip(model.named_params(), loaded.named_params()):
        np.testing.assert_array_equal(host(q), host(p), err_msg=name)
    fresh = Adam(loaded)
    fresh.load_state_dict(state)
    assert (fresh.t, fresh.lr, fresh.betas, fresh.eps) == (2, 0.02, (0.8, 0.99), 1e-6)
    for key in ("m", "v"):
        for name, a in getattr(optimizer, key).items():
            np.testing.assert_array_equal(host(getattr(fresh, key)[name]), host(a), err_msg=f"{key} {name}")


# ---------------------------------------------------------------- the fused-gradient shortcut


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def chain_rule(kind, loss_name, reduction, x, t, W, b):
    """dL/dW and dL/db of L = loss(f(x W + b), t) by the plain chain rule, in NumPy: f is Sigmoid, Sigmoid then
    Clip(0, 1) (a non-Sigmoid last layer that changes nothing), or the identity."""
    z = x @ W + b
    p = z if kind == "dense" else sigmoid(z)
    n = p.size if reduction == "pixel" else p.shape[0]
    if loss_name == "bce":
        pc = np.clip(p, 1e-7, 1 - 1e-7)
        dp = (pc - t) / (pc * (1 - pc)) / n
    else:
        dp = 2 * (p - t) / n
    dz = dp if kind == "dense" else dp * p * (1 - p)
    return dp, x.T @ dz, dz.sum(axis=0)


@pytest.mark.parametrize("reduction", ["pixel", "image"])
@pytest.mark.parametrize("kind, loss_name, fused", [("sigmoid", "bce", True), ("sigmoid", "mse", False),
                                                    ("clip", "bce", False), ("dense", "mse", False)])
def test_output_grad_fuses_only_bce_behind_a_sigmoid(backend, kind, loss_name, fused, reduction):
    rng = np.random.default_rng(5)
    dense = Dense(5, 4, rng=rng, **backend.kw())
    layers = {"sigmoid": [dense, Sigmoid()], "clip": [dense, Sigmoid(), Clip(0.0, 1.0)], "dense": [dense]}[kind]
    model = Sequential(layers)
    xh, th = rng.random((6, 5)), rng.uniform(0.05, 0.95, (6, 4))
    x, t = backend.asarray(xh), backend.asarray(th)
    loss = (BCE if loss_name == "bce" else MSE)(reduction=reduction)
    loss.forward(model.forward(x), t)
    dp, dW, db = chain_rule(kind, loss_name, reduction, xh, th, host(dense.params["W"]), host(dense.params["b"]))
    dout, skip_last = output_grad(model, loss)
    assert skip_last is fused
    if fused:  # the gradient at the Sigmoid's input, (p - t) / n
        p = host(layers[-1].out)
        np.testing.assert_allclose(host(dout), (p - th) / (p.size if reduction == "pixel" else p.shape[0]),
                                   rtol=1e-12)
    else:  # loss.backward(): the gradient at the model's output
        np.testing.assert_allclose(host(dout), dp, rtol=1e-10)
    loss.forward(model.forward(x), t)
    backward_from_loss(model, loss)
    np.testing.assert_allclose(host(dense.grads["W"]), dW, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(host(dense.grads["b"]), db, rtol=1e-9, atol=1e-15)


def poison_grads(model, xp):
    for layer in model.layers:
        for key, g in layer.grads.items():
            layer.grads[key] = xp.full_like(g, math.nan)


@pytest.mark.parametrize("build", [lambda kw: dense_autoencoder((12, 6, 3), rng=0, **kw),
                                   lambda kw: conv_autoencoder(rng=0, **kw),
                                   lambda kw: tf_denoiser(rng=0, **kw)], ids=["dense", "conv", "tf-denoiser"])
def test_skip_last_and_no_input_grad_give_the_full_backwards_parameter_gradients(backend, build):
    model = build(backend.kw())
    d = model.layers[0].in_features if isinstance(model.layers[0], Dense) else 784
    x = backend.asarray(np.random.default_rng(3).random((2, d)))
    loss = BCE()
    loss.forward(model.forward(x), x)
    results = {}
    for name, how in {"full": dict(), "skip_last": dict(skip_last=True), "no_dx": dict(input_grad=False),
                      "both": dict(skip_last=True, input_grad=False)}.items():
        poison_grads(model, backend.xp)  # a gradient a variant forgets to compute stays NaN
        dout = loss.backward_logits() if how.get("skip_last") else loss.backward()
        dx = model.backward(dout, **how)
        results[name] = (None if dx is None else host(dx), params_grads(model))
    for name in ("no_dx", "both"):
        assert results[name][0] is None
    np.testing.assert_allclose(results["skip_last"][0], results["full"][0], rtol=1e-9, atol=1e-14)
    for name in ("skip_last", "no_dx", "both"):
        for key, g in results["full"][1].items():
            assert np.all(np.isfinite(g)), key
            np.testing.assert_allclose(results[name][1][key], g, rtol=1e-9, atol=1e-14, err_msg=f"{name} {key}")


def params_grads(model):
    return {name: host(g).copy() for name, _, g in model.named_params()}


@pytest.mark.parametrize("loss_class", [BCE, MSE])
def test_train_step_is_forward_loss_backward_step_on_the_input_as_target(backend, loss_class):
    x = backend.asarray(np.random.default_rng(4).random((5, 12)))
    a, b = (dense_autoencoder((12, 6, 3), rng=7, **backend.kw()) for _ in range(2))
    loss_a, loss_b = loss_class(), loss_class()
    opt_a, opt_b = Adam(a, lr=0.01), Adam(b, lr=0.01)
    value = train_step(a, loss_a, opt_a, x)
    expected = loss_b.forward(b.forward(x), x)  # the loss before the update
    b.backward(loss_b.backward())  # the plain chain rule, no shortcut
    opt_b.step()
    assert float(value) == pytest.approx(float(expected), rel=1e-12) and value.ndim == 0
    for (name, p, g), (_, q, h) in zip(a.named_params(), b.named_params()):
        np.testing.assert_allclose(host(g), host(h), rtol=1e-9, atol=1e-15, err_msg=name)
        np.testing.assert_allclose(host(p), host(q), rtol=1e-9, atol=1e-12, err_msg=name)


# ---------------------------------------------------------------- passes over a data set


@pytest.mark.parametrize("loss_class", [BCE, MSE])
def test_evaluate_is_the_mean_over_every_row_with_a_smaller_last_batch(backend, loss_class):
    model = dense_autoencoder((12, 6, 3), rng=1, **backend.kw())
    x = backend.asarray(np.random.default_rng(6).random((7, 12)))
    loss = loss_class()
    whole = float(loss.forward(model.forward(x), x))
    assert evaluate(model, loss, x, batch_size=3) == pytest.approx(whole, rel=1e-12)  # batches 3, 3, 1
    assert isinstance(evaluate(model, loss, x, batch_size=3), float)


def test_encode_all_is_every_code_flattened_on_the_host(backend):
    model = dense_autoencoder((12, 6, 3), rng=1, **backend.kw())
    x = backend.asarray(np.random.default_rng(6).random((7, 12)))
    codes = encode_all(model, x, batch_size=3)
    assert isinstance(codes, np.ndarray) and codes.shape == (7, 3)
    np.testing.assert_allclose(codes, host(model.encode(x)), rtol=1e-12)
    conv = conv_pool_autoencoder(rng=0, **backend.kw())
    xc = backend.asarray(np.random.default_rng(6).random((3, 784)))
    codes = encode_all(conv, xc, batch_size=2)
    assert codes.shape == (3, 3136)
    np.testing.assert_allclose(codes, host(conv.encode(xc)).reshape(3, -1), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["pixel", "image"])
@pytest.mark.parametrize("loss_class", [BCE, MSE])
def test_reconstruction_errors_are_each_images_loss_on_its_device(backend, loss_class, reduction):
    model = dense_autoencoder((12, 6, 3), rng=1, **backend.kw())
    xh = np.random.default_rng(6).random((7, 12))
    x = backend.asarray(xh)
    loss = loss_class(reduction=reduction)
    scores = reconstruction_errors(model, loss, x, batch_size=3)
    assert type(scores) is type(x) and scores.shape == (7,)
    if backend.device is not None:
        assert scores.device == x.device
    p = host(model.forward(x))
    if loss_class is BCE:
        pc = np.clip(p, 1e-7, 1 - 1e-7)
        per = -(xh * np.log(pc) + (1 - xh) * np.log1p(-pc))
    else:
        per = (p - xh) ** 2
    expected = per.mean(axis=1) if reduction == "pixel" else per.sum(axis=1)
    np.testing.assert_allclose(host(scores), expected, rtol=1e-10)
    for i in range(7):  # one image alone scores what it scores among the others
        assert float(loss.forward(model.forward(x[i:i + 1, :]), x[i:i + 1, :])) == pytest.approx(
            expected[i] if reduction == "image" else expected[i], rel=1e-10)


# ---------------------------------------------------------------- make_run and the recipes' builders


def cfg_of(**kw):
    return {"model": "dense", "dims": [20, 8, 4], "seed": 5, "lr": 1e-3, "loss": "bce", "output_bias": "zero",
            **kw}


def images(n, d=20, seed=0):
    return np.random.default_rng(seed).random((n, d), dtype=np.float32)


def test_denoising_run_scores_on_one_fixed_noisy_copy():
    cfg = cfg_of(noise=0.3)
    x_train, x_test = images(30), images(9, seed=1)
    run = make_run(cfg, np, x_train, x_test)
    expected = add_noise(x_test, 0.3, np.random.default_rng([5, TEST_NOISE_STREAM]))
    np.testing.assert_array_equal(run.test_inputs, expected)
    np.testing.assert_array_equal(noisy_test_set(cfg, x_test), expected)  # the same every call
    np.testing.assert_array_equal(make_run(cfg, np, x_train, x_test).test_inputs, expected)
    assert not np.array_equal(expected, add_noise(x_test, 0.3, step_rng(5, 0, 0)))  # not a training step's noise
    first, again = run.evaluate(), run.evaluate()
    assert first == again == evaluate_denoising(run.model, run.loss, expected, x_test)
    for k in range(3):  # training steps draw their own noise and leave the test copy alone
        run.step(x_train[:8], step_rng(5, 0, k))
    np.testing.assert_array_equal(run.test_inputs, expected)
    assert run.evaluate() == evaluate_denoising(run.model, run.loss, expected, x_test) != first


def test_denoise_step_draws_its_noise_from_the_steps_generator():
    cfg = cfg_of(noise=0.3)
    xb = images(8)
    a, b = make_run(cfg, np, xb), make_run(cfg, np, xb)
    va = a.step(xb, step_rng(5, 1, 2))
    noisy = add_noise(xb, 0.3, step_rng(5, 1, 2))
    expected = b.loss.forward(b.model.forward(noisy), xb)  # the noisy input against the clean target
    assert float(va) == pytest.approx(float(expected), rel=1e-6)


def test_plain_run_steps_with_train_step_and_scores_with_evaluate():
    cfg = cfg_of()
    x_train, x_test = images(30), images(9, seed=1)
    run, twin = make_run(cfg, np, x_train, x_test), make_run(cfg, np, x_train, x_test)
    assert run.test_inputs is x_test
    assert run.evaluate() == {"test_loss": evaluate(twin.model, twin.loss, x_test)}
    value = run.step(x_train[:8], step_rng(5, 0, 0))
    assert float(value) == float(train_step(twin.model, twin.loss, twin.optimizer, x_train[:8]))
    assert make_run(cfg, np, x_train).evaluate is None


def test_vae_run_reports_loss_recon_and_kl():
    cfg = cfg_of(model="vae", dims=[20, 8, 3], loss="elbo")
    run = make_run(cfg, np, images(30), images(9, seed=1))
    row = run.evaluate()
    assert list(row) == ["test_loss", "test_recon", "test_kl"]
    assert row["test_loss"] == pytest.approx(row["test_recon"] + row["test_kl"], rel=1e-12)
    assert row == run.evaluate()  # the same eps every evaluation
    terms = run.step(images(8), step_rng(5, 0, 0))
    assert list(terms) == ["loss", "recon", "kl"]


@pytest.mark.parametrize("model, dims", [("dense", [20, 8, 4]), ("vae", [20, 8, 3])])
def test_build_model_output_bias_mean_sets_the_last_dense_bias_to_the_mean_logit(model, dims):
    x_train = images(30)
    x_train[:, 0], x_train[:, 1] = 0.0, 1.0  # clipped to [eps, 1 - eps]
    cfg = cfg_of(model=model, dims=dims, output_bias="mean")
    built = build_model(cfg, np, x_train)
    dense = [layer for layer in built.layers if isinstance(layer, Dense)]
    m = np.clip(x_train.mean(axis=0).astype(np.float64), 1e-3, 1 - 1e-3)
    np.testing.assert_allclose(dense[-1].params["b"], np.log(m / (1 - m)), rtol=1e-5)
    assert all(not np.any(layer.params["b"]) for layer in dense[:-1])  # only the output's bias
    zero = build_model(cfg_of(model=model, dims=dims), np, x_train)
    assert all(not np.any(layer.params["b"]) for layer in zero.layers if isinstance(layer, Dense))
    for (name, p, _), (_, q, _) in zip(built.named_params(), zero.named_params()):  # same seed, same weights
        if name.endswith("W"):
            np.testing.assert_array_equal(p, q)


def test_init_output_bias_uses_its_eps_and_the_last_dense_only(backend):
    model = dense_vae((6, 5), 3, rng=0, **backend.kw())
    mean = np.array([0.0, 0.05, 0.5, 0.7, 0.95, 1.0])
    weights = params_of(model)
    init_output_bias(model, backend.asarray(mean), eps=0.1)
    m = np.clip(mean, 0.1, 0.9)
    np.testing.assert_allclose(host(model.decoder.layers[-2].params["b"]), np.log(m / (1 - m)), rtol=1e-12)
    for name, p in params_of(model).items():
        if name != "decoder.2.b":
            np.testing.assert_array_equal(p, weights[name], err_msg=name)


# ---------------------------------------------------------------- initial weights


def assert_std(W, expected, rel=0.05, what=""):
    W = np.asarray(W, dtype=np.float64)
    assert abs(W.mean()) < 4 * expected / math.sqrt(W.size), what
    assert W.std() == pytest.approx(expected, rel=rel), what


def test_dense_is_he_normal_with_zero_bias():
    for n_in, n_out in ((500, 300), (40, 2000)):
        layer = Dense(n_in, n_out, rng=0, dtype="float64")
        assert_std(layer.params["W"], math.sqrt(2 / n_in), what=f"Dense({n_in}, {n_out})")
        assert not np.any(layer.params["b"])


def test_init_kernel_glorot_uniform_bound_and_he_normal_std():
    limit = math.sqrt(6 / (288 + 576))
    W = init_kernel((3, 3, 32, 64), 288, 576, "glorot_uniform", 0, np, None, "float64")
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.99 * limit
    assert_std(W, limit / math.sqrt(3), rel=0.03)
    W = init_kernel((3, 3, 32, 64), 288, 576, "he_normal", 0, np, None, "float64")
    assert_std(W, math.sqrt(2 / 288), rel=0.03)


def test_convolution_fans_are_keras_for_both_layouts():
    """A (k, k, a, b) kernel has fan_in a k k and fan_out b k k: Conv2D's a is its input channels, Conv2DTranspose's
    a is its filters (Keras's layout (k, k, filters, in))."""
    conv = Conv2D(16, 64, 3, rng=0, dtype="float64")
    assert conv.params["W"].shape == (3, 3, 16, 64)
    assert_std(conv.params["W"], math.sqrt(2 / (16 * 9)), rel=0.05)
    up = Conv2DTranspose(64, 16, 3, rng=0, dtype="float64")
    assert up.params["W"].shape == (3, 3, 16, 64)
    assert_std(up.params["W"], math.sqrt(2 / (16 * 9)), rel=0.05)
    glorot = Conv2DTranspose(64, 16, 3, init="glorot_uniform", rng=0, dtype="float64")
    limit = math.sqrt(6 / ((16 + 64) * 9))
    assert 0.99 * limit < np.abs(glorot.params["W"]).max() <= limit
    assert not np.any(conv.params["b"]) and not np.any(up.params["b"])


def conv_layers(model):
    return [layer for layer in model.layers if isinstance(layer, (Conv2D, Conv2DTranspose))]


def check_kernel_spread(layer, init):
    W = np.asarray(layer.params["W"], dtype=np.float64)
    k2 = W.shape[0] * W.shape[1]
    fan_in, fan_out = W.shape[2] * k2, W.shape[3] * k2
    if init == "he_normal":
        # 144 to 36864 weights: a 25% band holds the smallest kernel's estimate and fails a factor sqrt(2)
        assert_std(W, math.sqrt(2 / fan_in), rel=0.25, what=repr(layer))
    else:
        limit = math.sqrt(6 / (fan_in + fan_out))
        assert np.abs(W).max() <= limit and np.abs(W).max() > 0.8 * limit, repr(layer)
        assert_std(W, limit / math.sqrt(3), rel=0.25, what=repr(layer))
    assert not np.any(layer.params["b"])


@pytest.mark.parametrize("build", [conv_autoencoder, conv_pool_autoencoder])
@pytest.mark.parametrize("init", ["he_normal", "glorot_uniform"])
def test_conv_autoencoders_kernels_follow_init(build, init):
    model = build(rng=0, dtype="float64") if init == "he_normal" else build(init=init, rng=0, dtype="float64")
    for layer in conv_layers(model):
        assert layer.init == init
        check_kernel_spread(layer, init)


def test_conv_autoencoder_shapes_and_pool_variant_layers():
    shapes = [(type(c).__name__, c.in_channels, c.filters, c.stride) for c in conv_layers(conv_pool_autoencoder(rng=0))]
    assert shapes == [("Conv2D", 1, 32, 1), ("Conv2D", 32, 64, 1), ("Conv2D", 64, 64, 1), ("Conv2D", 64, 32, 1),
                      ("Conv2D", 32, 1, 1)]
    model = conv_pool_autoencoder(rng=0)
    pools = [(type(layer).__name__, getattr(layer, "pool_size", None) or getattr(layer, "size", None))
             for layer in model.layers if type(layer).__name__ in ("MaxPool2D", "UpSampling2D")]
    assert [name for name, _ in pools] == ["MaxPool2D", "MaxPool2D", "UpSampling2D", "UpSampling2D"]
    assert all(size in (2, (2, 2)) for _, size in pools)
    x = np.random.default_rng(0).random((2, 784), dtype=np.float32)
    assert model.decoder.layers[0].forward(model.encode(x)).shape == (2, 7, 7, 64)


@pytest.mark.parametrize("build, convs", [
    (tf_denoiser, [("Conv2D", 1, 16, 2), ("Conv2D", 16, 8, 2), ("Conv2DTranspose", 8, 8, 2),
                   ("Conv2DTranspose", 8, 16, 2), ("Conv2D", 16, 1, 1)]),
    (keras_blog_denoiser, [("Conv2D", 1, 32, 1), ("Conv2D", 32, 32, 1), ("Conv2D", 32, 32, 1),
                           ("Conv2D", 32, 32, 1), ("Conv2D", 32, 1, 1)])], ids=["tf", "keras-blog"])
def test_denoisers_widths_strides_and_glorot_uniform_kernels(build, convs):
    model = build(rng=0, dtype="float64")
    layers = conv_layers(model)
    assert [(type(c).__name__, c.in_channels, c.filters, c.stride) for c in layers] == convs
    assert all(c.kernel_size == 3 and c.padding == "same" for c in layers)
    assert isinstance(model.layers[-1], Sigmoid)
    for layer in layers:
        assert layer.init == "glorot_uniform"
        check_kernel_spread(layer, "glorot_uniform")


def test_dense_autoencoder_widths_mirror_and_weights_are_he_normal():
    model = dense_autoencoder((300, 200, 100, 50), rng=0, dtype="float64")
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    assert [(d.in_features, d.out_features) for d in dense] == [(300, 200), (200, 100), (100, 50), (50, 100),
                                                                 (100, 200), (200, 300)]
    kinds = [type(layer).__name__ for layer in model.decoder.layers]
    assert kinds == ["Dense", "ReLU", "Dense", "ReLU", "Dense", "Sigmoid"]
    assert [type(layer).__name__ for layer in model.encoder.layers] == ["Dense", "ReLU"] * 3  # the code too
    for d in dense:
        assert_std(d.params["W"], math.sqrt(2 / d.in_features), what=repr(d))
        assert not np.any(d.params["b"])
    first = [host(d.params["W"]) for d in dense]  # one generator: layers differ, a seed repeats
    draws = [w.ravel()[:1000] / math.sqrt(2 / w.shape[0]) for w in first]  # the standard normals drawn
    assert not np.allclose(draws[0], draws[1])  # not one seed per layer
    again = dense_autoencoder((300, 200, 100, 50), rng=0, dtype="float64")
    for d, e in zip(dense, [layer for layer in again.layers if isinstance(layer, Dense)]):
        np.testing.assert_array_equal(d.params["W"], e.params["W"])


@pytest.mark.parametrize("gain", [1 / 3, 2.0, 0.5])
def test_dense_vae_gain_sets_the_weight_spread(gain):
    model = dense_vae((300, 200), 50, gain=gain, rng=0, dtype="float64")
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    assert [(d.in_features, d.out_features) for d in dense] == [(300, 200), (200, 50), (200, 50), (50, 200),
                                                                 (200, 300)]
    assert isinstance(model.layers[-1], Sigmoid) and model.latent == 50
    for d in dense:
        assert_std(d.params["W"], math.sqrt(gain / d.in_features), what=repr(d))
        assert not np.any(d.params["b"])


def test_dense_vae_default_gain_is_a_third():
    default = dense_vae((300, 200), 50, rng=0, dtype="float64")
    third = dense_vae((300, 200), 50, gain=1 / 3, rng=0, dtype="float64")
    for (name, p, _), (_, q, _) in zip(default.named_params(), third.named_params()):
        np.testing.assert_array_equal(p, q, err_msg=name)
