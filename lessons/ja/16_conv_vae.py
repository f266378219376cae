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
# # 16 · 畳み込み VAE
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/16_conv_vae.ipynb)
#
# レッスン 13 では全結合層で VAE を組み立て、レッスン 09 では畳み込みを実装しました。このレッスンでは、この 2 つを組み合わせて、TensorFlow のチュートリアル「Convolutional Variational Autoencoder」に出てくる畳み込み VAE を作ります。変わるのはエンコーダとデコーダだけで、それ以外の部分（再パラメータ化トリック、KL の項、`vae_step`）はレッスン 13 のものをそのまま使います。
#
# 演習を含めて 50〜90 分ほどかかります。
#
# このレッスンで学ぶこと
# - VAE のエンコーダとデコーダに畳み込みが向いている理由
# - 転置畳み込みで組み立てたデコーダで、配列の形が 1 層ごとにどう変わるか: 2 → 7x7x32 → 14x14x64 → 28x28x32 → 28x28x1
# - デコーダがロジットを出力して終わる理由と、「2 値化した MNIST」で損失がどう変わるか
# - 畳み込み VAE 全体の勾配確認（と、そのために ReLU の折れ点を固定しなければならない理由）
# - チュートリアルの 1 サンプルによるモンテカルロ法の ELBO と、閉じた式で求めた KL の比較
# - 畳み込み VAE の 2 次元の潜在空間の地図を全結合の VAE の地図と並べて見ること、そしてサンプル
# - レッスン 13 のエクスプローラを使って、畳み込み VAE の潜在平面の中を動いてみること

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
# 畳み込み VAE を CPU で学習させるには時間がかかります。このプロジェクトのマシンの 1 コアでは 1 エポックに約 80 秒、チュートリアルの 10 エポックでは 15 分ほどかかります。`PRETRAINED = True` にすると、学習済みのモデルが必要になったところで、scratchae に同梱されたモデル（ライブラリ自身のコマンド `python -m scratchae.train` で学習させたもの）を読み込むので、学習を待たずにすぐ本題に進めます。GPU のない Colab ではこれが既定です。ほかの環境では、環境変数 `SCRATCHAE_PRETRAINED=1` でオンになります。下のセルに `True` か `False` を直接書いてもかまいません。

# %%
from scratchae import pretrained

PRETRAINED = pretrained.wanted(xp)  # GPU のない Colab では True。SCRATCHAE_PRETRAINED=1 か 0 でどこでも選べる
print("PRETRAINED =", PRETRAINED)

# %% [markdown]
# ## なぜ VAE に畳み込みを使うのか
#
# 全結合の VAE の最初の層では、400 個のユニットのそれぞれが、784 個の画素のそれぞれに対して別々の重みを持っています。重みは全部で 313,600 個にもなり、しかも、ある場所で覚えた線の形も、1 画素右にずれただけで知らないものとして扱われてしまいます。これに対して 3x3 の畳み込みは、入力チャンネルと出力チャンネルの組ごとに 9 個の重みしか持たず、その重みを画像全体に滑らせて使います。そのため、線を検出する仕組みは画像のどこででも働きます（レッスン 09）。デコーダも、向きは逆ですが同じ恩恵を受けます。学習した小さな筆で、画像を描いていくのです。
#
# チュートリアルのモデルは、次の層でできています。エンコーダの畳み込みは Keras の既定のパディングである "valid"（パディングなし）を使うので、画像の一辺は 28 から 13、さらに 6 へと小さくなります。一方、転置畳み込みは "same" を使います。
#
# ```
# encoder: 28x28x1 -Conv2D 32, 3x3, stride 2, valid, ReLU-> 13x13x32 -Conv2D 64, 3x3, stride 2, valid, ReLU-> 6x6x64
#          -> Flatten 2304 -> Dense mu (2) and Dense logvar (2)
# decoder: z (2) -Dense 7*7*32, ReLU-> Reshape 7x7x32 -Conv2DTranspose 64, stride 2, ReLU-> 14x14x64
#          -Conv2DTranspose 32, stride 2, ReLU-> 28x28x32 -Conv2DTranspose 1, stride 1-> 28x28x1 logits
# ```
#
# チュートリアルでは、4 次元を出力する全結合層を 1 つ置いて、その出力を mu と logvar に分けています。ここでは 2 次元を出力するヘッドを 2 つ並べていますが、これは同じ全結合層を 2 つに切り分けただけで、計算は変わりません。データは、しきい値 0.5 で *2 値化* した MNIST です。どの画素も 0 か 1 なので、デコーダの出力は、画素ごとのベルヌーイ分布の確率をロジットで表したものになります。

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

