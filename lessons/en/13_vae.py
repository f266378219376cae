# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   accelerator: GPU
#   colab:
#     gpuType: T4
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 13 · The variational autoencoder
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/en/13_vae.ipynb)
#
# A plain autoencoder compresses and reconstructs, but you cannot pick a point in its latent space and expect a
# digit back. The variational autoencoder (Kingma & Welling, 2013) fixes that with two changes: the encoder outputs
# a *distribution* over codes, and a KL term keeps those distributions close to $\mathcal N(0, I)$. Plan 55 to 105
# minutes, exercises included. You will see the problem, write both changes by hand, check their gradients and
# train one.
#
# You will learn
# - why a plain autoencoder's latent space has holes;
# - where the loss comes from: the evidence lower bound (ELBO), derived in three lines;
# - the reparameterisation trick, drawn and coded, and its backward;
# - the KL term's closed form, derived, and its gradient, checked numerically;
# - a gradient check of the whole VAE, where the decoder's gradient and the KL's meet;
# - how to draw new digits, and the 2-D latent plane of a trained VAE.

# %%
# Setup: in a checkout (after `pip install -e .`) there is nothing to install. On Colab this clones scratchae at
# the lessons' ref and installs it (about 20 s). It never installs CuPy: Colab's GPU runtime already has one.
# The first run on Colab warns "This notebook was not authored by Google": choose "Run anyway" (このまま実行).
# Did it stop with an error? Run it again: it repairs a half-done install.
# A GPU: Runtime → Change runtime type → T4 GPU → Save (ランタイム → ランタイムのタイプを変更 → T4 GPU → 保存).
# Keep your work: File → Save a copy in Drive (ファイル → ドライブにコピーを保存).
import os
import re
import shutil
import subprocess
import sys

if "google.colab" in sys.modules or os.environ.get("SCRATCHAE_FORCE_COLAB") == "1":  # the variable is for tests
    REPO, REF = "https://github.com/scratchae/scratchae", "main"  # written by lessons/build.py from setup.cfg
    REPO = os.environ.get("SCRATCHAE_REPO", REPO)  # tests clone a local copy
    SRC = "scratchae-src"

    def run(*command):
        return subprocess.run(command, capture_output=True, text=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})

    def reason(done):  # the first line of git's or pip's error, e.g. "fatal: Remote branch x not found"
        return next((line for line in done.stderr.splitlines() if line.startswith(("fatal:", "ERROR:"))), "")

    if not os.path.isfile(f"{SRC}/scratchae/__init__.py"):
        shutil.rmtree(SRC, ignore_errors=True)  # what a failed clone left behind
        done = run("git", "clone", "-q", "--depth", "1", "--branch", REF, REPO, SRC)
        if done.returncode != 0:
            raise SystemExit(f"Could not get {REPO} at {REF!r}: the repository or the ref is missing. "
                             f"Ask your instructor, or set REPO to your fork. ({reason(done)})")
    with open(f"{SRC}/scratchae/__init__.py", encoding="utf-8") as file:
        want = re.search(r'__version__ = "(.+?)"', file.read()).group(1)
    have = run(sys.executable, "-c", "import scratchae; print(scratchae.__version__)").stdout.strip()
    if have != want:  # not installed, half installed, or another version
        done = run(sys.executable, "-m", "pip", "install", "-q", "./scratchae-src")
        if done.returncode != 0:
            raise SystemExit(f"pip could not install scratchae. Run this cell again; if it fails again, "
                             f"ask your instructor. ({reason(done)})")
    os.environ["SCRATCHAE_DATA"] = os.path.abspath("scratchae-src/data")

from scratchae.backend import pick_xp

xp, message = pick_xp()  # CuPy where a GPU works, else NumPy: every array below lives in xp
print(message)
QUICK = os.environ.get("SCRATCHAE_QUICK") == "1"  # the test suite sets it: less data, fewer epochs, same code

# %% [markdown]
# Training a model on a CPU takes minutes. With `PRETRAINED = True` the lesson loads, where it needs a trained
# model, the one that ships with scratchae (trained by the library's own command, `python -m scratchae.train`),
# so you can go straight to the ideas. It is on by default on Colab without a GPU; elsewhere the environment
# variable `SCRATCHAE_PRETRAINED=1` turns it on, or write `True` or `False` in the cell below.

