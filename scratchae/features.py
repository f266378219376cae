"""``python -m scratchae.features RUN_DIR``: how good are a trained run's codes as features for a classifier?

It loads the run's checkpoint, encodes the training and test images, and reports the test accuracy of k-NN
(k = 5) and softmax regression on raw pixels, on PCA-32 and on the codes, with 100, 1,000 and all 60,000
training labels (the autoencoder itself never saw a label). It also compares the run's reconstruction error with
PCA's at the same code size. Writes features.csv, reconstruction.csv and features.md to the run folder.
Usage errors print one line and exit 2.
"""
import pathlib
import sys

import numpy as np

from .backend import GPUUnavailableError, cpu_xp, describe, get_xp, gpu_xp, to_device, to_numpy
from .cli import EXIT_OK, EXIT_USAGE, Parser, UsageError, atomic_write_csv, positive, prepare_out, report
from .data import DATA_ENV, DataError, batch_slices, load
from .fit import load_checkpoint
from .pca import pca_errors, pca_fit
from .probe import evaluate_features, pca_features
from .serialize import CheckpointError, atomic_write
from .training import encode_all

PROG = "scratchae.features"
FEATURES = ("pixels", "pca", "code")
FIELDS = ["features", "dims", "labels", "classifier", "accuracy", "weight_decay", "steps"]


def build_parser():
    p = Parser(prog="python -m scratchae.features",
               description="Accuracy of k-NN and softmax regression on a trained run's codes, against raw pixels "
                           "and PCA-32, with few or all labels; writes features.csv and features.md to the run.")
    p.add_argument("run", metavar="RUN_DIR", help="a run folder of scratchae.train (it holds checkpoint.npz)")
    p.add_argument("--features", nargs="+", choices=FEATURES, default=list(FEATURES),
                   help="which feature sets to evaluate (default: pixels pca code)")
    p.add_argument("--labels", type=positive(int), nargs="+", metavar="N", default=[100, 1000, 60000],
                   help="numbers of labelled training images, a random subset each (default: 100 1000 60000)")
    p.add_argument("--components", type=positive(int), default=32, help="PCA's components (default: 32)")
    p.add_argument("--steps", type=positive(int), default=3000,
                   help="most Adam steps of the softmax regression; the held-out rows pick fewer (default: 3000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the labelled subsets and the regression (default: 0)")
    p.add_argument("--gpu", action="store_true", help="run on a CUDA GPU with CuPy (pip install -e .[gpu])")
    p.add_argument("--data-dir", help=f"folder holding the data set's IDX files (default, as for scratchae.train: "
                                      f"${DATA_ENV}/<dataset>, the checkout's data/<dataset>, then the user cache)")
    return p


def reconstruction_rows(model, x_train, x_test, code_size, cfg, pca=None):
    """Test error of the run's model and of PCA with as many components as the code has numbers.

    Two units: the mean squared error per pixel, and the squared error summed over an image's 784 pixels and
    averaged over images (Hinton and Salakhutdinov's unit). A VAE reconstructs from its mean code. ``pca``, a
    (mean, components) already fitted on ``x_train`` with ``code_size`` components, saves fitting it again.
    """
    xp = get_xp(x_test)
    parts = []
    for a, b in batch_slices(x_test.shape[0], 1000):
        d = model.decode(model.encode(x_test[a:b, ...])) - x_test[a:b, ...]
        parts.append(xp.mean(d * d, axis=1))
    ae = float(np.mean(to_numpy(xp.concat(parts))))
    rows = [{"model": f"{cfg['model']} autoencoder", "code_size": code_size, "mse_per_pixel": ae,
             "squared_error_per_image": ae * x_test.shape[1]}]
    if code_size <= x_test.shape[1]:  # PCA has at most 784 directions; a conv code of 3136 has no PCA twin
        mean, components = pca if pca is not None else pca_fit(x_train, code_size)
        pca_mse = float(np.mean(to_numpy(pca_errors(x_test, mean, components))))
        rows.append({"model": f"PCA-{code_size}", "code_size": code_size, "mse_per_pixel": pca_mse,
                     "squared_error_per_image": pca_mse * x_test.shape[1]})
    return rows


