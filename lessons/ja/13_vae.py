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
# # 13 · 変分オートエンコーダ
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/13_vae.ipynb)
#
# ふつうのオートエンコーダは、画像を圧縮して再構成します。
# でも、潜在空間から点を 1 つ選んでデコードしても、数字が出てくるとはかぎりません。
# 変分オートエンコーダ（VAE、Kingma & Welling, 2013）は、2 つの変更でこれを直します。
# 1 つ目に、エンコーダはコードの*分布*を出力します。
# 2 つ目に、KL の項が、その分布を $\mathcal N(0, I)$ の近くにとどめます。
# 演習を含めて 50〜70 分ほどかかります。
# まず問題を見て、2 つの変更を自分の手で書き、その勾配を確かめてから、VAE を 1 つ学習させます。
#
# このレッスンで学ぶこと
# - ふつうのオートエンコーダの潜在空間に穴がある理由。
# - 損失関数がどこから来るか: ELBO（evidence lower bound、エビデンス下界）を 3 行で導きます。
# - 再パラメータ化トリック（reparameterisation trick）を図とコードで。その逆伝播も。
# - KL の項の閉じた式を導き、その勾配を数値微分で確かめます。
# - VAE 全体の勾配確認。デコーダからの勾配と KL からの勾配が出会うところです。
# - 新しい数字の描き方と、学習した VAE の 2 次元の潜在空間。

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
# ## ふつうのオートエンコーダの潜在空間には穴がある
#
# コードが 2 次元の小さなオートエンコーダ（784-256-2 と、その逆）を数エポック学習させます。
# そのあと、コードを覆う格子の点をすべてデコードします。
# クイックモード（テストで使います）では、データの 10 分の 1 で 2 エポックだけ学習します。

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

import scratchae as sa
from scratchae.data import batch_slices, epoch_order, load
from scratchae.training import train_step

EPOCHS = 2 if QUICK else 10
N_TRAIN = 6000 if QUICK else 60000
BATCH, SEED = 128, 0

x_train_host, _, x_test_host, y_test = load("mnist")
x_train, x_test = sa.to_device(x_train_host[:N_TRAIN], xp), sa.to_device(x_test_host, xp)
kw = {"rng": np.random.default_rng(SEED), "xp": xp}  # 乱数の生成器は 1 つです。層ごとに別の重みになります
ae = sa.Autoencoder(sa.Sequential([sa.Dense(784, 256, **kw), sa.ReLU(), sa.Dense(256, 2, **kw)]),
                    sa.Sequential([sa.Dense(2, 256, **kw), sa.ReLU(), sa.Dense(256, 784, **kw), sa.Sigmoid()]))
bce, opt = sa.BCE(), sa.Adam(ae, lr=1e-3)
for epoch in range(EPOCHS):
    order = sa.to_device(epoch_order(N_TRAIN, SEED, epoch), xp)
    for a, b in batch_slices(N_TRAIN, BATCH):
        train_step(ae, bce, opt, xp.take(x_train, order[a:b], axis=0))
codes = sa.to_numpy(ae.encode(x_test))  # (10000, 2)
print(f"plain AE codes: mean {codes.mean(0).round(1)}, std {codes.std(0).round(1)}")


# %%
def tiles(images, n):
    """(n*n, 784) images, row by row -> one (28n, 28n) picture."""
    return sa.to_numpy(images).reshape(n, n, 28, 28).transpose(0, 2, 1, 3).reshape(n * 28, n * 28)


def latent_picture(decode, codes, box, title):
    """Codes coloured by digit (left) and the decodes of a 15 x 15 grid over ``box`` (right); returns the
    fraction of the 15 x 15 cells of the box that hold no test code at all."""
    (x0, x1), (y0, y1) = box
    n = 15
    empty = float(np.mean(np.histogram2d(codes[:, 0], codes[:, 1], bins=n, range=box)[0] == 0))
    grid = np.array([[u, v] for v in np.linspace(y1, y0, n) for u in np.linspace(x0, x1, n)])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.5))
    points = left.scatter(codes[:, 0], codes[:, 1], c=y_test, cmap="tab10", s=2)
    left.set(xlim=(x0, x1), ylim=(y0, y1), title=f"{title}: test codes by digit, {empty:.0%} of the cells empty")
    fig.colorbar(points, ax=left)
    right.imshow(tiles(decode(sa.to_device(grid, xp, dtype="float32")), n), cmap="gray", extent=(x0, x1, y0, y1))
    right.set(title=f"{title}: decodes of a grid over the same box")
    plt.show()
    return empty


