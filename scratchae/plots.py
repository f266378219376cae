"""Figures for a training run: reconstructions, loss curves and a 2-D map of the latent codes (matplotlib)."""
import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
}


def subplots(*grid, figsize, **kw):
    """A figure and its axes outside pyplot: no backend is chosen (a notebook keeps its inline plots, a server
    needs no display) and nothing stays open after savefig.  Returns (fig, axes) as plt.subplots does."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid, **kw)


def one_per_class(labels, classes=10):
    """Index of the first example of each class that occurs (in class order)."""
    return [int(np.flatnonzero(labels == c)[0]) for c in range(classes) if np.any(labels == c)]


def reconstructions(images, recon, path, title, noisy=None):
    """Save ten images (top row) over their reconstructions (bottom row).  images, recon: (10, 784) in [0, 1].

    With ``noisy`` (the model's noisy inputs, (10, 784)) three rows: noisy, denoised, clean.
    """
    if noisy is None:
        rows = [("original", images), ("reconstructed", recon)]
    else:
        rows = [("noisy input", noisy), ("denoised", recon), ("clean", images)]
    n = len(images)
    fig, axes = subplots(len(rows), n, figsize=(1.2 * n, 1.4 * len(rows)), squeeze=False)
    for r, (name, pics) in enumerate(rows):
        for i in range(n):
            ax = axes[r, i]
            ax.imshow(pics[i].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(name)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def loss_curve(rows, path, loss_name, unit="mean per pixel"):
    """Save train and test loss per epoch.  rows: dicts with epoch, train_loss, test_loss."""
    epochs = [r["epoch"] for r in rows]
    fig, ax = subplots(figsize=(6, 4))
    ax.plot(epochs, [r["train_loss"] for r in rows], "o-", label="train")
    ax.plot(epochs, [r["test_loss"] for r in rows], "s-", label="test")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel(f"{loss_name} ({unit})")
    ax.set_title("Loss per epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def pca_2d(z):
    """Project rows of z (N, d) onto their first two principal components -> (N, 2)."""
    centred = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


TSNE_HINT = 'the t-SNE latent map needs scikit-learn: pip install -e ".[tsne]" (or use the default PCA map)'


def tsne_available():
    """True when scikit-learn's TSNE can be imported (the optional extra ``tsne``)."""
    try:
        import sklearn.manifold  # noqa: F401
    except ImportError:
        return False
    return True


def tsne_2d(z, seed=0):
    """Embed rows of z (N, d) in 2-D with scikit-learn's t-SNE (PCA start, seeded) -> (N, 2)."""
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (z.shape[0] - 1) / 3)  # TSNE needs perplexity < N; 30 is its default
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(z)


def latent_map(z, labels, path, dataset, method="pca", seed=0):
    """Save the latent codes z (N, d) mapped to 2-D with PCA (or t-SNE, ``method="tsne"``), one colour per class."""
    z = z.astype(np.float64)
    xy = tsne_2d(z, seed) if method == "tsne" else pca_2d(z)
    names = CLASS_NAMES.get(dataset, [str(c) for c in range(10)])
    fig, ax = subplots(figsize=(7, 6))
    cmap = matplotlib.colormaps["tab10"]
    for c in range(10):
        mask = labels == c
        ax.scatter(xy[mask, 0], xy[mask, 1], s=2, alpha=0.5, color=cmap(c), label=names[c], rasterized=True)
    axis = "t-SNE" if method == "tsne" else "principal component"
    ax.set_xlabel(f"{axis} 1")
    ax.set_ylabel(f"{axis} 2")
    ax.set_title(f"Test-set latent codes ({z.shape[1]}-D), {'t-SNE' if method == 'tsne' else 'PCA'} to 2-D")
    ax.legend(markerscale=5, fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def tile(images, rows, cols):
    """Images (N, 784), N <= rows * cols, row by row into one (28 rows, 28 cols) picture; blank tiles white."""
    sheet = np.ones((rows, cols, 28, 28))
    for i, image in enumerate(np.asarray(images)):
        sheet[i // cols, i % cols] = image.reshape(28, 28)
    return sheet.transpose(0, 2, 1, 3).reshape(rows * 28, cols * 28)


def image_grid(images, path, title, rows=8):
    """Save images (N, 784) in [0, 1] as a grid of 28x28 tiles with ``rows`` rows, filled row by row."""
    cols = -(-len(images) // rows)
    fig, ax = subplots(figsize=(cols * 0.6 + 0.4, rows * 0.6 + 0.6))
    ax.imshow(tile(images, rows, cols), cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def latent_grid(n=20, limit=3.0):
    """Points of an n x n grid over [-limit, limit]^2 of a 2-D latent plane, row by row from the top -> (n*n, 2)."""
    ticks = np.linspace(-limit, limit, n)
    return np.array([[x, y] for y in ticks[::-1] for x in ticks])


def manifold(images, path, title, limit=3.0):
    """Save the decodes (n*n, 784) of ``latent_grid(n, limit)`` as one picture of the latent plane, axes in z."""
    n = int(round(np.sqrt(len(images))))
    fig, ax = subplots(figsize=(8, 8))
    ax.imshow(tile(images, n, n), cmap="gray", vmin=0, vmax=1, extent=(-limit, limit, -limit, limit))
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def code_map(z, labels, path, dataset, title):
    """Save 2-D codes z (N, 2) as a scatter plot, one colour per class (no projection)."""
    names = CLASS_NAMES.get(dataset, [str(c) for c in range(10)])
    fig, ax = subplots(figsize=(7, 6))
    cmap = matplotlib.colormaps["tab10"]
    for c in range(10):
        mask = labels == c
        ax.scatter(z[mask, 0], z[mask, 1], s=2, alpha=0.5, color=cmap(c), label=names[c], rasterized=True)
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_title(title)
    ax.legend(markerscale=5, fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
