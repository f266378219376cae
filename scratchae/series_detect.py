"""The detectors that scratchae.series_anomaly compares: each learns normal series and scores new ones.

Three learn to reconstruct: the LSTM autoencoder (seq2seq.lstm_autoencoder, input (N, T, 1)), a dense
autoencoder with a linear output (the series are real numbers, not pixels in [0, 1]) and PCA; their score is the
mean squared reconstruction error of a series. The fourth, for windows of a long series, is the baseline of the
UCR anomaly archive's authors: the distance of a window to its nearest training window.
"""
from .backend import device_of, get_xp, make_rng
from .fit import fit
from .layers import Dense, ReLU
from .losses import MSE
from .models import Autoencoder, Sequential
from .optim_fast import make_adam
from .pca import pca_errors, pca_fit
from .training import train_step
from .windows import mean_squared_errors, nearest_distances, point_scores, sliding_windows

RECONSTRUCTORS = ("lstm", "dense", "pca")
NEAREST = "nearest"  # the nearest-neighbour baseline, for windows only


def dense_series_autoencoder(length, hidden, code, *, rng=None, xp=None, device=None, dtype="float32"):
    """Dense(T, hidden) ReLU Dense(hidden, code), then Dense(code, hidden) ReLU Dense(hidden, T), linear code and output.

    x: (N, T) -> z: (N, code) -> out: (N, T).
    """
    kw = {"rng": make_rng(rng), "xp": xp, "device": device, "dtype": dtype}  # one generator: each layer draws anew
    encoder = Sequential([Dense(length, hidden, **kw), ReLU(), Dense(hidden, code, **kw)])
    decoder = Sequential([Dense(code, hidden, **kw), ReLU(), Dense(hidden, length, **kw)])
    return Autoencoder(encoder, decoder)


def build(name, length, cfg, xp, device=None):
    """A fresh autoencoder ``name`` ("lstm" or "dense") for series of ``length`` values, sized by cfg."""
    if name == "lstm":
        from .seq2seq import lstm_autoencoder  # the recurrent model is only built when asked for
        return lstm_autoencoder(length, 1, cfg["hidden"], cfg["code"], rng=cfg["seed"], xp=xp, device=device)
    return dense_series_autoencoder(length, cfg["hidden"], cfg["code"], rng=cfg["seed"], xp=xp, device=device)


def shaped(name, x):
    """The model's view of series x (N, T): (N, T, 1) for the LSTM (one feature per step), else x itself."""
    return get_xp(x).reshape(x, (x.shape[0], x.shape[1], 1)) if name == "lstm" else x


def reconstruction_scores(name, x_fit, x_score, cfg, quiet=True, label=""):
    """Fit detector ``name`` on the normal series x_fit (n, T) and score x_score (N, T): mean squared errors (N,).

    The autoencoders train with MSE and Adam (optim_fast.make_adam: the fused one where the backend allows) for
    cfg["epochs"] epochs in batches of cfg["batch_size"]; PCA keeps cfg["code"] components, as many numbers as the
    autoencoders' code. Both arrays on one device.
    """
    if name == "pca":
        mean, components = pca_fit(x_fit, cfg["code"])
        return pca_errors(x_score, mean, components)
    xp = get_xp(x_fit)
    model = build(name, x_fit.shape[1], cfg, xp, device_of(x_fit))
    loss, optimizer = MSE(), make_adam(model, lr=cfg["lr"])
    fit(model, optimizer, lambda xb, rng: train_step(model, loss, optimizer, xb), None, shaped(name, x_fit),
        epochs=cfg["epochs"], batch_size=cfg["batch_size"], seed=cfg["seed"], on_epoch=lambda row: None,
        quiet=quiet, label=label)
    return mean_squared_errors(model, shaped(name, x_score))


def window_scores(name, train, test, cfg, quiet=True, label=""):
    """Score every point of the series ``test`` (L,) with detector ``name`` fitted on windows of ``train`` (M,).

    Windows of cfg["window"] points, stride 1; each test window gets a score (reconstruction error, or for
    "nearest" the distance to the nearest training window) and each point the mean score of the windows covering
    it (windows.point_scores).  -> (L,) on test's device.
    """
    w = cfg["window"]
    train_w, test_w = sliding_windows(train, w), sliding_windows(test, w)  # (M - w + 1, w), (L - w + 1, w)
    if name == NEAREST:
        return point_scores(nearest_distances(test_w, train_w), w)
    return point_scores(reconstruction_scores(name, train_w, test_w, cfg, quiet, label), w)


def found(answer, start, stop, tolerance=100):
    """The archive's rule: the answer counts when it lies within ``tolerance`` points of the region start..stop."""
    return start - tolerance <= answer <= stop + tolerance
