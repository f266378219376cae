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
# # 16 · The convolutional VAE
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/en/16_conv_vae.ipynb)
#
# Lesson 13 built a VAE from Dense layers; lesson 09 built convolutions. This lesson puts them together into the
# convolutional VAE of the TensorFlow tutorial "Convolutional Variational Autoencoder": the encoder and decoder
# change, everything else (the reparameterisation, the KL term, `vae_step`) is lesson 13's. Plan 45 to 80 minutes,
# exercises included.
#
# You will learn
# - why convolutions suit a VAE's encoder and decoder;
# - the decoder as transposed convolutions, shape by shape: 2 -> 7x7x32 -> 14x14x64 -> 28x28x32 -> 28x28x1;
# - why the decoder ends in logits, and what "binarized MNIST" changes in the loss;
# - a gradient check of the whole convolutional VAE (and why its ReLU kinks must be frozen for it);
# - the tutorial's one-sample Monte Carlo ELBO next to the closed-form KL;
# - the 2-D latent map of the conv VAE next to the dense VAE's, and samples.
# - moving through the conv VAE's latent plane with lesson 13's explorer.

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
# Training the conv VAE on a CPU takes a while: about 80 s an epoch on one core of the project's machine, so
# 15 minutes for the tutorial's 10 epochs. With `PRETRAINED = True` the lesson loads, where it needs the trained
# models, the ones that ship with scratchae (trained by the library's own command, `python -m scratchae.train`),
# so you can go straight to the ideas. It is on by default on Colab without a GPU; elsewhere the environment variable
# `SCRATCHAE_PRETRAINED=1` turns it on, or write `True` or `False` in the cell below.

# %%
from scratchae import pretrained

PRETRAINED = pretrained.wanted(xp)  # True on Colab without a GPU; SCRATCHAE_PRETRAINED=1 or 0 decides anywhere
print("PRETRAINED =", PRETRAINED)

# %% [markdown]
# ## Why convolutions for a VAE
#
# The dense VAE's first layer gives each of its 400 units its own weight for each of the 784 pixels: 313,600
# weights, and a stroke learned at one place is unknown one pixel to the right. A 3x3 convolution has 9 weights
# per input and output channel and slides them over the whole image, so a stroke detector works everywhere
# (lesson 09). The decoder gets the same benefit the other way round: it paints with small learned brushes.
#
# The tutorial's model has these layers. Its encoder convolutions use Keras's default padding, "valid" (no
# padding), so 28 becomes 13 and then 6; its transposed convolutions use "same".
#
# ```
# encoder: 28x28x1 -Conv2D 32, 3x3, stride 2, valid, ReLU-> 13x13x32 -Conv2D 64, 3x3, stride 2, valid, ReLU-> 6x6x64
#          -> Flatten 2304 -> Dense mu (2) and Dense logvar (2)
# decoder: z (2) -Dense 7*7*32, ReLU-> Reshape 7x7x32 -Conv2DTranspose 64, stride 2, ReLU-> 14x14x64
#          -Conv2DTranspose 32, stride 2, ReLU-> 28x28x32 -Conv2DTranspose 1, stride 1-> 28x28x1 logits
# ```
#
# The tutorial writes one Dense to 4 numbers and splits them into mu and logvar; two Dense heads of 2 are the same
# thing cut in two. The data is MNIST *binarized* at 0.5, so every pixel is 0 or 1 and the decoder's output is
# the logit of a Bernoulli probability per pixel.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

import scratchae as sa
from scratchae.cvae import binarize, conv_vae, monte_carlo_elbo
from scratchae.data import batch_slices, epoch_order, load
from scratchae.vae import KL, evaluate_vae, vae_step

EPOCHS = 1 if QUICK else 10
N_TRAIN = 1280 if QUICK else 60000
N_TEST = 500 if QUICK else 10000
BATCH, LR, SEED = 32, 1e-4, 0  # the tutorial's batch size and learning rate

x_train_host, _, x_test_host, y_test = load("mnist")
x_train = sa.to_device(binarize(x_train_host[:N_TRAIN]), xp)  # 1.0 where the pixel > 0.5, else 0.0
x_test, y_test = sa.to_device(binarize(x_test_host[:N_TEST]), xp), y_test[:N_TEST]
cvae = conv_vae(rng=SEED, xp=xp)
print(inspect.getsource(conv_vae))

# %% [markdown]
# ## The decoder as transposed convolutions
#
# A stride-2 transposed convolution is the backward pass of a stride-2 convolution used as a forward pass
# (lesson 09): each input pixel stamps a 3x3 kernel onto the output, two pixels apart, so the image doubles in
# height and width. Follow one code through the decoder and print every shape:

