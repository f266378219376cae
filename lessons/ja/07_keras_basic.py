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
# TensorFlow のチュートリアル "Intro to Autoencoders" は、ごく小さなオートエンコーダから話を始めます。Dense レイヤ 1 つで画像を 64 次元の潜在表現まで縮め、もう 1 つの Dense レイヤで元の大きさに戻すだけのモデルで、これを Fashion-MNIST の画像で、平均二乗誤差（MSE）を損失関数にして学習させます。scratchae では、`--preset keras-basic` を指定すれば同じモデルを作れます。このレッスンでは、このモデルを MSE と二値交差エントロピー誤差（BCE）で 1 回ずつ学習させ、結果を比べてみます。
#
# 演習を含めて 40〜75 分ほどかかります。
#
# このレッスンで学ぶこと
# - チュートリアルのモデルを scratchae の言葉で書くと、784-64-784 で、ReLU の後に Sigmoid が続くモデルになること
# - MSE と BCE の違いが効いてくるのはただ 1 か所、Sigmoid の入力についての勾配だけであること
# - 灰色の画像では BCE を 0 にできない理由と、別々の損失関数で学習させた 2 つのモデルの比べ方

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
# 設定は、コマンドのプリセットから読み込みます。ですから、このノートブックが学習させるのは、`python -m scratchae.train --preset keras-basic` が学習させるのとまったく同じものです。なお、クイックモード（`SCRATCHAE_QUICK=1`、テストで使います）では、データの 10 分の 1 だけを使って 1 エポックだけ学習します。

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
# どちらの損失関数も、$N$ 枚の画像のそれぞれ $D = 784$ 画素についての平均です。出力層の Sigmoid への入力を $a$ とすると、$\hat x = \sigma(a)$ であり、$\partial\hat x/\partial a = \hat x(1-\hat x)$ です。したがって、連鎖律から $a$ についての勾配は次のようになります。
#
# $$L_\text{MSE} = \frac{1}{ND}\sum(\hat x - x)^2 \;\Rightarrow\;
# \frac{\partial L}{\partial a} = \frac{2}{ND}(\hat x - x)\,\hat x(1-\hat x),
# \qquad L_\text{BCE} \;\Rightarrow\; \frac{\partial L}{\partial a} = \frac{1}{ND}(\hat x - x).$$
#
# MSE の式に現れる因子 $\hat x(1-\hat x)$ は、最大でも 1/4 にしかなりません。しかも、出力が飽和する（0 や 1 の近くに張りついて動かなくなる）ところでは 0 に近づきます。つまり MSE では、出力が飽和すると勾配が消失してしまうのです。たとえば、本来は黒であるべき画素を、モデルが自信をもって白く塗ってしまった場合を考えてみましょう。MSE では、この画素の勾配はほとんど 0 になり、値を直そうとする力がほとんど働きません。一方 BCE では、誤差 $\hat x - x$ がそのまま勾配になります。次のセルでは、この 2 つの式を手で書いて、実際の値を比べてみます。

# %%
def grad_at_logits_by_hand(x_hat, x, loss):
    """dL/da for x_hat = sigmoid(a), mean over all elements.  x_hat, x: (N, D) -> (N, D)."""
    n = x.size
    if loss == "mse":
        return 2.0 / n * (x_hat - x) * x_hat * (1.0 - x_hat)
    return (x_hat - x) / n


for p in (0.5, 0.9, 0.999):  # 教師データが 0 の画素 1 つを、p と予測した場合
    x_hat, x = np.array([[p]]), np.array([[0.0]])
    print(f"prediction {p:5}: dL/da  MSE {grad_at_logits_by_hand(x_hat, x, 'mse')[0, 0]:.4f}"
          f"  BCE {grad_at_logits_by_hand(x_hat, x, 'bce')[0, 0]:.4f}")

# %% [markdown]
# **確認。** ライブラリは、同じ勾配を自分の実装で求めます。MSE では `backward` の後に `Sigmoid.backward` を呼び、BCE では `backward_logits` を使います。ランダムなロジット（logit）と本物の画像を使って float64 で比べると、相対誤差は 1e-16 程度になるはずです。1e-10 を超えたら、どこかの式が間違っています。

