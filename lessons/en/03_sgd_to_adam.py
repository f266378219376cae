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
# # 03 · From SGD to Adam
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/en/03_sgd_to_adam.ipynb)
#
# Backward fills every gradient; the optimizer turns gradients into a change of the weights. Plan 50 to 95 minutes,
# exercises included. You will run plain gradient descent and Adam on a small problem whose answer is known. You
# will see what Adam's bias correction does in its first steps. Then you will compare the library's Adam with the
# paper's algorithm, line by line.
#
# You will learn
# - the update rules of SGD and Adam, and why one learning rate does not fit every direction;
# - what Adam's bias correction fixes, seen in a plot of its first steps;
# - how to test an optimizer: a closed form for SGD, and a literal transcription of Algorithm 1 of Kingma & Ba
#   (2015) for Adam;
# - Momentum and RMSProp as Adam's two halves;
# - how to write `Adam` as a class over a model's named parameters, which lesson 05 uses.

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
# ## SGD on a valley with known answer
#
# Gradient descent steps against the gradient $g = \nabla_\theta L$ with one learning rate $\eta$ for every
# parameter. Try it on $L(\theta) = \tfrac12 (a_1 \theta_1^2 + a_2 \theta_2^2)$ with $a = (1, 1000)$. This is a
# valley: it is a thousand times steeper in $\theta_2$ than in $\theta_1$. Its gradient is $a \odot \theta$. So
# each SGD step multiplies each coordinate by a known factor, and after $t$ steps
#
# $$\theta \leftarrow \theta - \eta\, g, \qquad \theta_i^{(t)} = (1 - \eta\, a_i)^t\, \theta_i^{(0)}$$
#
# The steep direction needs $\eta < 2/1000$ or it blows up, and then the gentle one shrinks by only $1 - \eta$
# per step. The library's optimizers work on any object with a `named_params()` method, so a tiny class holds
# $\theta$.

# %%
import numpy as np

from scratchae import SGD, Adam, rel_error


class Valley:
    """L(theta) = 1/2 sum(a * theta**2), holding theta and its gradient the way a model holds its weights."""

    def __init__(self, a, theta):
        self.a, self.theta = xp.asarray(a), xp.asarray(theta)
        self.grad = xp.zeros_like(self.theta)

    def loss_and_backward(self):
        self.grad = self.a * self.theta  # assigned fresh every step, as a layer's backward does
        return float(0.5 * xp.sum(self.a * self.theta**2))

    def named_params(self):
        yield "theta", self.theta, self.grad


def descend(valley, optimizer, steps):
    losses = []
    for _ in range(steps):
        losses.append(valley.loss_and_backward())
        optimizer.step()
    return losses


a, theta0, steps = [1.0, 1000.0], [1.0, 1.0], 200
sgd_valley = Valley(a, theta0)
sgd_losses = descend(sgd_valley, SGD(sgd_valley, lr=0.0019), steps)
closed_form = (1 - 0.0019 * np.asarray(a)) ** steps * np.asarray(theta0)
print("SGD after", steps, "steps:", sgd_valley.theta, " closed form:", closed_form)

# %%
# Check: SGD matches the closed form; expect about 1e-15 (rounding over 200 steps), above 1e-12 means a bug.
assert rel_error(sgd_valley.theta, closed_form) < 1e-12
print(f"SGD vs closed form: relative error {rel_error(sgd_valley.theta, closed_form):.1e}")

# %% [markdown]
# ## Adam
#
# Adam keeps two running averages per parameter, of the gradient ($m$) and of its square ($v$), and steps by
# their ratio, so every coordinate moves at about the same speed whatever its scale:
#
# $$m \leftarrow \beta_1 m + (1 - \beta_1) g, \qquad v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \qquad
# \theta \leftarrow \theta - \eta\, \frac{\hat m}{\sqrt{\hat v} + \epsilon}, \quad
# \hat m = \frac{m}{1 - \beta_1^t},\; \hat v = \frac{v}{1 - \beta_2^t}$$
#
# Below it is written as Algorithm 1 of the paper (Kingma & Ba, arXiv 1412.6980) states it, one line of code per
# line of the algorithm, defaults included ($\alpha = 0.001$, $\beta_1 = 0.9$, $\beta_2 = 0.999$,
# $\epsilon = 10^{-8}$). The library's version follows later.

