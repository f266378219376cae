"""python -m scratchae.grade: full marks for the correct lesson 05 in both languages, zero for the stubs, the
hand-in rows wired in, the files it writes, its usage errors; and the parent's computations against independent
ones (Algorithm 1 against the library's Adam, the parameter count, the training bound)."""
import csv
import json
import subprocess
import sys
import types
import zipfile

import numpy as np
import pytest

import scratchae as sa
import scratchae.teacher
from scratchae.data import load
from scratchae.teacher import checks, grade, model_checks, probes, submission
from scratchae.teacher.report import NOTES

from grade_notebooks import lesson, pasted, save, student_edition, stubbed

CLASS_CHECKS = [name for name, _ in checks.RUBRIC if not name.startswith("model.")]
HANDIN = [("handin.architecture", 5.0, "pass"), ("handin.metrics", 10.0, "pass"), ("handin.provenance", 5.0, "fail"),
          ("handin.range", 0.0, "warn")]


def archive(path, notebook):
    """A hand-in archive as the hand-in command makes it: handin.json at the top naming the notebook."""
    manifest = {"format": 1, "notebook": "lesson05.ipynb", "run": "run/", "lang": "en", "files": {}}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("handin.json", json.dumps(manifest))
        zf.writestr("lesson05.ipynb", json.dumps(notebook))
        zf.writestr("run/metrics.csv", "epoch,test\n1,0.1\n")
    return path


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """One run of the command over the correct notebooks (en, ja), the untouched student edition (en, ja) and an
    archive."""
    folder = tmp_path_factory.mktemp("grade")
    calls = []

    def check_handin(archive_path, lang):
        calls.append((archive_path, lang))
        return [{"name": n, "points": p if s == "pass" else 0.0, "max": p, "status": s, "message": f"{n} says {lang}"}
                for n, p, s in HANDIN]

    fake = types.ModuleType("scratchae.teacher.handin_check")
    fake.check_handin = check_handin
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "scratchae.teacher.handin_check", fake)
        mp.setattr(scratchae.teacher, "handin_check", fake, raising=False)
        paths = [save(lesson("en"), folder / "alice.ipynb"), save(lesson("ja"), folder / "bob.ipynb"),
                 save(student_edition("en"), folder / "untouched.ipynb"),
                 save(student_edition("ja"), folder / "untouched_ja.ipynb"),
                 save(pasted(student_edition("ja"), "ja"), folder / "dan.ipynb"),
                 archive(folder / "carol.zip", lesson())]
        code = grade.main([*map(str, paths), "--out", str(folder / "out"), "--jobs", "2"])
    with open(folder / "out" / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {"code": code, "rows": {r["submission"]: r for r in rows}, "header": list(rows[0]),
            "out": folder / "out", "calls": calls, "archive": str(paths[-1])}


def test_exit_code_and_columns(batch):
    assert batch["code"] == 0
    assert batch["header"] == ["submission", *[n for n, _ in checks.RUBRIC], *[n for n, _, _ in HANDIN], "total", "max"]
    for row in batch["rows"].values():  # every total is its row's sum, every max the rubric's (and the hand-in's)
        earned = [float(row[n]) for n in batch["header"][1:-2] if row[n] != ""]
        assert float(row["total"]) == sum(earned)
        has_handin = row["handin.metrics"] != ""
        assert float(row["max"]) == 100 + 20 * has_handin


@pytest.mark.parametrize("name", ["alice", "bob", "dan"])
def test_the_correct_lesson_gets_full_marks_in_either_language_and_edition(batch, name):
    row = batch["rows"][name]
    assert [row[n] for n, _ in checks.RUBRIC] == [f"{p:g}" for _, p in checks.RUBRIC]
    assert row["total"] == row["max"] == "100" and row["handin.metrics"] == ""


def test_feedback_is_in_the_notebooks_language(batch):
    en = (batch["out"] / "feedback" / "alice.md").read_text(encoding="utf-8")
    ja = (batch["out"] / "feedback" / "bob.md").read_text(encoding="utf-8")
    assert en.startswith("# Grade for alice: 100 / 100") and ja.startswith("# bob の採点結果: 100 / 100")


@pytest.mark.parametrize("name, heading", [("untouched", "# Grade for"), ("untouched_ja", "# untouched_ja の採点結果")])
def test_the_untouched_student_edition_gets_zero_without_crashing(batch, name, heading):
    row = batch["rows"][name]
    assert all(row[n] == "0" for n, _ in checks.RUBRIC) and row["total"] == "0"
    feedback = (batch["out"] / "feedback" / f"{name}.md").read_text(encoding="utf-8")
    assert feedback.startswith(heading) and "NotImplementedError" in feedback


def test_an_archive_is_graded_as_its_notebook_plus_the_handin_rows(batch):
    row = batch["rows"]["carol"]
    assert batch["calls"] == [(batch["archive"], "en")]
    assert [row[n] for n, _, _ in HANDIN] == ["5", "10", "0", "0"]
    assert row["total"] == "115" and row["max"] == "120"
    result = json.loads((batch["out"] / "results" / "carol.json").read_text(encoding="utf-8"))
    by_name = {t["name"]: t for t in result["tests"]}
    assert by_name["handin.provenance"]["status"] == "failed" and by_name["handin.range"]["output"] == \
        "handin.range says en"


def test_results_json_is_gradescopes_format(batch):
    result = json.loads((batch["out"] / "results" / "untouched.json").read_text(encoding="utf-8"))
    assert set(result) == {"score", "output", "tests"} and result["score"] == 0
    assert [t["name"] for t in result["tests"]] == [n for n, _ in checks.RUBRIC]
    for test in result["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] == "failed" and test["output"]
    full = json.loads((batch["out"] / "results" / "alice.json").read_text(encoding="utf-8"))
    assert full["score"] == sum(t["score"] for t in full["tests"]) == 100
    assert {t["status"] for t in full["tests"]} == {"passed"}


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required"),
    (["missing.ipynb", "--out", "o"], "missing.ipynb: no such file"),
    (["setup.cfg", "--out", "o"], "not a .ipynb notebook or a .zip"),
    (["setup.cfg", "--out", "o", "--memory", "5000"], "--memory 5000: at most 4096 MB"),
    (["setup.cfg", "--out", "o", "--timeout", "0"], "must be > 0"),
    (["setup.cfg", "--out", "o", "--lang", "fr"], "invalid choice: 'fr'")])
