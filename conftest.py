"""The lessons run under pytest (nbmake) in quick mode: a small subset of the data, an epoch or two.

The kernel that nbmake starts inherits this process's environment, so setting the variable here reaches every
lesson's `QUICK = os.environ.get("SCRATCHAE_QUICK") == "1"`. Run with SCRATCHAE_QUICK=0 for the full settings.
This file sits at the root, not in lessons/: pytest imports every conftest.py as the module "conftest", and the
last one imported is what the tests' `from conftest import host` finds, so a second one beside tests/ would
shadow tests/conftest.py. The root's is always imported first.
"""
import os

os.environ.setdefault("SCRATCHAE_QUICK", "1")


def pytest_ignore_collect(collection_path, config):
    """Of the student edition, collect lesson 05 only, unless a notebook is named on the command line.

    Lesson 05 is the only student notebook whose code differs from the self-study edition's (its classes are
    stubs); tests/test_student_edition.py checks that every other one's code cells are the self-study ones, which
    the suite already runs, so running them again would take minutes and test nothing new.
    """
    path = collection_path
    if path.suffix != ".ipynb" or path.parent.parent.name != "student" or path.name.startswith("05_"):
        return None
    named = {os.path.abspath(arg.split("::")[0]) for arg in config.args}
    return None if os.path.abspath(path) in named else True
