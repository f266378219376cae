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
# # 10 · ノイズ除去オートエンコーダ
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/10_denoising.ipynb)
#
# 入力を写し取るだけのオートエンコーダは、写し方が雑でも、結果はそれなりに良く見えてしまいます。
# ノイズ除去オートエンコーダ（denoising autoencoder）には、壊した画像を入力し、きれいな画像を出力させます。
# そのためには、数字がどんな形をしているかを学ばなければなりません。演習を含めて 40〜55 分ほどかかります。
# このレッスンでは、画像を手で壊し、その壊れ具合をデシベルで測ります。そして、ノイズ除去のモデルを学習させます。
# その学習ステップは、普通の学習ステップと 1 行しか違いません。
#
# このレッスンで学ぶこと
# - ガウスノイズを加えて画素の範囲に切り詰める方法と、それをシードから再現する方法。
# - PSNR（ピーク信号対雑音比、peak signal-to-noise ratio）を画像ごとに求めて平均する方法。
# - ノイズ除去の学習ステップ: 入力はノイズ入り、目標はきれいな画像。
# - 全結合層だけの小さなノイズ除去モデルが、ノイズ入りの入力よりどれだけ良くなるか。

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
# ## 画像を壊す
#
# 画素ごとに、標準正規分布からノイズを 1 つずつ引き、ノイズの強さ $f$ を掛けて足します。
# 結果は $[0, 1]$ に切り詰めて（クリップして）、画像のままにしておきます。学習の目標は、きれいな $x$ のままです。
#
# $$\tilde x = \operatorname{clip}(x + f\,\varepsilon,\ 0,\ 1), \quad \varepsilon \sim \mathcal N(0, 1),
# \qquad L = \ell\big(\operatorname{model}(\tilde x),\ x\big)$$
#
# Keras のブログは MNIST で $f = 0.5$ を、TensorFlow のチュートリアルは Fashion-MNIST で $f = 0.2$ を使います。
# ノイズは、シードを決めた NumPy の乱数生成器でホスト上で引きます。そのため、同じシードなら、
# CPU でも GPU でも同じノイズになります。

# %%
import numpy as np

from scratchae.backend import to_device, to_numpy
from scratchae.data import load

x_train, _, x_test, y_test = load("mnist")  # [0, 1] の float32、形は (N, 784)
if QUICK:
    x_train, x_test, y_test = x_train[:6000], x_test[:1000], y_test[:1000]
FACTOR = 0.5


def noisy_by_hand(x, factor, rng):
    eps = rng.standard_normal(x.shape, dtype="float32")  # 画素ごとに N(0, 1) から 1 回引きます
    return np.clip(x + factor * eps, 0.0, 1.0)  # (N, 784)、値は [0, 1] のまま


x_test_noisy = noisy_by_hand(x_test, FACTOR, np.random.default_rng(0))
print("noisy test images:", x_test_noisy.shape, x_test_noisy.dtype)

# %% [markdown]
# ライブラリの `add_noise` は、同じ式を `xp` で書いたものです。そのため、
# ミニバッチがどのデバイスにあっても動きます。ノイズはホスト（CPU）で引いて、ミニバッチと同じデバイスに移します。

# %%
import inspect

from scratchae.denoise import add_noise

print(inspect.getsource(add_noise))
theirs = to_numpy(add_noise(to_device(x_test, xp), FACTOR, np.random.default_rng(0)))
# 確認: シードが同じで、引く乱数も計算も同じです。差はちょうど 0 になるはずです。
difference = float(np.max(np.abs(theirs - x_test_noisy)))
assert difference == 0.0, difference
print("add_noise agrees with the hand-written noise; max difference", difference)

# %% [markdown]
# ## ノイズを測る: PSNR
#
# 画像のピーク信号対雑音比（PSNR）は、画素が取りうる最大の値（ここでは 1）と、
# きれいな画像との平均二乗誤差を比べたものです。単位はデシベル（dB）です。ここでは、画像ごとの値の平均を示します。
#
# $$\mathrm{PSNR}_n = 10 \log_{10} \frac{1^2}{\frac1D \sum_i (\hat x_{ni} - x_{ni})^2}, \qquad
# \mathrm{PSNR} = \frac1N \sum_n \mathrm{PSNR}_n$$
#
# 1 枚の画像では、MSE を半分にすると約 3 dB 上がります（$10 \log_{10} 2 \approx 3.01$）。二乗平均平方根誤差（RMSE、
# 画素 1 つの誤差のおおよその大きさ）を半分にすると、MSE は 4 分の 1 になります。これで約 6 dB 上がります。
# 20 dB は、画素 1 つあたりの RMSE が 0.1 であることを表します。

# %%
from scratchae.denoise import psnr


def psnr_by_hand(pred, target):
    mse = np.mean((pred.astype(np.float64) - target) ** 2, axis=1)  # (N,): 画像 1 枚に誤差 1 つ
    return float(np.mean(10 * np.log10(1.0 / mse)))


