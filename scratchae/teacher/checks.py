"""The checks and their points, computed in the grader's process from the child's raw arrays and the library.

Forward values are compared with the library's layers on the same inputs (elementwise, |a - b| <= 1e-9 + 1e-7 |b|).
A backward is compared (rel_error <= 1e-7, float64) with the numerical gradient of the student's own forward,
from the forward values at x +- h e_i the child returned: d(sum(f(x) * dout))/dx_i. Where the student's forward
itself is wrong, the numerical gradient of the library's forward stands in, so a backward that matches a wrong
forward (a ReLU that returns zeros and a gradient of zeros) earns nothing. Adam is compared with Algorithm 1 of
Kingma & Ba in model_checks.py. RUBRIC names every check and its points; grade() runs them all.
"""
import numpy as np

from .compare import Missing, gradient_note, library_forward, library_note, need, numeric_from_outputs, run, \
    values_note
from .model_checks import check_adam, check_architecture, check_end_to_end, check_training

RUBRIC = (("ReLU.forward", 3), ("ReLU.backward", 5), ("Sigmoid.forward", 3), ("Sigmoid.backward", 5),
          ("Dense.forward", 5), ("Dense.backward", 12), ("BCE.forward", 5), ("BCE.backward", 8),
          ("MSE.forward", 3), ("MSE.backward", 4), ("Adam.step", 12), ("model.architecture", 8),
          ("model.end_to_end", 12), ("model.training", 15))



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
    results = [run(checks[name](points), name, points) for name, points in RUBRIC]
    broken = [r.name for r in results if r.status == "fail" and not r.name.startswith("model.")]
    for r in results:  # the model runs every class: a failed class explains a failed model check
        if broken and r.status == "fail" and r.name in ("model.end_to_end", "model.training"):
            r.notes.append(("classes_first", {"checks": ", ".join(broken)}))
    return results
