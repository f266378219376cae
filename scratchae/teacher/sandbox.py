"""Run untrusted code in its own process: a new session, a wall-clock limit, a memory cap, a scratch folder.

The limits are the operating system's: RLIMIT_AS caps the child's address space (an allocation beyond it raises
MemoryError there), RLIMIT_FSIZE caps any file it writes (its output log included), and at the deadline the whole
process group is killed (SIGKILL), so a loop, a sleep or a grandchild stops too. What the child prints goes to a
capped log file that the grader keeps for the teacher and never parses.

Where the machine allows unprivileged namespaces (most Linux desktops and CI runners), the child also runs under
``unshare`` in its own user, PID and network namespaces: it sees no other process (so it cannot signal the
grader or another submission) and has no network. Without them, the child runs as the grader's user and could,
for instance, signal the grader; the limits above still hold. Neither stops it reading the user's files: for
hostile classes, run the grader in a container or a throwaway account.
"""
import functools
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

DEFAULT_TIMEOUT_S = 120.0  # a correct lesson 05 takes a few seconds here; stubs and hangs stop at the limit
DEFAULT_MEMORY_MB = 2048  # NumPy, the notebook's classes and one 784-wide model fit in a few hundred MB
MAX_MEMORY_MB = 4096
LOG_LIMIT_BYTES = 1 << 20  # of the child's stdout and stderr, what the grader keeps
FILE_LIMIT_BYTES = 64 << 20  # any file the child writes: a print loop ends here (SIGXFSZ), not on a full disk


@dataclass
class Outcome:
    """How the child ended: its exit code (negative: killed by that signal), whether the limit hit, seconds."""

    returncode: int
    timed_out: bool
    seconds: float


def child_env(extra):
    """The grader's environment with the variables that steer a lesson reset: quick mode, one thread, no GPU."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRATCHAE_")}
    env |= {"SCRATCHAE_QUICK": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "CUDA_VISIBLE_DEVICES": "", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}
    return env | extra


NAMESPACES = ("--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--net", "--mount-proc")


@functools.cache
def isolation():
    """The ``unshare`` command prefix when this machine allows unprivileged namespaces, else ()."""
    exe = shutil.which("unshare")
    if exe is None:
        return ()
    try:
        done = subprocess.run([exe, *NAMESPACES, sys.executable, "-c", "pass"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return (exe, *NAMESPACES) if done.returncode == 0 else ()


def apply_limits(memory_mb):
    """Cap this process's address space, the size of any file it writes, and core dumps (kept across exec)."""
    cap = int(memory_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT_BYTES, FILE_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_python(args, cwd, log_path, timeout_s=DEFAULT_TIMEOUT_S, memory_mb=DEFAULT_MEMORY_MB, env=None):
    """Run ``python args...`` in ``cwd`` under the limits; stdout and stderr go to log_path (truncated)."""
    if not 0 < memory_mb <= MAX_MEMORY_MB:
        raise ValueError(f"memory_mb must be in (0, {MAX_MEMORY_MB}], got {memory_mb}")
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        # This module as the launcher: it sets the limits on itself, then execs python with args (no preexec_fn,
        # which is unsafe when --jobs grades from several threads).
        launcher = [*isolation(), sys.executable, os.path.abspath(__file__), str(int(memory_mb)), sys.executable,
                    *args]
        child = subprocess.Popen(launcher, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 env=child_env(env or {}), start_new_session=True)
        try:
            returncode, timed_out = child.wait(timeout=timeout_s), False
        except subprocess.TimeoutExpired:
            returncode, timed_out = None, True
        child.kill()  # by pid, in case it left its group (os.setsid); with namespaces, --kill-child ends the rest
        _kill_group(child.pid)  # also on a normal exit: a grandchild it left running must not outlive it
        if returncode is None:
            returncode = child.wait()
    _truncate(log_path)
    return Outcome(returncode, timed_out, time.perf_counter() - started)


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _truncate(path):
    if os.path.getsize(path) > LOG_LIMIT_BYTES:
        with open(path, "r+b") as fh:
            fh.truncate(LOG_LIMIT_BYTES)


if __name__ == "__main__":  # python path/to/sandbox.py MEMORY_MB PROGRAM ARGS... (a script: no package import)
    apply_limits(int(sys.argv[1]))
    os.execv(sys.argv[2], sys.argv[2:])