# %%
h, shapes = xp.asarray(np.array([[0.5, -1.0]]), dtype=xp.float32), []  # one 2-D code
for layer in cvae.decoder.layers:
    h = layer.forward(h)
    shapes.append(tuple(h.shape[1:]))
    print(f"{type(layer).__name__:16s} -> {tuple(h.shape)}")
assert [shapes[i] for i in (2, 3, 5, 7)] == [(7, 7, 32), (14, 14, 64), (28, 28, 32), (28, 28, 1)], shapes

# %% [markdown]
# The last layer is a Sigmoid only for convenience: `vae_step` uses the fused gradient at the logits,
# $(\sigma(\text{logit}) - x)/N$, and never runs the Sigmoid's own backward (lesson 13). That is the tutorial's
# `sigmoid_cross_entropy_with_logits`, summed over the 784 pixels.
#
# ## A gradient check of the whole model
#
# For two images the conv VAE has about $10^5$ ReLU units. Nudging a bias by $h$ moves a whole channel of them,
# and a few lie within $h$ of 0: central differences then straddle a kink and disagree with a correct gradient
# by about $10^{-3}$. So we freeze every ReLU's mask at the point being checked; the model is then smooth there
# and its gradient is exactly what backward computes, masks included. In float64, with eps held fixed, we give
# every output (the image, mu and logvar) its own random upstream gradient, as lesson 13 did, and probe a few
# entries of every parameter. (Lesson 13 checked how `vae_step` fills those upstream gradients: the fused
# logits gradient and the KL's.)

# %%
from scratchae import numerical_gradient, rel_error


class FrozenReLU(sa.ReLU):
    """A ReLU whose mask stays as it was when frozen: the same derivative, no kink near the checked point."""

    frozen = False

    def forward(self, x):
        return x * self.mask if self.frozen else super().forward(x)


def frozen_model(model, x, eps):
    """Replace every ReLU by a FrozenReLU and freeze its mask at (x, eps)."""
    for seq in (model.encoder, model.decoder):
        seq.layers = [FrozenReLU() if type(layer) is sa.ReLU else layer for layer in seq.layers]
    model.forward(x, eps)
    for layer in model.layers:
        if isinstance(layer, FrozenReLU):
            layer.frozen = True
    return model


rng = np.random.default_rng(1)
x_check = xp.asarray(binarize(x_test_host[:2]), dtype=xp.float64)
eps_check = xp.asarray(rng.standard_normal((2, 2)))
small = frozen_model(conv_vae(rng=1, xp=xp, dtype="float64"), x_check, eps_check)
out = small.forward(x_check, eps_check)
# a random upstream gradient for every output: the image, mu and logvar (never ones: they hide mistakes)
dout, dmu, dlogvar = (xp.asarray(rng.standard_normal(tuple(a.shape))) for a in (out, small.mu, small.logvar))
small.backward(dout, dmu=dmu, dlogvar=dlogvar, input_grad=False)


def L():  # a scalar whose gradient at (out, mu, logvar) is exactly (dout, dmu, dlogvar)
    out = small.forward(x_check, eps_check)
    return float(xp.sum(out * dout) + xp.sum(small.mu * dmu) + xp.sum(small.logvar * dlogvar))


errors = {}
for name, param, grad in small.named_params():
    size = int(np.prod(param.shape))
    picks = [tuple(int(i) for i in np.unravel_index(j, tuple(param.shape)))
             for j in rng.choice(size, size=min(5, size), replace=False)]  # 5 entries of each array
    numeric = numerical_gradient(L, param, h=3e-4, indices=picks)  # the frozen model is smooth: h can be larger
    analytic = np.array([float(grad[idx]) for idx in picks])
    errors[name] = rel_error(numeric, analytic)
    print(f"{name:14s} {errors[name]:.1e}")
assert max(errors.values()) < 1e-7, errors

# %% [markdown]
# ## Training, and the tutorial's Monte Carlo ELBO
#
# The training loop is lesson 13's with the tutorial's settings: batch 32, Adam with learning rate $10^{-4}$.
# The loss is the negative ELBO in nats per image, the reconstruction term plus the KL in closed form:
#
# $$-\text{ELBO}(x) \approx -\log p(x \mid z) + \mathrm{KL}\big(q(z \mid x)\,\|\,\mathcal N(0, I)\big),\quad z = \mu + \sigma\varepsilon.$$
#
# The tutorial estimates the KL part from the same single $z$ instead:
# $\log q(z \mid x) - \log p(z)$. Its average is the same KL, but one sample per image adds noise. We print both.
#
# With `PRETRAINED` on, the cell loads the conv VAE that `--preset cvae` trained for 10 epochs on all the data
# instead of training it, and prints the same numbers for it.

# %%
untrained = evaluate_vae(cvae, x_test, seed=SEED)["loss"]
recon_loss, kl_loss = sa.BCE(reduction="image"), KL()


