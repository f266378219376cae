"""Trained models that ship with the package: ``load(name)`` gives the model, its settings and its test numbers.

Each file in weights/ was made by the project's own command, ``python -m scratchae.train --preset NAME`` (for
the one-class model of lesson 12, ``python -m scratchae.anomaly --normal 4 --epochs 20``; for lesson 14's sweep
``code-K``, ``python -m scratchae.train --dims 784 256 128 64 K --code linear``), and packed by
benchmarks/make_pretrained.py, which reproduces them all. A file holds the weights only, trained in float32 and
stored rounded to float16 (half the size; ``load`` gives float32 again), and, in its meta, the command, the run's
settings, its metrics rows, its test numbers (of the stored weights, scored again on the full test set), the
run's own test numbers (``trained_test``, of the float32 weights) and its training time; Adam's two moments are
left out, since they would triple the size. ``write_checkpoint`` turns a shipped train model into a training
checkpoint with fresh Adam moments, so ``python -m scratchae.train --resume`` trains it on like any other run.
"""
import os
import pathlib
import sys
from typing import NamedTuple

from .backend import cpu_xp, get_xp, to_numpy
from .cvae import binarize
from .fit import Progress, save_checkpoint
from .metrics import roc_auc
from .optim import Adam
from .recipes import LOSSES, make_run
from .serialize import CheckpointError, read_npz, restore_model
from .training import reconstruction_errors

WEIGHTS = pathlib.Path(__file__).resolve().parent / "weights"  # package data (setup.cfg [options.package_data])
# The models shipped: presets of python -m scratchae.train by their name, lesson 12's one-class model and lesson
# 14's four linear-code autoencoders (784-256-128-64-K).
NAMES = ("reference", "vae-2d", "cvae", "anomaly-4", "code-2", "code-8", "code-32", "code-64")
PRETRAINED_ENV = "SCRATCHAE_PRETRAINED"  # "1" or "0": the lessons' PRETRAINED flag, wherever they run


class Pretrained(NamedTuple):
    """A shipped model: ``model`` (NumPy unless asked), ``command`` (what trained it), ``settings`` (the run's cfg),
    ``test`` (the stored weights' test numbers, e.g. {"test_loss": ...}, or {"ae_auc": ...} for a one-class model),
    ``trained_test`` (the same numbers of the run's float32 weights, after its last epoch), ``metrics`` (the run's
    rows: one per epoch, or the anomaly command's row) and ``seconds`` (training)."""

    name: str
    model: object
    command: str
    settings: dict
    test: dict
    trained_test: dict
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
    if meta.get("stored") != "float16":
        raise CheckpointError(f"pretrained {name}: stored as {meta.get('stored')!r}, expected 'float16'; "
                              "reinstall scratchae")
    arrays = {key: cpu_xp.astype(a, cpu_xp.float32) for key, a in arrays.items()}  # exact: float16 in float32
    model = restore_model(arrays, meta, xp=xp, device=device, path=f"pretrained {name}")
    return Pretrained(name, model, meta["command"], meta["config"], meta["test"], meta["trained_test"],
                      meta["metrics"], meta["seconds"])


def evaluate(pretrained, x_test, y_test=None):
    """The test numbers of ``pretrained`` on ``x_test`` (on the model's device), computed as its command did, so
    they match ``pretrained.test``: the run's recipe (recipes.make_run) on the same settings, or for a one-class
    model the ROC AUC of its reconstruction errors with the other classes of ``y_test`` (host labels) as anomalies."""
    s = pretrained.settings
    if "normal" in s:  # python -m scratchae.anomaly's model: scored as its one_class does
        if y_test is None:
            raise ValueError(f"{pretrained.name} is scored by ROC AUC against the labels; give y_test")
        scores = to_numpy(reconstruction_errors(pretrained.model, LOSSES[s["loss"]](), x_test))  # (N,)
        return {"ae_auc": roc_auc(scores, y_test != int(s["normal"]))}
    if s.get("binarize") is not None:  # the conv VAE's run scored binarized test images (train.py does this)
        x_test = binarize(x_test, s["binarize"])
    return make_run(s, get_xp(x_test), None, x_test, model=pretrained.model).evaluate()


def write_checkpoint(name, folder):
    """Write the shipped model ``name`` as a run folder's checkpoint.npz (the folder is made if missing), after its
    last epoch, with Adam's moments at zero (t = 0): ``python -m scratchae.train --resume FOLDER/checkpoint.npz
    --epochs MORE`` then trains it on. Returns the checkpoint's path."""
    p = load(name)
    if "normal" in p.settings:
        raise ValueError(f"{name} was trained by python -m scratchae.anomaly, which has no --resume; "
                         "load it and train it with your own loop")
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
