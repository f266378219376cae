"""The convolutional autoencoders: architecture, end-to-end gradient checks with BCE, save/load, learning."""
import numpy as np
import pytest

from conftest import host
from scratchae import BCE, Adam, MaxPool2D, ReLU, assert_close, check_model, load_model, save_model
from scratchae.im2col import window
from scratchae.models import conv_autoencoder, conv_pool_autoencoder

BUILDERS = [conv_autoencoder, conv_pool_autoencoder]


def test_conv_autoencoder_is_the_keras_model():
    model = conv_autoencoder(rng=0)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Reshape", "Conv2D", "ReLU", "Conv2D", "ReLU", "Flatten",
                     "Reshape", "Conv2DTranspose", "ReLU", "Conv2DTranspose", "ReLU", "Conv2D", "Flatten", "Sigmoid"]
    shapes = {name: tuple(p.shape) for name, p, _ in model.named_params()}
    assert shapes == {"encoder.1.W": (3, 3, 1, 32), "encoder.1.b": (32,), "encoder.3.W": (3, 3, 32, 64),
                      "encoder.3.b": (64,), "decoder.1.W": (3, 3, 64, 64), "decoder.1.b": (64,),
                      "decoder.3.W": (3, 3, 32, 64), "decoder.3.b": (32,), "decoder.5.W": (3, 3, 32, 1),
                      "decoder.5.b": (1,)}
    strides = [layer.stride for layer in model.layers if hasattr(layer, "stride")]
    assert strides == [2, 2, 2, 2, 1]
    x = np.random.default_rng(0).uniform(0, 1, (3, 784)).astype(np.float32)
    z, out = model.encode(x), model.forward(x)
    assert z.shape == (3, 7 * 7 * 64) and np.all(z >= 0)
    assert out.shape == (3, 784) and out.dtype == np.float32 and np.all((out >= 0) & (out <= 1))


def test_pool_variant_shapes():
    model = conv_pool_autoencoder(rng=0)
    x = np.random.default_rng(0).uniform(0, 1, (2, 784)).astype(np.float32)
    assert model.encode(x).shape == (2, 3136) and model.forward(x).shape == (2, 784)
    assert [type(layer).__name__ for layer in model.layers].count("MaxPool2D") == 2


class FrozenReLU(ReLU):
    """ReLU whose 0/1 mask stays as it was at the point being checked (the mask is its derivative there)."""

    frozen = False

    def forward(self, x):
        return x * self.mask if self.frozen else super().forward(x)


class FrozenMaxPool2D(MaxPool2D):
    """MaxPool2D whose choice of maximum stays as it was at the point being checked ("valid", no -inf padding)."""

    frozen = False

    def forward(self, x):
        if not self.frozen:
            return super().forward(x)
        p, (oh, ow) = self.pool_size, self.out_shape[1:3]
        parts = [x[:, window(p, p, oh, i), window(p, p, ow, j), :] for i in range(p) for j in range(p)]
        return sum(part * mask for part, mask in zip(parts, self.masks))


