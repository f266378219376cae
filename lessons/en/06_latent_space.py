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
# # 06 · The latent space: a map, a walk, and the units that died
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/en/06_latent_space.ipynb)
#
# The reference autoencoder of lesson 04 squeezes every digit into 32 numbers. This lesson looks at those
# numbers: where the digits land, what lies between two of them, and how many of the model's units never
# switch on at all. Plan on 40-75 minutes, exercises included.
#
# You will learn
# - to project 32-D codes to a 2-D map with PCA, written in a few lines of NumPy;
# - to walk the straight line between two codes and decode every point on it;
# - to count dead ReLU units, and why the reference model has some.

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
# First we need a trained model: the reference model and training loop of lesson 04, with 10 epochs instead of
# 20. Quick mode (used by the tests) trains on a tenth of the data for two epochs. The map is then rougher, but
# the digits are already sorted. With `PRETRAINED` on, the cell loads the shipped reference model instead: the same
# network after the full 20 epochs.

# %%
import matplotlib.pyplot as plt
import numpy as np

import scratchae as sa
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import init_output_bias
from scratchae.training import evaluate, train_step

EPOCHS = 2 if QUICK else 10
N_TRAIN = 6000 if QUICK else 60000
BATCH, SEED = 256, 0

x_train_host, _, x_test_host, y_test = load("mnist")
x_train = sa.to_device(x_train_host[:N_TRAIN], xp)
x_test = sa.to_device(x_test_host, xp)
bce = sa.BCE()
if PRETRAINED:  # the shipped reference model: this network, 20 epochs on all the data
    shipped = pretrained.load("reference", xp=xp)
    model = shipped.model
    print(f"PRETRAINED: loaded the shipped reference model ({len(shipped.metrics)} epochs of "
          "python -m scratchae.train) instead of training one here")
else:
    model = sa.dense_autoencoder(rng=SEED, xp=xp)
    init_output_bias(model, sa.to_device(x_train_host[:N_TRAIN].mean(axis=0), xp))
    optimizer = sa.Adam(model, lr=1e-3)
    for epoch in range(EPOCHS):
        order = sa.to_device(epoch_order(N_TRAIN, SEED, epoch), xp)
        for a, b in batch_slices(N_TRAIN, BATCH):
            train_step(model, bce, optimizer, xp.take(x_train, order[a:b], axis=0))
    print(f"trained for {EPOCHS} epochs")
print(f"test BCE: {evaluate(model, bce, x_test):.4f}")

# %% [markdown]
# ## A map of the codes: PCA
#
# Stack the test set's codes as rows of $Z$ (10,000 × 32) and centre them. The singular value decomposition
# $Z - \bar z = U S V^\top$ gives the directions $V$ in which the codes spread the most, in order. Keeping the
# first two gives every image a point on a plane:
#
# $$p_n = (z_n - \bar z)\, V_{:,\,1:2}, \qquad \operatorname{Var}(p_{n,k}) = \frac{s_k^2}{N}.$$

# %%
z = np.concatenate([sa.to_numpy(model.encode(x_test[a:b, ...])) for a, b in batch_slices(10000, 1000)])
z = z.astype(np.float64)  # (10000, 32); float64 so the check below can be tight


def pca_2d(z):
    """Rows of z (N, d) projected on their first two principal directions -> (N, 2)."""
    centred = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)  # vt: (d, d), rows are the directions
    return centred @ vt[:2].T


p = pca_2d(z)
print(f"codes {z.shape}, map {p.shape}")

# %% [markdown]
# **Check.** An independent route to the same answer: the principal directions are the eigenvectors of the
# covariance matrix $C = \frac1N (Z-\bar z)^\top (Z-\bar z)$, and the variance along each is its eigenvalue. So
# the covariance of the two map coordinates must be diagonal, holding the two largest eigenvalues of $C$. Expect
# relative errors of about 1e-15 in float64; above 1e-8 means the projection is wrong.

# %%
eigenvalues = np.linalg.eigvalsh(np.cov(z, rowvar=False, bias=True))[::-1]  # largest first
cov_p = np.cov(p, rowvar=False, bias=True)  # (2, 2)
err_var = np.max(np.abs(np.diag(cov_p) - eigenvalues[:2]) / eigenvalues[:2])
err_corr = abs(cov_p[0, 1]) / eigenvalues[0]
print(f"variances {np.diag(cov_p)}, top eigenvalues {eigenvalues[:2]}: rel. error {err_var:.1e}")
print(f"covariance between the two coordinates, relative to the first variance: {err_corr:.1e}")
print(f"the map keeps {eigenvalues[:2].sum() / eigenvalues.sum():.0%} of the codes' variance")
assert err_var < 1e-8 and err_corr < 1e-8

# %%
fig, ax = plt.subplots(figsize=(6.5, 5.5))
for digit in range(10):
    mask = y_test == digit
    ax.scatter(p[mask, 0], p[mask, 1], s=2, alpha=0.5, color=plt.cm.tab10(digit), label=str(digit))
