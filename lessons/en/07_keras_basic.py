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
# # 07 · The Keras tutorial's basic autoencoder, and what BCE changes
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/en/07_keras_basic.ipynb)
#
# TensorFlow's "Intro to Autoencoders" tutorial starts with a very small autoencoder: one Dense layer
# down to 64 numbers, one back up, trained with mean squared error on Fashion-MNIST. scratchae rebuilds it
# with `--preset keras-basic`. Here we train it twice, once with MSE and once with BCE, and compare. Plan 35 to
# 65 minutes, exercises included.
#
# You will learn
# - the tutorial's model in scratchae's terms: 784-64-784, ReLU then Sigmoid;
# - how MSE and BCE differ in the one place that matters, the gradient at the Sigmoid's input;
# - why a BCE of 0 is out of reach on grey images, and how to compare two models trained on different losses.

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
# The settings come from the command's preset, so this notebook trains what `python -m scratchae.train
# --preset keras-basic` trains. Quick mode (`SCRATCHAE_QUICK=1`, used by the tests) trains on a tenth of the
# data for one epoch.

# %%
import matplotlib.pyplot as plt
import numpy as np

import scratchae as sa
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import init_output_bias
from scratchae.presets import PRESETS
from scratchae.training import evaluate, train_step

preset = PRESETS["keras-basic"]
print(preset)
EPOCHS = 1 if QUICK else preset["epochs"]
N_TRAIN = 6000 if QUICK else 60000
SEED = 0

x_train_host, _, x_test_host, y_test = load(preset["dataset"])
x_train = sa.to_device(x_train_host[:N_TRAIN], xp)
x_test = sa.to_device(x_test_host, xp)
print(sa.dense_autoencoder(preset["dims"]))

# %% [markdown]
# ## Two losses, one difference
#
# Both losses are means over the $N$ images and $D = 784$ pixels. Let $a$ be the input of the output Sigmoid, so
# $\hat x = \sigma(a)$ and $\partial\hat x/\partial a = \hat x(1-\hat x)$. By the chain rule:
#
# $$L_\text{MSE} = \frac{1}{ND}\sum(\hat x - x)^2 \;\Rightarrow\;
# \frac{\partial L}{\partial a} = \frac{2}{ND}(\hat x - x)\,\hat x(1-\hat x),
# \qquad L_\text{BCE} \;\Rightarrow\; \frac{\partial L}{\partial a} = \frac{1}{ND}(\hat x - x).$$
#
# The factor $\hat x(1-\hat x)$ is at most 1/4. It goes to 0 where the output saturates (gets stuck near 0 or
# 1). Take a pixel that should be black, but the model paints it confidently white. Under MSE it gets almost no
# push; under BCE it gets the full error. The toy below writes both formulas by hand.

# %%
def grad_at_logits_by_hand(x_hat, x, loss):
    """dL/da for x_hat = sigmoid(a), mean over all elements.  x_hat, x: (N, D) -> (N, D)."""
    n = x.size
    if loss == "mse":
        return 2.0 / n * (x_hat - x) * x_hat * (1.0 - x_hat)
    return (x_hat - x) / n


for p in (0.5, 0.9, 0.999):  # one pixel whose target is 0, predicted p
    x_hat, x = np.array([[p]]), np.array([[0.0]])
    print(f"prediction {p:5}: dL/da  MSE {grad_at_logits_by_hand(x_hat, x, 'mse')[0, 0]:.4f}"
          f"  BCE {grad_at_logits_by_hand(x_hat, x, 'bce')[0, 0]:.4f}")

# %% [markdown]
# **Check.** The library gets the same gradients its own way: MSE's `backward` followed by `Sigmoid.backward`,
# and BCE's `backward_logits`. On random logits and real images in float64, expect relative errors of about
# 1e-16; above 1e-10 means a formula is wrong.

# %%
rng = np.random.default_rng(SEED)
a = rng.normal(0.0, 3.0, size=(16, 784))  # logits, some of them far out where the Sigmoid saturates
x = x_test_host[:16].astype(np.float64)
sigmoid = sa.Sigmoid()
x_hat = sigmoid.forward(a)
mse, bce = sa.MSE(), sa.BCE()
mse.forward(x_hat, x)
err_mse = sa.rel_error(sigmoid.backward(mse.backward()), grad_at_logits_by_hand(x_hat, x, "mse"))
bce.forward(x_hat, x)
err_bce = sa.rel_error(bce.backward_logits(), grad_at_logits_by_hand(x_hat, x, "bce"))
print(f"rel. error of dL/da: MSE {err_mse:.1e}, BCE {err_bce:.1e}")
assert err_mse < 1e-10 and err_bce < 1e-10