# %%
from scratchae import pretrained

PRETRAINED = pretrained.wanted(xp)  # True on Colab without a GPU; SCRATCHAE_PRETRAINED=1 or 0 decides anywhere
print("PRETRAINED =", PRETRAINED)

# %% [markdown]
# ## A plain autoencoder's latent space has holes
#
# Train a small autoencoder with a 2-D code (784-256-2 and back) for a few epochs, then decode every point of a
# grid that covers its codes. Quick mode (used by the tests) trains on a tenth of the data for two epochs.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

import scratchae as sa
from scratchae.data import batch_slices, epoch_order, load
from scratchae.training import train_step

EPOCHS = 2 if QUICK else 10
N_TRAIN = 6000 if QUICK else 60000
BATCH, SEED = 128, 0

x_train_host, _, x_test_host, y_test = load("mnist")
x_train, x_test = sa.to_device(x_train_host[:N_TRAIN], xp), sa.to_device(x_test_host, xp)
kw = {"rng": np.random.default_rng(SEED), "xp": xp}  # one generator: every layer gets its own weights
ae = sa.Autoencoder(sa.Sequential([sa.Dense(784, 256, **kw), sa.ReLU(), sa.Dense(256, 2, **kw)]),
                    sa.Sequential([sa.Dense(2, 256, **kw), sa.ReLU(), sa.Dense(256, 784, **kw), sa.Sigmoid()]))
bce, opt = sa.BCE(), sa.Adam(ae, lr=1e-3)
for epoch in range(EPOCHS):
    order = sa.to_device(epoch_order(N_TRAIN, SEED, epoch), xp)
    for a, b in batch_slices(N_TRAIN, BATCH):
        train_step(ae, bce, opt, xp.take(x_train, order[a:b], axis=0))
codes = sa.to_numpy(ae.encode(x_test))  # (10000, 2)
print(f"plain AE codes: mean {codes.mean(0).round(1)}, std {codes.std(0).round(1)}")


# %%
def tiles(images, n):
    """(n*n, 784) images, row by row -> one (28n, 28n) picture."""
    return sa.to_numpy(images).reshape(n, n, 28, 28).transpose(0, 2, 1, 3).reshape(n * 28, n * 28)


def latent_picture(decode, codes, box, title):
    """Codes coloured by digit (left) and the decodes of a 15 x 15 grid over ``box`` (right); returns the
    fraction of the 15 x 15 cells of the box that hold no test code at all."""
    (x0, x1), (y0, y1) = box
    n = 15
    empty = float(np.mean(np.histogram2d(codes[:, 0], codes[:, 1], bins=n, range=box)[0] == 0))
    grid = np.array([[u, v] for v in np.linspace(y1, y0, n) for u in np.linspace(x0, x1, n)])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.5))
    points = left.scatter(codes[:, 0], codes[:, 1], c=y_test, cmap="tab10", s=2)
    left.set(xlim=(x0, x1), ylim=(y0, y1), title=f"{title}: test codes by digit, {empty:.0%} of the cells empty")
    fig.colorbar(points, ax=left)
    right.imshow(tiles(decode(sa.to_device(grid, xp, dtype="float32")), n), cmap="gray", extent=(x0, x1, y0, y1))
    right.set(title=f"{title}: decodes of a grid over the same box")
    plt.show()
    return empty


lo, hi = codes.min(axis=0), codes.max(axis=0)  # a box around every test code
empty_ae = latent_picture(ae.decode, codes, ((lo[0], hi[0]), (lo[1], hi[1])), "plain AE")

