"""The convolutional VAE (scratchae/cvae.py): shapes, whole-model gradient checks in float64, the Monte Carlo ELBO
against an independent NumPy computation, the PyTorch twin of benchmarks/cvae_torch.py, and the cvae preset."""
import json
import math
import pathlib
import sys

import numpy as np
import pytest

from conftest import host
from scratchae import assert_close, train
from scratchae.conv import Conv2D, Conv2DTranspose
from scratchae.cvae import binarize, conv_vae, log_normal, monte_carlo_elbo
from scratchae.data import load
from scratchae.gradcheck import _compare, random_like
from scratchae.losses import BCE
from scratchae.layers import ReLU
from scratchae.vae import KL, evaluate_vae
from test_conv_models import FrozenReLU

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))

TOL = 1e-7
ENTRIES = 12  # probed entries per array: the conv kernels have up to 18,432
# h = 3e-4 on the frozen (smooth) model, as test_conv_models.py measured for Glorot-uniform conv weights: at 1e-5
# the rounding error of f over its smallest gradients can pass 1e-7.
H = 3e-4


def frozen(model, x, eps):
    """The model with every ReLU's mask fixed at (x, eps): smooth there, so central differences see no kink.

    Two images give the conv VAE about 10^5 ReLU units; a bias nudge of h moves a whole channel of them, and a few
    lie within h of 0, which puts errors of ~1e-3 into a correct gradient (measured: 4.6e-3 at h = 1e-5).
    """
    for seq in (model.encoder, model.decoder):
        seq.layers = [FrozenReLU() if type(layer) is ReLU else layer for layer in seq.layers]
    model.forward(x, eps)
    for layer in model.layers:
        if isinstance(layer, FrozenReLU):
            layer.frozen = True
    return model


def images(backend, rng, n=2, dtype="float64"):
    return backend.asarray(rng.uniform(0, 1, (n, 784)) > 0.5, dtype)


def test_shapes_follow_the_tutorial():
    model = conv_vae(rng=0)
    x = np.zeros((3, 784), dtype="float32")
    shapes, h = [], x
    for layer in model.encoder.layers:
        h = layer.forward(h)
        shapes.append(tuple(h.shape))
    assert shapes == [(3, 28, 28, 1), (3, 13, 13, 32), (3, 13, 13, 32), (3, 6, 6, 64), (3, 6, 6, 64), (3, 2304)]
    assert [c.padding for c in model.encoder.layers if isinstance(c, Conv2D)] == ["valid", "valid"]
    z, shapes = np.zeros((3, 2), dtype="float32"), []
    for layer in model.decoder.layers:
        z = layer.forward(z)
        shapes.append(tuple(z.shape))
    assert shapes == [(3, 1568), (3, 1568), (3, 7, 7, 32), (3, 14, 14, 64), (3, 14, 14, 64), (3, 28, 28, 32),
                      (3, 28, 28, 32), (3, 28, 28, 1), (3, 784), (3, 784)]
    ups = [c for c in model.decoder.layers if isinstance(c, Conv2DTranspose)]
    assert [(c.filters, c.stride, c.padding) for c in ups] == [(64, 2, "same"), (32, 2, "same"), (1, 1, "same")]
    assert model.latent == 2 and tuple(model.mu_head.params["W"].shape) == (2304, 2)
    limit = math.sqrt(6 / (2304 + 4))  # Glorot over the tutorial's one Dense(2304, 4)
    assert 0.9 * limit < float(np.abs(model.mu_head.params["W"]).max()) <= limit


def test_gradcheck_whole_model_random_upstream(backend, rng, record_gradcheck):
    """Every output (image, mu, logvar) under its own random upstream gradient, eps fixed; dx included."""
    x, eps = images(backend, rng), backend.asarray(rng.standard_normal((2, 2)))
    model = frozen(conv_vae(rng=rng, **backend.kw()), x, eps)
    out = model.forward(x, eps)
    dout, dmu, dlogvar = random_like(out, rng), random_like(model.mu, rng), random_like(model.logvar, rng)
    dx = model.backward(dout, dmu=dmu, dlogvar=dlogvar)
    xp = backend.xp

    def f():
        out = model.forward(x, eps)
        return float(xp.sum(out * dout) + xp.sum(model.mu * dmu) + xp.sum(model.logvar * dlogvar))
    report = {"x": _compare("x", f, x, dx, H, ENTRIES, rng)}
    for name, p, g in model.named_params():
        report[name] = _compare(name, f, p, host(g).copy(), H, ENTRIES, rng)
    assert len(report) == 1 + 2 * 8  # two Conv2D, two heads, a Dense and three Conv2DTranspose
    assert_close(record_gradcheck(report), TOL)


