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
# オートエンコーダ（autoencoder）は、入力をそのまま出力として返すように学習するネットワークです。一見、何の役にも立たなさそうです。実際、入力をそのまま写すだけなら役に立ちません。そこでこのレッスンでは、何がその「丸写し」を防ぐのか、学習したエンコーダとデコーダが何に使えるのか、そしてそれぞれの使い道をこのコースのどのレッスンで作るのかを見ていきます。あわせて、ボトルネックが実際にどう効くのかも確かめます。同じテスト画像を、2 次元、8 次元、32 次元の潜在表現（エンコーダが画像を写した先の短いベクトル）に押し込み、戻ってくる画像を比べてみましょう。時間は、演習を含めて 50〜85 分を見てください。
#
# このレッスンで学ぶこと
# - オートエンコーダをつくる 3 つの部品: エンコーダ、ボトルネック（潜在表現）、デコーダ
# - 潜在表現の次元が大きいと恒等写像を学習できてしまう理由と、それを防ぐ 4 つの方法
# - オートエンコーダの使い道と、このコースでそれぞれを作るレッスン
# - Colab でレッスンを開き、T4 GPU を割り当てる方法

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
# ## エンコーダ、ボトルネック、デコーダ
#
# MNIST の画像 $x$ は、28 x 28 画素を 1 列に並べた 784 次元のベクトルで、各要素は $[0, 1]$ の値をとります。*エンコーダ* $f$ はこれを $k$ 次元の*潜在表現* $z$ に写し、*デコーダ* $g$ は潜在表現から 784 次元のベクトルを作り直します。これが*再構成* $\hat x$ です。
#
# $$z = f(x) \in \mathbb R^k, \qquad \hat x = g(z) \in [0, 1]^{784}, \qquad
# L = \frac{1}{N}\sum_{n=1}^{N} \ell\big(\hat x^{(n)}, x^{(n)}\big).$$
#
# ```
#   x（784 次元）── エンコーダ f ──> z（k 次元: ボトルネック）── デコーダ g ──> x̂（784 次元）
# ```
#
# 損失関数 $\ell$ は、再構成 $\hat x$ が元の $x$ からどれだけ離れているかを測ります（よく使われる BCE と MSE の 2 つは、レッスン 02 で導きます）。教師データは入力そのものなので、学習にラベルは必要ありません。$k$ が 784 よりずっと小さいとき、潜在表現はネットワークの途中にある細い*ボトルネック*になります。デコーダが画像について知りうることは、すべてこの $k$ 次元を通って届くしかない、ということです。
#
# ## 潜在表現が大きすぎると何も学習しない
#
# 潜在表現の次元を、入力と同じか、それより大きくしてみましょう（$k \ge 784$。これを*過完備*（over-complete）といいます）。するとエンコーダは画像を潜在表現の最初の 784 次元にそのまま写し、デコーダはそれを写し戻すだけで済みます。$f(x) = x$、$g(z) = z$ なので $\hat x = x$ となり、どの画像でも損失は 0 です。しかもこのやり方は、ネットワークが一度も見たことのない画像にも、でたらめなノイズにも、そのまま通用します。つまりネットワークが学習したのは恒等写像であって、数字がどんな形をしているかではありません。あいだに ReLU をはさんでも、この丸写しは防げません。画素の値は負にならず、$x \ge 0$ では $\text{ReLU}(x) = x$ だからです（演習 1 で、実際にこの丸写しを作ります）。丸写しを防ぐ方法は次の 4 つで、それぞれをこのコースのレッスンで扱います。
#
# - **潜在表現の次元を小さくする**（$k \ll 784$）: ネットワークは、何を残すかを選ばざるをえなくなります（このレッスン。レッスン 04 では 32 次元を使います）。
# - **ノイズを加える**: 入力にはノイズを加え、教師データはきれいな画像のままにします。丸写しではノイズまで返してしまうので、損失が下がりません（レッスン 10、ノイズ除去）。
# - **スパース性**（sparsity）: 潜在表現に対する罰則項（ペナルティ）を損失に加えて、画像ごとに潜在表現の成分のほとんどが 0 になるようにします（レッスン 11）。
# - 変分オートエンコーダの **KL の項**: 各画像の潜在表現にはノイズがのり、しかも $\mathcal N(0, I)$ のほうへ引き寄せられます。そのため、潜在表現が画像について運べる情報はわずかになります（レッスン 13）。
#
# ## ボトルネックを目で見る
#
# ライブラリにある 784-128-$k$-128-784 のオートエンコーダを、潜在表現の次元 $k$ = 2、8、32 の 3 通り用意します。3 つとも、同じ画像、同じ損失関数（BCE）、同じ最適化手法（Adam）、同じミニバッチで学習させます。ただし、1 つだけ手を加えます。`sa.dense_autoencoder` は、課題のモデルにならって潜在表現にも ReLU をかけます。潜在表現のユニットのうち、どの画像に対しても 0 しか出さないものを*死んだ*ユニット（dead unit）と呼びます（レッスン 06 で実際に数えます）。潜在表現が 2 次元しかないと、死んだユニットが 1 つあるだけで、使える次元が半分になってしまいます。そこで `code="linear"` を指定してこの最後の ReLU を外し、全結合層の出力をそのまま潜在表現とします。どのモデルも 2 エポック学習します。使う画像は、クイックモード（テストで使います）では 3,000 枚、本来の設定では 15,000 枚です。GPU なら数秒、CPU なら 1〜2 分かかります。

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
    return sa.dense_autoencoder((784, 128, k), code="linear", rng=0, xp=xp)  # 潜在表現は最後の Dense の出力


