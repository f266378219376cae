# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · 全結合層を手で書く
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/01_dense.ipynb)
#
# scratchae のオートエンコーダは、ほとんどが全結合層（Dense）でできています。計算は `out = x @ W + b` です。
# 『ゼロから作るDeep Learning』（DLFS）の Affine レイヤと同じ層で、scratchae では `Dense` と呼びます。
# このレッスンでは、この層の順伝播と逆伝播を手で書き、逆伝播が正しいことを確かめます。
# 時間は、演習を含めて 45〜60 分を見てください。
#
# このレッスンで学ぶこと
# - 順伝播と、そこに出てくるすべての配列の形。
# - 逆伝播の 3 つの式。形だけから導きます。
# - 勾配確認のしかた。ランダムな上流からの勾配（upstream gradient）を使い、逆伝播を数値微分と比べます。
# - すべて 1 の上流からの勾配ではバグが隠れる理由と、勾配確認に float64 が必要な理由。
# - 層をクラス `Dense` として書く方法。このクラスは、レッスン 05 でオートエンコーダ全体に使います。

# %%
# 準備のセル。手元のチェックアウト（`pip install -e .` の後）では何もインストールしない。
# Colab では、レッスン用の ref の scratchae を clone してインストールする（20 秒ほどかかる）。
# CuPy はインストールしない。Colab の GPU ランタイムには、はじめから入っている。
# Colab で初めて実行すると「このノートブックは Google が作成したものではありません」と警告が出るので、「このまま実行」を選ぶ。
# エラーで止まったら、このセルをもう一度実行する。途中で止まったインストールも直る。
# GPU を使うには: ランタイム → ランタイムのタイプを変更 → T4 GPU → 保存。
# 作業を残すには: ファイル → ドライブにコピーを保存。
import os
import re
import shutil
import subprocess
import sys

if "google.colab" in sys.modules or os.environ.get("SCRATCHAE_FORCE_COLAB") == "1":  # この変数はテスト用
    REPO, REF = "https://github.com/scratchae/scratchae", "main"  # lessons/build.py が setup.cfg から書き込む
    REPO = os.environ.get("SCRATCHAE_REPO", REPO)  # テストでは手元のコピーを clone する
    SRC = "scratchae-src"

    def run(*command):
        return subprocess.run(command, capture_output=True, text=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})

    def reason(done):  # git か pip のエラーの最初の行。例: "fatal: Remote branch x not found"
        return next((line for line in done.stderr.splitlines() if line.startswith(("fatal:", "ERROR:"))), "")

    if not os.path.isfile(f"{SRC}/scratchae/__init__.py"):
        shutil.rmtree(SRC, ignore_errors=True)  # 失敗した clone が残したもの
        done = run("git", "clone", "-q", "--depth", "1", "--branch", REF, REPO, SRC)
        if done.returncode != 0:
            raise SystemExit(f"Could not get {REPO} at {REF!r}: the repository or the ref is missing. "
                             f"Ask your instructor, or set REPO to your fork. ({reason(done)})")
    with open(f"{SRC}/scratchae/__init__.py", encoding="utf-8") as file:
        want = re.search(r'__version__ = "(.+?)"', file.read()).group(1)
    have = run(sys.executable, "-c", "import scratchae; print(scratchae.__version__)").stdout.strip()
    if have != want:  # 未インストール、途中まで、または別のバージョン
        done = run(sys.executable, "-m", "pip", "install", "-q", "./scratchae-src")
        if done.returncode != 0:
            raise SystemExit(f"pip could not install scratchae. Run this cell again; if it fails again, "
                             f"ask your instructor. ({reason(done)})")
    os.environ["SCRATCHAE_DATA"] = os.path.abspath("scratchae-src/data")

from scratchae.backend import pick_xp

xp, message = pick_xp()  # GPU が使えれば CuPy、なければ NumPy。以下の配列はすべて xp の配列
print(message)
QUICK = os.environ.get("SCRATCHAE_QUICK") == "1"  # テストが設定する。データとエポックを減らすだけで、コードは同じ

