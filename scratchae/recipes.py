"""What a training run is made of, read off its settings ``cfg``: the model, the step, the evaluation and figures.

train.py turns flags into ``cfg`` (a plain dict, saved in config.json and in every checkpoint); this module turns
``cfg`` into objects. Each model or variant is a few separate entries here: a builder in MODELS, a branch in
make_step and in make_evaluate, its figures. Data is (N, 784) float32 in [0, 1] for every model.
"""
from . import plots
from .backend import device_of, get_xp, to_device, to_numpy
from .models import dense_autoencoder, init_output_bias
from .training import encode_all, evaluate, train_step


def dense(cfg, xp):
    """The dense autoencoder: encoder widths cfg["dims"] from input to latent, the decoder mirrors them."""
    return dense_autoencoder(cfg["dims"], rng=cfg["seed"], xp=xp)


MODELS = {"dense": dense}  # name -> builder(cfg, xp) -> model; the --model choices


def model_name(cfg):
    """How the first printed line names the model, e.g. '784-256-128-64-32-32 autoencoder'."""
    if cfg["model"] == "dense":
        return "-".join(map(str, cfg["dims"])) + " autoencoder"
    return f"{cfg['model']} autoencoder"


def build_model(cfg, xp, x_train):
    """A fresh model for ``cfg`` on ``xp``; x_train (host, (N, 784)) sets the output bias where cfg asks."""
    model = MODELS[cfg["model"]](cfg, xp)
    if cfg.get("output_bias") == "mean" and cfg["model"] == "dense":
        init_output_bias(model, to_device(x_train.mean(axis=0), xp))
    return model


def make_step(cfg, model, loss, optimizer):
    """The training step for ``cfg``: step(xb, rng) -> loss (see training.fit)."""
    def step(xb, rng):
        return train_step(model, loss, optimizer, xb)
    return step


def make_evaluate(cfg, model, loss, x_test):
    """The end-of-epoch evaluation for ``cfg``: evaluate() -> {"test_loss": ...} (see training.fit)."""
    def evaluate_test():
        return {"test_loss": evaluate(model, loss, x_test)}
    return evaluate_test


def write_figures(out, cfg, model, x_test, x_test_device, y_test, rows):
    """reconstructions.png, loss_curve.png and latent.png in the run folder ``out``."""
    images = x_test[plots.one_per_class(y_test)]  # (10, 784): the first test image of each class
    recon = to_numpy(model.forward(to_device(images, get_xp(x_test_device), device_of(x_test_device))))
    plots.reconstructions(images, recon, out / "reconstructions.png",
                          f"{cfg['dataset']}: test images and their reconstructions after {rows[-1]['epoch']} epochs")
    plots.loss_curve(rows, out / "loss_curve.png", cfg["loss"].upper())
    plots.latent_map(encode_all(model, x_test_device), y_test, out / "latent.png", cfg["dataset"])
