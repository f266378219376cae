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
# # 15 · 系列から系列へ: LSTM オートエンコーダ
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/15_seq2seq.ipynb)
#
# データの中には、系列として届くものがあります。
# たとえば、1 時間ごとの電力の需要、手の位置、上から下へ 1 行ずつ読んだ画像の行です。
# 系列から系列への（sequence-to-sequence、seq2seq）オートエンコーダは、再帰型の層（recurrent layer）で系列全体を読み、1 つのコードにまとめます。この層がエンコーダです。
# もう 1 つの再帰型の層が、そのコードから系列を書き戻します。この層がデコーダです。
# ここで使う再帰型の層は、LSTM（long short-term memory）です。
# LSTM の 1 ステップを手で書き、その逆伝播を導いて、どちらも確かめます。
# 次に、Fashion-MNIST の画像を 1 行ずつ読ませて、モデルを学習させます。
# 最後に、そのモデルを使って、実際の生体信号の記録から異常を 1 つ見つけます。
# 時間は、演習を含めて 60〜90 分を見てください。
#
# このレッスンで学ぶこと
# - LSTM の 1 ステップ: 4 つのゲート、記憶セル（cell state）と隠れ状態（hidden state）、そしてすべての配列の形。
# - BPTT（Backpropagation Through Time、通時的誤差逆伝播法）: 1 ステップについて導き、数値微分で確かめます。
# - ステップのループ。`scratchae.lstm.LSTM` と照らし合わせます。
# - LSTM -> RepeatVector -> LSTM というモデル。画像を、28 画素の行が 28 行並んだ系列として読ませて学習させます。
# - 短いウィンドウのモデルで、7,501 点の時系列データの中から異常を 1 つ見つける方法。簡単な基準（ベースライン）と比べます。

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
# ## LSTM の 1 ステップ
#
# ステップ $t$ で、層は入力の 1 行 $x_t$ と、1 つ前のステップでの自分の状態を読みます。
# 状態は 2 つあります。隠れ状態 $h_{t-1}$（層が出力するもの）と、記憶セル $c_{t-1}$（層の記憶）です。
# 1 回の行列の積で、$H$ 個ずつの数のブロックを 4 つ作ります。
# ブロックはゲートごとに 1 つで、Keras と同じ順（入力、忘却、セル、出力）に並びます。
# 『ゼロから作るDeep Learning ❷』の順（f, g, i, o）とは違うので、気をつけてください:
#
# $$a = x_t W_x + h_{t-1} W_h + b, \qquad x_t: (N, D),\; W_x: (D, 4H),\; h_{t-1}: (N, H),\; W_h: (H, 4H),\;
# b: (4H)$$
#
# $$i = \sigma(a_i),\quad f = \sigma(a_f),\quad g = \tanh(a_g),\quad o = \sigma(a_o)$$
#
# $$c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t)$$
#
# $\odot$ は要素ごとの積です。
# 忘却ゲート $f$ は、古い記憶をどれだけ残すかを決めます。
# 入力ゲート $i$ は、新しい候補 $g$ をどれだけ書き込むかを決めます。
# 出力ゲート $o$ は、記憶をどれだけ外に見せるかを決めます。
# ゲートはシグモイド関数なので、どれも 0 と 1 の間の値です。$g$ は -1 と 1 の間の値です。
# 最初のステップは $h_0 = c_0 = 0$ から始めます。
#
# ステップを書きましょう。ここでは NumPy と float64 を使います。
# この小さな配列は確かめるためのもので、速さのためではありません。

# %%
import numpy as np


def sigmoid(a):
    """1 / (1 + exp(-a)), written with tanh: no overflow for large negative a (lesson 02)."""
    return 0.5 * np.tanh(0.5 * a) + 0.5


def lstm_step(x_t, h_prev, c_prev, Wx, Wh, b):
    """One step.  x_t: (N, D), h_prev, c_prev: (N, H) -> h, c: (N, H), and the cache for the backward pass."""
    H = h_prev.shape[1]
    a = x_t @ Wx + h_prev @ Wh + b  # (N, 4H)
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])  # どちらも (N, H)
    g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g  # (N, H)
    h = o * np.tanh(c)  # (N, H)
    return h, c, (x_t, h_prev, c_prev, i, f, g, o, c)


