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
# ふつうのオートエンコーダは、画像を圧縮して再構成することはできます。しかし、潜在空間から点を 1 つ選んで復号しても、数字の画像が出てくるとはかぎりません。変分オートエンコーダ（VAE、Kingma & Welling, 2013）は、2 つの変更でこの問題を解決します。1 つは、エンコーダが潜在ベクトルそのものではなく、潜在ベクトルの「分布」を出力するようにすることです。もう 1 つは、損失関数に KL の項（2 つの分布の隔たりを測る量です。あとで詳しく説明します）を加えて、その分布を $\mathcal N(0, I)$ の近くにとどめることです。演習を含めて 65〜115 分ほどかかります。このレッスンでは、まず問題を実際に目で確かめてから、2 つの変更を自分の手で実装して勾配確認をし、最後に VAE を 1 つ学習させます。
#
# このレッスンで学ぶこと
# - ふつうのオートエンコーダの潜在空間に「穴」ができる理由
# - 損失関数の出どころ: ELBO（evidence lower bound、エビデンス下界）を 3 行で導く
# - 再パラメータ化トリック（reparameterisation trick）の図と実装、そしてその逆伝播
# - KL の項の閉じた式の導出と、その勾配の数値微分による確認
# - デコーダからの勾配と KL からの勾配が合流する、VAE 全体の勾配確認
# - 新しい数字の画像の生成のしかたと、学習させた VAE の 2 次元の潜在平面

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
# CPU でモデルを学習させると数分かかります。`PRETRAINED = True` にしておくと、学習済みのモデルが必要になる場面では、scratchae に同梱されているモデル（ライブラリ自身のコマンド `python -m scratchae.train` で学習させたもの）を読み込むので、学習を待たずに本題へ進めます。GPU のない Colab では、これが既定でオンになっています。ほかの環境では、環境変数 `SCRATCHAE_PRETRAINED=1` でオンにできます。下のセルに `True` か `False` を直接書いてもかまいません。

# %%
from scratchae import pretrained

PRETRAINED = pretrained.wanted(xp)  # GPU のない Colab では True。SCRATCHAE_PRETRAINED=1 か 0 でどこでも選べる
print("PRETRAINED =", PRETRAINED)

# %% [markdown]
# ## ふつうのオートエンコーダの潜在空間には穴がある
#
# 潜在表現が 2 次元の小さなオートエンコーダ（784-256-2 と、それを逆にたどるデコーダ）を、数エポック学習させます。そのあと、テスト画像の潜在表現がすべて収まる範囲に格子を張り、その格子点をすべて復号してみます。クイックモード（テストで使います）では、データの 10 分の 1 で 2 エポックだけ学習させます。

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
kw = {"rng": np.random.default_rng(SEED), "xp": xp}  # 生成器は 1 つ: 層ごとに別の重みが引かれる
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


lo, hi = codes.min(axis=0), codes.max(axis=0)  # テスト画像の潜在表現をすべて囲む箱
empty_ae = latent_picture(ae.decode, codes, ((lo[0], hi[0]), (lo[1], hi[1])), "plain AE")

