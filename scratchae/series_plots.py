"""Figures of the series runs: ROC curves of the one-class runs, and series 135 with every detector's scores."""
import numpy as np

from .metrics import roc_curve
from .plots import subplots


def roc(curves, y_test, dataset, path):
    """One panel per normal class, one ROC curve per detector.  curves: [(class, {detector: scores (N,)})]."""
    fig, axes = subplots(1, len(curves), figsize=(4.6 * len(curves), 4.4), squeeze=False)
    for ax, (c, scores) in zip(axes[0], curves):
        for name, s in scores.items():
            fpr, tpr, _ = roc_curve(s, y_test != c)
            auc = float(np.trapezoid(tpr, fpr))
            ax.plot(fpr, tpr, linewidth=1.3, label=f"{name}: {100 * auc:.1f}")
        ax.plot([0, 1], [0, 1], color="gray", linestyle=":", linewidth=1)
        ax.set_xlabel("false positive rate (normal series flagged)")
        ax.set_ylabel("true positive rate (anomalies flagged)")
        ax.set_title(f"{dataset}: class {c} normal (AUC %)", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
        ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def series_135(test, points, rows, region, n_train, path, zoom=400):
    """The series with its labelled anomaly, then each detector's point scores (scaled to a maximum of 1) and its
    answer; the right column zooms in on the anomaly.  points: {"<detector>_score": (L,)}, rows: the result rows."""
    start, stop = region
    names = [r["detector"] for r in rows]
    fig, axes = subplots(1 + len(names), 2, figsize=(14, 1.9 * (1 + len(names))), squeeze=False,
                         gridspec_kw={"width_ratios": [3, 1]})
    lo, hi = max(0, start - zoom), min(test.size, stop + zoom)
    for col, (a, b) in enumerate(((0, test.size), (lo, hi))):
        t = np.arange(a, b)
        axes[0, col].plot(t, test[a:b], color="k", linewidth=0.7)
        axes[0, col].set_ylabel("value" if col == 0 else "")
        for i, (name, row) in enumerate(zip(names, rows), start=1):
            score = points[f"{name}_score"]
            axes[i, col].plot(t, score[a:b] / score.max(), linewidth=0.8)
            axes[i, col].axvline(row["answer"], color="tab:red", linestyle="--", linewidth=1)
            axes[i, col].set_ylim(0, 1.05)
            if col == 0:
                axes[i, col].set_ylabel(name, fontsize=9)
                axes[i, col].set_title(f"{name}: answer {row['answer']}, {'found' if row['found'] else 'missed'}",
                                       fontsize=9, loc="left")
        for ax in axes[:, col]:
            ax.axvspan(start - 0.5, stop + 0.5, color="tab:orange", alpha=0.35)
            if col == 0:
                ax.axvspan(0, n_train, color="tab:green", alpha=0.08)
    axes[0, 0].set_title(f"series 135 (green: the {n_train} training points, orange: labelled anomaly "
                         f"{start}-{stop}); below: scores / their maximum, dashed: the top-scoring point",
                         fontsize=9, loc="left")
    axes[0, 1].set_title("zoom on the anomaly", fontsize=9)
    axes[-1, 0].set_xlabel("time step")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
