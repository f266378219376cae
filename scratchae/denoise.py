"""Denoising autoencoders: the model sees a noisy image and is trained to output the clean one.

Corruption is Gaussian noise clipped back to the pixel range, x_noisy = clip(x + f * eps, 0, 1) with eps ~ N(0, 1),
as the TensorFlow tutorial (f = 0.2) and the Keras blog (f = 0.5) use it. Only the training step changes: the
input is noisy, the target stays clean. Quality is measured in PSNR, the peak signal-to-noise ratio in decibels.
"""
from .backend import device_of, get_xp, to_device
from .data import batch_slices
from .layers import Sigmoid
from .losses import BCE


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
    return xp.clip(x + float(factor) * eps, 0.0, 1.0)


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


def output_grad(model, loss):
    """Run the loss's backward: returns (dout, skip_last) for ``model.backward(dout, skip_last=skip_last)``.

    BCE behind a Sigmoid output takes the fused gradient at the Sigmoid's input, (p - t) / n (exact where p
    saturates, see BCE.backward_logits); any other pair goes through loss.backward() and every layer.
    """
    if isinstance(loss, BCE) and isinstance(model.layers[-1], Sigmoid):
        return loss.backward_logits(), True
    return loss.backward(), False


def denoise_step(model, loss, optimizer, xb, rng, factor):
    """One denoising step on the clean batch xb: (B, D); returns the loss against the clean images (0-d array)."""
    x_noisy = add_noise(xb, factor, rng)  # fresh noise for every batch
    out = model.forward(x_noisy)  # (B, D): the model only ever sees the noisy input...
    value = loss.forward(out, xb)  # ...and is scored against the clean one
    dout, skip_last = output_grad(model, loss)
    model.backward(dout, input_grad=False, skip_last=skip_last)
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
