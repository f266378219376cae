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
# # 07 · Keras チュートリアルの基本のオートエンコーダと、BCE で変わること
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/07_keras_basic.ipynb)
#
# TensorFlow のチュートリアル "Intro to Autoencoders" は、とても小さなオートエンコーダから始まります。
# 全結合層（Dense）1 つで 64 個の数まで縮め、もう 1 つで元の大きさに戻します。損失関数は平均二乗誤差（MSE）、
# データは Fashion-MNIST です。scratchae では `--preset keras-basic` で同じモデルを作れます。このレッスンでは、
# このモデルを MSE で 1 回、二値交差エントロピー誤差（BCE）で 1 回学習させて、結果を比べます。
# 演習を含めて 55〜80 分ほどかかります。
#
# このレッスンで学ぶこと
# - チュートリアルのモデルを scratchae で書くとどうなるか: 784-64-784、ReLU のあとに Sigmoid。
# - MSE と BCE の違いが効く、ただ 1 つの場所: Sigmoid の入力での勾配。
# - 灰色の画像では BCE が 0 にならない理由と、別々の損失関数で学習した 2 つのモデルの比べ方。

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
# 設定はコマンドのプリセットから読みます。そのため、このノートブックは `python -m scratchae.train --preset
# keras-basic` と同じモデルを学習させます。クイックモード（`SCRATCHAE_QUICK=1`、テストが使います）では、
# データの 10 分の 1 だけを使い、1 エポックだけ学習します。

# %%
import matplotlib.pyplot as plt
import numpy as np

import scratchae as sa
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import init_output_bias
from scratchae.presets import PRESETS
from scratchae.training import evaluate, train_step

preset = PRESETS["keras-basic"]
print(preset)
EPOCHS = 1 if QUICK else preset["epochs"]
N_TRAIN = 6000 if QUICK else 60000
SEED = 0

x_train_host, _, x_test_host, y_test = load(preset["dataset"])
x_train = sa.to_device(x_train_host[:N_TRAIN], xp)
x_test = sa.to_device(x_test_host, xp)
print(sa.dense_autoencoder(preset["dims"]))

# %% [markdown]
# ## 2 つの損失関数と、1 つの違い
#
# どちらの損失関数も、$N$ 枚の画像と $D = 784$ 個の画素についての平均です。出力の Sigmoid への入力を $a$ とします。
# つまり $\hat x = \sigma(a)$ で、$\partial\hat x/\partial a = \hat x(1-\hat x)$ です。連鎖律から、次の式が出ます。
#
# $$L_\text{MSE} = \frac{1}{ND}\sum(\hat x - x)^2 \;\Rightarrow\;
# \frac{\partial L}{\partial a} = \frac{2}{ND}(\hat x - x)\,\hat x(1-\hat x),
# \qquad L_\text{BCE} \;\Rightarrow\; \frac{\partial L}{\partial a} = \frac{1}{ND}(\hat x - x).$$
#
# 因子 $\hat x(1-\hat x)$ は最大でも 1/4 です。出力が飽和する（0 や 1 の近くに張りつく）ところでは、0 に近づきます。
# 黒になるべき画素を、モデルが自信をもって白く塗った場合を考えましょう。MSE では、この画素の勾配はほとんど 0 で、
# 直す力がほとんど働きません。BCE では、誤差 $\hat x - x$ がそのまま勾配になります。下の小さな例では、
# 2 つの式を手で書きます。

# %%
def grad_at_logits_by_hand(x_hat, x, loss):
    """dL/da for x_hat = sigmoid(a), mean over all elements.  x_hat, x: (N, D) -> (N, D)."""
    n = x.size
    if loss == "mse":
        return 2.0 / n * (x_hat - x) * x_hat * (1.0 - x_hat)
    return (x_hat - x) / n


