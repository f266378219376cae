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
# # 08 · The same code on a GPU
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/en/08_gpu.ipynb)
#
# Every layer, loss and optimizer in scratchae is written once. On a laptop it runs on NumPy; on a machine with
# an NVIDIA GPU (Colab's T4 included: *Runtime → Change runtime type → T4 GPU*) the very same lines run on CuPy.
# This notebook asks Colab for a GPU runtime; without one it runs on the CPU and says why. Plan 35 to 70 minutes,
# exercises included.
#
# You will learn
# - what `xp` is, and why the library never writes `np.` in its math;
# - to move the data to the device once, not once per batch;
# - why everything is float32, on purpose;
# - to time one epoch on the CPU and on the GPU.

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
# ## What `xp` is
#
# NumPy, CuPy and others implement one standard set of array functions, the
# [Python array API](https://data-apis.org/array-api/). An array knows which library made it, and
# `sa.get_xp(x)` returns that library's *namespace*: the module whose functions you call, like `np` for NumPy.
# Code that takes `xp` from its input and calls only standard functions on it runs wherever the input lives.
# A toy Sigmoid written that way:
#
# $$\sigma(x) = \tfrac12\big(1 + \tanh(x/2)\big)$$

# %%
import math
import time

import numpy as np

import scratchae as sa
from scratchae.backend import cpu_xp
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import init_output_bias
from scratchae.training import evaluate, train_step

N_TRAIN = 6000 if QUICK else 60000
BATCH, SEED = 256, 0


def sigmoid(x):
    xp = sa.get_xp(x)  # the namespace comes from the data, never from a global switch
    return 0.5 * (1.0 + xp.tanh(0.5 * x))


host = np.linspace(-4.0, 4.0, 5, dtype=np.float32)
on_device = sa.to_device(host, xp)  # a copy on the device the setup cell picked (a no-op move on the CPU)
for x in (host, on_device):
    print(f"{type(x).__module__}.{type(x).__name__:9s} xp = {sa.get_xp(x).__name__:22s} {sigmoid(x)}")

# %% [markdown]
# Without a GPU at hand, `array_api_strict` can stand in for one. It implements the standard and nothing else.
# Its arrays can live on a second device, `Device("device1")`. Like CuPy's arrays, they refuse to be mixed with
# arrays from elsewhere. The tests run the whole library on it. That is how we know the math has no NumPy-only
# call in it.
#
# A regular install does not bring `array_api_strict` (the test extra does). On Colab the cell below installs
# it: it is small. Elsewhere, if it is missing, the strict part and its check do not run, and the cell says so.

# %%
import importlib

try:
    import array_api_strict as strict
except ImportError:  # a regular install does not need it; the test extra brings it
    if "google.colab" in sys.modules:  # small and pure Python: install it, so the comparison runs on Colab too
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "array-api-strict>=2.2"], check=False)
        importlib.invalidate_caches()
    try:
        import array_api_strict as strict
    except ImportError:
        strict = None
        print("array_api_strict is not installed here, so the strict comparison does not run. "
              "To run it: pip install array-api-strict")

if strict is not None:
    far = sa.to_device(host, strict, strict.Device("device1"))
    print(f"{type(far).__module__}.{type(far).__name__} on {far.device}: {sigmoid(far)}")
    try:
        far + sa.to_device(host, strict)  # the same numbers, but on the default device
    except ValueError as err:
        print("mixing devices:", err)

# %% [markdown]
# **Check.** On every namespace at hand, the toy and the library's `Sigmoid` agree with NumPy's $1/(1+e^{-x})$,
# computed in float64. Expect differences of about 1e-8 to 1e-7 (float32 rounding); above 1e-5 means a wrong
# formula.

# %%
reference = 1.0 / (1.0 + np.exp(-host.astype(np.float64)))
arrays = {"NumPy": host}  # every namespace at hand, one array each
if xp is not cpu_xp:
    arrays["CuPy"] = on_device
if strict is not None:
    arrays["array_api_strict (device1)"] = far
for name, x in arrays.items():
    err = max(float(np.max(np.abs(sa.to_numpy(f(x)) - reference))) for f in (sigmoid, sa.Sigmoid().forward))
    print(f"{name:28s} toy and library: largest difference {err:.1e}")
    assert err < 1e-5

# %% [markdown]
# ## Move the data once
#
# A GPU computes fast, but its memory is separate from the host's (the CPU's) memory. Data reaches it over a bus,
# a slower link between the two. Copying a batch over the bus can take longer than computing with it. So the
# training set moves once, before training, and each minibatch is cut out on the device (`xp.take`). Compare
# moving every batch in one epoch with moving the whole set once. (Reading one number back, `float(...)`, makes
# the host wait until the device has finished. So the clock measures the work, not just the order to do it.)