# %% [markdown]
# ## 順伝播
#
# `n_in` 個の特徴量を持つ入力が $N$ 個、バッチとして入ります。
# 出てくるのは、`n_out` 個の特徴量を持つ $N$ 個の出力です:
#
# $$\text{out} = x\,W + b, \qquad x: (N, n_\text{in}),\quad W: (n_\text{in}, n_\text{out}),\quad b: (n_\text{out}),
# \quad \text{out}: (N, n_\text{out})$$
#
# バイアス $b$ は、すべての行に足されます（ブロードキャスト）。
# 勾配確認には float64 が必要なので、このレッスンでは float64 を使います。学習では float32 を使います。

# %%
import numpy as np

rng = np.random.default_rng(0)
N, n_in, n_out = 4, 5, 3
x = xp.asarray(rng.standard_normal((N, n_in)))  # float64。ホストで作ってから xp に移します
W = xp.asarray(rng.standard_normal((n_in, n_out)))
b = xp.asarray(rng.standard_normal((n_out,)))


def dense_forward(x, W, b):
    return x @ W + b  # (N, in) @ (in, out) + (out,) -> (N, out)


out = dense_forward(x, W, b)
print("out:", out.shape)

# %% [markdown]
# ## 逆伝播を形から導く
#
# この層より先のどこかで、`out` から損失 $L$（1 つの数）が計算されます。
# 逆伝播が受け取るのは、上流からの勾配 `dout` $= \partial L / \partial \text{out}$ です。形は $(N, n_\text{out})$ で、
# `out` の各成分が変わると $L$ がどれだけ変わるかを表します。
# 逆伝播は、入力ごとに 1 つずつ勾配を返します。どの勾配も、微分する相手と同じ形です。
# `dx` は $(N, n_\text{in})$、`dW` は $(n_\text{in}, n_\text{out})$、`db` は $(n_\text{out})$ です。
# どれも、`dout` と積のもう一方の因子を組み合わせたものです。形が合う書き方は 1 通りしかありません:
#
# $$dW = x^\top d\text{out} \;\; (n_\text{in}, N)(N, n_\text{out}), \qquad
# dx = d\text{out}\, W^\top \;\; (N, n_\text{out})(n_\text{out}, n_\text{in}), \qquad
# db = \textstyle\sum_{n} d\text{out}_{n,:}$$
#
# 成分ごとに見てみましょう。$\text{out}_{nj} = \sum_i x_{ni} W_{ij} + b_j$ です。
# $W_{ij}$ は、すべての行 $n$ の $\text{out}_{nj}$ に、傾き $x_{ni}$ で効きます。
# そこで $\partial L/\partial W_{ij} = \sum_n x_{ni}\, d\text{out}_{nj}$ となり、これは $x^\top d\text{out}$ です。
# 同じように、$x_{ni}$ は、すべての列 $j$ の $\text{out}_{nj}$ に、傾き $W_{ij}$ で効きます（効くのは自分の行 $n$ だけです）:
#
# $$\frac{\partial L}{\partial x_{ni}} = \sum_j \frac{\partial L}{\partial \text{out}_{nj}}
# \frac{\partial \text{out}_{nj}}{\partial x_{ni}} = \sum_j d\text{out}_{nj}\, W_{ij} = (d\text{out}\,W^\top)_{ni}$$
#
# バイアスは $N$ 個の行すべてに足されるので、その勾配は行について和をとります。

# %%
def dense_backward(dout, x, W, b):
    dx = dout @ W.T  # (N, out) @ (out, in) -> (N, in)
    dW = x.T @ dout  # (in, N) @ (N, out) -> (in, out)
    db = xp.sum(dout, axis=0)  # (N, out) -> (out,)
    return dx, dW, db


