"""What a training run is made of, read off its settings ``cfg``: the model, the step, the evaluation and figures.

train.py turns flags into ``cfg`` (a plain dict, saved in config.json and in every checkpoint); this module turns
``cfg`` into objects. Each model or variant is a few separate entries here: a builder in MODELS, a branch in
make_step and in make_evaluate, its figures. Data is (N, 784) float32 in [0, 1] for every model.
"""
import numpy as np

from . import plots
from .backend import device_of, get_xp, to_device, to_numpy
from .denoise import add_noise, denoise_step, evaluate_denoising, keras_blog_denoiser, tf_denoiser
from .models import conv_autoencoder, conv_pool_autoencoder, dense_autoencoder, init_output_bias
from .sparse import L1Activity, evaluate_sparse, sparse_step
from .training import encode_all, evaluate, train_step


def dense(cfg, xp):
    """The dense autoencoder: encoder widths cfg["dims"] from input to latent, the decoder mirrors them."""
    return dense_autoencoder(cfg["dims"], rng=cfg["seed"], xp=xp)


def conv(cfg, xp):
    """The Keras convolutional autoencoder (stride-2 convolutions down, transposed ones up; code 7x7x64)."""
    return conv_autoencoder(rng=cfg["seed"], xp=xp)


def conv_pool(cfg, xp):
    """The same shapes with MaxPool2D down and UpSampling2D up."""
    return conv_pool_autoencoder(rng=cfg["seed"], xp=xp)


MODELS = {"dense": dense, "conv": conv, "conv-pool": conv_pool}  # name -> builder(cfg, xp); the --model choices


def tf_denoise_model(cfg, xp):
    """The TensorFlow tutorial's convolutional denoiser (scratchae.denoise.tf_denoiser)."""
    return tf_denoiser(rng=cfg["seed"], xp=xp)


def keras_denoise_model(cfg, xp):
    """The Keras blog's convolutional denoiser (scratchae.denoise.keras_blog_denoiser)."""
    return keras_blog_denoiser(rng=cfg["seed"], xp=xp)


MODELS["tf-denoiser"] = tf_denoise_model
MODELS["keras-denoiser"] = keras_denoise_model
TEST_NOISE_STREAM = 2**32 - 1  # the test set's noise: generator (seed, this), never a training step's (seed, e, k)


def noisy_test_set(cfg, x_test):
    """The fixed noisy copy of the test set that a denoising run is scored on (the same every epoch and resume)."""
    return add_noise(x_test, cfg["noise"], np.random.default_rng([cfg["seed"], TEST_NOISE_STREAM]))


def model_name(cfg):
    """How the first printed line names the model, e.g. '784-256-128-64-32-32 autoencoder'."""
    name = "-".join(map(str, cfg["dims"])) if cfg["model"] == "dense" else cfg["model"]
    name += " autoencoder"
    if cfg.get("noise") is not None:
        name += f" (denoising, noise {cfg['noise']:g})"
    if cfg.get("sparsity") is not None:
        name += f" (L1 code penalty {cfg['sparsity']:g})"
    return name


def build_model(cfg, xp, x_train):
    """A fresh model for ``cfg`` on ``xp``; x_train (host, (N, 784)) sets the output bias where cfg asks."""
    model = MODELS[cfg["model"]](cfg, xp)
    if cfg.get("output_bias") == "mean" and cfg["model"] == "dense":
        init_output_bias(model, to_device(x_train.mean(axis=0), xp))
    return model


def make_step(cfg, model, loss, optimizer):
    """The training step for ``cfg``: step(xb, rng) -> loss (see training.fit)."""
    if cfg.get("sparsity") is not None:
        penalty = L1Activity(cfg["sparsity"])
        return lambda xb, rng: sparse_step(model, loss, penalty, optimizer, xb)
    if cfg.get("noise") is not None:
        return lambda xb, rng: denoise_step(model, loss, optimizer, xb, rng, cfg["noise"])

    def step(xb, rng):
        return train_step(model, loss, optimizer, xb)
    return step


def make_evaluate(cfg, model, loss, x_test):
    """The end-of-epoch evaluation for ``cfg``: evaluate() -> {"test_loss": ...} (see training.fit)."""
    if cfg.get("sparsity") is not None:
        penalty = L1Activity(cfg["sparsity"])
        return lambda: evaluate_sparse(model, loss, penalty, x_test)
    if cfg.get("noise") is not None:
        x_noisy = noisy_test_set(cfg, x_test)  # (N, 784) on x_test's device, drawn once
        return lambda: evaluate_denoising(model, loss, x_noisy, x_test)

    def evaluate_test():
        return {"test_loss": evaluate(model, loss, x_test)}
    return evaluate_test


def write_figures(out, cfg, model, x_test, x_test_device, y_test, rows):
    """reconstructions.png, loss_curve.png and latent.png in the run folder ``out``."""
    pick = plots.one_per_class(y_test)  # the first test image of each class
    images = x_test[pick]  # (10, 784)
    noisy = to_numpy(noisy_test_set(cfg, x_test))[pick] if cfg.get("noise") is not None else None
    seen = images if noisy is None else noisy  # a denoiser is shown the noisy images it was scored on
    recon = to_numpy(model.forward(to_device(seen, get_xp(x_test_device), device_of(x_test_device))))
    what = "their reconstructions" if noisy is None else f"noise {cfg['noise']:g}, denoised"
    plots.reconstructions(images, recon, out / "reconstructions.png",
                          f"{cfg['dataset']}: test images and {what} after {rows[-1]['epoch']} epochs", noisy=noisy)
    plots.loss_curve(rows, out / "loss_curve.png", cfg["loss"].upper())
    plots.latent_map(encode_all(model, x_test_device), y_test, out / "latent.png", cfg["dataset"],
                     method=cfg.get("latent_map", "pca"), seed=cfg["seed"])
