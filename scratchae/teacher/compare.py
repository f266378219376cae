"""What every check shares: reading the child's raw arrays safely, comparing them, the library's forwards.

Values: |a - b| <= 1e-9 + 1e-7 |b| elementwise. Gradients: rel_error (norms over the array) <= 1e-7 in float64.
A numerical gradient comes from forward values at x + h e_i and x - h e_i: d(sum(f(x) * dout))/dx_i.
"""
from dataclasses import dataclass, field

import numpy as np

import scratchae as sa
from scratchae.gradcheck import rel_error

TOL_GRAD = 1e-7


class Missing(Exception):
    """The child delivered no usable array for a check: (key, why)."""


@dataclass
class Result:
    """One rubric row: points earned of max, pass/fail, and what to tell the student (language-neutral parts)."""

    name: str
    points: float
    max: float
    status: str  # "pass" | "fail" | "warn"
    notes: list = field(default_factory=list)  # (template key, values) pairs; feedback renders them
    mistakes: list = field(default_factory=list)  # catalogue ids that match the student's outputs


def need(raw, key, shape=None):
    """raw[key] as a finite float64 array of ``shape``, or raise Missing saying why not."""
    group = key.split(".")[0]
    if key not in raw:
        why = str(raw.get(f"{group}.error", "")) or "not delivered (the process stopped before this check)"
        raise Missing(key, why)
    value = raw[key]
    if value.dtype.kind not in "fiub":
        raise Missing(key, f"not numbers ({value.dtype})")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise Missing(key, f"shape {tuple(value.shape)}, expected {tuple(shape)}")
    value = value.astype(np.float64)
    if not np.all(np.isfinite(value)):
        raise Missing(key, "contains nan or inf")
    return value


def worst_entry(a, b):
    """(index, a[index], b[index]) where |a - b| is largest."""
    i = np.unravel_index(int(np.argmax(np.abs(a - b))), a.shape) if a.ndim else ()
    return tuple(int(k) for k in i), float(a[i]), float(b[i])


def values_note(key, yours, expected):
    """None when yours matches expected elementwise, else a note naming the worst entry."""
    if np.all(np.abs(yours - expected) <= 1e-9 + 1e-7 * np.abs(expected)):
        return None
    index, a, b = worst_entry(yours, expected)
    return ("values", {"key": key, "index": index, "yours": a, "expected": b}) if index else \
        ("value", {"key": key, "yours": a, "expected": b})


def gradient_note(key, analytic, numeric):
    error = rel_error(analytic, numeric)
    if error <= TOL_GRAD:
        return None
    index, a, b = worst_entry(analytic, numeric)
    return ("gradient", {"key": key, "error": error, "index": index, "yours": a, "expected": b})


def numeric_from_outputs(out_pert, dout, shape, h):
    """Central differences of sum(f * dout) from f at x + h e_i (first half) and x - h e_i (second half)."""
    f = np.sum(out_pert * dout, axis=tuple(range(1, out_pert.ndim))) if dout is not None else out_pert
    n = f.shape[0] // 2
    return ((f[:n] - f[n:]) / (2 * h)).reshape(shape)


def library_layer(kind, W=None, b=None):
    if kind == "Dense":
        layer = sa.Dense(W.shape[0], W.shape[1], rng=0, dtype="float64")
        layer.params["W"], layer.params["b"] = W.copy(), b.copy()
        return layer
    return {"ReLU": sa.ReLU, "Sigmoid": sa.Sigmoid, "BCE": sa.BCE, "MSE": sa.MSE}[kind]()


def library_forward(kind, *args, W=None, b=None):
    return np.asarray(library_layer(kind, W, b).forward(*args), dtype=np.float64)


def run(check, name, points):
    """Call check() -> (points, notes); a Missing output gives 0 and says which output and why."""
    try:
        earned, notes = check()
    except Missing as err:
        key, why = err.args
        return Result(name, 0.0, points, "fail", [("missing", {"key": key, "why": why})])
    return Result(name, float(earned), points, "pass" if earned == points else "fail", [n for n in notes if n])



def library_note(own, notes):
    """Say that the library's forward stood in, where the student's was wrong and a gradient was compared."""
    return None if own or not any(n and n[0] == "gradient" for n in notes) else ("library_forward", {})