def test_gradcheck_whole_model_through_the_elbo(backend, rng, record_gradcheck):
    """The training step's gradients (logits gradient (p - x) / N, KL into mu and logvar) against the loss."""
    x, eps = images(backend, rng, 3), backend.asarray(rng.standard_normal((3, 2)))
    model = frozen(conv_vae(rng=rng, **backend.kw()), x, eps)
    recon, kl = BCE(reduction="image"), KL()

    def f():
        out = model.forward(x, eps)
        return float(recon.forward(out, x) + kl.forward(model.mu, model.logvar))
    f()
    dmu, dlogvar = kl.backward()
    model.backward(recon.backward_logits(), dmu=dmu, dlogvar=dlogvar, input_grad=False, skip_last=True)
    grads = {name: host(g).copy() for name, _, g in model.named_params()}
    # h = 2e-4 here: f is ~540 nats, so rounding dominates the small encoder gradients at h = 1e-4 (worst 1.2e-7,
    # encoder.3.W), and the h^2 truncation of the KL's exp(logvar) does at h = 3e-4 (1.2e-7, logvar.b), measured.
    report = {name: _compare(name, f, p, grads[name], 2e-4, ENTRIES, rng) for name, p, _ in model.named_params()}
    assert_close(record_gradcheck(report), TOL)


def test_binarize_is_the_tutorials_threshold(backend):
    x = backend.asarray([[0.0, 0.5, 0.50001, 1.0]], "float32")
    b = binarize(x)
    assert b.dtype == x.dtype
    np.testing.assert_array_equal(host(b), [[0.0, 0.0, 1.0, 1.0]])


def test_monte_carlo_elbo_against_numpy(backend, rng):
    model = conv_vae(rng=3, **backend.kw())
    x = images(backend, rng, 5)
    recon = BCE(reduction="image")
    mc = monte_carlo_elbo(model, x, recon, seed=7, batch_size=2)
    analytic = evaluate_vae(model, x, seed=7, batch_size=2)
    # independently: one eps per image from the same generator, log densities written out in NumPy
    eps = np.random.default_rng(7).standard_normal((5, 2))
    mu, logvar = host(model.encode(x)), host(model.logvar_head.forward(model.encoder.forward(x)))
    z = mu + np.exp(logvar / 2) * eps
    log_q = np.sum(-0.5 * (eps ** 2 + logvar + np.log(2 * np.pi)), axis=1)
    log_p = np.sum(-0.5 * (z ** 2 + np.log(2 * np.pi)), axis=1)
    p = np.clip(host(model.decode(backend.asarray(z))), 1e-7, 1 - 1e-7)
    xh = host(x)
    log_px = np.sum(xh * np.log(p) + (1 - xh) * np.log1p(-p), axis=1)
    assert mc["loss"] == pytest.approx(float(np.mean(-(log_px + log_p - log_q))), rel=1e-10)
    assert mc["recon"] == pytest.approx(analytic["recon"], rel=1e-12)  # same eps, same z
    kl = -0.5 * np.sum(1 + logvar - mu ** 2 - np.exp(logvar), axis=1)
    assert analytic["kl"] == pytest.approx(float(kl.mean()), rel=1e-10)
    assert mc["kl_sample"] != pytest.approx(analytic["kl"], rel=1e-6)  # one z: a noisy estimate of the KL


def test_log_normal_matches_the_density(backend, rng):
    z, mu, logvar = (backend.asarray(rng.standard_normal((4, 2))) for _ in range(3))
    expected = np.sum(-0.5 * np.log(2 * np.pi * np.exp(host(logvar)))
                      - (host(z) - host(mu)) ** 2 / (2 * np.exp(host(logvar))), axis=1)
    np.testing.assert_allclose(host(log_normal(z, mu, logvar)), expected, rtol=1e-12)


