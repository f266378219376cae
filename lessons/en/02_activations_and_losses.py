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
# # 02 · Activations and losses
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/en/02_activations_and_losses.ipynb)
#
# Between the Dense layers of the autoencoder sit activations (ReLU inside, Sigmoid at the output), and after the
# last one a loss compares the reconstruction with the input. You will write each by hand. Plan 55 to 110 minutes,
# exercises included.
#
# You will learn
# - ReLU and its backward: the gradient passes where the input was positive;
# - Sigmoid, its derivative $p(1-p)$, and why the textbook formula overflows in float32;
# - binary cross-entropy (BCE) and mean squared error (MSE), and why BCE clips $p$ away from 0 and 1;
# - where BCE and MSE come from: the negative log-likelihood of a Bernoulli and of a Gaussian output;
# - how Sigmoid followed by BCE simplifies to a gradient of $p - t$, and why that matters when Sigmoid saturates;
# - how to write `ReLU`, `Sigmoid`, `BCE` and `MSE` as classes, which lesson 05 uses in the full autoencoder.

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
# ## ReLU
#
# $$\text{out} = \max(x, 0), \qquad dx = d\text{out} \odot \mathbb{1}[x > 0]$$
#
# It works element by element. Where $x$ was positive, the layer is the identity and the gradient passes
# unchanged. Elsewhere the output is a constant 0 and the gradient is 0. (At exactly $x = 0$ there is a kink, a
# corner with no single slope; like PyTorch we give it gradient 0. Gradient checks keep their inputs away from it.)

# %%
import numpy as np

from scratchae import ReLU, Sigmoid, check_layer, rel_error

rng = np.random.default_rng(0)
x = xp.asarray(rng.standard_normal((4, 6)))  # float64 for the checks
x = x + 0.1 * xp.sign(x)  # stay at least 0.1 from the kink, where differences would straddle it
dout = xp.asarray(rng.standard_normal((4, 6)))


def relu_forward(x):
    return xp.maximum(x, 0.0)


def relu_backward(dout, x):
    return xp.where(x > 0, dout, 0.0)  # a new array: dout itself is left alone


relu = ReLU()
print("forward differs by", rel_error(relu.forward(x), relu_forward(x)))
print("backward differs by", rel_error(relu.backward(dout), relu_backward(dout, x)))

# %%
# Check: ours and the library's are the same arithmetic; expect exactly 0, above 1e-12 means they differ.
assert rel_error(relu.forward(x), relu_forward(x)) < 1e-12
assert rel_error(relu.backward(dout), relu_backward(dout, x)) < 1e-12
# The library's gradient check with a random dout; expect about 1e-11, above 1e-7 means a bug.
assert max(check.error for check in check_layer(relu, x, rng=1).values()) < 1e-7
print("ReLU agrees and passes the gradient check")

# %% [markdown]
# ## Sigmoid and its overflow trap
#
# $$p = \sigma(z) = \frac{1}{1 + e^{-z}}, \qquad \frac{dp}{dz} = p\,(1 - p)$$
#
# Typed as written, the formula computes $e^{-z}$. For $z = -1000$ that is $e^{1000}$, far beyond float32's
# largest number (about $3.4 \times 10^{38}$, reached at $z \approx -88$). So `np.exp` returns infinity and
# warns "overflow". The final answer is still right: $1 / (1 + \infty) = 0$. The trouble is the infinite value
# in the middle, and the other textbook form shows it. $e^z / (1 + e^z)$ at $z = +1000$ is $\infty / \infty$,
# and that is NaN, not 1. (This cell uses NumPy on purpose: CuPy on a GPU overflows the same way, but silently.)

# %%
import warnings

z = np.array([-1000.0, 0.0, 1000.0], dtype=np.float32)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    naive = 1 / (1 + np.exp(-z))
    other = np.exp(z) / (1 + np.exp(z))
print("1 / (1 + exp(-z)):   ", naive)
print("exp(z) / (1 + exp(z)):", other)
print("warnings:", sorted({str(w.message) for w in caught}))