lo, hi = codes.min(axis=0), codes.max(axis=0)  # テストデータのコードをすべて囲む箱
empty_ae = latent_picture(ae.decode, codes, ((lo[0], hi[0]), (lo[1], hi[1])), "plain AE")

# %% [markdown]
# 左の図を見てください。
# コードは筋やかたまりになっていて、そのあいだや周りに何もない場所があります（図のタイトルが、箱の中の空のマスの数を数えています）。
# コードの広がりや位置を決めるものは、何もありません（上に出力した平均と広がりを見てください。もっと長く学習させると、動いたり大きくなったりします）。
# 損失関数は、平面をむらなく使うことをエンコーダに求めていません。
# そのため、デコーダは空の場所で一度も学習していません。
# そこにある格子の点は、にじんだ染みになったり、2 つの数字のあいだで急に切り替わったりします。
# それに、コードのある範囲がわからなければ、「でたらめに点を選んでデコードする」ことに意味がありません。
#
# ## 2 つの変更: 画像ごとの分布と、事前分布
#
# VAE のエンコーダは、画像ごとに平均 $\mu$ と対数分散 $\log\sigma^2$ を出力します（同じ隠れ層の上に、全結合層のヘッド（head、出力の枝）を 2 つ置きます）。
# コードは、そこから*サンプルした*値 $z \sim \mathcal N(\mu, \sigma^2)$ です。
# するとデコーダは、$\mu$ の近くのどの点からでも再構成しなければなりません。
# これが、各コードの周りの空間を埋めます。
# *事前分布*（prior）は、コードに従ってほしい分布で、$\mathcal N(0, I)$ です。
# KL の項（KL ダイバージェンス（Kullback-Leibler divergence）。ある分布が別の分布からどれだけ離れているかを測る量）が、どの $\mathcal N(\mu, \sigma^2)$ も事前分布のほうへ引き寄せます。
# これで、すべてのコードが、わかっている 1 つの範囲に集まります。
# 画像 1 枚あたりの損失は、ELBO にマイナスを付けたものです。
# 単位はナット（nats、自然対数で測った単位）です:
#
# $$L(x) = -\sum_{d=1}^{784}\big[x_d\log\hat x_d + (1-x_d)\log(1-\hat x_d)\big]
# \;-\; \tfrac12\sum_{j}\big(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\big), \qquad \hat x = \text{decoder}(z).$$
#
# ## この損失関数はどこから来るのか: ELBO
#
# デコーダは、データのモデルを 1 つ決めます。
# まず事前分布からコード $z \sim p(z) = \mathcal N(0, I)$ を引きます。
# 次に、各画素を平均 $\hat x_d$ のベルヌーイ分布から引きます:
# $p(x \mid z) = \prod_d \hat x_d^{\,x_d} (1 - \hat x_d)^{1 - x_d}$。
# すると $-\log p(x \mid z)$ は、ちょうど画素について足した BCE になります。
# レッスン 02 で導いたとおり、BCE はベルヌーイ分布の出力の負の対数尤度だからです。
# できれば $\log p(x) = \log \int p(x \mid z)\, p(z)\, dz$ を最大にしたいのですが、すべてのコードにわたるこの積分には、閉じた式がありません。
# そこで、何か分布 $q(z \mid x)$ を 1 つ選びます（エンコーダの $\mathcal N(\mu, \sigma^2)$ です）。
# $p(x, z) = p(z \mid x)\, p(x)$ なので、比 $\frac{p(x, z)}{q(z\mid x)} \cdot \frac{q(z\mid x)}{p(z\mid x)}$ はどの $z$ でも $p(x)$ に等しくなります。
# この対数をとって、$z \sim q$ について平均します:
#
# $$\begin{aligned}
# \log p(x) &= \mathbb E_{q}\Big[\log \frac{p(x \mid z)\, p(z)}{q(z \mid x)}\Big]
#   + \mathbb E_{q}\Big[\log \frac{q(z \mid x)}{p(z \mid x)}\Big] \\
# &= \underbrace{\mathbb E_{q}\big[\log p(x \mid z)\big] - \mathrm{KL}\big(q(z \mid x)\,\|\,p(z)\big)}_{\text{ELBO}(x)}
#   + \mathrm{KL}\big(q(z \mid x)\,\|\,p(z \mid x)\big) \\
# &\ge \text{ELBO}(x), \quad \text{since a KL divergence is never negative.}
# \end{aligned}$$
#
# ELBO は、データの対数尤度の下界です（KL ダイバージェンスは決して負にならないからです）。
# ELBO を上げると、$\log p(x)$ が上がるか、$q$ が本当の事後分布 $p(z \mid x)$ に近づくか、その両方が起きます。
# ELBO の 2 つの項は、$L$ の 2 つの項そのものです。
# BCE の期待値（画像ごとに 1 つのサンプル $z$ で見積もります）と、事前分布への KL です。
# つまり $L(x) = -\text{ELBO}(x)$ です。
#
# ## 再パラメータ化トリック
#
# 誤差逆伝播法は、「乱数を 1 つ引く」という操作を通り抜けられません。
# そこでサンプルを、$\mu$ と $\log\sigma^2$ と、それらに依存しないノイズの関数として書きます:
#
# ```
#   x ─ encoder ─ h ─┬─ mu ─────────────────────────────┐
#                    │                                   (+) ─ z ─ decoder ─ x̂
#                    └─ logvar ─ exp(·/2) ─ sigma ─ (×) ─┘
#                                                    │
#                              eps ~ N(0, I) ────────┘   (x と同じく入力です。勾配はいりません)
# ```
#
# $$z = \mu + e^{\log\sigma^2/2}\,\varepsilon, \qquad
# \frac{\partial L}{\partial\mu} = \frac{\partial L}{\partial z}, \qquad
# \frac{\partial L}{\partial\log\sigma^2} = \frac{\partial L}{\partial z}\,\frac{\sigma\varepsilon}{2}.$$
#
# 書いてみましょう。
# そのあと、$\varepsilon$ を固定し、ランダムな上流からの勾配（upstream gradient）`dz` を使って確かめます。

