"""Principal component analysis, the linear baseline: fit the top-k directions, reconstruct through them.

x - mean = U S V^T (thin SVD); the k rows of V^T with the largest singular values span the best k-dimensional
linear subspace in squared error (Eckart-Young). A linear autoencoder with a k-number code can at best find that
same subspace, so PCA is the bar a nonlinear one has to clear.
"""
from .backend import get_xp
from .data import batch_slices


def pca_fit(x, k=32):
    """The mean image and the top-k principal directions of the rows of x.

    x: (n, D) -> mean: (D,), components: (k', D) with orthonormal rows, k' = min(k, n, D).
    """
    xp = get_xp(x)
    mean = xp.mean(x, axis=0)  # (D,)
    _, _, vt = xp.linalg.svd(x - mean, full_matrices=False)  # vt: (min(n, D), D), rows by falling singular value
    return mean, vt[:min(k, vt.shape[0]), :]


def pca_errors(x, mean, components, batch_size=1000):
    """Each image's mean squared error after projecting onto the principal subspace and back.

    x_hat = mean + (x - mean) V V^T with V = components.T; e_i = mean_j (x_ij - x_hat_ij)^2.
    x: (N, D), mean: (D,), components: (k, D) -> e: (N,).
    """
    xp = get_xp(x)
    parts = []
    for a, b in batch_slices(x.shape[0], batch_size):
        xc = x[a:b, ...] - mean  # (B, D)
        d = xc - (xc @ components.T) @ components  # (B, D): the part of xc outside the subspace
        parts.append(xp.mean(d * d, axis=1))
    return xp.concat(parts)
