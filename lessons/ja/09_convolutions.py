# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   accelerator: GPU
#   colab:
#     gpuType: T4
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · 畳み込み
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/09_convolutions.ipynb)
#
# 全結合層は、すべての画素をすべてのユニットにつなぎます。これに対して畳み込みは、1 つの小さなカーネル（フィルター）を画像の上でずらしながら当てていきます。そのため 3x3 のフィルターなら、画像のどこを見るときも、入力チャンネルと出力チャンネルの組 1 つにつき重みは 9 個で済みます。このレッスンでは、まず畳み込みを 1 回の行列の積に書き直し、その逆伝播をレッスン 01 の全結合層から導きます。すると転置畳み込みが、畳み込みの随伴（adjoint、つまり転置した行列）として、ほとんど手間をかけずに手に入ります。続いてプーリングとアップサンプリングを学び、最後に Keras の畳み込みオートエンコーダを学習させます。演習を含めて 85〜150 分ほどかかります。
#
# このレッスンで学ぶこと
# - im2col: すべてのパッチ（patch、カーネルの下にある小さな窓）を 1 行ずつコピーして、畳み込みを `cols @ W` という 1 回の積にする方法
# - 畳み込みの逆伝播: レッスン 01 の全結合層の 3 つの式と、そのあとの col2im
# - 転置畳み込みが同じ行列を転置したものである理由と、そこから順伝播と逆伝播の両方が得られること
# - レイヤが実際にどの実装を動かしているか、そしてそれが基準の実装（reference implementation）と同じ値を出すことの確認
# - 2 つのレイヤの勾配確認
# - 最大値プーリング（max pooling）とアップサンプリング: 画像を小さくし、また大きくするもう 1 つの方法（Keras のブログのモデルが使うもの）と、その逆伝播
# - 畳み込みオートエンコーダが、全結合のオートエンコーダよりうまく再構成できるもの

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
QUICK = os.environ.get("SCRATCHAE_QUICK") == "1"  # テストが設定する。データとエポックを減らすだけで、プログラムは同じ

# %% [markdown]
# ## 畳み込みを愚直に計算する
#
# 画像のデータの並びは、Keras と同じ NHWC です。`(N, H, W, C)` は、N 枚の画像、H 行、W 列、C チャンネルを表します。形 `(k, k, C, F)` のカーネル `W` からは、F 個の出力チャンネルができます。フィルター $f$ の出力画素 $(y, x)$ は、その位置の下にある k x k のパッチと、フィルターとの内積です。
#
# $$\text{out}_{n,y,x,f} = \sum_{i,j,c} x_{n,\,y s + i,\,x s + j,\,c}\; W_{i,j,c,f} + b_f$$
#
# ここで $s$ はストライドです。フレームワークではこの計算を畳み込みと呼びますが、カーネルを反転させないので、厳密には相互相関（cross-correlation）です。それでは、1 チャンネルの 4x4 の画像 1 枚に、3x3 のカーネルをストライド 1、パディングなしで適用してみましょう。出力は 2x2 になります。

# %%
import numpy as np

from scratchae.backend import to_numpy

x = xp.reshape(xp.arange(1.0, 17.0), (1, 4, 4, 1))  # 4x4 の画像 1 枚。画素の値は 1〜16、float64
K = xp.reshape(xp.asarray([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]), (3, 3, 1, 1))  # Sobel フィルター（x 方向）
print(xp.reshape(x, (4, 4)))


def conv_loops(x, W):
    """Four nested loops, straight from the formula (stride 1, no padding)."""
    n, h, w, c = x.shape
    k, f = W.shape[0], W.shape[3]
    out = xp.zeros((n, h - k + 1, w - k + 1, f), dtype=x.dtype, device=x.device)  # x と同じデバイスに、x と同じ型で作る
    for y in range(h - k + 1):
        for x_ in range(w - k + 1):
            patch = x[:, y:y + k, x_:x_ + k, :]  # (N, k, k, C)
            out[:, y, x_, :] = xp.reshape(patch, (n, -1)) @ xp.reshape(W, (-1, f))
    return out


print(conv_loops(x, K)[0, :, :, 0])

# %% [markdown]
# ## im2col: すべてのパッチを 1 行にする
#
# ループの中身は、毎回同じ内積です。そこで、先に各パッチを行列 `cols` の 1 行ずつにコピーしておきます。行の中の並びは $(i, j, c)$ の順で、これは `W.reshape(k * k * C, F)` の行の並びとちょうど同じです。こうしておけば、すべての出力が 1 回の行列の積 $\text{out} = \text{cols}\, W$ で求まります。`cols` は、カーネルの中の位置（オフセット）$(i, j)$ を 1 つずつ取り上げ、ストライド付きのスライスで作ります。どの行についても $(i, j)$ の列を集めると、画像を $(i, j)$ だけずらしたものになるからです。
#
# 『ゼロから作るDeep Learning』を読んだ人は、並びの違いに注意してください。同書の `im2col` は NCHW の配列を受け取り、各行の列を $(C, k_h, k_w)$ の順に並べます。scratchae の im2col は Keras と同じ NHWC の配列を受け取り、$(k_h, k_w, C)$ の順に並べます。そのため Keras のカーネル `(k, k, C, F)` は、転置しなくてもそのまま `(k k C, F)` に reshape できます。

