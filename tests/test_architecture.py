"""The floors of the package: which modules may touch NumPy, no import circles, commands built on cli.py only.

Imports are read from the source with ast, function-level imports included, so a circle hidden inside a function
or a host conversion smuggled into a math module fails here.
"""
import ast
import pathlib

import pytest

import scratchae

PACKAGE = pathlib.Path(scratchae.__file__).parent
MODULES = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__")
# Host-side modules: they read files, draw host random numbers, save, plot, rank scores or run a command.
# Every other module is math or runs math, and sees arrays only through xp.
NUMPY_ALLOWED = {"backend", "data", "serialize", "gradcheck", "metrics", "plots", "anomaly_plots", "cli", "anomaly",
                 "series", "series_plots", "series_anomaly"}
COMMANDS = {"train", "anomaly", "download", "series_anomaly"}
NUMPY_ALLOWED |= {"features"}  # the features command: host permutations for the labelled subsets, the tables
NUMPY_ALLOWED |= {"audit"}  # the sync audit (a test tool): it asks NumPy whether a result is a view
COMMANDS |= {"features"}
NUMPY_ALLOWED |= {"explorer"}  # the latent explorer: host points for the sliders, figures, widgets
# The floors of docs/architecture.md: a module imports from its own floor or a lower one, never a higher one.
FLOORS = [
    {"backend", "data", "standin", "series"},  # arrays and data
    {"layers", "im2col", "conv_fast", "conv", "pooling", "losses", "optim", "gradcheck", "lstm", "lstm_fast", "seq"},  # the math
    {"models", "training"},  # models and the plain step
    {"denoise", "sparse", "vae", "cvae", "pca", "seq2seq", "windows"} | {"classify", "knn", "probe"},  # the variants and the linear baseline
    {"serialize", "fit", "metrics", "plots", "anomaly_plots", "exercises",
     "series_plots", "netfig"},  # saving, the loop, figures, scores
    {"cli", "presets", "recipes", "series_detect"} | {"pretrained", "explorer"},  # what the commands share; the
    # shipped models (read as a run's recipe) and the explorer over them
    COMMANDS,
    {"grade", "handin"},  # the teacher's commands: one-line shims over scratchae/teacher/, which builds on cli.py
]
FLOORS[0] |= {"audit"}  # the sync audit, a test tool beside standin
FLOORS[1] |= {"optim_fast"}  # the math: the fused Adam beside optim.py's


def imports(module):
    """Every module name ``module`` imports, anywhere in its source, with relative imports made absolute."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # from . import x / from .x import y
                base = "scratchae" + (f".{node.module}" if node.module else "")
                names += [f"{base}.{alias.name}" if not node.module else base for alias in node.names]
            else:
                names.append(node.module or "")
    return names


def our_imports(module):
    """The package's own modules that ``module`` imports."""
    found = set()
    for name in imports(module):
        parts = name.split(".")
        if parts[0] == "scratchae" and len(parts) > 1 and parts[1] in MODULES:
            found.add(parts[1])
    return found


def test_the_lists_name_real_modules():
    assert NUMPY_ALLOWED <= set(MODULES) and COMMANDS <= set(MODULES)
    assert len(MODULES) > 20


@pytest.mark.parametrize("module", [m for m in MODULES if m not in NUMPY_ALLOWED])
def test_math_modules_never_import_numpy_or_cupy(module):
    found = [name for name in imports(module) if name.split(".")[0] in ("numpy", "cupy")]
    assert not found, f"{module}.py imports {found}; take xp from the arrays (backend.get_xp) instead"


def test_the_numpy_guard_sees_function_level_imports(tmp_path, monkeypatch):
    (tmp_path / "sneaky.py").write_text("def f(a):\n    import numpy as np\n    return np.asarray(a)\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", tmp_path)
    assert imports("sneaky") == ["numpy"]


def test_there_are_no_import_circles():
    graph = {m: our_imports(m) for m in MODULES}
    state = {}

    def visit(m, path):
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", "import circle: " + " -> ".join(path + [m])
        state[m] = "open"
        for n in sorted(graph[m]):
            visit(n, path + [m])
        state[m] = "done"
    for m in MODULES:
        visit(m, [])


def test_every_module_has_one_floor():
    placed = [m for floor in FLOORS for m in floor]
    assert sorted(placed) == sorted(set(placed)) and set(placed) == set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_modules_import_only_their_floor_or_lower(module):
    level = {m: i for i, floor in enumerate(FLOORS) for m in floor}
    higher = sorted(m for m in our_imports(module) if level[m] > level[module])
    assert not higher, f"{module}.py (floor {level[module] + 1}) imports {higher} from a higher floor"


@pytest.mark.parametrize("module", MODULES)
def test_no_module_builds_on_a_command(module):
    found = our_imports(module) & COMMANDS - {module}
    assert not found, f"{module}.py imports the command(s) {found}; shared code belongs in cli.py"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_builds_on_cli(command):
    assert "cli" in our_imports(command)