# %% [markdown]
# Look at the left plot. The codes form streaks and blobs, with empty space between and around them (the title
# counts the empty cells of the box). Their scale and place were chosen by nothing (see the means and spreads
# printed above; train longer and they move and grow). Nothing in the loss asked the encoder to use the plane
# evenly. So the decoder was never trained on the empty parts, and the grid points there decode to smudges or to
# a sudden jump between two digits. And if you do not know the codes' region, "pick a random point and decode
# it" has no meaning.
#
# ## Two changes: a distribution per image, and a prior
#
# The VAE's encoder outputs, for each image, a mean $\mu$ and a log-variance $\log\sigma^2$ (two Dense heads on
# the same hidden layer); the code is a *sample* $z \sim \mathcal N(\mu, \sigma^2)$. The decoder must then
# reconstruct from any point near $\mu$, and that fills the space around each code. The *prior* is the
# distribution we want the codes to follow: $\mathcal N(0, I)$. A KL term (the Kullback-Leibler divergence, a
# measure of how far one distribution is from another) pulls every $\mathcal N(\mu, \sigma^2)$ toward the
# prior. That puts all codes in one known region. The loss per image is the negative evidence lower bound
# (ELBO), in nats (units of the natural logarithm):
#
# $$L(x) = -\sum_{d=1}^{784}\big[x_d\log\hat x_d + (1-x_d)\log(1-\hat x_d)\big]
# \;-\; \tfrac12\sum_{j}\big(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\big), \qquad \hat x = \text{decoder}(z).$$
#
# ## Where this loss comes from: the ELBO
#
# The decoder defines a model of the data. Draw a code from the prior, $z \sim p(z) = \mathcal N(0, I)$, then
# each pixel from a Bernoulli distribution with mean $\hat x_d$: $p(x \mid z) = \prod_d \hat x_d^{\,x_d}
# (1 - \hat x_d)^{1 - x_d}$. So $-\log p(x \mid z)$ is exactly the BCE summed over the pixels: BCE is the
# negative log-likelihood of a Bernoulli output, as lesson 02 derives. We would like to maximise
# $\log p(x) = \log \int p(x \mid z)\, p(z)\, dz$, but that integral over every code has no closed form. Take
# any distribution $q(z \mid x)$ (the encoder's $\mathcal N(\mu, \sigma^2)$). Since $p(x, z) = p(z \mid x)\,
# p(x)$, the ratio $\frac{p(x, z)}{q(z\mid x)} \cdot \frac{q(z\mid x)}{p(z\mid x)}$ equals $p(x)$ for every
# $z$. Take its log and average it over $z \sim q$:
#
# $$\begin{aligned}
# \log p(x) &= \mathbb E_{q}\Big[\log \frac{p(x \mid z)\, p(z)}{q(z \mid x)}\Big]
#   + \mathbb E_{q}\Big[\log \frac{q(z \mid x)}{p(z \mid x)}\Big] \\
# &= \underbrace{\mathbb E_{q}\big[\log p(x \mid z)\big] - \mathrm{KL}\big(q(z \mid x)\,\|\,p(z)\big)}_{\text{ELBO}(x)}
#   + \mathrm{KL}\big(q(z \mid x)\,\|\,p(z \mid x)\big) \\
# &\ge \text{ELBO}(x), \quad \text{since a KL divergence is never negative.}
# \end{aligned}$$
#
# The ELBO is a lower bound on the log-likelihood of the data. Raising it raises $\log p(x)$, or brings $q$
# closer to the true posterior $p(z \mid x)$, or both. Its two terms are the two terms of $L$: the expected BCE
# (estimated with one sample $z$ per image) and the KL to the prior. So $L(x) = -\text{ELBO}(x)$.
#
# ## The reparameterisation trick
#
# Backprop cannot go through "draw a random number". So write the sample as a function of $\mu$, $\log\sigma^2$
# and noise that does not depend on them:
#
# ```
#   x ─ encoder ─ h ─┬─ mu ─────────────────────────────┐
#                    │                                   (+) ─ z ─ decoder ─ x̂
#                    └─ logvar ─ exp(·/2) ─ sigma ─ (×) ─┘
#                                                    │
#                              eps ~ N(0, I) ────────┘   (an input, like x: no gradient needed)
# ```
#
# $$z = \mu + e^{\log\sigma^2/2}\,\varepsilon, \qquad
# \frac{\partial L}{\partial\mu} = \frac{\partial L}{\partial z}, \qquad
# \frac{\partial L}{\partial\log\sigma^2} = \frac{\partial L}{\partial z}\,\frac{\sigma\varepsilon}{2}.$$
#
# Write it, then check it with $\varepsilon$ held fixed and a random upstream gradient `dz`.

# %%
from scratchae import numerical_gradient, rel_error

rng = np.random.default_rng(0)
mu, logvar, eps = (xp.asarray(rng.standard_normal((4, 2))) for _ in range(3))  # float64 for the check
dz = xp.asarray(rng.standard_normal((4, 2)))