# %% [markdown]
# The library uses an identity that never overflows: $\sigma(z) = \tfrac12\,(1 + \tanh(z/2))$. The hyperbolic
# tangent saturates at $\pm 1$ instead of growing, so no intermediate value is ever large. Its backward is the
# formula above, $dz = d\text{out} \odot p(1-p)$, reusing the $p$ that forward kept.

# %%
import inspect

print(inspect.getsource(Sigmoid.forward))
sigmoid = Sigmoid()
with warnings.catch_warnings(record=True) as caught_lib:
    warnings.simplefilter("always")
    p_lib = sigmoid.forward(xp.asarray(z))
print("library:", p_lib, "warnings:", len(caught_lib))

z64 = xp.asarray(rng.uniform(-30, 30, size=(4, 6)))  # where the textbook form is safe, in float64
textbook = 1 / (1 + xp.exp(-z64))
print(f"textbook vs library where both are safe: relative error {rel_error(Sigmoid().forward(z64), textbook):.1e}")

# %%
# Check: the library's Sigmoid gave no warning and gives 0, 0.5, 1.
assert not caught_lib and [float(v) for v in p_lib] == [0.0, 0.5, 1.0]
# Over the whole float32 range it stays in [0, 1], never decreases, and keeps sigma(-z) = 1 - sigma(z).
# Expect differences of about 6e-8 (float32 rounding); above 1e-6 means a bug.
wide = np.sort(np.concatenate([np.linspace(-3e38, 3e38, 2001), np.linspace(-100, 100, 2001)]))
wide = xp.asarray(wide.astype(np.float32))
p_wide = Sigmoid().forward(wide)
assert bool(xp.all((p_wide >= 0) & (p_wide <= 1))) and bool(xp.all(p_wide[1:] >= p_wide[:-1]))
assert float(xp.max(xp.abs(Sigmoid().forward(-wide) - (1 - p_wide)))) < 1e-6
# Same function where both are safe: expect about 1e-16 (rounding), above 1e-12 means they differ.
assert rel_error(Sigmoid().forward(z64), textbook) < 1e-12
# Sigmoid's backward against central differences, random dout: expect about 1e-11, above 1e-7 means a bug.
assert max(check.error for check in check_layer(Sigmoid(), z64 / 10, rng=2).values()) < 1e-7
print("Sigmoid: no overflow, same values, gradient check passed")

# %% [markdown]
# ## Two losses: BCE and MSE
#
# The autoencoder's output $p$ (after Sigmoid, in $[0, 1]$) is compared with the target $t$, the input image
# itself with pixels in $[0, 1]$. Both losses average over all $n$ elements (every pixel of every image):
#
# $$\text{BCE} = -\frac1n \sum_i \big(t_i \log p_i + (1 - t_i) \log(1 - p_i)\big), \qquad
# \text{MSE} = \frac1n \sum_i (p_i - t_i)^2$$
#
# $$\frac{\partial\,\text{BCE}}{\partial p_i} = \frac1n\,\frac{p_i - t_i}{p_i (1 - p_i)}, \qquad
# \frac{\partial\,\text{MSE}}{\partial p_i} = \frac2n\,(p_i - t_i)$$

# %%
from scratchae import BCE, MSE, check_loss


def bce(p, t):
    return -xp.mean(t * xp.log(p) + (1 - t) * xp.log(1 - p))


def mse(p, t):
    return xp.mean((p - t) ** 2)


p = xp.asarray(rng.uniform(0.05, 0.95, size=(4, 6)))  # predictions, away from 0 and 1 for now
t = xp.asarray(rng.uniform(0.0, 1.0, size=(4, 6)))  # targets: grey levels of pixels
print(f"BCE ours {float(bce(p, t)):.10f}  library {float(BCE().forward(p, t)):.10f}")
print(f"MSE ours {float(mse(p, t)):.10f}  library {float(MSE().forward(p, t)):.10f}")

