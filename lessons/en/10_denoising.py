# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10 · Denoising autoencoders
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/en/10_denoising.ipynb)
#
# An autoencoder that copies its input can learn to copy badly and still look good. A denoising autoencoder is
# given a corrupted image and asked for the clean one, so it has to learn what digits look like. Plan 35 to 70
# minutes, exercises included. You will corrupt images by hand, measure how bad they are in decibels, and train a
# denoiser whose training step differs from the plain one in a single line.
#
# You will learn
# - how Gaussian noise is added and clipped back to the pixel range, reproducibly from a seed;
# - PSNR, the peak signal-to-noise ratio, per image and averaged;
# - the denoising training step: noisy input, clean target;
# - how far a small dense denoiser gets above the noisy input.

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
# ## Corrupting an image
#
# Each pixel gets its own draw of standard normal noise, scaled by the noise factor $f$, and the result is clipped
# back to $[0, 1]$ so it is still an image. The training target stays the clean $x$:
#
# $$\tilde x = \operatorname{clip}(x + f\,\varepsilon,\ 0,\ 1), \quad \varepsilon \sim \mathcal N(0, 1),
# \qquad L = \ell\big(\operatorname{model}(\tilde x),\ x\big)$$
#
# The Keras blog uses $f = 0.5$ on MNIST, the TensorFlow tutorial $f = 0.2$ on Fashion-MNIST. We draw the noise on
# the host with a seeded NumPy generator, so the same seed gives the same noise on the CPU and the GPU.

# %%
import numpy as np

from scratchae.backend import to_device, to_numpy
from scratchae.data import load

x_train, _, x_test, y_test = load("mnist")  # float32 in [0, 1], shape (N, 784)
if QUICK:
    x_train, x_test, y_test = x_train[:6000], x_test[:1000], y_test[:1000]
FACTOR = 0.5


def noisy_by_hand(x, factor, rng):
    eps = rng.standard_normal(x.shape, dtype="float32")  # one N(0, 1) draw per pixel
    return np.clip(x + factor * eps, 0.0, 1.0)  # (N, 784), still in [0, 1]


x_test_noisy = noisy_by_hand(x_test, FACTOR, np.random.default_rng(0))
print("noisy test images:", x_test_noisy.shape, x_test_noisy.dtype)

# %% [markdown]
# The library's `add_noise` is the same formula written with `xp`, so it runs on whatever device holds the
# batch. It draws the noise on the host (the CPU) and moves it to the batch's device.

# %%
import inspect

from scratchae.denoise import add_noise

print(inspect.getsource(add_noise))
theirs = to_numpy(add_noise(to_device(x_test, xp), FACTOR, np.random.default_rng(0)))
# Check: the same seed, the same draws, the same arithmetic; expect exactly 0 difference.
difference = float(np.max(np.abs(theirs - x_test_noisy)))
assert difference == 0.0, difference
print("add_noise agrees with the hand-written noise; max difference", difference)

# %% [markdown]
# ## Measuring noise: PSNR
#
# The peak signal-to-noise ratio of an image compares its largest possible value (1 here) with its mean squared
# error against the clean image. It is measured in decibels. We report the mean over images:
#
# $$\mathrm{PSNR}_n = 10 \log_{10} \frac{1^2}{\frac1D \sum_i (\hat x_{ni} - x_{ni})^2}, \qquad
# \mathrm{PSNR} = \frac1N \sum_n \mathrm{PSNR}_n$$
#
# For one image, halving the MSE adds about 3 dB ($10 \log_{10} 2 \approx 3.01$). Halving the root-mean-square
# error (the typical size of a pixel's error) divides the MSE by 4. That adds about 6 dB. 20 dB means a
# root-mean-square error of 0.1 per pixel.

# %%
from scratchae.denoise import psnr


def psnr_by_hand(pred, target):
    mse = np.mean((pred.astype(np.float64) - target) ** 2, axis=1)  # (N,): one error per image
    return float(np.mean(10 * np.log10(1.0 / mse)))


