"""The student edition (lessons/student/<edition>/) is its source without answers, up to date, and lesson 05's checks
in it are real: they wait while the classes are stubs, pass with the self-study classes and fail with a wrong one.

The solution lines are found here from the source's markers without lessons/student_edition.py (the folded
``<details>`` blocks, the self-study spans, the bodies of lesson 05's classes), and the student notebooks are
also scanned for what those look like (any ``<details>``, any class body that is not a stub). nbmake runs the
student notebooks as they are (the untouched stubs); here lesson 05 also runs with the classes written.
"""
import ast
import json
import re

import jupytext
import matplotlib
import nbformat
import pytest

from test_capstone import run
from test_lessons import LESSONS, ROOT, build

matplotlib.use("Agg")

ASSIGNMENT = ("Dense", "ReLU", "Sigmoid", "BCE", "MSE", "Adam", "Autoencoder", "build_autoencoder")
FOLDED = re.compile(r"<details><summary>[^<]*</summary>(.*?)</details>", re.S)
SELF_STUDY = re.compile(r"<!-- self-study only -->(.*?)<!-- end self-study only -->", re.S)
IDS = [f"{p.parent.name}/{p.stem}" for p in LESSONS]
SE = build._student_edition()


def student(py):
    """The committed student edition of lesson ``py`` (a lessons/<edition>/NN_topic.py), as JSON."""
    return json.loads((ROOT / "lessons" / "student" / py.parent.name / py.with_suffix(".ipynb").name).read_text("utf-8"))


def cell_sources(nb):
    """The (cell_type, source) of every cell of a notebook read as JSON."""
    return [(c["cell_type"], "".join(c["source"])) for c in nb["cells"]]


def assignment_bodies(source):
    """The source lines of every method body (docstrings aside) of the assignment's definitions in ``source``."""
    lines, found = source.split("\n"), []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in ASSIGNMENT:
            for fn in [node] if isinstance(node, ast.FunctionDef) else node.body[1:]:
                found += lines[fn.body[1].lineno - 1:fn.body[-1].end_lineno]
    return found


def solution_lines(py):
    """Lines of ``py`` that only its solutions hold: in a folded block, a self-study span or a lesson-05 class
    body, and nowhere else in the lesson (a check repeated inside a solution block is not a solution)."""
    solutions, kept = [], []
    for cell in jupytext.read(py).cells:
        if cell.cell_type == "markdown":
            hidden = FOLDED.findall(cell.source) + SELF_STUDY.findall(cell.source)
            solutions += [line for block in hidden for line in block.split("\n")]
            kept += SELF_STUDY.sub("", FOLDED.sub("", cell.source)).split("\n")
        elif py.stem.startswith("05_") and set(ASSIGNMENT) & {getattr(n, "name", "") for n in
                                                            ast.parse(cell.source).body}:
            body = assignment_bodies(cell.source)
            solutions += body
            kept += [line for line in cell.source.split("\n") if line not in body]
        else:
            kept += cell.source.split("\n")
    trivial = {"", "```", "```python", "#"}
    return {s.strip() for s in solutions} - {k.strip() for k in kept} - trivial


def test_every_lesson_has_a_student_edition_and_no_other():
    have = sorted(p.relative_to(ROOT / "lessons" / "student").with_suffix(".py")
                  for p in (ROOT / "lessons" / "student").glob("*/*.ipynb"))
    assert have == sorted(p.relative_to(ROOT / "lessons") for p in LESSONS)


@pytest.mark.parametrize("py", LESSONS, ids=IDS)
def test_student_edition_is_up_to_date(py):
    notebook = py.with_suffix(".ipynb").relative_to(ROOT).as_posix()
    url, ref = build.settings(ROOT)
    want = build.student_notebook(notebook, jupytext.read(py), url, ref)
    nb = student(py)
    have = cell_sources(nb)
    assert [(c.cell_type, c.source) for c in want.cells] == have, "run `python lessons/build.py` to regenerate"
    assert not [c for c in nb["cells"] if c["cell_type"] == "code" and (c["outputs"] or c["execution_count"])]
    assert build.badge(url, ref, build.student_path(notebook)) in have[0][1], "the badge opens the student edition"
    setup = next(c.source for c in jupytext.read(py).cells if c.cell_type == "code")
    assert next(s for t, s in have if t == "code") == setup, "the same setup cell as the self-study edition"
    assert nb["metadata"] == json.loads(py.with_suffix(".ipynb").read_text("utf-8"))["metadata"]


