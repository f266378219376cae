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
# データの中には、順番に並んだ系列として与えられるものがあります。1 時間ごとの電力需要や、動いている手の位置の記録がその例です。画像でさえ、上の行から下の行へ 1 行ずつ読んでいけば系列とみなせます。系列から系列へ（sequence-to-sequence、seq2seq）のオートエンコーダは、系列全体を再帰型の層（recurrent layer）で読み込んで 1 つの潜在表現にまとめ（これがエンコーダです）、もう 1 つの再帰型の層でその潜在表現から系列を書き戻します（これがデコーダです）。このレッスンで使う再帰型の層は LSTM（long short-term memory）です。
#
# まず LSTM の 1 ステップを自分の手で実装し、その逆伝播を導いて、どちらも正しいことを確かめます。次に、Fashion-MNIST の画像を 1 行ずつ読ませてモデルを学習させます。最後に、そのモデルを使って、実際の生体信号の記録に含まれる異常を 1 つ見つけます。
#
# 時間は、演習を含めて 80〜135 分を見てください。
#
# このレッスンで学ぶこと
# - LSTM の 1 ステップ: 4 つのゲート、記憶セル（cell state）と隠れ状態（hidden state）、そしてすべての配列の形
# - 通時的誤差逆伝播法（Backpropagation Through Time、BPTT）: 1 ステップ分を自分で導き、数値微分で確かめる
# - ステップのループ: 自分の実装を `scratchae.lstm.LSTM` と照らし合わせる
# - LSTM -> RepeatVector -> LSTM というモデル: 画像を「28 画素の行が 28 行並んだ系列」として読ませて学習させる
# - 短いウィンドウで学習したモデルで、7,501 点の時系列から異常を 1 つ見つける方法と、簡単なベースライン（比べる相手）との比較

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
# ## LSTM の 1 ステップ
#
# 時刻 $t$ のステップで、LSTM レイヤは入力の 1 行 $x_t$ と、1 つ前のステップで自分が残した 2 つの状態を読み込みます。1 つは隠れ状態 $h_{t-1}$ で、これはレイヤが出力する値そのものです。もう 1 つは記憶セル $c_{t-1}$ で、レイヤの記憶にあたります。LSTM はこれらから、まず 1 回の行列の積で $a$ を計算します。$a$ の幅は $4H$ で、ゲートごとに $H$ 次元ずつ、4 つのブロックに分かれています。ブロックの並びは Keras と同じで、入力、忘却、セル、出力の順です。『ゼロから作るDeep Learning ❷』の順（f, g, i, o）とは異なるので注意してください。
#
# $$a = x_t W_x + h_{t-1} W_h + b, \qquad x_t: (N, D),\; W_x: (D, 4H),\; h_{t-1}: (N, H),\; W_h: (H, 4H),\;
# b: (4H)$$
#
# $$i = \sigma(a_i),\quad f = \sigma(a_f),\quad g = \tanh(a_g),\quad o = \sigma(a_o)$$
#
# $$c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t)$$
#
# $\odot$ は要素ごとの積を表します。3 つのゲートは、それぞれ情報をどれだけ通すかを調節する役目を持っています。忘却ゲート $f$ は古い記憶をどれだけ残すかを、入力ゲート $i$ は新しい候補 $g$ をどれだけ記憶に書き込むかを、出力ゲート $o$ は記憶のうちどれだけを外に見せるかを決めます。ゲートはシグモイド関数の出力なので、値はどれも 0 と 1 のあいだにあり、「どれだけ通すか」の割合として働きます。一方、候補 $g$ は tanh の出力なので、-1 と 1 のあいだの値をとります。最初のステップは $h_0 = c_0 = 0$ から始めます。
#
# それでは、この 1 ステップを実装してみましょう。ここで扱う小さな配列は速さのためではなく、計算が正しいかを確かめるためのものなので、NumPy と float64 で計算します。

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
# 逆伝播では、後ろのステップから 2 つの勾配が流れてきます。1 つは $dh_t$ で、このステップでの損失から来る勾配と、ステップ $t+1$ から戻ってくる勾配を合わせたものです。もう 1 つは $dc_{t+1 \to t}$ で、ステップ $t+1$ から戻ってくる記憶セルの勾配です（実装では `dc_next`。最後のステップでは 0 です）。この 2 つを受け取ったら、順伝播の式を後ろから順にたどっていきます。まず $h_t = o \odot \tanh(c_t)$ からは $do$ が得られます。この式は $c_t$ も使っているので、$c_t$ には $dc_{t+1 \to t}$ とは別に、$h_t$ を通る 2 本目の勾配の経路ができます。
#
# $$do = dh_t \odot \tanh(c_t), \qquad dc_t = dc_{t+1 \to t} + dh_t \odot o \odot (1 - \tanh^2(c_t))$$
#
# 次の $c_t = f \odot c_{t-1} + i \odot g$ は、積の和になっています。乗算の逆伝播と同じく、それぞれの因子の勾配は、上流からの勾配 $dc_t$ に「もう一方の因子」をかけたものです。
#
# $$di = dc_t \odot g,\quad dg = dc_t \odot i,\quad df = dc_t \odot c_{t-1},\quad dc_{t \to t-1} = dc_t \odot f$$
#
# 続いて活性化関数をさかのぼります。$\sigma' = \sigma(1 - \sigma)$、$\tanh' = 1 - \tanh^2$ なので、$da$ の 4 つのブロックは $di \odot i(1-i)$、$df \odot f(1-f)$、$dg \odot (1-g^2)$、$do \odot o(1-o)$ になります。最後に残る $a = x_t W_x + h_{t-1} W_h + b$ は、入力が 2 つある全結合層とみなせるので、レッスン 01 の全結合層と同じ形の式で勾配が求まります。
#
# $$dW_x = x_t^\top da,\quad dW_h = h_{t-1}^\top da,\quad db = \textstyle\sum_n da,\quad dx_t = da\, W_x^\top,
# \quad dh_{t-1} = da\, W_h^\top$$

