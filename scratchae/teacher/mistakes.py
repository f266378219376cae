"""The mistakes students make in lesson 05's classes, each with a signature that recognises it from raw outputs.

A signature recomputes the wrong formula here, in the grader, on the grader's own inputs, and compares the result
with what the student's class returned (rel_error <= 1e-6). When a check fails, every entry for that check is
tried; the feedback names each one that matches, in plain words and with where to look.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from scratchae.gradcheck import rel_error

from .model_checks import adam_reference, expected_architecture


@dataclass(frozen=True)
class Mistake:
    """id, the checks it explains, what to tell the student (en, ja), and signature(inp, raw) -> bool."""

    id: str
    checks: tuple
    en: str
    ja: str
    signature: Callable


def equals(raw, key, wrong):
    """True when the student's raw[key] is the wrong computation's result (same shape, rel_error <= 1e-6)."""
    if key not in raw or raw[key].dtype.kind not in "fiu" or raw[key].shape != np.shape(wrong):
        return False
    value = raw[key].astype(np.float64)
    return bool(np.all(np.isfinite(value))) and rel_error(value, wrong) <= 1e-6


def bce_terms(inp):
    p, t = inp["bce.pred"], inp["bce.target"]  # inside (0.05, 0.95): the eps clip changes nothing
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)), (p - t) / (p * (1 - p))


def loss_over_rows(key, terms):
    """The loss divided by the number of rows N instead of every element: forward or backward, either matches."""
    def signature(inp, raw):
        value, grad = terms(inp)
        rows = inp[f"{key}.pred"].shape[0]
        return equals(raw, f"{key}.value", value.sum() / rows) or equals(raw, f"{key}.dpred", grad / rows)
    return signature


def mse_terms(inp):
    d = inp["mse.pred"] - inp["mse.target"]
    return d**2, 2 * d


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def activation(key, wrong_dx):
    return lambda inp, raw: equals(raw, f"{key}.dx", wrong_dx(inp[f"{key}.x"], inp[f"{key}.dout"]))


def dense(part, wrong, keys=("dense", "dense_sq")):
    """Matches when one of the Dense probes' ``part`` (dx, dW or db) is wrong(x, W, dout)."""
    return lambda inp, raw: any(
        equals(raw, f"{k}.{part}", wrong(inp[f"{k}.x"], inp[f"{k}.W"], inp[f"{k}.dout"])) for k in keys)


def adam(**variant):
    def signature(inp, raw):
        lr = variant.get("lr", float(inp["adam.lr"]))
        flags = {k: v for k, v in variant.items() if k != "lr"}
        return all(equals(raw, f"adam.traj{k}", adam_reference(inp[f"adam.p{k}"], inp[f"adam.g{k}"], lr, **flags))
                   for k in (0, 1))
    return signature


def layers(raw):
    """The student's layers as (part, kind, W shape) from the architecture probe, or [] when it failed."""
    if "arch.kinds" not in raw or "arch.shapes" not in raw:
        return []
    pairs = zip(raw["arch.kinds"], raw["arch.shapes"])
    return [(*str(k).split(":", 1), tuple(int(s) for s in row)) for k, row in pairs]


def decoder_not_mirror(inp, raw):
    found = layers(raw)
    kinds, shapes, _ = expected_architecture(tuple(int(d) for d in inp["dims"]))
    want = [s for k, s in zip(kinds, shapes) if k == "decoder:Dense"]
    have = [s for part, kind, s in found if (part, kind) == ("decoder", "Dense")]
    return bool(found) and have != want


def missing_output_sigmoid(inp, raw):
    found = layers(raw)
    return bool(found) and found[-1][:2] != ("decoder", "Sigmoid")


def missing_relu(inp, raw):
    """Some Dense (other than the decoder's last) is not followed by a ReLU."""
    found = layers(raw)
    for i, (part, kind, _) in enumerate(found[:-2]):
        if kind == "Dense" and found[i + 1][1] != "ReLU":
            return True
    return False