for p in (0.5, 0.9, 0.999):  # 目標が 0 の画素 1 つを、p と予測した場合
    x_hat, x = np.array([[p]]), np.array([[0.0]])
    print(f"prediction {p:5}: dL/da  MSE {grad_at_logits_by_hand(x_hat, x, 'mse')[0, 0]:.4f}"
          f"  BCE {grad_at_logits_by_hand(x_hat, x, 'bce')[0, 0]:.4f}")

# %% [markdown]
# **確認。** ライブラリは、同じ勾配を自分のやり方で求めます。MSE では `backward` のあとに `Sigmoid.backward`、
# BCE では `backward_logits` を使います。ランダムなロジット（logit）と本物の画像を使って、float64 で比べます。
# 相対誤差は 1e-16 くらいになるはずです。1e-10 を超えたら、どこかの式が間違っています。

# %%
rng = np.random.default_rng(SEED)
a = rng.normal(0.0, 3.0, size=(16, 784))  # ロジット。いくつかは、Sigmoid が飽和するほど 0 から遠い値です
x = x_test_host[:16].astype(np.float64)
sigmoid = sa.Sigmoid()
x_hat = sigmoid.forward(a)
mse, bce = sa.MSE(), sa.BCE()
mse.forward(x_hat, x)
err_mse = sa.rel_error(sigmoid.backward(mse.backward()), grad_at_logits_by_hand(x_hat, x, "mse"))
bce.forward(x_hat, x)
err_bce = sa.rel_error(bce.backward_logits(), grad_at_logits_by_hand(x_hat, x, "bce"))
print(f"rel. error of dL/da: MSE {err_mse:.1e}, BCE {err_bce:.1e}")
assert err_mse < 1e-10 and err_bce < 1e-10

# %% [markdown]
# ## 両方を学習させる
#
# 2 つのモデルは、同じ初期の重みから始めます（コマンドと同じく、出力のバイアスは平均画像から始めます。
# レッスン 04 と同じです）。バッチサイズはプリセットの 32、最適化手法は Adam、学習率は 1e-3 です。
# 違うのは損失関数だけです。

# %%
def train(loss):
    model = sa.dense_autoencoder(preset["dims"], rng=SEED, xp=xp)
    init_output_bias(model, sa.to_device(x_train_host[:N_TRAIN].mean(axis=0), xp))
    optimizer = sa.Adam(model, lr=preset["lr"])
    for epoch in range(EPOCHS):
        order = sa.to_device(epoch_order(N_TRAIN, SEED, epoch), xp)
        for a, b in batch_slices(N_TRAIN, preset["batch_size"]):
            train_step(model, loss, optimizer, xp.take(x_train, order[a:b], axis=0))
    return model


models = {"MSE": train(sa.MSE()), "BCE": train(sa.BCE())}
scores = {(name, metric): evaluate(model, loss, x_test)
          for name, model in models.items() for metric, loss in (("MSE", sa.MSE()), ("BCE", sa.BCE()))}
print(f"after {EPOCHS} epoch(s)      test MSE   test BCE")
for name in models:
    print(f"trained with {name}:     {scores[name, 'MSE']:.5f}    {scores[name, 'BCE']:.5f}")

# %% [markdown]
# **確認。** 上のテストデータでの損失は、`evaluate` が計算したものです。`evaluate` は float32 で、
# バッチごとの値を平均していきます。これを、再構成した画像から NumPy を使って float64 で、別に計算し直します。
# 相対的な差は 1e-7 くらい（float32 の丸め誤差）になるはずです。1e-4 を超えたら、
# `evaluate` の平均の取り方が間違っています。本来の設定では、MSE モデルのテスト MSE は 10 エポックで約 0.0096
# になります（README の値は 0.00964）。クイックモードでは約 0.04 です。0.0096 との比較は、
# このレッスン本来の設定のときだけ行います。演習で設定を変えたときは、この比較を飛ばします。

