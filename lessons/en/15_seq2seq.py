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
# # 15 · Sequence to sequence: an LSTM autoencoder
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/en/15_seq2seq.ipynb)
#
# Some data comes as a sequence: the hourly demand for power, the position of a hand, the rows of an image read
# from top to bottom. A sequence-to-sequence autoencoder reads the whole sequence into one code with a recurrent
# layer (the encoder). A second recurrent layer writes the sequence back from that code (the decoder). The
# recurrent layer here is the LSTM (long short-term memory). You will write one step of it by hand, derive its
# backward pass, and check both. Then you train the model on Fashion-MNIST images read row by row. Last, you use
# it to find an anomaly in a real physiological recording. Plan 70 to 125 minutes, exercises included.
#
# You will learn
# - one LSTM step: four gates, a cell state and a hidden state, and the shape of every array;
# - backpropagation through time, derived for one step and checked with numerical gradients;
# - the loop over steps, checked against `scratchae.lstm.LSTM`;
# - the model LSTM -> RepeatVector -> LSTM, trained on images read as 28 rows of 28 pixels;
# - how a model of short windows finds one anomaly in a series of 7,501 points, against a simple baseline.

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
# ## One LSTM step
#
# At step $t$ the layer reads one input row $x_t$ and its own state from the step before: the hidden state
# $h_{t-1}$ (what it outputs) and the cell state $c_{t-1}$ (its memory). One matrix product makes four
# blocks of $H$ numbers each, one per gate, in Keras's order input, forget, cell, output:
#
# $$a = x_t W_x + h_{t-1} W_h + b, \qquad x_t: (N, D),\; W_x: (D, 4H),\; h_{t-1}: (N, H),\; W_h: (H, 4H),\;
# b: (4H)$$
#
# $$i = \sigma(a_i),\quad f = \sigma(a_f),\quad g = \tanh(a_g),\quad o = \sigma(a_o)$$
#
# $$c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t)$$
#
# $\odot$ is the elementwise product. The forget gate $f$ says how much of the old memory to keep. The input gate
# $i$ says how much of the new candidate $g$ to write. The output gate $o$ says how much of the memory to show.
# Gates are sigmoids, so each lies between 0 and 1; $g$ lies between -1 and 1. The first step starts from
# $h_0 = c_0 = 0$.
#
# Write the step. Work in NumPy and float64 here: these small arrays are for checking, not for speed.

# %%
import numpy as np


def sigmoid(a):
    """1 / (1 + exp(-a)), written with tanh: no overflow for large negative a (lesson 02)."""
    return 0.5 * np.tanh(0.5 * a) + 0.5


def lstm_step(x_t, h_prev, c_prev, Wx, Wh, b):
    """One step.  x_t: (N, D), h_prev, c_prev: (N, H) -> h, c: (N, H), and the cache for the backward pass."""
    H = h_prev.shape[1]
    a = x_t @ Wx + h_prev @ Wh + b  # (N, 4H)
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])  # (N, H) each
    g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g  # (N, H)
    h = o * np.tanh(c)  # (N, H)
    return h, c, (x_t, h_prev, c_prev, i, f, g, o, c)


rng = np.random.default_rng(0)
N, D, H = 3, 5, 4
Wx, Wh, b = rng.normal(0, 0.5, (D, 4 * H)), rng.normal(0, 0.5, (H, 4 * H)), rng.normal(0, 0.5, 4 * H)
x_t, h_prev, c_prev = rng.normal(size=(N, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H))
h, c, cache = lstm_step(x_t, h_prev, c_prev, Wx, Wh, b)
print("h:", h.shape, "c:", c.shape)
print("gates of the first example (i, f, g, o):")
print(np.round(np.stack(cache[3:7])[:, 0, :], 3))

