"""The parts of gpu_check.py that run scratchae's commands: versions, one short epoch per command, cross-resume.

The commands run as a user runs them, ``python -m scratchae.train ... --gpu`` in a fresh interpreter (through
runpy, which is what ``-m`` uses, so that the interpreter can report the size of CuPy's memory pool as it exits).
The checkpoint check calls train.main in this process, where ``--gpu`` means CuPy (or, in the tests, the
array_api_strict stand-in that $SCRATCHAE_BACKEND switches on).
"""
import csv
import json
import platform
import shutil
import subprocess
import sys
import time

import array_api_compat
import numpy as np

import scratchae
from scratchae import train
from scratchae.backend import describe, gpu_xp
from scratchae.fit import load_checkpoint
from scratchae.presets import PRESETS

POOL_ENV = "GPU_CHECK_POOL_FILE"  # where the child interpreter writes CuPy's pool size in bytes as it exits
# python -c PROBE module args...: run the module as __main__ (as -m does), then report the pool's size
PROBE = """import os, runpy, sys
module, sys.argv = sys.argv[1], [sys.argv[1], *sys.argv[2:]]
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
finally:
    if "cupy" in sys.modules:
        import cupy
        with open(os.environ["%s"], "w") as fh:
            fh.write(str(cupy.get_default_memory_pool().total_bytes()))
""" % POOL_ENV
FULL_TRAIN = 60000  # training images of MNIST and Fashion-MNIST


def versions(xp):
    """[(what, version)]: scratchae, Python, NumPy, array_api_compat, and CuPy, CUDA and the device where present."""
    rows = [("scratchae", scratchae.__version__), ("python", platform.python_version()), ("numpy", np.__version__),
            ("array_api_compat", array_api_compat.__version__)]
    try:
        import cupy
    except ImportError:
        return rows + [("cupy", "not installed")]
    rows.append(("cupy", cupy.__version__))
    if xp is None:
        return rows
    runtime = cupy.cuda.runtime

    def cuda(v):  # CUDA encodes 12.4 as 12040
        return f"{v // 1000}.{v % 1000 // 10}"
    props = runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    rows += [("CUDA runtime", cuda(runtime.runtimeGetVersion())),
             ("CUDA driver API", cuda(runtime.driverGetVersion())), ("NVIDIA driver", nvidia_driver()),
             ("device", f"{name}, compute capability {props['major']}.{props['minor']}, "
                        f"{props['totalGlobalMem'] / 2**30:.1f} GiB")]
    return rows


def nvidia_driver():
    """The NVIDIA driver's version from nvidia-smi, or why it is unknown."""
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unknown (nvidia-smi: {type(err).__name__})"
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else "unknown"


def commands(limit, work):
    """[(label, argv after python -m, run folder)]: every preset of scratchae.train, the anomaly commands, and
    scratchae.features on the reference run's folder, each for one short epoch (or a few hundred steps)."""
    short = ["--epochs", "1", "--quiet"]
    runs = [(f"train {name}", ["scratchae.train", "--preset", name, "--limit", str(limit), *short]) for name in PRESETS]
    runs += [("anomaly", ["scratchae.anomaly", "--normal", "1", "--limit", str(limit), *short]),
             ("series ItalyPowerDemand", ["scratchae.series_anomaly", "--dataset", "ItalyPowerDemand", *short]),
             ("series 135", ["scratchae.series_anomaly", "--dataset", "series135", *short])]
    found = [(label, [*argv, "--out", str(work / label.replace(" ", "_"))], work / label.replace(" ", "_"))
             for label, argv in runs]
    reference = work / "train_reference"  # features reads a finished run and writes into its folder
    features = ["scratchae.features", str(reference), "--features", "code", "--labels", "100", "1000", "--steps", "300"]
    return found + [("features", features, reference)]


