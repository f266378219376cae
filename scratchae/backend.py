"""The array-module switch: where arrays live (NumPy on the CPU, CuPy on a CUDA GPU) and how they move.

Math code never imports numpy or cupy. It asks an array for its namespace, ``xp = get_xp(x)``, and calls only
functions of the Python array API standard on ``xp``, so one code path runs on NumPy, CuPy and array_api_strict.
This module is the one place that knows the concrete libraries: it builds host random numbers with NumPy, moves
arrays to a device, and brings them back to NumPy for saving and plotting.
"""
import os

import array_api_compat
import numpy as np

# The array_api_compat wrapper of NumPy: plain numpy.ndarray objects, standard-conforming function names.
cpu_xp = array_api_compat.array_namespace(np.empty(0))


class GPUUnavailableError(RuntimeError):
    """Raised when the GPU is asked for but CuPy or a CUDA device is missing; ``reason`` says which in a few words."""

    def __init__(self, message, reason="no usable GPU"):
        super().__init__(message)
        self.reason = reason


BACKEND_ENV = "SCRATCHAE_BACKEND"  # "standin": a test tool that puts array_api_strict where CuPy would be
_standin = None  # the stand-in namespace once the switch has been read (see standin.py)


def get_xp(*arrays):
    """Return the array API namespace of ``arrays`` (``array_api_compat.array_namespace``); raises on mixed kinds."""
    xp = array_api_compat.array_namespace(*arrays)
    if _standin is not None and xp.__name__ == "array_api_strict":
        return _standin  # its creators default to the stand-in device, as CuPy's to the current GPU
    return xp


def standin_xp():
    """The GPU stand-in namespace where ``$SCRATCHAE_BACKEND`` is "standin" (a test tool), else None."""
    global _standin
    if os.environ.get(BACKEND_ENV) != "standin":
        return None
    if _standin is None:
        from .standin import namespace
        _standin = namespace()
    return _standin


def gpu_xp():
    """Return the CuPy namespace, or raise GPUUnavailableError that says what is missing and how to use the CPU.

    With the test switch ``SCRATCHAE_BACKEND=standin`` it returns the array_api_strict stand-in instead.
    """
    if standin_xp() is not None:
        return _standin
    try:
        import cupy
    except ImportError as err:
        raise GPUUnavailableError(
            f"--gpu needs CuPy, which is not installed ({err}); install it with `pip install -e .[gpu]` "
            "on a machine with an NVIDIA GPU and CUDA 12, or drop --gpu to run on the CPU",
            reason="CuPy is not installed",
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CuPy raises its own CUDA runtime errors when no driver is present
        raise GPUUnavailableError(
            f"--gpu found CuPy but no usable CUDA device ({err}); drop --gpu to run on the CPU",
            reason=f"CuPy is installed but finds no usable CUDA device: {err}",
        ) from None
    if count < 1:
        raise GPUUnavailableError("--gpu found CuPy but no CUDA device; drop --gpu to run on the CPU",
                                  reason="CuPy is installed but finds no CUDA device")
    try:  # allocate and run one tiny kernel, read back: a device seen but unusable fails here, not in a step
        probe = (cupy.arange(3) * 2).sum()
        value = int(probe.get())  # the read waits for the kernel, so a launch failure surfaces now
        if value != 6:
            raise RuntimeError(f"(arange(3) * 2).sum() gave {value}, not 6")
        return array_api_compat.array_namespace(probe)
    except Exception as err:  # out of memory, a driver too old for CuPy's kernels, a busy or broken device, ...
        raise GPUUnavailableError(
            f"--gpu found a CUDA device but could not allocate or run a kernel on it ({err}); "
            "drop --gpu to run on the CPU",
            reason=f"CuPy sees a CUDA device but cannot allocate or run a kernel on it: {err}",
        ) from None


def pick_xp():
    """Return ``(xp, message)``: CuPy where ``gpu_xp()`` works, else NumPy, and one line saying which and why."""
    if standin_xp() is not None:
        return _standin, "using the array_api_strict GPU stand-in on device1 (a test tool: $SCRATCHAE_BACKEND)"
    try:
        return gpu_xp(), "using CuPy on the GPU"
    except GPUUnavailableError as err:
        return cpu_xp, f"using NumPy on the CPU ({err.reason})"


def resolve_dtype(xp, dtype):
    """Turn a dtype name such as ``"float32"`` (or a dtype object) into ``xp``'s dtype object."""
    if isinstance(dtype, str):
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        return getattr(xp, dtype)
    return dtype


def make_rng(rng=None):
    """Return a ``numpy.random.Generator``: ``rng`` itself, one seeded with the int ``rng``, or a fresh one for None."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def to_device(host, xp=None, device=None, dtype=None):
    """Copy a host (NumPy) array onto ``xp``'s ``device`` (default: NumPy on the CPU), optionally casting."""
    xp = cpu_xp if xp is None else xp
    host = np.asarray(host)
    out = xp.asarray(host, device=device) if device is not None else xp.asarray(host)
    if dtype is not None:
        out = xp.astype(out, resolve_dtype(xp, dtype), copy=False)
    return out


def to_numpy(a):
    """Return ``a`` as a NumPy array, copying it off its device if needed (CuPy, array_api_strict, ...)."""
    if isinstance(a, np.ndarray):
        return a
    if array_api_compat.is_cupy_array(a):
        return a.get()
    xp = get_xp(a)
    # Move to the namespace's default (host) device first: devices that refuse implicit transfers allow this one.
    host = a.to_device(xp.__array_namespace_info__().default_device())
    return np.asarray(host)


def device_of(a):
    """Return the device an array lives on (``array_api_compat.device``)."""
    return array_api_compat.device(a)


def describe(xp):
    """One short name for a namespace, for logs and config files: 'numpy', 'cupy', 'array_api_strict', ..."""
    return xp.__name__.split(".")[-1]
