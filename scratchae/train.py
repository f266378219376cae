"""``python -m scratchae.train``: train the reference autoencoder on MNIST (or Fashion-MNIST) and write a run folder.

The run folder holds config.json, metrics.csv, checkpoint.npz (model and optimizer state), reconstructions.png,
loss_curve.png and latent.png. Usage errors print one line and exit 2; a diverged loss exits 1; Ctrl-C saves a
checkpoint at the end of the current step and exits 130; ``--resume`` continues from any checkpoint.
"""
import argparse
import csv
import datetime
import json
import math
import pathlib
import platform
import sys

import array_api_compat
import numpy as np

from . import __version__, plots
from .backend import GPUUnavailableError, cpu_xp, describe, gpu_xp, to_device, to_numpy
from .data import DATA_ENV, DataError, load
from .elbo import BCESum
from .losses import BCE, MSE
from .optim import Adam
from .recipes import MODELS, build_model, make_evaluate, make_step, model_name, write_figures
from .serialize import CheckpointError
from .training import Diverged, Interrupted, Progress, fit, load_checkpoint

LOSSES = {"bce": BCE, "mse": MSE, "elbo": BCESum}  # elbo: the VAE's BCE per image; its step adds the KL term
PRESETS = {
    # The university assignment's model: deep dense AE, ReLU, Sigmoid output, BCE, Adam 1e-3, batch 256.
    "reference": {"model": "dense", "dataset": "mnist", "dims": [784, 256, 128, 64, 32, 32], "loss": "bce", "epochs": 20,
                  "batch_size": 256, "lr": 1e-3},
    # The Keras/TensorFlow "intro to autoencoders" basic model: one Dense each side, latent 64, MSE, 10 epochs,
    # Keras' default batch size of 32.
    "keras-basic": {"model": "dense", "dataset": "fashion-mnist", "dims": [784, 64], "loss": "mse", "epochs": 10, "batch_size": 32,
                    "lr": 1e-3},
    # The Keras convolutional autoencoder: Conv2D 32, 64 (stride 2) down to 7x7x64, Conv2DTranspose 64, 32 up,
    # Conv2D 1 + Sigmoid; Fashion-MNIST, BCE, Adam 1e-3, batch 128, 20 epochs.
    "keras-conv": {"model": "conv", "dataset": "fashion-mnist", "loss": "bce", "epochs": 20, "batch_size": 128,
                   "lr": 1e-3},
    # The PyTorch examples VAE: 784-400 ReLU, mu and logvar heads of 20, decoder 20-400-784, BCE summed over the
    # pixels + KL, Adam 1e-3, batch 128, 10 epochs; and its 2-D latent version for the manifold picture.
    "vae": {"model": "vae", "dataset": "mnist", "dims": [784, 400, 20], "loss": "elbo", "epochs": 10,
            "batch_size": 128, "lr": 1e-3},
    "vae-2d": {"model": "vae", "dataset": "mnist", "dims": [784, 400, 2], "loss": "elbo", "epochs": 10,
               "batch_size": 128, "lr": 1e-3},
    # The TensorFlow tutorial's denoiser: Fashion-MNIST, noise 0.2, its small conv model, MSE, 10 epochs, batch 32.
    "tf-denoise": {"model": "tf-denoiser", "dataset": "fashion-mnist", "noise": 0.2, "loss": "mse", "epochs": 10,
                   "batch_size": 32, "lr": 1e-3},
    # The Keras blog's denoiser: MNIST with noise 0.5, its conv model (max-pooling, upsampling), BCE, batch 128;
    # the blog trains 100 epochs with Adadelta, Adam needs far fewer.
    "keras-denoise": {"model": "keras-denoiser", "dataset": "mnist", "noise": 0.5, "loss": "bce", "epochs": 20,
                      "batch_size": 128, "lr": 1e-3},
    # The Keras blog's sparse autoencoder: 784-32-784, ReLU code with an L1 activity penalty of 1e-4, BCE.
    "keras-sparse": {"model": "dense", "dataset": "mnist", "dims": [784, 32], "sparsity": 1e-4, "loss": "bce",
                     "epochs": 100, "batch_size": 256, "lr": 1e-3},
}
DIMS_MODELS = {"dense", "vae"}  # the models whose widths --dims sets; the conv models have fixed shapes
# What may change when resuming; the rest is the run's.
RESUMABLE = {"epochs", "quiet", "gpu", "out", "data_dir", "latent_map"}
STANDARD_COLUMNS = {"epoch", "train_loss", "test_loss", "seconds", "images_per_s"}  # others print as "name value"
EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 1, 130


