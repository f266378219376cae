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
# # 01 · A Dense layer by hand
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/en/01_dense.ipynb)
#
# Every autoencoder in scratchae is mostly Dense layers: `out = x @ W + b`. You will write one by hand, forward and
# backward, and prove the backward right. Plan 55 to 100 minutes, exercises included.
#
# You will learn
# - the forward pass and the shape of every array in it;
# - the three backward formulas, found from nothing but the shapes;
# - how a gradient check compares a backward pass with numerical differences, using a random upstream gradient;
# - why an upstream gradient of all ones hides bugs, and why the check needs float64;
# - how to write the layer as a class, `Dense`, that lesson 05 uses in the full autoencoder.

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
# ## Forward
#
# A batch of $N$ inputs with `n_in` features each goes in; $N$ outputs with `n_out` features come out:
#
# $$\text{out} = x\,W + b, \qquad x: (N, n_\text{in}),\quad W: (n_\text{in}, n_\text{out}),\quad b: (n_\text{out}),
# \quad \text{out}: (N, n_\text{out})$$
#
# The bias $b$ is added to every row (broadcasting). We use float64 in this lesson because gradient checks need
# it; training uses float32.

# %%
import numpy as np

rng = np.random.default_rng(0)
N, n_in, n_out = 4, 5, 3
x = xp.asarray(rng.standard_normal((N, n_in)))  # float64, made on the host, then moved into xp
W = xp.asarray(rng.standard_normal((n_in, n_out)))
b = xp.asarray(rng.standard_normal((n_out,)))


def dense_forward(x, W, b):
    return x @ W + b  # (N, in) @ (in, out) + (out,) -> (N, out)


out = dense_forward(x, W, b)
print("out:", out.shape)

# %% [markdown]
# ## Backward, from the shapes
#
# Somewhere downstream a loss $L$ (one number) is computed from `out`. Backward receives the *upstream gradient*
# `dout` $= \partial L / \partial \text{out}$, shape $(N, n_\text{out})$: how much $L$ changes with each entry
# of `out`. It must return one gradient per input, each with the shape of what it differentiates: `dx`
# $(N, n_\text{in})$, `dW` $(n_\text{in}, n_\text{out})$, `db` $(n_\text{out})$. Each one is `dout` combined
# with the other factor of the product. The shapes allow only one way to write it:
#
# $$dW = x^\top d\text{out} \;\; (n_\text{in}, N)(N, n_\text{out}), \qquad
# dx = d\text{out}\, W^\top \;\; (N, n_\text{out})(n_\text{out}, n_\text{in}), \qquad
# db = \textstyle\sum_{n} d\text{out}_{n,:}$$
#
# Element by element: $\text{out}_{nj} = \sum_i x_{ni} W_{ij} + b_j$, so $W_{ij}$ touches $\text{out}_{nj}$ for
# every row $n$ with slope $x_{ni}$, giving $\partial L/\partial W_{ij} = \sum_n x_{ni}\, d\text{out}_{nj}$,
# which is $x^\top d\text{out}$. In the same way, $x_{ni}$ touches $\text{out}_{nj}$ for every column $j$ (and
# only in its own row $n$) with slope $W_{ij}$:
#
# $$\frac{\partial L}{\partial x_{ni}} = \sum_j \frac{\partial L}{\partial \text{out}_{nj}}
# \frac{\partial \text{out}_{nj}}{\partial x_{ni}} = \sum_j d\text{out}_{nj}\, W_{ij} = (d\text{out}\,W^\top)_{ni}$$
#
# The bias is added to all $N$ rows, so its gradient sums over them.

# %%
def dense_backward(dout, x, W, b):
    dx = dout @ W.T  # (N, out) @ (out, in) -> (N, in)
    dW = x.T @ dout  # (in, N) @ (N, out) -> (in, out)
    db = xp.sum(dout, axis=0)  # (N, out) -> (out,)
    return dx, dW, db


dout = xp.asarray(rng.standard_normal((N, n_out)))  # a random upstream gradient
for name, grad in zip(["dx", "dW", "db"], dense_backward(dout, x, W, b)):
    print(f"{name}: {grad.shape}")

