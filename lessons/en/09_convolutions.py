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
# # 09 · Convolutions
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/en/09_convolutions.ipynb)
#
# A Dense layer connects every pixel to every unit. A convolution slides one small kernel over the image, so a
# 3x3 filter costs 9 weights per channel pair wherever it looks. You will turn a convolution into one matrix
# product, write its backward from lesson 01's Dense, get the transposed convolution for free as its adjoint (the
# transposed matrix), meet pooling and upsampling, and train the Keras convolutional autoencoder. Plan 80 to 140
# minutes, exercises included.
#
# You will learn
# - im2col: copying every patch into a row, so that a convolution is `cols @ W`;
# - the convolution's backward: lesson 01's three Dense formulas, then col2im;
# - why a transposed convolution is the same matrix, transposed, and how that gives both its forward and backward;
# - which code the layers run, and the check that pins it to the reference;
# - the gradient check of both layers;
# - max pooling and upsampling, the other way down and up (the Keras blog's model), and their backward;
# - what the convolutional autoencoder reconstructs better than a dense one.

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
# ## A convolution, the slow way
#
# Images are NHWC, as in Keras: `(N, H, W, C)` means N images, H rows, W columns and C channels. A kernel `W` of
# shape `(k, k, C, F)` makes F output channels. Output pixel $(y, x)$ of filter $f$ is the dot product of the
# k x k patch under it with that filter:
#
# $$\text{out}_{n,y,x,f} = \sum_{i,j,c} x_{n,\,y s + i,\,x s + j,\,c}\; W_{i,j,c,f} + b_f$$
#
# with stride $s$. (Frameworks call this a convolution; strictly it is a cross-correlation, nothing is flipped.)
# Here it is on one 4x4 image with one channel and a 3x3 kernel, stride 1, no padding: a 2x2 output.

# %%
import numpy as np

from scratchae.backend import to_numpy

x = xp.reshape(xp.arange(1.0, 17.0), (1, 4, 4, 1))  # one 4x4 image, pixels 1..16, float64
K = xp.reshape(xp.asarray([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]), (3, 3, 1, 1))  # Sobel-x
print(xp.reshape(x, (4, 4)))


def conv_loops(x, W):
    """Four nested loops, straight from the formula (stride 1, no padding)."""
    n, h, w, c = x.shape
    k, f = W.shape[0], W.shape[3]
    out = xp.zeros((n, h - k + 1, w - k + 1, f), dtype=x.dtype, device=x.device)  # on x's device, as x
    for y in range(h - k + 1):
        for x_ in range(w - k + 1):
            patch = x[:, y:y + k, x_:x_ + k, :]  # (N, k, k, C)
            out[:, y, x_, :] = xp.reshape(patch, (n, -1)) @ xp.reshape(W, (-1, f))
    return out


print(conv_loops(x, K)[0, :, :, 0])

# %% [markdown]
# ## im2col: every patch becomes a row
#
# The loop body is always the same dot product. So first copy each patch into a row of a matrix `cols`, in the
# order $(i, j, c)$. That is exactly how `W.reshape(k * k * C, F)` orders its rows. Then all outputs come from
# one matrix product, $\text{out} = \text{cols}\, W$. We build `cols` one kernel offset $(i, j)$ at a time,
# with strided slices: column $(i, j)$ of every row is the image shifted by $(i, j)$.
#
# If you have read Deep Learning from Scratch (ゼロから作るDeep Learning): its `im2col` takes NCHW arrays and orders
# each row's columns $(C, k_h, k_w)$. scratchae's takes NHWC arrays, as Keras does, and orders them
# $(k_h, k_w, C)$, so a Keras kernel `(k, k, C, F)` reshapes to `(k k C, F)` with no transpose.

# %%
def im2col_by_hand(x, k, out_h, out_w):
    """x: (N, H, W, C) -> cols: (N out_h out_w, k k C), stride 1, no padding."""
    n, _, _, c = x.shape
    shifted = [x[:, i:i + out_h, j:j + out_w, :] for i in range(k) for j in range(k)]  # k k slices
    cols = xp.stack(shifted, axis=3)  # (N, out_h, out_w, k k, C)
    return xp.reshape(cols, (n * out_h * out_w, k * k * c))


