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
# # 12 · 再構成誤差による異常検知
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/12_anomaly_detection.ipynb)
#
# 1 種類の画像だけで学習したオートエンコーダは、その種類の画像はうまく再構成できます。
# しかし、それ以外の画像はうまく再構成できません。ですから、再構成誤差を異常の度合いを表すスコアとして使えます。
# 所要時間は演習を含めて 45〜60 分です。
# このレッスンでは、数字の 4 だけで学習し、テストデータの 10,000 個の数字すべてにスコアをつけます。
# そして、そのスコアが 4 とほかの 9 つの数字をどれだけうまく分けられるかを測ります。
#
# このレッスンで学ぶこと
# - 1クラス（one-class）の手順: 正常なクラスだけで学習し、すべての画像にスコアをつけ、それ以外のクラスを異常とする。
# - ROC AUC は「ランダムに選んだ異常な画像が、ランダムに選んだ正常な画像より高いスコアになる確率」であること、
#   そして順位（ランク）を使ったその計算方法。
# - TensorFlow チュートリアルのしきい値（訓練データの誤差の平均 + 標準偏差 1 つ分）と、
#   適合率（precision）・再現率（recall）。
# - 主成分分析（PCA）が、超えなければならない比べる相手（ベースライン）である理由と、オートエンコーダがそれをどれだけ上回るか。

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
# CPU でモデルを学習させると数分かかります。`PRETRAINED = True` にすると、学習済みのモデルが必要になったところで、scratchae に同梱されたモデル（ライブラリ自身のコマンド `python -m scratchae.anomaly` で学習させたもの）を読み込むので、学習を待たずにすぐ本題に進めます。GPU のない Colab ではこれが既定です。ほかの環境では、環境変数 `SCRATCHAE_PRETRAINED=1` でオンになります。下のセルに `True` か `False` を直接書いてもかまいません。

# %%
from scratchae import pretrained

PRETRAINED = pretrained.wanted(xp)  # GPU のない Colab では True。SCRATCHAE_PRETRAINED=1 か 0 でどこでも選べる
print("PRETRAINED =", PRETRAINED)

# %% [markdown]
# ## 1クラスの手順
#
# 正常なクラスは数字の 4 です。オートエンコーダは、訓練データの 4 だけを見ます。
# テストデータには 10 種類の数字がすべて残っていて、4 でない画像はすべて異常です（10,000 枚のうち約 9,000 枚）。
# モデルは、レッスン 04 の基準オートエンコーダを平均二乗誤差（MSE）で学習したものです。
# スコアは、画像 1 枚ごとの、画素あたりの平均二乗誤差です。
#
# $$s_i = \frac{1}{D} \sum_{j=1}^{D} (x_{ij} - \hat x_{ij})^2, \qquad x_i, \hat x_i \in [0, 1]^{784}$$
#
# `PRETRAINED` がオンのときは、下のセルで学習させる代わりに、`python -m scratchae.anomaly --normal 4 --epochs 20` が 5,842 枚の訓練用の 4 すべてで学習させたモデルを読み込みます。構造も設定も同じで、学習ループだけがコマンドのものです。

# %%
import numpy as np

from scratchae import MSE, Adam, dense_autoencoder, to_device, to_numpy
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import init_output_bias
from scratchae.training import train_step

NORMAL = 4
EPOCHS = 2 if QUICK else 20
x_train, y_train, x_test, y_test = load("mnist")
x_normal = x_train[y_train == NORMAL][: 1000 if QUICK else None]  # (n, 784): 4 だけ
is_anomaly = y_test != NORMAL  # (10000,) の真偽値: ほかの 9 つの数字なら True
print(f"training on {len(x_normal)} images of {NORMAL}; "
      f"test: {np.sum(~is_anomaly)} normal, {np.sum(is_anomaly)} anomalies")

loss = MSE()
x = to_device(x_normal, xp)
if PRETRAINED:  # このレッスンのモデルを、anomaly コマンドで学習させたもの
    shipped = pretrained.load(f"anomaly-{NORMAL}", xp=xp)  # shipped for NORMAL = 4
    model = shipped.model
    print(f"PRETRAINED: loaded the shipped anomaly-{NORMAL} model ({shipped.command}) instead of training it "
          "here")
else:
    model = dense_autoencoder(rng=0, xp=xp)
    init_output_bias(model, to_device(x_normal.mean(axis=0), xp))  # 4 の平均の画像から始めます
    optimizer = Adam(model, lr=1e-3)
    for epoch in range(EPOCHS):
        order = to_device(epoch_order(len(x_normal), 0, epoch), xp)
        for a, b in batch_slices(len(x_normal), 256):
            value = train_step(model, loss, optimizer, xp.take(x, order[a:b], axis=0))
        print(f"epoch {epoch + 1}: last batch's mse {float(value):.5f}")

