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
# レッスン 04 の基準オートエンコーダは、どの数字の画像も 32 次元の潜在表現に圧縮します。このレッスンでは、その潜在表現の中身をのぞいてみます。それぞれの数字は潜在空間のどこに置かれるのか、2 つの数字のあいだには何があるのか、そしてモデルのユニットのうち一度も働かない（どの画像にも 0 しか出さない）ものがいくつあるのかを、順に調べていきます。
#
# 時間は、演習を含めて 45〜85 分を見てください。
#
# このレッスンで学ぶこと
# - 32 次元の潜在表現を、主成分分析（PCA）で 2 次元の地図に写す方法（NumPy の数行で実装します）
# - 2 つの潜在ベクトルを結ぶ線分の上を歩き、その上の点をすべて復号する方法
# - 死んだ ReLU ユニット（dead unit）の数え方と、基準モデルにそれが生じる理由

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
# まず、学習済みのモデルを用意します。レッスン 04 の基準モデルと学習ループをそのまま使いますが、エポック数は 20 ではなく 10 にします。クイックモード（テストで使います）では、データの 10 分の 1 だけを使って 2 エポック学習します。そのときの地図は粗くなりますが、数字ごとに分かれる様子はすでに見てとれます。`PRETRAINED` がオンのときは、ここで学習させる代わりに同梱の基準モデルを読み込みます。これは、同じネットワークを全データで 20 エポック学習させたものです。

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
# ## 潜在表現の地図: 主成分分析（PCA）
#
# テストデータの潜在ベクトルを行として積み重ねた行列を $Z$（10,000 × 32）とし、各列から平均を引いて中心をそろえます。この行列の特異値分解 $Z - \bar z = U S V^\top$ を求めると、$V$ には、潜在ベクトルがもっとも大きく広がる方向が、広がりの大きい順に並びます。そのうち最初の 2 つの方向だけを残せば、どの画像も平面上の 1 点として表せます。
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
# **確認。** 同じ答えを、別の道筋からも求めてみましょう。主成分の方向は、共分散行列 $C = \frac1N (Z-\bar z)^\top (Z-\bar z)$ の固有ベクトルでもあり、各方向に沿った分散はその固有値に等しくなります。したがって、地図の 2 つの座標の共分散行列は対角行列になり、その対角成分には $C$ の固有値のうち大きいほうから 2 つが並ぶはずです。float64 で計算しているので、相対誤差は 1e-15 程度になるはずです。1e-8 を超えたら、射影が間違っています。

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
# どの画像がどの数字なのかは、モデルには一度も教えていません。それでも、同じ数字の画像は地図の上で近くに集まります。32 次元の潜在表現から画像を作り直すためには、元の画像がどのような線で書かれた数字なのかを、潜在表現が表していなければならないからです。点の集まりが重なっているところ（4 と 7 と 9、3 と 5 と 8）では、数字の見た目も似ています。ただし、この平面に見えているのは分散の一部だけです。ここで重なって見える集まりも、残りの 30 の方向では離れているかもしれません。
#
# ## 2 つの数字のあいだを歩く
#
# 2 枚のテスト画像の潜在ベクトル $z_a$、$z_b$ をとり、その 2 点を結ぶ線分の上を歩くように、線分上の点を順に復号してみます。
#
# $$\hat x(\alpha) = g\big((1-\alpha)\, z_a + \alpha\, z_b\big), \qquad \alpha \in [0, 1].$$
#
# その下の段には、比較のため、画素どうしをそのまま混ぜ合わせた $(1-\alpha)\,x_a + \alpha\, x_b$ を並べます。

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
# **確認。** 歩いた道の両端は、2 枚の画像をモデルで再構成した結果と同じになるはずです。差の絶対値は 1e-7〜1e-6 程度で、1e-4 を超えたら、`decode` が `forward` の後半と同じ計算になっていないということです。差が完全に 0 にならないのは、計算の中身は同じでも、行列演算のライブラリがバッチの大きさによって足し算の順番を変えることがあり、その丸め誤差が 10 層にわたって次々に伝わっていくからです。2 つ目の確認では、線分そのものを調べます。線分は $z_a$ から始まって $z_b$ で終わり、$(z_b - z_a) / 8$ ずつ等間隔に進まなければなりません。両端が入れ替わっていたり、$\alpha$ の間隔がそろっていなかったりすると、この確認で失敗します。誤差は 1e-7 程度のはずです。

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
# 画素を混ぜ合わせた場合は、一方の画像が薄れていき、もう一方の画像が浮かび上がってくるだけです。これに対して潜在空間を歩いた場合は、ほとんどの場合、線そのものが描き直されていき、途中の画像も画素の混合より数字らしく見えます。ただし、オートエンコーダはこのような性質を保証しているわけではないので、途中にどちらの数字にも見えない画像が現れることもあります。まさにこの性質を持つように学習させるのが、レッスン 13 で学ぶ変分オートエンコーダ（VAE）です。
#
# ## 死んだユニット
#
# ReLU のユニットは $\max(a, 0)$ を出力します。もし、その入力 $a$ がどの画像に対しても負だったとしたらどうなるでしょうか。このユニットはすべての画像に対して 0 を出力し、逆伝播では勾配をまったく通しません（$a<0$ では $\partial \max(a,0)/\partial a = 0$ だからです）。そのため、このユニット自身の重みは学習されなくなります。このようなユニットを「死んだ」ユニットと呼びます。生き返る可能性があるとすれば、それより前の層が変化した場合だけです。それでは、死んだユニットを手で数えてみましょう。重みを使って自分で順伝播を計算し、テストデータ全体について、各 ReLU の出力をすべて記録しておきます。

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
# **確認。** ライブラリの `ReLU` は、最後の順伝播でのマスク $[a > 0]$ を保持しています。そのため、テストデータ全体をモデルに 1 回順伝播させれば、同じユニットを層そのものから数えることができます。2 つの数え方の結果は、完全に一致しなければなりません（死んだユニットの入力は 0 よりずっと下にあり、丸め誤差で結果が変わるような境目にはないからです）。

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
# 死んだユニットがあるということは、それだけモデルの表現力が失われているということです。本来の設定で学習させたとき、潜在表現の 32 ユニット（5 番目の層）のうち 7 つが死んでいました。つまりこのモデルの潜在表現は、実質的には 25 次元しかないことになります。死んだユニットの中には、学習を始める前から死んでいるものもあり、その多くはデコーダにあります。デコーダの層が受け取るのは、細い層の出力、つまり負になることのない値です。ランダムに決まった重みが、そうした入力のどれとも逆の方向を向いているユニットは、一度も働くことがありません（学習前の時点では、ここで死んでいる 40 ユニットのうち 39 がデコーダにあり、そのうち 21 はデコーダの最後の ReLU 層にあります）。さらに、学習の途中で死ぬユニットもあります。1 回のステップでバイアスと重みが大きく動きすぎて、どの画像でも二度と働かなくなってしまうことがあるのです。レッスン 04 で導入した、平均画像による出力バイアスの初期化は、こうしたユニットの一部を救います。平均的な数字から出発するモデルは、最初のステップがおだやかになるからです。
#
# ## やってみよう
#
# 1. 道の真ん中は、本物の数字に近いのでしょうか。`z_all` の行のうち、潜在ベクトル `q` にいちばん近い（ユークリッド距離が最小の）行の番号を返す関数 `nearest(z_all, q)` を書いてください。下のセルは、この関数を使って、道の中点にいちばん近いテスト画像を探します。