noisy_db = psnr_by_hand(x_test_noisy, x_test)
library_db = float(psnr(to_device(x_test_noisy, xp), to_device(x_test, xp)))
print(f"noisy input: {noisy_db:.2f} dB by hand, {library_db:.2f} dB from scratchae.denoise.psnr")
# Check: expect about 9.4 dB for f = 0.5 on MNIST, and the two to agree to about 1e-5 dB (float32 sums).
assert abs(noisy_db - library_db) < 1e-3 and 8.5 < noisy_db < 10.5

# %% [markdown]
# ## The denoising step
#
# Compared with the plain step (forward, loss, backward, update), one line is new and one argument changed. The
# batch is corrupted first, and the loss compares the output with the *clean* batch. Fresh noise is drawn for
# every batch, so the model never sees the same corruption twice.

# %%
from scratchae.denoise import denoise_step

print(inspect.getsource(denoise_step))

# %% [markdown]
# ## Training a dense denoiser
#
# A dense autoencoder 784-256-64-256-784 with BCE and Adam. Each step gets its own generator, seeded from the
# epoch and the step, so a rerun sees exactly the same noise. After each epoch we score the model on the fixed
# noisy test images.

# %%
from scratchae import BCE, Adam, dense_autoencoder
from scratchae.data import batch_slices, epoch_order
from scratchae.denoise import evaluate_denoising
from scratchae.models import init_output_bias

EPOCHS = 2 if QUICK else 10
model = dense_autoencoder((784, 256, 64), rng=0, xp=xp)
init_output_bias(model, to_device(x_train.mean(axis=0), xp))  # start at the mean digit (lesson 04)
loss, optimizer = BCE(), Adam(model, lr=1e-3)
train, test, test_noisy = (to_device(a, xp) for a in (x_train, x_test, x_test_noisy))
for epoch in range(EPOCHS):
    order = to_device(epoch_order(train.shape[0], 0, epoch), xp)
    for k, (a, b) in enumerate(batch_slices(train.shape[0], 128)):
        xb = xp.take(train, order[a:b], axis=0)  # (B, 784), clean
        denoise_step(model, loss, optimizer, xb, np.random.default_rng([0, epoch, k]), FACTOR)
    scores = evaluate_denoising(model, loss, test_noisy, test)
    print(f"epoch {epoch + 1}: test BCE {scores['test_loss']:.4f}, denoised {scores['test_psnr']:.2f} dB "
          f"(noisy input {scores['noisy_psnr']:.2f} dB)")

# %%
# Check: the denoised images must be much closer to the clean ones than the noisy inputs were. Expect about
# 9.4 dB in and about 13.5 dB out after the 2 quick epochs, about 16 dB after 10 (we measured 16.2). A gain
# under 3 dB means a bug.
assert scores["test_psnr"] > scores["noisy_psnr"] + 3.0, scores
print(f"gain: {scores['test_psnr'] - scores['noisy_psnr']:.1f} dB")

# %% [markdown]
# ## Looking at it
#
# Noisy inputs on top, the model's outputs in the middle, the clean images below.

# %%
import matplotlib.pyplot as plt

from scratchae.plots import one_per_class

