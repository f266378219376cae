"""The series readers: digests against the shipped SHA256SUMS, both formats against an independent parse, the
published sizes, the lookup order, and damaged or missing files refused with one line naming them."""
import hashlib
import pathlib
import shutil

import numpy as np
import pytest

from scratchae import series
from scratchae.data import DataError

FOLDER = pathlib.Path(__file__).resolve().parent.parent / "data" / "timeseries"


def sums():
    """data/timeseries/SHA256SUMS as {name: digest}: the record that ships with the files."""
    lines = (FOLDER / "SHA256SUMS").read_text().split("\n")
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


def test_the_recorded_digests_are_the_shipped_ones_and_match_the_bytes():
    assert series.DIGESTS == sums()
    for name, digest in sums().items():
        assert hashlib.sha256((FOLDER / name).read_bytes()).hexdigest() == digest


def ts_by_hand(path):
    """A .ts file parsed another way: the lines after @data, the colon turned into a comma, numpy.loadtxt."""
    lines = path.read_text().splitlines()
    body = lines[[line.strip().lower() for line in lines].index("@data") + 1:]
    table = np.loadtxt([line.replace(":", ",") for line in body if line.strip()], delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64)


@pytest.mark.parametrize("dataset", sorted(series.CLASSIFICATION))
def test_ts_files_agree_with_an_independent_parse(dataset):
    x_train, y_train, x_test, y_test = series.load_classification(dataset)
    n_train, n_test, length = series.CLASSIFICATION[dataset]
    assert x_train.shape == (n_train, length) and x_test.shape == (n_test, length)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    for x, y, split in ((x_train, y_train, "TRAIN"), (x_test, y_test, "TEST")):
        values, labels = ts_by_hand(FOLDER / f"{dataset}_{split}.ts")
        np.testing.assert_array_equal(x, values.astype(np.float32))
        np.testing.assert_array_equal(y, labels)
    assert set(y_train) == set(y_test) == {1, 2}


def test_class_counts_as_published():
    # SOURCE.txt: ItalyPowerDemand 67 + 1029 series, GunPoint 50 + 150; the archive's per-class counts below.
    _, y, _, yt = series.load_classification("GunPoint")
    assert np.bincount(y).tolist() == [0, 24, 26] and np.bincount(yt).tolist() == [0, 76, 74]
    _, y, _, yt = series.load_classification("ItalyPowerDemand")
    assert np.bincount(y).tolist() == [0, 34, 33] and np.bincount(yt).tolist() == [0, 513, 516]


def test_series_135_agrees_with_an_independent_parse():
    train, test, is_anomaly = series.load_series_135()
    table = np.loadtxt(FOLDER / f"{series.SERIES_135}_TEST.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(table[:, 0], np.arange(7501))
    np.testing.assert_array_equal(test, table[:, 1].astype(np.float32))
    np.testing.assert_array_equal(is_anomaly, table[:, 2] == 1)
    np.testing.assert_array_equal(train, test[:1200])  # the test series begins with the training points
    assert series.anomaly_region(is_anomaly) == (4187, 4198) and is_anomaly.sum() == 12


def test_parse_ts_reads_a_small_text():
    text = "#comment\n@problemName toy\n@data\n1,2.5,-3:2\n0.5,0,1e-1:1\n"
    x, labels = series.parse_ts(text)
    np.testing.assert_array_equal(x, np.array([[1, 2.5, -3], [0.5, 0, 0.1]], dtype=np.float32))
    assert labels.tolist() == ["2", "1"]
    with pytest.raises(DataError, match="different lengths"):
        series.parse_ts("@data\n1,2:1\n1,2,3:1\n")
    with pytest.raises(DataError, match="without ':label'"):
        series.parse_ts("@data\n1,2,3\n")


def copy_folder(tmp_path):
    target = tmp_path / "timeseries"
    shutil.copytree(FOLDER, target)
    for path in target.iterdir():
        path.chmod(0o644)
    return target


def test_a_changed_byte_is_refused_naming_the_file(tmp_path):
    folder = copy_folder(tmp_path)
    path = folder / "GunPoint_TEST.ts"
    raw = bytearray(path.read_bytes())
    raw[-10] = ord("9") if raw[-10] != ord("9") else ord("8")
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="GunPoint_TEST.ts: SHA-256 is .*not the original") as err:
        series.load_classification("GunPoint", folder)
    assert "\n" not in str(err.value)
    series.load_classification("ItalyPowerDemand", folder)  # the other files still load


def test_a_missing_file_is_refused_and_the_lookup_order(tmp_path, monkeypatch):
    folder = copy_folder(tmp_path)
    (folder / f"{series.SERIES_135}_TRAIN.csv").unlink()
    with pytest.raises(DataError, match="_TRAIN.csv: cannot read it"):
        series.load_series_135(folder)
    monkeypatch.setenv("SCRATCHAE_DATA", str(tmp_path))  # $SCRATCHAE_DATA/timeseries comes before the checkout
    assert series.find_folder() == folder
    with pytest.raises(DataError, match="cannot read it"):
        series.load_series_135()
    assert series.find_folder(FOLDER) == FOLDER  # --data-dir comes first
    with pytest.raises(DataError, match="unknown series data set"):
        series.load_classification("ECG5000")
