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
# # 14 · 潜在表現（コード）は何の役に立つか
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/14_codes_as_features.ipynb)
#
# オートエンコーダは、画像を 1 枚ずつ短いコードに押し縮めます。
# このコードには、2 つの使い道があると言われています。
# 1 つ目は、PCA より良い圧縮になることです。デコーダは曲がった（非線形の）写像を作れるからです。
# 2 つ目は、分類器の良い入力になることです。似た画像には似たコードが付くからです。
# このレッスンでは、この 2 つの主張を MNIST で測って確かめます。
# 時間は、演習を含めて 45〜60 分を見てください。
#
# このレッスンで学ぶこと
# - PCA とオートエンコーダを公平に比べる方法: 同じコードの大きさ、同じテスト画像、2 つの誤差の単位。
# - *線形* のオートエンコーダが PCA の部分空間を学ぶ理由と、それを主角（principal angles）で確かめる方法。
# - コードを使う k 近傍法（k-NN）とソフトマックス回帰（softmax regression）。手で書いて、ライブラリと照らし合わせます。
# - コードが分類器の助けになるとき（ラベルが少ない）と、ならないとき（ラベルが多い）。
# - t-SNE の地図が残すものと、PCA の地図が残すもの。

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
# ## データ
#
# レッスン 04 と同じ MNIST です。
# クイックモードでは、訓練データの最初の 3,000 枚と、テストデータの最初の 1,000 枚だけを使います。
# 本来の設定では、60,000 枚と 10,000 枚をすべて使います。
# ラベル `y_train` と `y_test` は、後の分類器でだけ使います。
# このレッスンのオートエンコーダは、どれもラベルを一度も見ません。

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
# ## 同じコードの大きさの PCA とオートエンコーダ
#
# PCA は、分散がいちばん大きい $k$ 個の方向を残します。
# 中心をそろえた（平均を引いた）訓練画像の、上位 $k$ 個の右特異ベクトルを並べたものを $V_k$（形 $784 \times k$）とします。
# コードは $c = (x - \mu) V_k$ で、再構成と誤差は次のとおりです。
#
# $$\hat x = \mu + (x - \mu) V_k V_k^\top, \qquad E = \sum_{j=1}^{784} (x_j - \hat x_j)^2 = 784 \cdot \text{MSE}.$$
#
# 結果は 2 つの単位で示します。
# 1 つは MSE、つまり画素ごとの平均二乗誤差です（このコースの損失関数が使う単位です）。
# もう 1 つは $E$、つまり画像ごとの二乗誤差で、784 個の画素について和をとったものです（後で出てくる Hinton と Salakhutdinov の単位です）。
# まず PCA を 1 回の特異値分解（SVD）で手で計算し、ライブラリの `pca_errors` で確かめます。

# %%
from scratchae.pca import pca_errors, pca_fit

SIZES = (2, 8, 32, 64)


def pca_by_hand(x, k):
    """x: (n, 784) -> mean (784,), V^T (k, 784): the top k principal directions as rows."""
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)  # vt の行は、特異値の大きい順に並ぶ
    return mean, vt[:k]


mean, vt = pca_by_hand(x_train.astype(np.float64), max(SIZES))
pca_mse = {}
for k in SIZES:
    centred = x_test - mean  # (N_TEST, 784)
    x_hat = mean + centred @ vt[:k].T @ vt[:k]  # k 個の方向に射影して、元の空間に戻す
    pca_mse[k] = float(np.mean((x_test - x_hat) ** 2))

lib_mean, lib_components = pca_fit(xd_train, 32)  # float32 で、デバイスの上で計算する
lib_mse = float(np.mean(to_numpy(pca_errors(xd_test, lib_mean, lib_components))))
print(f"PCA-32 test MSE: by hand (float64) {pca_mse[32]:.6f}, library (float32) {lib_mse:.6f}")

# 確認: 同じ射影を float32 と float64 で計算しています。相対的な差は 1e-6 くらいのはずです。1e-4 を超えたらバグです。
assert abs(lib_mse - pca_mse[32]) / pca_mse[32] < 1e-4