models, errors = {}, {}
for k in CODE_SIZES:
    model = bottleneck_model(k)
    init_output_bias(model, sa.to_device(x_train_host[:N_TRAIN].mean(axis=0), xp))  # 平均画像から始める（レッスン 04）
    bce, optimizer = sa.BCE(), sa.Adam(model, lr=1e-3)
    for epoch in range(EPOCHS):
        order = sa.to_device(epoch_order(N_TRAIN, 0, epoch), xp)
        for a, b in batch_slices(N_TRAIN, BATCH):
            train_step(model, bce, optimizer, xp.take(x_train, order[a:b], axis=0))
    models[k], errors[k] = model, evaluate(model, sa.BCE(), x_test)
    print(f"code of {k:2d} numbers: test BCE {errors[k]:.4f} per pixel")

# %% [markdown]
# 表示された数値は、何と比べればよいのでしょうか。基準（ベースライン）として、入力を無視して、いつも訓練画像を平均した画像（平均画像）を描くだけのモデルを考えます。潜在表現を使う以上、潜在表現をまったく使わないこのモデルには勝たなければ意味がありません。下のセルでは、このモデルの BCE を、ライブラリを使わずに NumPy だけで計算します（出力では「no code」と表示されます）。

# %%
mean_digit = np.clip(x_train_host[:N_TRAIN].mean(axis=0).astype(np.float64), 1e-7, 1 - 1e-7)
x_host = x_test_host[:1000].astype(np.float64)
no_code = float(np.mean(-(x_host * np.log(mean_digit) + (1 - x_host) * np.log(1 - mean_digit))))
print(f"no code (the mean digit): test BCE {no_code:.4f} per pixel")
print("with a code of", ", ".join(f"{k}: {errors[k]:.4f}" for k in CODE_SIZES))
# 確認: どの次元でも「潜在表現なし」より良く、次元が大きいほど誤差が下がる（1 段ごとに 0.005 以上）。
# 目安は「潜在表現なし」が 0.26 ほど。続く 3 つはクイックモードで 0.23、0.19、0.18 ほど、
# 本来の設定で 0.21、0.15、0.12 ほど。誤差が同じなら、ボトルネックが効いていないということだ。
assert errors[2] < no_code - 0.005, (errors, no_code)
assert errors[2] > errors[8] + 0.005 and errors[8] > errors[32] + 0.005, errors

