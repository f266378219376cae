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
# # 05 · Build it yourself
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/en/05_build_it_yourself.ipynb)
#
# This is the assignment: a dense autoencoder 784-256-128-64-32-32 and its mirror, ReLU inside, a Sigmoid
# output, BCE loss, Adam. In lesson 04 the library built it for you. Here you build it from the classes you wrote
# in lessons 01 to 03, prove it right, train it, and save it. Plan 75 to 135 minutes, exercises included.
#
# You will learn
# - how the five classes of lessons 01-03 fit into one model with two loops;
# - how to check a whole model end to end, and one training step against the library's;
# - how to train with a validation split, and touch the test set only once;
# - how to save the weights and load them into a fresh model (and keep the file on Google Drive on Colab);
# - what the assignment's report needs: the formulas in its notation, the figures as files, and the hand-in.

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
# ## Your classes
#
# <!-- self-study only -->
#
# These are the classes you wrote in lessons 01 to 03 (`Dense` in 01; `ReLU`, `Sigmoid`, `BCE` and `MSE` in 02;
# `Adam` in 03). **Paste yours over them.** Every check below then tests your code, not ours.
#
# <!-- end self-study only -->
#
# <!-- student edition only
# These are the classes of lessons 01 to 03 (`Dense` in 01; `ReLU`, `Sigmoid`, `BCE` and `MSE` in 02; `Adam` in
# 03), with their bodies left for you: each method keeps its signature and its docstring (what it takes, what it
# returns, the shapes) and raises `NotImplementedError` until you write it. **Write them here**, or paste the
# ones you wrote in lessons 01 to 03. The checks below test each class as soon as it is written; the cells after
# the model's classes wait until all eight are.
# -->
#
# They follow the library's layer contract: `forward` keeps what `backward` needs; `backward(dout)` assigns
# `grads` and returns `dx`; `params` and `grads` are dicts with the same keys.

# %%
import math

import numpy as np


class Dense:
    """out = x @ W + b.  x: (N, n_in) -> out: (N, n_out); W: (n_in, n_out), b: (n_out,)."""

    def __init__(self, n_in, n_out, rng, dtype):
        """W drawn from rng with He init (std sqrt(2 / n_in)), then on xp in dtype; b zeros; grads alike."""
        W = rng.standard_normal((n_in, n_out)) * math.sqrt(2.0 / n_in)  # He init, drawn on the host
        self.params = {"W": xp.asarray(W, dtype=dtype), "b": xp.zeros((n_out,), dtype=dtype)}
        self.grads = {name: xp.zeros_like(p) for name, p in self.params.items()}
        self.x = None

    def forward(self, x):
        """x: (N, n_in) -> out: (N, n_out); keeps x for backward."""
        self.x = x  # backward needs x for dW
        return x @ self.params["W"] + self.params["b"]  # (N, n_out)

    def backward(self, dout):
        """dout: (N, n_out) -> dx: (N, n_in); assigns grads["W"]: (n_in, n_out) and grads["b"]: (n_out,)."""
        self.grads["W"] = self.x.T @ dout  # (n_in, N) @ (N, n_out) -> (n_in, n_out)
        self.grads["b"] = xp.sum(dout, axis=0)  # (n_out,)
        return dout @ self.params["W"].T  # (N, n_out) @ (n_out, n_in) -> (N, n_in)


class ReLU:
    """out = max(x, 0), element by element."""

    def __init__(self):
        """No parameters: params and grads are empty dicts."""
        self.params, self.grads = {}, {}
        self.mask = None

    def forward(self, x):
        """x: (N, D) -> out: (N, D); keeps where x > 0 for backward."""
        self.mask = x > 0
        return xp.where(self.mask, x, 0.0)

    def backward(self, dout):
        """dout: (N, D) -> dx: (N, D)."""
        return xp.where(self.mask, dout, 0.0)  # the gradient passes where x > 0


class Sigmoid:
    """out = 1 / (1 + exp(-x)), computed as (1 + tanh(x / 2)) / 2, which never overflows."""

    def __init__(self):
        """No parameters: params and grads are empty dicts."""
        self.params, self.grads = {}, {}
        self.out = None

    def forward(self, x):
        """x: (N, D) -> out: (N, D), with no overflow for any x; keeps out for backward."""
        self.out = (1.0 + xp.tanh(x / 2.0)) / 2.0
        return self.out

    def backward(self, dout):
        """dout: (N, D) -> dx: (N, D)."""
        return dout * self.out * (1.0 - self.out)


