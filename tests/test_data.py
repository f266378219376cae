"""The IDX reader and the bundled data sets: checks, shapes, and clear errors for bad files."""
import gzip
import hashlib
import pathlib
import shutil

import numpy as np
import pytest

from scratchae import data
from scratchae.data import DataError, batch_slices, epoch_order, find_data, load, read_idx


@pytest.fixture(scope="module")
def mnist():
    return load("mnist")


def test_mnist_is_the_original(mnist):
    x_train, y_train, x_test, y_test = mnist
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.float32 and x_train.min() == 0.0 and x_train.max() == 1.0
    # The published class counts and normalisation constants of MNIST.
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert x_train.mean() == pytest.approx(0.1307, abs=1e-4) and x_train.std() == pytest.approx(0.3081, abs=1e-4)


def test_fashion_mnist_loads():
    x_train, y_train, x_test, y_test = load("fashion-mnist")
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert np.bincount(y_train).tolist() == [6000] * 10 and np.bincount(y_test).tolist() == [1000] * 10
    assert y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]


def test_read_idx_reads_header_and_rejects_damage(tmp_path):
    header = bytes([0, 0, 8, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")

    def read(raw):
        (tmp_path / "toy").write_bytes(raw)
        return read_idx(tmp_path, "toy", hashlib.sha256(raw).hexdigest(), (2, 3), "toy")

    np.testing.assert_array_equal(read(header + bytes(range(6))), [[0, 1, 2], [3, 4, 5]])
    with pytest.raises(DataError, match="damaged"):
        read(header + bytes(range(5)))
    with pytest.raises(DataError, match="damaged"):
        read(header + bytes(range(7)))
    with pytest.raises(DataError, match="magic number"):
        read(bytes([0, 0, 9, 2]) + header[4:] + bytes(6))


@pytest.fixture
def data_copy(tmp_path):
    folder = tmp_path / "mnist"
    shutil.copytree(pathlib.Path(__file__).resolve().parent.parent / "data" / "mnist", folder)
    return folder


def test_missing_file_names_it_and_says_how_to_fix(data_copy):
    (data_copy / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: missing; put the original mnist IDX files"):
        load("mnist", data_copy)


def test_truncated_file_is_caught(data_copy):
    path = data_copy / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: unreadable.*truncated"):
        load("mnist", data_copy)


def test_corrupted_contents_fail_the_checksum(data_copy):
    path = data_copy / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[100] = (raw[100] + 1) % 10
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: SHA-256.*corrupted or not the original"):
        load("mnist", data_copy)


def test_uncompressed_files_load_too(data_copy):
    path = data_copy / "t10k-labels-idx1-ubyte.gz"
    (data_copy / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(path.read_bytes()))
    path.unlink()
    assert load("mnist", data_copy)[3].shape == (10000,)


def test_data_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRATCHAE_DATA", str(tmp_path))
    with pytest.raises(DataError, match=str(tmp_path / "mnist")) as err:
        load("mnist")
    # The cache is not searched then, so the advice downloads to where the variable points.
    assert f"--dataset mnist --dest {tmp_path}`" in str(err.value)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $SCRATCHAE_DATA, a package that is not in a checkout, and an empty user cache under tmp_path/xdg."""
    monkeypatch.setattr(data, "SOURCE_ROOT", tmp_path / "src")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SCRATCHAE_DATA", raising=False)


def fill(folder):
    for stem in data.DATASETS["mnist"]:
        (folder / f"{stem}.gz").write_bytes(b"")  # presence is what the lookup checks; contents on load


def test_lookup_order(isolated, tmp_path, monkeypatch):
    checkout, cache = tmp_path / "src", tmp_path / "xdg" / "scratchae"
    (checkout / "data" / "mnist").mkdir(parents=True)
    (cache / "mnist").mkdir(parents=True)
    fill(cache / "mnist")
    assert find_data("mnist") == cache / "mnist"
    # A data/ folder beside the package counts only in a checkout (setup.cfg there), never in site-packages.
    fill(checkout / "data" / "mnist")
    assert find_data("mnist") == cache / "mnist"
    (checkout / "setup.cfg").write_text("")
    assert find_data("mnist") == checkout / "data" / "mnist"
    monkeypatch.setenv("SCRATCHAE_DATA", str(tmp_path / "env"))
    assert find_data("mnist") == tmp_path / "env" / "mnist"
    assert find_data("mnist", tmp_path / "flag") == tmp_path / "flag"


def test_an_incomplete_folder_is_passed_over(isolated, tmp_path):
    cache = tmp_path / "xdg" / "scratchae" / "mnist"
    cache.mkdir(parents=True)
    fill(cache)
    (cache / "train-images-idx3-ubyte.gz").rename(cache / "train-images-idx3-ubyte")  # gzipped or not
    assert find_data("mnist") == cache
    (cache / "train-images-idx3-ubyte").unlink()
    with pytest.raises(DataError, match=f"nothing complete in {cache}"):
        find_data("mnist")


def test_not_found_lists_every_way_in_one_line(isolated, tmp_path):
    with pytest.raises(DataError) as err:
        load("mnist")
    message = str(err.value)
    assert "\n" not in message and message.startswith("mnist data not found")
    for way in ("`python -m scratchae.download --dataset mnist`", str(tmp_path / "xdg" / "scratchae" / "mnist"),
                "--data-dir DIR", "$SCRATCHAE_DATA=DIR"):
        assert way in message


def test_cache_folder_follows_xdg(tmp_path, monkeypatch):
    assert data.cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "scratchae"
    home = pathlib.Path.home() / ".cache" / "scratchae"
    assert data.cache_dir({}) == home
    assert data.cache_dir({"XDG_CACHE_HOME": "relative/path"}) == home  # the XDG spec: ignore a relative path


def test_epoch_order_is_a_seeded_permutation():
    a = epoch_order(1000, seed=3, epoch=2)
    assert sorted(a.tolist()) == list(range(1000))
    np.testing.assert_array_equal(a, epoch_order(1000, seed=3, epoch=2))
    assert not np.array_equal(a, epoch_order(1000, seed=3, epoch=3))
    assert not np.array_equal(a, epoch_order(1000, seed=4, epoch=2))


def test_batches_cover_every_example_once():
    slices = list(batch_slices(1000, 256))
    assert slices[0] == (0, 256) and slices[-1] == (768, 1000) and len(slices) == 4
