"""The child side of grading: run a notebook's cells, then evaluate the student's classes on the grader's inputs.

``python -m scratchae.teacher.driver CELLS.json INPUTS.npz OUT.npz`` runs inside the sandbox. It grades nothing:
it writes raw arrays (forward values, backward values, forward values at perturbed points, Adam's parameters after
each step, reconstructions after a short training run) that the parent checks. After each group of probes it
rewrites OUT.npz atomically, so a submission that hangs or dies later keeps what it had delivered.
"""
import json
import os
import sys
import traceback

import numpy as np

# Taken before any student code runs: a cell that patches numpy later cannot change how we save.
_asarray, _savez, _replace, _stack = np.asarray, np.savez, os.replace, np.stack


def floats(value):
    """Anything array-like the student returned, as a float64 NumPy array (a 0-d one for a scalar loss)."""
    return _asarray(value, dtype=np.float64).copy()


def describe(err):
    """TypeError: the message (cut at 300 characters), or just the type when there is no message."""
    text = str(err)[:300]
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def run_cells(cells, ns):
    """Execute each cell in one namespace; a cell that raises is recorded and the next one still runs."""
    errors = []
    for index, source in cells:
        try:
            exec(compile(source, f"<code cell {index}>", "exec"), ns)
        except BaseException as err:  # SystemExit too: the setup cell may raise it
            errors.append(f"code cell {index}: {describe(err)}")
    return errors


def probe_activation(ns, inp, cls, key):
    x, dout = inp[f"{key}.x"], inp[f"{key}.dout"]
    layer = ns[cls]()
    found = {"out": floats(layer.forward(x.copy()))}
    found["dx"] = floats(layer.backward(dout.copy()))
    found["out_pert"] = _stack([floats(ns[cls]().forward(xp.copy())) for xp in inp[f"{key}.x_pert"]])
    if f"{key}.x_large" in inp:
        found["out_large"] = floats(ns[cls]().forward(inp[f"{key}.x_large"].copy()))
    return found


def probe_dense(ns, inp, key):
    x, W, b, dout = (inp[f"{key}.{n}"] for n in ("x", "W", "b", "dout"))

    def forward(x, W, b, dout=None):
        layer = ns["Dense"](W.shape[0], W.shape[1], np.random.default_rng(0), np.float64)
        layer.params["W"], layer.params["b"] = W.copy(), b.copy()  # the grader's weights
        out = layer.forward(x.copy())
        return (layer, out) if dout is not None else floats(out)

    layer, out = forward(x, W, b, dout)
    found = {"out": floats(out), "dx": floats(layer.backward(dout.copy()))}
    found["dW"], found["db"] = floats(layer.grads["W"]), floats(layer.grads["b"])
    found["out_x"] = _stack([forward(xp, W, b) for xp in inp[f"{key}.x_pert"]])
    found["out_W"] = _stack([forward(x, Wp, b) for Wp in inp[f"{key}.W_pert"]])
    found["out_b"] = _stack([forward(x, W, bp) for bp in inp[f"{key}.b_pert"]])
    return found


def probe_loss(ns, inp, cls, key):
    p, t = inp[f"{key}.pred"], inp[f"{key}.target"]
    loss = ns[cls]()
    found = {"value": floats(loss.forward(p.copy(), t.copy()))}
    found["dpred"] = floats(loss.backward())
    found["value_pert"] = _stack([floats(ns[cls]().forward(pp.copy(), t.copy())) for pp in inp[f"{key}.pred_pert"]])
    return found


class TwoParams:
    """A stand-in model for Adam: named_params() yields two parameters and the gradients the grader set."""

    def __init__(self, p0, p1):
        self.params = {"layer.0.W": p0.copy(), "layer.0.b": p1.copy()}
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}

    def named_params(self):
        for name, p in self.params.items():
            yield name, p, self.grads[name]


def probe_adam(ns, inp):
    model = TwoParams(inp["adam.p0"], inp["adam.p1"])
    opt = ns["Adam"](model, lr=float(inp["adam.lr"]))
    traj0, traj1 = [], []
    for t in range(inp["adam.g0"].shape[0]):
        model.grads = {"layer.0.W": inp["adam.g0"][t].copy(), "layer.0.b": inp["adam.g1"][t].copy()}
        opt.step()
        now = {name: p for name, p, _ in model.named_params()}
        traj0.append(floats(now["layer.0.W"]))
        traj1.append(floats(now["layer.0.b"]))
    return {"traj0": _stack(traj0), "traj1": _stack(traj1)}


