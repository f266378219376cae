"""ROC AUC against SciPy's Mann-Whitney U and hand cases; the ROC curve's area; threshold counts against a loop."""
import statistics

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from scratchae.metrics import detection_report, roc_auc, roc_curve, threshold_rule


def scipy_auc(scores, labels):
    """U of the anomalies' sample (SciPy >= 1.7 returns the first sample's U) over n1 n0."""
    pos, neg = scores[labels], scores[~labels]
    return mannwhitneyu(pos, neg).statistic / (pos.size * neg.size)


def pairwise_auc(scores, labels):
    """The definition itself: the fraction of (anomaly, normal) pairs ordered right, ties counting one half."""
    pos, neg = scores[labels][:, None], scores[~labels][None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_scipy_on_random_scores(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    labels = rng.random(n) < rng.uniform(0.1, 0.9)
    labels[:2] = [True, False]
    scores = rng.standard_normal(n) + labels * rng.uniform(0, 2)
    assert roc_auc(scores, labels) == pytest.approx(scipy_auc(scores, labels), abs=1e-12)
    assert roc_auc(scores, labels) == pytest.approx(pairwise_auc(scores, labels), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_scipy_on_tied_scores(seed):
    rng = np.random.default_rng(100 + seed)
    labels = rng.random(300) < 0.3
    labels[:2] = [True, False]
    scores = rng.integers(0, 4, 300).astype(np.float64) + labels  # few distinct values: many ties across classes
    assert len(np.unique(scores)) <= 5
    assert roc_auc(scores, labels) == pytest.approx(scipy_auc(scores, labels), abs=1e-12)
    assert roc_auc(scores, labels) == pytest.approx(pairwise_auc(scores, labels), abs=1e-12)


def test_auc_of_float32_scores_is_exact():
    # 10,000 float32 scores, as the command produces: rank sums near 5e7 need float64 (SciPy's mannwhitneyu on
    # float32 input is off by about 1e-7 here), and roc_auc converts first.
    rng = np.random.default_rng(11)
    labels = rng.random(10_000) < 0.9
    scores = (rng.random(10_000) + 0.2 * labels).astype(np.float32)
    assert roc_auc(scores, labels) == pytest.approx(pairwise_auc(scores, labels), abs=1e-14)


@pytest.mark.parametrize("scores, labels, expected", [
    ([0.1, 0.2, 0.8, 0.9], [False, False, True, True], 1.0),  # perfect separation
    ([0.8, 0.9, 0.1, 0.2], [False, False, True, True], 0.0),  # reversed
    ([0.5, 0.5, 0.5, 0.5], [False, True, False, True], 0.5),  # all tied
    ([0.1, 0.4, 0.35, 0.8], [False, False, True, True], 0.75),  # 3 of 4 pairs right
    ([0.1, 0.5, 0.5, 0.9], [False, False, True, True], 0.875),  # 3 right and one tie
])
def test_auc_hand_cases(scores, labels, expected):
    assert roc_auc(scores, np.array(labels)) == expected


def test_auc_does_not_depend_on_order_or_monotone_transforms():
    rng = np.random.default_rng(7)
    labels = rng.random(200) < 0.5
    scores = rng.random(200) + 0.3 * labels
    perm = rng.permutation(200)
    assert roc_auc(scores[perm], labels[perm]) == pytest.approx(roc_auc(scores, labels), abs=1e-12)
    assert roc_auc(np.exp(3 * scores), labels) == pytest.approx(roc_auc(scores, labels), abs=1e-12)


@pytest.mark.parametrize("seed, ties", [(0, False), (1, False), (2, True), (3, True)])
def test_roc_curve_area_is_the_auc(seed, ties):
    rng = np.random.default_rng(seed)
    labels = rng.random(250) < 0.4
    scores = rng.standard_normal(250) + labels
    if ties:
        scores = np.round(scores)
    fpr, tpr, thresholds = roc_curve(scores, labels)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0) and np.all(np.diff(thresholds) < 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(scores, labels), abs=1e-12)
    for t, f, p in zip(thresholds, fpr[1:], tpr[1:]):  # each point counts the scores >= its threshold
        assert p == np.mean(scores[labels] >= t) and f == np.mean(scores[~labels] >= t)


def test_roc_curve_matches_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(5)
    labels = rng.random(120) < 0.5
    scores = np.round(rng.standard_normal(120) + labels, 1)
    fpr, tpr, thresholds = roc_curve(scores, labels)
    ref_fpr, ref_tpr, ref_thr = metrics.roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr)
    np.testing.assert_allclose(tpr, ref_tpr)
    np.testing.assert_allclose(thresholds, ref_thr[1:])  # scikit-learn starts with an infinite threshold


def test_threshold_rule_is_mean_plus_population_std():
    errors = [0.1, 0.4, 0.25, 0.3, 0.05]
    assert threshold_rule(np.array(errors)) == pytest.approx(statistics.mean(errors) + statistics.pstdev(errors),
                                                             rel=1e-14)


@pytest.mark.parametrize("seed", range(3))
def test_detection_report_matches_a_direct_count(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(500) < 0.7
    scores = np.round(rng.random(500) + 0.3 * labels, 2)
    threshold = float(np.round(rng.uniform(0.3, 1.0), 2))  # rounded: some scores equal it and are not flagged
    tp = fp = fn = tn = 0
    for s, anomaly in zip(scores.tolist(), labels.tolist()):
        flagged = s > threshold
        tp += flagged and anomaly
        fp += flagged and not anomaly
        fn += (not flagged) and anomaly
        tn += (not flagged) and not anomaly
    report = detection_report(scores, labels, threshold)
    assert (report["tp"], report["fp"], report["fn"], report["tn"]) == (tp, fp, fn, tn)
    assert report["precision"] == tp / (tp + fp)
    assert report["recall"] == tp / (tp + fn)
    assert report["accuracy"] == (tp + tn) / 500


def test_detection_report_with_nothing_flagged_has_no_precision():
    report = detection_report(np.array([0.1, 0.2]), np.array([True, False]), 1.0)
    assert np.isnan(report["precision"]) and report["recall"] == 0.0 and report["accuracy"] == 0.5


@pytest.mark.parametrize("scores, labels, error", [
    ([0.1, 0.2], [True, True], "both normal and anomalous"),
    ([0.1, float("nan")], [True, False], "NaN"),
    ([0.1, 0.2, 0.3], [True, False], "same length"),
])
def test_auc_refuses_bad_input(scores, labels, error):
    with pytest.raises(ValueError, match=error):
        roc_auc(np.array(scores), np.array(labels))


def test_labels_must_be_bool():
    with pytest.raises(TypeError, match="bool"):
        roc_auc(np.array([0.1, 0.2]), np.array([1, 0]))