def reparam_forward(mu, logvar, eps):
    return mu + xp.exp(logvar / 2) * eps  # (N, latent)


def reparam_backward(dz, mu, logvar, eps):
    return dz, dz * xp.exp(logvar / 2) * eps / 2  # dmu, dlogvar


def L():  # a scalar whose gradient at z is exactly dz
    return float(xp.sum(reparam_forward(mu, logvar, eps) * dz))


dmu, dlogvar = reparam_backward(dz, mu, logvar, eps)
errors = {"mu": rel_error(numerical_gradient(L, mu), dmu), "logvar": rel_error(numerical_gradient(L, logvar), dlogvar)}
print(errors)
# Check: expect about 1e-11 (float64 rounding); above 1e-7 means a bug in reparam_backward.
assert max(errors.values()) < 1e-7

# %% [markdown]
# The library's `Reparameterize` is the same two lines; it keeps $\sigma\varepsilon = z - \mu$ from the forward
# pass, so the backward needs no second `exp`:

# %%
from scratchae.vae import Reparameterize

print(inspect.getsource(Reparameterize))
layer = Reparameterize()
same = rel_error(layer.forward(mu, logvar, eps), reparam_forward(mu, logvar, eps))
same = max(same, *(rel_error(a, b) for a, b in zip(layer.backward(dz), (dmu, dlogvar))))
# Check: the same arithmetic on the same numbers; expect 0 or about 1e-16, above 1e-12 means they differ.
assert same < 1e-12, same
print("Reparameterize agrees with reparam_forward/backward:", same)

# %% [markdown]
# ## The KL term and its gradient
#
# The code's dimensions are independent under both $q$ and the prior, so the KL is a sum of one-dimensional
# KLs. For one dimension, $q = \mathcal N(\mu, \sigma^2)$ and $p = \mathcal N(0, 1)$; the $\log\sqrt{2\pi}$ of
# both densities cancels. Then use $\mathbb E_q[(z - \mu)^2] = \sigma^2$ and $\mathbb E_q[z^2] = \mu^2 + \sigma^2$:
#
# $$\begin{aligned}
# \log q(z) - \log p(z) &= -\tfrac12\log\sigma^2 - \frac{(z - \mu)^2}{2\sigma^2} + \frac{z^2}{2} \\
# \mathrm{KL}(q\,\|\,p) = \mathbb E_q\big[\log q(z) - \log p(z)\big]
#   &= -\tfrac12\log\sigma^2 - \tfrac12 + \tfrac12\big(\mu^2 + \sigma^2\big) \\
# &= -\tfrac12\big(1 + \log\sigma^2 - \mu^2 - \sigma^2\big).
# \end{aligned}$$
#
# For one image, sum over the code's dimensions: $\mathrm{KL}(\mathcal N(\mu,\sigma^2)\,\|\,\mathcal N(0, I)) =
# -\tfrac12\sum_j(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2)$. It is zero exactly when $\mu = 0,\ \sigma = 1$
# (exercise 1 checks the formula by sampling). Averaged over a batch of $N$, its gradient is
#
# $$\frac{\partial\,\mathrm{KL}}{\partial\mu} = \frac{\mu}{N}, \qquad
# \frac{\partial\,\mathrm{KL}}{\partial\log\sigma^2} = \frac{\sigma^2 - 1}{2N}.$$
#
# These reach $\mu$ and $\log\sigma^2$ *directly*, and add to what comes back through $z$.

# %%
from scratchae.vae import KL


def kl_forward(mu, logvar):
    return -0.5 * float(xp.sum(1 + logvar - mu**2 - xp.exp(logvar))) / mu.shape[0]


def kl_backward(mu, logvar):
    n = mu.shape[0]
    return mu / n, (xp.exp(logvar) - 1) / (2 * n)


kl_dmu, kl_dlogvar = kl_backward(mu, logvar)
errors = {"mu": rel_error(numerical_gradient(lambda: kl_forward(mu, logvar), mu), kl_dmu),
          "logvar": rel_error(numerical_gradient(lambda: kl_forward(mu, logvar), logvar), kl_dlogvar)}
