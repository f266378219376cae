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
# # 00 · オートエンコーダとは何か、なぜ使うのか
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/00_what_is_an_autoencoder.ipynb)
#
# オートエンコーダは、自分の入力をそのまま返すように学習するネットワークです。
# 役に立たないように聞こえます。実際、ネットワークがただコピーするだけなら、役に立ちません。
# このレッスンでは、何がコピーを止めるのか、学習した部品が何の役に立つのか、そしてどのレッスンでそれぞれの使い方を作るのかを説明します。
# ボトルネックの働きも見てみます。
# 同じテストの数字を、2 個、8 個、32 個の数のコードに押し縮めて比べます。
# 時間は、演習を含めて 15〜25 分を見てください。
#
# このレッスンで学ぶこと
# - 3 つの部品: エンコーダ、ボトルネック（コード）、デコーダ。
# - 幅の広いコードを持つオートエンコーダが恒等写像を学習できてしまう理由と、それを止める 4 つの方法。
# - オートエンコーダが何に使われるか、そしてこのコースのどこでそれぞれを作るか。
# - Colab でレッスンを開き、T4 GPU を使う方法。

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
# ## エンコーダ、ボトルネック、デコーダ
#
# MNIST の画像 $x$ は、$[0, 1]$ の中の 784 個の数です（28 x 28 画素）。
# *エンコーダ* $f$ は、それを $k$ 個の数の*コード* $z$ に写します。
# *デコーダ* $g$ は、コードを 784 個の数に戻します。これが*再構成* $\hat x$ です:
#
# $$z = f(x) \in \mathbb R^k, \qquad \hat x = g(z) \in [0, 1]^{784}, \qquad
# L = \frac{1}{N}\sum_{n=1}^{N} \ell\big(\hat x^{(n)}, x^{(n)}\big).$$
#
# ```
#   x（784 個の数）── エンコーダ f ──> z（k 個の数: ボトルネック）── デコーダ g ──> x̂（784 個の数）
# ```
#
# 損失 $\ell$ は、$\hat x$ が $x$ からどれだけ離れているかを測ります（よく使う 2 つ、BCE と MSE は、レッスン 02 で導きます）。
# 目標は入力そのものなので、学習にラベルはいりません。
# $k$ が 784 よりずっと小さいとき、コードは*ボトルネック*（真ん中の細い層）になります。
# デコーダが画像について知ることは、すべて $k$ 個の数を通らなければなりません。
#
# ## 幅の広いコードは何も学習しない
#
# コードを入力と同じか、それより広くしてみます（$k \ge 784$。*過完備*（over-complete）と言います）。
# すると、エンコーダは画像をコードの最初の 784 個の数にコピーでき、デコーダはそれをコピーして戻せます。
# $f(x) = x$、$g(z) = z$ なので $\hat x = x$ となり、どの画像でも損失は 0 です。
# これは、ネットワークが一度も見たことのない画像でも、でたらめなノイズでもうまくいきます。
# ネットワークが学習したのは恒等写像であって、数字がどんな形をしているかではありません。
# あいだに ReLU をはさんでも、コピーは止まりません。
# 画素は決して負にならず、$x \ge 0$ では $\text{ReLU}(x) = x$ だからです（演習 1 で、このコピーを作ります）。
# コピーを止めるものは 4 つあり、それぞれにレッスンがあります:
#
# - **小さなコード**、$k \ll 784$。ネットワークは、何を残すかを選ばなければなりません（このレッスン。レッスン 04 では 32 個の数を使います）。
# - **ノイズ**。入力にノイズを加え、目標はきれいな画像にします。するとコピーはノイズまで返してしまい、損をします（レッスン 10、ノイズ除去）。
# - **スパース性**（sparsity）。コードへの罰則で、画像ごとにコードの数のほとんどを 0 にします（レッスン 11）。
# - 変分オートエンコーダの **KL の項**。どのコードにもノイズがのり、$\mathcal N(0, I)$ のほうへ引き寄せられます。そのため、コードは画像についての情報を少ししか運べません（レッスン 13）。
#
# ## ボトルネックを見る
#
# ライブラリの 784-128-$k$-128-784 のオートエンコーダを 3 つ使います。
# コードは $k$ = 2、8、32 個の数です。
# 3 つとも、同じ画像、同じ損失関数（BCE）、同じ最適化手法（Adam）、同じミニバッチで学習します。
# `sa.dense_autoencoder` は、課題のモデルと同じく、コードにも ReLU を付けます。
# どの画像でも 0 になるコードのユニットは*死んだ*ユニット（dead unit）です（レッスン 06 で数えます）。
# 数が 2 個しかないと、死んだユニットが 1 つあるだけでコードが半分になってしまいます。
# そこで、`code="linear"` を指定して、この最後の ReLU を外します。コードは全結合層の出力そのものです。
# どのモデルも 2 エポック学習します。
# クイックモード（テストで使います）では 3,000 枚、本来の設定では 15,000 枚の画像を使います。
# GPU なら数秒、CPU なら 1〜2 分かかります。