class UsageError(Exception):
    """A bad flag or setting: one line for the user, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see --help)")


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


def _nonnegative(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def build_parser():
    p = Parser(prog="python -m scratchae.train",
               description="Train the reference autoencoder on MNIST (or Fashion-MNIST) and write a run folder.")
    p.add_argument("--preset", choices=sorted(PRESETS), default="reference",
                   help="starting settings: 'reference' (deep AE on MNIST, BCE), 'keras-basic' (Keras tutorial: "
                        "Fashion-MNIST, latent 64, MSE), 'keras-conv' (Keras conv AE: Fashion-MNIST, BCE, batch "
                        "128), 'tf-denoise' and 'keras-denoise' (the TF tutorial's and the Keras blog's conv "
                        "denoisers), 'keras-sparse' (the blog's sparse 784-32-784), 'vae' or 'vae-2d' (the PyTorch "
                        "example VAE, latent 20 or 2); flags below override it (default: reference)")
    p.add_argument("--model", choices=sorted(MODELS),
                   help="dense (--dims), conv (strided convolutions, code 7x7x64), conv-pool (max-pooling and "
                        "upsampling, same code), tf-denoiser or keras-denoiser (the denoising presets' models), "
                        "vae (--dims: input, hidden widths, latent) (default: the preset's)")
    p.add_argument("--gpu", action="store_true",
                   help="run on a CUDA GPU with CuPy (on Colab, the one it ships; elsewhere the gpu extra)")
    p.add_argument("--dataset", choices=["mnist", "fashion-mnist"], help="data set (default: mnist)")
    p.add_argument("--epochs", type=_positive(int), help="number of epochs in all (default: 20)")
    p.add_argument("--batch-size", type=_positive(int), help="minibatch size (default: 256)")
    p.add_argument("--lr", type=_positive(float), help="Adam learning rate (default: 1e-3)")
    p.add_argument("--dims", type=_positive(int), nargs="+", metavar="D",
                   help="encoder widths from input to latent, mirrored by the decoder (default: 784 256 128 64 32 32)")
    p.add_argument("--loss", choices=sorted(LOSSES), help="reconstruction loss, mean per pixel; elbo: the VAE's negative ELBO, nats per "
                                                       "image (default: bce)")
    p.add_argument("--output-bias", choices=["mean", "zero"],
                   help="start the output layer's bias at the logit of the mean training image, or at zero "
                        "(default: mean)")
    p.add_argument("--noise", type=_nonnegative, metavar="F",
                   help="train a denoiser: inputs clip(x + F N(0, 1), 0, 1), targets clean; reports PSNR (e.g. 0.5)")
    p.add_argument("--sparsity", type=_nonnegative, metavar="LAMBDA",
                   help="add the L1 penalty LAMBDA * mean over images of sum |code| (e.g. 1e-4); reports the "
                        "mean code activation")
    p.add_argument("--latent-map", choices=["pca", "tsne"],
                   help="2-D map of the test codes in latent.png: PCA, or t-SNE (pip install -e .[tsne]) "
                        "(default: pca)")
    p.add_argument("--seed", type=int, help="seed for weights and shuffling (default: 0)")
    p.add_argument("--out", help="run folder to write (default: runs/<dataset>-<date>-<time>)")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue the run saved in CHECKPOINT (its checkpoint.npz)")
    p.add_argument("--limit", type=_positive(int), metavar="N", help="train on the first N training images only")
    p.add_argument("--data-dir",
                   help=f"folder holding the data set's IDX files (default: ${DATA_ENV}/<dataset>, else the "
                        f"checkout's data/<dataset>, else the user cache that python -m scratchae.download fills)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (epoch lines and errors still print)")
    return p


def settings(args):
    """The run's settings: preset, overridden by flags; on --resume, the checkpoint's, with a few allowed changes."""
    # Flags left at None (or store_true flags left off) were not given: the preset or the checkpoint decides.
    given = {k: v for k, v in vars(args).items() if v is not None and v is not False and k not in ("preset", "resume")}
    if args.resume:
        _, _, _, saved = load_checkpoint(args.resume)
        changed = sorted(k for k, v in given.items() if k not in RESUMABLE and saved.get(k) != v)
        if changed:
            raise UsageError(f"--resume continues a run as it was set up; drop --{changed[0].replace('_', '-')} "
                             f"(only --epochs, --gpu, --out, --data-dir and --quiet may change)")
        # Where to run and how much to print belong to this invocation, not to the saved run.
        cfg = {"model": "dense", **saved, "quiet": False, "gpu": False, **{k: given[k] for k in given if k in RESUMABLE}}
        cfg["out"] = given.get("out", str(pathlib.Path(args.resume).parent))
        return cfg
    cfg = {**PRESETS[args.preset], "preset": args.preset, "output_bias": "mean", "seed": 0, "limit": None,
           "gpu": False, "quiet": False, "data_dir": None, "latent_map": "pca", **given}
    if cfg["model"] not in DIMS_MODELS and "dims" in given:
        raise UsageError(f"--dims sets the dense model's widths; the {cfg['model']} model has fixed shapes, drop --dims")
    if cfg["model"] not in DIMS_MODELS:
        if given.get("output_bias") == "mean":
            raise UsageError(f"--output-bias mean sets a dense model's per-pixel output bias; the {cfg['model']} "
                             "model starts from zero biases as in Keras, drop --output-bias")
        cfg["output_bias"] = "zero"
        cfg.pop("dims", None)  # a dense preset's widths do not describe a conv model
    else:
        cfg.setdefault("dims", PRESETS["reference"]["dims"])
    if cfg.get("noise") is not None and cfg.get("sparsity") is not None:
        raise UsageError("--noise and --sparsity do not combine yet; choose one (or a preset without the other)")
    if cfg["model"] == "vae" and (cfg.get("noise") is not None or cfg.get("sparsity") is not None):
        raise UsageError("--noise and --sparsity are for autoencoders; the VAE trains on clean images, drop them")
    if cfg["model"] in DIMS_MODELS and cfg["dims"][0] != 784:
        raise UsageError(f"--dims must start with 784, the number of pixels of a 28x28 image, got {cfg['dims'][0]}")
    if cfg["model"] == "dense" and len(cfg["dims"]) < 2:
        raise UsageError("--dims needs at least two widths: the input (784) and the latent size")
    if cfg["model"] == "vae" and len(cfg["dims"]) < 3:
        raise UsageError("a VAE's --dims needs the input (784), one or more hidden widths and the latent size, "
                         "such as 784 400 20")
    if (cfg["model"] == "vae") != (cfg["loss"] == "elbo"):
        raise UsageError("--loss elbo goes with the VAE and only with it; use --preset vae or vae-2d, or --loss "
                         "bce or mse for an autoencoder")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    cfg.setdefault("out", f"runs/{cfg['dataset']}-{stamp}")
    return cfg


def prepare_out(folder):
    """Create the run folder and make sure it is writable, or raise UsageError."""
    path = pathlib.Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UsageError(f"--out {folder}: cannot write there ({err.strerror or err}); choose another folder") from None
    return path


def versions(xp):
    found = {"scratchae": __version__, "python": platform.python_version(), "numpy": np.__version__,
             "array_api_compat": array_api_compat.__version__, "array_namespace": describe(xp)}
    if "cupy" in xp.__name__:
        import cupy
        found["cupy"] = cupy.__version__
    return found


def write_metrics(out, rows):
    with open(out / "metrics.csv", "w", newline="") as fh:
        fields = list(dict.fromkeys(key for row in rows for key in row))  # every column, in first-seen order
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def run(cfg, resume=None):
    """Train as ``cfg`` says and write the run folder; returns the metric rows."""
    if cfg.get("latent_map") == "tsne" and not plots.tsne_available():  # before any training time is spent
        raise UsageError(plots.TSNE_HINT)
    xp = gpu_xp() if cfg["gpu"] else cpu_xp
    out = prepare_out(cfg["out"])
    x_train, _, x_test, y_test = load(cfg["dataset"], cfg["data_dir"])
    if cfg["limit"]:
        x_train = x_train[: cfg["limit"]]
    if resume:
        model, state, progress, _ = load_checkpoint(resume, xp=xp)
        optimizer = Adam(model, lr=cfg["lr"])
        optimizer.load_state_dict(state)
    else:
        model = build_model(cfg, xp, x_train)
        optimizer, progress = Adam(model, lr=cfg["lr"]), Progress()
    config = {k: v for k, v in cfg.items() if k != "quiet"}
    record = {**config, "versions": versions(xp), "started": datetime.datetime.now().isoformat(timespec="seconds"),
              "resumed_from": resume}
    (out / "config.json").write_text(json.dumps(record, indent=2) + "\n")
    checkpoint = out / "checkpoint.npz"
    x_test_device = to_device(x_test, xp)  # moved once: evaluated every epoch and encoded for the latent map
    print(f"training {model_name(cfg)} on {cfg['dataset']} ({x_train.shape[0]} images) "
          f"with {describe(xp)}: {cfg['loss']}, Adam lr {cfg['lr']:g}, batch {cfg['batch_size']}, "
          f"{cfg['epochs']} epochs -> {out}", flush=True)

    def on_epoch(row):
        write_metrics(out, progress.metrics)
        extra = "".join(f"  {key} {value:.5g}" for key, value in row.items() if key not in STANDARD_COLUMNS)
        print(f"epoch {row['epoch']:3d}  train {cfg['loss']} {row['train_loss']:.5f}  test {cfg['loss']} "
              f"{row['test_loss']:.5f}{extra}  {row['seconds']:6.1f} s  {row['images_per_s']:8.0f} img/s", flush=True)

    try:
        loss = LOSSES[cfg["loss"]]()
        step, evaluate = make_step(cfg, model, loss, optimizer), make_evaluate(cfg, model, loss, x_test_device)
        rows = fit(model, optimizer, step, evaluate, to_device(x_train, xp), epochs=cfg["epochs"],
                   batch_size=cfg["batch_size"], seed=cfg["seed"], progress=progress, checkpoint=checkpoint,
                   config=config, on_epoch=on_epoch, quiet=cfg["quiet"])
    except Diverged as err:
        last = f"{checkpoint} (after epoch {progress.epoch})" if checkpoint.exists() else "none yet"
        raise Diverged(f"{err}; training stopped, last good checkpoint: {last}; "
                       f"try a smaller --lr than {cfg['lr']:g}") from None
    except Interrupted as err:
        raise Interrupted(f"{err}; checkpoint saved to {checkpoint}; continue with --resume {checkpoint}") from None
    write_metrics(out, rows)
    write_figures(out, cfg, model, x_test, x_test_device, y_test, rows)
    print(f"done: test {cfg['loss']} {rows[-1]['test_loss']:.5f} after {rows[-1]['epoch']} epochs; "
          f"figures, metrics and checkpoint in {out}", flush=True)
    return rows


def main(argv=None):
    """Command-line entry point; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        run(settings(args), resume=args.resume)
    except (UsageError, GPUUnavailableError, DataError, CheckpointError) as err:
        print(f"scratchae.train: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Diverged as err:
        print(f"scratchae.train: {err}", file=sys.stderr)
        return EXIT_DIVERGED
    except Interrupted as err:
        print(f"scratchae.train: {err}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # Ctrl-C outside the training loop (loading data, drawing figures): nothing to save
        print("scratchae.train: interrupted outside training; the last checkpoint, if any, is intact", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
