"""``python -m scratchae.train``: train the reference autoencoder on MNIST (or Fashion-MNIST) and write a run folder.

The run folder holds config.json, metrics.csv, checkpoint.npz (model and optimizer state), reconstructions.png,
loss_curve.png and latent.png (a dense model's network.png too). Usage errors print one line and exit 2; a diverged loss exits 1; Ctrl-C saves a
checkpoint at the end of the current step and exits 130; ``--resume`` continues from any checkpoint.
"""
import datetime
import sys

from . import plots
from .backend import GPUUnavailableError, cpu_xp, describe, gpu_xp, to_device
from .cli import (EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Parser, UsageError, atomic_write_csv,
                  atomic_write_json, nonnegative, positive, prepare_out, report, versions)
from .cvae import binarize
from .data import DATA_ENV, DataError, load
from .fit import Diverged, Interrupted, Progress, fit, load_checkpoint
from .presets import PRESETS, settings
from .recipes import LOSSES, MODELS, make_run, model_name, write_figures
from .serialize import CheckpointError

STANDARD_COLUMNS = {"epoch", "train_loss", "val_loss", "test_loss", "seconds", "images_per_s"}  # others print as "name value"
PROG = "scratchae.train"


def build_parser():
    p = Parser(prog="python -m scratchae.train",
               description="Train the reference autoencoder on MNIST (or Fashion-MNIST) and write a run folder.")
    p.add_argument("--preset", choices=sorted(PRESETS), default="reference",
                   help="starting settings: 'reference' (deep AE on MNIST, BCE), 'keras-basic' (Keras tutorial: "
                        "Fashion-MNIST, latent 64, MSE), 'keras-conv' (Keras conv AE: Fashion-MNIST, BCE, batch "
                        "128), 'tf-denoise' and 'keras-denoise' (the TF tutorial's and the Keras blog's conv "
                        "denoisers), 'keras-sparse' (the blog's sparse 784-32-784), 'vae' or 'vae-2d' (the PyTorch "
                        "example VAE, latent 20 or 2), 'cvae' (the TensorFlow tutorial's convolutional VAE on "
                        "binarized MNIST), 'seq2seq' (the Hands-On ML LSTM autoencoder on Fashion-MNIST "
                        "rows); flags below override it (default: reference)")
    p.add_argument("--model", choices=sorted(MODELS),
                   help="dense (--dims), conv (strided convolutions, code 7x7x64), conv-pool (max-pooling and "
                        "upsampling, same code), tf-denoiser or keras-denoiser (the denoising presets' models), "
                        "vae (--dims: input, hidden widths, latent), lstm (images read as 28 rows: LSTM 100, code 30, MSE) "
                        "(default: the preset's)")
    p.add_argument("--gpu", action="store_true",
                   help="run on a CUDA GPU with CuPy (on Colab, the one it ships; elsewhere the gpu extra)")
    p.add_argument("--dataset", choices=["mnist", "fashion-mnist"], help="data set (default: mnist)")
    p.add_argument("--epochs", type=positive(int), help="number of epochs in all (default: 20)")
    p.add_argument("--batch-size", type=positive(int), help="minibatch size (default: 256)")
    p.add_argument("--lr", type=positive(float), help="Adam learning rate (default: 1e-3)")
    p.add_argument("--dims", type=positive(int), nargs="+", metavar="D",
                   help="encoder widths from input to latent, mirrored by the decoder (default: 784 256 128 64 32 32)")
    p.add_argument("--code", choices=["relu", "linear"],
                   help="the dense model's code: relu (the assignment's model: a ReLU after every Dense, the latent "
                        "too) or linear (no ReLU on the latent, so no code unit can die; for small codes) "
                        "(default: relu)")
    p.add_argument("--loss", choices=sorted(LOSSES), help="reconstruction loss, mean per pixel; elbo: the VAE's negative ELBO, nats per "
                                                       "image (default: bce)")
    p.add_argument("--output-bias", choices=["mean", "zero"],
                   help="start the output layer's bias at the logit of the mean training image, or at zero "
                        "(default: mean)")
    p.add_argument("--noise", type=nonnegative, metavar="F",
                   help="train a denoiser: inputs clip(x + F N(0, 1), 0, 1), targets clean; reports PSNR (e.g. 0.5)")
    p.add_argument("--sparsity", type=nonnegative, metavar="LAMBDA",
                   help="add the L1 penalty LAMBDA * mean over images of sum |code| (e.g. 1e-4); reports the "
                        "mean code activation")
    p.add_argument("--latent-map", choices=["pca", "tsne"],
                   help="2-D map of the test codes in latent.png: PCA, or t-SNE (pip install -e .[tsne]) "
                        "(default: pca)")
    p.add_argument("--validation", type=positive(int), metavar="N",
                   help="hold out the last N training images and report the loss on them every epoch "
                        "(default: none; the seq2seq preset: 5000)")
    p.add_argument("--seed", type=int, help="seed for weights and shuffling (default: 0)")
    p.add_argument("--out", help="run folder to write (default: runs/<dataset>-<date>-<time>)")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue the run saved in CHECKPOINT (its checkpoint.npz)")
    p.add_argument("--limit", type=positive(int), metavar="N", help="train on the first N training images only")
    p.add_argument("--data-dir",
                   help=f"folder holding the data set's IDX files (default: ${DATA_ENV}/<dataset>, else the "
                        f"checkout's data/<dataset>, else the user cache that python -m scratchae.download fills)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (epoch lines and errors still print)")
    return p