# %%
def im2col_by_hand(x, k, out_h, out_w):
    """x: (N, H, W, C) -> cols: (N out_h out_w, k k C), stride 1, no padding."""
    n, _, _, c = x.shape
    shifted = [x[:, i:i + out_h, j:j + out_w, :] for i in range(k) for j in range(k)]  # k k 個のスライス
    cols = xp.stack(shifted, axis=3)  # (N, out_h, out_w, k k, C)
    return xp.reshape(cols, (n * out_h * out_w, k * k * c))


cols = im2col_by_hand(x, 3, 2, 2)
print("cols:", cols.shape)
print(cols)  # 0 行目は左上のパッチを 1 行ずつ読んだもの: 1 2 3 5 6 7 9 10 11
out = xp.reshape(cols @ xp.reshape(K, (9, 1)), (1, 2, 2, 1))

# %%
# 確認: 同じ和を別の順番で計算している。値は小さな整数なので差はちょうど 0 になるはずで、それ以外ならバグ。
difference = float(xp.max(xp.abs(out - conv_loops(x, K))))
assert difference == 0.0, difference
print("cols @ W equals the loops:", to_numpy(out)[0, :, :, 0].tolist())  # to_numpy: 表示するためのホストへのコピー

# %% [markdown]
# ## ライブラリの Conv2D
#
# `scratchae.Conv2D` は、この行列の積に、Keras と同じパディングを加えたものです。`padding="same"` のとき、出力は $\lceil H / s \rceil$ 行になります。必要なパディングの合計は $(\text{out} - 1)s + k - H$ で、合計が奇数のときは、余る 1 画素分を下と右に回します。たとえばストライド 2 の 3x3 の畳み込みでは、28 行の画像の上に 0 行、下に 1 行のパディングを入れることになります。`scratchae/im2col.py` にある基準の im2col は、パディングを加えてストライドを使う点を除けば、いま書いた関数と同じです。その随伴である `col2im` も、同じ k k 個のスライスを使います。0 で埋めたパディング付きのバッファにスライスを足し込み、最後にパディングの部分を切り取るのです。2 つの関数のソースコードを表示してみましょう。

# %%
import inspect

from scratchae import Conv2D, Conv2DTranspose, check_layer, rel_error
from scratchae.im2col import col2im, im2col

print(inspect.getsource(im2col))
print(inspect.getsource(col2im))

# %%
rng = np.random.default_rng(0)
layer = Conv2D(3, 4, 3, padding="valid", xp=xp, dtype="float64", rng=rng)  # 入力 3 チャンネル、フィルター 4 個
x3 = xp.asarray(rng.standard_normal((2, 6, 5, 3)))
ours = xp.reshape(im2col_by_hand(x3, 3, 4, 3) @ xp.reshape(layer.params["W"], (27, 4)), (2, 4, 3, 4))
error = rel_error(layer.forward(x3), ours)  # バイアスの初期値は 0 なので、ここでは + b を省く
print(f"Conv2D against im2col_by_hand @ W: {error:.1e}")
# 確認: 同じ積を同じ順番で計算している。0 か 1e-16 程度になるはずで、1e-12 を超えたら 2 つは別の計算。
assert error < 1e-12, error

# %% [markdown]
# ## 逆伝播をレッスン 01 の全結合層から導く
#
# いったん `cols` ができてしまえば、畳み込みは `cols` の各行に全結合層を適用したものにすぎません。各行が 1 つのパッチで、$(k k C, F)$ に reshape したカーネルが重み行列です。
#
# $$\text{out} = \text{cols}\, W + b, \qquad \text{cols}: (N\,o_h o_w,\ k k C),\quad W: (k k C,\ F),\quad
# \text{out}: (N\,o_h o_w,\ F).$$
#
# したがって、レッスン 01 の 3 つの式が、`x` を `cols` に置き換えるだけでそのまま成り立ちます。
#
# $$dW = \text{cols}^\top d\text{out}, \qquad db = \textstyle\sum_{\text{rows}} d\text{out}, \qquad
# d\text{cols} = d\text{out}\, W^\top.$$
#
# 残るのは、`dcols` から `dx` を求める 1 ステップだけです。im2col は画素をコピーするだけなので、線形な操作です。つまり、0 と 1 だけからなる行列 $M$ を使って $\text{cols} = M x$ と書けます（$M$ の各行は画素を 1 つだけ選び出します。パッチがパディングを読むところでは、その行はすべて 0 です）。線形写像の連鎖律から $dx = M^\top d\text{cols}$ となり、`dcols` の各成分は、コピー元の画素へ戻って*足し込まれる*ことになります。いくつものパッチに含まれている画素は、それぞれのパッチから勾配を 1 つずつ受け取って合計するわけです。これが col2im です。
#
# $$dx = \text{col2im}(d\text{cols}) = M^\top d\text{cols}.$$
#
# 次のセルは、ライブラリの `im2col`（パディングとストライドに対応したもの）を使って書いた畳み込みの順伝播で、逆伝播に必要なものをキャッシュとして取っておきます。この順伝播に対応する逆伝播は、演習 2 で自分で実装し、勾配確認で正しさを確かめます。