# %%
import matplotlib.pyplot as plt
import numpy as np

import scratchae as sa
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import init_output_bias
from scratchae.training import evaluate, train_step

N_TRAIN = 3000 if QUICK else 15000
EPOCHS = 2
BATCH = 64 if QUICK else 100
CODE_SIZES = (2, 8, 32)

x_train_host, _, x_test_host, y_test = load("mnist")
x_train, x_test = sa.to_device(x_train_host[:N_TRAIN], xp), sa.to_device(x_test_host[:1000], xp)
y_test = y_test[:1000]


def bottleneck_model(k):
    """784-128-k-128-784 from the library, with no ReLU on the code."""
    return sa.dense_autoencoder((784, 128, k), code="linear", rng=0, xp=xp)  # コードは最後の Dense の出力です


models, errors = {}, {}
for k in CODE_SIZES:
    model = bottleneck_model(k)
    init_output_bias(model, sa.to_device(x_train_host[:N_TRAIN].mean(axis=0), xp))  # 平均の数字から始めます（レッスン 04）
    bce, optimizer = sa.BCE(), sa.Adam(model, lr=1e-3)
    for epoch in range(EPOCHS):
        order = sa.to_device(epoch_order(N_TRAIN, 0, epoch), xp)
        for a, b in batch_slices(N_TRAIN, BATCH):
            train_step(model, bce, optimizer, xp.take(x_train, order[a:b], axis=0))
    models[k], errors[k] = model, evaluate(model, sa.BCE(), x_test)
    print(f"code of {k:2d} numbers: test BCE {errors[k]:.4f} per pixel")

# %% [markdown]
# この数は何を意味するのでしょう。
# 比べる相手（ベースライン）は、入力を無視して、いつも訓練データの平均の数字を描くモデルです。
# どんなコードでも、コードがまったくないよりは良くなければなりません。
# その BCE を、ライブラリとは別に、NumPy で下のように計算します。

# %%
mean_digit = np.clip(x_train_host[:N_TRAIN].mean(axis=0).astype(np.float64), 1e-7, 1 - 1e-7)
x_host = x_test_host[:1000].astype(np.float64)
no_code = float(np.mean(-(x_host * np.log(mean_digit) + (1 - x_host) * np.log(1 - mean_digit))))
print(f"no code (the mean digit): test BCE {no_code:.4f} per pixel")
print("with a code of", ", ".join(f"{k}: {errors[k]:.4f}" for k in CODE_SIZES))
# 確認: どのコードも「コードなし」より良く、コードが大きくなるほど誤差は下がるはずです（1 段ごとに 0.005 以上）。
# 「コードなし」は 0.26 くらいです。そのあとクイックモードでは 0.23、0.19、0.18 くらい、本来の設定では 0.21、0.15、
# 0.12 くらいになるはずです。誤差が同じなら、ボトルネックが効いていないことになります。
assert errors[2] < no_code - 0.005, (errors, no_code)
assert errors[2] > errors[8] + 0.005 and errors[8] > errors[32] + 0.005, errors

