"""Each lesson's minutes, computed from what it contains, and written where the lessons state them.

minutes = reading + working + exercises + running, as a range (low, high), each end rounded to 5 minutes (the
low end down, the high end up):

- Reading: the lesson's words and characters (markdown, code and comments; not the setup cell, the badge or
  links) at a study pace. English: 200 words per minute (low) to 138 (high), Carver's "learning" and
  "memorizing" gears (R. P. Carver, Reading Rate: A Review of Research and Theory, Academic Press 1990). Japanese
  characters: the same two gears times 357 / 228, the ratio of Japanese characters to English words read per
  minute in the same texts (IReST: Trauzettel-Klosinski & Dietz, Investigative Ophthalmology & Visual Science
  53(9), 2012: 357 characters and 228 words per minute), so 313 to 216 characters per minute. Latin words in a
  Japanese lesson (code, formulas) count at the English rate.
- Working: 2 to 4 minutes for each displayed formula ($$ ... $$, a derivation to follow line by line) and
  0.5 to 1 minute for each code cell (run it, read what it prints or draws), the setup cell aside. These and the
  exercise times below are this course's stated allowances, not published rates.
- Exercises: each "Try it" item that has a stub to fill in (a cell with ``raise NotImplementedError``) counts
  12 to 20 minutes, each one answered in words 5 to 10 minutes: read the task, write a few lines, run them,
  then compare with the folded solution.
- Running: every code cell's CPU seconds at full settings, measured on this repository's machine and stored in
  lessons/timings.json (``--measure``; lessons/measure.py says how, with the load average). A Colab T4 is taken
  as T4_SPEEDUP times faster: an estimate, not a measurement (docs/results.md: 6 to 9 s per epoch of the
  reference model on the idle CPU, 1 to 3 s estimated on a T4). A lesson whose cells need more than
  GPU_AFTER_SECONDS of CPU gets ``accelerator: GPU`` (Colab: T4) in its Jupytext header, and so does lesson 08,
  which times the GPU.

``python lessons/minutes.py --write en`` writes the ranges into the English lessons' opening sentence ("Plan on
X-Y minutes, ..."), lessons/README.md and README.md; ``--write ja`` into the Japanese lessons (「時間は…X〜Y 分…」),
lessons/README.ja.md and README.ja.md's overall figure. ``--measure`` runs the lessons and rewrites timings.json.
tests/test_minutes.py recomputes every figure from timings.json and the lesson text and compares.
"""
import argparse
import importlib.util
import json
import math
import pathlib
import re
import sys

import jupytext