# %%
from scratchae import numerical_gradient, rel_error

rng = np.random.default_rng(0)
mu, logvar, eps = (xp.asarray(rng.standard_normal((4, 2))) for _ in range(3))  # 確認のために float64 にします
dz = xp.asarray(rng.standard_normal((4, 2)))


def reparam_forward(mu, logvar, eps):
    return mu + xp.exp(logvar / 2) * eps  # (N, latent)


def reparam_backward(dz, mu, logvar, eps):
    return dz, dz * xp.exp(logvar / 2) * eps / 2  # dmu, dlogvar


def L():  # z での勾配がちょうど dz になるスカラー
    return float(xp.sum(reparam_forward(mu, logvar, eps) * dz))


dmu, dlogvar = reparam_backward(dz, mu, logvar, eps)
errors = {"mu": rel_error(numerical_gradient(L, mu), dmu), "logvar": rel_error(numerical_gradient(L, logvar), dlogvar)}
print(errors)
# 確認: 1e-11 程度（float64 の丸め誤差）になるはずです。1e-7 を超えたら reparam_backward にバグがあります。
assert max(errors.values()) < 1e-7

# %% [markdown]
# ライブラリの `Reparameterize` も、同じ 2 行です。
# 順伝播で $\sigma\varepsilon = z - \mu$ を覚えておくので、逆伝播でもう一度 `exp` を計算しなくてすみます:

# %%
from scratchae.vae import Reparameterize

print(inspect.getsource(Reparameterize))
layer = Reparameterize()
same = rel_error(layer.forward(mu, logvar, eps), reparam_forward(mu, logvar, eps))
same = max(same, *(rel_error(a, b) for a, b in zip(layer.backward(dz), (dmu, dlogvar))))
# 確認: 同じ数で同じ計算をしています。0 か 1e-16 程度になるはずです。1e-12 を超えたら、2 つは違う計算をしています。
assert same < 1e-12, same
print("Reparameterize agrees with reparam_forward/backward:", same)

