"""The presets of ``python -m scratchae.train``, and how flags, a preset or a checkpoint become one dict ``cfg``.

``cfg`` is plain data (saved in config.json and every checkpoint); recipes.make_run turns it into a model, a loss,
a step and an evaluation. Settings that do not fit together are refused here, before any data is loaded, with one line that
says what to drop or change.
"""
import datetime
import pathlib

from .cli import UsageError
from .fit import load_checkpoint

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
    # The TensorFlow tutorial's convolutional VAE: MNIST binarized at 0.5, two valid stride-2 convolutions down,
    # latent 2, three transposed convolutions up to logits, negative ELBO, Adam 1e-4, batch 32, 10 epochs.
    "cvae": {"model": "cvae", "dataset": "mnist", "binarize": 0.5, "loss": "elbo", "epochs": 10, "batch_size": 32,
             "lr": 1e-4},
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
    # Hands-On Machine Learning (3rd edition), its recurrent autoencoder: Fashion-MNIST read as 28 rows of 28
    # pixels, LSTM 100 -> LSTM 30 -> RepeatVector -> LSTM 100 -> time-distributed Dense 28, MSE, batch 32, 10
    # epochs, validated on the last 5,000 training images (the book: Nadam; here Adam 1e-3).
    "seq2seq": {"model": "lstm", "dataset": "fashion-mnist", "loss": "mse", "epochs": 10, "batch_size": 32,
                "lr": 2e-3, "validation": 5000},
}
VAE_MODELS = {"vae", "cvae"}  # trained on the negative ELBO
DIMS_MODELS = {"dense", "vae"}  # the models whose widths --dims sets; the conv models have fixed shapes
# What may change when resuming; the rest is the run's.
RESUMABLE = {"epochs", "quiet", "gpu", "out", "data_dir", "latent_map"}


def settings(args):
    """The run's settings: preset, overridden by flags; on --resume, the checkpoint's, with a few allowed changes."""
    # Flags left at None (or store_true flags left off) were not given: the preset or the checkpoint decides.
    given = {k: v for k, v in vars(args).items() if v is not None and v is not False and k not in ("preset", "resume")}
    if args.resume:
        _, _, _, saved = load_checkpoint(args.resume)
        changed = sorted(k for k, v in given.items() if k not in RESUMABLE and saved.get(k) != v)
        if changed:
            raise UsageError(f"--resume continues a run as it was set up; drop --{changed[0].replace('_', '-')} "
                             f"(only --epochs, --gpu, --out, --data-dir, --latent-map and --quiet may change)")
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
    if cfg["model"] in VAE_MODELS and (cfg.get("noise") is not None or cfg.get("sparsity") is not None):
        raise UsageError("--noise and --sparsity are for autoencoders; the VAE trains on clean images, drop them")
    if cfg["model"] in DIMS_MODELS and cfg["dims"][0] != 784:
        raise UsageError(f"--dims must start with 784, the number of pixels of a 28x28 image, got {cfg['dims'][0]}")
    if cfg["model"] == "dense" and len(cfg["dims"]) < 2:
        raise UsageError("--dims needs at least two widths: the input (784) and the latent size")
    if cfg["model"] != "dense" and "code" in given:
        raise UsageError(f"--code sets a dense autoencoder's latent activation; the {cfg['model']} model has its "
                         "own, drop --code")
    if cfg["model"] == "dense":
        cfg.setdefault("code", "relu")
    if cfg["model"] == "vae" and len(cfg["dims"]) < 3:
        raise UsageError("a VAE's --dims needs the input (784), one or more hidden widths and the latent size, "
                         "such as 784 400 20")
    if (cfg["model"] in VAE_MODELS) != (cfg["loss"] == "elbo"):
        raise UsageError("--loss elbo goes with the VAEs and only with them; use --preset vae, vae-2d or cvae, "
                         "or --loss bce or mse for an autoencoder")
    if cfg["model"] == "lstm" and cfg["loss"] != "mse":
        raise UsageError(f"the lstm model's output is linear, not a probability; use --loss mse, not {cfg['loss']}")
    if cfg.get("validation") and (cfg["model"] in VAE_MODELS or cfg.get("noise") is not None
                                  or cfg.get("sparsity") is not None):
        raise UsageError("--validation reports a plain autoencoder's loss; drop it for the VAE, --noise or --sparsity")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    cfg.setdefault("out", f"runs/{cfg['dataset']}-{stamp}")
    return cfg
