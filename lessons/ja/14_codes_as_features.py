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
# # 14 · 潜在表現は何の役に立つか
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/14_codes_as_features.ipynb)
#
# オートエンコーダは、1 枚 1 枚の画像を低い次元の潜在表現へと圧縮します。この潜在表現には、2 つの使い道があるとよくいわれます。1 つは、PCA よりもすぐれた圧縮になるということです。PCA が線形の射影しか使えないのに対して、デコーダは曲がった（非線形の）写像を表せるからです。もう 1 つは、分類器へのよい入力になるということです。似た画像には似た潜在表現が対応するはずだからです。このレッスンでは、この 2 つの主張が本当に成り立つのかを、MNIST で実際に測って確かめます。
#
# 時間は、演習を含めて 60〜110 分を見てください。
#
# このレッスンで学ぶこと
# - PCA とオートエンコーダを公平に比べる方法: 同じ潜在表現の次元、同じテスト画像、2 つの誤差の単位
# - *線形* のオートエンコーダが PCA の部分空間を学ぶ理由と、それを主角（principal angles）で確かめる方法
# - 潜在表現を入力にした k 近傍法（k-NN）とソフトマックス回帰（softmax regression）: 自分で実装し、ライブラリと照らし合わせる
# - 潜在表現が分類器の助けになる場合（ラベルが少ないとき）と、ならない場合（ラベルが多いとき）
# - t-SNE の地図が保つものと、PCA の地図が保つもの

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
# CPU でモデルを学習させると数分かかります。`PRETRAINED = True` にしておくと、学習済みのモデルが必要になったところで、scratchae に同梱されたモデル（ライブラリ自身のコマンド `python -m scratchae.train` で学習させたもの）を読み込むので、学習を待たずにすぐ本題に進めます。GPU のない Colab では、これが既定でオンになっています。それ以外の環境では、環境変数 `SCRATCHAE_PRETRAINED=1` を設定するとオンになります。下のセルに `True` か `False` を直接書いてもかまいません。

# %%
from scratchae import pretrained

PRETRAINED = pretrained.wanted(xp)  # GPU のない Colab では True。SCRATCHAE_PRETRAINED=1 か 0 でどこでも選べる
print("PRETRAINED =", PRETRAINED)

# %% [markdown]
# ## データ
#
# データはレッスン 04 と同じ MNIST です。クイックモードでは訓練画像の最初の 3,000 枚とテスト画像の最初の 1,000 枚だけを使い、本来の設定では 60,000 枚と 10,000 枚をすべて使います。ラベル `y_train` と `y_test` を使うのは、後半の分類器だけです。このレッスンのオートエンコーダは、どれも一度もラベルを見ません。

# %%
import numpy as np

from scratchae import to_device, to_numpy
from scratchae.data import load

N_TRAIN, N_TEST = (3000, 1000) if QUICK else (60000, 10000)
EPOCHS = 2 if QUICK else 10
x_train, y_train, x_test, y_test = load("mnist")
x_train, y_train, x_test, y_test = x_train[:N_TRAIN], y_train[:N_TRAIN], x_test[:N_TEST], y_test[:N_TEST]
xd_train, xd_test = to_device(x_train, xp), to_device(x_test, xp)  # デバイスへは一度だけ送る
print(f"{N_TRAIN} training and {N_TEST} test images, {EPOCHS} epochs per autoencoder")

# %% [markdown]
# ## 潜在表現の次元をそろえた PCA とオートエンコーダ
#
# PCA は、データの分散が大きい方向から順に $k$ 個を選び、その方向の成分だけを残します。訓練画像から平均 $\mu$ を引いて中心化し、その上位 $k$ 個の右特異ベクトルを並べた行列を $V_k$（形は $784 \times k$）とすると、PCA の潜在表現は $c = (x - \mu) V_k$ で、再構成と誤差は次のようになります。
#
# $$\hat x = \mu + (x - \mu) V_k V_k^\top, \qquad E = \sum_{j=1}^{784} (x_j - \hat x_j)^2 = 784 \cdot \text{MSE}.$$
#
# 誤差は 2 つの単位で示します。1 つは MSE、つまり画素ごとの平均二乗誤差で、このコースの損失関数が使ってきた単位です。もう 1 つは $E$、つまり 784 画素の二乗誤差を画像ごとに足し合わせたもので、後で紹介する Hinton と Salakhutdinov の論文が使っている単位です。まずは 1 回の特異値分解（SVD）で PCA を自分で計算し、ライブラリの `pca_errors` の結果と照らし合わせましょう。