# %%
from scratchae import numerical_gradient
from scratchae.im2col import conv_geometry


def conv_forward(x, W, b, stride=1, padding="same"):
    """x: (N, H, W, C), W: (k, k, C, F), b: (F,) -> out: (N, oh, ow, F), and the cache backward needs."""
    n, h, w, c = x.shape
    k, f = W.shape[0], W.shape[3]
    oh, top, bottom = conv_geometry(h, k, stride, padding)
    ow, left, right = conv_geometry(w, k, stride, padding)
    pads = (top, bottom, left, right)
    cols = im2col(x, k, stride, (oh, ow), pads)  # (N oh ow, k k C)
    out = cols @ xp.reshape(W, (k * k * c, f)) + b  # (N oh ow, F): cols の各行に全結合層を適用する
    return xp.reshape(out, (n, oh, ow, f)), (cols, tuple(x.shape), k, stride, (oh, ow), pads)


strided = Conv2D(3, 4, 3, stride=2, xp=xp, dtype="float64", rng=6)
strided.params["b"][...] = xp.asarray(rng.standard_normal((4,)))  # バイアスも確かめるため、0 でない値にする
x7 = xp.asarray(rng.standard_normal((2, 7, 7, 3)))
error = rel_error(conv_forward(x7, strided.params["W"], strided.params["b"], stride=2)[0], strided.forward(x7))
print(f"conv_forward against Conv2D (stride 2, same): {error:.1e}")
# 確認: 同じ積なので 1e-16 程度になるはず。1e-12 を超えたら、conv_forward は Conv2D の順伝播と一致していない。
assert error < 1e-12, error

# %% [markdown]
# ライブラリの `Conv2D.backward` も、中身はこの数行です（最初の分岐は、特別な場合をより速い経路に回すためのもので、次の節で説明します）。

# %%
print(inspect.getsource(Conv2D.backward))

# %% [markdown]
# ## どの実装が動くのか
#
# 上の基準の実装が、計算の定義です。ただし実際のレイヤは、同じ値をより速く計算する別の実装を、`scratchae/conv_fast.py` から使うことがあります。それぞれの高速版は、`scratchae/conv.py` にある辞書 `FAST` ひとつで、オンにしたりオフにしたりできます。
#
# - `gather_im2col`: k k 個のスライスと stack の代わりに、1 回の `xp.take`（gather、添字で要素を集める操作）で im2col を行います。
# - `by_output`: ストライド 1 で、フィルターの数が入力チャンネルの数より少ない Conv2D は、出力の側から計算します。まず各画素にカーネル全体を掛け、それから k k 個のずらしたスライスを足し合わせます（`shift_add`）。
#
# 下の keras-conv モデルでは、ストライド 2 の 2 つの Conv2D レイヤは、順伝播で gather 版の im2col を、逆伝播で上の基準の col2im を使います（1 つ目のレイヤは入力への勾配を必要としません）。2 つの Conv2DTranspose レイヤはその逆で、順伝播で基準の col2im を、逆伝播で gather 版の im2col を使います。（より速い col2im も試しましたが、1 エポックの時間はほとんど縮まず、実装を 2 つ抱えるほどの価値はなかったので取り除きました。）最後の Conv2D（32 -> 1、ストライド 1）は `by_output` の経路を通るので、im2col も col2im もまったく使いません。
#
# そのため、上の `im2col` にブレークポイントを置いても、`FAST` がオンのあいだは Conv2D がそこで止まることはありません。試すときは、次のセルのように、先に `FAST` をオフにしてください。このセルは、順伝播、dx、dW、db のすべてについて、2 つのやり方が同じ値になることを確かめます。`tests/test_conv_fast.py` も、すべての速い関数とレイヤについて、すべてのバックエンドで同じことを確かめています。

# %%
from scratchae import conv
from scratchae.gradcheck import random_like

print("conv.FAST =", conv.FAST)
last = Conv2D(32, 1, 3, xp=xp, dtype="float64", rng=5)  # モデルの最後のレイヤと同じ形: by_output の経路を通る
x32 = xp.asarray(rng.standard_normal((2, 7, 7, 32)))
dout32 = random_like(last.forward(x32), rng)


def run_layer():
    out = last.forward(x32)
    dx = last.backward(dout32)
    return out, dx, last.grads["W"], last.grads["b"]


