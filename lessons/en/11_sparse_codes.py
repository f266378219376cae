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
# # 11 · Sparse codes
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/en/11_sparse_codes.ipynb)
#
# A 32-unit code can describe a digit with all 32 units a little on, or with a few units strongly on and the rest
# exactly off. The second kind, a sparse code, is easier to read and often more useful. Plan 35 to 65 minutes,
# exercises included. You will add an L1 penalty on the code to the loss, write its gradient by hand, check it, and
# measure how much quieter the code becomes.
#
# You will learn
# - the L1 activity penalty and its gradient, $\lambda\,\mathrm{sign}(h)/N$;
# - why the backward pass of a sparse autoencoder is split at the code;
# - how to gradient-check a function with a kink;
# - how the penalty changes the mean code activation and the reconstruction loss.

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
# ## The penalty
#
# The code of a batch is $h = \mathrm{encode}(x)$, shape $(N, k)$. The penalty sums $|h|$ over the $k$ code
# units of each example and averages over the $N$ examples; it is added to the reconstruction loss:
#
# $$P(h) = \frac{\lambda}{N} \sum_{n=1}^{N} \sum_{j=1}^{k} |h_{nj}|, \qquad
# \frac{\partial P}{\partial h_{nj}} = \frac{\lambda}{N}\,\mathrm{sign}(h_{nj}), \qquad
# L = \ell(\mathrm{decode}(h), x) + P(h)$$
#
# The Keras blog's sparse autoencoder writes `regularizers.l1(10e-5)`: that is $\lambda = 10^{-4}$, and its
# numbers come from this reduction (sum over units, mean over the batch).

# %%
import numpy as np


def penalty_forward(h, lam):
    return lam * float(xp.sum(xp.abs(h))) / h.shape[0]  # sum over units and examples, mean over examples


def penalty_backward(h, lam):
    return xp.sign(h) * (lam / h.shape[0])  # (N, k), the shape of h


rng = np.random.default_rng(0)
h = xp.asarray(rng.standard_normal((4, 6)))  # float64: gradient checks need it
print("P(h) =", penalty_forward(h, 0.1))
print("dP/dh, first row:", penalty_backward(h, 0.1)[0, ...])

# %% [markdown]
# ## Gradient check, around a kink
#
# $|h|$ has a kink at 0: no derivative exists there, and central differences would mix the two slopes. So a
# check is only meaningful where every entry is farther from 0 than the step $h_\text{step} = 10^{-5}$. With
# random normal values that is almost always true, and we make sure of it.

# %%
from scratchae import numerical_gradient, rel_error

assert float(xp.min(xp.abs(h))) > 1e-3  # away from the kink
numeric = numerical_gradient(lambda: penalty_forward(h, 0.1), h)
error = rel_error(numeric, penalty_backward(h, 0.1))
print(f"penalty gradient: relative error {error:.1e}")
# Check: expect about 1e-11 (float64 rounding); above 1e-7 means a bug in penalty_backward.
assert error < 1e-7, error

# %% [markdown]
# The library's `L1Activity` is the same two formulas as a class: `forward(h)` keeps `h`, `backward()` returns
# $\partial P/\partial h$.

# %%
import inspect

from scratchae.sparse import L1Activity

print(inspect.getsource(L1Activity.forward))
print(inspect.getsource(L1Activity.backward))
penalty = L1Activity(0.1)
agreement = max(abs(float(penalty.forward(h)) - penalty_forward(h, 0.1)),
                rel_error(penalty.backward(), penalty_backward(h, 0.1)))
# Check: the same arithmetic up to summation order; expect about 1e-16, above 1e-12 means they differ.
assert agreement < 1e-12, agreement
print("L1Activity agrees with the hand-written penalty:", agreement)

# %% [markdown]
# ## The sparse step: split the backward at the code
#
# The reconstruction loss reaches $h$ through the decoder; the penalty reaches it directly. So the step runs the
# decoder's backward alone and adds the penalty's gradient at $h$. Only then does it run the encoder's backward.
# Everything else is the plain step.

# %%
from scratchae.sparse import sparse_step

print(inspect.getsource(sparse_step))

# %% [markdown]
# ## With and without the penalty
#
# The Keras blog's model: 784-32-784, a ReLU code, a Sigmoid output, BCE. We train it twice from the same
# weights and batches, with $\lambda = 10^{-4}$ and with $\lambda = 0$. Then we compare the test BCE and the mean
# code activation: the mean of $h$ over test images and units. The blog reports that number: 3.33 against 7.30
# after 100 epochs.

# %%
from scratchae import BCE, Adam, dense_autoencoder
from scratchae.backend import to_device, to_numpy
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import init_output_bias
from scratchae.sparse import evaluate_sparse

x_train, _, x_test, _ = load("mnist")
if QUICK:
    x_train, x_test = x_train[:6000], x_test[:1000]
EPOCHS = 10 if QUICK else 50
train, test = to_device(x_train, xp), to_device(x_test, xp)