# %%
x64 = x_test_host.astype(np.float64)
for name, model in models.items():
    recon = np.concatenate([sa.to_numpy(model.forward(x_test[a:b, ...])) for a, b in batch_slices(10000, 1000)])
    p = np.clip(recon.astype(np.float64), 1e-7, 1 - 1e-7)
    mse64 = np.mean((recon - x64) ** 2)
    bce64 = -np.mean(x64 * np.log(p) + (1 - x64) * np.log(1 - p))
    err = max(abs(scores[name, "MSE"] / mse64 - 1), abs(scores[name, "BCE"] / bce64 - 1))
    print(f"{name} model: float64 MSE {mse64:.5f}, BCE {bce64:.5f}; largest rel. difference {err:.1e}")
    assert err < 1e-4
settings = (EPOCHS, N_TRAIN, SEED, preset["batch_size"], preset["lr"], list(preset["dims"]))
if not QUICK and settings == (10, 60000, 0, 32, 1e-3, [784, 64]):  # このレッスン本来の設定のときだけ
    assert scores["MSE", "MSE"] < 0.011, "10 epochs of the preset should reach about 0.0096"
elif not QUICK:
    print("settings changed: the check against 0.0096 is skipped")

# %% [markdown]
# 本来の設定では、どちらのモデルも、自分の学習に使った損失関数で相手に勝ちます。10 エポック後のテスト MSE は、
# MSE モデルが 0.00964、BCE モデルが 0.01028 です。テスト BCE は、BCE モデルが 0.2762、
# MSE モデルが 0.2775 です（BLAS のスレッドを 1 つにして、ここで測った値です）。
# クイックモードの短い 1 エポックでは、どちらもまだ学習の途中です。そして MSE モデルが、両方の損失で上回ります。
# BCE の値は、どちらのモデルでも 0 から遠いままです。でも、これは失敗ではありません。
# Fashion-MNIST の画素は灰色（0 と 1 の間の値）だからです。目標の画素 $x$ に対して、
# BCE がいちばん小さくなるのは $\hat x = x$ のときです。そのときの値は $-x\log x - (1-x)\log(1-x)$、
# つまりその画素のエントロピーで、0 ではありません。そこで、
# このデータセットでの下限（BCE が取りうるいちばん小さい値）は、テスト画素のエントロピーの平均になります。

# %%
t = np.clip(x64, 1e-7, 1 - 1e-7)
floor = -np.mean(t * np.log(t) + (1 - t) * np.log(1 - t))
print(f"BCE of a perfect reconstruction: {floor:.4f}; above it: MSE model "
      f"{scores['MSE', 'BCE'] - floor:.4f}, BCE model {scores['BCE', 'BCE'] - floor:.4f}")

picks = [int(np.flatnonzero(y_test == c)[0]) for c in range(10)]
rows = {"original": x_test_host[picks]}
for name, m in models.items():
    rows[f"{name} model"] = sa.to_numpy(m.forward(sa.to_device(x_test_host[picks], xp)))  # (10, 784)