# %% [markdown]
# 左の図を見てください。潜在表現は筋やかたまりをつくっていて、そのあいだや周りには何もない場所が広がっています（図のタイトルに、箱を区切ったマスのうち空のマスの割合が出ています）。潜在表現がどのくらい広がり、平面のどこに集まるかは、何によっても決められていません（上に表示した平均と標準偏差を見てください。もっと長く学習させると、位置は動き、広がりも大きくなります）。損失関数のどこにも、平面をむらなく使えという要求が入っていないからです。そのため、空いている場所の点は、デコーダにとって一度も学習したことのない入力です。そこにある格子点を復号すると、にじんだ染みのような画像になったり、2 つの数字のあいだで急に切り替わったりします。そもそも潜在表現がどの範囲にあるのかがわからなければ、「でたらめに点を選んで復号する」こと自体に意味がありません。
#
# ## 2 つの変更: 画像ごとの分布と、事前分布
#
# VAE のエンコーダは、画像ごとに平均 $\mu$ と対数分散 $\log\sigma^2$ を出力します（同じ隠れ層の上に全結合層を 2 つ並べ、それぞれを $\mu$ と $\log\sigma^2$ を出す「ヘッド」とします）。そして潜在ベクトルには、その分布から引いたサンプル $z \sim \mathcal N(\mu, \sigma^2)$ を使います。こうすると、同じ画像からでも毎回少しずつ違う $z$ がデコーダに渡されるので、デコーダは $\mu$ の近くのどの点からでも元の画像を再構成できなければなりません。その結果、各潜在表現のまわりの空間が埋まっていきます。もう 1 つの変更は、事前分布（prior）を決めておくことです。事前分布とは、潜在表現に従ってほしい分布のことで、ここでは $\mathcal N(0, I)$ とします。KL の項、つまり KL ダイバージェンス（Kullback-Leibler divergence。ある分布が別の分布からどれだけ離れているかを測る量）は、どの画像の $\mathcal N(\mu, \sigma^2)$ も事前分布のほうへ引き寄せます。これで、すべての潜在表現が、あらかじめわかっている 1 つの範囲に集まります。画像 1 枚あたりの損失は、ELBO の符号を反転したもので、単位はナット（nats、自然対数で測った情報量の単位）です。
#
# $$L(x) = -\sum_{d=1}^{784}\big[x_d\log\hat x_d + (1-x_d)\log(1-\hat x_d)\big]
# \;-\; \tfrac12\sum_{j}\big(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\big), \qquad \hat x = \text{decoder}(z).$$
#
# ## この損失関数はどこから来るのか: ELBO
#
# デコーダは、データがどのように生まれるかを表すモデルを 1 つ決めています。まず事前分布から潜在ベクトル $z \sim p(z) = \mathcal N(0, I)$ を引き、次に各画素を、平均 $\hat x_d$ のベルヌーイ分布から引く、というモデルです。式で書くと $p(x \mid z) = \prod_d \hat x_d^{\,x_d} (1 - \hat x_d)^{1 - x_d}$ となります。レッスン 02 で導いたように、BCE はベルヌーイ分布の出力に対する負の対数尤度なので、$-\log p(x \mid z)$ はちょうど、BCE を全画素について足したものになります。本当に最大化したいのはデータの対数尤度 $\log p(x) = \log \int p(x \mid z)\, p(z)\, dz$ ですが、あらゆる $z$ にわたるこの積分は、閉じた式では求まりません。そこで、何か分布 $q(z \mid x)$ を 1 つ用意します（エンコーダの出す $\mathcal N(\mu, \sigma^2)$ がそれです）。$p(x, z) = p(z \mid x)\, p(x)$ ですから、比 $\frac{p(x, z)}{q(z\mid x)} \cdot \frac{q(z\mid x)}{p(z\mid x)}$ は、どの $z$ についても $p(x)$ に等しくなります。この比の対数をとり、$z \sim q$ について平均すると、次のようになります。
#
# $$\begin{aligned}
# \log p(x) &= \mathbb E_{q}\Big[\log \frac{p(x \mid z)\, p(z)}{q(z \mid x)}\Big]
#   + \mathbb E_{q}\Big[\log \frac{q(z \mid x)}{p(z \mid x)}\Big] \\
# &= \underbrace{\mathbb E_{q}\big[\log p(x \mid z)\big] - \mathrm{KL}\big(q(z \mid x)\,\|\,p(z)\big)}_{\text{ELBO}(x)}
#   + \mathrm{KL}\big(q(z \mid x)\,\|\,p(z \mid x)\big) \\
# &\ge \text{ELBO}(x), \quad \text{since a KL divergence is never negative.}
# \end{aligned}$$
#
# 最後の行の不等号が成り立つのは、KL ダイバージェンスが決して負にならないからです（式の右端の英語の注記も、同じことを述べています）。つまり ELBO は、データの対数尤度を下からおさえる値、すなわち下界になっています。ELBO を大きくすると、$\log p(x)$ が大きくなるか、$q$ が本当の事後分布 $p(z \mid x)$ に近づくか（2 つ目の KL が小さくなるか）、またはその両方が起こります。そして ELBO の 2 つの項は、先ほどの損失 $L$ の 2 つの項にそのまま対応しています。1 つ目は BCE の期待値の符号を反転したもの（画像ごとに $z$ を 1 つだけ引いて見積もります）、2 つ目は事前分布への KL です。したがって、$L(x) = -\text{ELBO}(x)$ です。
#
# ## 再パラメータ化トリック
#
# 誤差逆伝播法は、「乱数を 1 つ引く」という操作を通り抜けることができません。そこで、サンプルを「$\mu$ と $\log\sigma^2$ と、それらに依存しないノイズ」の関数として書き直します。こうすれば乱数はノイズの側に押し出され、$\mu$ と $\log\sigma^2$ からは、ふつうの計算だけで $z$ にたどり着けます。
#
# ```
#   x ─ encoder ─ h ─┬─ mu ─────────────────────────────┐
#                    │                                   (+) ─ z ─ decoder ─ x̂
#                    └─ logvar ─ exp(·/2) ─ sigma ─ (×) ─┘
#                                                    │
#                              eps ~ N(0, I) ────────┘   （x と同じく入力。勾配は要らない）
# ```
#
# $$z = \mu + e^{\log\sigma^2/2}\,\varepsilon, \qquad
# \frac{\partial L}{\partial\mu} = \frac{\partial L}{\partial z}, \qquad
# \frac{\partial L}{\partial\log\sigma^2} = \frac{\partial L}{\partial z}\,\frac{\sigma\varepsilon}{2}.$$
#
# これを実装し、$\varepsilon$ を固定したまま、ランダムな上流からの勾配 `dz` を使って勾配確認をしましょう。

