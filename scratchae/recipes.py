"""A training run read off its settings ``cfg``: make_run builds model, loss, optimizer, step and evaluation together.

presets.py turns flags into ``cfg`` (plain data, saved in config.json and in every checkpoint); make_run turns it
into objects, with one branch per variant (plain, denoising, sparse, VAE), so a variant reads in one place, and
write_figures draws its run folder's pictures. Those are the only two readers of a run's settings. Data is
(N, 784) float32 in [0, 1] for every model.
"""
from dataclasses import dataclass

from . import netfig, plots
from .backend import device_of, get_xp, make_rng, to_device, to_numpy
from .denoise import add_noise, denoise_step, evaluate_denoising, keras_blog_denoiser, tf_denoiser
from .losses import BCE, MSE
from .models import conv_autoencoder, conv_pool_autoencoder, dense_autoencoder, init_output_bias
from .optim_fast import make_adam
from .seq2seq import rows_autoencoder
from .sparse import L1Activity, evaluate_sparse, sparse_step
from .training import encode_all, evaluate, train_step
from .cvae import conv_vae
from .presets import VAE_MODELS
from .vae import KL, dense_vae, evaluate_vae, vae_step

# name -> builder(cfg, xp) -> model with fresh weights; the --model choices
MODELS = {
    # widths cfg["dims"], mirrored; runs saved before --code existed have a ReLU code
    "dense": lambda cfg, xp: dense_autoencoder(cfg["dims"], code=cfg.get("code", "relu"), rng=cfg["seed"], xp=xp),
    "conv": lambda cfg, xp: conv_autoencoder(rng=cfg["seed"], xp=xp),  # strided convolutions, code 7x7x64
    "conv-pool": lambda cfg, xp: conv_pool_autoencoder(rng=cfg["seed"], xp=xp),  # MaxPool2D and UpSampling2D
    "tf-denoiser": lambda cfg, xp: tf_denoiser(rng=cfg["seed"], xp=xp),  # the TensorFlow tutorial's
    "keras-denoiser": lambda cfg, xp: keras_blog_denoiser(rng=cfg["seed"], xp=xp),  # the Keras blog's
    # dims = input, hidden widths..., latent (the PyTorch example's 784 400 20)
    "lstm": lambda cfg, xp: rows_autoencoder(rng=cfg["seed"], xp=xp),  # images as 28 rows, LSTM 100-30-100
    "vae": lambda cfg, xp: dense_vae(cfg["dims"][:-1], cfg["dims"][-1], rng=cfg["seed"], xp=xp),
    "cvae": lambda cfg, xp: conv_vae(rng=cfg["seed"], xp=xp),  # the TensorFlow tutorial's, latent 2
}
# name -> loss; the --loss choices. elbo: the VAE's reconstruction term, BCE per image; its step adds the KL term.
LOSSES = {"bce": BCE, "mse": MSE, "elbo": lambda: BCE(reduction="image")}
TEST_NOISE_STREAM = 2**32 - 1  # the test set's noise: generator (seed, this), never a training step's (seed, e, k)


@dataclass
class Run:
    """What a run trains and how: fit(run.model, run.optimizer, run.step, run.evaluate, ...)."""

    model: object
    loss: object
    optimizer: object
    step: object  # step(xb, rng) -> 0-d loss or dict of 0-d terms (see fit.fit)
    evaluate: object  # evaluate() -> {"test_loss": ...}, or None without a test set
    test_inputs: object = None  # what the model is shown of the test set (a denoiser: the noisy copy), on the device


def build_model(cfg, xp, x_train):
    """A fresh model for ``cfg`` on ``xp``; x_train (host, (N, 784)) sets a dense model's output bias if cfg asks."""
    model = MODELS[cfg["model"]](cfg, xp)
    if cfg.get("output_bias") == "mean" and cfg["model"] in ("dense", "vae"):
        init_output_bias(model, to_device(x_train.mean(axis=0), xp))
    return model


def noisy_test_set(cfg, x_test):
    """The fixed noisy copy of the test set that a denoising run is scored on (the same every epoch and resume)."""
    return add_noise(x_test, cfg["noise"], make_rng([cfg["seed"], TEST_NOISE_STREAM]))


