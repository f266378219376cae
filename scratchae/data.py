"""MNIST and Fashion-MNIST from their original IDX files, checked, scaled to [0, 1], and cut into minibatches.

The IDX format (LeCun et al.): a 4-byte magic number (two zero bytes, a type code, 0x08 for unsigned bytes, and
the number of dimensions), one big-endian uint32 per dimension, then the values in C order. Files may be gzipped
(``name.gz``, as shipped in ``data/``) or not. Each file's *decompressed* bytes must match a SHA-256 recorded
here, so a recompressed copy of the original data loads and a corrupted or substituted one does not.

Where a data set is looked for, first match wins: ``--data-dir`` (the folder of the four files), then
``$SCRATCHAE_DATA/<dataset>``, then the checkout's ``data/<dataset>`` (only in a source checkout or editable
install), then the per-user cache ``$XDG_CACHE_HOME/scratchae/<dataset>`` (``~/.cache/scratchae/<dataset>``),
where ``python -m scratchae.download`` puts it.
"""
import gzip
import hashlib
import os
import pathlib
import zlib

import numpy as np

# SHA-256 of the decompressed IDX bytes: (file stem, expected digest, shape). Measured on the files in data/.
DATASETS = {
    "mnist": {
        "train-images-idx3-ubyte": ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", (60000, 28, 28)),
        "train-labels-idx1-ubyte": ("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", (60000,)),
        "t10k-images-idx3-ubyte": ("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", (10000, 28, 28)),
        "t10k-labels-idx1-ubyte": ("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", (10000,)),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", (60000, 28, 28)),
        "train-labels-idx1-ubyte": ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", (60000,)),
        "t10k-images-idx3-ubyte": ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", (10000, 28, 28)),
        "t10k-labels-idx1-ubyte": ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", (10000,)),
    },
}
DATA_ENV = "SCRATCHAE_DATA"
IDX_UBYTE = 0x08
# The folder that holds the package; a checkout has setup.cfg and data/ there, site-packages has neither.
SOURCE_ROOT = pathlib.Path(__file__).resolve().parent.parent


class DataError(ValueError):
    """A data file that is missing, truncated, corrupted or not the expected one."""


def cache_dir(environ=os.environ):
    """The per-user cache folder: $XDG_CACHE_HOME/scratchae, or ~/.cache/scratchae (the XDG default)."""
    base = environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says a relative path there is invalid and must be ignored.
    root = pathlib.Path(base) if os.path.isabs(base) else pathlib.Path.home() / ".cache"
    return root / "scratchae"


def checkout_data():
    """The checkout's data/ folder, or None in a regular install (no setup.cfg beside the package)."""
    return SOURCE_ROOT / "data" if (SOURCE_ROOT / "setup.cfg").is_file() else None


def ways_to_get(dataset):
    """One line naming every way to give scratchae a data set."""
    # With $SCRATCHAE_DATA set the cache is never searched, so the download must go where the variable points.
    root = os.environ.get(DATA_ENV)
    dest = f" --dest {root}" if root else ""
    return (f"download it with `python -m scratchae.download --dataset {dataset}{dest}` "
            f"(into {pathlib.Path(root) / dataset if root else cache_dir() / dataset}), "
            f"or pass --data-dir DIR (a folder with its four IDX files, gzipped or not), "
            f"or set ${DATA_ENV}=DIR (a folder holding {dataset}/)")


def has_files(folder, dataset):
    """True if ``folder`` holds every IDX file of ``dataset`` (gzipped or not); contents are checked on load."""
    return all((folder / f"{stem}.gz").is_file() or (folder / stem).is_file() for stem in DATASETS[dataset])


def find_data(dataset, data_dir=None):
    """The folder to load ``dataset`` from: --data-dir, $SCRATCHAE_DATA, the checkout's data/, the user cache."""
    if data_dir:
        return pathlib.Path(data_dir)
    if os.environ.get(DATA_ENV):
        return pathlib.Path(os.environ[DATA_ENV]) / dataset
    places = [root / dataset for root in (checkout_data(), cache_dir()) if root is not None]
    for folder in places:
        if has_files(folder, dataset):
            return folder
    raise DataError(f"{dataset} data not found (no --data-dir, no ${DATA_ENV}, nothing complete in "
                    f"{' or '.join(map(str, places))}); {ways_to_get(dataset)}")