kl = KL()
agree = abs(float(kl.forward(mu, logvar)) - kl_forward(mu, logvar))
agree = max(agree, *(rel_error(a, b) for a, b in zip(kl.backward(), (kl_dmu, kl_dlogvar))))
print("gradient check:", errors, " library vs ours:", agree)
# Check: the gradient check gives about 1e-10 (above 1e-7 is a bug); the library's KL the same numbers (< 1e-12).
assert max(errors.values()) < 1e-7 and agree < 1e-12

# %% [markdown]
# One more practical point: $\sigma^2 = e^{\log\sigma^2}$ overflows float32 above $\log\sigma^2 \approx 88.7$. A
# runaway step could get there, and one `inf` makes every weight NaN. The library clips $\log\sigma^2$ to
# `LOGVAR_RANGE` before any `exp` (gradient 0 outside it, the derivative of a clip); trained models stay far
# inside.
#
# ## The training step
#
# The step is the plain autoencoder's five lines plus the noise and the KL term. The reconstruction's gradient
# goes back through the decoder and $z$ (with the fused Sigmoid + BCE shortcut of lesson 02), the KL's straight
# into the two heads:

# %%
from scratchae.vae import evaluate_vae, vae_step
from scratchae.models import init_output_bias
from scratchae.vae import LOGVAR_RANGE

print("LOGVAR_RANGE =", LOGVAR_RANGE)
print(inspect.getsource(vae_step))

# %% [markdown]
# ## A gradient check of the whole VAE
#
# The likeliest place for a bug is where the two gradients meet. At each head, the reconstruction's gradient
# (back through the decoder and $z$) and the KL's direct gradient must be added, then passed on into the encoder.
# Check the whole model at once: a small float64 VAE, the loss $L$ = BCE summed per image + KL, and $\varepsilon$
# held fixed (an input, so $L$ is a plain function of the weights). The analytic gradients come from the path
# `vae_step` takes: the fused Sigmoid + BCE gradient, then `model.backward` with the KL's `dmu` and `dlogvar`.
# Every weight and bias is compared with central differences.

# %%
check_recon, check_kl = sa.BCE(reduction="image"), KL()


def vae_gradients(model, x, eps, kl_grads=True):
    """Analytic gradients of L = recon + KL with eps fixed, as vae_step computes them: {name: array}."""
    out = model.forward(x, eps)
    check_recon.forward(out, x)
    check_kl.forward(model.mu, model.logvar)
    dmu, dlogvar = check_kl.backward() if kl_grads else (None, None)  # kl_grads=False: a planted bug
    model.backward(check_recon.backward_logits(), dmu=dmu, dlogvar=dlogvar, input_grad=False, skip_last=True)
    return {name: grad + 0.0 for name, _, grad in model.named_params()}  # + 0.0: copies


def vae_gradient_check(model, x, eps, grads):
    """Relative error of each gradient in ``grads`` against central differences of L: {name: error}."""
    def L():
        out = model.forward(x, eps)
        return float(check_recon.forward(out, x)) + float(check_kl.forward(model.mu, model.logvar))

    return {name: rel_error(numerical_gradient(L, param), grads[name]) for name, param, _ in model.named_params()}


small = sa.dense_vae((12, 8), latent=3, gain=2.0, rng=3, xp=xp, dtype="float64")  # He-normal weights
x_small = xp.asarray(rng.uniform(0.05, 0.95, size=(5, 12)))  # 5 "images" of 12 pixels
eps_small = xp.asarray(rng.standard_normal((5, 3)))  # held fixed
right = vae_gradient_check(small, x_small, eps_small, vae_gradients(small, x_small, eps_small))
bug = vae_gradient_check(small, x_small, eps_small, vae_gradients(small, x_small, eps_small, kl_grads=False))
print(f"{'parameter':14s} {'correct':>9s} {'KL grads left out':>18s}")
for name in right:
    print(f"{name:14s} {right[name]:9.1e} {bug[name]:18.1e}")

