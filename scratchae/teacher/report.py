"""What the grader writes: the feedback Markdown (English or Japanese), the Gradescope results.json, a CSV row.

results.json follows the Gradescope autograder format (as otter-grader writes it): a top-level "score" and
"output", and "tests": [{"name", "score", "max_score", "status": "passed" | "failed", "output", "visibility"}].
"""
from .mistakes import BY_ID

NOTES = {
    "en": {
        "values": "`{key}` differs from the library's values: worst entry {index}: yours {yours:.6g}, expected "
                  "{expected:.6g}.",
        "value": "`{key}` is {yours:.6g}; the library gives {expected:.6g}.",
        "gradient": "`{key}` differs from the numerical gradient: rel. error {error:.1e} (must be 1e-7 or less); "
                    "worst entry {index}: yours {yours:.6g}, numerical {expected:.6g}.",
        "missing": "`{key}`: {why}.",
        "library_forward": "Your forward is wrong, so the backward was checked against the numerical gradient of "
                           "the library's forward.",
        "adam": "`{key}` differs from Algorithm 1 (lr = 3e-3): update rel. error {error:.1e}; worst at step "
                "{step}: your update {yours:.6g}, expected {expected:.6g}.",
        "layers": "The {part}'s layers are {yours}; expected {expected}.",
        "count": "The model has {yours:,} parameters; the assignment's has {expected:,}.",
        "more_arrays": "... and {count} more arrays differ.",
        "classes_first": "The model uses every class: fix the failed class checks first ({checks}).",
        "zero_gradient": "Every gradient of the model is zero: nothing would learn.",
        "no_params": "named_params() yields no parameters.",
        "training": "After {steps} steps of Adam the test BCE is {final:.4f} (it started at {start:.4f}); it must "
                    "fall below {bound}.",
        "training_ok": "After {steps} steps of Adam the test BCE fell from {start:.4f} to {final:.4f} (bound "
                       "{bound}).",
        "text": "{text}",
        "timeout": "The notebook was stopped at the time limit of {seconds:.0f} s; checks after that got no output.",
        "signal": "The notebook's process ended with signal {signal} (a memory cap of {memory} MB or a crash); "
                  "checks after that got no output.",
        "cell_error": "A cell raised an error: {text}",
        "skipped": "Cells {cells} were not run: every graded class was defined before them.",
        "unreadable": "This submission could not be read: {text}",
        "grader_error": "The grader failed on this submission (tell the teacher): {text}",
        "heading": "# Grade for {name}: {total:g} / {max:g}",
        "mistake": "Likely mistake",
        "passed": "passed", "failed": "failed", "warning": "warning",
    },
    "ja": {
        "values": "`{key}` がライブラリの値と違います。最も違う要素 {index}: あなたの値 {yours:.6g}、期待値 "
                  "{expected:.6g}。",
        "value": "`{key}` は {yours:.6g} ですが、ライブラリの値は {expected:.6g} です。",
        "gradient": "`{key}` が数値微分と合いません。相対誤差 {error:.1e} (1e-7 以下が必要)。最も違う要素 {index}: "
                    "あなたの値 {yours:.6g}、数値微分 {expected:.6g}。",
        "missing": "`{key}`: {why}。",
        "library_forward": "順伝播が間違っているので、逆伝播はライブラリの順伝播の数値微分と比べました。",
        "adam": "`{key}` が Algorithm 1 (lr = 3e-3) と違います。更新量の相対誤差 {error:.1e}、最も違うのはステップ "
                "{step}: あなたの更新量 {yours:.6g}、期待値 {expected:.6g}。",
        "layers": "{part} の層は {yours} ですが、期待される層は {expected} です。",
        "count": "モデルのパラメータ数は {yours:,} ですが、課題のモデルは {expected:,} です。",
        "more_arrays": "... ほかに {count} 個の配列が合いません。",
        "classes_first": "モデルはすべてのクラスを使います。まず不合格のクラスのチェック ({checks}) を直してください。",
        "zero_gradient": "モデルの勾配がすべて 0 です。これでは何も学習しません。",
        "no_params": "named_params() がパラメータを一つも返しません。",
        "training": "Adam で {steps} ステップ学習した後のテスト BCE は {final:.4f} (開始時 {start:.4f}) です。"
                    "{bound} 未満になる必要があります。",
        "training_ok": "Adam で {steps} ステップ学習し、テスト BCE は {start:.4f} から {final:.4f} に下がりました "
                       "(基準 {bound})。",
        "text": "{text}",
        "timeout": "制限時間 {seconds:.0f} 秒でノートブックを止めました。それ以降のチェックには出力がありません。",
        "signal": "ノートブックのプロセスがシグナル {signal} で終了しました (メモリ上限 {memory} MB か異常終了)。"
                  "それ以降のチェックには出力がありません。",
        "cell_error": "エラーになったセルがあります: {text}",
        "skipped": "セル {cells} は実行していません。採点するクラスはすべてその前に定義されていました。",
        "unreadable": "この提出物は読めませんでした: {text}",
        "grader_error": "この提出物の採点中に採点プログラムが失敗しました (先生に伝えてください): {text}",
        "heading": "# {name} の採点結果: {total:g} / {max:g}",
        "mistake": "考えられる間違い",
        "passed": "合格", "failed": "不合格", "warning": "警告",
    },
}


def note_text(note, lang):
    key, values = note
    return NOTES[lang][key].format(**values)


def result_lines(result, lang):
    """The lines that explain one check: its notes, then each matched mistake in plain words."""
    lines = [note_text(n, lang) for n in result.notes]
    lines += [f"{NOTES[lang]['mistake']}: {getattr(BY_ID[m], lang)}" for m in result.mistakes]
    return lines


def feedback(name, results, lang, remarks=()):
    """The Markdown a student reads: the total, a table of checks, then what went wrong and where to look."""
    t = NOTES[lang]
    total, top = sum(r.points for r in results), sum(r.max for r in results)
    lines = [t["heading"].format(name=name, total=total, max=top), ""]
    lines += [f"- {note_text(r, lang)}" for r in remarks]
    lines += ["", "| check | points | max | |", "|---|---:|---:|---|"]
    status = {"pass": t["passed"], "fail": t["failed"], "warn": t["warning"]}
    lines += [f"| `{r.name}` | {r.points:g} | {r.max:g} | {status[r.status]} |" for r in results]
    for r in results:
        explained = result_lines(r, lang)
        if explained and r.status != "pass":
            lines += ["", f"## `{r.name}`", ""] + [f"- {line}" for line in explained]
    return "\n".join(lines) + "\n"


def gradescope(results, lang, remarks=()):
    """The Gradescope autograder results.json as a dict."""
    tests = [{"name": r.name, "score": r.points, "max_score": r.max,
              "status": "passed" if r.status == "pass" else "failed",
              "output": "\n".join(result_lines(r, lang)), "visibility": "visible"} for r in results]
    return {"score": sum(r.points for r in results), "output": "\n".join(note_text(n, lang) for n in remarks),
            "tests": tests}


def csv_row(name, results, columns):
    """{"submission": name, <check>: points..., "total", "max"}; a check this submission lacks stays empty."""
    points = {r.name: f"{r.points:g}" for r in results}
    row = {"submission": name} | {c: points.get(c, "") for c in columns}
    return row | {"total": f"{sum(r.points for r in results):g}", "max": f"{sum(r.max for r in results):g}"}
