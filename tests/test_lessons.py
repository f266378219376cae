"""The lessons' generated notebooks agree with their .py sources and with setup.cfg; no kernel is started here.

Both editions are checked, lessons/en/ and lessons/ja/ (tests/test_lesson_parity.py keeps their code the same).

nbmake executes the notebooks themselves (setup.cfg's addopts, the root conftest.py); these checks are the fast
part: a .py edited without `python lessons/build.py` afterwards, a notebook saved with outputs, or a badge or
clone line that disagrees with setup.cfg fails here in a second.
"""
import importlib.util
import json
import pathlib
import shutil

import jupytext
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("lessons_build", ROOT / "lessons" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

LESSONS = build.lessons(ROOT)


def problems(py, root=ROOT):
    """Everything wrong between lesson ``py``, its .ipynb and setup.cfg under ``root``, as a list of sentences."""
    ipynb = py.with_suffix(".ipynb")
    name = ipynb.relative_to(root).as_posix()
    if not ipynb.exists():
        return [f"{name} is missing"]
    url, ref = build.settings(root)
    source = py.read_text(encoding="utf-8")
    found = []
    try:
        if build.rewrite(source, name, url, ref) != source:
            found.append(f"{py.name}: badge or clone line disagrees with setup.cfg")
    except SystemExit as err:
        found.append(str(err))
    want = [(c.cell_type, c.source) for c in jupytext.read(py).cells]
    nb = json.loads(ipynb.read_text(encoding="utf-8"))
    have = [(c["cell_type"], "".join(c["source"])) for c in nb["cells"]]
    if want != have:
        first = next((i for i, (a, b) in enumerate(zip(want, have)) if a != b), min(len(want), len(have)))
        found.append(f"{name}: cell {first} differs from {py.name} ({len(want)} cells there, {len(have)} here)")
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code" and (cell["outputs"] or cell["execution_count"] is not None):
            found.append(f"{name}: cell {i} stores outputs or an execution count")
    if nb["metadata"].get("kernelspec", {}).get("name") != "python3":
        found.append(f"{name}: kernelspec name is not python3")
    markdown = [c for c in have if c[0] == "markdown"]
    if not markdown or build.badge(url, ref, name) not in markdown[0][1]:
        found.append(f"{name}: first markdown cell lacks the Colab badge for its own path")
    code = [c for c in have if c[0] == "code"]
    if not code or build.clone_line(url, ref, build.edition_of(name)) not in code[0][1]:
        found.append(f"{name}: first code cell (the setup cell) lacks the clone line from setup.cfg")
    return found


def test_there_are_lessons_and_no_orphan_notebooks():
    assert LESSONS, "no lessons found under lessons/"
    orphans = [p for p in (ROOT / "lessons").glob("*/*.ipynb") if not p.with_suffix(".py").exists()]
    assert not orphans, f"notebooks without a .py source: {orphans}"


@pytest.mark.parametrize("py", LESSONS, ids=[f"{p.parent.name}/{p.stem}" for p in LESSONS])
def test_notebook_matches_its_source(py):
    found = problems(py)
    assert not found, "\n".join(found) + "\nrun `python lessons/build.py` to regenerate"


def _copy(tmp_path):
    """A copy of setup.cfg, the lessons' config and index, and lesson 01 under tmp_path; returns the copied .py."""
    (tmp_path / "lessons" / "en").mkdir(parents=True)
    for name in ("setup.cfg", "lessons/jupytext.toml", "lessons/README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    py = tmp_path / "lessons" / "en" / LESSONS[0].name
    shutil.copy(LESSONS[0], py)
    shutil.copy(LESSONS[0].with_suffix(".ipynb"), py.with_suffix(".ipynb"))
    return py


def test_an_untouched_copy_passes(tmp_path):
    assert problems(_copy(tmp_path), tmp_path) == []


def test_a_source_edited_without_regenerating_fails(tmp_path):
    py = _copy(tmp_path)
    py.write_text(py.read_text(encoding="utf-8") + "\n# %%\nprint('a new cell')\n", encoding="utf-8")
    assert any("differs from" in p for p in problems(py, tmp_path))
    py = _copy(tmp_path / "again")
    text = py.read_text(encoding="utf-8")
    py.write_text(text.replace("import os\n", "import os  # edited\n", 1), encoding="utf-8")
    assert any("cell 1 differs" in p for p in problems(py, tmp_path / "again"))


def test_stored_outputs_fail(tmp_path):
    py = _copy(tmp_path)
    ipynb = py.with_suffix(".ipynb")
    nb = json.loads(ipynb.read_text(encoding="utf-8"))
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["execution_count"] = 1
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hi\n"]}]
    ipynb.write_text(json.dumps(nb), encoding="utf-8")
    assert any("stores outputs" in p for p in problems(py, tmp_path))


def test_a_moved_repository_fails_until_rebuilt(tmp_path):
    py = _copy(tmp_path)
    cfg = tmp_path / "setup.cfg"
    cfg.write_text(cfg.read_text().replace("url = https://github.com/", "url = https://github.com/moved-"))
    found = problems(py, tmp_path)
    assert any("disagrees with setup.cfg" in p for p in found)
    assert any("Colab badge" in p for p in found) and any("clone line" in p for p in found)


def test_rewrite_sets_badge_and_clone_line():
    text = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](old)\n"
            '    REPO, REF = "old", "old"\n')
    out = build.rewrite(text, "lessons/en/09_x.ipynb", "https://github.com/a/b", "v1.0")
    assert out == ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                   "(https://colab.research.google.com/github/a/b/blob/v1.0/lessons/en/09_x.ipynb)\n"
                   '    REPO, REF = "https://github.com/a/b", "v1.0"  # written by lessons/build.py from setup.cfg\n')


