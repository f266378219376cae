"""``python -m scratchae.anomaly``: the one-class protocol on MNIST or Fashion-MNIST, autoencoder against PCA.

For each normal class: train a dense autoencoder on that class's training images only, score all 10,000 test
images by reconstruction error (the other nine classes are the anomalies), and report ROC AUC next to the PCA
baseline's, plus precision, recall and accuracy at the TensorFlow tutorial's threshold (mean + std of the training
errors). Writes results.csv, scores.csv, config.json, model-<class>.npz and three figures to the run folder.
Usage errors print one line and exit 2; a diverged loss exits 1.
"""
import datetime
import sys

import numpy as np

from . import anomaly_plots
from .backend import GPUUnavailableError, cpu_xp, describe, gpu_xp, to_device, to_numpy
from .cli import (EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Parser, UsageError, atomic_write_csv,
                  atomic_write_json, positive, prepare_out, report)
from .data import DATA_ENV, DataError, load
from .fit import Diverged, Interrupted, fit
from .metrics import detection_report, roc_auc, threshold_rule
from .pca import pca_errors, pca_fit
from .plots import CLASS_NAMES
from .recipes import make_run
from .serialize import save_model
from .training import reconstruction_errors

PROG = "scratchae.anomaly"
SCORE_LOSSES = ("bce", "mse")  # recipes.LOSSES' reconstruction losses; each is also the score
# The reference architecture with MSE, 40 epochs: per-image BCE also charges a perfect reconstruction the entropy
# of its grey pixels, which ranks inky images as anomalous (docs/results.md#anomaly-defaults).
DEFAULTS = {"dims": [784, 256, 128, 64, 32, 32], "loss": "mse", "epochs": 40, "batch_size": 256, "lr": 1e-3}
FIELDS = ["normal", "name", "train_images", "ae_auc", "pca_auc", "threshold", "precision", "recall", "accuracy",
          "tp", "fp", "fn", "tn"]


