"""What the three commands share: the parser, UsageError, flag types, the run folder, atomic CSV and exit codes.

Each command builds on this module and never on another command. A usage error is one line on stderr and exit
code 2, never a traceback; files a command writes are written atomically (a temporary file, then a rename), so a
crash leaves the old file or the new one.
"""
import argparse
import csv
import json
import math
import pathlib
import platform
import sys

import array_api_compat
import numpy as np

from . import __version__
from .backend import describe
from .serialize import atomic_write

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_DIVERGED = EXIT_FAILED  # a training loss that became NaN or infinite


class UsageError(Exception):
    """A bad flag or setting: one line for the user, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag raises UsageError (one line) instead of printing usage and exiting."""

    def error(self, message):
        raise UsageError(f"{message} (see --help)")


def positive(kind):
    """A flag type: ``kind`` (int or float) parsed from the text and required to be finite and > 0."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def nonnegative(text):
    """A flag type: a finite float >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def prepare_out(folder, flag="--out"):
    """Create the run folder and make sure it is writable, or raise UsageError."""
    path = pathlib.Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UsageError(f"{flag} {folder}: cannot write there ({err.strerror or err}); choose another folder") from None
    return path


def atomic_write_csv(path, rows, fields=None):
    """Write rows (dicts) as CSV atomically; the columns are ``fields`` or every key in first-seen order."""
    fields = fields or list(dict.fromkeys(key for row in rows for key in row))

    def write(fh):
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    atomic_write(path, write, "w")


def atomic_write_json(path, record):
    """Write a JSON-able dict, indented, atomically."""
    atomic_write(path, lambda fh: fh.write(json.dumps(record, indent=2) + "\n"), "w")


def versions(xp):
    """The versions a run records in config.json: scratchae, Python, NumPy, the array namespace (and CuPy's)."""
    found = {"scratchae": __version__, "python": platform.python_version(), "numpy": np.__version__,
             "array_api_compat": array_api_compat.__version__, "array_namespace": describe(xp)}
    if "cupy" in xp.__name__:
        import cupy
        found["cupy"] = cupy.__version__
    return found


def report(prog, message, code):
    """Print one line for the user on stderr and return the exit code (``error:`` for usage errors)."""
    kind = "error: " if code == EXIT_USAGE else ""
    print(f"{prog}: {kind}{message}", file=sys.stderr)
    return code