dout = xp.asarray(rng.standard_normal((N, n_out)))  # ランダムな上流からの勾配
for name, grad in zip(["dx", "dW", "db"], dense_backward(dout, x, W, b)):
    print(f"{name}: {grad.shape}")

# %% [markdown]
# ## 勾配確認
#
# 形が正しくても、勾配が正しいとは限りません。
# 確かめるには、ランダムな `dout` を選び、$L = \sum \text{out} \odot d\text{out}$ と決めます。
# すると $\partial L/\partial\text{out}$ は、ちょうど `dout` になります。
# これで、逆伝播が返すどの勾配も、中心差分と比べられます。
# 1 つの成分 $\theta_i$ を小さな $h$ だけ上げ下げして、$L$ の変化を $2h$ で割ります:
#
# $$\frac{\partial L}{\partial \theta_i} \approx \frac{L(\theta + h e_i) - L(\theta - h e_i)}{2h}, \qquad
# \text{rel. error} = \frac{\lVert g_\text{num} - g_\text{ana} \rVert}{\lVert g_\text{num} \rVert +
# \lVert g_\text{ana} \rVert}$$
#
# 相対誤差の式にある 2 つの勾配は、数値微分による勾配 $g_\text{num}$（上の中心差分）と、
# 解析的な勾配 $g_\text{ana}$（逆伝播が式から計算したもの）です。
#
# `numerical_gradient` と `rel_error` はライブラリのものです（このレッスンの主題ではないので、`help` で読んでください）。

# %%
from scratchae import numerical_gradient, rel_error


def grad_check(forward, backward, arrays, dout):
    """Relative error of each gradient from backward(dout, *arrays), against central differences of L."""
    analytic = backward(dout, *arrays)

    def L():
        return float(xp.sum(forward(*arrays) * dout))

    # numerical_gradient は配列の成分を 1 つずつ、その場で +-h だけずらし、元に戻します
    return {name: rel_error(numerical_gradient(L, a), g) for name, a, g in zip(["x", "W", "b"], arrays, analytic)}


errors = grad_check(dense_forward, dense_backward, (x, W, b), dout)
for name, error in errors.items():
    print(f"d{name}: relative error {error:.1e}")

# %%
# 確認: 1e-10 くらいか、それより小さいはずです（float64 の丸め誤差）。1e-7 を超えたら dense_backward にバグがあります。
assert max(errors.values()) < 1e-7, errors
print("dense_backward passes the gradient check")

# %% [markdown]
# ## ライブラリの Dense
#
# `scratchae.Dense` は、同じ層をクラスにしたものです。
# `forward` は後で使うために `x` を覚えておき、`backward` は `self.grads` を埋めて `dx` を返します。
# その backward を読んでみましょう。いま書いた 3 行と同じです。

# %%
import inspect

from scratchae import Dense, check_layer

print(inspect.getsource(Dense.backward))

# %%
layer = Dense(n_in, n_out, xp=xp, dtype="float64")
layer.params["W"][...] = W  # 同じ重みを、その場で入れます
layer.params["b"][...] = b
ours = dict(zip(["dx", "dW", "db"], dense_backward(dout, x, W, b)))
theirs = {"out": layer.forward(x)}
theirs["dx"] = layer.backward(dout)
theirs["dW"], theirs["db"] = layer.grads["W"], layer.grads["b"]
agreement = {name: rel_error(theirs[name], out if name == "out" else ours[name]) for name in theirs}
print(agreement)

# 確認: 同じ数に同じ計算をしています。0 か 1e-16 くらいのはずです。1e-12 を超えたら、2 つは違います。
assert max(agreement.values()) < 1e-12, agreement
# ライブラリの勾配確認です（これもランダムな dout を使います）。1e-10 くらいのはずで、1e-7 を超えたらバグです。
report = check_layer(layer, x, rng=1)
for check in report.values():
    print(check)
assert max(check.error for check in report.values()) < 1e-7