def build_parser():
    p = Parser(prog="python -m scratchae.anomaly",
               description="One-class anomaly detection: train on one class, score the test set by reconstruction "
                           "error, report ROC AUC for the autoencoder and the PCA baseline.")
    p.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist", help="(default: mnist)")
    p.add_argument("--normal", choices=[str(c) for c in range(10)] + ["all"], default="all",
                   help="the normal class, 0-9, or 'all' to run each class in turn (default: all)")
    p.add_argument("--epochs", type=positive(int), default=DEFAULTS["epochs"],
                   help=f"epochs per class (default: {DEFAULTS['epochs']})")
    p.add_argument("--dims", type=positive(int), nargs="+", metavar="D", default=DEFAULTS["dims"],
                   help="encoder widths from input to latent, mirrored by the decoder (default: 784 256 128 64 32 32)")
    p.add_argument("--loss", choices=SCORE_LOSSES, default=DEFAULTS["loss"],
                   help="training loss, which is also the score (default: mse)")
    p.add_argument("--batch-size", type=positive(int), default=DEFAULTS["batch_size"], help="(default: 256)")
    p.add_argument("--lr", type=positive(float), default=DEFAULTS["lr"], help="Adam learning rate (default: 1e-3)")
    p.add_argument("--components", type=positive(int), default=32, help="PCA baseline's components (default: 32)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights and shuffling (default: 0)")
    p.add_argument("--limit", type=positive(int), metavar="N",
                   help="use only the first N training images (then keep the normal class's)")
    p.add_argument("--out", help="run folder (default: runs/anomaly-<dataset>-<date>-<time>)")
    p.add_argument("--gpu", action="store_true", help="run on a CUDA GPU with CuPy (pip install -e .[gpu])")
    p.add_argument("--data-dir", help=f"folder holding the data set's IDX files (default, as for scratchae.train: "
                                      f"${DATA_ENV}/<dataset>, the checkout's data/<dataset>, then the user cache)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def one_class(c, x_normal, x_test, xt, y_test, cfg, xp, out):
    """Train on x_normal (host, (n, 784)) and score the test set, x_test on the host and xt on the device (N, 784).

    Returns a dict: row (the numbers of the table), ae and pca (N,) host scores, worst (8,) indices of the test
    images the autoencoder reconstructs worst and recon (8, 784) their reconstructions.
    """
    x = to_device(x_normal, xp)
    run = make_run(cfg, xp, x_normal)  # the output bias starts at the logit of the class's mean image
    model, loss = run.model, run.loss
    fit(model, run.optimizer, run.step, None, x, epochs=cfg["epochs"], batch_size=cfg["batch_size"],
        seed=cfg["seed"], on_epoch=lambda row: None, quiet=cfg["quiet"], label=f"class {c}: ")
    save_model(model, out / f"model-{c}.npz")  # atomic; lets anyone rescore the test set later
    train_err = to_numpy(reconstruction_errors(model, loss, x))
    ae = to_numpy(reconstruction_errors(model, loss, xt))
    mean, components = pca_fit(x, cfg["components"])
    pca = to_numpy(pca_errors(xt, mean, components))
    is_anomaly = y_test != c
    threshold = threshold_rule(train_err)
    row = {"normal": c, "name": CLASS_NAMES[cfg["dataset"]][c], "train_images": x_normal.shape[0],
           "ae_auc": roc_auc(ae, is_anomaly), "pca_auc": roc_auc(pca, is_anomaly), "threshold": threshold,
           **detection_report(ae, is_anomaly, threshold)}
    worst = np.argsort(-ae, kind="stable")[:8]
    recon = to_numpy(model.forward(to_device(x_test[worst], xp)))
    return {"row": row, "ae": ae, "pca": pca, "worst": worst, "recon": recon}


HEADER = (f"{'normal':<12} {'train':>6} {'AE AUC':>7} {'PCA AUC':>8} {'threshold':>10} {'precision':>9} "
          f"{'recall':>7} {'accuracy':>8}")


def format_row(r):
    """One class's line of the table: AUCs and rates in percent."""
    return (f"{r['normal']} {r['name'][:10]:<10} {r['train_images']:6d} {100 * r['ae_auc']:7.2f} "
            f"{100 * r['pca_auc']:8.2f} {r['threshold']:10.5f} {100 * r['precision']:9.2f} "
            f"{100 * r['recall']:7.2f} {100 * r['accuracy']:8.2f}")


def format_mean(rows):
    """The table's last line: mean AUC over the classes run, autoencoder and PCA."""
    return (f"{'mean':<19} {100 * np.mean([r['ae_auc'] for r in rows]):7.2f} "
            f"{100 * np.mean([r['pca_auc'] for r in rows]):8.2f}")


def run(cfg):
    """Run the protocol as ``cfg`` says and write the run folder; returns the result rows."""
    if cfg["dims"][0] != 784 or len(cfg["dims"]) < 2:
        raise UsageError(f"--dims must start with 784 (the pixels of a 28x28 image) and name a latent size, "
                         f"got {' '.join(map(str, cfg['dims']))}")
    xp = gpu_xp() if cfg["gpu"] else cpu_xp
    classes = range(10) if cfg["normal"] == "all" else [int(cfg["normal"])]
    x_train, y_train, x_test, y_test = load(cfg["dataset"], cfg["data_dir"])
    if cfg["limit"]:
        x_train, y_train = x_train[:cfg["limit"]], y_train[:cfg["limit"]]
    for c in classes:
        if not np.any(y_train == c):
            raise UsageError(f"class {c} has no training images among the first {x_train.shape[0]}; "
                             f"raise --limit or drop it")
    out = prepare_out(cfg["out"])
    atomic_write_json(out / "config.json", {**cfg, "array_namespace": describe(xp)})
    print(f"one-class anomaly detection on {cfg['dataset']}: {'-'.join(map(str, cfg['dims']))} autoencoder "
          f"({cfg['loss']}, {cfg['epochs']} epochs) against PCA-{cfg['components']}, normal class "
          f"{cfg['normal']} with {describe(xp)} -> {out}", flush=True)
    print(HEADER, flush=True)
    xt = to_device(x_test, xp)  # moved once, scored once per class
    results, scores = [], []
    for c in classes:
        result = one_class(c, x_train[y_train == c], x_test, xt, y_test, cfg, xp, out)
        results.append(result)
        scores += [{"normal": c, "index": i, "label": int(y_test[i]), "ae_score": float(result["ae"][i]),
                    "pca_score": float(result["pca"][i])} for i in range(y_test.shape[0])]
        print(format_row(result["row"]), flush=True)
        rows = [r["row"] for r in results]
        # Rewritten after every class: a run stopped half way keeps the classes it finished.
        atomic_write_csv(out / "results.csv", rows, FIELDS)
        atomic_write_csv(out / "scores.csv", scores, ["normal", "index", "label", "ae_score", "pca_score"])
    anomaly_plots.all_figures(out, results, x_test, y_test, CLASS_NAMES[cfg["dataset"]])
    if len(rows) > 1:
        print(format_mean(rows))
    print(f"done: AUC, scores and figures in {out}", flush=True)
    return rows


def main(argv=None):
    """Command-line entry point; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        cfg = {**vars(args), "model": "dense", "output_bias": "mean"}  # what recipes.make_run reads
        cfg["out"] = cfg["out"] or f"runs/anomaly-{args.dataset}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
        run(cfg)
    except (UsageError, GPUUnavailableError, DataError) as err:
        return report(PROG, err, EXIT_USAGE)
    except Diverged as err:
        return report(PROG, f"{err}; try a smaller --lr", EXIT_DIVERGED)
    except (Interrupted, KeyboardInterrupt):
        return report(PROG, "interrupted; results.csv and scores.csv hold the classes finished so far",
                      EXIT_INTERRUPTED)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