cols = im2col_by_hand(x, 3, 2, 2)
print("cols:", cols.shape)
print(cols)  # row 0 is the top-left patch read row by row: 1 2 3 5 6 7 9 10 11
out = xp.reshape(cols @ xp.reshape(K, (9, 1)), (1, 2, 2, 1))

# %%
# Check: the same sums in another order; expect 0 (these are small integers), anything else means a bug.
difference = float(xp.max(xp.abs(out - conv_loops(x, K))))
assert difference == 0.0, difference
print("cols @ W equals the loops:", to_numpy(out)[0, :, :, 0].tolist())  # to_numpy: a host copy to print

# %% [markdown]
# ## The library's Conv2D
#
# `scratchae.Conv2D` is this matrix product with Keras's padding. With `padding="same"` the output has
# $\lceil H / s \rceil$ rows. The total padding is $(\text{out} - 1)s + k - H$, and the odd pixel goes to the
# bottom and the right. So a stride-2 3x3 convolution pads a 28-row image with 0 rows on top and 1 below. The
# reference im2col in `scratchae/im2col.py` adds the padding and takes the stride. Otherwise it is the function
# you just wrote. Its adjoint `col2im` uses the same k k slices: it adds them into a zeroed padded buffer, then
# crops it:

# %%
import inspect

from scratchae import Conv2D, Conv2DTranspose, check_layer, rel_error
from scratchae.im2col import col2im, im2col

print(inspect.getsource(im2col))
print(inspect.getsource(col2im))

# %%
rng = np.random.default_rng(0)
layer = Conv2D(3, 4, 3, padding="valid", xp=xp, dtype="float64", rng=rng)  # 3 channels in, 4 filters
x3 = xp.asarray(rng.standard_normal((2, 6, 5, 3)))
ours = xp.reshape(im2col_by_hand(x3, 3, 4, 3) @ xp.reshape(layer.params["W"], (27, 4)), (2, 4, 3, 4))
error = rel_error(layer.forward(x3), ours)  # its bias starts at zero, so no + b here
print(f"Conv2D against im2col_by_hand @ W: {error:.1e}")
# Check: the same products in the same order; expect 0 or about 1e-16, above 1e-12 means they differ.
assert error < 1e-12, error

# %% [markdown]
# ## The backward, from lesson 01's Dense
#
# Once `cols` is built, a convolution is a Dense layer applied to the rows of `cols`. Each row is one patch,
# and the kernel, reshaped to $(k k C, F)$, is the weight matrix:
#
# $$\text{out} = \text{cols}\, W + b, \qquad \text{cols}: (N\,o_h o_w,\ k k C),\quad W: (k k C,\ F),\quad
# \text{out}: (N\,o_h o_w,\ F).$$
#
# So lesson 01's three formulas hold unchanged, with `cols` in the place of `x`:
#
# $$dW = \text{cols}^\top d\text{out}, \qquad db = \textstyle\sum_{\text{rows}} d\text{out}, \qquad
# d\text{cols} = d\text{out}\, W^\top.$$
#
# One step is left: from `dcols` to `dx`. im2col only copies pixels, so it is linear: $\text{cols} = M x$ for a
# matrix $M$ of zeros and ones (a row of $M$ picks one pixel, or is all zeros where the patch reads padding). The
# chain rule for a linear map gives $dx = M^\top d\text{cols}$: every entry of `dcols` goes back, *added*, to the
# pixel it was copied from. A pixel that sits in several patches collects one share from each. That is col2im:
#
# $$dx = \text{col2im}(d\text{cols}) = M^\top d\text{cols}.$$
#
# Here is a convolution forward that keeps what its backward needs, built from the library's `im2col` (with
# padding and stride). You will write its backward in exercise 2 and prove it with a gradient check.

# %%
from scratchae import numerical_gradient
from scratchae.im2col import conv_geometry