@pytest.mark.parametrize("py", [p for p in LESSONS if not p.stem.startswith("05_")],
                         ids=[i for i in IDS if "/05_" not in i])
def test_outside_lesson_05_only_markdown_changes(py):
    # Only lesson 05's code differs between the editions; elsewhere the student edition runs the same code cells.
    code = [c.source for c in jupytext.read(py).cells if c.cell_type == "code"]
    assert [s for t, s in cell_sources(student(py)) if t == "code"] == code


@pytest.mark.parametrize("py", LESSONS, ids=IDS)
def test_no_solution_line_reaches_the_student_edition(py):
    text = "\n".join(source for _, source in cell_sources(student(py)))
    lines = {line.strip() for line in text.split("\n")}
    assert not solution_lines(py) & lines
    # Independently of the markers: nothing folded is left, and nothing of the kind is announced.
    for tag in ("<details", "</details>", "<summary", "self-study only", "student edition only"):
        assert tag not in text, f"{tag!r} is in the student edition"
    if any(FOLDED.search(c.source) for c in jupytext.read(py).cells if c.cell_type == "markdown"):
        assert solution_lines(py), "folded solutions, yet no solution line to look for: the markers changed?"


def test_lesson_05_keeps_only_stubs_of_the_assignment():
    for py in [p for p in LESSONS if p.stem.startswith("05_")]:
        code = [s for t, s in cell_sources(student(py)) if t == "code"]
        defined = {}
        for source in code:
            for node in ast.parse(source).body:
                if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in ASSIGNMENT:
                    defined[node.name] = defined.get(node.name, 0) + 1
                    for fn in [node] if isinstance(node, ast.FunctionDef) else node.body[1:]:
                        doc, stub = fn.body  # a docstring, then one raise
                        assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant), fn.name
                        assert isinstance(stub, ast.Raise) and stub.exc.func.id == "NotImplementedError", fn.name
        assert defined == dict.fromkeys(ASSIGNMENT, 1), defined
        # The self-study edition keeps every body: the same definitions there have real code.
        self_study = "\n".join(c.source for c in jupytext.read(py).cells if c.cell_type == "code")
        assert len(assignment_bodies(self_study)) > 50


def lesson_05(edition="en"):
    """The student edition of lesson 05 as (cells to run, the self-study classes' cells to paste back)."""
    py = ROOT / "lessons" / edition / "05_build_it_yourself.py"
    nb = nbformat.read(ROOT / "lessons" / "student" / edition / "05_build_it_yourself.ipynb", as_version=4)
    mine = [c.source for c in jupytext.read(py).cells if c.cell_type == "code"
            and set(ASSIGNMENT) & {getattr(n, "name", "") for n in ast.parse(c.source).body}]
    return nb, mine


def pasted(nb, mine, wrong=None):
    """Code cells of ``nb`` with each stub cell replaced by the next of ``mine``, ``wrong = (right, bad)`` applied."""
    cells, left = [], list(mine)
    for cell in nb.cells:
        if cell.cell_type == "code":
            names = {getattr(n, "name", "") for n in ast.parse(cell.source).body}
            source = left.pop(0) if set(ASSIGNMENT) & names else cell.source
            cells.append(source if wrong is None else source.replace(*wrong))
    assert not left
    return cells


