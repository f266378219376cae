"""Trained models that ship with the package: ``load(name)`` gives the model, its settings and its test numbers.

Each file in weights/ was made by ``python -m scratchae.train --preset NAME`` and packed by
benchmarks/make_pretrained.py, which reproduces them all. A file holds the weights only (float32, as trained)
and, in its meta, the run's settings and every epoch's metrics row; Adam's two moments are left out, since they
would triple the size. ``write_checkpoint`` turns a shipped model into a training checkpoint with fresh Adam
moments, so ``python -m scratchae.train --resume`` trains it on like any other run.
"""
import os
import pathlib
import sys
from typing import NamedTuple

from .backend import cpu_xp, get_xp
from .fit import Progress, save_checkpoint
from .optim import Adam
from .recipes import make_run
from .serialize import read_npz, restore_model

WEIGHTS = pathlib.Path(__file__).resolve().parent / "weights"  # package data (setup.cfg [options.package_data])
# The presets shipped, in the order make_pretrained.py trains them. The conv VAE joins as "cvae" once its preset
# is merged and `python benchmarks/make_pretrained.py --only cvae` has written weights/cvae.npz.
NAMES = ("reference", "vae-2d")
PRETRAINED_ENV = "SCRATCHAE_PRETRAINED"  # "1" or "0": the lessons' PRETRAINED flag, wherever they run


class Pretrained(NamedTuple):
    """A shipped model: ``model`` (NumPy unless asked), ``settings`` (the run's cfg), ``test`` (the last epoch's
    test numbers, e.g. {"test_loss": ...}), ``metrics`` (every epoch's row) and ``seconds`` (training time)."""

    name: str
    model: object
    settings: dict
    test: dict
    metrics: list
    seconds: float


def path_of(name):
    """The weights file of the shipped model ``name``; a name not shipped is a ValueError of one line."""
    if name not in NAMES:
        raise ValueError(f"no pretrained model {name!r}; choose one of {', '.join(NAMES)}")
    return WEIGHTS / f"{name}.npz"


def load(name, *, xp=None, device=None):
    """The shipped model ``name`` on ``xp``'s ``device`` (default NumPy on the CPU) with its record, a Pretrained."""
    path = path_of(name)
    arrays, meta = read_npz(path)
    model = restore_model(arrays, meta, xp=xp, device=device, path=f"pretrained {name}")
    metrics = meta["metrics"]
    test = {k: v for k, v in metrics[-1].items() if k.startswith("test_")}
    return Pretrained(name, model, meta["config"], test, metrics, sum(row["seconds"] for row in metrics))


def evaluate(pretrained, x_test):
    """The test numbers of ``pretrained`` on ``x_test`` (on the model's device), computed as its training run did:
    the same recipe (recipes.make_run) reads the same settings, so they match ``pretrained.test``."""
    return make_run(pretrained.settings, get_xp(x_test), None, x_test, model=pretrained.model).evaluate()


def write_checkpoint(name, folder):
    """Write the shipped model ``name`` as a run folder's checkpoint.npz (the folder is made if missing), after its
    last epoch, with Adam's moments at zero (t = 0): ``python -m scratchae.train --resume FOLDER/checkpoint.npz
    --epochs MORE`` then trains it on. Returns the checkpoint's path."""
    p = load(name)
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    progress = Progress(epoch=len(p.metrics), metrics=list(p.metrics))
    path = folder / "checkpoint.npz"
    save_checkpoint(path, p.model, Adam(p.model, lr=p.settings["lr"]), progress, {**p.settings, "out": str(folder)})
    return path


def wanted(xp, environ=None, colab=None):
    """The lessons' PRETRAINED flag: $SCRATCHAE_PRETRAINED ("1" load, "0" train) where set, else True on Colab's
    CPU runtime (xp is NumPy), where training the lessons' models takes minutes, and False elsewhere."""
    environ = os.environ if environ is None else environ
    colab = "google.colab" in sys.modules if colab is None else colab
    value = environ.get(PRETRAINED_ENV)
    if value is None:
        return colab and xp is cpu_xp
    if value not in ("0", "1"):
        raise ValueError(f"{PRETRAINED_ENV}={value!r}: set it to 1 (load the shipped models) or 0 (train them)")
    return value == "1"