# %%
first = [int(np.flatnonzero(y_test == c)[0]) for c in range(10)]  # 各クラスのテストの数字を 1 つずつ
rows = [("original", x_test)] + [(f"code of {k}", models[k].forward(x_test)) for k in CODE_SIZES]
fig, axes = plt.subplots(len(rows), 10, figsize=(10, 4.4))
for r, (title, images) in enumerate(rows):
    for c, i in enumerate(first):
        axes[r, c].imshow(sa.to_numpy(images[i, ...]).reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes[r, c].set_xticks([])
        axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(title)
fig.tight_layout()
plt.show()

# %% [markdown]
# 画像 1 枚あたり 2 個の数では、デコーダはぼやけた見本をいくつか描くことしかできません。
# 別の数字になって戻ってくる数字もあります。
# 8 個なら、ほとんどの数字が読めます。
# 32 個なら（本来の設定では）、線の形や傾きまで戻ってきます。
# 32 個の数のコードは、画像の 784 画素の 4% です。
# それでも、それぞれの数字をその数字らしくしているものの大部分を残しています。
# エンコーダが*圧縮する*というのは、この意味です。
# 学習に使ったデータにとって大事なものを残すのです。
#
# ## オートエンコーダは何に使うのか
#
# Keras のオートエンコーダのチュートリアルは、次の使い方を挙げています。
# このコースでは、そのすべてを作ります:
#
# | 使い方 | オートエンコーダがくれるもの | レッスン |
# | --- | --- | --- |
# | 次元削減、データを図にする | 画像ごとの 2 次元か低次元のコード | 06（潜在空間）、13（2 次元の VAE の平面） |
# | 特徴抽出 | 別のモデルの入力にするコード | 14（特徴量としてのコード） |
# | ノイズ除去 | ノイズ入りの画像からきれいな画像を返すデコーダ | 10 |
# | 異常検知 | スコアとしての再構成誤差。ふつうでない入力はうまく戻らない | 12 |
# | 生成 | でたらめなコードから新しい画像を描くデコーダ | 13（VAE） |
#
# レッスン 01〜03 で部品（全結合層、活性化関数と損失関数、Adam）を書きます。
# レッスン 04 で課題のモデルを学習させ、レッスン 05 では自分の部品でそれを作ります。
# レッスン 07〜09 で、Keras のモデル、GPU、畳み込みを加えます。
# レッスン 11 でスパースなコードを、レッスン 15 で系列を加えます。
#
# ## Colab でレッスンを開き、GPU を使う
#
# 1. レッスンのいちばん上（またはレッスンの目次）にある「Open In Colab」のバッジをクリックします。
#    Colab が GitHub からノートブックを開きます。実行するには、Google アカウントでログインしてください。
# 2. GPU を使うには: ランタイム → ランタイムのタイプを変更 → T4 GPU → 保存（英語の画面では Runtime → Change runtime type → T4 GPU → Save）。
#    これは最初にしてください。ランタイムを変えると再起動し、変数がすべて消えます。
# 3. 最初のセル（準備のセル）を実行します。
#    scratchae をインストールし、GPU（CuPy）が見つかったか、CPU（NumPy）で動くかを出力します。
#    同じコードがどちらでも動きます。そのしくみはレッスン 08 で説明します。
# 4. 上から順にセルを実行します。ランタイム → すべてのセルを実行、または Shift+Enter で 1 セルずつです。
# 5. 変更を残すには: ファイル → ドライブにコピーを保存。そうしないと、ランタイムが終わったときに Colab は変更を忘れてしまいます。
#
# CPU のランタイムでも動きます。学習のセルに 10 倍くらい時間がかかるだけです。
# リポジトリのチェックアウトでは、インストールするものはありません。
# `pip install -e .` をしてから、Jupyter か VS Code でレッスンを開いてください。
#
# ## やってみよう
#
# 1. コピーを作りましょう。
#    過完備なオートエンコーダ 784-1000-784（Dense、ReLU、Dense）に、*どの*画像も正確に再構成する重みを、学習なしで与えます。
#    2 つの重み行列を返してください。バイアスは 0 のままです。

# %%
from scratchae.exercises import try_it


def identity_weights(n_in, n_code):
    """-> (W1 of shape (n_in, n_code), W2 of shape (n_code, n_in)) with ReLU(x @ W1) @ W2 = x for every x >= 0."""
    raise NotImplementedError  # この行を、あなたのコードに置き換えてください


def check_identity():
    W1, W2 = identity_weights(784, 1000)
    copy = sa.Sequential([sa.Dense(784, 1000, xp=xp), sa.ReLU(), sa.Dense(1000, 784, xp=xp)])
    copy.layers[0].params["W"][...] = sa.to_device(np.asarray(W1), xp, dtype="float32")
    copy.layers[2].params["W"][...] = sa.to_device(np.asarray(W2), xp, dtype="float32")
    noise = sa.to_device(np.random.default_rng(1).uniform(size=(5, 784)), xp, dtype="float32")
    for name, images in (("test digits", x_test[:100, ...]), ("uniform noise", noise)):
        gap = float(xp.max(xp.abs(copy.forward(images) - images)))
        assert gap < 1e-6, f"{name}: reconstruction differs from the input by up to {gap:.3g}; expect 0"


try_it("the identity", check_identity)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def identity_weights(n_in, n_code):
#     """-> (W1 of shape (n_in, n_code), W2 of shape (n_code, n_in)) with ReLU(x @ W1) @ W2 = x for every x >= 0."""
#     W1 = np.eye(n_in, n_code)  # コードの最初の n_in 個の数が画素をコピーし、残りは 0 のまま
#     W2 = np.eye(n_code, n_in)  # それをコピーして戻します。画素は >= 0 なので、ReLU は何も変えません
#     return W1, W2
#
#
# def check_identity():
#     W1, W2 = identity_weights(784, 1000)
#     copy = sa.Sequential([sa.Dense(784, 1000, xp=xp), sa.ReLU(), sa.Dense(1000, 784, xp=xp)])
#     copy.layers[0].params["W"][...] = sa.to_device(np.asarray(W1), xp, dtype="float32")
#     copy.layers[2].params["W"][...] = sa.to_device(np.asarray(W2), xp, dtype="float32")
#     noise = sa.to_device(np.random.default_rng(1).uniform(size=(5, 784)), xp, dtype="float32")
#     for name, images in (("test digits", x_test[:100, ...]), ("uniform noise", noise)):
#         gap = float(xp.max(xp.abs(copy.forward(images) - images)))
#         assert gap < 1e-6, f"{name}: reconstruction differs from the input by up to {gap:.3g}; expect 0"
#
#
# try_it("the identity", check_identity)
# ```
#
# </details>
#
# ノイズも、数字とまったく同じように正確に戻ってきます。
# このネットワークは、数字について何も知らないのです。
#
# 2. 8 個の数のコードで、いちばん再構成が悪いのはどのテストの数字でしょう。
#    画像ごとの平均二乗誤差（画像 1 枚に 1 つの数）を書いて、いちばん悪い 6 枚を表示してください。
#    こうしたふつうでない数字が、レッスン 12 の異常検知で見つけるものです。

# %%
def per_image_error(x_hat, x):
    """x_hat, x: (N, 784) -> (N,): the mean of (x_hat - x)^2 over each image's pixels."""
    raise NotImplementedError  # この行を、あなたのコードに置き換えてください


def check_per_image_error():
    x_hat = models[8].forward(x_test)
    scores = per_image_error(x_hat, x_test)
    assert tuple(scores.shape) == (x_test.shape[0],), f"one number per image: expected shape (1000,), got {scores.shape}"
    overall = evaluate(models[8], sa.MSE(), x_test)  # すべての画像のすべての画素での平均
    assert abs(float(xp.mean(scores)) - overall) < 1e-4 * overall, (float(xp.mean(scores)), overall)
    worst = np.argsort(sa.to_numpy(scores))[::-1][:6]
    fig, axes = plt.subplots(2, 6, figsize=(7, 2.6))
    for c, i in enumerate(worst):
        for r, images in enumerate((x_test, x_hat)):
            axes[r, c].imshow(sa.to_numpy(images[int(i), ...]).reshape(28, 28), cmap="gray", vmin=0, vmax=1)
            axes[r, c].axis("off")
    plt.show()


try_it("per-image error", check_per_image_error)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# def per_image_error(x_hat, x):
#     """x_hat, x: (N, 784) -> (N,): the mean of (x_hat - x)^2 over each image's pixels."""
#     return xp.mean((x_hat - x) ** 2, axis=1)  # axis=1: 各行の画素について
#
#
# def check_per_image_error():
#     x_hat = models[8].forward(x_test)
#     scores = per_image_error(x_hat, x_test)
#     assert tuple(scores.shape) == (x_test.shape[0],), f"one number per image: expected shape (1000,), got {scores.shape}"
#     overall = evaluate(models[8], sa.MSE(), x_test)  # すべての画像のすべての画素での平均
#     assert abs(float(xp.mean(scores)) - overall) < 1e-4 * overall, (float(xp.mean(scores)), overall)
#     worst = np.argsort(sa.to_numpy(scores))[::-1][:6]
#     fig, axes = plt.subplots(2, 6, figsize=(7, 2.6))
#     for c, i in enumerate(worst):
#         for r, images in enumerate((x_test, x_hat)):
#             axes[r, c].imshow(sa.to_numpy(images[int(i), ...]).reshape(28, 28), cmap="gray", vmin=0, vmax=1)
#             axes[r, c].axis("off")
#     plt.show()
#
#
# try_it("per-image error", check_per_image_error)
# ```
#
# </details>
#
# いちばん悪いのは、たいてい太い数字、傾いた数字、形の変わった数字、または別のクラスに見える数字です。
#
# 3. コードの ReLU を残してみましょう。
#    `sa.dense_autoencoder((784, 128, 2), rng=0, xp=xp)` をそのまま上のループで学習させ、どのテスト画像でも 0 になるコードのユニットを数えてください（`xp.all(model.encode(x_test) == 0, axis=0)`）。
#    テストの BCE はどうなるでしょう。
#
# <details><summary>答え</summary>
#
# 私たちが試したときは、学習の早いうちに、2 つのユニットの片方か両方が死にました。どの画像でも 0 を出すようになったのです。
# 両方が死ぬと、デコーダはどの画像でも同じコードを受け取るので、平均の数字しか描けません。
# そのため、テストの BCE は上の「コードなし」の値、0.26 くらいになります。
# 片方だけが死ぬと、コードは 1 個の数になります。
# もっと広いコード（課題の 32 個）なら、いくつかのユニットが死んでも大丈夫です。
# だからレッスン 04 では、そこに ReLU を残しています。
#
# </details>
