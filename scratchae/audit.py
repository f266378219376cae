"""A test tool, not a user feature: array_api_strict dressed as a strict GPU that counts the work of a step.

``namespace()`` returns an array namespace whose arrays wrap array_api_strict arrays on ``Device("device1")`` (as
standin.py's do). Inside ``ns.audit.step()`` they refuse what makes CuPy wait for the device: boolean-mask indexing
and other data-dependent shapes (array_api_strict's own flag), and any host conversion (float(), int(), bool(),
np.asarray, backend.to_numpy), and the functions in CUPY_SYNCS, which synchronise on CuPy only; each refusal
raises SyncError naming the call. Everywhere they count:

- ``ops``: the operations that would launch a kernel on CuPy, one per namespace call or operator that makes or
  writes array data (a product is one cuBLAS call, a reduction one kernel). Free, because CuPy launches nothing
  for them: reading shape, dtype or device, and any call whose result is a view of an argument (reshape of a
  contiguous array, .T, permute_dims, basic slicing, expand_dims, astype to the same dtype without a copy),
  which the underlying NumPy arrays tell by sharing memory. In-place operators and item assignment always count.
- ``uploads``: host-to-device copies (asarray of host data), such as noise drawn on the host.
- ``reads``: device-to-host copies outside a step, such as the loop's deliberate read of the losses.

The counts are a model of a GPU's launches, not a measurement: a CuPy call may launch more than one kernel.
"""
import contextlib
import functools
import types
from collections import Counter

import array_api_strict
import numpy as np

from .standin import API_VERSION, CREATORS, DEVICE

_Raw = type(array_api_strict.asarray(0.0))  # array_api_strict's array class (not exported by name)
HOST = array_api_strict.Device("CPU_DEVICE")
INPLACE = ("__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__", "__ipow__",
           "__imatmul__", "__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__")
OPERATORS = tuple(f"__{r}{op}__" for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and",
                                             "or", "xor", "lshift", "rshift") for r in ("", "r"))
OPERATORS += tuple(f"__{op}__" for op in ("neg", "pos", "abs", "invert", "lt", "le", "gt", "ge", "eq", "ne"))
HOST_CONVERSIONS = ("__float__", "__int__", "__bool__", "__index__", "__complex__", "__array__", "__dlpack__")
# Functions that NumPy and array_api_strict run in one pass but that array_api_compat 1.16's CuPy namespace (what
# backend.gpu_xp returns) builds on boolean-mask assignment, out[mask] = ..., for which CuPy reads the mask's count
# of True back to the host (cupy/_core/_routines_indexing.pyx, _prepare_mask_indexing_single).
CUPY_SYNCS = {
    "clip": "xp.clip (array_api_compat's CuPy clip assigns through boolean masks); use minimum(maximum(x, lo), hi)",
    "sign": "xp.sign (array_api_compat's CuPy sign sets NaNs through a boolean mask); compare with 0 instead",
}


class SyncError(RuntimeError):
    """Something inside a step would make CuPy wait for the device (a host read or a data-dependent shape)."""


class Audit:
    """The counts of one namespace and whether a step is running (see the module docstring for what counts)."""

    def __init__(self):
        self.in_step = False
        self.reset()

    def reset(self):
        self.ops, self.uploads, self.reads = 0, 0, 0
        self.by_name = Counter()  # op name -> count, for reading where a step's work goes

    def count(self, name):
        self.ops += 1
        self.by_name[name] += 1

    def refuse(self, what):
        if self.in_step:
            raise SyncError(f"{what} inside a training step: on CuPy it waits for the device")

    @contextlib.contextmanager
    def step(self):
        """Run a step in here: host conversions and data-dependent shapes raise SyncError."""
        self.in_step = True
        try:
            with array_api_strict.ArrayAPIStrictFlags(data_dependent_shapes=False):
                yield self
        finally:
            self.in_step = False

    def wrap_step(self, step):
        """step(xb, rng) run inside self.step(), for fit.fit."""
        @functools.wraps(step)
        def audited(*args, **kw):
            with self.step():
                return step(*args, **kw)
        return audited


def _unwrap(x):
    if isinstance(x, Counted):
        return x._raw
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    return x


def _raw_arrays(args, kw):
    found = []
    for v in (*args, *kw.values()):
        if isinstance(v, Counted):
            found.append(v)
        elif isinstance(v, (list, tuple)):
            found += [a for a in v if isinstance(a, Counted)]
    return found


def _has_mask(key):
    """True where an index holds a boolean array (alone or in a tuple): its result's shape depends on the data."""
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, Counted) and k.dtype == array_api_strict.bool for k in keys)


def _is_view(out, inputs):
    """True where the result's data is an argument's data (a view, or the argument itself): no kernel on CuPy."""
    return any(np.may_share_memory(out._array, a._raw._array) for a in inputs)