# %%
x_train_host, _, x_test_host, _ = load("mnist")
x_train_host = x_train_host[:N_TRAIN]


def seconds(fn, repeat=3):
    """Best of ``repeat`` wall-clock times of fn() (fn must end by reading a value back)."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


once = seconds(lambda: float(sa.to_device(x_train_host, xp)[0, 0]))
per_batch = seconds(lambda: [float(sa.to_device(x_train_host[a:b], xp)[0, 0])
                             for a, b in batch_slices(N_TRAIN, BATCH)])
print(f"{N_TRAIN} images, {x_train_host.nbytes / 1e6:.0f} MB: moved once {once * 1e3:.2f} ms, "
      f"batch by batch {per_batch * 1e3:.2f} ms (every epoch)")

# %% [markdown]
# On the CPU both are nearly free (NumPy "moves" to where the data already is). On a GPU, moving batch by batch
# costs time again in every epoch and makes the GPU wait at every step. Moved once, the data stays there for all
# epochs.
#
# ## float32 on purpose
#
# Every array in training is float32: half the memory of float64, twice the numbers per memory access, and on
# most GPUs far more arithmetic (a T4 does about 8 TFLOP/s in float32 and 0.25 in float64). Gradient checks use
# float64, where rounding must not hide a wrong formula. The trap is a silent upgrade. A NumPy scalar such as
# `np.sqrt(2.0)` is a float64, and it turns a float32 array's result into float64. A Python float does not.

# %%
x32 = np.ones(3, dtype=np.float32)
print("float32 array * np.sqrt(2.0)   ->", (x32 * np.sqrt(2.0)).dtype)
print("float32 array * math.sqrt(2.0) ->", (x32 * math.sqrt(2.0)).dtype)

for dtype in ("float32", "float64"):
    a = sa.to_device(np.random.default_rng(0).random((1024, 1024)), xp, dtype=dtype)
    t = seconds(lambda: float((a @ a)[0, 0]))
    print(f"1024 x 1024 matrix product on {sa.backend.describe(xp)} in {dtype}: {t * 1e3:6.2f} ms")

# %% [markdown]
# The library refuses the mixture rather than computing in float64 behind your back:

# %%
layer = sa.Dense(784, 32, rng=SEED)  # float32 weights
try:
    layer.forward(np.ones((2, 784)))  # np.ones makes float64
except TypeError as err:
    print("TypeError:", err)

# %% [markdown]
# ## One epoch on each device
#
# The same function trains one epoch on any namespace. The weights are drawn with NumPy on the host and then
# moved, so every device starts from identical weights and sees identical batches. The first steps on a GPU
# also compile CuPy's *kernels* (a kernel is one small program that the GPU runs, such as one matrix product).
# A few warm-up steps keep that out of the timing.

# %%
def one_epoch(xp, device=None):
    """Train the reference model for one epoch on (xp, device); returns (seconds, test BCE)."""
    x_train = sa.to_device(x_train_host, xp, device)  # moved once
    x_test = sa.to_device(x_test_host, xp, device)
    model = sa.dense_autoencoder(rng=SEED, xp=xp, device=device)
    init_output_bias(model, sa.to_device(x_train_host.mean(axis=0), xp, device))
    optimizer, bce = sa.Adam(model, lr=1e-3), sa.BCE()
    warm = sa.dense_autoencoder(rng=SEED, xp=xp, device=device)
    for _ in range(3):  # warm-up on a throwaway model: compiles kernels, fills memory pools
        float(train_step(warm, bce, sa.Adam(warm), x_train[:BATCH, ...]))
    order = sa.to_device(epoch_order(N_TRAIN, SEED, 0), xp, device)
    start = time.perf_counter()
    for a, b in batch_slices(N_TRAIN, BATCH):
        loss = train_step(model, bce, optimizer, xp.take(x_train, order[a:b], axis=0))
    float(loss)  # reading the last loss back waits until the device has finished every step
    return time.perf_counter() - start, evaluate(model, bce, x_test)


results = {"CPU (NumPy)": one_epoch(cpu_xp)}
try:
    results["GPU (CuPy)"] = one_epoch(sa.gpu_xp())
except sa.GPUUnavailableError as err:
    print(f"no GPU run: {err.reason}")
for name, (secs, loss) in results.items():
    print(f"{name:12s} one epoch of {N_TRAIN} images: {secs:6.2f} s, {N_TRAIN / secs:8.0f} images/s, "
          f"test BCE {loss:.5f}")

# %% [markdown]
# **Check.** Both runs computed the same training. On a GPU the matrix products add their terms in another
# order. So the float32 results differ slightly, and the differences grow a little over an epoch. Expect the two
# test BCEs to agree to about 1e-5 or 1e-4 relative; above 1e-3 means the GPU path computes something else.
# Without a GPU, the same epoch on array_api_strict's second device must give exactly NumPy's result (it runs
# NumPy underneath, in the same order).

# %%
cpu_loss = results["CPU (NumPy)"][1]
if "GPU (CuPy)" in results:
    gpu_loss = results["GPU (CuPy)"][1]
    print(f"test BCE: CPU {cpu_loss:.7f}, GPU {gpu_loss:.7f}, rel. difference {abs(gpu_loss / cpu_loss - 1):.1e}")
    print(f"the GPU was {results['CPU (NumPy)'][0] / results['GPU (CuPy)'][0]:.1f}x faster")
    assert abs(gpu_loss / cpu_loss - 1) < 1e-3
elif strict is not None:
    strict_secs, strict_loss = one_epoch(strict, strict.Device("device1"))
    print(f"test BCE: NumPy {cpu_loss:.7f}, array_api_strict on device1 {strict_loss:.7f} ({strict_secs:.2f} s)")
    assert strict_loss == cpu_loss
else:
    print("no second backend here to compare with")

# %% [markdown]
# For a model this small, the GPU's advantage grows with the batch. At batch 256 a T4 spends much of each step
# waiting for Python to launch the next of its few hundred small kernels (Adam alone launches several per
# parameter array). On the command line, the same switch is one flag: `python -m scratchae.train --gpu`.
#
# ## Try it
#
# 1. Write a function that runs on any namespace: `softplus(x)` $= \log(1 + e^x)$, taking `xp` from `x` and
#    using only standard functions. The naive formula overflows in float32 for $x > 88$ and returns 0 for
#    $x < -17$; use $\log(1+e^x) = \max(x, 0) + \log(1 + e^{-|x|})$ and `xp.log1p`. The cell checks it on every
#    namespace at hand.

# %%
from scratchae.exercises import try_it


def softplus(x):
    """log(1 + exp(x)), elementwise, in x's own namespace and dtype, finite for every finite x."""
    raise NotImplementedError  # replace this line with your code