# %% [markdown]
# ## 上流からの勾配をランダムにする理由
#
# よくある間違いがあります。「b は N 個の行のそれぞれに足されるので、d out / d b は行ごとに 1 で、db は N になる」。
# これは局所的な微分です。連鎖律では、これにさらに `dout` をかけなければなりません。
# 下は、このバグを持つ逆伝播です。これを 2 回確かめます。
# 1 回目はすべて 1 の `dout`（$L = \sum \text{out}$ から得られるもの）で、2 回目はランダムな `dout` です。

# %%
def buggy_backward(dout, x, W, b):
    dx = dout @ W.T
    dW = x.T @ dout
    db = xp.full(b.shape, float(x.shape[0]), dtype=b.dtype)  # バグ: どの成分も N。dout を忘れています
    return dx, dW, db


ones = xp.ones_like(dout)
with_ones = grad_check(dense_forward, buggy_backward, (x, W, b), ones)
with_random = grad_check(dense_forward, buggy_backward, (x, W, b), dout)
print("all-ones dout: db error", f"{with_ones['b']:.1e}")
print("random dout:   db error", f"{with_random['b']:.1e}")

# %%
# 確認: すべて 1 ではバグが隠れます（1e-11 くらいで「合格」します）。ランダムな dout ではバグが見えます
# （0.1 くらい。1e-2 を超えたら、はっきりした不合格です）。
assert with_ones["b"] < 1e-7, with_ones
assert with_random["b"] > 1e-2, with_random
print("an all-ones dout passed a wrong db; a random dout caught it")

# %% [markdown]
# `dout` がすべて 1 なら、$\sum_n d\text{out}_{nj} = N$ です。バグの値と正しい値が同じ数になるので、どんな確認でも区別できません。
# どこかで `dout` を落とした逆伝播は、この 1 つの `dout` に対してだけは正確になってしまいます。
# ランダムな `dout` は、成分ごとに違う重みを付けるので、抜けた因子が見えるのです。
#
# ## 自分の Dense をクラスにする
#
# 上の関数を、ライブラリの層の約束（layer contract）に合わせた 1 つのクラスにまとめます。
# `params` と `grads` は、キー `"W"` と `"b"` を持つ辞書です。
# `forward(x)` は `x` を覚えておきます。`dW` の計算に必要だからです。
# `backward(dout)` は 2 つの勾配を `grads` に代入し（書き足すのではありません）、`dx` を返します。
# 重みの初期値は Heの初期値（正規分布）$W \sim \mathcal N(0, 2/n_\text{in})$ です（理由はレッスン 04 で説明します）。
# 乱数は、ホストで NumPy の乱数生成器から引きます。
# このクラスは残しておいてください。レッスン 05 では、これでオートエンコーダ全体を組み立てます。

# %%
import math


class Dense:
    """out = x @ W + b.  x: (N, n_in) -> out: (N, n_out); W: (n_in, n_out), b: (n_out,)."""

    def __init__(self, n_in, n_out, rng, dtype):
        W = rng.standard_normal((n_in, n_out)) * math.sqrt(2.0 / n_in)  # Heの初期値。ホストで引きます
        self.params = {"W": xp.asarray(W, dtype=dtype), "b": xp.zeros((n_out,), dtype=dtype)}
        self.grads = {name: xp.zeros_like(p) for name, p in self.params.items()}
        self.x = None

    def forward(self, x):
        self.x = x  # backward が dW のために x を使います
        return x @ self.params["W"] + self.params["b"]  # (N, n_out)

    def backward(self, dout):
        self.grads["W"] = self.x.T @ dout  # (n_in, N) @ (N, n_out) -> (n_in, n_out)
        self.grads["b"] = xp.sum(dout, axis=0)  # (n_out,)
        return dout @ self.params["W"].T  # (N, n_out) @ (n_out, n_in) -> (N, n_in)


