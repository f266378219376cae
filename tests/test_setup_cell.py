"""The lessons' setup cell, run for real as Colab runs it, against a local bare copy of this checkout (no network).

The cell is taken from lesson 01's .py (all lessons share it; tests/test_lessons.py checks each one's parts; the
Japanese lessons carry the same code with Japanese comments). It runs as a script in a temp folder with
SCRATCHAE_FORCE_COLAB=1 and SCRATCHAE_REPO pointing at a file:// URL.
pip installs with --target into a folder on PYTHONPATH, offline (PIP_* variables: no index, no deps, no build
isolation). This interpreter already has an editable scratchae, so the pushed branch bumps __version__: the cell
must see the mismatch and install, then see a match and not install again.
"""
import os
import pathlib
import shutil
import subprocess
import sys

import jupytext
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
LESSON = ROOT / "lessons" / "en" / "01_dense.py"
VERSION = "0.0.0+setupcell"


def setup_cell(lesson=LESSON):
    """A lesson's first code cell (lesson 01's unless told), the one run here."""
    return next(c.source for c in jupytext.read(lesson).cells if c.cell_type == "code")


def test_the_japanese_setup_cell_is_this_code():
    # The cell run below is the English one; the Japanese lessons carry the same code with Japanese comments, so
    # this run covers them too. (tests/test_lesson_parity.py checks every lesson; this names the reason here.)
    from test_lesson_parity import code_tokens
    japanese = sorted((ROOT / "lessons" / "ja").glob("[0-9][0-9]_*.py"))
    assert japanese, "no Japanese lessons under lessons/ja/"
    for py in japanese:
        assert code_tokens(setup_cell(py)) == code_tokens(setup_cell()), f"{py.name}: the setup cell's code differs"
        assert setup_cell(py) != setup_cell(), f"{py.name}: the setup cell's comments are not translated"


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """A bare repository with branch REF (from setup.cfg) holding this checkout's files, __version__ bumped."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("lessons_build", ROOT / "lessons" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    _, ref = build.settings(ROOT)
    root = tmp_path_factory.mktemp("remote")
    work = root / "work"
    # The checkout as it is now, committed changes or not: tracked and untracked files that git does not ignore.
    files = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file() and not name.startswith(("lessons/", "benchmarks/", "docs/")):
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, work / name)
    init = work / "scratchae" / "__init__.py"
    text = init.read_text(encoding="utf-8")
    assert '__version__ = "' in text
    init.write_text(text.replace(text.split('__version__ = "')[1].split('"')[0], VERSION, 1), encoding="utf-8")
    git("init", "-q", "-b", ref, cwd=work)
    git("add", "-A", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "snapshot", cwd=work)
    git("clone", "-q", "--bare", str(work), str(root / "scratchae.git"), cwd=root)
    return (root / "scratchae.git").as_uri(), ref


def run_cell(folder, repo, ref=None):
    """The setup cell as a script in ``folder`` (Colab forced on), REF replaced when given; returns the result."""
    code = setup_cell()
    if ref is not None:
        code = code.replace('REPO = os.environ.get(', f'REF = {ref!r}\n    REPO = os.environ.get(', 1)
    code += "\nimport scratchae\nprint('FROM', scratchae.__file__, scratchae.__version__)\n"
    code += "print('DATA', os.environ['SCRATCHAE_DATA'])\n"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cell.py").write_text(code, encoding="utf-8")
    target = folder / "site"
    target.mkdir(exist_ok=True)  # made before Python starts: a PYTHONPATH folder missing then is skipped for good
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "SCRATCHAE_", "GIT_"))}
    env.update(SCRATCHAE_FORCE_COLAB="1", SCRATCHAE_REPO=repo, PYTHONPATH=str(target), PYTHONNOUSERSITE="1",
               PIP_TARGET=str(target), PIP_UPGRADE="1", PIP_NO_INDEX="1", PIP_NO_DEPS="1",
               PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "cell.py"], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=120)


def test_clones_installs_imports_and_finds_the_data(remote, tmp_path):
    url, _ = remote
    first = run_cell(tmp_path, url)
    assert first.returncode == 0, first.stderr
    site = tmp_path / "site" / "scratchae" / "__init__.py"
    assert f"FROM {site} {VERSION}" in first.stdout
    assert f"DATA {tmp_path / 'scratchae-src' / 'data'}" in first.stdout
    assert (tmp_path / "scratchae-src" / "data").is_dir()
    # Run again: the right version imports, so neither clone nor install runs (the install's files stay put).
    stamp = site.stat().st_mtime_ns
    again = run_cell(tmp_path, url)
    assert again.returncode == 0, again.stderr
    assert f"FROM {site} {VERSION}" in again.stdout and site.stat().st_mtime_ns == stamp


def test_a_half_install_and_a_failed_clone_are_repaired(remote, tmp_path):
    url, _ = remote
    (tmp_path / "scratchae-src").mkdir()  # what a clone that failed halfway can leave
    (tmp_path / "scratchae-src" / "junk").write_text("x")
    first = run_cell(tmp_path, url)
    assert first.returncode == 0, first.stderr
    shutil.rmtree(tmp_path / "site" / "scratchae")  # an install that broke off: metadata but no package
    second = run_cell(tmp_path, url)
    assert second.returncode == 0, second.stderr
    assert f"FROM {tmp_path / 'site' / 'scratchae' / '__init__.py'} {VERSION}" in second.stdout


@pytest.mark.parametrize("case", ["missing repository", "missing ref"])
def test_a_missing_repository_or_ref_says_so_in_one_line(remote, tmp_path, case):
    url, _ = remote
    if case == "missing repository":
        done = run_cell(tmp_path, url.replace("scratchae.git", "nothing-here.git"))
    else:
        done = run_cell(tmp_path, url, ref="no-such-branch")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Could not get ") and "Ask your instructor, or set REPO to your fork" in lines[0]
    # A retry is not blocked by what the failed clone left.
    assert not (tmp_path / "scratchae-src" / "scratchae").exists()
