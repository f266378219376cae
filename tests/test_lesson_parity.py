"""The Japanese lessons are the English ones' twins: the same cells in the same order, the same code.

Only words may differ: the markdown cells and the comments in code cells. A code cell is compared by its
Python tokens with the comments and the blank-line tokens dropped (tokenize's COMMENT and NL), so a changed
name, number, string, docstring, printed message or plot label fails, and so does a moved line break inside
code. A solution folded under an exercise is code too: the fenced ```python blocks of each markdown cell are
compared the same way. A lesson in one edition only fails: change a lesson in both editions, in one commit.
"""
import io
import itertools
import re
import tokenize

import jupytext
import pytest

from test_lessons import ROOT, build

EN, JA = (ROOT / "lessons" / "en"), (ROOT / "lessons" / "ja")
NAMES = sorted({py.name for py in build.lessons(ROOT, "en")} | {py.name for py in build.lessons(ROOT, "ja")})
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
SKIP = (tokenize.COMMENT, tokenize.NL)


def code_tokens(source):
    """The (type, text) tokens of Python ``source``, without comments or the newlines of blank lines."""
    tokens = tokenize.generate_tokens(io.StringIO(source + "\n").readline)
    return [(t.type, t.string) for t in tokens if t.type not in SKIP]


def first_difference(a, b):
    """The first line of ``a`` and of ``b`` whose code differs (comments ignored), for a readable failure."""
    for line_a, line_b in itertools.zip_longest(a.splitlines(), b.splitlines(), fillvalue=""):
        try:
            same = code_tokens(line_a) == code_tokens(line_b)
        except (tokenize.TokenError, SyntaxError, IndentationError):
            same = line_a.split("#")[0].rstrip() == line_b.split("#")[0].rstrip()
        if not same:
            return f"en: {line_a.strip()!r}\n    ja: {line_b.strip()!r}"
    return "(the lines agree one by one; a line break moved)"


def differences(en_py, ja_py):
    """Every way lesson ``ja_py`` is not ``en_py``'s twin, as sentences; empty when the two agree."""
    en_cells, ja_cells = jupytext.read(en_py).cells, jupytext.read(ja_py).cells
    en_kinds, ja_kinds = [c.cell_type for c in en_cells], [c.cell_type for c in ja_cells]
    if en_kinds != ja_kinds:
        first = next((i for i, (a, b) in enumerate(zip(en_kinds, ja_kinds)) if a != b), min(len(en_kinds), len(ja_kinds)))
        return [f"{ja_py.name}: cell {first} is not the same kind of cell as in English "
                f"({len(en_cells)} cells in en, {len(ja_cells)} in ja)"]
    found = []
    for i, (en_cell, ja_cell) in enumerate(zip(en_cells, ja_cells)):
        if en_cell.cell_type == "code":
            pairs = [(en_cell.source, ja_cell.source)]
        else:
            en_blocks, ja_blocks = FENCE.findall(en_cell.source), FENCE.findall(ja_cell.source)
            if len(en_blocks) != len(ja_blocks):
                found.append(f"{ja_py.name}: cell {i} has {len(ja_blocks)} python blocks, en has {len(en_blocks)}")
                continue
            pairs = list(zip(en_blocks, ja_blocks))
        for en_code, ja_code in pairs:
            if code_tokens(en_code) != code_tokens(ja_code):
                found.append(f"{ja_py.name}: cell {i} ({en_cell.cell_type}) has other code than in English:\n    "
                             + first_difference(en_code, ja_code))
    return found


@pytest.mark.parametrize("name", NAMES, ids=[n[:-3] for n in NAMES])
def test_every_lesson_has_its_twin_with_the_same_code(name):
    missing = [f"lessons/{ed}/{name}" for ed in ("en", "ja") if not (ROOT / "lessons" / ed / name).exists()]
    assert not missing, f"{missing[0]} is missing: a lesson exists in both editions (change both in one commit)"
    found = differences(EN / name, JA / name)
    assert not found, "\n".join(found)


def test_the_japanese_setup_cells_are_one_text():
    # Each notebook runs alone on Colab, so each carries the setup cell; the Japanese copies stay one text too.
    cells = {py.name: next(c.source for c in jupytext.read(py).cells if c.cell_type == "code")
             for py in build.lessons(ROOT, "ja")}
    assert cells, "no Japanese lessons under lessons/ja/"
    first = next(iter(cells.values()))
    assert all(cell == first for cell in cells.values()), [name for name, cell in cells.items() if cell != first]
    assert "ランタイム → ランタイムのタイプを変更 → T4 GPU → 保存" in first and "ファイル → ドライブにコピーを保存" in first
    assert "「このノートブックは Google が作成したものではありません」" in first and "「このまま実行」" in first
    comments = [t.string for t in tokenize.generate_tokens(io.StringIO(first).readline) if t.type == tokenize.COMMENT]
    assert comments and all(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", c) for c in comments), \
        "every comment of the Japanese setup cell is in Japanese"
    # The soft-break, vocabulary and comment-style rules of the Japanese text: tests/test_japanese_style.py.


def _pair(tmp_path, en_text, ja_text):
    (tmp_path / "en.py").write_text(en_text, encoding="utf-8")
    (tmp_path / "ja.py").write_text(ja_text, encoding="utf-8")
    return differences(tmp_path / "en.py", tmp_path / "ja.py")


LESSON = """# %% [markdown]
# # Title
#
# <details><summary>Solution</summary>
#
# ```python
# y = x + 1  # one more
# ```
#
# </details>

# %%
x = 2  # the input
print(f"x is {x}")
"""


def test_the_check_passes_a_translation_and_catches_a_changed_line(tmp_path):
    ja = (LESSON.replace("# # Title", "# # 題名").replace("Solution", "解答").replace("one more", "1 を足す")
          .replace("# the input", "# 入力です\n# 2 行目のコメント"))
    assert _pair(tmp_path, LESSON, ja) == []
    found = _pair(tmp_path, LESSON, ja.replace("x = 2", "x = 3"))
    assert len(found) == 1 and "cell 1 (code)" in found[0] and "x = 3" in found[0]
    assert _pair(tmp_path, LESSON, ja.replace('"x is {x}"', '"x は {x}"')), "a printed message stays as in English"
    assert _pair(tmp_path, LESSON, ja.replace("y = x + 1", "y = x + 2")), "a folded solution is code too"
    assert _pair(tmp_path, LESSON, ja.replace("# %%\nx = 2", "# %% [markdown]\n# x = 2")), "a cell changed kind"
    assert _pair(tmp_path, LESSON, ja + "\n# %%\nprint(1)\n"), "an extra cell"


def test_each_edition_has_lessons():
    assert build.lessons(ROOT, "en") and build.lessons(ROOT, "ja")