def conv_forward(x, W, b, stride=1, padding="same"):
    """x: (N, H, W, C), W: (k, k, C, F), b: (F,) -> out: (N, oh, ow, F), and the cache backward needs."""
    n, h, w, c = x.shape
    k, f = W.shape[0], W.shape[3]
    oh, top, bottom = conv_geometry(h, k, stride, padding)
    ow, left, right = conv_geometry(w, k, stride, padding)
    pads = (top, bottom, left, right)
    cols = im2col(x, k, stride, (oh, ow), pads)  # (N oh ow, k k C)
    out = cols @ xp.reshape(W, (k * k * c, f)) + b  # (N oh ow, F): a Dense layer on the rows of cols
    return xp.reshape(out, (n, oh, ow, f)), (cols, tuple(x.shape), k, stride, (oh, ow), pads)


strided = Conv2D(3, 4, 3, stride=2, xp=xp, dtype="float64", rng=6)
strided.params["b"][...] = xp.asarray(rng.standard_normal((4,)))  # a bias that is not 0, to test it too
x7 = xp.asarray(rng.standard_normal((2, 7, 7, 3)))
error = rel_error(conv_forward(x7, strided.params["W"], strided.params["b"], stride=2)[0], strided.forward(x7))
print(f"conv_forward against Conv2D (stride 2, same): {error:.1e}")
# Check: the same products; expect about 1e-16, above 1e-12 means conv_forward is not Conv2D's forward.
assert error < 1e-12, error

# %% [markdown]
# The library's `Conv2D.backward` is these lines. (Its first branch hands a special case to a faster path,
# explained in the next section.)

# %%
print(inspect.getsource(Conv2D.backward))

# %% [markdown]
# ## Which code runs
#
# The reference above is the definition. The layers can run faster forms of the same numbers, from
# `scratchae/conv_fast.py`. One dictionary in `scratchae/conv.py`, `FAST`, switches each of them on or off:
#
# - `gather_im2col`: im2col as one `xp.take` (a gather) instead of k k slices and a stack;
# - `by_output`: a stride-1 Conv2D with fewer filters than input channels works from the output side. It
#   multiplies each pixel by the whole kernel first, then adds k k shifted slices (`shift_add`).
#
# In the keras-conv model below, the two stride-2 Conv2D layers run the gather im2col forward and the reference
# col2im above backward (the first one needs no input gradient). The two Conv2DTranspose layers run the
# reference col2im forward and the gather im2col backward. (A faster col2im was tried and removed: it saved
# too little of an epoch to be worth a second version.)
# The last Conv2D (32 -> 1, stride 1) runs the `by_output` path: no im2col and no col2im at all.
# If you set a breakpoint in `im2col` above, Conv2D will not reach it while `FAST` is on. Switch `FAST` off
# first, as the next cell does. The cell checks that both ways give the same numbers: forward, dx, dW and db.
# `tests/test_conv_fast.py` checks the same for every fast function and layer, on every backend.

# %%
from scratchae import conv
from scratchae.gradcheck import random_like

print("conv.FAST =", conv.FAST)
last = Conv2D(32, 1, 3, xp=xp, dtype="float64", rng=5)  # like the model's last layer: the by_output path
x32 = xp.asarray(rng.standard_normal((2, 7, 7, 32)))
dout32 = random_like(last.forward(x32), rng)


def run_layer():
    out = last.forward(x32)
    dx = last.backward(dout32)
    return out, dx, last.grads["W"], last.grads["b"]


fast = run_layer()
saved = dict(conv.FAST)
conv.FAST.update({name: False for name in conv.FAST})  # every switch off: the reference of im2col.py runs
reference = run_layer()
conv.FAST.update(saved)
errors = [rel_error(a, b) for a, b in zip(fast, reference)]
print("fast against reference (out, dx, dW, db):", ", ".join(f"{e:.1e}" for e in errors))
# Check: the same sums in another order; expect about 1e-16, above 1e-12 means a fast path is wrong.
assert max(errors) < 1e-12, errors