def test_usage_errors_are_one_line_and_exit_2(capsys, argv, message):
    assert grade.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m scratchae.grade: error: ") and message in err


def test_the_command_exits_2_without_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "scratchae.grade", "nothing.ipynb", "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_adam_reference_is_the_librarys_adam():
    """Algorithm 1 as written in checks.py against scratchae.optim.Adam (the folded form) on the same steps."""
    rng = np.random.default_rng(0)
    p, grads = rng.standard_normal((4, 3)), rng.standard_normal((5, 4, 3))
    layer = types.SimpleNamespace(params={"W": p.copy()}, grads={"W": np.zeros_like(p)})
    model = types.SimpleNamespace(named_params=lambda: iter([("W", layer.params["W"], layer.grads["W"])]))
    adam, seen = sa.Adam(model, lr=3e-3), []
    for g in grads:
        layer.grads["W"][...] = g
        adam.step()
        seen.append(layer.params["W"].copy())
    assert sa.rel_error(np.stack(seen) - p, model_checks.adam_reference(p, grads, 3e-3) - p) < 1e-12


def test_the_assignments_parameter_count():
    kinds, shapes, count = model_checks.expected_architecture(probes.DIMS)
    widths = list(probes.DIMS) + list(probes.DIMS[-2::-1])
    assert count == sum(a * b + b for a, b in zip(widths[:-1], widths[1:])) == 491_248
    assert kinds == ["encoder:Dense", "encoder:ReLU"] * 5 + ["decoder:Dense", "decoder:ReLU"] * 4 + \
        ["decoder:Dense", "decoder:Sigmoid"]