# %%
from scratchae.pca import pca_errors, pca_fit

SIZES = (2, 8, 32, 64)


def pca_by_hand(x, k):
    """x: (n, 784) -> mean (784,), V^T (k, 784): the top k principal directions as rows."""
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)  # vt の行は特異値の大きい順
    return mean, vt[:k]


mean, vt = pca_by_hand(x_train.astype(np.float64), max(SIZES))
pca_mse = {}
for k in SIZES:
    centred = x_test - mean  # (N_TEST, 784)
    x_hat = mean + centred @ vt[:k].T @ vt[:k]  # k 個の方向に射影して元の空間に戻す
    pca_mse[k] = float(np.mean((x_test - x_hat) ** 2))

lib_mean, lib_components = pca_fit(xd_train, 32)  # float32、デバイス上で計算
lib_mse = float(np.mean(to_numpy(pca_errors(xd_test, lib_mean, lib_components))))
print(f"PCA-32 test MSE: by hand (float64) {pca_mse[32]:.6f}, library (float32) {lib_mse:.6f}")

# 確認: 同じ射影を float32 と float64 で計算したもの。相対的な差は 1e-6 程度のはず。1e-4 を超えたらバグ
assert abs(lib_mse - pca_mse[32]) / pca_mse[32] < 1e-4

# %% [markdown]
# 次に、潜在表現の次元ごとに、全結合のオートエンコーダを 1 つずつ学習させます。層の幅は基準モデルと同じ 784-256-128-64 で、その後ろに $k$ 次元の潜在表現が続きます。学習はレッスン 04 と同じく BCE で行います。ただし、1 か所だけ変えます。`code="linear"` を指定して、潜在表現の層の ReLU を外すのです。こうすると潜在表現は、PCA の場合と同じく、最後の全結合層の出力そのものになります。ReLU を外すのは、死んだユニットを避けるためです。どの画像に対しても 0 を出力する ReLU のユニットには勾配が流れないので、一度死ぬと二度と生き返りません。私たちが試したところ、ReLU を付けたままでは、2 次元の潜在表現の 2 つのユニットが両方とも死んでしまい（MNIST のシード 0 と 1、Fashion-MNIST のシード 0）、デコーダは平均画像しか描けなくなりました（レッスン 00 の演習 3）。このセルがレッスンでいちばん時間のかかるところで、レッスン 04 と同じ長さの学習を 4 回行います。`PRETRAINED` がオンのときは、学習させる代わりに、同梱の 4 つのモデル `code-2`、`code-8`、`code-32`、`code-64` を読み込みます。これらは、同じネットワークを 60,000 枚すべてで 20 エポック学習させたものです（`python -m scratchae.train --dims 784 256 128 64 K --code linear`）。

# %%
from scratchae import BCE, Adam, dense_autoencoder
from scratchae.data import batch_slices, epoch_order
from scratchae.models import init_output_bias
from scratchae.training import train_step


def train_autoencoder(dims, epochs=EPOCHS, seed=0):
    """The plain training loop of lesson 04 on xd_train; returns the trained model."""
    model, loss = dense_autoencoder(dims, code="linear", rng=seed, xp=xp), BCE()
    init_output_bias(model, xp.mean(xd_train, axis=0))  # 平均画像から始める
    optimizer = Adam(model, lr=1e-3)
    for epoch in range(epochs):
        order = to_device(epoch_order(N_TRAIN, seed, epoch), xp)
        for a, b in batch_slices(N_TRAIN, 256):
            train_step(model, loss, optimizer, xp.take(xd_train, order[a:b], axis=0))
    return model


if PRETRAINED:  # 同梱のモデル: 同じネットワークを、全データで 20 エポック学習させたもの
    models = {k: pretrained.load(f"code-{k}", xp=xp).model for k in SIZES}
    print("PRETRAINED: loaded the shipped models code-2, code-8, code-32 and code-64 (20 epochs of "
          "python -m scratchae.train) instead of training them here")
else:
    models = {k: train_autoencoder((784, 256, 128, 64, k)) for k in SIZES}
ae_mse = {k: float(to_numpy(xp.mean((models[k].forward(xd_test) - xd_test) ** 2))) for k in SIZES}
print(" code |  PCA MSE | AE MSE  | PCA E  |  AE E")
for k in SIZES:
    print(f" {k:4d} | {pca_mse[k]:.5f} | {ae_mse[k]:.5f} | {784 * pca_mse[k]:6.2f} | {784 * ae_mse[k]:6.2f}")