pick = one_per_class(y_test)
denoised = to_numpy(model.forward(to_device(x_test_noisy[pick], xp)))
fig, axes = plt.subplots(3, len(pick), figsize=(1.2 * len(pick), 4.0))
for row, (name, pics) in enumerate([("noisy", x_test_noisy[pick]), ("denoised", denoised),
                                    ("clean", x_test[pick])]):
    for i, ax in enumerate(axes[row]):
        ax.imshow(pics[i].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[row, 0].set_ylabel(name)
plt.show()

# %% [markdown]
# The command line does the same with `--noise`: `python -m scratchae.train --noise 0.5` trains the reference
# model as a denoiser, reports PSNR per epoch, and draws these three rows. The presets `keras-denoise` and
# `tf-denoise` rebuild the Keras blog's and the TensorFlow tutorial's convolutional denoisers. A convolution sees
# neighbouring pixels together. The denoising table in `docs/results.md` compares them with dense models. The
# small conv model `tf-denoiser` (10 epochs) beats the dense reference model (20 epochs) by 1.6 dB on MNIST and
# by 2.8 dB on Fashion-MNIST. But a wide dense model (784-512-784, 20 epochs) beats the conv model on both data sets:
# 19.40 against 19.05 dB, and 22.00 against 21.89 dB.
#
# ## Try it
#
# 1. Masking noise is the other classic corruption (Vincent et al., 2008): each pixel is set to 0 with
#    probability $p$ and left alone otherwise. Write it; the cell checks the fraction of zeroed pixels and that
#    the rest are untouched.

# %%
from scratchae.exercises import try_it


def mask_noise(x, p, rng):
    """x: (N, 784) host array in [0, 1] -> a copy with each pixel set to 0 with probability p."""
    raise NotImplementedError  # replace this line with your code


def check_mask_noise():
    x = np.random.default_rng(1).uniform(0.1, 1.0, (200, 784)).astype(np.float32)  # no pixel is 0 to start
    out = mask_noise(x, 0.3, np.random.default_rng(2))
    zeroed = out == 0
    assert out.shape == x.shape and out.dtype == x.dtype, "keep the shape and the dtype"
    assert abs(zeroed.mean() - 0.3) < 0.01, f"zeroed fraction {zeroed.mean():.3f}, expected about 0.3"
    assert np.array_equal(out[~zeroed], x[~zeroed]), "pixels that are not masked must stay as they were"


try_it("masking noise", check_mask_noise)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def mask_noise(x, p, rng):
#     """x: (N, 784) host array in [0, 1] -> a copy with each pixel set to 0 with probability p."""
#     keep = rng.uniform(size=x.shape) >= p  # True with probability 1 - p
#     return x * keep.astype(x.dtype)
#
#
# def check_mask_noise():
#     x = np.random.default_rng(1).uniform(0.1, 1.0, (200, 784)).astype(np.float32)  # no pixel is 0 to start
#     out = mask_noise(x, 0.3, np.random.default_rng(2))
#     zeroed = out == 0
#     assert out.shape == x.shape and out.dtype == x.dtype, "keep the shape and the dtype"
#     assert abs(zeroed.mean() - 0.3) < 0.01, f"zeroed fraction {zeroed.mean():.3f}, expected about 0.3"
#     assert np.array_equal(out[~zeroed], x[~zeroed]), "pixels that are not masked must stay as they were"
#
#
# try_it("masking noise", check_mask_noise)
# ```
#
# </details>
#
# 2. Train the same model as a plain autoencoder (the target is its own input, `loss.forward(out, xb)` with no
#    noise) and feed it the noisy test images. Is its output's PSNR higher or lower than the denoiser's? Why?
#
# <details><summary>Answer</summary>
#
# Lower. A plain autoencoder was never shown noise, so it reconstructs whatever it is given, noise included, as
# well as its bottleneck allows. It removes some noise only by accident (the 64-unit code cannot store it all).
# The denoiser was trained to map noisy inputs to clean outputs, so it learned which parts to throw away.
#
# </details>
#
# 3. Replace BCE by MSE (`from scratchae import MSE`). Training on MSE lowers the squared error of the pixels.
#    Our PSNR is the mean of each image's PSNR, so it is not a function of the MSE of the whole test set. But
#    each image's PSNR depends only on that image's squared error. Does the test PSNR after the same epochs go up?
#
# <details><summary>Answer</summary>
#
# One line changes in the training cell: `loss, optimizer = MSE(), Adam(model, lr=1e-3)`.
#
# Yes. We ran this lesson's code with each loss. In quick mode (2 epochs), the denoised PSNR is 13.49 dB with
# BCE and 13.54 dB with MSE. With the full settings (10 epochs), it is 16.20 dB with BCE and 17.33 dB with MSE.
# MSE scores every pixel's error the way PSNR does. BCE weighs errors differently: for a target of 0 or 1 it
# charges a small error much more than MSE does, and most MNIST pixels are exactly 0. (With MSE, the line the
# cell prints as "test BCE" shows the test MSE.)
#
# The same run also shows the point of the premise. After 10 epochs with MSE, the MSE of the whole test set is
# 0.0209, and $10 \log_{10}(1 / 0.0209) = 16.8$ dB. The mean of the images' PSNRs is 17.3 dB: the two differ.
#
# </details>
