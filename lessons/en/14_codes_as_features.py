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
# # 14 · What the code is good for
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/en/14_codes_as_features.ipynb)
#
# An autoencoder squeezes each image into a short code. Two uses are claimed for that code. It is a better
# compression than PCA's, because the decoder can bend. And it is a good input for a classifier, because similar
# images get similar codes. In this lesson you measure both claims on MNIST. Plan 55 to 100 minutes, exercises
# included.
#
# You will learn
# - how to compare PCA and an autoencoder fairly: the same code size, the same test images, two error units;
# - why a *linear* autoencoder learns PCA's subspace, and how principal angles show it;
# - k-nearest neighbours and softmax regression on codes, written by hand and checked against the library;
# - when codes help a classifier (few labels) and when they do not (many labels);
# - what a t-SNE map keeps and what a PCA map keeps.

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
# Training a model on a CPU takes minutes. With `PRETRAINED = True` the lesson loads, where it needs trained
# models, the ones that ship with scratchae (trained by the library's own command, `python -m scratchae.train`),
# so you can go straight to the ideas. It is on by default on Colab without a GPU; elsewhere the environment
# variable `SCRATCHAE_PRETRAINED=1` turns it on, or write `True` or `False` in the cell below.

# %%
from scratchae import pretrained

PRETRAINED = pretrained.wanted(xp)  # True on Colab without a GPU; SCRATCHAE_PRETRAINED=1 or 0 decides anywhere
print("PRETRAINED =", PRETRAINED)

# %% [markdown]
# ## The data
#
# MNIST, as in lesson 04. Quick mode keeps the first 3,000 training and 1,000 test images; the full settings use
# all 60,000 and 10,000. The labels `y_train` and `y_test` are used only in the classifiers below: no
# autoencoder in this lesson ever sees a label.

# %%
import numpy as np

from scratchae import to_device, to_numpy
from scratchae.data import load

N_TRAIN, N_TEST = (3000, 1000) if QUICK else (60000, 10000)
EPOCHS = 2 if QUICK else 10
x_train, y_train, x_test, y_test = load("mnist")
x_train, y_train, x_test, y_test = x_train[:N_TRAIN], y_train[:N_TRAIN], x_test[:N_TEST], y_test[:N_TEST]
xd_train, xd_test = to_device(x_train, xp), to_device(x_test, xp)  # moved to the device once
print(f"{N_TRAIN} training and {N_TEST} test images, {EPOCHS} epochs per autoencoder")

# %% [markdown]
# ## PCA and the autoencoder at the same code size
#
# PCA keeps the $k$ directions of largest variance: with $V_k$ the top $k$ right singular vectors of the centred
# training images (shape $784 \times k$), the code is $c = (x - \mu) V_k$ and the reconstruction is
#
# $$\hat x = \mu + (x - \mu) V_k V_k^\top, \qquad E = \sum_{j=1}^{784} (x_j - \hat x_j)^2 = 784 \cdot \text{MSE}.$$
#
# We report both units: MSE, the mean squared error per pixel (what the losses in this course use), and $E$, the
# squared error per image, summed over its 784 pixels (the unit of Hinton and Salakhutdinov, below).
# First PCA by hand, with one SVD, and the library's `pca_errors` as a check.

# %%
from scratchae.pca import pca_errors, pca_fit

SIZES = (2, 8, 32, 64)


def pca_by_hand(x, k):
    """x: (n, 784) -> mean (784,), V^T (k, 784): the top k principal directions as rows."""
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)  # rows of vt by falling singular value
    return mean, vt[:k]


mean, vt = pca_by_hand(x_train.astype(np.float64), max(SIZES))
pca_mse = {}
for k in SIZES:
    centred = x_test - mean  # (N_TEST, 784)
    x_hat = mean + centred @ vt[:k].T @ vt[:k]  # project onto k directions and back
    pca_mse[k] = float(np.mean((x_test - x_hat) ** 2))

