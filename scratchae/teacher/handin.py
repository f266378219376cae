"""``python -m scratchae.handin NOTEBOOK RUN_DIR --out FILE.zip [--lang en|ja]``: pack a verifiable hand-in.

The archive holds handin.json (the manifest: format, notebook, run, lang and every other file's SHA-256), the
notebook under its own name, run/ (config.json, metrics.csv, checkpoint.npz and the figures), provenance.json (what
ran where: versions, git commit, device, data files' digests, every setting) and report.md (handin_report). Bad
input is one line and exit 2; the archive is written atomically.
"""
import csv
import hashlib
import io
import json
import pathlib
import platform
import subprocess
import sys
import tempfile
import zipfile

from .. import __version__, netfig
from ..cli import EXIT_OK, EXIT_USAGE, Parser, UsageError, report
from ..data import DATASETS, DataError, SOURCE_ROOT, find_data, read_idx
from ..models import dense_autoencoder
from ..serialize import CheckpointError, atomic_write, read_npz, restore_model
from .handin_report import report_markdown

PROG = "scratchae.handin"
FORMAT = 1
ASSIGNMENT = {"model": "dense", "dims": [784, 256, 128, 64, 32, 32], "code": "relu", "loss": "bce"}
RUN_FILES = ("config.json", "metrics.csv", "checkpoint.npz")  # required; the run folder's *.png come along
FIGURES = {"network": "run/network.png", "curve": "run/loss_curve.png", "recon": "run/reconstructions.png"}


def sha256(data):
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def assignment_spec():
    """The architecture (spec) of the assignment's model, as a checkpoint records it."""
    return dense_autoencoder(ASSIGNMENT["dims"], code=ASSIGNMENT["code"], rng=0).spec()


def other_model(cfg):
    """None if ``cfg`` trained the assignment's model, else one phrase saying how it differs."""
    for key, want in ASSIGNMENT.items():
        if cfg.get(key, "relu" if key == "code" else None) != want:
            return f"{key} {cfg.get(key)!r} where the assignment has {want!r}"
    for key in ("noise", "sparsity"):
        if cfg.get(key) is not None:
            return f"--{key} {cfg[key]} (the assignment trains a plain autoencoder)"
    return None


def read_metrics(text):
    """metrics.csv's rows as dicts of floats (empty cells: None)."""
    return [{k: (float(v) if v not in ("", None) else None) for k, v in row.items()}
            for row in csv.DictReader(io.StringIO(text))]


def read_run(run_dir):
    """Check a run folder and read it: returns (cfg, metrics rows, model, {name: bytes}) or raises UsageError."""
    run = pathlib.Path(run_dir)
    if not run.is_dir():
        raise UsageError(f"{run_dir}: no run folder there; give the folder that python -m scratchae.train "
                         "(or lesson 05's report cell) wrote")
    for name in RUN_FILES:
        if not (run / name).is_file():
            raise UsageError(f"{run / name}: missing; the run did not finish, or this is not a run folder")
    files = {name: (run / name).read_bytes() for name in RUN_FILES}
    files.update({p.name: p.read_bytes() for p in sorted(run.glob("*.png")) if not p.name.startswith(".")})
    try:
        cfg = json.loads(files["config.json"])
        metrics = read_metrics(files["metrics.csv"].decode("utf-8"))
        assert metrics and all(row.get(k) is not None for row in metrics for k in ("epoch", "train_loss"))
        assert metrics[-1].get("test_loss") is not None
    except (ValueError, AssertionError, UnicodeDecodeError):
        raise UsageError(f"{run}: config.json or metrics.csv is unreadable or has no finished epoch with a test "
                         "loss; train again") from None
    differs = other_model(cfg)
    if differs:
        raise UsageError(f"{run}: a run of another model ({differs}); hand in a run of the assignment's model "
                         "(python -m scratchae.train, the reference preset)")
    arrays, meta = read_npz(run / "checkpoint.npz")  # CheckpointError: one line
    if meta.get("architecture") != assignment_spec():
        raise UsageError(f"{run / 'checkpoint.npz'}: not the assignment's model; hand in the checkpoint of its run")
    return cfg, metrics, restore_model(arrays, meta, path=str(run / "checkpoint.npz")), files


