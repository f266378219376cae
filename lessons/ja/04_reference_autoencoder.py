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
# # 04 · 基準オートエンコーダ: 5 行のステップを何度もくり返す
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/04_reference_autoencoder.ipynb)
#
# レッスン 01〜03 で、オートエンコーダに必要な部品がそろいました。全結合層（`Dense`）、ReLU と Sigmoid、BCE、そして Adam です。このレッスンでは、これらを組み合わせてオートエンコーダを作ります。MNIST の手書き数字の画像を、真ん中にある 32 次元の細い層（ボトルネック）に通したうえで、元の画像をそのまま写し取れるように学習させるのです。演習を含めて 45〜85 分ほどかかります。ここではモデルの組み立てはライブラリにまかせ、みなさんはモデルがどのように学習していくのかを調べることに集中します。続くレッスン 05 では、同じモデルをレッスン 01〜03 で作った自分のクラスで組み立て、このレッスンのモデルと一致することを確かめます。
#
# このレッスンで学ぶこと
# - 基準モデルの構成（784-256-128-64-32-32 と、それを逆にたどる形。活性化関数はすべて ReLU で、出力だけが Sigmoid です）
# - 学習の 1 ステップを構成する 5 行と、ライブラリがその中で使っている近道 1 つ
# - エポックとは何か（シャッフルした順番、ミニバッチ、エポックの最後に測るテストデータの損失）
# - Heの初期値と、出力を平均画像から始めることが効く理由

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
# ## モデルと損失関数
#
# エンコーダ $f$ は、画像 $x \in [0,1]^{784}$ を 32 次元の潜在表現（潜在ベクトル $z \in \mathbb{R}^{32}$）に圧縮し、デコーダ $g$ は同じ構成を逆にたどって画像に戻します。オートエンコーダでは、教師データは入力そのものです。そこで損失関数には、入力 $x$ と再構成 $\hat x$ のあいだの BCE（二値交差エントロピー誤差）を使い、ミニバッチの $N$ 枚の画像と、それぞれの $D = 784$ 個の画素について平均をとります。
#
# $$\hat x = g(f(x)), \qquad
# L = -\frac{1}{ND}\sum_{n,d}\Big[x_{nd}\log\hat x_{nd} + (1-x_{nd})\log(1-\hat x_{nd})\Big].$$
#
# 下のセルの設定は、本来の設定そのままです。ただしクイックモード（`SCRATCHAE_QUICK=1`、テストで使います）では、データの 10 分の 1 だけを使って 2 エポック学習するので、ノートブックは数秒で終わります。

# %%
import inspect
import time

import matplotlib.pyplot as plt
import numpy as np

import scratchae as sa
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import init_output_bias
from scratchae.training import backward_from_loss, evaluate, output_grad, train_step

EPOCHS = 2 if QUICK else 20
N_TRAIN = 6000 if QUICK else 60000
BATCH, LR, SEED = 256, 1e-3, 0

x_train_host, y_train, x_test_host, y_test = load("mnist")
x_train_host = x_train_host[:N_TRAIN]
# データはデバイスに一度だけ送る。ミニバッチはその後デバイス上で切り出すので、ステップごとのコピーは生じない
x_train, x_test = sa.to_device(x_train_host, xp), sa.to_device(x_test_host, xp)
print(f"train {tuple(x_train.shape)}, test {tuple(x_test.shape)}, {x_train.dtype}, "
      f"pixels in [{float(xp.min(x_train))}, {float(xp.max(x_train))}]")

# %%
model = sa.dense_autoencoder((784, 256, 128, 64, 32, 32), rng=SEED, xp=xp)
print(model.encoder)
print(model.decoder)
n_params = sum(p.size for _, p, _ in model.named_params())
print(f"{n_params:,} parameters")

# %% [markdown]
# ## 平均画像から始める
#
# バイアスがすべて 0 のままだと、学習前のモデルはどの画素にもほぼ 0.5 を出力します。つまり一面が灰色の画像になりますが、実際の MNIST の画像は大部分が黒い背景です。そこで `init_output_bias` は、最後の層のバイアスを、訓練画像の平均画像 $\bar x$ のロジット $b = \log\frac{\bar x}{1-\bar x}$ に設定します（画素ごとに計算します）。ロジットは Sigmoid の逆関数なので、$\sigma(b) = \bar x$ となります。こうしておけば、学習前のモデルでも、ぼやけた平均的な数字を描くことになります。2 つの出発点で、テストデータの BCE を比べてみましょう。

