"""The autoencoder against PCA at the same code size: the test errors in one table, the reconstructions in one figure.

Give it run folders of scratchae.train that hold dense autoencoders with different code sizes. For each run it
computes the test error of the model and of PCA with as many components as the code has numbers
(``features.reconstruction_rows``: MSE per pixel, and the squared error summed over an image's 784 pixels, the unit
of Hinton and Salakhutdinov). It prints one Markdown table, and with --figure draws a few test images over their
PCA-k and autoencoder-k reconstructions, one block of columns per data set. The table also counts the code's
dead units: code numbers that are 0 for every test image (a ReLU code can lose units that way; see --code).

    for d in mnist fashion-mnist; do for k in 2 8 32 64; do
      python -m scratchae.train --dataset $d --dims 784 256 128 64 $k --code linear --out runs/sweep-$d-$k
    done; done
    python benchmarks/ae_vs_pca.py runs/sweep-* --figure docs/images/ae_vs_pca.png
"""
import argparse
import pathlib

import numpy as np

from scratchae.data import load
from scratchae.features import reconstruction_rows
from scratchae.fit import load_checkpoint
from scratchae.pca import pca_fit
from scratchae.plots import one_per_class, subplots
from scratchae.training import encode_all


def evaluate(folders, columns=8):
    """One entry per run, sorted by data set and code size: its two error rows, its dead code units and the
    pictures for the figure: (originals, PCA reconstructions, autoencoder reconstructions), each (columns, 784),
    of one test image per class. Two runs of one data set and code size are refused (the figure has one row each).
    """
    runs, data = [], {}
    for folder in folders:
        model, _, _, cfg = load_checkpoint(pathlib.Path(folder) / "checkpoint.npz")
        if cfg["model"] != "dense":
            raise SystemExit(f"{folder}: a {cfg['model']} run; this comparison is for dense autoencoders")
        if cfg["dataset"] not in data:
            data[cfg["dataset"]] = load(cfg["dataset"])
        x_train, _, x_test, y_test = data[cfg["dataset"]]
        k = cfg["dims"][-1]
        if any((r["dataset"], r["code_size"]) == (cfg["dataset"], k) for r in runs):
            raise SystemExit(f"{folder}: a second {cfg['dataset']} run with a code of {k}; give one run per size")
        mean, components = pca_fit(x_train, k)  # once: for the table's row and for the figure's pictures
        rows = reconstruction_rows(model, x_train, x_test, k, cfg, pca=(mean, components))
        x = x_test[one_per_class(y_test)[:columns]]
        pictures = (x, mean + ((x - mean) @ components.T) @ components, model.decode(model.encode(x)))
        dead = int(np.sum(np.all(encode_all(model, x_test) == 0, axis=0)))
        runs.append({"dataset": cfg["dataset"], "code_size": k, "dims": cfg["dims"], "epochs": epochs_trained(folder),
                     "code": cfg.get("code", "relu"), "dead": dead, "rows": rows, "pictures": pictures})
    return sorted(runs, key=lambda r: (r["dataset"] != "mnist", r["dataset"], r["code_size"]))


def epochs_trained(folder):
    """The number of epochs the run trained: its metrics.csv has one line per epoch after the header."""
    return len((pathlib.Path(folder) / "metrics.csv").read_text().splitlines()) - 1


def table(runs):
    """Markdown: per data set and code size, the test MSE per pixel and squared error per image of PCA and the AE."""
    lines = ["| data set | code | AE's code | dead units | PCA MSE per pixel | AE MSE per pixel | "
             "PCA squared error per image | AE squared error per image | AE / PCA |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in runs:
        ae, pca = r["rows"]
        lines.append(f"| {r['dataset']} | {r['code_size']} | {r['code']} | {r['dead']} | "
                     f"{pca['mse_per_pixel']:.5f} | {ae['mse_per_pixel']:.5f} | "
                     f"{pca['squared_error_per_image']:.2f} | {ae['squared_error_per_image']:.2f} | "
                     f"{ae['mse_per_pixel'] / pca['mse_per_pixel']:.2f} |")
    return "\n".join(lines)


def figure(runs, path):
    """Rows: the originals, then PCA-k and AE-k for each code size k; a block of columns per data set."""
    sets = list(dict.fromkeys(r["dataset"] for r in runs))
    sizes = sorted({r["code_size"] for r in runs})
    columns = max(len(r["pictures"][0]) for r in runs)
    labels = ["original"] + [f"{name}-{k}" for k in sizes for name in ("PCA", "AE")]
    width, height = 0.8 + 0.8 * columns * len(sets), 0.3 + 0.85 * len(labels)  # inches: labels left, titles on top
    fig, axes = subplots(len(labels), columns * len(sets), figsize=(width, height), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for s, dataset in enumerate(sets):
        for r in (r for r in runs if r["dataset"] == dataset):
            x, pca, ae = r["pictures"]
            row = 1 + 2 * sizes.index(r["code_size"])
            for i in range(len(x)):
                for dr, pics in ((-row, x), (0, pca), (1, ae)):  # dr = -row puts the originals in row 0
                    ax = axes[row + dr, s * columns + i]
                    ax.imshow(pics[i].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes[0, s * columns].set_title(dataset, loc="left", fontsize=10)
    for i, label in enumerate(labels):  # a row label needs a visible axis: draw it as text beside the first column
        axes[i, 0].text(-0.15, 0.5, label, transform=axes[i, 0].transAxes, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(left=0.8 / width, right=0.995, top=1 - 0.3 / height, bottom=0.01, wspace=0.05, hspace=0.08)
    fig.savefig(path, dpi=80)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders of dense autoencoders (checkpoint.npz, metrics.csv)")
    parser.add_argument("--figure", type=pathlib.Path, help="write the side-by-side reconstructions here (PNG)")
    args = parser.parse_args(argv)
    runs = evaluate(args.runs)
    for r in runs:
        print(f"{r['dataset']}: {'-'.join(map(str, r['dims']))} and the mirror, {r['code']} code, {r['epochs']} epochs")
    print(table(runs))
    if args.figure:
        figure(runs, args.figure)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
