"""Read a submission: a lesson 05 notebook or a hand-in archive; pick the code cells to run and the language.

A notebook is JSON: nothing in it runs here. Shell and magic lines (``!pip``, ``%time``) are dropped, since the
child is plain Python. Once every graded name is bound, later cells run only if they bind a graded name again
(a student's fix further down): the checks and the training loop that follow the classes add nothing to the grade
and cost the most time.
"""
import ast
import json
import pathlib
import re
import zipfile

GRADED = ("Dense", "ReLU", "Sigmoid", "BCE", "MSE", "Adam", "Autoencoder", "build_autoencoder")
MAX_NOTEBOOK_BYTES = 50 << 20
KANA = re.compile(r"[\u3040-\u30ff]")  # hiragana and katakana: Japanese prose, not just kanji


class SubmissionError(Exception):
    """The file is not a notebook or archive we can read: one line for the teacher."""


def code_of(cell):
    """A code cell's source with shell (!) and magic (%) lines left out; None for a whole-cell magic."""
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else str(source)
    if source.lstrip().startswith("%%"):
        return None
    return "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in source.splitlines())


def bound_names(source):
    """Top-level names a cell binds: classes, functions, assignments, imports."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def cells_to_run(notebook):
    """[(index, source)] to execute, and the indices skipped (after every graded name was bound)."""
    run, skipped, seen = [], [], set()
    code_cells = [c for c in notebook.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"]
    for index, cell in enumerate(code_cells, start=1):
        source = code_of(cell)
        if source is None:
            continue
        names = bound_names(source)
        if seen >= set(GRADED) and not names & set(GRADED):
            skipped.append(index)
            continue
        run.append((index, source))
        seen |= names
    return run, skipped


def language(notebook):
    """"ja" when the Markdown cells are Japanese (a few dozen kana), else "en"."""
    text = "".join("".join(c.get("source", "")) for c in notebook.get("cells", [])
                   if isinstance(c, dict) and c.get("cell_type") == "markdown")
    return "ja" if len(KANA.findall(text)) >= 30 else "en"


def parse_notebook(data, name):
    try:
        notebook = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SubmissionError(f"{name} is not a notebook (not JSON: {err})") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise SubmissionError(f"{name} is not a notebook (no list of cells)")
    return notebook


def read(path):
    """path -> (notebook dict, archive path or None). Raise SubmissionError for anything else."""
    path = pathlib.Path(path)
    if zipfile.is_zipfile(path):
        return read_archive(path), path
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise SubmissionError(f"{path.name} is over {MAX_NOTEBOOK_BYTES >> 20} MB: not a lesson notebook")
    return parse_notebook(path.read_bytes(), path.name), None


def read_archive(path):
    """The notebook a hand-in archive names in handin.json, read from the zip without extracting anything."""
    with zipfile.ZipFile(path) as archive:
        try:
            manifest = json.loads(archive.read("handin.json"))
            name = manifest["notebook"]
        except (KeyError, ValueError, TypeError):
            raise SubmissionError(f"{path.name}: no handin.json naming the notebook; make it with "
                                  "python -m scratchae.handin") from None
        if not isinstance(name, str) or "/" in name or "\\" in name or not name.endswith(".ipynb"):
            raise SubmissionError(f"{path.name}: handin.json names {name!r}, not a notebook at the top")
        try:
            info = archive.getinfo(name)
        except KeyError:
            raise SubmissionError(f"{path.name}: handin.json names {name}, which is not in the archive") from None
        if info.file_size > MAX_NOTEBOOK_BYTES:
            raise SubmissionError(f"{path.name}: {name} is over {MAX_NOTEBOOK_BYTES >> 20} MB")
        return parse_notebook(archive.read(info), name)