import scratchae as sa
from scratchae.cvae import binarize, conv_vae, monte_carlo_elbo
from scratchae.data import batch_slices, epoch_order, load
from scratchae.vae import KL, evaluate_vae, vae_step

EPOCHS = 1 if QUICK else 10
N_TRAIN = 1280 if QUICK else 60000
N_TEST = 500 if QUICK else 10000
BATCH, LR, SEED = 32, 1e-4, 0  # チュートリアルと同じバッチサイズと学習率

x_train_host, _, x_test_host, y_test = load("mnist")
x_train = sa.to_device(binarize(x_train_host[:N_TRAIN]), xp)  # 画素が 0.5 より大きければ 1.0、それ以外は 0.0
x_test, y_test = sa.to_device(binarize(x_test_host[:N_TEST]), xp), y_test[:N_TEST]
cvae = conv_vae(rng=SEED, xp=xp)
print(inspect.getsource(conv_vae))

# %% [markdown]
# ## 転置畳み込みで作るデコーダ
#
# ストライド 2 の転置畳み込みは、ストライド 2 の畳み込みの逆伝播を、そのまま順伝播として使うものです（レッスン 09）。入力の 1 画素ごとに、3x3 のカーネルを出力へ 2 画素おきにスタンプのように押していくので、画像の縦と横がそれぞれ 2 倍になります。1 つの潜在ベクトルをデコーダに通して、各層の出力の形を表示してみましょう。

# %%
h, shapes = xp.asarray(np.array([[0.5, -1.0]]), dtype=xp.float32), []  # 2 次元の潜在ベクトルを 1 つ
for layer in cvae.decoder.layers:
    h = layer.forward(h)
    shapes.append(tuple(h.shape[1:]))
    print(f"{type(layer).__name__:16s} -> {tuple(h.shape)}")
assert [shapes[i] for i in (2, 3, 5, 7)] == [(7, 7, 32), (14, 14, 64), (28, 28, 32), (28, 28, 1)], shapes

# %% [markdown]
# デコーダの最後に Sigmoid が置いてあるのは、便宜のためにすぎません。`vae_step` は、Sigmoid と BCE をひとまとめにしたロジットでの勾配 $(\sigma(\text{logit}) - x)/N$ を使うので、Sigmoid 自身の逆伝播は一度も実行しないのです（レッスン 13）。これは、チュートリアルの `sigmoid_cross_entropy_with_logits` を 784 画素について足し合わせたものと同じです。
#
# ## モデル全体の勾配確認
#
# 画像 2 枚を入力すると、畳み込み VAE の中には約 $10^5$ 個の ReLU のユニットがあります。バイアスを 1 つ $h$ だけ動かすと、そのチャンネルのユニットがまとめて動き、その中には入力が 0 から $h$ 以内にあるものがいくつか含まれます。すると中心差分が ReLU の折れ点をまたいでしまい、逆伝播の勾配が正しくても、数値微分とは $10^{-3}$ 程度食い違ってしまいます。そこで、確認する点ですべての ReLU のマスクを固定します。こうするとモデルはその点のまわりでなめらかになり、その勾配は、マスクも含めて、逆伝播が計算するものとぴったり一致します。計算は float64 で、eps を固定して行います。レッスン 13 と同じく、すべての出力（画像、mu、logvar）にそれぞれ別のランダムな上流からの勾配を与え、各パラメータからいくつかの要素を選んで調べます。（`vae_step` がこれらの上流からの勾配、つまりロジットでのひとまとめの勾配と KL の勾配をどう作るかは、レッスン 13 で確かめました。）

# %%
from scratchae import numerical_gradient, rel_error


class FrozenReLU(sa.ReLU):
    """A ReLU whose mask stays as it was when frozen: the same derivative, no kink near the checked point."""

    frozen = False

    def forward(self, x):
        return x * self.mask if self.frozen else super().forward(x)


def frozen_model(model, x, eps):
    """Replace every ReLU by a FrozenReLU and freeze its mask at (x, eps)."""
    for seq in (model.encoder, model.decoder):
        seq.layers = [FrozenReLU() if type(layer) is sa.ReLU else layer for layer in seq.layers]
    model.forward(x, eps)
    for layer in model.layers:
        if isinstance(layer, FrozenReLU):
            layer.frozen = True
    return model