# %%
# Check: same formula, so expect about 1e-16; above 1e-12 means they differ.
assert rel_error(bce(p, t), BCE().forward(p, t)) < 1e-12
assert rel_error(mse(p, t), MSE().forward(p, t)) < 1e-12
# Each backward against central differences of its forward: expect 1e-11 to 1e-8 (BCE curves hard near p = 0.05),
# above 1e-7 means a bug.
for loss in (BCE(), MSE()):
    error = check_loss(loss, p, t)["pred"].error
    print(f"{loss!r}: gradient check, relative error {error:.1e}")
    assert error < 1e-7
print("both losses agree and pass the gradient check")

# %% [markdown]
# ## Where the two losses come from
#
# Read the output $p_i$ as a probability model of pixel $i$. If pixel $i$ is 1 with probability $p_i$ and 0
# otherwise (a Bernoulli variable), and the pixels are independent, the probability of the image $t$ is a
# product, and its negative logarithm is BCE:
#
# $$P(t \mid p) = \prod_i p_i^{t_i} (1 - p_i)^{1 - t_i}, \qquad
# -\log P(t \mid p) = -\sum_i \big(t_i \log p_i + (1 - t_i) \log(1 - p_i)\big) = n \cdot \text{BCE}$$
#
# If instead pixel $i$ is Gaussian with mean $p_i$ and a fixed variance $\sigma^2$, the same steps give MSE:
#
# $$p(t \mid p) = \prod_i \frac{1}{\sqrt{2\pi\sigma^2}} e^{-(t_i - p_i)^2 / 2\sigma^2}, \qquad
# -\log p(t \mid p) = \frac{1}{2\sigma^2} \sum_i (t_i - p_i)^2 + \frac n2 \log(2\pi\sigma^2)
# = \frac{n}{2\sigma^2}\,\text{MSE} + \text{const}$$
#
# So minimising either loss is maximum likelihood: it makes the input image as probable as possible under the
# model's output. The two losses differ only in the noise they assume. (MNIST pixels are grey levels, not only
# 0 or 1; the BCE formula still works as a loss and is smallest at $p = t$.) Lesson 13's variational autoencoder
# builds on this: its ELBO is this log-likelihood's expectation minus a KL term,
# $\text{ELBO} = \mathbb E[\log p(x \mid z)] - \mathrm{KL}$, so its loss, $-\text{ELBO}$, is this negative
# log-likelihood plus the KL term.
#
# **Check.** Below, both negative log-likelihoods are computed a second way, independently: on the host with
# Python's `math`, as the logarithm of the product of the probabilities themselves (the formulas' left sides).
# Expect about 1e-15 (rounding); above 1e-12 means the derivation is wrong.

# %%
import math

from scratchae import to_numpy

t_bits = xp.asarray(rng.integers(0, 2, size=(4, 6)).astype(np.float64))  # a black-and-white image: 0 or 1
n, sigma = p.size, 0.3
p_host, bits_host, t_host = (to_numpy(a).ravel().tolist() for a in (p, t_bits, t))  # Python floats
bernoulli = math.prod(pi if ti == 1.0 else 1 - pi for pi, ti in zip(p_host, bits_host))  # P(t | p)
gauss = math.prod(math.exp(-(ti - pi) ** 2 / (2 * sigma**2)) / math.sqrt(2 * math.pi * sigma**2)
                  for pi, ti in zip(p_host, t_host))  # p(t | p), a density
nll_bernoulli, nll_gauss = -math.log(bernoulli), -math.log(gauss)
from_bce = n * float(BCE().forward(p, t_bits))
from_mse = n / (2 * sigma**2) * float(MSE().forward(p, t)) + n / 2 * math.log(2 * math.pi * sigma**2)
print(f"Bernoulli: -log P = {nll_bernoulli:.12f}, n * BCE = {from_bce:.12f}")
print(f"Gaussian:  -log p = {nll_gauss:.12f}, n / (2 sigma^2) * MSE + const = {from_mse:.12f}")

