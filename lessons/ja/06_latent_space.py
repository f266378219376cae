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
# # 06 · 潜在空間: 地図、2 つの数字のあいだの道、死んだユニット
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/06_latent_space.ipynb)
#
# レッスン 04 の基準オートエンコーダは、どの数字も 32 個の数に押し縮めます。
# このレッスンでは、その 32 個の数を調べます。数字はどこに置かれるのか。2 つの数字のあいだには何があるのか。
# モデルのユニットのうち、一度も働かないものはいくつあるのか。
#
# このレッスンで学ぶこと
# - 32 次元のコードを、主成分分析（PCA）で 2 次元の地図に写すこと。NumPy の数行で書きます。
# - 2 つのコードを結ぶ線分の上を歩き、その上の点をすべて復号すること。
# - 死んだ ReLU ユニット（dead unit）を数えること。そして、基準モデルにそれがある理由。

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
# CPU でモデルを学習させると数分かかります。`PRETRAINED = True` にすると、学習済みのモデルが必要になったところで、scratchae に同梱されたモデル（ライブラリ自身のコマンド `python -m scratchae.train` で学習させたもの）を読み込むので、学習を待たずにすぐ本題に進めます。GPU のない Colab ではこれが既定です。ほかの環境では、環境変数 `SCRATCHAE_PRETRAINED=1` でオンになります。下のセルに `True` か `False` を直接書いてもかまいません。

# %%
from scratchae import pretrained

PRETRAINED = pretrained.wanted(xp)  # GPU のない Colab では True。SCRATCHAE_PRETRAINED=1 か 0 でどこでも選べる
print("PRETRAINED =", PRETRAINED)

# %% [markdown]
# まず、学習済みのモデルが必要です。レッスン 04 の基準モデルと学習ループを使います。
# ただしエポック数は 20 ではなく 10 です。
# クイックモード（テストで使います）では、データの 10 分の 1 で 2 エポックだけ学習します。
# そのときの地図は粗くなりますが、数字はもう分かれています。
#
# `PRETRAINED` がオンのときは、学習させる代わりに、同梱の基準モデルを読み込みます。同じネットワークを、全データで 20 エポック学習させたものです。

# %%
import matplotlib.pyplot as plt
import numpy as np

import scratchae as sa
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import init_output_bias
from scratchae.training import evaluate, train_step

EPOCHS = 2 if QUICK else 10
N_TRAIN = 6000 if QUICK else 60000
BATCH, SEED = 256, 0

x_train_host, _, x_test_host, y_test = load("mnist")
x_train = sa.to_device(x_train_host[:N_TRAIN], xp)
x_test = sa.to_device(x_test_host, xp)
bce = sa.BCE()
if PRETRAINED:  # 同梱の基準モデル: 同じネットワークを、全データで 20 エポック学習させたもの
    shipped = pretrained.load("reference", xp=xp)
    model = shipped.model
    print(f"PRETRAINED: loaded the shipped reference model ({len(shipped.metrics)} epochs of "
          "python -m scratchae.train) instead of training one here")
else:
    model = sa.dense_autoencoder(rng=SEED, xp=xp)
    init_output_bias(model, sa.to_device(x_train_host[:N_TRAIN].mean(axis=0), xp))
    optimizer = sa.Adam(model, lr=1e-3)
    for epoch in range(EPOCHS):
        order = sa.to_device(epoch_order(N_TRAIN, SEED, epoch), xp)
        for a, b in batch_slices(N_TRAIN, BATCH):
            train_step(model, bce, optimizer, xp.take(x_train, order[a:b], axis=0))
    print(f"trained for {EPOCHS} epochs")
print(f"test BCE: {evaluate(model, bce, x_test):.4f}")

# %% [markdown]
# ## コードの地図: 主成分分析（PCA）
#
# テストデータのコードを行として積み重ねて $Z$（10,000 × 32）を作り、平均を引いて中心をそろえます。
# 特異値分解 $Z - \bar z = U S V^\top$ は、コードがいちばん広がる方向 $V$ を、広がりの大きい順に与えます。
# 最初の 2 つの方向だけを残すと、どの画像も平面の上の 1 点になります:
#
# $$p_n = (z_n - \bar z)\, V_{:,\,1:2}, \qquad \operatorname{Var}(p_{n,k}) = \frac{s_k^2}{N}.$$

# %%
z = np.concatenate([sa.to_numpy(model.encode(x_test[a:b, ...])) for a, b in batch_slices(10000, 1000)])
z = z.astype(np.float64)  # (10000, 32)。下の確認を厳しくできるように float64 にする


