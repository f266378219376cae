"""python -m scratchae.grade SUBMISSION... --out DIR: grade lesson 05 notebooks and hand-in archives.

Writes DIR/grades.csv (a row per submission, a column per check, total, max), DIR/feedback/<name>.md in the
notebook's language (or --lang), DIR/results/<name>.json (Gradescope's format) and DIR/logs/<name>.log (what the
notebook printed, for the teacher; never read by the grader). All files are written at the end, atomically.
Exit 0 when every submission was graded (whatever its marks), 2 for a usage error, 1 when the grader itself
failed on a submission (a bug here, named in that submission's feedback; the others are graded).

Why not nbgrader or otter-grader (we read both before writing this): each grades by running tests in the
notebook's own kernel, the process the student's code runs in, so a submission that patches NumPy or the test
helpers passes them. nbgrader marks cells in their metadata ({"nbgrader": {"grade", "grade_id", "points",
"solution", "locked", "checksum"}}) and keeps a gradebook database; it does not run on Colab (nbgrader #1273) and
its hidden tests leak through feedback (#1363). otter's assignment format puts tests beside the notebook, which
Colab lacks (#630, #901), and isolates only inside Docker or Gradescope. Neither serves a grader that runs the
student's code apart from the checks, offline, so neither is a dependency. We kept the one format a course needs
from them: results.json in Gradescope's autograder layout, as otter's GradingResults.to_gradescope_dict writes it
("tests" with "name", "score", "max_score", "status", "output", "visibility"), so Gradescope can take our grades.
"""
import json
import pathlib
import shutil
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Parser, UsageError, atomic_write_csv, atomic_write_json, positive, \
    prepare_out, report as say
from ..serialize import atomic_write
from . import checks, mistakes, probes, sandbox, submission
from . import report as write
from .compare import Result

PROG = "python -m scratchae.grade"
RAW_LIMIT_BYTES = 256 << 20  # the probes' outputs take about 10 MB


def parse_args(argv):
    parser = Parser(prog=PROG, description="Grade lesson 05 notebooks and hand-in archives.")
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="a lesson 05 .ipynb or a hand-in .zip")
    parser.add_argument("--out", required=True, help="folder for grades.csv, feedback/, results/ and logs/")
    parser.add_argument("--lang", choices=("en", "ja"), help="feedback language (default: the notebook's)")
    parser.add_argument("--timeout", type=positive(float), default=sandbox.DEFAULT_TIMEOUT_S,
                        help=f"seconds per submission (default {sandbox.DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--memory", type=positive(int), default=sandbox.DEFAULT_MEMORY_MB,
                        help=f"memory cap per submission in MB (default {sandbox.DEFAULT_MEMORY_MB}, at most "
                             f"{sandbox.MAX_MEMORY_MB})")
    parser.add_argument("--jobs", type=positive(int), default=1, help="submissions graded at once (default 1)")
    args = parser.parse_args(argv)
    if args.memory > sandbox.MAX_MEMORY_MB:
        raise UsageError(f"--memory {args.memory}: at most {sandbox.MAX_MEMORY_MB} MB")
    for path in args.submissions:
        if not pathlib.Path(path).is_file():
            raise UsageError(f"{path}: no such file; give lesson 05 notebooks (.ipynb) or hand-in archives (.zip)")
        if not path.endswith((".ipynb", ".zip")):
            raise UsageError(f"{path}: not a .ipynb notebook or a .zip hand-in archive")
    return args


def names_for(paths):
    """A file name per submission (its stem), made unique with -2, -3, ... where two share one."""
    seen, names = {}, []
    for path in paths:
        stem = pathlib.Path(path).stem
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return names


def grader_inputs():
    """Every probe input; the training images come from the MNIST files the library reads."""
    from ..data import load

    x_train, _, x_test, _ = load("mnist")
    return probes.make_inputs(x_train, x_test)


def run_child(notebook, inputs, timeout, memory):
    """Run the notebook's cells and the probes in a sandboxed child -> (raw outputs, outcome, log, skipped)."""
    cells, skipped = submission.cells_to_run(notebook)
    folder = pathlib.Path(tempfile.mkdtemp(prefix="scratchae-grade-"))
    try:
        (folder / "cells.json").write_text(json.dumps(cells), encoding="utf-8")
        np.savez(folder / "inputs.npz", **inputs)  # a copy per child: one cannot touch another's inputs
        outcome = sandbox.run_python(["-m", "scratchae.teacher.driver", "cells.json", "inputs.npz", "out.npz"],
                                     folder, folder / "log.txt", timeout_s=timeout, memory_mb=memory)
        log = (folder / "log.txt").read_bytes()
        raw = read_outputs(folder / "out.npz")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return raw, outcome, log, skipped


