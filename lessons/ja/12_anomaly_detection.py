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
# 1 種類の画像だけで学習させたオートエンコーダは、その種類の画像ならうまく再構成できますが、それ以外の画像はうまく再構成できません。ということは、再構成誤差の大きさを、その画像がどれだけ異常かを表すスコアとしてそのまま使えるはずです。所要時間は演習を含めて 45〜85 分です。このレッスンでは、数字の 4 の画像だけでオートエンコーダを学習させ、テストデータの 10,000 枚すべてにスコアをつけます。そして、このスコアで 4 とほかの 9 種類の数字をどれだけうまく見分けられるかを測ります。
#
# このレッスンで学ぶこと
# - 1クラス（one-class）の手順: 正常なクラスだけで学習させ、すべての画像にスコアをつけ、正常なクラス以外を異常とみなす
# - ROC AUC が「ランダムに選んだ異常な画像のスコアが、ランダムに選んだ正常な画像のスコアより高くなる確率」であること、そして順位（ランク）を使ったその計算方法
# - TensorFlow のチュートリアルのしきい値（訓練データの誤差の平均 + 標準偏差 1 つ分）と、そのときの適合率（precision）と再現率（recall）
# - なぜ主成分分析（PCA）を比べる相手（ベースライン）にするのか、そしてオートエンコーダが PCA をどれだけ上回るか

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
# CPU でモデルを学習させると数分かかります。`PRETRAINED = True` にしておくと、学習済みのモデルが必要になる場面では、scratchae に同梱されているモデル（ライブラリ自身のコマンド `python -m scratchae.anomaly` で学習させたもの）を読み込むので、学習を待たずに本題へ進めます。GPU のない Colab では、これが既定でオンになっています。ほかの環境では、環境変数 `SCRATCHAE_PRETRAINED=1` でオンにできます。下のセルに `True` か `False` を直接書いてもかまいません。

# %%
from scratchae import pretrained

PRETRAINED = pretrained.wanted(xp)  # GPU のない Colab では True。SCRATCHAE_PRETRAINED=1 か 0 でどこでも選べる
print("PRETRAINED =", PRETRAINED)

# %% [markdown]
# ## 1クラスの手順
#
# 正常なクラスを数字の 4 とします。オートエンコーダが学習のあいだに目にするのは、訓練データの 4 の画像だけです。一方、テストデータには 10 種類の数字をすべて残しておき、4 でない画像はすべて異常とみなします（10,000 枚のうち約 9,000 枚です）。モデルは、レッスン 04 の基準モデルと同じ構成を平均二乗誤差（MSE）で学習させたものです。そこでスコアにも、画像 1 枚ごとの、画素あたりの平均二乗誤差を使います。
#
# $$s_i = \frac{1}{D} \sum_{j=1}^{D} (x_{ij} - \hat x_{ij})^2, \qquad x_i, \hat x_i \in [0, 1]^{784}$$
#
# `PRETRAINED` がオンのときは、下のセルはここで学習させる代わりに、`python -m scratchae.anomaly --normal 4 --epochs 20` が訓練データの 4 の画像 5,842 枚すべてで学習させたモデルを読み込みます。モデルの構成も設定も同じで、違うのは学習ループがコマンドのものだという点だけです。

# %%
import numpy as np

from scratchae import MSE, Adam, dense_autoencoder, to_device, to_numpy
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import init_output_bias
from scratchae.training import train_step

NORMAL = 4
EPOCHS = 2 if QUICK else 20
x_train, y_train, x_test, y_test = load("mnist")
x_normal = x_train[y_train == NORMAL][: 1000 if QUICK else None]  # (n, 784): 4 の画像だけ
is_anomaly = y_test != NORMAL  # (10000,) の真偽値: ほかの 9 種類の数字なら True
print(f"training on {len(x_normal)} images of {NORMAL}; "
      f"test: {np.sum(~is_anomaly)} normal, {np.sum(is_anomaly)} anomalies")

loss = MSE()
x = to_device(x_normal, xp)
if PRETRAINED:  # このレッスンのモデルを anomaly コマンドで学習させたもの
    shipped = pretrained.load(f"anomaly-{NORMAL}", xp=xp)  # 同梱されているのは NORMAL = 4 のモデル
    model = shipped.model
    print(f"PRETRAINED: loaded the shipped anomaly-{NORMAL} model ({shipped.command}) instead of training it "
          "here")
