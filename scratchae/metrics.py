"""From anomaly scores to numbers: ROC AUC through ranks, the ROC curve, and a threshold's precision and recall.

Conventions: a higher score means "more anomalous", and anomalies are the positive class (label True). These run
on the host (NumPy and SciPy): they see one float per test image, never the model's arrays.
"""
import numpy as np
from scipy.stats import rankdata


def _check(scores, is_anomaly):
    """scores (N,) and labels (N,) as float64 and bool host arrays; raises ValueError on bad shapes or NaN."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(is_anomaly)
    if labels.dtype != np.bool_:
        raise TypeError(f"is_anomaly must be a bool array (True = anomaly), got dtype {labels.dtype}")
    if scores.ndim != 1 or scores.shape != labels.shape:
        raise ValueError(f"scores {scores.shape} and is_anomaly {labels.shape} must be one-dimensional, same length")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores contain NaN or infinity; a diverged model gives no ranking")
    return scores, labels


def roc_auc(scores, is_anomaly):
    """Probability that a random anomaly scores above a random normal example, ties counting one half.

    Through the Mann-Whitney U statistic: AUC = U / (n1 n0) with U = R1 - n1 (n1 + 1) / 2, where R1 is the sum of
    the anomalies' ranks among all N scores (1 = lowest, tied scores share their mean rank).
    scores: (N,) floats, is_anomaly: (N,) bools -> float in [0, 1].
    """
    scores, labels = _check(scores, is_anomaly)
    n1 = int(labels.sum())
    n0 = labels.size - n1
    if n1 == 0 or n0 == 0:
        raise ValueError(f"ROC AUC needs both normal and anomalous examples, got {n0} normal and {n1} anomalous")
    ranks = rankdata(scores)  # (N,) float64, ties averaged ("average" method)
    u = float(ranks[labels].sum()) - n1 * (n1 + 1) / 2  # pairs (anomaly, normal) ordered right, ties one half
    return u / (n1 * n0)


def roc_curve(scores, is_anomaly):
    """The ROC curve: false and true positive rates as the threshold t falls through every distinct score.

    At threshold t a score >= t is flagged: tpr(t) = #anomalies flagged / n1, fpr(t) = #normal flagged / n0.
    scores: (N,), is_anomaly: (N,) bools -> fpr (K+1,), tpr (K+1,), thresholds (K,) for K distinct scores,
    starting at (0, 0); the trapezoid area under (fpr, tpr) equals roc_auc, ties included.
    """
    scores, labels = _check(scores, is_anomaly)
    order = np.argsort(-scores, kind="stable")  # highest score first
    s, pos = scores[order], labels[order]
    tp = np.cumsum(pos)  # (N,) anomalies among the first i + 1
    fp = np.cumsum(~pos)
    last = np.flatnonzero(np.append(s[1:] != s[:-1], True))  # (K,) the last index of each run of equal scores
    tpr = np.concatenate([[0.0], tp[last] / max(int(pos.sum()), 1)])
    fpr = np.concatenate([[0.0], fp[last] / max(int((~pos).sum()), 1)])
    return fpr, tpr, s[last]


def threshold_rule(train_errors):
    """The TensorFlow tutorial's threshold: mean plus one (population) standard deviation of the training errors.

    train_errors: (n,) reconstruction errors of the normal training images -> float.
    """
    e = np.asarray(train_errors, dtype=np.float64)
    if e.ndim != 1 or e.size == 0:
        raise ValueError(f"train_errors must be a non-empty one-dimensional array, got shape {e.shape}")
    return float(e.mean() + e.std())


def detection_report(scores, is_anomaly, threshold):
    """Flag score > threshold as an anomaly and count: precision = tp / (tp + fp), recall = tp / (tp + fn),
    accuracy = (tp + tn) / N.  scores: (N,), is_anomaly: (N,) bools -> dict of the counts and the three rates.

    Precision is NaN when nothing is flagged and recall NaN when there is no anomaly (0 / 0).
    """
    scores, labels = _check(scores, is_anomaly)
    flagged = scores > threshold
    tp = int(np.sum(flagged & labels))
    fp = int(np.sum(flagged & ~labels))
    fn = int(np.sum(~flagged & labels))
    tn = int(np.sum(~flagged & ~labels))
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": tp / (tp + fn) if tp + fn else float("nan"),
            "accuracy": (tp + tn) / labels.size}