# %% [markdown]
# 次に、コードの大きさごとに、全結合のオートエンコーダを 1 つずつ作ります。
# 幅は基準モデルと同じ 784-256-128-64 で、その後に $k$ 個の数のコードが続きます。
# レッスン 04 と同じく、BCE で学習させます。
# 1 つだけ変えます。
# `code="linear"` で、コードの ReLU を外します。
# するとコードは、PCA のコードと同じように、最後の全結合層（Dense）の出力そのものになります。
# すべての画像で 0 を出す ReLU のユニットは、*死んだ*ユニットです。
# 勾配が流れないので、二度と生き返りません。
# ReLU をつけたままだと、私たちが試したときは、2 個の数のコードで 2 つのユニットが両方とも死にました（MNIST ではシード 0 と 1、Fashion-MNIST ではシード 0 で試しました）。
# そうなると、デコーダは平均画像しか描けません（レッスン 00 の練習問題 3）。
# これがいちばん時間のかかるセルです。レッスン 04 と同じ長さの学習を 4 回行います。

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
# クイックモード（3,000 枚で 2 エポック）では、オートエンコーダは学習が足りず、どのコードの大きさでも PCA が勝ちます。
# みなさんの表にも、そう出ているはずです。
# 非線形のモデルには、2 エポックでは足りません。
# 一方、PCA は学習がいらず、はじめから厳密な答えを出します。
# `SCRATCHAE_QUICK=0` でレッスンを実行すると（60,000 枚すべてで、モデルごとに 10 エポック）、学習でその差がどこまで縮まるかが見られます。
# 本来の設定でも測りました。
# ライブラリのコマンドで、同じモデルを MNIST すべてで 20 エポック学習させました（`python -m scratchae.train --dims 784 256 128 64 K --code linear`）。
# コマンド、Fashion-MNIST の結果、図は `docs/results.md` にあります。
# 画像ごとの二乗誤差 $E$ は、次のとおりです。
#
# | コードの大きさ $k$ | 2 | 8 | 32 | 64 |
# | --- | --- | --- | --- | --- |
# | オートエンコーダ、$E$ | 28.37 | 12.79 | 5.46 | 4.76 |
# | PCA、$E$ | 43.64 | 29.35 | 13.19 | 7.09 |
#
# どの大きさでもオートエンコーダが勝ち、コードが小さいほど差が大きくなります。
# 8 個の数のコードが、PCA の 32 方向と同じくらいの情報を残しています。
#
# Hinton と Salakhutdinov（Science, 2006）は、MNIST のテストデータでの画像ごとの二乗誤差を報告しています。
# 深い 784-1000-500-250-30 のオートエンコーダでは 3.00、30 成分の PCA では 13.87 です。
# 彼らの設定は、3 つの点で私たちの設定と違います。
# ネットワークがずっと広く、コードが 30 個の数であること。
# 隠れ層のユニットがロジスティック関数（シグモイド）で、コードの層が線形であること。
# そして、制限ボルツマンマシン（restricted Boltzmann machine）で 1 層ずつ事前学習し、その後で長く微調整（fine-tuning）していることです。
# 私たちのモデルはもっと細く、Adam で数分しか学習させていません。
# ですから、私たちの差は彼らより小さくなります（上の結果は 5.46 と 13.19 です。私たちの PCA-32 と彼らの PCA-30 は、よく合っています）。
# 彼らの結果が言っているのは、十分に学習させれば、深い非線形のコードは、同じ大きさの線形のコードよりはるかに多くの情報を画像から残すことが*できる*、ということです。
#
# ## 線形のオートエンコーダは PCA の部分空間を見つける
#
# ReLU をすべて取り除き、MSE で学習させます。
# エンコーダは $c = x W_1 + b_1$、デコーダは $\hat x = c W_2 + b_2$ です。
# すると再構成は、階数（rank）が高々 $k$ の線形写像になります。
# Eckart-Young の定理によると、そのような写像のうち（二乗誤差で）いちばん良いものは、上位 $k$ 個の主成分の方向への射影です。
# Baldi と Hornik（1989）は、線形のオートエンコーダの誤差には、ほかの局所的な最小値がないことを示しました。
# つまり、学習はその部分空間を見つけます。
# ただし、方向そのものは見つけません。
# どんな可逆な行列 $A$ で混ぜても、同じ写像になるからです（$W_1 A$ と $A^{-1} W_2$）。
# そこで、部分空間どうしを、その主角（principal angles）で比べます。
# デコーダの行の正規直交基底を $Q_1$、PCA の上位 $k$ 個の方向の正規直交基底を $Q_2$ とします（どちらも $784 \times k$）。
# 主角 $\theta_i$ は次の式で求まります。
#
# $$\cos \theta_i = \sigma_i\left(Q_1^\top Q_2\right), \qquad i = 1, \dots, k,$$
#
# つまり、$k \times k$ の行列の特異値です。
# 2 つの部分空間が等しければ、角はすべて 0 です。
# 784 次元の空間の中の、ランダムな 2 つの部分空間なら、角は 90 度に近くなります。

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

