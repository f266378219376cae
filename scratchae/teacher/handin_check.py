"""The grader's checks of a hand-in archive: architecture, metrics (re-evaluated here), provenance, and range.

``check_handin(archive_path, lang)`` returns one dict per check: {"name", "points", "max", "status", "message"}.
Nothing from the archive is imported or executed: members are read into memory (bounded sizes, safe names only),
arrays load with allow_pickle=False, and the checkpoint's architecture must equal the assignment's before any
model is built. The test images are this machine's, found as scratchae.data finds them and checked by SHA-256.
"""
import csv
import io
import json
import math
import pathlib
import zipfile

import numpy as np

from ..data import DATASETS, DataError, find_data, read_idx
from ..losses import BCE
from ..serialize import FORMAT as NPZ_FORMAT, restore_model
from ..training import evaluate
from .handin import assignment_spec, other_model, read_metrics, sha256

MAX_MEMBERS, MAX_FILE, MAX_TOTAL = 200, 64 * 2**20, 160 * 2**20  # a hand-in is about 6 MB
METRICS_TOLERANCE = 5e-5  # |re-evaluated - reported| test BCE per pixel: rounding and CPU vs GPU sums, not edits
REFERENCE = pathlib.Path(__file__).with_name("reference_runs.json")
MAX_POINTS = {"handin.architecture": 5, "handin.metrics": 10, "handin.provenance": 5, "handin.range": 0}
# Resuming may change where and how a run goes on (presets.RESUMABLE): not part of what the checkpoint must match.
RESUMABLE = {"epochs", "quiet", "gpu", "out", "data_dir", "latent_map"}


class HandinError(ValueError):
    """An archive that cannot be read safely; the message says why (in the grader's language)."""


MESSAGES = {
    "en": {
        "unsafe": "the archive cannot be read safely: {why}",
        "arch_ok": "the checkpoint holds the assignment's model (784-256-128-64-32-32, mirrored, ReLU, Sigmoid)",
        "arch_bad": "not the assignment's model: {why}",
        "metrics_ok": "re-evaluated test BCE {mine:.6f}, metrics.csv says {theirs:.6f}: they agree",
        "metrics_bad": "re-evaluated test BCE {mine:.6f}, but metrics.csv says {theirs:.6f}: the checkpoint and "
                       "the metrics are not from the same run (edited metrics.csv or swapped checkpoint?)",
        "metrics_skip": "not evaluated: {why}",
        "prov_ok": "provenance, manifest and files agree",
        "prov_bad": "provenance does not match the files: {why}",
        "range_ok": "test BCE {value:.4f} is within the reference recipe's range {low:.4f} to {high:.4f} ({n} seeds)",
        "range_warn": "unusual: test BCE {value:.4f}, outside the reference recipe's range {low:.4f} to {high:.4f} "
                      "({n} seeds, {epochs} epochs). Likely reasons: {reasons}. A warning for the teacher, no "
                      "deduction.",
        "reasons": {"epochs": "{v} epochs instead of {ref}", "limit": "trained on {v} images only",
                    "lr": "learning rate {v:g} instead of {ref:g}", "batch_size": "batch size {v} instead of {ref}",
                    "output_bias": "output bias started at {v}", "dataset": "data set {v}, the reference is {ref}",
                    "validation": "{v} images held out for validation"},
        "no_reason": "the settings are the reference's; another implementation (the notebook's own classes) or "
                     "a different library version",
    },
    "ja": {
        "unsafe": "アーカイブを安全に読めません: {why}",
        "arch_ok": "チェックポイントは課題のモデルです(784-256-128-64-32-32 とその鏡像、ReLU、Sigmoid)",
        "arch_bad": "課題のモデルではありません: {why}",
        "metrics_ok": "採点側で評価したテスト BCE {mine:.6f} と metrics.csv の {theirs:.6f} は一致します",
        "metrics_bad": "採点側で評価したテスト BCE は {mine:.6f} ですが、metrics.csv は {theirs:.6f} です。"
                       "チェックポイントと記録が同じ学習のものではありません(metrics.csv の編集か、チェックポイントの差し替え?)",
        "metrics_skip": "評価していません: {why}",
        "prov_ok": "来歴 (provenance)、マニフェスト、ファイルが一致します",
        "prov_bad": "来歴がファイルと一致しません: {why}",
        "range_ok": "テスト BCE {value:.4f} は基準レシピの範囲 {low:.4f}〜{high:.4f} の中です(シード {n} 個)",
        "range_warn": "通常と異なる結果: テスト BCE {value:.4f} は基準レシピの範囲 {low:.4f}〜{high:.4f}(シード {n} 個、"
                      "{epochs} エポック)の外です。考えられる理由: {reasons}。教員向けの注意で、減点はしません。",
        "reasons": {"epochs": "エポック数が {ref} でなく {v}", "limit": "学習画像が {v} 枚だけ",
                    "lr": "学習率が {ref:g} でなく {v:g}", "batch_size": "バッチサイズが {ref} でなく {v}",
                    "output_bias": "出力バイアスの初期値が {v}", "dataset": "データセットが {ref} でなく {v}",
                    "validation": "検証用に {v} 枚を取り置き"},
        "no_reason": "設定は基準と同じです。別の実装(ノートブック自身のクラス)か、ライブラリの版の違い",
    },
}