# %% [markdown]
# ## The transposed convolution is the transposed matrix
#
# A convolution is linear in $x$, so it *is* a matrix $C$: $\text{vec}(\text{out}) = C\,\text{vec}(x)$. Build it
# by convolving each of the 16 one-hot 4x4 images (one pixel 1, the rest 0): column $p$ of $C$ is the output for
# pixel $p$. Its backward needs $dx = C^\top d\text{out}$. A transposed convolution (Keras's `Conv2DTranspose`,
# the decoder's upsampler) is defined as exactly that map, $y \mapsto C^\top y$. Here $C$ is the stride-2
# "same" convolution that takes 4x4 to 2x2, so $C^\top$ takes 2x2 up to 4x4:

# %%
import matplotlib.pyplot as plt

down = Conv2D(1, 1, 3, stride=2, xp=xp, dtype="float64", rng=1)  # 4x4 -> 2x2
C = xp.stack([xp.reshape(down.forward(xp.reshape(xp.eye(16, dtype=xp.float64)[p, :], (1, 4, 4, 1))), (4,))
              for p in range(16)], axis=1)  # (4, 16): one column per input pixel
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for ax, matrix, title in ((axes[0], C, "C: conv 4x4 -> 2x2  (4 x 16)"), (axes[1], C.T, "C.T: 2x2 -> 4x4  (16 x 4)")):
    ax.imshow(to_numpy(matrix), cmap="coolwarm", vmin=-1, vmax=1)
    ax.set_title(title)
    ax.set_xlabel("input pixel")
    ax.set_ylabel("output pixel")
fig.tight_layout()
plt.show()

# %% [markdown]
# Each row of $C$ holds one 3x3 kernel placed over one patch (zeros where it reads padding). Each row of
# $C^\top$ lists which output patches a pixel belonged to. So the transposed convolution's forward is Conv2D's
# input gradient: col2im of $y\,W^\top$, every entry added back to the pixel it was copied from. Its backward is
# Conv2D's forward pieces (im2col of `dout`, then matrix products). Give the library's `Conv2DTranspose` the same
# kernel; its layout is `(k, k, filters, in)`, the kernel of the convolution it transposes. It must give
# $C^\top y$:

# %%
up = Conv2DTranspose(1, 1, 3, stride=2, xp=xp, dtype="float64")
up.params["W"][...] = down.params["W"]  # (3, 3, 1, 1) both ways round
y = xp.asarray(rng.standard_normal((1, 2, 2, 1)))
error = rel_error(up.forward(y), xp.reshape(C.T @ xp.reshape(y, (4,)), (1, 4, 4, 1)))
print(f"Conv2DTranspose(y) against C.T @ y: {error:.1e}")
x4 = xp.asarray(rng.standard_normal((1, 4, 4, 1)))
lhs, rhs = float(xp.sum(down.forward(x4) * y)), float(xp.sum(x4 * up.forward(y)))
print(f"<conv(x), y> = {lhs:.12f},  <x, conv_transpose(y)> = {rhs:.12f}")
# Check: the same matrix both ways; expect about 1e-16, above 1e-12 means the transpose is not the adjoint.
assert error < 1e-12 and abs(lhs - rhs) < 1e-12, (error, lhs, rhs)

# %% [markdown]
# ## Gradient checks
#
# Both layers, float64, a random upstream gradient, stride 2 on an odd size (7 -> 4 down, 4 -> 8 up), every
# gradient compared with central differences (`check_layer`, as in lesson 01).

# %%
for layer, shape in ((Conv2D(3, 5, 3, stride=2, xp=xp, dtype="float64", rng=2), (2, 7, 7, 3)),
                     (Conv2DTranspose(3, 2, 3, stride=2, xp=xp, dtype="float64", rng=3), (2, 4, 4, 3))):
    report = check_layer(layer, xp.asarray(rng.standard_normal(shape)), rng=4, max_entries=60)
    worst = max(check.error for check in report.values())
    print(f"{layer!r}: worst relative error {worst:.1e}")
    # Check: expect about 1e-10; above 1e-7 means a bug in that backward.
    assert worst < 1e-7, report

