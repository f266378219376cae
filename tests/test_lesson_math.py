"""The checks of lessons 00, 09 and 13 can fail: each exercise's check rejects a wrong answer, and the VAE's
end-to-end gradient check rejects a wrong backward.

tests/test_lesson_solutions.py shows that every right answer passes its check; here one line of a solution is
changed to a typical mistake and the check must raise. The lesson's cells run in this process, not in a kernel:
only the setup cell and the cells an exercise needs, so no model is trained here.
"""
import pathlib

import jupytext
import matplotlib
import numpy as np
import pytest

from test_lesson_solutions import SOLUTION

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)

LESSONS = pathlib.Path(__file__).resolve().parent.parent / "lessons" / "en"


@pytest.fixture(autouse=True)
def no_windows(monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: plt.close("all"))  # Agg would warn on show()


def code_cells(name):
    return [c.source for c in jupytext.read(LESSONS / name).cells if c.cell_type == "code"]


def solution(name, exercise):
    """The solution code of the exercise whose stub ends with ``try_it("<exercise>", ...)``."""
    cells = jupytext.read(LESSONS / name).cells
    for stub, block in zip(cells, cells[1:]):
        match = SOLUTION.match(block.source) if block.cell_type == "markdown" else None
        if match and f'try_it("{exercise}"' in stub.source:
            return match.group(1)
    raise AssertionError(f"{name}: no exercise {exercise!r} with a solution")


def mutated(code, right, wrong):
    assert code.count(right) == 1, f"the solution no longer contains {right!r}: update this test"
    return code.replace(right, wrong)


def run(namespace, code):
    exec(compile(code, "<lesson cell>", "exec"), namespace)


def namespace_before_training(name):
    """Run the setup cell and every code cell before the first one that loads a data set."""
    namespace = {}
    run(namespace, "from scratchae.exercises import try_it")  # the lesson imports it in its first exercise
    for cell in code_cells(name):
        if "load(" in cell:
            break
        run(namespace, cell)
    return namespace


@pytest.fixture(scope="module")
def conv_lesson():
    return namespace_before_training("09_convolutions.py")


@pytest.mark.parametrize("exercise, right, wrong", [
    ("Conv2D backward", "cols.T @ dout2", "cols.T @ xp.ones_like(dout2)"),  # dout forgotten in dW
    ("Conv2D backward", "db = xp.sum(dout2, axis=0)", "db = xp.sum(dout2, axis=0) / dout2.shape[0]"),
    ("Conv2D backward", "dx = col2im(dcols, x_shape, k, stride, out_hw, pads)",
     "dx = col2im(dcols, x_shape, k, stride, out_hw, (0, 0, 0, 0))"),  # the padding's share not dropped
    ("MaxPool backward", "dwindows = mask * xp.reshape(", "dwindows = xp.ones_like(mask) * xp.reshape("),  # UpSampling's
    ("MaxPool backward", "dwindows = mask * xp.reshape(", "dwindows = 0.25 * xp.ones_like(mask) * xp.reshape("),  # average
])
def test_conv_lesson_checks_reject_a_wrong_backward(conv_lesson, capsys, exercise, right, wrong):
    code = solution("09_convolutions.py", exercise)
    run(conv_lesson, code)
    assert capsys.readouterr().out.endswith(f"{exercise}: correct\n")
    with pytest.raises((AssertionError, ValueError, IndexError)):  # a wrong padding may not even fit (strict)
        run(conv_lesson, mutated(code, right, wrong))


@pytest.fixture(scope="module")
def first_lesson():
    """Lesson 00's setup cell, with the test images and a small untrained model in place of the trained ones."""
    namespace = {}
    run(namespace, code_cells("00_what_is_an_autoencoder.py")[0])
    run(namespace, "import matplotlib.pyplot as plt\nimport numpy as np\nimport scratchae as sa\n"
                   "from scratchae.data import load\nfrom scratchae.training import evaluate\n"
                   "x_test = sa.to_device(load('mnist')[2][:1000], xp)\n"
                   "models = {8: sa.dense_autoencoder((784, 16, 8), rng=0, xp=xp)}\n")
    return namespace


@pytest.mark.parametrize("exercise, right, wrong", [
    ("the identity", "W2 = np.eye(n_code, n_in)", "W2 = 0.5 * np.eye(n_code, n_in)"),
    ("the identity", "W1 = np.eye(n_in, n_code)", "W1 = np.eye(n_in, n_code)[:, ::-1]"),
    ("per-image error", "axis=1)", "axis=0)"),
    ("per-image error", "(x_hat - x) ** 2", "xp.abs(x_hat - x)"),
])
def test_first_lesson_checks_reject_a_wrong_answer(first_lesson, capsys, exercise, right, wrong):
    code = solution("00_what_is_an_autoencoder.py", exercise)
    run(first_lesson, code)
    assert capsys.readouterr().out.endswith(f"{exercise}: correct\n")
    with pytest.raises(AssertionError):
        run(first_lesson, mutated(code, right, wrong))


def test_vae_gradient_check_rejects_a_wrong_reparameterisation(monkeypatch):
    namespace = {}
    run(namespace, code_cells("13_vae.py")[0])
    run(namespace, "import numpy as np\nimport scratchae as sa\nfrom scratchae import numerical_gradient, rel_error\n"
                   "from scratchae.vae import KL\nrng = np.random.default_rng(0)\n")
    check = next(cell for cell in code_cells("13_vae.py") if "def vae_gradient_check" in cell)
    run(namespace, check)  # the lesson's cell: the correct backward passes, its own planted bug fails
    assert max(namespace["right"].values()) < 1e-7

    from scratchae.vae import Reparameterize

    def backward_without_the_half(self, dz):  # dlogvar = dz sigma eps, the 1/2 of d sigma / d logvar forgotten
        return dz + 0.0, dz * self.noise

    monkeypatch.setattr(Reparameterize, "backward", backward_without_the_half)
    small, x, eps = namespace["small"], namespace["x_small"], namespace["eps_small"]
    errors = namespace["vae_gradient_check"](small, x, eps, namespace["vae_gradients"](small, x, eps))
    assert errors["logvar.W"] > 1e-3 and errors["encoder.0.W"] > 1e-3, errors
    assert np.isclose(max(errors[name] for name in errors if name.startswith("decoder.")), 0.0, atol=1e-7), errors
