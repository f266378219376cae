"""The model's checks: Adam against Algorithm 1, the architecture, the end-to-end gradient check, training.

Adam is compared with Algorithm 1 of Kingma & Ba (arXiv 1412.6980), written out here, over every step of the
probe (the first included, where the bias correction matters most). The architecture is the library's
dense_autoencoder for the same widths. Training: the grader computes the test BCE itself, with the library's BCE,
from the reconstructions the child returned before and after probes.TRAIN_STEPS steps.
"""
import numpy as np

import scratchae as sa
from scratchae.gradcheck import rel_error

from . import probes
from .compare import gradient_note, need, worst_entry

TOL_ADAM = 1e-7
TRAIN_BOUND = 0.30  # test BCE after the probe's 60 steps; the library's model reaches about 0.23 (test_grade)


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


def sampled_note(key, analytic, numeric, where):
    """gradient_note over the sampled entries, with the worst one named by its index in the whole array."""
    note = gradient_note(key, analytic, numeric)
    if note:
        note[1]["index"] = where[int(np.argmax(np.abs(analytic - numeric)))]
    return note


def check_end_to_end(inp, raw, points, shown=3):
    """Every parameter's sampled entries and dx against central differences of the child's losses; the feedback
    shows the ``shown`` worst arrays."""
    def check():
        h, notes = float(inp["e2e.h"]), []
        if "e2e.names" not in raw:
            need(raw, "e2e.names")
        need(raw, "e2e.loss", ())
        total = 0.0
        for k in range(len(raw["e2e.names"])):
            g = need(raw, f"e2e.g{k}")
            shape = need(raw, f"e2e.p{k}", g.shape).shape
            where = [tuple(int(i) for i in np.unravel_index(int(u * g.size), shape)) for u in inp["e2e.u"]]
            numeric = (need(raw, f"e2e.lp{k}") - need(raw, f"e2e.lm{k}", inp["e2e.u"].shape)) / (2 * h)
            total += float(np.abs(g).sum())
            notes.append(sampled_note(f"{raw['e2e.names'][k]}", np.array([g[i] for i in where]), numeric, where))
        x, index = inp["e2e.x"], inp["e2e.x_index"]
        dx = need(raw, "e2e.dx", x.shape)
        numeric = (need(raw, "e2e.xlp") - need(raw, "e2e.xlm", index.shape)) / (2 * h)
        where = [tuple(int(i) for i in np.unravel_index(int(j), x.shape)) for j in index]
        notes.append(sampled_note("dx", dx.reshape(-1)[index], numeric, where))
        wrong = sorted((n for n in notes if n), key=lambda n: -n[1]["error"])
        notes = wrong[:shown] + ([("more_arrays", {"count": len(wrong) - shown})] if len(wrong) > shown else [])
        if total == 0.0 or not np.any(dx):  # a model whose gradients are all zero checks trivially
            notes.append(("zero_gradient", {}))
        if len(raw["e2e.names"]) == 0:
            notes.append(("no_params", {}))
        return (0.0 if notes else points), notes
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