# %%
from scratchae import numerical_gradient, rel_error

rng = np.random.default_rng(0)
mu, logvar, eps = (xp.asarray(rng.standard_normal((4, 2))) for _ in range(3))  # 勾配確認のため float64
dz = xp.asarray(rng.standard_normal((4, 2)))


def reparam_forward(mu, logvar, eps):
    return mu + xp.exp(logvar / 2) * eps  # (N, latent)


def reparam_backward(dz, mu, logvar, eps):
    return dz, dz * xp.exp(logvar / 2) * eps / 2  # dmu, dlogvar


def L():  # z についての勾配がちょうど dz になるスカラー
    return float(xp.sum(reparam_forward(mu, logvar, eps) * dz))


dmu, dlogvar = reparam_backward(dz, mu, logvar, eps)
errors = {"mu": rel_error(numerical_gradient(L, mu), dmu), "logvar": rel_error(numerical_gradient(L, logvar), dlogvar)}
print(errors)
# 確認: 1e-11 程度（float64 の丸め誤差）になる。1e-7 を超えたら reparam_backward のバグ
assert max(errors.values()) < 1e-7

# %% [markdown]
# ライブラリの `Reparameterize` も、中身は同じ 2 行です。ただし順伝播で $\sigma\varepsilon = z - \mu$ を保持しておくので、逆伝播でもう一度 `exp` を計算せずに済みます。

# %%
from scratchae.vae import Reparameterize

print(inspect.getsource(Reparameterize))
layer = Reparameterize()
same = rel_error(layer.forward(mu, logvar, eps), reparam_forward(mu, logvar, eps))
same = max(same, *(rel_error(a, b) for a, b in zip(layer.backward(dz), (dmu, dlogvar))))
# 確認: 同じ数に同じ計算をしているので、0 か 1e-16 程度になる。1e-12 を超えたら 2 つは別の計算をしている
assert same < 1e-12, same
print("Reparameterize agrees with reparam_forward/backward:", same)

