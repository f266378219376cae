"""Lesson 05 notebooks for the grader's tests: the correct one, with mistakes planted by text edits, or stubbed."""
import ast
import copy
import json
import pathlib

LESSONS = pathlib.Path(__file__).resolve().parents[1] / "lessons"


def lesson(lang="en"):
    """The self-study lesson 05 notebook as a dict."""
    return json.loads((LESSONS / lang / "05_build_it_yourself.ipynb").read_text(encoding="utf-8"))


def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def set_source(cell, text):
    cell["source"] = text.splitlines(keepends=True)


def plant(notebook, edits=(), cells_before_classes=()):
    """A copy with each (old, new) edit applied once in the first code cell that holds old, and extra code cells
    inserted just before the cell that defines the classes."""
    nb = copy.deepcopy(notebook)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for old, new in edits:
        cell = next((c for c in code if old in source(c)), None)
        assert cell is not None, f"not in the lesson: {old!r}"
        set_source(cell, source(cell).replace(old, new, 1))
    at = next(i for i, c in enumerate(nb["cells"]) if "class Dense" in source(c) and c["cell_type"] == "code")
    for text in reversed(cells_before_classes):
        nb["cells"].insert(at, {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                                "source": text.splitlines(keepends=True)})
    return nb


class _Stub(ast.NodeTransformer):
    """Every function and method body becomes its docstring and `raise NotImplementedError`."""

    def visit_FunctionDef(self, node):
        doc = node.body[:1] if ast.get_docstring(node) else []
        node.body = doc + [ast.parse("raise NotImplementedError").body[0]]
        return node


def stubbed(notebook):
    """The student edition's lesson 05, as the tests make it: the assignment's classes and builder are stubs."""
    nb = copy.deepcopy(notebook)
    for cell in nb["cells"]:
        text = source(cell)
        if cell["cell_type"] == "code" and ("class Dense" in text or "def build_autoencoder" in text):
            tree = _Stub().visit(ast.parse(text))
            set_source(cell, ast.unparse(tree) + "\n")
    return nb


def save(notebook, path):
    path = pathlib.Path(path)
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def student_edition(lang="en"):
    """The committed student edition's lesson 05 where lessons/build.py has made it, else our stubbed copy."""
    path = LESSONS / "student" / lang / "05_build_it_yourself.ipynb"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else stubbed(lesson(lang))


def pasted(notebook, lang="en"):
    """A student's notebook after pasting the self-study classes over the stubs (the cells that define them)."""
    nb = copy.deepcopy(notebook)
    code = [source(c) for c in lesson(lang)["cells"] if c["cell_type"] == "code"]
    answers = {name: next(text for text in code if name in text) for name in ("class Dense", "class Autoencoder")}
    for cell in nb["cells"]:
        for name, text in answers.items():
            if cell["cell_type"] == "code" and name in source(cell):
                set_source(cell, text)
    return nb
