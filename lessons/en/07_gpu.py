# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     gpuType: T4
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · The same code on a GPU
#
# BADGE
#
# Every layer, loss and optimizer in scratchae is written once. On a laptop it runs on NumPy; on a machine with
# an NVIDIA GPU (Colab's T4 included: *Runtime → Change runtime type → T4 GPU*) the very same lines run on CuPy.
# This notebook asks Colab for a GPU runtime; without one it runs on the CPU and says why.
#
# **You will learn**
# - what `xp` is, and why the library never writes `np.` in its math;
# - to move the data to the device once, not once per batch;
# - why everything is float32, on purpose;
# - to time one epoch on the CPU and on the GPU.

# %%
# SETUP placeholder: replaced by lesson 01's setup cell after the merge
from scratchae.backend import cpu_xp as xp

# %% [markdown]
# ## What `xp` is
#
# NumPy, CuPy and others implement one standard set of array functions, the
# [Python array API](https://data-apis.org/array-api/). An array knows which library made it, and
# `sa.get_xp(x)` returns that library's namespace. Code that takes `xp` from its input and calls only
# standard functions on it runs wherever the input lives. A toy Sigmoid written that way:
#
# $$\sigma(x) = \tfrac12\big(1 + \tanh(x/2)\big)$$

# %%
import math
import os
import time

import numpy as np

import scratchae as sa
from scratchae.backend import cpu_xp
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import init_output_bias
from scratchae.training import evaluate, train_step

QUICK = os.environ.get("SCRATCHAE_QUICK") == "1"
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
# Without a GPU at hand, `array_api_strict` plays one: an implementation of the standard with nothing else in it,
# whose arrays can live on a second device, `Device("device1")`. Like CuPy's, they refuse to be mixed with
# arrays from elsewhere. The tests run the whole library on it, which is how we know the math has no NumPy-only
# call hiding in it.

# %%
try:
    import array_api_strict as strict
except ImportError:  # a regular install does not need it; the test extra brings it
    strict = None
    print("array_api_strict is not installed here (pip install array-api-strict); skipping it")

if strict is not None:
    far = sa.to_device(host, strict, strict.Device("device1"))
    print(f"{type(far).__module__}.{type(far).__name__} on {far.device}: {sigmoid(far)}")
    try:
        far + sa.to_device(host, strict)  # the same numbers, but on the default device
    except ValueError as err:
        print("mixing devices:", err)

# %% [markdown]
# **Check.** The toy and the library's `Sigmoid` agree with NumPy's $1/(1+e^{-x})$ in float64 on every
# namespace at hand. Expect differences of about 1e-7 (float32 rounding); above 1e-5 means a wrong formula.

# %%
reference = 1.0 / (1.0 + np.exp(-host.astype(np.float64)))
arrays = {"numpy": host, sa.get_xp(on_device).__name__: on_device}
if strict is not None:
    arrays["array_api_strict (device1)"] = far
for name, x in arrays.items():
    err = max(float(np.max(np.abs(sa.to_numpy(f(x)) - reference))) for f in (sigmoid, sa.Sigmoid().forward))
    print(f"{name:28s} largest difference {err:.1e}")
    assert err < 1e-5

# %% [markdown]
# ## Move the data once
#
# A GPU computes fast but sits at the end of a bus: copying from the host's memory costs time, and the copy of
# a batch is as slow as the batch's matrix products are fast. So the training set moves once, before training,
# and each minibatch is cut out on the device (`xp.take`). Compare moving every batch in one epoch with moving
# the whole set once. (Reading one number back, `float(...)`, makes the host wait until the device has finished,
# so the clock measures the work and not just the order to do it.)

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
print(f"{N_TRAIN} images, {x_train_host.nbytes / 1e6:.0f} MB: moved once {once * 1e3:.1f} ms, "
      f"batch by batch {per_batch * 1e3:.1f} ms (every epoch)")

# %% [markdown]
# On the CPU both are nearly free (NumPy "moves" to where the data already is). On a GPU, batch by batch is
# paid again every epoch and stalls the GPU at every step; moved once, the data stays there for all epochs.
#
# ## float32 on purpose
#
# Every array in training is float32: half the memory of float64, twice the numbers per memory access, and on
# most GPUs far more arithmetic (a T4 does about 8 TFLOP/s in float32 and 0.25 in float64). Gradient checks use
# float64, where rounding must not hide a wrong formula. The trap is a silent upgrade: a NumPy scalar such as
# `np.sqrt(2.0)` is a float64 and drags a float32 array up with it, while a Python float does not.

# %%
x32 = np.ones(3, dtype=np.float32)
print("float32 array * np.sqrt(2.0)   ->", (x32 * np.sqrt(2.0)).dtype)
print("float32 array * math.sqrt(2.0) ->", (x32 * math.sqrt(2.0)).dtype)

for dtype in ("float32", "float64"):
    a = sa.to_device(np.random.default_rng(0).random((1024, 1024)), xp, dtype=dtype)
    t = seconds(lambda: float((a @ a)[0, 0]))
    print(f"1024 x 1024 matrix product in {dtype}: {t * 1e3:6.2f} ms")

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
# also compile CuPy's kernels; a few warm-up steps keep that out of the timing.

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
        train_step(warm, bce, sa.Adam(warm), x_train[:BATCH, ...])
    order = sa.to_device(epoch_order(N_TRAIN, SEED, 0), xp, device)
    start = time.perf_counter()
    for a, b in batch_slices(N_TRAIN, BATCH):
        train_step(model, bce, optimizer, xp.take(x_train, order[a:b], axis=0))  # returns a float: waits
    return time.perf_counter() - start, evaluate(model, bce, x_test)


results = {"CPU (NumPy)": one_epoch(cpu_xp)}
try:
    results["GPU (CuPy)"] = one_epoch(sa.gpu_xp())
except sa.GPUUnavailableError as err:
    print("no GPU run:", err)
for name, (secs, loss) in results.items():
    print(f"{name:12s} one epoch of {N_TRAIN} images: {secs:6.2f} s, {N_TRAIN / secs:8.0f} images/s, "
          f"test BCE {loss:.5f}")

# %% [markdown]
# **Check.** Both runs computed the same training. On a GPU the matrix products add their terms in another
# order, so the float32 results differ slightly, and the differences grow a little over an epoch: expect the
# two test BCEs to agree to about 1e-5 relative; above 1e-3 means the GPU path computes something else. Without
# a GPU, the same epoch on array_api_strict's second device must give exactly NumPy's result (it runs NumPy
# underneath, in the same order).

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
# For a model this small, the GPU's advantage grows with the batch: at batch 256 a T4 spends much of each step
# waiting for Python to launch the next of its about 60 small kernels. On the command line, the same switch is
# one flag: `python -m scratchae.train --gpu`.
#
# ## Try it
#
# 1. Time one epoch at batch sizes 64, 256 and 1024 on each device. Where does the GPU pull ahead, and why?
#    Use the stub below.
# 2. Change `one_epoch` to move each batch from the host inside the loop (`sa.to_device(x_train_host[...], xp)`)
#    instead of moving the data once. How much slower is the GPU epoch?
# 3. Run `one_epoch` with `dtype="float64"` in `dense_autoencoder` and float64 data. How much slower is it on
#    each device? (On a T4, a lot.)

# %%
# EXERCISE