# %% [markdown]
# ## Pooling and upsampling
#
# Strides are one way down and transposed convolutions one way up. The Keras blog's convolutional autoencoder
# uses another pair. It keeps every convolution at stride 1 and changes the size between them:
#
# - `MaxPool2D(2)` keeps the largest value of each 2x2 window: $\text{out}_{n,y,x,c} = \max_{i,j<2}
#   x_{n,\,2y+i,\,2x+j,\,c}$, half the rows and half the columns;
# - `UpSampling2D(2)` repeats each pixel in a 2x2 block: $\text{out}_{n,y,x,c} = x_{n,\,\lfloor y/2\rfloor,\,
#   \lfloor x/2\rfloor,\,c}$, twice the rows and columns. It has no weights; the convolution after it does the
#   drawing.
#
# Their backward passes follow from one derivative each. A maximum depends only on its largest argument, with
# slope 1 (nudge a smaller one a little and the maximum does not move). So MaxPool's `dx` is `dout` at the
# position of each window's maximum and 0 at the other three. UpSampling copies each input pixel to 4 outputs,
# so that pixel's gradient is the sum of `dout` over its 2x2 block (the same rule as col2im: a copy's backward
# adds). Both on the 4x4 image from the start:

# %%
from scratchae import MaxPool2D, UpSampling2D
from scratchae.models import conv_pool_autoencoder

pool, upsample = MaxPool2D(2), UpSampling2D(2)
pooled = pool.forward(x)
print("MaxPool2D(2):", to_numpy(pooled)[0, :, :, 0].tolist())  # the largest of each 2x2 window: 6 8 / 14 16
print("UpSampling2D(2) of that:")
print(to_numpy(upsample.forward(pooled))[0, :, :, 0])
dpool = xp.reshape(xp.asarray([[1.0, 2.0], [3.0, 4.0]]), (1, 2, 2, 1))
print("MaxPool2D backward of [[1, 2], [3, 4]]:")
print(to_numpy(pool.backward(dpool))[0, :, :, 0])  # each value lands where its window's maximum was

# %%
for layer, shape in ((MaxPool2D(2), (2, 6, 8, 3)), (UpSampling2D(2), (2, 3, 4, 3))):
    # Random inputs have no ties, so every window has one clear maximum: max is smooth there.
    report = check_layer(layer, xp.asarray(rng.standard_normal(shape)), rng=7)
    print(f"{layer!r}: dx relative error {report['x'].error:.1e}")
    # Check: expect about 1e-11; above 1e-7 means a bug in that backward.
    assert report["x"].error < 1e-7, report

# %% [markdown]
# `conv_pool_autoencoder()` is the Keras blog's model built from these layers, with the same shapes as
# `conv_autoencoder()` below: 28x28 down to a 7x7x64 code and back. Follow one image through it:

# %%
blog = conv_pool_autoencoder(rng=0, xp=xp, dtype="float64")
h = xp.zeros((1, 784), dtype=xp.float64)
for layer in blog.layers:
    h = layer.forward(h)
    print(f"{layer!r:45s} -> {tuple(h.shape)}")

# %% [markdown]
# ## The convolutional autoencoder
#
# `conv_autoencoder()` is the Keras model. Two stride-2 convolutions take a 28x28 image to a 7x7x64 code. Two
# stride-2 transposed convolutions and a last 3x3 convolution bring it back. (`python -m scratchae.train
# --preset keras-conv` trains it for 20 epochs.) Here it trains next to the reference dense autoencoder: the
# same data, BCE, Adam and batches, with the five-line step of lesson 04 (`train_step`).

# %%
import time

from scratchae import BCE, Adam, dense_autoencoder, to_device, to_numpy
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import conv_autoencoder
from scratchae.training import evaluate, train_step

N_TRAIN = 512 if QUICK else 60000  # one epoch over this many training images
BATCH = 32 if QUICK else 128  # smaller batches in quick mode: more steps for the same work
N_TEST = 300 if QUICK else 1000
x_train, _, x_test, y_test = load("fashion-mnist")
x_train, x_test, y_test = to_device(x_train[:N_TRAIN], xp), to_device(x_test[:N_TEST], xp), y_test[:N_TEST]
models = {"conv": conv_autoencoder(rng=0, xp=xp), "dense": dense_autoencoder(rng=0, xp=xp)}
history = {}
for name, model in models.items():
    loss, optimizer = BCE(), Adam(model, lr=1e-3)
    history[name] = [evaluate(model, loss, x_test)]
    started = time.perf_counter()
    order = to_device(epoch_order(N_TRAIN, 0, 0), xp)
    for a, b in batch_slices(N_TRAIN, BATCH):
        train_step(model, loss, optimizer, xp.take(x_train, order[a:b], axis=0))
    history[name].append(evaluate(model, loss, x_test))
    weights = sum(p.size for _, p, _ in model.named_params())
    print(f"{name:5s} ({weights:,} weights): test BCE {history[name][0]:.4f} -> {history[name][1]:.4f} after one "
          f"epoch on {N_TRAIN} images ({time.perf_counter() - started:.0f} s)")