# %% [markdown]
# ## KL の項とその勾配
#
# $q$ でも事前分布でも、コードの各次元は独立です。
# そのため KL は、1 次元の KL の和になります。
# 1 次元では $q = \mathcal N(\mu, \sigma^2)$、$p = \mathcal N(0, 1)$ です。
# 2 つの密度の $\log\sqrt{2\pi}$ は打ち消し合います。
# あとは $\mathbb E_q[(z - \mu)^2] = \sigma^2$ と $\mathbb E_q[z^2] = \mu^2 + \sigma^2$ を使います:
#
# $$\begin{aligned}
# \log q(z) - \log p(z) &= -\tfrac12\log\sigma^2 - \frac{(z - \mu)^2}{2\sigma^2} + \frac{z^2}{2} \\
# \mathrm{KL}(q\,\|\,p) = \mathbb E_q\big[\log q(z) - \log p(z)\big]
#   &= -\tfrac12\log\sigma^2 - \tfrac12 + \tfrac12\big(\mu^2 + \sigma^2\big) \\
# &= -\tfrac12\big(1 + \log\sigma^2 - \mu^2 - \sigma^2\big).
# \end{aligned}$$
#
# 画像 1 枚では、コードの次元について足します:
# $\mathrm{KL}(\mathcal N(\mu,\sigma^2)\,\|\,\mathcal N(0, I)) = -\tfrac12\sum_j(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2)$。
# これが 0 になるのは、ちょうど $\mu = 0,\ \sigma = 1$ のときです（演習 1 で、この式をサンプリングで確かめます）。
# $N$ 枚のバッチで平均すると、勾配は次のようになります:
#
# $$\frac{\partial\,\mathrm{KL}}{\partial\mu} = \frac{\mu}{N}, \qquad
# \frac{\partial\,\mathrm{KL}}{\partial\log\sigma^2} = \frac{\sigma^2 - 1}{2N}.$$
#
# この勾配は $\mu$ と $\log\sigma^2$ に*直接*届きます。
# そして、$z$ を通って戻ってくる勾配に足されます。

# %%
from scratchae.vae import KL


def kl_forward(mu, logvar):
    return -0.5 * float(xp.sum(1 + logvar - mu**2 - xp.exp(logvar))) / mu.shape[0]


def kl_backward(mu, logvar):
    n = mu.shape[0]
    return mu / n, (xp.exp(logvar) - 1) / (2 * n)


kl_dmu, kl_dlogvar = kl_backward(mu, logvar)
errors = {"mu": rel_error(numerical_gradient(lambda: kl_forward(mu, logvar), mu), kl_dmu),
          "logvar": rel_error(numerical_gradient(lambda: kl_forward(mu, logvar), logvar), kl_dlogvar)}
kl = KL()
agree = abs(float(kl.forward(mu, logvar)) - kl_forward(mu, logvar))
agree = max(agree, *(rel_error(a, b) for a, b in zip(kl.backward(), (kl_dmu, kl_dlogvar))))
print("gradient check:", errors, " library vs ours:", agree)
# 確認: 勾配確認は 1e-10 程度になるはずです（1e-7 を超えたらバグです）。ライブラリの KL も同じ数を出すはずです（< 1e-12）。
assert max(errors.values()) < 1e-7 and agree < 1e-12

# %% [markdown]
# 実用上の注意をもう 1 つ。
# $\sigma^2 = e^{\log\sigma^2}$ は、$\log\sigma^2 \approx 88.7$ を超えると float32 でオーバーフローします。
# 暴走したステップがそこまで行くことがあります。
# `inf` が 1 つ出るだけで、すべての重みが NaN になります。
# そこでライブラリは、`exp` の前に必ず $\log\sigma^2$ を `LOGVAR_RANGE` にクリップします（範囲の外では勾配は 0 です。クリップの微分だからです）。
# 学習したモデルは、この範囲のずっと内側にとどまります。
#
# ## 学習のステップ
#
# ステップは、ふつうのオートエンコーダの 5 行に、ノイズと KL の項を足したものです。
# 再構成の勾配は、デコーダと $z$ を通って戻ります（レッスン 02 の、Sigmoid と BCE をまとめた近道を使います）。
# KL の勾配は、2 つのヘッドにまっすぐ入ります:

# %%
from scratchae.vae import evaluate_vae, vae_step
from scratchae.models import init_output_bias
from scratchae.vae import LOGVAR_RANGE

print("LOGVAR_RANGE =", LOGVAR_RANGE)
print(inspect.getsource(vae_step))