# %%
def lstm_step_backward(dh, dc_next, cache, Wx, Wh):
    """dh, dc_next: (N, H) -> dx_t (N, D), dh_prev (N, H), dc_prev (N, H), dWx, dWh, db."""
    x_t, h_prev, c_prev, i, f, g, o, c = cache
    tc = np.tanh(c)
    do = dh * tc
    dc = dc_next + dh * o * (1 - tc**2)  # c_t へ戻る経路は 2 本: ステップ t + 1 からの経路と、h_t を通る経路
    di, dg, df = dc * g, dc * i, dc * c_prev
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1)  # (N, 4H)
    return da @ Wx.T, da @ Wh.T, dc * f, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)


# %% [markdown]
# 導いた逆伝播が正しいかどうかを、数値微分による勾配確認で確かめましょう。損失を $L = \sum h_t \odot u_h + \sum c_t \odot u_c$ とおきます。$u_h$ と $u_c$ はランダムに選んだ上流からの勾配で、こうしておくと $dL/dh_t = u_h$、$dL/dc_t = u_c$ となり、ちょうど逆伝播の 2 つの入力になります。ここで、すべての要素が 1 の勾配ではなくランダムな値を使うのには理由があります。上流からの勾配がすべて 1 だと、その勾配を使い忘れた逆伝播でも正しく見えてしまうことがあるからです（レッスン 01）。

# %%
from scratchae.gradcheck import numerical_gradient, rel_error

u_h, u_c = rng.normal(size=(N, H)), rng.normal(size=(N, H))


def loss_of_step():
    h, c, _ = lstm_step(x_t, h_prev, c_prev, Wx, Wh, b)
    return float(np.sum(h * u_h) + np.sum(c * u_c))


