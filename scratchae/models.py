"""Models are lists of layers and two loops: forward in order, backward in reverse.

``Sequential`` chains layers; ``Autoencoder`` joins an encoder and a decoder and adds ``encode``/``decode``;
``dense_autoencoder`` builds the reference architecture. The loss stays outside the model, so a training step is
five visible lines: out = model.forward(x); loss.forward(out, x); dout = loss.backward(); model.backward(dout);
optimizer.step().
"""
from .backend import make_rng
from .conv import Conv2D, Conv2DTranspose
from .layers import Dense, ReLU, Sigmoid, check_positive_int
from .pooling import Flatten, MaxPool2D, Reshape, UpSampling2D


class Sequential:
    """A chain of layers, out = layers[-1](... layers[0](x)).  x: (N, in) -> out: (N, out)."""

    def __init__(self, layers):
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("Sequential needs at least one layer")

    def __repr__(self):
        return "Sequential([" + ", ".join(repr(layer) for layer in self.layers) + "])"

    def forward(self, x):
        """x -> out, through every layer in order."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout, *, input_grad=True, skip_last=False):
        """dout -> dx, through every layer in reverse; each fills its grads.

        input_grad=False skips dx (returns None). skip_last=True starts at the second-to-last layer: dout is then
        the gradient at the last layer's input (a parameter-free output activation, see training.output_grad).
        """
        layers = self.layers[:-1] if skip_last else self.layers  # skip_last: dout is already d(logits)
        if not input_grad:
            # Nothing below the first layer with weights needs a gradient (a leading Reshape has no grads), and
            # that layer needs no dx: for the conv models this skips Conv2D(1, 32)'s col2im (docs/results.md).
            layers = layers[next((i for i, layer in enumerate(layers) if layer.params), 0):]
        for layer in reversed(layers[1:]):
            dout = layer.backward(dout)
        return layers[0].backward(dout, input_grad=input_grad)

    def named_params(self, prefix=""):
        """Yield (name, param, grad) for every parameter, named ``f"{prefix}{index}.{key}"`` such as ``"0.W"``."""
        for i, layer in enumerate(self.layers):
            for key, param in layer.params.items():
                yield f"{prefix}{i}.{key}", param, layer.grads[key]

    def spec(self):
        """The architecture as plain data (saved with the weights)."""
        return {"type": "Sequential", "layers": [layer.spec() for layer in self.layers]}


class Autoencoder:
    """x -> z = encoder(x) -> out = decoder(z).  x: (N, in) -> z: (N, latent) -> out: (N, in)."""

    def __init__(self, encoder, decoder):
        self.encoder, self.decoder = encoder, decoder

    def __repr__(self):
        return f"Autoencoder(encoder={self.encoder!r}, decoder={self.decoder!r})"

    @property
    def layers(self):
        """All layers, encoder first."""
        return self.encoder.layers + self.decoder.layers

    def encode(self, x):
        """x: (N, in) -> z: (N, latent)."""
        return self.encoder.forward(x)

    def decode(self, z):
        """z: (N, latent) -> out: (N, in)."""
        return self.decoder.forward(z)

    def forward(self, x):
        """x: (N, in) -> out: (N, in), the reconstruction."""
        return self.decode(self.encode(x))

    def backward(self, dout, *, input_grad=True, skip_last=False):
        """dout: (N, in) -> dx: (N, in) (None with input_grad=False); fills every layer's grads (see Sequential)."""
        dz = self.decoder.backward(dout, skip_last=skip_last)
        return self.encoder.backward(dz, input_grad=input_grad)

    def named_params(self):
        """Yield (name, param, grad) with names such as ``"encoder.0.W"`` and ``"decoder.4.b"``."""
        yield from self.encoder.named_params("encoder.")
        yield from self.decoder.named_params("decoder.")

    def spec(self):
        """The architecture as plain data (saved with the weights)."""
        return {"type": "Autoencoder", "encoder": self.encoder.spec(), "decoder": self.decoder.spec()}


def dense_autoencoder(dims=(784, 256, 128, 64, 32, 32), *, code="relu", rng=None, xp=None, device=None,
                      dtype="float32"):
    """The reference dense autoencoder: Dense+ReLU down ``dims``, then the mirror back up, Sigmoid on the output.

    dims=(784, 256, 128, 64, 32, 32): encoder 784-256-128-64-32-32 with ReLU after every Dense (the latent too),
    decoder 32-32-64-128-256-784 with ReLU after each hidden Dense.  x: (N, dims[0]) -> out: (N, dims[0]) in [0, 1].
    code="linear" leaves out the ReLU on the latent: the code is the last Dense's output, and no code unit can die
    (a ReLU unit that is 0 for every image gets no gradient again; with a code of 2 numbers both often do).
    """
    dims = tuple(dims)
    if len(dims) < 2:
        raise ValueError(f"dense_autoencoder: dims must be two or more widths such as (784, 256, 32), got {dims!r}")
    if code not in ("relu", "linear"):
        raise ValueError(f"dense_autoencoder: code must be 'relu' or 'linear', got {code!r}")
    for i, d in enumerate(dims):
        check_positive_int("dense_autoencoder", f"dims[{i}]", d)
    rng = make_rng(rng)  # one generator for all layers: each layer gets different weights, reproducibly
    kw = {"rng": rng, "xp": xp, "device": device, "dtype": dtype}
    encoder = []
    for n_in, n_out in zip(dims[:-1], dims[1:]):
        encoder += [Dense(n_in, n_out, **kw), ReLU()]
    if code == "linear":
        encoder.pop()  # the latent's ReLU
    up = dims[::-1]
    decoder = []
    for n_in, n_out in zip(up[:-1], up[1:]):
        decoder += [Dense(n_in, n_out, **kw), ReLU()]
    decoder[-1] = Sigmoid()
    return Autoencoder(Sequential(encoder), Sequential(decoder))


