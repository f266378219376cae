"""Every model builder draws its layers' weights from one generator: no two weight arrays of a fresh model start
from the same draws (equal, or proportional as the same normal draws under two scales are).

An int seed handed to each layer separately makes every layer restart the same stream, so the first numbers of
each weight matrix match up to its scale; comparing the leading blocks of every pair catches that.
"""
import importlib
import inspect
import itertools
import pkgutil

import numpy as np
import pytest

import scratchae
from scratchae import cvae, denoise, models, seq2seq, series_detect, vae
from scratchae.backend import to_numpy

BUILDERS = {  # builder -> the positional arguments that size it small
    models.dense_autoencoder: ([20, 12, 8, 6],),
    models.conv_autoencoder: (),
    models.conv_pool_autoencoder: (),
    denoise.tf_denoiser: (),
    denoise.keras_blog_denoiser: (),
    seq2seq.lstm_autoencoder: (5, 3, 8, 4),
    seq2seq.rows_autoencoder: (),
    series_detect.dense_series_autoencoder: (30, 12, 4),
    vae.dense_vae: ([20, 12], 4),
    cvae.conv_vae: (),
}


def package_builders():
    """Every function of the package that takes the keywords rng, xp, device and dtype: the model builders."""
    found = set()
    for module in pkgutil.iter_modules(scratchae.__path__):
        mod = importlib.import_module(f"scratchae.{module.name}")
        for _, fn in inspect.getmembers(mod, inspect.isfunction):
            params = inspect.signature(fn).parameters
            takes = {"rng", "xp", "device", "dtype"} <= set(params)
            if takes and fn.__module__ == mod.__name__ and params["rng"].kind is inspect.Parameter.KEYWORD_ONLY:
                found.add(fn)
    return found


def test_the_list_names_every_builder_of_the_package():
    assert package_builders() == set(BUILDERS)


def leading_blocks(a, b):
    """The pairs of blocks two weight arrays share: their first k numbers in memory order, and the leading (r, c)
    corners of their (first axis, rest) views."""
    k = min(a.size, b.size)
    yield a.reshape(-1)[:k], b.reshape(-1)[:k]
    a2, b2 = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    r, c = min(a2.shape[0], b2.shape[0]), min(a2.shape[1], b2.shape[1])
    yield a2[:r, :c].reshape(-1), b2[:r, :c].reshape(-1)


@pytest.mark.parametrize("builder", list(BUILDERS), ids=lambda f: f.__name__)
def test_no_two_weight_arrays_start_from_the_same_draws(builder):
    model = builder(*BUILDERS[builder], rng=0, dtype="float64")
    weights = [(name, to_numpy(p)) for name, p, _ in model.named_params() if p.ndim >= 2]
    assert len(weights) >= 2
    for (na, a), (nb, b) in itertools.combinations(weights, 2):
        for x, y in leading_blocks(a, b):
            if x.size < 4:
                continue  # too few numbers to tell chance from a shared stream
            cosine = abs(x @ y) / (np.linalg.norm(x) * np.linalg.norm(y))
            assert cosine < 0.9, f"{builder.__name__}: {na} and {nb} share draws (|cos| {cosine:.3f} over {x.size})"