# %%
# Check: every gradient of the correct backward passes (expect about 1e-9 or less; above 1e-7 means a bug). The
# planted bug must fail where it is (the heads and the encoder, above 1e-3) and nowhere else (the decoder still
# passes): a check that could not fail would prove nothing.
assert max(right.values()) < 1e-7, right
before_z = [name for name in bug if not name.startswith("decoder.")]
assert min(bug[name] for name in before_z) > 1e-3, bug
assert max(bug[name] for name in bug if name.startswith("decoder.")) < 1e-7, bug
print("the whole VAE passes; leaving out the KL's direct gradients fails at", ", ".join(before_z))

# %% [markdown]
# Train the 2-D VAE (784-400, latent 2; the library's `--preset vae-2d`). `eps` comes from a generator seeded
# by (seed, epoch, step), as in `python -m scratchae.train`, so a run repeats exactly. With `PRETRAINED` on, the
# cell loads the VAE that `--preset vae-2d` trained for 10 epochs on all the data instead.

# %%
recon_loss, kl_loss = sa.BCE(reduction="image"), KL()
if PRETRAINED:  # the same VAE, trained by python -m scratchae.train --preset vae-2d
    shipped = pretrained.load("vae-2d", xp=xp)
    vae = shipped.model
    print(f"PRETRAINED: loaded the shipped vae-2d ({len(shipped.metrics)} epochs of "
          "python -m scratchae.train --preset vae-2d) instead of training it here")
    test = evaluate_vae(vae, x_test, seed=SEED)
    print(f"test recon {test['recon']:.1f} + KL {test['kl']:.2f} = {test['loss']:.1f} nats")
else:
    vae = sa.dense_vae((784, 400), latent=2, rng=SEED, xp=xp)
    init_output_bias(vae, sa.to_device(x_train_host[:N_TRAIN].mean(axis=0), xp))  # start at the mean digit (lesson 04)
    opt = sa.Adam(vae, lr=1e-3)
    for epoch in range(EPOCHS):
        order = sa.to_device(epoch_order(N_TRAIN, SEED, epoch), xp)
        for k, (a, b) in enumerate(batch_slices(N_TRAIN, BATCH)):
            vae_step(vae, recon_loss, kl_loss, opt, xp.take(x_train, order[a:b], axis=0),
                     np.random.default_rng([SEED, epoch, k]))
        test = evaluate_vae(vae, x_test, seed=SEED)
        print(f"epoch {epoch + 1}: test recon {test['recon']:.1f} + KL {test['kl']:.2f} = {test['loss']:.1f} nats")

# %% [markdown]
# ## New digits, and the latent plane
#
# Sampling is now meaningful: draw $z \sim \mathcal N(0, I)$ and decode (`VAE.sample`). And the same picture as
# for the plain autoencoder, over the box $[-3, 3]^2$, where the prior puts 99.7% of its mass per axis:

# %%
samples = vae.sample(64, np.random.default_rng(1))
plt.figure(figsize=(5, 5))
plt.imshow(tiles(samples, 8), cmap="gray")
plt.axis("off")
plt.title("64 samples: z ~ N(0, I), decoded")
plt.show()
vae_codes = sa.to_numpy(vae.encode(x_test))  # the means mu of q(z | x)
empty_vae = latent_picture(vae.decode, vae_codes, ((-3, 3), (-3, 3)), "VAE")
print(f"empty cells: plain AE {empty_ae:.0%} of the box around its codes, VAE {empty_vae:.0%} of [-3, 3]^2")

# %%
inside = float(np.mean(np.all(np.abs(vae_codes) < 3, axis=1)))
print(f"VAE codes: mean {vae_codes.mean(0).round(2)}, std {vae_codes.std(0).round(2)}, inside [-3, 3]^2: "
      f"{inside:.1%}")
# Check: the KL term keeps the codes near N(0, I): expect a mean within about 0.2 of 0 and about 90% of the codes
# in the box; a mean beyond 0.5 or fewer than 85% inside means the KL term is not doing its job.
assert np.all(np.abs(vae_codes.mean(0)) < 0.5) and inside > 0.85

# %% [markdown]
# The codes now fill a round region around 0. The grid decodes to digits everywhere, and they change smoothly
# from one class to the next: the decoder has been trained on the whole neighbourhood of every code.

# %% [markdown]
# ## Move through the plane
#
# The grid shows the plane at 225 points; the explorer takes you anywhere on it. Two sliders set the point
# $z = (z_1, z_2)$, and the image the decoder draws there appears next to the map of the test codes, the point
# marked on it. Two more sliders pick two test images $a$ and $b$, and the mix slider $t$ walks from the code of
# one to the code of the other, $z = (1 - t)\,\mu_a + t\,\mu_b$. Without ipywidgets (a plain script, or a
# notebook without it) the same things come as one static figure.

