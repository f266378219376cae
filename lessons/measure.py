"""Measure every lesson's cells at full settings on this machine's CPU: ``python lessons/minutes.py --measure``.

Each English lesson (the Japanese twins run the same code) is executed with nbclient, SCRATCHAE_QUICK=0 and
SCRATCHAE_PRETRAINED=0 (the models are trained, not loaded). Each code cell records its wall seconds (the
kernel's timestamps, shell.execute_reply minus iopub.execute_input) and its CPU seconds (the kernel's user and
system time, from os.times() between cells). On a busy shared machine the wall time mostly measures the queue,
so the estimate uses the CPU seconds; both are kept. BLAS runs on one thread (OPENBLAS_NUM_THREADS=1): a waiting
OpenBLAS thread spins, so on a busy machine two threads count CPU time that did no work. One thread's CPU
seconds are the run time on one idle core, an upper bound for Colab's two.

A full run of the long lessons takes hours here, so with ``--epochs K`` an epoch count that quick mode switches
(``EPOCHS = 2 if QUICK else 20``) is cut to K, and every cell that uses that count (by name, or by calling a
function whose definition names it) is recorded with ``scaled_by = full / K``: its full time is taken as the
measured time times that factor. This overstates a little, because the cell's fixed work (evaluation, plots)
is multiplied too. The file records the date, the CPU and the load average before and after each lesson.
"""
import datetime
import os
import pathlib
import platform
import re
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
# A line that sets names by quick mode: `EPOCHS = 2 if QUICK else 20`, `N, EPOCHS = (1, 1) if QUICK else (5, 10)`.
SWITCH = re.compile(r"^([A-Za-z_][\w, ]*?)\s*=\s*.*\bif QUICK else\b.*$", re.M)
EPOCH_NAME = re.compile(r"EPOCHS\w*")


def epoch_names(sources):
    """The epoch counts that quick mode switches in these cell sources, e.g. {"EPOCHS", "EPOCHS_135"}."""
    names = set()
    for source in sources:
        for match in SWITCH.finditer(source):
            names |= {n.strip() for n in match.group(1).split(",") if EPOCH_NAME.fullmatch(n.strip())}
    return names


def cut_epochs(source, names, epochs):
    """``source`` with each switched epoch count cut to ``epochs`` right after the line that sets it; the full
    value is kept in the kernel's ``__measure__`` dict so the caller can read it back."""
    def cut(match):
        targets = [n.strip() for n in match.group(1).split(",") if n.strip() in names]
        extra = "".join(f'\n__measure__["{n}"] = {n}; {n} = min({n}, {epochs})' for n in targets)
        return match.group(0) + extra
    return SWITCH.sub(cut, source)


def users(sources, names):
    """For each cell, the epoch names it depends on: named in it, or through a function defined with them."""
    funcs = {}
    for source in sources:
        for match in re.finditer(r"^def (\w+)\(.*?(?=^\S|\Z)", source, re.M | re.S):
            used = {n for n in names if re.search(rf"\b{n}\b", match.group(0))}
            if used:
                funcs[match.group(1)] = used
    found = []
    for source in sources:
        source = SWITCH.sub("", source)  # the line that sets the count does not run the epochs
        used = {n for n in names if re.search(rf"\b{n}\b", source)}
        for func, via in funcs.items():
            if re.search(rf"(?<!def )\b{func}\(", source):
                used |= via
        found.append(sorted(used))
    return found


def seconds(cell):
    """The run time of an executed cell from the kernel's timestamps."""
    stamps = cell.metadata.get("execution", {})
    start, end = stamps.get("iopub.execute_input"), stamps.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = datetime.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def measure_lesson(py, epochs):
    """Run lesson ``py`` (its jupytext source) at full settings; returns its record for timings.json."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    nb = jupytext.read(py)
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    sources = [c.source for _, c in code]
    names = epoch_names(sources) if epochs else set()
    for _, cell in code:
        cell.source = cut_epochs(cell.source, names, epochs)
    # Between two cells a probe notes the kernel's CPU time (user + system, its threads and children included):
    # on a busy shared machine the wall time mostly measures the queue, the CPU time measures the work.
    tick = "__cpu.append(sum(__import__('os').times()[:4]))"
    cells = [nbformat.v4.new_code_cell("__measure__, __cpu = {}, []\n" + tick)]
    for _, cell in code:
        cells += [cell, nbformat.v4.new_code_cell(tick)]
    probe = nbformat.v4.new_code_cell('import json; print(json.dumps([__measure__, __cpu]))')
    nb.cells = cells + [probe]
    env = {"SCRATCHAE_QUICK": "0", "SCRATCHAE_PRETRAINED": "0", "SCRATCHAE_DATA": str(ROOT / "data"),
           "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    os.environ.update(env)  # the kernel inherits this process's environment
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:  # files a lesson writes (checkpoints, reports) go here
        NotebookClient(nb, timeout=None, allow_errors=True, kernel_name="python3",
                       resources={"metadata": {"path": work}}).execute()
    wall = time.perf_counter() - started
    import json
    full, cpu = {}, []
    for out in nb.cells[-1].get("outputs", []):
        if out.get("name") == "stdout":
            full, cpu = json.loads(out["text"].strip().splitlines()[-1])
    if len(cpu) != len(code) + 1:
        raise SystemExit(f"{py.name}: the kernel died or a probe failed ({len(cpu)} of {len(code) + 1} CPU probes)")
    cells = []
    for k, ((index, _), cell, used) in enumerate(zip(code, nb.cells[1:-1:2], users(sources, names))):
        record = {"cell": index, "seconds": round(seconds(cell) or 0.0, 2),
                  "cpu_seconds": round(cpu[k + 1] - cpu[k], 2)}
        errors = [o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if used:
            factor = max(full.get(n, epochs) / epochs for n in used)
            record.update(scaled_by=round(factor, 3), note=f"{', '.join(used)} cut to {epochs} of "
                          f"{', '.join(str(full.get(n)) for n in used)}; full time = seconds x scaled_by")
        if errors:
            record["errors"] = errors  # e.g. an assert that holds only after all the epochs
        cells.append(record)
    return {"cells": cells, "wall_seconds": round(wall, 1)}


def machine():
    """What the timings were taken on: date, CPU, cores and load average (the machine may be shared)."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"), "cpu": cpu,
            "cores": os.cpu_count(), "python": sys.version.split()[0]}


def load_average():
    return [round(x, 2) for x in os.getloadavg()]