# %% [markdown]
# ## スコア
#
# テストデータ全体で、順伝播を 1 回行います。そして各行（axis 1）について、画素の平均をとります。
# 損失関数のように、全部をまとめて平均するのではありません。
# ライブラリの `reconstruction_errors` は、同じ計算を 1,000 枚ずつのバッチで行います。

# %%
from scratchae.training import reconstruction_errors

xt = to_device(x_test, xp)
out = model.forward(xt)  # (10000, 784)
scores = to_numpy(xp.mean((out - xt) ** 2, axis=1))  # (10000,): 画像 1 枚につき誤差が 1 つ
library_scores = to_numpy(reconstruction_errors(model, loss, xt))

# 確認: 同じ float32 の計算を、バッチに分けただけです。0 か 1e-7 程度（float32 の丸め誤差）になるはずです。
# 1e-5 を超えたらバグです。
print(f"largest relative difference: {np.max(np.abs(scores - library_scores) / scores):.1e}")
assert np.allclose(scores, library_scores, rtol=1e-5)

# %%
import matplotlib.pyplot as plt

bins = np.geomspace(scores.min(), scores.max(), 60)  # 対数で等間隔: 誤差は 2 桁にわたって広がっています
for group, label in ((~is_anomaly, f"normal ({NORMAL})"), (is_anomaly, "anomalies (other digits)")):
    weights = np.full(group.sum(), 1 / group.sum())  # 棒の合計はグループごとに 1: 1,000 枚と 9,000 枚を比べるため
    plt.hist(scores[group], bins=bins, weights=weights, alpha=0.6, label=label)
plt.xscale("log")
plt.xlabel("reconstruction error (MSE per pixel)")
plt.ylabel("fraction of the group")
plt.legend()
plt.show()

# %% [markdown]
# ## ROC AUC: 確率を順位で計算する
#
# 2 つのヒストグラムは重なっています。ですから、完璧なしきい値はありません。ROC AUC（ROC 曲線の下の面積。
# 曲線はこのあとで描きます）は、すべてのしきい値をまとめて 1 つの数で表します。
# ROC AUC は、ランダムに選んだ異常な画像が、
# ランダムに選んだ正常な画像より高いスコアになる確率です（同点は 1/2 と数えます）。
# $n_1 n_0$ 組のペアをすべて数えると、約 900 万回の比較になります。
# 並べ替え（ソート）を使えば、$O(N \log N)$ で済みます。
# まず、すべてのスコアに、$N$ 個全体の中での順位 $r_i$ をつけます（1 が最も低く、
# 同じスコアどうしは順位の平均を分け合います）。
# すると異常な画像の順位の和 $R_1$ は、異常な画像 1 枚ごとに、それより下にある画像の数を数えたものになります。
# したがって、
#
# $$\text{AUC} = \frac{U}{n_1 n_0}, \qquad U = R_1 - \frac{n_1 (n_1 + 1)}{2}$$
#
# です。$U$ はマン・ホイットニーの U 統計量（Mann-Whitney U）です。
# $n_1(n_1+1)/2$ は、異常な画像どうしのペアを取り除くための項です。

# %%
from scipy.stats import rankdata


def auc_by_pairs(scores, is_anomaly):
    pos, neg = scores[is_anomaly][:, None], scores[~is_anomaly][None, :]  # (n1, 1) と (1, n0) を比べる
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def auc_by_ranks(scores, is_anomaly):
    ranks = rankdata(scores)  # 同点には順位の平均が入ります
    n1, n0 = is_anomaly.sum(), (~is_anomaly).sum()
    return (ranks[is_anomaly].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


print(f"pairs: {auc_by_pairs(scores, is_anomaly):.6f}   ranks: {auc_by_ranks(scores, is_anomaly):.6f}")

# %% [markdown]
# ライブラリの `roc_auc` は、順位を使う方法に、入力のチェックを加えたものです。
# SciPy の `mannwhitneyu` は、$U$ を独自に計算します（SciPy 1.7 以降は、1 つ目の標本についての $U$ を返します）。
# これを、独立した確認に使います。

# %%
import inspect

from scipy.stats import mannwhitneyu

from scratchae.metrics import roc_auc

print(inspect.getsource(roc_auc))

# %%
auc = roc_auc(scores, is_anomaly)
n1, n0 = int(is_anomaly.sum()), int((~is_anomaly).sum())
s64 = scores.astype(np.float64)  # SciPy は入力と同じ精度で順位を足します: float32 のままだと U が 1e-7 程度ずれます
scipy_auc = mannwhitneyu(s64[is_anomaly], s64[~is_anomaly]).statistic / (n1 * n0)
print(f"roc_auc {auc:.6f}   scipy {scipy_auc:.6f}   pairs {auc_by_pairs(scores, is_anomaly):.6f}")

# 確認: 1 つの数を 3 通りに計算しています。差は 1e-16 程度になるはずです。1e-12 を超えたらバグです。
assert abs(auc - scipy_auc) < 1e-12 and abs(auc - auc_by_pairs(scores, is_anomaly)) < 1e-12
# 確認: 同点は 1/2 と数えます。すべて同じスコアなら 0.5、完璧な順位づけなら 1 です（どちらも誤差なしで）。
assert roc_auc(np.zeros(4), np.array([True, False, True, False])) == 0.5
assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([False, False, True, True])) == 1.0