_, _, cache = lstm_step(x_t, h_prev, c_prev, Wx, Wh, b)
analytic = lstm_step_backward(u_h, u_c, cache, Wx, Wh)
names = ["x_t", "h_prev", "c_prev", "Wx", "Wh", "b"]
# 確認: 相対誤差はどれも 1e-10 程度以下になるはず。1e-7 を超えたら逆伝播のバグ
for name, array, grad in zip(names, [x_t, h_prev, c_prev, Wx, Wh, b], analytic):
    error = rel_error(grad, numerical_gradient(loss_of_step, array))
    print(f"d{name:<7} relative error {error:.1e}")
    assert error < 1e-7, name

# %% [markdown]
# ## ステップのループと通時的誤差逆伝播法
#
# LSTM レイヤは、同じ重みを使ってこのステップを $T$ 回くり返します。順伝播は $t = 1$ から $T$ へと進み、逆伝播は反対に $t = T$ から 1 へとさかのぼります。逆伝播で各ステップが受け取るのは、自分の出力に対する損失の勾配と、1 つ後ろのステップが送り返してきた $dh$ と $dc$ です（$dh$ は損失の勾配に足し合わせます）。また、重みはすべてのステップで共有されているので、重みの勾配は各ステップで求めた勾配の合計になります。これが通時的誤差逆伝播法（BPTT）です。

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
# scratchae の `LSTM` も同じ計算をしていますが、速くするための工夫が 2 つ加えてあります。1 つは、$T$ ステップ分の入力の積 $x_t W_x$ を、ループに入る前にまとめて 1 回の行列の積で計算しておくことです。もう 1 つは、重みの勾配をループの中で 1 ステップずつ足し合わせるのではなく、ループの後でそれぞれ 1 回の積として計算することです。ライブラリのレイヤが初期化した重みを取り出して自分の実装にも使い、順伝播の出力、$dx$、3 つの重みの勾配がそろって一致するかを比べてみましょう。

# %%
from scratchae.backend import cpu_xp, to_numpy
from scratchae.lstm import LSTM

T = 7
layer = LSTM(D, H, return_sequences=True, rng=1, xp=cpu_xp, dtype="float64")
Wx, Wh, b = (to_numpy(layer.params[k]) for k in ("Wx", "Wh", "b"))  # レイヤ自身の初期の重み
x_seq = rng.normal(size=(N, T, D))
hs, caches = lstm_forward(x_seq, Wx, Wh, b)
dhs = rng.normal(size=(N, T, H))  # 各ステップにランダムな上流からの勾配
mine = lstm_backward(dhs, caches, Wx, Wh)
library_out = layer.forward(x_seq)
library = (layer.backward(dhs), layer.grads["Wx"], layer.grads["Wh"], layer.grads["b"])
# 確認: 同じ float64 の計算を順序を変えて行うだけなので 1e-15 程度になるはず。1e-10 を超えたらバグ
print(f"forward: relative error {rel_error(hs, library_out):.1e}")
assert rel_error(hs, library_out) < 1e-10
for name, a, b_ in zip(["dx", "dWx", "dWh", "db"], mine, library):
    print(f"{name:<4} relative error {rel_error(a, b_):.1e}")
    assert rel_error(a, b_) < 1e-10, name