noisy_db = psnr_by_hand(x_test_noisy, x_test)
library_db = float(psnr(to_device(x_test_noisy, xp), to_device(x_test, xp)))
print(f"noisy input: {noisy_db:.2f} dB by hand, {library_db:.2f} dB from scratchae.denoise.psnr")
# 確認: MNIST で f = 0.5 なら約 9.4 dB になるはずです。2 つの値は 1e-5 dB くらいまで一致するはずです（float32 の和）。
assert abs(noisy_db - library_db) < 1e-3 and 8.5 < noisy_db < 10.5

# %% [markdown]
# ## ノイズ除去のステップ
#
# 普通のステップ（順伝播、損失、逆伝播、更新）と比べると、新しい行が 1 つ、変わった引数が 1 つあります。
# まずミニバッチを壊し、損失関数は出力を *きれいな* ミニバッチと比べます。ノイズはミニバッチごとに新しく引くので、
# モデルが同じ壊れ方を 2 回見ることはありません。

# %%
from scratchae.denoise import denoise_step

print(inspect.getsource(denoise_step))

# %% [markdown]
# ## 全結合のノイズ除去モデルを学習させる
#
# 784-256-64-256-784 の全結合のオートエンコーダを、BCE と Adam で学習させます。
# 各ステップには専用の乱数生成器を渡します。そのシードはエポックとステップの番号から作るので、もう一度実行しても、
# まったく同じノイズになります。各エポックのあとに、固定したノイズ入りのテスト画像でモデルを評価します。

# %%
from scratchae import BCE, Adam, dense_autoencoder
from scratchae.data import batch_slices, epoch_order
from scratchae.denoise import evaluate_denoising
from scratchae.models import init_output_bias

EPOCHS = 2 if QUICK else 10
model = dense_autoencoder((784, 256, 64), rng=0, xp=xp)
init_output_bias(model, to_device(x_train.mean(axis=0), xp))  # 平均の数字の画像から始めます（レッスン 04）
loss, optimizer = BCE(), Adam(model, lr=1e-3)
train, test, test_noisy = (to_device(a, xp) for a in (x_train, x_test, x_test_noisy))
for epoch in range(EPOCHS):
    order = to_device(epoch_order(train.shape[0], 0, epoch), xp)
    for k, (a, b) in enumerate(batch_slices(train.shape[0], 128)):
        xb = xp.take(train, order[a:b], axis=0)  # (B, 784)、きれいな画像
        denoise_step(model, loss, optimizer, xb, np.random.default_rng([0, epoch, k]), FACTOR)
    scores = evaluate_denoising(model, loss, test_noisy, test)
    print(f"epoch {epoch + 1}: test BCE {scores['test_loss']:.4f}, denoised {scores['test_psnr']:.2f} dB "
          f"(noisy input {scores['noisy_psnr']:.2f} dB)")

# %%
# 確認: ノイズを除いた画像は、ノイズ入りの入力よりずっと、きれいな画像に近くなければなりません。クイックモードの
# 2 エポックでは、入力が約 9.4 dB、出力が約 13.5 dB になるはずです。10 エポックでは約 16 dB です（測った値は
# 16.2）。上がり方が 3 dB 未満なら、バグがあります。
assert scores["test_psnr"] > scores["noisy_psnr"] + 3.0, scores
print(f"gain: {scores['test_psnr'] - scores['noisy_psnr']:.1f} dB")

# %% [markdown]
# ## 見てみる
#
# 上の行がノイズ入りの入力、まん中の行がモデルの出力、下の行がきれいな画像です。

# %%
import matplotlib.pyplot as plt

from scratchae.plots import one_per_class