# %%
bce = sa.BCE()
loss_zero_bias = evaluate(model, bce, x_test)
init_output_bias(model, sa.to_device(x_train_host.mean(axis=0), xp))
loss_mean_bias = evaluate(model, bce, x_test)
print(f"untrained test BCE: zero output bias {loss_zero_bias:.3f}, mean-image bias {loss_mean_bias:.3f}")

# %% [markdown]
# ## 学習 1 ステップを 1 行ずつ
#
# 学習の 1 ステップは、次の 5 行でできています。順伝播、損失の計算、損失の逆伝播（dL/d$\hat x$ を求める）、モデルの逆伝播（各層が自分の `grads` を埋める）、そして最適化手法による更新（各パラメータをその場で動かす）です。

# %%
def step_by_hand(model, loss, optimizer, xb):
    out = model.forward(xb)          # 1. 順伝播: (N, 784) -> (N, 784)
    value = loss.forward(out, xb)    # 2. 損失: 教師データは入力そのもの
    dout = loss.backward()           # 3. dL/dout: (N, 784)
    model.backward(dout)             # 4. 最後の層から最初の層へ、各層が自分の grads を埋める
    optimizer.step()                 # 5. Adam がすべてのパラメータをその場で動かす
    return float(value)


# %% [markdown]
# ライブラリの `train_step` も、中身は同じ 5 行です。ただし、3 行目と 4 行目は `backward_from_loss` の中にまとめてあります。そこで使われている補助関数 `output_grad` は、レッスン 02 で見た近道を使います。BCE と組み合わせると、Sigmoid の逆伝播と損失の逆伝播をかけ合わせたものは、単に $(\hat x - x)/(ND)$ になるのでした。そのため、逆伝播を Sigmoid の入力から始めることができます（`backward_logits`、`skip_last=True`）。また `backward_from_loss` は、入力画像についての勾配を計算しません（`input_grad=False`）。この勾配は、どこでも必要ないからです。さらに `train_step` は、損失を Python の float ではなく 0 次元の配列として返します。こうしておくと、GPU ではループが各ステップの終了を待たずに次のステップを始められるのです（レッスン 08）。

# %%
print(inspect.getsource(train_step))
print(inspect.getsource(backward_from_loss))
print(inspect.getsource(output_grad))

# %% [markdown]
# **確認。** 同じ重みを持つモデルを 2 つ用意し、同じミニバッチで 1 ステップずつ進めます。一方は手で書いたステップ、もう一方はライブラリのステップです。順伝播はまったく同じ実装なので、損失は完全に一致するはずです。各層の `grads` には、そのステップで計算した勾配が残っています。近道は同じ値をより少ない演算で計算しているだけなので、勾配の違いは float32 の丸め誤差の範囲に収まるはずです。目安は、勾配の相対誤差が 1e-7 程度、更新後のパラメータの相対誤差が最大で 1e-6 程度です。パラメータのほうが大きくなるのは、Adam が勾配の大きさで割るため、勾配がほぼ 0 のところでは丸め誤差が拡大されるからです。1e-5 を超えた場合は、2 つのステップが同じ勾配を計算していないということです。なお、更新後のパラメータを比べるだけでは確認として不十分です。Adam の最初のステップはおよそ $-\text{lr}\cdot\text{sign}(g)$ なので、勾配が定数倍ずれていても、パラメータには違いが現れないからです。

# %%
def twin():
    m = sa.dense_autoencoder(rng=SEED, xp=xp)
    init_output_bias(m, sa.to_device(x_train_host.mean(axis=0), xp))
    return m, sa.Adam(m, lr=LR)


xb = x_train[:BATCH, ...]
(model_a, adam_a), (model_b, adam_b) = twin(), twin()
loss_a = step_by_hand(model_a, sa.BCE(), adam_a, xb)
loss_b = float(train_step(model_b, sa.BCE(), adam_b, xb))
pairs = list(zip(model_a.named_params(), model_b.named_params()))
grad_err = max(sa.rel_error(ga, gb) for (_, _, ga), (_, _, gb) in pairs)
param_err = max(sa.rel_error(pa, pb) for (_, pa, _), (_, pb, _) in pairs)
print(f"loss by hand {loss_a:.8f}, library {loss_b:.8f}")
print(f"max rel. error over the {len(pairs)} parameters: gradients {grad_err:.1e}, parameters after the step "
      f"{param_err:.1e}")
