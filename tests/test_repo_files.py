"""Every tracked text file stays small, and no Markdown paragraph is repeated: guards against an edit like
``text.replace("", paragraph)``, which once made benchmarks/README.md 26.6 MB by inserting one paragraph
before every character."""
import subprocess
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_TEXT_BYTES = 200_000
BINARY_SUFFIXES = {".png", ".gz", ".npz", ".jpg", ".jpeg", ".pdf"}


def tracked_files():
    """The repository's tracked files (empty where this is not a git checkout, as in an installed copy)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [ROOT / name for name in out.decode().split("\0") if name and (ROOT / name).is_file()]


def text_files():
    files = []
    for path in tracked_files():
        rel = path.relative_to(ROOT)
        if rel.parts[0] == "data" or path.suffix in BINARY_SUFFIXES:
            continue
        files.append(path)
    return files


def paragraphs(text):
    """Blocks of non-blank lines, stripped; short ones (a fence, a heading, a table rule) may repeat."""
    blocks = [block.strip() for block in text.split("\n\n")]
    return [block for block in blocks if len(block) >= 80]


def test_there_are_files_to_check():
    if not tracked_files():
        pytest.skip("not a git checkout")
    assert len(text_files()) > 50


def test_every_text_file_is_under_the_size_limit():
    big = [(p.relative_to(ROOT), p.stat().st_size) for p in text_files() if p.stat().st_size > MAX_TEXT_BYTES]
    assert not big, f"text files over {MAX_TEXT_BYTES} bytes: {big}"


@pytest.mark.parametrize("path", [p for p in text_files() if p.suffix == ".md"], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_markdown_paragraph_appears_twice(path):
    counts = Counter(paragraphs(path.read_text(encoding="utf-8")))
    repeated = [block[:60] for block, n in counts.items() if n > 1]
    assert not repeated, f"{path.relative_to(ROOT)}: paragraphs repeated: {repeated}"


def test_the_paragraph_check_catches_the_corruption():
    intended = "# Title\n\n" + "A paragraph that is long enough to be counted as one, about eighty characters or so.\n"
    corrupt = intended.replace("", "Inserted paragraph of more than eighty characters, followed by a blank line.....\n\n")
    assert len(set(paragraphs(intended))) == len(paragraphs(intended))
    counts = Counter(paragraphs(corrupt))
    assert max(counts.values()) > 1