lib_mean, lib_components = pca_fit(xd_train, 32)  # float32, on the device
lib_mse = float(np.mean(to_numpy(pca_errors(xd_test, lib_mean, lib_components))))
print(f"PCA-32 test MSE: by hand (float64) {pca_mse[32]:.6f}, library (float32) {lib_mse:.6f}")

# Check: the same projection in float32 and float64; expect a relative difference near 1e-6, above 1e-4 is a bug.
assert abs(lib_mse - pca_mse[32]) / pca_mse[32] < 1e-4

# %% [markdown]
# Now one dense autoencoder per code size: the reference widths 784-256-128-64 and then the code of $k$ numbers,
# trained with BCE as in lesson 04. One change: `code="linear"` leaves out the ReLU on the code, so the code is
# the last Dense layer's output, as PCA's code is. A ReLU code unit that is 0 for every image is *dead*: it gets
# no gradient, so it never comes back. With the ReLU, a code of 2 numbers lost both units in our runs (MNIST
# with seeds 0 and 1, Fashion-MNIST with seed 0), and the decoder could only draw the mean image (lesson 00, exercise 3).
# This is the slowest cell: four trainings, each as long as lesson 04's. With `PRETRAINED` on, it loads the four
# shipped models `code-2`, `code-8`, `code-32` and `code-64` instead: the same networks after 20 epochs on all
# 60,000 images (`python -m scratchae.train --dims 784 256 128 64 K --code linear`).

# %%
from scratchae import BCE, Adam, dense_autoencoder
from scratchae.data import batch_slices, epoch_order
from scratchae.models import init_output_bias
from scratchae.training import train_step


def train_autoencoder(dims, epochs=EPOCHS, seed=0):
    """The plain training loop of lesson 04 on xd_train; returns the trained model."""
    model, loss = dense_autoencoder(dims, code="linear", rng=seed, xp=xp), BCE()
    init_output_bias(model, xp.mean(xd_train, axis=0))  # start at the mean image
    optimizer = Adam(model, lr=1e-3)
    for epoch in range(epochs):
        order = to_device(epoch_order(N_TRAIN, seed, epoch), xp)
        for a, b in batch_slices(N_TRAIN, 256):
            train_step(model, loss, optimizer, xp.take(xd_train, order[a:b], axis=0))
    return model


if PRETRAINED:  # the shipped models: these networks, 20 epochs on all the data
    models = {k: pretrained.load(f"code-{k}", xp=xp).model for k in SIZES}
    print("PRETRAINED: loaded the shipped models code-2, code-8, code-32 and code-64 (20 epochs of "
          "python -m scratchae.train) instead of training them here")
else:
    models = {k: train_autoencoder((784, 256, 128, 64, k)) for k in SIZES}
ae_mse = {k: float(to_numpy(xp.mean((models[k].forward(xd_test) - xd_test) ** 2))) for k in SIZES}
print(" code |  PCA MSE | AE MSE  | PCA E  |  AE E")
for k in SIZES:
    print(f" {k:4d} | {pca_mse[k]:.5f} | {ae_mse[k]:.5f} | {784 * pca_mse[k]:6.2f} | {784 * ae_mse[k]:6.2f}")

# %%
import matplotlib.pyplot as plt

SHOW = 8  # test images per row
recons = {"original": x_test[:SHOW]}
for k in SIZES:
    recons[f"PCA-{k}"] = mean + (x_test[:SHOW] - mean) @ vt[:k].T @ vt[:k]
    recons[f"AE-{k}"] = to_numpy(models[k].forward(xd_test[:SHOW, ...]))
