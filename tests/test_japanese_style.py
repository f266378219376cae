"""The Japanese edition's written rules (lessons/ja/GLOSSARY.md, 書き方の決まり), checked where a test can.

- No soft line break inside a Japanese Markdown paragraph: a browser renders the break as a space, so a wrapped
  paragraph shows 「です。 次の」 or a space between two characters. Each paragraph is one source line.
- One vocabulary: the latent code is 潜在表現, never 潜在コード or 「コードの次元」, and a vector has N 次元,
  never 「N 個の数」.
- Code comments in the plain style (だ・である or a noun ending), never です・ます.
- A notebook's title is the same in the notebook and in the indexes that list it, in both editions.
"""
import io
import re
import tokenize

import jupytext
import pytest

from test_lessons import ROOT, build

JA_LESSONS = build.lessons(ROOT, "ja")
JA_PAGES = [ROOT / "lessons" / "README.ja.md", ROOT / "README.ja.md", ROOT / "lessons" / "ja" / "GLOSSARY.md"]
JAPANESE = re.compile(r"[\u3000-\u303f\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]")
# A line that is a block of its own in Markdown: a heading, a list item, a table row, a math or code fence, HTML.
OWN_BLOCK = re.compile(r"\s*(#{1,6}\s|[-*+]\s|\d+[.)]\s|\||\$\$|```|~~~|<)")
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def soft_breaks(markdown):
    """Every line break inside a Markdown paragraph that touches Japanese text, as 'end|start' snippets.

    Two non-empty lines in a row belong to one paragraph unless the second starts a block of its own (OWN_BLOCK);
    a line after a heading, table row or HTML line starts anew. Lines inside ``` fences, $$ math and HTML
    comments are skipped. A break counts when either line holds a Japanese character.
    """
    found, fence, math, comment, previous = [], False, False, False, None
    for line in markdown.splitlines():
        stripped = line.strip()
        if fence or math or comment:  # inside a block that ends at its closing line
            fence = fence and not stripped.startswith(("```", "~~~"))
            math = math and not (stripped.startswith("$$") or stripped.endswith("$$"))
            comment = comment and "-->" not in stripped
            previous = None
            continue
        if not stripped:
            previous = None
            continue
        if OWN_BLOCK.match(line):
            fence = stripped.startswith(("```", "~~~"))
            math = stripped.startswith("$$") and not (len(stripped) > 2 and stripped.endswith("$$"))
            comment = stripped.startswith("<!--") and "-->" not in stripped
            # a list item may go on over a soft break; a heading, table row, fence or HTML line may not
            previous = stripped if re.match(r"([-*+]|\d+[.)])\s", stripped) else None
            continue
        if previous is not None and (JAPANESE.search(previous) or JAPANESE.search(stripped)):
            found.append(f"{previous[-12:]}|{stripped[:12]}")
        previous = stripped
    return found


def markdown_of(path):
    """The Markdown text of a lesson (its markdown cells, one after another) or of a .md page."""
    if path.suffix == ".py":
        return "\n\n".join(c.source for c in jupytext.read(path).cells if c.cell_type == "markdown")
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", JA_LESSONS + JA_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_soft_break_inside_a_japanese_paragraph(path):
    found = soft_breaks(markdown_of(path))
    assert not found, (f"{path.name}: {len(found)} line breaks inside a paragraph; a browser shows each as a space. "
                       f"Put each paragraph (and each list item) on one line: {found[:5]}")


def test_the_soft_break_check_sees_every_break_in_a_paragraph():
    assert soft_breaks("これは文の\n途中です。") == ["これは文の|途中です。"]
    assert soft_breaks("文です。\n次の文です。") == ["文です。|次の文です。"], "after 。 the browser still shows a space"
    assert soft_breaks("- 項目です。\n  続きです。") == ["- 項目です。|続きです。"], "a list item is one line too"
    assert soft_breaks("`x` と\n`y`") == ["`x` と|`y`"] and soft_breaks("English\nonly") == []
    fine = ["# 見出し\n本文です。", "段落です。\n\n次の段落です。", "- 項目\n- 項目", "| a |\n| 表 |",
            "本文です。\n$$\nx = 1\n$$\n本文です。", "```python\nx = 1  # 実装\ny = 2  # 続き\n```",
            "<details><summary>解答</summary>\n\n本文です。", "<!-- 注\n釈 -->", "本文です。\n- 項目です。"]
    assert all(soft_breaks(text) == [] for text in fine), [t for t in fine if soft_breaks(t)]


