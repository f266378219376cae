"""The plain training step that every lesson shows, and the forward-only passes over a data set.

One step is five lines: forward, loss, loss backward, model backward, optimizer step, with one shortcut: a Sigmoid
output under BCE gets its gradient in one formula (``output_grad``). The epoch loop around the steps (order,
running loss, Ctrl-C, checkpoints) is fit.py's; the variants' steps are in denoise.py, sparse.py and vae.py.
"""
from .backend import get_xp, to_numpy
from .data import batch_slices
from .layers import Sigmoid
from .losses import BCE


def output_grad(model, loss):
    """Run the loss's backward: returns (dout, skip_last) for ``backward(dout, skip_last=...)`` of the decoder or model.

    BCE's backward times a Sigmoid output's simplifies to (p - t) / n at the Sigmoid's input (BCE.backward_logits):
    exact, and cheaper, so the backward pass then starts below the Sigmoid.
    """
    if isinstance(loss, BCE) and isinstance(model.layers[-1], Sigmoid):
        return loss.backward_logits(), True
    return loss.backward(), False


def backward_from_loss(model, loss):
    """Backpropagate the loss just computed through the model (no gradient for the data)."""
    dout, skip_last = output_grad(model, loss)
    model.backward(dout, input_grad=False, skip_last=skip_last)


def train_step(model, loss, optimizer, xb):
    """One minibatch step of autoencoder training (the target is the input xb); returns the loss, a 0-d array."""
    out = model.forward(xb)
    value = loss.forward(out, xb)
    backward_from_loss(model, loss)
    optimizer.step()
    return value


def evaluate(model, loss, x, batch_size=1000):
    """Mean loss per element of ``model`` reconstructing every row of x (forward only)."""
    total = 0.0
    for start, stop in batch_slices(x.shape[0], batch_size):
        xb = x[start:stop, ...]
        total += float(loss.forward(model.forward(xb), xb)) * (stop - start)
    return total / x.shape[0]


def encode_all(model, x, batch_size=1000):
    """Latent codes of every row of x, flattened, as one host array (N, code size)."""
    xp = get_xp(x)
    codes = []
    for a, b in batch_slices(x.shape[0], batch_size):
        z = model.encode(x[a:b, ...])
        codes.append(xp.reshape(z, (z.shape[0], -1)))  # a conv code (N, 7, 7, 64) becomes (N, 3136)
    return to_numpy(xp.concat(codes))


def reconstruction_errors(model, loss, x, batch_size=1000):
    """Each image's reconstruction error under ``loss`` (its per_image values): the anomaly scores.

    x: (N, D) -> scores: (N,), on x's device.
    """
    xp = get_xp(x)
    return xp.concat([loss.per_image(model.forward(x[a:b, ...]), x[a:b, ...])
                      for a, b in batch_slices(x.shape[0], batch_size)])
