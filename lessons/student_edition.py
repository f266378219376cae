"""The student edition of a lesson: its self-study notebook without the solutions and answers, cell by cell.

lessons/build.py applies ``transform`` to every lesson. It acts only on explicit markers in the .py source, and a
marker it cannot read stops the build with one line that names the lesson and the marker:

- Markdown: every folded block ``<details><summary>Solution</summary> ... </details>`` (also ``Answer``, and
  ``解答`` and ``答え`` in lessons/ja/) is removed, and so is every span between ``<!-- self-study only -->`` and
  ``<!-- end self-study only -->``. The text of a ``<!-- student edition only ... -->`` comment is shown instead:
  a comment, so the self-study notebook does not render it. A cell left empty is dropped.
- The assignment (``ASSIGNMENT``, lesson 05): its classes and builder keep their signatures and docstrings, and
  each body becomes ``raise NotImplementedError("Dense.forward: write this")``. The code cell that sets
  ``WRITTEN`` says which are still stubs; every code cell after it runs only ``if WRITTEN:``, so an untouched
  student edition runs top to bottom (CI runs it), and one with the classes written checks them for real.

Everything else is kept as it is: the stubs of the "Try it" exercises, every check, the setup cell.
"""
import ast
import pathlib
import re
import textwrap

ANSWER = re.compile(r"<details><summary>(?:Solution|Answer|解答|答え)</summary>.*?</details>", re.S)
SELF_STUDY = re.compile(r"<!-- self-study only -->.*?<!-- end self-study only -->", re.S)
STUDENT = re.compile(r"<!-- student edition only\n(.*?)\n-->", re.S)
# Any of these left after the three patterns above is a marker that is malformed (unclosed, misspelt, nested).
MARKERS = ("<details", "</details", "<summary", "self-study only", "student edition only")

# Lesson -> the definitions that are the assignment, in the order they appear.
ASSIGNMENT = {"05_build_it_yourself": ("Dense", "ReLU", "Sigmoid", "BCE", "MSE", "Adam", "Autoencoder",
                                       "build_autoencoder")}
GATE = "WRITTEN"  # set by one code cell of the assignment lesson: True once no stub is left
WAITS = {"en": "# student edition: this cell runs once every class above is written",
         "ja": "# 生徒用: 上のクラスをすべて書くと、このセルが実行されます"}
SKIPPED = {"en": "skipped: write your classes first (the cell after the model's classes lists what is left)",
           "ja": "スキップしました。先にクラスを書いてください（モデルのクラスの次のセルに、残りが表示されます）"}


def fail(notebook, problem):
    """Stop the build with one line: which lesson, what is wrong."""
    raise SystemExit(f"{notebook}: {problem}")


def markdown(notebook, text):
    """A markdown cell's ``text`` without its solutions, answers and self-study spans ("" when nothing is left)."""
    out = STUDENT.sub(lambda m: m.group(1), SELF_STUDY.sub("", ANSWER.sub("", text)))
    left = [marker for marker in MARKERS if marker in out]
    if left:
        fail(notebook, f"a malformed or unknown marker {left[0]!r} in the markdown cell that starts {text[:50]!r} "
                       "(see lessons/student_edition.py for the markers)")
    return text if out == text else re.sub(r"\n{3,}", "\n\n", out).strip("\n")


def body_lines(notebook, lines, node, qualname):
    """(first, last) 1-based lines of ``node``'s body after its docstring, trailing comment lines included."""
    if ast.get_docstring(node) is None or len(node.body) < 2:
        fail(notebook, f"{qualname} needs a docstring and a body: the student edition keeps the one, stubs the other")
    first, last = node.body[0].end_lineno + 1, node.body[-1].end_lineno
    if node.body[1].lineno < first:
        fail(notebook, f"{qualname}: put the code on the lines after the docstring")
    body_indent = node.body[1].col_offset
    while last < len(lines) and lines[last].strip().startswith("#") and \
            len(lines[last]) - len(lines[last].lstrip()) >= body_indent:  # a comment that ends the body
        last += 1
    return first, last


def stub(notebook, source, names):
    """``source`` with the bodies of its definitions named in ``names`` stubbed, and the names it defines."""
    tree = ast.parse(source)
    defined = [n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name in names]
    if not defined:
        return source, []
    lines, cuts = source.split("\n"), []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if not isinstance(node, (ast.ClassDef, ast.FunctionDef)) or node.name not in names:
            fail(notebook, f"the cell that defines {', '.join(defined)} may hold only imports and the assignment's "
                           f"definitions; move line {node.lineno} ({lines[node.lineno - 1].strip()!r}) to a cell below")
        if isinstance(node, ast.FunctionDef):
            cuts.append((*body_lines(notebook, lines, node, node.name), node.name, node.body[1].col_offset))
            continue
        if ast.get_docstring(node) is None:
            fail(notebook, f"class {node.name} needs a docstring: the student edition keeps it")
        for item in node.body[1:]:
            if not isinstance(item, ast.FunctionDef):
                fail(notebook, f"class {node.name} may hold only methods after its docstring (line {item.lineno})")
            qualname = f"{node.name}.{item.name}"
            cuts.append((*body_lines(notebook, lines, item, qualname), qualname, item.body[1].col_offset))
    for first, last, qualname, indent in reversed(cuts):
        lines[first - 1:last] = [f'{" " * indent}raise NotImplementedError("{qualname}: write this")']
    return "\n".join(lines), defined


def gated(notebook, source, edition):
    """``source`` run only ``if WRITTEN:``, with a line that says it was skipped otherwise."""
    tree = ast.parse(source)
    if not tree.body:  # comments only: nothing to run
        return source
    out = f"if {GATE}:  {WAITS[edition]}\n" + textwrap.indent(source, "    ") + \
        f'\nelse:\n    print("{SKIPPED[edition]}")'
    if ast.dump(ast.Module(ast.parse(out).body[0].body, [])) != ast.dump(tree):
        fail(notebook, f"indenting the cell that starts {source[:50]!r} changes its code (a multi-line string?)")
    return out


def sets_gate(source):
    """Whether ``source`` assigns ``WRITTEN`` at the top level."""
    return any(isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == GATE for t in node.targets)
               for node in ast.parse(source).body)


def transform(notebook, cells):
    """The student edition of lesson ``notebook`` (lessons/<edition>/NN_topic.ipynb), from its (cell_type,
    source) list: a list of (index of the source cell, new source), without the cells that are left empty."""
    path = pathlib.PurePosixPath(notebook)
    edition, names = path.parent.name, ASSIGNMENT.get(path.stem, ())
    out, found, gate = [], [], False
    for index, (cell_type, source) in enumerate(cells):
        if cell_type == "markdown":
            source = markdown(notebook, source)
        elif cell_type == "code" and names and gate:
            source = gated(notebook, source, edition)
        elif cell_type == "code" and names:
            source, defined = stub(notebook, source, names)
            found += defined
            gate = sets_gate(source)
            if gate and sorted(found) != sorted(names):
                fail(notebook, f"the cell that sets {GATE} must follow every definition of the assignment, "
                               f"each defined once: {', '.join(names)} (found {', '.join(found) or 'none'})")
        if source:
            out.append((index, source))
    if names and not gate:
        fail(notebook, f"no code cell sets {GATE} after the assignment's definitions (found {', '.join(found)})")
    return out