# %%
rng = np.random.default_rng(SEED)
a = rng.normal(0.0, 3.0, size=(16, 784))  # ロジット。一部は Sigmoid が飽和するほど 0 から遠い
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
# 2 つのモデルは、同じ初期値の重みから学習を始めます（コマンドと同じく、出力層のバイアスは平均画像を描くように初期化します。レッスン 04 と同じやり方です）。バッチサイズはプリセットの 32、最適化手法は学習率 1e-3 の Adam です。違うのは損失関数だけです。

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
# **確認。** 上に表示したテストデータの損失は `evaluate` が求めたもので、float32 のまま、バッチごとの値を順に平均していったものです。これを、再構成した画像から NumPy を使って float64 で、独立に計算し直してみます。相対的な差は 1e-7 程度（float32 の丸め誤差）になるはずで、1e-4 を超えたら `evaluate` の平均の取り方が間違っています。本来の設定なら、MSE モデルのテスト MSE は 10 エポック後に約 0.0096 になります（README に載っている値は 0.00964）。クイックモードでは約 0.04 です。0.0096 との比較は、このレッスン本来の設定で実行したときにだけ行い、演習で設定を変えたときは省きます。

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
# 本来の設定で学習させると、どちらのモデルも、自分が学習に使った損失で測ったときには相手に勝ちます。10 エポック後のテスト MSE は MSE モデルが 0.00964、BCE モデルが 0.01028 で、テスト BCE は BCE モデルが 0.2762、MSE モデルが 0.2775 です（BLAS のスレッドを 1 つにして、ここで測った値です）。ただし、クイックモードの短い 1 エポックでは、どちらもまだ学習の途中で、どちらの損失で測っても MSE モデルのほうが良い値になります。
#
# BCE の値は、どちらのモデルでも 0 からほど遠いままです。しかし、これは学習の失敗ではありません。Fashion-MNIST の画素は、0 か 1 かではなく、その間の灰色の値をとるからです。教師データの画素の値を $x$ とすると、BCE がいちばん小さくなるのは $\hat x = x$ のときで、そのときの値は $-x\log x - (1-x)\log(1-x)$、つまりその画素のエントロピーであって、0 にはなりません。したがって、このデータセットで BCE が下がりうる下限（取りうるいちばん小さい値）は、テスト画像の画素のエントロピーの平均です。次のセルで、この下限を計算してみましょう。

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
# 3 つの行は、ほとんど見分けがつきません。潜在表現が 64 次元あれば、どちらのモデルも服の形は保ったまま、細かいところだけを失います（プルオーバーに印刷された "Lee" の文字は、ただの帯になってしまいます）。このデータでは、損失関数の選び方は、画像の見た目よりも数値のほうに強く表れるわけです。損失関数の違いがもっと効いてくるのは、出力が飽和する場面です。MNIST のように白と黒にほぼ分かれた画像や、画素を 0 や 1 まで押しやれるほど深いモデルがそうです。そのような場面では、出力が飽和したところで MSE の因子 $\hat x(1-\hat x)$ が 0 に近づくので、よりによって自信をもって間違えている画素の勾配が消失してしまうのです。
#
# ## やってみよう
#
# 1. 画像処理の分野では、再構成の質をピーク信号対雑音比（PSNR、peak signal-to-noise ratio）で表すのが普通です。単位はデシベル（dB）で、画素の値が $[0, 1]$ の範囲にある画像なら $\text{PSNR} = 10 \log_{10}(1/\text{MSE})$ です。これを画像ごとに計算してから、画像について平均します。`psnr` を実装してください。次のセルは、誤差がわかっている画像でまず確かめ、それから 2 つのモデルを採点します。

# %%
from scratchae.exercises import try_it


def psnr(x, x_hat):
    """x, x_hat: (N, D) host arrays in [0, 1] -> the mean over the N images of 10 log10(1 / MSE_n), in dB."""
    raise NotImplementedError  # この行を自分の実装に置き換える


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
# 2. チュートリアルの Keras のモデルは、出力層のバイアスを 0 から始めます。`init_output_bias` を使わずに MSE モデルを学習させ、同じエポック数だけ学習させた後のテスト MSE を比べてください。
#
# <details><summary>答え</summary>
#
# このモデルは、平均的な服の画像ではなく、一面灰色の画像から学習を始めます。そのため、1 エポック目が終わった時点のテスト MSE は高くなります。とはいえ、エンコーダとデコーダに層が 1 つずつで、潜在表現も 64 次元しかないモデルなので、学習の途中で死んでしまう（dead unit になる）ReLU のユニットも、もともと多くありません。そのため、10 エポック後には差は小さくなります。
#
# </details>
#
# 3. バッチサイズを 32 から 256 に変えてみましょう。1 エポックにかかる時間は短くなりますが、同じエポック数だけ学習させた後のテスト MSE は、良くなるでしょうか、それとも悪くなるでしょうか。
#
# <details><summary>答え</summary>
#
# 同じエポック数なら悪くなります。バッチサイズが 256 だと、1 エポックあたりの Adam のステップ数が 8 分の 1 になるからです。ただし、画像 1 枚あたりの計算は速くなるので、エポック数を増やせば追いつけます。この小さなモデルなら、Keras の既定値である 32 を選んでおけば十分です。
#
# </details>