fast = run_layer()
saved = dict(conv.FAST)
conv.FAST.update({name: False for name in conv.FAST})  # スイッチをすべてオフ: im2col.py の基準の実装が動く
reference = run_layer()
conv.FAST.update(saved)
errors = [rel_error(a, b) for a, b in zip(fast, reference)]
print("fast against reference (out, dx, dW, db):", ", ".join(f"{e:.1e}" for e in errors))
# 確認: 同じ和を別の順番で計算している。1e-16 程度になるはずで、1e-12 を超えたら速い経路のどれかが間違っている。
assert max(errors) < 1e-12, errors

# %% [markdown]
# ## 転置畳み込みは転置した行列
#
# 畳み込みは $x$ について線形なので、じつは 1 つの行列 $C$ を掛ける計算にほかなりません。つまり $\text{vec}(\text{out}) = C\,\text{vec}(x)$ と書けます。この行列は、16 枚のワンホット（one-hot）の 4x4 画像（1 つの画素だけが 1 で、残りは 0）をそれぞれ畳み込めば作れます。$C$ の $p$ 列目は、画素 $p$ に対する出力です。畳み込みの逆伝播に必要なのは $dx = C^\top d\text{out}$ です。転置畳み込み（Keras の `Conv2DTranspose`、デコーダで画像を大きくするレイヤ）は、まさにこの写像 $y \mapsto C^\top y$ として定義されます。ここでの $C$ は 4x4 を 2x2 にする、ストライド 2 の "same" の畳み込みなので、$C^\top$ は 2x2 を 4x4 に大きくします。

# %%
import matplotlib.pyplot as plt

down = Conv2D(1, 1, 3, stride=2, xp=xp, dtype="float64", rng=1)  # 4x4 -> 2x2
C = xp.stack([xp.reshape(down.forward(xp.reshape(xp.eye(16, dtype=xp.float64)[p, :], (1, 4, 4, 1))), (4,))
              for p in range(16)], axis=1)  # (4, 16): 入力の画素ごとに 1 列
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for ax, matrix, title in ((axes[0], C, "C: conv 4x4 -> 2x2  (4 x 16)"), (axes[1], C.T, "C.T: 2x2 -> 4x4  (16 x 4)")):
    ax.imshow(to_numpy(matrix), cmap="coolwarm", vmin=-1, vmax=1)
    ax.set_title(title)
    ax.set_xlabel("input pixel")
    ax.set_ylabel("output pixel")
fig.tight_layout()
plt.show()

# %% [markdown]
# $C$ の各行には、1 つのパッチの上に置いた 3x3 のカーネルが 1 つずつ入っています（パディングを読むところは 0 です）。一方、$C^\top$ の各行は、ある画素がどの出力のパッチに含まれていたかを表しています。したがって、転置畳み込みの順伝播は Conv2D の入力への勾配と同じ計算、すなわち $y\,W^\top$ の col2im になり、各成分はコピー元の画素へ足し戻されます。そしてその逆伝播は、Conv2D の順伝播の部品（`dout` の im2col と、行列の積）で組み立てられます。では、ライブラリの `Conv2DTranspose` に同じカーネルを与えてみましょう。`Conv2DTranspose` のカーネルの形は `(k, k, filters, in)` で、転置する元の畳み込みのカーネルの形そのままです。結果は $C^\top y$ にならなければなりません。

# %%
up = Conv2DTranspose(1, 1, 3, stride=2, xp=xp, dtype="float64")
up.params["W"][...] = down.params["W"]  # どちらも (3, 3, 1, 1)
y = xp.asarray(rng.standard_normal((1, 2, 2, 1)))
error = rel_error(up.forward(y), xp.reshape(C.T @ xp.reshape(y, (4,)), (1, 4, 4, 1)))
print(f"Conv2DTranspose(y) against C.T @ y: {error:.1e}")
x4 = xp.asarray(rng.standard_normal((1, 4, 4, 1)))
lhs, rhs = float(xp.sum(down.forward(x4) * y)), float(xp.sum(x4 * up.forward(y)))
print(f"<conv(x), y> = {lhs:.12f},  <x, conv_transpose(y)> = {rhs:.12f}")
# 確認: 同じ行列を両方の向きで使っている。1e-16 程度になるはずで、1e-12 を超えたら転置が随伴になっていない。
assert error < 1e-12 and abs(lhs - rhs) < 1e-12, (error, lhs, rhs)

# %% [markdown]
# ## 勾配確認
#
# 2 つのレイヤの勾配確認をします。float64 で計算し、上流からの勾配（upstream gradient）にはランダムな値を使います。ストライドは 2 で、小さくするほうは奇数の大きさの画像（7 -> 4）、大きくするほうは 4 -> 8 です。そのうえで、すべての勾配を中心差分で求めた数値微分と比べます（レッスン 01 と同じ `check_layer` を使います）。