# %% [markdown]
# ## Gradient check
#
# Right shapes do not make a right gradient. To test one, pick a random `dout` and define
# $L = \sum \text{out} \odot d\text{out}$. Then $\partial L/\partial\text{out}$ is exactly `dout`. Now every
# gradient that backward returns can be compared with *central differences*: nudge one entry $\theta_i$ up and
# down by a small $h$, and divide the change in $L$ by $2h$:
#
# $$\frac{\partial L}{\partial \theta_i} \approx \frac{L(\theta + h e_i) - L(\theta - h e_i)}{2h}, \qquad
# \text{rel. error} = \frac{\lVert g_\text{num} - g_\text{ana} \rVert}{\lVert g_\text{num} \rVert +
# \lVert g_\text{ana} \rVert}$$
#
# The two gradients in the relative error are the *numerical* gradient $g_\text{num}$ (central differences, as
# above) and the *analytic* gradient $g_\text{ana}$ (what backward returns, from the formulas).
#
# `numerical_gradient` and `rel_error` come from the library (they are not the lesson; read them with `help`).

# %%
from scratchae import numerical_gradient, rel_error


def grad_check(forward, backward, arrays, dout):
    """Relative error of each gradient from backward(dout, *arrays), against central differences of L."""
    analytic = backward(dout, *arrays)

    def L():
        return float(xp.sum(forward(*arrays) * dout))

    # numerical_gradient nudges one entry of the array at a time by +-h, in place, and puts it back
    return {name: rel_error(numerical_gradient(L, a), g) for name, a, g in zip(["x", "W", "b"], arrays, analytic)}


errors = grad_check(dense_forward, dense_backward, (x, W, b), dout)
for name, error in errors.items():
    print(f"d{name}: relative error {error:.1e}")

# %%
# Check: expect about 1e-10 or less (float64 rounding); above 1e-7 means a bug in dense_backward.
assert max(errors.values()) < 1e-7, errors
print("dense_backward passes the gradient check")

# %% [markdown]
# ## The library's Dense
#
# `scratchae.Dense` is the same layer as a class: `forward` keeps `x` for later, `backward` fills
# `self.grads` and returns `dx`. Read its backward: the three lines you just wrote.

# %%
import inspect

from scratchae import Dense, check_layer

print(inspect.getsource(Dense.backward))

# %%
layer = Dense(n_in, n_out, xp=xp, dtype="float64")
layer.params["W"][...] = W  # give it our weights, in place
layer.params["b"][...] = b
ours = dict(zip(["dx", "dW", "db"], dense_backward(dout, x, W, b)))
theirs = {"out": layer.forward(x)}
theirs["dx"] = layer.backward(dout)
theirs["dW"], theirs["db"] = layer.grads["W"], layer.grads["b"]
agreement = {name: rel_error(theirs[name], out if name == "out" else ours[name]) for name in theirs}
print(agreement)

# Check: the same arithmetic on the same numbers; expect 0 or about 1e-16, above 1e-12 means they differ.
assert max(agreement.values()) < 1e-12, agreement
# The library's own gradient check (a random dout too); expect about 1e-10, above 1e-7 means a bug.
report = check_layer(layer, x, rng=1)
for check in report.values():
    print(check)
assert max(check.error for check in report.values()) < 1e-7

# %% [markdown]
# ## Why the upstream gradient must be random
#
# A common mistake: "b is added to each of the N rows, so d out / d b is 1 per row, and db is N". That is the
# *local* derivative; the chain rule still has to multiply it by `dout`. Here is a backward with that bug. We
# check it twice: with `dout` all ones (what you get from $L = \sum \text{out}$) and with the random `dout`.

# %%
def buggy_backward(dout, x, W, b):
    dx = dout @ W.T
    dW = x.T @ dout
    db = xp.full(b.shape, float(x.shape[0]), dtype=b.dtype)  # BUG: N for every entry, dout forgotten
    return dx, dW, db


ones = xp.ones_like(dout)
with_ones = grad_check(dense_forward, buggy_backward, (x, W, b), ones)
with_random = grad_check(dense_forward, buggy_backward, (x, W, b), dout)
print("all-ones dout: db error", f"{with_ones['b']:.1e}")
print("random dout:   db error", f"{with_random['b']:.1e}")

# %%
# Check: with ones the bug hides (about 1e-11, it "passes"); with a random dout it shows (about 0.1; above 1e-2
# is a plain failure).
assert with_ones["b"] < 1e-7, with_ones
assert with_random["b"] > 1e-2, with_random
print("an all-ones dout passed a wrong db; a random dout caught it")