def read_outputs(path, limit=RAW_LIMIT_BYTES):
    """The child's arrays, key by key: a key that is not a plain array is left out, and an archive that would
    unpack past ``limit`` (a zip bomb) is refused whole. Missing or broken: {} (nothing delivered)."""
    try:
        with zipfile.ZipFile(path) as archive:
            if sum(info.file_size for info in archive.infolist()) > limit:
                return {}
        with np.load(path, allow_pickle=False) as data:
            raw = {}
            for key in data.files:
                try:
                    raw[key] = data[key]
                except (ValueError, OSError, EOFError, zipfile.BadZipFile):
                    pass  # an object array (pickle) or a broken member
            return raw
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return {}


def remarks_for(raw, outcome, skipped, timeout, memory):
    """Notes on how the run went: time limit, a fatal signal, cells that raised, cells skipped."""
    notes = []
    if outcome.timed_out:
        notes.append(("timeout", {"seconds": timeout}))
    elif outcome.returncode < 0:
        notes.append(("signal", {"signal": -outcome.returncode, "memory": memory}))
    errors = raw.get("cell_errors", np.array([], dtype=str))
    notes += [("cell_error", {"text": str(e)}) for e in np.atleast_1d(errors)[:5]]
    if skipped:
        notes.append(("skipped", {"cells": ", ".join(map(str, skipped))}))
    return notes


def handin_rows(archive, lang):
    """The hand-in checks' rows (scratchae.teacher.handin_check, imported only for archives) as Results."""
    from . import handin_check  # only archives need it: it loads the data and the library's models

    try:
        rows = handin_check.check_handin(str(archive), lang)
        return [Result(str(row["name"]), float(row["points"]), float(row["max"]), str(row["status"]),
                       [("text", {"text": str(row["message"])})]) for row in rows]
    except Exception as err:  # a broken archive must not stop the batch, nor escape the hand-in's points
        text = f"the hand-in checks failed on this archive: {type(err).__name__}: {err}"
        return [Result(name, 0.0, float(points), "fail" if points else "warn", [("text", {"text": text})])
                for name, points in handin_check.MAX_POINTS.items()]


def grade_safely(path, inputs, args):
    """grade_one, or zero marks and the grader's own error for this one submission (the batch goes on)."""
    try:
        return grade_one(path, inputs, args)
    except Exception as err:
        results = [Result(name, 0.0, points, "fail") for name, points in checks.RUBRIC]
        return {"lang": args.lang or "en", "results": results, "log": b"", "failed": True,
                "remarks": [("grader_error", {"text": f"{type(err).__name__}: {err}"})]}


def grade_one(path, inputs, args):
    """One submission -> {"lang", "results", "remarks", "log"}; never raises for what the submission does."""
    try:
        notebook, archive = submission.read(path)
    except (submission.SubmissionError, zipfile.BadZipFile, OSError) as err:
        results = [Result(name, 0.0, points, "fail") for name, points in checks.RUBRIC]
        return {"lang": args.lang or "en", "results": results, "log": b"",
                "remarks": [("unreadable", {"text": str(err)})]}
    lang = args.lang or submission.language(notebook)
    raw, outcome, log, skipped = run_child(notebook, inputs, args.timeout, args.memory)
    results = checks.grade(inputs, raw)
    for result in results:
        result.mistakes = mistakes.explain(result, inputs, raw)
    if archive is not None:
        results += handin_rows(archive, lang)
    return {"lang": lang, "results": results, "log": log,
            "remarks": remarks_for(raw, outcome, skipped, args.timeout, args.memory)}


def write_all(out, names, graded):
    """grades.csv, feedback/, results/ and logs/, each file atomically, after every submission is graded."""
    columns = list(dict.fromkeys(r.name for g in graded for r in g["results"]))
    for folder in ("feedback", "results", "logs"):
        (out / folder).mkdir(exist_ok=True)
    for name, g in zip(names, graded):
        text = write.feedback(name, g["results"], g["lang"], g["remarks"])
        atomic_write(out / "feedback" / f"{name}.md", lambda fh, text=text: fh.write(text), "w")
        atomic_write_json(out / "results" / f"{name}.json", write.gradescope(g["results"], g["lang"], g["remarks"]))
        atomic_write(out / "logs" / f"{name}.log", lambda fh, log=g["log"]: fh.write(log), "wb")
    rows = [write.csv_row(name, g["results"], columns) for name, g in zip(names, graded)]
    atomic_write_csv(out / "grades.csv", rows, ["submission", *columns, "total", "max"])


def main(argv=None):
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        out = prepare_out(args.out)
        try:
            inputs = grader_inputs()
        except (OSError, ValueError) as err:
            raise UsageError(f"the grader trains on MNIST and cannot read it ({err})") from None
    except UsageError as err:
        return say(PROG, str(err), EXIT_USAGE)
    names = names_for(args.submissions)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        graded = list(pool.map(lambda path: grade_safely(path, inputs, args), args.submissions))
    write_all(out, names, graded)
    for name, g in zip(names, graded):
        print(f"{name}: {sum(r.points for r in g['results']):g} / {sum(r.max for r in g['results']):g}")
    failed = [name for name, g in zip(names, graded) if g.get("failed")]
    if failed:
        return say(PROG, f"the grader itself failed on {', '.join(failed)}: see their feedback files", EXIT_FAILED)
    return EXIT_OK