def git_commit():
    """The checkout's commit (HEAD), or None outside a git checkout."""
    if not (SOURCE_ROOT / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", "-C", str(SOURCE_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def device_name(cfg):
    """What trained the run: the GPU's name (if CuPy sees one here and the run used it), else the CPU's."""
    if cfg.get("gpu"):
        try:
            import cupy
            return cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
        except Exception:  # no CuPy or no GPU here: the run said gpu, this machine cannot tell which
            return "GPU (CuPy)"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:  # Linux names the model there (Colab included)
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"CPU {cpu}"


def data_digests(cfg):
    """{file stem: SHA-256 of its decompressed contents} of the run's data set, each file checked on reading."""
    folder = find_data(cfg["dataset"], cfg.get("data_dir"))
    for stem, (digest, shape) in DATASETS[cfg["dataset"]].items():
        read_idx(folder, stem, digest, shape, cfg["dataset"])  # DataError if missing or not the original
    return {stem: digest for stem, (digest, _) in DATASETS[cfg["dataset"]].items()}


def provenance(cfg, files):
    """What ran, where and on what: versions, commit, device, data digests, settings, the run files' SHA-256."""
    versions = dict(cfg.get("versions") or {})
    try:
        import cupy
        versions.setdefault("cupy", cupy.__version__)
    except ImportError:
        versions.setdefault("cupy", None)
    return {"scratchae": __version__, "git_commit": git_commit(), "python": platform.python_version(),
            "run_versions": versions, "platform": platform.platform(), "device": device_name(cfg),
            "dataset": cfg["dataset"], "data_sha256": data_digests(cfg), "seed": cfg["seed"],
            "preset": cfg.get("preset"), "settings": {k: v for k, v in cfg.items() if k != "versions"},
            "run_files": {f"run/{name}": sha256(data) for name, data in files.items()}}


def environment(prov, cfg):
    """The report's environment table: (item, value) rows."""
    v = prov["run_versions"]
    return [("device", prov["device"]), ("platform", prov["platform"]), ("Python", v.get("python", prov["python"])),
            ("NumPy", v.get("numpy", "?")), ("CuPy", v.get("cupy") or "—"),
            ("array_namespace", v.get("array_namespace", "?")), ("scratchae", f"{prov['scratchae']}"
                                                                 + (f" ({prov['git_commit'][:12]})"
                                                                    if prov["git_commit"] else ""))]


def notebook_language(nb):
    """'ja' if the notebook's Markdown has kana (the Japanese edition of a lesson), else 'en'."""
    text = "".join("".join(c.get("source", "")) for c in nb["cells"] if c.get("cell_type") == "markdown")
    return "ja" if any("\u3040" <= ch <= "\u30ff" for ch in text) else "en"


def pack(notebook, run_dir, out, lang=None, report_path=None):
    """Write the hand-in archive ``out`` from ``notebook`` and ``run_dir``; returns the manifest.

    lang: "en" or "ja" for report.md, None: the notebook's language. report_path: the student's finished
    report.md (the scaffold's figure paths kept); None writes the scaffold."""
    notebook = pathlib.Path(notebook)
    try:
        nb_bytes = notebook.read_bytes()
        nb = json.loads(nb_bytes)
        assert isinstance(nb, dict) and isinstance(nb.get("cells"), list) and "nbformat" in nb
    except (OSError, ValueError, AssertionError):
        raise UsageError(f"{notebook}: not a Jupyter notebook (.ipynb); give the notebook you ran") from None
    lang = lang or notebook_language(nb)
    cfg, metrics, model, files = read_run(run_dir)
    rows = netfig.layer_rows(model)
    if "network.png" not in files:  # a run from before train drew it: draw it from the checkpoint
        with tempfile.TemporaryDirectory() as tmp:
            netfig.network_figure(model, pathlib.Path(tmp) / "network.png")
            files["network.png"] = (pathlib.Path(tmp) / "network.png").read_bytes()
    missing = [path for path in FIGURES.values() if path[len("run/"):] not in files]
    if missing:
        raise UsageError(f"{run_dir}: {missing[0][len('run/'):]} missing; the run's figures are written when "
                         "training ends, so train to the end")
    prov = provenance(cfg, files)
    text = report_markdown(lang, rows, cfg, metrics, environment(prov, cfg), FIGURES)
    if report_path is not None:
        try:
            text = pathlib.Path(report_path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"--report {report_path}: cannot read it as UTF-8 text ({err}); give your report.md") from None
    contents = {notebook.name: nb_bytes, **{f"run/{name}": data for name, data in files.items()},
                "provenance.json": (json.dumps(prov, indent=2) + "\n").encode(), "report.md": text.encode()}
    manifest = {"format": FORMAT, "notebook": notebook.name, "run": "run/", "lang": lang,
                "files": {path: sha256(data) for path, data in contents.items()}}

    def write(fh):
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("handin.json", json.dumps(manifest, indent=2) + "\n")
            for path, data in contents.items():
                zf.writestr(path, data)
    out = pathlib.Path(out)
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: the folder {out.parent} does not exist; create it or choose another")
    atomic_write(out, write)
    return manifest


def build_parser():
    p = Parser(prog="python -m scratchae.handin",
               description="Pack lesson 05's notebook and a training run into one hand-in archive with a report.")
    p.add_argument("notebook", help="the notebook you ran (.ipynb)")
    p.add_argument("run_dir", help="the run folder: config.json, metrics.csv, checkpoint.npz and the figures")
    p.add_argument("--out", required=True, help="the archive to write, e.g. handin.zip")
    p.add_argument("--lang", choices=["en", "ja"],
                   help="language of report.md (default: the notebook's, ja for the Japanese lessons, else en)")
    p.add_argument("--report", metavar="REPORT.md",
                   help="your finished report (the scaffold from a first packing, your parts written in) instead "
                        "of the scaffold")
    return p


def main(argv=None):
    """Command-line entry point; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        manifest = pack(args.notebook, args.run_dir, args.out, args.lang, args.report)
    except (UsageError, CheckpointError, DataError) as err:
        return report(PROG, err, EXIT_USAGE)
    print(f"packed {len(manifest['files'])} files into {args.out}"
          + ("" if args.report else "; take report.md out of it, write your parts (the lines starting with >) and "
             "pack again with --report report.md"))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