def test_numerical_gradient_of_a_known_function():
    """f(x) = x^3 elementwise: d(sum(f * dout))/dx = 3 x^2 dout."""
    rng = np.random.default_rng(1)
    x, dout = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    numeric = checks.numeric_from_outputs(probes.perturbed(x) ** 3, dout, x.shape, probes.H)
    assert sa.rel_error(numeric, 3 * x**2 * dout) < 1e-9


def test_nothing_delivered_grades_zero_and_says_so():
    inputs = probes.make_inputs(np.zeros((probes.N_TRAIN, 784)), np.zeros((probes.N_EVAL, 784)))
    results = checks.grade(inputs, {})
    assert [r.points for r in results] == [0.0] * len(checks.RUBRIC)
    assert all(r.notes[0][0] == "missing" and "not delivered" in r.notes[0][1]["why"] for r in results)


def test_a_wrong_shape_or_nan_is_not_taken(monkeypatch):
    raw = {"relu.out": np.zeros((5, 6)), "sigmoid.out": np.full((6, 5), np.nan)}
    with pytest.raises(checks.Missing, match="shape"):
        checks.need(raw, "relu.out", (6, 5))
    with pytest.raises(checks.Missing, match="nan"):
        checks.need(raw, "sigmoid.out", (6, 5))


def test_the_training_bound_is_met_by_the_library_and_not_by_the_start():
    """The library's model, trained exactly as the probe trains the student's, ends well below TRAIN_BOUND."""
    x_train, _, x_test, _ = load("mnist")
    inputs = probes.training_inputs(x_train, x_test)
    model = sa.dense_autoencoder(probes.DIMS, rng=0)
    loss, opt = sa.BCE(), sa.Adam(model, lr=probes.TRAIN_LR)
    start = float(loss.forward(model.forward(inputs["train.eval"]), inputs["train.eval"]))
    for rows in inputs["train.order"]:
        xb = inputs["train.x"][rows]
        loss.forward(model.forward(xb), xb)
        model.backward(loss.backward())
        opt.step()
    final = float(sa.BCE().forward(model.forward(inputs["train.eval"]), inputs["train.eval"]))
    assert final < 0.85 * model_checks.TRAIN_BOUND < model_checks.TRAIN_BOUND < start


def test_cells_after_the_classes_are_skipped_unless_they_redefine_one():
    nb = {"cells": [{"cell_type": "code", "source": "!pip install x\nimport numpy as np\n%time y = 1\n"},
                    {"cell_type": "markdown", "source": "# Title"},
                    {"cell_type": "code", "source": "".join(f"class {n}: pass\n" for n in submission.GRADED[:-1])},
                    {"cell_type": "code", "source": "def build_autoencoder(dims, seed, dtype): pass\n"},
                    {"cell_type": "code", "source": "for epoch in range(100): pass\n"},
                    {"cell_type": "code", "source": "%%time\nclass Dense: pass\n"},
                    {"cell_type": "code", "source": "class ReLU: pass\n"}]}
    run, skipped = submission.cells_to_run(nb)
    assert [i for i, _ in run] == [1, 2, 3, 6] and skipped == [4]
    assert run[0][1] == "\nimport numpy as np\n"


def test_language_is_detected_from_the_markdown():
    assert submission.language(lesson("ja")) == "ja" and submission.language(lesson("en")) == "en"
    assert set(NOTES["en"]) == set(NOTES["ja"])


@pytest.mark.parametrize("manifest, message", [
    (None, "no handin.json"), ({"notebook": "../evil.ipynb"}, "not a notebook at the top"),
    ({"notebook": "other.ipynb"}, "which is not in the archive")])
