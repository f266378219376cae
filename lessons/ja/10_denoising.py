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
# 入力をそのまま写すように学習したオートエンコーダは、写し方が雑なままでも、出力はそれなりに良く見えてしまうことがあります。そこでノイズ除去オートエンコーダ（denoising autoencoder）では、わざと壊した画像を入力として与え、壊す前のきれいな画像を出力するように求めます。こうすると、モデルは数字がどんな形をしているのかを学ばざるをえなくなります。演習を含めて 40〜80 分ほどかかります。このレッスンでは、画像を自分の手で壊し、その壊れ具合をデシベルで測ったうえで、ノイズ除去モデルを学習させます。その学習ステップは、普通の学習ステップと 1 行しか違いません。
#
# このレッスンで学ぶこと
# - ガウスノイズを加えて画素の範囲に切り詰める方法と、それをシードから再現する方法
# - PSNR（ピーク信号対雑音比、peak signal-to-noise ratio）を画像ごとに求めて平均する方法
# - ノイズ除去の学習ステップ: 入力はノイズ入りの画像、教師データはきれいな画像
# - 全結合層だけの小さなノイズ除去モデルが、ノイズ入りの入力からどこまで良くなるか

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
# ## 画像を壊す
#
# 画素ごとに標準正規分布から乱数を 1 つずつ引き、ノイズの強さ $f$ を掛けて足します。結果は $[0, 1]$ の範囲に切り詰め（クリップし）、画像として意味のある値にとどめます。一方、学習の教師データは、壊す前のきれいな $x$ のままです。
#
# $$\tilde x = \operatorname{clip}(x + f\,\varepsilon,\ 0,\ 1), \quad \varepsilon \sim \mathcal N(0, 1),
# \qquad L = \ell\big(\operatorname{model}(\tilde x),\ x\big)$$
#
# Keras のブログは MNIST に $f = 0.5$ を、TensorFlow のチュートリアルは Fashion-MNIST に $f = 0.2$ を使っています。ここでは、シードを固定した NumPy の乱数生成器を使って、ホスト上でノイズを引きます。こうしておけば、同じシードからは CPU でも GPU でも同じノイズが得られます。

# %%
import numpy as np

from scratchae.backend import to_device, to_numpy
from scratchae.data import load

x_train, _, x_test, y_test = load("mnist")  # [0, 1] の float32、形は (N, 784)
if QUICK:
    x_train, x_test, y_test = x_train[:6000], x_test[:1000], y_test[:1000]
FACTOR = 0.5


def noisy_by_hand(x, factor, rng):
    eps = rng.standard_normal(x.shape, dtype="float32")  # 画素ごとに N(0, 1) から 1 回引く
    return np.clip(x + factor * eps, 0.0, 1.0)  # (N, 784)、値は [0, 1] のまま


x_test_noisy = noisy_by_hand(x_test, FACTOR, np.random.default_rng(0))
print("noisy test images:", x_test_noisy.shape, x_test_noisy.dtype)

# %% [markdown]
# ライブラリの `add_noise` は、同じ式を `xp` で書いたものです。そのため、ミニバッチがどのデバイスにあっても動きます。ノイズはホスト（CPU）で引いてから、ミニバッチと同じデバイスへ移します。

# %%
import inspect

from scratchae.denoise import add_noise

print(inspect.getsource(add_noise))
theirs = to_numpy(add_noise(to_device(x_test, xp), FACTOR, np.random.default_rng(0)))
# 確認: シードが同じなので、引く乱数も計算も同じ。差はちょうど 0 になるはず。
difference = float(np.max(np.abs(theirs - x_test_noisy)))
assert difference == 0.0, difference
print("add_noise agrees with the hand-written noise; max difference", difference)

