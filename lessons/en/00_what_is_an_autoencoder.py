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
# # 00 · What an autoencoder is, and why
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/en/00_what_is_an_autoencoder.ipynb)
#
# An autoencoder is a network trained to give back its own input. That sounds useless, and it is, unless the
# network is kept from simply copying. This lesson says what stops the copy, what the trained parts are good for,
# and which lesson builds each use. You will see the bottleneck at work: the same test digits squeezed through
# codes of 2, 8 and 32 numbers. Plan 45 to 80 minutes, exercises included.
#
# You will learn
# - the three parts: encoder, bottleneck (the code), decoder;
# - why an autoencoder with a wide code can learn the identity, and four ways to stop it;
# - what autoencoders are used for, and where this course builds each use;
# - how to open a lesson on Colab and give it a T4 GPU.

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
# ## Encoder, bottleneck, decoder
#
# An MNIST image is $x$, 784 numbers in $[0, 1]$ (28 x 28 pixels). The *encoder* $f$ maps it to a *code* $z$ of
# $k$ numbers; the *decoder* $g$ maps the code back to 784 numbers, the *reconstruction* $\hat x$:
#
# $$z = f(x) \in \mathbb R^k, \qquad \hat x = g(z) \in [0, 1]^{784}, \qquad
# L = \frac{1}{N}\sum_{n=1}^{N} \ell\big(\hat x^{(n)}, x^{(n)}\big).$$
#
# ```
#   x (784 numbers) ── encoder f ──> z (k numbers: the bottleneck) ── decoder g ──> x̂ (784 numbers)
# ```
#
# The loss $\ell$ measures how far $\hat x$ is from $x$ (lesson 02 derives the two usual ones, BCE and MSE). The
# target is the input itself, so training needs no labels. When $k$ is much smaller than 784, the code is the
# *bottleneck*: everything the decoder knows about the image must pass through $k$ numbers.
#
# ## Why a wide code learns nothing
#
# Let the code be as wide as the input or wider ($k \ge 784$, *over-complete*). Then the encoder can copy the
# image into the first 784 code numbers and the decoder can copy them back: $f(x) = x$, $g(z) = z$, so
# $\hat x = x$ and the loss is 0 for every image. That also works for images the network never saw, and for
# random noise. The network has learned the identity, not what digits look like. A ReLU in between does not stop
# the copy either: pixels are never negative, and $\text{ReLU}(x) = x$ for $x \ge 0$ (exercise 1 builds this
# copy). Four things stop it; each has its lesson:
#
# - **a small code**, $k \ll 784$: the network must choose what to keep (this lesson; lesson 04 uses 32 numbers);
# - **noise**: the input is corrupted and the target is clean, so the copy gives back the noise and loses
#   (lesson 10, denoising);
# - **sparsity**: a penalty on the code makes most code numbers 0 for each image (lesson 11);
# - **the KL term** of a variational autoencoder: each code is noisy and pulled toward $\mathcal N(0, I)$, so it
#   can carry only a little information about the image (lesson 13).
#
# ## The bottleneck, seen
#
# Three autoencoders from the library, 784-128-$k$-128-784, with codes of $k$ = 2, 8 and 32 numbers. They train
# on the same images with the same loss (BCE), optimiser (Adam) and batches. `sa.dense_autoencoder` puts a ReLU
# on the code too, as the assignment's model does. A code unit that is 0 for every image is *dead* (lesson 06
# counts them), and with only 2 numbers one dead unit would halve the code. So we drop that last ReLU with
# `code="linear"`: the code is the output of a Dense layer. Each model trains for two epochs: on 3,000 images in
# quick mode (used by the tests), on 15,000 with the full settings. That takes a few seconds on a GPU and a
# minute or two on a CPU.

# %%
import matplotlib.pyplot as plt
import numpy as np

import scratchae as sa
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import init_output_bias
from scratchae.training import evaluate, train_step

N_TRAIN = 3000 if QUICK else 15000
EPOCHS = 2
BATCH = 64 if QUICK else 100
CODE_SIZES = (2, 8, 32)