def pca_2d(z):
    """Rows of z (N, d) projected on their first two principal directions -> (N, 2)."""
    centred = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)  # vt: (d, d)。各行が 1 つの方向
    return centred @ vt[:2].T


p = pca_2d(z)
print(f"codes {z.shape}, map {p.shape}")

# %% [markdown]
# **確認。** 同じ答えに、別の道からたどり着いてみます。
# 主成分の方向は、共分散行列 $C = \frac1N (Z-\bar z)^\top (Z-\bar z)$ の固有ベクトルです。
# そして、それぞれの方向の分散は固有値です。
# ですから、地図の 2 つの座標の共分散行列は対角行列で、対角には $C$ の大きいほうから 2 つの固有値が並ぶはずです。
# float64 では、相対誤差は 1e-15 くらいです。1e-8 を超えたら、射影が間違っています。

# %%
eigenvalues = np.linalg.eigvalsh(np.cov(z, rowvar=False, bias=True))[::-1]  # 大きい順
cov_p = np.cov(p, rowvar=False, bias=True)  # (2, 2)
err_var = np.max(np.abs(np.diag(cov_p) - eigenvalues[:2]) / eigenvalues[:2])
err_corr = abs(cov_p[0, 1]) / eigenvalues[0]
print(f"variances {np.diag(cov_p)}, top eigenvalues {eigenvalues[:2]}: rel. error {err_var:.1e}")
print(f"covariance between the two coordinates, relative to the first variance: {err_corr:.1e}")
print(f"the map keeps {eigenvalues[:2].sum() / eigenvalues.sum():.0%} of the codes' variance")
assert err_var < 1e-8 and err_corr < 1e-8

# %%
fig, ax = plt.subplots(figsize=(6.5, 5.5))
for digit in range(10):
    mask = y_test == digit
    ax.scatter(p[mask, 0], p[mask, 1], s=2, alpha=0.5, color=plt.cm.tab10(digit), label=str(digit))
ax.set_xlabel("principal component 1")
ax.set_ylabel("principal component 2")
ax.legend(markerscale=6, title="digit")
plt.show()

# %% [markdown]
# どの画像がどの数字かは、モデルにだれも教えていません。それでも、同じ数字の画像は近くに集まります。
# 32 個の数から画像を作り直すには、それがどんな形の線なのかを、コードが表していなければならないからです。
# 点の集まりが重なるところ（4 と 7 と 9、3 と 5 と 8）では、数字の見た目も似ています。
# この平面は、分散の一部しか見せていません。ここで重なっている集まりも、残りの 30 の方向では離れているかもしれません。
#
# ## 2 つの数字のあいだを歩く
#
# 2 枚のテスト画像のコード $z_a$、$z_b$ をとり、そのあいだの線分の上の点を復号します:
#
# $$\hat x(\alpha) = g\big((1-\alpha)\, z_a + \alpha\, z_b\big), \qquad \alpha \in [0, 1].$$
#
# その下には、比べるために、画素どうしを混ぜた $(1-\alpha)\,x_a + \alpha\, x_b$ を並べます。

# %%
DIGIT_A, DIGIT_B, STEPS = 1, 0, 9
i_a, i_b = int(np.flatnonzero(y_test == DIGIT_A)[0]), int(np.flatnonzero(y_test == DIGIT_B)[0])
alphas = np.linspace(0.0, 1.0, STEPS, dtype=np.float32)[:, None]  # (STEPS, 1)
z_a, z_b = model.encode(x_test[i_a:i_a + 1, ...]), model.encode(x_test[i_b:i_b + 1, ...])  # どちらも (1, 32)
z_line = (1 - sa.to_device(alphas, xp)) * z_a + sa.to_device(alphas, xp) * z_b  # (STEPS, 32)
walk = sa.to_numpy(model.decode(z_line))  # (STEPS, 784)
blend = (1 - alphas) * x_test_host[i_a] + alphas * x_test_host[i_b]  # (STEPS, 784)

