"""Models: end-to-end gradient checks, the reference architecture, training, and save/load."""
import numpy as np
import pytest

from conftest import host
from scratchae import (BCE, MSE, Adam, Dense, ReLU, Sequential, Sigmoid, assert_close, check_model,
                       dense_autoencoder, load_model, save_model)
from scratchae.models import init_output_bias
from scratchae.serialize import CheckpointError


def test_sequential_gradcheck(backend, rng, record_gradcheck):
    model = Sequential([Dense(6, 5, rng=rng, **backend.kw()), ReLU(), Dense(5, 4, rng=rng, **backend.kw()),
                        Sigmoid()])
    x = backend.asarray(rng.standard_normal((3, 6)))
    report = check_model(model, MSE(), x, backend.asarray(rng.uniform(0, 1, (3, 4))), rng=rng, max_entries=None)
    record_gradcheck(report)
    assert_close(report, 1e-7)


def test_reference_autoencoder_gradcheck_end_to_end_with_bce(backend, rng, record_gradcheck):
    model = dense_autoencoder(rng=rng, **backend.kw())
    x = backend.asarray(rng.uniform(0, 1, (2, 784)))
    report = check_model(model, BCE(), x, x, rng=rng, max_entries=12)
    record_gradcheck(report)
    assert len(report) == 1 + 20  # dx and W, b of ten Dense layers
    assert_close(report, 1e-7)


def test_reference_architecture():
    model = dense_autoencoder(rng=0)
    shapes = [(name, tuple(p.shape)) for name, p, _ in model.named_params() if name.endswith("W")]
    assert shapes == [("encoder.0.W", (784, 256)), ("encoder.2.W", (256, 128)), ("encoder.4.W", (128, 64)),
                      ("encoder.6.W", (64, 32)), ("encoder.8.W", (32, 32)), ("decoder.0.W", (32, 32)),
                      ("decoder.2.W", (32, 64)), ("decoder.4.W", (64, 128)), ("decoder.6.W", (128, 256)),
                      ("decoder.8.W", (256, 784))]
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "ReLU"] * 9 + ["Dense", "Sigmoid"]
    assert model.layers[:10] == model.encoder.layers
    x = np.random.default_rng(0).uniform(0, 1, (3, 784)).astype(np.float32)
    assert model.encode(x).shape == (3, 32) and np.all(model.encode(x) >= 0)  # ReLU on the latent too
    out = model.forward(x)
    assert out.shape == (3, 784) and out.dtype == np.float32 and np.all((out >= 0) & (out <= 1))
    assert sum(p.size for _, p, _ in model.named_params()) == 2 * (784 * 256 + 256 * 128 + 128 * 64 + 64 * 32 + 32 * 32) + (256 + 128 + 64 + 32 + 32) + (32 + 64 + 128 + 256 + 784)


def test_a_linear_code_drops_only_the_latents_relu(backend, rng, record_gradcheck):
    relu, linear = (dense_autoencoder((20, 8, 3), code=code, rng=0, **backend.kw()) for code in ("relu", "linear"))
    assert [type(layer).__name__ for layer in linear.encoder.layers] == ["Dense", "ReLU", "Dense"]
    assert [type(layer).__name__ for layer in linear.decoder.layers] == \
        [type(layer).__name__ for layer in relu.decoder.layers]
    for (name, a, _), (name_b, b, _) in zip(relu.named_params(), linear.named_params()):
        assert name == name_b and np.array_equal(host(a), host(b))  # the same weights from the same seed
    x = backend.asarray(rng.uniform(0, 1, (40, 20)))
    z_linear, z_relu = host(linear.encode(x)), host(relu.encode(x))
    assert np.allclose(np.maximum(z_linear, 0), z_relu) and np.any(z_linear < 0)  # the ReLU code, before its ReLU
    report = check_model(linear, BCE(), x[:2, ...], x[:2, ...], rng=rng, max_entries=12)
    record_gradcheck(report)
    assert_close(report, 1e-7)
    with pytest.raises(ValueError, match="code must be 'relu' or 'linear', got 'tanh'"):
        dense_autoencoder((20, 8), code="tanh")


@pytest.mark.parametrize("dims", [(784,), (784, 0), (784, 2.5), ()])
def test_bad_dims_are_a_clear_error(dims):
    with pytest.raises(ValueError, match="dims"):
        dense_autoencoder(dims)