# %% [markdown]
# ## Backward through one step
#
# Later steps send back two gradients: $dh_t$ (from the loss at this step and from step $t+1$) and
# $dc_{t+1 \to t}$, the gradient of the cell state that step $t+1$ sends back (`dc_next` in the code; 0 at
# the last step). Go through the forward lines in reverse.
# $h_t = o \odot \tanh(c_t)$ gives $do$ and adds a second path into $c_t$:
#
# $$do = dh_t \odot \tanh(c_t), \qquad dc_t = dc_{t+1 \to t} + dh_t \odot o \odot (1 - \tanh^2(c_t))$$
#
# $c_t = f \odot c_{t-1} + i \odot g$ is a sum of products, so each factor gets the other one:
#
# $$di = dc_t \odot g,\quad dg = dc_t \odot i,\quad df = dc_t \odot c_{t-1},\quad dc_{t \to t-1} = dc_t \odot f$$
#
# Through the activations ($\sigma' = \sigma(1 - \sigma)$, $\tanh' = 1 - \tanh^2$), the four blocks of $da$ are
# $di \odot i(1-i)$, $df \odot f(1-f)$, $dg \odot (1-g^2)$ and $do \odot o(1-o)$. Then $a$ is a Dense layer
# with two inputs (lesson 01):
#
# $$dW_x = x_t^\top da,\quad dW_h = h_{t-1}^\top da,\quad db = \textstyle\sum_n da,\quad dx_t = da\, W_x^\top,
# \quad dh_{t-1} = da\, W_h^\top$$

# %%
def lstm_step_backward(dh, dc_next, cache, Wx, Wh):
    """dh, dc_next: (N, H) -> dx_t (N, D), dh_prev (N, H), dc_prev (N, H), dWx, dWh, db."""
    x_t, h_prev, c_prev, i, f, g, o, c = cache
    tc = np.tanh(c)
    do = dh * tc
    dc = dc_next + dh * o * (1 - tc**2)  # two paths into c_t: from step t + 1 and through h_t
    di, dg, df = dc * g, dc * i, dc * c_prev
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1)  # (N, 4H)
    return da @ Wx.T, da @ Wh.T, dc * f, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)


# %% [markdown]
# Check it with numerical gradients. The loss is $L = \sum h_t \odot u_h + \sum c_t \odot u_c$ with random
# upstream gradients $u_h$, $u_c$: then $dL/dh_t = u_h$ and $dL/dc_t = u_c$, the two inputs of the backward
# pass. Random ones, not ones: an all-ones upstream gradient can hide a backward that drops it (lesson 01).

# %%
from scratchae.gradcheck import numerical_gradient, rel_error

u_h, u_c = rng.normal(size=(N, H)), rng.normal(size=(N, H))


def loss_of_step():
    h, c, _ = lstm_step(x_t, h_prev, c_prev, Wx, Wh, b)
    return float(np.sum(h * u_h) + np.sum(c * u_c))


_, _, cache = lstm_step(x_t, h_prev, c_prev, Wx, Wh, b)
analytic = lstm_step_backward(u_h, u_c, cache, Wx, Wh)
names = ["x_t", "h_prev", "c_prev", "Wx", "Wh", "b"]
# Check: every relative error should be about 1e-10 or smaller; above 1e-7 is a bug in the backward pass.
for name, array, grad in zip(names, [x_t, h_prev, c_prev, Wx, Wh, b], analytic):
    error = rel_error(grad, numerical_gradient(loss_of_step, array))
    print(f"d{name:<7} relative error {error:.1e}")
    assert error < 1e-7, name

# %% [markdown]
# ## The loop over steps, and backpropagation through time
#
# A layer runs the step $T$ times with the same weights. Forward goes from $t = 1$ to $T$. Backward
# goes from $t = T$ down to 1: each step gets the loss's gradient at its own output plus the $dh$ and $dc$ that the
# step after it sent back. The weights are shared, so their gradients are summed over the steps. This is
# backpropagation through time (BPTT).

# %%
def lstm_forward(x, Wx, Wh, b):
    """x: (N, T, D) -> hs: (N, T, H), every step's hidden state, and the caches of the T steps."""
    n, steps, _ = x.shape
    h = c = np.zeros((n, Wh.shape[0]))
    hs, caches = [], []
    for t in range(steps):
        h, c, cache = lstm_step(x[:, t, :], h, c, Wx, Wh, b)
        hs.append(h)
        caches.append(cache)
    return np.stack(hs, axis=1), caches


def lstm_backward(dhs, caches, Wx, Wh):
    """dhs: (N, T, H), dL/dh_t of every step -> dx (N, T, D), dWx, dWh, db summed over the steps."""
    n, steps, H = dhs.shape
    dh_next, dc_next = np.zeros((n, H)), np.zeros((n, H))
    dx, dWx, dWh, db = [None] * steps, 0, 0, 0
    for t in reversed(range(steps)):
        dx[t], dh_next, dc_next, dWx_t, dWh_t, db_t = lstm_step_backward(dhs[:, t, :] + dh_next, dc_next,
                                                                         caches[t], Wx, Wh)
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return np.stack(dx, axis=1), dWx, dWh, db


