"""The sandbox's limits hold: wall clock (the whole process group), memory, file size, and a clean environment."""
import ast
import os
import time

import pytest

from scratchae.teacher import sandbox


@pytest.fixture(params=["namespaces", "plain"])
def mode(request, monkeypatch):
    """Both ways the sandbox runs: under unshare where the machine allows it, and as a plain child."""
    if request.param == "plain":
        monkeypatch.setattr(sandbox, "isolation", lambda: ())
    elif not sandbox.isolation():
        pytest.skip("this machine allows no unprivileged namespaces: the plain mode is tested")
    return request.param


def run(tmp_path, code, **limits):
    outcome = sandbox.run_python(["-c", code], tmp_path, tmp_path / "log.txt", **limits)
    return outcome, (tmp_path / "log.txt").read_text(errors="replace")


def test_a_clean_exit_is_reported_with_its_code(tmp_path, mode):
    outcome, log = run(tmp_path, "print('hello'); raise SystemExit(3)")
    assert (outcome.returncode, outcome.timed_out, log) == (3, False, "hello\n")


def test_the_deadline_kills_the_child_and_its_grandchildren(tmp_path, mode):
    """A grandchild that writes a heartbeat every 0.05 s stops writing once the deadline has passed."""
    code = ("import subprocess, time\n"
            "subprocess.Popen(['sh', '-c', 'while true; do date +%s%N > beat; sleep 0.05; done'])\n"
            "while True: time.sleep(0.01)\n")
    started = time.perf_counter()
    outcome, _ = run(tmp_path, code, timeout_s=3)
    assert outcome.timed_out and outcome.returncode == -9
    assert time.perf_counter() - started < 30  # the limit plus the start of one Python, on a shared machine
    assert (tmp_path / "beat").exists()
    time.sleep(0.5)
    last = (tmp_path / "beat").read_text()
    time.sleep(1.0)
    assert (tmp_path / "beat").read_text() == last, "the grandchild outlived the deadline"


def test_an_allocation_beyond_the_cap_raises_memory_error_in_the_child(tmp_path, mode):
    code = ("try:\n    block = bytearray(3 * 1024**3)\nexcept MemoryError:\n    print('capped')\n"
            "    raise SystemExit(4)\n")
    outcome, log = run(tmp_path, code, memory_mb=1024)
    assert outcome.returncode == 4 and "capped" in log


def test_the_log_is_cut_at_its_limit(tmp_path):
    outcome, _ = run(tmp_path, "import sys; sys.stdout.write('x' * (3 * 2**20))")
    assert outcome.returncode == 0
    assert os.path.getsize(tmp_path / "log.txt") == sandbox.LOG_LIMIT_BYTES


def test_the_child_runs_in_quick_mode_without_a_gpu_or_colab_switches(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHAE_FORCE_COLAB", "1")
    code = "import os; print(os.environ.get('SCRATCHAE_QUICK'), os.environ.get('SCRATCHAE_FORCE_COLAB'), " \
           "repr(os.environ.get('CUDA_VISIBLE_DEVICES')), os.getcwd())"
    outcome, log = run(tmp_path, code)
    assert log.split() == ["1", "None", "''", str(tmp_path)]


def test_with_namespaces_the_child_sees_no_other_process_and_no_network(tmp_path):
    if not sandbox.isolation():
        pytest.skip("this machine allows no unprivileged namespaces")
    code = ("import os, socket\n"
            "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
            "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\nexcept OSError:\n    print('offline')\n")
    outcome, log = run(tmp_path, code)
    pids, network = log.splitlines()
    assert outcome.returncode == 0 and network == "offline"
    seen = ast.literal_eval(pids)
    assert os.getpid() not in seen and len(seen) <= 2  # itself (and the namespace's first process)


@pytest.mark.parametrize("memory_mb", [0, sandbox.MAX_MEMORY_MB + 1])
def test_a_memory_cap_outside_the_range_is_refused(tmp_path, memory_mb):
    with pytest.raises(ValueError, match="memory_mb"):
        sandbox.run_python(["-c", "pass"], tmp_path, tmp_path / "log.txt", memory_mb=memory_mb)
