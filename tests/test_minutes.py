"""The minutes the lessons state are the ones lessons/minutes.py computes from lessons/timings.json and the text.

Every figure is recomputed here and compared with the lesson's opening sentence, the indexes' minutes column,
README.ja.md's overall range and the Jupytext header's GPU request (and the notebook's metadata built from it).
After editing a lesson, run `python lessons/minutes.py --write en ja` and `python lessons/build.py`.
"""
import importlib.util
import json
import re

import nbformat
import pytest

from test_lessons import ROOT

_spec = importlib.util.spec_from_file_location("lessons_minutes", ROOT / "lessons" / "minutes.py")
minutes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(minutes)
measure = minutes._measure_module()

TIMINGS = json.loads(minutes.TIMINGS.read_text(encoding="utf-8"))
FIX = "run `python lessons/minutes.py --write {0}` and `python lessons/build.py`"
CASES = [(edition, py) for edition in ("en", "ja") for py in minutes.lessons(edition)]


def test_the_timings_cover_every_lesson_and_say_where_and_when():
    assert {py.stem for py in minutes.lessons("en")} == set(TIMINGS["lessons"])
    for stem, lesson in TIMINGS["lessons"].items():
        assert lesson["date"] and lesson["cpu"] and len(lesson["load_average_before"]) == 3, stem
        for cell in lesson["cells"]:
            assert cell["cpu_seconds"] >= 0 and cell["seconds"] >= 0, (stem, cell)
            assert "scaled_by" not in cell or "full time = seconds x scaled_by" in cell["note"], (stem, cell)


@pytest.mark.parametrize("edition, py", CASES, ids=[f"{e}/{p.stem[:2]}" for e, p in CASES])
def test_the_opening_states_the_computed_minutes_and_the_header_asks_for_a_gpu_where_needed(edition, py):
    estimate = minutes.estimate(py, TIMINGS)
    text = py.read_text(encoding="utf-8")
    head = minutes.opening(text)[0]
    stated = [(int(m.group("lo")), int(m.group("hi"))) for m in minutes.OPENING[edition].finditer(head)]
    assert stated == [estimate["range"]], \
        f"{py.name}: states {stated}, computed {estimate['range']}: " + FIX.format(edition)
    gpu = "#   accelerator: GPU\n#   colab:\n#     gpuType: T4\n" in text
    assert gpu == estimate["gpu"], f"{py.name}: {estimate['cpu_seconds']:.0f} CPU seconds: " + FIX.format(edition)
    metadata = nbformat.read(py.with_suffix(".ipynb"), as_version=4).metadata
    assert (metadata.get("accelerator"), metadata.get("colab")) == (("GPU", {"gpuType": "T4"}) if gpu else (None, None))


@pytest.mark.parametrize("edition", ["en", "ja"])
def test_the_indexes_and_the_readme_state_the_computed_minutes(edition):
    ranges = {py.name[:2]: minutes.estimate(py, TIMINGS)["range"] for py in minutes.lessons(edition)}
    for name in minutes.INDEX[edition]:
        text = (ROOT / name).read_text(encoding="utf-8")
        assert minutes.put_index(text, edition, ranges, name) == text, f"{name}: " + FIX.format(edition)
    if edition in minutes.README_OVERALL:
        name, pattern = minutes.README_OVERALL[edition]
        lo, hi = min(r[0] for r in ranges.values()), max(r[1] for r in ranges.values())
        stated = [(int(m.group("lo")), int(m.group("hi"))) for m in pattern.finditer((ROOT / name).read_text("utf-8"))]
        assert stated == [(lo, hi)], f"{name}: states {stated}, computed {(lo, hi)}: " + FIX.format(edition)


