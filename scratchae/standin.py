"""A test tool, not a user feature: array_api_strict dressed as a GPU, so code is tried on a device path here.

CuPy puts every array it creates on the current GPU, and refuses to turn one into a NumPy array behind your back
("Implicit conversion to a NumPy array is not allowed"). This namespace does the same with array_api_strict: every
creation function (asarray, zeros, arange, ...) called without a device puts its array on ``Device("device1")``,
where np.asarray, float() on a non-0-d array and mixing with CPU arrays raise. Only ``backend.to_numpy`` brings an
array back. Set ``SCRATCHAE_BACKEND=standin`` and ``pick_xp()`` and ``gpu_xp()`` return it (see backend.py).
"""
import functools
import types

import array_api_strict

API_VERSION = "2024.12"  # the standard version the library is held to (as in tests/conftest.py)
DEVICE = array_api_strict.Device("device1")
# Functions that make a new array from nothing (the *_like ones keep their argument's device, as in CuPy).
CREATORS = ("asarray", "arange", "empty", "eye", "full", "linspace", "ones", "zeros")


def _on_device(make):
    @functools.wraps(make)
    def create(*args, device=None, **kw):
        return make(*args, device=DEVICE if device is None else device, **kw)
    return create


def namespace():
    """array_api_strict's functions, with the creators defaulting to device1."""
    array_api_strict.set_array_api_strict_flags(api_version=API_VERSION)
    ns = types.ModuleType("standin", __doc__)
    for name in dir(array_api_strict):
        if not name.startswith("__") or name == "__array_namespace_info__":
            setattr(ns, name, getattr(array_api_strict, name))
    for name in ("linalg", "fft"):  # extensions that dir() does not list
        setattr(ns, name, getattr(array_api_strict, name))
    for name in CREATORS:
        setattr(ns, name, _on_device(getattr(array_api_strict, name)))
    ns.__array_api_version__ = API_VERSION
    return ns