# %%
# Check: each negative log-likelihood equals its loss, as derived; above 1e-12 means a wrong step.
assert abs(nll_bernoulli - from_bce) < 1e-12 * abs(nll_bernoulli), (nll_bernoulli, from_bce)
assert abs(nll_gauss - from_mse) < 1e-12 * abs(nll_gauss), (nll_gauss, from_mse)
print("BCE is the Bernoulli negative log-likelihood per pixel, MSE the Gaussian one up to scale and a constant")

# %% [markdown]
# ## Clipping at 0 and 1
#
# In float32 the library's Sigmoid returns exactly 0 for $z \le -20$ and exactly 1 for $z \ge 17.4$ (we measured
# it). If such a pixel's target is the other end, $\log 0 = -\infty$. Then one pixel makes the whole batch's
# loss infinite, and the gradient $1 / (p(1-p))$ divides by zero. The library clips $p$ to $[\epsilon, 1 - \epsilon]$ with
# $\epsilon = 10^{-7}$ first, as Keras does. Each pixel's loss is then at most $-\log \epsilon \approx 16.1$.
# Its gradient is huge (about $1/(n\epsilon)$), but finite.

# %%
p_edge = xp.asarray([0.0, 1.0, 0.5], dtype=xp.float32)
t_edge = xp.asarray([1.0, 0.0, 1.0], dtype=xp.float32)  # the first two are as wrong as they can be
with warnings.catch_warnings(record=True):
    warnings.simplefilter("ignore")  # log(0) warns "divide by zero" in NumPy
    print("unclipped:", float(bce(p_edge, t_edge)))
library_edge = BCE()
print("library:  ", float(library_edge.forward(p_edge, t_edge)))
print("gradient: ", library_edge.backward())

# %%
# Check: finite, and each wrong pixel costs about -log(1e-7) = 16.1 (float32 rounds 1 - 1e-7, hence 15.9 for one).
# The mean of 16.12, 15.94 and log 2 is about 10.9; an error above 1e-3 means the clip is not applied.
expected = (-np.log(1e-7) - np.log1p(-np.float32(1 - 1e-7)) + np.log(2)) / 3
assert abs(float(library_edge.forward(p_edge, t_edge)) - expected) < 1e-3 * expected
print(f"clipped BCE {float(library_edge.forward(p_edge, t_edge)):.4f}, expected {expected:.4f}")

# %% [markdown]
# ## Sigmoid and BCE together: $p - t$
#
# With $p = \sigma(z)$ at the output, the chain rule multiplies BCE's gradient by Sigmoid's, and the awkward
# denominator cancels:
#
# $$\frac{\partial\,\text{BCE}}{\partial z_i} = \frac1n\,\frac{p_i - t_i}{p_i(1-p_i)} \cdot p_i(1 - p_i) =
# \frac{p_i - t_i}{n}$$
#
# The library offers this as `BCE.backward_logits()`. It is cheaper, and it is also more accurate. A Sigmoid has
# *saturated* when its float32 output is exactly 0 or 1. There the two-step chain multiplies by $p(1-p) = 0$, and
# the gradient vanishes, even when the pixel is completely wrong. $p - t$ still says "move".

# %%
z32 = xp.asarray([-30.0, -5.0, 0.0, 5.0, 30.0], dtype=xp.float32)  # in float32, p is exactly 0 below -20
t32 = xp.asarray([1.0, 1.0, 1.0, 0.0, 0.0], dtype=xp.float32)  # the outer two: saturated at the wrong end
out_sigmoid, loss = Sigmoid(), BCE()
p32 = out_sigmoid.forward(z32)
loss.forward(p32, t32)
chained = out_sigmoid.backward(loss.backward())  # BCE's dL/dp, then Sigmoid's backward
fused = loss.backward_logits()  # (p - t) / n in one step
print("p:      ", p32)
print("chained:", chained)
print("fused:  ", fused)

