"""A regular install (not editable), run from another folder, as a new user or Colab runs it: the package finds
the data that $SCRATCHAE_DATA or the user cache provides, and says how to get it when neither does."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

SOURCE = pathlib.Path(__file__).resolve().parent.parent  # the checkout these tests sit in
TRAIN = ["-m", "scratchae.train", "--limit", "300", "--epochs", "1", "--batch-size", "100", "--dims", "784", "8",
         "--quiet", "--out", "run"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``pip install --target`` of a copy of the sources (no network: no index, no deps, this interpreter's build
    tools), and a clean environment whose only scratchae is that install."""
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    shutil.copytree(SOURCE / "scratchae", src / "scratchae", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(SOURCE / name, src / name)
    target = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "--target", str(target), str(src)],
                   check=True, capture_output=True, timeout=120)
    assert (target / "scratchae" / "download.py").is_file() and not (target / "data").exists()
    env = {k: v for k, v in os.environ.items() if k not in ("SCRATCHAE_DATA", "SCRATCHAE_MIRROR")}
    env.update(PYTHONPATH=str(target), PYTHONNOUSERSITE="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MPLBACKEND="Agg")
    return target, env


def run(args, env, cwd):
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_data_from_the_environment_variable(installed, tmp_path):
    target, env = installed
    env = {**env, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "SCRATCHAE_DATA": str(SOURCE / "data")}
    where = run(["-c", "import scratchae; print(scratchae.__file__)"], env, tmp_path / "elsewhere")
    assert where.stdout.strip() == str(target / "scratchae" / "__init__.py")
    done = run(TRAIN, env, tmp_path / "elsewhere")
    assert done.returncode == 0, done.stderr
    assert "(300 images)" in done.stdout and "done: test bce" in done.stdout
    assert (tmp_path / "elsewhere" / "run" / "checkpoint.npz").is_file()


def test_no_data_says_how_then_download_into_the_cache_and_train(installed, tmp_path):
    _, env = installed
    env = {**env, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    cache = tmp_path / "xdg" / "scratchae" / "mnist"
    # Before: the installed package has no data/ beside it and the cache is empty.
    missing = run(TRAIN, env, tmp_path / "elsewhere")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "mnist data not found" in missing.stderr and "python -m scratchae.download --dataset mnist" in missing.stderr
    # The download command from the install, pointed at the bundled files as its mirror (a file:// URL).
    fetched = run(["-m", "scratchae.download", "--dataset", "mnist", "--mirror",
                   (SOURCE / "data").as_uri() + "/{dataset}/"], env, tmp_path / "elsewhere")
    assert fetched.returncode == 0, fetched.stderr
    assert f"mnist: ready in {cache}" in fetched.stdout and len(list(cache.iterdir())) == 4
    done = run(TRAIN, env, tmp_path / "elsewhere")
    assert done.returncode == 0, done.stderr
    assert "done: test bce" in done.stdout


def test_the_pretrained_models_ship_with_a_regular_install(installed, tmp_path):
    target, env = installed
    code = ("from scratchae import pretrained; from scratchae.data import load; "
            "p = pretrained.load('reference'); x = load('mnist')[2][:100]; "
            "print(pretrained.path_of('reference')); print(p.model.forward(x).shape, p.test['test_loss'])")
    env = {**env, "SCRATCHAE_DATA": str(SOURCE / "data")}
    done = run(["-c", code], env, tmp_path / "elsewhere")
    assert done.returncode == 0, done.stderr
    where, shape = done.stdout.splitlines()
    assert where == str(target / "scratchae" / "weights" / "reference.npz")
    assert shape.startswith("(100, 784) 0.")