# %%
class PaperAdam:
    """Algorithm 1 of Kingma & Ba (2015), literally, for a dict of parameters updated in place."""

    def __init__(self, params, alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        self.alpha, self.beta1, self.beta2, self.eps = alpha, beta1, beta2, eps
        self.m = {name: xp.zeros_like(p) for name, p in params.items()}  # m_0 <- 0
        self.v = {name: xp.zeros_like(p) for name, p in params.items()}  # v_0 <- 0
        self.t = 0  # t <- 0

    def step(self, params, grads):
        self.t = self.t + 1  # t <- t + 1
        for name, theta in params.items():
            g = grads[name]  # g_t <- gradient at theta_{t-1}
            self.m[name] = self.beta1 * self.m[name] + (1 - self.beta1) * g  # biased first moment
            self.v[name] = self.beta2 * self.v[name] + (1 - self.beta2) * g**2  # biased second raw moment
            m_hat = self.m[name] / (1 - self.beta1**self.t)  # bias-corrected first moment
            v_hat = self.v[name] / (1 - self.beta2**self.t)  # bias-corrected second raw moment
            theta -= self.alpha * m_hat / (xp.sqrt(v_hat) + self.eps)  # in place: params[name] changes


adam_valley = Valley(a, theta0)
paper = PaperAdam({"theta": adam_valley.theta}, alpha=0.02)
adam_losses = []
for _ in range(steps):
    adam_losses.append(adam_valley.loss_and_backward())
    paper.step({"theta": adam_valley.theta}, {"theta": adam_valley.grad})

import matplotlib.pyplot as plt

plt.figure(figsize=(6, 3))
plt.semilogy(sgd_losses, label="SGD, lr 0.0019 (above 0.002 it diverges)")
plt.semilogy(adam_losses, label="Adam, lr 0.02")
plt.xlabel("step")
plt.ylabel("loss")
plt.legend()
plt.show()
print(f"after {steps} steps: SGD loss {sgd_losses[-1]:.1e}, Adam loss {adam_losses[-1]:.1e}")

# %% [markdown]
# The steep direction limits SGD's learning rate. SGD settles that direction in a few steps, and then it moves
# very slowly along the gentle one. Adam divides each coordinate's step by the size of its own gradients. So both
# coordinates move about $\eta$ per step, whatever $a$ is. (Adam's path here would be the same with
# $a = (1, 1)$.) Its momentum (the running average $m$) overshoots and swings back; this makes the dips in its
# curve. Still, after 200 steps its loss is about a million times lower than SGD's.
#
# ## Bias correction, seen in the first steps
#
# $m$ and $v$ start at 0, so early on they are too small. After $t$ steps of a constant gradient $g$,
# $m = (1 - \beta_1^t)\, g$ and $v = (1 - \beta_2^t)\, g^2$. Dividing by $1 - \beta^t$ undoes exactly that. Without
# it the step is $\eta\,(1 - \beta_1^t) / \sqrt{1 - \beta_2^t}$: $0.1 / \sqrt{0.001} \approx 3.2$ times too large at
# step 1. It grows to its largest, 6.57 times too large, at step 12. The reason: $v$ warms up a hundred times
# slower than $m$.

# %%
t = np.arange(1, 3001)
g = 1.0  # a constant gradient: the ideal step is then exactly lr (times g / (|g| + eps))
m, v = (1 - 0.9**t) * g, (1 - 0.999**t) * g**2  # what the two recursions give after t steps
uncorrected = m / (np.sqrt(v) + 1e-8)
corrected = (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)

plt.figure(figsize=(6, 3))
plt.semilogx(t, uncorrected, label="without bias correction")
plt.semilogx(t, corrected, label="with bias correction (Adam)")
plt.xlabel("step t")
plt.ylabel("step size / lr")
plt.legend()
plt.show()
print(f"without correction: step 1 is {uncorrected[0]:.2f} lr, the largest {uncorrected.max():.2f} lr at step "
      f"{t[uncorrected.argmax()]}; still {uncorrected[999]:.2f} lr at step 1000")

# %%
# Check: the library's Adam, fed a constant gradient of 1, moves each step by lr * 1 / (1 + eps): expect the
# steps to equal lr to about 1e-8 (that is eps); a step off by more than 1e-6 means the correction is wrong.
# Then undo the correction on the library's steps: they must give the curve above (expect about 3e-7, from eps).
flat = Valley([0.0], [0.0])
flat.grad = xp.asarray([1.0])  # never recomputed: the same gradient every step
library_adam = Adam(flat, lr=0.001)
positions = [0.0]
for _ in range(20):
    library_adam.step()
    positions.append(float(flat.theta[0]))
library_steps = -np.diff(positions) / 0.001
print("library's first steps / lr:", np.round(library_steps[:5], 10))
assert np.max(np.abs(library_steps - 1)) < 1e-6
k = t[:20]
undone = library_steps * (1 - 0.9**k) / np.sqrt(1 - 0.999**k)  # the library's steps, without the correction
print(f"largest difference from the curve above: {np.max(np.abs(undone / uncorrected[:20] - 1)):.1e}")
assert np.max(np.abs(undone / uncorrected[:20] - 1)) < 1e-5

# %% [markdown]
# ## The library's Adam against Algorithm 1
#
# `scratchae.Adam` computes the same thing with fewer array operations. It folds both corrections into one
# scalar step size and one scaled $\epsilon$, as the paper's Section 2 suggests:
# $\eta\, \hat m / (\sqrt{\hat v} + \epsilon) = \eta_t\, m / (\sqrt{v} + \hat\epsilon)$ with
# $\eta_t = \eta \sqrt{1 - \beta_2^t} / (1 - \beta_1^t)$ and $\hat\epsilon = \epsilon \sqrt{1 - \beta_2^t}$.
# The two forms are equal in exact arithmetic. So in float64, two identical models trained side by side, one with
# each optimizer, must stay equal up to rounding.

# %%
import inspect

print(inspect.getsource(Adam.step))

# %%
from scratchae import MSE, Dense, ReLU, Sequential


def small_model():
    return Sequential([Dense(8, 16, rng=0, xp=xp, dtype="float64"), ReLU(), Dense(16, 8, rng=1, xp=xp, dtype="float64")])


rng = np.random.default_rng(0)
x, target = xp.asarray(rng.standard_normal((32, 8))), xp.asarray(rng.standard_normal((32, 8)))
ours, theirs = small_model(), small_model()
start = {name: xp.asarray(p, copy=True) for name, p, _ in theirs.named_params()}
library_adam = Adam(theirs, lr=0.01)
paper = PaperAdam(dict((name, p) for name, p, _ in ours.named_params()), alpha=0.01)
for step in range(50):
    for model in (ours, theirs):
        loss = MSE()
        loss.forward(model.forward(x), target)
        model.backward(loss.backward())
    library_adam.step()
    paper.step({n: p for n, p, _ in ours.named_params()}, {n: g for n, _, g in ours.named_params()})

difference = max(rel_error(p, q) for (_, p, _), (_, q, _) in zip(ours.named_params(), theirs.named_params()))
moved = min(rel_error(p, start[name]) for name, p, _ in theirs.named_params())
print(f"after 50 steps: weights moved by at least {moved:.1e}; library vs Algorithm 1 differ by {difference:.1e}")

# %%
# Check: the weights really moved (above 1e-3), and the two optimizers agree to rounding: expect about 1e-15,
# above 1e-10 means the library's Adam is not the paper's.
assert moved > 1e-3
assert difference < 1e-10

# %% [markdown]
# ## Adam's two halves: Momentum and RMSProp
#
# Deep Learning from Scratch walks from SGD to Momentum, then AdaGrad, then Adam. Adam is the two middle steps
# put together. Its numerator $m$ is Momentum. Momentum keeps a velocity $v$: $v \leftarrow \alpha v - \eta g$,
# $\theta \leftarrow \theta + v$. Take Adam without $v$ (and without bias correction), $m \leftarrow \beta_1 m +
# (1 - \beta_1) g$, $\theta \leftarrow \theta - \eta\, m$, and multiply the first line by $-\eta$:
#
# $$-\eta\, m_t = \beta_1 (-\eta\, m_{t-1}) - \eta (1 - \beta_1)\, g_t$$
#
# That is Momentum's velocity $v = -\eta\, m$, with $\alpha = \beta_1$ and learning rate $\eta(1 - \beta_1)$.
#
# Its denominator $\sqrt{v}$ is RMSProp. AdaGrad divides by the root of the *sum* of all squared gradients,
# $h \leftarrow h + g^2$, so its steps shrink for ever. RMSProp takes a running *average* instead:
# $v \leftarrow \beta_2 v + (1 - \beta_2) g^2$, $\theta \leftarrow \theta - \eta\, g / (\sqrt{v} + \epsilon)$. Adam with
# $\beta_1 = 0$ has $m = \hat m = g$:
#
# $$\theta \leftarrow \theta - \eta\, \frac{g}{\sqrt{\hat v} + \epsilon}, \qquad \hat v = \frac{v}{1 - \beta_2^t}$$
#
# That is RMSProp, with Adam's bias correction of $v$. So Adam = Momentum on top, RMSProp below, and the bias
# correction for both. The cell writes all three on the valley and checks the two identities.

# %%
import scratchae as sa


class Momentum:
    """Deep Learning from Scratch's Momentum: v <- alpha v - lr g;  p <- p + v.  One v per parameter name."""

    def __init__(self, model, lr, alpha=0.9):
        self.model, self.lr, self.alpha = model, lr, alpha
        self.v = {name: xp.zeros_like(p) for name, p, _ in model.named_params()}

    def step(self):
        for name, p, g in self.model.named_params():
            self.v[name] = self.alpha * self.v[name] - self.lr * g
            p += self.v[name]


class AdamTop:
    """Adam's first half alone: m <- beta1 m + (1 - beta1) g;  p <- p - lr m (no v, no bias correction)."""

    def __init__(self, model, lr, beta1=0.9):
        self.model, self.lr, self.beta1 = model, lr, beta1
        self.m = {name: xp.zeros_like(p) for name, p, _ in model.named_params()}

    def step(self):
        for name, p, g in self.model.named_params():
            self.m[name] = self.beta1 * self.m[name] + (1 - self.beta1) * g
            p -= self.lr * self.m[name]


class RMSProp:
    """v <- beta2 v + (1 - beta2) g^2;  p <- p - lr g / (sqrt(v_hat) + eps), v_hat = v / (1 - beta2^t)."""

    def __init__(self, model, lr, beta2=0.999, eps=1e-8):
        self.model, self.lr, self.beta2, self.eps = model, lr, beta2, eps
        self.v = {name: xp.zeros_like(p) for name, p, _ in model.named_params()}
        self.t = 0

    def step(self):
        self.t += 1
        for name, p, g in self.model.named_params():
            self.v[name] = self.beta2 * self.v[name] + (1 - self.beta2) * g**2
            v_hat = self.v[name] / (1 - self.beta2**self.t)  # Adam's correction; RMSProp itself has none
            p -= self.lr * g / (xp.sqrt(v_hat) + self.eps)


def final_theta(make_optimizer, steps=200):
    valley = Valley(a, theta0)
    descend(valley, make_optimizer(valley), steps)
    return valley.theta


momentum = final_theta(lambda m: Momentum(m, lr=0.01 * (1 - 0.9), alpha=0.9))
top = final_theta(lambda m: AdamTop(m, lr=0.01, beta1=0.9))
rmsprop = final_theta(lambda m: RMSProp(m, lr=0.02))
adam_beta1_0 = final_theta(lambda m: sa.Adam(m, lr=0.02, betas=(0.0, 0.999)))
print("Momentum", sa.to_numpy(momentum), " Adam's m alone", sa.to_numpy(top))
print("RMSProp ", sa.to_numpy(rmsprop), " Adam, beta1 = 0", sa.to_numpy(adam_beta1_0))

# %%
# Check: after 200 steps each pair agrees to rounding (expect about 1e-15; above 1e-12 means the identity is
# wrong), and each optimizer really moved theta away from its start (1, 1).
assert rel_error(momentum, top) < 1e-12, rel_error(momentum, top)
assert rel_error(rmsprop, adam_beta1_0) < 1e-12, rel_error(rmsprop, adam_beta1_0)
assert min(rel_error(th, xp.asarray(theta0)) for th in (momentum, rmsprop)) > 1e-2
print(f"Momentum = Adam's m: {rel_error(momentum, top):.1e};  RMSProp = Adam with beta1 = 0: "
      f"{rel_error(rmsprop, adam_beta1_0):.1e}")

# %% [markdown]
# ## Your Adam, as a class
#
# `PaperAdam` took dicts of parameters and gradients. The library's optimizers take the model itself: at each
# `step()` they read `model.named_params()`, which yields `(name, param, grad)`. They keep their state ($m$, $v$)
# in dicts keyed by the parameter's name, as `scratchae.Adam` does. Keep this class: lesson 05 trains the
# autoencoder with it. Read the gradients afresh at every step: backward *assigns* new arrays to `grads`.

# %%
class Adam:
    """Adam (Kingma & Ba 2015, Algorithm 1) over model.named_params(); m and v are keyed by parameter name."""

    def __init__(self, model, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.model, self.lr, self.beta1, self.beta2, self.eps = model, lr, beta1, beta2, eps
        self.m = {name: xp.zeros_like(p) for name, p, _ in model.named_params()}
        self.v = {name: xp.zeros_like(p) for name, p, _ in model.named_params()}
        self.t = 0

    def step(self):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        for name, p, g in self.model.named_params():  # read afresh: backward assigned new grads
            self.m[name] = b1 * self.m[name] + (1.0 - b1) * g
            self.v[name] = b2 * self.v[name] + (1.0 - b2) * g * g
            m_hat = self.m[name] / (1.0 - b1**self.t)
            v_hat = self.v[name] / (1.0 - b2**self.t)
            p -= self.lr * m_hat / (xp.sqrt(v_hat) + self.eps)  # in place: the layer keeps its array


ours, theirs = small_model(), small_model()
mine, library_adam = Adam(ours, lr=0.01), sa.Adam(theirs, lr=0.01)
for step in range(50):
    for model in (ours, theirs):
        loss = MSE()
        loss.forward(model.forward(x), target)
        model.backward(loss.backward())
    mine.step()
    library_adam.step()
yours_vs_library = max(rel_error(p, q) for (_, p, _), (_, q, _) in zip(ours.named_params(), theirs.named_params()))
moments = max(rel_error(mine.v[name], library_adam.v[name]) for name in library_adam.v)
print(f"after 50 steps: weights differ by {yours_vs_library:.1e}, second moments by {moments:.1e}; "
      f"state keys {sorted(mine.m) == sorted(library_adam.m)}")

# %%
# Check: your Adam moves the weights as the library's does, with the same state by name (expect about 1e-15;
# above 1e-10 means your Adam is not the library's).
assert sorted(mine.m) == sorted(library_adam.m)
assert yours_vs_library < 1e-10 and moments < 1e-10, (yours_vs_library, moments)
print("your Adam agrees with the library's")

# %% [markdown]
# ## Try it
#
# 1. Adam's very first step has a closed form: with $t = 1$, $\hat m = g$ and $\hat v = g^2$. Write it for a
#    gradient `g` (any shape) and learning rate `lr`, without running Adam; the cell compares it with the
#    library's first step.

# %%
from scratchae.exercises import try_it


def adam_first_step(g, lr):
    """g: the first gradient -> the change Adam makes to the parameters at t = 1, same shape as g."""
    raise NotImplementedError  # replace this line with your code


def check_first_step():
    g = xp.asarray(rng.standard_normal(5) * 10.0 ** rng.integers(-6, 3, size=5))  # sizes from 1e-6 to 1e2
    valley = Valley([0.0] * 5, [0.0] * 5)
    valley.grad = g
    sa.Adam(valley, lr=0.001).step()
    error = rel_error(adam_first_step(g, 0.001), valley.theta)
    assert error < 1e-12, f"relative error {error:.1e}: expect about 1e-16 (mind eps where |g| is tiny)"


try_it("Adam's first step", check_first_step)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def adam_first_step(g, lr):
#     """g: the first gradient -> the change Adam makes to the parameters at t = 1, same shape as g."""
#     return -lr * g / (xp.abs(g) + 1e-8)  # about -lr * sign(g): the first step ignores the gradient's size
#
#
# def check_first_step():
#     g = xp.asarray(rng.standard_normal(5) * 10.0 ** rng.integers(-6, 3, size=5))  # sizes from 1e-6 to 1e2
#     valley = Valley([0.0] * 5, [0.0] * 5)
#     valley.grad = g
#     sa.Adam(valley, lr=0.001).step()
#     error = rel_error(adam_first_step(g, 0.001), valley.theta)
#     assert error < 1e-12, f"relative error {error:.1e}: expect about 1e-16 (mind eps where |g| is tiny)"
#
#
# try_it("Adam's first step", check_first_step)
# ```
#
# </details>
#
# 2. Run SGD on the valley with `lr=0.0025`. What happens, and which coordinate goes first?
#
# <details><summary>Answer</summary>
#
# It diverges: the steep coordinate is multiplied by $1 - 0.0025 \cdot 1000 = -1.5$ every step, so it flips sign
# and grows by half each time, while the gentle one still shrinks by $0.9975$. Any $\eta > 2 / a_\text{max} = 0.002$
# does this; Adam's step size does not depend on $a$ at all.
#
# </details>
#
# 3. Delete the two bias-correction lines from `PaperAdam` (use `m` and `v` directly) and rerun the valley. How do
#    the first steps and the loss curve change?
#
# <details><summary>Answer</summary>
#
# The first step moves each coordinate by 0.063 instead of 0.02 (3.2 times). The steps keep growing, to 6.57
# times $\eta$ at step 12, as the plot above predicts. On this valley the loss first falls faster: it is 0.03
# after 10 steps. Then it overshoots hard. It climbs back to 61 at step 17 and comes down again slowly: it is
# still 10 at step 25. (We measured these numbers with the lesson's valley and lr = 0.02.) On a real network, the
# oversized first steps come while $m$ and $v$ average only a few noisy batches. The correction guards against
# that.
#
# </details>