def report(model, label):  # test loss, closed form and one-sample
    test = evaluate_vae(model, x_test, seed=SEED)
    mc = monte_carlo_elbo(model, x_test, recon_loss, seed=SEED)
    print(f"{label}: test recon {test['recon']:.1f} + KL {test['kl']:.2f} = {test['loss']:.2f} nats;"
          f" one-sample KL {mc['kl_sample']:.2f}, Monte Carlo loss {mc['loss']:.2f}")
    return test, mc


if PRETRAINED:  # the same model, trained by python -m scratchae.train --preset cvae
    shipped = pretrained.load("cvae", xp=xp)
    cvae = shipped.model
    print(f"PRETRAINED: loaded the shipped cvae ({len(shipped.metrics)} epochs of "
          "python -m scratchae.train --preset cvae) instead of training it here")
    test, mc = report(cvae, "shipped")
else:
    opt = sa.Adam(cvae, lr=LR)
    for epoch in range(EPOCHS):
        order = sa.to_device(epoch_order(N_TRAIN, SEED, epoch), xp)
        for k, (a, b) in enumerate(batch_slices(N_TRAIN, BATCH)):
            vae_step(cvae, recon_loss, kl_loss, opt, xp.take(x_train, order[a:b], axis=0),
                     np.random.default_rng([SEED, epoch, k]))
        test, mc = report(cvae, f"epoch {epoch + 1}")

# %%
# A check that could fail: training lowered the test loss, and the two estimates agree on average.
print(f"untrained {untrained:.1f} nats, trained {test['loss']:.1f} nats")
assert test["loss"] < untrained - 10, (untrained, test["loss"])  # QUICK (40 steps): about 12 nats lower
assert abs(mc["loss"] - test["loss"]) < 0.01 * test["loss"], (mc["loss"], test["loss"])
assert mc["recon"] == test["recon"]  # the same eps, so the same z and the same reconstruction term

# %% [markdown]
# ## The latent map, next to the dense VAE's
#
# Lesson 13's dense VAE with a 2-D latent, trained on the same binarized images for the same epochs, gives the
# second picture. Both push their codes toward $\mathcal N(0, I)$; look at how the digits are arranged and how
# sharp the decodes of a grid over $[-3, 3]^2$ are.
#
# With `PRETRAINED` on, the dense VAE is lesson 13's shipped `vae-2d` (10 epochs, batch 128), which was trained on
# grey-level MNIST, not on binarized images: its map is comparable, its loss here only roughly.

# %%
if PRETRAINED:  # lesson 13's VAE, trained on grey-level MNIST by --preset vae-2d
    dense = pretrained.load("vae-2d", xp=xp).model
else:
    dense = sa.dense_vae((784, 400), latent=2, rng=SEED, xp=xp)
    opt_dense = sa.Adam(dense, lr=1e-3)
    for epoch in range(EPOCHS):
        order = sa.to_device(epoch_order(N_TRAIN, SEED, epoch), xp)
        for k, (a, b) in enumerate(batch_slices(N_TRAIN, 128)):
            vae_step(dense, recon_loss, kl_loss, opt_dense, xp.take(x_train, order[a:b], axis=0),
                     np.random.default_rng([SEED, epoch, k]))
dense_test = evaluate_vae(dense, x_test, seed=SEED)["loss"]
print(f"test loss: conv VAE {test['loss']:.1f}, dense VAE {dense_test:.1f} nats per image")


def tiles(images, n):
    """(n*n, 784) images, row by row -> one (28n, 28n) picture."""
    return sa.to_numpy(images).reshape(n, n, 28, 28).transpose(0, 2, 1, 3).reshape(n * 28, n * 28)


grid = np.array([[u, v] for v in np.linspace(3, -3, 15) for u in np.linspace(-3, 3, 15)])
fig, axes = plt.subplots(2, 2, figsize=(11, 11))
for row, (name, model) in enumerate((("conv VAE", cvae), ("dense VAE", dense))):
    codes = sa.to_numpy(model.encode(x_test))
    points = axes[row, 0].scatter(codes[:, 0], codes[:, 1], c=y_test, cmap="tab10", s=2)
    axes[row, 0].set(xlim=(-3, 3), ylim=(-3, 3), title=f"{name}: test codes mu by digit")
    fig.colorbar(points, ax=axes[row, 0])
    axes[row, 1].imshow(tiles(model.decode(sa.to_device(grid, xp, dtype="float32")), 15), cmap="gray",
                        extent=(-3, 3, -3, 3))
    axes[row, 1].set(title=f"{name}: decodes of a 15 x 15 grid")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Samples
#
# New digits are decodes of $z \sim \mathcal N(0, I)$, as in lesson 13.