# %% [markdown]
# この数のもとになる ROC 曲線を描きます。しきい値を、最も高いスコアから最も低いスコアまで下げていきます。
# それぞれのしきい値で、異常と判定された異常な画像の割合（真陽性率）を縦軸に、
# 異常と判定された正常な画像の割合（偽陽性率）を横軸にとります。AUC は、この曲線の下の面積です。

# %%
from scratchae.metrics import roc_curve

fpr, tpr, _ = roc_curve(scores, is_anomaly)
print(f"trapezoid area {np.trapezoid(tpr, fpr):.6f} = AUC {auc:.6f}")
plt.plot(fpr, tpr, label=f"autoencoder, AUC {auc:.3f}")
plt.plot([0, 1], [0, 1], ":", color="gray", label="chance")
plt.xlabel("false positive rate")
plt.ylabel("true positive rate")
plt.legend()
plt.show()

# %% [markdown]
# ## しきい値: TensorFlow チュートリアルのルール
#
# 異常かどうかを決めるには、しきい値が 1 つ必要です。TensorFlow チュートリアルは、
# 正常なクラスの訓練データの誤差から $t = \text{mean} + \text{std}$（平均 + 標準偏差）を求めます。
# そして、スコアが $t$ を超える画像をすべて異常と判定します。異常を陽性とすると、次のようになります。
#
# - 適合率（precision）$= tp / (tp + fp)$: 異常という判定のうち、正しかったものの割合
# - 再現率（recall）$= tp / (tp + fn)$: 異常な画像のうち、見つけられたものの割合
# - 正解率（accuracy）$= (tp + tn) / N$

# %%
from scratchae.metrics import detection_report, threshold_rule

train_scores = to_numpy(reconstruction_errors(model, loss, x))
t = threshold_rule(train_scores)
flagged = scores > t
tp, fp = np.sum(flagged & is_anomaly), np.sum(flagged & ~is_anomaly)
fn, tn = np.sum(~flagged & is_anomaly), np.sum(~flagged & ~is_anomaly)
mine = {"precision": tp / (tp + fp), "recall": tp / (tp + fn), "accuracy": (tp + tn) / len(scores)}
report = detection_report(scores, is_anomaly, t)
print(f"threshold {t:.5f}: " + ", ".join(f"{k} {v:.4f}" for k, v in mine.items()))

# 確認: 同じ数え方です。完全に一致するはずです（同じ整数を同じように割っているため）。
assert all(mine[k] == report[k] for k in mine), (mine, report)

# %% [markdown]
# ここでは、適合率はどうやっても高くなります。
# テストデータの 90% が異常なので、判定のほとんどは初めから当たるからです。
# しきい値によって動くのは、再現率と、誤って異常と判定された正常な画像の数（$fp$）です。
#
# ## 比べる相手: PCA
#
# MSE で学習した線形のオートエンコーダは、PCA と同じ部分空間を見つけます。
# ですから、コードのユニット数（32）と同じ数の主成分を使う PCA が、
# オートエンコーダが超えなければならない、比べる相手（ベースライン）になります。
# 各画像を、訓練データの 4 から求めた上位 32 個の主成分の方向に射影し、元の空間に戻します。
# そのとき残った二乗誤差を、スコアにします。

# %%
from scratchae.pca import pca_errors, pca_fit

mean, components = pca_fit(x, 32)  # (784,), (32, 784)
pca_scores = to_numpy(pca_errors(xt, mean, components))
print(f"normal class {NORMAL}: autoencoder AUC {auc:.4f}, PCA-32 AUC {roc_auc(pca_scores, is_anomaly):.4f}")