def make_run(cfg, xp, x_train, x_test=None, model=None, x_val=None):
    """The run ``cfg`` describes: ``model`` (a fresh one from x_train (host) if None), its loss, Adam, the step and
    the evaluation on x_test (on the device; None: no evaluation), with the validation loss on x_val first if given
    (a plain autoencoder's: presets.settings refuses --validation for the other variants).

    Adam is optim_fast.FusedAdam where the backend allows: optim.Adam's numbers and state in a dozen array
    operations a step instead of twelve per parameter (benchmarks/README.md#fused-adam).
    """
    model = build_model(cfg, xp, x_train) if model is None else model
    optimizer, loss = make_adam(model, lr=cfg["lr"]), LOSSES[cfg["loss"]]()
    test_inputs = x_test
    if cfg["model"] in VAE_MODELS:  # loss is the reconstruction term; the step adds the KL term
        kl = KL()

        def step(xb, rng):
            return vae_step(model, loss, kl, optimizer, xb, rng)

        def evaluate_run():  # z sampled as in training, with the same eps every epoch (seeded by cfg["seed"])
            terms = evaluate_vae(model, x_test, seed=cfg["seed"], recon_loss=loss)
            return {"test_loss": terms["loss"], "test_recon": terms["recon"], "test_kl": terms["kl"]}
    elif cfg.get("sparsity") is not None:  # an L1 penalty on the code joins the gradient at the code
        penalty = L1Activity(cfg["sparsity"])

        def step(xb, rng):
            return sparse_step(model, loss, penalty, optimizer, xb)

        def evaluate_run():
            return evaluate_sparse(model, loss, penalty, x_test)
    elif cfg.get("noise") is not None:  # noisy inputs, clean targets
        test_inputs = None if x_test is None else noisy_test_set(cfg, x_test)  # drawn once, on x_test's device

        def step(xb, rng):
            return denoise_step(model, loss, optimizer, xb, rng, cfg["noise"])

        def evaluate_run():
            return evaluate_denoising(model, loss, test_inputs, x_test)
    else:  # the plain autoencoder: the five lines of training.train_step
        def step(xb, rng):
            return train_step(model, loss, optimizer, xb)

        def evaluate_run():
            return {"test_loss": evaluate(model, loss, x_test)}
    if x_test is None:
        return Run(model, loss, optimizer, step, None, test_inputs)
    if x_val is not None:
        evaluate_test = evaluate_run

        def evaluate_run():
            return {"val_loss": evaluate(model, loss, x_val), **evaluate_test()}
    return Run(model, loss, optimizer, step, evaluate_run, test_inputs)


def model_name(cfg):
    """How the first printed line names the model, e.g. '784-256-128-64-32-32 autoencoder'."""
    if cfg["model"] == "vae":
        return "-".join(map(str, cfg["dims"])) + " VAE"
    if cfg["model"] == "cvae":
        return "convolutional VAE (latent 2)"
    name = "-".join(map(str, cfg["dims"])) if cfg["model"] == "dense" else cfg["model"]
    name += " autoencoder"
    if cfg.get("code") == "linear":
        name += " (linear code)"
    if cfg.get("noise") is not None:
        name += f" (denoising, noise {cfg['noise']:g})"
    if cfg.get("sparsity") is not None:
        name += f" (L1 code penalty {cfg['sparsity']:g})"
    return name


def write_figures(out, cfg, run, x_test, y_test, rows):
    """reconstructions.png, loss_curve.png and latent.png in the run folder ``out`` (and the VAE's own figures);
    a dense autoencoder's network.png too (netfig: its layers as boxes, for the report).

    x_test, y_test: the host test set; run.test_inputs: what the model is shown of it, on the device.
    """
    pick = plots.one_per_class(y_test)  # the first test image of each class
    images = x_test[pick]  # (10, 784)
    if cfg["model"] in VAE_MODELS:
        return write_vae_figures(out, cfg, run.model, images, run.test_inputs, y_test, rows)
    if cfg["model"] == "dense":
        netfig.network_figure(run.model, out / "network.png")
    xp, device = get_xp(run.test_inputs), device_of(run.test_inputs)
    noisy = to_numpy(run.test_inputs)[pick] if cfg.get("noise") is not None else None
    seen = images if noisy is None else noisy  # a denoiser is shown the noisy images it was scored on
    recon = to_numpy(run.model.forward(to_device(seen, xp, device)))
    what = "their reconstructions" if noisy is None else f"noise {cfg['noise']:g}, denoised"
    plots.reconstructions(images, recon, out / "reconstructions.png",
                          f"{cfg['dataset']}: test images and {what} after {rows[-1]['epoch']} epochs", noisy=noisy)
    plots.loss_curve(rows, out / "loss_curve.png", cfg["loss"].upper())
    clean = run.test_inputs if noisy is None else to_device(x_test, xp, device)  # codes of the clean images
    plots.latent_map(encode_all(run.model, clean), y_test, out / "latent.png", cfg["dataset"],
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
