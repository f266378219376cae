"""The protocol that turns features into accuracies: k-NN and softmax regression, choices made on held-out data.

Fit on the labelled training rows, report accuracy on the whole test set. The regression's one choice (its
weight decay, and how many steps to train) is made on a held-out tenth of the labelled rows; then it is refit
on all of them with that choice. k-NN has no choice to make (k = 5). Features are PCA components or codes;
the regression sees them standardized with the mean and spread of all training rows (no labels needed for that).
"""
from .backend import device_of, get_xp, to_device, to_numpy
from .classify import accuracy, predict, softmax_regression
from .knn import knn_predict
from .pca import pca_fit

WEIGHT_DECAYS = (0.0, 1e-4, 1e-3, 1e-2)


def pca_features(x_train, x_test, k=32):
    """The first k principal components of both sets, fitted on x_train: (N, D), (M, D) -> (N, k), (M, k)."""
    mean, components = pca_fit(x_train, k)
    return (x_train - mean) @ components.T, (x_test - mean) @ components.T


def standardize(x_train, x_test):
    """(x - mean) / std per column, both from x_train (a constant column keeps std 1): same shapes back."""
    xp = get_xp(x_train, x_test)
    mean, std = xp.mean(x_train, axis=0), xp.std(x_train, axis=0)  # (D,), (D,)
    std = xp.where(std > 0, std, xp.ones_like(std))  # MNIST's border pixels are always 0
    return (x_train - mean) / std, (x_test - mean) / std


def host_float(a):
    """A 0-d device array as a Python float (one explicit copy to the host)."""
    return float(to_numpy(a))


def split_held_out(n, fraction=0.1, minimum=10):
    """The sizes (fit, held-out) of n labelled rows: a tenth held out, at least ``minimum``."""
    held = max(int(n * fraction), minimum)
    if held >= n:
        raise ValueError(f"split_held_out: {n} labelled rows leave nothing to fit after holding out {held}")
    return n - held, held


def linear_probe(x, y, x_test, y_test, *, steps=3000, eval_every=150, weight_decays=WEIGHT_DECAYS, seed=0,
                 batch_size=256):
    """Choose weight decay and steps on held-out rows, refit on all rows, return the test accuracy and the choice.

    x: (n, D), y: (n,) ints (the labelled rows, in a random order), x_test: (M, D), y_test: (M,) -> dict with
    accuracy, weight_decay, steps, held_out_accuracy (all Python numbers).
    """
    n_fit, _ = split_held_out(x.shape[0])
    batch = min(batch_size, n_fit)
    best = None
    for wd in weight_decays:
        _, history = softmax_regression(x[:n_fit, ...], y[:n_fit], steps=steps, batch_size=batch, weight_decay=wd,
                                        seed=seed, x_val=x[n_fit:, ...], y_val=y[n_fit:], eval_every=eval_every)
        for step, acc in history:
            score = host_float(acc)
            if best is None or score > best[0]:  # strict: the first (smallest decay, fewest steps) wins a tie
                best = (score, wd, step)
    held_acc, wd, step = best
    model, _ = softmax_regression(x, y, steps=step, batch_size=min(batch_size, x.shape[0]), weight_decay=wd,
                                  seed=seed)
    return {"accuracy": host_float(accuracy(predict(model, x_test), y_test)), "weight_decay": wd, "steps": step,
            "held_out_accuracy": held_acc}


def knn_accuracy(x, y, x_test, y_test, k=5):
    """Test accuracy of k-NN fitted on (x, y): a Python float."""
    return host_float(accuracy(knn_predict(x, y, x_test, k=k), y_test))


def evaluate_features(x_train, y_train, x_test, y_test, label_counts, order, *, seed=0, steps=3000, log=print):
    """Both classifiers on one feature set, for each number of labelled training rows.

    x_train: (N, D) features, y_train: (N,) labels (both on the device), order: (N,) host permutation; the n
    labelled rows are order[:n]. -> a list of dicts (labels, classifier, accuracy, choice), one per result.
    """
    xp = get_xp(x_train, x_test)
    z_train, z_test = standardize(x_train, x_test)
    rows = []
    for n in label_counts:
        idx = to_device(order[:n], xp, device_of(x_train))  # (n,)
        xs, ys = xp.take(x_train, idx, axis=0), xp.take(y_train, idx, axis=0)
        acc = knn_accuracy(xs, ys, x_test, y_test)
        rows.append({"labels": n, "classifier": "knn5", "accuracy": acc, "weight_decay": "", "steps": ""})
        log(f"  {n:6d} labels  k-NN (k=5)           {100 * acc:6.2f}%")
        probe = linear_probe(xp.take(z_train, idx, axis=0), ys, z_test, y_test, seed=seed, steps=steps,
                             eval_every=max(steps // 20, 1))
        rows.append({"labels": n, "classifier": "softmax", **{k: probe[k] for k in ("accuracy", "weight_decay", "steps")}})
        log(f"  {n:6d} labels  softmax regression  {100 * probe['accuracy']:6.2f}%  (weight decay "
            f"{probe['weight_decay']:g}, {probe['steps']} steps, held-out {100 * probe['held_out_accuracy']:.1f}%)")
    return rows
