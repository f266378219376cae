"""Saving and loading: model weights (with their architecture) as one .npz file, and the registry that rebuilds them.

Arrays are stored by parameter name (``param/encoder.0.W``) next to a JSON string ``meta`` that records the
architecture and anything else the caller adds, so a file alone rebuilds the model. Files are written atomically:
to a temporary file in the same folder, flushed to disk, then renamed over the target, so a crash during a save
leaves either the old file or the new one, never half of one.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

from .backend import cpu_xp, get_xp, to_device, to_numpy
from .conv import Conv2D, Conv2DTranspose
from .layers import Clip, Dense, ReLU, Sigmoid
from .lstm import LSTM
from .lstm_fast import FastLSTM
from .models import Autoencoder, Sequential
from .pooling import Flatten, MaxPool2D, Reshape, UpSampling2D
from .seq import RepeatVector, TimeDistributed
from .vae import VAE

FORMAT = "scratchae-v1"

# The one registry: every layer type a saved architecture may name. Those with weights also take rng, xp, device
# and dtype (their weights are drawn, then overwritten by the saved ones).
LAYER_TYPES = {cls.__name__: cls for cls in (Dense, ReLU, Sigmoid, Clip, Conv2D, Conv2DTranspose, MaxPool2D,
                                              UpSampling2D, Flatten, Reshape, LSTM, RepeatVector, TimeDistributed)}
LAYER_TYPES["LSTM"] = FastLSTM  # what the builders make: LSTM's weights, spec and results, a shorter time loop
WEIGHTED_TYPES = ("Dense", "Conv2D", "Conv2DTranspose", "LSTM")


def layer_from_spec(spec, *, xp=None, device=None, dtype="float32"):
    """Rebuild one layer from its ``spec()`` (fresh weights)."""
    if spec.get("type") not in LAYER_TYPES:
        raise ValueError(f"unknown layer type {spec.get('type')!r} in saved architecture")
    args = {k: v for k, v in spec.items() if k != "type"}
    if spec["type"] == "TimeDistributed":  # a wrapper: its spec holds the wrapped layer's
        args["layer"] = layer_from_spec(args["layer"], xp=xp, device=device, dtype=dtype)
    if spec["type"] in WEIGHTED_TYPES:
        args.update(xp=xp, device=device, dtype=dtype, rng=0)
    return LAYER_TYPES[spec["type"]](**args)


def from_spec(spec, *, xp=None, device=None, dtype="float32"):
    """Rebuild a model (fresh weights) from the plain data that its ``spec()`` returned."""
    kw = {"xp": xp, "device": device, "dtype": dtype}
    kind = spec.get("type")
    if kind == "Sequential":
        return Sequential([layer_from_spec(layer, **kw) for layer in spec["layers"]])
    if kind == "Autoencoder":
        return Autoencoder(from_spec(spec["encoder"], **kw), from_spec(spec["decoder"], **kw))
    if kind == "VAE":
        return VAE(from_spec(spec["encoder"], **kw), layer_from_spec(spec["mu"], **kw),
                   layer_from_spec(spec["logvar"], **kw), from_spec(spec["decoder"], **kw),
                   logvar_range=tuple(spec["logvar_range"]))
    raise ValueError(f"unknown model type {kind!r} in saved architecture")


class CheckpointError(ValueError):
    """A weights or checkpoint file that is missing, unreadable or does not fit the model."""


def new_file_mode():
    """The permissions a new file gets under the current umask (mkstemp's own are 0600, private)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path, write, mode="wb"):
    """Call ``write(fh)`` on a temporary file in ``path``'s folder, flush it to disk, then rename it over ``path``."""
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1],
                               dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"newline": ""})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, new_file_mode())  # as any new file, so a shared run folder stays shared
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def atomic_savez(path, arrays, meta):
    """Write ``arrays`` (name -> array, any device) and ``meta`` (JSON-able dict) to ``path`` atomically."""
    payload = {name: to_numpy(a) for name, a in arrays.items()}
    payload["meta"] = np.array(json.dumps({"format": FORMAT, **meta}))
    atomic_write(path, lambda fh: np.savez(fh, **payload))


def read_npz(path):
    """Read a file written by ``atomic_savez``: returns (arrays: name -> NumPy array, meta: dict)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such file; give the path of a .npz file saved by scratchae")
    try:
        # Open the file ourselves: np.load leaks its handle when the zip directory is unreadable.
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise CheckpointError(f"{path}: not a readable scratchae file ({err}); "
                              "it may be truncated or from elsewhere") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    return arrays, meta


def model_arrays(model):
    """The model's parameters as ``{"param/<name>": array}``."""
    return {f"param/{name}": p for name, p, _ in model.named_params()}


def restore_model(arrays, meta, *, xp=None, device=None, path="file"):
    """Rebuild the model recorded in ``meta`` and copy the saved parameters into it, bit for bit."""
    xp = cpu_xp if xp is None else xp
    model = from_spec(meta["architecture"], xp=xp, device=device, dtype=meta["dtype"])
    for name, p, _ in model.named_params():
        key = f"param/{name}"
        if key not in arrays:
            raise CheckpointError(f"{path}: parameter {name!r} is missing")
        saved = arrays[key]
        if saved.shape != tuple(p.shape):
            raise CheckpointError(f"{path}: parameter {name!r} has shape {saved.shape}, expected {tuple(p.shape)}")
        p[...] = to_device(saved, xp, device)
    return model


def save_model(model, path):
    """Save a model's weights and architecture to one .npz file (atomically)."""
    atomic_savez(path, model_arrays(model), model_meta(model))


def model_meta(model):
    """What rebuilds the model: its architecture and dtype name."""
    p = next(iter(model.named_params()))[1]
    return {"architecture": model.spec(), "dtype": "float64" if p.dtype == get_xp(p).float64 else "float32"}


def load_model(path, *, xp=None, device=None):
    """Load a model saved by ``save_model``, onto ``xp``'s ``device`` (default NumPy on the CPU)."""
    arrays, meta = read_npz(path)
    return restore_model(arrays, meta, xp=xp, device=device, path=os.fspath(path))
