"""Hostile submissions get the marks their classes earn and never stop, corrupt or slow the rest of the batch.

One batch through the command (two at a time, as a teacher would run it): a correct notebook and one notebook per
attack. Each attack also carries a real bug, so a grade that believed the submission would show it.
"""
import csv
import json
import time

import pytest

from scratchae.teacher import grade, sandbox

from grade_notebooks import lesson, plant, save

TIMEOUT = 60  # seconds per submission; a correct one takes 5 to 20 here on a loaded machine
UNIT_CHECKS = ("ReLU", "Sigmoid", "Dense", "BCE", "MSE")
BEFORE_ADAM = 53  # the points of the ReLU to MSE checks, delivered before Adam.step runs

CLASSES_START = "import math\n"  # the first line of the classes cell: attacks are prepended to it
PATCH_NUMPY = (CLASSES_START, "import numpy\n"
               "numpy.allclose = lambda *a, **k: True\n"
               "numpy.testing.assert_allclose = lambda *a, **k: None\n"
               "numpy.linalg.norm = lambda *a, **k: 0.0\n"
               "numpy.isfinite = lambda x: numpy.ones(numpy.shape(x), dtype=bool)\n" + CLASSES_START)
PATCH_CHECKS = (CLASSES_START, "import scratchae, scratchae.gradcheck, scratchae.teacher.checks as checks\n"
                "scratchae.gradcheck.rel_error = scratchae.rel_error = lambda a, b: 0.0\n"
                "scratchae.gradcheck.assert_close = lambda *a, **k: None\n"
                "checks.grade = lambda *a, **k: []\n"
                "checks.TOL_GRAD = 1e9\n" + CLASSES_START)
FAKE_OUTPUT = (CLASSES_START, "print('ReLU.backward 5/5  Dense.backward 12/12  total 100/100')\n"
               "print(json.dumps({'score': 100, 'tests': []}))\n"
               "open('grades.csv', 'w').write('submission,total\\nfake,100\\n')\n" + CLASSES_START)
WRONG_RELU = ("return xp.where(self.mask, dout, 0.0)", "return dout")
WRONG_DW = ('self.grads["W"] = self.x.T @ dout  # (n_in, N)',
            'self.grads["W"] = self.x.T @ dout / dout.shape[0]  # (n_in, N)')
WRONG_SIGMOID = ("return dout * self.out * (1.0 - self.out)", "return self.out * (1.0 - self.out)")
ADAM_STEP = "        self.t += 1\n"