fig, axes = plt.subplots(2, STEPS, figsize=(STEPS, 2.3))
for k in range(STEPS):
    for row, pics in enumerate((walk, blend)):
        axes[row, k].imshow(pics[k].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes[row, k].axis("off")
    axes[0, k].set_title(f"α = {alphas[k, 0]:.2f}", fontsize=8)
fig.suptitle(f"decoded latent walk from a {DIGIT_A} to a {DIGIT_B} (top), pixel blend (bottom)", fontsize=10)
plt.show()

# %% [markdown]
# **確認。** 道の両端は、2 枚の画像をモデルで再構成したものと同じはずです。差の絶対値は 1e-7〜1e-6 くらいです。
# 1e-4 を超えたら、`decode` が `forward` の後半になっていません。差が 0 にならないのは、次の理由です。
# 計算は同じでも、行列のライブラリは、バッチの大きさが違うと、違う順番で足すことがあります。
# そして 10 個の層が、その丸め誤差を先へ伝えます。2 つ目の確認では、線分そのものを調べます。
# 線分は $z_a$ から始まり、$z_b$ で終わり、$(z_b - z_a) / 8$ ずつ等しく進まなければなりません。
# 両端が入れ替わっていたり、$\alpha$ の間隔がそろっていなかったりすると、この確認で失敗します。
# 誤差は 1e-7 くらいです。

# %%
ends = sa.to_numpy(model.forward(xp.take(x_test, xp.asarray([i_a, i_b]), axis=0)))  # (2, 784)
err_ends = float(np.max(np.abs(walk[[0, -1]] - ends)))
print(f"largest difference between the walk's ends and the reconstructions: {err_ends:.1e}")
assert err_ends < 1e-4
line = sa.to_numpy(z_line).astype(np.float64)  # (STEPS, 32)
za, zb = sa.to_numpy(z_a)[0].astype(np.float64), sa.to_numpy(z_b)[0].astype(np.float64)
err_line = max(np.max(np.abs(line[0] - za)), np.max(np.abs(line[-1] - zb)),
               np.max(np.abs(np.diff(line, axis=0) - (zb - za) / (STEPS - 1))))
print(f"largest difference between the segment and z_a, z_b and equal steps: {err_line:.1e}")
assert err_line < 1e-4 * (1 + np.max(np.abs(zb - za)))

# %% [markdown]
# 画素を混ぜると、一方の画像が薄くなり、もう一方が濃くなるだけです。潜在空間の道では、ほとんどの場合、線が描かれます。
# 途中の画像も、どれも数字らしく見えます。
# ただし、オートエンコーダはこれを約束しません。そのため、どちらの数字にも見えない画像が途中に出ることもあります。
# レッスン 13 の変分オートエンコーダ（VAE）は、途中の画像も数字に見えるように学習します。
#
# ## 死んだユニット
#
# ReLU のユニットは $\max(a, 0)$ を出力します。入力 $a$ が、どの画像でも負だったとしましょう。
# するとこのユニットはどの画像にも 0 を出し、
# 逆伝播で勾配を 1 つも通しません（$a<0$ では $\partial \max(a,0)/\partial a = 0$ です）。
# そのため、このユニット自身の重みは学習しなくなります。このユニットは「死んでいる」のです。
# 生き返らせることができるのは、その前の層の変化だけです。死んだユニットを手で数えましょう。
# 重みを使って順伝播し、テストデータ全体について、各 ReLU の出力をとっておきます。

# %%
def relu_outputs(model, x):
    """Forward x (N, 784) through the model's weights by hand; returns every ReLU layer's output (N, width)."""
    outputs = []
    for layer in model.layers:
        if isinstance(layer, sa.Dense):
            x = x @ sa.to_numpy(layer.params["W"]) + sa.to_numpy(layer.params["b"])
        elif isinstance(layer, sa.ReLU):
            x = np.maximum(x, 0.0)
            outputs.append(x)
    return outputs


acts = relu_outputs(model, x_test_host)
dead_by_hand = [int(np.sum(np.all(a == 0.0, axis=0))) for a in acts]  # どの画像でも 0 のユニット
widths = [a.shape[1] for a in acts]
print("ReLU layer widths:", widths)
print("dead units:       ", dead_by_hand)

# %% [markdown]
# **確認。** ライブラリの `ReLU` は、最後の順伝播のマスク $[a > 0]$ をとっておきます。
# ですから、テストデータ全体をモデルで 1 回順伝播すれば、同じユニットを層そのものから数えられます。
# 2 つの数は、完全に一致しなければなりません（死んだユニットの入力は 0 よりずっと下にあり、
# 丸め誤差の境目にはありません）。

# %%
model.forward(x_test)  # これで各 ReLU 層が、10,000 枚のテスト画像についてのマスクを持つ
dead_library = [int(xp.sum(xp.astype(xp.all(layer.mask == 0.0, axis=0), xp.int64)))
                for layer in model.layers if isinstance(layer, sa.ReLU)]
print("dead units from the layers' masks:", dead_library)
assert dead_library == dead_by_hand

fresh = sa.dense_autoencoder(rng=SEED)
init_output_bias(fresh, x_train_host[:N_TRAIN].mean(axis=0))
dead_fresh = [int(np.sum(np.all(a == 0.0, axis=0))) for a in relu_outputs(fresh, x_test_host)]
print(f"dead before training: {sum(dead_fresh)} of {sum(widths)}; after: {sum(dead_by_hand)} of {sum(widths)}")

# %% [markdown]
# 死んだユニットは、失われた表現力です。
# 本来の設定では、コードの 32 ユニット（5 番目の層）のうち 7 つが死んでいました。
# つまり、このモデルのコードは実際には 25 個の数です。
# はじめから死んでいるユニットもあり、その多くはデコーダにあります。デコーダの層は、細い層の出力を受け取ります。
# それは ReLU の出力なので、負になることはありません。
# ランダムな重みが、そうした入力のどれとも逆を向いているユニットは、一度も働きません。
# （学習前は、ここで死んでいる 40 ユニットのうち 39 がデコーダにあり、
# 21 はデコーダの最後の ReLU 層にあります。）学習の途中で死ぬユニットもあります。
# 1 回のステップが、ユニットのバイアスと重みを大きく動かしすぎて、どの画像でも二度と働かなくなることがあるのです。
# レッスン 04 の、平均画像による出力バイアスは、いくつかのユニットを救います。
# 平均の数字から始めるモデルは、最初のステップがおだやかだからです。
#
# ## やってみよう
#
# 1. 道の真ん中は、本物の数字に近いでしょうか。`nearest(z_all, q)` を書いてください。
#    `z_all` の行のうち、コード `q` にいちばん近い行（ユークリッド距離）の番号を返す関数です。
#    このセルは、道の真ん中にいちばん近いテスト画像を探します。

# %%
from scratchae.exercises import try_it


def nearest(z_all, q):
    """z_all: (N, d), q: (d,) -> the index of the row of z_all nearest to q."""
    raise NotImplementedError  # この行を、あなたのコードに置き換えてください


def check_nearest():
    mid = sa.to_numpy(z_line)[STEPS // 2].astype(np.float64)  # (32,)
    for q in (z[42], mid):
        k = nearest(z, q)
        distances = np.linalg.norm(z - q, axis=1)  # (10000,)
        assert distances[k] <= distances.min() + 1e-9, f"row {k} is at {distances[k]:.3f}, not the nearest"
    print(f"the walk's midpoint is nearest to test image {k}, a {y_test[k]}")


try_it("nearest code", check_nearest)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def nearest(z_all, q):
#     """z_all: (N, d), q: (d,) -> the index of the row of z_all nearest to q."""
#     return int(np.argmin(np.sum((z_all - q) ** 2, axis=1)))  # 距離の 2 乗でも順番は同じ。平方根はいらない
#
#
# def check_nearest():
#     mid = sa.to_numpy(z_line)[STEPS // 2].astype(np.float64)  # (32,)
#     for q in (z[42], mid):
#         k = nearest(z, q)
#         distances = np.linalg.norm(z - q, axis=1)  # (10000,)
#         assert distances[k] <= distances.min() + 1e-9, f"row {k} is at {distances[k]:.3f}, not the nearest"
#     print(f"the walk's midpoint is nearest to test image {k}, a {y_test[k]}")
#
#
# try_it("nearest code", check_nearest)
# ```
#
# </details>
#
# 2. *同じ* 数字の 2 枚の画像のあいだを歩いてみましょう。
#    次に、4 と 9（地図の上で隣どうし）のあいだも歩いてみましょう。最後まで数字として読めるのは、どちらの道でしょう。
#
# <details><summary>答え</summary>
#
# 近いコードどうしのあいだ（同じ数字どうし、または 4 と 9）の道は、
# デコーダが学習で見たコードによく似たコードを通ります。だから、どの途中の画像も数字に見えます。
# 遠いコードどうし（1 と 0）のあいだでは、線分の真ん中が、どの訓練画像も置かれなかった場所にあることがあります。
# そこではデコーダは、どちらの数字でもない、中間の何かを描きます。
#
# </details>
#
# 3. `init_output_bias` を使わずに 2 つ目のモデルを学習させ、その死んだユニットを `relu_outputs` で数えてください。
#    レッスン 04 に書いてあったとおり、死んだユニットは多いでしょうか。
#
# <details><summary>答え</summary>
#
# たいていは多くなります。特にコードのまわりの細い層で増えます。でも、シードが 1 つだけでは、逆の結果になることもあります。
# 数ユニットの差を信じる前に、いくつものシードで比べ、本来の設定で学習させてください。
#
# </details>