def safe_name(name):
    """True for a relative member path without '..', backslashes or a drive letter."""
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and "\\" not in name and ":" not in name and ".." not in parts


def read_zip(data_or_path, max_file=MAX_FILE, max_total=MAX_TOTAL):
    """Every member of a zip (path or bytes) as {name: bytes}, refusing unsafe names and oversized contents."""
    source = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
    try:
        with zipfile.ZipFile(source) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            if len(infos) > MAX_MEMBERS:
                raise HandinError(f"{len(infos)} files (at most {MAX_MEMBERS})")
            bad = next((i.filename for i in infos if not safe_name(i.filename)), None)
            if bad is not None:
                raise HandinError(f"unsafe path {bad!r}")
            if any(i.file_size > max_file for i in infos) or sum(i.file_size for i in infos) > max_total:
                raise HandinError("contents too large")
            members = {}
            for i in infos:
                with zf.open(i) as fh:  # read at most the declared size + 1: a lying header cannot inflate more
                    data = fh.read(i.file_size + 1)
                if len(data) != i.file_size:
                    raise HandinError(f"{i.filename}: size differs from its header")
                members[i.filename] = data
            return members
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as err:
        raise HandinError(f"not a readable zip ({err})") from None


def read_checkpoint(data):
    """(arrays, meta) of a checkpoint's bytes, with the inner zip's sizes bounded and no pickles."""
    members = read_zip(data)
    if "meta.npy" not in members:
        raise HandinError("checkpoint.npz has no meta")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(str(arrays.pop("meta")))
    if meta.get("format") != NPZ_FORMAT:
        raise HandinError(f"checkpoint format {meta.get('format')!r}")
    return arrays, meta


def row(name, status, message, lang_messages=None):
    """One check's result dict; full points for pass, none otherwise (handin.range has none to give)."""
    return {"name": name, "points": float(MAX_POINTS[name]) if status == "pass" else 0.0,
            "max": float(MAX_POINTS[name]), "status": status, "message": message}


def test_images(dataset):
    """This machine's test images of ``dataset``, (10000, 784) float32, checked against the recorded SHA-256."""
    digest, shape = DATASETS[dataset]["t10k-images-idx3-ubyte"]
    pixels = read_idx(find_data(dataset), "t10k-images-idx3-ubyte", digest, shape, dataset)
    return pixels.reshape(pixels.shape[0], -1).astype(np.float32) / np.float32(255)


def provenance_problems(members, manifest, prov, cfg, meta, metrics):
    """The first few ways provenance, manifest, config, checkpoint and files disagree (empty: consistent)."""
    problems = []
    listed, present = set(manifest.get("files", {})), set(members) - {"handin.json"}
    if listed != present:
        problems.append(f"manifest lists {sorted(listed ^ present)[:3]} differently from the archive")
    problems += [f"{p} changed after packing" for p, h in manifest.get("files", {}).items()
                 if p in members and sha256(members[p]) != h]
    problems += [f"{p} differs from the run's recorded hash" for p, h in prov.get("run_files", {}).items()
                 if p not in members or sha256(members[p]) != h]
    if manifest.get("notebook") not in members:
        problems.append("the notebook is missing")
    if prov.get("settings") != {k: v for k, v in cfg.items() if k != "versions"}:
        problems.append("settings differ from run/config.json")
    if (prov.get("seed"), prov.get("preset")) != (cfg.get("seed"), cfg.get("preset")):
        problems.append("seed or preset differ from run/config.json")
    if prov.get("data_sha256") != {k: d for k, (d, _) in DATASETS.get(cfg.get("dataset"), {}).items()}:
        problems.append("data files' SHA-256 are not the original data set's")
    saved = meta.get("config", {})
    if any(saved.get(k) != v for k, v in cfg.items() if k not in RESUMABLE | {"versions", "started", "resumed_from"}):
        problems.append("the checkpoint was trained with other settings than run/config.json")
    progress = meta.get("progress", {})
    if (progress.get("epoch"), progress.get("step")) != (int(metrics[-1]["epoch"]), 0):
        problems.append("the checkpoint is not from the end of the last epoch in metrics.csv")
    return problems