# %%
from scratchae.exercises import try_it


def nearest(z_all, q):
    """z_all: (N, d), q: (d,) -> the index of the row of z_all nearest to q."""
    raise NotImplementedError  # この行を自分の実装に置き換える


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
# 2. 同じ数字の 2 枚の画像のあいだと、4 と 9（地図の上で隣り合っている数字）のあいだを歩いてみましょう。最後まで数字として読み取れるのは、どちらの道でしょうか。
#
# <details><summary>答え</summary>
#
# 近い潜在ベクトルどうしを結ぶ道（同じ数字どうし、あるいは 4 と 9）は、デコーダが学習のときに見た潜在ベクトルとよく似たところを通るので、途中の画像もどれも数字に見えます。これに対して、遠い潜在ベクトルどうし（1 と 0）のあいだでは、線分の真ん中が、どの訓練画像も置かれなかった場所を通ることがあります。そこではデコーダは、どちらの数字でもない、中間的な何かを描きます。
#
# </details>
#
# 3. `init_output_bias` を使わずに 2 つ目のモデルを学習させ、その死んだユニットを `relu_outputs` で数えてみましょう。レッスン 04 で述べたとおり、死んだユニットは多くなるでしょうか。
#
# <details><summary>答え</summary>
#
# たいていは多くなり、特に潜在表現のまわりの細い層で増えます。ただし、シードを 1 つ試しただけでは、逆の結果になることもあります。数ユニットの差を信じる前に、いくつものシードで比べ、本来の設定で学習させて確かめてください。
#
# </details>