# %% [markdown]
# With `dout` all ones, $\sum_n d\text{out}_{nj} = N$: the bug and the truth are the same number, so no check
# can tell them apart. Any backward that drops `dout` somewhere is exact for that one `dout`. A random `dout`
# gives every entry its own weight, and a missing factor shows.
#
# ## Your Dense, as a class
#
# The functions above become one class on the library's layer contract. `params` and `grads` are dicts with
# the keys `"W"` and `"b"`. `forward(x)` keeps `x`, because `dW` needs it. `backward(dout)` *assigns* the two
# gradients to `grads` and returns `dx`. The weights start He-normal, $W \sim \mathcal N(0, 2/n_\text{in})$
# (lesson 04 says why), drawn on the host from a NumPy generator. Keep this class: in lesson 05 you build the
# whole autoencoder from it.

# %%
import math


class Dense:
    """out = x @ W + b.  x: (N, n_in) -> out: (N, n_out); W: (n_in, n_out), b: (n_out,)."""

    def __init__(self, n_in, n_out, rng, dtype):
        W = rng.standard_normal((n_in, n_out)) * math.sqrt(2.0 / n_in)  # He init, drawn on the host
        self.params = {"W": xp.asarray(W, dtype=dtype), "b": xp.zeros((n_out,), dtype=dtype)}
        self.grads = {name: xp.zeros_like(p) for name, p in self.params.items()}
        self.x = None

    def forward(self, x):
        self.x = x  # backward needs x for dW
        return x @ self.params["W"] + self.params["b"]  # (N, n_out)

    def backward(self, dout):
        self.grads["W"] = self.x.T @ dout  # (n_in, N) @ (N, n_out) -> (n_in, n_out)
        self.grads["b"] = xp.sum(dout, axis=0)  # (n_out,)
        return dout @ self.params["W"].T  # (N, n_out) @ (n_out, n_in) -> (N, n_in)


mine = Dense(n_in, n_out, np.random.default_rng(2), xp.float64)
library_dense = layer  # the library's Dense from above, with the weights W and b
mine.params["W"][...] = library_dense.params["W"]
mine.params["b"][...] = library_dense.params["b"]
same = {"out": rel_error(mine.forward(x), library_dense.forward(x)),
        "dx": rel_error(mine.backward(dout), library_dense.backward(dout)),
        "dW": rel_error(mine.grads["W"], library_dense.grads["W"]),
        "db": rel_error(mine.grads["b"], library_dense.grads["b"])}
print(same)

# %%
# Check: your class and the library's agree (expect 0 or about 1e-16; above 1e-12 means they differ), and your
# class passes the library's gradient check with a random dout (expect about 1e-10; above 1e-7 means a bug).
assert max(same.values()) < 1e-12, same
report = check_layer(mine, x, rng=3)
print({name: f"{check.error:.1e}" for name, check in report.items()})
assert max(check.error for check in report.values()) < 1e-7
print("your Dense class agrees with the library's")

# %% [markdown]
# ## Try it
#
# 1. PyTorch stores the weight transposed, `W_t` of shape $(n_\text{out}, n_\text{in})$, and computes
#    `out = x @ W_t.T + b`. Find its three gradients from the shapes and write them below; the cell checks them
#    with a random `dout`.

# %%
from scratchae.exercises import try_it


def torch_layout_backward(dout, x, W_t, b):
    """dout: (N, out), x: (N, in), W_t: (out, in), b: (out,) -> (dx, dW_t, db)."""
    raise NotImplementedError  # replace this line with your code


def check_torch_layout():
    W_t = xp.asarray(rng.standard_normal((n_out, n_in)))
    errors = grad_check(lambda x, W_t, b: x @ W_t.T + b, torch_layout_backward, (x, W_t, b), dout)
    assert max(errors.values()) < 1e-7, f"relative errors {errors}: expect about 1e-10"


