"""The checks and their points, computed in the grader's process from the child's raw arrays and the library.

Forward values are compared with the library's layers on the same inputs (elementwise, |a - b| <= 1e-9 + 1e-7 |b|).
A backward is compared (rel_error <= 1e-7, float64) with the numerical gradient of the student's own forward,
from the forward values at x +- h e_i the child returned: d(sum(f(x) * dout))/dx_i. Where the student's forward
itself is wrong, the numerical gradient of the library's forward stands in, so a backward that matches a wrong
forward (a ReLU that returns zeros and a gradient of zeros) earns nothing. Adam is compared with Algorithm 1 of
Kingma & Ba (arXiv 1412.6980) written out below, over every step.
"""
from dataclasses import dataclass, field

import numpy as np

import scratchae as sa
from scratchae.gradcheck import rel_error

from . import probes

TOL_GRAD, TOL_ADAM = 1e-7, 1e-7
TRAIN_BOUND = 0.30  # BCE per pixel on the grader's test images after probes.TRAIN_STEPS steps; see RUBRIC's note
RUBRIC = (("ReLU.forward", 3), ("ReLU.backward", 5), ("Sigmoid.forward", 3), ("Sigmoid.backward", 5),
          ("Dense.forward", 5), ("Dense.backward", 12), ("BCE.forward", 5), ("BCE.backward", 8),
          ("MSE.forward", 3), ("MSE.backward", 4), ("Adam.step", 12), ("model.architecture", 8),
          ("model.end_to_end", 12), ("model.training", 15))


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
    return ("values", {"key": key, "index": index, "yours": a, "expected": b})


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


def forward_notes(inp, raw, kind, key, extra=()):
    """Notes for the forward values at x (and at the large |x| of ``extra``) against the library's."""
    x = inp[f"{key}.x"]
    notes = [values_note(f"{key}.out", need(raw, f"{key}.out", x.shape), library_forward(kind, x))]
    for name in extra:  # Sigmoid at large |x|: where exp overflows
        xl = inp[f"{key}.x_large"]
        notes.append(values_note(f"{key}.{name}", need(raw, f"{key}.{name}", xl.shape), library_forward(kind, xl)))
    return notes


def activation_backward(inp, raw, kind, key):
    """Gradient check of dx against the numerical gradient of the student's forward (the library's if wrong)."""
    x, dout, h = inp[f"{key}.x"], inp[f"{key}.dout"], float(inp["h"])
    pert = inp[f"{key}.x_pert"]
    try:
        out_pert = need(raw, f"{key}.out_pert", (pert.shape[0], *x.shape))
        own = values_note(f"{key}.out", need(raw, f"{key}.out", x.shape), library_forward(kind, x)) is None
    except Missing:
        own = False
    if not own:  # a wrong forward: its derivative is not the one to match
        out_pert = np.stack([library_forward(kind, xp) for xp in pert])
    numeric = numeric_from_outputs(out_pert, dout, x.shape, h)
    note = gradient_note(f"{key}.dx", need(raw, f"{key}.dx", x.shape), numeric)
    return note, own


def check_forward(inp, raw, kind, key, points, extra=()):
    def check():
        notes = forward_notes(inp, raw, kind, key, extra)
        return (0.0 if any(notes) else points), notes
    return check


def check_activation_backward(inp, raw, kind, key, points):
    def check():
        note, own = activation_backward(inp, raw, kind, key)
        return (0.0 if note else points), [note, library_note(own, [note])]
    return check


def library_note(own, notes):
    """Say that the library's forward stood in, where the student's was wrong and a gradient was compared."""
    return None if own or not any(n and n[0] == "gradient" for n in notes) else ("library_forward", {})


def dense_parts(inp, raw, key):
    """{"dx"|"dW"|"db": note or None} for one Dense probe, each against central differences of sum(out * dout)."""
    x, W, b, dout = (inp[f"{key}.{n}"] for n in ("x", "W", "b", "dout"))
    h = float(inp["h"])
    try:
        own = values_note(f"{key}.out", need(raw, f"{key}.out", dout.shape),
                          library_forward("Dense", x, W=W, b=b)) is None
    except Missing:
        own = False
    parts = {}
    for part, arg in (("dx", x), ("dW", W), ("db", b)):
        pert = inp[f"{key}.{part[1:]}_pert"]
        if own:
            out_pert = need(raw, f"{key}.out_{part[1:]}", (pert.shape[0], *dout.shape))
        else:
            args = {"x": lambda p: (p, W, b), "W": lambda p: (x, p, b), "b": lambda p: (x, W, p)}[part[1:]]
            out_pert = np.stack([library_forward("Dense", a, W=w, b=c) for a, w, c in map(args, pert)])
        numeric = numeric_from_outputs(out_pert, dout, arg.shape, h)
        try:
            parts[part] = gradient_note(f"{key}.{part}", need(raw, f"{key}.{part}", arg.shape), numeric)
        except Missing as err:
            parts[part] = ("missing", {"key": err.args[0], "why": err.args[1]})
    return parts, own