# 確認: 自分の角を SciPy の角（SciPy は大きい順に並べます）と比べます。差は 1e-12 度くらいのはずです。
scipy_after = np.sort(np.degrees(subspace_angles(to_numpy(linear.decoder.layers[0].params["W"]).T, lin_vt.T)))
assert np.allclose(after, scipy_after, atol=1e-6), (after, scipy_after)
# 確認: ほぼ垂直から、ほぼ一致へ。ReLU のあるモデルや、逆伝播にバグのあるモデルは、遠く離れたままです。
assert before.min() > 45 and after.max() < 5, (before, after)

# %% [markdown]
# 角は、90 度近くから 1〜2 度まで下がります。
# なぜ $k = 6$ なのでしょう。
# 角が閉じる速さは、共分散行列の $k$ 番目の固有値と、その次の固有値の開きで決まります。
# この 2,000 枚の画像では、6 番目の固有値は 7 番目の 1.32 倍です。
# でも、8 番目は 9 番目のたった 1.015 倍です。
# $k = 8$ にすると、この 150 エポックの後でも、最後の角は 15 度くらいのまま残ります（演習 3）。
#
# ## コードを特徴量にする
#
# ここで、ラベルを使います。
# 分類器は、画像 1 枚ごとに 1 つの特徴ベクトル（feature vector）を受け取ります。
# 784 個の画素か、32 個の PCA の成分か、オートエンコーダの 32 個の数のコードです。
# 分類器は 2 つ使います。
# 1 つは k 近傍法で、学習がまったくいりません。
# もう 1 つはソフトマックス回帰で、全結合層 1 つだけでできています。
#
# **k 近傍法。** テストデータの行 $q$ ごとに、いちばん近い $k = 5$ 個の訓練データの行を見つけます。
# そして、その中でいちばん多いラベルを選びます（同じ数のクラスがいくつかあるときは、その中で、いちばん近い行のクラスを選びます）。
# $N$ 個の訓練データの行すべてへの距離の二乗は、1 回の行列積で求まります。
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
            out.append(next(c for c in votes if c in tied))  # 同じ数のクラスのうち、いちばん近い近傍のクラス
    return np.array(out)


# %% [markdown]
# ライブラリの `knn_predict` は、同じことをデバイスの上で行います。
# $\lVert q \rVert^2$ はどの候補でも同じなので、計算しません。
# また、全体を並べ替える代わりに、`argmin` を 5 回くり返して、近い 5 個を見つけます。

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

# 確認: 同じ float64 の距離で、同じ投票をしています。予測が変わりうるのは、距離がちょうど同じで、
# 2 つの式がそれを違うように丸めたときだけです。100% になるはずです。99.9% を下回ったらバグです。
assert np.mean(mine == lib) >= 0.999

# %% [markdown]
# **ソフトマックス回帰。** 全結合層 1 つが、10 個のスコア $z = f W + b$ を出します。
# このスコアをロジット（logit）と呼びます。
# ソフトマックス関数は、ロジットを確率 $p_c = e^{z_c} / \sum_{c'} e^{z_{c'}}$ に変えます。
# 損失は、正しいラベル $y$ の交差エントロピー誤差を、バッチで平均したものです。
# ロジットでの勾配は、レッスン 02 の Sigmoid + BCE と同じくらい短い式になります。
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

# 確認: 同じ float64 の式です。1e-16 くらいになるはずです。1e-12 を超えたらバグです。
assert abs(my_loss - lib_loss) < 1e-12 and np.abs(my_dz - lib_dz).max() < 1e-12

