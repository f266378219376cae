"""The README's promises: its example runs, and its commands are the ones CI and users run."""
import pathlib
import re

README = (pathlib.Path(__file__).parent.parent / "README.md").read_text()


def test_thirty_second_example_runs(capsys):
    code = re.search(r"## Thirty seconds of scratchae\n\n```python\n(.*?)```", README, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert 0.6 < float(printed[0]) < 0.9  # BCE of an untrained model on uniform noise is about log 2
    assert "rel error" in printed[1]


def test_readme_names_the_main_job_and_the_test_command():
    assert "python3 -m pip install -e . && python3 -m scratchae.train" in README
    assert 'python3 -m pip install -e ".[test]" && python3 -m pytest' in README