assert loss_a == loss_b, "the forward passes differ"
assert grad_err < 1e-5 and param_err < 1e-5, "the two steps computed different gradients"

# %% [markdown]
# ## エポック
#
# 1 エポックでは、すべての訓練画像を、256 枚ずつのミニバッチに分けて 1 回ずつ使います。画像の順番は、エポックごとにシャッフルし直します。この順番は `epoch_order` がシードとエポックの番号から計算するので、同じ実行を何度でも再現できます。各エポックの後には、10,000 枚のテスト画像で損失を測ります。テスト画像は、学習には一切使いません。

# %%
optimizer = sa.Adam(model, lr=LR)
rows = []
for epoch in range(EPOCHS):
    started = time.perf_counter()
    order = sa.to_device(epoch_order(N_TRAIN, SEED, epoch), xp)  # (N_TRAIN,) の添字。デバイスへはエポックごとに一度だけ送る
    total = 0.0
    for a, b in batch_slices(N_TRAIN, BATCH):
        xb = xp.take(x_train, order[a:b], axis=0)  # (B, 784)
        total = total + train_step(model, bce, optimizer, xb) * (b - a)  # 損失が置かれたデバイス上で足し合わせる
    rows.append({"epoch": epoch + 1, "train": float(total) / N_TRAIN, "test": evaluate(model, bce, x_test)})
    print(f"epoch {epoch + 1:2d}  train BCE {rows[-1]['train']:.5f}  test BCE {rows[-1]['test']:.5f}  "
          f"{time.perf_counter() - started:.1f} s")

# %% [markdown]
# **確認。** 学習後のモデルは、出発点よりはっきり良くなっていなければなりません。本来の設定で 20 エポック学習させると、テストデータの BCE はおよそ 0.098 になります。このループは、ライブラリのコマンド `python -m scratchae.train` を既定の設定で実行したときと同じ学習をしています。README にはそのテストの BCE が 0.0980 と書かれていて、BLAS のスレッドを 1 つにすれば最後の桁まで一致します。クイックモード（6,000 枚で 2 エポック）では、0.2 程度になるはずです。テストの BCE が学習前の 0.27 に近いままなら、学習のステップが機能していません。なお、0.098 との比較は、このレッスンの本来の設定で実行したときだけ行います。演習 3 などで設定を変えた場合は、この比較は省略されます。

# %%
final = rows[-1]["test"]
print(f"test BCE: untrained {loss_mean_bias:.4f} -> after {EPOCHS} epochs {final:.4f}")
assert final < 0.9 * loss_mean_bias, "the model did not learn"
if not QUICK and (EPOCHS, N_TRAIN, BATCH, LR, SEED) == (20, 60000, 256, 1e-3, 0):  # このレッスンの設定のときだけ
    assert final < 0.105, "20 full epochs should reach about 0.098"
elif not QUICK:
    print("settings changed: the check against 0.098 is skipped")

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot([r["epoch"] for r in rows], [r["train"] for r in rows], "o-", label="train (mean over the epoch)")
ax.plot([r["epoch"] for r in rows], [r["test"] for r in rows], "s-", label="test (after the epoch)")
ax.set_xlabel("epoch")
ax.set_xticks([r["epoch"] for r in rows])
ax.set_ylabel("BCE per pixel")
ax.legend()
plt.show()

# %% [markdown]
# 訓練データの損失（train）がテストデータの損失（test）より高くなっていますが、何かがおかしいわけではありません。訓練データの損失は 1 エポック全体にわたる平均で、モデルはそのエポックのあいだにも良くなり続けていました。一方、テストデータの損失はエポックの終わりに測っているので、その分だけ低く出るのです。
#
# ## 再構成
#
# 数字ごとに最初のテスト画像（上の段）と、それをモデルが再構成した画像（下の段）を並べます。

