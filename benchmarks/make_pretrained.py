"""Reproduce the pretrained models of scratchae/weights/ with the project's own commands, then pack them.

For each name: ``python -m scratchae.train --preset NAME --out RUNS/NAME --quiet`` (``anomaly-4``: ``python -m
scratchae.anomaly --normal 4 --epochs 20``; ``code-K``: ``python -m scratchae.train --dims 784 256 128 64 K --code
linear``), a subprocess on one BLAS thread, timed; then the run's weights, rounded to float16, its settings, metrics
and test numbers go into scratchae/weights/NAME.npz (see scratchae/pretrained.py), with the test numbers of the
rounded weights, scored again here on the full test set. It prints how long each run took and the size of each file.

    python benchmarks/make_pretrained.py                    # every name in scratchae.pretrained.NAMES
    python benchmarks/make_pretrained.py --only cvae        # one preset (then add it to NAMES)
    python benchmarks/make_pretrained.py --pack-only        # pack run folders already trained into RUNS/NAME
"""
import argparse
import csv
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

from scratchae import pretrained
from scratchae.data import load
from scratchae.fit import load_checkpoint
from scratchae.pretrained import NAMES, WEIGHTS
from scratchae.presets import PRESETS
from scratchae.serialize import atomic_savez, load_model, model_arrays, model_meta, restore_model

# Names that are not presets of python -m scratchae.train: the command (after python) that trains them. code-K is
# lesson 14's sweep (docs/results.md, the autoencoder against PCA): 784-256-128-64-K with a linear code, 20 epochs.
OTHER_COMMANDS = {"anomaly-4": ["-m", "scratchae.anomaly", "--normal", "4", "--epochs", "20"],
                  **{f"code-{k}": ["-m", "scratchae.train", "--dims", "784", "256", "128", "64", str(k), "--code",
                                   "linear"] for k in (2, 8, 32, 64)}}


def command_of(name):
    """The arguments after ``python`` that train ``name``."""
    return OTHER_COMMANDS.get(name, ["-m", "scratchae.train", "--preset", name])



def train(name, folder):
    """Run the project's command for preset ``name`` into ``folder``; returns its wall-clock seconds."""
    command = [sys.executable, *command_of(name), "--out", str(folder), "--quiet"]
    print(" ".join(["python", *command[1:]]), flush=True)
    # One BLAS thread: the numbers then do not depend on the machine's core count (a threaded matrix product sums
    # in another order), and on a shared machine a single thread ran an epoch of the reference 5x faster here.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env)
    return time.perf_counter() - started


def pack(name, folder, seconds=None):
    """Copy the weights (as float16), settings, metrics and test numbers of the run in ``folder`` into
    weights/NAME.npz with its training time: a train run's epochs' seconds, or the anomaly command's wall clock
    ``seconds``. Returns the path and the test numbers of the stored weights."""
    command = "python " + " ".join(command_of(name))
    if command_of(name)[1] == "scratchae.anomaly":  # model-<class>.npz, config.json, results.csv
        if seconds is None:
            sys.exit(f"make_pretrained: {name} records its command's wall clock; run it without --pack-only")
        config = json.loads((folder / "config.json").read_text())
        normal = config["normal"]
        model = load_model(folder / f"model-{normal}.npz")
        with open(folder / "results.csv", newline="") as fh:
            rows = [{k: (v if k == "name" else float(v)) for k, v in row.items()} for row in csv.DictReader(fh)]
        settings = {k: v for k, v in config.items() if k not in ("out", "array_namespace")}
        metrics, trained_test = rows, {"ae_auc": rows[0]["ae_auc"]}
    else:
        model, _, progress, config = load_checkpoint(folder / "checkpoint.npz")
        if name in PRESETS and config.get("preset") != name:
            sys.exit(f"make_pretrained: {folder} is a run of --preset {config.get('preset')}, not of {name}")
        if progress.epoch != config["epochs"] or progress.step:
            sys.exit(f"make_pretrained: {folder} is not a finished run; train it again")
        settings = {k: v for k, v in config.items() if k != "out"}  # where it ran is not what it is
        metrics = progress.metrics
        trained_test = {k: v for k, v in metrics[-1].items() if k.startswith("test_")}
        seconds = sum(row["seconds"] for row in metrics)  # training proper, without loading data or figures
    # float16 halves the files; the recorded test numbers are those of the rounded weights, scored as the run did.
    arrays = {key: np.asarray(a).astype(np.float16) for key, a in model_arrays(model).items()}
    meta = {**model_meta(model), "stored": "float16", "command": command, "config": settings, "metrics": metrics,
            "trained_test": trained_test, "seconds": seconds}
    rounded = restore_model({key: a.astype(np.float32) for key, a in arrays.items()}, meta, path=name)
    _, _, x_test, y_test = load(settings.get("dataset", "mnist"))
    record = pretrained.Pretrained(name, rounded, command, settings, trained_test, trained_test, metrics, seconds)
    test = pretrained.evaluate(record, x_test, y_test)
    WEIGHTS.mkdir(exist_ok=True)
    path = WEIGHTS / f"{name}.npz"
    atomic_savez(path, arrays, {**meta, "test": test})
    return path, test, trained_test


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", metavar="NAME", help="these presets only (default: every name in NAMES)")
    p.add_argument("--runs", default="runs/pretrained", help="where the run folders go (default: runs/pretrained)")
    p.add_argument("--pack-only", action="store_true", help="do not train; pack the finished runs in --runs")
    args = p.parse_args()
    names = args.only or list(NAMES)
    for name in names:
        if name not in PRESETS and name not in OTHER_COMMANDS:
            p.error(f"no preset {name!r} in scratchae/presets.py nor in OTHER_COMMANDS; add it first")
    for name in names:
        folder = pathlib.Path(args.runs) / name
        wall = None if args.pack_only else train(name, folder)
        path, test, trained_test = pack(name, folder, wall)
        took = "packed" if wall is None else f"trained in {wall:.0f} s wall clock"
        numbers = ", ".join(f"{k} {v:.6g} (float32 {trained_test[k]:.6g})" for k, v in test.items())
        print(f"{name}: {took}; {numbers} -> {path.name}, {path.stat().st_size / 1e6:.2f} MB", flush=True)
    if any(name not in NAMES for name in names):
        print("now add the new names to NAMES in scratchae/pretrained.py (setup.cfg ships every weights/*.npz)")


if __name__ == "__main__":
    main()
