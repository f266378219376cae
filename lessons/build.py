"""Regenerate the lessons: badges and clone lines from setup.cfg, then each .ipynb from its .py.

Run from anywhere: ``python lessons/build.py``. The repository URL lives only in setup.cfg (``[metadata] url``),
the ref that Colab opens and clones in ``[scratchae:lessons] ref``. This script writes both into every lesson's
Colab badge and setup cell, in both editions (lessons/en/ and lessons/ja/), and into the badges of the two
indexes (lessons/README.md and lessons/README.ja.md), then runs ``jupytext --to ipynb --update`` on each lesson,
which keeps the notebook's cell ids and writes no outputs. Never ``--sync``: it picks a direction by
file times and can overwrite the .py, which is the source. Last, it writes each lesson's student edition,
lessons/student/<edition>/NN_topic.ipynb, from that notebook (lessons/student_edition.py says what it removes).
"""
import configparser
import importlib.util
import pathlib
import re
import subprocess
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
BADGE_SVG = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE = re.compile(r"\[!\[Open In Colab\]\(" + re.escape(BADGE_SVG) + r"\)\]\([^)]*\)")
CLONE = re.compile(r"^( *)REPO, REF = .*$", re.M)
EDITIONS = ("en", "ja")  # lessons/<edition>/NN_topic.py; the Japanese lessons are the English ones' twins
INDEXES = ("lessons/README.md", "lessons/README.ja.md")
# The clone line's comment, in each edition's language (the code before it is the same in both).
CLONE_NOTE = {"en": "written by lessons/build.py from setup.cfg", "ja": "lessons/build.py が setup.cfg から書き込む"}


def settings(root=ROOT):
    """(url, ref) from setup.cfg: the public repository and the branch or tag the lessons clone."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(root / "setup.cfg")
    url, ref = cfg["metadata"]["url"].strip().rstrip("/"), cfg["scratchae:lessons"]["ref"].strip()
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise SystemExit(f"setup.cfg: url must look like https://github.com/OWNER/NAME, got {url!r}")
    return url, ref


def lessons(root=ROOT, edition=None):
    """Every lesson source, lessons/<edition>/NN_topic.py, in order; only one edition's when ``edition`` is given."""
    return sorted((root / "lessons").glob(f"{edition or '*'}/[0-9][0-9]_*.py"))


def edition_of(notebook):
    """The edition ("en" or "ja") of a lesson path relative to the repository root, e.g. lessons/ja/04_x.ipynb."""
    parts = pathlib.PurePosixPath(notebook).parts
    if len(parts) != 3 or parts[0] != "lessons" or parts[1] not in EDITIONS:
        raise SystemExit(f"{notebook}: a lesson lives in lessons/<edition>/ with edition one of {EDITIONS}")
    return parts[1]


def badge(url, ref, notebook):
    """The Markdown Colab badge that opens ``notebook`` (a path relative to the repository root) at ``ref``."""
    colab = url.replace("https://github.com/", "https://colab.research.google.com/github/", 1)
    return f"[![Open In Colab]({BADGE_SVG})]({colab}/blob/{ref}/{notebook})"


def clone_line(url, ref, edition="en"):
    """The setup cell's line naming what Colab clones (its indentation is added where it stands)."""
    return f'REPO, REF = "{url}", "{ref}"  # {CLONE_NOTE[edition]}'


def rewrite(text, notebook, url, ref):
    """``text`` (a lesson's .py) with its badge and clone line set from (url, ref); raises if either is missing."""
    if len(BADGE.findall(text)) != 1 or len(CLONE.findall(text)) != 1:
        raise SystemExit(f"{notebook}: needs exactly one Colab badge and one `REPO, REF = ...` line (see 01_dense.py)")
    text = BADGE.sub(lambda _: badge(url, ref, notebook), text)
    return CLONE.sub(lambda m: m.group(1) + clone_line(url, ref, edition_of(notebook)), text)


def rewrite_index(text, url, ref, name="lessons/README.md"):
    """An index's ``text`` (file ``name``) with every badge pointed at (url, ref), each keeping its notebook path."""
    def fix(match):
        path = re.search(r"/blob/.+?/(lessons/[^)]+\.ipynb)\)$", match.group(0))
        if not path:
            raise SystemExit(f"{name}: a badge does not link to a lessons/...ipynb path: {match.group(0)}")
        return badge(url, ref, path.group(1))

    return BADGE.sub(fix, text)


def student_path(notebook):
    """Where the student edition of ``notebook`` (lessons/<edition>/NN_topic.ipynb) lives, in lessons/student/."""
    return f"lessons/student/{edition_of(notebook)}/{pathlib.PurePosixPath(notebook).name}"


def _student_edition():
    """lessons/student_edition.py, the transforms (loaded by path: lessons/ is not a package)."""
    path = pathlib.Path(__file__).with_name("student_edition.py")
    spec = importlib.util.spec_from_file_location("student_edition", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def student_notebook(notebook, self_study, url, ref):
    """The student edition of ``self_study`` (the nbformat notebook at path ``notebook``): cells transformed by
    lessons/student_edition.py, each keeping its cell id, and the badge pointed at the student edition's own path."""
    nb = nbformat.from_dict(self_study)
    cells = _student_edition().transform(notebook, [(c.cell_type, c.source) for c in nb.cells])
    kept = []
    for index, source in cells:  # a cell keeps its source cell's id, so rebuilding gives the same bytes
        cell = nb.cells[index]
        cell.source = source
        kept.append(cell)
    nb.cells = kept
    first = nb.cells[0]
    first.source = BADGE.sub(lambda _: badge(url, ref, student_path(notebook)), first.source, count=1)
    return nb


def write_student(root, notebook, url, ref):
    """Write the student edition of lesson ``notebook``; returns whether its bytes changed."""
    self_study = nbformat.read(root / notebook, as_version=4)
    target = root / student_path(notebook)
    text = nbformat.writes(student_notebook(notebook, self_study, url, ref)) + "\n"
    if target.exists() and target.read_text(encoding="utf-8") == text:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return True


def main(root=ROOT):
    url, ref = settings(root)
    for name in INDEXES:
        index = root / name
        if not index.exists():  # a copy of the repository made by a test may hold one index only
            continue
        text = index.read_text(encoding="utf-8")
        if rewrite_index(text, url, ref, name) != text:
            index.write_text(rewrite_index(text, url, ref, name), encoding="utf-8")
            print(f"{name}: badges updated")
    for py in lessons(root):
        notebook = py.with_suffix(".ipynb").relative_to(root).as_posix()
        text = py.read_text(encoding="utf-8")
        new = rewrite(text, notebook, url, ref)
        if new != text:
            py.write_text(new, encoding="utf-8")
        ipynb = py.with_suffix(".ipynb")
        before = ipynb.read_bytes() if ipynb.exists() else None
        subprocess.run([sys.executable, "-m", "jupytext", "--quiet", "--to", "ipynb", "--update", str(py)], check=True)
        changed = ["badge or clone line"] * (new != text) + ["notebook"] * (ipynb.read_bytes() != before)
        print(f"{notebook}: {' and '.join(changed) + ' updated' if changed else 'unchanged'}")
        print(f"{student_path(notebook)}: {'updated' if write_student(root, notebook, url, ref) else 'unchanged'}")


if __name__ == "__main__":
    main()