mine = Dense(n_in, n_out, np.random.default_rng(2), xp.float64)
library_dense = layer  # 上で作ったライブラリの Dense。重みは W と b です
mine.params["W"][...] = library_dense.params["W"]
mine.params["b"][...] = library_dense.params["b"]
same = {"out": rel_error(mine.forward(x), library_dense.forward(x)),
        "dx": rel_error(mine.backward(dout), library_dense.backward(dout)),
        "dW": rel_error(mine.grads["W"], library_dense.grads["W"]),
        "db": rel_error(mine.grads["b"], library_dense.grads["b"])}
print(same)

# %%
# 確認: 自分のクラスとライブラリのクラスが一致します（0 か 1e-16 くらい。1e-12 を超えたら違います）。
# また、自分のクラスはランダムな dout でライブラリの勾配確認に合格します（1e-10 くらい。1e-7 を超えたらバグです）。
assert max(same.values()) < 1e-12, same
report = check_layer(mine, x, rng=3)
print({name: f"{check.error:.1e}" for name, check in report.items()})
assert max(check.error for check in report.values()) < 1e-7
print("your Dense class agrees with the library's")

# %% [markdown]
# ## やってみよう
#
# 1. PyTorch は重みを転置して持ちます。形 $(n_\text{out}, n_\text{in})$ の `W_t` で、`out = x @ W_t.T + b` と計算します。
#    その 3 つの勾配を形から導いて、下に書いてください。このセルは、ランダムな `dout` でそれを確かめます。

# %%
from scratchae.exercises import try_it


def torch_layout_backward(dout, x, W_t, b):
    """dout: (N, out), x: (N, in), W_t: (out, in), b: (out,) -> (dx, dW_t, db)."""
    raise NotImplementedError  # この行を自分のコードに置き換えてください


def check_torch_layout():
    W_t = xp.asarray(rng.standard_normal((n_out, n_in)))
    errors = grad_check(lambda x, W_t, b: x @ W_t.T + b, torch_layout_backward, (x, W_t, b), dout)
    assert max(errors.values()) < 1e-7, f"relative errors {errors}: expect about 1e-10"


try_it("PyTorch layout", check_torch_layout)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def torch_layout_backward(dout, x, W_t, b):
#     """dout: (N, out), x: (N, in), W_t: (out, in), b: (out,) -> (dx, dW_t, db)."""
#     dx = dout @ W_t  # (N, out) @ (out, in) -> (N, in)
#     dW_t = dout.T @ x  # (out, N) @ (N, in) -> (out, in): x.T @ dout の転置です
#     db = xp.sum(dout, axis=0)
#     return dx, dW_t, db
#
#
# def check_torch_layout():
#     W_t = xp.asarray(rng.standard_normal((n_out, n_in)))
#     errors = grad_check(lambda x, W_t, b: x @ W_t.T + b, torch_layout_backward, (x, W_t, b), dout)
#     assert max(errors.values()) < 1e-7, f"relative errors {errors}: expect about 1e-10"
#
#
# try_it("PyTorch layout", check_torch_layout)
# ```
#
# </details>
#
# 2. 今度は `dW` で `dout` を忘れる、2 つ目のバグのある逆伝播を書いてください。`dW = x.T @ xp.ones_like(dout)` です。
#    それを `ones` と `dout` の両方で `grad_check` にかけます。どちらの確認でバグが見つかるでしょう。それはなぜでしょう。
#
# <details><summary>答え</summary>
#
# ランダムな `dout` で見つかります。すべて 1 の `dout` では合格してしまいます。理由は db のバグと同じです。
# `dout` がすべて 1 なら、$x^\top d\text{out}$ と $x^\top \mathbf{1}$ は同じ行列になるからです。
# 成分がすべて等しいわけではない `dout` なら、どれでもこのバグを見つけられます。
#
# </details>
#
# 3. **float64 が必要な理由。** `numeric_dW` を書いてください。
#    層の `W` のすべての成分について、$L = \sum \text{out} \odot d\text{out}$ の中心差分を手で計算します。dtype は層の dtype のままです。
#    このセルは、それを正しい自分の `Dense` で 2 回、float32 と float64 で、$h = 10^{-5}$ として実行します。
#    float64 の確認は合格し、float32 の確認は不合格になるはずです。正しい層が float32 で不合格になるのはなぜでしょう。

