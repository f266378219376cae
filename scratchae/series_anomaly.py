"""``python -m scratchae.series_anomaly``: anomaly detection on real time series, LSTM autoencoder against baselines.

--dataset ItalyPowerDemand or GunPoint: the one-class protocol of scratchae.anomaly on whole series. Train each
detector on one class's training series, score every test series by reconstruction error (the other class is
the anomaly) and report ROC AUC, each class in turn as the normal one. Writes results.csv, scores.csv and roc.png.
--dataset series135: train on windows of the first 1,200 points of UCR anomaly series 135, score every point of
the 7,501-point series by the windows covering it, and report each detector's top-scoring point and whether it
lies within 100 points of the labelled anomaly, beside the nearest-training-window baseline. Writes results.csv,
points.csv and series135.png. Both write config.json. Usage errors print one line and exit 2.
"""
import datetime
import sys

import numpy as np

from . import series_plots
from .backend import GPUUnavailableError, cpu_xp, describe, gpu_xp, to_device, to_numpy
from .cli import (EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Parser, UsageError, atomic_write_csv,
                  atomic_write_json, positive, prepare_out, report, versions)
from .data import DATA_ENV, DataError
from .fit import Diverged, Interrupted
from .metrics import roc_auc
from .series import CLASSIFICATION, anomaly_region, load_classification, load_series_135
from .series_detect import NEAREST, RECONSTRUCTORS, found, reconstruction_scores, window_scores

PROG = "scratchae.series_anomaly"
DATASETS = (*CLASSIFICATION, "series135")
# Sizes chosen before any test score was seen: a code well below the length (24 and 150 values; a 64-point
# window), so no detector can copy its input; the epochs make the training loss flatten on these few series.
DEFAULTS = {"hidden": 32, "code": 8, "epochs": 200, "batch_size": 16, "lr": 1e-3, "window": 64,
            "series135_epochs": 20, "series135_batch_size": 32}


