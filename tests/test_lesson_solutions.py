"""Every "Try it" solution solves its exercise: each lesson runs again with its stubs replaced by the solutions.

A stub is the code cell just before a markdown cell that opens with ``<details><summary>Solution`` (解答 in the
Japanese edition, lessons/ja/, which this covers too: LESSONS holds both editions); the solution
is that block's fenced Python code, a drop-in for the whole cell. Untouched stubs print "not attempted" (that is
what the nbmake run sees); here every exercise must print "correct". Lessons without exercises are skipped.
"""
import re

import jupytext
import nbclient
import pytest

from test_lessons import LESSONS

SOLUTION = re.compile(r"\A<details><summary>(?:Solution|解答)</summary>\s*```python\n(.*?)```\s*</details>", re.S)


def solved(py):
    """Lesson ``py`` as a notebook with every stub cell replaced by its solution, and the number replaced."""
    nb = jupytext.read(py)
    count = 0
    for stub, block in zip(nb.cells, nb.cells[1:]):
        match = SOLUTION.match(block.source) if block.cell_type == "markdown" else None
        if match:
            assert stub.cell_type == "code" and "raise NotImplementedError" in stub.source, stub.source
            stub.source = match.group(1).rstrip("\n")
            count += 1
    return nb, count


def test_every_stub_has_a_solution():
    for py in LESSONS:
        nb, count = solved(py)
        stubs = [c for c in jupytext.read(py).cells if c.cell_type == "code" and "raise NotImplementedError" in c.source]
        assert count == len(stubs), f"{py.name}: {len(stubs)} stubs but {count} solution blocks right after them"


@pytest.mark.parametrize("py", LESSONS, ids=[f"{p.parent.name}/{p.stem}" for p in LESSONS])
def test_solutions_pass_their_checks(py, monkeypatch):
    nb, count = solved(py)
    if not count:
        pytest.skip(f"{py.name} has no exercise stubs")
    monkeypatch.setenv("SCRATCHAE_QUICK", "1")  # the kernel inherits it
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(py.parent)}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "not attempted" not in printed
    assert printed.count(": correct\n") == count, printed
