"""Figures for an anomaly-detection run: score histograms, ROC curves, and the worst-reconstructed test images."""
import math

import matplotlib
import numpy as np

from .metrics import roc_curve
from .plots import subplots


def _grid(n, width=3.2, height=2.6, cols=5):
    """A figure with n panels in rows of up to ``cols``; returns (fig, flat list of the n axes)."""
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig, axes = subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def histograms(results, y_test, names, path):
    """Autoencoder scores of the normal test images against the anomalies, one panel per normal class.

    Log-spaced bins (errors span orders of magnitude), each group's bars summing to 1 so 1,000 normal images
    compare with 9,000 anomalies, and the threshold rule as a dashed line.
    """
    fig, axes = _grid(len(results))
    for ax, r in zip(axes, results):
        c, ae = r["row"]["normal"], r["ae"]
        bins = np.geomspace(max(ae.min(), 1e-12), ae.max(), 50)
        normal = y_test == c
        for group, label in ((normal, f"normal ({names[c]})"), (~normal, "anomalies")):
            n = int(group.sum())
            ax.hist(ae[group], bins=bins, weights=np.full(n, 1 / max(n, 1)), alpha=0.6, label=label)
        ax.axvline(r["row"]["threshold"], color="k", linestyle="--", linewidth=1, label="mean + std (train)")
        ax.set_xscale("log")
        ax.set_title(f"normal: {names[c]}, AUC {100 * r['row']['ae_auc']:.1f}", fontsize=9)
        ax.set_xlabel("reconstruction error", fontsize=8)
        ax.set_ylabel("fraction of the group", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    fig.suptitle("Autoencoder scores on the test set: normal class against the other nine")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def roc(results, y_test, names, path):
    """ROC curves of the autoencoder (left) and the PCA baseline (right), one curve per normal class."""
    fig, axes = subplots(1, 2, figsize=(11, 5))
    cmap = matplotlib.colormaps["tab10"]
    for ax, key, title in ((axes[0], "ae", "autoencoder"), (axes[1], "pca", "PCA baseline")):
        for r in results:
            c = r["row"]["normal"]
            fpr, tpr, _ = roc_curve(r[key], y_test != c)
            ax.plot(fpr, tpr, color=cmap(c), linewidth=1.2,
                    label=f"{names[c]}: {100 * r['row'][key + '_auc']:.1f}")
        ax.plot([0, 1], [0, 1], color="gray", linestyle=":", linewidth=1)
        ax.set_xlabel("false positive rate (normal images flagged)")
        ax.set_ylabel("true positive rate (anomalies flagged)")
        ax.set_title(f"{title}: ROC per normal class (AUC %)")
        ax.legend(fontsize=7, loc="lower right")
        ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def worst(results, x_test, y_test, names, path):
    """For each normal class, the eight test images the autoencoder reconstructs worst, over their reconstructions."""
    k = max(len(r["worst"]) for r in results)
    fig, axes = subplots(2 * len(results), k, figsize=(1.1 * k, 2.4 * len(results)), squeeze=False)
    for i, r in enumerate(results):
        c = r["row"]["normal"]
        for j in range(k):
            for ax in (axes[2 * i, j], axes[2 * i + 1, j]):
                ax.set_xticks([])
                ax.set_yticks([])
            if j >= len(r["worst"]):
                continue
            idx = int(r["worst"][j])
            axes[2 * i, j].imshow(x_test[idx].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
            axes[2 * i, j].set_title(names[int(y_test[idx])][:9], fontsize=7)
            axes[2 * i + 1, j].imshow(r["recon"][j].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes[2 * i, 0].set_ylabel(f"normal {names[c][:7]}", fontsize=7)
        axes[2 * i + 1, 0].set_ylabel("reconstructed", fontsize=7)
    fig.suptitle("Worst-reconstructed test images (title: true class)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / (2.4 * len(results))))  # leave the title its own strip
    fig.savefig(path, dpi=80)


def all_figures(out, results, x_test, y_test, names):
    """Write histograms.png, roc.png and worst.png to the folder ``out``."""
    histograms(results, y_test, names, out / "histograms.png")
    roc(results, y_test, names, out / "roc.png")
    worst(results, x_test, y_test, names, out / "worst.png")