def run(cfg, resume=None):
    """Train as ``cfg`` says and write the run folder; returns the metric rows."""
    if cfg.get("latent_map") == "tsne" and not plots.tsne_available():  # before any training time is spent
        raise UsageError(plots.TSNE_HINT)
    xp = gpu_xp() if cfg["gpu"] else cpu_xp
    out = prepare_out(cfg["out"])
    x_train, _, x_test, y_test = load(cfg["dataset"], cfg["data_dir"])
    if cfg.get("binarize") is not None:  # the convolutional VAE's Bernoulli pixels: 1 above the threshold, else 0
        x_train, x_test = binarize(x_train, cfg["binarize"]), binarize(x_test, cfg["binarize"])
    x_val, n_val = None, cfg.get("validation") or 0
    if n_val:  # the last n_val images, before --limit cuts the rest: the same validation set for any limit
        if n_val >= x_train.shape[0]:
            raise UsageError(f"--validation {n_val} leaves no training images of the {x_train.shape[0]}; "
                             "give a smaller N")
        x_train, x_val = x_train[:-n_val], to_device(x_train[-n_val:], xp)
    if cfg["limit"]:
        x_train = x_train[: cfg["limit"]]
    x_test_device = to_device(x_test, xp)  # moved once: evaluated every epoch and encoded for the latent map
    if resume:
        model, state, progress, _ = load_checkpoint(resume, xp=xp)
        run_ = make_run(cfg, xp, x_train, x_test_device, model=model, x_val=x_val)
        run_.optimizer.load_state_dict(state)
    else:
        run_, progress = make_run(cfg, xp, x_train, x_test_device, x_val=x_val), Progress()
    config = {k: v for k, v in cfg.items() if k != "quiet"}
    atomic_write_json(out / "config.json", {**config, "versions": versions(xp),
                                            "started": datetime.datetime.now().isoformat(timespec="seconds"),
                                            "resumed_from": resume})
    checkpoint = out / "checkpoint.npz"
    held = f", {n_val} more for validation" if n_val else ""
    print(f"training {model_name(cfg)} on {cfg['dataset']} ({x_train.shape[0]} images{held}) "
          f"with {describe(xp)}: {cfg['loss']}, Adam lr {cfg['lr']:g}, batch {cfg['batch_size']}, "
          f"{cfg['epochs']} epochs -> {out}", flush=True)

    def on_epoch(row):
        atomic_write_csv(out / "metrics.csv", progress.metrics)  # every epoch so far, a resumed run's saved ones too
        extra = "".join(f"  {key} {value:.5g}" for key, value in row.items() if key not in STANDARD_COLUMNS)
        val = f"  val {cfg['loss']} {row['val_loss']:.5f}" if "val_loss" in row else ""
        print(f"epoch {row['epoch']:3d}  train {cfg['loss']} {row['train_loss']:.5f}{val}  test {cfg['loss']} "
              f"{row['test_loss']:.5f}{extra}  {row['seconds']:6.1f} s  {row['images_per_s']:8.0f} img/s", flush=True)

    try:
        rows = fit(run_.model, run_.optimizer, run_.step, run_.evaluate, to_device(x_train, xp),
                   epochs=cfg["epochs"], batch_size=cfg["batch_size"], seed=cfg["seed"], progress=progress,
                   checkpoint=checkpoint, config=config, on_epoch=on_epoch, quiet=cfg["quiet"])
    except Diverged as err:
        last = f"{checkpoint} (after epoch {progress.epoch})" if checkpoint.exists() else "none yet"
        raise Diverged(f"{err}; training stopped, last good checkpoint: {last}; "
                       f"try a smaller --lr than {cfg['lr']:g}") from None
    except Interrupted as err:
        raise Interrupted(f"{err}; checkpoint saved to {checkpoint}; continue with --resume {checkpoint}") from None
    atomic_write_csv(out / "metrics.csv", rows)
    write_figures(out, cfg, run_, x_test, y_test, rows)
    print(f"done: test {cfg['loss']} {rows[-1]['test_loss']:.5f} after {rows[-1]['epoch']} epochs; "
          f"figures, metrics and checkpoint in {out}", flush=True)
    return rows


def main(argv=None):
    """Command-line entry point; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        run(settings(args), resume=args.resume)
    except (UsageError, GPUUnavailableError, DataError, CheckpointError) as err:
        return report(PROG, err, EXIT_USAGE)
    except Diverged as err:
        return report(PROG, err, EXIT_DIVERGED)
    except Interrupted as err:
        return report(PROG, err, EXIT_INTERRUPTED)
    except KeyboardInterrupt:  # Ctrl-C outside the training loop (loading data, drawing figures): nothing to save
        return report(PROG, "interrupted outside training; the last checkpoint, if any, is intact", EXIT_INTERRUPTED)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