@pytest.mark.parametrize("index, edition", [("lessons/README.md", "en"), ("lessons/README.ja.md", "ja")])
def test_index_lists_every_lesson_with_badges_from_setup_cfg(index, edition):
    # Each index opens its own edition's notebooks. Every English lesson has a Japanese twin (the parity test),
    # so the Japanese index has a row for each English lesson too.
    text = (ROOT / index).read_text(encoding="utf-8")
    url, ref = build.settings(ROOT)
    assert build.rewrite_index(text, url, ref, index) == text, \
        f"run `python lessons/build.py`: a badge in {index} disagrees with setup.cfg"
    for py in build.lessons(ROOT, "en"):
        notebook = f"lessons/{edition}/{py.stem}.ipynb"
        assert build.badge(url, ref, notebook) in text, f"{index} has no row with a badge for {notebook}"
        assert f"]({edition}/{py.stem}.ipynb)" in text, f"{index} has no link to {edition}/{py.stem}.ipynb"
    other = f"lessons/{'ja' if edition == 'en' else 'en'}/"
    assert f"/{other}" not in text, f"{index}'s badges open only {edition} notebooks"


def test_the_two_indexes_link_each_other():
    en = (ROOT / "lessons" / "README.md").read_text(encoding="utf-8")
    ja = (ROOT / "lessons" / "README.ja.md").read_text(encoding="utf-8")
    assert "](README.ja.md)" in en and "](README.md)" in ja
    assert "](ja/GLOSSARY.md)" in ja and (ROOT / "lessons" / "ja" / "GLOSSARY.md").exists()


def test_build_is_byte_stable_and_follows_a_moved_repository(tmp_path, capsys):
    py = _copy(tmp_path)
    ipynb = py.with_suffix(".ipynb")
    before = ipynb.read_bytes()
    build.main(tmp_path)
    assert ipynb.read_bytes() == before, "regenerating an up-to-date notebook changed its bytes"
    cfg = tmp_path / "setup.cfg"
    cfg.write_text(cfg.read_text().replace("url = https://github.com/scratchae/scratchae", "url = https://github.com/a/b")
                   .replace("ref = main", "ref = v9.9"))
    assert problems(py, tmp_path)
    build.main(tmp_path)
    assert problems(py, tmp_path) == []
    assert f"github/a/b/blob/v9.9/lessons/en/{LESSONS[0].stem}.ipynb" in (tmp_path / "lessons" / "README.md").read_text()
    assert f"{LESSONS[0].stem}.ipynb: badge or clone line and notebook updated" in capsys.readouterr().out