fig, axes = plt.subplots(3, 10, figsize=(10, 3.3))
for r, (label, pics) in enumerate(rows.items()):
    for i in range(10):
        axes[r, i].imshow(pics[i].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes[r, i].set_xticks([])
        axes[r, i].set_yticks([])
    axes[r, 0].set_ylabel(label, fontsize=8)
plt.show()

# %% [markdown]
# 3 つの行は、ほとんど見分けがつきません。潜在表現（コード）が 64 個の数だと、どちらのモデルも服の形は残し、
# 細かいところは失います（プルオーバーに印刷された "Lee" の文字は、ただの帯になります）。ここでは、
# 損失関数の選び方は、画像よりも数値のほうを大きく変えます。違いが大きくなるのは、出力が飽和するときです。
# MNIST のようにほぼ白黒の画像や、画素を 0 や 1 まで押しやれる深いモデルがそうです。そのような場合、
# MSE の因子 $\hat x(1-\hat x)$ は、自信をもって間違えている画素の勾配を、まさに消してしまいます。
#
# ## やってみよう
#
# 1. 画像処理の分野では、再構成の質をピーク信号対雑音比（PSNR、peak signal-to-noise ratio）で表します。
#    単位はデシベル（dB）です。画素の値が $[0, 1]$ の画像では $\text{PSNR} = 10 \log_{10}(1/\text{MSE})$ です。
#    これを画像ごとに計算してから平均します。`psnr` を書いてください。下のセルは、
#    誤差がわかっている画像で確かめてから、2 つのモデルを採点します。

# %%
from scratchae.exercises import try_it


def psnr(x, x_hat):
    """x, x_hat: (N, D) host arrays in [0, 1] -> the mean over the N images of 10 log10(1 / MSE_n), in dB."""
    raise NotImplementedError  # この行を、あなたのコードに置き換えてください


def check_psnr():
    x = x_test_host[:100].astype(np.float64)
    assert abs(psnr(x, x + 0.1) - 20.0) < 1e-6, "an error of 0.1 on every pixel is an MSE of 0.01: 20 dB"
    mixed = np.concatenate([x[:50] + 0.1, x[50:] - 0.01])  # 20 dB の画像が 50 枚、40 dB の画像が 50 枚
    assert abs(psnr(x, mixed) - 30.0) < 1e-6, "average the images' PSNRs, not their MSEs"
    for name, model in models.items():
        recon = sa.to_numpy(model.forward(x_test[:1000, ...])).astype(np.float64)
        print(f"{name} model: PSNR {psnr(x_test_host[:1000].astype(np.float64), recon):.2f} dB on 1000 test images")


try_it("PSNR", check_psnr)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def psnr(x, x_hat):
#     """x, x_hat: (N, D) host arrays in [0, 1] -> the mean over the N images of 10 log10(1 / MSE_n), in dB."""
#     mse_per_image = np.mean((x_hat - x) ** 2, axis=1)  # (N,)
#     return float(np.mean(10.0 * np.log10(1.0 / mse_per_image)))
#
#
# def check_psnr():
#     x = x_test_host[:100].astype(np.float64)
#     assert abs(psnr(x, x + 0.1) - 20.0) < 1e-6, "an error of 0.1 on every pixel is an MSE of 0.01: 20 dB"
#     mixed = np.concatenate([x[:50] + 0.1, x[50:] - 0.01])  # 20 dB の画像が 50 枚、40 dB の画像が 50 枚
#     assert abs(psnr(x, mixed) - 30.0) < 1e-6, "average the images' PSNRs, not their MSEs"
#     for name, model in models.items():
#         recon = sa.to_numpy(model.forward(x_test[:1000, ...])).astype(np.float64)
#         print(f"{name} model: PSNR {psnr(x_test_host[:1000].astype(np.float64), recon):.2f} dB on 1000 test images")
#
#
# try_it("PSNR", check_psnr)
# ```
#
# </details>
#
# 2. チュートリアルの Keras のモデルは、出力のバイアスを 0 から始めます。
#    `init_output_bias` を使わずに MSE モデルを学習させて、同じエポック数のあとのテスト MSE を比べてください。
#
# <details><summary>答え</summary>
#
# 平均の服の画像ではなく、灰色一色の画像から始まります。そのため、
# 1 エポック目が終わった時点のテスト MSE は高くなります。両側に層が 1 つずつで、コードが 64 個なので、
# 死んだユニット（dead unit）になる ReLU は少ししかありません。10 エポック後には、差は小さくなります。
#
# </details>
#
# 3. バッチサイズを 32 から 256 に変えてください。1 エポックは速くなります。同じエポック数のあとのテスト MSE は、
#    良くなるでしょうか、悪くなるでしょうか。
#
# <details><summary>答え</summary>
#
# 同じエポック数なら悪くなります。バッチ 256 では、1 エポックあたりの Adam のステップ数が 8 分の 1 になるからです。
# 画像 1 枚あたりの計算は速いので、エポックを増やせば追いつけます。この小さなモデルでは、
# Keras の既定の 32 で十分です。
#
# </details>
