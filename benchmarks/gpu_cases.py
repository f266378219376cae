"""The models gpu_check.py tries on a device: every model the commands train, built as the commands build it.

A case is one model with its loss, Adam and step, made by scratchae's own code: the train command's presets
through presets.settings and recipes.make_run, the series command's two autoencoders through series_detect. Two
checks use the cases: ``audit_steps`` runs a few steps under a guard that refuses host synchronisation (on CuPy,
``cupyx.allow_synchronize(False)``), and ``compare_steps`` runs 50 steps on two namespaces from the same weights
and batches and reports the worst relative difference of their losses.
"""
import contextlib
import functools
import pathlib
import traceback

import numpy as np

from scratchae import train
from scratchae.backend import to_device, to_numpy
from scratchae.data import batch_slices, epoch_order, load, step_rng
from scratchae.losses import MSE
from scratchae.optim import Adam
from scratchae.presets import settings
from scratchae.recipes import make_run
from scratchae.series import load_classification
from scratchae.series_detect import build, shaped
from scratchae.training import train_step

# name -> the train command's flags that set the model up (the presets, and conv-pool, which only a flag reaches)
TRAIN_CASES = {name: ["--preset", name] for name in train.PRESETS}
TRAIN_CASES["conv-pool"] = ["--preset", "keras-conv", "--model", "conv-pool"]
SERIES_CASES = ("lstm", "dense")  # series_anomaly's autoencoders, on ItalyPowerDemand's class 1 (24 values a series)
SERIES_SETTINGS = {"hidden": 32, "code": 8, "seed": 0, "lr": 1e-3, "batch_size": 16}  # the command's defaults
CASES = (*TRAIN_CASES, *(f"series-{name}" for name in SERIES_CASES))
TOLERANCE = 1e-3  # the largest relative difference of a loss between NumPy and a device that counts as the same


@functools.lru_cache(maxsize=2)
def training_images(dataset):
    """The data set's 60,000 training images (N, 784) on the host, read once per data set."""
    return load(dataset)[0]


class Case:
    """One model ready to train on ``xp``: ``step(xb, rng)``, the host training data ``x`` and the batch size."""

    def __init__(self, name, xp, loader=None):
        self.name = name
        if name.startswith("series-"):
            kind = name[len("series-"):]
            x, y, _, _ = load_classification("ItalyPowerDemand")
            self.x = np.asarray(x[y == 1], dtype=np.float32)  # (n, 24)
            model = build(kind, self.x.shape[1], SERIES_SETTINGS, xp)
            loss, optimizer = MSE(), Adam(model, lr=SERIES_SETTINGS["lr"])
            self.batch_size = SERIES_SETTINGS["batch_size"]
            self.step = lambda xb, rng: train_step(model, loss, optimizer, shaped(kind, xb))
        else:
            cfg = settings(train.build_parser().parse_args(TRAIN_CASES[name]))
            self.x = (loader or training_images)(cfg["dataset"])  # (N, 784), what the command trains on
            self.batch_size = cfg["batch_size"]
            self.step = make_run(cfg, xp, self.x).step  # output bias, loss and variant exactly as the command's

    def batches(self, count, xp, seed=0):
        """The first ``count`` minibatches of epoch 0 in the command's order, on ``xp``, with their generators."""
        order = epoch_order(self.x.shape[0], seed, 0)
        slices = list(batch_slices(self.x.shape[0], self.batch_size))
        return [(to_device(self.x[order[a:b]], xp), step_rng(seed, 0, k))
                for k, (a, b) in zip(range(count), slices * (count // len(slices) + 1))]


def loss_of(terms):
    """The 0-d loss a step returned (a dict's "loss" term, else the array itself)."""
    return terms["loss"] if isinstance(terms, dict) else terms


def train_losses(case, xp, steps):
    """Run ``steps`` steps of ``case`` on ``xp`` and return their losses, read back in one transfer at the end."""
    batches = case.batches(steps, xp)
    losses = [loss_of(case.step(xb, rng)) for xb, rng in batches]
    return to_numpy(xp.stack(losses)).astype(np.float64)  # (steps,)


def compare_steps(name, xp_a, xp_b, steps=50, loader=None):
    """Train case ``name`` for ``steps`` steps on each namespace from the same host weights and batches.

    Returns (losses_a, losses_b, worst) with worst = max_k |a_k - b_k| / |a_k|, the worst relative difference.
    """
    a = train_losses(Case(name, xp_a, loader), xp_a, steps)
    b = train_losses(Case(name, xp_b, loader), xp_b, steps)
    return a, b, float(np.max(np.abs(a - b) / np.abs(a)))


def where_in_scratchae(err):
    """The innermost frame of the scratchae package in an exception's traceback, 'module.py:line in function'."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if pathlib.Path(f.filename).parent.name == "scratchae"]
    return f"{pathlib.Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""


def audit_steps(name, xp, guard, steps=2, loader=None):
    """Run ``steps`` steps of case ``name`` with every step inside ``guard()`` (a context that refuses host
    synchronisation); the batches move to the device before it. Returns the losses, read after the guard.

    Raises SyncError naming the scratchae line where a step synchronised.
    """
    case = Case(name, xp, loader)
    batches = case.batches(steps, xp)
    losses = []
    try:
        with guard():
            for xb, rng in batches:
                losses.append(loss_of(case.step(xb, rng)))
    except Exception as err:  # CuPy's DeviceSynchronized, or the stand-in's refusal of a data-dependent shape
        raise SyncError(f"{name}: {type(err).__name__} inside a step at {where_in_scratchae(err) or '?'}"
                        f" ({str(err).splitlines()[0] if str(err) else 'no message'})") from err
    values = to_numpy(xp.stack(losses))
    if not np.all(np.isfinite(values)):
        raise SyncError(f"{name}: a loss is not finite: {values.tolist()}")
    return values


class SyncError(RuntimeError):
    """A step synchronised with the host (or failed) under the guard; the message says where."""


def strict_guard():
    """On the array_api_strict stand-in: refuse boolean-mask indexing and data-dependent shapes, the two things
    that make CuPy read a count back to the host (the stand-in already refuses host conversions of device1)."""
    import array_api_strict

    return array_api_strict.ArrayAPIStrictFlags(boolean_indexing=False, data_dependent_shapes=False)


def cupy_guard():
    """On CuPy: ``cupyx.allow_synchronize(False)``, which raises DeviceSynchronized at any device-to-host copy
    (float(), int(), bool(), .get(), a boolean mask's count) or device synchronize inside the block."""
    import warnings

    import cupyx

    @contextlib.contextmanager
    def guard():
        with warnings.catch_warnings():
            # CuPy 10+ warns at every use that the API is deprecated ("will be removed in future releases"); it
            # still raises as documented (cupy/_core/syncdetect.py), which is all this check needs.
            warnings.filterwarnings("ignore", message="cupyx.allow_synchronize will be removed")
            with cupyx.allow_synchronize(False):
                yield
    return guard()