def conv_autoencoder(*, init="he_normal", rng=None, xp=None, device=None, dtype="float32"):
    """The Keras convolutional autoencoder: two stride-2 convolutions down, two stride-2 transposed ones up.

    encoder: 28x28x1 -Conv2D(32, s2)+ReLU-> 14x14x32 -Conv2D(64, s2)+ReLU-> 7x7x64, flattened to the code;
    decoder: 7x7x64 -Conv2DTranspose(64, s2)+ReLU-> 14x14x64 -Conv2DTranspose(32, s2)+ReLU-> 28x28x32
    -Conv2D(1)-> 28x28x1 -> Sigmoid. All kernels 3x3, padding "same".  x: (N, 784) -> z: (N, 3136) -> out: (N, 784).
    Images stay flat rows outside the model: Reshape((28, 28, 1)) comes first and Flatten before the final Sigmoid
    (elementwise, so the order changes nothing), which keeps Sigmoid last for BCE's fused gradient.
    Kernels are He-normal by default (init="glorot_uniform" gives Keras's): see Conv2D for the measurement.
    """
    kw = {"init": init, "rng": make_rng(rng), "xp": xp, "device": device, "dtype": dtype}
    encoder = [Reshape((28, 28, 1)), Conv2D(1, 32, 3, stride=2, **kw), ReLU(),
               Conv2D(32, 64, 3, stride=2, **kw), ReLU(), Flatten()]
    decoder = [Reshape((7, 7, 64)), Conv2DTranspose(64, 64, 3, stride=2, **kw), ReLU(),
               Conv2DTranspose(64, 32, 3, stride=2, **kw), ReLU(), Conv2D(32, 1, 3, **kw), Flatten(), Sigmoid()]
    return Autoencoder(Sequential(encoder), Sequential(decoder))


def conv_pool_autoencoder(*, init="he_normal", rng=None, xp=None, device=None, dtype="float32"):
    """conv_autoencoder's shapes with pooling instead of strides: stride-1 Conv2D + MaxPool2D(2) down, UpSampling2D(2)
    + stride-1 Conv2D up (the Keras blog's style).  x: (N, 784) -> z: (N, 3136), 7x7x64 flattened -> out: (N, 784).
    """
    kw = {"init": init, "rng": make_rng(rng), "xp": xp, "device": device, "dtype": dtype}
    encoder = [Reshape((28, 28, 1)), Conv2D(1, 32, 3, **kw), ReLU(), MaxPool2D(2), Conv2D(32, 64, 3, **kw), ReLU(),
               MaxPool2D(2), Flatten()]
    decoder = [Reshape((7, 7, 64)), UpSampling2D(2), Conv2D(64, 64, 3, **kw), ReLU(), UpSampling2D(2),
               Conv2D(64, 32, 3, **kw), ReLU(), Conv2D(32, 1, 3, **kw), Flatten(), Sigmoid()]
    return Autoencoder(Sequential(encoder), Sequential(decoder))


def init_output_bias(model, mean_output, eps=1e-3):
    """Start a Sigmoid-output model at the mean target: b_last = logit(m) = log(m / (1 - m)), m clipped to [eps, 1-eps].

    mean_output: (out,), e.g. the mean training image. With zero biases an untrained model outputs ~0.5 everywhere
    and its first Adam steps go into learning the background, pushing many ReLU units of the narrow layers to
    zero for good; starting at the mean image skips that phase ("init well", Karpathy's "A Recipe for Training
    Neural Networks", 2019). It lowers the reference model's test BCE (docs/results.md#output-bias-from-the-mean-image).
    """
    if not isinstance(model.layers[-1], Sigmoid):
        raise ValueError("init_output_bias needs a model whose last layer is Sigmoid (the bias is a logit)")
    dense = next(layer for layer in reversed(model.layers) if isinstance(layer, Dense))
    b = dense.params["b"]
    xp = dense.xp
    m = xp.minimum(xp.maximum(xp.astype(mean_output, b.dtype), eps), 1.0 - eps)  # xp.clip waits on CuPy (audit.py)
    if tuple(m.shape) != tuple(b.shape):
        raise ValueError(f"mean_output must have shape {tuple(b.shape)}, got {tuple(m.shape)}")
    b[...] = xp.log(m) - xp.log1p(-m)