# %% [markdown]
# ## VAE 全体の勾配確認
#
# バグがいちばんひそみやすいのは、2 つの勾配が出会うところです。
# 各ヘッドでは、再構成の勾配（デコーダと $z$ を通って戻ったもの）と KL の直接の勾配を足して、それをエンコーダへ渡さなければなりません。
# モデル全体をまとめて確かめましょう。
# 使うのは、float64 の小さな VAE と、損失 $L$ = 画像ごとに足した BCE + KL です。
# $\varepsilon$ は固定します（入力として扱うので、$L$ は重みのふつうの関数になります）。
# 解析的な勾配は、`vae_step` と同じ道筋で計算します。
# Sigmoid と BCE をまとめた勾配を出し、KL の `dmu` と `dlogvar` と一緒に `model.backward` に渡します。
# すべての重みとバイアスを、中心差分と比べます。

# %%
check_recon, check_kl = sa.BCE(reduction="image"), KL()


def vae_gradients(model, x, eps, kl_grads=True):
    """Analytic gradients of L = recon + KL with eps fixed, as vae_step computes them: {name: array}."""
    out = model.forward(x, eps)
    check_recon.forward(out, x)
    check_kl.forward(model.mu, model.logvar)
    dmu, dlogvar = check_kl.backward() if kl_grads else (None, None)  # kl_grads=False: わざと入れたバグ
    model.backward(check_recon.backward_logits(), dmu=dmu, dlogvar=dlogvar, input_grad=False, skip_last=True)
    return {name: grad + 0.0 for name, _, grad in model.named_params()}  # + 0.0: コピーを作ります


def vae_gradient_check(model, x, eps, grads):
    """Relative error of each gradient in ``grads`` against central differences of L: {name: error}."""
    def L():
        out = model.forward(x, eps)
        return float(check_recon.forward(out, x)) + float(check_kl.forward(model.mu, model.logvar))

    return {name: rel_error(numerical_gradient(L, param), grads[name]) for name, param, _ in model.named_params()}


small = sa.dense_vae((12, 8), latent=3, gain=2.0, rng=3, xp=xp, dtype="float64")  # Heの初期値（正規分布）の重み
x_small = xp.asarray(rng.uniform(0.05, 0.95, size=(5, 12)))  # 12 画素の「画像」が 5 枚
eps_small = xp.asarray(rng.standard_normal((5, 3)))  # 固定します
right = vae_gradient_check(small, x_small, eps_small, vae_gradients(small, x_small, eps_small))
bug = vae_gradient_check(small, x_small, eps_small, vae_gradients(small, x_small, eps_small, kl_grads=False))
print(f"{'parameter':14s} {'correct':>9s} {'KL grads left out':>18s}")
for name in right:
    print(f"{name:14s} {right[name]:9.1e} {bug[name]:18.1e}")

# %%
# 確認: 正しい逆伝播の勾配は、すべて合格するはずです（1e-9 程度以下。1e-7 を超えたらバグです）。
# わざと入れたバグは、それがある場所（2 つのヘッドとエンコーダ。1e-3 を超えます）で失敗し、ほかでは失敗しないはずです（デコーダは合格のまま）。
# 失敗しようのない確認では、何も証明できません。
assert max(right.values()) < 1e-7, right
before_z = [name for name in bug if not name.startswith("decoder.")]
assert min(bug[name] for name in before_z) > 1e-3, bug
assert max(bug[name] for name in bug if name.startswith("decoder.")) < 1e-7, bug
print("the whole VAE passes; leaving out the KL's direct gradients fails at", ", ".join(before_z))

# %% [markdown]
# 2 次元の VAE（784-400、潜在次元 2。ライブラリの `--preset vae-2d`）を学習させます。
# `eps` は、`python -m scratchae.train` と同じく、(seed, epoch, step) でシードした生成器から引きます。
# そのため、同じ実行をくり返すと、まったく同じ結果になります。
#
# `PRETRAINED` がオンのときは、学習させる代わりに、`--preset vae-2d` が全データで 10 エポック学習させた VAE を読み込みます。

