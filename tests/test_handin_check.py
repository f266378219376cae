"""The grader's hand-in checks on real archives: an honest one passes, an edited metrics.csv or a swapped
checkpoint fails handin.metrics, a short run is flagged as unusual without a deduction, unsafe zips are refused."""
import csv
import json
import shutil
import zipfile

import pytest

from scratchae import train
from scratchae.teacher import handin
from scratchae.teacher.handin_check import MAX_FILE, REFERENCE, check_handin, range_check

SHORT = ["--limit", "500", "--epochs", "1", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real short runs of the assignment's model (1 epoch on 500 images), seeds 0 and 1, and a notebook."""
    root = tmp_path_factory.mktemp("handin")
    for seed in (0, 1):
        assert train.main([*SHORT, "--seed", str(seed), "--out", str(root / f"seed{seed}")]) == 0
    notebook = root / "05_build_it_yourself.ipynb"
    notebook.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return root


def packed(runs, tmp_path, change=None, lang="en"):
    """Pack a copy of seed 0's run (after ``change(run_folder)``) and return the archive's path."""
    run = tmp_path / "run"
    shutil.copytree(runs / "seed0", run)
    if change:
        change(run)
    out = tmp_path / "handin.zip"
    handin.pack(runs / "05_build_it_yourself.ipynb", run, out, lang)
    return out


def by_name(results):
    return {r["name"]: r for r in results}


def test_an_honest_short_run_passes_and_is_flagged_as_unusual(runs, tmp_path):
    results = check_handin(packed(runs, tmp_path), "en")
    assert [r["name"] for r in results] == ["handin.architecture", "handin.metrics", "handin.provenance",
                                            "handin.range"]
    got = by_name(results)
    for name, points in (("handin.architecture", 5), ("handin.metrics", 10), ("handin.provenance", 5)):
        assert (got[name]["status"], got[name]["points"], got[name]["max"]) == ("pass", points, points), got[name]
    with open(runs / "seed0" / "metrics.csv", newline="") as fh:
        reported = float(list(csv.DictReader(fh))[-1]["test_loss"])
    assert f"metrics.csv says {reported:.6f}: they agree" in got["handin.metrics"]["message"]
    # One epoch on 500 images is far from the 20-epoch recipe: a warning with the reasons, and no deduction.
    warn = got["handin.range"]
    assert (warn["status"], warn["points"], warn["max"]) == ("warn", 0.0, 0.0)
    assert "1 epochs instead of 20" in warn["message"] and "trained on 500 images only" in warn["message"]


def edit_metrics(run):
    """A cheat: the final test loss in metrics.csv made better by 0.01."""
    with open(run / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[-1]["test_loss"] = str(float(rows[-1]["test_loss"]) - 0.01)
    with open(run / "metrics.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_edited_metrics_fail_the_metrics_check(runs, tmp_path):
    got = by_name(check_handin(packed(runs, tmp_path, edit_metrics), "en"))
    assert (got["handin.metrics"]["status"], got["handin.metrics"]["points"]) == ("fail", 0.0)
    assert "edited metrics.csv or swapped checkpoint" in got["handin.metrics"]["message"]
    assert got["handin.architecture"]["status"] == "pass"


def test_a_swapped_checkpoint_fails_the_metrics_check(runs, tmp_path):
    def swap(run):
        shutil.copy(runs / "seed1" / "checkpoint.npz", run / "checkpoint.npz")
    got = by_name(check_handin(packed(runs, tmp_path, swap), "ja"))
    assert (got["handin.metrics"]["status"], got["handin.metrics"]["points"]) == ("fail", 0.0)
    assert "チェックポイントの差し替え" in got["handin.metrics"]["message"]
    assert got["handin.provenance"]["status"] == "fail"  # its config says seed 1, the run's says 0
    assert "other settings" in got["handin.provenance"]["message"] or "設定" in got["handin.provenance"]["message"]


def test_a_file_changed_inside_the_archive_fails_provenance(runs, tmp_path):
    archive = packed(runs, tmp_path)
    with zipfile.ZipFile(archive) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    files["run/config.json"] = files["run/config.json"].replace(b'"seed": 0', b'"seed": 7')
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    got = by_name(check_handin(archive, "en"))
    assert got["handin.provenance"]["status"] == "fail"
    assert "run/config.json changed after packing" in got["handin.provenance"]["message"]


def write_zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("entries, why", [
    ({"../evil.txt": b"x", "handin.json": b"{}"}, "unsafe path '../evil.txt'"),
    ({"/etc/evil": b"x"}, "unsafe path '/etc/evil'"),
    ({"run/checkpoint.npz": bytes(MAX_FILE + 1)}, "contents too large"),  # deflates to a few kB: a small bomb
])
def test_unsafe_archives_are_refused_without_reading_them(tmp_path, entries, why):
    results = check_handin(write_zip(tmp_path / "bad.zip", entries), "en")
    assert len(results) == 4 and all(r["status"] == "fail" and r["points"] == 0 for r in results)
    assert all(why in r["message"] for r in results)


def test_not_a_zip(tmp_path):
    path = tmp_path / "handin.zip"
    path.write_bytes(b"not a zip at all")
    assert all("not a readable zip" in r["message"] for r in check_handin(path, "en"))


def test_reference_runs_and_the_range():
    ref = json.loads(REFERENCE.read_text())
    values = ref["test_bce"]
    assert len(values) == len(ref["seeds"]) >= 2 and ref["settings"]["epochs"] == 20
    assert all(0.09 < v < 0.11 for v in values)
    mean = sum(values) / len(values)
    assert range_check(ref["settings"], mean, "en")["status"] == "pass"
    far = range_check({**ref["settings"], "lr": 0.1}, 2 * mean, "en")
    assert far["status"] == "warn" and "learning rate 0.1 instead of 0.001" in far["message"]
    assert range_check(ref["settings"], 2 * mean, "ja")["message"].startswith("通常と異なる結果")


def test_the_grader_grades_a_real_archive_with_its_handin_rows(runs, tmp_path):
    """python -m scratchae.grade on real archives of lesson 05 (the self-study notebook, correct classes): the honest
    one earns the hand-in's 20 points, the one with an edited metrics.csv loses handin.metrics' 10."""
    from pathlib import Path

    from scratchae.teacher import grade

    notebook = Path(__file__).resolve().parents[1] / "lessons" / "en" / "05_build_it_yourself.ipynb"
    archives = []
    for name, change in (("honest", None), ("edited", edit_metrics)):
        run = tmp_path / name / "run"
        shutil.copytree(runs / "seed0", run)
        if change:
            change(run)
        archives.append(tmp_path / f"{name}.zip")
        handin.pack(notebook, run, archives[-1], "en")
    assert grade.main([*map(str, archives), "--out", str(tmp_path / "out")]) == 0
    with open(tmp_path / "out" / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {r["submission"]: r for r in csv.DictReader(fh)}
    honest, edited = rows["honest"], rows["edited"]
    assert (honest["total"], honest["max"]) == ("120", "120")
    assert [honest[n] for n in ("handin.architecture", "handin.metrics", "handin.provenance")] == ["5", "10", "5"]
    assert edited["handin.metrics"] == "0" and (edited["total"], edited["max"]) == ("110", "120")
    feedback = (tmp_path / "out" / "feedback" / "edited.md").read_text(encoding="utf-8")
    assert "handin.metrics" in feedback and "handin.range" in feedback