x_train_host, _, x_test_host, y_test = load("mnist")
x_train, x_test = sa.to_device(x_train_host[:N_TRAIN], xp), sa.to_device(x_test_host[:1000], xp)
y_test = y_test[:1000]


def bottleneck_model(k):
    """784-128-k-128-784 from the library, with no ReLU on the code."""
    return sa.dense_autoencoder((784, 128, k), code="linear", rng=0, xp=xp)  # the code: the last Dense's output


models, errors = {}, {}
for k in CODE_SIZES:
    model = bottleneck_model(k)
    init_output_bias(model, sa.to_device(x_train_host[:N_TRAIN].mean(axis=0), xp))  # start at the mean digit (lesson 04)
    bce, optimizer = sa.BCE(), sa.Adam(model, lr=1e-3)
    for epoch in range(EPOCHS):
        order = sa.to_device(epoch_order(N_TRAIN, 0, epoch), xp)
        for a, b in batch_slices(N_TRAIN, BATCH):
            train_step(model, bce, optimizer, xp.take(x_train, order[a:b], axis=0))
    models[k], errors[k] = model, evaluate(model, sa.BCE(), x_test)
    print(f"code of {k:2d} numbers: test BCE {errors[k]:.4f} per pixel")

# %% [markdown]
# What do these numbers mean? A model that ignores its input and always draws the mean training digit is the
# bar to beat: any code must do better than no code at all. Its BCE is computed below with NumPy, independently
# of the library.

# %%
mean_digit = np.clip(x_train_host[:N_TRAIN].mean(axis=0).astype(np.float64), 1e-7, 1 - 1e-7)
x_host = x_test_host[:1000].astype(np.float64)
no_code = float(np.mean(-(x_host * np.log(mean_digit) + (1 - x_host) * np.log(1 - mean_digit))))
print(f"no code (the mean digit): test BCE {no_code:.4f} per pixel")
print("with a code of", ", ".join(f"{k}: {errors[k]:.4f}" for k in CODE_SIZES))
# Check: every code beats no code, and the error falls with the code size, by 0.005 or more at each step. Expect
# about 0.26 for no code, then about 0.23, 0.19 and 0.18 in quick mode, and 0.21, 0.15 and 0.12 with the full
# settings. Equal errors would mean that the bottleneck does not matter.
assert errors[2] < no_code - 0.005, (errors, no_code)
assert errors[2] > errors[8] + 0.005 and errors[8] > errors[32] + 0.005, errors