def check_dense_backward(inp, raw):
    def check():
        earned, notes = 0.0, []
        both = [dense_parts(inp, raw, key) for key in ("dense", "dense_sq")]
        for part in ("dx", "dW", "db"):
            part_notes = [parts[part] for parts, _ in both if parts[part]]
            earned += 0.0 if part_notes else 4.0
            notes += part_notes
        return earned, notes + [library_note(all(own for _, own in both), notes)]
    return check


def check_dense_forward(inp, raw, points):
    def check():
        notes = [values_note(f"{key}.out", need(raw, f"{key}.out", inp[f"{key}.dout"].shape),
                             library_forward("Dense", inp[f"{key}.x"], W=inp[f"{key}.W"], b=inp[f"{key}.b"]))
                 for key in ("dense", "dense_sq")]
        return (0.0 if any(notes) else points), notes
    return check


def check_loss_forward(inp, raw, kind, key, points):
    def check():
        p, t = inp[f"{key}.pred"], inp[f"{key}.target"]
        note = values_note(f"{key}.value", need(raw, f"{key}.value", ()), library_forward(kind, p, t))
        return (0.0 if note else points), [note]
    return check


def check_loss_backward(inp, raw, kind, key, points):
    def check():
        p, t, h, pert = inp[f"{key}.pred"], inp[f"{key}.target"], float(inp["h"]), inp[f"{key}.pred_pert"]
        try:
            own = values_note(f"{key}.value", need(raw, f"{key}.value", ()), library_forward(kind, p, t)) is None
            values = need(raw, f"{key}.value_pert", (pert.shape[0],)) if own else None
        except Missing:
            own = False
        if not own:
            values = np.array([float(library_forward(kind, pp, t)) for pp in pert])
        note = gradient_note(f"{key}.dpred", need(raw, f"{key}.dpred", p.shape),
                             numeric_from_outputs(values, None, p.shape, h))
        return (0.0 if note else points), [note, library_note(own, [note])]
    return check


def adam_reference(p, grads, lr, beta1=0.9, beta2=0.999, eps=1e-8, bias_correction=True, eps_inside=False):
    """Algorithm 1 of Kingma & Ba, step by step: p after each of len(grads) steps, (T, *p.shape).

    The two flags give the mistakes' variants (mistakes.py): no bias correction, eps inside the square root.
    """
    p, m, v, out = p.copy(), np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t) if bias_correction else m
        v_hat = v / (1 - beta2**t) if bias_correction else v
        p = p - lr * m_hat / (np.sqrt(v_hat + eps) if eps_inside else np.sqrt(v_hat) + eps)
        out.append(p)
    return np.stack(out)


def adam_updates(inp, traj, k):
    """Each step's change of parameter k, (T, ...): p_t - p_{t-1}, so rounding of p cannot hide a wrong step."""
    start = inp[f"adam.p{k}"]
    return np.diff(np.concatenate([start[None], traj]), axis=0)


def check_adam(inp, raw, points):
    def check():
        notes = []
        for k in (0, 1):
            grads = inp[f"adam.g{k}"]
            traj = need(raw, f"adam.traj{k}", grads.shape)
            expected = adam_reference(inp[f"adam.p{k}"], grads, float(inp["adam.lr"]))
            mine, ref = adam_updates(inp, traj, k), adam_updates(inp, expected, k)
            error = rel_error(mine, ref)
            if error > TOL_ADAM:
                index, a, b = worst_entry(mine, ref)
                notes.append(("adam", {"key": f"adam.traj{k}", "error": error, "step": index[0] + 1,
                                       "yours": a, "expected": b}))
        return (0.0 if notes else points), notes
    return check


def expected_architecture(dims):
    """(kinds, W shapes, parameter count) of the library's model for dims: what the student's must equal."""
    model = sa.dense_autoencoder(dims, rng=0, dtype="float64")
    kinds, shapes = [], []
    for part in ("encoder", "decoder"):
        for layer in getattr(model, part).layers:
            kinds.append(f"{part}:{type(layer).__name__}")
            shapes.append(tuple(layer.params["W"].shape) if "W" in layer.params else (-1, -1))
    return kinds, shapes, sum(int(p.size) for _, p, _ in model.named_params())


