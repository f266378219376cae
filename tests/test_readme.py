"""The README's promises: its example runs, its commands are the ones CI and users run, and the Japanese README
gives the same commands and numbers."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
README_JA = (ROOT / "README.ja.md").read_text()


def test_thirty_second_example_runs(capsys):
    code = re.search(r"## Thirty seconds of scratchae\n\n```python\n(.*?)```", README, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert 0.6 < float(printed[0]) < 0.9  # BCE of an untrained model on uniform noise is about log 2
    assert "rel error" in printed[1]


def test_readme_names_the_main_job_and_the_test_command():
    assert "python3 -m pip install -e . && python3 -m scratchae.train" in README
    assert 'python3 -m pip install -e ".[test]" && python3 -m pytest' in README


def command_after(marker, text):
    """The first line after ``<!-- marker -->`` that is not a code fence, as .ci/run reads it."""
    lines = text.splitlines()
    return next(line for line in lines[lines.index(f"<!-- {marker} -->") + 1:] if not line.startswith("```"))


@pytest.mark.parametrize("marker", ["main-command", "test-command"])
def test_both_readmes_give_the_same_commands(marker):
    assert command_after(marker, README) == command_after(marker, README_JA)
    assert command_after(marker, README).startswith("python3 -m pip install -e ")


def test_japanese_readme_has_the_quality_numbers_and_every_lesson():
    def quality_rows(text):
        return re.findall(r"^\| (?:epoch|test BCE) \|.*$", text, re.M)

    assert len(quality_rows(README)) == 2 and quality_rows(README_JA) == quality_rows(README)
    for number in ("0.09696", "0.123", "0.00964"):
        assert number in README and number in README_JA
    assert re.findall(r"^\| (\d\d) \|", README_JA, re.M) == [f"{n:02d}" for n in range(1, 13)]
    assert "(lessons/README.md)" in README_JA