# %% [markdown]
# `tests/test_classify.py` は、ライブラリの逆伝播を、数値微分で求めた勾配とも比べます。
# また、2 つを分けて計算したもの（softmax で確率を出し、その確率で交差エントロピー誤差を計算する）とも比べます。
# 学習は、この損失関数を使う 5 行のステップです。
# 必要なら、荷重減衰（weight decay）も加えます。
# 特徴量は、はじめに標準化します（訓練データの行を使って、各列を平均 0、標準偏差 1 にそろえます）。
# 画素と PCA の成分とコードでは、値の大きさがまったく違うからです。
#
# 比べ方を公平に保つための決まりが 1 つあります。
# どの選択も（ここでは荷重減衰の強さと Adam のステップ数）、ラベル付きの訓練データの行から取り分けた 10 分の 1 で決めます。
# テストデータでは決して決めません。
# `linear_probe` はそのように選び、選んだ設定で、ラベル付きの行すべてを使ってもう一度学習します。

# %%
from scratchae.classify import softmax_regression

print(inspect.getsource(softmax_regression))

# %% [markdown]
# ## 少ないラベルと多いラベル
#
# ラベルは、たいてい手間とお金のかかる部分です。
# オートエンコーダは、ラベルを使わずに、訓練データの画像すべてで学習しました。
# 今度は分類器に、ラベル付きの画像を 100 枚か 1,000 枚だけ（ランダムに選んだ一部）、またはすべて与えます。

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
# MNIST すべてを使い、本来の手順で測った結果です（`python -m scratchae.features` を既定の 3,000 ステップで実行し、このプロジェクトの CPU で測りました）。
# コードの行は、ライブラリで学習させたモデルのものです。
# レッスン 04 の基準オートエンコーダ（784-256-128-64-32-32、コードに ReLU あり、既定の 20 エポック）と、レッスン 13 の VAE（既定の 10 エポック）です。
# 2 つのデータセットの表は、畳み込みオートエンコーダのコードも含めて、`docs/results.md` にあります。
#
# | テストの正解率（%） | k-NN、ラベル 100 | softmax、100 | k-NN、1,000 | softmax、1,000 | k-NN、60,000 | softmax、60,000 |
# | --- | --- | --- | --- | --- | --- | --- |
# | 画素（784） | 70.98 | 73.97 | 87.90 | 85.95 | 96.93 | 92.11 |
# | PCA-32 | 74.74 | 69.37 | 90.50 | 85.22 | 97.59 | 88.51 |
# | 基準モデルのコード（32） | 69.49 | 76.50 | 86.30 | 88.28 | 95.57 | 89.57 |
# | VAE の平均のコード（20） | 77.39 | 71.70 | 91.87 | 84.56 | 97.53 | 87.18 |
#
# 画素の行は、公表されている基準の値と合っています。
# LeCun らは、線形分類器で 88.0% と報告しています（Adam で学習させた私たちのソフトマックス回帰は 92.1% です）。
# Hands-On Machine Learning（第 3 版）は、k = 5 の k-NN で 96.88% と報告しています（LeCun らは、彼らの k-NN で 95.0% としています）。
#
# 表は、分類器ごとに読んでください。
# k-NN では、PCA-32 がどのラベルの数でも助けになります。
# 数字の大まかな形を残し、画素のノイズを捨てた 32 個の数のほうが、784 個の画素より良い近傍を与えるからです。
# 基準オートエンコーダのコードは、k-NN の助けになりません。
# どのラベルの数でも、画素より下です。
# このコードは、PCA-32 より良く再構成します。
# でも、再構成のためだけに学習したコードは、同じクラスの数字を近くに集めるようには学習していません。
# 損失関数の中に、それを求めるものは何もありません。
# また、コードどうしのユークリッド距離は、デコーダが使うものではありません。
# レッスン 13 の VAE は違います。
# KL の項が、コードを 1 つのなめらかな雲に引き寄せます。
# その平均のコードは、ラベルが 100 個と 1,000 個のとき、k-NN にいちばん良い入力です（77.39% と 91.87%）。
#
# ソフトマックス回帰では、結果が逆になります。
# ラベルが 100 個と 1,000 個のときは、基準モデルのコードがいちばん良い入力です（76.50% と 88.28%。画素では 73.97% と 85.95% です）。
# コードがいちばん役に立つと言われるのは、ラベルが少ないときです。
# ここでは、そのとおりになっています。
# ラベルが 60,000 個すべてあるときは、画素が勝ちます。
# 784 個の数を使う線形分類器は、32 個の数を使うものより、クラスを分ける方向を多く持っています。
# ラベルが十分にあれば、その方向を使えるのです。
# （PCA-32 とコードでのラベル 60,000 個の学習は、3,000 ステップをすべて使いました。
# 6,000 ステップにすると、PCA-32 は 89.50%、基準モデルのコードは 90.59% になります。
# それでも画素より下です。）
#
# みなさんのクイックモードの表には、このうち 3 つの行があります。
# そのオートエンコーダは 3,000 枚で 2 エポックしか学習していないので、コードの行は低めに出るはずです。
#
# ## 同じコードの 2 つの地図
#
# 2 次元の地図にすると、コードがどう並んでいるかが見えます。
# PCA は、分散がいちばん大きい 2 つの方向を残します。
# その地図は、線形に落とした影です。
# 遠く離れたグループどうしの距離には意味があります。
# でも、ほかの方向で違っているグループは重なってしまいます。
# t-SNE（van der Maaten と Hinton, 2008）は、近さの関係を残します。
# コードの中で近い点は地図の上でも近いままなので、クラスが島のように分かれます。
# ただし、島の大きさや島どうしの距離には、意味がありません。
# t-SNE は scikit-learn にあります（Colab でははじめから入っています。
# ほかの環境では `pip install scikit-learn` か、このプロジェクトの追加の依存関係（extra）`[tsne]` を `pip install -e ".[tsne]"` で入れます）。

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
# 1. いちばん簡単な分類器は、いちばん近いクラスの平均を選ぶもの（nearest class mean）です。
#    訓練データの行から、数字ごとに特徴ベクトルの平均を求めます。
#    そして、テストデータの各行に、いちばん近い平均のラベルを付けます。
#    PCA-32 では、k-NN と比べてどうでしょう。