else:
    model = dense_autoencoder(rng=0, xp=xp)
    init_output_bias(model, to_device(x_normal.mean(axis=0), xp))  # 4 の平均画像から始める
    optimizer = Adam(model, lr=1e-3)
    for epoch in range(EPOCHS):
        order = to_device(epoch_order(len(x_normal), 0, epoch), xp)
        for a, b in batch_slices(len(x_normal), 256):
            value = train_step(model, loss, optimizer, xp.take(x, order[a:b], axis=0))
        print(f"epoch {epoch + 1}: last batch's mse {float(value):.5f}")

# %% [markdown]
# ## スコア
#
# テストデータ全体に対して順伝播を 1 回行い、各行（axis 1）ごとに画素についての平均をとります。損失関数はすべての要素をまとめて 1 つの数に平均しますが、ここで欲しいのは画像 1 枚ごとのスコアなので、行ごとに平均するわけです。ライブラリの `reconstruction_errors` も同じ計算を、1,000 枚ずつのバッチに分けて行います。

# %%
from scratchae.training import reconstruction_errors

xt = to_device(x_test, xp)
out = model.forward(xt)  # (10000, 784)
scores = to_numpy(xp.mean((out - xt) ** 2, axis=1))  # (10000,): 画像 1 枚につき誤差 1 つ
library_scores = to_numpy(reconstruction_errors(model, loss, xt))
# 確認: 同じ float32 の計算をバッチに分けただけなので、0 か 1e-7 程度（float32 の丸め誤差）になる。
# 1e-5 を超えたらバグ
print(f"largest relative difference: {np.max(np.abs(scores - library_scores) / scores):.1e}")
assert np.allclose(scores, library_scores, rtol=1e-5)

# %%
import matplotlib.pyplot as plt

bins = np.geomspace(scores.min(), scores.max(), 60)  # 対数で等間隔: 誤差は 2 桁にわたって広がる
for group, label in ((~is_anomaly, f"normal ({NORMAL})"), (is_anomaly, "anomalies (other digits)")):
    weights = np.full(group.sum(), 1 / group.sum())  # 棒の合計がグループごとに 1: 1,000 枚と 9,000 枚を比べるため
    plt.hist(scores[group], bins=bins, weights=weights, alpha=0.6, label=label)
plt.xscale("log")
plt.xlabel("reconstruction error (MSE per pixel)")
plt.ylabel("fraction of the group")
plt.legend()
plt.show()

# %% [markdown]
# ## ROC AUC: 確率を順位で計算する
#
# 2 つのヒストグラムは重なっているので、どこにしきい値を置いても完璧には見分けられません。そこで、しきい値を 1 つに決める前に、すべてのしきい値をまとめて評価する指標を使います。それが ROC AUC（ROC 曲線の下の面積。曲線はこのあとで描きます）です。ROC AUC は、異常な画像と正常な画像をランダムに 1 枚ずつ選んだとき、異常な画像のほうが高いスコアになる確率に等しくなります（同点は 1/2 と数えます）。異常な画像の枚数を $n_1$、正常な画像の枚数を $n_0$ とすると、この確率を $n_1 n_0$ 組のペアすべてで数えるには、約 900 万回の比較が必要です。しかし並べ替え（ソート）を使えば、$O(N \log N)$ の計算で済みます。まず、$N = n_1 + n_0$ 個のスコアすべてに、全体の中での順位 $r_i$ をつけます（最も低いスコアが 1 で、同じスコアどうしは順位の平均を分け合います）。すると異常な画像の順位の和 $R_1$ は、異常な画像 1 枚ごとに、それより下にある画像の枚数を数えて足し合わせたものになります。したがって、次の式が成り立ちます。
#
# $$\text{AUC} = \frac{U}{n_1 n_0}, \qquad U = R_1 - \frac{n_1 (n_1 + 1)}{2}$$
#
# ここで $U$ は、マン・ホイットニーの U 統計量（Mann-Whitney U）です。$n_1(n_1+1)/2$ を引くのは、$R_1$ に数えられている異常な画像どうしのペアを取り除くためです。

# %%
from scipy.stats import rankdata


