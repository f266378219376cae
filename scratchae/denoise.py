"""Denoising autoencoders: the model sees a noisy image and is trained to output the clean one.

Corruption is Gaussian noise clipped back to the pixel range, x_noisy = clip(x + f * eps, 0, 1) with eps ~ N(0, 1),
as the TensorFlow tutorial (f = 0.2) and the Keras blog (f = 0.5) use it. Only the training step changes: the
input is noisy, the target stays clean. Quality is measured in PSNR, the peak signal-to-noise ratio in decibels.
"""
from .backend import device_of, get_xp, make_rng, to_device
from .conv import Conv2D, Conv2DTranspose
from .data import batch_slices
from .layers import ReLU, Sigmoid
from .models import Autoencoder, Sequential
from .pooling import Flatten, MaxPool2D, Reshape, UpSampling2D
from .training import backward_from_loss


def add_noise(x, factor, rng):
    """x_noisy = clip(x + factor * eps, 0, 1), eps ~ N(0, 1).  x: (N, ...) in [0, 1] -> x_noisy: same shape.

    eps is drawn on the host from ``rng`` (a numpy Generator) in x's dtype and moved to x's device, so the same
    seed gives the same noise on NumPy and CuPy, and a resumed run repeats it exactly.
    """
    if not factor >= 0:
        raise ValueError(f"the noise factor must be >= 0, got {factor!r}")
    xp = get_xp(x)
    precision = "float32" if x.dtype == xp.float32 else "float64"  # float32 draws are twice as fast on the host
    eps = to_device(rng.standard_normal(tuple(x.shape), dtype=precision), xp, device_of(x))
    eps *= float(factor)  # eps is our own fresh copy: scale and shift it in place
    eps += x
    return xp.minimum(xp.maximum(eps, 0.0), 1.0)  # clip without xp.clip, which waits for a GPU (audit.py)


def psnr(pred, target, max_value=1.0, floor=1e-10):
    """Mean over images of 10 log10(max^2 / mse_i), mse_i the mean squared error of image i.  (N, ...) -> 0-d, dB.

    Per-image and then averaged, as image-restoration papers report it. An exact copy has an infinite PSNR: its
    mse is floored at ``floor`` (100 dB for max 1) so a mean over a test set stays a number.
    """
    if tuple(pred.shape) != tuple(target.shape) or pred.ndim < 1 or pred.shape[0] < 1:
        raise ValueError(f"psnr: pred {tuple(pred.shape)} and target {tuple(target.shape)} must be one (N, ...) shape")
    xp = get_xp(pred, target)
    diff = xp.reshape(pred - target, (pred.shape[0], -1))  # (N, D)
    mse = xp.maximum(xp.mean(diff * diff, axis=1), floor)  # (N,)
    return xp.mean(10.0 * xp.log10(max_value * max_value / mse))


def denoise_step(model, loss, optimizer, xb, rng, factor):
    """One denoising step on the clean batch xb: (B, D); returns the loss against the clean images (0-d array)."""
    x_noisy = add_noise(xb, factor, rng)  # fresh noise for every batch
    out = model.forward(x_noisy)  # (B, D): the model only ever sees the noisy input...
    value = loss.forward(out, xb)  # ...and is scored against the clean one
    backward_from_loss(model, loss)
    optimizer.step()
    return value


def evaluate_denoising(model, loss, x_noisy, x_clean, batch_size=1000):
    """Test metrics of a denoiser on fixed noisy inputs: loss and PSNR of its output against x_clean, and the
    noisy input's own PSNR (the bar to clear).  x_noisy, x_clean: (N, D) -> dict of floats."""
    total = {"test_loss": 0.0, "test_psnr": 0.0, "noisy_psnr": 0.0}
    for start, stop in batch_slices(x_clean.shape[0], batch_size):
        xn, xc = x_noisy[start:stop, ...], x_clean[start:stop, ...]
        out = model.forward(xn)
        n = stop - start  # batch means weighted by the batch size: the last batch may be smaller
        total["test_loss"] += float(loss.forward(out, xc)) * n
        total["test_psnr"] += float(psnr(out, xc)) * n
        total["noisy_psnr"] += float(psnr(xn, xc)) * n
    return {key: value / x_clean.shape[0] for key, value in total.items()}


def tf_denoiser(*, rng=None, xp=None, device=None, dtype="float32"):
    """The TensorFlow tutorial's convolutional denoiser.  x: (N, 784) -> code (N, 7, 7, 8) -> out: (N, 784).

    Conv2D(16, 3x3, stride 2) and Conv2D(8, 3x3, stride 2), ReLU, down to 7x7x8; Conv2DTranspose(8) and
    Conv2DTranspose(16) (3x3, stride 2), ReLU, back to 28x28x16; Conv2D(1, 3x3) and a Sigmoid. "same" padding and
    Keras's Glorot-uniform init throughout.
    """
    rng = make_rng(rng)
    kw = {"init": "glorot_uniform", "rng": rng, "xp": xp, "device": device, "dtype": dtype}  # Keras's default
    encoder = [Reshape((28, 28, 1)), Conv2D(1, 16, stride=2, **kw), ReLU(), Conv2D(16, 8, stride=2, **kw), ReLU()]
    decoder = [Conv2DTranspose(8, 8, stride=2, **kw), ReLU(), Conv2DTranspose(8, 16, stride=2, **kw), ReLU(),
               Conv2D(16, 1, **kw), Flatten(), Sigmoid()]  # Sigmoid last, after Flatten: BCE's fused gradient applies
    return Autoencoder(Sequential(encoder), Sequential(decoder))


def keras_blog_denoiser(*, rng=None, xp=None, device=None, dtype="float32"):
    """The Keras blog's convolutional denoiser.  x: (N, 784) -> code (N, 7, 7, 32) -> out: (N, 784).

    Two Conv2D(32, 3x3) + ReLU, each followed by MaxPool2D(2), down to 7x7x32; two Conv2D(32, 3x3) + ReLU, each
    followed by UpSampling2D(2), back to 28x28x32; Conv2D(1, 3x3) and a Sigmoid. "same" padding, Glorot-uniform.
    """
    rng = make_rng(rng)
    kw = {"init": "glorot_uniform", "rng": rng, "xp": xp, "device": device, "dtype": dtype}  # Keras's default
    encoder = [Reshape((28, 28, 1)), Conv2D(1, 32, **kw), ReLU(), MaxPool2D(2), Conv2D(32, 32, **kw), ReLU(),
               MaxPool2D(2)]
    decoder = [Conv2D(32, 32, **kw), ReLU(), UpSampling2D(2), Conv2D(32, 32, **kw), ReLU(), UpSampling2D(2),
               Conv2D(32, 1, **kw), Flatten(), Sigmoid()]
    return Autoencoder(Sequential(encoder), Sequential(decoder))