def test_tiny_autoencoder_learns(backend):
    """Eight 16-pixel patterns through a 4-unit bottleneck: 300 Adam steps must cut the BCE well down."""
    rng = np.random.default_rng(0)
    data = backend.asarray((rng.uniform(0, 1, (8, 16)) > 0.5) * 0.9 + 0.05, "float32")
    model = dense_autoencoder((16, 12, 4), rng=rng, **backend.kw("float32"))
    loss, opt = BCE(), Adam(model, lr=1e-2)
    losses = []
    for _ in range(300):
        losses.append(float(loss.forward(model.forward(data), data)))
        model.backward(loss.backward(), input_grad=False)
        opt.step()
    print(f"tiny AE: BCE {losses[0]:.3f} -> {losses[-1]:.3f}")
    assert losses[0] > 0.6 and losses[-1] < 0.3


def test_float32_training_step_has_no_float64(backend, rng):
    model = dense_autoencoder((20, 8, 4), rng=rng, **backend.kw("float32"))
    x = backend.asarray(rng.uniform(0, 1, (5, 20)), "float32")
    opt, loss = Adam(model), BCE()
    out = model.forward(x)
    value = loss.forward(out, x)
    dx = model.backward(loss.backward())
    opt.step()
    f32 = backend.xp.float32
    assert out.dtype == value.dtype == dx.dtype == f32
    for name, p, g in model.named_params():
        assert p.dtype == g.dtype == opt.m[name].dtype == opt.v[name].dtype == f32, name


def test_save_load_round_trip_is_exact(backend, rng, tmp_path):
    model = dense_autoencoder((30, 10, 5), rng=rng, **backend.kw("float32"))
    path = tmp_path / "weights.npz"
    save_model(model, path)
    back = load_model(path, xp=backend.xp, device=backend.device)
    assert back.spec() == model.spec()
    for (na, pa, _), (nb, pb, _) in zip(model.named_params(), back.named_params()):
        assert na == nb and pb.dtype == pa.dtype
        np.testing.assert_array_equal(host(pa), host(pb))
    x = backend.asarray(rng.uniform(0, 1, (4, 30)), "float32")
    np.testing.assert_array_equal(host(model.forward(x)), host(back.forward(x)))
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_model(tmp_path / "missing.npz")
    good = tmp_path / "good.npz"
    save_model(dense_autoencoder((8, 4), rng=0), good)
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(good.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated"):
        load_model(bad)


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    save_model(dense_autoencoder((8, 4), rng=0), path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        save_model(dense_autoencoder((8, 4), rng=1), path)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


def test_init_output_bias_makes_the_untrained_model_output_the_mean(backend, rng):
    model = dense_autoencoder((6, 3), rng=rng, **backend.kw())
    mean = np.array([0.0, 0.1, 0.5, 0.9, 1.0, 0.3])
    init_output_bias(model, backend.asarray(mean))
    b = host(model.decoder.layers[-2].params["b"])
    np.testing.assert_allclose(1 / (1 + np.exp(-b)), np.clip(mean, 1e-3, 1 - 1e-3), rtol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        init_output_bias(model, backend.asarray(np.zeros(5)))
    with pytest.raises(ValueError, match="Sigmoid"):
        init_output_bias(Sequential([Dense(2, 2, rng=0)]), np.zeros(2, np.float32))


def test_fused_sigmoid_bce_gradient_matches_the_chain_rule(backend, rng):
    """backward_logits + skip_last gives the same parameter gradients as BCE.backward through Sigmoid.backward."""
    model = dense_autoencoder((12, 6, 3), rng=rng, **backend.kw())
    x = backend.asarray(rng.uniform(0, 1, (4, 12)))
    loss = BCE()
    loss.forward(model.forward(x), x)
    model.backward(loss.backward())
    chained = {name: host(g).copy() for name, _, g in model.named_params()}
    model.backward(loss.backward_logits(), skip_last=True)
    for name, _, g in model.named_params():
        np.testing.assert_allclose(host(g), chained[name], rtol=1e-10, atol=1e-14, err_msg=name)


def test_fused_gradient_still_pushes_saturated_wrong_outputs():
    """Where the Sigmoid saturates at 0 but the target is 1, the chain rule's gradient vanishes; the fused one is -1/n."""
    pred, target = np.array([[0.0, 1.0]], np.float32), np.array([[1.0, 0.0]], np.float32)
    loss = BCE()
    loss.forward(pred, target)
    np.testing.assert_array_equal(loss.backward_logits(), [[-0.5, 0.5]])
