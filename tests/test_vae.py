"""VAE: gradient checks of the KL term, the reparameterisation and the whole model; the ELBO against independent
computations; float32 overflow; sampling; save/load."""
import warnings

import numpy as np
import pytest

from conftest import host
from scratchae import Adam, assert_close, check_layer, load_model, numerical_gradient, rel_error, save_model
from scratchae.losses import BCE
from scratchae.vae import KL, evaluate_vae, vae_step
from scratchae.gradcheck import Check, random_like
from scratchae.layers import Clip
from scratchae.vae import LOGVAR_RANGE, Reparameterize, dense_vae

TOL = 1e-7


def compare(name, f, x, analytic, h=1e-5):
    """A gradient Check of ``analytic`` (x's shape) against central differences of the scalar f() in x."""
    numeric = numerical_gradient(f, x, h=h)
    return Check(name, rel_error(numeric, analytic), numeric.ravel(), host(analytic).ravel())


def small_vae(backend, rng, dtype="float64"):
    return dense_vae((12, 7), latent=3, rng=rng, **backend.kw(dtype))


def test_kl_gradcheck(backend, rng, record_gradcheck):
    mu, logvar = backend.asarray(rng.standard_normal((4, 3))), backend.asarray(rng.standard_normal((4, 3)))
    kl = KL()
    kl.forward(mu, logvar)
    dmu, dlogvar = kl.backward()

    def f():
        return float(kl.forward(mu, logvar))
    report = {"mu": compare("mu", f, mu, dmu), "logvar": compare("logvar", f, logvar, dlogvar)}
    assert_close(record_gradcheck(report), TOL)


def test_kl_value_matches_the_gaussian_kl_formula(backend, rng):
    """KL(N(m, s^2) || N(0, 1)) = log(1 / s) + (s^2 + m^2) / 2 - 1/2 per dimension, summed, averaged over rows."""
    mu, logvar = rng.standard_normal((5, 4)), rng.uniform(-3, 2, (5, 4))
    s = np.sqrt(np.exp(logvar))
    expected = np.sum(np.log(1 / s) + (s**2 + mu**2) / 2 - 0.5) / 5
    value = KL().forward(backend.asarray(mu), backend.asarray(logvar))
    assert value.ndim == 0
    np.testing.assert_allclose(float(value), expected, rtol=1e-12)
    assert float(KL().forward(backend.asarray(np.zeros((2, 3))), backend.asarray(np.zeros((2, 3))))) == 0.0


def test_reparameterize_gradcheck_with_eps_fixed(backend, rng, record_gradcheck):
    mu, logvar = backend.asarray(rng.standard_normal((4, 3))), backend.asarray(rng.standard_normal((4, 3)))
    eps = backend.asarray(rng.standard_normal((4, 3)))
    rep = Reparameterize()
    z = rep.forward(mu, logvar, eps)
    dz = random_like(z, rng)
    before = host(dz).copy()
    dmu, dlogvar = rep.backward(dz)
    np.testing.assert_array_equal(host(dz), before)  # backward leaves dout alone

    def f():
        return float(backend.xp.sum(rep.forward(mu, logvar, eps) * dz))
    report = {"mu": compare("mu", f, mu, dmu), "logvar": compare("logvar", f, logvar, dlogvar)}
    assert_close(record_gradcheck(report), TOL)
    np.testing.assert_allclose(host(z), host(mu) + np.exp(host(logvar) / 2) * host(eps), rtol=1e-14)


def test_clip_gradcheck_and_zero_gradient_outside(backend, rng, record_gradcheck):
    inside = rng.uniform(-2.9, 1.9, (4, 3))
    assert_close(record_gradcheck(check_layer(Clip(-3, 2), backend.asarray(inside), rng=rng)), TOL)
    clip = Clip(-3, 2)
    out = clip.forward(backend.asarray([[-5.0, -3.0, 0.5, 2.0, 7.0]]))
    np.testing.assert_array_equal(host(out), [[-3.0, -3.0, 0.5, 2.0, 2.0]])
    np.testing.assert_array_equal(host(clip.backward(backend.asarray([[1.0, 2.0, 3.0, 4.0, 5.0]]))),
                                  [[0.0, 2.0, 3.0, 4.0, 0.0]])