# %% [markdown]
# ## Train both
#
# Two models from the same initial weights (the command starts the output bias at the mean image, as in lesson
# 04), the preset's batch size of 32, Adam 1e-3; only the loss differs.

# %%
def train(loss):
    model = sa.dense_autoencoder(preset["dims"], rng=SEED, xp=xp)
    init_output_bias(model, sa.to_device(x_train_host[:N_TRAIN].mean(axis=0), xp))
    optimizer = sa.Adam(model, lr=preset["lr"])
    for epoch in range(EPOCHS):
        order = sa.to_device(epoch_order(N_TRAIN, SEED, epoch), xp)
        for a, b in batch_slices(N_TRAIN, preset["batch_size"]):
            train_step(model, loss, optimizer, xp.take(x_train, order[a:b], axis=0))
    return model


models = {"MSE": train(sa.MSE()), "BCE": train(sa.BCE())}
scores = {(name, metric): evaluate(model, loss, x_test)
          for name, model in models.items() for metric, loss in (("MSE", sa.MSE()), ("BCE", sa.BCE()))}
print(f"after {EPOCHS} epoch(s)      test MSE   test BCE")
for name in models:
    print(f"trained with {name}:     {scores[name, 'MSE']:.5f}    {scores[name, 'BCE']:.5f}")

# %% [markdown]
# **Check.** The test losses above come from `evaluate`, a running mean over batches in float32. Recompute
# them independently in float64 with NumPy from the reconstructions. Expect relative differences of about 1e-7
# (float32 rounding); above 1e-4 means `evaluate` averages wrongly. With the full settings, the MSE model's test
# MSE is about 0.0096 after 10 epochs (the README's number: 0.00964). In quick mode it is about 0.04. The 0.0096
# check runs only with the lesson's own full settings. If you change them for an exercise, it is skipped.

# %%
x64 = x_test_host.astype(np.float64)
for name, model in models.items():
    recon = np.concatenate([sa.to_numpy(model.forward(x_test[a:b, ...])) for a, b in batch_slices(10000, 1000)])
    p = np.clip(recon.astype(np.float64), 1e-7, 1 - 1e-7)
    mse64 = np.mean((recon - x64) ** 2)
    bce64 = -np.mean(x64 * np.log(p) + (1 - x64) * np.log(1 - p))
    err = max(abs(scores[name, "MSE"] / mse64 - 1), abs(scores[name, "BCE"] / bce64 - 1))
    print(f"{name} model: float64 MSE {mse64:.5f}, BCE {bce64:.5f}; largest rel. difference {err:.1e}")
    assert err < 1e-4
settings = (EPOCHS, N_TRAIN, SEED, preset["batch_size"], preset["lr"], list(preset["dims"]))
if not QUICK and settings == (10, 60000, 0, 32, 1e-3, [784, 64]):  # the lesson's settings only
    assert scores["MSE", "MSE"] < 0.011, "10 epochs of the preset should reach about 0.0096"
elif not QUICK:
    print("settings changed: the check against 0.0096 is skipped")

# %% [markdown]
# With the full settings, each model wins at the loss it was trained on. After 10 epochs the MSE model's test
# MSE is 0.00964 against the BCE model's 0.01028. The BCE model's test BCE is 0.2762 against 0.2775 (measured
# here, with one BLAS thread). After quick mode's one short epoch, both are far from done, and the MSE model leads on both losses.
# The BCE numbers are far from 0 for both, and that is not a failure. Fashion-MNIST pixels are grey. For a target
# pixel $x$, the BCE is smallest at $\hat x = x$. There it equals $-x\log x - (1-x)\log(1-x)$, the pixel's
# entropy, not 0. So the floor (the lowest possible BCE) for this data set is the mean entropy of the test pixels:

# %%
t = np.clip(x64, 1e-7, 1 - 1e-7)
floor = -np.mean(t * np.log(t) + (1 - t) * np.log(1 - t))
print(f"BCE of a perfect reconstruction: {floor:.4f}; above it: MSE model "
      f"{scores['MSE', 'BCE'] - floor:.4f}, BCE model {scores['BCE', 'BCE'] - floor:.4f}")