# %%
picks = [int(np.flatnonzero(y_test == d)[0]) for d in range(10)]
images = x_test_host[picks]  # (10, 784)
recon = sa.to_numpy(model.forward(sa.to_device(images, xp)))  # (10, 784)
fig, axes = plt.subplots(2, 10, figsize=(10, 2.3))
for i in range(10):
    for row, pics in enumerate((images, recon)):
        axes[row, i].imshow(pics[i].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes[row, i].axis("off")
fig.suptitle("test images (top) and their reconstructions (bottom)")
plt.show()

# %% [markdown]
# ## Heの初期値が効く理由
#
# `Dense` は、重みを $W \sim \mathcal{N}(0,\, 2/n_\text{in})$ から生成します（He ら、2015 年）。ReLU は入力のおよそ半分を 0 にするので、信号の 2 乗平均も半分になってしまいます。分散にかかっている係数 2 は、これを元に戻すためのものです。そのおかげで、信号はエンコーダの 5 つの層を通っても大きさを保ちます。一方、PyTorch の既定の初期化は $W \sim \mathcal{U}(-1/\sqrt{n_\text{in}},\, 1/\sqrt{n_\text{in}})$ で、その分散は $1/(3 n_\text{in})$ と、He の 6 分の 1 しかありません。そのため、信号の RMS（2 乗平均の平方根）は 1 層ごとにおよそ $\sqrt{1/6} \approx 0.41$ 倍に縮んでいきます。ランダムな重みの層で順伝播してみると、この両方のようすを確かめられます。

# %%
def rms_per_layer(draw, x, dims=(784, 256, 128, 64, 32, 32)):
    """Root mean square of x and of each ReLU layer's output, for weights from draw(n_in, n_out)."""
    rms = [float(np.sqrt(np.mean(x**2)))]
    for n_in, n_out in zip(dims[:-1], dims[1:]):
        x = np.maximum(x @ draw(n_in, n_out), 0.0)
        rms.append(float(np.sqrt(np.mean(x**2))))
    return np.array(rms)


rng = np.random.default_rng(0)
x0 = x_test_host[:1000].astype(np.float64)
he = rms_per_layer(lambda i, o: rng.standard_normal((i, o)) * np.sqrt(2.0 / i), x0)
uniform = rms_per_layer(lambda i, o: rng.uniform(-1.0, 1.0, (i, o)) / np.sqrt(i), x0)
print("RMS, input then each layer:")
print("  He      ", np.round(he, 4))
print("  uniform ", np.round(uniform, 4))

# %% [markdown]
# **確認。** ライブラリの最初の層の重みの標準偏差は、He の $\sqrt{2/784} \approx 0.0505$ になっているはずです（20 万個の乱数の標本誤差にあたる 1% 程度まで一致します）。Heの初期値では、各層の RMS は入力の RMS の 10% 以内に保たれます。ただし 32 ユニットの層はばらつきが大きいので、確認では 25% までのずれを許しています。一様分布による初期化では、5 層を通ったあとに残る RMS は入力のおよそ $6^{-5/2} \approx 0.011$ 倍です。これが 0.05 を超えるようなら、分散から予想したほどには縮んでいないということになります。

# %%
W0 = sa.to_numpy(sa.dense_autoencoder(rng=SEED).layers[0].params["W"])
print(f"std of the first layer's W: {W0.std():.5f}, He: {np.sqrt(2 / 784):.5f}")
print(f"RMS after five layers / input RMS: He {he[-1] / he[0]:.3f}, uniform {uniform[-1] / uniform[0]:.4f}")
assert abs(W0.std() / np.sqrt(2 / 784) - 1) < 0.01
assert np.all(np.abs(he / he[0] - 1) < 0.25)
assert uniform[-1] / uniform[0] < 0.05

# %% [markdown]
# この 2 つの工夫がどれほど効くのかを、このモデル、バッチサイズ 256、学習率 1e-3 の Adam で、全データを使って測りました（プロジェクトの測定結果 docs/results.md の数字です）。
#
# | 20 エポック後のテストの BCE、シード 0〜3 | 最小 | 最大 |
# | --- | --- | --- |
# | Heの初期値、平均画像のバイアス（既定） | 0.0963 | 0.0989 |
# | Heの初期値、出力バイアス 0 | 0.1010 | 0.1052 |
#
# PyTorch の一様分布による初期化では、20 エポック学習させても 0.123 までしか下がりません。層を通るたびに信号が弱まっていくと、入力に近い層ほど勾配が小さくなってしまうからです。また、出力バイアスを 0 から始めたモデルは、背景が黒いことをまず学ばなければならず、その途中でより多くの ReLU ユニットを死なせてしまいます（死んだユニットはレッスン 06 で数えます）。
#
# 次のレッスン 05 では、このモデルを自分で組み立てます。ライブラリの代わりに、自分で実装した `Dense`、`ReLU`、`Sigmoid`、`BCE`、`Adam` を使い、同じ確認をして、同じように学習させます。
#
# ## やってみよう
#
# 1. 出力を平均画像から始める処理を、自分で実装してみましょう。関数 `mean_image_bias(x)` は、`x` の平均画像 $m$ を求め、それを $[\epsilon, 1-\epsilon]$ の範囲に切り詰めてから、そのロジット $\log\frac{m}{1-m}$ を返します。切り詰めるのは、ロジットが無限大にならないようにするためです（どの画像でも黒い画素は、平均が 0 になります）。下のセルは、その結果を `init_output_bias` が最後の層に設定する値と比べます。

# %%
from scratchae.exercises import try_it


def mean_image_bias(x, eps=1e-3):
    """x: (N, 784) host images in [0, 1] -> b: (784,), the logit of the mean image clipped to [eps, 1 - eps]."""
    raise NotImplementedError  # この行を自分の実装に置き換える


def check_mean_image_bias():
    b = mean_image_bias(x_train_host)
    reference = sa.dense_autoencoder(rng=SEED)
    init_output_bias(reference, x_train_host.mean(axis=0))
    err = sa.rel_error(b, reference.layers[-2].params["b"])  # layers[-1] は Sigmoid、[-2] は最後の Dense
    assert err < 1e-5, f"relative error {err:.1e} against init_output_bias: expect about 1e-8"


try_it("mean-image bias", check_mean_image_bias)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def mean_image_bias(x, eps=1e-3):
#     """x: (N, 784) host images in [0, 1] -> b: (784,), the logit of the mean image clipped to [eps, 1 - eps]."""
#     m = np.clip(x.mean(axis=0), eps, 1.0 - eps)  # (784,)
#     return np.log(m) - np.log1p(-m)
#
#
# def check_mean_image_bias():
#     b = mean_image_bias(x_train_host)
#     reference = sa.dense_autoencoder(rng=SEED)
#     init_output_bias(reference, x_train_host.mean(axis=0))
#     err = sa.rel_error(b, reference.layers[-2].params["b"])  # layers[-1] は Sigmoid、[-2] は最後の Dense
#     assert err < 1e-5, f"relative error {err:.1e} against init_output_bias: expect about 1e-8"
#
#
# try_it("mean-image bias", check_mean_image_bias)
# ```
#
# </details>
#
# 2. エポックのループで `train_step` を `step_by_hand` に置き換えて、もう一度実行してみましょう。最後のエポックの後のテストの BCE は、4 桁まで一致するでしょうか。また、最後の桁が違ってくることがあるのはなぜでしょうか。
#
# <details><summary>答え</summary>
#
# 3〜4 桁まで一致します。2 つのステップは同じ勾配を計算していますが、float32 での丸め方が異なります（確認で見たとおり、相対誤差で 1e-7 程度です）。そのため、各ステップはごくわずかに異なる重みから出発することになり、何百ステップも重ねるうちに、その差が広がっていきます。数を足す順番が異なる 2 つの実行（異なる 2 つの BLAS ライブラリや、CPU と GPU）も同じようにずれていきますが、どちらかが間違っているわけではありません。
#
# </details>
#
# 3. `BATCH` を 32 に、次に 1024 にして、エポックのループをもう一度実行してみましょう。1 エポックあたりでよく学習するのはどちらでしょうか。1 秒あたりではどうでしょうか。
#
# <details><summary>答え</summary>
#
# バッチサイズ 32 では、1 エポックあたりの Adam のステップ数が 256 のときの 8 倍になるので、1 エポック後のテストの BCE は低くなります。しかし、画像 1 枚あたりにかかる時間は長くなります。小さな行列積では CPU の性能を引き出せないうえ、ステップごとの Python のオーバーヘッドも 8 倍の回数かかるからです。バッチサイズ 1024 はその逆で、画像 1 枚あたりの処理は速いものの、ステップ数が少ないため、同じエポック数で比べると損失は高くなります。256 はその中間をとった妥協点で、このモデルではうまく働きます。
#
# </details>