def probe_architecture(ns, inp):
    model = ns["build_autoencoder"](tuple(int(d) for d in inp["dims"]), seed=0, dtype=np.float32)
    kinds, shapes = [], []
    for part in ("encoder", "decoder"):
        for layer in list(getattr(getattr(model, part), "layers", getattr(model, part))):  # a list, or Sequential
            kind = next((c for c in ("Dense", "ReLU", "Sigmoid") if isinstance(layer, ns[c])), type(layer).__name__)
            W = getattr(layer, "params", {}).get("W") if kind == "Dense" else None
            kinds.append(f"{part}:{kind}")
            shapes.append(tuple(int(s) for s in W.shape) if W is not None and W.ndim == 2 else (-1, -1))
    count = sum(int(np.size(p)) for _, p, _ in model.named_params())
    return {"kinds": np.array(kinds, dtype=str), "shapes": np.array(shapes, dtype=np.int64).reshape(-1, 2),
            "count": np.array(count)}


def probe_end_to_end(ns, inp):
    model = ns["build_autoencoder"](tuple(int(d) for d in inp["small_dims"]), seed=0, dtype=np.float64)
    x, t, h = inp["e2e.x"].copy(), inp["e2e.target"], float(inp["e2e.h"])

    def loss_at(x):
        return float(ns["BCE"]().forward(model.forward(x), t.copy()))

    loss = ns["BCE"]()
    found = {"loss": floats(loss.forward(model.forward(x.copy()), t.copy()))}
    found["dx"] = floats(model.backward(loss.backward()))
    named = list(model.named_params())
    found["names"] = np.array([name for name, _, _ in named], dtype=str)
    for k, (_, p, g) in enumerate(named):
        found[f"p{k}"], found[f"g{k}"] = floats(p), floats(g)
    for k, (_, p, _) in enumerate(named):  # nudge the model's own arrays in place, then restore them
        plus, minus = [], []
        for u in inp["e2e.u"]:
            i = np.unravel_index(int(u * p.size), p.shape)
            old = p[i].copy()
            p[i] = old + h
            plus.append(loss_at(x.copy()))
            p[i] = old - h
            minus.append(loss_at(x.copy()))
            p[i] = old
        found[f"lp{k}"], found[f"lm{k}"] = floats(plus), floats(minus)
    plus, minus = [], []
    for i in inp["e2e.x_index"]:
        xp = x.copy()
        xp.flat[int(i)] += h
        plus.append(loss_at(xp))
        xp.flat[int(i)] -= 2 * h
        minus.append(loss_at(xp))
    found["xlp"], found["xlm"] = floats(plus), floats(minus)
    return found


def probe_training(ns, inp):
    model = ns["build_autoencoder"](tuple(int(d) for d in inp["dims"]), seed=0, dtype=np.float32)
    data, order = inp["train.x"], inp["train.order"]
    found = {"recon0": floats(model.forward(inp["train.eval"].copy()))}
    loss, opt = ns["BCE"](), ns["Adam"](model, lr=float(inp["train.lr"]))
    losses = []
    for rows in order:
        xb = data[rows]
        losses.append(float(loss.forward(model.forward(xb), xb)))
        model.backward(loss.backward())
        opt.step()
    found["losses"], found["recon"] = floats(losses), floats(model.forward(inp["train.eval"].copy()))
    return found


PROBES = (("relu", lambda ns, inp: probe_activation(ns, inp, "ReLU", "relu")),
          ("sigmoid", lambda ns, inp: probe_activation(ns, inp, "Sigmoid", "sigmoid")),
          ("dense", lambda ns, inp: probe_dense(ns, inp, "dense")),
          ("dense_sq", lambda ns, inp: probe_dense(ns, inp, "dense_sq")),
          ("bce", lambda ns, inp: probe_loss(ns, inp, "BCE", "bce")),
          ("mse", lambda ns, inp: probe_loss(ns, inp, "MSE", "mse")),
          ("adam", probe_adam), ("arch", probe_architecture), ("e2e", probe_end_to_end), ("train", probe_training))


def save(path, found):
    tmp = path + ".tmp.npz"
    _savez(tmp, **found)
    _replace(tmp, path)


def main(cells_path, inputs_path, out_path):
    with open(cells_path, encoding="utf-8") as fh:
        cells = json.load(fh)
    with np.load(inputs_path, allow_pickle=False) as data:
        inp = {key: data[key] for key in data.files}
    ns = {"__name__": "__main__"}
    found = {"cell_errors": np.array(run_cells(cells, ns), dtype=str)}
    ns["xp"] = np  # the grader's inputs are NumPy arrays, whatever the setup cell picked
    save(out_path, found)
    for group, probe in PROBES:
        try:
            found |= {f"{group}.{key}": value for key, value in probe(ns, inp).items()}
        except BaseException as err:
            where = [f for f in traceback.extract_tb(err.__traceback__) if f.filename.startswith("<code cell")]
            line = f" ({where[-1].filename[1:-1]}, line {where[-1].lineno})" if where else ""
            found[f"{group}.error"] = np.array(f"{describe(err)}{line}")
        save(out_path, found)


if __name__ == "__main__":
    main(*sys.argv[1:4])
    sys.stdout.flush()
    os._exit(0)  # no atexit handler or thread the student left behind may change the exit