class Counted:
    """An array_api_strict array that counts its operations and refuses host reads inside a step."""

    __slots__ = ("_raw", "_ns")

    def __init__(self, raw, ns):
        self._raw, self._ns = raw, ns

    def _wrap(self, out, name, inputs, always=False):
        return self._ns._wrap(out, name, inputs, always)

    def __array_namespace__(self, api_version=None):
        return self._ns

    def __repr__(self):
        return f"Counted({self._raw!r})"

    shape = property(lambda self: self._raw.shape)
    dtype = property(lambda self: self._raw.dtype)
    ndim = property(lambda self: self._raw.ndim)
    size = property(lambda self: self._raw.size)
    device = property(lambda self: self._raw.device)
    T = property(lambda self: self._wrap(self._raw.T, "T", [self]))
    mT = property(lambda self: self._wrap(self._raw.mT, "mT", [self]))

    def to_device(self, device, /, stream=None):
        if device == HOST:  # backend.to_numpy's way off the device: the one sanctioned read
            self._ns.audit.refuse("a copy to the host (to_numpy)")
            self._ns.audit.reads += 1
            return self._raw.to_device(device)
        return self._wrap(self._raw.to_device(device), "to_device", [self])

    def __getitem__(self, key):
        if _has_mask(key):
            self._ns.audit.refuse("boolean-mask indexing")
        return self._wrap(self._raw[_unwrap(key)], "getitem", [self])

    def __setitem__(self, key, value):
        if _has_mask(key):
            self._ns.audit.refuse("boolean-mask assignment")
        self._raw[_unwrap(key)] = _unwrap(value)
        self._ns.audit.count("setitem")

    def __iter__(self):
        raise TypeError("iterating over an array reads it element by element; index it instead")


def _operator(name):
    def op(self, *args):
        out = getattr(self._raw, name)(*_unwrap(args))
        if out is NotImplemented:
            return out
        return self._wrap(out, name.strip("_"), [self, *_raw_arrays(args, {})], always=True)
    return op


def _inplace(name):
    def op(self, other):
        out = getattr(self._raw, name)(_unwrap(other))
        if out is NotImplemented:
            return out
        self._raw = out  # the same data, written in place
        self._ns.audit.count(name.strip("_"))
        return self
    return op


def _host_conversion(name):
    def convert(self, *args, **kw):
        self._ns.audit.refuse(f"{name}() of a device array")
        self._ns.audit.reads += 1
        return getattr(self._raw, name)(*args, **kw)
    return convert


for _name in OPERATORS:
    setattr(Counted, _name, _operator(_name))
for _name in INPLACE:
    setattr(Counted, _name, _inplace(_name))
for _name in HOST_CONVERSIONS:
    setattr(Counted, _name, _host_conversion(_name))


def _function(ns, name, make):
    @functools.wraps(make)
    def call(*args, **kw):
        if name in CUPY_SYNCS:
            ns.audit.refuse(CUPY_SYNCS[name])
        if name in CREATORS and kw.get("device") is None:
            kw["device"] = DEVICE  # creators land on the device, as CuPy's on the current GPU
        inputs = _raw_arrays(args, kw)
        out = make(*_unwrap(args), **{k: _unwrap(v) for k, v in kw.items()})
        if name == "asarray" and not inputs and args and not isinstance(args[0], _Raw):
            ns.audit.uploads += 1  # host data (a NumPy array, a list, a Python number) copied to the device
            return ns._wrap(out, name, inputs, free=True)
        return ns._wrap(out, name, inputs, always=name in CREATORS and name != "empty")
    return call


def namespace():
    """A fresh counting namespace over array_api_strict, its creators on device1; its counts in ``ns.audit``."""
    array_api_strict.set_array_api_strict_flags(api_version=API_VERSION)
    ns = types.ModuleType("scratchae.audit.counted", "array_api_strict on device1, counting its operations")
    ns.audit = Audit()
    ns.__array_api_version__ = API_VERSION

    def wrap(out, name, inputs, always=False, free=False):
        if isinstance(out, (tuple, list)):
            return type(out)(wrap(o, name, inputs, always, free) for o in out)
        if not isinstance(out, _Raw):
            return out  # dtypes, finfo, Python numbers
        for a in inputs:
            if out is a._raw and not always:
                return a  # the argument itself (astype without a copy): the same object, no work
        if not free and (always or not _is_view(out, inputs)):
            ns.audit.count(name)
        return Counted(out, ns)
    ns._wrap = wrap

    for name in dir(array_api_strict):
        if name.startswith("__") and name != "__array_namespace_info__":
            continue
        value = getattr(array_api_strict, name)
        callable_fn = callable(value) and not isinstance(value, type) and name != "__array_namespace_info__"
        setattr(ns, name, _function(ns, name, value) if callable_fn and not name[0].isupper() else value)
    for ext in ("linalg", "fft"):  # extensions that dir() does not list
        module = getattr(array_api_strict, ext)
        sub = types.ModuleType(f"{ns.__name__}.{ext}")
        for name in dir(module):
            if not name.startswith("_") and callable(getattr(module, name)):
                setattr(sub, name, _function(ns, f"{ext}.{name}", getattr(module, name)))
        setattr(ns, ext, sub)
    return ns