# %% [markdown]
# `tests/test_lstm.py` では、ライブラリのレイヤを数値微分とも照らし合わせています（T = 1 と 7、`return_sequences` のありとなし）。PyTorch がインストールされていれば、`torch.nn.LSTM` とも比べます。
#
# ## モデル: LSTM -> RepeatVector -> LSTM
#
# エンコーダは 2 つの LSTM レイヤからなります。1 つ目は 28 ステップすべての隠れ状態を返し、2 つ目は最後のステップの隠れ状態だけを返します。この最後の隠れ状態が、系列全体をまとめた 30 次元の潜在表現です。デコーダは、まずこの潜在表現を 28 ステップすべてに複製します（`RepeatVector(28)`）。3 つ目の LSTM がその複製を順に読んで 28 個の隠れ状態を返し、最後に 1 つの全結合層が、各ステップの隠れ状態を 28 画素の 1 行に変換します（`TimeDistributed(Dense(100, 28))`）。このモデルは『Hands-On Machine Learning』第 3 版（邦訳『scikit-learn、Keras、TensorFlow による実践機械学習 第 3 版』）に載っている再帰型のオートエンコーダです。出力層には活性化関数を使わず（出力は線形）、損失関数には MSE を使います。`rows_autoencoder` は、このモデルを (N, 784) の平らな画像のまま使えるように包んだもので、入力を (N, 28, 28) に変形してからモデルに渡し、出力を (N, 784) に戻します。
#
# 表示されたモデルを見ると、LSTM レイヤの名前が `FastLSTM` になっています。モデルを組み立てる関数が `scratchae/lstm_fast.py` の実装を使うからです。これは上で確かめた `LSTM` と同じレイヤ（重みも保存ファイルも共通）を、1 ステップあたりの配列演算が少なくなるように書き直したもので、`LSTM` と丸め誤差の範囲で一致することをテストで確かめてあります。そのぶん、学習の 1 ステップにかかる時間が短くなります（`benchmarks/README.md`）。このレッスンの `LSTM` そのものでモデルを組み立てたいときは、`rows_autoencoder(rng=0, xp=xp, fast=False)` とします。
#
# 本来の設定は、レシピ `python -m scratchae.train --preset seq2seq` と同じです。訓練画像の最初の 55,000 枚をバッチサイズ 32 で 10 エポック学習し、訓練画像の最後の 5,000 枚を検証データにします。クイックモードでは 1,000 枚で 1 エポックだけ学習し、検証にはその 5,000 枚のうち最初の 1,000 枚を使います。

# %%
from scratchae import MSE, Adam, to_device
from scratchae.data import batch_slices, epoch_order, load
from scratchae.seq2seq import rows_autoencoder
from scratchae.training import evaluate, train_step

N_TRAIN, N_VAL, EPOCHS = (1000, 1000, 1) if QUICK else (55000, 5000, 10)
x_train, y_train, x_test, y_test = load("fashion-mnist")
x = to_device(x_train[:N_TRAIN], xp)  # (N_TRAIN, 784): 28 画素の行が 28 行
x_val = to_device(x_train[55000:55000 + N_VAL], xp)  # (N_VAL, 784): 学習には使わない
model, loss = rows_autoencoder(rng=0, xp=xp), MSE()
print(model)
optimizer = Adam(model, lr=2e-3)
for epoch in range(EPOCHS):
    order = to_device(epoch_order(N_TRAIN, 0, epoch), xp)
    for a, b in batch_slices(N_TRAIN, 32):
        train_step(model, loss, optimizer, xp.take(x, order[a:b], axis=0))
    print(f"epoch {epoch + 1}: validation MSE {evaluate(model, loss, x_val):.4f}")

# %% [markdown]
# クイックモードでは、学習が十分に進むずっと手前で止まります（MSE は 0.06 程度）。本来の設定は `python -m scratchae.train --preset seq2seq` と同じで、モデル、シード、ミニバッチ、学習率 2e-3 の Adam まですべてそろえてあります。これを CPU で 1 回実行したところ、検証データの MSE は 1 エポック後に 0.0176、5 エポック後に 0.0115、10 エポック後に 0.0098 となり、10,000 枚のテスト画像では 0.0097 でした（`docs/results.md`）。その本に載っている Keras のモデル（最適化手法は Nadam）は、1 エポック後に 0.0208、10 エポック後に 0.0104 です。また、同じ本の全結合の 784-100-30-100-784 オートエンコーダは、20 エポック学習して 0.0132 です。LSTM のモデルのほうが、より低い誤差まで下がるということです。
#
# ## 再構成
#
# テスト画像は 28 行の系列として入力され、30 次元の潜在表現から再構成されます。

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
# 学習が終わったら、エンコーダの 1 つ目の LSTM から学習済みの重みを取り出し、先ほど自分で実装した `lstm_step` で動かしてみましょう。入力はテスト画像 1 枚で、これを 1 行ずつ読ませます。下の図は、最初の 16 ユニットについて、4 つのゲートと記憶セルの値が 28 行のあいだにどう変わるかを示したものです。たいていの画像は、上端と下端に背景だけの行（黒、つまりすべて 0）があります。そこでゲートがどう振る舞っているかに注目してください。