def check_architecture(inp, raw, points):
    def check():
        kinds, shapes, count = expected_architecture(tuple(int(d) for d in inp["dims"]))
        if "arch.kinds" not in raw:
            need(raw, "arch.kinds")
        theirs = [str(k) for k in raw["arch.kinds"]]
        their_shapes = [tuple(int(s) for s in row) for row in need(raw, "arch.shapes")]
        their_count = int(need(raw, "arch.count", ()))
        earned, notes = 0.0, []
        for part, share in (("encoder", 3.0), ("decoder", 3.0)):
            want = [(k, s) for k, s in zip(kinds, shapes) if k.startswith(part)]
            have = [(k, s) for k, s in zip(theirs, their_shapes) if k.startswith(part)]
            if want == have:
                earned += share
            else:
                notes.append(("layers", {"part": part, "yours": layer_list(have), "expected": layer_list(want)}))
        if their_count == count:
            earned += points - 6.0
        else:
            notes.append(("count", {"yours": their_count, "expected": count}))
        return earned, notes
    return check


def layer_list(layers):
    """[("encoder:Dense", (784, 256)), ("encoder:ReLU", (-1, -1))] -> "Dense(784, 256), ReLU"."""
    return ", ".join(f"{k.split(':')[1]}({s[0]}, {s[1]})" if s[0] >= 0 else k.split(":")[1] for k, s in layers)


def check_end_to_end(inp, raw, points):
    def check():
        h, notes = float(inp["e2e.h"]), []
        if "e2e.names" not in raw:
            need(raw, "e2e.names")
        need(raw, "e2e.loss", ())
        total = 0.0
        for k in range(len(raw["e2e.names"])):
            g = need(raw, f"e2e.g{k}")
            shape = need(raw, f"e2e.p{k}", g.shape).shape
            index = [np.unravel_index(int(u * g.size), shape) for u in inp["e2e.u"]]
            analytic = np.array([g[i] for i in index])
            numeric = (need(raw, f"e2e.lp{k}") - need(raw, f"e2e.lm{k}", inp["e2e.u"].shape)) / (2 * h)
            total += float(np.abs(g).sum())
            notes.append(gradient_note(f"e2e.{raw['e2e.names'][k]}", analytic, numeric))
        x = inp["e2e.x"]
        dx = need(raw, "e2e.dx", x.shape)
        numeric = (need(raw, "e2e.xlp") - need(raw, "e2e.xlm", inp["e2e.x_index"].shape)) / (2 * h)
        notes.append(gradient_note("e2e.dx", dx.reshape(-1)[inp["e2e.x_index"]], numeric))
        if total == 0.0 or not np.any(dx):  # a model whose gradients are all zero checks trivially
            notes.append(("zero_gradient", {}))
        if len(raw["e2e.names"]) == 0:
            notes.append(("no_params", {}))
        return (0.0 if any(notes) else points), notes
    return check


def check_training(inp, raw, points):
    def check():
        x_eval = inp["train.eval"]
        start = float(sa.BCE().forward(need(raw, "train.recon0", x_eval.shape).astype(np.float32), x_eval))
        final = float(sa.BCE().forward(need(raw, "train.recon", x_eval.shape).astype(np.float32), x_eval))
        values = {"start": start, "final": final, "bound": TRAIN_BOUND, "steps": probes.TRAIN_STEPS}
        if final < TRAIN_BOUND and final < start:
            return points, [("training_ok", values)]
        return 0.0, [("training", values)]
    return check


def grade(inp, raw):
    """Every rubric check on the child's raw outputs -> [Result], in RUBRIC's order."""
    checks = {
        "ReLU.forward": lambda p: check_forward(inp, raw, "ReLU", "relu", p),
        "ReLU.backward": lambda p: check_activation_backward(inp, raw, "ReLU", "relu", p),
        "Sigmoid.forward": lambda p: check_forward(inp, raw, "Sigmoid", "sigmoid", p, extra=("out_large",)),
        "Sigmoid.backward": lambda p: check_activation_backward(inp, raw, "Sigmoid", "sigmoid", p),
        "Dense.forward": lambda p: check_dense_forward(inp, raw, p),
        "Dense.backward": lambda p: check_dense_backward(inp, raw),
        "BCE.forward": lambda p: check_loss_forward(inp, raw, "BCE", "bce", p),
        "BCE.backward": lambda p: check_loss_backward(inp, raw, "BCE", "bce", p),
        "MSE.forward": lambda p: check_loss_forward(inp, raw, "MSE", "mse", p),
        "MSE.backward": lambda p: check_loss_backward(inp, raw, "MSE", "mse", p),
        "Adam.step": lambda p: check_adam(inp, raw, p),
        "model.architecture": lambda p: check_architecture(inp, raw, p),
        "model.end_to_end": lambda p: check_end_to_end(inp, raw, p),
        "model.training": lambda p: check_training(inp, raw, p),
    }
    return [run(checks[name](points), name, points) for name, points in RUBRIC]