# %%
from scratchae.exercises import try_it


def nearest_mean(f_train, labels, f_test):
    """f_train: (N, d), labels: (N,), f_test: (M, d) -> (M,) the label of the closest class mean."""
    raise NotImplementedError  # この行を、あなたのコードに置き換えてください


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
# 2. AE-32 のコードで、$k = 1$、5、25 として k-NN を実行してください（`knn_predict(..., k=k)`）。
#    いちばん良いのはどの $k$ でしょう。また、とても大きな $k$ が悪くなるのはなぜでしょう。
#
# <details><summary>答え</summary>
#
# $k = 1$ では、ラベルの間違った訓練画像や、変わった形の訓練画像にも、いちいち従ってしまいます。
# 大きな $k$ では、テスト画像のまわりを越えて、ほかのクラスのところまで届いてしまいます。
# すると投票は、ただの多数決になります。
# MNIST では、3 や 5 のような小さい奇数の $k$ が、たいていいちばん良くなります。
# 差は、1% に満たない程度です。
#
# </details>
#
# 3. `K_LINEAR = 8` にして、線形のオートエンコーダをもう一度実行してください。
#    どの角が大きいまま残るでしょう。固有値からは何が分かるでしょう。
#    （固有値は `np.linalg.svd(x_lin - x_lin.mean(axis=0), compute_uv=False) ** 2 / len(x_lin)` で求まります。）
#
# <details><summary>答え</summary>
#
# 7 つの角は 1 度くらいまで閉じます。
# でも 8 番目の角は、150 エポックの後でも 15 度くらいのままです。
# 8 番目と 9 番目の固有値は、ほとんど同じです（この 2,000 枚の画像では 1.522 と 1.499）。
# 8 番目の方向が 9 番目の方向へ回っても、誤差はほとんど変わりません。
# そのため、その方向を回す勾配はとても小さくなります。
# もっと長く学習させれば、ゆっくりと閉じ続けます。
# PCA にも、形を変えて同じ問題があります。
# 2 つの固有値がほとんど同じとき、その 2 つの方向ははっきり決まりません。
# 画像を少し足すだけで、2 つが入れ替わることもあります。
#
# </details>