def freeze_kinks(model, x):
    """Swap every ReLU and MaxPool2D for a frozen copy set at x, so the model is smooth around x.

    The conv models have about 10^5 ReLU units for two images; a nudge of h = 1e-5 to a bias moves all of a
    channel's units, and a few always lie within h of 0, so central differences straddle a kink and disagree with
    any correct gradient by ~1e-3 (measured here). With the masks fixed at x, the function is smooth near x and
    its gradient there is exactly what backward computes, ReLU and pooling masks included; the layers themselves
    are gradient-checked on kink-free data in test_layers.py and test_conv.py.
    """
    for seq in (model.encoder, model.decoder):
        for i, layer in enumerate(seq.layers):
            if type(layer) is ReLU:
                seq.layers[i] = FrozenReLU()
            elif type(layer) is MaxPool2D:
                seq.layers[i] = FrozenMaxPool2D(layer.pool_size, padding=layer.padding)
    model.forward(x)
    for layer in model.layers:
        if isinstance(layer, (FrozenReLU, FrozenMaxPool2D)):
            layer.frozen = True


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_gradcheck_end_to_end_with_bce(backend, rng, record_gradcheck, build):
    model = build(rng=rng, **backend.kw())
    x = backend.asarray(rng.uniform(0.05, 0.95, (2, 784)))
    freeze_kinks(model, x)
    # h = 3e-4, not 1e-5: some gradients are ~1e-6 (a mean over 1568 pixels), so the rounding error of f ~ 0.7,
    # about 1e-16 |f| / (h |g|), can dominate at h = 1e-5; the frozen model is smooth, so the h^2 truncation error
    # stays small. Worst errors measured for h = 1e-5, 1e-4, 3e-4, 1e-3, He-normal weights: 3.4e-8, 3.5e-9, 6.8e-9,
    # 7.6e-8 (strided model), 2.6e-9, 4.0e-10, 3.6e-9, 4.0e-8 (pooling model); with Glorot-uniform's smaller
    # weights the strided model's were 1.2e-6, 1.5e-7, 4.5e-8, 8.5e-9.
    report = record_gradcheck(check_model(model, BCE(), x, x, rng=rng, max_entries=6, h=3e-4))
    assert len(report) == 1 + 10  # dx and W, b of five convolutions
    assert_close(report, 1e-7)


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_save_load_is_bit_exact(tmp_path, rng, build):
    model = build(rng=rng)
    for _, p, _ in model.named_params():  # nonzero biases too, so every array is really restored
        p[...] = rng.standard_normal(p.shape).astype(np.float32) * 0.1
    save_model(model, tmp_path / "conv.npz")
    back = load_model(tmp_path / "conv.npz")
    assert back.spec() == model.spec()
    for (name, p, _), (name2, q, _) in zip(model.named_params(), back.named_params()):
        assert name == name2 and p.dtype == q.dtype
        np.testing.assert_array_equal(p, q)
    x = rng.uniform(0, 1, (4, 784)).astype(np.float32)
    np.testing.assert_array_equal(back.forward(x), model.forward(x))


def _blobs(rng, n):
    """n 28x28 images of one bright rectangle each, flattened: easy to learn, far from a 0.5 guess."""
    images = np.zeros((n, 28, 28), np.float32)
    for img in images:
        y, x = rng.integers(2, 16, 2)
        h, w = rng.integers(5, 12, 2)
        img[y:y + h, x:x + w] = 1.0
    return images.reshape(n, 784)


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_a_few_hundred_steps_lower_the_loss(build):
    from scratchae.training import train_step

    rng = np.random.default_rng(0)
    data = _blobs(rng, 8)
    model = build(rng=rng)
    loss, opt = BCE(), Adam(model, lr=3e-3)
    losses = [train_step(model, loss, opt, data) for _ in range(200)]
    print(f"{build.__name__}: BCE {losses[0]:.3f} -> {losses[-1]:.3f}")
    assert losses[0] > 0.6 and losses[-1] < 0.1 * losses[0]


def test_fused_bce_gradient_matches_the_chain_rule(rng):
    """The training step's shortcut (BCE.backward_logits, skipping Sigmoid) against the plain chain on one batch."""
    model = conv_autoencoder(rng=rng, dtype="float64")
    x = rng.uniform(0, 1, (3, 784))
    loss = BCE()
    loss.forward(model.forward(x), x)
    model.backward(loss.backward(), input_grad=False)
    plain = {name: host(g).copy() for name, _, g in model.named_params()}
    model.backward(loss.backward_logits(), input_grad=False, skip_last=True)
    for name, _, g in model.named_params():
        np.testing.assert_allclose(host(g), plain[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_no_input_gradient_below_the_first_convolution(rng):
    """input_grad=False stops at the first layer with weights: same grads, no dx, the leading Reshape untouched."""
    model = conv_autoencoder(rng=rng, dtype="float64")
    x = rng.uniform(0, 1, (2, 784))
    dout = rng.standard_normal((2, 784))
    model.forward(x)
    assert model.backward(dout).shape == (2, 784)
    full = {name: g.copy() for name, _, g in model.named_params()}
    calls = []
    for layer in model.layers[:2]:
        real = layer.backward
        layer.backward = lambda d, *, input_grad=True, real=real, layer=layer: (calls.append((layer, input_grad)),
                                                                               real(d, input_grad=input_grad))[1]
    assert model.backward(dout, input_grad=False) is None
    assert calls == [(model.layers[1], False)]  # Conv2D(1, 32) without dx; Reshape never called
    for name, _, g in model.named_params():
        np.testing.assert_array_equal(g, full[name], err_msg=name)
