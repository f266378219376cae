"""``python -m scratchae.download``: fetch MNIST or Fashion-MNIST from their official mirrors into the user cache.

Each file is streamed into a hidden temporary file in the destination folder, checked against the SHA-256 of its
decompressed contents that ``scratchae.data`` keeps, and only then renamed into place, so a failed, interrupted or
corrupted download leaves nothing half-written. Files already there and valid are skipped. Usage errors exit 2, a
failed download exits 1, each with one line saying what to do.
"""
import http.client
import os
import pathlib
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

from tqdm import tqdm

from . import data
from .cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Parser, UsageError, report
from .data import DATA_ENV, DATASETS, DataError, cache_dir, check_idx, read_idx
from .serialize import new_file_mode

# Where each data set's authors and the large frameworks fetch the original gzipped IDX files. MNIST: the PyTorch
# team's S3 copy that torchvision uses. Fashion-MNIST: Zalando's own bucket, served only over plain HTTP; integrity
# comes from the SHA-256 check, not from the transport.
MIRRORS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
MIRROR_ENV = "SCRATCHAE_MIRROR"
CHUNK = 1 << 16
PROG = "scratchae.download"


class DownloadError(Exception):
    """A file that could not be fetched or failed its check: one line, exit 1."""


def build_parser():
    p = Parser(prog="python -m scratchae.download",
               description="Download MNIST or Fashion-MNIST from the official mirrors into the scratchae cache, "
                           "checking every file against its SHA-256.")
    p.add_argument("--dataset", choices=[*DATASETS, "all"], default="mnist", help="what to fetch (default: mnist)")
    p.add_argument("--mirror", metavar="URL",
                   help=f"another host: the URL of the folder holding the .gz files; '{{dataset}}' in it is replaced "
                        f"by the data set's name (default: ${MIRROR_ENV}, else the official mirror)")
    p.add_argument("--dest", metavar="DIR",
                   help=f"folder to put <dataset>/ in (default: the cache, {cache_dir()}); point $SCRATCHAE_DATA "
                        f"at it if it is not the cache")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def file_url(mirror, dataset, filename):
    """The URL of ``filename`` on ``mirror`` (a folder URL, '{dataset}' replaced by the data set's name)."""
    base = mirror.replace("{dataset}", dataset)
    return base + ("" if base.endswith("/") else "/") + filename


def fetch(url, folder, stem, sha256, shape, quiet=False, timeout=60):
    """Stream ``url`` into ``folder``/``stem``.gz: a temporary file first, renamed only once its contents check."""
    advice = "nothing was saved; try again, or another host with --mirror URL"
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{stem}.", suffix=".part.gz")
    except OSError as err:
        raise UsageError(f"{folder}: cannot write there ({err.strerror or err}); choose another --dest") from None
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            # disable=None: a bar on a terminal, nothing in logs and pipes.
            with tqdm(total=total, unit="B", unit_scale=True, desc=stem, leave=False,
                      disable=True if quiet else None) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
        check_idx(tmp, sha256, shape, advice, name=url)
        # mkstemp makes the file private (0600); give it the mode any new file gets, so a shared --dest stays shared.
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, folder / f"{stem}.gz")
    except urllib.error.HTTPError as err:
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}; {advice}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", None) or getattr(err, "strerror", None) or repr(err)
        raise DownloadError(f"{url}: cannot fetch ({reason}); {advice}") from None
    except DataError as err:
        message = str(err)
        raise DownloadError(message if advice in message else f"{message}; {advice}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def download(dataset, mirror=None, dest=None, quiet=False):
    """Fetch the four files of ``dataset`` into ``dest``/``dataset`` (default: the user cache, where ``load`` looks),
    skipping valid ones; returns the folder. Raises UsageError or DownloadError with a one-line message."""
    dest = dest or cache_dir()
    folder = pathlib.Path(dest) / dataset
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--dest {dest}: cannot create {folder} ({err.strerror or err}); choose another folder") \
            from None
    try:
        for stem, (sha256, shape) in DATASETS[dataset].items():
            try:
                read_idx(folder, stem, sha256, shape, dataset)
                print(f"{dataset}/{stem}: already there and valid, skipped", flush=True)
                continue
            except DataError:
                pass  # missing or damaged: fetch a fresh copy, which replaces it only once it checks
            url = file_url(mirror or MIRRORS[dataset], dataset, f"{stem}.gz")
            fetch(url, folder, stem, sha256, shape, quiet=quiet)
            print(f"{dataset}/{stem}: downloaded from {url}, SHA-256 of its contents checked", flush=True)
    except BaseException:
        if not any(folder.iterdir()):
            folder.rmdir()  # a folder this run made and left empty would only confuse the next lookup
        raise
    return folder


def loads_from(dataset, folder):
    """True if ``load(dataset)`` with no --data-dir would read ``folder``."""
    try:
        return data.find_data(dataset).resolve() == pathlib.Path(folder).resolve()
    except DataError:
        return False


def main(argv=None):
    """Command-line entry point; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        mirror = args.mirror or os.environ.get(MIRROR_ENV) or None
        datasets = list(DATASETS) if args.dataset == "all" else [args.dataset]
        if mirror and urllib.parse.urlsplit(mirror).scheme not in ("http", "https", "ftp", "file"):
            raise UsageError(f"mirror {mirror!r} is not a URL; give one like https://host/path/")
        if mirror and len(datasets) > 1 and "{dataset}" not in mirror:
            raise UsageError("--dataset all with --mirror needs '{dataset}' in the URL (both sets use the same "
                             "file names), e.g. --mirror https://host/{dataset}/")
        dest = pathlib.Path(args.dest) if args.dest else cache_dir()
        for dataset in datasets:
            folder = download(dataset, mirror, dest, quiet=args.quiet)
            hint = ("" if loads_from(dataset, folder) else
                    f"; the loader looks elsewhere first: pass --data-dir {folder} or set ${DATA_ENV}={dest}")
            print(f"{dataset}: ready in {folder}{hint}", flush=True)
    except UsageError as err:
        return report(PROG, err, EXIT_USAGE)
    except DownloadError as err:
        return report(PROG, f"error: {err}", EXIT_FAILED)
    except KeyboardInterrupt:
        return report(PROG, "interrupted; files not yet checked were removed, run it again to finish",
                      EXIT_INTERRUPTED)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