@pytest.mark.parametrize("py", LESSONS, ids=[f"{p.parent.name}/{p.stem}" for p in LESSONS])
def test_setup_cell_installs_a_clone_never_cupy_and_reads_quick(py):
    setup = next(c.source for c in jupytext.read(py).cells if c.cell_type == "code")
    install = [line for line in setup.splitlines() if '"pip", "install"' in line]
    assert len(install) == 1 and '"./scratchae-src"' in install[0], "install the clone, once, with pip"
    assert '"-e"' not in install[0], "a regular install: an editable one is not importable until a restart"
    commands = [line for line in setup.splitlines() if "subprocess" in line or "pip" in line or "!" in line]
    assert not [line for line in commands if "cupy" in line.lower()], "never install CuPy: Colab's GPU runtime has one"
    assert 'os.environ["SCRATCHAE_DATA"] = os.path.abspath("scratchae-src/data")' in setup
    assert "xp, message = pick_xp()" in setup and "print(message)" in setup
    assert 'QUICK = os.environ.get("SCRATCHAE_QUICK") == "1"' in setup
    # Failures stop the notebook with one line (tests/test_setup_cell.py runs the cell for real).
    assert '"GIT_TERMINAL_PROMPT": "0"' in setup and setup.count("raise SystemExit(") == 2
    assert "if have != want:" in setup, "install when the pinned version does not import, not when a folder is missing"
    # Colab's menu path in the lesson's language (a Japanese Colab shows Japanese menus).
    # The runtime dialog needs its Save button; the first run meets Colab's "not authored by Google" warning.
    if py.parent.name == "en":
        assert "Runtime → Change runtime type → T4 GPU → Save" in setup and "File → Save a copy in Drive" in setup
        assert '"This notebook was not authored by Google"' in setup and '"Run anyway"' in setup
    assert "ランタイム → ランタイムのタイプを変更 → T4 GPU → 保存" in setup and "ファイル → ドライブにコピーを保存" in setup
    assert "このまま実行" in setup


@pytest.mark.parametrize("edition, at_least", [("en", 12), ("ja", 2)])
def test_every_lesson_has_the_same_setup_cell(edition, at_least):
    # Each notebook must run alone on Colab, so each carries the setup cell; an edition's copies stay one text.
    # (Across editions only the comments differ: tests/test_lesson_parity.py compares the code.)
    cells = {py.name: next(c.source for c in jupytext.read(py).cells if c.cell_type == "code")
             for py in build.lessons(ROOT, edition)}
    first = next(iter(cells.values()))
    assert len(cells) >= at_least and all(cell == first for cell in cells.values()), \
        [name for name, cell in cells.items() if cell != first]
    assert 'os.environ["SCRATCHAE_DATA"]' in first and "QUICK = " in first


def test_a_japanese_lesson_gets_the_japanese_clone_note(tmp_path):
    text = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](old)\n"
            '    REPO, REF = "old", "old"  # 古いコメント\n')
    out = build.rewrite(text, "lessons/ja/09_x.ipynb", "https://github.com/a/b", "v1.0")
    assert out.endswith('    REPO, REF = "https://github.com/a/b", "v1.0"  # lessons/build.py が setup.cfg から書き込む\n')
    assert "/blob/v1.0/lessons/ja/09_x.ipynb)" in out
    with pytest.raises(SystemExit, match="lessons/<edition>/"):
        build.rewrite(text, "lessons/fr/09_x.ipynb", "https://github.com/a/b", "v1.0")
    # build.main rewrites the Japanese index's badges as it does the English one's.
    py = _copy(tmp_path)
    shutil.copy(ROOT / "lessons" / "README.ja.md", tmp_path / "lessons" / "README.ja.md")
    cfg = tmp_path / "setup.cfg"
    cfg.write_text(cfg.read_text().replace("url = https://github.com/scratchae/scratchae", "url = https://github.com/a/b"))
    build.main(tmp_path)
    ja_index = (tmp_path / "lessons" / "README.ja.md").read_text(encoding="utf-8")
    assert "github/a/b/blob/" in ja_index and "github/scratchae/scratchae/blob/" not in ja_index
    assert problems(py, tmp_path) == []