class BCE:
    """L = -mean(t log p + (1 - t) log(1 - p)), with p clipped to [eps, 1 - eps]."""

    def __init__(self, eps=1e-7):
        """eps keeps p away from 0 and 1, so that log never sees 0."""
        self.eps = eps
        self.p = self.t = None

    def forward(self, pred, target):
        """pred, target: (N, D) -> L, the mean over all N * D elements (a 0-d array)."""
        self.p, self.t = xp.clip(pred, self.eps, 1.0 - self.eps), target
        return -xp.mean(target * xp.log(self.p) + (1.0 - target) * xp.log(1.0 - self.p))

    def backward(self):
        """-> dpred: (N, D), the gradient of forward's L with respect to pred."""
        return (self.p - self.t) / (self.p * (1.0 - self.p)) / self.p.size  # dL/dpred, pred's shape


class MSE:
    """L = mean((pred - target)^2)."""

    def __init__(self):
        """No settings: forward keeps pred - target for backward."""
        self.diff = None

    def forward(self, pred, target):
        """pred, target: (N, D) -> L, the mean over all N * D elements (a 0-d array)."""
        self.diff = pred - target
        return xp.mean(self.diff**2)

    def backward(self):
        """-> dpred: (N, D), the gradient of forward's L with respect to pred."""
        return 2.0 * self.diff / self.diff.size