ax.set_xlabel("principal component 1")
ax.set_ylabel("principal component 2")
ax.legend(markerscale=6, title="digit")
plt.show()

# %% [markdown]
# Nobody told the model which digit is which, yet images of one digit land near each other. To rebuild an
# image from 32 numbers, the code has to say what kind of stroke it is. Where clouds overlap (4, 7 and 9;
# 3, 5 and 8), the digits also look alike. The plane shows only part of the variance. Clouds that overlap here
# may be apart in the other 30 directions.
#
# ## A walk between two digits
#
# Take the codes $z_a$, $z_b$ of two test images and decode the points of the segment between them:
#
# $$\hat x(\alpha) = g\big((1-\alpha)\, z_a + \alpha\, z_b\big), \qquad \alpha \in [0, 1].$$
#
# Below it, for comparison, the pixel blend $(1-\alpha)\,x_a + \alpha\, x_b$.

# %%
DIGIT_A, DIGIT_B, STEPS = 1, 0, 9
i_a, i_b = int(np.flatnonzero(y_test == DIGIT_A)[0]), int(np.flatnonzero(y_test == DIGIT_B)[0])
alphas = np.linspace(0.0, 1.0, STEPS, dtype=np.float32)[:, None]  # (STEPS, 1)
z_a, z_b = model.encode(x_test[i_a:i_a + 1, ...]), model.encode(x_test[i_b:i_b + 1, ...])  # (1, 32) each
z_line = (1 - sa.to_device(alphas, xp)) * z_a + sa.to_device(alphas, xp) * z_b  # (STEPS, 32)
walk = sa.to_numpy(model.decode(z_line))  # (STEPS, 784)
blend = (1 - alphas) * x_test_host[i_a] + alphas * x_test_host[i_b]  # (STEPS, 784)