# %%
# Check 1: where nothing saturates they agree to float32 rounding (expect about 1e-7; above 1e-5 is a bug).
assert rel_error(chained[1:4], fused[1:4]) < 1e-5
# Check 2: at the saturated ends the chain lost the gradient (exactly 0); p - t keeps it, 1/n in size.
assert float(chained[0]) == 0.0 and float(chained[4]) == 0.0
assert abs(float(fused[0]) + 1 / 5) < 1e-6 and abs(float(fused[4]) - 1 / 5) < 1e-6
# Check 3: in float64, away from saturation, backward_logits is the exact dL/dz (central differences of
# z -> BCE(sigmoid(z), t)); expect about 1e-10, above 1e-7 means a bug.
from scratchae import numerical_gradient

z64, t64 = xp.asarray(rng.uniform(-4, 4, size=(3, 5))), xp.asarray(rng.uniform(0, 1, size=(3, 5)))
loss64 = BCE()
loss64.forward(Sigmoid().forward(z64), t64)
fused64 = loss64.backward_logits()
numeric = numerical_gradient(lambda: float(BCE().forward(Sigmoid().forward(z64), t64)), z64)  # nudges z64
print(f"backward_logits vs central differences: relative error {rel_error(numeric, fused64):.1e}")
assert rel_error(numeric, fused64) < 1e-7

# %% [markdown]
# The autoencoder's training step uses the fused form: `model.backward(loss.backward_logits(), skip_last=True)`
# starts backprop below the output Sigmoid. You will see it in lesson 04.
#
# ## Your classes
#
# Now the four pieces become classes on the library's layer contract, as `Dense` did in lesson 01. An
# activation has empty `params` and `grads`; its `forward` keeps what `backward` needs (the mask, or the
# output). A loss has `forward(pred, target)`, which returns the mean loss, and `backward()`, which returns
# dL/dpred. Keep these classes: lesson 05 builds the autoencoder from them. (They take the chain rule through
# the Sigmoid, not the $p - t$ shortcut; lesson 05 shows that both give the same step.)

# %%
import scratchae as sa


class ReLU:
    """out = max(x, 0), element by element."""

    def __init__(self):
        self.params, self.grads = {}, {}
        self.mask = None

    def forward(self, x):
        self.mask = x > 0
        return xp.where(self.mask, x, 0.0)

    def backward(self, dout):
        return xp.where(self.mask, dout, 0.0)  # the gradient passes where x > 0


class Sigmoid:
    """out = 1 / (1 + exp(-x)), computed as (1 + tanh(x / 2)) / 2, which never overflows."""

    def __init__(self):
        self.params, self.grads = {}, {}
        self.out = None

    def forward(self, x):
        self.out = (1.0 + xp.tanh(x / 2.0)) / 2.0
        return self.out

    def backward(self, dout):
        return dout * self.out * (1.0 - self.out)


class BCE:
    """L = -mean(t log p + (1 - t) log(1 - p)), with p clipped to [eps, 1 - eps]."""

    def __init__(self, eps=1e-7):
        self.eps = eps
        self.p = self.t = None

    def forward(self, pred, target):
        self.p, self.t = xp.clip(pred, self.eps, 1.0 - self.eps), target
        return -xp.mean(target * xp.log(self.p) + (1.0 - target) * xp.log(1.0 - self.p))

    def backward(self):
        return (self.p - self.t) / (self.p * (1.0 - self.p)) / self.p.size  # dL/dpred, pred's shape


class MSE:
    """L = mean((pred - target)^2)."""

    def __init__(self):
        self.diff = None

    def forward(self, pred, target):
        self.diff = pred - target
        return xp.mean(self.diff**2)

    def backward(self):
        return 2.0 * self.diff / self.diff.size


agree = {}
for name, mine, theirs in (("ReLU", ReLU(), sa.ReLU()), ("Sigmoid", Sigmoid(), sa.Sigmoid())):
    agree[name] = max(rel_error(mine.forward(x), theirs.forward(x)),
                      rel_error(mine.backward(dout), theirs.backward(dout)))
for name, mine, theirs in (("BCE", BCE(), sa.BCE()), ("MSE", MSE(), sa.MSE())):
    agree[name] = max(rel_error(mine.forward(p, t), theirs.forward(p, t)),
                      rel_error(mine.backward(), theirs.backward()))