def auc_by_pairs(scores, is_anomaly):
    pos, neg = scores[is_anomaly][:, None], scores[~is_anomaly][None, :]  # (n1, 1) と (1, n0) を比べる
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def auc_by_ranks(scores, is_anomaly):
    ranks = rankdata(scores)  # 同点には順位の平均が入る
    n1, n0 = is_anomaly.sum(), (~is_anomaly).sum()
    return (ranks[is_anomaly].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


print(f"pairs: {auc_by_pairs(scores, is_anomaly):.6f}   ranks: {auc_by_ranks(scores, is_anomaly):.6f}")

# %% [markdown]
# ライブラリの `roc_auc` は、順位を使う方法に入力のチェックを加えたものです。一方、SciPy の `mannwhitneyu` は $U$ を独自に計算します（SciPy 1.7 以降は、1 つ目の標本についての $U$ を返します）。そこで、これを独立した確認に使います。

# %%
import inspect

from scipy.stats import mannwhitneyu

from scratchae.metrics import roc_auc

print(inspect.getsource(roc_auc))

# %%
auc = roc_auc(scores, is_anomaly)
n1, n0 = int(is_anomaly.sum()), int((~is_anomaly).sum())
s64 = scores.astype(np.float64)  # SciPy は入力と同じ精度で順位を足す: float32 のままだと U が 1e-7 程度ずれる
scipy_auc = mannwhitneyu(s64[is_anomaly], s64[~is_anomaly]).statistic / (n1 * n0)
print(f"roc_auc {auc:.6f}   scipy {scipy_auc:.6f}   pairs {auc_by_pairs(scores, is_anomaly):.6f}")
# 確認: 同じ数を 3 通りに計算している。差は 1e-16 程度になり、1e-12 を超えたらバグ
assert abs(auc - scipy_auc) < 1e-12 and abs(auc - auc_by_pairs(scores, is_anomaly)) < 1e-12
# 確認: 同点は 1/2 と数える。スコアがすべて等しければ 0.5、完璧な順位づけなら 1（どちらも誤差なし）
assert roc_auc(np.zeros(4), np.array([True, False, True, False])) == 0.5
assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([False, False, True, True])) == 1.0

# %% [markdown]
# AUC の値のもとになっている ROC 曲線も描いてみましょう。しきい値を最も高いスコアから最も低いスコアまで下げていき、それぞれのしきい値で、異常と判定された異常な画像の割合（真陽性率）を縦軸に、異常と判定された正常な画像の割合（偽陽性率）を横軸にとります。AUC は、こうしてできる曲線の下の面積です。

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
# ## しきい値: TensorFlow のチュートリアルのルール
#
# 画像を 1 枚ずつ異常かどうか判定するには、しきい値を 1 つに決めなければなりません。TensorFlow のチュートリアルは、正常なクラスの訓練データの誤差から $t = \text{mean} + \text{std}$（平均 + 標準偏差）を求め、スコアが $t$ を超える画像をすべて異常と判定します。異常を陽性として、真陽性、偽陽性、真陰性、偽陰性の枚数を $tp$、$fp$、$tn$、$fn$ と書くと、判定の良さは次の 3 つの数で表せます。
#
# - 適合率（precision）$= tp / (tp + fp)$: 異常と判定したもののうち、本当に異常だったものの割合
# - 再現率（recall）$= tp / (tp + fn)$: 異常な画像のうち、見つけられたものの割合
# - 正解率（accuracy）$= (tp + tn) / N$: すべての画像のうち、判定が正しかったものの割合

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
# 確認: 同じ数え方なので完全に一致する（同じ整数を同じように割っている）
assert all(mine[k] == report[k] for k in mine), (mine, report)

# %% [markdown]
# この問題では、適合率はどうやっても高くなります。テストデータの 90% が異常なので、異常と判定すれば、たいていは当たってしまうからです。しきい値を動かしたときに変わるのは、再現率と、誤って異常と判定された正常な画像の枚数（$fp$）のほうです。
#
# ## 比べる相手: PCA
#
# MSE で学習させた線形のオートエンコーダは、PCA と同じ部分空間を見つけます。ですから、わざわざ非線形のオートエンコーダを使うなら、少なくとも PCA には勝ちたいところです。そこで、潜在表現の次元（32）と同じ数の主成分を使う PCA を比べる相手（ベースライン）とし、オートエンコーダにはこれを超えることを求めます。各画像を、訓練データの 4 から求めた上位 32 個の主成分の方向に射影してから元の空間に戻し、そのとき残った二乗誤差をスコアにします。

# %%
from scratchae.pca import pca_errors, pca_fit