# %%
import matplotlib.pyplot as plt

SHOW = 8  # 1 行に並べるテスト画像の数
recons = {"original": x_test[:SHOW]}
for k in SIZES:
    recons[f"PCA-{k}"] = mean + (x_test[:SHOW] - mean) @ vt[:k].T @ vt[:k]
    recons[f"AE-{k}"] = to_numpy(models[k].forward(xd_test[:SHOW, ...]))
fig, axes = plt.subplots(len(recons), SHOW, figsize=(SHOW * 0.9, len(recons) * 0.95))
for row, (name, images) in zip(axes, recons.items()):
    for ax, image in zip(row, images):
        ax.imshow(np.clip(image, 0, 1).reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(name, rotation=0, ha="right", va="center")
plt.show()

# %% [markdown]
# `PRETRAINED` がオフのクイックモード（3,000 枚で 2 エポック）では、オートエンコーダの学習が足りないため、どの次元でも PCA が勝ちます。みなさんの表もそうなっているはずです。非線形のモデルを学習させるには 2 エポックではとても足りませんが、PCA は学習をくり返す必要がなく、最初から厳密な答えが求まるからです。`SCRATCHAE_QUICK=0` でレッスンを実行すると（60,000 枚すべてを使い、モデルごとに 10 エポック）、学習によってこの差がどこまで縮まるかを見ることができます。`PRETRAINED` がオンなら、みなさんの表にはすでに 20 エポック学習させたモデルの結果が出ていて、どの次元でもオートエンコーダが勝っているはずです。
#
# 本来の測定では、ライブラリのコマンド `python -m scratchae.train --dims 784 256 128 64 K --code linear` で、同じモデルを MNIST すべてを使って 20 エポック学習させました（コマンドの一覧、Fashion-MNIST の結果、図は `docs/results.md` にあります）。画像ごとの二乗誤差 $E$ は次のとおりです。
#
# | 潜在表現の次元 $k$ | 2 | 8 | 32 | 64 |
# | --- | --- | --- | --- | --- |
# | オートエンコーダ、$E$ | 28.37 | 12.79 | 5.46 | 4.76 |
# | PCA、$E$ | 43.64 | 29.35 | 13.19 | 7.09 |
#
# どの次元でもオートエンコーダが勝ち、その差は次元が小さいほど大きくなります。オートエンコーダの 8 次元の潜在表現は、PCA の 32 方向と同じくらいの情報を保っています。
#
# Hinton と Salakhutdinov（Science, 2006）は、MNIST のテストデータでの画像ごとの二乗誤差として、深い 784-1000-500-250-30 のオートエンコーダで 3.00、30 成分の PCA で 13.87 という値を報告しています。彼らの設定は、私たちの設定と 3 つの点で異なります。1 つ目は、ネットワークの幅がずっと広く、潜在表現が 30 次元であること。2 つ目は、隠れ層のユニットがロジスティック関数（シグモイド関数）で、潜在表現の層が線形であること。3 つ目は、制限ボルツマンマシン（restricted Boltzmann machine）で 1 層ずつ事前学習してから、時間をかけて微調整（fine-tuning）していることです。私たちのモデルは幅がもっと狭く、Adam で数分学習させただけなので、差はそこまで大きくなりません（上の表では 5.46 と 13.19。なお、私たちの PCA-32 と彼らの PCA-30 の値はよく合っています）。彼らの結果が示しているのは、十分に学習させれば、深い非線形の潜在表現は、同じ次元の線形の潜在表現よりもはるかに多くの情報を画像から保つことが*できる*、ということです。
#
# ## 線形のオートエンコーダは PCA の部分空間を見つける
#
# ReLU をすべて取り除いて、MSE で学習させるとどうなるでしょうか。エンコーダは $c = x W_1 + b_1$、デコーダは $\hat x = c W_2 + b_2$ となり、再構成は階数（rank）が高々 $k$ の線形写像になります。Eckart-Young の定理によれば、そのような写像のうち二乗誤差をいちばん小さくするのは、上位 $k$ 個の主成分の方向への射影です。さらに Baldi と Hornik（1989）は、線形のオートエンコーダの誤差には、それ以外に局所的な最小値がないことを示しました。つまり、学習すればその部分空間が見つかるということです。ただし、見つかるのは部分空間であって、主成分の方向そのものではありません。どんな可逆な行列 $A$ で混ぜても（$W_1 A$ と $A^{-1} W_2$）、写像は同じになるからです。そこで、方向ではなく部分空間どうしを、主角（principal angles）で比べることにします。デコーダの行が張る空間の正規直交基底を $Q_1$、PCA の上位 $k$ 個の方向の正規直交基底を $Q_2$ とすると（どちらも $784 \times k$）、主角 $\theta_i$ は次の式で求まります。
#
# $$\cos \theta_i = \sigma_i\left(Q_1^\top Q_2\right), \qquad i = 1, \dots, k,$$
#
# 右辺は $k \times k$ の行列の特異値です。2 つの部分空間が一致していれば角はすべて 0 になり、784 次元の空間の中でランダムに選んだ 2 つの部分空間なら、角は 90 度に近くなります。

# %%
from scipy.linalg import subspace_angles

from scratchae import MSE, Autoencoder, Dense, Sequential


def principal_angles(a, b):
    """a: (D, k), b: (D, k) -> the k principal angles between their column spaces, in degrees, smallest first."""
    q1, _ = np.linalg.qr(a)  # a の列の正規直交基底
    q2, _ = np.linalg.qr(b)
    cos = np.linalg.svd(q1.T @ q2, compute_uv=False)  # (k,)、大きい順
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


K_LINEAR = 6
x_lin = x_train[:2000]  # 線形のモデルには 2,000 枚で十分
lin_mean, lin_vt = pca_by_hand(x_lin.astype(np.float64), K_LINEAR)
linear = Autoencoder(Sequential([Dense(784, K_LINEAR, rng=0, xp=xp)]), Sequential([Dense(K_LINEAR, 784, rng=1, xp=xp)]))
linear.decoder.layers[0].params["b"][...] = to_device(lin_mean, xp, dtype="float32")  # 平均画像から始める


def decoder_angles():
    return principal_angles(to_numpy(linear.decoder.layers[0].params["W"]).T.astype(np.float64), lin_vt.T)


before = decoder_angles()
optimizer, loss = Adam(linear, lr=1e-2), MSE()
xd_lin = to_device(x_lin, xp)
for epoch in range(150):
    order = to_device(epoch_order(len(x_lin), 0, epoch), xp)
    for a, b in batch_slices(len(x_lin), 128):
        train_step(linear, loss, optimizer, xp.take(xd_lin, order[a:b], axis=0))
after = decoder_angles()
print("angles before training:", np.round(before, 1))
print("angles after training: ", np.round(after, 2))

# 確認: 自分の角を SciPy の角（大きい順に並ぶ）と比べる。差は 1e-12 度程度のはず
scipy_after = np.sort(np.degrees(subspace_angles(to_numpy(linear.decoder.layers[0].params["W"]).T, lin_vt.T)))
assert np.allclose(after, scipy_after, atol=1e-6), (after, scipy_after)
# 確認: ほぼ垂直からほぼ一致へ。ReLU のあるモデルや逆伝播にバグのあるモデルは遠く離れたまま
assert before.min() > 45 and after.max() < 5, (before, after)

# %% [markdown]
# 学習によって、角は 90 度近くから 1〜2 度まで小さくなります。ところで、なぜ $k = 6$ にしたのでしょうか。角が閉じる速さは、共分散行列の $k$ 番目の固有値とその次の固有値との開きで決まります。この 2,000 枚の画像では、6 番目の固有値は 7 番目の 1.32 倍ありますが、8 番目は 9 番目のわずか 1.015 倍しかありません。そのため $k = 8$ にすると、150 エポック学習した後でも、最後の角は 15 度くらいに残ってしまいます（演習 3）。
#
# ## 潜在表現を特徴量として使う
#
# ここからはラベルを使います。分類器には、画像 1 枚につき 1 つの特徴ベクトル（feature vector）を与えます。特徴ベクトルとして使うのは、画素そのもの（784 次元）、PCA の成分（32 次元）、オートエンコーダの潜在表現（32 次元）の 3 通りです。分類器も 2 種類用意します。1 つは学習をまったく必要としない k 近傍法、もう 1 つは全結合層 1 つだけでできたソフトマックス回帰です。
#
# **k 近傍法。** テストデータの各行 $q$ について、いちばん近い訓練データの行を $k = 5$ 個見つけ、その中でいちばん多いラベルを予測とします（票数が同じクラスが複数あるときは、その中でいちばん近い行を持つクラスを選びます）。$N$ 個の訓練データの行すべてへの距離の 2 乗は、次のように展開すれば 1 回の行列の積で求まります。
#
# $$\lVert q - x_n \rVert^2 = \lVert q \rVert^2 - 2\, q \cdot x_n + \lVert x_n \rVert^2 .$$

# %%
from scratchae.probe import pca_features
from scratchae.training import encode_all

features = {
    "pixels": (x_train, x_test),
    "PCA-32": tuple(to_numpy(f) for f in pca_features(xd_train, xd_test, 32)),
    "AE-32 code": (encode_all(models[32], xd_train), encode_all(models[32], xd_test)),
}
for name, (f_train, f_test) in features.items():
    print(f"{name}: train {f_train.shape}, test {f_test.shape}")


def knn_by_hand(f_train, labels, f_test, k=5, batch=500):
    """f_train: (N, d), labels: (N,), f_test: (M, d) -> (M,) predicted labels."""
    out = []
    train_norms = (f_train ** 2).sum(axis=1)  # (N,)
    for a in range(0, len(f_test), batch):
        q = f_test[a:a + batch]  # (B, d)
        d2 = (q ** 2).sum(axis=1)[:, None] - 2 * q @ f_train.T + train_norms[None, :]  # (B, N)
        nearest = np.argsort(d2, axis=1, kind="stable")[:, :k]  # (B, k)、近い順
        for votes in labels[nearest]:
            counts = np.bincount(votes, minlength=10)
            tied = np.flatnonzero(counts == counts.max())
            out.append(next(c for c in votes if c in tied))  # 票数が同じクラスのうち、いちばん近い近傍のクラス
    return np.array(out)


# %% [markdown]
# ライブラリの `knn_predict` は、同じ計算をデバイスの上で行います。$\lVert q \rVert^2$ はどの候補に対しても同じ値で順位に影響しないので、計算を省いています。また、全体を並べ替える代わりに、`argmin` を 5 回くり返して近い 5 個を見つけます。

# %%
import inspect

from scratchae.knn import knn_predict, vote

print(inspect.getsource(vote))

# %%
f_train, f_test = (f.astype(np.float64) for f in features["PCA-32"])
mine = knn_by_hand(f_train, y_train, f_test)
lib = to_numpy(knn_predict(to_device(f_train, xp), to_device(y_train, xp), to_device(f_test, xp)))
print(f"k-NN on PCA-32: by hand {np.mean(mine == y_test):.4f}, library {np.mean(lib == y_test):.4f}, "
      f"same prediction for {np.mean(mine == lib):.2%} of the test images")

# 確認: 同じ float64 の距離で同じ投票をしている。予測が変わりうるのは、距離がちょうど等しく、
# 2 つの式がそれを別々に丸めたときだけ。100% になるはず。99.9% を下回ったらバグ
assert np.mean(mine == lib) >= 0.999

# %% [markdown]
# **ソフトマックス回帰。** 全結合層 1 つで、10 クラスぶんのスコア $z = f W + b$ を計算します。このスコアをロジット（logit）と呼びます。ソフトマックス関数でロジットを確率 $p_c = e^{z_c} / \sum_{c'} e^{z_{c'}}$ に変換し、正解ラベル $y$ の交差エントロピー誤差をバッチで平均したものを損失とします。ロジットについての勾配は、レッスン 02 の Sigmoid と BCE の組み合わせと同じくらい簡単な式になります。『ゼロから作るDeep Learning』の Softmax-with-Loss レイヤで見た「出力と正解の差」の形です。
#
# $$L = -\frac{1}{N} \sum_{n} \log p_{n, y_n}, \qquad \frac{\partial L}{\partial z_{nc}} = \frac{p_{nc} - [c = y_n]}{N}.$$

# %%
from scratchae.classify import SoftmaxCrossEntropy


def softmax_ce_by_hand(z, y):
    """z: (N, C) logits, y: (N,) labels -> (loss, dz)."""
    z = z - z.max(axis=1, keepdims=True)  # 確率は変わらず、exp はオーバーフローしなくなる
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # (N, C)
    n = len(y)
    loss = -np.mean(np.log(p[np.arange(n), y]))
    dz = p.copy()
    dz[np.arange(n), y] -= 1.0
    return loss, dz / n


rng = np.random.default_rng(0)
z, y = rng.standard_normal((64, 10)) * 3, rng.integers(0, 10, 64)
my_loss, my_dz = softmax_ce_by_hand(z, y)
ce = SoftmaxCrossEntropy()
lib_loss = float(to_numpy(ce.forward(to_device(z, xp), to_device(y, xp))))
lib_dz = to_numpy(ce.backward())
print(f"loss: by hand {my_loss:.12f}, library {lib_loss:.12f}; largest dz difference {np.abs(my_dz - lib_dz).max():.1e}")

# 確認: 同じ float64 の式なので 1e-16 程度になるはず。1e-12 を超えたらバグ
assert abs(my_loss - lib_loss) < 1e-12 and np.abs(my_dz - lib_dz).max() < 1e-12

# %% [markdown]
# `tests/test_classify.py` では、ライブラリの逆伝播を数値微分と照らし合わせるほか、ソフトマックス関数と交差エントロピー誤差を分けて計算したもの（先に確率を求め、その確率から交差エントロピー誤差を計算する）とも比べています。学習は、この損失関数を使ったいつもの 5 行の学習ステップに、必要に応じて荷重減衰（weight decay）を加えたものです。なお、特徴量ははじめに標準化しておきます（訓練データの行から求めた値で、各列を平均 0、標準偏差 1 にそろえます）。画素と PCA の成分と潜在表現とでは、値の大きさがまったく違うからです。
#
# 比較を公平に保つために、決まりを 1 つ設けます。どの設定を選ぶときも（ここでは荷重減衰の強さと Adam のステップ数）、ラベル付きの訓練データから取り分けておいた 10 分の 1 で決め、テストデータは決して使いません。`linear_probe` はこのやり方で設定を選び、選んだ設定でラベル付きの行すべてを使って学習し直します。

# %%
from scratchae.classify import softmax_regression

print(inspect.getsource(softmax_regression))

# %% [markdown]
# ## ラベルが少ないとき、多いとき
#
# 実際の問題では、ラベルを付ける作業にいちばん手間とお金がかかることがよくあります。ここまでオートエンコーダは、ラベルを使わずに訓練画像すべてで学習させてきました。今度は分類器に、ラベル付きの画像を 100 枚か 1,000 枚だけ（ランダムに選んだ一部）、あるいはすべて与えてみます。

# %%
from scratchae.probe import evaluate_features

STEPS = 200 if QUICK else 3000
COUNTS = (100, 1000, N_TRAIN)
order = np.random.default_rng(0).permutation(N_TRAIN)  # ラベル付きの n 枚は order[:n]
yd_train, yd_test = to_device(y_train, xp), to_device(y_test, xp)
table = {}
for name, (f_train, f_test) in features.items():
    print(name)
    rows = evaluate_features(to_device(f_train, xp), yd_train, to_device(f_test, xp), yd_test, COUNTS, order,
                             steps=STEPS)
    table[name] = {(r["classifier"], r["labels"]): r["accuracy"] for r in rows}

print("\ntest accuracy (%)   " + "".join(f"{c:>9} {n:<6}" for n in COUNTS for c in ("k-NN", "softmax")))
for name, accs in table.items():
    print(f"{name:18}" + "".join(f"{100 * accs[(c, n)]:15.1f}" for n in COUNTS for c in ("knn5", "softmax")))

# %% [markdown]
# 次の表は、MNIST すべてを使って本来の手順で測った結果です（`python -m scratchae.features` を既定の 3,000 ステップで、このプロジェクトの CPU で実行しました）。潜在表現の行には、ライブラリで学習させたモデルを使っています。レッスン 04 の基準モデル（784-256-128-64-32-32、潜在表現に ReLU あり、既定の 20 エポック）と、レッスン 13 の VAE（既定の 10 エポック）です。2 つのデータセットの表は、畳み込みオートエンコーダの潜在表現の結果も含めて、`docs/results.md` にあります。
#
# | テストの正解率（%） | k-NN、ラベル 100 | softmax、100 | k-NN、1,000 | softmax、1,000 | k-NN、60,000 | softmax、60,000 |
# | --- | --- | --- | --- | --- | --- | --- |
# | 画素（784） | 70.98 | 73.97 | 87.90 | 85.95 | 96.93 | 92.11 |
# | PCA-32 | 74.74 | 69.37 | 90.50 | 85.22 | 97.59 | 88.51 |
# | 基準モデルの潜在表現（32） | 69.49 | 76.50 | 86.30 | 88.28 | 95.57 | 89.57 |
# | VAE の潜在表現の平均（20） | 77.39 | 71.70 | 91.87 | 84.56 | 97.53 | 87.18 |
#
# 画素の行は、公表されている目安の値と整合しています。LeCun らは線形分類器で 88.0% と報告しています（Adam で学習させた私たちのソフトマックス回帰は 92.1%）。また『Hands-On Machine Learning』第 3 版は、k = 5 の k-NN で 96.88% としています（LeCun らが挙げている k-NN の値は 95.0% です）。
#
# この表は、分類器ごとに分けて読むとわかりやすくなります。まず k-NN です。k-NN では、どのラベル数でも PCA-32 が画素を上回っています。数字の大まかな形を保ち、画素ごとのノイズを捨てた 32 次元の表現のほうが、784 画素そのものよりも良い近傍を与えるからです。一方、基準モデルの潜在表現は k-NN の助けにならず、どのラベル数でも画素を下回っています。この潜在表現は PCA-32 よりうまく再構成できるのに、なぜでしょうか。再構成のためだけに学習した潜在表現は、同じクラスの数字を近くに集めるようには学習していないからです。損失関数のどこにもそれを求める項はありませんし、そもそもデコーダは潜在表現どうしのユークリッド距離を使っているわけではありません。レッスン 13 の VAE は事情が違います。KL の項が潜在表現を 1 つのなめらかな雲へと引き寄せるので、そのエンコーダが出す平均 $\mu$ は、ラベルが 100 個と 1,000 個のときに k-NN へのいちばん良い入力になっています（77.39% と 91.87%）。
#
# ソフトマックス回帰では、様子が逆になります。ラベルが 100 個と 1,000 個のときは、基準モデルの潜在表現がいちばん良い入力です（76.50% と 88.28%。画素では 73.97% と 85.95%）。潜在表現がいちばん役に立つといわれるのはラベルが少ない場合で、ここではまさにそのとおりになっています。ところが、60,000 個のラベルをすべて使うと画素が勝ちます。784 次元の入力を使う線形分類器は、32 次元の入力を使うものよりも、クラスを分けるのに使える方向をたくさん持っており、ラベルが十分にあればそれを活かせるのです。（ラベル 60,000 個での PCA-32 と潜在表現の学習では、取り分けたデータで選ばれたステップ数が上限の 3,000 でした。6,000 ステップまで学習させると PCA-32 は 89.50%、基準モデルの潜在表現は 90.59% まで上がりますが、それでも画素には届きません。）
#
# みなさんのクイックモードの表には、このうち 3 つの行が出ています。`PRETRAINED` がオフなら、そのオートエンコーダは 3,000 枚で 2 エポックしか学習していないので、潜在表現の行は低めになるはずです。
#
# ## 同じ潜在表現の 2 つの地図
#
# 潜在表現を 2 次元の地図に描くと、それがどのように並んでいるかを目で見ることができます。PCA は分散がいちばん大きい 2 つの方向だけを残すので、その地図は高次元の点の集まりを平面に線形に映した影のようなものです。遠く離れたグループどうしの距離には意味がありますが、ほかの方向で違っているグループどうしは重なってしまいます。一方、t-SNE（van der Maaten と Hinton, 2008）は近傍の関係を保ちます。潜在空間で近い点は地図の上でも近くに置かれるので、クラスが島のように分かれます。ただし、島の大きさや島どうしの距離には意味がありません。t-SNE は scikit-learn に含まれていて、Colab にははじめから入っています。ほかの環境では `pip install scikit-learn` とするか、このプロジェクトの追加の依存関係 `[tsne]` を `pip install -e ".[tsne]"` で入れてください。

# %%
from scratchae.plots import pca_2d, tsne_available, tsne_2d

N_MAP = 500 if QUICK else 3000
codes = encode_all(models[32], xd_test[:N_MAP, ...]).astype(np.float64)  # (N_MAP, 32)
maps = {"PCA of the codes": pca_2d(codes)}
if tsne_available():
    maps["t-SNE of the codes"] = tsne_2d(codes, seed=0)
else:
    print("skipped the t-SNE map: it needs scikit-learn. Install it with `pip install scikit-learn` "
          '(or `pip install -e ".[tsne]"` in a checkout) and run this cell again.')
fig, axes = plt.subplots(1, len(maps), figsize=(5.5 * len(maps), 5), squeeze=False)
for ax, (title, xy) in zip(axes[0], maps.items()):
    points = ax.scatter(xy[:, 0], xy[:, 1], c=y_test[:N_MAP], cmap="tab10", s=5)
    ax.set_title(title)
fig.colorbar(points, ax=axes[0].tolist(), label="digit")
plt.show()

# %% [markdown]
# ## やってみよう
#
# 1. いちばん簡単な分類器は、最も近いクラス平均（nearest class mean）を選ぶものです。訓練データの行から数字ごとに特徴ベクトルの平均を求め、テストデータの各行に、いちばん近い平均のラベルを付けてください。PCA-32 では、k-NN と比べてどれくらいの正解率になるでしょうか。

# %%
from scratchae.exercises import try_it


def nearest_mean(f_train, labels, f_test):
    """f_train: (N, d), labels: (N,), f_test: (M, d) -> (M,) the label of the closest class mean."""
    raise NotImplementedError  # この行を自分の実装に置き換える


def check_nearest_mean():
    f_train, f_test = features["PCA-32"]
    pred = nearest_mean(f_train, y_train, f_test)
    means = np.stack([f_train[y_train == c].mean(axis=0) for c in range(10)])
    want = np.argmin(((f_test[:, None, :] - means[None, :, :]) ** 2).sum(axis=2), axis=1)
    assert pred.shape == (len(f_test),) and np.mean(pred == want) > 0.99, "not the nearest class mean"
    print(f"nearest mean on PCA-32: {np.mean(pred == y_test):.4f}; 5-NN: {table['PCA-32'][('knn5', N_TRAIN)]:.4f}")


try_it("nearest mean", check_nearest_mean)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def nearest_mean(f_train, labels, f_test):
#     """f_train: (N, d), labels: (N,), f_test: (M, d) -> (M,) the label of the closest class mean."""
#     means = np.stack([f_train[labels == c].mean(axis=0) for c in range(10)])  # (10, d)
#     d2 = (f_test ** 2).sum(axis=1)[:, None] - 2 * f_test @ means.T + (means ** 2).sum(axis=1)[None, :]
#     return np.argmin(d2, axis=1)
#
#
# def check_nearest_mean():
#     f_train, f_test = features["PCA-32"]
#     pred = nearest_mean(f_train, y_train, f_test)
#     means = np.stack([f_train[y_train == c].mean(axis=0) for c in range(10)])
#     want = np.argmin(((f_test[:, None, :] - means[None, :, :]) ** 2).sum(axis=2), axis=1)
#     assert pred.shape == (len(f_test),) and np.mean(pred == want) > 0.99, "not the nearest class mean"
#     print(f"nearest mean on PCA-32: {np.mean(pred == y_test):.4f}; 5-NN: {table['PCA-32'][('knn5', N_TRAIN)]:.4f}")
#
#
# try_it("nearest mean", check_nearest_mean)
# ```
#
# </details>
#
# 2. AE-32 の潜在表現に対して、$k = 1$、5、25 で k-NN を実行してください（`knn_predict(..., k=k)`）。どの $k$ がいちばん良いでしょうか。また、$k$ を大きくしすぎると悪くなるのはなぜでしょうか。
#
# <details><summary>答え</summary>
#
# $k = 1$ では、ラベルが間違っている訓練画像や形の変わった訓練画像にも、そのまま引きずられてしまいます。逆に $k$ が大きすぎると、テスト画像のすぐ近くを越えてほかのクラスの領域からも票を集めることになり、近くの画像の意見ではなく、遠くの大勢による多数決になってしまいます。MNIST では、3 や 5 のような小さい奇数の $k$ がたいていいちばん良く、その差は 1% に満たない程度です。
#
# </details>
#
# 3. `K_LINEAR = 8` にして、線形のオートエンコーダをもう一度学習させてください。どの角が大きいまま残るでしょうか。また、固有値からは何がわかるでしょうか（固有値は `np.linalg.svd(x_lin - x_lin.mean(axis=0), compute_uv=False) ** 2 / len(x_lin)` で求まります）。
#
# <details><summary>答え</summary>
#
# 7 つの角は 1 度くらいまで閉じますが、8 番目の角は 150 エポックの後でも 15 度くらいのままです。8 番目と 9 番目の固有値がほとんど同じだからです（この 2,000 枚の画像では 1.522 と 1.499）。このとき、8 番目の方向が 9 番目の方向のほうへ回っても誤差はほとんど変わらないので、その方向を回すための勾配はとても小さくなります。もっと長く学習させれば、角はゆっくりと閉じ続けます。PCA にも、形を変えて同じ問題があります。2 つの固有値がほとんど等しいと、その 2 つの方向ははっきりとは決まらず、画像を少し足しただけで入れ替わってしまうことがあるのです。
#
# </details>