# %%
plt.figure(figsize=(5, 5))
plt.imshow(tiles(cvae.sample(64, np.random.default_rng(1)), 8), cmap="gray")
plt.axis("off")
plt.title("conv VAE: 64 samples z ~ N(0, I), decoded")
plt.show()

# %% [markdown]
# ## Move through the plane
#
# Lesson 13's explorer works for any model with `encode` and `decode`, so it takes the conv VAE as it is. Two
# sliders set the point $z = (z_1, z_2)$ and the decoder's image appears next to the map of the test codes, the
# point marked on it; the mix slider $t$ walks from the code of test image $a$ to that of $b$,
# $z = (1 - t)\,\mu_a + t\,\mu_b$. Without ipywidgets (a plain script, or a notebook without it) the same things
# come as one static figure. Compare the walk with the dense VAE's of lesson 13: are the in-between digits sharper?

# %%
from scratchae.explorer import explore

explore(cvae, x_test[:min(2000, N_TEST), ...], y_test[:min(2000, N_TEST)])  # at most 2,000 test codes

# %% [markdown]
# The whole run is one command: `python -m scratchae.train --preset cvae` (10 epochs; docs/results.md compares
# its test loss with a PyTorch twin of the same model).
#
# ## Try it
#
# 1. Write `kl_one_sample(mu, logvar, eps)`: the tutorial's estimate $\log q(z \mid x) - \log p(z)$ per image at
#    $z = \mu + \sigma\varepsilon$ (NumPy arrays of shape (N, 2) in, (N,) out). Its mean over many $\varepsilon$
#    must approach the closed-form KL.

# %%
from scratchae.exercises import try_it


def kl_one_sample(mu, logvar, eps):
    """mu, logvar, eps: (N, latent) -> (N,): log q(z | x) - log p(z) at z = mu + exp(logvar / 2) eps."""
    raise NotImplementedError  # your code here


def check_one_sample():
    mu1, logvar1 = np.array([[1.0, -0.5]]), np.array([[0.2, -1.0]])
    eps = np.random.default_rng(0).standard_normal((200_000, 2))
    estimate = float(np.mean(kl_one_sample(np.repeat(mu1, 200_000, 0), np.repeat(logvar1, 200_000, 0), eps)))
    exact = float(-0.5 * np.sum(1 + logvar1 - mu1**2 - np.exp(logvar1)))
    assert abs(estimate - exact) < 0.02, f"estimate {estimate:.4f}, closed form {exact:.4f}"


try_it("one-sample KL", check_one_sample)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def kl_one_sample(mu, logvar, eps):
#     """mu, logvar, eps: (N, latent) -> (N,): log q(z | x) - log p(z) at z = mu + exp(logvar / 2) eps."""
#     z = mu + np.exp(logvar / 2) * eps
#     log_q = np.sum(-0.5 * (eps**2 + logvar + np.log(2 * np.pi)), axis=1)  # (z - mu)^2 / sigma^2 = eps^2
#     log_p = np.sum(-0.5 * (z**2 + np.log(2 * np.pi)), axis=1)
#     return log_q - log_p
#
#
# def check_one_sample():
#     mu1, logvar1 = np.array([[1.0, -0.5]]), np.array([[0.2, -1.0]])
#     eps = np.random.default_rng(0).standard_normal((200_000, 2))
#     estimate = float(np.mean(kl_one_sample(np.repeat(mu1, 200_000, 0), np.repeat(logvar1, 200_000, 0), eps)))
#     exact = float(-0.5 * np.sum(1 + logvar1 - mu1**2 - np.exp(logvar1)))
#     assert abs(estimate - exact) < 0.02, f"estimate {estimate:.4f}, closed form {exact:.4f}"
#
#
# try_it("one-sample KL", check_one_sample)
# ```
#
# </details>
#
# 2. Change the encoder's padding to "same" (28 -> 14 -> 7, so the Flatten gives 7*7*64 = 3136 numbers). Which
#    lines of `conv_vae` must change, and does the test loss move?
#
# <details><summary>Answer</summary>
#
# Both `Conv2D` calls take `padding="same"`, and both heads become `Dense(3136, 2)`. The border pixels of MNIST
# are almost all 0, so "valid" loses little; expect a test loss within a nat or two of the tutorial's model.
#
# </details>
#
# 3. Why is the one-sample Monte Carlo loss sometimes *below* the closed-form one, although both estimate the same
#    number?
#
# <details><summary>Answer</summary>
#
# Its KL part is a random estimate: for one $\varepsilon$ per image, $\log q(z \mid x) - \log p(z)$ can be smaller
# or larger than the KL, and can even be negative for one image. Only its average over $\varepsilon$ equals the
# KL. Over 10,000 test images the noise mostly cancels, so the two losses differ by a fraction of a nat.
#
# </details>