def range_check(cfg, value, lang):
    """handin.range: the final test BCE against the reference recipe's seeds, their range widened on each side by
    ``relative_margin`` times their mean (a warning only)."""
    m, ref = MESSAGES[lang], json.loads(REFERENCE.read_text(encoding="utf-8"))
    values = ref["test_bce"]
    margin = ref["relative_margin"] * sum(values) / len(values)
    low, high = min(values) - margin, max(values) + margin
    if low <= value <= high:
        return row("handin.range", "pass", m["range_ok"].format(value=value, low=low, high=high, n=len(values)))
    settings = ref["settings"]
    reasons = [m["reasons"][k].format(v=cfg.get(k), ref=settings.get(k)) for k in m["reasons"]
               if cfg.get(k) != settings.get(k) and cfg.get(k) not in (None, 0)]
    return row("handin.range", "warn", m["range_warn"].format(value=value, low=low, high=high, n=len(values),
                                                               epochs=settings["epochs"],
                                                               reasons="; ".join(reasons) or m["no_reason"]))


def check_handin(archive_path, lang="en"):
    """Grade the hand-in archive at ``archive_path``: a list of four check dicts, messages in ``lang``."""
    m = MESSAGES[lang]
    try:
        members = read_zip(str(archive_path))
        manifest = json.loads(members["handin.json"])
        run = manifest.get("run", "run/")
        cfg = json.loads(members[f"{run}config.json"])
        prov = json.loads(members["provenance.json"])
        metrics = read_metrics(members[f"{run}metrics.csv"].decode("utf-8"))
        reported = float(metrics[-1]["test_loss"])
        arrays, meta = read_checkpoint(members[f"{run}checkpoint.npz"])
        if not all(isinstance(d, dict) for d in (manifest, cfg, prov, meta)):
            raise HandinError("handin.json, config.json, provenance.json or the checkpoint's meta is not an object")
    except (HandinError, KeyError, ValueError, TypeError, IndexError, AttributeError, UnicodeDecodeError,
            csv.Error) as err:
        why = str(err) if isinstance(err, HandinError) else f"{type(err).__name__}: {err}"
        return [row(name, "fail", m["unsafe"].format(why=why)) for name in MAX_POINTS]
    results = []
    differs = other_model(cfg) or (None if meta.get("architecture") == assignment_spec() else
                                   "the checkpoint's layers differ from 784-256-128-64-32-32 and its mirror")
    model = None
    if differs is None:
        try:
            model = restore_model(arrays, meta)
        except (ValueError, KeyError) as err:  # CheckpointError: a missing parameter or a wrong shape
            differs = str(err)
    results.append(row("handin.architecture", "pass" if model else "fail",
                       m["arch_ok"] if model else m["arch_bad"].format(why=differs)))
    if model is None:
        results.append(row("handin.metrics", "fail", m["metrics_skip"].format(why=differs)))
    else:
        try:
            mine = evaluate(model, BCE(), test_images(cfg["dataset"]))
        except DataError as err:
            results.append(row("handin.metrics", "fail", m["metrics_skip"].format(why=err)))
        else:
            agree = math.isfinite(reported) and abs(mine - reported) <= METRICS_TOLERANCE
            results.append(row("handin.metrics", "pass" if agree else "fail",
                               m["metrics_ok" if agree else "metrics_bad"].format(mine=mine, theirs=reported)))
    problems = provenance_problems(members, manifest, prov, cfg, meta, metrics)
    results.append(row("handin.provenance", "fail" if problems else "pass",
                       m["prov_bad"].format(why="; ".join(problems[:3])) if problems else m["prov_ok"]))
    results.append(range_check(cfg, reported, lang))
    return results
