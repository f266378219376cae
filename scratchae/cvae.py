"""The TensorFlow tutorial's convolutional VAE ("Convolutional Variational Autoencoder", tensorflow/docs), by hand.

Only the encoder and decoder change from the dense VAE of vae.py: convolutions read the image as a grid, so a
stroke is recognised wherever it is, with a few hundred weights per layer instead of a Dense layer's 784 x 400.
The reparameterisation, the KL term, the training step (vae_step) and the evaluation (evaluate_vae) are vae.py's.

    encoder: 28x28x1 -Conv2D(32, s2, valid)+ReLU-> 13x13x32 -Conv2D(64, s2, valid)+ReLU-> 6x6x64 -> 2304
             -> mu, logvar: (N, latent)   (the tutorial's one Dense to 2 latent, split in two: two heads)
    decoder: z -Dense(7*7*32)+ReLU-> 7x7x32 -Conv2DTranspose(64, s2)+ReLU-> 14x14x64
             -Conv2DTranspose(32, s2)+ReLU-> 28x28x32 -Conv2DTranspose(1, s1)-> 28x28x1 logits -> Sigmoid

The tutorial's encoder convolutions use Keras's default padding, "valid"; its transposed convolutions "same".
The decoder ends in logits; the Sigmoid after them is only there so that vae_step's fused BCE-with-logits gradient
(p - x) / N applies (skip_last), exactly as for the dense VAE.
"""
import math

from .backend import device_of, get_xp, make_rng
from .conv import Conv2D, Conv2DTranspose, init_kernel
from .data import batch_slices
from .layers import Dense, ReLU, Sigmoid, check_positive_int
from .models import Sequential
from .pooling import Flatten, Reshape
from .vae import VAE

LOG_2PI = math.log(2.0 * math.pi)


def glorot_dense(n_in, n_out, fan_out, kw):
    """A Dense(n_in, n_out) with Keras's default kernel init: W ~ U(+-sqrt(6 / (n_in + fan_out))), b = 0."""
    layer = Dense(n_in, n_out, **kw)
    W = layer.params["W"]
    W[...] = init_kernel((n_in, n_out), n_in, fan_out, "glorot_uniform", kw["rng"], layer.xp, device_of(W), W.dtype)
    return layer


def conv_vae(latent=2, *, rng=None, xp=None, device=None, dtype="float32"):
    """The tutorial's CVAE (see the module docstring), every weight Glorot-uniform and every bias 0 as in Keras.

    x: (N, 784) in [0, 1] -> mu, logvar, z: (N, latent) -> out: (N, 784) in [0, 1]. The two heads are the
    tutorial's single Dense(2304, 2 latent) cut in two, so they are drawn with its fans (2304, 2 latent).
    """
    check_positive_int("conv_vae", "latent", latent)
    kw = {"rng": make_rng(rng), "xp": xp, "device": device, "dtype": dtype}
    conv = {"init": "glorot_uniform", **kw}
    encoder = [Reshape((28, 28, 1)), Conv2D(1, 32, 3, stride=2, padding="valid", **conv), ReLU(),
               Conv2D(32, 64, 3, stride=2, padding="valid", **conv), ReLU(), Flatten()]  # -> (N, 6 6 64 = 2304)
    mu_head = glorot_dense(2304, latent, 2 * latent, kw)
    logvar_head = glorot_dense(2304, latent, 2 * latent, kw)
    decoder = [glorot_dense(latent, 7 * 7 * 32, 7 * 7 * 32, kw), ReLU(), Reshape((7, 7, 32)),
               Conv2DTranspose(32, 64, 3, stride=2, **conv), ReLU(),  # -> (N, 14, 14, 64)
               Conv2DTranspose(64, 32, 3, stride=2, **conv), ReLU(),  # -> (N, 28, 28, 32)
               Conv2DTranspose(32, 1, 3, stride=1, **conv), Flatten(), Sigmoid()]  # logits (N, 784) -> p
    return VAE(Sequential(encoder), mu_head, logvar_head, Sequential(decoder))


def binarize(x, threshold=0.5):
    """x: (N, D) in [0, 1] -> 1.0 where x > threshold, else 0.0, in x's dtype (the tutorial's MNIST preprocessing)."""
    xp = get_xp(x)
    return xp.astype(x > threshold, x.dtype)


def log_normal(z, mu, logvar):
    """log N(z; mu, diag(exp(logvar))) summed over the latent: -1/2 sum((z - mu)^2 / var + logvar + log 2 pi).

    z, mu, logvar: (N, latent) -> (N,).
    """
    xp = get_xp(z, mu, logvar)
    return -0.5 * xp.sum((z - mu) ** 2 * xp.exp(-logvar) + logvar + LOG_2PI, axis=1)


def monte_carlo_elbo(model, x, recon_loss, *, seed=0, batch_size=1000):
    """The tutorial's loss: -(log p(x|z) + log p(z) - log q(z|x)) at one z per image, mean over the rows of x.

    Its expectation over z is recon + KL, the loss evaluate_vae reports with the KL in closed form; one z gives
    an unbiased but noisier estimate of the KL part. z uses the same eps as evaluate_vae(seed=seed), so the two
    differ only in that term. Returns {"loss", "recon", "kl_sample"} as Python floats (nats per image).
    """
    rng = make_rng(seed)
    totals = {"recon": 0.0, "kl_sample": 0.0}
    for start, stop in batch_slices(x.shape[0], batch_size):
        xb = x[start:stop, ...]
        out = model.forward(xb, model.draw_eps(xb.shape[0], xb, rng))
        z = model.mu + model.reparam.noise  # the z the decoder saw
        xp = get_xp(z)
        zeros = xp.zeros_like(z)
        kl_sample = log_normal(z, model.mu, model.logvar) - log_normal(z, zeros, zeros)  # log q(z|x) - log p(z)
        totals["recon"] += float(recon_loss.forward(out, xb)) * xb.shape[0]
        totals["kl_sample"] += float(xp.sum(kl_sample))
    means = {key: value / x.shape[0] for key, value in totals.items()}
    return {"loss": means["recon"] + means["kl_sample"], **means}