rng = np.random.default_rng(0)
N, D, H = 3, 5, 4
Wx, Wh, b = rng.normal(0, 0.5, (D, 4 * H)), rng.normal(0, 0.5, (H, 4 * H)), rng.normal(0, 0.5, 4 * H)
x_t, h_prev, c_prev = rng.normal(size=(N, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H))
h, c, cache = lstm_step(x_t, h_prev, c_prev, Wx, Wh, b)
print("h:", h.shape, "c:", c.shape)
print("gates of the first example (i, f, g, o):")
print(np.round(np.stack(cache[3:7])[:, 0, :], 3))

# %% [markdown]
# ## 1 ステップの逆伝播
#
# 後のステップからは、2 つの勾配が返ってきます。
# 1 つは $dh_t$ です。このステップでの損失と、ステップ $t+1$ から来ます。
# もう 1 つは $dc_{t+1 \to t}$ で、ステップ $t+1$ が返す記憶セルの勾配です（コードでは `dc_next`。最後のステップでは 0 です）。
# 順伝播の行を、逆の順にたどりましょう。
# $h_t = o \odot \tanh(c_t)$ からは $do$ が出ます。また、$c_t$ に入る 2 つ目の道ができます:
#
# $$do = dh_t \odot \tanh(c_t), \qquad dc_t = dc_{t+1 \to t} + dh_t \odot o \odot (1 - \tanh^2(c_t))$$
#
# $c_t = f \odot c_{t-1} + i \odot g$ は積の和です。ですから、各因子の勾配は、相手の因子をかけたものになります:
#
# $$di = dc_t \odot g,\quad dg = dc_t \odot i,\quad df = dc_t \odot c_{t-1},\quad dc_{t \to t-1} = dc_t \odot f$$
#
# 活性化関数を通すと（$\sigma' = \sigma(1 - \sigma)$、$\tanh' = 1 - \tanh^2$）、$da$ の 4 つのブロックは $di \odot i(1-i)$、$df \odot f(1-f)$、$dg \odot (1-g^2)$、$do \odot o(1-o)$ になります。
# 最後に、$a$ の式は、入力が 2 つある全結合層と同じです（レッスン 01）:
#
# $$dW_x = x_t^\top da,\quad dW_h = h_{t-1}^\top da,\quad db = \textstyle\sum_n da,\quad dx_t = da\, W_x^\top,
# \quad dh_{t-1} = da\, W_h^\top$$

# %%
def lstm_step_backward(dh, dc_next, cache, Wx, Wh):
    """dh, dc_next: (N, H) -> dx_t (N, D), dh_prev (N, H), dc_prev (N, H), dWx, dWh, db."""
    x_t, h_prev, c_prev, i, f, g, o, c = cache
    tc = np.tanh(c)
    do = dh * tc
    dc = dc_next + dh * o * (1 - tc**2)  # c_t に入る道は 2 つ: ステップ t + 1 からの道と、h_t を通る道
    di, dg, df = dc * g, dc * i, dc * c_prev
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1)  # (N, 4H)
    return da @ Wx.T, da @ Wh.T, dc * f, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)


# %% [markdown]
# 数値微分で確かめます。
# 損失を $L = \sum h_t \odot u_h + \sum c_t \odot u_c$ とします。$u_h$、$u_c$ はランダムな上流からの勾配（upstream gradient）です。
# すると $dL/dh_t = u_h$、$dL/dc_t = u_c$ となり、これが逆伝播の 2 つの入力になります。
# すべて 1 の勾配ではなく、ランダムな勾配を使います。
# すべて 1 の上流からの勾配では、その勾配を使い忘れた逆伝播のバグが隠れることがあるからです（レッスン 01）。

# %%
from scratchae.gradcheck import numerical_gradient, rel_error

u_h, u_c = rng.normal(size=(N, H)), rng.normal(size=(N, H))