ROOT = pathlib.Path(__file__).resolve().parent.parent
TIMINGS = ROOT / "lessons" / "timings.json"
WORDS_PER_MINUTE = (200, 138)  # Carver's learning and memorizing gears: the low and the high estimate
CHARS_PER_MINUTE = tuple(round(w * 357 / 228) for w in WORDS_PER_MINUTE)  # IReST's Japanese/English ratio
EXERCISE_MINUTES = {"stub": (12, 20), "question": (5, 10)}
FORMULA_MINUTES, CELL_MINUTES = (2, 4), (0.5, 1)  # per displayed formula, per code cell run and read
T4_SPEEDUP = 3  # an estimate (see the docstring): CPU seconds / 3
GPU_AFTER_SECONDS = 60  # more CPU than this in one lesson: ask Colab for a T4
GPU_LESSONS = {"08"}  # lesson 08 times the GPU itself, however short its cells are
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z0-9]+(?:['’.-][A-Za-z0-9]+)*")
TRY_IT = re.compile(r"^## (Try it|やってみよう)\s*$", re.M)
# The opening's sentence, whatever its wrapping: "Plan 15 to 25 minutes" or "Plan on 15-25 minutes", and
# 「時間は、演習を含めて 15〜25 分を見てください。」 or 「演習を含めて 40〜60 分ほどかかります。」; it is looked for
# before the first code cell only, and only its two numbers are replaced.
GAP = r"(?:\s|#)+"
OPENING = {"en": re.compile(rf"Plan{GAP}(?:on{GAP})?(?P<lo>\d+)(?P<mid>{GAP}to{GAP}|-)(?P<hi>\d+){GAP}minutes"),
           "ja": re.compile(r"(?:時間は|演習を含めて)[^。\n]*?(?P<lo>\d+)(?P<mid>\s*[〜～~-]\s*)(?P<hi>\d+)\s*分")}
INDEX = {"en": ["lessons/README.md", "README.md"], "ja": ["lessons/README.ja.md"]}
README_OVERALL = {"ja": ("README.ja.md", re.compile(r"(?P<lo>\d+)(?P<mid>〜)(?P<hi>\d+) 分ほど"))}


def lessons(edition):
    return sorted((ROOT / "lessons" / edition).glob("[0-9][0-9]_*.py"))


def reading_text(py):
    """What a reader reads in lesson ``py``: markdown and code, without the setup cell, badges and link targets."""
    cells = jupytext.read(py).cells
    setup = next(i for i, c in enumerate(cells) if c.cell_type == "code")
    text = "\n".join(c.source for i, c in enumerate(cells) if i != setup)
    text = re.sub(r"\[!\[[^\]]*\]\([^)]*\)\]\([^)]*\)", " ", text)  # the Colab badge
    return re.sub(r"\]\([^)]*\)|https?://\S+|</?\w+[^>]*>", " ", text)  # link targets, bare URLs, HTML tags


def reading_minutes(text):
    """(low, high) minutes to read ``text``: Japanese characters and Latin words at the study rates above."""
    chars, words = len(JAPANESE.findall(text)), len(LATIN_WORD.findall(text))
    return tuple(chars / c + words / w for c, w in zip(CHARS_PER_MINUTE, WORDS_PER_MINUTE))


def working(py):
    """(displayed formulas, code cells but the setup cell) of lesson ``py``."""
    cells = jupytext.read(py).cells
    markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    return len(re.findall(r"\$\$.+?\$\$", markdown, re.S)), sum(c.cell_type == "code" for c in cells) - 1


def exercises(py):
    """(stubs, questions): the "Try it" items of lesson ``py`` with a stub to fill in, and those answered in words."""
    cells = jupytext.read(py).cells
    start = next((i for i, c in enumerate(cells) if c.cell_type == "markdown" and TRY_IT.search(c.source)), None)
    if start is None:
        raise SystemExit(f"{py.relative_to(ROOT)}: no '## Try it' (or '## やってみよう') heading")
    after = cells[start:]
    first = TRY_IT.search(after[0].source).end()
    markdown = [after[0].source[first:]] + [c.source for c in after[1:] if c.cell_type == "markdown"]
    folded = [re.sub(r"<details>.*?</details>", "", m, flags=re.S) for m in markdown]
    items = sum(len(re.findall(r"^\d+\. ", m, re.M)) for m in folded)
    stubs = sum("raise NotImplementedError" in c.source for c in after if c.cell_type == "code")
    return stubs, items - stubs


def run_seconds(timings, py):
    """(CPU seconds measured, T4 seconds estimated) of lesson ``py``'s cells at full settings."""
    record = timings["lessons"].get(py.stem)
    if record is None:
        raise SystemExit(f"lessons/timings.json has no {py.stem}: run `python lessons/minutes.py --measure --only "
                         f"{py.stem[:2]}`")
    cpu = sum(c["cpu_seconds"] * c.get("scaled_by", 1) for c in record["cells"])
    return cpu, cpu / T4_SPEEDUP


def estimate(py, timings):
    """Lesson ``py``'s minutes: the range and its parts (reading, exercises, running)."""
    read = reading_minutes(reading_text(py))
    stubs, questions = exercises(py)
    work = [stubs * s + questions * q for s, q in zip(EXERCISE_MINUTES["stub"], EXERCISE_MINUTES["question"])]
    formulas, code = working(py)
    follow = [formulas * f + code * c for f, c in zip(FORMULA_MINUTES, CELL_MINUTES)]
    cpu, t4 = run_seconds(timings, py)
    low = math.floor((read[0] + follow[0] + work[0] + t4 / 60) / 5) * 5
    high = math.ceil((read[1] + follow[1] + work[1] + t4 / 60) / 5) * 5
    return {"range": (max(low, 5), high), "reading": read, "working": follow, "formulas": formulas, "cells": code,
            "stubs": stubs, "questions": questions,
            "cpu_seconds": cpu, "t4_seconds": t4, "gpu": cpu > GPU_AFTER_SECONDS or py.name[:2] in GPU_LESSONS}


def opening(text):
    """A lesson's text split before its first code cell: (the header and the opening cells, the rest)."""
    at = text.find("\n# %%\n")
    return (text, "") if at < 0 else (text[:at], text[at:])


def put(pattern, text, lo, hi, where):
    """``text`` with the one match of ``pattern`` given the numbers lo and hi (its wording and wrapping kept)."""
    found = list(pattern.finditer(text))
    if len(found) != 1:
        raise SystemExit(f"{where}: found {len(found)} minutes sentences, need exactly one ({pattern.pattern[:40]}…)")
    m = found[0]
    return text[:m.start("lo")] + str(lo) + m.group("mid") + str(hi) + text[m.end("hi"):]


def put_header(text, gpu):
    """A lesson's text with ``accelerator: GPU`` and Colab's T4 in its Jupytext header, or without both."""
    block = "#   accelerator: GPU\n#   colab:\n#     gpuType: T4\n"
    text = text.replace(block, "")
    return text.replace("#   kernelspec:\n", block + "#   kernelspec:\n", 1) if gpu else text


def put_index(text, edition, ranges, where):
    """An index's table with the minutes column (the 4th, or the one headed minutes/時間) set from ``ranges``."""
    lines = text.splitlines(keepends=True)
    header = next((i for i, l in enumerate(lines) if l.startswith("| #") or l.startswith("| 番号")), None)
    if header is None:
        raise SystemExit(f"{where}: no lesson table")
    names = [c.strip() for c in lines[header].strip().strip("|").split("|")]
    column = next((k for k, n in enumerate(names) if n.startswith(("minutes", "時間"))), None)
    if column is None:
        return text  # this index has no minutes column
    row = re.compile(rf"^\| (\d\d) \| .*\]\((?:lessons/)?{edition}/\d\d_\w+\.ipynb\)")
    for i, line in enumerate(lines):
        m = row.match(line)
        if m and m.group(1) in ranges:
            cells = line.split(" | ")  # "| 00", "[title](...)", ..., "badge |\n": inner cells stand alone
            if not 0 < column < len(cells) - 1:
                raise SystemExit(f"{where}: the minutes column must not be the table's first or last")
            cells[column] = "{}-{}".format(*ranges[m.group(1)])
            lines[i] = " | ".join(cells)
    return "".join(lines)


def write(edition, timings):
    """Write every computed figure of ``edition`` into its lessons, indexes and README; returns the estimates."""
    estimates = {py.name[:2]: estimate(py, timings) for py in lessons(edition)}
    ranges = {n: e["range"] for n, e in estimates.items()}
    files = {}  # every new text first, so that a lesson without its sentence leaves all files as they were
    for py in lessons(edition):
        e = estimates[py.name[:2]]
        head, code = opening(py.read_text(encoding="utf-8"))
        files[py] = put_header(put(OPENING[edition], head, *e["range"], py.relative_to(ROOT)) + code, e["gpu"])
    for name in INDEX[edition]:
        files[ROOT / name] = put_index((ROOT / name).read_text(encoding="utf-8"), edition, ranges, name)
    if edition in README_OVERALL:
        name, pattern = README_OVERALL[edition]
        lo, hi = min(r[0] for r in ranges.values()), max(r[1] for r in ranges.values())
        files[ROOT / name] = put(pattern, (ROOT / name).read_text(encoding="utf-8"), lo, hi, name)
    for path, text in files.items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return estimates


ABOUT = ("Each English lesson's code cells at full settings (the Japanese twins run the same code), from `python "
         "lessons/minutes.py --measure`: seconds = wall time under the load average given (a shared machine), "
         "cpu_seconds = the kernel's CPU time with one BLAS thread. A cell with scaled_by ran fewer epochs; its full "
         "time is taken as its time x scaled_by (lessons/measure.py). No GPU was measured: the T4 minutes in "
         "lessons/minutes.py are an estimate.")


def _measure_module():
    spec = importlib.util.spec_from_file_location("measure", pathlib.Path(__file__).with_name("measure.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(only, epochs):
    """Run the English lessons at full settings one at a time and store each one's cells in timings.json."""
    from scratchae.cli import atomic_write_json
    measure = _measure_module()
    record = json.loads(TIMINGS.read_text(encoding="utf-8")) if TIMINGS.exists() else {"lessons": {}}
    record["about"] = ABOUT
    for py in lessons("en"):
        if only and py.name[:2] not in only:
            continue
        before = measure.load_average()
        lesson = measure.measure_lesson(py, epochs)
        lesson.update(measure.machine(), load_average_before=before, load_average_after=measure.load_average())
        record["lessons"][py.stem] = lesson
        atomic_write_json(TIMINGS, record)
        print(f"{py.stem}: {lesson['wall_seconds']} s, load {before} -> {lesson['load_average_after']}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="lessons/minutes.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", nargs="+", choices=["en", "ja"], default=[], help="editions to write into")
    parser.add_argument("--measure", action="store_true", help="run the lessons and rewrite lessons/timings.json")
    parser.add_argument("--only", nargs="+", metavar="NN", help="with --measure: only these lessons (e.g. 04 13)")
    parser.add_argument("--epochs", type=int, default=1, help="with --measure: the epochs run where quick mode "
                        "switches them")
    args = parser.parse_args(argv)
    if args.measure:
        measure(args.only, args.epochs)
        if not args.write:
            return 0
    if not TIMINGS.exists():
        parser.error("lessons/timings.json is missing: run with --measure first")
    timings = json.loads(TIMINGS.read_text(encoding="utf-8"))
    for edition in args.write or ["en"]:
        if args.write:
            estimates = write(edition, timings)
        else:
            estimates = {py.name[:2]: estimate(py, timings) for py in lessons(edition)}
        for n, e in estimates.items():
            print(f"{edition} {n}: {e['range'][0]}-{e['range'][1]} min, reading "
                  f"{e['reading'][0]:.0f}-{e['reading'][1]:.0f}, {e['formulas']} formulas and {e['cells']} cells "
                  f"{e['working'][0]:.0f}-{e['working'][1]:.0f}"
                  f", {e['stubs']} stubs + {e['questions']} questions, CPU {e['cpu_seconds'] / 60:.1f} min, "
                  f"T4 {e['t4_seconds'] / 60:.1f} min (estimate){', GPU' if e['gpu'] else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
