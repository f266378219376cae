"""Small real time series from the UCR archives (data/timeseries/), checked by SHA-256 and read in a few lines.

Two formats. A ``.ts`` file (sktime/aeon): header lines that start with ``#`` or ``@``, then one series a line,
its values separated by commas, a colon and the class label. A ``.csv`` file of the UCR anomaly archive: the
header ``timestamp,value,is_anomaly``, then one point a line. Every file's bytes must match the digest recorded
here (the same as data/timeseries/SHA256SUMS), so a damaged or substituted copy is refused with its name.

Where the files are looked for, first match wins: ``data_dir`` (--data-dir), then ``$SCRATCHAE_DATA/timeseries``,
then the checkout's ``data/timeseries``. A regular install has no data/ folder: point one of the first two at a
copy of the checkout's folder.
"""
import hashlib
import os
import pathlib

import numpy as np

from .data import DATA_ENV, DataError, checkout_data

FOLDER = "timeseries"
DIGESTS = {  # file name -> SHA-256 of its bytes, as measured on the files of data/timeseries/
    "GunPoint_TRAIN.ts": "f842401779fd9800d247d8b33121a1a4643710a19b24917dbdd9a060ca8630d5",
    "GunPoint_TEST.ts": "79332750788a6227b325b96bd0d70130c8eb707b9731f8d7dec62b7a7d36017e",
    "ItalyPowerDemand_TRAIN.ts": "341269cb7e6cef96846b30e774580beec79addb93848ba360145219115a74b7c",
    "ItalyPowerDemand_TEST.ts": "26122451f87dd0387ef90b18bc8a86c041371b8a1c068004922b939971247144",
    "135_UCR_Anomaly_InternalBleeding16_TRAIN.csv": "a531b6f4f556b17c0321d144c3f6b4a7bdf5e8464b2218566181702e77962c2b",
    "135_UCR_Anomaly_InternalBleeding16_TEST.csv": "fe26577b94896943e8205d04d56bf2511fe05c008df535a1ec3826adff3597e2",
}
# name -> (train series, test series, length): the published sizes, checked on load
CLASSIFICATION = {"ItalyPowerDemand": (67, 1029, 24), "GunPoint": (50, 150, 150)}
SERIES_135 = "135_UCR_Anomaly_InternalBleeding16"
SERIES_135_TRAIN, SERIES_135_LENGTH = 1200, 7501  # the training prefix (all normal) and the whole test series


def find_folder(data_dir=None):
    """The folder of the series files: data_dir, then $SCRATCHAE_DATA/timeseries, then the checkout's."""
    if data_dir:
        return pathlib.Path(data_dir)
    if os.environ.get(DATA_ENV):
        return pathlib.Path(os.environ[DATA_ENV]) / FOLDER
    root = checkout_data()
    if root is None:
        raise DataError(f"time series not found: no --data-dir, no ${DATA_ENV}, and no checkout data/ folder; "
                        f"set ${DATA_ENV}=DIR where DIR/{FOLDER}/ is a copy of the checkout's data/{FOLDER}/")
    return root / FOLDER


def read_checked(folder, name):
    """The text of ``folder/name`` after its bytes have matched DIGESTS[name]; DataError otherwise."""
    path = pathlib.Path(folder) / name
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({err.strerror or err}); copy data/{FOLDER}/ of the checkout "
                        f"there, or pass --data-dir DIR") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != DIGESTS[name]:
        raise DataError(f"{path}: SHA-256 is {digest[:12]}..., expected {DIGESTS[name][:12]}...; the file is "
                        f"damaged or not the original (see data/{FOLDER}/SOURCE.txt)")
    return raw.decode("ascii")


def parse_ts(text, name="a .ts file"):
    """Parse .ts text: returns x (N, T) float32, one series a row, and labels (N,) as strings."""
    rows, labels = [], []
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#@":  # comments and the @ header
            continue
        values, sep, label = line.rpartition(":")
        if not sep:
            raise DataError(f"{name}: a data line without ':label': {line[:40]}...")
        rows.append([float(v) for v in values.split(",")])
        labels.append(label)
    if len({len(r) for r in rows}) != 1:
        raise DataError(f"{name}: series of different lengths {sorted({len(r) for r in rows})}")
    return np.array(rows, dtype=np.float32), np.array(labels)


def parse_anomaly_csv(text, name="a .csv file"):
    """Parse the anomaly archive's CSV: returns values (L,) float32 and is_anomaly (L,) bool."""
    lines = text.splitlines()
    if lines[0].strip() != "timestamp,value,is_anomaly":
        raise DataError(f"{name}: header {lines[0]!r}, expected 'timestamp,value,is_anomaly'")
    cells = [line.split(",") for line in lines[1:] if line.strip()]
    if [int(c[0]) for c in cells] != list(range(len(cells))):
        raise DataError(f"{name}: timestamps are not 0, 1, 2, ...")
    return (np.array([float(c[1]) for c in cells], dtype=np.float32),
            np.array([c[2].strip() == "1" for c in cells], dtype=bool))


def load_classification(dataset, data_dir=None):
    """ItalyPowerDemand or GunPoint: returns x_train (n, T), y_train (n,), x_test (N, T), y_test (N,).

    Values are float32 as stored (the archive z-normalised each series); labels are the int class numbers 1, 2.
    """
    if dataset not in CLASSIFICATION:
        raise DataError(f"unknown series data set {dataset!r}; choose one of {', '.join(CLASSIFICATION)}")
    folder, (n_train, n_test, length) = find_folder(data_dir), CLASSIFICATION[dataset]
    parts = []
    for split, n in (("TRAIN", n_train), ("TEST", n_test)):
        name = f"{dataset}_{split}.ts"
        x, labels = parse_ts(read_checked(folder, name), name)
        if x.shape != (n, length):
            raise DataError(f"{name}: shape {x.shape}, expected {(n, length)}")
        parts += [x, labels.astype(np.int64)]
    return tuple(parts)


def load_series_135(data_dir=None):
    """Series 135 of the anomaly archive: returns train (1200,), test (7501,) float32 and is_anomaly (7501,) bool.

    The test series begins with the training points; its one anomaly is the 12 points 4187-4198.
    """
    folder = find_folder(data_dir)
    train, train_flags = parse_anomaly_csv(read_checked(folder, f"{SERIES_135}_TRAIN.csv"))
    test, is_anomaly = parse_anomaly_csv(read_checked(folder, f"{SERIES_135}_TEST.csv"))
    if train.shape != (SERIES_135_TRAIN,) or test.shape != (SERIES_135_LENGTH,) or train_flags.any():
        raise DataError(f"{SERIES_135}: {train.shape[0]} training and {test.shape[0]} test points, expected "
                        f"{SERIES_135_TRAIN} normal ones and {SERIES_135_LENGTH}")
    return train, test, is_anomaly


def anomaly_region(is_anomaly):
    """First and last index of the labelled anomaly (one run of True): (start, stop) inclusive."""
    where = np.flatnonzero(is_anomaly)
    return int(where[0]), int(where[-1])
