"""python -m scratchae.handin: the archive's layout and manifest, the report filled in from the run, bad input."""
import csv
import hashlib
import io
import json
import shutil
import zipfile

import pytest

from scratchae import train
from scratchae.fit import load_checkpoint
from scratchae.netfig import layer_rows
from scratchae.teacher import handin
from scratchae.teacher.handin_report import layer_formulas

SHORT = ["--limit", "500", "--epochs", "1", "--quiet"]


def make_notebook(path):
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "print(1)", "metadata": {},
                                           "outputs": [], "execution_count": None}],
                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


@pytest.fixture(scope="session")
def short_run(tmp_path_factory):
    """A real run of the assignment's model: 1 epoch on 500 images (seed 0)."""
    out = tmp_path_factory.mktemp("runs") / "seed0"
    assert train.main([*SHORT, "--out", str(out)]) == 0
    return out


@pytest.fixture
def notebook(tmp_path):
    return make_notebook(tmp_path / "05_build_it_yourself.ipynb")


def members(archive):
    with zipfile.ZipFile(archive) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_archive_holds_everything_the_manifest_says(short_run, notebook, tmp_path):
    out = tmp_path / "handin.zip"
    assert handin.main([str(notebook), str(short_run), "--out", str(out)]) == 0
    files = members(out)
    manifest = json.loads(files.pop("handin.json"))
    assert manifest["format"] == 1 and manifest["notebook"] == notebook.name and manifest["run"] == "run/"
    assert manifest["lang"] == "en"
    assert {name: hashlib.sha256(data).hexdigest() for name, data in files.items()} == manifest["files"]
    for name in ("config.json", "metrics.csv", "checkpoint.npz", "network.png", "loss_curve.png",
                 "reconstructions.png"):
        assert files[f"run/{name}"] == (short_run / name).read_bytes(), name
    assert files[notebook.name] == notebook.read_bytes()
    prov = json.loads(files["provenance.json"])
    config = json.loads((short_run / "config.json").read_text())
    assert prov["seed"] == 0 and prov["preset"] == "reference" and prov["settings"]["limit"] == 500
    assert prov["run_versions"]["numpy"] == config["versions"]["numpy"]
    assert prov["data_sha256"]["t10k-images-idx3-ubyte"].startswith("0fa7898d")
    assert prov["run_files"]["run/checkpoint.npz"] == manifest["files"]["run/checkpoint.npz"]


def test_report_is_filled_in_from_the_run(short_run, notebook, tmp_path):
    out = tmp_path / "handin.zip"
    handin.pack(notebook, short_run, out, "en")
    files = members(out)
    text = files["report.md"].decode()
    model = load_checkpoint(short_run / "checkpoint.npz")[0]
    for line in layer_formulas(layer_rows(model)):  # the layer list comes from the checkpoint's model
        assert f"    {line}\n" in text
    assert "    h1 = ReLU(x W1 + b1)\n" in text and "    x̂ = σ(h9 W10 + b10)\n" in text
    with open(short_run / "metrics.csv", newline="") as fh:
        last = list(csv.DictReader(fh))[-1]
    test = float(last["test_loss"])
    assert f"test BCE {test:.4f} per pixel = {784 * test:.1f} nats per image" in text
    total = sum(p.size for _, p, _ in model.named_params())
    assert f"{total:,} parameters in all (10 Dense layers, 10 activations: 20 layers)" in text
    assert "| images trained on | 500 |" in text and "| epochs | 1 |" in text
    for figure in ("run/network.png", "run/loss_curve.png", "run/reconstructions.png"):
        assert f"]({figure})" in text and figure in files  # every figure the report shows is in the archive


def test_japanese_report(short_run, notebook, tmp_path):
    out = tmp_path / "handin.zip"
    assert handin.main([str(notebook), str(short_run), "--out", str(out), "--lang", "ja"]) == 0
    files = members(out)
    text = files["report.md"].decode()
    assert json.loads(files["handin.json"])["lang"] == "ja"
    assert "## 3. 数式" in text and "学習画像の平均のロジット" in text and "    z = h5\n" in text


def test_finished_report_replaces_the_scaffold(short_run, notebook, tmp_path):
    mine = tmp_path / "report.md"
    mine.write_text("# My report\n\nI trained it.\n", encoding="utf-8")
    out = tmp_path / "handin.zip"
    assert handin.main([str(notebook), str(short_run), "--out", str(out), "--report", str(mine)]) == 0
    assert members(out)["report.md"] == mine.read_bytes()


def test_an_older_run_gets_its_network_figure_from_the_checkpoint(short_run, notebook, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(short_run, run)
    (run / "network.png").unlink()
    out = tmp_path / "handin.zip"
    handin.pack(notebook, run, out)
    assert members(out)["run/network.png"][:8] == b"\x89PNG\r\n\x1a\n"


def broken(run, how):
    """Damage a copy of a run folder as ``how`` says."""
    if how == "no checkpoint":
        (run / "checkpoint.npz").unlink()
    elif how == "another model":
        config = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps({**config, "dims": [784, 32, 8]}))
    elif how == "no figures":
        (run / "loss_curve.png").unlink()


@pytest.mark.parametrize("how, message", [
    ("no run folder", "no run folder there"),
    ("no checkpoint", "checkpoint.npz: missing"),
    ("another model", "a run of another model (dims [784, 32, 8]"),
    ("no figures", "loss_curve.png missing"),
    ("not a notebook", "not a Jupyter notebook"),
])
def test_bad_input_is_one_line_and_exit_2(short_run, notebook, tmp_path, capsys, how, message):
    run = tmp_path / "run"
    if how != "no run folder":
        shutil.copytree(short_run, run)
        broken(run, how)
    if how == "not a notebook":
        notebook.write_text("print('a script, not a notebook')\n")
    out = tmp_path / "handin.zip"
    out.write_bytes(b"the old archive")
    assert handin.main([str(notebook), str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scratchae.handin: error: ") and message in err and err.count("\n") == 1
    assert out.read_bytes() == b"the old archive"  # untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []


def test_the_archive_is_a_zip_of_bytes_not_paths(short_run, notebook, tmp_path):
    out = tmp_path / "handin.zip"
    handin.pack(notebook, short_run, out)
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as zf:
        assert all(not n.startswith("/") and ".." not in n.split("/") for n in zf.namelist())


def test_the_report_takes_the_notebooks_language(short_run, tmp_path):
    nb = tmp_path / "05_build_it_yourself.ipynb"
    nb.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": ["## 課題レポートのために"],
                                         "metadata": {}}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    out = tmp_path / "handin.zip"
    handin.pack(nb, short_run, out)
    assert json.loads(members(out)["handin.json"])["lang"] == "ja"