# %%
for layer, shape in ((Conv2D(3, 5, 3, stride=2, xp=xp, dtype="float64", rng=2), (2, 7, 7, 3)),
                     (Conv2DTranspose(3, 2, 3, stride=2, xp=xp, dtype="float64", rng=3), (2, 4, 4, 3))):
    report = check_layer(layer, xp.asarray(rng.standard_normal(shape)), rng=4, max_entries=60)
    worst = max(check.error for check in report.values())
    print(f"{layer!r}: worst relative error {worst:.1e}")
    # 確認: 1e-10 程度になるはず。1e-7 を超えたら、そのレイヤの逆伝播にバグがある。
    assert worst < 1e-7, report

# %% [markdown]
# ## プーリングとアップサンプリング
#
# 画像を小さくする方法の 1 つがストライドで、大きくする方法の 1 つが転置畳み込みでした。Keras のブログの畳み込みオートエンコーダは、これとは別の組み合わせを使います。畳み込みはすべてストライド 1 のままにしておき、畳み込みと畳み込みのあいだで画像の大きさを変えるのです。
#
# - `MaxPool2D(2)` は、2x2 の窓ごとにいちばん大きな値を残します。式で書くと $\text{out}_{n,y,x,c} = \max_{i,j<2} x_{n,\,2y+i,\,2x+j,\,c}$ で、行も列も半分になります。
# - `UpSampling2D(2)` は、各画素を 2x2 のブロックに複製します。式で書くと $\text{out}_{n,y,x,c} = x_{n,\,\lfloor y/2\rfloor,\,\lfloor x/2\rfloor,\,c}$ で、行も列も 2 倍になります。このレイヤには重みがなく、画像を仕上げるのは、その後ろの畳み込みの役目です。
#
# 2 つの逆伝播は、それぞれ 1 つの微分から導けます。最大値はいちばん大きな引数だけで決まり、その引数についての傾きは 1 です（それより小さい引数を少し動かしても、最大値は変わりません）。したがって MaxPool の `dx` は、各窓の最大値の位置では `dout`、残りの 3 つの位置では 0 になります。一方 UpSampling は各入力画素を 4 つの出力にコピーするので、その画素の勾配は、対応する 2x2 のブロックにわたる `dout` の和です。これは col2im と同じ決まりで、コピーの逆伝播は足し算になるということです。最初に使った 4x4 の画像で、両方を確かめてみましょう。

# %%
from scratchae import MaxPool2D, UpSampling2D
from scratchae.models import conv_pool_autoencoder

pool, upsample = MaxPool2D(2), UpSampling2D(2)
pooled = pool.forward(x)
print("MaxPool2D(2):", to_numpy(pooled)[0, :, :, 0].tolist())  # 2x2 の窓ごとの最大値: 6 8 / 14 16
print("UpSampling2D(2) of that:")
print(to_numpy(upsample.forward(pooled))[0, :, :, 0])
dpool = xp.reshape(xp.asarray([[1.0, 2.0], [3.0, 4.0]]), (1, 2, 2, 1))
print("MaxPool2D backward of [[1, 2], [3, 4]]:")
print(to_numpy(pool.backward(dpool))[0, :, :, 0])  # 各値は、その窓の最大値があった位置に入る

# %%
for layer, shape in ((MaxPool2D(2), (2, 6, 8, 3)), (UpSampling2D(2), (2, 3, 4, 3))):
    # ランダムな入力には同点がないので、どの窓にもはっきりした最大値が 1 つある。そこでは max は滑らか
    report = check_layer(layer, xp.asarray(rng.standard_normal(shape)), rng=7)
    print(f"{layer!r}: dx relative error {report['x'].error:.1e}")
    # 確認: 1e-11 程度になるはず。1e-7 を超えたら、そのレイヤの逆伝播にバグがある。
    assert report["x"].error < 1e-7, report

# %% [markdown]
# `conv_pool_autoencoder()` は、これらのレイヤで組み立てた Keras のブログのモデルです。形は下の `conv_autoencoder()` と同じで、28x28 の画像を 7x7x64 の潜在表現まで小さくしてから、元の大きさに戻します。画像 1 枚がモデルの中をどう通っていくか、形を追ってみましょう。

# %%
blog = conv_pool_autoencoder(rng=0, xp=xp, dtype="float64")
h = xp.zeros((1, 784), dtype=xp.float64)
for layer in blog.layers:
    h = layer.forward(h)
    print(f"{layer!r:45s} -> {tuple(h.shape)}")

# %% [markdown]
# ## 畳み込みオートエンコーダ
#
# `conv_autoencoder()` は Keras のモデルです。ストライド 2 の畳み込み 2 つで 28x28 の画像を 7x7x64 の潜在表現にし、ストライド 2 の転置畳み込み 2 つと最後の 3x3 の畳み込みで画像に戻します（`python -m scratchae.train --preset keras-conv` を実行すると、このモデルを 20 エポック学習させます）。ここでは、このモデルを全結合の基準モデルと並べて学習させます。データ、BCE、Adam、ミニバッチはすべて同じにして、レッスン 04 の 5 行の学習ステップ（`train_step`）を使います。