def test_the_sentence_is_found_however_it_is_wrapped_and_only_its_numbers_change():
    en = "# digits. Plan 15 to\n# 25 minutes, exercises included.\n"
    assert minutes.put(minutes.OPENING["en"], en, 40, 70, "x") == en.replace("15", "40").replace("25", "70")
    assert minutes.put(minutes.OPENING["en"], "Plan on 5-10 minutes.", 20, 30, "x") == "Plan on 20-30 minutes."
    ja = "# 時間は、演習を含めて 15〜25 分を見てください。"
    assert minutes.put(minutes.OPENING["ja"], ja, 40, 70, "x") == "# 時間は、演習を含めて 40〜70 分を見てください。"
    ja = "# 演習を含めて 40〜60 分ほどかかります。"
    assert minutes.put(minutes.OPENING["ja"], ja, 45, 75, "x") == "# 演習を含めて 45〜75 分ほどかかります。"
    assert minutes.opening("# %% [markdown]\n# Plan 1-2 minutes\n\n# %%\nx = 1\n")[1] == "\n# %%\nx = 1\n"
    for text in ("no sentence here", en + en):
        with pytest.raises(SystemExit, match="minutes sentences"):
            minutes.put(minutes.OPENING["en"], text, 1, 2, "x")


def test_reading_time_follows_the_stated_rates():
    low, high = minutes.reading_minutes("word " * 200 + "字" * 313)
    assert low == pytest.approx(2.0) and high == pytest.approx(200 / 138 + 313 / minutes.CHARS_PER_MINUTE[1])
    assert minutes.CHARS_PER_MINUTE == (313, 216)


def test_exercises_are_counted_as_stubs_and_questions(tmp_path):
    lesson = tmp_path / "lesson.py"
    lesson.write_text("# %% [markdown]\n# ## Try it\n#\n# 1. Write it.\n\n# %%\nraise NotImplementedError\n\n"
                      "# %% [markdown]\n# <details><summary>Solution</summary>\n#\n# 1. not an item\n#\n# </details>\n"
                      "#\n# 2. Why?\n#\n# 3. And why not?\n", encoding="utf-8")
    assert minutes.exercises(lesson) == (1, 2)


def test_the_index_column_and_the_header_are_rewritten_in_place():
    table = ("| # | lesson | what | minutes | open |\n| --- | --- | --- | --- | --- |\n"
             "| 00 | [A](en/00_a.ipynb) | x | 15-25 | badge |\n")
    assert "| 00 | [A](en/00_a.ipynb) | x | 40-70 | badge |" in minutes.put_index(table, "en", {"00": (40, 70)}, "x")
    header = "# ---\n# jupyter:\n#   kernelspec:\n#     name: python3\n# ---\n"
    gpu = minutes.put_header(header, True)
    assert "#   accelerator: GPU\n#   colab:\n#     gpuType: T4\n#   kernelspec:" in gpu
    assert minutes.put_header(gpu, True) == gpu and minutes.put_header(gpu, False) == header


def test_measuring_cuts_the_switched_epochs_and_scales_the_cells_that_run_them():
    sources = ["N, EPOCHS = (10, 2) if QUICK else (100, 20)\nprint(N)",
               "def fit(epochs=EPOCHS):\n    return epochs",
               "for epoch in range(EPOCHS):\n    pass",
               "model = fit()",
               "x = 1  # EPOCHSLIKE is another name"]
    names = measure.epoch_names(sources)
    assert names == {"EPOCHS"}
    cut = measure.cut_epochs(sources[0], names, 1)
    assert cut == sources[0].replace("\n", '\n__measure__["EPOCHS"] = EPOCHS; EPOCHS = min(EPOCHS, 1)\n')
    scope = {"QUICK": False, "__measure__": {}, "print": lambda *a: None}
    exec(cut, scope)
    assert (scope["EPOCHS"], scope["N"], scope["__measure__"]) == (1, 100, {"EPOCHS": 20})
    # the line that sets the count is no use of it; a loop over it, a default and a call through it are
    assert measure.users(sources, names) == [[], ["EPOCHS"], ["EPOCHS"], ["EPOCHS"], []]
