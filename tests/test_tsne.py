"""Figures of the variants: the t-SNE latent map (optional scikit-learn) and the three-row denoising figure."""
import sys

import matplotlib.image
import numpy as np
import pytest

from scratchae import plots


def _clusters(n_per=20, classes=3, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (classes, dim))
    labels = np.repeat(np.arange(classes), n_per)
    return centres[labels] + rng.normal(0, 0.5, (labels.size, dim)), labels


def test_tsne_keeps_separate_clusters_apart():
    pytest.importorskip("sklearn")
    z, labels = _clusters()
    xy = plots.tsne_2d(z, seed=0)
    assert xy.shape == (60, 2) and np.all(np.isfinite(xy))
    # Each point's nearest neighbour in the map belongs to its own cluster.
    d = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=-1) + np.diag(np.full(60, np.inf))
    assert np.all(labels[np.argmin(d, axis=1)] == labels)
    np.testing.assert_array_equal(plots.tsne_2d(z, seed=0), xy)  # seeded: the same map twice


def test_tsne_latent_map_is_a_figure(tmp_path):
    pytest.importorskip("sklearn")
    z, labels = _clusters(n_per=10, classes=10)
    plots.latent_map(z.astype(np.float32), labels, tmp_path / "latent.png", "mnist", method="tsne")
    picture = matplotlib.image.imread(tmp_path / "latent.png")
    assert picture.ndim == 3 and picture.std() > 0.05


def test_tsne_is_reported_missing_without_scikit_learn(monkeypatch):
    pytest.importorskip("sklearn")
    assert plots.tsne_available()
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)  # what an environment without the extra sees
    assert not plots.tsne_available()
    assert 'pip install -e ".[tsne]"' in plots.TSNE_HINT


def test_denoising_figure_has_three_rows(tmp_path):
    rng = np.random.default_rng(0)
    clean, recon, noisy = (rng.uniform(0, 1, (10, 784)) for _ in range(3))
    plots.reconstructions(clean, recon, tmp_path / "two.png", "two rows")
    plots.reconstructions(clean, recon, tmp_path / "three.png", "three rows", noisy=noisy)
    two, three = (matplotlib.image.imread(tmp_path / name) for name in ("two.png", "three.png"))
    assert three.shape[1] == two.shape[1] and three.shape[0] > 1.3 * two.shape[0]