# %%
# Check: one epoch must lower the test BCE from its untrained value (about 0.7, near the 0.69 of a 0.5 guess for
# every pixel) by 0.05 or more; a loss that does not fall means a broken step. With the full settings expect
# about 0.25 for conv and 0.31 for dense. Those two numbers (0.2516 and 0.3097) were measured on all 10,000 test
# images. This lesson evaluates only the first 1,000 (300 in quick mode), so its numbers differ a little.
for name, losses in history.items():
    assert losses[1] < losses[0] - 0.05, (name, losses)
first = [int(np.flatnonzero(y_test == c)[0]) for c in range(8)]  # one test image of each of 8 classes
fig, axes = plt.subplots(3, 8, figsize=(10, 4))
for row, (title, images) in enumerate((("original", x_test), ("conv", models["conv"].forward(x_test[:100, :])),
                                      ("dense", models["dense"].forward(x_test[:100, :])))):
    for col, i in enumerate(first):
        axes[row, col].imshow(to_numpy(images[i, ...]).reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes[row, col].set_xticks([])
        axes[row, col].set_yticks([])
    axes[row, 0].set_ylabel(title)
fig.tight_layout()
plt.show()

# %% [markdown]
# With less than a sixth of the dense model's weights, the convolutional model reconstructs better. The same
# 3x3 filters serve every position of the image, and nearby pixels stay together all the way through. But its
# code is much bigger: 7x7x64 = 3136 numbers per image against the dense model's 32, so it compresses far less.
#
# ## Try it
#
# 1. Write col2im by hand: the adjoint of `im2col_by_hand`, adding each column back to the pixel it was copied
#    from (stride 1, no padding). The check tests the adjoint identity $\langle \text{im2col}(x), d\rangle =
#    \langle x, \text{col2im}(d)\rangle$ with random arrays.

# %%
from scratchae.exercises import try_it


def col2im_by_hand(dcols, x_shape, k):
    """dcols: (N out_h out_w, k k C) -> dx: x_shape (N, H, W, C), stride 1, no padding."""
    raise NotImplementedError  # replace this line with your code


def check_col2im():
    shape = (2, 5, 6, 3)
    out_h, out_w = 3, 4
    x = xp.asarray(rng.standard_normal(shape))
    d = xp.asarray(rng.standard_normal((2 * out_h * out_w, 27)))
    lhs = float(xp.sum(im2col_by_hand(x, 3, out_h, out_w) * d))
    rhs = float(xp.sum(x * col2im_by_hand(d, shape, 3)))
    assert abs(lhs - rhs) < 1e-9 * abs(lhs), f"<im2col(x), d> = {lhs} but <x, col2im(d)> = {rhs}"


try_it("col2im", check_col2im)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def col2im_by_hand(dcols, x_shape, k):
#     """dcols: (N out_h out_w, k k C) -> dx: x_shape (N, H, W, C), stride 1, no padding."""
#     n, h, w, c = x_shape
#     out_h, out_w = h - k + 1, w - k + 1
#     dcols = xp.reshape(dcols, (n, out_h, out_w, k * k, c))
#     dx = xp.zeros(x_shape, dtype=dcols.dtype)
#     for i in range(k):
#         for j in range(k):
#             dx[:, i:i + out_h, j:j + out_w, :] += dcols[:, :, :, i * k + j, :]  # patches overlap: add
#     return dx
#
#
# def check_col2im():
#     shape = (2, 5, 6, 3)
#     out_h, out_w = 3, 4
#     x = xp.asarray(rng.standard_normal(shape))
#     d = xp.asarray(rng.standard_normal((2 * out_h * out_w, 27)))
#     lhs = float(xp.sum(im2col_by_hand(x, 3, out_h, out_w) * d))
#     rhs = float(xp.sum(x * col2im_by_hand(d, shape, 3)))
#     assert abs(lhs - rhs) < 1e-9 * abs(lhs), f"<im2col(x), d> = {lhs} but <x, col2im(d)> = {rhs}"
#
#
# try_it("col2im", check_col2im)
# ```
#
# </details>

# %% [markdown]
# 2. Write the convolution's backward for `conv_forward` above: lesson 01's three formulas with `cols` in the
#    place of `x`, then col2im (the library's, with the cache's stride and padding). The check compares all three
#    gradients with numerical ones, with a random upstream gradient, stride 2, on a 7x6 image.

# %%
def conv_backward(dout, W, cache):
    """dout: (N, oh, ow, F) -> (dx: (N, H, W, C), dW: (k, k, C, F), db: (F,))."""
    cols, x_shape, k, stride, out_hw, pads = cache
    raise NotImplementedError  # replace this line with your code


def check_conv_backward():
    x5, W5, b5 = (xp.asarray(rng.standard_normal(shape)) for shape in ((2, 7, 6, 3), (3, 3, 3, 4), (4,)))
    out, cache = conv_forward(x5, W5, b5, stride=2)
    dout = xp.asarray(rng.standard_normal(tuple(out.shape)))
    grads = conv_backward(dout, W5, cache)

    def L():
        return float(xp.sum(conv_forward(x5, W5, b5, stride=2)[0] * dout))

    errors = {name: rel_error(numerical_gradient(L, a), g) for name, a, g in zip("xWb", (x5, W5, b5), grads)}
    assert max(errors.values()) < 1e-7, f"relative errors {errors}: expect about 1e-10"


try_it("Conv2D backward", check_conv_backward)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def conv_backward(dout, W, cache):
#     """dout: (N, oh, ow, F) -> (dx: (N, H, W, C), dW: (k, k, C, F), db: (F,))."""
#     cols, x_shape, k, stride, out_hw, pads = cache
#     f = W.shape[3]
#     dout2 = xp.reshape(dout, (-1, f))  # (N oh ow, F): one row per output pixel, as in the forward
#     dW = xp.reshape(cols.T @ dout2, tuple(W.shape))  # lesson 01's x.T @ dout, with cols for x
#     db = xp.sum(dout2, axis=0)  # (F,)
#     dcols = dout2 @ xp.reshape(W, (k * k * W.shape[2], f)).T  # (N oh ow, k k C)
#     dx = col2im(dcols, x_shape, k, stride, out_hw, pads)  # each entry added back to the pixel it came from
#     return dx, dW, db
#
#
# def check_conv_backward():
#     x5, W5, b5 = (xp.asarray(rng.standard_normal(shape)) for shape in ((2, 7, 6, 3), (3, 3, 3, 4), (4,)))
#     out, cache = conv_forward(x5, W5, b5, stride=2)
#     dout = xp.asarray(rng.standard_normal(tuple(out.shape)))
#     grads = conv_backward(dout, W5, cache)
#
#     def L():
#         return float(xp.sum(conv_forward(x5, W5, b5, stride=2)[0] * dout))
#
#     errors = {name: rel_error(numerical_gradient(L, a), g) for name, a, g in zip("xWb", (x5, W5, b5), grads)}
#     assert max(errors.values()) < 1e-7, f"relative errors {errors}: expect about 1e-10"
#
#
# try_it("Conv2D backward", check_conv_backward)
# ```
#
# </details>
#
# 3. Write MaxPool's backward for 2x2 windows (or p x p) on an image whose sides divide by p. Reshape `x` into
#    its windows, find each window's maximum, and send `dout` there. The check is a gradient check, and a
#    comparison with the library's `MaxPool2D`.

# %%
def maxpool_forward(x, p):
    """x: (N, H, W, C) with H and W divisible by p -> out: (N, H/p, W/p, C), the maximum of each p x p window."""
    n, h, w, c = x.shape
    return xp.max(xp.reshape(x, (n, h // p, p, w // p, p, c)), axis=(2, 4))


def maxpool_backward(dout, x, p):
    """dout: (N, H/p, W/p, C) -> dx: (N, H, W, C), dout at each window's maximum, 0 elsewhere."""
    raise NotImplementedError  # replace this line with your code


def check_maxpool_backward():
    x6 = xp.asarray(rng.standard_normal((2, 6, 4, 3)))  # random: no ties, one maximum per window
    dout = xp.asarray(rng.standard_normal((2, 3, 2, 3)))
    dx = maxpool_backward(dout, x6, 2)
    error = rel_error(numerical_gradient(lambda: float(xp.sum(maxpool_forward(x6, 2) * dout)), x6), dx)
    library = MaxPool2D(2)
    library.forward(x6)
    same = rel_error(library.backward(dout), dx)
    assert error < 1e-7 and same < 1e-12, f"gradient check {error:.1e} (expect about 1e-11), against MaxPool2D {same:.1e}"


try_it("MaxPool backward", check_maxpool_backward)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def maxpool_forward(x, p):
#     """x: (N, H, W, C) with H and W divisible by p -> out: (N, H/p, W/p, C), the maximum of each p x p window."""
#     n, h, w, c = x.shape
#     return xp.max(xp.reshape(x, (n, h // p, p, w // p, p, c)), axis=(2, 4))
#
#
# def maxpool_backward(dout, x, p):
#     """dout: (N, H/p, W/p, C) -> dx: (N, H, W, C), dout at each window's maximum, 0 elsewhere."""
#     n, h, w, c = x.shape
#     windows = xp.reshape(x, (n, h // p, p, w // p, p, c))
#     top = xp.max(windows, axis=(2, 4), keepdims=True)  # (N, H/p, 1, W/p, 1, C)
#     mask = xp.astype(windows == top, dout.dtype)  # 1 at each window's maximum (ties would give two 1s)
#     dwindows = mask * xp.reshape(dout, (n, h // p, 1, w // p, 1, c))  # dout broadcast over its window
#     return xp.reshape(dwindows, (n, h, w, c))
#
#
# def check_maxpool_backward():
#     x6 = xp.asarray(rng.standard_normal((2, 6, 4, 3)))  # random: no ties, one maximum per window
#     dout = xp.asarray(rng.standard_normal((2, 3, 2, 3)))
#     dx = maxpool_backward(dout, x6, 2)
#     error = rel_error(numerical_gradient(lambda: float(xp.sum(maxpool_forward(x6, 2) * dout)), x6), dx)
#     library = MaxPool2D(2)
#     library.forward(x6)
#     same = rel_error(library.backward(dout), dx)
#     assert error < 1e-7 and same < 1e-12, f"gradient check {error:.1e} (expect about 1e-11), against MaxPool2D {same:.1e}"
#
#
# try_it("MaxPool backward", check_maxpool_backward)
# ```
#
# </details>
#
# With a tie (two equal maxima in one window) this mask sends `dout` to both. The library gives it to the first
# one only, as PyTorch and Keras do. A tie is a kink, where no gradient check holds.
#
# 4. A stride-2 "same" convolution pads a 28-row image with 0 rows on top and 1 below, but a 7-row image with 1
#    and 1. Work out both from $\text{out} = \lceil H/s \rceil$ and the total padding $(\text{out}-1)s + k - H$.
#    PyTorch's `padding=1` pads 1 and 1 in both cases: what happens to its 28-row output?
#
# <details><summary>Answer</summary>
#
# For H = 28: out = 14, total = 13 * 2 + 3 - 28 = 1, so 0 on top and 1 at the bottom. For H = 7: out = 4,
# total = 3 * 2 + 3 - 7 = 2, so 1 and 1. With 1 and 1 on 28 rows, PyTorch also gets 14 rows (the extra bottom
# row is never reached by a stride-2 window), but every window starts one row higher. The sampling grid moves up
# by one input pixel, so each output reads different pixels. Same shapes, different numbers; this is why
# scratchae's tests pad PyTorch explicitly.
#
# </details>