# %%
first = model.encoder.layers[1]  # layers[0] は (N, 28, 28) への Reshape
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
# 図の 1 行が、`lstm_step` の 1 回の呼び出しにあたります。ゲートの値は [0, 1] の範囲（白から赤）、$g$ は [-1, 1] の範囲にあります。記憶セルの値は 1 を超えることがありますが、色は [-1, 1] の範囲で頭打ちにして描いています。忘却ゲートが 1 に近いユニットは記憶を保ち、0 に近いユニットは記憶を消します。

# %% [markdown]
# ## 長い時系列の中の異常
#
# UCR 異常検知アーカイブ（UCR anomaly archive）の系列 135（InternalBleeding16、Wu と Keogh 2021）は、7,501 点からなる生体信号の記録で、およそ 185 点ごとに同じ形の周期をくり返しています。最初の 1,200 点は正常なので、これを訓練データにします。それより後ろのどこかにある 12 点（インデックス 4187〜4198）に、異常のラベルが付いています。このアーカイブのルールでは、検出器は答えを 1 つだけ、つまりスコアが最も高い点を 1 つだけ出します。その点がラベルから 100 点以内にあれば、異常を見つけたとみなします。scratchae はこのデータのファイルを `data/timeseries/` に同梱しており、読み込むときに SHA-256 を確かめます。
#
# モデルに見せるのは系列全体ではなく、短いウィンドウです。ウィンドウ $i$ は、$s_i$ から $s_{i+63}$ までの 64 点です。系列から 1 点ずつずらしながら切り出すので、これをスライディングウィンドウと呼びます。まず訓練データの点から作れるすべてのウィンドウで LSTM オートエンコーダを学習させます。次に、系列全体のすべてのウィンドウについて再構成誤差 $e_i$ を求め、これをウィンドウのスコアとします。1 つの点 $p$ は最大で 64 個のウィンドウに含まれるので、点のスコアはそれらのウィンドウのスコアの平均とします。
#
# $$\text{score}(p) = \frac{1}{|W_p|} \sum_{i \in W_p} e_i, \qquad W_p = \{\, i : i \le p \le i + 63 \,\}$$
#
# なお、値の標準化には、訓練データの点だけから求めた平均と標準偏差を使います。モデルにはテストの部分を、統計量という間接的な形であっても見せてはいけないからです。

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
# ## ベースライン: 最も近い訓練ウィンドウ
#
# Wu と Keogh は、これまでに発表された検出器の多くが、ある簡単なルールに勝てていないと指摘しています。そのルールとは、各ウィンドウのスコアを、最も近い訓練ウィンドウ（最近傍）までの距離とするものです。訓練で見たものに似たウィンドウはスコアが低くなり、どの訓練ウィンドウとも似ていないウィンドウはスコアが高くなります。この方法には、学習するものが何もありません。`nearest_distances` は、距離の 2 乗を $\|q - r\|^2 = \|q\|^2 + \|r\|^2 - 2\, q \cdot r$ と展開して、すべての距離を 1 回の行列の積でまとめて計算します。

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
axes[0, 1].set_xlim(zoom.start, zoom.stop)  # 遠くの答えで拡大図の範囲が広がらないようにする
axes[0, 0].set_title("series 135 (orange: the labelled anomaly); below: the scores / their maximum, "
                     "dashed: the answer", loc="left", fontsize=9)
axes[0, 1].set_title("zoom", fontsize=9)
plt.show()

