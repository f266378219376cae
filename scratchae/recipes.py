"""What a training run is made of, read off its settings ``cfg``: the model, the step, the evaluation and figures.

train.py turns flags into ``cfg`` (a plain dict, saved in config.json and in every checkpoint); this module turns
``cfg`` into objects. Each model or variant is a few separate entries here: a builder in MODELS, a branch in
make_step and in make_evaluate, its figures. Data is (N, 784) float32 in [0, 1] for every model.
"""
import numpy as np

from . import plots
from .backend import device_of, get_xp, make_rng, to_device, to_numpy
from .denoise import add_noise, denoise_step, evaluate_denoising, keras_blog_denoiser, tf_denoiser
from .elbo import KL, evaluate_vae, vae_step
from .models import conv_autoencoder, conv_pool_autoencoder, dense_autoencoder, init_output_bias
from .sparse import L1Activity, evaluate_sparse, sparse_step
from .training import encode_all, evaluate, train_step
from .vae import dense_vae


def dense(cfg, xp):
    """The dense autoencoder: encoder widths cfg["dims"] from input to latent, the decoder mirrors them."""
    return dense_autoencoder(cfg["dims"], rng=cfg["seed"], xp=xp)


def conv(cfg, xp):
    """The Keras convolutional autoencoder (stride-2 convolutions down, transposed ones up; code 7x7x64)."""
    return conv_autoencoder(rng=cfg["seed"], xp=xp)


def conv_pool(cfg, xp):
    """The same shapes with MaxPool2D down and UpSampling2D up."""
    return conv_pool_autoencoder(rng=cfg["seed"], xp=xp)


def vae(cfg, xp):
    """The VAE: cfg["dims"] = input, hidden widths..., latent (the PyTorch example's 784 400 20)."""
    return dense_vae(cfg["dims"][:-1], cfg["dims"][-1], rng=cfg["seed"], xp=xp)


# name -> builder(cfg, xp) -> model; the --model choices
MODELS = {"dense": dense, "conv": conv, "conv-pool": conv_pool, "vae": vae}


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
    if cfg["model"] == "vae":
        return "-".join(map(str, cfg["dims"])) + " VAE"
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
    if cfg.get("output_bias") == "mean" and cfg["model"] in ("dense", "vae"):
        init_output_bias(model, to_device(x_train.mean(axis=0), xp))
    return model


def make_step(cfg, model, loss, optimizer):
    """The training step for ``cfg``: step(xb, rng) -> loss (see training.fit)."""
    if cfg["model"] == "vae":  # loss is the reconstruction term (BCESum); the step adds the KL term
        kl = KL()

        def vae_train_step(xb, rng):
            return vae_step(model, loss, kl, optimizer, xb, rng)
        return vae_train_step
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
    if cfg["model"] == "vae":  # z sampled as in training, with the same eps every epoch (seeded by cfg["seed"])
        def evaluate_vae_test():
            terms = evaluate_vae(model, x_test, seed=cfg["seed"], recon_loss=loss)
            return {"test_loss": terms["loss"], "test_recon": terms["recon"], "test_kl": terms["kl"]}
        return evaluate_vae_test
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
    """reconstructions.png, loss_curve.png and latent.png in the run folder ``out`` (and the VAE's own figures)."""
    pick = plots.one_per_class(y_test)  # the first test image of each class
    images = x_test[pick]  # (10, 784)
    if cfg["model"] == "vae":
        return write_vae_figures(out, cfg, model, images, x_test_device, y_test, rows)
    noisy = to_numpy(noisy_test_set(cfg, x_test))[pick] if cfg.get("noise") is not None else None
    seen = images if noisy is None else noisy  # a denoiser is shown the noisy images it was scored on
    recon = to_numpy(model.forward(to_device(seen, get_xp(x_test_device), device_of(x_test_device))))
    what = "their reconstructions" if noisy is None else f"noise {cfg['noise']:g}, denoised"
    plots.reconstructions(images, recon, out / "reconstructions.png",
                          f"{cfg['dataset']}: test images and {what} after {rows[-1]['epoch']} epochs", noisy=noisy)
    plots.loss_curve(rows, out / "loss_curve.png", cfg["loss"].upper())
    plots.latent_map(encode_all(model, x_test_device), y_test, out / "latent.png", cfg["dataset"],
                     method=cfg.get("latent_map", "pca"), seed=cfg["seed"])


def write_vae_figures(out, cfg, model, images, x_test_device, y_test, rows):
    """The VAE's run folder figures: reconstructions (from the mean code mu), loss_curve.png, samples.png from
    z ~ N(0, I), and for a 2-D latent manifold.png and latent.png of the codes mu themselves (no PCA)."""
    xp, device, epochs = get_xp(x_test_device), device_of(x_test_device), rows[-1]["epoch"]
    recon = to_numpy(model.decode(model.encode(to_device(images, xp, device))))
    plots.reconstructions(images, recon, out / "reconstructions.png",
                          f"{cfg['dataset']}: test images and their decoded means mu after {epochs} epochs")
    plots.loss_curve(rows, out / "loss_curve.png", "negative ELBO", unit="nats per image")
    samples = to_numpy(model.sample(64, make_rng(cfg["seed"])))
    plots.image_grid(samples, out / "samples.png", f"64 samples z ~ N(0, I), decoded, after {epochs} epochs")
    codes = encode_all(model, x_test_device)
    if model.latent != 2:
        return plots.latent_map(codes, y_test, out / "latent.png", cfg["dataset"])
    grid = to_device(plots.latent_grid(20, 3.0), xp, device, model.mu_head.params["W"].dtype)
    plots.manifold(to_numpy(model.decode(grid)), out / "manifold.png",
                   f"decodes of a 20 x 20 grid of the latent plane after {epochs} epochs")
    plots.code_map(codes, y_test, out / "latent.png", cfg["dataset"], "test-set codes mu by digit")
