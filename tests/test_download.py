"""The download command against a mirror on 127.0.0.1 serving the bundled files: fetch, check, skip, refuse damage."""
import contextlib
import functools
import gzip
import http.server
import pathlib
import socket
import threading

import pytest

from scratchae import data, download
from scratchae.data import DATASETS, load

BUNDLED = pathlib.Path(__file__).resolve().parent.parent / "data"  # the checkout's copies
STEMS = list(DATASETS["mnist"])


@contextlib.contextmanager
def mirror(root, seconds=60):
    """Serve ``root`` over HTTP on 127.0.0.1; yields (base URL, list of requested paths). Stops on exit or after
    ``seconds``, whichever comes first, so a hung test cannot leave it running."""
    requested = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output clean
            pass

        def do_GET(self):
            requested.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    deadline = threading.Timer(seconds, server.shutdown)
    deadline.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{{dataset}}/", requested
    finally:
        deadline.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def served_copy(tmp_path, replace=None):
    """A mirror folder mnist/ linking to the bundled files, with ``replace`` {file name: bytes or None} applied."""
    root = tmp_path / "mirror"
    (root / "mnist").mkdir(parents=True)
    for stem in STEMS:
        name = f"{stem}.gz"
        content = (replace or {}).get(name, ...)
        if content is ...:
            (root / "mnist" / name).symlink_to(BUNDLED / "mnist" / name)
        elif content is not None:  # None: the file is missing on the mirror
            (root / "mnist" / name).write_bytes(content)
    return root