# %%
import time

from scratchae import BCE, Adam, dense_autoencoder, to_device, to_numpy
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import conv_autoencoder
from scratchae.training import evaluate, train_step

N_TRAIN = 512 if QUICK else 60000  # この枚数の訓練画像で 1 エポック
BATCH = 32 if QUICK else 128  # クイックモードではバッチを小さくする: 同じ計算量で、ステップが多くなる
N_TEST = 300 if QUICK else 1000
x_train, _, x_test, y_test = load("fashion-mnist")
x_train, x_test, y_test = to_device(x_train[:N_TRAIN], xp), to_device(x_test[:N_TEST], xp), y_test[:N_TEST]
models = {"conv": conv_autoencoder(rng=0, xp=xp), "dense": dense_autoencoder(rng=0, xp=xp)}
history = {}
for name, model in models.items():
    loss, optimizer = BCE(), Adam(model, lr=1e-3)
    history[name] = [evaluate(model, loss, x_test)]
    started = time.perf_counter()
    order = to_device(epoch_order(N_TRAIN, 0, 0), xp)
    for a, b in batch_slices(N_TRAIN, BATCH):
        train_step(model, loss, optimizer, xp.take(x_train, order[a:b], axis=0))
    history[name].append(evaluate(model, loss, x_test))
    weights = sum(p.size for _, p, _ in model.named_params())
    print(f"{name:5s} ({weights:,} weights): test BCE {history[name][0]:.4f} -> {history[name][1]:.4f} after one "
          f"epoch on {N_TRAIN} images ({time.perf_counter() - started:.0f} s)")

# %%
# 確認: 1 エポックの学習で、テストの BCE は学習前の値から 0.05 以上下がらなければならない。学習前の値は約 0.7 で、
# すべての画素を 0.5 と予測したときの 0.69 に近い。損失が下がらないなら、学習ステップが壊れている。
# 本来の設定では、conv は約 0.25、dense は約 0.31 になるはず。この 2 つの値（0.2516 と 0.3097）は 10,000 枚の
# テスト画像すべてで測ったもの。このレッスンは最初の 1,000 枚（クイックモードでは 300 枚）だけで評価するので、
# 数は少し違う。
for name, losses in history.items():
    assert losses[1] < losses[0] - 0.05, (name, losses)