# %% [markdown]
# ## ノイズを測る: PSNR
#
# 画像のピーク信号対雑音比（PSNR）は、画素が取りうる最大の値（ここでは 1）を、きれいな画像との平均二乗誤差（MSE）と比べた量で、単位はデシベル（dB）です。このレッスンでは、画像ごとに求めた値の平均を示します。
#
# $$\mathrm{PSNR}_n = 10 \log_{10} \frac{1^2}{\frac1D \sum_i (\hat x_{ni} - x_{ni})^2}, \qquad
# \mathrm{PSNR} = \frac1N \sum_n \mathrm{PSNR}_n$$
#
# 1 枚の画像で考えると、MSE を半分にすれば PSNR は約 3 dB 上がります（$10 \log_{10} 2 \approx 3.01$）。二乗平均平方根誤差（RMSE、画素 1 つあたりの誤差のおおよその大きさ）を半分にすると MSE は 4 分の 1 になるので、約 6 dB 上がります。20 dB は、画素 1 つあたりの RMSE が 0.1 であることを意味します。

# %%
from scratchae.denoise import psnr


def psnr_by_hand(pred, target):
    mse = np.mean((pred.astype(np.float64) - target) ** 2, axis=1)  # (N,): 画像 1 枚につき誤差 1 つ
    return float(np.mean(10 * np.log10(1.0 / mse)))


noisy_db = psnr_by_hand(x_test_noisy, x_test)
library_db = float(psnr(to_device(x_test_noisy, xp), to_device(x_test, xp)))
print(f"noisy input: {noisy_db:.2f} dB by hand, {library_db:.2f} dB from scratchae.denoise.psnr")
# 確認: MNIST で f = 0.5 なら約 9.4 dB になるはず。2 つの値は 1e-5 dB 程度まで一致するはず（float32 の和）。
assert abs(noisy_db - library_db) < 1e-3 and 8.5 < noisy_db < 10.5

# %% [markdown]
# ## ノイズ除去の学習ステップ
#
# 普通の学習ステップ（順伝播、損失、逆伝播、更新）と比べると、新しい行が 1 つ加わり、引数が 1 つ変わるだけです。まずミニバッチを壊してからモデルに入力し、損失関数では、出力を*きれいな*ミニバッチと比べます。ノイズはミニバッチごとに新しく引くので、モデルが同じ壊れ方をした画像を 2 度見ることはありません。

# %%
from scratchae.denoise import denoise_step

print(inspect.getsource(denoise_step))

# %% [markdown]
# ## 全結合のノイズ除去モデルを学習させる
#
# 784-256-64-256-784 の全結合のオートエンコーダを、BCE と Adam で学習させます。各ステップには専用の乱数生成器を渡し、そのシードはエポックとステップの番号から作ります。そのため、もう一度実行しても、まったく同じノイズが使われます。各エポックのあとには、あらかじめ固定しておいたノイズ入りのテスト画像でモデルを評価します。

# %%
from scratchae import BCE, Adam, dense_autoencoder
from scratchae.data import batch_slices, epoch_order
from scratchae.denoise import evaluate_denoising
from scratchae.models import init_output_bias

EPOCHS = 2 if QUICK else 10
model = dense_autoencoder((784, 256, 64), rng=0, xp=xp)
init_output_bias(model, to_device(x_train.mean(axis=0), xp))  # 数字の平均画像から始める（レッスン 04）
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
# 確認: ノイズを除いた画像は、ノイズ入りの入力と比べて、きれいな画像にずっと近くなければならない。
# クイックモードの 2 エポックでは、入力が約 9.4 dB、出力が約 13.5 dB になるはず。10 エポックでは約 16 dB（測った値は 16.2）。
# 改善が 3 dB 未満ならバグがある。
assert scores["test_psnr"] > scores["noisy_psnr"] + 3.0, scores
print(f"gain: {scores['test_psnr'] - scores['noisy_psnr']:.1f} dB")