def _vae_outputs_gradcheck(backend, rng):
    model = small_vae(backend, rng)
    x = backend.asarray(rng.uniform(0, 1, (4, 12)))
    eps = backend.asarray(rng.standard_normal((4, 3)))
    out = model.forward(x, eps)
    dout, dmu, dlogvar = random_like(out, rng), random_like(model.mu, rng), random_like(model.logvar, rng)
    dx = model.backward(dout, dmu=dmu, dlogvar=dlogvar)
    grads = {name: host(g).copy() for name, _, g in model.named_params()}
    xp = backend.xp

    def f():  # every output of the model under its own random upstream gradient
        out = model.forward(x, eps)
        return float(xp.sum(out * dout) + xp.sum(model.mu * dmu) + xp.sum(model.logvar * dlogvar))
    report = {"x": compare("x", f, x, dx)}
    for name, p, _ in model.named_params():
        report[name] = compare(name, f, p, grads[name])
    return report


def test_vae_gradcheck_every_output_random_upstream(backend, rng, record_gradcheck):
    report = _vae_outputs_gradcheck(backend, rng)
    assert len(report) == 1 + 2 * 5  # dx and W, b of encoder, two heads and two decoder layers
    assert_close(record_gradcheck(report), TOL)


def test_vae_gradcheck_end_to_end_through_the_elbo(backend, rng, record_gradcheck):
    """The training step's gradients (fused Sigmoid + BCE, KL into mu and logvar) against the negative ELBO."""
    model = small_vae(backend, rng)
    x = backend.asarray(rng.uniform(0, 1, (4, 12)))
    eps = backend.asarray(rng.standard_normal((4, 3)))
    recon, kl = BCE(reduction="image"), KL()

    def f():
        out = model.forward(x, eps)
        return float(recon.forward(out, x) + kl.forward(model.mu, model.logvar))
    f()
    dmu, dlogvar = kl.backward()
    model.backward(recon.backward_logits(), dmu=dmu, dlogvar=dlogvar, input_grad=False, skip_last=True)
    grads = {name: host(g).copy() for name, _, g in model.named_params()}
    report = {name: compare(name, f, p, grads[name]) for name, p, _ in model.named_params()}
    assert_close(record_gradcheck(report), TOL)


def test_fused_bce_sum_matches_the_chain_rule(backend, rng):
    model = small_vae(backend, rng)
    x = backend.asarray(rng.uniform(0, 1, (5, 12)))
    eps = backend.asarray(rng.standard_normal((5, 3)))
    loss = BCE(reduction="image")
    loss.forward(model.forward(x, eps), x)
    model.backward(loss.backward())
    chained = {name: host(g).copy() for name, _, g in model.named_params()}
    model.backward(loss.backward_logits(), skip_last=True)
    for name, _, g in model.named_params():
        np.testing.assert_allclose(host(g), chained[name], rtol=1e-10, atol=1e-14, err_msg=name)


def numpy_negative_elbo(model, x, eps):
    """recon, kl per image in float64 NumPy from the weights: BCE from the logits (softplus form), KL per dimension."""
    p = {name: host(a).astype(np.float64) for name, a, _ in model.named_params()}
    x, eps = host(x).astype(np.float64), host(eps).astype(np.float64)
    h = np.maximum(x @ p["encoder.0.W"] + p["encoder.0.b"], 0)
    mu = h @ p["mu.W"] + p["mu.b"]
    logvar = np.clip(h @ p["logvar.W"] + p["logvar.b"], *LOGVAR_RANGE)
    z = mu + np.exp(logvar / 2) * eps
    logits = np.maximum(z @ p["decoder.0.W"] + p["decoder.0.b"], 0) @ p["decoder.2.W"] + p["decoder.2.b"]
    recon = np.sum(np.logaddexp(0, logits) - x * logits) / len(x)  # -log Bernoulli(x | sigmoid(logits))
    kl = np.sum(np.exp(logvar) + mu**2 - 1 - logvar) / 2 / len(x)
    return recon, kl