# %% [markdown]
# ## KL の項とその勾配
#
# $q$ のもとでも事前分布のもとでも、潜在ベクトルの各次元は互いに独立です。そのため KL は、1 次元ごとの KL の和になります。そこで 1 次元の場合、つまり $q = \mathcal N(\mu, \sigma^2)$、$p = \mathcal N(0, 1)$ のときを計算しましょう。2 つの密度の対数の差をとると、どちらにもある $\log\sqrt{2\pi}$ は打ち消し合います。あとは $\mathbb E_q[(z - \mu)^2] = \sigma^2$ と $\mathbb E_q[z^2] = \mu^2 + \sigma^2$ を使えば、次のように計算できます。
#
# $$\begin{aligned}
# \log q(z) - \log p(z) &= -\tfrac12\log\sigma^2 - \frac{(z - \mu)^2}{2\sigma^2} + \frac{z^2}{2} \\
# \mathrm{KL}(q\,\|\,p) = \mathbb E_q\big[\log q(z) - \log p(z)\big]
#   &= -\tfrac12\log\sigma^2 - \tfrac12 + \tfrac12\big(\mu^2 + \sigma^2\big) \\
# &= -\tfrac12\big(1 + \log\sigma^2 - \mu^2 - \sigma^2\big).
# \end{aligned}$$
#
# 画像 1 枚の KL は、これを潜在ベクトルの次元について足した $\mathrm{KL}(\mathcal N(\mu,\sigma^2)\,\|\,\mathcal N(0, I)) = -\tfrac12\sum_j(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2)$ です。この値が 0 になるのは、ちょうど $\mu = 0,\ \sigma = 1$ のとき、つまり $q$ が事前分布と一致するときだけです（演習 1 では、この式をサンプリングで確かめます）。$N$ 枚のミニバッチで平均した KL の勾配は、次のとおりです。
#
# $$\frac{\partial\,\mathrm{KL}}{\partial\mu} = \frac{\mu}{N}, \qquad
# \frac{\partial\,\mathrm{KL}}{\partial\log\sigma^2} = \frac{\sigma^2 - 1}{2N}.$$
#
# この勾配は、$z$ を経由せずに $\mu$ と $\log\sigma^2$ へ直接届きます。そして、デコーダから $z$ を通って戻ってくる勾配に足し合わされます。

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
# 確認: 勾配確認は 1e-10 程度（1e-7 を超えたらバグ）。ライブラリの KL も同じ数を出す（差は 1e-12 未満）
assert max(errors.values()) < 1e-7 and agree < 1e-12

# %% [markdown]
# 実用上の注意をもう 1 つ挙げておきます。$\sigma^2 = e^{\log\sigma^2}$ は、$\log\sigma^2$ が約 88.7 を超えると float32 ではオーバーフローします。学習が暴走すると 1 回のステップでそこまで達することがあり、`inf` が 1 つ出ただけで、すべての重みが NaN になってしまいます。そこでライブラリは、`exp` を計算する前に必ず $\log\sigma^2$ を `LOGVAR_RANGE` の範囲にクリップします（範囲の外では勾配は 0 です。クリップを微分するとそうなるからです）。学習させたモデルの $\log\sigma^2$ は、この範囲のずっと内側に収まります。
#
# ## 学習ステップ
#
# 学習ステップは、ふつうのオートエンコーダの 5 行に、ノイズと KL の項を加えたものです。再構成の損失の勾配はデコーダと $z$ を通って戻り（レッスン 02 の、Sigmoid と BCE をまとめて計算する近道を使います）、KL の勾配は 2 つのヘッドに直接入ります。

# %%
from scratchae.vae import evaluate_vae, vae_step
from scratchae.models import init_output_bias
from scratchae.vae import LOGVAR_RANGE

print("LOGVAR_RANGE =", LOGVAR_RANGE)
print(inspect.getsource(vae_step))

# %% [markdown]
# ## VAE 全体の勾配確認
#
# バグがいちばん入り込みやすいのは、2 つの勾配が合流するところです。各ヘッドでは、再構成の損失の勾配（デコーダと $z$ を通って戻ってきたもの）と KL の直接の勾配を足し合わせ、それをエンコーダへ渡さなければなりません。そこで、モデル全体をまとめて勾配確認します。使うのは float64 の小さな VAE で、損失は、画像ごとに画素について足した BCE に KL を加えた $L$ です。$\varepsilon$ は固定します。$\varepsilon$ を $x$ と同じように入力として扱えば、$L$ は重みのふつうの関数になり、数値微分ができるからです。解析的な勾配は、`vae_step` と同じ道筋で求めます。つまり、Sigmoid と BCE をまとめた勾配を求め、それを KL の `dmu`、`dlogvar` と一緒に `model.backward` に渡します。すべての重みとバイアスについて、こうして求めた勾配を、中心差分による数値微分と比べます。

# %%
check_recon, check_kl = sa.BCE(reduction="image"), KL()