# %%
first = [int(np.flatnonzero(y_test == c)[0]) for c in range(10)]  # 各クラスから 1 枚ずつ選んだテスト画像
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
# 潜在表現が 2 次元しかないと、デコーダはぼやけた典型的な形をいくつか描き分けることしかできず、別の数字になって戻ってくるものもあります。8 次元になると、ほとんどの数字が読み取れるようになります。32 次元では（本来の設定で学習すれば）、線の形や傾きまで再現されます。32 次元の潜在表現は 784 画素の約 4% の大きさにすぎませんが、各数字の「らしさ」を決める特徴の大部分を保っています。エンコーダが画像を*圧縮する*というのは、このように、学習に使ったデータにとって大事な情報を選んで残すという意味です。
#
# ## オートエンコーダの使い道
#
# Keras のオートエンコーダのチュートリアルでは、次のような使い道が紹介されています。このコースでは、そのすべてを実際に作ります。
#
# | 使い道 | オートエンコーダから得られるもの | レッスン |
# | --- | --- | --- |
# | 次元削減、データの可視化 | 画像ごとの 2 次元、あるいは低次元の潜在表現 | 06（潜在空間）、13（2 次元の VAE の平面） |
# | 特徴抽出 | ほかのモデルの入力にする潜在表現 | 14（特徴量としての潜在表現） |
# | ノイズ除去 | ノイズの入った画像からきれいな画像を返すデコーダ | 10 |
# | 異常検知 | 異常度のスコアになる再構成誤差（見慣れない入力はうまく再構成されない） | 12 |
# | 生成 | ランダムな潜在表現から新しい画像を描くデコーダ | 13（VAE） |
#
# レッスン 01〜03 では、部品（全結合層、活性化関数と損失関数、Adam）を実装します。レッスン 04 では課題のモデルを学習させ、レッスン 05 では同じモデルを自分で実装した部品から組み立てます。その後、レッスン 07〜09 で Keras のモデル、GPU、畳み込みを、レッスン 11 でスパースな潜在表現を、レッスン 15 で系列を扱います。
#
# ## Colab でレッスンを開き、GPU を使う
#
# 1. レッスンの先頭（またはレッスンの目次）にある「Open In Colab」のバッジをクリックします。Colab が GitHub からノートブックを開きます。実行するには、Google アカウントでログインしてください。
# 2. GPU を使うときは、ランタイム → ランタイムのタイプを変更 → T4 GPU → 保存 の順に選びます（英語の画面では Runtime → Change runtime type → T4 GPU → Save）。これは最初に済ませておきましょう。ランタイムを変更すると再起動がかかり、変数がすべて消えてしまうからです。
# 3. 最初のセル（準備のセル）を実行します。このセルは scratchae をインストールし、GPU（CuPy）が見つかったか、CPU（NumPy）で動くかを表示します。同じプログラムがどちらでも動きます。そのしくみはレッスン 08 で説明します。
# 4. セルを上から順に実行します。ランタイム → すべてのセルを実行 を選ぶか、Shift+Enter で 1 セルずつ実行してください。
# 5. 変更を残すには、ファイル → ドライブにコピーを保存 を選びます。保存しないと、ランタイムが終了したときに変更は失われます。
#
# CPU のランタイムでも動きますが、学習のセルには 10 倍ほど時間がかかります。リポジトリを手元にチェックアウトしているなら、`pip install -e .` を済ませておけば、ほかにインストールするものはありません。Jupyter か VS Code でレッスンを開いてください。
#
# ## やってみよう
#
# 1. 丸写しを実際に作ってみましょう。過完備なオートエンコーダ 784-1000-784（Dense、ReLU、Dense）に、学習なしで*どんな*画像も正確に再構成する重みを与えてください。返すのは 2 つの重み行列で、バイアスは 0 のままにします。

# %%
from scratchae.exercises import try_it


def identity_weights(n_in, n_code):
    """-> (W1 of shape (n_in, n_code), W2 of shape (n_code, n_in)) with ReLU(x @ W1) @ W2 = x for every x >= 0."""
    raise NotImplementedError  # この行を自分の実装に置き換える


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
#     W1 = np.eye(n_in, n_code)  # 潜在表現の最初の n_in 次元に画素を写し、残りは 0 のまま
#     W2 = np.eye(n_code, n_in)  # それを写し戻す。画素は >= 0 なので ReLU は何も変えない
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
# ノイズも数字とまったく同じように、正確に戻ってきます。このネットワークは、数字について何も知らないのです。
#
# 2. 8 次元の潜在表現で再構成がいちばんうまくいかないのは、どのテスト画像でしょうか。画像ごとの平均二乗誤差（画像 1 枚につき 1 つの値）を返す関数を書き、誤差のいちばん大きい 6 枚を表示してください。こうした見慣れない数字こそ、レッスン 12 の異常検知が見つけ出すものです。

# %%
def per_image_error(x_hat, x):
    """x_hat, x: (N, 784) -> (N,): the mean of (x_hat - x)^2 over each image's pixels."""
    raise NotImplementedError  # この行を自分の実装に置き換える


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
#     return xp.mean((x_hat - x) ** 2, axis=1)  # axis=1: 各行（画像 1 枚）の画素について平均
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
# 誤差が大きいのは、たいてい太い数字や傾いた数字、形の崩れた数字、あるいは別のクラスの数字に見えるものです。
#
# 3. 今度は潜在表現の ReLU を残してみましょう。`sa.dense_autoencoder((784, 128, 2), rng=0, xp=xp)` を既定のまま上のループで学習させ、どのテスト画像に対しても 0 を出す潜在表現のユニットを数えてください（`xp.all(model.encode(x_test) == 0, axis=0)`）。テストの BCE はどうなるでしょうか。
#
# <details><summary>答え</summary>
#
# 私たちが試したところでは、学習の早い段階で 2 つのユニットの片方、または両方が死にました。どの画像に対しても 0 を出すようになったのです。両方が死ぬと、デコーダはどの画像でも同じ潜在表現を受け取るので、平均画像しか描けません。そのためテストの BCE は、上で求めた「潜在表現なし」の値、つまり 0.26 ほどになります。片方だけが死んだ場合は、潜在表現は 1 次元になります。課題のモデルの 32 次元のように潜在表現の次元が大きければ、ユニットがいくつか死んでも持ちこたえられます。レッスン 04 で潜在表現の ReLU を残しているのは、このためです。
#
# </details>