def test_vae_step_returns_the_negative_elbo_per_image(backend, rng):
    model = small_vae(backend, rng, "float32")
    x = backend.asarray(rng.uniform(0, 1, (6, 12)), "float32")
    before = dense_vae((12, 7), latent=3, rng=np.random.default_rng(1234), dtype="float64")
    for (_, dst, _), (_, src, _) in zip(before.named_params(), model.named_params()):
        dst[...] = host(src)  # a float64 NumPy copy of the weights the step starts from
    terms = vae_step(model, BCE(reduction="image"), KL(), Adam(model), x, np.random.default_rng(7))
    eps = np.random.default_rng(7).standard_normal((6, 3))  # the step draws eps first from its rng
    recon, kl = numpy_negative_elbo(before, x, eps)
    for key, value in terms.items():
        assert value.ndim == 0 and value.dtype == backend.xp.float32, key
    np.testing.assert_allclose([float(terms["recon"]), float(terms["kl"]), float(terms["loss"])],
                               [recon, kl, recon + kl], rtol=1e-5)


def test_evaluate_vae_is_seeded_and_matches_numpy(backend, rng):
    model = small_vae(backend, rng)
    x = backend.asarray(rng.uniform(0, 1, (7, 12)))
    result = evaluate_vae(model, x, seed=3, batch_size=3)
    eps_rng = np.random.default_rng(3)
    eps = np.concatenate([eps_rng.standard_normal((n, 3)) for n in (3, 3, 1)])  # one draw per batch, in order
    recon, kl = numpy_negative_elbo(model, x, eps)
    np.testing.assert_allclose([result["recon"], result["kl"], result["loss"]], [recon, kl, recon + kl], rtol=1e-10)
    assert evaluate_vae(model, x, seed=3, batch_size=3) == result
    assert evaluate_vae(model, x, seed=4, batch_size=3)["recon"] != result["recon"]