# %% [markdown]
# scratchae's `LSTM` does the same with two speed-ups: the input products $x_t W_x$ of all $T$ steps are one
# matrix product before the loop, and the weight gradients are one product each after it. Give it our weights
# and compare forward, $dx$ and the three weight gradients.

# %%
from scratchae.backend import cpu_xp, to_numpy
from scratchae.lstm import LSTM

T = 7
layer = LSTM(D, H, return_sequences=True, rng=1, xp=cpu_xp, dtype="float64")
Wx, Wh, b = (to_numpy(layer.params[k]) for k in ("Wx", "Wh", "b"))  # the layer's own initial weights
x_seq = rng.normal(size=(N, T, D))
hs, caches = lstm_forward(x_seq, Wx, Wh, b)
dhs = rng.normal(size=(N, T, H))  # a random upstream gradient at every step
mine = lstm_backward(dhs, caches, Wx, Wh)
library_out = layer.forward(x_seq)
library = (layer.backward(dhs), layer.grads["Wx"], layer.grads["Wh"], layer.grads["b"])
# Check: the same float64 arithmetic in another order: expect about 1e-15; above 1e-10 is a bug.
print(f"forward: relative error {rel_error(hs, library_out):.1e}")
assert rel_error(hs, library_out) < 1e-10
for name, a, b_ in zip(["dx", "dWx", "dWh", "db"], mine, library):
    print(f"{name:<4} relative error {rel_error(a, b_):.1e}")
    assert rel_error(a, b_) < 1e-10, name

# %% [markdown]
# `tests/test_lstm.py` also checks the library's layer against numerical gradients (T = 1 and 7, with and without
# `return_sequences`) and, where PyTorch is installed, against `torch.nn.LSTM`.
#
# ## The model: LSTM -> RepeatVector -> LSTM
#
# The encoder is two LSTM layers: the first returns all 28 hidden states, and the second returns only its last
# one, the code (30 numbers). The decoder copies the code to every step (`RepeatVector(28)`). A third LSTM then
# reads those copies and returns 28 hidden states, and one Dense layer turns each of them into a row of 28
# pixels (`TimeDistributed(Dense(100, 28))`). This is the recurrent autoencoder of Hands-On Machine Learning
# (3rd edition). Its output is linear and the loss is MSE. `rows_autoencoder` wraps it for flat images: it
# reshapes (N, 784) into (N, 28, 28) and back.
#
# The printed model names its LSTM layers `FastLSTM`: the builders use `scratchae/lstm_fast.py`, the same layer as
# the `LSTM` above (the same weights and saved files, tested equal to it to rounding) written with fewer array
# operations per time step, so that a training step takes less time (`benchmarks/README.md`).
# `rows_autoencoder(rng=0, xp=xp, fast=False)` builds this lesson's `LSTM` instead.
#
# The full settings are the recipe's (`python -m scratchae.train --preset seq2seq`): the first 55,000 training
# images, batch 32, 10 epochs, with the last 5,000 training images for validation. Quick mode trains on 1,000
# images for one epoch, and validates on the first 1,000 of the 5,000.

# %%
from scratchae import MSE, Adam, to_device
from scratchae.data import batch_slices, epoch_order, load
from scratchae.seq2seq import rows_autoencoder
from scratchae.training import evaluate, train_step

N_TRAIN, N_VAL, EPOCHS = (1000, 1000, 1) if QUICK else (55000, 5000, 10)
x_train, y_train, x_test, y_test = load("fashion-mnist")
x = to_device(x_train[:N_TRAIN], xp)  # (N_TRAIN, 784): 28 rows of 28 pixels each
x_val = to_device(x_train[55000:55000 + N_VAL], xp)  # (N_VAL, 784): never trained on
model, loss = rows_autoencoder(rng=0, xp=xp), MSE()
print(model)
optimizer = Adam(model, lr=2e-3)
for epoch in range(EPOCHS):
    order = to_device(epoch_order(N_TRAIN, 0, epoch), xp)
    for a, b in batch_slices(N_TRAIN, 32):
        train_step(model, loss, optimizer, xp.take(x, order[a:b], axis=0))
    print(f"epoch {epoch + 1}: validation MSE {evaluate(model, loss, x_val):.4f}")