# Words the glossary rules out, with the word to use instead.
BANNED = {"個の数": "N 次元（32 次元の潜在表現）", "潜在コード": "潜在表現", "コードの次元": "潜在表現の次元"}
VOCABULARY_PAGES = JA_LESSONS + [ROOT / "lessons" / "README.ja.md", ROOT / "README.ja.md"]


def banned_words(text):
    """Each banned word in ``text`` with the text around it, as 'word: …context…'."""
    return [f"{word}: …{text[max(0, m.start() - 10):m.end() + 10]}…" for word in BANNED
            for m in re.finditer(re.escape(word), text)]


@pytest.mark.parametrize("path", VOCABULARY_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_japanese_text_keeps_one_vocabulary(path):
    found = banned_words(path.read_text(encoding="utf-8"))
    assert not found, f"{path.name}: write {', '.join(f'{w} → {BANNED[w]}' for w in BANNED)} (GLOSSARY.md): {found[:5]}"


def test_the_vocabulary_check_fires():
    assert banned_words("32 個の数のコード") == ["個の数: …32 個の数のコード…"]
    assert len(banned_words("潜在コードとコードの次元")) == 2 and banned_words("32 次元の潜在表現とコードセル") == []


POLITE = re.compile(r"(です|ます|ました|ません|でした|ください|しょう)$")


def polite_comments(source):
    """The Japanese comments of Python ``source`` that have a sentence in the です・ます style."""
    tokens = tokenize.generate_tokens(io.StringIO(source + "\n").readline)
    comments = [t.string for t in tokens if t.type == tokenize.COMMENT and JAPANESE.search(t.string)]
    return [c for c in comments
            if any(POLITE.search(s.strip(" 　。．.!！)）」")) for s in re.split(r"[。．!！]\s*", c.lstrip("# ")))]


def lesson_code(py):
    """Every code cell of a lesson and every folded ```python solution in its markdown."""
    for cell in jupytext.read(py).cells:
        yield from [cell.source] if cell.cell_type == "code" else FENCE.findall(cell.source)


@pytest.mark.parametrize("py", JA_LESSONS, ids=lambda p: p.stem)
def test_japanese_code_comments_are_in_the_plain_style(py):
    found = [c for source in lesson_code(py) for c in polite_comments(source)]
    assert not found, f"{py.name}: write code comments in the plain style (だ・である or a noun ending): {found[:5]}"


def test_the_comment_style_check_fires():
    assert polite_comments("x = 1  # 形は (N, 784) です。\ny = 2  # 勾配を確認する") == ["# 形は (N, 784) です。"]
    assert polite_comments("# もう一度実行してください。次へ進む") and polite_comments("# 実行しましょう")
    assert polite_comments("# 形は (N, 784)\n# 勾配を確認する。次に進む\nz = 0  # English comment, please") == []


def titles(index, edition):
    """{lesson number: title} from an index's table rows `| NN | [title](.../<edition>/NN_x.ipynb) |`."""
    text = (ROOT / index).read_text(encoding="utf-8")
    return {m.group(1): m.group(2) for m in re.finditer(
        rf"^\| (\d\d) \| \[([^\]]+)\]\((?:lessons/)?{edition}/\d\d_\w+\.ipynb\)", text, re.M)}


INDEXES = {"en": ["lessons/README.md", "README.md"], "ja": ["lessons/README.ja.md", "README.ja.md"]}


@pytest.mark.parametrize("edition", sorted(INDEXES))
def test_a_notebook_has_one_title_in_the_notebook_and_the_indexes(edition):
    heading = {py.name[:2]: re.match(r"# (\d\d) · (.+)", jupytext.read(py).cells[0].source).group(2)
               for py in build.lessons(ROOT, edition)}
    for index in INDEXES[edition]:
        listed = titles(index, edition)
        assert listed.keys() == heading.keys(), f"{index} lists lessons {sorted(listed)}, not {sorted(heading)}"
        differ = [f"{n}: notebook {heading[n]!r}, index {listed[n]!r}" for n in heading if heading[n] != listed[n]]
        assert not differ, f"{index}: give each lesson the title its notebook opens with: " + "; ".join(differ)
