"""Lessons run under pytest (nbmake) in quick mode: a small subset of the data, an epoch or two.

The kernel that nbmake starts inherits this process's environment, so setting the variable here reaches every
lesson's `QUICK = os.environ.get("SCRATCHAE_QUICK") == "1"`. Run with SCRATCHAE_QUICK=0 for the full settings.
"""
import os

os.environ.setdefault("SCRATCHAE_QUICK", "1")