rng = np.random.default_rng(1)
x_check = xp.asarray(binarize(x_test_host[:2]), dtype=xp.float64)
eps_check = xp.asarray(rng.standard_normal((2, 2)))
small = frozen_model(conv_vae(rng=1, xp=xp, dtype="float64"), x_check, eps_check)
out = small.forward(x_check, eps_check)
# 出力（画像、mu、logvar）それぞれにランダムな上流からの勾配を与える（すべて 1 だと間違いが隠れる）
dout, dmu, dlogvar = (xp.asarray(rng.standard_normal(tuple(a.shape))) for a in (out, small.mu, small.logvar))
small.backward(dout, dmu=dmu, dlogvar=dlogvar, input_grad=False)


def L():  # (out, mu, logvar) での勾配がちょうど (dout, dmu, dlogvar) になるスカラー
    out = small.forward(x_check, eps_check)
    return float(xp.sum(out * dout) + xp.sum(small.mu * dmu) + xp.sum(small.logvar * dlogvar))


errors = {}
for name, param, grad in small.named_params():
    size = int(np.prod(param.shape))
    picks = [tuple(int(i) for i in np.unravel_index(j, tuple(param.shape)))
             for j in rng.choice(size, size=min(5, size), replace=False)]  # 各配列から 5 要素
    numeric = numerical_gradient(L, param, h=3e-4, indices=picks)  # ReLU のマスクを固定したモデルはなめらかなので、h を大きめにできる
    analytic = np.array([float(grad[idx]) for idx in picks])
    errors[name] = rel_error(numeric, analytic)
    print(f"{name:14s} {errors[name]:.1e}")
assert max(errors.values()) < 1e-7, errors

# %% [markdown]
# ## 学習と、チュートリアルのモンテカルロ ELBO
#
# 学習のループはレッスン 13 と同じもので、設定だけをチュートリアルに合わせます。ミニバッチのサイズは 32、最適化手法は学習率 $10^{-4}$ の Adam です。損失は画像 1 枚あたりの負の ELBO（単位はナット）で、再構成の項と、閉じた式で計算した KL の和です。
#
# $$-\text{ELBO}(x) \approx -\log p(x \mid z) + \mathrm{KL}\big(q(z \mid x)\,\|\,\mathcal N(0, I)\big),\quad z = \mu + \sigma\varepsilon.$$
#
# チュートリアルでは、KL の部分にも閉じた式を使わず、再構成に使ったのと同じ 1 つの $z$ から $\log q(z \mid x) - \log p(z)$ として見積もります。この値の平均は KL と等しくなりますが、画像 1 枚につきサンプルが 1 つだけなので、ばらつきが加わります。ここでは両方を表示します。
#
# `PRETRAINED` がオンのときは、ここで学習させる代わりに、`--preset cvae` が全データで 10 エポック学習させた畳み込み VAE を読み込み、同じ数値を表示します。

# %%
untrained = evaluate_vae(cvae, x_test, seed=SEED)["loss"]
recon_loss, kl_loss = sa.BCE(reduction="image"), KL()


def report(model, label):  # テスト損失（閉じた式と 1 サンプルの推定）
    test = evaluate_vae(model, x_test, seed=SEED)
    mc = monte_carlo_elbo(model, x_test, recon_loss, seed=SEED)
    print(f"{label}: test recon {test['recon']:.1f} + KL {test['kl']:.2f} = {test['loss']:.2f} nats;"
          f" one-sample KL {mc['kl_sample']:.2f}, Monte Carlo loss {mc['loss']:.2f}")
    return test, mc


if PRETRAINED:  # 同じモデルを python -m scratchae.train --preset cvae で学習させたもの
    shipped = pretrained.load("cvae", xp=xp)
    cvae = shipped.model
    print(f"PRETRAINED: loaded the shipped cvae ({len(shipped.metrics)} epochs of "
          "python -m scratchae.train --preset cvae) instead of training it here")
    test, mc = report(cvae, "shipped")
else:
    opt = sa.Adam(cvae, lr=LR)
    for epoch in range(EPOCHS):
        order = sa.to_device(epoch_order(N_TRAIN, SEED, epoch), xp)
        for k, (a, b) in enumerate(batch_slices(N_TRAIN, BATCH)):
            vae_step(cvae, recon_loss, kl_loss, opt, xp.take(x_train, order[a:b], axis=0),
                     np.random.default_rng([SEED, epoch, k]))
        test, mc = report(cvae, f"epoch {epoch + 1}")

# %%
# 確認（間違っていれば失敗する）: 学習でテスト損失が下がり、2 つの見積もりが平均で一致する
print(f"untrained {untrained:.1f} nats, trained {test['loss']:.1f} nats")
assert test["loss"] < untrained - 10, (untrained, test["loss"])  # QUICK（40 ステップ）では約 12 ナット下がる
assert abs(mc["loss"] - test["loss"]) < 0.01 * test["loss"], (mc["loss"], test["loss"])
assert mc["recon"] == test["recon"]  # 同じ eps なので、z も再構成の項も同じ

