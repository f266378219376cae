"""Every catalogued mistake, planted into the correct lesson 05 by a text edit, is named by the grader.

Mistakes in different classes are planted together (one notebook per group, so three graded runs instead of
sixteen): each unit check sees only its own class, so a group's mistakes cannot mask one another.
"""
import argparse

import pytest

from scratchae.teacher import grade, mistakes

from grade_notebooks import lesson, plant, save

PLANTS = {
    "bce_mean_over_batch": [
        ("return -xp.mean(target * xp.log(self.p) + (1.0 - target) * xp.log(1.0 - self.p))",
         "return -xp.sum(target * xp.log(self.p) + (1.0 - target) * xp.log(1.0 - self.p)) / target.shape[0]"),
        ("/ (self.p * (1.0 - self.p)) / self.p.size", "/ (self.p * (1.0 - self.p)) / self.p.shape[0]")],
    "mse_mean_over_batch": [("return xp.mean(self.diff**2)", "return xp.sum(self.diff**2) / self.diff.shape[0]"),
                            ("return 2.0 * self.diff / self.diff.size",
                             "return 2.0 * self.diff / self.diff.shape[0]")],
    "mse_missing_two": [("return 2.0 * self.diff / self.diff.size", "return self.diff / self.diff.size")],
    "sigmoid_backward_from_input": [
        ("        self.out = (1.0 + xp.tanh(x / 2.0)) / 2.0\n",
         "        self.x = x\n        self.out = (1.0 + xp.tanh(x / 2.0)) / 2.0\n"),
        ("return dout * self.out * (1.0 - self.out)", "return dout * self.x * (1.0 - self.x)")],
    "sigmoid_without_dout": [("return dout * self.out * (1.0 - self.out)", "return self.out * (1.0 - self.out)")],
    "relu_passes_negative": [("return xp.where(self.mask, dout, 0.0)", "return dout")],
    "relu_without_dout": [("return xp.where(self.mask, dout, 0.0)", "return xp.where(self.mask, 1.0, 0.0)")],
    "dense_db_mean": [('self.grads["b"] = xp.sum(dout, axis=0)  # (n_out,)',
                       'self.grads["b"] = xp.mean(dout, axis=0)  # (n_out,)')],
    "dense_dW_divided_by_batch": [('self.grads["W"] = self.x.T @ dout  # (n_in, N)',
                                   'self.grads["W"] = self.x.T @ dout / dout.shape[0]  # (n_in, N)')],
    "dense_W_not_transposed_in_dx": [('return dout @ self.params["W"].T  # (N, n_out) @',
                                      'return dout @ self.params["W"]  # (N, n_out) @')],
    "adam_no_bias_correction": [("m_hat = self.m[name] / (1.0 - b1**self.t)", "m_hat = self.m[name]"),
                                ("v_hat = self.v[name] / (1.0 - b2**self.t)", "v_hat = self.v[name]")],
    "adam_eps_inside_sqrt": [("m_hat / (xp.sqrt(v_hat) + self.eps)", "m_hat / xp.sqrt(v_hat + self.eps)")],
    "adam_ignores_lr": [("= model, lr, beta1, beta2, eps", "= model, 1e-3, beta1, beta2, eps")],
    "decoder_not_mirror": [("zip(up[:-1], up[1:])", "zip(up[1:-1], up[2:])")],
    "missing_output_sigmoid": [("    decoder[-1] = Sigmoid()\n", "")],
    "missing_relu": [("encoder += [Dense(n_in, n_out, rng, dtype), ReLU()]",
                      "encoder += [Dense(n_in, n_out, rng, dtype)]")],
}
GROUPS = (("bce_mean_over_batch", "mse_missing_two", "sigmoid_backward_from_input", "relu_passes_negative",
           "dense_db_mean", "adam_no_bias_correction", "decoder_not_mirror"),
          ("mse_mean_over_batch", "sigmoid_without_dout", "relu_without_dout", "dense_dW_divided_by_batch",
           "adam_eps_inside_sqrt", "missing_output_sigmoid"),
          ("dense_W_not_transposed_in_dx", "adam_ignores_lr", "missing_relu"))


def test_every_entry_is_planted_once():
    planted = [m for group in GROUPS for m in group]
    assert sorted(planted) == sorted(PLANTS) == sorted(mistakes.BY_ID)


def graded(tmp_path, notebook):
    args = argparse.Namespace(lang=None, timeout=300.0, memory=2048)
    return grade.grade_one(save(notebook, tmp_path / "planted.ipynb"), grade.grader_inputs(), args)


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g[0])
def test_planted_mistakes_are_named(tmp_path, group):
    found = graded(tmp_path, plant(lesson(), [edit for m in group for edit in PLANTS[m]]))
    by_check = {r.name: r for r in found["results"]}
    for mistake in group:
        named = [r for r in found["results"] if mistake in r.mistakes]
        assert named, f"{mistake} was planted but no failed check names it"
        assert all(r.name in mistakes.BY_ID[mistake].checks and r.status == "fail" for r in named)
    for name in ("ReLU", "Sigmoid", "Dense", "BCE", "MSE"):  # each class carries a planted mistake
        assert any(by_check[c].status == "fail" for c in (f"{name}.forward", f"{name}.backward")) or \
            not any(name in m for m in group)


def test_an_unknown_mistake_says_what_differs(tmp_path):
    """No entry matches dx = dout / 2: the feedback says which output differs and by how much."""
    found = graded(tmp_path, plant(lesson(), [("return xp.where(self.mask, dout, 0.0)",
                                               "return xp.where(self.mask, dout / 2, 0.0)")]))
    relu = next(r for r in found["results"] if r.name == "ReLU.backward")
    assert relu.status == "fail" and relu.points == 0 and relu.mistakes == []
    (kind, values), = relu.notes
    assert kind == "gradient" and values["key"] == "relu.dx"
    assert values["yours"] == pytest.approx(values["expected"] / 2) and values["error"] == pytest.approx(1 / 3)
    others = [r for r in found["results"] if r.name not in ("ReLU.backward", "model.end_to_end")]
    assert all(r.status == "pass" for r in others), [r.name for r in others if r.status != "pass"]
