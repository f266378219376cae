"""The network figure: its rows come from the model's layers, and it writes a readable PNG."""
import matplotlib.image
import pytest

import scratchae as sa
from scratchae.netfig import count_params, layer_rows, network_figure


def test_rows_are_read_from_the_reference_model():
    model = sa.dense_autoencoder((784, 256, 128, 64, 32, 32), rng=0)
    rows = layer_rows(model)
    assert [(r["part"], r["n_in"], r["n_out"], r["activation"]) for r in rows] == [
        ("encoder", 784, 256, "ReLU"), ("encoder", 256, 128, "ReLU"), ("encoder", 128, 64, "ReLU"),
        ("encoder", 64, 32, "ReLU"), ("encoder", 32, 32, "ReLU"),
        ("decoder", 32, 32, "ReLU"), ("decoder", 32, 64, "ReLU"), ("decoder", 64, 128, "ReLU"),
        ("decoder", 128, 256, "ReLU"), ("decoder", 256, 784, "Sigmoid")]
    assert [r["l"] for r in rows] == list(range(1, 11))
    # 10 Dense + 9 ReLU + 1 Sigmoid = 20 layers; the count of parameters is the model's own
    assert len(model.layers) == 20
    assert count_params(rows) == sum(p.size for _, p, _ in model.named_params()) == 491_248


def test_rows_follow_other_widths_and_a_linear_code():
    rows = layer_rows(sa.dense_autoencoder((784, 100, 7), code="linear", rng=0))
    assert [(r["n_in"], r["n_out"], r["activation"]) for r in rows] == [
        (784, 100, "ReLU"), (100, 7, "none"), (7, 100, "ReLU"), (100, 784, "Sigmoid")]


def test_a_convolutional_model_is_refused_in_one_line():
    with pytest.raises(ValueError, match="dense models"):
        layer_rows(sa.conv_autoencoder(rng=0))


def test_figure_is_written_and_not_blank(tmp_path):
    path = tmp_path / "network.png"
    rows = network_figure(sa.dense_autoencoder(rng=0), path)
    picture = matplotlib.image.imread(path)
    assert len(rows) == 10 and picture.ndim == 3 and picture.shape[1] > 1000 and picture.std() > 0.05