checks = {"ReLU": check_layer(ReLU(), x, rng=3), "Sigmoid": check_layer(Sigmoid(), x, rng=4),
          "BCE": check_loss(BCE(), p, t), "MSE": check_loss(MSE(), p, t)}
for name in agree:
    print(f"{name:8s} against the library {agree[name]:.1e}, "
          f"gradient check {max(c.error for c in checks[name].values()):.1e}")

# %%
# Check: each class agrees with the library's (expect about 1e-16; above 1e-12 means they differ) and passes
# the gradient check with a random dout (expect 1e-11 to 1e-8; above 1e-7 means a bug).
assert max(agree.values()) < 1e-12, agree
assert max(c.error for report in checks.values() for c in report.values()) < 1e-7
print("your ReLU, Sigmoid, BCE and MSE agree with the library's")

# %% [markdown]
# ## Try it
#
# 1. Write MSE's backward, $\partial\,\text{MSE}/\partial p$, for predictions `p` and targets `t` of any shape.
#    The cell compares it with central differences of `mse`.

# %%
from scratchae.exercises import try_it


def mse_backward(p, t):
    """p, t: same shape -> dL/dp, same shape, for L = mean((p - t) ** 2)."""
    raise NotImplementedError  # replace this line with your code


def check_mse_backward():
    p_try = xp.asarray(rng.uniform(0, 1, size=(3, 4)))
    numeric = numerical_gradient(lambda: float(mse(p_try, t[:3, :4])), p_try)
    error = rel_error(numeric, mse_backward(p_try, t[:3, :4]))
    assert error < 1e-7, f"relative error {error:.1e}: expect about 1e-10 (did you divide by the number of elements?)"


try_it("MSE backward", check_mse_backward)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def mse_backward(p, t):
#     """p, t: same shape -> dL/dp, same shape, for L = mean((p - t) ** 2)."""
#     return 2 * (p - t) / p.size  # the mean divides by every element, not just the batch
#
#
# def check_mse_backward():
#     p_try = xp.asarray(rng.uniform(0, 1, size=(3, 4)))
#     numeric = numerical_gradient(lambda: float(mse(p_try, t[:3, :4])), p_try)
#     error = rel_error(numeric, mse_backward(p_try, t[:3, :4]))
#     assert error < 1e-7, f"relative error {error:.1e}: expect about 1e-10 (did you divide by the number of elements?)"
#
#
# try_it("MSE backward", check_mse_backward)
# ```
#
# </details>
#
# 2. Put MSE behind the Sigmoid instead of BCE. What is $\partial\,\text{MSE}/\partial z$, and what happens to it
#    at the two saturated pixels above? Check your answer with `sa.Sigmoid` and `sa.MSE` from the library.
#
# <details><summary>Answer</summary>
#
# $\frac2n (p - t)\, p (1 - p)$: the factor $p(1-p)$ does not cancel. At a pixel saturated at the wrong end it is
# 0 (or tiny). So MSE through a Sigmoid learns slowly exactly where it is most wrong. BCE's $\log$ cancels that
# factor, and that is one reason BCE trains the MNIST autoencoder faster.
#
# </details>
#
# 3. Compute $-\log(1 - (1 - 10^{-7}))$ in float32 and in float64. Why does the clipped loss at $p = 1$, $t = 0$
#    come out as 15.9 and not 16.1 in float32?
#
# <details><summary>Answer</summary>
#
# Near 1, float32 numbers are $2^{-24} \approx 6 \times 10^{-8}$ apart, so $1 - 10^{-7}$ rounds to
# $1 - 2 \cdot 2^{-24} = 1 - 1.19 \times 10^{-7}$, and $-\log(1.19 \times 10^{-7}) = 15.94$. Near 0 there is no
# such problem: float32 holds $10^{-7}$ to 7 digits, so the $p = 0$, $t = 1$ pixel costs the full 16.12.
#
# </details>