# %%
first = [int(np.flatnonzero(y_test == c)[0]) for c in range(10)]  # one test digit of each class
rows = [("original", x_test)] + [(f"code of {k}", models[k].forward(x_test)) for k in CODE_SIZES]
fig, axes = plt.subplots(len(rows), 10, figsize=(10, 4.4))
for r, (title, images) in enumerate(rows):
    for c, i in enumerate(first):
        axes[r, c].imshow(sa.to_numpy(images[i, ...]).reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes[r, c].set_xticks([])
        axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(title)
fig.tight_layout()
plt.show()

# %% [markdown]
# With 2 numbers per image, the decoder can only draw a few blurry prototypes: some digits come back as another
# digit. With 8, most digits are recognisable. With 32 (and the full settings), strokes and slants come back. A code of 32 numbers is
# 4% of the image's 784 pixels, and it keeps most of what makes each digit that digit. That is the sense in
# which the encoder *compresses*: it keeps what matters for the data it was trained on.
#
# ## What autoencoders are for
#
# The Keras tutorials on autoencoders name these uses. This course builds each one:
#
# | use | what the autoencoder gives | lesson |
# | --- | --- | --- |
# | dimensionality reduction, pictures of the data | a 2-D or low-dimensional code per image | 06 (the latent space), 13 (the 2-D VAE plane) |
# | feature extraction | the code, as input for another model | 14 (codes as features) |
# | denoising | a decoder that returns the clean image from a noisy one | 10 |
# | anomaly detection | the reconstruction error as a score: unusual inputs come back badly | 12 |
# | generation | a decoder that draws a new image from a random code | 13 (the VAE) |
#
# Lessons 01 to 03 write the parts (a Dense layer, activations and losses, Adam), lesson 04 trains the
# assignment's model, and lesson 05 has you build it from your own parts. Lessons 07 to 09 add the Keras model, the
# GPU and convolutions; lesson 11 adds sparse codes and lesson 15 sequences.
#
# ## Opening a lesson on Colab, with a GPU
#
# 1. Click the "Open In Colab" badge at the top of a lesson (or in the lessons' index). Colab opens the notebook
#    from GitHub. Sign in with a Google account to run it.
# 2. For a GPU: Runtime → Change runtime type → T4 GPU → Save (ランタイム → ランタイムのタイプを変更 → T4 GPU →
#    保存). Do this first: changing the runtime restarts it and clears every variable.
# 3. Run the first cell (the setup cell). It installs scratchae and prints whether it found the GPU (CuPy) or runs
#    on the CPU (NumPy). The same code runs on both; lesson 08 explains how.
# 4. Run the cells in order from the top: Runtime → Run all, or Shift+Enter one cell at a time.
# 5. To keep your changes: File → Save a copy in Drive. Otherwise Colab forgets them when the runtime ends.
#
# A CPU runtime works too; training cells take about 10 times longer there. In a checkout of the repository
# nothing needs installing: `pip install -e .`, then open the lesson in Jupyter or VS Code.
#
# ## Try it
#
# 1. Build the copy. Give the over-complete autoencoder 784-1000-784 (Dense, ReLU, Dense) weights that
#    reconstruct *every* image exactly, trained on nothing. Return the two weight matrices; the biases stay 0.

# %%
from scratchae.exercises import try_it


def identity_weights(n_in, n_code):
    """-> (W1 of shape (n_in, n_code), W2 of shape (n_code, n_in)) with ReLU(x @ W1) @ W2 = x for every x >= 0."""
    raise NotImplementedError  # replace this line with your code


def check_identity():
    W1, W2 = identity_weights(784, 1000)
    copy = sa.Sequential([sa.Dense(784, 1000, xp=xp), sa.ReLU(), sa.Dense(1000, 784, xp=xp)])
    copy.layers[0].params["W"][...] = sa.to_device(np.asarray(W1), xp, dtype="float32")
    copy.layers[2].params["W"][...] = sa.to_device(np.asarray(W2), xp, dtype="float32")
    noise = sa.to_device(np.random.default_rng(1).uniform(size=(5, 784)), xp, dtype="float32")
    for name, images in (("test digits", x_test[:100, ...]), ("uniform noise", noise)):
        gap = float(xp.max(xp.abs(copy.forward(images) - images)))
        assert gap < 1e-6, f"{name}: reconstruction differs from the input by up to {gap:.3g}; expect 0"


try_it("the identity", check_identity)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def identity_weights(n_in, n_code):
#     """-> (W1 of shape (n_in, n_code), W2 of shape (n_code, n_in)) with ReLU(x @ W1) @ W2 = x for every x >= 0."""
#     W1 = np.eye(n_in, n_code)  # the first n_in code numbers copy the pixels, the rest stay 0
#     W2 = np.eye(n_code, n_in)  # copy them back; ReLU changes nothing, since pixels are >= 0
#     return W1, W2
#
#
# def check_identity():
#     W1, W2 = identity_weights(784, 1000)
#     copy = sa.Sequential([sa.Dense(784, 1000, xp=xp), sa.ReLU(), sa.Dense(1000, 784, xp=xp)])
#     copy.layers[0].params["W"][...] = sa.to_device(np.asarray(W1), xp, dtype="float32")
#     copy.layers[2].params["W"][...] = sa.to_device(np.asarray(W2), xp, dtype="float32")
#     noise = sa.to_device(np.random.default_rng(1).uniform(size=(5, 784)), xp, dtype="float32")
#     for name, images in (("test digits", x_test[:100, ...]), ("uniform noise", noise)):
#         gap = float(xp.max(xp.abs(copy.forward(images) - images)))
#         assert gap < 1e-6, f"{name}: reconstruction differs from the input by up to {gap:.3g}; expect 0"
#
#
# try_it("the identity", check_identity)
# ```
#
# </details>
#
# Noise comes back as exactly as digits do: this network knows nothing about digits.
#
# 2. Which test digits does the 8-number code reconstruct worst? Write the mean squared error of each image
#    (one number per image), then show the six worst. These unusual digits are what lesson 12's anomaly
#    detector flags.

# %%
def per_image_error(x_hat, x):
    """x_hat, x: (N, 784) -> (N,): the mean of (x_hat - x)^2 over each image's pixels."""
    raise NotImplementedError  # replace this line with your code


def check_per_image_error():
    x_hat = models[8].forward(x_test)
    scores = per_image_error(x_hat, x_test)
    assert tuple(scores.shape) == (x_test.shape[0],), f"one number per image: expected shape (1000,), got {scores.shape}"
    overall = evaluate(models[8], sa.MSE(), x_test)  # the mean over all pixels of all images
    assert abs(float(xp.mean(scores)) - overall) < 1e-4 * overall, (float(xp.mean(scores)), overall)
    worst = np.argsort(sa.to_numpy(scores))[::-1][:6]
    fig, axes = plt.subplots(2, 6, figsize=(7, 2.6))
    for c, i in enumerate(worst):
        for r, images in enumerate((x_test, x_hat)):
            axes[r, c].imshow(sa.to_numpy(images[int(i), ...]).reshape(28, 28), cmap="gray", vmin=0, vmax=1)
            axes[r, c].axis("off")
    plt.show()


try_it("per-image error", check_per_image_error)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def per_image_error(x_hat, x):
#     """x_hat, x: (N, 784) -> (N,): the mean of (x_hat - x)^2 over each image's pixels."""
#     return xp.mean((x_hat - x) ** 2, axis=1)  # axis=1: over the pixels of each row
#
#
# def check_per_image_error():
#     x_hat = models[8].forward(x_test)
#     scores = per_image_error(x_hat, x_test)
#     assert tuple(scores.shape) == (x_test.shape[0],), f"one number per image: expected shape (1000,), got {scores.shape}"
#     overall = evaluate(models[8], sa.MSE(), x_test)  # the mean over all pixels of all images
#     assert abs(float(xp.mean(scores)) - overall) < 1e-4 * overall, (float(xp.mean(scores)), overall)
#     worst = np.argsort(sa.to_numpy(scores))[::-1][:6]
#     fig, axes = plt.subplots(2, 6, figsize=(7, 2.6))
#     for c, i in enumerate(worst):
#         for r, images in enumerate((x_test, x_hat)):
#             axes[r, c].imshow(sa.to_numpy(images[int(i), ...]).reshape(28, 28), cmap="gray", vmin=0, vmax=1)
#             axes[r, c].axis("off")
#     plt.show()
#
#
# try_it("per-image error", check_per_image_error)
# ```
#
# </details>
#
# The worst ones are usually thick, slanted or oddly shaped digits, or digits that look like another class.
#
# 3. Keep the ReLU on the code: train `sa.dense_autoencoder((784, 128, 2), rng=0, xp=xp)` as it comes, with the
#    loop above, and count the code units that are 0 for every test image
#    (`xp.all(model.encode(x_test) == 0, axis=0)`). What happens to its test BCE?
#
# <details><summary>Answer</summary>
#
# In our runs one or both of the two units died early in training: they output 0 for every image. With both
# dead, the decoder sees the same code for every image and can only draw the mean digit, so the test BCE is the
# "no code" number above, about 0.26. With one dead, the code has 1 number. A wider code (the assignment's 32)
# survives a few dead units, which is why lesson 04 keeps the ReLU there.
#
# </details>