# %% [markdown]
# ## 潜在空間の地図を全結合の VAE と並べる
#
# 2 つ目の図は、レッスン 13 の全結合の VAE を 2 次元の潜在空間にして、同じ 2 値化画像を使い、同じエポック数だけ学習させたものです。どちらのモデルも潜在ベクトルを $\mathcal N(0, I)$ に近づけようとします。数字がどのように並んでいるか、そして $[-3, 3]^2$ の格子点を復号した画像がどれだけくっきりしているかを見比べてください。
#
# `PRETRAINED` がオンのときの全結合の VAE は、レッスン 13 で使った同梱の `vae-2d`（10 エポック、バッチ 128）です。これは 2 値化した画像ではなく濃淡のある MNIST で学習させたものなので、地図は比べられますが、ここでの損失は目安にしかなりません。

# %%
if PRETRAINED:  # レッスン 13 の VAE。--preset vae-2d が濃淡のある MNIST で学習させたもの
    dense = pretrained.load("vae-2d", xp=xp).model
else:
    dense = sa.dense_vae((784, 400), latent=2, rng=SEED, xp=xp)
    opt_dense = sa.Adam(dense, lr=1e-3)
    for epoch in range(EPOCHS):
        order = sa.to_device(epoch_order(N_TRAIN, SEED, epoch), xp)
        for k, (a, b) in enumerate(batch_slices(N_TRAIN, 128)):
            vae_step(dense, recon_loss, kl_loss, opt_dense, xp.take(x_train, order[a:b], axis=0),
                     np.random.default_rng([SEED, epoch, k]))
dense_test = evaluate_vae(dense, x_test, seed=SEED)["loss"]
print(f"test loss: conv VAE {test['loss']:.1f}, dense VAE {dense_test:.1f} nats per image")


def tiles(images, n):
    """(n*n, 784) images, row by row -> one (28n, 28n) picture."""
    return sa.to_numpy(images).reshape(n, n, 28, 28).transpose(0, 2, 1, 3).reshape(n * 28, n * 28)


grid = np.array([[u, v] for v in np.linspace(3, -3, 15) for u in np.linspace(-3, 3, 15)])
fig, axes = plt.subplots(2, 2, figsize=(11, 11))
for row, (name, model) in enumerate((("conv VAE", cvae), ("dense VAE", dense))):
    codes = sa.to_numpy(model.encode(x_test))
    points = axes[row, 0].scatter(codes[:, 0], codes[:, 1], c=y_test, cmap="tab10", s=2)
    axes[row, 0].set(xlim=(-3, 3), ylim=(-3, 3), title=f"{name}: test codes mu by digit")
    fig.colorbar(points, ax=axes[row, 0])
    axes[row, 1].imshow(tiles(model.decode(sa.to_device(grid, xp, dtype="float32")), 15), cmap="gray",
                        extent=(-3, 3, -3, 3))
    axes[row, 1].set(title=f"{name}: decodes of a 15 x 15 grid")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## サンプル
#
# 新しい数字を作るには、レッスン 13 と同じように $z \sim \mathcal N(0, I)$ を引いて、それをデコーダで復号します。

# %%
plt.figure(figsize=(5, 5))
plt.imshow(tiles(cvae.sample(64, np.random.default_rng(1)), 8), cmap="gray")
plt.axis("off")
plt.title("conv VAE: 64 samples z ~ N(0, I), decoded")
plt.show()

# %% [markdown]
# ## 潜在平面の中を動く
#
# レッスン 13 のエクスプローラは、`encode` と `decode` を持つモデルならどれにでも使えるので、畳み込み VAE にもそのまま使えます。2 つのスライダーで点 $z = (z_1, z_2)$ を決めると、そこでデコーダが描く画像が、テスト画像の潜在表現の地図（その点に印が付きます）の横に表示されます。混ぜ具合のスライダー $t$ を動かすと、テスト画像 $a$ の潜在表現から $b$ の潜在表現まで、$z = (1 - t)\,\mu_a + t\,\mu_b$ に沿って歩きます。ipywidgets がないとき（ふつうのスクリプトや、ipywidgets の入っていないノートブック）は、同じものを 1 枚の静止画で表示します。レッスン 13 の 全結合の VAE での歩みと比べてみましょう。途中の数字はよりくっきりしているでしょうか。