# %% [markdown]
# Quick mode stops far short (an MSE of about 0.06). The full settings are those of `python -m scratchae.train
# --preset seq2seq` (the same model, seed, batches and Adam 2e-3). One run of it on a CPU reached a validation MSE
# of 0.0176 after epoch 1, 0.0115 after epoch 5 and 0.0098 after epoch 10, and 0.0097 on the 10,000 test images
# (`docs/results.md`). The book's Keras model (Nadam) reaches 0.0208 after one epoch and 0.0104 after ten. The
# same book's dense 784-100-30-100-784 autoencoder reaches 0.0132 after 20 epochs: the LSTM model ends lower.
#
# ## Reconstructions
#
# Each test image goes in as 28 rows and comes back from 30 numbers.

# %%
import matplotlib.pyplot as plt

from scratchae.plots import one_per_class

pick = one_per_class(y_test)  # the first test image of each class
recon = to_numpy(model.forward(to_device(x_test[pick], xp)))  # (10, 784)
fig, axes = plt.subplots(2, len(pick), figsize=(1.2 * len(pick), 2.8))
for j, k in enumerate(pick):
    for row, image in ((0, x_test[k]), (1, recon[j])):
        axes[row, j].imshow(image.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes[row, j].axis("off")
axes[0, 0].set_title("test images, then their reconstructions", loc="left", fontsize=9)
plt.show()

# %% [markdown]
# ## The gates at work
#
# Now run your own `lstm_step` with the trained weights of the encoder's first LSTM, on one test image read row
# by row. The picture shows the four gates and the cell state of the first 16 units over the 28 rows. Rows of
# background (black, all zeros) come at the top and bottom of most images: look at what the gates do there.

# %%
first = model.encoder.layers[1]  # layers[0] is the Reshape to (N, 28, 28)
Wx1, Wh1, b1 = (to_numpy(first.params[k]).astype(np.float64) for k in ("Wx", "Wh", "b"))
rows_of_image = x_test[pick[0]].reshape(1, 28, 28).astype(np.float64)  # (1, T = 28, D = 28)
_, steps = lstm_forward(rows_of_image, Wx1, Wh1, b1)
units = slice(0, 16)
panels = {"input gate i": 3, "forget gate f": 4, "candidate g": 5, "output gate o": 6, "cell state c": 7}
fig, axes = plt.subplots(1, 6, figsize=(15, 2.8))
axes[0].imshow(rows_of_image[0], cmap="gray")
axes[0].set_title("the image, row t", fontsize=9)
for ax, (title, k) in zip(axes[1:], panels.items()):
    values = np.stack([cache[k][0, units] for cache in steps], axis=0)  # (28 steps, 16 units)
    im = ax.imshow(values, cmap="coolwarm", vmin=-1, vmax=1, aspect="auto")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("unit")
axes[1].set_ylabel("step t (image row)")
fig.colorbar(im, ax=axes[1:].tolist(), shrink=0.8)
plt.show()

# %% [markdown]
# Every row of the picture is one call of `lstm_step`. Gates lie in [0, 1] (white to red) and $g$ in [-1, 1].
# The cell state can go beyond 1; the colours clip it. A forget gate near 1 keeps that unit's memory; one near 0
# clears it.

# %% [markdown]
# ## An anomaly in a long series
#
# Series 135 of the UCR anomaly archive (InternalBleeding16, Wu and Keogh 2021) is a physiological recording of
# 7,501 points that repeats one cycle about every 185 points. The first 1,200 points are normal and are the
# training data. Somewhere after them, 12 points (indices 4187 to 4198) are labelled as the anomaly. The archive's
# rule: a detector gives one answer, its highest-scoring point, and it counts as found within 100 points of the
# label. scratchae ships the files in `data/timeseries/` and checks their SHA-256 on load.
#
# The model sees short windows, not the whole series. Window $i$ is the 64 points $s_i, \dots, s_{i+63}$. Train
# the LSTM autoencoder on every window of the training points. Then score every window of the whole series by its
# reconstruction error $e_i$. A point $p$ lies in up to 64 windows; its score is their mean:
#
# $$\text{score}(p) = \frac{1}{|W_p|} \sum_{i \in W_p} e_i, \qquad W_p = \{\, i : i \le p \le i + 63 \,\}$$
#
# The values are scaled with the mean and standard deviation of the training points only: the model must not
# see the test part, not even through a statistic.

# %%
from scratchae.series import anomaly_region, load_series_135
from scratchae.seq2seq import lstm_autoencoder
from scratchae.windows import mean_squared_errors, nearest_distances, point_scores, sliding_windows

WINDOW, EPOCHS_135 = 64, (1 if QUICK else 20)
train, test, is_anomaly = load_series_135()  # (1200,), (7501,), (7501,) bools
start, stop = anomaly_region(is_anomaly)
mean, std = float(train.mean()), float(train.std())
train_w = sliding_windows(to_device((train - mean) / std, xp), WINDOW)  # (1137, 64)
test_w = sliding_windows(to_device((test - mean) / std, xp), WINDOW)  # (7438, 64)
print("training windows", train_w.shape, "test windows", test_w.shape, "labelled anomaly", start, "-", stop)

series_model = lstm_autoencoder(WINDOW, 1, hidden=32, code=8, rng=0, xp=xp)  # one value per step
windows_in = xp.reshape(train_w, (train_w.shape[0], WINDOW, 1))  # (1137, 64, 1)
optimizer = Adam(series_model, lr=1e-3)
for epoch in range(EPOCHS_135):
    order = to_device(epoch_order(train_w.shape[0], 0, epoch), xp)
    for a, b in batch_slices(train_w.shape[0], 32):
        value = train_step(series_model, loss, optimizer, xp.take(windows_in, order[a:b], axis=0))
print(f"{EPOCHS_135} epochs; last batch's MSE {float(value):.4f}")

errors = mean_squared_errors(series_model, xp.reshape(test_w, (test_w.shape[0], WINDOW, 1)))  # (7438,)
lstm_score = to_numpy(point_scores(errors, WINDOW))  # (7501,)
answer = int(np.argmax(lstm_score))
print(f"LSTM autoencoder: highest score at {answer}, {'found' if start - 100 <= answer <= stop + 100 else 'missed'}")

# %% [markdown]
# ## The baseline: the nearest training window
#
# Wu and Keogh argue that many published detectors do not beat a simple rule: score a window by its distance to
# the nearest training window. A window that looks like something seen in training scores low. A window unlike
# all of them scores high. It has nothing to train. `nearest_distances` computes all the distances as one matrix
# product, $\|q - r\|^2 = \|q\|^2 + \|r\|^2 - 2\, q \cdot r$.

# %%
nearest_score = to_numpy(point_scores(nearest_distances(test_w, train_w), WINDOW))  # (7501,)
nearest_answer = int(np.argmax(nearest_score))
print(f"nearest window: highest score at {nearest_answer}, "
      f"{'found' if start - 100 <= nearest_answer <= stop + 100 else 'missed'}")

fig, axes = plt.subplots(3, 2, figsize=(14, 6), gridspec_kw={"width_ratios": [3, 1]}, sharex="col")
zoom = slice(start - 400, stop + 400)
for col, part in enumerate((slice(0, test.size), zoom)):
    t = np.arange(test.size)[part]
    axes[0, col].plot(t, test[part], color="k", linewidth=0.7)
    for row, (name, score, where) in enumerate((("LSTM autoencoder", lstm_score, answer),
                                                 ("nearest window", nearest_score, nearest_answer)), start=1):
        axes[row, col].plot(t, score[part] / score.max(), linewidth=0.8)
        axes[row, col].axvline(where, color="tab:red", linestyle="--", linewidth=1)
        axes[row, 0].set_ylabel(name, fontsize=8)
    for ax in axes[:, col]:
        ax.axvspan(start, stop, color="tab:orange", alpha=0.4)
axes[0, 1].set_xlim(zoom.start, zoom.stop)  # an answer far away must not widen the zoom
axes[0, 0].set_title("series 135 (orange: the labelled anomaly); below: the scores / their maximum, "
                     "dashed: the answer", loc="left", fontsize=9)
axes[0, 1].set_title("zoom", fontsize=9)
plt.show()

# %% [markdown]
# In quick mode the LSTM trains for one epoch only; in our quick run its answer was point 7500, far from the
# label. With the full settings (20 epochs, a few minutes on a CPU) its answer is point 4190, inside the label.
# The baseline's answer is 4197 in both modes. `python -m scratchae.series_anomaly --dataset series135` runs the same training (the same seed and
# batches, so the same 4190), adds a dense autoencoder and PCA on the same windows (both answer 4197), and
# draws the four scores. All four find this anomaly; in the LSTM's score the next highest peak is not far below.
# So on this series the simple baseline is as good as the LSTM, as Wu and Keogh would predict. The same command
# runs the one-class protocol of lesson 12 on whole series (ItalyPowerDemand and GunPoint). There the LSTM beats PCA
# in one case of four: see `docs/results.md` ("Time series").
#
# ## Try it
#
# 1. Spread window scores onto the points with a plain loop over the points, and compare with `point_scores`.

# %%
from scratchae.exercises import try_it


def spread(window_scores, w):
    """window_scores: (n,) host array -> (n + w - 1,): each point's mean over the windows that cover it."""
    raise NotImplementedError  # replace this line with your code


def check_spread():
    e = np.random.default_rng(1).random(50)  # scores of 50 windows of 8 points
    mine = spread(e, 8)
    assert mine.shape == (57,), f"57 points, got {mine.shape}"
    assert np.allclose(mine, to_numpy(point_scores(to_device(e, xp), 8))), "differs from point_scores"


try_it("spread", check_spread)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def spread(window_scores, w):
#     """window_scores: (n,) host array -> (n + w - 1,): each point's mean over the windows that cover it."""
#     n = len(window_scores)
#     out = np.empty(n + w - 1)
#     for p in range(n + w - 1):
#         first, last = max(0, p - w + 1), min(p, n - 1)  # window i covers p when i <= p <= i + w - 1
#         out[p] = np.mean(window_scores[first:last + 1])
#     return out
#
#
# def check_spread():
#     e = np.random.default_rng(1).random(50)  # scores of 50 windows of 8 points
#     mine = spread(e, 8)
#     assert mine.shape == (57,), f"57 points, got {mine.shape}"
#     assert np.allclose(mine, to_numpy(point_scores(to_device(e, xp), 8))), "differs from point_scores"
#
#
# try_it("spread", check_spread)
# ```
#
# </details>
#
# 2. Compute the nearest-window distance of the test windows 4100 to 4199 by brute force (one distance at a time),
#    and compare with `nearest_distances`.

# %%
def nearest_by_brute_force(queries, references):
    """queries: (n, w), references: (m, w) host arrays -> (n,): each query's smallest Euclidean distance."""
    raise NotImplementedError  # replace this line with your code


def check_nearest():
    q, r = to_numpy(test_w)[4100:4200], to_numpy(train_w)
    mine = nearest_by_brute_force(q, r)
    library = to_numpy(nearest_distances(to_device(q, xp), to_device(r, xp)))
    assert np.allclose(mine, library, rtol=1e-4, atol=1e-3), "differs from nearest_distances"
    print(f"largest distance among them: window {4100 + int(np.argmax(mine))}")


try_it("nearest window", check_nearest)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def nearest_by_brute_force(queries, references):
#     """queries: (n, w), references: (m, w) host arrays -> (n,): each query's smallest Euclidean distance."""
#     return np.array([min(np.sqrt(np.sum((q - r) ** 2)) for r in references) for q in queries])
#
#
# def check_nearest():
#     q, r = to_numpy(test_w)[4100:4200], to_numpy(train_w)
#     mine = nearest_by_brute_force(q, r)
#     library = to_numpy(nearest_distances(to_device(q, xp), to_device(r, xp)))
#     assert np.allclose(mine, library, rtol=1e-4, atol=1e-3), "differs from nearest_distances"
#     print(f"largest distance among them: window {4100 + int(np.argmax(mine))}")
#
#
# try_it("nearest window", check_nearest)
# ```
#
# </details>
#
# The tolerance is loose on purpose: the library works in float32 and through $\|q\|^2 + \|r\|^2 - 2\,q \cdot
# r$, which loses digits when two windows are close.
#
# 3. In the picture, the baseline's score is almost exactly 0 on the first 1,200 points, and the LSTM's is not.
#    Why?
#
# <details><summary>Answer</summary>
#
# Every window inside the first 1,200 points is itself one of the training windows. Its nearest training window
# is itself, at distance 0 (the small rest is float32 rounding). The baseline remembers every training window
# exactly. The autoencoder has to pass each window through 8 numbers, so it cannot reconstruct even its
# training windows exactly. Its error there shows how well it learned the normal shape, and its peaks at the
# sharp tops of the cycles show where it learned it worst.
#
# </details>
#
# ## Summary
#
# - One LSTM step is one matrix product and a few elementwise lines. Its backward runs the same lines in reverse.
#   The cell state has two ways back: through $h_t$, and straight to $c_{t-1}$ through $f$.
# - BPTT is the step's backward in a loop from the last step to the first, with the weight gradients summed.
# - A sequence autoencoder reads a sequence into one code (LSTM), copies the code to every step (RepeatVector),
#   and writes the sequence back (LSTM and a time-distributed Dense).
# - On a real series, windows and reconstruction errors find the anomaly. So does the distance to the nearest
#   training window, which needs no training: always try that baseline first.