# %% [markdown]
# ## 結果を見てみる
#
# 上段がノイズ入りの入力、中段がモデルの出力、下段が元のきれいな画像です。

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
# コマンドラインでは、`--noise` オプションで同じことができます。`python -m scratchae.train --noise 0.5` を実行すると、基準モデルをノイズ除去モデルとして学習させ、エポックごとに PSNR を表示して、ここで見たような 3 段の図を描きます。プリセットの `keras-denoise` と `tf-denoise` は、Keras のブログと TensorFlow のチュートリアルにある、畳み込みを使ったノイズ除去モデルを作り直したものです。畳み込みは、となり合う画素をまとめて見ることができます。`docs/results.md` のノイズ除去の表では、これらのモデルを全結合のモデルと比べています。小さな畳み込みモデル `tf-denoiser`（10 エポック）は、全結合の基準モデル（20 エポック）を、MNIST では 1.6 dB、Fashion-MNIST では 2.8 dB 上回ります。ところが、幅の広い全結合モデル（784-512-784、20 エポック）は、どちらのデータセットでも畳み込みモデルを上回ります。MNIST では 19.40 dB 対 19.05 dB、Fashion-MNIST では 22.00 dB 対 21.89 dB です。
#
# ## やってみよう
#
# 1. マスクノイズ（masking noise）も、古くから使われている代表的な壊し方です（Vincent ら、2008 年）。各画素を確率 $p$ で 0 にし、それ以外の画素はそのままにします。これを実装してください。下のセルは、0 になった画素の割合と、残りの画素が元のままであることを確かめます。

# %%
from scratchae.exercises import try_it


def mask_noise(x, p, rng):
    """x: (N, 784) host array in [0, 1] -> a copy with each pixel set to 0 with probability p."""
    raise NotImplementedError  # この行を自分の実装に置き換える


def check_mask_noise():
    x = np.random.default_rng(1).uniform(0.1, 1.0, (200, 784)).astype(np.float32)  # はじめは 0 の画素がない
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
#     x = np.random.default_rng(1).uniform(0.1, 1.0, (200, 784)).astype(np.float32)  # はじめは 0 の画素がない
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
# 2. 同じモデルを普通のオートエンコーダとして学習させ（教師データは入力そのものです。ノイズを加えずに `loss.forward(out, xb)` とします）、ノイズ入りのテスト画像を入力してみてください。出力の PSNR は、ノイズ除去モデルより高くなるでしょうか、それとも低くなるでしょうか。それはなぜでしょうか。
#
# <details><summary>答え</summary>
#
# 低くなります。普通のオートエンコーダはノイズを一度も見たことがないので、与えられたものを、ノイズも含めて、ボトルネックが許すかぎり忠実に再構成しようとします。ノイズが少し消えるのは偶然にすぎません（64 次元の潜在表現には、ノイズをすべて収める余地がないからです）。一方、ノイズ除去モデルは、ノイズ入りの入力をきれいな出力に写すように学習したので、どの部分を捨てればよいかを学んでいます。
#
# </details>
#
# 3. BCE を MSE に置き換えてください（`from scratchae import MSE`）。MSE で学習すると、画素の二乗誤差が小さくなるように学習が進みます。このレッスンの PSNR は画像ごとの PSNR の平均なので、テストデータ全体の MSE だけで決まる量ではありません。それでも、画像 1 枚の PSNR は、その画像の二乗誤差だけで決まります。同じエポック数だけ学習させたあと、テストの PSNR は上がるでしょうか。
#
# <details><summary>答え</summary>
#
# 学習のセルで変えるのは、`loss, optimizer = MSE(), Adam(model, lr=1e-3)` の 1 行だけです。
#
# 上がります。このレッスンのプログラムを、それぞれの損失関数で実際に実行してみました。クイックモード（2 エポック）では、ノイズを除いた画像の PSNR は BCE で 13.49 dB、MSE で 13.54 dB でした。本来の設定（10 エポック）では、BCE で 16.20 dB、MSE で 17.33 dB です。MSE は、PSNR と同じやり方で各画素の誤差を評価します。BCE は誤差の重み付けが異なり、教師データが 0 や 1 のときには、小さな誤差に MSE よりずっと大きな損失を課します。そして MNIST の画素の大部分は、ちょうど 0 です。（MSE で学習したときは、セルが "test BCE" として表示する値は、実際にはテストデータの MSE です。）
#
# 同じ実行から、問題文の前提（画像ごとの PSNR の平均は、全体の MSE だけでは決まらないこと）も確かめられます。MSE で 10 エポック学習したあと、テストデータ全体の MSE は 0.0209 で、$10 \log_{10}(1 / 0.0209) = 16.8$ dB になります。一方、画像ごとの PSNR の平均は 17.3 dB で、2 つは一致しません。
#
# </details>
