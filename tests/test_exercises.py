"""The "Try it" helper: an untouched stub is "not attempted", a right answer "correct", a wrong one fails."""
import pytest

from scratchae.exercises import try_it


def stub(x):
    raise NotImplementedError


def test_untouched_stub_is_not_attempted(capsys):
    def check():
        assert stub(2) == 4

    try_it("square", check)
    assert capsys.readouterr().out.startswith("square: not attempted yet")


def test_right_answer_is_correct(capsys):
    def check():
        assert (lambda x: x * x)(2) == 4

    try_it("square", check)
    assert capsys.readouterr().out == "square: correct\n"


def test_wrong_answer_raises_the_checks_message():
    def check():
        got = (lambda x: x + x)(3)
        assert got == 9, f"expected 9, got {got}"

    with pytest.raises(AssertionError, match="expected 9, got 6"):
        try_it("square", check)