CATALOGUE = (
    Mistake("bce_mean_over_batch", ("BCE.forward", "BCE.backward"),
            "BCE divides by the batch size N, but the loss is the mean over every element (N x 784 values). "
            "Look at the division in BCE.forward and BCE.backward: use the number of elements (pred.size).",
            "BCE をバッチサイズ N で割っていますが、損失はすべての要素 (N x 784 個) の平均です。"
            "BCE.forward と BCE.backward の割り算を見直し、要素数 (pred.size) で割ってください。",
            loss_over_rows("bce", bce_terms)),
    Mistake("mse_mean_over_batch", ("MSE.forward", "MSE.backward"),
            "MSE divides by the batch size N, but the loss is the mean over every element. Look at the division "
            "in MSE.forward and MSE.backward: use the number of elements (diff.size).",
            "MSE をバッチサイズ N で割っていますが、損失はすべての要素の平均です。"
            "MSE.forward と MSE.backward の割り算を見直し、要素数 (diff.size) で割ってください。",
            loss_over_rows("mse", mse_terms)),
    Mistake("mse_missing_two", ("MSE.backward",),
            "MSE.backward lacks the factor 2: the derivative of (pred - target)^2 is 2 (pred - target).",
            "MSE.backward に係数 2 がありません。(pred - target)^2 の微分は 2 (pred - target) です。",
            lambda inp, raw: equals(raw, "mse.dpred", mse_terms(inp)[1] / 2 / inp["mse.pred"].size)),
    Mistake("sigmoid_backward_from_input", ("Sigmoid.backward",),
            "Sigmoid.backward uses the input x in x (1 - x); the derivative is out (1 - out) with the OUTPUT "
            "out = sigmoid(x). Keep out in forward and use it in backward.",
            "Sigmoid.backward が入力 x で x (1 - x) を計算しています。微分は出力 out = sigmoid(x) を使った "
            "out (1 - out) です。forward で out を保存し、backward ではそれを使ってください。",
            activation("sigmoid", lambda x, dout: dout * x * (1 - x))),
    Mistake("sigmoid_without_dout", ("Sigmoid.backward",),
            "Sigmoid.backward returns out (1 - out) without multiplying by dout (the chain rule: dx = dout * "
            "out * (1 - out)).",
            "Sigmoid.backward が out (1 - out) を返していて、dout を掛けていません (連鎖律: dx = dout * out * "
            "(1 - out))。",
            activation("sigmoid", lambda x, dout: sigmoid(x) * (1 - sigmoid(x)))),
    Mistake("relu_passes_negative", ("ReLU.backward",),
            "ReLU.backward passes the gradient where x < 0 too. The output there is the constant 0, so dx must "
            "be 0 there: keep the mask x > 0 from forward and use it in backward.",
            "ReLU.backward が x < 0 のところにも勾配を流しています。そこでは出力が定数 0 なので dx も 0 です。"
            "forward で x > 0 のマスクを保存し、backward で使ってください。",
            activation("relu", lambda x, dout: dout)),
    Mistake("relu_without_dout", ("ReLU.backward",),
            "ReLU.backward returns the mask (1 where x > 0) without multiplying by dout: dx = dout * mask.",
            "ReLU.backward がマスク (x > 0 で 1) を返していて、dout を掛けていません。dx = dout * mask です。",
            activation("relu", lambda x, dout: (x > 0).astype(np.float64))),
    Mistake("dense_db_mean", ("Dense.backward",),
            "Dense.backward takes db as the mean of dout over the batch; it is the sum: db = dout.sum(axis=0) "
            "(the loss already divided by N).",
            "Dense.backward で db を dout のバッチ平均にしています。正しくは和 db = dout.sum(axis=0) です "
            "(N で割るのは損失の役目です)。",
            dense("db", lambda x, W, dout: dout.mean(axis=0))),
    Mistake("dense_dW_divided_by_batch", ("Dense.backward",),
            "Dense.backward divides dW by the batch size: dW = x.T @ dout, with no division (the loss already "
            "divided by N).",
            "Dense.backward で dW をバッチサイズで割っています。dW = x.T @ dout で、割り算は不要です "
            "(N で割るのは損失の役目です)。",
            dense("dW", lambda x, W, dout: x.T @ dout / x.shape[0])),
    Mistake("dense_W_not_transposed_in_dx", ("Dense.backward",),
            "Dense.backward computes dx with W instead of its transpose: dx = dout @ W.T, shapes (N, out) @ "
            "(out, in) -> (N, in).",
            "Dense.backward の dx で W を転置していません。dx = dout @ W.T で、形は (N, out) @ (out, in) -> "
            "(N, in) です。",
            dense("dx", lambda x, W, dout: dout @ W, keys=("dense_sq",))),
    Mistake("adam_no_bias_correction", ("Adam.step",),
            "Adam.step skips the bias correction: use m_hat = m / (1 - beta1^t) and v_hat = v / (1 - beta2^t), "
            "with t counted from 1 at the first step.",
            "Adam.step にバイアス補正がありません。m_hat = m / (1 - beta1^t)、v_hat = v / (1 - beta2^t) を使い、"
            "t は最初のステップで 1 にしてください。",
            adam(bias_correction=False)),
    Mistake("adam_eps_inside_sqrt", ("Adam.step",),
            "Adam.step puts eps inside the square root: Algorithm 1 divides by sqrt(v_hat) + eps.",
            "Adam.step で eps を平方根の中に入れています。Algorithm 1 は sqrt(v_hat) + eps で割ります。",
            adam(eps_inside=True)),
    Mistake("adam_ignores_lr", ("Adam.step",),
            "Adam.step ignores the learning rate it was given (it steps as if lr = 1e-3): use self.lr.",
            "Adam.step が渡された学習率を使っていません (lr = 1e-3 のように動きます)。self.lr を使ってください。",
            adam(lr=1e-3)),
    Mistake("decoder_not_mirror", ("model.architecture",),
            "The decoder is not the encoder's mirror: its Dense widths must be the encoder's in reverse, "
            "32-32-64-128-256-784. Look at the decoder's loop in build_autoencoder.",
            "デコーダがエンコーダの鏡像になっていません。Dense の幅はエンコーダの逆順 32-32-64-128-256-784 "
            "です。build_autoencoder のデコーダのループを見直してください。",
            decoder_not_mirror),
    Mistake("missing_output_sigmoid", ("model.architecture",),
            "The decoder's last layer is not a Sigmoid: pixels lie in [0, 1] and BCE needs probabilities. "
            "Replace the last ReLU with a Sigmoid in build_autoencoder.",
            "デコーダの最後の層が Sigmoid ではありません。画素は [0, 1] にあり、BCE には確率が必要です。"
            "build_autoencoder で最後の ReLU を Sigmoid に置き換えてください。",
            missing_output_sigmoid),
    Mistake("missing_relu", ("model.architecture",),
            "A Dense layer is not followed by a ReLU: every Dense except the decoder's last needs one, or the "
            "layers collapse into one linear map. Look at the loops in build_autoencoder.",
            "ReLU が続かない Dense 層があります。デコーダの最後以外のすべての Dense の後に ReLU が必要です "
            "(ないと層が一つの線形写像につぶれます)。build_autoencoder のループを見直してください。",
            missing_relu),
)


def explain(result, inp, raw):
    """The catalogue ids whose signature matches the student's outputs, for a failed check."""
    if result.status != "fail":
        return []
    return [m.id for m in CATALOGUE if result.name in m.checks and m.signature(inp, raw)]


BY_ID = {m.id: m for m in CATALOGUE}