fig, axes = plt.subplots(2, STEPS, figsize=(STEPS, 2.3))
for k in range(STEPS):
    for row, pics in enumerate((walk, blend)):
        axes[row, k].imshow(pics[k].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes[row, k].axis("off")
    axes[0, k].set_title(f"α = {alphas[k, 0]:.2f}", fontsize=8)
fig.suptitle(f"decoded latent walk from a {DIGIT_A} to a {DIGIT_B} (top), pixel blend (bottom)", fontsize=10)
plt.show()

# %% [markdown]
# **Check.** The two ends of the walk are the model's reconstructions of the two images. Expect absolute
# differences of about 1e-7 to 1e-6; above 1e-4 means `decode` is not the second half of `forward`. (The
# arithmetic is the same, but a matrix library may add in another order for a batch of another size, and ten
# layers pass the rounding on.) A second check tests the segment itself. It must start at $z_a$, end at $z_b$,
# and take equal steps of $(z_b - z_a) / 8$. Swapped ends or uneven $\alpha$ fail it. Expect about 1e-7.

# %%
ends = sa.to_numpy(model.forward(xp.take(x_test, xp.asarray([i_a, i_b]), axis=0)))  # (2, 784)
err_ends = float(np.max(np.abs(walk[[0, -1]] - ends)))
print(f"largest difference between the walk's ends and the reconstructions: {err_ends:.1e}")
assert err_ends < 1e-4
line = sa.to_numpy(z_line).astype(np.float64)  # (STEPS, 32)
za, zb = sa.to_numpy(z_a)[0].astype(np.float64), sa.to_numpy(z_b)[0].astype(np.float64)
err_line = max(np.max(np.abs(line[0] - za)), np.max(np.abs(line[-1] - zb)),
               np.max(np.abs(np.diff(line, axis=0) - (zb - za) / (STEPS - 1))))
print(f"largest difference between the segment and z_a, z_b and equal steps: {err_line:.1e}")
assert err_line < 1e-4 * (1 + np.max(np.abs(zb - za)))

# %% [markdown]
# The pixel blend fades one image out and the other in; the latent walk mostly draws strokes, each in between
# looking more like a digit. An autoencoder does not promise this (a VAE, in a later lesson, is trained for it),
# so some steps can look like neither digit.
#
# ## Dead units
#
# A ReLU unit outputs $\max(a, 0)$. Suppose its input $a$ is negative for every image. Then it outputs 0 for all
# of them and passes no gradient back ($\partial \max(a,0)/\partial a = 0$ for $a<0$). So its own weights stop
# learning: the unit is *dead*. Only changes in the layers before it could bring it back.
# Count them by hand: a forward pass through the weights, keeping every ReLU's output for the whole test set.

# %%
def relu_outputs(model, x):
    """Forward x (N, 784) through the model's weights by hand; returns every ReLU layer's output (N, width)."""
    outputs = []
    for layer in model.layers:
        if isinstance(layer, sa.Dense):
            x = x @ sa.to_numpy(layer.params["W"]) + sa.to_numpy(layer.params["b"])
        elif isinstance(layer, sa.ReLU):
            x = np.maximum(x, 0.0)
            outputs.append(x)
    return outputs


acts = relu_outputs(model, x_test_host)
dead_by_hand = [int(np.sum(np.all(a == 0.0, axis=0))) for a in acts]  # units that are 0 for every image
widths = [a.shape[1] for a in acts]
print("ReLU layer widths:", widths)
print("dead units:       ", dead_by_hand)

# %% [markdown]
# **Check.** The library's `ReLU` keeps the mask $[a > 0]$ of its last forward pass. So after one forward pass of
# the whole test set through the model, we can count the same units from the layers themselves. The two counts
# must agree exactly (a dead unit sits well below 0, not at the edge of rounding).

# %%
model.forward(x_test)  # every ReLU layer now holds its mask for the 10,000 test images
dead_library = [int(xp.sum(xp.astype(xp.all(layer.mask == 0.0, axis=0), xp.int64)))
                for layer in model.layers if isinstance(layer, sa.ReLU)]
print("dead units from the layers' masks:", dead_library)
assert dead_library == dead_by_hand

fresh = sa.dense_autoencoder(rng=SEED)
init_output_bias(fresh, x_train_host[:N_TRAIN].mean(axis=0))
dead_fresh = [int(np.sum(np.all(a == 0.0, axis=0))) for a in relu_outputs(fresh, x_test_host)]
print(f"dead before training: {sum(dead_fresh)} of {sum(widths)}; after: {sum(dead_by_hand)} of {sum(widths)}")

# %% [markdown]
# A dead unit is lost capacity. With the full settings, 7 of the 32 code units (the fifth layer) were dead here.
# So the model really has a 25-number code. Some units are dead from the start, mostly in the decoder. Its layers
# see the output of a narrow layer that is never negative. A unit whose random weights point away from all such
# inputs never switches on. (Before training, 39 of the 40 dead units here sit in the decoder, 21 in its last
# ReLU layer.) More units die during training: a step can push a unit's bias and weights so far that no image
# switches it on again. Lesson 04's mean-image output bias saves some: a model that starts at the average digit
# takes gentler first steps.
#
# ## Try it
#
# 1. Is the middle of the walk close to a real digit? Write `nearest(z_all, q)`, the index of the row of `z_all`
#    closest to the code `q` (Euclidean distance); the cell finds the test image nearest to the walk's midpoint.

# %%
from scratchae.exercises import try_it


def nearest(z_all, q):
    """z_all: (N, d), q: (d,) -> the index of the row of z_all nearest to q."""
    raise NotImplementedError  # replace this line with your code


def check_nearest():
    mid = sa.to_numpy(z_line)[STEPS // 2].astype(np.float64)  # (32,)
    for q in (z[42], mid):
        k = nearest(z, q)
        distances = np.linalg.norm(z - q, axis=1)  # (10000,)
        assert distances[k] <= distances.min() + 1e-9, f"row {k} is at {distances[k]:.3f}, not the nearest"
    print(f"the walk's midpoint is nearest to test image {k}, a {y_test[k]}")


try_it("nearest code", check_nearest)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def nearest(z_all, q):
#     """z_all: (N, d), q: (d,) -> the index of the row of z_all nearest to q."""
#     return int(np.argmin(np.sum((z_all - q) ** 2, axis=1)))  # squared distances: same order, no sqrt
#
#
# def check_nearest():
#     mid = sa.to_numpy(z_line)[STEPS // 2].astype(np.float64)  # (32,)
#     for q in (z[42], mid):
#         k = nearest(z, q)
#         distances = np.linalg.norm(z - q, axis=1)  # (10000,)
#         assert distances[k] <= distances.min() + 1e-9, f"row {k} is at {distances[k]:.3f}, not the nearest"
#     print(f"the walk's midpoint is nearest to test image {k}, a {y_test[k]}")
#
#
# try_it("nearest code", check_nearest)
# ```
#
# </details>
#
# 2. Walk between two images of the *same* digit, and between a 4 and a 9 (neighbours on the map). Which walk
#    stays recognisable all the way?
#
# <details><summary>Answer</summary>
#
# Walks between close codes (the same digit, or 4 and 9) pass through codes much like the ones the decoder was
# trained on, and every step looks like a digit. Between distant codes (a 1 and a 0), the middle of the segment
# can lie where no training image landed. There the decoder draws something in between that is neither digit.
#
# </details>
#
# 3. Train a second model without `init_output_bias` and count its dead units with `relu_outputs`. Does it have
#    more, as lesson 04 says?
#
# <details><summary>Answer</summary>
#
# Usually yes, mostly in the narrow layers around the code. But one seed can go either way. Compare several
# seeds, and train with the full settings, before you believe a difference of a few units.
#
# </details>