try_it("PyTorch layout", check_torch_layout)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def torch_layout_backward(dout, x, W_t, b):
#     """dout: (N, out), x: (N, in), W_t: (out, in), b: (out,) -> (dx, dW_t, db)."""
#     dx = dout @ W_t  # (N, out) @ (out, in) -> (N, in)
#     dW_t = dout.T @ x  # (out, N) @ (N, in) -> (out, in): the transpose of x.T @ dout
#     db = xp.sum(dout, axis=0)
#     return dx, dW_t, db
#
#
# def check_torch_layout():
#     W_t = xp.asarray(rng.standard_normal((n_out, n_in)))
#     errors = grad_check(lambda x, W_t, b: x @ W_t.T + b, torch_layout_backward, (x, W_t, b), dout)
#     assert max(errors.values()) < 1e-7, f"relative errors {errors}: expect about 1e-10"
#
#
# try_it("PyTorch layout", check_torch_layout)
# ```
#
# </details>
#
# 2. Write a second buggy backward that forgets `dout` in `dW` instead: `dW = x.T @ xp.ones_like(dout)`, and
#    run `grad_check` on it with `ones` and with `dout`. Which check catches it, and why?
#
# <details><summary>Answer</summary>
#
# The random `dout` catches it; the all-ones one passes it, for the same reason as the db bug: when `dout` is all
# ones, $x^\top d\text{out}$ and $x^\top \mathbf{1}$ are the same matrix. Any `dout` whose entries are not all
# equal exposes it.
#
# </details>
#
# 3. **Why float64.** Write `numeric_dW`: the central differences of $L = \sum \text{out} \odot d\text{out}$ for
#    every entry of a layer's `W`, by hand, in whatever dtype the layer has. The cell runs it on your correct
#    `Dense` twice, in float32 and in float64, with $h = 10^{-5}$. The float64 check must pass and the float32
#    one must fail. Why does a correct layer fail in float32?

# %%
def numeric_dW(layer, x, dout, h=1e-5):
    """Central differences of L = sum(layer.forward(x) * dout) for each entry of layer.params["W"], in W's dtype."""
    raise NotImplementedError  # replace this line with your code


def check_precision():
    errors = {}
    for name, dtype in (("float32", xp.float32), ("float64", xp.float64)):
        layer_d = Dense(n_in, n_out, np.random.default_rng(4), dtype)
        x_d, dout_d = xp.astype(x, dtype), xp.astype(dout, dtype)
        layer_d.forward(x_d)
        layer_d.backward(dout_d)
        errors[name] = rel_error(numeric_dW(layer_d, x_d, dout_d), layer_d.grads["W"])
    print({name: f"{error:.1e}" for name, error in errors.items()})
    error32, error64 = errors.values()
    assert error64 < 1e-7, f"float64: relative error {error64:.1e}, expect about 1e-10: check numeric_dW"
    assert error32 > 1e-4, f"float32: relative error {error32:.1e}; a float32 check should fail (about 6e-3)"


try_it("float32 against float64", check_precision)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def numeric_dW(layer, x, dout, h=1e-5):
#     """Central differences of L = sum(layer.forward(x) * dout) for each entry of layer.params["W"], in W's dtype."""
#     W = layer.params["W"]
#     grad = np.zeros(tuple(W.shape))
#     for i in range(W.shape[0]):
#         for j in range(W.shape[1]):
#             old = float(W[i, j])
#             W[i, j] = old + h
#             up = float(xp.sum(layer.forward(x) * dout))
#             W[i, j] = old - h
#             down = float(xp.sum(layer.forward(x) * dout))
#             W[i, j] = old  # put it back before the next entry
#             grad[i, j] = (up - down) / (2 * h)
#     return grad
#
#
# def check_precision():
#     errors = {}
#     for name, dtype in (("float32", xp.float32), ("float64", xp.float64)):
#         layer_d = Dense(n_in, n_out, np.random.default_rng(4), dtype)
#         x_d, dout_d = xp.astype(x, dtype), xp.astype(dout, dtype)
#         layer_d.forward(x_d)
#         layer_d.backward(dout_d)
#         errors[name] = rel_error(numeric_dW(layer_d, x_d, dout_d), layer_d.grads["W"])
#     print({name: f"{error:.1e}" for name, error in errors.items()})
#     error32, error64 = errors.values()
#     assert error64 < 1e-7, f"float64: relative error {error64:.1e}, expect about 1e-10: check numeric_dW"
#     assert error32 > 1e-4, f"float32: relative error {error32:.1e}; a float32 check should fail (about 6e-3)"
#
#
# try_it("float32 against float64", check_precision)
# ```
#
# </details>
#
# <details><summary>Answer</summary>
#
# float32 keeps about 7 digits. $L$ is a sum of numbers of size about 1, so each value of $L$ carries a rounding
# error of about $10^{-7}$. The difference $L(W + h) - L(W - h)$ is only about $2h \approx 2 \cdot 10^{-5}$, and
# dividing the rounding error by $2h$ leaves an error of about $10^{-2}$ in the quotient (we measured
# $6 \cdot 10^{-3}$): the check fails
# though the layer is right. float64 keeps about 16 digits, so the same quotient is good to about $10^{-10}$.
# Training is fine in float32; only the check needs float64.
#
# </details>