# %%
def numeric_dW(layer, x, dout, h=1e-5):
    """Central differences of L = sum(layer.forward(x) * dout) for each entry of layer.params["W"], in W's dtype."""
    raise NotImplementedError  # この行を自分のコードに置き換えてください


def check_precision():
    errors = {}
    for name, dtype in (("float32", xp.float32), ("float64", xp.float64)):
        layer_d = Dense(n_in, n_out, np.random.default_rng(4), dtype)
        x_d, dout_d = xp.astype(x, dtype), xp.astype(dout, dtype)
        layer_d.forward(x_d)
        layer_d.backward(dout_d)
        errors[name] = rel_error(numeric_dW(layer_d, x_d, dout_d), layer_d.grads["W"])
    print({name: f"{error:.1e}" for name, error in errors.items()})
    error32, error64 = errors.values()
    assert error64 < 1e-7, f"float64: relative error {error64:.1e}, expect about 1e-10: check numeric_dW"
    assert error32 > 1e-4, f"float32: relative error {error32:.1e}; a float32 check should fail (about 6e-3)"


try_it("float32 against float64", check_precision)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# def numeric_dW(layer, x, dout, h=1e-5):
#     """Central differences of L = sum(layer.forward(x) * dout) for each entry of layer.params["W"], in W's dtype."""
#     W = layer.params["W"]
#     grad = np.zeros(tuple(W.shape))
#     for i in range(W.shape[0]):
#         for j in range(W.shape[1]):
#             old = float(W[i, j])
#             W[i, j] = old + h
#             up = float(xp.sum(layer.forward(x) * dout))
#             W[i, j] = old - h
#             down = float(xp.sum(layer.forward(x) * dout))
#             W[i, j] = old  # 次の成分に進む前に元に戻します
#             grad[i, j] = (up - down) / (2 * h)
#     return grad
#
#
# def check_precision():
#     errors = {}
#     for name, dtype in (("float32", xp.float32), ("float64", xp.float64)):
#         layer_d = Dense(n_in, n_out, np.random.default_rng(4), dtype)
#         x_d, dout_d = xp.astype(x, dtype), xp.astype(dout, dtype)
#         layer_d.forward(x_d)
#         layer_d.backward(dout_d)
#         errors[name] = rel_error(numeric_dW(layer_d, x_d, dout_d), layer_d.grads["W"])
#     print({name: f"{error:.1e}" for name, error in errors.items()})
#     error32, error64 = errors.values()
#     assert error64 < 1e-7, f"float64: relative error {error64:.1e}, expect about 1e-10: check numeric_dW"
#     assert error32 > 1e-4, f"float32: relative error {error32:.1e}; a float32 check should fail (about 6e-3)"
#
#
# try_it("float32 against float64", check_precision)
# ```
#
# </details>
#
# <details><summary>答え</summary>
#
# float32 が持つのは、およそ 7 桁です。$L$ は大きさ 1 くらいの数の和なので、$L$ の値にはそれぞれ $10^{-7}$ くらいの丸め誤差があります。
# 一方、差 $L(W + h) - L(W - h)$ は $2h \approx 2 \cdot 10^{-5}$ くらいしかありません。
# 丸め誤差を $2h$ で割ると、商には $10^{-2}$ くらいの誤差が残ります（測ると $6 \cdot 10^{-3}$ でした）。
# そのため、層が正しくても確認は不合格になります。
# float64 はおよそ 16 桁を持つので、同じ商が $10^{-10}$ くらいまで正確です。
# 学習は float32 で問題ありません。float64 が必要なのは確認だけです。
#
# </details>