def vae_gradients(model, x, eps, kl_grads=True):
    """Analytic gradients of L = recon + KL with eps fixed, as vae_step computes them: {name: array}."""
    out = model.forward(x, eps)
    check_recon.forward(out, x)
    check_kl.forward(model.mu, model.logvar)
    dmu, dlogvar = check_kl.backward() if kl_grads else (None, None)  # kl_grads=False: わざと仕込んだバグ
    model.backward(check_recon.backward_logits(), dmu=dmu, dlogvar=dlogvar, input_grad=False, skip_last=True)
    return {name: grad + 0.0 for name, _, grad in model.named_params()}  # + 0.0: コピーを作る


def vae_gradient_check(model, x, eps, grads):
    """Relative error of each gradient in ``grads`` against central differences of L: {name: error}."""
    def L():
        out = model.forward(x, eps)
        return float(check_recon.forward(out, x)) + float(check_kl.forward(model.mu, model.logvar))

    return {name: rel_error(numerical_gradient(L, param), grads[name]) for name, param, _ in model.named_params()}


small = sa.dense_vae((12, 8), latent=3, gain=2.0, rng=3, xp=xp, dtype="float64")  # Heの初期値（正規分布）の重み
x_small = xp.asarray(rng.uniform(0.05, 0.95, size=(5, 12)))  # 12 画素の「画像」が 5 枚
eps_small = xp.asarray(rng.standard_normal((5, 3)))  # 固定する
right = vae_gradient_check(small, x_small, eps_small, vae_gradients(small, x_small, eps_small))
bug = vae_gradient_check(small, x_small, eps_small, vae_gradients(small, x_small, eps_small, kl_grads=False))
print(f"{'parameter':14s} {'correct':>9s} {'KL grads left out':>18s}")
for name in right:
    print(f"{name:14s} {right[name]:9.1e} {bug[name]:18.1e}")

# %%
# 確認: 正しい逆伝播の勾配はすべて合格する（1e-9 程度以下。1e-7 を超えたらバグ）。
# わざと仕込んだバグは、それがある場所（2 つのヘッドとエンコーダ。1e-3 を超える）でだけ失敗し、
# ほかの場所（デコーダ）は合格のままのはず。失敗しようのない確認では、何も証明できない
assert max(right.values()) < 1e-7, right
before_z = [name for name in bug if not name.startswith("decoder.")]
assert min(bug[name] for name in before_z) > 1e-3, bug
assert max(bug[name] for name in bug if name.startswith("decoder.")) < 1e-7, bug
print("the whole VAE passes; leaving out the KL's direct gradients fails at", ", ".join(before_z))

# %% [markdown]
# それでは、2 次元の VAE（784-400、潜在ベクトルは 2 次元。ライブラリの `--preset vae-2d` と同じ）を学習させましょう。`eps` は、`python -m scratchae.train` と同じく (seed, epoch, step) でシードした生成器から引くので、同じ実行をくり返せばまったく同じ結果になります。`PRETRAINED` がオンのときは、ここで学習させる代わりに、`--preset vae-2d` が全データで 10 エポック学習させた VAE を読み込みます。

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
    init_output_bias(vae, sa.to_device(x_train_host[:N_TRAIN].mean(axis=0), xp))  # 平均画像から始める（レッスン 04）
    opt = sa.Adam(vae, lr=1e-3)
    for epoch in range(EPOCHS):
        order = sa.to_device(epoch_order(N_TRAIN, SEED, epoch), xp)
        for k, (a, b) in enumerate(batch_slices(N_TRAIN, BATCH)):
            vae_step(vae, recon_loss, kl_loss, opt, xp.take(x_train, order[a:b], axis=0),
                     np.random.default_rng([SEED, epoch, k]))
        test = evaluate_vae(vae, x_test, seed=SEED)
        print(f"epoch {epoch + 1}: test recon {test['recon']:.1f} + KL {test['kl']:.2f} = {test['loss']:.1f} nats")

# %% [markdown]
# ## 新しい数字と、潜在平面
#
# これで、サンプリングに意味が生まれました。$z \sim \mathcal N(0, I)$ を引いて復号すれば、新しい数字の画像が得られます（`VAE.sample`）。続いて、ふつうのオートエンコーダのときと同じ図を、箱 $[-3, 3]^2$ の上で描きます。事前分布は、各軸について確率の 99.7% をこの範囲に置いています。

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
# 確認: KL の項が潜在表現を N(0, I) の近くにとどめる。平均は 0 から 0.2 程度以内、
# 潜在表現のおよそ 90% が箱の中に入るはず。平均が 0.5 を超えるか、箱の中が 85% 未満なら、
# KL の項が働いていない
assert np.all(np.abs(vae_codes.mean(0)) < 0.5) and inside > 0.85