def test_torch_twin_matches_forward_loss_and_gradients(rng):
    torch = pytest.importorskip("torch")
    import cvae_torch

    model = conv_vae(rng=rng, dtype="float64")
    twin = cvae_torch.copy_weights(model, cvae_torch.TorchCVAE().double())
    x = (rng.uniform(0, 1, (3, 784)) > 0.5).astype("float64")
    eps = rng.standard_normal((3, 2))
    recon, kl = BCE(reduction="image"), KL()
    value = recon.forward(model.forward(x, eps), x) + kl.forward(model.mu, model.logvar)
    dmu, dlogvar = kl.backward()
    model.backward(recon.backward_logits(), dmu=dmu, dlogvar=dlogvar, skip_last=True)
    loss, _, _ = cvae_torch.negative_elbo(twin, torch.tensor(x), torch.tensor(eps))
    loss.backward()
    assert float(value) == pytest.approx(loss.item(), rel=1e-10)
    names = {"encoder.1": "conv1", "encoder.3": "conv2", "mu": "mu", "logvar": "logvar", "decoder.0": "dense",
             "decoder.3": "up1", "decoder.5": "up2", "decoder.7": "up3"}
    for name, _, g in model.named_params():
        layer, key = name.rsplit(".", 1)
        t = getattr(twin, names[layer])
        tg = (t.weight if key == "W" else t.bias).grad.numpy()
        tg = {1: tg, 2: tg.T}.get(tg.ndim) if tg.ndim < 4 else tg.transpose(2, 3, 1, 0)
        np.testing.assert_allclose(g, tg, rtol=1e-8, atol=1e-12, err_msg=name)


@pytest.fixture
def small_test_set(monkeypatch):
    """The first 200 test images: evaluating 10,000 through the conv VAE every epoch would dominate the test."""
    def load_small(dataset, data_dir=None):
        x_train, y_train, x_test, y_test = load(dataset, data_dir)
        return x_train, y_train, x_test[:200], y_test[:200]
    monkeypatch.setattr(train, "load", load_small)


def test_cvae_preset_trains_on_binarized_mnist(tmp_path, capsys, small_test_set):
    out = tmp_path / "run"
    assert train.main(["--preset", "cvae", "--limit", "96", "--quiet", "--epochs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "convolutional VAE (latent 2)" in printed and "batch 32" in printed and "lr 0.0001" in printed
    config = json.loads((out / "config.json").read_text())
    assert (config["model"], config["binarize"], config["loss"], config["epochs"]) == ("cvae", 0.5, "elbo", 1)
    assert {"manifold.png", "samples.png", "latent.png"} <= {p.name for p in out.iterdir()}
    # the printed test loss recomputed: the saved model on the binarized first 200 test images, evaluate's eps
    from scratchae.fit import load_checkpoint
    model, _, _, _ = load_checkpoint(out / "checkpoint.npz")
    x_test = load("mnist")[2][:200]
    expected = evaluate_vae(model, (x_test > 0.5).astype("float32"), seed=0)["loss"]
    assert f"done: test elbo {expected:.5f}" in printed


def test_cvae_refuses_settings_that_do_not_fit(capsys):
    assert train.main(["--preset", "cvae", "--dims", "784", "2"]) == 2
    assert "--dims" in capsys.readouterr().err
    assert train.main(["--preset", "cvae", "--loss", "bce"]) == 2
    assert "elbo" in capsys.readouterr().err


def test_twenty_steps_train_as_the_torch_twin_does():
    """Same weights, batches and eps: after 20 Adam steps the test loss agrees with PyTorch's to 1e-4 (float32)."""
    torch = pytest.importorskip("torch")
    import cvae_torch

    from scratchae import Adam
    from scratchae.data import step_rng
    from scratchae.vae import vae_step

    x_train, _, x_test, _ = load("mnist")
    x_train, x_test = binarize(x_train[:640]), binarize(x_test[:200])
    model = conv_vae(rng=0)
    twin = cvae_torch.copy_weights(model, cvae_torch.TorchCVAE())
    opt, topt = Adam(model, lr=1e-4), torch.optim.Adam(twin.parameters(), lr=1e-4)
    recon, kl = BCE(reduction="image"), KL()
    for k in range(20):
        xb = x_train[32 * k:32 * (k + 1)]
        vae_step(model, recon, kl, opt, xb, step_rng(0, 0, k))
        loss, _, _ = cvae_torch.negative_elbo(twin, torch.tensor(xb),
                                              torch.tensor(step_rng(0, 0, k).standard_normal((32, 2)),
                                                           dtype=torch.float32))
        topt.zero_grad()
        loss.backward()
        topt.step()
    mine, theirs = evaluate_vae(model, x_test, seed=0), cvae_torch.evaluate(twin, torch.tensor(x_test), seed=0)
    assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-4)
    assert mine["loss"] < 540  # it trained: the untrained model scores about 543
    mc = monte_carlo_elbo(model, x_test, recon, seed=0)
    assert mc["loss"] == pytest.approx(theirs["mc_loss"], rel=1e-4)
