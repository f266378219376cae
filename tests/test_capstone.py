"""The capstone's checks catch a wrong student class: lesson 05 runs with one planted bug at a time and must fail.

Lesson 05 reprints the student's classes from lessons 01-03 and checks them (each piece, the whole model, one
step against the library's). Here its code cells run in this process, in quick mode, with one line of one class
replaced by a plausible mistake. A check cell must then raise AssertionError, before training starts. Unchanged,
the lesson runs to the end.
"""
import contextlib
import pathlib
import tempfile

import jupytext
import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)

LESSON = pathlib.Path(__file__).resolve().parent.parent / "lessons" / "en" / "05_build_it_yourself.py"

# (class, the right line, a wrong one): each is a mistake that shapes alone do not reveal.
BUGS = {
    "Dense backward": ('self.grads["b"] = xp.sum(dout, axis=0)  # (n_out,)',
                       'self.grads["b"] = xp.mean(dout, axis=0)  # (n_out,)'),
    "ReLU": ("return xp.where(self.mask, dout, 0.0)  # the gradient passes where x > 0",
             "return dout  # the gradient passes where x > 0"),
    "Sigmoid": ("return dout * self.out * (1.0 - self.out)", "return dout * self.out"),
    "BCE backward": ("/ (self.p * (1.0 - self.p)) / self.p.size", "/ (self.p * (1.0 - self.p)) / self.p.shape[0]"),
    "Adam": ("m_hat = self.m[name] / (1.0 - b1**self.t)", "m_hat = self.m[name]"),
}


def code_cells(replace=None):
    """The lesson's code cells, with ``replace = (right, wrong)`` applied to the one cell that has ``right``."""
    cells = [c.source for c in jupytext.read(LESSON).cells if c.cell_type == "code"]
    if replace is not None:
        right, wrong = replace
        assert sum(c.count(right) for c in cells) == 1, f"the lesson no longer has exactly one {right!r}"
        cells = [c.replace(right, wrong) for c in cells]
    return cells


def one_blas_thread():
    """Fewer BLAS threads than cores: the small float64 products of the gradient checks run far faster."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def run(cells, monkeypatch, tmp_path):
    """Execute the cells in order in one namespace; return the index of the cell that raised AssertionError."""
    monkeypatch.setenv("SCRATCHAE_QUICK", "1")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the lesson saves its .npz in a new temporary folder
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: plt.close("all"))
    namespace = {"__name__": "__capstone__"}
    with one_blas_thread():
        for i, source in enumerate(cells):
            try:
                exec(compile(source, f"{LESSON.name} cell {i}", "exec"), namespace)
            except AssertionError:
                return i, namespace
    return None, namespace


@pytest.mark.parametrize("piece", list(BUGS))
def test_a_planted_bug_fails_a_check(piece, monkeypatch, tmp_path):
    cells = code_cells(BUGS[piece])
    failed, namespace = run(cells, monkeypatch, tmp_path)
    assert failed is not None, f"a bug in {piece} passed every check of the capstone"
    print(f"{piece}: caught by the check in code cell {failed}: {cells[failed].splitlines()[0]}")
    assert "assert" in cells[failed]
    assert "rows" not in namespace, f"{piece}: the bug was caught only after training"


def test_the_unchanged_capstone_passes(monkeypatch, tmp_path):
    cells = code_cells()
    failed, namespace = run(cells, monkeypatch, tmp_path)
    assert failed is None, f"code cell {failed} failed: {cells[failed]}"
    assert namespace["rows"][-1]["val"] < namespace["rows"][0]["val"]
    assert namespace["same"] is True