def run_command(argv, out, env, timeout=300):
    """Run ``python -m argv --gpu`` (argv names its run folder ``out``); returns its status and, from metrics.csv
    where the command writes one, the epoch's images, seconds and images/s, the full epoch's estimated seconds,
    and the pool's peak MiB."""
    out.mkdir(parents=True, exist_ok=True)
    pool_file = out.parent / f"{out.name}.{argv[0]}.pool"
    cmd = [sys.executable, "-c", PROBE, *argv, "--gpu"]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, env={**env, POOL_ENV: str(pool_file)}, capture_output=True, text=True,
                              timeout=timeout)
        lines = done.stderr.strip().splitlines()
        status = "ok" if done.returncode == 0 else f"exit {done.returncode}: {lines[-1] if lines else 'no message'}"
    except subprocess.TimeoutExpired:
        status = f"still running after {timeout} s"
    found = {"status": status, "images": "-", "seconds": f"{time.perf_counter() - start:.1f} (command)",
             "per_s": "-", "full_epoch": "-",
             "pool": f"{int(pool_file.read_text()) / 2**20:.0f}" if pool_file.exists() else "-"}
    metrics = out / "metrics.csv"
    if argv[0] == "scratchae.train" and metrics.exists():  # the epoch itself, without start-up, data and figures
        with open(metrics, newline="") as fh:
            row = list(csv.DictReader(fh))[-1]
        per_s, seconds = float(row["images_per_s"]), float(row["seconds"])
        images = round(per_s * seconds)
        held = json.loads((out / "config.json").read_text()).get("validation") or 0
        found.update(images=images, seconds=f"{seconds:.2f}", per_s=f"{per_s:.0f}",
                     full_epoch=f"{(FULL_TRAIN - held) / per_s:.1f}")
    return found


def cross_resume(work, limit):
    """A GPU checkpoint resumed on the CPU and a CPU checkpoint on the GPU, each against a straight CPU run.

    Returns rows (run, epoch 2 test loss, namespace of epoch 2, status); a status other than "ok" says what is
    wrong: the run failed, it ran on the wrong namespace, it lost epoch 1's row, or its test loss differs from the
    straight run's by more than 1e-3 relative.
    """
    base = ["--dims", "784", "64", "16", "--limit", str(limit), "--quiet"]
    runs = {"cpu": [], "gpu": ["--gpu"]}
    for name, flags in runs.items():
        if train.main([*base, *flags, "--epochs", "1", "--out", str(work / name)]) != 0:
            return [(f"one epoch on the {name}", "-", "-", "failed: the run exited non-zero")]
    if train.main([*base, "--epochs", "2", "--out", str(work / "straight")]) != 0:
        return [("two epochs on the cpu", "-", "-", "failed: the run exited non-zero")]
    _, _, straight, _ = load_checkpoint(work / "straight" / "checkpoint.npz")
    want = straight.metrics[-1]["test_loss"]
    rows = [("two epochs on the cpu", f"{want:.6f}", "numpy", "ok")]
    for first, then in (("gpu", "cpu"), ("cpu", "gpu")):
        folder = work / f"{first}-then-{then}"
        shutil.copytree(work / first, folder)
        flags = ["--gpu"] if then == "gpu" else []
        code = train.main(["--resume", str(folder / "checkpoint.npz"), "--epochs", "2", "--quiet", *flags])
        label = f"epoch 1 on the {first}, epoch 2 on the {then}"
        if code != 0:
            rows.append((label, "-", "-", f"failed: --resume exited {code}"))
            continue
        _, _, progress, _ = load_checkpoint(folder / "checkpoint.npz")
        _, _, before, _ = load_checkpoint(work / first / "checkpoint.npz")
        space = json.loads((folder / "config.json").read_text())["versions"]["array_namespace"]
        loss = progress.metrics[-1]["test_loss"]
        expected_space = "numpy" if then == "cpu" else describe(gpu_xp())
        problem = ("ran on " + space if space != expected_space else
                   "lost epoch 1's row" if progress.metrics[:1] != before.metrics or progress.epoch != 2 else
                   f"test loss {loss:.6f} vs straight {want:.6f}" if not abs(loss / want - 1) <= 1e-3 else "")
        rows.append((label, f"{loss:.6f}", space, f"failed: {problem}" if problem else "ok"))
    return rows