def markdown(cfg, rows, recon, label_counts):
    """The accuracy table (one row per feature set, a column per classifier and label count) and the errors."""
    head = [f"{c} {n}" for n in label_counts for c in ("k-NN", "softmax")]
    lines = [f"# Codes as features: {cfg['dataset']}, {cfg.get('preset', '')} run", "",
             "Test accuracy in percent (10,000 test images); k-NN with k = 5; column: classifier, labelled images.",
             "", "| features | dims | " + " | ".join(head) + " |", "| --- | --- |" + " --- |" * len(head)]
    for name in dict.fromkeys(r["features"] for r in rows):
        mine = {(r["classifier"], r["labels"]): r for r in rows if r["features"] == name}
        cells = [f"{100 * mine[(c, n)]['accuracy']:.2f}" for n in label_counts for c in ("knn5", "softmax")]
        lines.append(f"| {name} | {next(iter(mine.values()))['dims']} | " + " | ".join(cells) + " |")
    lines += ["", "| model | code size | test MSE per pixel | squared error per image |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['model']} | {r['code_size']} | {r['mse_per_pixel']:.5f} | {r['squared_error_per_image']:.2f} |"
              for r in recon]
    return "\n".join(lines) + "\n"


def run(args):
    """Evaluate the run in args.run as the flags say and write its three files; returns the accuracy rows."""
    folder = pathlib.Path(args.run)
    checkpoint = folder / "checkpoint.npz"
    if not checkpoint.is_file():
        raise UsageError(f"{folder}: no checkpoint.npz there; give a run folder written by scratchae.train")
    prepare_out(folder, "RUN_DIR")  # writable, before minutes of work
    xp = gpu_xp() if args.gpu else cpu_xp
    model, _, _, cfg = load_checkpoint(checkpoint, xp=xp)
    x_train, y_train, x_test, y_test = load(cfg["dataset"], args.data_dir)
    too_many = [n for n in args.labels if n > x_train.shape[0]]
    if too_many:
        raise UsageError(f"--labels {too_many[0]}: the training set has only {x_train.shape[0]} images")
    order = np.random.default_rng(args.seed).permutation(x_train.shape[0])  # the labelled rows: order[:n]
    xd_train, xd_test = to_device(x_train, xp), to_device(x_test, xp)
    yd_train, yd_test = to_device(y_train, xp), to_device(y_test, xp)
    print(f"{PROG}: {cfg['dataset']} run {folder} with {describe(xp)}; labels {', '.join(map(str, args.labels))}",
          flush=True)
    sets = {}
    if "pixels" in args.features:
        sets["pixels"] = (xd_train, xd_test)
    if "pca" in args.features:
        sets[f"PCA-{args.components}"] = pca_features(xd_train, xd_test, args.components)
    codes = (to_device(encode_all(model, xd_train), xp), to_device(encode_all(model, xd_test), xp))
    code_name = f"{cfg.get('preset') or cfg['model']} code"
    if "code" in args.features:
        sets[code_name] = codes
    rows = []
    for name, (f_train, f_test) in sets.items():
        print(f"{name} ({f_train.shape[1]} numbers)", flush=True)
        found = evaluate_features(f_train, yd_train, f_test, yd_test, args.labels, order, seed=args.seed,
                                  steps=args.steps, log=lambda line: print(line, flush=True))
        rows += [{"features": name, "dims": f_train.shape[1], **r} for r in found]
    recon = reconstruction_rows(model, xd_train, xd_test, codes[0].shape[1], cfg)
    for r in recon:
        print(f"{r['model']}: test MSE per pixel {r['mse_per_pixel']:.5f}, squared error per image "
              f"{r['squared_error_per_image']:.2f}", flush=True)
    atomic_write_csv(folder / "features.csv", rows, FIELDS)
    atomic_write_csv(folder / "reconstruction.csv", recon)
    atomic_write(folder / "features.md", lambda fh: fh.write(markdown(cfg, rows, recon, args.labels)), "w")
    print(f"{PROG}: wrote features.csv, reconstruction.csv and features.md to {folder}", flush=True)
    return rows


def main(argv=None):
    """Command-line entry point; returns the exit code."""
    try:
        run(build_parser().parse_args(argv))
    except (UsageError, GPUUnavailableError, DataError, CheckpointError) as err:
        return report(PROG, err, EXIT_USAGE)
    except KeyboardInterrupt:
        return report(PROG, "interrupted; nothing was written", 130)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
