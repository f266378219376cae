"""The latent explorer: its decoding on every backend, the static figure, and the sliders' wiring (with ipywidgets)."""
import numpy as np
import pytest

from scratchae import explorer
from scratchae.backend import to_device, to_numpy
from scratchae.vae import dense_vae
from conftest import host


def small_vae(backend, dtype="float32"):
    return dense_vae((784, 16), 2, rng=0, **backend.kw(dtype))


def by_hand(model, z):
    """The decoder's layers on host copies of its weights: Dense, ReLU, Dense, Sigmoid, in float64."""
    W1, b1 = (to_numpy(model.decoder.layers[0].params[k]).astype(np.float64) for k in ("W", "b"))
    W2, b2 = (to_numpy(model.decoder.layers[2].params[k]).astype(np.float64) for k in ("W", "b"))
    h = np.maximum(z @ W1 + b1, 0)  # (K, 16)
    return (1 / (1 + np.exp(-(h @ W2 + b2)))).reshape(-1, 28, 28)


def test_decode_at_is_the_decoder_on_the_models_device(backend, rng):
    model = small_vae(backend, "float64")
    z = rng.normal(size=(5, 2))
    images = explorer.decode_at(model, z)
    assert isinstance(images, np.ndarray) and images.shape == (5, 28, 28)
    np.testing.assert_allclose(images, by_hand(model, z), rtol=1e-12, atol=1e-14)


def test_decode_at_takes_another_decode_such_as_a_sigmoid_over_logits(backend, rng):
    model = small_vae(backend)
    z = rng.normal(size=(3, 2))
    halved = explorer.decode_at(model, z, decode=lambda zd: model.decode(zd) * 0.5)
    np.testing.assert_allclose(halved, 0.5 * explorer.decode_at(model, z), rtol=1e-6)


def test_mix_runs_from_a_to_b_on_any_backend(backend):
    a, b = backend.asarray([1.0, -2.0]), backend.asarray([3.0, 2.0])
    assert host(explorer.mix(a, b, 0.0)).tolist() == [1.0, -2.0]
    assert host(explorer.mix(a, b, 1.0)).tolist() == [3.0, 2.0]
    assert host(explorer.mix(a, b, 0.25)).tolist() == [1.5, -1.0]


def test_mix_row_decodes_evenly_spaced_points_from_a_to_b(backend):
    model = small_vae(backend, "float64")
    a, b = np.array([-1.0, 0.5]), np.array([2.0, -1.5])
    row = explorer.mix_row(model, a, b, steps=4)
    ts = np.array([0, 1 / 3, 2 / 3, 1])[:, None]
    np.testing.assert_allclose(row, by_hand(model, a + ts * (b - a)), rtol=1e-12, atol=1e-14)


def test_without_widgets_one_sentence_and_a_static_figure(backend, rng, capsys):
    model = small_vae(backend)
    x = to_device(rng.random((40, 784)), backend.xp, backend.device, "float32")
    labels = np.arange(40) % 10
    fig = explorer.explore(model, x, labels, index=(3, 7))  # pytest has no notebook kernel: the static branch
    assert capsys.readouterr().out == explorer.NO_WIDGETS + "\n"
    assert len(fig.axes) == 3
    codes = to_numpy(model.encode(x))
    segment = fig.axes[1].lines[0].get_xydata()  # the segment between the two chosen codes
    np.testing.assert_allclose(segment, codes[[3, 7]].astype(np.float64), rtol=1e-6)


def test_the_sliders_move_the_point_and_the_image_follows(rng):
    pytest.importorskip("ipywidgets")
    from scratchae.backend import cpu_xp
    from conftest import Backend

    model = small_vae(Backend("numpy", cpu_xp, None), "float64")
    x = rng.random((30, 784))
    labels = np.arange(30) % 10
    ex = explorer.Explorer(model, x, labels, index=(2, 5))
    codes = to_numpy(model.encode(x))
    np.testing.assert_allclose(ex.codes, codes)
    # At start t = 0: the point is image a's code, and the z sliders show it.
    np.testing.assert_allclose(ex.point, codes[2])
    assert (ex.z1.value, ex.z2.value) == pytest.approx(tuple(codes[2]))
    ex.t.value = 0.75
    want = 0.25 * codes[2] + 0.75 * codes[5]
    np.testing.assert_allclose(ex.point, want, rtol=1e-12)
    np.testing.assert_allclose(ex.image, by_hand(model, want[None, :])[0], rtol=1e-12, atol=1e-14)
    assert ex.z1.value == pytest.approx(want[0])
    ex.b.value = 9
    np.testing.assert_allclose(ex.point, 0.25 * codes[2] + 0.75 * codes[9], rtol=1e-12)
    # The z sliders alone: the point is theirs, and the marker on the map sits on it.
    ex.z1.value, ex.z2.value = 1.5, -0.5
    np.testing.assert_allclose(ex.point, [1.5, -0.5])
    np.testing.assert_allclose(ex.image, by_hand(model, np.array([[1.5, -0.5]]))[0], rtol=1e-12, atol=1e-14)
    assert ex.marker.get_xydata().tolist() == [[1.5, -0.5]]
    np.testing.assert_array_equal(ex.shown.get_array(), ex.image)
    assert ex.widget.children[-1] is ex.picture and bytes(ex.picture.value).startswith(b"\x89PNG")
    drawn = bytes(ex.picture.value)
    ex.z2.value = 0.5
    assert bytes(ex.picture.value) != drawn  # every move redraws the picture