def test_untouched_stubs_run_to_the_end_and_say_what_is_left(monkeypatch, tmp_path, capsys):
    nb, _ = lesson_05()
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    failed, namespace = run(cells, monkeypatch, tmp_path)
    assert failed is None and namespace["WRITTEN"] is False
    printed = capsys.readouterr().out
    assert printed.count("not written yet (") == 5 and "still to write: Dense; ReLU; Sigmoid; BCE; MSE" in printed
    gated = sum(c.startswith("if WRITTEN:") for c in cells)
    assert gated >= 10 and printed.count("skipped: write your classes first") == gated
    assert "rows" not in namespace and "model" not in namespace


@pytest.mark.parametrize("right, wrong", [
    ("return dout * self.out * (1.0 - self.out)", "return dout * self.out"),  # a piece: its own check fails
    ("m_hat = self.m[name] / (1.0 - b1**self.t)", "m_hat = self.m[name]"),  # Adam: the one-step check fails
])
def test_a_wrong_class_in_the_student_edition_fails_a_check(right, wrong, monkeypatch, tmp_path):
    nb, mine = lesson_05()
    cells = pasted(nb, mine, (right, wrong))
    assert sum(right in c for c in pasted(nb, mine)) == 1
    failed, namespace = run(cells, monkeypatch, tmp_path)
    assert failed is not None and "assert" in cells[failed] and "rows" not in namespace


def test_the_self_study_classes_pass_every_check_of_the_student_edition(monkeypatch, tmp_path, capsys):
    nb, mine = lesson_05()
    failed, namespace = run(pasted(nb, mine), monkeypatch, tmp_path)
    assert failed is None and namespace["WRITTEN"] is True
    printed = capsys.readouterr().out
    for line in ("5 of 5 pieces pass their gradient check", "every class is written",
                 "the whole model passes the end-to-end gradient check", "your step is the library's step",
                 "identical reconstructions: True"):
        assert line in printed
    assert "skipped: write your classes first" not in printed and "not written yet (" not in printed
    assert namespace["rows"][-1]["val"] < 0.9 * namespace["rows"][0]["val"]


@pytest.mark.parametrize("cells, problem", [
    ([("markdown", "<details><summary>Solution</summary>\n\nno end")], "malformed or unknown marker '<details'"),
    ([("markdown", "<details><summary>Hint</summary>x</details>")], "malformed or unknown marker '<details'"),
    ([("markdown", "<!-- self-study only -->\nx")], "marker 'self-study only'"),
    ([("code", "class Dense:\n    def forward(self, x):\n        return x")], "class Dense needs a docstring"),
    ([("code", 'class Dense:\n    """d."""\n\n    def forward(self, x):\n        return x')],
     "Dense.forward needs a docstring"),
    ([("code", 'def build_autoencoder():\n    """b."""\n    return 1\n\n\nmodel = build_autoencoder()')],
     "move line 6"),
    ([("code", 'def build_autoencoder():\n    """b."""\n    return 1')], "no code cell sets WRITTEN"),
    ([("code", "WRITTEN = True")], "must follow every definition of the assignment"),
])
def test_a_malformed_marker_stops_the_build(cells, problem):
    with pytest.raises(SystemExit, match=re.escape(problem)) as err:
        SE.transform("lessons/en/05_build_it_yourself.ipynb", cells)
    assert str(err.value).startswith("lessons/en/05_build_it_yourself.ipynb: ")


def test_markers_outside_the_assignment():
    cells = [("markdown", "Q?\n\n<details><summary>答え</summary>\n\nA.\n\n</details>\n\n2. Next."),
             ("markdown", "<details><summary>Solution</summary>\n\n```python\nx = 1\n```\n\n</details>"),
             ("markdown", "a\n\n<!-- self-study only -->\n\nb\n\n<!-- end self-study only -->\n\n"
                          "<!-- student edition only\nc\n-->\n\nd"),
             ("code", "def f():\n    return 1  # not the assignment: kept")]
    out = SE.transform("lessons/ja/03_x.ipynb", cells)
    assert out == [(0, "Q?\n\n2. Next."), (2, "a\n\nc\n\nd"), (3, cells[3][1])]