mean, components = pca_fit(x, 32)  # (784,), (32, 784)
pca_scores = to_numpy(pca_errors(xt, mean, components))
print(f"normal class {NORMAL}: autoencoder AUC {auc:.4f}, PCA-32 AUC {roc_auc(pca_scores, is_anomaly):.4f}")

# %% [markdown]
# クイックモード（1,000 枚、2 エポック）では、オートエンコーダの学習が足りず、AUC は PCA を下回ります。PCA を超えるには、本来の設定で学習させる必要があります。本来の設定（訓練データの 4 を 5,842 枚すべて、20 エポック）では、このクラスで AUC 0.968 に達し、PCA の 0.943 を上回ります。以下では AUC を百分率で書きます。10 種類の数字をそれぞれ正常なクラスにして `python -m scratchae.anomaly`（このモデルで、クラスごとに 40 エポック）を実行すると、AUC の平均はオートエンコーダが 96.9、PCA が 95.5 です。README にはこれらの平均が、`docs/results.md` にはクラスごとの表が載っています。非線形のデコーダが最も効くのは難しい数字で（8 では 91.3 対 84.9）、簡単な数字ではほとんど差がつきません（1 では 99.95 対 99.89）。
#
# ## やってみよう
#
# 1. チュートリアルのルールには、正常な画像をどのくらいの割合まで誤って異常と判定してよいか、という考えが入っていません。テストデータではなく訓練データの 4 のうち 5% を異常と判定するしきい値（`train_scores` の 95 パーセンタイル）を実装し、そのしきい値での再現率を求めてください。

# %%
from scratchae.exercises import try_it


def percentile_threshold(train_scores, q=95):
    """train_scores: (n,) -> the score below which q% of the training errors fall."""
    # 訓練データの誤差の q% がこのスコアより下に入る
    raise NotImplementedError  # この行を自分の実装に置き換える


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
#     # 訓練データの誤差の q% がこのスコアより下に入る
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
# 2. MSE の代わりに BCE で学習させ（`loss = BCE()`。スコアは `reconstruction_errors(model, BCE(), xt)` で求めます）、AUC を比べてください。今度は、どの数字のスコアが高くなるでしょうか。それはなぜでしょうか。
#
# <details><summary>答え</summary>
#
# AUC は下がります。20 エポックの学習で、MNIST の 10 クラスの平均は 96.4 から 92.3 に、Fashion-MNIST では 90.8 から 73.9 に下がり、どちらも PCA を大きく下回ります。原因は、完璧に再構成できた場合（$\hat x = x$）でも BCE が 0 にならないことです。各画素には、エントロピー $-x \log x - (1 - x) \log(1 - x)$ の分だけ BCE が残ります。この値は黒や白の画素では 0 ですが、灰色の画素で最大になります。そのため、灰色の画素が多い画像（太い線のアンチエイリアスされた縁や、服の生地の模様）は、クラスに関係なくスコアが高くなります。つまりスコアに、「再構成がどれだけ悪いか」だけでなく「灰色がどれだけあるか」が混ざってしまうのです。MSE なら、どんな画像でも完璧に再構成すれば 0 になります。
#
# </details>
#
# 3. `NORMAL` を 1 に、また 8 に変えてみてください。1 がどちらのモデルにとっても簡単で、8 が難しいのはなぜでしょうか。
#
# <details><summary>答え</summary>
#
# `docs/results.md` の表には、このレッスンの本来の設定（20 エポック、シード 0）での結果の列があります。1 では、AUC はオートエンコーダが 99.94、PCA-32 が 99.89 です。8 では、それぞれ 90.07 と 84.86 です。
#
# 1 は短い線 1 本でできていて、1 どうしの違いはおもに傾きです。そのためモデルは、画像の中央に線を何本か描くことを覚えます。ほかの数字はどれも 1 よりインクが多く、しかもその多くは、1 ならインクのない場所にあります。ですから、ほかの数字の再構成誤差は大きくなり、線形のモデル（PCA）でも十分に見分けられます。
#
# 一方、8 は 2 つの輪でできていて、その部品はほかの多くの数字にも含まれています。0、6、9 の輪や、3 と 5 の曲線です。8 で学習したモデルはこうした部品を描けるので、ほかの数字の多くもかなりうまく再構成できてしまいます。その結果、ほかの数字の誤差が本物の 8 の誤差と重なり、AUC は低くなります。非線形のデコーダが最も効くのは、このような場合です（90.1 対 84.9）。
#
# </details>