def test_a_bad_archive_is_named(tmp_path, manifest, message):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("lesson05.ipynb", "{}")
        if manifest is not None:
            zf.writestr("handin.json", json.dumps(manifest))
    with pytest.raises(submission.SubmissionError, match=message):
        submission.read(path)


def test_names_stay_unique():
    assert grade.names_for(["a/x.ipynb", "b/x.ipynb", "x.zip", "y.ipynb"]) == ["x", "x-2", "x-3", "y"]


def test_a_failing_handin_check_fails_the_handin_rows_not_the_batch(monkeypatch):
    def check_handin(archive_path, lang):
        raise KeyError("metrics.csv")

    fake = types.ModuleType("scratchae.teacher.handin_check")
    fake.check_handin = check_handin
    monkeypatch.setitem(sys.modules, "scratchae.teacher.handin_check", fake)
    monkeypatch.setattr(scratchae.teacher, "handin_check", fake, raising=False)
    fake.MAX_POINTS = {"handin.architecture": 5, "handin.metrics": 10, "handin.provenance": 5, "handin.range": 0}
    rows = grade.handin_rows("x.zip", "en")
    assert [(r.name, r.points, r.max, r.status) for r in rows] == [
        ("handin.architecture", 0.0, 5.0, "fail"), ("handin.metrics", 0.0, 10.0, "fail"),
        ("handin.provenance", 0.0, 5.0, "fail"), ("handin.range", 0.0, 0.0, "warn")]
    assert all("KeyError" in r.notes[0][1]["text"] for r in rows)


def test_outputs_are_read_key_by_key_and_a_bomb_is_refused(tmp_path):
    path = tmp_path / "out.npz"
    np.savez(path, good=np.arange(3.0), bad=np.array([{"a": 1}], dtype=object))
    assert list(grade.read_outputs(path)) == ["good"]
    assert grade.read_outputs(path, limit=100) == {}
    assert grade.read_outputs(tmp_path / "none.npz") == {}


def test_a_grader_failure_on_one_submission_exits_1_and_grades_the_rest(tmp_path, monkeypatch, capsys):
    real = grade.grade_one

    def flaky(path, inputs, args):
        if path.endswith("b.ipynb"):
            raise RuntimeError("a bug in the grader")
        return real(path, inputs, args)

    monkeypatch.setattr(grade, "grade_one", flaky)
    paths = [str(save(stubbed(lesson()), tmp_path / n)) for n in ("a.ipynb", "b.ipynb")]
    assert grade.main([*paths, "--out", str(tmp_path / "out")]) == 1
    assert "failed on b" in capsys.readouterr().err
    assert "RuntimeError: a bug in the grader" in (tmp_path / "out" / "feedback" / "b.md").read_text(encoding="utf-8")
    assert (tmp_path / "out" / "grades.csv").read_text(encoding="utf-8").count("\n") == 3


def test_an_unreadable_notebook_grades_zero_in_the_language_asked_for(tmp_path):
    bad = tmp_path / "garbled.ipynb"
    bad.write_bytes(b"\x00not json")
    assert grade.main([str(bad), "--out", str(tmp_path / "out"), "--lang", "ja"]) == 0
    feedback = (tmp_path / "out" / "feedback" / "garbled.md").read_text(encoding="utf-8")
    assert feedback.startswith("# garbled の採点結果: 0 / 100") and "読めませんでした" in feedback


def test_a_sampled_gradient_names_its_entry_in_the_whole_array():
    where = [(0, 1), (2, 3), (1, 0)]
    kind, values = model_checks.sampled_note("decoder.8.W", np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, -3.0]),
                                             where)
    assert kind == "gradient" and values["index"] == (1, 0) and (values["yours"], values["expected"]) == (3.0, -3.0)
    assert model_checks.sampled_note("W", np.ones(3), np.ones(3), where) is None
