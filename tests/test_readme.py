"""The READMEs' promises: the example runs, the commands are the ones CI and users run, the Japanese README gives
the same commands, lessons and numbers, every number has its measurement in docs/results.md, and every relative
link in the READMEs and docs/ points to a file (and heading) that exists."""
import importlib
import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
README_JA = (ROOT / "README.ja.md").read_text(encoding="utf-8")
RESULTS = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
COMMANDS = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
LINKED = [ROOT / "README.md", ROOT / "README.ja.md", *sorted((ROOT / "docs").glob("*.md")),
          ROOT / "lessons" / "README.md", ROOT / "lessons" / "README.ja.md", ROOT / "lessons" / "ja" / "GLOSSARY.md"]

_spec = importlib.util.spec_from_file_location("lessons_build", ROOT / "lessons" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


def test_thirty_second_example_runs(capsys):
    code = re.search(r"## Thirty seconds of scratchae\n\n```python\n(.*?)```", README, re.S).group(1)
    assert f"```python\n{code}```" in README_JA, "README.ja.md shows the same example"
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert 0.6 < float(printed[0]) < 0.9  # BCE of an untrained model on uniform noise is about log 2
    assert "rel error" in printed[1]


def test_readme_names_the_main_job_and_the_test_command():
    assert "python3 -m pip install -e . && python3 -m scratchae.train" in README
    assert 'python3 -m pip install -e ".[test]" && python3 -m pytest -n 2' in README
    assert "SCRATCHAE_BACKEND=standin python3 -m pytest -n 2 lessons" in README  # the lessons again, on the stand-in


def command_after(marker, text):
    """The first line after ``<!-- marker -->`` that is not a code fence, as .ci/run reads it."""
    lines = text.splitlines()
    return next(line for line in lines[lines.index(f"<!-- {marker} -->") + 1:] if not line.startswith("```"))


@pytest.mark.parametrize("marker", ["main-command", "test-command"])
def test_both_readmes_give_the_same_commands(marker):
    assert command_after(marker, README) == command_after(marker, README_JA)
    assert command_after(marker, README).startswith("python3 -m pip install -e ")


def models_table(text):
    """The rows of the README's "more models" table: (command, the numbers of its headline cell, its link)."""
    rows = re.findall(r"^\| `(--preset [^`]+|python3 -m scratchae\.\w+)` \| [^|]+ \| ([^|]+) \| \[[^]]+\]\(([^)]+)\) \|$",
                      text, re.M)
    return [(command, re.findall(r"\d+\.\d+", headline), link) for command, headline, link in rows]


def test_every_headline_number_is_in_results_and_in_the_japanese_readme():
    rows = models_table(README)
    assert len(rows) >= 8, "README.md's models table is missing or changed shape"
    assert models_table(README_JA) == rows, "README.ja.md's models table gives other commands, numbers or links"
    for command, numbers, link in rows:
        assert numbers and link.startswith("docs/results.md#"), command
        section = section_text(RESULTS, link.split("#", 1)[1])
        for number in numbers:
            assert number in section, f"{command}: {number} is not in the results section {link}"


def section_text(text, anchor):
    """The text of the heading with GitHub's ``anchor`` in ``text``, up to the next heading of its level or above."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(#+) (.*)$", line)
        if m and slug(m.group(2)) == anchor:
            level = len(m.group(1))
            end = next((j for j in range(i + 1, len(lines)) if re.match(rf"^#{{1,{level}}} ", lines[j])), len(lines))
            return "\n".join(lines[i:end])
    raise AssertionError(f"no heading with anchor #{anchor}")


def test_results_keep_the_quality_numbers():
    quality = re.findall(r"^\| (?:epoch|test BCE) \|.*$", RESULTS, re.M)
    assert quality == ["| epoch | 1 | 5 | 10 | 20 | 21 | 26 | 39 |",
                       "| test BCE | 0.1448 | 0.1135 | 0.1047 | **0.0980** | 0.0970 | 0.0960 | 0.0933 |"]
    reference = section_text(RESULTS, "the-reference-autoencoder")
    for number in ("0.09696", "0.123", "0.1010, 0.1044, 0.1040 and 0.1052", "0.0987, 0.0987, 0.0963 and 0.0989"):
        assert number in reference
    assert "0.00964" in section_text(RESULTS, "the-keras-basic-model")


def test_both_readmes_list_every_lesson_with_its_colab_badge():
    # Both READMEs' tables open the English notebooks; lessons/README.ja.md lists the Japanese edition.
    url, ref = build.settings(ROOT)
    for text in (README, README_JA):
        numbers = sorted({py.name[:2] for py in build.lessons(ROOT, "en")})
        assert re.findall(r"^\| (\d\d) \|", text, re.M) == numbers, "the lessons table must list every lesson once"
        # lessons/build.py rewrites only lessons/README.md's badges: after changing setup.cfg, update these too.
        assert build.rewrite_index(text, url, ref) == text, "a README badge disagrees with setup.cfg"
        for py in build.lessons(ROOT, "en"):
            notebook = py.with_suffix(".ipynb").relative_to(ROOT).as_posix()
            assert build.badge(url, ref, notebook) in text, f"no Colab badge for {notebook}"
            assert f"]({notebook})" in text, f"no link to {notebook}"


def slug(heading):
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path):
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.*)$", text, re.M)}


def relative_links(path):
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", "", text)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not re.match(r"^[a-z]+:", target):
            yield target


def test_slug_follows_github():
    assert slug("Measurements behind the defaults") == "measurements-behind-the-defaults"
    assert slug("scratchae.anomaly") == "scratchaeanomaly"
    assert slug("`im2col` by one take") == "im2col-by-one-take"
    assert slug("30 秒でわかる scratchae") == "30-秒でわかる-scratchae"


@pytest.mark.parametrize("path", LINKED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_points_to_an_existing_file_and_heading(path):
    broken = []
    for target in relative_links(path):
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(target)
    assert not broken, f"{path.relative_to(ROOT)}: broken links {broken}"


def test_the_link_check_sees_links():
    assert "docs/results.md#the-reference-autoencoder" in set(relative_links(ROOT / "README.md"))
    assert "commands.md#scratchaeanomaly" in set(relative_links(ROOT / "docs" / "results.md"))


DEFAULTS_ANCHORS = ["output-bias-from-the-mean-image", "vae-weight-gain", "conv2d-initialisation", "conv2d-by-output",
                    "im2col-by-one-take", "relu-float-mask", "backward-stops-at-the-first-weighted-layer",
                    "anomaly-defaults", "noise-drawn-in-float32"]


def test_the_measurements_behind_the_defaults_have_stable_headings():
    section = section_text(RESULTS, "measurements-behind-the-defaults")
    assert [slug(h) for h in re.findall(r"^### (.*)$", section, re.M)] == DEFAULTS_ANCHORS
    for number in ("0.0963-0.0989", "105.59", "106.99", "0.2610", "22 ms", "1.9x", "27 us", "1.4 ms", "73.9"):
        assert number in section


def test_docstring_links_to_results_point_to_headings():
    have = anchors(ROOT / "docs" / "results.md")
    for py in sorted((ROOT / "scratchae").glob("*.py")):
        for anchor in re.findall(r"docs/results\.md#([\w-]+)", py.read_text(encoding="utf-8")):
            assert anchor in have, f"{py.name} links to docs/results.md#{anchor}, which is no heading there"


def parser_flags(*modules):
    """The long options of the first of ``modules`` that has a build_parser (module names change in restructures)."""
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "build_parser"):
            return {opt for action in module.build_parser()._actions for opt in action.option_strings
                    if opt.startswith("--") and opt != "--help"}
    raise AssertionError(f"none of {modules} has build_parser")


@pytest.mark.parametrize("command, modules", [
    ("scratchae.train", ["scratchae.train"]),
    ("scratchae.anomaly", ["scratchae.anomaly"]),
    ("scratchae.download", ["scratchae.download"]),
    ("scratchae.features", ["scratchae.features"]),
])
def test_commands_doc_lists_every_flag(command, modules):
    section = section_text(COMMANDS, slug(command))
    missing = [flag for flag in sorted(parser_flags(*modules)) if not re.search(re.escape(flag) + r"\b", section)]
    assert not missing, f"docs/commands.md's {command} section does not mention {missing}"


def test_a_japanese_reader_finds_the_japanese_edition():
    # README.ja.md is where a Japanese reader starts: it links the Japanese lessons' index and the glossary.
    assert "](lessons/README.ja.md)" in README_JA and "](lessons/ja/GLOSSARY.md)" in README_JA
    assert "](README.ja.md)" in (ROOT / "lessons" / "README.md").read_text(encoding="utf-8")