def loss_of_step():
    h, c, _ = lstm_step(x_t, h_prev, c_prev, Wx, Wh, b)
    return float(np.sum(h * u_h) + np.sum(c * u_c))


_, _, cache = lstm_step(x_t, h_prev, c_prev, Wx, Wh, b)
analytic = lstm_step_backward(u_h, u_c, cache, Wx, Wh)
names = ["x_t", "h_prev", "c_prev", "Wx", "Wh", "b"]
# 確認: 相対誤差はどれも 1e-10 程度か、それより小さくなるはずです。1e-7 を超えたら、逆伝播のバグです。
for name, array, grad in zip(names, [x_t, h_prev, c_prev, Wx, Wh, b], analytic):
    error = rel_error(grad, numerical_gradient(loss_of_step, array))
    print(f"d{name:<7} relative error {error:.1e}")
    assert error < 1e-7, name

# %% [markdown]
# ## ステップのループと BPTT
#
# 層は、同じ重みでステップを $T$ 回くり返します。
# 順伝播は $t = 1$ から $T$ へ進みます。
# 逆伝播は $t = T$ から 1 へ戻ります。
# 各ステップが受け取る勾配は、自分の出力での損失の勾配に、次のステップが返した $dh$ と $dc$ を足したものです。
# 重みはすべてのステップで共有されているので、重みの勾配はステップについて足し合わせます。
# これが BPTT（通時的誤差逆伝播法）です。

# %%
def lstm_forward(x, Wx, Wh, b):
    """x: (N, T, D) -> hs: (N, T, H), every step's hidden state, and the caches of the T steps."""
    n, steps, _ = x.shape
    h = c = np.zeros((n, Wh.shape[0]))
    hs, caches = [], []
    for t in range(steps):
        h, c, cache = lstm_step(x[:, t, :], h, c, Wx, Wh, b)
        hs.append(h)
        caches.append(cache)
    return np.stack(hs, axis=1), caches


def lstm_backward(dhs, caches, Wx, Wh):
    """dhs: (N, T, H), dL/dh_t of every step -> dx (N, T, D), dWx, dWh, db summed over the steps."""
    n, steps, H = dhs.shape
    dh_next, dc_next = np.zeros((n, H)), np.zeros((n, H))
    dx, dWx, dWh, db = [None] * steps, 0, 0, 0
    for t in reversed(range(steps)):
        dx[t], dh_next, dc_next, dWx_t, dWh_t, db_t = lstm_step_backward(dhs[:, t, :] + dh_next, dc_next,
                                                                         caches[t], Wx, Wh)
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return np.stack(dx, axis=1), dWx, dWh, db


# %% [markdown]
# scratchae の `LSTM` も同じ計算をしますが、速くするための工夫が 2 つあります。
# 1 つは、$T$ ステップすべての入力の積 $x_t W_x$ を、ループの前に 1 回の行列の積で計算することです。
# もう 1 つは、重みの勾配を、ループの後にそれぞれ 1 回の積で計算することです。
# 層と同じ重みを使って、順伝播、$dx$、3 つの重みの勾配を比べましょう。

# %%
from scratchae.backend import cpu_xp, to_numpy
from scratchae.lstm import LSTM

T = 7
layer = LSTM(D, H, return_sequences=True, rng=1, xp=cpu_xp, dtype="float64")
Wx, Wh, b = (to_numpy(layer.params[k]) for k in ("Wx", "Wh", "b"))  # 層自身の初期の重み
x_seq = rng.normal(size=(N, T, D))
hs, caches = lstm_forward(x_seq, Wx, Wh, b)
dhs = rng.normal(size=(N, T, H))  # 各ステップに、ランダムな上流からの勾配
mine = lstm_backward(dhs, caches, Wx, Wh)
library_out = layer.forward(x_seq)
library = (layer.backward(dhs), layer.grads["Wx"], layer.grads["Wh"], layer.grads["b"])
# 確認: 同じ float64 の計算を、別の順で行っています。1e-15 程度になるはずです。1e-10 を超えたらバグです。
print(f"forward: relative error {rel_error(hs, library_out):.1e}")
assert rel_error(hs, library_out) < 1e-10
for name, a, b_ in zip(["dx", "dWx", "dWh", "db"], mine, library):
    print(f"{name:<4} relative error {rel_error(a, b_):.1e}")
    assert rel_error(a, b_) < 1e-10, name