# %% [markdown]
# クイックモード（1,000 枚、2 エポック）では、オートエンコーダは学習が足りず、AUC は PCA より低くなります。
# PCA を超えるには、本来の設定で学習する必要があります。
# 本来の設定（訓練データの 4 を全部で 5,842 枚、20 エポック）では、このクラスで AUC 0.968 に達し、
# PCA の 0.943 を上回ります。
# 10 種類の数字すべてについて `python -m scratchae.anomaly`（このモデル、クラスごとに 40 エポック）を実行すると、
# 平均は 96.9 で、PCA は 95.5 です。README にはこれらの平均が、`docs/results.md` にはクラスごとの表があります。
# 非線形のデコーダが最も役に立つのは、難しい数字です（8: 91.3 対 84.9）。
# 簡単な数字では、ほとんど差がつきません（1: 99.95 対 99.89）。
#
# ## やってみよう
#
# 1. チュートリアルのルールは、正常な画像をどれだけ異常と判定してしまってよいかを考えていません。
#    *訓練データ* の 4 の 5% を異常と判定するしきい値（`train_scores` の 95 パーセンタイル）を書いてください。
#    そして、そのしきい値での再現率を報告してください。

# %%
from scratchae.exercises import try_it


def percentile_threshold(train_scores, q=95):
    """train_scores: (n,) -> the score below which q% of the training errors fall."""
    # 訓練データの誤差の q% が、このスコアより下になります
    raise NotImplementedError  # この行をあなたのコードに置き換えてください


def check_percentile_threshold():
    t95 = percentile_threshold(train_scores)
    assert abs(np.mean(train_scores > t95) - 0.05) < 0.01, "about 5% of the training 4s should score above it"
    print(f"recall at the 95th percentile: {detection_report(scores, is_anomaly, t95)['recall']:.4f}")


try_it("percentile threshold", check_percentile_threshold)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def percentile_threshold(train_scores, q=95):
#     """train_scores: (n,) -> the score below which q% of the training errors fall."""
#     # 訓練データの誤差の q% が、このスコアより下になります
#     return float(np.percentile(train_scores, q))
#
#
# def check_percentile_threshold():
#     t95 = percentile_threshold(train_scores)
#     assert abs(np.mean(train_scores > t95) - 0.05) < 0.01, "about 5% of the training 4s should score above it"
#     print(f"recall at the 95th percentile: {detection_report(scores, is_anomaly, t95)['recall']:.4f}")
#
#
# try_it("percentile threshold", check_percentile_threshold)
# ```
#
# </details>
#
# 2. MSE の代わりに BCE で学習して（`loss = BCE()`、スコアは `reconstruction_errors(model, BCE(), xt)`）、
#    AUC を比べてください。今度は、どの数字のスコアが最も高くなるでしょうか。それはなぜでしょうか。
#
# <details><summary>答え</summary>
#
# AUC は下がります。
# 20 エポックで、MNIST の 10 クラスの平均は 96.4 から 92.3 に、Fashion-MNIST では 90.8 から 73.9 に下がります。
# どちらも PCA を大きく下回ります。完璧な再構成（$\hat x = x$）でも、BCE は 0 になりません。
# 各画素のエントロピー $-x \log x - (1 - x) \log(1 - x)$ が残るからです。これは黒と白では 0 で、灰色で最大になります。
# 灰色の画素が多い画像（太い線のアンチエイリアスされた縁や、服の生地の模様）は、クラスに関係なくスコアが高くなります。
# そのため、スコアに「灰色がどれだけあるか」が混ざり、「再構成がどれだけ悪いか」だけを測れなくなります。
# MSE なら、どんな画像でも、完璧に再構成すれば 0 です。
#
# </details>
#
# 3. `NORMAL` を 1 に、そして 8 に変えてみてください。なぜ 1 はどちらのモデルでも簡単で、8 は難しいのでしょうか。
#
# <details><summary>答え</summary>
#
# `docs/results.md` の表には、このレッスンの本来の設定（20 エポック、シード 0）の列があります。
# 1 では、AUC はオートエンコーダが 99.94、PCA-32 が 99.89 です。8 では、90.07 と 84.86 です。
#
# 1 は短い線 1 本でできていて、1 どうしの違いは主に傾きです。モデルは、画像の中央に何本かの線を描くことを覚えます。
# ほかの数字はどれもインクが多く、その多くは、1 にはインクがない場所にあります。
# ですから、ほかの数字の誤差は大きくなり、線形のモデル（PCA）でも分けられます。
#
# 8 は 2 つの輪でできていて、その部品はほかの多くの数字にも含まれています。0、6、9 の輪や、3 と 5 の曲線です。
# 8 で学習したモデルは、そうした部品を描けます。そのため、ほかの多くの数字もかなりうまく再構成してしまいます。
# それらの誤差は本物の 8 の誤差と重なり、AUC は低くなります。
# ここで、非線形のデコーダが最も役に立ちます（90.1 対 84.9）。
#
# </details>