fig, axes = plt.subplots(len(recons), SHOW, figsize=(SHOW * 0.9, len(recons) * 0.95))
for row, (name, images) in zip(axes, recons.items()):
    for ax, image in zip(row, images):
        ax.imshow(np.clip(image, 0, 1).reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(name, rotation=0, ha="right", va="center")
plt.show()

# %% [markdown]
# In quick mode with `PRETRAINED` off (3,000 images, two epochs), the autoencoders are undertrained, and PCA wins at
# every code size: that is what your table shows. Two epochs are not enough for a nonlinear model, while PCA's
# answer is exact from the first image. Run the lesson with `SCRATCHAE_QUICK=0` (all 60,000 images, 10 epochs per
# model) to see how far training closes the gap. With `PRETRAINED` on, your table already shows the 20-epoch models,
# and the autoencoder wins at every size. The full measurement, with the library's command and the same models
# trained for 20 epochs on all of MNIST (`python -m scratchae.train --dims 784 256 128 64 K --code linear`; the
# commands, Fashion-MNIST and a figure are in `docs/results.md`), gives these squared errors per image $E$:
#
# | code size $k$ | 2 | 8 | 32 | 64 |
# | --- | --- | --- | --- | --- |
# | autoencoder, $E$ | 28.37 | 12.79 | 5.46 | 4.76 |
# | PCA, $E$ | 43.64 | 29.35 | 13.19 | 7.09 |
#
# The autoencoder wins at every size, and by most where the code is smallest: its 8-number code keeps as much
# as PCA's 32 directions.
#
# Hinton and Salakhutdinov (Science, 2006) report a squared error per image of 3.00 for their deep
# 784-1000-500-250-30 autoencoder against 13.87 for PCA with 30 components on the MNIST test set. Their setting
# differs from ours in three ways: a much wider network with a 30-number code, logistic hidden units and a linear
# code layer, and layer-by-layer pretraining with restricted Boltzmann machines followed by long fine-tuning.
# Our models are narrower and trained for minutes with Adam, so our gap is smaller (5.46 against 13.19 above;
# our PCA-32 and their PCA-30 agree well). What their result says is that a deep nonlinear code
# *can* keep far more of the image than a linear code of the same size, given enough training.
#
# ## A linear autoencoder finds PCA's subspace
#
# Remove every ReLU and train with MSE: the encoder is $c = x W_1 + b_1$, the decoder $\hat x = c W_2 + b_2$. The
# reconstruction is then a linear map of rank at most $k$, and by the Eckart-Young theorem the best such map (in
# squared error) projects onto the top $k$ principal directions. Baldi and Hornik (1989) showed that the linear
# autoencoder's error has no other local minima: training finds that subspace. It does not find the directions
# themselves: any invertible mix $A$ gives the same map ($W_1 A$, $A^{-1} W_2$). So we compare subspaces, by
# their principal angles. With $Q_1$, $Q_2$ orthonormal bases ($784 \times k$) of the decoder's rows and of
# PCA's top $k$ directions,
#
# $$\cos \theta_i = \sigma_i\left(Q_1^\top Q_2\right), \qquad i = 1, \dots, k,$$
#
# the singular values of a $k \times k$ matrix. All angles are 0 when the subspaces are equal, and they are
# close to 90 degrees for two random subspaces of a 784-dimensional space.

# %%
from scipy.linalg import subspace_angles

from scratchae import MSE, Autoencoder, Dense, Sequential


def principal_angles(a, b):
    """a: (D, k), b: (D, k) -> the k principal angles between their column spaces, in degrees, smallest first."""
    q1, _ = np.linalg.qr(a)  # orthonormal basis of a's columns
    q2, _ = np.linalg.qr(b)
    cos = np.linalg.svd(q1.T @ q2, compute_uv=False)  # (k,), largest first
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


K_LINEAR = 6
x_lin = x_train[:2000]  # 2,000 images are plenty for a linear model
lin_mean, lin_vt = pca_by_hand(x_lin.astype(np.float64), K_LINEAR)
linear = Autoencoder(Sequential([Dense(784, K_LINEAR, rng=0, xp=xp)]), Sequential([Dense(K_LINEAR, 784, rng=1, xp=xp)]))
linear.decoder.layers[0].params["b"][...] = to_device(lin_mean, xp, dtype="float32")  # start at the mean image


def decoder_angles():
    return principal_angles(to_numpy(linear.decoder.layers[0].params["W"]).T.astype(np.float64), lin_vt.T)


before = decoder_angles()
optimizer, loss = Adam(linear, lr=1e-2), MSE()
xd_lin = to_device(x_lin, xp)
for epoch in range(150):
    order = to_device(epoch_order(len(x_lin), 0, epoch), xp)
    for a, b in batch_slices(len(x_lin), 128):
        train_step(linear, loss, optimizer, xp.take(xd_lin, order[a:b], axis=0))
after = decoder_angles()
print("angles before training:", np.round(before, 1))
print("angles after training: ", np.round(after, 2))

# Check: our angles against SciPy's (which sorts them largest first); expect about 1e-12 degrees.
scipy_after = np.sort(np.degrees(subspace_angles(to_numpy(linear.decoder.layers[0].params["W"]).T, lin_vt.T)))
assert np.allclose(after, scipy_after, atol=1e-6), (after, scipy_after)
# Check: from nearly perpendicular to nearly equal. A model with a ReLU, or a bug in a backward, stays far away.
assert before.min() > 45 and after.max() < 5, (before, after)

# %% [markdown]
# The angles fall from near 90 degrees to a degree or two. Why $k = 6$? How fast an angle closes depends on the
# gap between the $k$-th and the next eigenvalue of the covariance. For these 2,000 images the 6th is 1.32 times
# the 7th, but the 8th is only 1.015 times the 9th. With $k = 8$ the last angle still stays near 15 degrees
# after these 150 epochs (exercise 3).
#
# ## The codes as features
#
# Now the labels come in. A classifier gets a feature vector per image: the 784 pixels, the 32 PCA components,
# or the autoencoder's 32-number code. Two classifiers: k-nearest neighbours, which has no training at all, and
# softmax regression, a single Dense layer.
#
# **k-nearest neighbours.** For each test row $q$, find the $k = 5$ training rows closest to it and take the
# most common label among them (a tie goes to the tied class whose member is nearest). The squared distances to
# all $N$ training rows come from one matrix product:
#
# $$\lVert q - x_n \rVert^2 = \lVert q \rVert^2 - 2\, q \cdot x_n + \lVert x_n \rVert^2 .$$

# %%
from scratchae.probe import pca_features
from scratchae.training import encode_all

features = {
    "pixels": (x_train, x_test),
    "PCA-32": tuple(to_numpy(f) for f in pca_features(xd_train, xd_test, 32)),
    "AE-32 code": (encode_all(models[32], xd_train), encode_all(models[32], xd_test)),
}
for name, (f_train, f_test) in features.items():
    print(f"{name}: train {f_train.shape}, test {f_test.shape}")


def knn_by_hand(f_train, labels, f_test, k=5, batch=500):
    """f_train: (N, d), labels: (N,), f_test: (M, d) -> (M,) predicted labels."""
    out = []
    train_norms = (f_train ** 2).sum(axis=1)  # (N,)
    for a in range(0, len(f_test), batch):
        q = f_test[a:a + batch]  # (B, d)
        d2 = (q ** 2).sum(axis=1)[:, None] - 2 * q @ f_train.T + train_norms[None, :]  # (B, N)
        nearest = np.argsort(d2, axis=1, kind="stable")[:, :k]  # (B, k), nearest first
        for votes in labels[nearest]:
            counts = np.bincount(votes, minlength=10)
            tied = np.flatnonzero(counts == counts.max())
            out.append(next(c for c in votes if c in tied))  # the nearest neighbour among the tied classes
    return np.array(out)


# %% [markdown]
# The library's `knn_predict` does the same on the device. It drops $\lVert q \rVert^2$, which is the same for
# every candidate, and finds the 5 nearest with 5 passes of `argmin` instead of a full sort.

# %%
import inspect

from scratchae.knn import knn_predict, vote

print(inspect.getsource(vote))

# %%
f_train, f_test = (f.astype(np.float64) for f in features["PCA-32"])
mine = knn_by_hand(f_train, y_train, f_test)
lib = to_numpy(knn_predict(to_device(f_train, xp), to_device(y_train, xp), to_device(f_test, xp)))
print(f"k-NN on PCA-32: by hand {np.mean(mine == y_test):.4f}, library {np.mean(lib == y_test):.4f}, "
      f"same prediction for {np.mean(mine == lib):.2%} of the test images")

# Check: the same vote on the same float64 distances. Only an exact tie in distance, rounded differently by the
# two formulas, could change a prediction; expect 100%, below 99.9% is a bug.
assert np.mean(mine == lib) >= 0.999

# %% [markdown]
# **Softmax regression.** One Dense layer gives 10 scores $z = f W + b$ (logits). Softmax turns them into
# probabilities $p_c = e^{z_c} / \sum_{c'} e^{z_{c'}}$, and the loss is the cross-entropy of the true label $y$,
# averaged over the batch. Its gradient at the logits is as short as Sigmoid + BCE's in lesson 02:
#
# $$L = -\frac{1}{N} \sum_{n} \log p_{n, y_n}, \qquad \frac{\partial L}{\partial z_{nc}} = \frac{p_{nc} - [c = y_n]}{N}.$$

# %%
from scratchae.classify import SoftmaxCrossEntropy


def softmax_ce_by_hand(z, y):
    """z: (N, C) logits, y: (N,) labels -> (loss, dz)."""
    z = z - z.max(axis=1, keepdims=True)  # the same probabilities, and exp cannot overflow
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # (N, C)
    n = len(y)
    loss = -np.mean(np.log(p[np.arange(n), y]))
    dz = p.copy()
    dz[np.arange(n), y] -= 1.0
    return loss, dz / n


rng = np.random.default_rng(0)
z, y = rng.standard_normal((64, 10)) * 3, rng.integers(0, 10, 64)
my_loss, my_dz = softmax_ce_by_hand(z, y)
ce = SoftmaxCrossEntropy()
lib_loss = float(to_numpy(ce.forward(to_device(z, xp), to_device(y, xp))))
lib_dz = to_numpy(ce.backward())
print(f"loss: by hand {my_loss:.12f}, library {lib_loss:.12f}; largest dz difference {np.abs(my_dz - lib_dz).max():.1e}")

# Check: the same float64 formulas; expect about 1e-16, above 1e-12 is a bug.
assert abs(my_loss - lib_loss) < 1e-12 and np.abs(my_dz - lib_dz).max() < 1e-12

# %% [markdown]
# `tests/test_classify.py` also checks the library's backward against numerical gradients and against the
# unfused chain (softmax, then cross-entropy on the probabilities). Training is the five-line step with this
# loss, plus an optional weight decay. The features are standardized first (each column to mean 0 and standard
# deviation 1, from the training rows): pixels, PCA components and codes live on very different scales.
#
# One rule keeps the comparison honest: every choice (here the weight decay and the number of Adam steps) is made
# on a held-out tenth of the labelled training rows, never on the test set. `linear_probe` does that, then
# refits on all labelled rows with the choice it made.

# %%
from scratchae.classify import softmax_regression

print(inspect.getsource(softmax_regression))

# %% [markdown]
# ## Few labels and many
#
# Labels are often the expensive part. The autoencoder was trained on all training images without labels; now
# give the classifiers only 100, or 1,000, labelled images (a random subset), or all of them.

# %%
from scratchae.probe import evaluate_features

STEPS = 200 if QUICK else 3000
COUNTS = (100, 1000, N_TRAIN)
order = np.random.default_rng(0).permutation(N_TRAIN)  # the n labelled images are order[:n]
yd_train, yd_test = to_device(y_train, xp), to_device(y_test, xp)
table = {}
for name, (f_train, f_test) in features.items():
    print(name)
    rows = evaluate_features(to_device(f_train, xp), yd_train, to_device(f_test, xp), yd_test, COUNTS, order,
                             steps=STEPS)
    table[name] = {(r["classifier"], r["labels"]): r["accuracy"] for r in rows}

print("\ntest accuracy (%)   " + "".join(f"{c:>9} {n:<6}" for n in COUNTS for c in ("k-NN", "softmax")))
for name, accs in table.items():
    print(f"{name:18}" + "".join(f"{100 * accs[(c, n)]:15.1f}" for n in COUNTS for c in ("knn5", "softmax")))

# %% [markdown]
# What the full protocol gave on all of MNIST (`python -m scratchae.features` with its default 3,000 steps, on
# this project's CPU). The code rows come from the library's trained runs: the reference autoencoder of lesson 04
# (784-256-128-64-32-32, ReLU code, its 20 epochs) and the VAE of lesson 13 (its 10 epochs). The tables for both
# data sets, with the convolutional autoencoder's code too, are in `docs/results.md`.
#
# | test accuracy (%) | k-NN, 100 labels | softmax, 100 | k-NN, 1,000 | softmax, 1,000 | k-NN, 60,000 | softmax, 60,000 |
# | --- | --- | --- | --- | --- | --- | --- |
# | pixels (784) | 70.98 | 73.97 | 87.90 | 85.95 | 96.93 | 92.11 |
# | PCA-32 | 74.74 | 69.37 | 90.50 | 85.22 | 97.59 | 88.51 |
# | reference code (32) | 69.49 | 76.50 | 86.30 | 88.28 | 95.57 | 89.57 |
# | VAE mean code (20) | 77.39 | 71.70 | 91.87 | 84.56 | 97.53 | 87.18 |
#
# The pixel row matches the published anchors: LeCun et al. report 88.0% for a linear classifier (our softmax
# regression, trained with Adam, gets 92.1%), and Hands-On Machine Learning (3rd edition) 96.88% for k-NN with
# k = 5 (LeCun et al. list 95.0% for their k-NN).
#
# Read the table one classifier at a time. For k-NN, PCA-32 helps at every label count: 32 numbers that keep the
# large-scale shape of a digit and drop the pixel noise give better neighbours than 784 pixels. The reference
# autoencoder's code does not help k-NN: it is below the pixels at every count. It reconstructs better than
# PCA-32, but a code trained only to reconstruct is not trained to put digits of one class close together:
# nothing in the loss asks for that, and Euclidean distance between codes is not what the decoder uses. The VAE
# of lesson 13 is different: its KL term pulls the codes into one smooth cloud, and its mean code is the best
# k-NN input with 100 and 1,000 labels (77.39% and 91.87%).
#
# For softmax regression the picture turns around. With 100 and 1,000 labels the reference code is the best
# input (76.50% and 88.28%, against 73.97% and 85.95% for the pixels). This is the regime where codes are said
# to help most, and here they do. With all 60,000 labels the pixels win: a linear classifier on 784 numbers has
# more directions to separate the classes than one on 32, and with enough labels it can use them. (The
# 60,000-label fits on PCA-32 and on the codes used all 3,000 steps. With 6,000 steps, PCA-32 reaches 89.50% and
# the reference code 90.59%: still below the pixels.)
#
# Your quick-mode table has three of these rows. Unless `PRETRAINED` is on, its autoencoder trained for two
# epochs on 3,000 images, so expect lower code rows.
#
# ## Two maps of the same codes
#
# A map to two dimensions shows how the codes are arranged. PCA keeps the two directions of largest variance: the
# map is a linear shadow, distances between far-apart groups mean something, but groups that differ in other
# directions overlap. t-SNE (van der Maaten and Hinton, 2008) keeps neighbourhoods: points that are close in the
# code stay close on the map, so classes separate into islands. But the sizes of the islands and the distances
# between them are not meaningful. scikit-learn provides it (preinstalled on Colab; elsewhere
# `pip install scikit-learn`, or the project's `[tsne]` extra: `pip install -e ".[tsne]"`).

# %%
from scratchae.plots import pca_2d, tsne_available, tsne_2d

N_MAP = 500 if QUICK else 3000
codes = encode_all(models[32], xd_test[:N_MAP, ...]).astype(np.float64)  # (N_MAP, 32)
maps = {"PCA of the codes": pca_2d(codes)}
if tsne_available():
    maps["t-SNE of the codes"] = tsne_2d(codes, seed=0)
else:
    print("skipped the t-SNE map: it needs scikit-learn. Install it with `pip install scikit-learn` "
          '(or `pip install -e ".[tsne]"` in a checkout) and run this cell again.')
fig, axes = plt.subplots(1, len(maps), figsize=(5.5 * len(maps), 5), squeeze=False)
for ax, (title, xy) in zip(axes[0], maps.items()):
    points = ax.scatter(xy[:, 0], xy[:, 1], c=y_test[:N_MAP], cmap="tab10", s=5)
    ax.set_title(title)
fig.colorbar(points, ax=axes[0].tolist(), label="digit")
plt.show()

# %% [markdown]
# ## Try it
#
# 1. The simplest classifier of all: the nearest class mean. Compute each digit's mean feature vector from the
#    training rows, and give each test row the label of the closest mean. How does it do on PCA-32 against k-NN?

# %%
from scratchae.exercises import try_it


def nearest_mean(f_train, labels, f_test):
    """f_train: (N, d), labels: (N,), f_test: (M, d) -> (M,) the label of the closest class mean."""
    raise NotImplementedError  # replace this line with your code


def check_nearest_mean():
    f_train, f_test = features["PCA-32"]
    pred = nearest_mean(f_train, y_train, f_test)
    means = np.stack([f_train[y_train == c].mean(axis=0) for c in range(10)])
    want = np.argmin(((f_test[:, None, :] - means[None, :, :]) ** 2).sum(axis=2), axis=1)
    assert pred.shape == (len(f_test),) and np.mean(pred == want) > 0.99, "not the nearest class mean"
    print(f"nearest mean on PCA-32: {np.mean(pred == y_test):.4f}; 5-NN: {table['PCA-32'][('knn5', N_TRAIN)]:.4f}")


try_it("nearest mean", check_nearest_mean)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def nearest_mean(f_train, labels, f_test):
#     """f_train: (N, d), labels: (N,), f_test: (M, d) -> (M,) the label of the closest class mean."""
#     means = np.stack([f_train[labels == c].mean(axis=0) for c in range(10)])  # (10, d)
#     d2 = (f_test ** 2).sum(axis=1)[:, None] - 2 * f_test @ means.T + (means ** 2).sum(axis=1)[None, :]
#     return np.argmin(d2, axis=1)
#
#
# def check_nearest_mean():
#     f_train, f_test = features["PCA-32"]
#     pred = nearest_mean(f_train, y_train, f_test)
#     means = np.stack([f_train[y_train == c].mean(axis=0) for c in range(10)])
#     want = np.argmin(((f_test[:, None, :] - means[None, :, :]) ** 2).sum(axis=2), axis=1)
#     assert pred.shape == (len(f_test),) and np.mean(pred == want) > 0.99, "not the nearest class mean"
#     print(f"nearest mean on PCA-32: {np.mean(pred == y_test):.4f}; 5-NN: {table['PCA-32'][('knn5', N_TRAIN)]:.4f}")
#
#
# try_it("nearest mean", check_nearest_mean)
# ```
#
# </details>
#
# 2. Run k-NN on the AE-32 code with $k = 1$, 5 and 25 (`knn_predict(..., k=k)`). Which $k$ is best, and why
#    does a very large $k$ hurt?
#
# <details><summary>Answer</summary>
#
# $k = 1$ follows every mislabelled or odd training image; a large $k$ reaches past the test image's own
# neighbourhood into other classes, and the vote becomes a vote of the crowd. A small odd $k$ such as 3 or 5 is
# usually best on MNIST; the differences are a fraction of a percent.
#
# </details>
#
# 3. Set `K_LINEAR = 8` and run the linear autoencoder again. Which angle stays large, and what do the
#    eigenvalues say? (`np.linalg.svd(x_lin - x_lin.mean(axis=0), compute_uv=False) ** 2 / len(x_lin)` gives them.)
#
# <details><summary>Answer</summary>
#
# Seven angles close to about a degree, but the eighth is still near 15 degrees after 150 epochs. The 8th and 9th
# eigenvalues are almost equal (1.522 against 1.499 on these 2,000 images): the error hardly changes when the
# eighth direction turns towards the ninth, so the gradient that would turn it is tiny. Train longer and it keeps
# closing, slowly. PCA has the same trouble in another form: when two eigenvalues are nearly equal, their
# directions are ill-defined, and a few more images can swap them.
#
# </details>