# %% [markdown]
# `tests/test_lstm.py` は、ライブラリの層を数値微分とも照らし合わせます（T = 1 と 7、`return_sequences` ありとなし）。
# PyTorch が入っていれば、`torch.nn.LSTM` とも比べます。
#
# ## モデル: LSTM -> RepeatVector -> LSTM
#
# エンコーダは 2 つの LSTM 層です。
# 1 つ目は 28 個の隠れ状態をすべて返し、2 つ目は最後の隠れ状態だけを返します。それがコード（30 個の数）です。
# デコーダは、まずコードをすべてのステップにコピーします（`RepeatVector(28)`）。
# 3 つ目の LSTM がそのコピーを読み、28 個の隠れ状態を返します。
# 最後に 1 つの全結合層が、その 1 つ 1 つを 28 画素の行に変えます（`TimeDistributed(Dense(100, 28))`）。
# これは『Hands-On Machine Learning』第 3 版（邦訳『scikit-learn、Keras、TensorFlow による実践機械学習 第 3 版』）の再帰型のオートエンコーダです。
# 出力は線形で、損失関数は MSE です。
# `rows_autoencoder` は、このモデルを平らな画像に使えるように包んだものです。
# (N, 784) を (N, 28, 28) に形を変えて入れ、出力を (N, 784) に戻します。
#
# モデルを表示すると、LSTM 層は `FastLSTM` と表示されます。組み立て関数は `scratchae/lstm_fast.py` の `FastLSTM` を使うからです。これは上で確かめた `LSTM` と同じ層（同じ重み、同じ保存ファイル）を、1 ステップあたりの配列演算を減らして書き直した実装で、`LSTM` と丸め誤差の範囲で一致することをテストで確かめています。そのぶん学習の 1 ステップが速くなります（`benchmarks/README.md`）。このレッスンの `LSTM` そのものを使うときは `rows_autoencoder(rng=0, xp=xp, fast=False)` とします。
#
# 本来の設定は、このレシピの設定です（`python -m scratchae.train --preset seq2seq`）。
# 訓練画像の最初の 55,000 枚を、バッチ 32 で 10 エポック学習します。
# 訓練画像の最後の 5,000 枚は、検証データにします。
# クイックモードでは、1,000 枚で 1 エポックだけ学習し、その 5,000 枚のうち最初の 1,000 枚で検証します。

# %%
from scratchae import MSE, Adam, to_device
from scratchae.data import batch_slices, epoch_order, load
from scratchae.seq2seq import rows_autoencoder
from scratchae.training import evaluate, train_step

N_TRAIN, N_VAL, EPOCHS = (1000, 1000, 1) if QUICK else (55000, 5000, 10)
x_train, y_train, x_test, y_test = load("fashion-mnist")
x = to_device(x_train[:N_TRAIN], xp)  # (N_TRAIN, 784): 28 画素の行が 28 行
x_val = to_device(x_train[55000:55000 + N_VAL], xp)  # (N_VAL, 784): 学習には使いません
model, loss = rows_autoencoder(rng=0, xp=xp), MSE()
print(model)
optimizer = Adam(model, lr=2e-3)
for epoch in range(EPOCHS):
    order = to_device(epoch_order(N_TRAIN, 0, epoch), xp)
    for a, b in batch_slices(N_TRAIN, 32):
        train_step(model, loss, optimizer, xp.take(x, order[a:b], axis=0))
    print(f"epoch {epoch + 1}: validation MSE {evaluate(model, loss, x_val):.4f}")