# %%
recon_loss, kl_loss = sa.BCE(reduction="image"), KL()
if PRETRAINED:  # 同じ VAE を python -m scratchae.train --preset vae-2d で学習させたもの
    shipped = pretrained.load("vae-2d", xp=xp)
    vae = shipped.model
    print(f"PRETRAINED: loaded the shipped vae-2d ({len(shipped.metrics)} epochs of "
          "python -m scratchae.train --preset vae-2d) instead of training it here")
    test = evaluate_vae(vae, x_test, seed=SEED)
    print(f"test recon {test['recon']:.1f} + KL {test['kl']:.2f} = {test['loss']:.1f} nats")
else:
    vae = sa.dense_vae((784, 400), latent=2, rng=SEED, xp=xp)
    init_output_bias(vae, sa.to_device(x_train_host[:N_TRAIN].mean(axis=0), xp))  # 平均の数字から始めます（レッスン 04）
    opt = sa.Adam(vae, lr=1e-3)
    for epoch in range(EPOCHS):
        order = sa.to_device(epoch_order(N_TRAIN, SEED, epoch), xp)
        for k, (a, b) in enumerate(batch_slices(N_TRAIN, BATCH)):
            vae_step(vae, recon_loss, kl_loss, opt, xp.take(x_train, order[a:b], axis=0),
                     np.random.default_rng([SEED, epoch, k]))
        test = evaluate_vae(vae, x_test, seed=SEED)
        print(f"epoch {epoch + 1}: test recon {test['recon']:.1f} + KL {test['kl']:.2f} = {test['loss']:.1f} nats")

# %% [markdown]
# ## 新しい数字と、潜在空間の平面
#
# これで、サンプリングに意味が出てきました。
# $z \sim \mathcal N(0, I)$ を引いてデコードします（`VAE.sample`）。
# そして、ふつうのオートエンコーダと同じ図を、箱 $[-3, 3]^2$ の上で描きます。
# 事前分布は、各軸で確率の 99.7% をこの範囲に置きます:

# %%
samples = vae.sample(64, np.random.default_rng(1))
plt.figure(figsize=(5, 5))
plt.imshow(tiles(samples, 8), cmap="gray")
plt.axis("off")
plt.title("64 samples: z ~ N(0, I), decoded")
plt.show()
vae_codes = sa.to_numpy(vae.encode(x_test))  # q(z | x) の平均 mu
empty_vae = latent_picture(vae.decode, vae_codes, ((-3, 3), (-3, 3)), "VAE")
print(f"empty cells: plain AE {empty_ae:.0%} of the box around its codes, VAE {empty_vae:.0%} of [-3, 3]^2")

# %%
inside = float(np.mean(np.all(np.abs(vae_codes) < 3, axis=1)))
print(f"VAE codes: mean {vae_codes.mean(0).round(2)}, std {vae_codes.std(0).round(2)}, inside [-3, 3]^2: "
      f"{inside:.1%}")
# 確認: KL の項は、コードを N(0, I) の近くにとどめます。
# 平均は 0 から 0.2 くらいの範囲に入り、コードの 90% くらいが箱の中に入るはずです。
# 平均が 0.5 を超えるか、箱の中が 85% より少なければ、KL の項が働いていません。
assert np.all(np.abs(vae_codes.mean(0)) < 0.5) and inside > 0.85

# %% [markdown]
# 今度は、コードが 0 の周りの丸い範囲を埋めています。
# 格子はどこでも数字にデコードされ、あるクラスから次のクラスへなめらかに変わっていきます。
# デコーダが、どのコードの近くでも、その周り全体で学習したからです。

# %% [markdown]
# ## 平面の中を動いてみる
#
# 格子では平面の 225 点しか見えませんが、エクスプローラを使うと平面のどこへでも行けます。2 本のスライダーで点 $z = (z_1, z_2)$ を決めると、その点でデコーダが描く画像が、テスト画像のコードの地図の隣に表示されます。地図には、その点に印がつきます。もう 2 本のスライダーでテスト画像 $a$ と $b$ を選び、混ぜ具合のスライダー $t$ を動かすと、点は $z = (1 - t)\,\mu_a + t\,\mu_b$ として、一方のコードからもう一方のコードへ歩いていきます。ipywidgets がない環境（ふつうのスクリプトや、ipywidgets の入っていないノートブック）では、同じものを 1 枚の静止画で表示します。

# %%
from scratchae.explorer import explore

explore(vae, x_test[:2000], y_test[:2000])  # テストのコード 2,000 個。地図には十分で、描き直しも速い