pick = one_per_class(y_test)
denoised = to_numpy(model.forward(to_device(x_test_noisy[pick], xp)))
fig, axes = plt.subplots(3, len(pick), figsize=(1.2 * len(pick), 4.0))
for row, (name, pics) in enumerate([("noisy", x_test_noisy[pick]), ("denoised", denoised),
                                    ("clean", x_test[pick])]):
    for i, ax in enumerate(axes[row]):
        ax.imshow(pics[i].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[row, 0].set_ylabel(name)
plt.show()

# %% [markdown]
# コマンドラインでは、`--noise` で同じことができます。`python -m scratchae.train --noise 0.5` は、
# 基準モデルをノイズ除去モデルとして学習させ、エポックごとに PSNR を表示して、この 3 行の図を描きます。
# プリセット `keras-denoise` と `tf-denoise` は、Keras のブログと TensorFlow のチュートリアルの、
# 畳み込みを使ったノイズ除去モデルを作り直します。畳み込みは、となり合う画素をまとめて見ます。
# `docs/results.md` のノイズ除去の表では、これらを全結合のモデルと比べています。
# 小さな畳み込みモデル `tf-denoiser`（10 エポック）は、全結合の基準モデル（20 エポック）に、MNIST で 1.6 dB、
# Fashion-MNIST で 2.8 dB の差で勝ちます。ところが、幅の広い全結合のモデル（784-512-784、20 エポック）は、
# どちらのデータセットでも畳み込みモデルに勝ちます。19.40 dB 対 19.05 dB、22.00 dB 対 21.89 dB です。
#
# ## やってみよう
#
# 1. マスクノイズ（masking noise）は、もう 1 つの代表的な壊し方です（Vincent ら、2008 年）。
#    各画素を確率 $p$ で 0 にし、それ以外の画素はそのままにします。これを書いてください。下のセルは、
#    0 になった画素の割合と、残りの画素が変わっていないことを確かめます。

# %%
from scratchae.exercises import try_it


def mask_noise(x, p, rng):
    """x: (N, 784) host array in [0, 1] -> a copy with each pixel set to 0 with probability p."""
    raise NotImplementedError  # この行を、あなたのコードに置き換えてください


def check_mask_noise():
    x = np.random.default_rng(1).uniform(0.1, 1.0, (200, 784)).astype(np.float32)  # はじめは 0 の画素がありません
    out = mask_noise(x, 0.3, np.random.default_rng(2))
    zeroed = out == 0
    assert out.shape == x.shape and out.dtype == x.dtype, "keep the shape and the dtype"
    assert abs(zeroed.mean() - 0.3) < 0.01, f"zeroed fraction {zeroed.mean():.3f}, expected about 0.3"
    assert np.array_equal(out[~zeroed], x[~zeroed]), "pixels that are not masked must stay as they were"


try_it("masking noise", check_mask_noise)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def mask_noise(x, p, rng):
#     """x: (N, 784) host array in [0, 1] -> a copy with each pixel set to 0 with probability p."""
#     keep = rng.uniform(size=x.shape) >= p  # 確率 1 - p で True
#     return x * keep.astype(x.dtype)
#
#
# def check_mask_noise():
#     x = np.random.default_rng(1).uniform(0.1, 1.0, (200, 784)).astype(np.float32)  # はじめは 0 の画素がありません
#     out = mask_noise(x, 0.3, np.random.default_rng(2))
#     zeroed = out == 0
#     assert out.shape == x.shape and out.dtype == x.dtype, "keep the shape and the dtype"
#     assert abs(zeroed.mean() - 0.3) < 0.01, f"zeroed fraction {zeroed.mean():.3f}, expected about 0.3"
#     assert np.array_equal(out[~zeroed], x[~zeroed]), "pixels that are not masked must stay as they were"
#
#
# try_it("masking noise", check_mask_noise)
# ```
#
# </details>
#
# 2. 同じモデルを、普通のオートエンコーダとして学習させてください（目標は入力そのものです。ノイズは加えず、
#    `loss.forward(out, xb)` とします）。そして、ノイズ入りのテスト画像を入力してください。その出力の PSNR は、
#    ノイズ除去モデルより高いでしょうか、低いでしょうか。それはなぜでしょうか。
#
# <details><summary>答え</summary>
#
# 低くなります。普通のオートエンコーダは、ノイズを見たことがありません。そのため、入力されたものを、ノイズも含めて、
# ボトルネックが許すかぎりそのまま再構成します。ノイズが少し消えるのは、
# たまたまです（64 個のユニットの潜在表現（コード）には、ノイズを全部は入れられません）。ノイズ除去モデルは、
# ノイズ入りの入力をきれいな出力に写すように学習しました。だから、どの部分を捨てればよいかを学んでいます。
#
# </details>
#
# 3. BCE を MSE に置き換えてください（`from scratchae import MSE`）。MSE で学習すると、
#    画素の二乗誤差が小さくなります。このレッスンの PSNR は、画像ごとの PSNR の平均です。そのため、
#    テストデータ全体の MSE の関数ではありません。それでも、画像 1 枚の PSNR は、
#    その画像の二乗誤差だけで決まります。同じエポック数のあとのテストの PSNR は、上がるでしょうか。
#
# <details><summary>答え</summary>
#
# 学習のセルで変えるのは 1 行です: `loss, optimizer = MSE(), Adam(model, lr=1e-3)`。
#
# 上がります。このレッスンのコードを、それぞれの損失関数で実行してみました。クイックモード（2 エポック）では、
# ノイズを除いた画像の PSNR は、BCE で 13.49 dB、MSE で 13.54 dB でした。本来の設定（10 エポック）では、
# BCE で 16.20 dB、MSE で 17.33 dB でした。MSE は、PSNR と同じやり方で、画素ごとの誤差を評価します。
# BCE は誤差の重みのつけ方が違います。目標が 0 や 1 のとき、BCE は小さな誤差にも、
# MSE よりずっと大きな損失を付けます。そして MNIST の画素の多くは、ちょうど 0 です。（MSE で学習したとき、
# セルが "test BCE" と表示する値は、テスト MSE です。）
#
# 同じ実行で、問題文の前置き（画像ごとの PSNR の平均は、全体の MSE の関数ではない）も確かめられます。
# MSE で 10 エポック学習したあと、テストデータ全体の MSE は 0.0209 で、
# $10 \log_{10}(1 / 0.0209) = 16.8$ dB です。一方、画像ごとの PSNR の平均は 17.3 dB です。2 つは一致しません。
#
# </details>
