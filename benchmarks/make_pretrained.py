"""Reproduce the pretrained models of scratchae/weights/ with the project's own command, then pack them.

For each name: ``python -m scratchae.train --preset NAME --out RUNS/NAME --quiet`` (a subprocess on one BLAS
thread, timed), then its checkpoint's weights, settings and metrics go into scratchae/weights/NAME.npz (weights
only: see scratchae/pretrained.py). It prints how long each run took and the size of each file.

    python benchmarks/make_pretrained.py                    # every name in scratchae.pretrained.NAMES
    python benchmarks/make_pretrained.py --only cvae        # one preset (then add it to NAMES)
    python benchmarks/make_pretrained.py --pack-only        # pack run folders already trained into RUNS/NAME
"""
import argparse
import os
import pathlib
import subprocess
import sys
import time

from scratchae.fit import load_checkpoint
from scratchae.pretrained import NAMES, WEIGHTS
from scratchae.presets import PRESETS
from scratchae.serialize import atomic_savez, model_arrays, model_meta



def train(name, folder):
    """Run the project's command for preset ``name`` into ``folder``; returns its wall-clock seconds."""
    command = [sys.executable, "-m", "scratchae.train", "--preset", name, "--out", str(folder), "--quiet"]
    print(" ".join(["python", *command[1:]]), flush=True)
    # One BLAS thread: the numbers then do not depend on the machine's core count (a threaded matrix product sums
    # in another order), and on a shared machine a single thread ran an epoch of the reference 5x faster here.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env)
    return time.perf_counter() - started


def pack(name, folder):
    """Copy the weights, settings and metrics of the run in ``folder`` into weights/NAME.npz; returns its path."""
    model, _, progress, config = load_checkpoint(folder / "checkpoint.npz")
    if config.get("preset") != name or progress.epoch != config["epochs"] or progress.step:
        sys.exit(f"make_pretrained: {folder} is not a finished run of --preset {name}; train it again")
    settings = {k: v for k, v in config.items() if k != "out"}  # where it ran is not what it is
    WEIGHTS.mkdir(exist_ok=True)
    path = WEIGHTS / f"{name}.npz"
    atomic_savez(path, model_arrays(model), {**model_meta(model), "config": settings, "metrics": progress.metrics})
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", metavar="NAME", help="these presets only (default: every name in NAMES)")
    p.add_argument("--runs", default="runs/pretrained", help="where the run folders go (default: runs/pretrained)")
    p.add_argument("--pack-only", action="store_true", help="do not train; pack the finished runs in --runs")
    args = p.parse_args()
    names = args.only or list(NAMES)
    for name in names:
        if name not in PRESETS:
            p.error(f"no preset {name!r} in scratchae/presets.py; merge the branch that adds it first")
    for name in names:
        folder = pathlib.Path(args.runs) / name
        took = "" if args.pack_only else f"trained in {train(name, folder):.0f} s wall clock, "
        path = pack(name, folder)
        _, _, progress, _ = load_checkpoint(folder / "checkpoint.npz")
        last = progress.metrics[-1]
        print(f"{name}: {took}{sum(r['seconds'] for r in progress.metrics):.0f} s in its epochs, "
              f"test_loss {last['test_loss']:.5f} after {last['epoch']} epochs -> {path.name}, "
              f"{path.stat().st_size / 1e6:.2f} MB", flush=True)
    if any(name not in NAMES for name in names):
        print("now add the new names to NAMES in scratchae/pretrained.py and to setup.cfg's package data if needed")


if __name__ == "__main__":
    main()
