"""Denoising: reproducible noise, PSNR against a direct computation, the step's gradients against the chain rule."""
import numpy as np
import pytest

from conftest import host
from scratchae import BCE, MSE, assert_close, check_model, dense_autoencoder
from scratchae.denoise import add_noise, denoise_step, evaluate_denoising, keras_blog_denoiser, psnr, tf_denoiser


class Recorder:
    """An optimizer that changes nothing and keeps a host copy of every gradient it is asked to apply."""

    def __init__(self, model):
        self.model, self.grads = model, None

    def step(self):
        self.grads = {name: host(g).copy() for name, _, g in self.model.named_params()}


def _images(backend, rng, shape=(4, 12), dtype="float64"):
    return backend.asarray(rng.uniform(0, 1, shape), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_noise_is_the_formula_and_repeats_from_the_seed(backend, rng, dtype):
    x = _images(backend, rng, (5, 7), dtype)
    noisy = add_noise(x, 0.5, np.random.default_rng(7))
    eps = np.random.default_rng(7).standard_normal((5, 7), dtype=dtype)
    np.testing.assert_array_equal(host(noisy), np.clip(host(x) + 0.5 * eps, 0, 1))
    assert noisy.dtype == x.dtype and noisy.shape == x.shape
    np.testing.assert_array_equal(host(add_noise(x, 0.5, np.random.default_rng(7))), host(noisy))
    assert not np.array_equal(host(add_noise(x, 0.5, np.random.default_rng(8))), host(noisy))


def test_noise_stays_in_range_and_factor_zero_is_the_identity(rng):
    x = rng.uniform(0, 1, (50, 30)).astype(np.float32)
    noisy = add_noise(x, 2.0, np.random.default_rng(0))
    assert noisy.min() == 0.0 and noisy.max() == 1.0  # a large factor saturates both ends
    np.testing.assert_array_equal(add_noise(x, 0.0, np.random.default_rng(0)), x)
    with pytest.raises(ValueError, match=">= 0"):
        add_noise(x, -0.1, np.random.default_rng(0))


def test_psnr_against_a_direct_computation(backend, rng):
    pred, target = _images(backend, rng, (6, 3, 4)), _images(backend, rng, (6, 3, 4))
    p, t = host(pred), host(target)
    direct = np.mean([10 * np.log10(1.0 / np.mean((p[i] - t[i]) ** 2)) for i in range(6)])
    assert float(psnr(pred, target)) == pytest.approx(direct, rel=1e-12)
    # A constant error of 0.1 is an mse of 0.01: 20 dB; an exact copy is capped at 100 dB, not infinite.
    assert float(psnr(target + 0.1, target)) == pytest.approx(20.0, rel=1e-9)
    assert float(psnr(target, target)) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="shape"):
        psnr(pred, target[:3, ...])


@pytest.mark.parametrize("loss", [BCE(), MSE()], ids=repr)
def test_denoise_step_gradients_are_the_plain_chain_rule(backend, rng, loss):
    """The step (with its fused BCE + Sigmoid gradient) against backward through every layer on the same batch."""
    model = dense_autoencoder((12, 7, 3), rng=rng, **backend.kw())
    x = _images(backend, rng)
    x_noisy = add_noise(x, 0.3, np.random.default_rng(5))
    # Plain: loss.backward() and every layer's backward, Sigmoid included.
    expected = float(loss.forward(model.forward(x_noisy), x))
    model.backward(loss.backward())
    plain = {name: host(g).copy() for name, _, g in model.named_params()}
    recorder = Recorder(model)
    value = denoise_step(model, loss, recorder, x, np.random.default_rng(5), 0.3)
    assert float(value) == pytest.approx(expected, rel=1e-12)  # scored against the clean images
    assert float(value) != pytest.approx(float(loss.forward(model.forward(x_noisy), x_noisy)), rel=1e-6)
    for name, g in plain.items():
        np.testing.assert_allclose(recorder.grads[name], g, rtol=1e-9, atol=1e-14, err_msg=name)


def test_denoising_model_gradcheck(backend, rng, record_gradcheck):
    """The gradient the denoising step uses: of loss(model(x_noisy), x) with respect to every parameter."""
    model = dense_autoencoder((12, 7, 3), rng=rng, **backend.kw())
    x = _images(backend, rng)
    report = check_model(model, BCE(), add_noise(x, 0.3, np.random.default_rng(2)), x, rng=rng, max_entries=None)
    record_gradcheck(report)
    assert_close(report, 1e-7)


def test_evaluate_denoising_against_a_direct_computation(rng):
    model = dense_autoencoder((12, 7, 3), rng=rng)
    x = rng.uniform(0, 1, (25, 12)).astype(np.float32)
    x_noisy = add_noise(x, 0.5, np.random.default_rng(3))
    got = evaluate_denoising(model, MSE(), x_noisy, x, batch_size=10)  # 10 + 10 + 5: a short last batch
    out = model.forward(x_noisy).astype(np.float64)
    x64, xn64 = x.astype(np.float64), x_noisy.astype(np.float64)

    def direct_psnr(a):
        return np.mean(10 * np.log10(1.0 / np.mean((a - x64) ** 2, axis=1)))

    assert got["test_loss"] == pytest.approx(np.mean((out - x64) ** 2), rel=1e-5)
    assert got["test_psnr"] == pytest.approx(direct_psnr(out), rel=1e-5)
    assert got["noisy_psnr"] == pytest.approx(direct_psnr(xn64), rel=1e-5)


@pytest.mark.parametrize("build, code, kinds", [
    (tf_denoiser, (7, 7, 8), ["Reshape", "Conv2D", "ReLU", "Conv2D", "ReLU", "Conv2DTranspose", "ReLU",
                              "Conv2DTranspose", "ReLU", "Conv2D", "Flatten", "Sigmoid"]),
    (keras_blog_denoiser, (7, 7, 32), ["Reshape", "Conv2D", "ReLU", "MaxPool2D", "Conv2D", "ReLU", "MaxPool2D",
                                       "Conv2D", "ReLU", "UpSampling2D", "Conv2D", "ReLU", "UpSampling2D", "Conv2D",
                                       "Flatten", "Sigmoid"]),
])
def test_conv_denoisers_are_the_sources_architectures(build, code, kinds):
    model = build(rng=0)
    assert [type(layer).__name__ for layer in model.layers] == kinds
    x = np.random.default_rng(0).uniform(0, 1, (3, 784)).astype(np.float32)
    assert model.encode(x).shape == (3, *code)
    out = model.forward(x)
    assert out.shape == (3, 784) and out.dtype == np.float32 and np.all((out >= 0) & (out <= 1))


def test_tf_denoiser_step_is_the_plain_chain_rule(backend, rng):
    """The fused BCE + Sigmoid gradient through Flatten and the convolutions, against every layer's backward."""
    model = tf_denoiser(rng=rng, **backend.kw())
    x = _images(backend, rng, (2, 784))
    loss = BCE()
    loss.forward(model.forward(add_noise(x, 0.2, np.random.default_rng(4))), x)
    model.backward(loss.backward())
    plain = {name: host(g).copy() for name, _, g in model.named_params()}
    recorder = Recorder(model)
    denoise_step(model, loss, recorder, x, np.random.default_rng(4), 0.2)
    for name, g in plain.items():
        np.testing.assert_allclose(recorder.grads[name], g, rtol=1e-9, atol=1e-14, err_msg=name)
