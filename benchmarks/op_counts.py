"""How many array operations one training step issues, per model: the kernels a GPU pays a launch for.

    python benchmarks/op_counts.py            # one table, every model the commands train
    python benchmarks/op_counts.py --names    # and where each step's operations go, by name

Each model is built the way its command builds it (recipes.make_run for the train presets, series_detect.build
for the series detectors) on scratchae.audit's counting namespace, and one step runs inside audit.step(), which
also refuses anything that would make CuPy wait for the device. The optimizer is whatever make_run builds, and
its share is one more optimizer.step() counted on its own. What counts as one operation: see scratchae/audit.py.
The counts do not depend on the batch size, so small batches keep this quick.
"""
import argparse

import numpy as np

from scratchae import audit
from scratchae.backend import to_device
from scratchae.data import step_rng
from scratchae.losses import MSE
from scratchae.presets import PRESETS
from scratchae.recipes import make_run
from scratchae.series_detect import build as build_series, shaped
from scratchae.training import train_step

SEED = 0
TRAIN_RUNS = {  # name -> the preset (or preset and a change) the train command runs
    "dense (reference)": ("reference", {}),
    "dense (keras-basic, MSE)": ("keras-basic", {}),
    "sparse (keras-sparse)": ("keras-sparse", {}),
    "conv (keras-conv)": ("keras-conv", {}),
    "conv-pool": ("keras-conv", {"model": "conv-pool"}),
    "tf-denoiser (tf-denoise)": ("tf-denoise", {}),
    "keras-denoiser (keras-denoise)": ("keras-denoise", {}),
    "vae": ("vae", {}),
    "seq2seq (rows LSTM)": ("seq2seq", {}),
}
SERIES_RUNS = {"series lstm": "lstm", "series dense": "dense"}  # series_anomaly's detectors at its defaults
SERIES_CFG = {"hidden": 32, "code": 8, "seed": SEED, "lr": 1e-3}  # series_anomaly.DEFAULTS' sizes
SERIES_LENGTH = 64  # the window of series 135, series_anomaly's default


class Audited:
    """One model's step on the counting namespace: step() runs it once inside audit.step()."""

    def __init__(self, ns, step, optimizer, batch):
        self.ns, self.run_step, self.optimizer, self.batch, self.k = ns, step, optimizer, batch, 0

    def step(self):
        """One training step under the audit; returns the loss terms it returned."""
        with self.ns.audit.step():
            out = self.run_step(self.batch, step_rng(SEED, 0, self.k))
        self.k += 1
        return out

    def counts(self):
        """(ops of one step, ops of its optimizer.step()): a second step (the first may set up state), then Adam's."""
        self.step()
        a = self.ns.audit
        a.reset()
        self.step()
        total, names = a.ops, dict(a.by_name)
        a.reset()
        with a.step():
            self.optimizer.step()
        return total, a.ops, names


def images(n, rng):
    """n fake MNIST rows (n, 784) in [0, 1), float32, on the host: the counts never depend on the pixels."""
    return rng.random((n, 784), dtype=np.float32)


def train_run(ns, preset, change, batch=4):
    cfg = {**PRESETS[preset], **change, "seed": SEED, "validation": None}
    x = images(batch, np.random.default_rng(SEED))
    run = make_run(cfg, ns, x)
    return Audited(ns, run.step, run.optimizer, to_device(x, ns))


def series_run(ns, name, batch=4):
    """series_detect.reconstruction_scores' model, loss and step, with the optimizer make_run builds."""
    x = to_device(np.random.default_rng(SEED).standard_normal((batch, SERIES_LENGTH), dtype=np.float32), ns)
    model = build_series(name, SERIES_LENGTH, SERIES_CFG, ns)
    optimizer_class = type(make_run({**PRESETS["reference"], "seed": SEED}, ns, images(1, np.random.default_rng(0)),
                                    model=model).optimizer)
    loss, optimizer = MSE(), optimizer_class(model, lr=SERIES_CFG["lr"])
    return Audited(ns, lambda xb, rng: train_step(model, loss, optimizer, xb), optimizer, shaped(name, x))


def audited_runs():
    """name -> Audited, one per model the commands train, each on its own counting namespace."""
    runs = {}
    for name, (preset, change) in TRAIN_RUNS.items():
        runs[name] = train_run(audit.namespace(), preset, change)
    for name, model in SERIES_RUNS.items():
        runs[name] = series_run(audit.namespace(), model)
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", action="store_true", help="also list each step's operations by name")
    args = parser.parse_args(argv)
    optimizer = None
    print(f"{'model':<32} {'step ops':>9} {'optimizer':>10} {'rest':>6}")
    for name, run in audited_runs().items():
        total, opt, names = run.counts()
        optimizer = type(run.optimizer).__name__
        print(f"{name:<32} {total:9d} {opt:10d} {total - opt:6d}", flush=True)
        if args.names:
            print("    " + ", ".join(f"{op} {n}" for op, n in sorted(names.items(), key=lambda kv: -kv[1])))
    print(f"optimizer: {optimizer}, as recipes.make_run builds it; no step read the host or made a data-dependent "
          "shape (audit.step() would have raised)")


if __name__ == "__main__":
    main()