class Adam:
    """Adam (Kingma & Ba 2015, Algorithm 1) over model.named_params(); m and v are keyed by parameter name."""

    def __init__(self, model, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        """m and v: one zero array per parameter of model, keyed by its name; t: the steps taken so far."""
        self.model, self.lr, self.beta1, self.beta2, self.eps = model, lr, beta1, beta2, eps
        self.m = {name: xp.zeros_like(p) for name, p, _ in model.named_params()}
        self.v = {name: xp.zeros_like(p) for name, p, _ in model.named_params()}
        self.t = 0

    def step(self):
        """Moves every parameter in place by Algorithm 1's update, with the bias-corrected m_hat and v_hat."""
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        for name, p, g in self.model.named_params():  # read afresh: backward assigned new grads
            self.m[name] = b1 * self.m[name] + (1.0 - b1) * g
            self.v[name] = b2 * self.v[name] + (1.0 - b2) * g * g
            m_hat = self.m[name] / (1.0 - b1**self.t)
            v_hat = self.v[name] / (1.0 - b2**self.t)
            p -= self.lr * m_hat / (xp.sqrt(v_hat) + self.eps)  # in place: the layer keeps its array


# %% [markdown]
# ## Check every piece
#
# First each class on its own, with the library's gradient checks (float64, a random upstream gradient). A class
# that still raises `NotImplementedError` is reported as not written yet, and the others are checked.

# %%
import scratchae as sa
from scratchae.data import batch_slices, epoch_order, load
from scratchae.gradcheck import assert_close, worst

rng = np.random.default_rng(1)
x64 = xp.asarray(rng.standard_normal((6, 5)))
x64 = x64 + 0.1 * xp.sign(x64)  # keep ReLU's input away from its kink at 0
p64 = xp.asarray(rng.uniform(0.05, 0.95, size=(6, 5)))
t64 = xp.asarray(rng.uniform(0.0, 1.0, size=(6, 5)))
checks = {"Dense": lambda: sa.check_layer(Dense(5, 3, rng, xp.float64), x64, rng=2),
          "ReLU": lambda: sa.check_layer(ReLU(), x64, rng=3), "Sigmoid": lambda: sa.check_layer(Sigmoid(), x64, rng=4),
          "BCE": lambda: sa.check_loss(BCE(), p64, t64), "MSE": lambda: sa.check_loss(MSE(), p64, t64)}
pieces, unwritten = {}, []
for piece, check in checks.items():
    try:
        pieces[piece] = check()
    except NotImplementedError as stub:  # a class not written yet: say so, and check the others
        unwritten.append(piece)
        print(f"{piece:8s} not written yet ({stub})")
        continue
    print(f"{piece:8s} worst rel. error {worst(pieces[piece]):.1e}")

# %%
# Check: expect about 1e-10 or less for each piece; above 1e-7 means a bug in that class.
for piece, report in pieces.items():
    assert_close(report, tol=1e-7)
print(f"{len(pieces)} of {len(checks)} pieces pass their gradient check")

# %% [markdown]
# ## Assemble the model
#
# A model is a list of layers and two loops: forward in order, backward in reverse. The names that
# `named_params` gives (`"encoder.0.W"`, ..., `"decoder.8.b"`) are the library's, so we can compare the two
# models parameter by parameter. The encoder is Dense + ReLU down the widths 784-256-128-64-32-32. The decoder
# is the mirror 32-32-64-128-256-784, with a Sigmoid instead of the last ReLU: pixels lie in $[0, 1]$.

# %%
class Autoencoder:
    """x: (N, 784) -> z = encode(x): (N, 32) -> out: (N, 784)."""

    def __init__(self, encoder, decoder):
        """encoder, decoder: lists of layers, each run in order by forward."""
        self.encoder, self.decoder = encoder, decoder  # two lists of layers

    def encode(self, x):
        """x: (N, 784) -> z: (N, 32), through the encoder's layers."""
        for layer in self.encoder:
            x = layer.forward(x)
        return x

    def forward(self, x):
        """x: (N, 784) -> out: (N, 784), through the encoder, then the decoder."""
        out = self.encode(x)
        for layer in self.decoder:
            out = layer.forward(out)
        return out

    def backward(self, dout):
        """dout: (N, 784) -> dx: (N, 784), through every layer in reverse order."""
        for layer in reversed(self.encoder + self.decoder):
            dout = layer.backward(dout)
        return dout  # dL/dx

    def named_params(self):
        """Yields (name, param, grad) for every parameter, e.g. ("encoder.0.W", W, dW), encoder first."""
        for part, layers in (("encoder", self.encoder), ("decoder", self.decoder)):
            for i, layer in enumerate(layers):
                for key, p in layer.params.items():
                    yield f"{part}.{i}.{key}", p, layer.grads[key]


def build_autoencoder(dims, seed, dtype):
    """Dense + ReLU down dims, then the mirror back up, with a Sigmoid on the output; one rng draws every W."""
    rng = np.random.default_rng(seed)  # one generator for all layers, drawn in the library's order
    encoder, decoder = [], []
    for n_in, n_out in zip(dims[:-1], dims[1:]):
        encoder += [Dense(n_in, n_out, rng, dtype), ReLU()]
    up = dims[::-1]
    for n_in, n_out in zip(up[:-1], up[1:]):
        decoder += [Dense(n_in, n_out, rng, dtype), ReLU()]
    decoder[-1] = Sigmoid()
    return Autoencoder(encoder, decoder)


# %%
# Which classes are still stubs? A stub raises NotImplementedError; a small model's training step reaches every
# method of Autoencoder, build_autoencoder and Adam. The cells below need all eight classes.
def first_stub(run):
    """The message of the NotImplementedError that run() reaches (it names the stub), or None if run() ends."""
    try:
        run()
    except NotImplementedError as stub:
        return str(stub) or "NotImplementedError"
    return None


def tiny_step():
    """One training step of a float64 model 4-3-2-3-4 on two rows, with your classes."""
    tiny = build_autoencoder((4, 3, 2), seed=0, dtype=xp.float64)
    x = xp.asarray(np.random.default_rng(0).uniform(0.1, 0.9, size=(2, 4)))
    bce = BCE()
    bce.forward(tiny.forward(x), x)
    tiny.backward(bce.backward())
    Adam(tiny, lr=1e-3).step()
    tiny.encode(x)


reached = first_stub(tiny_step)
left = unwritten + ([reached] if reached else [])
WRITTEN = not left
print("every class is written: the cells below check it for real" if WRITTEN else f"still to write: {'; '.join(left)}")

# %%
DIMS = (784, 256, 128, 64, 32, 32)
model = build_autoencoder(DIMS, seed=0, dtype=xp.float32)
for name, p, _ in model.named_params():
    print(f"{name:12s} {tuple(p.shape)}")
print(f"{sum(p.size for _, p, _ in model.named_params()):,} parameters")

# %% [markdown]
# ## Check the whole model
#
# Then the whole model end to end: `sa.check_model` nudges up to 20 entries (8 in quick mode) of every parameter
# and of the input. It compares the change of the loss with your backward pass. One wrong line anywhere gives a
# large error there.

# %%
x_train_host, _, x_test_host, _ = load("mnist")
model64 = build_autoencoder(DIMS, seed=0, dtype=xp.float64)
xb64 = xp.asarray(x_train_host[:8].astype(np.float64))  # 8 images in float64
PROBES = 8 if QUICK else 20  # entries nudged per array: each costs two forward passes
report = sa.check_model(model64, BCE(), xb64, xb64, rng=0, max_entries=PROBES)
for check in list(report.values())[:4]:
    print(check)
print(f"... {len(report)} arrays checked, worst rel. error {worst(report):.1e}")

# %%
# Check: expect about 1e-8 or less through all 20 layers (10 Dense, 9 ReLU, 1 Sigmoid); above 1e-7 means a bug
# in one of your classes.
assert_close(report, tol=1e-7)
print("the whole model passes the end-to-end gradient check")

# %% [markdown]
# ## One step against the library's step
#
# Now the same training step twice, on the same batch from the same weights: once with your classes, once with
# the library (`sa.dense_autoencoder`, `sa.BCE`, `sa.Adam` and `train_step`). The library model starts its output
# at the mean image (lesson 04), and we copy all its weights into yours. Then we compare the loss, every
# gradient, and every parameter's update. They differ only by float32 rounding: the library takes the $p - t$
# shortcut of lesson 02, you take the chain rule. We compare the *updates*, not the parameters: an update is
# about 1e-3, much smaller than a weight, and a wrong update would hide in the weights' rounding.

# %%
from scratchae.models import init_output_bias
from scratchae.training import train_step

SEED, BATCH, LR = 0, 256, 1e-3
library = sa.dense_autoencoder(DIMS, rng=SEED, xp=xp)
init_output_bias(library, sa.to_device(x_train_host.mean(axis=0), xp))
ours = build_autoencoder(DIMS, seed=SEED, dtype=xp.float32)
for (name, p, _), (name_lib, p_lib, _) in zip(ours.named_params(), library.named_params()):
    assert name == name_lib, (name, name_lib)
    p[...] = p_lib  # the same starting weights, copied in place
start = {name: xp.asarray(p, copy=True) for name, p, _ in library.named_params()}

xb = sa.to_device(x_train_host[:BATCH], xp)  # (256, 784) float32
loss_lib = float(train_step(library, sa.BCE(), sa.Adam(library, lr=LR), xb))
bce, adam = BCE(), Adam(ours, lr=LR)
loss_ours = float(bce.forward(ours.forward(xb), xb))
ours.backward(bce.backward())
adam.step()

pairs = list(zip(ours.named_params(), library.named_params()))
grad_err = max(sa.rel_error(g, g_lib) for (_, _, g), (_, _, g_lib) in pairs)
update_err = max(sa.rel_error(p - start[name], p_lib - start[name]) for (name, p, _), (_, p_lib, _) in pairs)
print(f"loss: yours {loss_ours:.7f}, library {loss_lib:.7f}")
print(f"worst rel. error over {len(pairs)} parameters: gradients {grad_err:.1e}, updates {update_err:.1e}")

# %%
# Check: the same loss (expect about 1e-7 relative), the same gradients (about 1e-7) and the same updates (a few
# 1e-6: Adam divides by the gradient's size, and that magnifies rounding where a gradient is nearly zero).
# Above 1e-4 means your step is not the library's.
assert abs(loss_ours - loss_lib) < 1e-5 * loss_lib, (loss_ours, loss_lib)
assert grad_err < 1e-4, f"gradients differ: {grad_err:.1e}"
assert update_err < 1e-4, f"updates differ: {update_err:.1e}"
print("your step is the library's step")

# %% [markdown]
# ## Train it
#
# The data live on `xp`, the array module the setup cell chose: on a GPU runtime your classes run on the GPU
# without a change. We hold out the **last 5,000 training images** as a validation set. We watch it to choose
# settings (epochs, learning rate). The 10,000 test images are for the end: we touch them once, after every
# choice is made, so that the test number is an honest estimate for new images. The output starts at the mean
# image, as in lesson 04.

# %%
import time

import matplotlib.pyplot as plt

EPOCHS = 2 if QUICK else 20
N_FIT = 6000 if QUICK else 55000  # images trained on, from the start of the training set
x_fit = sa.to_device(x_train_host[:N_FIT], xp)
x_val = sa.to_device(x_train_host[55000:], xp)  # the last 5,000: never trained on
print(f"fit {tuple(x_fit.shape)}, validation {tuple(x_val.shape)}")


def set_output_bias(model, mean_image, eps=1e-3):
    """The last Dense's bias becomes logit(mean image), so the untrained model draws the average digit."""
    m = np.clip(mean_image, eps, 1.0 - eps)
    last = model.decoder[-2]  # the Dense before the Sigmoid
    last.params["b"][...] = sa.to_device(np.log(m / (1.0 - m)), xp)


def mean_loss(model, x, batch=1000):
    """Mean BCE per pixel of model over the rows of x, forward only."""
    total = 0.0
    for a, b in batch_slices(x.shape[0], batch):
        total += float(BCE().forward(model.forward(x[a:b, ...]), x[a:b, ...])) * (b - a)
    return total / x.shape[0]


model = build_autoencoder(DIMS, seed=SEED, dtype=xp.float32)
set_output_bias(model, x_train_host[:N_FIT].mean(axis=0))
loss, optimizer = BCE(), Adam(model, lr=LR)
rows = [{"epoch": 0, "train": None, "val": mean_loss(model, x_val)}]
for epoch in range(EPOCHS):
    started = time.perf_counter()
    order = sa.to_device(epoch_order(N_FIT, SEED, epoch), xp)  # a new shuffle for every epoch
    total = 0.0
    for a, b in batch_slices(N_FIT, BATCH):
        xb = xp.take(x_fit, order[a:b], axis=0)  # (B, 784)
        value = loss.forward(model.forward(xb), xb)  # 1-2. forward and loss
        model.backward(loss.backward())  # 3-4. the loss's backward, then every layer's
        optimizer.step()  # 5. Adam moves every parameter
        total = total + value * (b - a)  # stays on the device: no wait per step
    rows.append({"epoch": epoch + 1, "train": float(total) / N_FIT, "val": mean_loss(model, x_val)})
    print(f"epoch {epoch + 1:2d}  train BCE {rows[-1]['train']:.5f}  validation BCE {rows[-1]['val']:.5f}  "
          f"{time.perf_counter() - started:.1f} s")

# %%
fig, (ax, ax_img) = plt.subplots(1, 2, figsize=(10, 3.5), gridspec_kw={"width_ratios": [1, 1.6]})
ax.plot([r["epoch"] for r in rows[1:]], [r["train"] for r in rows[1:]], "o-", label="train (mean over the epoch)")
ax.plot([r["epoch"] for r in rows], [r["val"] for r in rows], "s-", label="validation (after the epoch)")
ax.set_xlabel("epoch")
ax.set_ylabel("BCE per pixel")
ax.legend()
shown = sa.to_numpy(x_val[:8, ...])
recon = sa.to_numpy(model.forward(x_val[:8, ...]))
ax_img.imshow(np.concatenate([np.hstack(list(shown.reshape(8, 28, 28))),
                              np.hstack(list(recon.reshape(8, 28, 28)))]), cmap="gray")
ax_img.set_title("validation images (top) and your reconstructions (bottom)")
ax_img.axis("off")
plt.show()

# %% [markdown]
# **Check.** Training must clearly beat the start (the mean image, about 0.27 on the validation set). In quick
# mode (two epochs on 6,000 images) expect about 0.21. With the full settings (20 epochs on 55,000 images) we
# measured a validation BCE of 0.1001 and a test BCE of 0.0991. The reference model reaches 0.0980 with all
# 60,000 images (lesson 04); yours trains on 5,000 fewer. The library's command on the same 55,000 images
# (`python -m scratchae.train --limit 55000`) gave 0.0993: the same within noise. Only now, with every setting
# fixed, do we touch the test set, once.

# %%
assert rows[-1]["val"] < 0.9 * rows[0]["val"], "the model did not learn"
test_bce = mean_loss(model, sa.to_device(x_test_host, xp))  # the one and only look at the test set
print(f"validation BCE {rows[0]['val']:.4f} -> {rows[-1]['val']:.4f}; test BCE {test_bce:.4f} "
      "(the reference model: 0.0980)")
if not QUICK and (EPOCHS, N_FIT, BATCH, LR, SEED) == (20, 55000, 256, 1e-3, 0):  # the lesson's settings only
    assert test_bce < 0.105, "20 full epochs should reach about 0.098"

# %% [markdown]
# ## Save the weights, load them into a fresh model
#
# A trained model is its parameters. We copy each to the host (`sa.to_numpy`) and save them in one `.npz` file,
# keyed by their names. A fresh model (other random weights) then loads them, and its reconstructions must be
# *identical*: the same numbers through the same code. On Colab the next cell can put the file on your Google
# Drive, where it survives the end of the session.

# %%
import tempfile

SAVE_DIR = tempfile.mkdtemp(prefix="scratchae-")  # a new folder; on Colab the next cell may pick Drive instead

# %%
# Google Drive: only on Colab. It asks you to allow access, then the file survives the Colab session.
import sys

if "google.colab" in sys.modules:
    from google.colab import drive

    drive.mount("/content/drive")
    SAVE_DIR = "/content/drive/MyDrive/scratchae"
    os.makedirs(SAVE_DIR, exist_ok=True)
else:
    print("not on Colab: Google Drive is skipped, the file stays in", SAVE_DIR)

# %%
path = os.path.join(SAVE_DIR, "capstone_autoencoder.npz")
np.savez(path, **{name: sa.to_numpy(p) for name, p, _ in model.named_params()})

fresh = build_autoencoder(DIMS, seed=123, dtype=xp.float32)  # other weights
with np.load(path) as saved:
    for name, p, _ in fresh.named_params():
        p[...] = sa.to_device(saved[name], xp)  # in place, on xp's device
same = bool(xp.all(fresh.forward(x_val) == model.forward(x_val)))
print(f"saved {os.path.getsize(path) / 1e6:.1f} MB to {path}; identical reconstructions: {same}")

# %%
# Check: loaded weights give exactly the same reconstructions of all 5,000 validation images.
assert same, "the loaded model reconstructs differently"

# %% [markdown]
# ## For your report
#
# The assignment's hand-in is a short report: an overview, the network (a figure, the layers one by one, the
# settings), the formulas, how to run it on Colab, the environment, your results, and references. This part
# gives you every fact for it from the model you just trained, saves the figures to files, and packs a hand-in
# archive with a report scaffold at the end. The parts in your own words stay yours.
#
# **The formulas in the assignment's notation.** The encoder $f_\theta$ maps an image $x$ (a row of 784 pixels
# in $[0, 1]$) to the code $z$; the decoder $g_\phi$ maps $z$ back to the reconstruction $\hat{x}$:
#
# $$z = f_\theta(x), \qquad \hat{x} = g_\phi(z), \qquad \theta = \{W_l, b_l\}_{l=1}^{5}, \quad \phi = \{W_l, b_l\}_{l=6}^{10}.$$
#
# Layer by layer, with $\sigma$ the Sigmoid:
#
# $$h_1 = \mathrm{ReLU}(x W_1 + b_1),\ h_2 = \mathrm{ReLU}(h_1 W_2 + b_2),\ \dots,\ z = h_5 = \mathrm{ReLU}(h_4 W_5 + b_5),$$
# $$h_6 = \mathrm{ReLU}(z W_6 + b_6),\ \dots,\ h_9 = \mathrm{ReLU}(h_8 W_9 + b_9),\ \hat{x} = \sigma(h_9 W_{10} + b_{10}),$$
#
# with $\mathrm{ReLU}(u) = \max(u, 0)$ and $\sigma(u) = 1 / (1 + e^{-u})$, elementwise. The lessons write a layer
# as $x W + b$: $x$ is a row vector (a minibatch is rows), $W$ has shape (in, out). Slides often write $W x + b$
# with column vectors and $W$ of shape (out, in): the same layer, transposed. Say which one you use.
#
# The next cell reads the layers from your model, so the list is the model's, not a copy.

# %%
from scratchae.netfig import count_params, layer_rows
from scratchae.teacher.handin_report import layer_formulas

layers = layer_rows(model)  # one row per Dense layer, read from your model
for r in layers:
    print(f"W{r['l']:<2d} b{r['l']:<2d} {r['part']:7s} {r['n_in']:3d} -> {r['n_out']:3d}  then {r['activation']}")
print("\n".join(layer_formulas(layers)))
n_layers = len(model.encoder) + len(model.decoder)
n_params = sum(p.size for _, p, _ in model.named_params())
print(f"{len(layers)} Dense layers, {n_layers} layers in all, {n_params:,} parameters")

# %%
# Check: 10 Dense, 9 ReLU and 1 Sigmoid are 20 layers; the count by hand is 2 (784*256 + 256*128 + 128*64 + 64*32
# + 32*32) weights + (256 + 128 + 64 + 32 + 32) + (32 + 64 + 128 + 256 + 784) biases = 491,248.
assert n_layers == 20 and len(layers) == 10
assert n_params == count_params(layers) == 2 * (784 * 256 + 256 * 128 + 128 * 64 + 64 * 32 + 32 * 32) + 512 + 1264
print("20 layers, 491,248 parameters")

# %% [markdown]
# **BCE summed over the 784 pixels.** The assignment writes the loss of one image as a sum over its pixels,
#
# $$L(x, \hat{x}) = -\sum_{j=1}^{784} \left[ x_j \log \hat{x}_j + (1 - x_j) \log (1 - \hat{x}_j) \right],$$
#
# averaged over the images of a minibatch. Our `BCE` takes the mean over every pixel of every image instead, so
# every number this lesson prints is per pixel: multiply by 784 for nats per image (the test BCE 0.0991 is 77.7
# nats per image). For training the choice hardly matters with Adam: the sum's gradient is 784 times the mean's,
# and Adam divides each step by the gradient's size, so the steps are the same up to the tiny $\epsilon$. With
# plain SGD the step is the gradient times the learning rate, so the sum would need a learning rate 784 times
# smaller. The next cell measures the conversion, and trains a small model both ways with Adam.

# %%
x_some = sa.to_device(x_test_host[:100], xp)
per_pixel = float(BCE().forward(model.forward(x_some), x_some))  # what the lesson prints
p = np.clip(sa.to_numpy(model.forward(x_some)).astype(np.float64), 1e-7, 1 - 1e-7)
t = x_test_host[:100].astype(np.float64)
per_image = -(t * np.log(p) + (1 - t) * np.log(1 - p)).sum(axis=1)  # the assignment's sum, one value per image
print(f"100 test images: {per_pixel:.5f} per pixel x 784 = {784 * per_pixel:.2f}; "
      f"summed over the pixels: {per_image.mean():.2f} nats per image")
print(f"all 10,000 test images: {test_bce:.4f} per pixel = {784 * test_bce:.1f} nats per image")


def train_small(scale, steps=100):
    """A small model trained ``steps`` Adam steps with its loss gradient multiplied by ``scale``: its test BCE."""
    small = build_autoencoder((784, 64, 16), seed=0, dtype=xp.float32)
    bce, adam = BCE(), Adam(small, lr=LR)
    for k in range(steps):
        xb = sa.to_device(x_train_host[k * 128:(k + 1) * 128], xp)
        bce.forward(small.forward(xb), xb)
        small.backward(scale * bce.backward())  # scale 784: the gradient of the sum over pixels
        adam.step()
    return mean_loss(small, sa.to_device(x_test_host[:2000], xp))


with_mean, with_sum = train_small(1.0), train_small(784.0)
adam_gap = abs(with_sum - with_mean) / with_mean
print(f"Adam, 100 steps: test BCE {with_mean:.5f} with the mean, {with_sum:.5f} with the sum "
      f"(relative difference {adam_gap:.1e})")

# %%
# Check: x 784 is the sum over pixels (to rounding); with Adam the two losses train alike (we measured a
# relative difference of 1.2e-4, and 1e-7 with eps = 1e-12: eps is all that differs).
assert abs(784 * per_pixel - per_image.mean()) < 1e-4 * per_image.mean()
assert adam_gap < 1e-3, adam_gap

# %% [markdown]
# **The figures, as files.** A report needs picture files, not plots in a notebook. The next cell writes a run
# folder in the format `python -m scratchae.train` writes: `config.json` (every setting), `metrics.csv` (the
# losses per epoch), `checkpoint.npz` (your weights in the library's file format) and three figures:
# `network.png` (the network, drawn from your model), `loss_curve.png` (train and validation per epoch, and the
# test BCE) and `reconstructions.png` (the first **test** image of each digit and its reconstruction; the plot
# above showed validation images). We show them here too.
#
# **The settings and the data.** MNIST has 60,000 training images and 10,000 test images. We train on the first
# 55,000 and hold out the last 5,000 for validation: they choose the settings (epochs, learning rate) without
# touching the test set. The table printed below is read from the variables the training used.
#
# **Time.** On this project's shared 2-core CPU with one BLAS thread, an epoch of the same model (the library's
# command, 60,000 images) took 8 to 72 s, median 15 s, while other jobs kept the load average at 10 to 16, and 6 to
# 9 s when the machine was nearly idle (docs/results.md has the measurements). On Colab's T4 GPU we *estimate* 1
# to 3 s per epoch: the model is small, so each of the about 215 steps costs a few hundred small GPU launches
# rather than arithmetic. That is an estimate, not a measurement: no T4 was measured. Write down your own time
# per epoch in the report (the training cell prints it).

# %%
from IPython.display import Image, display

from scratchae.teacher.notebook_run import lesson_config, save_run

_, _, _, y_test_host = load("mnist")
config = lesson_config(epochs=EPOCHS, n_fit=N_FIT, batch_size=BATCH, lr=LR, seed=SEED, gpu=xp.__name__ != "numpy")
metrics = [{"epoch": r["epoch"], "train_loss": r["train"], "val_loss": r["val"],
            "test_loss": test_bce if r is rows[-1] else None} for r in rows[1:]]  # the test set: once, at the end
run_dir = save_run(os.path.join(SAVE_DIR, "report_run"), model, config, metrics, x_test_host, y_test_host)
settings_table = {"data": "MNIST", "images trained on": f"{N_FIT:,}", "held out for validation": "5,000",
                  "test images": f"{x_test_host.shape[0]:,}", "epochs": EPOCHS, "minibatch": BATCH,
                  "optimizer": f"Adam, lr {LR:g}, betas (0.9, 0.999), eps 1e-8", "loss": "BCE, mean per pixel",
                  "seed": SEED, "parameters": f"{n_params:,}"}
for key, value in settings_table.items():
    print(f"{key:24s} {value}")
print("files in", run_dir, ":", ", ".join(sorted(os.listdir(run_dir))))
for name in ("network.png", "loss_curve.png", "reconstructions.png"):
    display(Image(filename=os.path.join(run_dir, name), width=700))

# %%
# Check: the library reads your weights back from checkpoint.npz and finds your test BCE again (to rounding): the
# grader will do the same with your hand-in.
reread = sa.load_model(os.path.join(run_dir, "checkpoint.npz"), xp=xp)
again = mean_loss(reread, sa.to_device(x_test_host, xp))
assert abs(again - test_bce) < 5e-5, (again, test_bce)
print(f"test BCE from the saved checkpoint {again:.6f}, yours {test_bce:.6f}")

# %% [markdown]
# **Pack the hand-in.** The last cell writes `handin.zip`: this notebook, the run folder, `provenance.json`
# (versions, device, the data files' SHA-256, every setting) and `report.md`, the report in the assignment's
# shape with every fact filled in and short prompts (lines starting with `>`) for your parts. On Colab it lands
# in Google Drive (`MyDrive/scratchae`, mounted above). Take `report.md` out, write your parts, and pack again
# with your report: `python -m scratchae.handin NOTEBOOK RUN_DIR --out handin.zip --report report.md`. The
# report is in the notebook's language.

# %%
import json

from scratchae.teacher.handin import pack

NOTEBOOK = "05_build_it_yourself.ipynb"  # this notebook, in a checkout
if "google.colab" in sys.modules:  # on Colab the notebook lives in Drive: ask Colab for what you see now
    from google.colab import _message

    NOTEBOOK = os.path.join(SAVE_DIR, NOTEBOOK)
    with open(NOTEBOOK, "w", encoding="utf-8") as fh:
        json.dump(_message.blocking_request("get_ipynb", timeout_sec=60)["ipynb"], fh)
if os.path.isfile(NOTEBOOK):
    manifest = pack(NOTEBOOK, run_dir, os.path.join(SAVE_DIR, "handin.zip"))
    print(f"packed {len(manifest['files'])} files ({manifest['lang']}) into", os.path.join(SAVE_DIR, "handin.zip"))
else:
    print(f"save this notebook as {NOTEBOOK} next to where it runs, then run this cell again")

# %% [markdown]
# ## Try it
#
# 1. **Find the bug.** `SuspectDense` below differs from your `Dense` in one line. With an upstream gradient of
#    all ones it passes the gradient check; with a random one it fails (the cell shows both). Find the line, and
#    write `FixedDense` with the fix.

# %%
class SuspectDense(Dense):
    def backward(self, dout):
        self.grads["W"] = self.x.T @ dout
        self.grads["b"] = xp.sum(dout * dout, axis=0)
        return dout @ self.params["W"].T


suspect = SuspectDense(5, 3, rng, xp.float64)
ones = xp.ones((6, 3), dtype=xp.float64)
with_ones = worst(sa.check_layer(suspect, x64, dout=ones))
with_random = worst(sa.check_layer(suspect, x64, rng=5))
print(f"all-ones dout: worst rel. error {with_ones:.1e}; random dout: {with_random:.1e}")

# %%
# Check: the bug hides from the all-ones dout (about 1e-11) and shows with a random one (above 1e-2).
assert with_ones < 1e-7 and with_random > 1e-2, (with_ones, with_random)

# %%
from scratchae.exercises import try_it


class FixedDense(SuspectDense):
    def backward(self, dout):
        raise NotImplementedError  # replace this line with your code


def check_fixed_dense():
    layer = FixedDense(5, 3, rng, xp.float64)
    error = worst(sa.check_layer(layer, x64, rng=6))
    assert error < 1e-7, f"worst rel. error {error:.1e} with a random dout: expect about 1e-10"


try_it("find the bug", check_fixed_dense)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# class FixedDense(SuspectDense):
#     def backward(self, dout):
#         self.grads["W"] = self.x.T @ dout
#         self.grads["b"] = xp.sum(dout, axis=0)  # the bug was dout * dout: equal to dout only when dout is 1
#         return dout @ self.params["W"].T
#
#
# def check_fixed_dense():
#     layer = FixedDense(5, 3, rng, xp.float64)
#     error = worst(sa.check_layer(layer, x64, rng=6))
#     assert error < 1e-7, f"worst rel. error {error:.1e} with a random dout: expect about 1e-10"
#
#
# try_it("find the bug", check_fixed_dense)
# ```
#
# </details>
#
# 2. **Another architecture.** Build a model with other widths or another depth, for example 784-128-64-32-16-8
#    or 784-128-16, with your `build_autoencoder`. It must still pass the end-to-end check in float64. Nothing
#    in your classes should need to change.

# %%
def build_my_model():
    """A float64 autoencoder with other widths (and depth) than DIMS, from your classes."""
    raise NotImplementedError  # replace this line with your code


def check_my_model():
    mine = build_my_model()
    widths = [tuple(p.shape) for name, p, _ in mine.named_params() if name.endswith(".W")]
    assert widths != [tuple(p.shape) for name, p, _ in model.named_params() if name.endswith(".W")], \
        "choose other widths than the assignment's"
    assert_close(sa.check_model(mine, BCE(), xb64, xb64, rng=0), tol=1e-7)


try_it("another architecture", check_my_model)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def build_my_model():
#     """A float64 autoencoder with other widths (and depth) than DIMS, from your classes."""
#     return build_autoencoder((784, 128, 64, 32, 16, 8), seed=0, dtype=xp.float64)
#
#
# def check_my_model():
#     mine = build_my_model()
#     widths = [tuple(p.shape) for name, p, _ in mine.named_params() if name.endswith(".W")]
#     assert widths != [tuple(p.shape) for name, p, _ in model.named_params() if name.endswith(".W")], \
#         "choose other widths than the assignment's"
#     assert_close(sa.check_model(mine, BCE(), xb64, xb64, rng=0), tol=1e-7)
#
#
# try_it("another architecture", check_my_model)
# ```
#
# </details>
#
# 3. Train with `MSE()` instead of `BCE()` (change the line `loss, optimizer = ...`). Compare the two by their
#    validation BCE, not by their own losses. Which is lower after the same epochs, and why?
#
# <details><summary>Answer</summary>
#
# BCE trains lower. In quick mode we measured a validation BCE of 0.2112 after BCE training and 0.2160 after
# MSE training. (The column "train BCE" then shows the MSE: it prints the training loss.) Behind a Sigmoid,
# MSE's gradient keeps the factor $p(1-p)$ (lesson 02, exercise 2), so pixels saturated at the wrong end learn
# slowly. Compare by one measure: each loss is smallest for its own objective, so the MSE model's own number
# says nothing about its BCE.
#
# </details>
