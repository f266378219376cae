"""One command that checks scratchae on a CUDA GPU and writes one Markdown report (for docs/results.md).

    python benchmarks/gpu_check.py --out gpu_check.md

Stages, each reported as ok, failed (with a one-line reason) or skipped (with why): versions and the device; two
steps of every model the commands train under cupyx.allow_synchronize(False); 50 steps of each on NumPy and on
CuPy from the same weights and batches (losses within 1e-3 relative); every preset of scratchae.train, the
anomaly commands and the features command with --gpu, each for one short epoch (seconds per epoch, peak memory
of CuPy's pool); a GPU checkpoint resumed on the CPU and a CPU checkpoint on the GPU; `pytest -m gpu`; lesson 08
at full settings and lessons 04, 09, 13 and 15 in quick mode. Without CuPy or a device every stage after the
versions is skipped and the command exits 0; on a GPU it exits 1 when a stage failed, 2 on a bad flag. The
report is rewritten after every stage, so a run cut short keeps what finished.
"""
import dataclasses
import datetime
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import array_api_compat

import gpu_cases  # benchmarks/gpu_cases.py: run as python benchmarks/gpu_check.py
import gpu_runs
from scratchae.backend import BACKEND_ENV, cpu_xp
from scratchae.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Parser, UsageError, positive, report
from scratchae.serialize import atomic_write

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROG = "gpu_check.py"
QUICK_LESSONS = ("04_reference_autoencoder", "09_convolutions", "13_vae", "15_seq2seq")


@dataclasses.dataclass
class Result:
    """What a stage found: status "ok", "failed" or "skipped", one line of detail, and an optional table."""

    status: str
    detail: str = ""
    header: tuple = ()
    rows: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0


@dataclasses.dataclass
class Context:
    """What the stages share: the GPU namespace (None without one) and why not, a sync guard, the pool's meter."""

    xp: object
    why_not: str
    guard: object = None  # () -> a context that refuses host synchronisation on xp
    pool: object = None  # CuPy's default memory pool (None elsewhere): its size after a stage is its peak
    work: pathlib.Path = None  # scratch folder for run folders
    limit: int = 10000  # training images of each command's short epoch
    env: dict = None  # environment of the subprocesses


def find_gpu():
    """(CuPy's namespace, "") where a CUDA device works, else (None, why not)."""
    if os.environ.get(BACKEND_ENV) == "standin":
        return None, f"${BACKEND_ENV}=standin is set (a test tool); unset it to check the real GPU"
    try:
        from scratchae.backend import GPUUnavailableError, gpu_xp
        return gpu_xp(), ""
    except GPUUnavailableError as err:
        return None, err.reason
    except Exception as err:  # a CuPy that imports and sees a device but fails on its first allocation
        return None, f"CuPy failed on first use: {one_line(err)}"