# %%
from scratchae.explorer import explore

explore(vae, x_test[:2000, ...], y_test[:2000])  # 2,000 test codes: enough for the map, quick to redraw

# %% [markdown]
# ## Try it
#
# 1. The KL has a closed form, but the ELBO does not need one: $\mathrm{KL}(q\,\|\,p) = \mathbb E_{z\sim q}[\log
#    q(z) - \log p(z)]$. Estimate it by Monte Carlo for one image with $\mu = (1, -0.5)$, $\log\sigma^2 =
#    (0.2, -1)$, from 200,000 samples, and compare with `kl_forward`.

# %%
from scratchae.exercises import try_it


def kl_monte_carlo(mu, logvar, n_samples, rng):
    """mu, logvar: (latent,) NumPy arrays -> a Monte Carlo estimate of KL(N(mu, exp(logvar)) || N(0, I))."""
    raise NotImplementedError  # replace this line with your code


def check_monte_carlo():
    mu1, logvar1 = np.array([1.0, -0.5]), np.array([0.2, -1.0])
    estimate = kl_monte_carlo(mu1, logvar1, 200_000, np.random.default_rng(0))
    exact = kl_forward(xp.asarray(mu1[None, :]), xp.asarray(logvar1[None, :]))
    assert abs(estimate - exact) < 0.02, f"estimate {estimate:.4f}, closed form {exact:.4f}: expect about 0.003, at most 0.02"


try_it("Monte Carlo KL", check_monte_carlo)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def kl_monte_carlo(mu, logvar, n_samples, rng):
#     """mu, logvar: (latent,) NumPy arrays -> a Monte Carlo estimate of KL(N(mu, exp(logvar)) || N(0, I))."""
#     eps = rng.standard_normal((n_samples, mu.size))
#     z = mu + np.exp(logvar / 2) * eps
#     log_q = np.sum(-0.5 * eps**2 - logvar / 2, axis=1)  # log N(z; mu, sigma^2) without the shared constant
#     log_p = np.sum(-0.5 * z**2, axis=1)  # log N(z; 0, I), same constant dropped
#     return float(np.mean(log_q - log_p))
#
#
# def check_monte_carlo():
#     mu1, logvar1 = np.array([1.0, -0.5]), np.array([0.2, -1.0])
#     estimate = kl_monte_carlo(mu1, logvar1, 200_000, np.random.default_rng(0))
#     exact = kl_forward(xp.asarray(mu1[None, :]), xp.asarray(logvar1[None, :]))
#     assert abs(estimate - exact) < 0.02, f"estimate {estimate:.4f}, closed form {exact:.4f}: expect about 0.003, at most 0.02"
#
#
# try_it("Monte Carlo KL", check_monte_carlo)
# ```
#
# </details>
#
# 2. Put a weight on the KL term ($\beta$-VAE, Higgins et al. 2017): copy `vae_step`, multiply the KL's value
#    and both of its gradients by `beta`, and train the 2-D model with `beta = 0.1` and `beta = 4`. How do the
#    test reconstruction term, the KL term and the latent picture change?
#
# <details><summary>Answer</summary>
#
# A small $\beta$ lets the codes spread out and sharpens reconstructions (recon down, KL up). The picture moves
# back toward the plain autoencoder's, with gaps. A large $\beta$ packs the codes tightly into $\mathcal N(0, I)$
# and blurs reconstructions (recon up, KL down). With $\beta$ large enough, some latent units switch off
# completely: their $\mu \approx 0$ and $\sigma \approx 1$ for every image.
#
# </details>
#
# 3. Why does `evaluate_vae` draw its `eps` from a freshly seeded generator on every call, rather than
#    continuing the training generator?
#
# <details><summary>Answer</summary>
#
# So that the test loss of two epochs, or of two runs, differs only because the model did: with the same `eps`
# for the same test image each time, the sampling noise in the number is the same from epoch to epoch. It also
# makes a resumed run print exactly the numbers an uninterrupted run prints.
#
# </details>