first = [int(np.flatnonzero(y_test == c)[0]) for c in range(8)]  # 8 つのクラスから 1 枚ずつ選んだテスト画像
fig, axes = plt.subplots(3, 8, figsize=(10, 4))
for row, (title, images) in enumerate((("original", x_test), ("conv", models["conv"].forward(x_test[:100, :])),
                                      ("dense", models["dense"].forward(x_test[:100, :])))):
    for col, i in enumerate(first):
        axes[row, col].imshow(to_numpy(images[i, ...]).reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes[row, col].set_xticks([])
        axes[row, col].set_yticks([])
    axes[row, 0].set_ylabel(title)
fig.tight_layout()
plt.show()

# %% [markdown]
# 畳み込みモデルの重みは全結合モデルの 6 分の 1 にも満たないのに、再構成は畳み込みモデルのほうが上手です。同じ 3x3 のフィルターを画像のすべての位置で使い回し、近くの画素どうしが最後までまとまったまま処理されるからです。ただし、潜在表現はずっと大きくなります。画像 1 枚あたり 7x7x64 = 3136 次元で、全結合モデルの 32 次元と比べると、圧縮の度合いははるかに小さいのです。
#
# ## やってみよう
#
# 1. col2im を自分で実装してください。`im2col_by_hand` の随伴で、各列をコピー元の画素へ足し戻します（ストライド 1、パディングなし）。下のセルは、ランダムな配列を使って、随伴の等式 $\langle \text{im2col}(x), d\rangle = \langle x, \text{col2im}(d)\rangle$ が成り立つかを確かめます。

# %%
from scratchae.exercises import try_it


def col2im_by_hand(dcols, x_shape, k):
    """dcols: (N out_h out_w, k k C) -> dx: x_shape (N, H, W, C), stride 1, no padding."""
    raise NotImplementedError  # この行を自分の実装に置き換える


def check_col2im():
    shape = (2, 5, 6, 3)
    out_h, out_w = 3, 4
    x = xp.asarray(rng.standard_normal(shape))
    d = xp.asarray(rng.standard_normal((2 * out_h * out_w, 27)))
    lhs = float(xp.sum(im2col_by_hand(x, 3, out_h, out_w) * d))
    rhs = float(xp.sum(x * col2im_by_hand(d, shape, 3)))
    assert abs(lhs - rhs) < 1e-9 * abs(lhs), f"<im2col(x), d> = {lhs} but <x, col2im(d)> = {rhs}"


try_it("col2im", check_col2im)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def col2im_by_hand(dcols, x_shape, k):
#     """dcols: (N out_h out_w, k k C) -> dx: x_shape (N, H, W, C), stride 1, no padding."""
#     n, h, w, c = x_shape
#     out_h, out_w = h - k + 1, w - k + 1
#     dcols = xp.reshape(dcols, (n, out_h, out_w, k * k, c))
#     dx = xp.zeros(x_shape, dtype=dcols.dtype)
#     for i in range(k):
#         for j in range(k):
#             dx[:, i:i + out_h, j:j + out_w, :] += dcols[:, :, :, i * k + j, :]  # パッチは重なるので、足し込む
#     return dx
#
#
# def check_col2im():
#     shape = (2, 5, 6, 3)
#     out_h, out_w = 3, 4
#     x = xp.asarray(rng.standard_normal(shape))
#     d = xp.asarray(rng.standard_normal((2 * out_h * out_w, 27)))
#     lhs = float(xp.sum(im2col_by_hand(x, 3, out_h, out_w) * d))
#     rhs = float(xp.sum(x * col2im_by_hand(d, shape, 3)))
#     assert abs(lhs - rhs) < 1e-9 * abs(lhs), f"<im2col(x), d> = {lhs} but <x, col2im(d)> = {rhs}"
#
#
# try_it("col2im", check_col2im)
# ```
#
# </details>

# %% [markdown]
# 2. 上の `conv_forward` に対応する、畳み込みの逆伝播を実装してください。`x` を `cols` に置き換えたレッスン 01 の 3 つの式を使い、最後に col2im を適用します（col2im はライブラリのものを、キャッシュに入っているストライドとパディングで使います）。下のセルは、ランダムな上流からの勾配を使い、7x6 の画像にストライド 2 で、3 つの勾配すべてを数値微分で求めた勾配と比べます。

# %%
def conv_backward(dout, W, cache):
    """dout: (N, oh, ow, F) -> (dx: (N, H, W, C), dW: (k, k, C, F), db: (F,))."""
    cols, x_shape, k, stride, out_hw, pads = cache
    raise NotImplementedError  # この行を自分の実装に置き換える


def check_conv_backward():
    x5, W5, b5 = (xp.asarray(rng.standard_normal(shape)) for shape in ((2, 7, 6, 3), (3, 3, 3, 4), (4,)))
    out, cache = conv_forward(x5, W5, b5, stride=2)
    dout = xp.asarray(rng.standard_normal(tuple(out.shape)))
    grads = conv_backward(dout, W5, cache)

    def L():
        return float(xp.sum(conv_forward(x5, W5, b5, stride=2)[0] * dout))

    errors = {name: rel_error(numerical_gradient(L, a), g) for name, a, g in zip("xWb", (x5, W5, b5), grads)}
    assert max(errors.values()) < 1e-7, f"relative errors {errors}: expect about 1e-10"


try_it("Conv2D backward", check_conv_backward)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# def conv_backward(dout, W, cache):
#     """dout: (N, oh, ow, F) -> (dx: (N, H, W, C), dW: (k, k, C, F), db: (F,))."""
#     cols, x_shape, k, stride, out_hw, pads = cache
#     f = W.shape[3]
#     dout2 = xp.reshape(dout, (-1, f))  # (N oh ow, F): 順伝播と同じく、出力の画素ごとに 1 行
#     dW = xp.reshape(cols.T @ dout2, tuple(W.shape))  # レッスン 01 の x.T @ dout で、x を cols にしたもの
#     db = xp.sum(dout2, axis=0)  # (F,)
#     dcols = dout2 @ xp.reshape(W, (k * k * W.shape[2], f)).T  # (N oh ow, k k C)
#     dx = col2im(dcols, x_shape, k, stride, out_hw, pads)  # 各成分を、コピー元の画素に足し戻す
#     return dx, dW, db
#
#
# def check_conv_backward():
#     x5, W5, b5 = (xp.asarray(rng.standard_normal(shape)) for shape in ((2, 7, 6, 3), (3, 3, 3, 4), (4,)))
#     out, cache = conv_forward(x5, W5, b5, stride=2)
#     dout = xp.asarray(rng.standard_normal(tuple(out.shape)))
#     grads = conv_backward(dout, W5, cache)
#
#     def L():
#         return float(xp.sum(conv_forward(x5, W5, b5, stride=2)[0] * dout))
#
#     errors = {name: rel_error(numerical_gradient(L, a), g) for name, a, g in zip("xWb", (x5, W5, b5), grads)}
#     assert max(errors.values()) < 1e-7, f"relative errors {errors}: expect about 1e-10"
#
#
# try_it("Conv2D backward", check_conv_backward)
# ```
#
# </details>
#
# 3. 2x2 の窓（一般には p x p の窓）の MaxPool の逆伝播を実装してください。画像の縦と横は p で割り切れるものとします。`x` を窓ごとに reshape し、各窓の最大値の位置を見つけて、そこへ `dout` を送ります。下のセルでは、勾配確認と、ライブラリの `MaxPool2D` との比較を行います。

# %%
def maxpool_forward(x, p):
    """x: (N, H, W, C) with H and W divisible by p -> out: (N, H/p, W/p, C), the maximum of each p x p window."""
    n, h, w, c = x.shape
    return xp.max(xp.reshape(x, (n, h // p, p, w // p, p, c)), axis=(2, 4))


def maxpool_backward(dout, x, p):
    """dout: (N, H/p, W/p, C) -> dx: (N, H, W, C), dout at each window's maximum, 0 elsewhere."""
    raise NotImplementedError  # この行を自分の実装に置き換える


def check_maxpool_backward():
    x6 = xp.asarray(rng.standard_normal((2, 6, 4, 3)))  # ランダムな値: 同点がなく、窓ごとに最大値が 1 つ
    dout = xp.asarray(rng.standard_normal((2, 3, 2, 3)))
    dx = maxpool_backward(dout, x6, 2)
    error = rel_error(numerical_gradient(lambda: float(xp.sum(maxpool_forward(x6, 2) * dout)), x6), dx)
    library = MaxPool2D(2)
    library.forward(x6)
    same = rel_error(library.backward(dout), dx)
    assert error < 1e-7 and same < 1e-12, f"gradient check {error:.1e} (expect about 1e-11), against MaxPool2D {same:.1e}"


try_it("MaxPool backward", check_maxpool_backward)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# def maxpool_forward(x, p):
#     """x: (N, H, W, C) with H and W divisible by p -> out: (N, H/p, W/p, C), the maximum of each p x p window."""
#     n, h, w, c = x.shape
#     return xp.max(xp.reshape(x, (n, h // p, p, w // p, p, c)), axis=(2, 4))
#
#
# def maxpool_backward(dout, x, p):
#     """dout: (N, H/p, W/p, C) -> dx: (N, H, W, C), dout at each window's maximum, 0 elsewhere."""
#     n, h, w, c = x.shape
#     windows = xp.reshape(x, (n, h // p, p, w // p, p, c))
#     top = xp.max(windows, axis=(2, 4), keepdims=True)  # (N, H/p, 1, W/p, 1, C)
#     mask = xp.astype(windows == top, dout.dtype)  # 各窓の最大値の位置で 1（同点なら 1 が 2 つになる）
#     dwindows = mask * xp.reshape(dout, (n, h // p, 1, w // p, 1, c))  # dout を、その窓全体にブロードキャストする
#     return xp.reshape(dwindows, (n, h, w, c))
#
#
# def check_maxpool_backward():
#     x6 = xp.asarray(rng.standard_normal((2, 6, 4, 3)))  # ランダムな値: 同点がなく、窓ごとに最大値が 1 つ
#     dout = xp.asarray(rng.standard_normal((2, 3, 2, 3)))
#     dx = maxpool_backward(dout, x6, 2)
#     error = rel_error(numerical_gradient(lambda: float(xp.sum(maxpool_forward(x6, 2) * dout)), x6), dx)
#     library = MaxPool2D(2)
#     library.forward(x6)
#     same = rel_error(library.backward(dout), dx)
#     assert error < 1e-7 and same < 1e-12, f"gradient check {error:.1e} (expect about 1e-11), against MaxPool2D {same:.1e}"
#
#
# try_it("MaxPool backward", check_maxpool_backward)
# ```
#
# </details>
#
# なお、同点（1 つの窓の中に等しい最大値が 2 つあること）があると、このマスクは `dout` を両方に送ってしまいます。ライブラリは PyTorch や Keras と同じく、最初の 1 つにだけ渡します。同点のところは折れ点（kink）なので、そこではどんな勾配確認も成り立ちません。
#
# 4. ストライド 2 の "same" の畳み込みは、28 行の画像には上に 0 行、下に 1 行のパディングを入れますが、7 行の画像には上下に 1 行ずつ入れます。$\text{out} = \lceil H/s \rceil$ とパディングの合計 $(\text{out}-1)s + k - H$ から、両方を導いてください。また、PyTorch の `padding=1` は、どちらの場合も上下に 1 行ずつ入れます。このとき、28 行の画像の出力はどうなるでしょうか。
#
# <details><summary>答え</summary>
#
# H = 28 のときは out = 14、合計 = 13 * 2 + 3 - 28 = 1 なので、上に 0 行、下に 1 行です。H = 7 のときは out = 4、合計 = 3 * 2 + 3 - 7 = 2 なので、上下に 1 行ずつです。
#
# 28 行の画像の上下に 1 行ずつ入れた場合も、PyTorch の出力は 14 行になります（余分に足した下の行には、ストライド 2 の窓が届かないからです）。しかし、どの窓も 1 行上から始まることになります。つまり、読み取る位置の格子が入力の 1 画素分だけ上にずれ、どの出力も違う画素を読むのです。形は同じでも、値は違ってしまいます。scratchae のテストで PyTorch のパディングを明示的に指定しているのは、このためです。
#
# </details>