def one_line(err):
    """An exception as one line: its type and the first line of its message."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else 'no message'}"


def device_tools(xp):
    """(memory pool, sync guard) for ``xp``: CuPy's default pool and allow_synchronize(False); on the
    array_api_strict stand-in no pool and its flags that refuse data-dependent shapes; (None, None) without."""
    if xp is None:
        return None, None
    if array_api_compat.is_cupy_namespace(xp):
        import cupy
        return cupy.get_default_memory_pool(), gpu_cases.cupy_guard
    return None, gpu_cases.strict_guard


def mib(pool):
    """The pool's size in MiB as text ('-' without CuPy); CuPy keeps freed blocks, so this is the peak since
    the last free_all_blocks()."""
    return "-" if pool is None else f"{pool.total_bytes() / 2**20:.0f}"


def stage_versions(ctx):
    rows = gpu_runs.versions(ctx.xp)
    for name, value in rows:
        print(f"  {name}: {value}")
    return Result("ok", next((v for k, v in rows if k == "device"), "no device"), ("what", "version"), rows)


def stage_sync(ctx):
    """One step of every model twice (the first compiles kernels) with each step inside ctx.guard()."""
    rows, failed = [], []
    for name in gpu_cases.CASES:
        if ctx.pool is not None:  # start each model from an empty pool, so its size after is this model's peak
            ctx.pool.free_all_blocks()
        try:
            gpu_cases.audit_steps(name, ctx.xp, ctx.guard)
            rows.append((name, "ok", mib(ctx.pool)))
        except Exception as err:  # SyncError says where a step synchronised; anything else fails this model only
            failed.append(str(err) if isinstance(err, gpu_cases.SyncError) else f"{name}: {one_line(err)}")
            rows.append((name, f"failed: {failed[-1]}", mib(ctx.pool)))
    detail = f"{len(rows) - len(failed)} of {len(rows)} models step without a host synchronisation"
    return Result("failed" if failed else "ok", f"{detail}; first: {failed[0]}" if failed else detail,
                  ("model", "two steps under the guard", "pool MiB"), rows)


def stage_compare(ctx, steps=50):
    rows, bad = [], []
    for name in gpu_cases.CASES:
        try:
            a, b, worst = gpu_cases.compare_steps(name, cpu_xp, ctx.xp, steps)
        except Exception as err:  # this model fails; the others are still compared
            bad.append(f"{name} ({one_line(err)})")
            rows.append((name, "-", "-", "-", "-", "-", f"failed: {one_line(err)}"))
            continue
        ok = worst <= gpu_cases.TOLERANCE  # False for NaN too
        bad += [] if ok else [f"{name} {worst:.1e}"]
        rows.append((name, f"{a[0]:.6g}", f"{b[0]:.6g}", f"{a[-1]:.6g}", f"{b[-1]:.6g}", f"{worst:.1e}",
                     "ok" if ok else "failed"))
    detail = f"worst relative difference of a loss over {steps} steps <= {gpu_cases.TOLERANCE:g} for " \
             f"{len(rows) - len(bad)} of {len(rows)} models" + (f"; over: {', '.join(bad)}" if bad else "")
    return Result("failed" if bad else "ok", detail,
                  ("model", "first loss NumPy", "first loss GPU", f"loss {steps} NumPy", f"loss {steps} GPU",
                   "worst rel. diff.", "status"), rows)


def stage_commands(ctx, commands=None):
    rows, bad = [], []
    for label, argv, out in commands or gpu_runs.commands(ctx.limit, ctx.work):
        run = gpu_runs.run_command(argv, out, ctx.env)
        bad += [] if run["status"] == "ok" else [f"{label}: {run['status']}"]
        shown = " ".join(str(a).replace(str(ctx.work), "$WORK") for a in argv)  # no machine paths in the report
        rows.append((f"`python -m {shown} --gpu`", run["status"], run["images"], run["seconds"],
                     run["per_s"], run["full_epoch"], run["pool"]))
    detail = f"{len(rows) - len(bad)} of {len(rows)} commands finished one short epoch" + \
             (f"; first failure: {bad[0]}" if bad else "")
    return Result("failed" if bad else "ok", detail,
                  ("command", "status", "images", "s (epoch or command)", "images/s", "full epoch s (est.)",
                   "peak pool MiB"), rows)


def stage_resume(ctx):
    rows = gpu_runs.cross_resume(ctx.work / "resume", min(ctx.limit, 2048))
    bad = [r for r in rows if r[-1] != "ok"]
    return Result("failed" if bad else "ok", bad[0][-1] if bad else "both checkpoints resume and agree",
                  ("run", "epoch 2 test loss", "namespace of epoch 2", "status"), rows)


def pytest_stage(args, env, timeout):
    """Run pytest with ``args`` in the checkout; ok when it exits 0, with pytest's last line as the detail."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *args]
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Result("failed", f"still running after {timeout} s: {' '.join(args)}")
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    last = lines[-1].strip("= ") if lines else "no output"
    print("\n".join(lines[-15:]))
    failures = [(line,) for line in lines if line.startswith(("FAILED ", "ERROR "))]  # pytest's summary (-ra)
    return Result("ok" if done.returncode == 0 else "failed", f"exit {done.returncode}: {last}",
                  ("what failed",), failures[:30])


def stage_pytest_gpu(ctx):
    return pytest_stage(["-m", "gpu", "tests"], ctx.env, 400)


def stage_lesson_08(ctx):
    return pytest_stage(["--nbmake-timeout=600", "lessons/en/08_gpu.ipynb"], {**ctx.env, "SCRATCHAE_QUICK": "0"}, 500)