def check_softplus():
    host = np.array([-30.0, -5.0, 0.0, 3.0, 100.0], dtype=np.float32)
    reference = np.logaddexp(0.0, host.astype(np.float64))  # float64, computed another way
    for name, x in arrays.items():
        x = sa.to_device(host, sa.get_xp(x), sa.backend.device_of(x))
        out = softplus(x)
        assert sa.get_xp(out) is sa.get_xp(x), f"{name}: the result left x's namespace; use xp = sa.get_xp(x)"
        err = float(np.max(np.abs(sa.to_numpy(out) / reference - 1)))
        assert err < 1e-5, f"{name}: relative error {err:.1e} (expect about 1e-7): {sa.to_numpy(out)}"


try_it("softplus on every namespace", check_softplus)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def softplus(x):
#     """log(1 + exp(x)), elementwise, in x's own namespace and dtype, finite for every finite x."""
#     xp = sa.get_xp(x)
#     relu = (x + xp.abs(x)) * 0.5  # max(x, 0) with standard functions only
#     return relu + xp.log1p(xp.exp(-xp.abs(x)))  # exp of a number <= 0 never overflows
#
#
# def check_softplus():
#     host = np.array([-30.0, -5.0, 0.0, 3.0, 100.0], dtype=np.float32)
#     reference = np.logaddexp(0.0, host.astype(np.float64))  # float64, computed another way
#     for name, x in arrays.items():
#         x = sa.to_device(host, sa.get_xp(x), sa.backend.device_of(x))
#         out = softplus(x)
#         assert sa.get_xp(out) is sa.get_xp(x), f"{name}: the result left x's namespace; use xp = sa.get_xp(x)"
#         err = float(np.max(np.abs(sa.to_numpy(out) / reference - 1)))
#         assert err < 1e-5, f"{name}: relative error {err:.1e} (expect about 1e-7): {sa.to_numpy(out)}"
#
#
# try_it("softplus on every namespace", check_softplus)
# ```
#
# </details>
#
# 2. Time one epoch at batch sizes 64, 256 and 1024 on each device (change `BATCH` and rerun `one_epoch`).
#    Where does the GPU pull ahead, and why?
#
# <details><summary>Answer</summary>
#
# The CPU's time per image changes little with the batch. The GPU's falls steeply, because a step's cost on a
# GPU is mostly launching its few hundred kernels, whatever their size. At batch 64 the GPU can even lose to the
# CPU; at 1024 it wins by a wide margin.
#
# </details>
#
# 3. Change `one_epoch` to move each batch from the host inside the loop instead of moving the data once, and
#    train in float64 (`dtype="float64"` in `dense_autoencoder`, float64 data). How much slower is each?
#
# <details><summary>Answer</summary>
#
# Moving every batch costs little on the CPU and noticeably on the GPU (a copy over the bus and a wait at every
# step). float64 costs about 2x on the CPU and far more on a T4, whose float64 arithmetic is 1/32 of its float32.
#
# </details>