# %% [markdown]
# ## やってみよう
#
# 1. KL には閉じた式がありますが、ELBO にはそれが必要ではありません。
#    $\mathrm{KL}(q\,\|\,p) = \mathbb E_{z\sim q}[\log q(z) - \log p(z)]$ だからです。
#    $\mu = (1, -0.5)$、$\log\sigma^2 = (0.2, -1)$ の画像 1 枚について、200,000 個のサンプルからモンテカルロ法で KL を見積もり、`kl_forward` と比べてください。

# %%
from scratchae.exercises import try_it


def kl_monte_carlo(mu, logvar, n_samples, rng):
    """mu, logvar: (latent,) NumPy arrays -> a Monte Carlo estimate of KL(N(mu, exp(logvar)) || N(0, I))."""
    raise NotImplementedError  # この行を、あなたのコードに置き換えてください


def check_monte_carlo():
    mu1, logvar1 = np.array([1.0, -0.5]), np.array([0.2, -1.0])
    estimate = kl_monte_carlo(mu1, logvar1, 200_000, np.random.default_rng(0))
    exact = kl_forward(xp.asarray(mu1[None, :]), xp.asarray(logvar1[None, :]))
    assert abs(estimate - exact) < 0.02, f"estimate {estimate:.4f}, closed form {exact:.4f}: expect about 0.003, at most 0.02"


try_it("Monte Carlo KL", check_monte_carlo)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def kl_monte_carlo(mu, logvar, n_samples, rng):
#     """mu, logvar: (latent,) NumPy arrays -> a Monte Carlo estimate of KL(N(mu, exp(logvar)) || N(0, I))."""
#     eps = rng.standard_normal((n_samples, mu.size))
#     z = mu + np.exp(logvar / 2) * eps
#     log_q = np.sum(-0.5 * eps**2 - logvar / 2, axis=1)  # 共通の定数を除いた log N(z; mu, sigma^2)
#     log_p = np.sum(-0.5 * z**2, axis=1)  # log N(z; 0, I)。同じ定数を除きます
#     return float(np.mean(log_q - log_p))
#
#
# def check_monte_carlo():
#     mu1, logvar1 = np.array([1.0, -0.5]), np.array([0.2, -1.0])
#     estimate = kl_monte_carlo(mu1, logvar1, 200_000, np.random.default_rng(0))
#     exact = kl_forward(xp.asarray(mu1[None, :]), xp.asarray(logvar1[None, :]))
#     assert abs(estimate - exact) < 0.02, f"estimate {estimate:.4f}, closed form {exact:.4f}: expect about 0.003, at most 0.02"
#
#
# try_it("Monte Carlo KL", check_monte_carlo)
# ```
#
# </details>
#
# 2. KL の項に重みを付けてみましょう（$\beta$-VAE、Higgins et al. 2017）。
#    `vae_step` をコピーして、KL の値と、その 2 つの勾配に `beta` を掛けます。
#    そして 2 次元のモデルを、`beta = 0.1` と `beta = 4` で学習させてください。
#    テストデータでの再構成の項、KL の項、潜在空間の図は、どう変わるでしょう。
#
# <details><summary>答え</summary>
#
# $\beta$ が小さいと、コードは広がり、再構成はくっきりします（再構成の項が下がり、KL が上がります）。
# 図は、すき間のある、ふつうのオートエンコーダの図に戻っていきます。
# $\beta$ が大きいと、コードは $\mathcal N(0, I)$ にぎゅっと詰め込まれ、再構成はぼやけます（再構成の項が上がり、KL が下がります）。
# $\beta$ を十分大きくすると、潜在空間のユニットのいくつかが完全に止まります。
# どの画像でも、そのユニットの $\mu \approx 0$、$\sigma \approx 1$ になります。
#
# </details>
#
# 3. `evaluate_vae` は、呼ばれるたびに、新しくシードした生成器から `eps` を引きます。
#    学習の生成器の続きを使わないのはなぜでしょう。
#
# <details><summary>答え</summary>
#
# 2 つのエポックや 2 つの実行のテスト損失が、モデルが変わったときだけ違うようにするためです。
# 毎回、同じテスト画像に同じ `eps` を使うので、損失の数に含まれるサンプリングのノイズは、エポックが変わっても同じです。
# また、途中から再開した実行が、中断しなかった実行とまったく同じ数を出力するようになります。
#
# </details>