def train_sparse(lam):
    model = dense_autoencoder((784, 32), rng=0, xp=xp)  # Dense(784, 32) + ReLU, then Dense(32, 784) + Sigmoid
    init_output_bias(model, to_device(x_train.mean(axis=0), xp))
    loss, penalty, optimizer = BCE(), L1Activity(lam), Adam(model, lr=1e-3)
    for epoch in range(EPOCHS):
        order = to_device(epoch_order(train.shape[0], 0, epoch), xp)
        for a, b in batch_slices(train.shape[0], 256):
            sparse_step(model, loss, penalty, optimizer, xp.take(train, order[a:b], axis=0))
    return model, evaluate_sparse(model, loss, L1Activity(1e-4), test)  # both scored with lambda = 1e-4


sparse_model, sparse = train_sparse(1e-4)
plain_model, plain = train_sparse(0.0)
for name, scores in (("lambda = 1e-4", sparse), ("lambda = 0   ", plain)):
    print(f"{name}: test BCE {scores['test_loss']:.4f}, mean code activation {scores['test_code_mean']:.2f}, "
          f"penalty {scores['test_penalty']:.4f}")

# %%
# Check: the penalty must make the code quieter. Expect a mean activation well below the plain model's (a ratio
# of about 0.7 after the 10 quick epochs; 3.33 against 7.30 in the blog) at a slightly higher BCE; a ratio above
# 0.9 means the penalty's gradient is not reaching the encoder.
ratio = sparse["test_code_mean"] / plain["test_code_mean"]
assert ratio < 0.9, (sparse, plain)
print(f"mean activation ratio, with / without: {ratio:.2f}")

# %% [markdown]
# ## Where did the activity go?
#
# A histogram of all code values of the test images. The L1 penalty pulls small activations to exactly zero (the
# ReLU then keeps them there) and shrinks the rest.

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, model in (("lambda = 1e-4", sparse_model), ("lambda = 0", plain_model)):
    codes = to_numpy(model.encode(test)).ravel()
    ax.hist(codes, bins=60, alpha=0.6, label=f"{name}: {np.mean(codes == 0):.0%} exactly 0")
ax.set_xlabel("code activation")
ax.set_ylabel("count")
ax.set_yscale("log")
ax.legend()
plt.show()

# %% [markdown]
# The command line does the same with `--sparsity 1e-4` (any model) or `--preset keras-sparse` (the blog's
# model); it reports the penalty and the mean code activation per epoch.
#
# ## Try it
#
# 1. An L2 activity penalty, $P_2(h) = \frac{\lambda}{N}\sum_{n,j} h_{nj}^2$, is the other common choice. Write
#    its forward and backward; the cell gradient-checks your backward.

# %%
from scratchae.exercises import try_it


def l2_forward(h, lam):
    raise NotImplementedError  # replace this line with your code


def l2_backward(h, lam):
    raise NotImplementedError  # replace this line with your code


def check_l2():
    numeric = numerical_gradient(lambda: l2_forward(h, 0.1), h)
    error = rel_error(numeric, l2_backward(h, 0.1))
    assert error < 1e-7, f"relative error {error:.1e}: expect about 1e-10"


try_it("L2 activity penalty", check_l2)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def l2_forward(h, lam):
#     return lam * float(xp.sum(h * h)) / h.shape[0]
#
#
# def l2_backward(h, lam):
#     return h * (2 * lam / h.shape[0])  # (N, k), the shape of h
#
#
# def check_l2():
#     numeric = numerical_gradient(lambda: l2_forward(h, 0.1), h)
#     error = rel_error(numeric, l2_backward(h, 0.1))
#     assert error < 1e-7, f"relative error {error:.1e}: expect about 1e-10"
#
#
# try_it("L2 activity penalty", check_l2)
# ```
#
# </details>
#
# 2. Train with your L2 penalty instead of L1 (a class with `forward(h)` and `backward()` can replace
#    `L1Activity` in `sparse_step`). Which gives more activations that are exactly zero, and why?
#
# <details><summary>Answer</summary>
#
# L1. Its gradient is $\lambda/N$ however small $h$ is, so it keeps pushing a small activation until the ReLU
# cuts it to exactly 0. The L2 gradient $2\lambda h/N$ vanishes as $h$ shrinks: it makes activations small but
# seldom zero.
#
# </details>
#
# 3. Keras 1 averaged the activity penalty over the batch, as we do. Later versions summed it over the batch
#    instead. So the blog's `10e-5` became 256 times stronger at its batch size of 256. People who reran the post
#    got a test loss near 0.26 instead of 0.10. Which $\lambda$ in our reduction is that stronger penalty?
#    Train with it: what happens to the mean code activation and to the reconstructions?
#
# <details><summary>Answer</summary>
#
# $\lambda = 256 \times 10^{-4} = 0.0256$. The penalty then outweighs the reconstruction: most code units switch
# off for good, the mean activation drops towards 0, and the decoder can only draw a blurred average digit.
#
# </details>