# %% [markdown]
# 今度は、潜在表現が 0 のまわりの丸い領域を埋めています。格子点はどこを復号しても数字になり、あるクラスから隣のクラスへと、なめらかに移り変わっていきます。デコーダが、どの潜在表現についても、そのまわりの領域全体で学習しているからです。

# %% [markdown]
# ## 平面の中を動いてみる
#
# 格子では平面のうち 225 点しか見られませんが、エクスプローラを使えば平面のどこへでも行けます。2 本のスライダーで点 $z = (z_1, z_2)$ を決めると、その点からデコーダが描いた画像が、テスト画像の潜在表現の地図の隣に表示されます。地図の上では、その点に印がつきます。もう 2 本のスライダーでテスト画像 $a$ と $b$ を選び、混ぜ具合のスライダー $t$ を動かすと、点 $z = (1 - t)\,\mu_a + t\,\mu_b$ が、一方の画像の潜在表現からもう一方の画像の潜在表現へと移っていきます。ipywidgets がない環境（ふつうのスクリプトや、ipywidgets の入っていないノートブック）では、同じ内容を 1 枚の静止画で表示します。

# %%
from scratchae.explorer import explore

explore(vae, x_test[:2000, ...], y_test[:2000])  # テスト画像の潜在表現 2,000 個: 地図には十分で、描き直しも速い

# %% [markdown]
# ## やってみよう
#
# 1. KL には閉じた式がありますが、ELBO を計算するのに閉じた式は欠かせないものではありません。$\mathrm{KL}(q\,\|\,p) = \mathbb E_{z\sim q}[\log q(z) - \log p(z)]$ なので、サンプルの平均で見積もることもできるからです。$\mu = (1, -0.5)$、$\log\sigma^2 = (0.2, -1)$ の画像 1 枚について、200,000 個のサンプルからモンテカルロ法で KL を見積もり、`kl_forward` の値と比べてください。

# %%
from scratchae.exercises import try_it


def kl_monte_carlo(mu, logvar, n_samples, rng):
    """mu, logvar: (latent,) NumPy arrays -> a Monte Carlo estimate of KL(N(mu, exp(logvar)) || N(0, I))."""
    raise NotImplementedError  # この行を自分の実装に置き換える


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
#     log_p = np.sum(-0.5 * z**2, axis=1)  # log N(z; 0, I)。同じ定数を除く
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
# 2. KL の項に重みを付けてみましょう（$\beta$-VAE、Higgins et al. 2017）。`vae_step` をコピーして、KL の値とその 2 つの勾配に `beta` を掛け、2 次元のモデルを `beta = 0.1` と `beta = 4` で学習させてください。テストデータでの再構成の項と KL の項、そして潜在空間の図は、どう変わるでしょうか。
#
# <details><summary>答え</summary>
#
# $\beta$ を小さくすると、潜在表現は広がり、再構成はくっきりします（再構成の項は下がり、KL は上がります）。図は、すき間のある、ふつうのオートエンコーダの図に近づいていきます。$\beta$ を大きくすると、潜在表現は $\mathcal N(0, I)$ の中にぎゅっと詰め込まれ、再構成はぼやけます（再構成の項は上がり、KL は下がります）。$\beta$ を十分に大きくすると、潜在ベクトルのいくつかの次元は完全に使われなくなります。どの画像に対しても、その次元の $\mu \approx 0$、$\sigma \approx 1$ になってしまうのです。
#
# </details>
#
# 3. `evaluate_vae` は、呼ばれるたびに新しくシードした生成器から `eps` を引きます。学習に使っている生成器の続きから引かないのはなぜでしょうか。
#
# <details><summary>答え</summary>
#
# 2 つのエポックや 2 回の実行でテスト損失に差が出たとき、その差がモデルの違いだけから来るようにするためです。毎回、同じテスト画像には同じ `eps` が使われるので、損失の値に含まれるサンプリングのノイズは、エポックが変わっても同じままです。また、こうしておくと、途中から再開した実行も、中断しなかった実行とまったく同じ数を表示します。
#
# </details>