def parse_header(head, name="IDX data"):
    """Decode the IDX header bytes: returns (header length in bytes, shape)."""
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] != IDX_UBYTE:
        raise DataError(f"{name}: not an unsigned-byte IDX file (magic number {head[:4].hex() or 'missing'})")
    ndim = head[3]
    size = 4 + 4 * ndim
    if len(head) < size:
        raise DataError(f"{name}: header cut short ({len(head)} bytes); the file is truncated")
    return size, tuple(int.from_bytes(head[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))


def read_idx(folder, stem, sha256, shape, dataset):
    """Read ``stem`` (or ``stem.gz``) from ``folder``, check its digest and shape, and return the array."""
    folder = pathlib.Path(folder)
    how_to_fix = f"put the original {dataset} IDX files in {folder}, or {ways_to_get(dataset)}"
    path = next((p for p in (folder / f"{stem}.gz", folder / stem) if p.is_file()), None)
    if path is None:
        raise DataError(f"{folder / (stem + '.gz')}: missing; {how_to_fix}")
    return check_idx(path, sha256, shape, how_to_fix)


def check_idx(path, sha256, shape, how_to_fix, name=None):
    """Read the IDX file ``path`` (gzipped if it ends in .gz), check digest and shape; errors say ``name``: ..."""
    path = pathlib.Path(path)
    name = name or str(path)
    try:
        # Stream straight into the array: no second copy of the file in memory (peak memory is a target).
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as fh:
            head = fh.read(4)
            head += fh.read(4 * head[3]) if len(head) == 4 else b""
            size, found = parse_header(head, name)
            array = np.empty(found, dtype=np.uint8)
            got = fh.readinto(memoryview(array).cast("B")) if array.size else 0
            extra = fh.read(1)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataError(f"{name}: unreadable ({err}); the file is truncated or corrupted: {how_to_fix}") from None
    if got != array.size or extra:
        raise DataError(f"{name}: {size + got}{'+' if extra else ''} bytes where the header {found} needs "
                        f"{size + array.size}; the file is truncated or damaged: {how_to_fix}")
    digest = hashlib.sha256(head)
    digest.update(array)
    if digest.hexdigest() != sha256:
        raise DataError(f"{name}: SHA-256 of its contents is {digest.hexdigest()[:12]}..., expected {sha256[:12]}...; "
                        f"the file is corrupted or not the original: {how_to_fix}")
    if array.shape != shape:
        raise DataError(f"{name}: shape {array.shape}, expected {shape}")
    return array


def load(dataset="mnist", data_dir=None):
    """Load a data set: returns (x_train (60000, 784), y_train (60000,), x_test (10000, 784), y_test (10000,)).

    Images are float32 in [0, 1] (pixel / 255), flattened row by row; labels are int64 class numbers 0-9.
    """
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    folder = find_data(dataset, data_dir)

    def read(stem):
        return read_idx(folder, stem, *DATASETS[dataset][stem], dataset)

    def images(stem):
        pixels = read(stem)  # uint8, freed on return: only one set's bytes at a time next to the floats
        x = pixels.reshape(pixels.shape[0], -1).astype(np.float32)
        x /= 255.0
        return x

    def labels(stem):
        return read(stem).astype(np.int64)

    return (images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte"),
            images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"))


def epoch_order(n, seed, epoch):
    """The order in which epoch ``epoch`` visits n examples: a permutation, a function of (seed, epoch) only.

    Deriving each epoch's generator from (seed, epoch) means a resumed run shuffles exactly as an uninterrupted
    one without saving any generator state.
    """
    return np.random.default_rng([seed, epoch]).permutation(n)


def step_rng(seed, epoch, step):
    """The numpy Generator of one training step, a function of (seed, epoch, step) only: noise or samples drawn
    from it repeat exactly when a run resumes, with no generator state to save."""
    return np.random.default_rng([seed, epoch, step])


def batch_slices(n, batch_size):
    """Yield (start, stop) of consecutive minibatches covering n examples; the last may be smaller."""
    for start in range(0, n, batch_size):
        yield start, min(start + batch_size, n)