def test_large_logvar_stays_finite_in_float32(backend, rng):
    """A runaway logvar head (bias 1000): exp(500) is inf in float32, but logvar is clipped first."""
    model = small_vae(backend, rng, "float32")
    model.logvar_head.params["b"][...] = 1000.0
    x = backend.asarray(rng.uniform(0, 1, (4, 12)), "float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in exp would warn (NumPy) or give inf
        terms = vae_step(model, BCE(reduction="image"), KL(), Adam(model), x, np.random.default_rng(0))
        assert all(np.isfinite(float(v)) for v in terms.values())
        assert np.all(host(model.logvar) == LOGVAR_RANGE[1])
        for name, _, g in model.named_params():
            assert np.all(np.isfinite(host(g))), name
        # the clipped head gets no gradient: the derivative of a clip is 0 outside its range
        assert np.all(host(model.logvar_head.grads["W"]) == 0)
    with np.errstate(over="ignore"):
        assert np.isinf(np.exp(np.float32(500.0)))  # what an unclipped sigma = exp(logvar / 2) would have been


def test_float32_step_has_no_float64(backend, rng):
    model = small_vae(backend, rng, "float32")
    x = backend.asarray(rng.uniform(0, 1, (5, 12)), "float32")
    opt = Adam(model)
    vae_step(model, BCE(reduction="image"), KL(), opt, x, rng)
    f32 = backend.xp.float32
    assert model.mu.dtype == model.logvar.dtype == model.sample(2, 0).dtype == f32
    for name, p, g in model.named_params():
        assert p.dtype == g.dtype == opt.m[name].dtype == f32, name


def test_sample_decodes_standard_normal_codes(backend, rng):
    model = small_vae(backend, rng)
    images = model.sample(5, np.random.default_rng(9))
    z = backend.asarray(np.random.default_rng(9).standard_normal((5, 3)))
    assert images.shape == (5, 12)
    np.testing.assert_array_equal(host(images), host(model.decode(z)))
    assert np.all((host(images) >= 0) & (host(images) <= 1))


def test_tiny_vae_learns(backend):
    """Eight 16-pixel patterns: the VAE must beat the best model without a code (the mean image, KL 0)."""
    rng = np.random.default_rng(0)
    host_data = (rng.uniform(0, 1, (8, 16)) > 0.5) * 0.9 + 0.05
    m = host_data.mean(axis=0)
    no_code = -np.sum(host_data * np.log(m) + (1 - host_data) * np.log(1 - m)) / 8  # 10.46 nats
    data = backend.asarray(host_data, "float32")
    model = dense_vae((16, 12), latent=3, rng=rng, **backend.kw("float32"))
    opt, recon, kl = Adam(model, lr=1e-2), BCE(reduction="image"), KL()
    losses = [float(vae_step(model, recon, kl, opt, data, rng)["loss"]) for _ in range(500)]
    print(f"tiny VAE: loss {losses[0]:.2f} -> {np.mean(losses[-20:]):.2f}, no code {no_code:.2f}")
    assert losses[0] > no_code and np.mean(losses[-20:]) < no_code - 2.0


def test_save_load_round_trip_is_exact(backend, rng, tmp_path):
    model = small_vae(backend, rng, "float32")
    path = tmp_path / "vae.npz"
    save_model(model, path)
    back = load_model(path, xp=backend.xp, device=backend.device)
    assert back.spec() == model.spec() and back.spec()["type"] == "VAE"
    for (na, pa, _), (nb, pb, _) in zip(model.named_params(), back.named_params()):
        assert na == nb and pb.dtype == pa.dtype
        np.testing.assert_array_equal(host(pa), host(pb))
    x = backend.asarray(rng.uniform(0, 1, (4, 12)), "float32")
    eps = backend.asarray(rng.standard_normal((4, 3)), "float32")
    np.testing.assert_array_equal(host(model.forward(x, eps)), host(back.forward(x, eps)))
    np.testing.assert_array_equal(host(model.sample(3, 5)), host(back.sample(3, 5)))


def test_reference_vae_architecture():
    model = dense_vae(rng=0)
    shapes = [(name, tuple(p.shape)) for name, p, _ in model.named_params() if name.endswith("W")]
    assert shapes == [("encoder.0.W", (784, 400)), ("mu.W", (400, 20)), ("logvar.W", (400, 20)),
                      ("decoder.0.W", (20, 400)), ("decoder.2.W", (400, 784))]
    with pytest.raises(ValueError, match="dims"):
        dense_vae((784,))


def test_gradients_match_torch_autograd(rng):
    torch = pytest.importorskip("torch")
    model = dense_vae((12, 7), latent=3, rng=rng, dtype="float64")
    x, eps = rng.uniform(0, 1, (4, 12)), rng.standard_normal((4, 3))
    recon, kl = BCE(reduction="image"), KL()
    value = recon.forward(model.forward(x, eps), x) + kl.forward(model.mu, model.logvar)
    dmu, dlogvar = kl.backward()
    model.backward(recon.backward_logits(), dmu=dmu, dlogvar=dlogvar, skip_last=True)
    t = {name: torch.tensor(p, requires_grad=True) for name, p, _ in model.named_params()}
    tx, teps = torch.tensor(x), torch.tensor(eps)
    h = torch.relu(tx @ t["encoder.0.W"] + t["encoder.0.b"])
    mu, logvar = h @ t["mu.W"] + t["mu.b"], h @ t["logvar.W"] + t["logvar.b"]
    z = mu + torch.exp(0.5 * logvar) * teps
    out = torch.sigmoid(torch.relu(z @ t["decoder.0.W"] + t["decoder.0.b"]) @ t["decoder.2.W"] + t["decoder.2.b"])
    bce = torch.nn.functional.binary_cross_entropy(out, tx, reduction="sum")
    tloss = (bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())) / 4
    tloss.backward()
    np.testing.assert_allclose(float(value), tloss.item(), rtol=1e-10)
    for name, _, g in model.named_params():
        np.testing.assert_allclose(g, t[name].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_latent_grid_and_tiles_put_each_decode_where_its_point_is(tmp_path):
    from scratchae import plots

    grid = plots.latent_grid(3, limit=2.0)
    np.testing.assert_array_equal(grid[:3], [[-2, 2], [0, 2], [2, 2]])  # top row first, z1 increasing
    np.testing.assert_array_equal(grid[-1], [2, -2])
    images = np.repeat(np.arange(5.0)[:, None] / 10, 784, axis=1)  # image k is the constant k / 10
    sheet = plots.tile(images, 2, 3)
    assert sheet.shape == (56, 84)
    assert sheet[0, 0] == 0.0 and sheet[0, 28] == 0.1 and sheet[28, 28] == 0.4 and sheet[28, 56] == 1.0  # blank
    plots.image_grid(images, tmp_path / "s.png", "t", rows=2)
    plots.manifold(np.zeros((9, 784)), tmp_path / "m.png", "t", limit=2.0)
    assert (tmp_path / "s.png").stat().st_size > 0 and (tmp_path / "m.png").stat().st_size > 0
