"""The lessons run under pytest (nbmake) in quick mode: a small subset of the data, an epoch or two.

The kernel that nbmake starts inherits this process's environment, so setting the variable here reaches every
lesson's `QUICK = os.environ.get("SCRATCHAE_QUICK") == "1"`. Run with SCRATCHAE_QUICK=0 for the full settings.
This file sits at the root, not in lessons/: pytest imports every conftest.py as the module "conftest", and the
last one imported is what the tests' `from conftest import host` finds, so a second one beside tests/ would
shadow tests/conftest.py. The root's is always imported first.
"""
import os

os.environ.setdefault("SCRATCHAE_QUICK", "1")