# %%
from scratchae.explorer import explore

explore(cvae, x_test[:min(2000, N_TEST), ...], y_test[:min(2000, N_TEST)])  # テスト画像は最大 2,000 枚

# %% [markdown]
# ここまでの学習は、`python -m scratchae.train --preset cvae` という 1 つのコマンドでも実行できます（10 エポック。docs/results.md では、そのテスト損失を、同じモデルを PyTorch で書いたものと比べています）。
#
# ## やってみよう
#
# 1. `kl_one_sample(mu, logvar, eps)` を実装してください。$z = \mu + \sigma\varepsilon$ におけるチュートリアルの見積もり $\log q(z \mid x) - \log p(z)$ を、画像ごとに返す関数です（入力は形 (N, 2) の NumPy 配列、出力は形 (N,)）。たくさんの $\varepsilon$ について平均をとると、閉じた式の KL に近づくはずです。

# %%
from scratchae.exercises import try_it


def kl_one_sample(mu, logvar, eps):
    """mu, logvar, eps: (N, latent) -> (N,): log q(z | x) - log p(z) at z = mu + exp(logvar / 2) eps."""
    raise NotImplementedError  # この行を自分の実装に置き換える


def check_one_sample():
    mu1, logvar1 = np.array([[1.0, -0.5]]), np.array([[0.2, -1.0]])
    eps = np.random.default_rng(0).standard_normal((200_000, 2))
    estimate = float(np.mean(kl_one_sample(np.repeat(mu1, 200_000, 0), np.repeat(logvar1, 200_000, 0), eps)))
    exact = float(-0.5 * np.sum(1 + logvar1 - mu1**2 - np.exp(logvar1)))
    assert abs(estimate - exact) < 0.02, f"estimate {estimate:.4f}, closed form {exact:.4f}"


try_it("one-sample KL", check_one_sample)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def kl_one_sample(mu, logvar, eps):
#     """mu, logvar, eps: (N, latent) -> (N,): log q(z | x) - log p(z) at z = mu + exp(logvar / 2) eps."""
#     z = mu + np.exp(logvar / 2) * eps
#     log_q = np.sum(-0.5 * (eps**2 + logvar + np.log(2 * np.pi)), axis=1)  # (z - mu)^2 / sigma^2 = eps^2
#     log_p = np.sum(-0.5 * (z**2 + np.log(2 * np.pi)), axis=1)
#     return log_q - log_p
#
#
# def check_one_sample():
#     mu1, logvar1 = np.array([[1.0, -0.5]]), np.array([[0.2, -1.0]])
#     eps = np.random.default_rng(0).standard_normal((200_000, 2))
#     estimate = float(np.mean(kl_one_sample(np.repeat(mu1, 200_000, 0), np.repeat(logvar1, 200_000, 0), eps)))
#     exact = float(-0.5 * np.sum(1 + logvar1 - mu1**2 - np.exp(logvar1)))
#     assert abs(estimate - exact) < 0.02, f"estimate {estimate:.4f}, closed form {exact:.4f}"
#
#
# try_it("one-sample KL", check_one_sample)
# ```
#
# </details>
#
# 2. エンコーダのパディングを "same" に変えてみましょう（画像の一辺は 28 → 14 → 7 となり、Flatten の出力は 7*7*64 = 3136 次元になります）。`conv_vae` のどの行を変える必要があるでしょうか。また、テスト損失は変わるでしょうか。
#
# <details><summary>答え</summary>
#
# 2 つの `Conv2D` の呼び出しに `padding="same"` を渡し、2 つのヘッドを `Dense(3136, 2)` に変えます。MNIST の縁の画素はほとんどが 0 なので、"valid" で縁を落としても失うものはわずかです。テスト損失は、チュートリアルのモデルと 1〜2 ナットほどしか違わないはずです。
#
# </details>
#
# 3. 1 サンプルのモンテカルロ法による損失は、閉じた式による損失と同じ値を見積もっているはずなのに、ときどきそれより *小さく* なります。なぜでしょうか。
#
# <details><summary>答え</summary>
#
# モンテカルロ法の損失の KL の部分は、乱数を使った見積もりだからです。画像 1 枚につき $\varepsilon$ が 1 つだけだと、$\log q(z \mid x) - \log p(z)$ は KL より小さくなることも大きくなることもあり、画像によっては負になることさえあります。KL と等しくなるのは、$\varepsilon$ について平均をとったときだけです。テスト画像 10,000 枚で平均すると、このばらつきの大部分は打ち消し合うので、2 つの損失の差は 1 ナットにも満たなくなります。
#
# </details>