# %% [markdown]
# クイックモードでは LSTM は 1 エポックしか学習しないので、私たちがクイックモードで実行したときの答えは点 7500 で、ラベルから遠く外れていました。本来の設定（20 エポック、CPU で数分）では答えは点 4190 となり、ラベルの範囲に入ります。ベースラインの答えは、どちらのモードでも 4197 です。
#
# `python -m scratchae.series_anomaly --dataset series135` は、これと同じ学習を行います（シードもミニバッチも同じなので、答えも同じ 4190 です）。さらに、同じウィンドウで全結合のオートエンコーダと PCA も学習させ（答えはどちらも 4197）、4 つのスコアを並べて描きます。4 つの手法はどれもこの異常を見つけますが、LSTM のスコアでは、2 番目に高い山も 1 番目よりそれほど低くありません。つまりこの系列では、Wu と Keogh が予想するとおり、簡単なベースラインでも LSTM と同じくらいよく異常を見つけられるということです。同じコマンドは、レッスン 12 の 1クラス（one-class）の手順を、系列全体を単位にして行うこともできます（ItalyPowerDemand と GunPoint）。そちらで LSTM が PCA に勝ったのは、4 つの場合のうち 1 つだけでした。詳しくは `docs/results.md` の "Time series" を見てください。
#
# ## やってみよう
#
# 1. ウィンドウのスコアを点のスコアに広げる計算を、点についての素朴なループで実装し、`point_scores` の結果と比べてください。

# %%
from scratchae.exercises import try_it


def spread(window_scores, w):
    """window_scores: (n,) host array -> (n + w - 1,): each point's mean over the windows that cover it."""
    raise NotImplementedError  # この行を自分の実装に置き換える


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
#         first, last = max(0, p - w + 1), min(p, n - 1)  # i <= p <= i + w - 1 ならウィンドウ i は点 p を含む
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
# 2. テストのウィンドウ 4100〜4199 について、最も近い訓練ウィンドウまでの距離を総当たりで（距離を 1 つずつ）求め、`nearest_distances` の結果と比べてください。

# %%
def nearest_by_brute_force(queries, references):
    """queries: (n, w), references: (m, w) host arrays -> (n,): each query's smallest Euclidean distance."""
    raise NotImplementedError  # この行を自分の実装に置き換える


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
# ここで許容誤差をわざと緩くしているのには理由があります。ライブラリは float32 で、しかも $\|q\|^2 + \|r\|^2 - 2\,q \cdot r$ という展開した式で距離を計算しています。この式では、2 つのウィンドウが近いと、ほぼ等しい数どうしの引き算になって桁が落ちるのです。
#
# 3. 図を見ると、最初の 1,200 点ではベースラインのスコアがほぼぴったり 0 なのに、LSTM のスコアはそうなっていません。なぜでしょうか。
#
# <details><summary>答え</summary>
#
# 最初の 1,200 点の中にあるウィンドウは、どれもそれ自身が訓練ウィンドウの 1 つです。したがって、最も近い訓練ウィンドウは自分自身で、距離は 0 になります（わずかに残る値は float32 の丸め誤差です）。ベースラインは、すべての訓練ウィンドウをそのまま覚えているのと同じなのです。一方、オートエンコーダはどのウィンドウも 8 次元の潜在表現に通さなければならないので、訓練ウィンドウでさえ完全には再構成できません。そこに残る誤差は、正常な波形をどれだけうまく学べたかを表しています。周期の鋭い頂点で誤差が山になっているのは、そこがいちばんうまく学べなかった部分だということです。
#
# </details>
#
# ## まとめ
#
# - LSTM の 1 ステップは、1 回の行列の積と、数行の要素ごとの計算でできています。その逆伝播は、同じ行を逆の順にたどるだけです。記憶セルの勾配には戻る経路が 2 つあり、1 つは $h_t$ を通る経路、もう 1 つは $f$ を通って $c_{t-1}$ へまっすぐ戻る経路です。
# - BPTT は、1 ステップの逆伝播を最後のステップから最初のステップへループで回し、重みの勾配を合計したものです。
# - 系列のオートエンコーダは、系列を 1 つの潜在表現に読み込み（LSTM）、その潜在表現を各ステップに複製し（RepeatVector）、系列を書き戻します（LSTM と、各時刻に同じ全結合層を使う TimeDistributed）。
# - 実際の時系列でも、ウィンドウの再構成誤差で異常を見つけられます。最も近い訓練ウィンドウまでの距離でも見つけられ、しかもこちらは学習が要りません。異常検知では、いつもまずこのベースラインを試しましょう。
