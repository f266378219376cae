"""A run folder written from a notebook's own model (lesson 05), in the format ``python -m scratchae.train`` writes.

So the hand-in and the grader treat the student's training like a command's run: config.json, metrics.csv,
checkpoint.npz (the library's file: the assignment's architecture and the student's weights, by name) and the
three figures of the report. The student's classes are only read (parameters by name, layers by type).
"""
import datetime
import pathlib

import numpy as np

from .. import netfig, plots
from ..backend import get_xp, to_device, to_numpy
from ..cli import atomic_write_csv, atomic_write_json, prepare_out, versions
from ..serialize import CheckpointError, atomic_savez, restore_model
from .handin import ASSIGNMENT, assignment_spec


def lesson_config(epochs, n_fit, batch_size, lr, seed, n_val=5000, gpu=False):
    """Lesson 05's settings as train's config: the first n_fit images train, the last n_val validate."""
    return {**ASSIGNMENT, "dataset": "mnist", "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
            "output_bias": "mean", "validation": n_val, "limit": n_fit if n_fit < 60000 - n_val else None,
            "preset": "lesson05", "gpu": gpu, "data_dir": None}


def save_run(folder, model, cfg, rows, x_test, y_test):
    """Write the run folder ``folder`` for ``model`` (the notebook's Autoencoder) trained as ``cfg`` says.

    rows: per epoch dicts with epoch, train_loss, val_loss and (the last one at least) test_loss; seconds if
    measured. x_test, y_test: host test images (10000, 784) and labels. Returns the folder as a Path.
    """
    out = prepare_out(folder, flag="folder")
    params = {f"param/{name}": to_numpy(p) for name, p, _ in model.named_params()}
    meta = {"architecture": assignment_spec(), "dtype": "float32",
            "config": cfg, "progress": {"epoch": int(rows[-1]["epoch"]), "step": 0}}
    try:  # the names and shapes must be the library's, or the grader could not read the weights
        restore_model({k: a.astype(np.float32) for k, a in params.items()}, meta, path="the notebook's model")
    except CheckpointError as err:
        raise ValueError(f"{err}: build the model with build_autoencoder(DIMS, ...) as lesson 05 does") from None
    xp = get_xp(next(iter(model.named_params()))[1])
    atomic_write_json(out / "config.json", {**cfg, "versions": versions(xp),
                                            "started": datetime.datetime.now().isoformat(timespec="seconds"),
                                            "resumed_from": None})
    atomic_write_csv(out / "metrics.csv", rows, ["epoch", "train_loss", "val_loss", "test_loss", "seconds"])
    atomic_savez(out / "checkpoint.npz", {k: a.astype(np.float32) for k, a in params.items()}, meta)
    netfig.network_figure(model, out / "network.png")
    pick = plots.one_per_class(y_test)  # the first test image of each digit
    recon = to_numpy(model.forward(to_device(x_test[pick], xp, dtype=xp.float32)))
    plots.reconstructions(x_test[pick], recon, out / "reconstructions.png",
                          f"mnist: test images and their reconstructions after {rows[-1]['epoch']} epochs")
    loss_curve(rows, out / "loss_curve.png")
    return pathlib.Path(out)


def loss_curve(rows, path):
    """Train and validation BCE per epoch, and the test BCE where measured (the end), saved to ``path``."""
    fig, ax = plots.subplots(figsize=(6, 4))
    epochs = [r["epoch"] for r in rows]
    ax.plot(epochs, [r["train_loss"] for r in rows], "o-", label="train (mean over the epoch)")
    ax.plot(epochs, [r["val_loss"] for r in rows], "s-", label="validation (after the epoch)")
    tested = [r for r in rows if r.get("test_loss") is not None]
    ax.plot([r["epoch"] for r in tested], [r["test_loss"] for r in tested], "k*", markersize=12, label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("BCE (mean per pixel)")
    ax.set_title("Loss per epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