def run(capsys, *args):
    code = download.main(["--quiet", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty user cache, and no checkout data/, so the lookup can only find what was downloaded."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.delenv(download.MIRROR_ENV, raising=False)
    monkeypatch.setattr(data, "SOURCE_ROOT", tmp_path / "site-packages")
    return tmp_path / "xdg" / "scratchae"


def test_download_into_the_cache_checks_and_then_skips(tmp_path, cache, capsys, monkeypatch):
    # A damaged file already in the cache is replaced by a checked copy.
    (cache / "mnist").mkdir(parents=True)
    (cache / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\0\0\x08\x01" + bytes(8)))
    with mirror(served_copy(tmp_path)) as (url, requested):
        monkeypatch.setenv(download.MIRROR_ENV, url)  # the environment variable instead of --mirror
        code, out, err = run(capsys, "--dataset", "mnist")
        assert code == 0, err
        assert sorted(requested) == sorted(f"/mnist/{stem}.gz" for stem in STEMS)
        assert out.count("SHA-256 of its contents checked") == 4 and f"mnist: ready in {cache / 'mnist'}\n" in out
        assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(f"{stem}.gz" for stem in STEMS)
        (tmp_path / "plain").write_bytes(b"")  # the mode any new file gets here
        for stem in STEMS:  # byte for byte what the mirror served, and readable as any file written here
            name = f"{stem}.gz"
            assert (cache / "mnist" / name).read_bytes() == (BUNDLED / "mnist" / name).read_bytes()
            assert (cache / "mnist" / name).stat().st_mode == (tmp_path / "plain").stat().st_mode
        # A second run finds every file valid and asks the mirror for nothing.
        code, out, err = run(capsys, "--dataset", "mnist")
        assert code == 0 and out.count("already there and valid, skipped") == 4 and len(requested) == 4
    # The loader, with no --data-dir, no $SCRATCHAE_DATA and no checkout, finds them in the cache.
    assert data.find_data("mnist") == cache / "mnist"
    assert load("mnist")[3].shape == (10000,)


def flip_a_byte(raw):
    damaged = bytearray(raw)
    damaged[len(raw) // 2] ^= 0xFF
    return bytes(damaged)


@pytest.mark.parametrize("damage, expected", [
    (flip_a_byte, "the file is truncated or"),
    (lambda raw: raw[: len(raw) // 2], "truncated or corrupted"),
    # A well-formed file of the right shape that is not MNIST: only the digest can tell.
    (lambda raw: (BUNDLED / "fashion-mnist" / "train-images-idx3-ubyte.gz").read_bytes(), "SHA-256 of its contents"),
    (lambda raw: b"<html>Access denied</html>", "Not a gzipped file"),  # an error page served with code 200
])
def test_a_damaged_download_leaves_nothing(tmp_path, cache, capsys, damage, expected):
    first = f"{STEMS[0]}.gz"  # the first file fetched, so nothing at all may be left
    served = served_copy(tmp_path, {first: damage((BUNDLED / "mnist" / first).read_bytes())})
    with mirror(served) as (url, _):
        code, out, err = run(capsys, "--dataset", "mnist", "--mirror", url)
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert expected in err and first in err and "nothing was saved; try again, or another host with --mirror" in err
    assert not cache.exists() or not any(cache.rglob("*"))


def test_a_missing_file_is_a_one_line_error_and_keeps_the_checked_ones(tmp_path, cache, capsys):
    last = f"{STEMS[-1]}.gz"
    dest = tmp_path / "dest"
    with mirror(served_copy(tmp_path, {last: None})) as (url, _):
        code, out, err = run(capsys, "--dataset", "mnist", "--mirror", url, "--dest", dest)
    assert code == 1 and err.count("\n") == 1 and "HTTP 404" in err and last in err
    # The three files fetched before it checked and stay; no temporary file is left behind.
    assert sorted(p.name for p in (dest / "mnist").iterdir()) == sorted(f"{stem}.gz" for stem in STEMS[:-1])
    assert not cache.exists()


def test_an_unreachable_host_is_a_one_line_error(tmp_path, cache, capsys):
    with socket.socket() as sock:  # a port that nothing listens on once this closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, err = run(capsys, "--dataset", "fashion-mnist", "--mirror", f"http://127.0.0.1:{port}/")
    assert code == 1 and err.count("\n") == 1 and "cannot fetch" in err and "--mirror" in err
    assert not cache.exists() or not any(cache.rglob("*"))


@pytest.mark.parametrize("args, message", [
    (["--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["--mirror", "not a url"], "is not a URL"),
    (["--dataset", "all", "--mirror", "http://127.0.0.1:9/"], "needs '{dataset}' in the URL"),
])
def test_usage_errors_exit_2(args, message, cache, capsys):
    code, out, err = run(capsys, *args)
    assert code == 2 and message in err and err.count("\n") == 1


def test_an_unwritable_destination_is_a_usage_error(tmp_path, cache, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, out, err = run(capsys, "--dest", blocker, "--mirror", "http://127.0.0.1:9/")
    assert code == 2 and "--dest" in err and "choose another folder" in err and err.count("\n") == 1


def test_mirror_urls_take_the_dataset_name():
    assert download.file_url("https://h/{dataset}", "mnist", "a.gz") == "https://h/mnist/a.gz"
    assert download.file_url("https://h/x/", "fashion-mnist", "a.gz") == "https://h/x/a.gz"
    assert set(download.MIRRORS) == set(DATASETS)


def test_from_python_it_fills_the_cache_that_load_reads(cache, capsys):
    # What a notebook on Colab calls; a file:// URL works as a mirror too.
    folder = download.download("mnist", mirror=BUNDLED.as_uri() + "/{dataset}/", quiet=True)
    assert folder == cache / "mnist" == data.find_data("mnist")


def test_it_says_when_the_loader_would_look_elsewhere(tmp_path, cache, capsys, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "other"))
    code, out, err = run(capsys, "--mirror", BUNDLED.as_uri() + "/{dataset}/")
    assert code == 0 and f"ready in {cache / 'mnist'}; the loader looks elsewhere first: pass --data-dir" in out
    code, out, err = run(capsys, "--mirror", BUNDLED.as_uri() + "/{dataset}/", "--dest", tmp_path / "other")
    assert code == 0 and out.endswith(f"ready in {tmp_path / 'other' / 'mnist'}\n")