def stage_quick_lessons(ctx):
    notebooks = [f"lessons/en/{name}.ipynb" for name in QUICK_LESSONS]
    return pytest_stage(["--nbmake-timeout=300", *notebooks], {**ctx.env, "SCRATCHAE_QUICK": "1"}, 400)


STAGES = {  # name for --skip -> (title, function, needs a GPU)
    "versions": ("versions and device", stage_versions, False),
    "sync": ("sync audit: two steps of each model under the guard", stage_sync, True),
    "compare": ("NumPy against the GPU, 50 steps", stage_compare, True),
    "commands": ("every command, one short epoch with --gpu", stage_commands, True),
    "resume": ("checkpoints across devices", stage_resume, True),
    "pytest": ("pytest -m gpu", stage_pytest_gpu, True),
    "lesson-08": ("lesson 08 at full settings", stage_lesson_08, True),
    "lessons-quick": ("lessons 04, 09, 13, 15 in quick mode", stage_quick_lessons, True),
}


def run_stage(name, ctx, skip=()):
    """Run one stage: skipped without a GPU or when asked; an exception is a failure with its first line."""
    _, function, needs_gpu = STAGES[name]
    if name in skip:
        return Result("skipped", "left out with --skip")
    if needs_gpu and ctx.xp is None:
        return Result("skipped", f"no GPU: {ctx.why_not}")
    start = time.perf_counter()
    try:
        result = function(ctx)
    except Exception as err:  # one stage's crash is reported and the others still run
        result = Result("failed", one_line(err))
    result.seconds = time.perf_counter() - start
    return result


def cells(*values):
    """One Markdown table row; a | inside a value would end its cell, so it becomes /."""
    return "| " + " | ".join(str(v).replace("|", "/") for v in values) + " |"


def markdown(results, ctx, argv):
    """The report: when and how it ran, one line per stage, then each stage's table."""
    command = " ".join(["python benchmarks/gpu_check.py", *argv])
    out = [f"# GPU check, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC", "", f"`{command}`", "",
           f"GPU: {'found' if ctx.xp is not None else 'none, ' + ctx.why_not}; each command's short epoch: "
           f"{ctx.limit} training images.", "", cells("stage", "status", "seconds", "detail"), "|---|---|---|---|"]
    out += [cells(STAGES[name][0], r.status, f"{r.seconds:.1f}", r.detail) for name, r in results.items()]
    for name, r in results.items():
        if r.rows:
            out += ["", f"## {STAGES[name][0]}", "", cells(*r.header), "|" + "---|" * len(r.header)]
            out += [cells(*row) for row in r.rows]
    return "\n".join(out) + "\n"


def build_parser():
    p = Parser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--out", default="gpu_check.md", help="the Markdown report to write (default: gpu_check.md)")
    p.add_argument("--limit", type=positive(int), default=10000,
                   help="training images in each command's one short epoch (default: 10000)")
    p.add_argument("--skip", nargs="+", default=[], choices=sorted(STAGES), metavar="STAGE",
                   help=f"stages to leave out: {', '.join(STAGES)}")
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
        out = pathlib.Path(args.out)
        if not out.parent.is_dir():  # said now, not after minutes of checks
            raise UsageError(f"--out {out}: folder {out.parent} does not exist; create it or choose another path")
    except UsageError as err:
        return report(PROG, err, EXIT_USAGE)
    xp, why_not = find_gpu()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as work:
        ctx = Context(xp, why_not, limit=args.limit, work=pathlib.Path(work), env=env)
        ctx.pool, ctx.guard = device_tools(xp)
        results = {}
        for name in STAGES:
            print(f"== {STAGES[name][0]}", flush=True)
            results[name] = run_stage(name, ctx, args.skip)
            r = results[name]
            print(f"{name}: {r.status} ({r.seconds:.1f} s) {r.detail}", flush=True)
            atomic_write(out, lambda fh: fh.write(markdown(results, ctx, argv)), "w")
    failed = [name for name, r in results.items() if r.status == "failed"]
    print(f"report: {out}; " + (f"failed: {', '.join(failed)}" if failed else "no stage failed"))
    return EXIT_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