# %% [markdown]
# クイックモードでは、学習はずっと手前で止まります（MSE は 0.06 くらいです）。
# 本来の設定は、`python -m scratchae.train --preset seq2seq` の設定です（モデル、シード、バッチ、学習率 2e-3 の Adam が同じです）。
# これを CPU で 1 回実行したところ、検証データの MSE は 1 エポック後に 0.0176、5 エポック後に 0.0115、10 エポック後に 0.0098 になりました。
# 10,000 枚のテスト画像では 0.0097 でした（`docs/results.md`）。
# 本の Keras のモデル（Nadam）は、1 エポック後に 0.0208、10 エポック後に 0.0104 になります。
# 同じ本の全結合の 784-100-30-100-784 オートエンコーダは、20 エポック後に 0.0132 です。
# LSTM のモデルのほうが、低い値で終わります。
#
# ## 再構成
#
# テスト画像はそれぞれ 28 行として入り、30 個の数から戻ってきます。

# %%
import matplotlib.pyplot as plt

from scratchae.plots import one_per_class

pick = one_per_class(y_test)  # 各クラスの最初のテスト画像
recon = to_numpy(model.forward(to_device(x_test[pick], xp)))  # (10, 784)
fig, axes = plt.subplots(2, len(pick), figsize=(1.2 * len(pick), 2.8))
for j, k in enumerate(pick):
    for row, image in ((0, x_test[k]), (1, recon[j])):
        axes[row, j].imshow(image.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes[row, j].axis("off")
axes[0, 0].set_title("test images, then their reconstructions", loc="left", fontsize=9)
plt.show()

# %% [markdown]
# ## ゲートの働き
#
# 次に、自分で書いた `lstm_step` を、学習したエンコーダの 1 つ目の LSTM の重みで動かします。
# 入力はテスト画像 1 枚で、1 行ずつ読ませます。
# 図は、最初の 16 ユニットについて、4 つのゲートと記憶セルの値を 28 行にわたって示します。
# たいていの画像では、上と下に背景の行（黒で、すべて 0）があります。
# そこでゲートが何をしているかを見てください。

# %%
first = model.encoder.layers[1]  # layers[0] は (N, 28, 28) への Reshape です
Wx1, Wh1, b1 = (to_numpy(first.params[k]).astype(np.float64) for k in ("Wx", "Wh", "b"))
rows_of_image = x_test[pick[0]].reshape(1, 28, 28).astype(np.float64)  # (1, T = 28, D = 28)
_, steps = lstm_forward(rows_of_image, Wx1, Wh1, b1)
units = slice(0, 16)
panels = {"input gate i": 3, "forget gate f": 4, "candidate g": 5, "output gate o": 6, "cell state c": 7}
fig, axes = plt.subplots(1, 6, figsize=(15, 2.8))
axes[0].imshow(rows_of_image[0], cmap="gray")
axes[0].set_title("the image, row t", fontsize=9)
for ax, (title, k) in zip(axes[1:], panels.items()):
    values = np.stack([cache[k][0, units] for cache in steps], axis=0)  # (28 ステップ, 16 ユニット)
    im = ax.imshow(values, cmap="coolwarm", vmin=-1, vmax=1, aspect="auto")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("unit")
axes[1].set_ylabel("step t (image row)")
fig.colorbar(im, ax=axes[1:].tolist(), shrink=0.8)
plt.show()

# %% [markdown]
# 図の 1 行が、`lstm_step` の 1 回の呼び出しです。
# ゲートの値は [0, 1]（白から赤）、$g$ の値は [-1, 1] の範囲にあります。
# 記憶セルの値は 1 を超えることがありますが、色は [-1, 1] の外では変わりません。
# 忘却ゲートが 1 に近いユニットは、記憶を残します。0 に近いユニットは、記憶を消します。

# %% [markdown]
# ## 長い時系列データの中の異常
#
# UCR 異常検知アーカイブ（UCR anomaly archive）の系列 135（InternalBleeding16、Wu と Keogh 2021）は、7,501 点からなる生体信号の記録です。
# 同じ形の周期が、およそ 185 点ごとにくり返されます。
# 最初の 1,200 点は正常で、これを訓練データにします。
# その後のどこかで、12 点（インデックス 4187〜4198）に異常のラベルがついています。
# アーカイブのルールでは、検出器は答えを 1 つだけ出します。スコアが最も高い点です。
# その点がラベルから 100 点以内にあれば、見つけたと数えます。
# scratchae はこのファイルを `data/timeseries/` に同梱していて、読み込むときに SHA-256 を確かめます。
#
# モデルが見るのは、系列全体ではなく短いウィンドウです（スライディングウィンドウ）。
# ウィンドウ $i$ は、64 個の点 $s_i, \dots, s_{i+63}$ です。
# 訓練データの点から作れるすべてのウィンドウで、LSTM オートエンコーダを学習させます。
# 次に、系列全体のすべてのウィンドウに、再構成誤差 $e_i$ でスコアをつけます。
# 1 つの点 $p$ は、最大で 64 個のウィンドウに含まれます。点のスコアは、それらのウィンドウのスコアの平均です:
#
# $$\text{score}(p) = \frac{1}{|W_p|} \sum_{i \in W_p} e_i, \qquad W_p = \{\, i : i \le p \le i + 63 \,\}$$
#
# 値は、訓練データの点だけから求めた平均と標準偏差でスケールします。
# モデルにテストの部分を見せてはいけません。統計量を通してでもです。

# %%
from scratchae.series import anomaly_region, load_series_135
from scratchae.seq2seq import lstm_autoencoder
from scratchae.windows import mean_squared_errors, nearest_distances, point_scores, sliding_windows

WINDOW, EPOCHS_135 = 64, (1 if QUICK else 20)
train, test, is_anomaly = load_series_135()  # (1200,), (7501,), (7501,) の bool
start, stop = anomaly_region(is_anomaly)
mean, std = float(train.mean()), float(train.std())
train_w = sliding_windows(to_device((train - mean) / std, xp), WINDOW)  # (1137, 64)
test_w = sliding_windows(to_device((test - mean) / std, xp), WINDOW)  # (7438, 64)
print("training windows", train_w.shape, "test windows", test_w.shape, "labelled anomaly", start, "-", stop)

series_model = lstm_autoencoder(WINDOW, 1, hidden=32, code=8, rng=0, xp=xp)  # 1 ステップに 1 つの値
windows_in = xp.reshape(train_w, (train_w.shape[0], WINDOW, 1))  # (1137, 64, 1)
optimizer = Adam(series_model, lr=1e-3)
for epoch in range(EPOCHS_135):
    order = to_device(epoch_order(train_w.shape[0], 0, epoch), xp)
    for a, b in batch_slices(train_w.shape[0], 32):
        value = train_step(series_model, loss, optimizer, xp.take(windows_in, order[a:b], axis=0))
print(f"{EPOCHS_135} epochs; last batch's MSE {float(value):.4f}")

errors = mean_squared_errors(series_model, xp.reshape(test_w, (test_w.shape[0], WINDOW, 1)))  # (7438,)
lstm_score = to_numpy(point_scores(errors, WINDOW))  # (7501,)
answer = int(np.argmax(lstm_score))
print(f"LSTM autoencoder: highest score at {answer}, {'found' if start - 100 <= answer <= stop + 100 else 'missed'}")

# %% [markdown]
# ## 基準（ベースライン）: 最も近い訓練ウィンドウ
#
# Wu と Keogh は、発表された検出器の多くは簡単なルールに勝てない、と主張しています。
# そのルールとは、ウィンドウのスコアを、最も近い訓練ウィンドウ（最近傍）までの距離にするというものです。
# 訓練で見たものに似たウィンドウは、スコアが低くなります。
# どの訓練ウィンドウとも似ていないウィンドウは、スコアが高くなります。
# このルールには、学習するものが何もありません。
# `nearest_distances` は、すべての距離を 1 回の行列の積で計算します。
# $\|q - r\|^2 = \|q\|^2 + \|r\|^2 - 2\, q \cdot r$ を使います。

# %%
nearest_score = to_numpy(point_scores(nearest_distances(test_w, train_w), WINDOW))  # (7501,)
nearest_answer = int(np.argmax(nearest_score))
print(f"nearest window: highest score at {nearest_answer}, "
      f"{'found' if start - 100 <= nearest_answer <= stop + 100 else 'missed'}")

fig, axes = plt.subplots(3, 2, figsize=(14, 6), gridspec_kw={"width_ratios": [3, 1]}, sharex="col")
zoom = slice(start - 400, stop + 400)
for col, part in enumerate((slice(0, test.size), zoom)):
    t = np.arange(test.size)[part]
    axes[0, col].plot(t, test[part], color="k", linewidth=0.7)
    for row, (name, score, where) in enumerate((("LSTM autoencoder", lstm_score, answer),
                                                 ("nearest window", nearest_score, nearest_answer)), start=1):
        axes[row, col].plot(t, score[part] / score.max(), linewidth=0.8)
        axes[row, col].axvline(where, color="tab:red", linestyle="--", linewidth=1)
        axes[row, 0].set_ylabel(name, fontsize=8)
    for ax in axes[:, col]:
        ax.axvspan(start, stop, color="tab:orange", alpha=0.4)
axes[0, 1].set_xlim(zoom.start, zoom.stop)  # 遠くにある答えで、拡大図の範囲が広がらないようにします
axes[0, 0].set_title("series 135 (orange: the labelled anomaly); below: the scores / their maximum, "
                     "dashed: the answer", loc="left", fontsize=9)
axes[0, 1].set_title("zoom", fontsize=9)
plt.show()

# %% [markdown]
# クイックモードでは、LSTM は 1 エポックしか学習しません。
# 私たちがクイックモードで実行したときは、答えは点 7500 で、ラベルから遠く離れていました。
# 本来の設定（20 エポック、CPU で数分）では、答えは点 4190 で、ラベルの中に入ります。
# 基準の答えは、どちらのモードでも 4197 です。
# `python -m scratchae.series_anomaly --dataset series135` は、同じ学習を行います（シードもバッチも同じなので、答えも同じ 4190 です）。
# さらに、同じウィンドウで全結合のオートエンコーダと PCA も動かし（どちらも答えは 4197）、4 つのスコアを描きます。
# 4 つとも、この異常を見つけます。ただし LSTM のスコアでは、2 番目に高い山もそれほど低くありません。
# つまりこの系列では、Wu と Keogh の予想どおり、簡単な基準が LSTM と同じくらいよく働きます。
# 同じコマンドは、レッスン 12 の 1クラス（one-class）の手順を、系列全体に対しても行います（ItalyPowerDemand と GunPoint）。
# そこで LSTM が PCA に勝つのは、4 つの場合のうち 1 つだけです。`docs/results.md`（"Time series"）を見てください。
#
# ## やってみよう
#
# 1. ウィンドウのスコアを点に広げる計算を、点についての素直なループで書いてください。そして、`point_scores` と比べてください。

# %%
from scratchae.exercises import try_it


def spread(window_scores, w):
    """window_scores: (n,) host array -> (n + w - 1,): each point's mean over the windows that cover it."""
    raise NotImplementedError  # この行を、あなたのコードに置き換えてください


def check_spread():
    e = np.random.default_rng(1).random(50)  # 8 点のウィンドウ 50 個のスコア
    mine = spread(e, 8)
    assert mine.shape == (57,), f"57 points, got {mine.shape}"
    assert np.allclose(mine, to_numpy(point_scores(to_device(e, xp), 8))), "differs from point_scores"


try_it("spread", check_spread)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def spread(window_scores, w):
#     """window_scores: (n,) host array -> (n + w - 1,): each point's mean over the windows that cover it."""
#     n = len(window_scores)
#     out = np.empty(n + w - 1)
#     for p in range(n + w - 1):
#         first, last = max(0, p - w + 1), min(p, n - 1)  # i <= p <= i + w - 1 のとき、ウィンドウ i は点 p を含みます
#         out[p] = np.mean(window_scores[first:last + 1])
#     return out
#
#
# def check_spread():
#     e = np.random.default_rng(1).random(50)  # 8 点のウィンドウ 50 個のスコア
#     mine = spread(e, 8)
#     assert mine.shape == (57,), f"57 points, got {mine.shape}"
#     assert np.allclose(mine, to_numpy(point_scores(to_device(e, xp), 8))), "differs from point_scores"
#
#
# try_it("spread", check_spread)
# ```
#
# </details>
#
# 2. テストのウィンドウ 4100〜4199 について、最も近い訓練ウィンドウまでの距離を、総当たり（距離を 1 つずつ計算する方法）で求めてください。
#    そして、`nearest_distances` と比べてください。

# %%
def nearest_by_brute_force(queries, references):
    """queries: (n, w), references: (m, w) host arrays -> (n,): each query's smallest Euclidean distance."""
    raise NotImplementedError  # この行を、あなたのコードに置き換えてください


def check_nearest():
    q, r = to_numpy(test_w)[4100:4200], to_numpy(train_w)
    mine = nearest_by_brute_force(q, r)
    library = to_numpy(nearest_distances(to_device(q, xp), to_device(r, xp)))
    assert np.allclose(mine, library, rtol=1e-4, atol=1e-3), "differs from nearest_distances"
    print(f"largest distance among them: window {4100 + int(np.argmax(mine))}")


try_it("nearest window", check_nearest)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# def nearest_by_brute_force(queries, references):
#     """queries: (n, w), references: (m, w) host arrays -> (n,): each query's smallest Euclidean distance."""
#     return np.array([min(np.sqrt(np.sum((q - r) ** 2)) for r in references) for q in queries])
#
#
# def check_nearest():
#     q, r = to_numpy(test_w)[4100:4200], to_numpy(train_w)
#     mine = nearest_by_brute_force(q, r)
#     library = to_numpy(nearest_distances(to_device(q, xp), to_device(r, xp)))
#     assert np.allclose(mine, library, rtol=1e-4, atol=1e-3), "differs from nearest_distances"
#     print(f"largest distance among them: window {4100 + int(np.argmax(mine))}")
#
#
# try_it("nearest window", check_nearest)
# ```
#
# </details>
#
# 許容誤差は、わざとゆるくしてあります。
# ライブラリは float32 で、しかも $\|q\|^2 + \|r\|^2 - 2\,q \cdot r$ の式を通して計算します。
# この式では、2 つのウィンドウが近いときに桁が落ちるからです。
#
# 3. 図では、最初の 1,200 点での基準のスコアはほぼぴったり 0 ですが、LSTM のスコアはそうではありません。
#    なぜでしょう。
#
# <details><summary>答え</summary>
#
# 最初の 1,200 点の中にあるウィンドウは、どれもそれ自身が訓練ウィンドウの 1 つです。
# ですから、最も近い訓練ウィンドウはそれ自身で、距離は 0 です（わずかに残る値は float32 の丸め誤差です）。
# 基準は、すべての訓練ウィンドウをそのまま覚えています。
# オートエンコーダは、どのウィンドウも 8 個の数に通さなければなりません。
# そのため、訓練ウィンドウでさえ、そのままには再構成できません。
# そこでの誤差は、正常な形をどれだけよく学んだかを表します。
# 周期の鋭い頂上にある誤差の山は、どこを最もうまく学べていないかを表します。
#
# </details>
#
# ## まとめ
#
# - LSTM の 1 ステップは、1 回の行列の積と、要素ごとの計算の数行です。逆伝播は、同じ行を逆の順にたどります。
#   記憶セルには、戻る道が 2 つあります。$h_t$ を通る道と、$f$ を通って $c_{t-1}$ へまっすぐ戻る道です。
# - BPTT は、1 ステップの逆伝播を、最後のステップから最初のステップへのループで回したものです。重みの勾配は足し合わせます。
# - 系列のオートエンコーダは、系列を 1 つのコードに読み込み（LSTM）、コードを各ステップにコピーし（RepeatVector）、系列を書き戻します（LSTM と、各時刻に同じ全結合層を使う TimeDistributed）。
# - 実際の系列では、ウィンドウと再構成誤差で異常を見つけられます。
#   最も近い訓練ウィンドウまでの距離でも見つけられ、こちらは学習がいりません。いつも、まずこの基準を試してください。