picks = [int(np.flatnonzero(y_test == c)[0]) for c in range(10)]
rows = {"original": x_test_host[picks]}
for name, m in models.items():
    rows[f"{name} model"] = sa.to_numpy(m.forward(sa.to_device(x_test_host[picks], xp)))  # (10, 784)
fig, axes = plt.subplots(3, 10, figsize=(10, 3.3))
for r, (label, pics) in enumerate(rows.items()):
    for i in range(10):
        axes[r, i].imshow(pics[i].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes[r, i].set_xticks([])
        axes[r, i].set_yticks([])
    axes[r, 0].set_ylabel(label, fontsize=8)
plt.show()

# %% [markdown]
# The rows are hard to tell apart. With a 64-number code, both models keep the shape of each garment and lose
# small details (the printed "Lee" on the pullover becomes a band). Here the choice of loss changes the numbers
# more than the pictures. It matters more where the outputs saturate: with near-binary images such as MNIST's,
# and with deeper models that can push pixels to 0 or 1. There MSE's factor $\hat x(1-\hat x)$ silences
# exactly the pixels that are confidently wrong.
#
# ## Try it
#
# 1. Image people report reconstruction quality as the peak signal-to-noise ratio, in decibels: for images in
#    $[0, 1]$, $\text{PSNR} = 10 \log_{10}(1/\text{MSE})$, computed per image and then averaged. Write `psnr`;
#    the cell checks it on images with a known error and then scores both models.

# %%
from scratchae.exercises import try_it


def psnr(x, x_hat):
    """x, x_hat: (N, D) host arrays in [0, 1] -> the mean over the N images of 10 log10(1 / MSE_n), in dB."""
    raise NotImplementedError  # replace this line with your code


def check_psnr():
    x = x_test_host[:100].astype(np.float64)
    assert abs(psnr(x, x + 0.1) - 20.0) < 1e-6, "an error of 0.1 on every pixel is an MSE of 0.01: 20 dB"
    mixed = np.concatenate([x[:50] + 0.1, x[50:] - 0.01])  # 50 images at 20 dB, 50 at 40 dB
    assert abs(psnr(x, mixed) - 30.0) < 1e-6, "average the images' PSNRs, not their MSEs"
    for name, model in models.items():
        recon = sa.to_numpy(model.forward(x_test[:1000, ...])).astype(np.float64)
        print(f"{name} model: PSNR {psnr(x_test_host[:1000].astype(np.float64), recon):.2f} dB on 1000 test images")


try_it("PSNR", check_psnr)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def psnr(x, x_hat):
#     """x, x_hat: (N, D) host arrays in [0, 1] -> the mean over the N images of 10 log10(1 / MSE_n), in dB."""
#     mse_per_image = np.mean((x_hat - x) ** 2, axis=1)  # (N,)
#     return float(np.mean(10.0 * np.log10(1.0 / mse_per_image)))
#
#
# def check_psnr():
#     x = x_test_host[:100].astype(np.float64)
#     assert abs(psnr(x, x + 0.1) - 20.0) < 1e-6, "an error of 0.1 on every pixel is an MSE of 0.01: 20 dB"
#     mixed = np.concatenate([x[:50] + 0.1, x[50:] - 0.01])  # 50 images at 20 dB, 50 at 40 dB
#     assert abs(psnr(x, mixed) - 30.0) < 1e-6, "average the images' PSNRs, not their MSEs"
#     for name, model in models.items():
#         recon = sa.to_numpy(model.forward(x_test[:1000, ...])).astype(np.float64)
#         print(f"{name} model: PSNR {psnr(x_test_host[:1000].astype(np.float64), recon):.2f} dB on 1000 test images")
#
#
# try_it("PSNR", check_psnr)
# ```
#
# </details>
#
# 2. The tutorial's Keras model starts its output bias at zero. Train the MSE model without `init_output_bias`
#    and compare its test MSE after the same epochs.
#
# <details><summary>Answer</summary>
#
# It starts from a grey image instead of the average garment, so its first epoch ends with a higher test MSE.
# With one layer on each side and a code of 64, there are few ReLU units to lose. After ten epochs the gap is
# small.
#
# </details>
#
# 3. Change the batch size from 32 to 256. The epochs get faster; is the test MSE after the same number of
#    epochs better or worse?
#
# <details><summary>Answer</summary>
#
# Worse after the same epochs: batch 256 makes eight times fewer Adam steps per epoch. It is faster per image,
# so it can catch up if you give it more epochs; for this tiny model Keras's default of 32 is a fine choice.
#
# </details>
