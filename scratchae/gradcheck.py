"""Gradient checking: compare hand-written backward passes with central-difference numerical gradients.

Use float64 throughout: with h = 1e-5 the rounding error of a float32 forward pass swamps the difference
quotient (a correct Dense layer shows ~1e-2 relative error in float32, ~1e-10 in float64). The upstream gradient
``dout`` is random, never all ones, so a backward that ignores ``dout`` cannot pass. Each check returns a dict
``name -> Check`` whose ``error`` should be about 1e-7 or less; ``assert_close(report)`` raises with the values.
"""
from dataclasses import dataclass

import numpy as np

from .backend import device_of, get_xp, make_rng, to_device, to_numpy


@dataclass(repr=False)
class Check:
    """One compared gradient: the relative error and the first few numerical and analytic values."""

    name: str
    error: float
    numeric: np.ndarray
    analytic: np.ndarray

    def __str__(self):
        return (f"{self.name}: rel error {self.error:.2e}  numeric {np.array2string(self.numeric[:4], precision=6)}"
                f"  analytic {np.array2string(self.analytic[:4], precision=6)}")

    __repr__ = __str__  # a report is a dict of Checks: printing it should read as the summary lines


def rel_error(a, b):
    """Relative error ||a - b|| / (||a|| + ||b||), 0 when both are 0.

    Norms over the whole gradient rather than a max over elements: entries whose true value is 0 (a dead ReLU)
    would otherwise turn harmless 1e-11 rounding noise into a large ratio.
    """
    a, b = np.asarray(to_numpy(a), dtype=np.float64), np.asarray(to_numpy(b), dtype=np.float64)
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def numerical_gradient(f, x, *, h=1e-5, indices=None):
    """Central differences (f(x + h e_i) - f(x - h e_i)) / 2h for each entry i of x (or each of ``indices``).

    f: a function of no arguments returning a float that reads x; x is changed in place and restored.
    Returns a NumPy array: x's shape, or one value per index when ``indices`` (tuples into x) is given.
    """
    if x.dtype != get_xp(x).float64:
        raise TypeError(f"numerical gradients need float64 arrays, got {x.dtype}: build the layer with dtype='float64'")
    todo = list(np.ndindex(*x.shape)) if indices is None else list(indices)
    grad = np.empty(len(todo))
    for k, idx in enumerate(todo):
        old = float(x[idx])
        x[idx] = old + h
        f_plus = f()
        x[idx] = old - h
        f_minus = f()
        x[idx] = old  # restore exactly: the next entry must see the original x
        grad[k] = (f_plus - f_minus) / (2 * h)
    return grad.reshape(tuple(x.shape)) if indices is None else grad


def _sample(shape, max_entries, rng):
    """All indices of an array of ``shape``, or ``max_entries`` of them drawn without replacement."""
    size = int(np.prod(shape))
    if max_entries is None or size <= max_entries:
        return list(np.ndindex(*shape))
    flat = rng.choice(size, size=max_entries, replace=False)
    return [tuple(int(i) for i in np.unravel_index(j, shape)) for j in flat]


def _compare(name, f, x, analytic, h, max_entries, rng):
    indices = _sample(tuple(x.shape), max_entries, rng)
    numeric = numerical_gradient(f, x, h=h, indices=indices)
    host = to_numpy(analytic)
    picked = np.array([host[idx] for idx in indices])
    return Check(name, rel_error(numeric, picked), numeric, picked)


def random_like(a, rng=None):
    """A standard-normal array with ``a``'s shape, dtype and device (drawn on the host from ``rng``)."""
    xp = get_xp(a)
    host = make_rng(rng).standard_normal(tuple(a.shape))
    return to_device(host, xp, device_of(a), a.dtype)


def check_layer(layer, x, *, dout=None, rng=None, h=1e-5, max_entries=None):
    """Check a layer's dx and every parameter gradient against f = sum(forward(x) * dout), dout random.

    Returns {"x": Check, "W": Check, ...}. ``max_entries`` caps how many entries of each array are probed.
    """
    rng = make_rng(rng)
    xp = get_xp(x)
    out = layer.forward(x)
    dout = random_like(out, rng) if dout is None else dout
    analytic = {"x": layer.backward(dout), **dict(layer.grads)}

    def f():
        return float(xp.sum(layer.forward(x) * dout))

    report = {"x": _compare("x", f, x, analytic["x"], h, max_entries, rng)}
    for name, param in layer.params.items():
        report[name] = _compare(name, f, param, analytic[name], h, max_entries, rng)
    return report


def check_loss(loss, pred, target, *, h=1e-5):
    """Check a loss's dpred against numerical differences of forward(pred, target). Returns {"pred": Check}."""
    loss.forward(pred, target)
    dpred = loss.backward()
    return {"pred": _compare("pred", lambda: float(loss.forward(pred, target)), pred, dpred, h, None, None)}


def check_model(model, loss, x, target, *, rng=None, h=1e-5, max_entries=20):
    """Check every parameter gradient of ``model`` end to end through ``loss``, plus dx.

    f = loss(model.forward(x), target); up to ``max_entries`` entries of each array are probed.
    Returns {"x": Check, "encoder.0.W": Check, ...}.
    """
    rng = make_rng(rng)
    # A private copy: x is nudged in place below, and an autoencoder's target is often x itself.
    target = get_xp(target).asarray(target, copy=True)
    loss.forward(model.forward(x), target)
    dx = model.backward(loss.backward())
    grads = {name: g for name, _, g in model.named_params()}

    def f():
        return float(loss.forward(model.forward(x), target))

    report = {"x": _compare("x", f, x, dx, h, max_entries, rng)}
    for name, param, _ in model.named_params():
        report[name] = _compare(name, f, param, grads[name], h, max_entries, rng)
    return report


def worst(report):
    """The largest relative error in a report."""
    return max(check.error for check in report.values())


def assert_close(report, tol=1e-7):
    """Raise AssertionError listing every check whose relative error exceeds ``tol``, with its values."""
    bad = [str(check) for check in report.values() if not check.error <= tol]
    if bad:
        raise AssertionError(f"gradient check failed (tolerance {tol:.0e}):\n" + "\n".join(bad))