SUBMISSIONS = {
    "correct": lesson(),
    "correct_ja": lesson("ja"),
    "patches_numpy": plant(lesson(), [PATCH_NUMPY, WRONG_RELU]),
    "patches_checks": plant(lesson(), [PATCH_CHECKS, WRONG_DW]),
    "prints_fake_results": plant(lesson(), [("import math\n", "import json\nimport math\n"), FAKE_OUTPUT,
                                            WRONG_SIGMOID]),
    "exits": plant(lesson(), [(ADAM_STEP, "        os._exit(0)\n" + ADAM_STEP)]),
    "loops_forever": plant(lesson(), [(ADAM_STEP, "        while True:\n            pass\n" + ADAM_STEP)]),
    "allocates_without_limit": plant(lesson(), [("        self.diff = pred - target\n",
                                                 "        hog = [bytearray(10**8) for _ in iter(int, 1)]\n"
                                                 "        self.diff = pred - target\n")]),
    "raises_at_import": plant(lesson(), [(CLASSES_START, "import a_module_that_is_not_there\n" + CLASSES_START)]),
}
if sandbox.isolation():  # without namespaces this one would kill the test run itself (sandbox.py says so)
    SUBMISSIONS["kills_the_grader"] = plant(lesson(), [(CLASSES_START, "import os, signal\n"
                                                                       "os.kill(os.getppid(), signal.SIGKILL)\n"
                                                                       "os.killpg(os.getpgid(0), signal.SIGKILL)\n"
                                                        + CLASSES_START)])


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    paths = [str(save(nb, folder / f"{name}.ipynb")) for name, nb in SUBMISSIONS.items()]
    started = time.perf_counter()
    code = grade.main([*paths, "--out", str(folder / "out"), "--jobs", "2", "--timeout", str(TIMEOUT),
                       "--memory", "1024"])
    seconds = time.perf_counter() - started
    with open(folder / "out" / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {row["submission"]: row for row in csv.DictReader(fh)}
    return {"code": code, "seconds": seconds, "rows": rows, "out": folder / "out"}


def points(row, prefix=""):
    return sum(float(v) for k, v in row.items() if k.startswith(prefix) and k not in ("submission", "total", "max"))


def test_the_batch_finishes_with_every_submission_graded(batch):
    assert batch["code"] == 0
    assert set(batch["rows"]) == set(SUBMISSIONS)
    # Two at a time: the one that hangs costs its limit once; the rest take seconds each.
    assert batch["seconds"] < TIMEOUT + len(SUBMISSIONS) * 30


@pytest.mark.parametrize("name", ["correct", "correct_ja"])
def test_correct_notebooks_in_the_same_batch_get_full_marks(batch, name):
    assert batch["rows"][name]["total"] == "100" and batch["rows"][name]["max"] == "100"


@pytest.mark.parametrize("name, wrong, mistake", [
    ("patches_numpy", "ReLU.backward", "relu_passes_negative"),
    ("patches_checks", "Dense.backward", "dense_dW_divided_by_batch"),
    ("prints_fake_results", "Sigmoid.backward", "sigmoid_without_dout")])
def test_patching_or_printing_does_not_hide_a_bug(batch, name, wrong, mistake):
    row = batch["rows"][name]
    full = {"ReLU.backward": 5, "Dense.backward": 12, "Sigmoid.backward": 5}[wrong]
    assert float(row[wrong]) < full
    others = [c for c in UNIT_CHECKS for c in (f"{c}.forward", f"{c}.backward") if c != wrong]
    assert all(float(row[c]) > 0 for c in others), row
    assert float(row["Adam.step"]) == 12 and float(row["model.architecture"]) == 8
    result = json.loads((batch["out"] / "results" / f"{name}.json").read_text(encoding="utf-8"))
    assert result["score"] == float(row["total"]) < 100
    assert mistake in (batch["out"] / "feedback" / f"{name}.md").read_text(encoding="utf-8") or \
        grade.mistakes.BY_ID[mistake].en in (batch["out"] / "feedback" / f"{name}.md").read_text(encoding="utf-8")


def test_fake_output_stays_in_the_log(batch):
    log = (batch["out"] / "logs" / "prints_fake_results.log").read_text(encoding="utf-8")
    assert "total 100/100" in log
    assert "fake,100" not in (batch["out"] / "grades.csv").read_text(encoding="utf-8")  # it wrote its own cwd


@pytest.mark.parametrize("name", ["exits", "loops_forever"])
def test_a_child_that_dies_or_hangs_keeps_what_it_delivered(batch, name):
    row = batch["rows"][name]
    assert points(row) == BEFORE_ADAM and float(row["Adam.step"]) == 0 and float(row["model.training"]) == 0
    feedback = (batch["out"] / "feedback" / f"{name}.md").read_text(encoding="utf-8")
    assert "not delivered" in feedback
    if name == "loops_forever":
        assert f"time limit of {TIMEOUT} s" in feedback


def test_a_memory_hog_loses_only_its_own_class(batch):
    row = batch["rows"]["allocates_without_limit"]
    assert float(row["MSE.forward"]) == 0 and float(row["MSE.backward"]) == 0
    assert float(row["total"]) == 100 - 3 - 4
    assert "MemoryError" in (batch["out"] / "feedback" / "allocates_without_limit.md").read_text(encoding="utf-8")


def test_a_notebook_that_raises_at_import_gets_zero(batch):
    row = batch["rows"]["raises_at_import"]
    assert row["total"] == "0"
    feedback = (batch["out"] / "feedback" / "raises_at_import.md").read_text(encoding="utf-8")
    assert "ModuleNotFoundError" in feedback


def test_killing_the_grader_kills_only_the_child(batch):
    """Under unshare the grader lies outside the child's PID namespace: its kill reaches only its own group."""
    if not sandbox.isolation():
        pytest.skip("this machine allows no unprivileged namespaces (see sandbox.py)")
    assert batch["code"] == 0 and batch["rows"]["kills_the_grader"]["total"] == "0"
    assert "signal 9" in (batch["out"] / "feedback" / "kills_the_grader.md").read_text(encoding="utf-8")