def build_parser():
    p = Parser(prog="python -m scratchae.series_anomaly",
               description="Anomaly detection on UCR time series: whole series by one class (ROC AUC), or the "
                           "one anomaly of series 135 by sliding windows; LSTM and dense autoencoders, PCA and "
                           "the nearest-window baseline.")
    p.add_argument("--dataset", choices=DATASETS, default="ItalyPowerDemand", help="(default: ItalyPowerDemand)")
    p.add_argument("--models", nargs="+", choices=RECONSTRUCTORS, default=list(RECONSTRUCTORS),
                   help="detectors to run (default: lstm dense pca); series135 adds the nearest-window baseline")
    p.add_argument("--normal", choices=["1", "2", "all"], default="all",
                   help="the normal class of a one-class run, or 'all' for each in turn (default: all)")
    p.add_argument("--hidden", type=positive(int), default=DEFAULTS["hidden"],
                   help="LSTM units and the dense autoencoder's hidden width (default: 32)")
    p.add_argument("--code", type=positive(int), default=DEFAULTS["code"],
                   help="code size of both autoencoders, and PCA's components (default: 8)")
    p.add_argument("--epochs", type=positive(int),
                   help=f"training epochs (default: {DEFAULTS['epochs']}, series135: {DEFAULTS['series135_epochs']})")
    p.add_argument("--batch-size", type=positive(int), help="(default: 16, series135: 32)")
    p.add_argument("--lr", type=positive(float), default=DEFAULTS["lr"], help="Adam learning rate (default: 1e-3)")
    p.add_argument("--window", type=positive(int), default=DEFAULTS["window"],
                   help="series135: points per sliding window (default: 64)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights and shuffling (default: 0)")
    p.add_argument("--out", help="run folder (default: runs/series-<dataset>-<date>-<time>)")
    p.add_argument("--gpu", action="store_true", help="run on a CUDA GPU with CuPy (pip install -e .[gpu])")
    p.add_argument("--data-dir", help=f"folder holding the series files (default: ${DATA_ENV}/timeseries, "
                                      f"then the checkout's data/timeseries)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def one_class(cfg, xp, out):
    """The one-class protocol on ItalyPowerDemand or GunPoint; returns the result rows."""
    x_train, y_train, x_test, y_test = load_classification(cfg["dataset"], cfg["data_dir"])
    if cfg["code"] >= x_train.shape[1]:
        raise UsageError(f"--code {cfg['code']} must be below the series length {x_train.shape[1]}")
    classes = [1, 2] if cfg["normal"] == "all" else [int(cfg["normal"])]
    xt = to_device(x_test, xp)  # moved once, scored once per class and detector
    print(f"{'normal':<7} {'train':>6} " + " ".join(f"{m + ' AUC':>10}" for m in cfg["models"]), flush=True)
    rows, scores, curves = [], [], []
    for c in classes:
        x = to_device(x_train[y_train == c], xp)
        row, found_scores = {"normal": c, "train_series": x.shape[0]}, {}
        for name in cfg["models"]:
            found_scores[name] = to_numpy(reconstruction_scores(name, x, xt, cfg, cfg["quiet"], f"class {c} {name}: "))
            row[f"{name}_auc"] = roc_auc(found_scores[name], y_test != c)
        rows.append(row)
        curves.append((c, found_scores))
        scores += [{"normal": c, "index": i, "label": int(y_test[i]),
                    **{f"{m}_score": float(found_scores[m][i]) for m in cfg["models"]}} for i in range(y_test.size)]
        print(f"{c:<7} {row['train_series']:6d} " + " ".join(f"{100 * row[m + '_auc']:10.2f}" for m in cfg["models"]),
              flush=True)
        # Rewritten after every class: a run stopped half way keeps the classes it finished.
        atomic_write_csv(out / "results.csv", rows)
        atomic_write_csv(out / "scores.csv", scores)
    series_plots.roc(curves, y_test, cfg["dataset"], out / "roc.png")
    return rows


def series_135(cfg, xp, out):
    """Sliding windows on series 135; returns one result row per detector, the baseline last."""
    train, test, is_anomaly = load_series_135(cfg["data_dir"])
    if not 2 <= cfg["window"] <= train.shape[0] // 2 or cfg["code"] >= cfg["window"]:
        raise UsageError(f"--window must be 2 .. {train.shape[0] // 2} and above --code, got --window "
                         f"{cfg['window']} --code {cfg['code']}")
    start, stop = anomaly_region(is_anomaly)
    mean, std = float(train.mean()), float(train.std())  # statistics of the training points only
    tr, te = (to_device((s - mean) / std, xp) for s in (train, test))
    print(f"{'detector':<9} {'answer':>7} {'distance':>9} found (labelled anomaly {start}-{stop})", flush=True)
    rows, points = [], {"index": np.arange(test.size), "value": test, "is_anomaly": is_anomaly.astype(int)}
    for name in [*cfg["models"], NEAREST]:
        score = to_numpy(window_scores(name, tr, te, cfg, cfg["quiet"], f"{name}: "))
        answer = int(np.argmax(score))
        rows.append({"detector": name, "answer": answer, "distance": max(start - answer, answer - stop, 0),
                     "found": found(answer, start, stop)})
        points[f"{name}_score"] = score
        print(f"{name:<9} {answer:7d} {rows[-1]['distance']:9d} {'yes' if rows[-1]['found'] else 'no'}", flush=True)
        atomic_write_csv(out / "results.csv", rows)
    atomic_write_csv(out / "points.csv", [dict(zip(points, values)) for values in zip(*points.values())])
    series_plots.series_135(test, points, rows, (start, stop), train.size, out / "series135.png")
    return rows


def run(cfg):
    """Run what ``cfg`` says and write the run folder; returns the result rows."""
    xp = gpu_xp() if cfg["gpu"] else cpu_xp
    one = cfg["dataset"] != "series135"
    cfg["models"] = list(dict.fromkeys(cfg["models"]))  # each detector once, in the order given
    for key in ("epochs", "batch_size"):
        cfg[key] = cfg[key] or DEFAULTS[key if one else f"series135_{key}"]
    out = prepare_out(cfg["out"])
    atomic_write_json(out / "config.json", {**cfg, "versions": versions(xp)})
    print(f"{cfg['dataset']}: {' '.join(cfg['models'])} (hidden {cfg['hidden']}, code {cfg['code']}, "
          f"{cfg['epochs']} epochs) with {describe(xp)} -> {out}", flush=True)
    rows = one_class(cfg, xp, out) if one else series_135(cfg, xp, out)
    print(f"done: results and figures in {out}", flush=True)
    return rows


def main(argv=None):
    """Command-line entry point; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        cfg = vars(args)
        cfg["out"] = cfg["out"] or f"runs/series-{args.dataset}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
        run(cfg)
    except (UsageError, GPUUnavailableError, DataError) as err:
        return report(PROG, err, EXIT_USAGE)
    except Diverged as err:
        return report(PROG, f"{err}; try a smaller --lr", EXIT_DIVERGED)
    except (Interrupted, KeyboardInterrupt):
        return report(PROG, "interrupted; results.csv holds what finished so far", EXIT_INTERRUPTED)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
