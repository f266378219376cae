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
# # 02 · 活性化関数と損失関数
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/02_activations_and_losses.ipynb)
#
# オートエンコーダの全結合層のあいだには、活性化関数がはさまっています（中間層では ReLU、出力層では Sigmoid）。そして最後の層の後ろでは、損失関数が再構成と入力を比べます。このレッスンでは、これらを 1 つずつ自分の手で実装します。時間は、演習を含めて 65〜120 分を見てください。
#
# このレッスンで学ぶこと
# - ReLU とその逆伝播（入力が正だったところだけ勾配が通る）
# - Sigmoid とその導関数 $p(1-p)$、そして教科書どおりの式が float32 でオーバーフローする理由
# - 二値交差エントロピー誤差（BCE）と平均二乗誤差（MSE）、そして BCE が $p$ を 0 と 1 から離すようにクリップする理由
# - BCE と MSE の由来: 出力をベルヌーイ分布、あるいはガウス分布とみなしたときの負の対数尤度（negative log-likelihood）
# - Sigmoid の後に BCE を続けると勾配が $p - t$ という簡単な形になること、そしてそれが、Sigmoid の出力が飽和して勾配が消失する場面で大切になる理由
# - `ReLU`、`Sigmoid`、`BCE`、`MSE` をクラスとして実装する方法（これらのクラスは、レッスン 05 でオートエンコーダ全体に使います）

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
# ## ReLU
#
# $$\text{out} = \max(x, 0), \qquad dx = d\text{out} \odot \mathbb{1}[x > 0]$$
#
# ReLU は要素ごとに計算します。$x$ が正だったところでは、この層は恒等写像なので、上流から来た勾配をそのまま下流へ流します。それ以外のところでは出力は定数 0 なので、勾配も 0 です。（ちょうど $x = 0$ のところには折れ点（kink）があり、傾きが 1 つに決まりません。ここでは PyTorch と同じく、勾配を 0 とします。勾配確認では、入力をこの点から離しておきます。）

# %%
import numpy as np

from scratchae import ReLU, Sigmoid, check_layer, rel_error

rng = np.random.default_rng(0)
x = xp.asarray(rng.standard_normal((4, 6)))  # 確認のための float64
x = x + 0.1 * xp.sign(x)  # 折れ点から 0.1 以上離す。中心差分が折れ点をまたがないように
dout = xp.asarray(rng.standard_normal((4, 6)))


def relu_forward(x):
    return xp.maximum(x, 0.0)


def relu_backward(dout, x):
    return xp.where(x > 0, dout, 0.0)  # 新しい配列を返す。dout そのものは書き換えない


relu = ReLU()
print("forward differs by", rel_error(relu.forward(x), relu_forward(x)))
print("backward differs by", rel_error(relu.backward(dout), relu_backward(dout, x)))

# %%
# 確認: 自分の実装とライブラリの実装は同じ計算なので、ちょうど 0 になるはず。1e-12 を超えたら 2 つは食い違っている。
assert rel_error(relu.forward(x), relu_forward(x)) < 1e-12
assert rel_error(relu.backward(dout), relu_backward(dout, x)) < 1e-12
# ランダムな dout でのライブラリの勾配確認。1e-11 程度になるはずで、1e-7 を超えたらバグ。
assert max(check.error for check in check_layer(relu, x, rng=1).values()) < 1e-7
print("ReLU agrees and passes the gradient check")

# %% [markdown]
# ## Sigmoid とオーバーフローの落とし穴
#
# $$p = \sigma(z) = \frac{1}{1 + e^{-z}}, \qquad \frac{dp}{dz} = p\,(1 - p)$$
#
# この式を書かれたとおりに実装すると、途中で $e^{-z}$ を計算することになります。$z = -1000$ なら、これは $e^{1000}$ です。float32 で表せる最大の数はおよそ $3.4 \times 10^{38}$ で（$z \approx -88$ でこの値に達します）、$e^{1000}$ はそれをはるかに超えます。そのため `np.exp` は無限大を返し、「overflow」という警告を出します。それでも、最終的な答えは $1 / (1 + \infty) = 0$ で正しく求まります。問題は途中に無限大が現れることで、教科書にあるもう 1 つの形を使うとそれがはっきりします。$e^z / (1 + e^z)$ は、$z = +1000$ では $\infty / \infty$ となり、1 ではなく NaN になってしまうのです。（このセルでは、わざと NumPy を使っています。GPU 上の CuPy でも同じようにオーバーフローしますが、警告は出ません。）

# %%
import warnings

z = np.array([-1000.0, 0.0, 1000.0], dtype=np.float32)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    naive = 1 / (1 + np.exp(-z))
    other = np.exp(z) / (1 + np.exp(z))
print("1 / (1 + exp(-z)):   ", naive)
print("exp(z) / (1 + exp(z)):", other)
print("warnings:", sorted({str(w.message) for w in caught}))

# %% [markdown]
# そこでライブラリでは、決してオーバーフローしない恒等式 $\sigma(z) = \tfrac12\,(1 + \tanh(z/2))$ を使います。双曲線正接（tanh）は、引数がどれだけ大きくなっても $\pm 1$ で頭打ちになるので、途中の値が大きくなることはありません。逆伝播は上の式のとおり $dz = d\text{out} \odot p(1-p)$ で、順伝播のときに保持しておいた $p$ をそのまま使います。

# %%
import inspect

print(inspect.getsource(Sigmoid.forward))
sigmoid = Sigmoid()
with warnings.catch_warnings(record=True) as caught_lib:
    warnings.simplefilter("always")
    p_lib = sigmoid.forward(xp.asarray(z))
print("library:", p_lib, "warnings:", len(caught_lib))

z64 = xp.asarray(rng.uniform(-30, 30, size=(4, 6)))  # 教科書の式でも安全な範囲。float64 で
textbook = 1 / (1 + xp.exp(-z64))
print(f"textbook vs library where both are safe: relative error {rel_error(Sigmoid().forward(z64), textbook):.1e}")

# %%
# 確認: ライブラリの Sigmoid は警告を出さず、0、0.5、1 を返す。
assert not caught_lib and [float(v) for v in p_lib] == [0.0, 0.5, 1.0]
# float32 の範囲全体で、値は [0, 1] に収まり、決して減少せず、sigma(-z) = 1 - sigma(z) を保つ。
# 差は 6e-8 程度（float32 の丸め誤差）になるはず。1e-6 を超えたらバグ。
wide = np.sort(np.concatenate([np.linspace(-3e38, 3e38, 2001), np.linspace(-100, 100, 2001)]))
wide = xp.asarray(wide.astype(np.float32))
p_wide = Sigmoid().forward(wide)
assert bool(xp.all((p_wide >= 0) & (p_wide <= 1))) and bool(xp.all(p_wide[1:] >= p_wide[:-1]))
assert float(xp.max(xp.abs(Sigmoid().forward(-wide) - (1 - p_wide)))) < 1e-6
# 両方の式が安全な範囲では同じ関数。1e-16 程度（丸め誤差）になるはずで、1e-12 を超えたら 2 つは食い違っている。
assert rel_error(Sigmoid().forward(z64), textbook) < 1e-12
# Sigmoid の逆伝播をランダムな dout で中心差分と比べる。1e-11 程度になるはずで、1e-7 を超えたらバグ。
assert max(check.error for check in check_layer(Sigmoid(), z64 / 10, rng=2).values()) < 1e-7
print("Sigmoid: no overflow, same values, gradient check passed")

# %% [markdown]
# ## 2 つの損失関数: BCE と MSE
#
# オートエンコーダの出力 $p$（Sigmoid を通った後なので $[0, 1]$ の値です）を、教師データ $t$ と比べます。オートエンコーダの場合、教師データは入力画像そのもので、画素の値は $[0, 1]$ にあります。どちらの損失関数も、$n$ 個の要素すべて（すべての画像のすべての画素）について平均をとります。
#
# $$\text{BCE} = -\frac1n \sum_i \big(t_i \log p_i + (1 - t_i) \log(1 - p_i)\big), \qquad
# \text{MSE} = \frac1n \sum_i (p_i - t_i)^2$$
#
# $$\frac{\partial\,\text{BCE}}{\partial p_i} = \frac1n\,\frac{p_i - t_i}{p_i (1 - p_i)}, \qquad
# \frac{\partial\,\text{MSE}}{\partial p_i} = \frac2n\,(p_i - t_i)$$

# %%
from scratchae import BCE, MSE, check_loss


def bce(p, t):
    return -xp.mean(t * xp.log(p) + (1 - t) * xp.log(1 - p))


def mse(p, t):
    return xp.mean((p - t) ** 2)


p = xp.asarray(rng.uniform(0.05, 0.95, size=(4, 6)))  # 予測。いまのところ 0 と 1 からは離しておく
t = xp.asarray(rng.uniform(0.0, 1.0, size=(4, 6)))  # 教師データ: 画素の濃淡
print(f"BCE ours {float(bce(p, t)):.10f}  library {float(BCE().forward(p, t)):.10f}")
print(f"MSE ours {float(mse(p, t)):.10f}  library {float(MSE().forward(p, t)):.10f}")

# %%
# 確認: 同じ式なので 1e-16 程度になるはず。1e-12 を超えたら 2 つは食い違っている。
assert rel_error(bce(p, t), BCE().forward(p, t)) < 1e-12
assert rel_error(mse(p, t), MSE().forward(p, t)) < 1e-12
# それぞれの逆伝播を順伝播の中心差分と比べる。1e-11〜1e-8 になるはず（BCE は p = 0.05 の近くで大きく曲がる）。
# 1e-7 を超えたらバグ。
for loss in (BCE(), MSE()):
    error = check_loss(loss, p, t)["pred"].error
    print(f"{loss!r}: gradient check, relative error {error:.1e}")
    assert error < 1e-7
print("both losses agree and pass the gradient check")

# %% [markdown]
# ## 2 つの損失関数はどこから来るのか
#
# 出力 $p_i$ を、画素 $i$ の値についての確率モデルと解釈してみましょう。画素 $i$ が確率 $p_i$ で 1、残りの確率 $1 - p_i$ で 0 になる（ベルヌーイ分布に従う）とし、さらに画素どうしは独立だとします。すると、画像 $t$ が得られる確率は各画素の確率の積になり、その負の対数がちょうど BCE（の $n$ 倍）になります。
#
# $$P(t \mid p) = \prod_i p_i^{t_i} (1 - p_i)^{1 - t_i}, \qquad
# -\log P(t \mid p) = -\sum_i \big(t_i \log p_i + (1 - t_i) \log(1 - p_i)\big) = n \cdot \text{BCE}$$
#
# 画素 $i$ が、平均 $p_i$、固定された分散 $\sigma^2$ のガウス分布に従うと考えた場合も、同じ手順で MSE が出てきます。
#
# $$p(t \mid p) = \prod_i \frac{1}{\sqrt{2\pi\sigma^2}} e^{-(t_i - p_i)^2 / 2\sigma^2}, \qquad
# -\log p(t \mid p) = \frac{1}{2\sigma^2} \sum_i (t_i - p_i)^2 + \frac n2 \log(2\pi\sigma^2)
# = \frac{n}{2\sigma^2}\,\text{MSE} + \text{const}$$
#
# つまり、どちらの損失関数を最小化することも、最尤推定（maximum likelihood estimation）にほかなりません。モデルの出力のもとで、入力画像ができるだけ起こりやすくなるようにしているわけです。2 つの損失関数の違いは、画素にどんなノイズを仮定するかだけです。（MNIST の画素は濃淡をもつ値で、0 か 1 だけではありません。それでも BCE の式は損失関数として問題なく使え、$p = t$ のときに最小になります。）レッスン 13 の変分オートエンコーダ（VAE）は、この考え方の上に成り立っています。VAE が最大化する ELBO（evidence lower bound、エビデンス下界）は、この対数尤度の期待値から KL の項を引いたもの、$\text{ELBO} = \mathbb E[\log p(x \mid z)] - \mathrm{KL}$ です（$x$ は入力画像、$z$ は潜在ベクトル）。したがって、損失関数として最小化する $-\text{ELBO}$ は、ここで導いた負の対数尤度に KL の項を足したものになります。
#
# **確認。** 下のセルでは、2 つの負の対数尤度を、損失関数とは独立した別の方法で計算します。ホスト上で Python の `math` を使い、確率そのものを掛け合わせてから対数をとるのです（上の式の左辺にあたります）。差は 1e-15 程度（丸め誤差）になるはずです。1e-12 を超えたら、導出のどこかが間違っています。

# %%
import math

from scratchae import to_numpy

t_bits = xp.asarray(rng.integers(0, 2, size=(4, 6)).astype(np.float64))  # 白黒の画像: 0 か 1
n, sigma = p.size, 0.3
p_host, bits_host, t_host = (to_numpy(a).ravel().tolist() for a in (p, t_bits, t))  # Python の float
bernoulli = math.prod(pi if ti == 1.0 else 1 - pi for pi, ti in zip(p_host, bits_host))  # P(t | p)
gauss = math.prod(math.exp(-(ti - pi) ** 2 / (2 * sigma**2)) / math.sqrt(2 * math.pi * sigma**2)
                  for pi, ti in zip(p_host, t_host))  # p(t | p)。確率ではなく確率密度
nll_bernoulli, nll_gauss = -math.log(bernoulli), -math.log(gauss)
from_bce = n * float(BCE().forward(p, t_bits))
from_mse = n / (2 * sigma**2) * float(MSE().forward(p, t)) + n / 2 * math.log(2 * math.pi * sigma**2)
print(f"Bernoulli: -log P = {nll_bernoulli:.12f}, n * BCE = {from_bce:.12f}")
print(f"Gaussian:  -log p = {nll_gauss:.12f}, n / (2 sigma^2) * MSE + const = {from_mse:.12f}")

# %%
# 確認: 導いたとおり、それぞれの負の対数尤度は対応する損失関数に等しい。1e-12 を超えたら、どこかの手順が間違っている。
assert abs(nll_bernoulli - from_bce) < 1e-12 * abs(nll_bernoulli), (nll_bernoulli, from_bce)
assert abs(nll_gauss - from_mse) < 1e-12 * abs(nll_gauss), (nll_gauss, from_mse)
print("BCE is the Bernoulli negative log-likelihood per pixel, MSE the Gaussian one up to scale and a constant")

# %% [markdown]
# ## 0 と 1 でのクリップ
#
# float32 では、ライブラリの Sigmoid は $z \le -20$ でちょうど 0 を、$z \ge 17.4$ でちょうど 1 を返します（実際に測った値です）。そのような画素の教師データが反対側の端（出力 0 に対して 1、出力 1 に対して 0）だと、$\log 0 = -\infty$ が現れます。たった 1 つの画素のせいでミニバッチ全体の損失が無限大になり、勾配 $1 / (p(1-p))$ の計算でも 0 で割ることになってしまいます。そこでライブラリは、Keras と同じように、まず $p$ を $[\epsilon, 1 - \epsilon]$（$\epsilon = 10^{-7}$）の範囲にクリップします。こうすれば、各画素の損失は最大でも $-\log \epsilon \approx 16.1$ に収まります。そのときの勾配はおよそ $1/(n\epsilon)$ と非常に大きくなりますが、有限です。

# %%
p_edge = xp.asarray([0.0, 1.0, 0.5], dtype=xp.float32)
t_edge = xp.asarray([1.0, 0.0, 1.0], dtype=xp.float32)  # 最初の 2 つは、これ以上ないほど間違った予測
with warnings.catch_warnings(record=True):
    warnings.simplefilter("ignore")  # NumPy では log(0) が "divide by zero" の警告を出す
    print("unclipped:", float(bce(p_edge, t_edge)))
library_edge = BCE()
print("library:  ", float(library_edge.forward(p_edge, t_edge)))
print("gradient: ", library_edge.backward())

# %%
# 確認: 損失は有限で、間違った画素の損失はそれぞれ約 -log(1e-7) = 16.1（float32 では 1 - 1e-7 が丸められるので、1 つは 15.9）。
# 16.12、15.94、log 2 の平均はおよそ 10.9。誤差が 1e-3 を超えたら、クリップが効いていない。
expected = (-np.log(1e-7) - np.log1p(-np.float32(1 - 1e-7)) + np.log(2)) / 3
assert abs(float(library_edge.forward(p_edge, t_edge)) - expected) < 1e-3 * expected
print(f"clipped BCE {float(library_edge.forward(p_edge, t_edge)):.4f}, expected {expected:.4f}")

# %% [markdown]
# ## Sigmoid と BCE を組み合わせると: $p - t$
#
# 出力が $p = \sigma(z)$ のとき、連鎖律により、BCE の勾配に Sigmoid の勾配が掛けられます。すると、扱いにくい分母がきれいに消えます。
#
# $$\frac{\partial\,\text{BCE}}{\partial z_i} = \frac1n\,\frac{p_i - t_i}{p_i(1-p_i)} \cdot p_i(1 - p_i) =
# \frac{p_i - t_i}{n}$$
#
# ライブラリは、これを `BCE.backward_logits()` として用意しています。計算量が少ないうえに、より正確でもあります。Sigmoid の float32 の出力がちょうど 0 か 1 になった状態を、Sigmoid が*飽和*したといいます。出力が飽和すると、2 段階に分けた連鎖律では $p(1-p) = 0$ が掛かるので、勾配が消失してしまいます。その画素の予測が完全に間違っていても、です。一方、$p - t$ の形なら、飽和していても誤差に比例した勾配が残ります。

# %%
z32 = xp.asarray([-30.0, -5.0, 0.0, 5.0, 30.0], dtype=xp.float32)  # float32 では -20 より下で p がちょうど 0
t32 = xp.asarray([1.0, 1.0, 1.0, 0.0, 0.0], dtype=xp.float32)  # 外側の 2 つは、間違った側の端で飽和している
out_sigmoid, loss = Sigmoid(), BCE()
p32 = out_sigmoid.forward(z32)
loss.forward(p32, t32)
chained = out_sigmoid.backward(loss.backward())  # BCE の dL/dp、次に Sigmoid の逆伝播
fused = loss.backward_logits()  # (p - t) / n を 1 段で求める
print("p:      ", p32)
print("chained:", chained)
print("fused:  ", fused)

# %%
# 確認 1: 飽和していないところでは、float32 の丸め誤差の範囲で一致する（1e-7 程度。1e-5 を超えたらバグ）。
assert rel_error(chained[1:4], fused[1:4]) < 1e-5
# 確認 2: 飽和した両端では、2 段階の連鎖律は勾配を失う（ちょうど 0）。p - t は大きさ 1/n の勾配を保つ。
assert float(chained[0]) == 0.0 and float(chained[4]) == 0.0
assert abs(float(fused[0]) + 1 / 5) < 1e-6 and abs(float(fused[4]) - 1 / 5) < 1e-6
# 確認 3: float64 で飽和から離れたところでは、backward_logits は厳密な dL/dz に等しい
# （z -> BCE(sigmoid(z), t) の中心差分と比べる）。1e-10 程度になるはずで、1e-7 を超えたらバグ。
from scratchae import numerical_gradient

z64, t64 = xp.asarray(rng.uniform(-4, 4, size=(3, 5))), xp.asarray(rng.uniform(0, 1, size=(3, 5)))
loss64 = BCE()
loss64.forward(Sigmoid().forward(z64), t64)
fused64 = loss64.backward_logits()
numeric = numerical_gradient(lambda: float(BCE().forward(Sigmoid().forward(z64), t64)), z64)  # z64 の要素を少しずつ動かす
print(f"backward_logits vs central differences: relative error {rel_error(numeric, fused64):.1e}")
assert rel_error(numeric, fused64) < 1e-7

# %% [markdown]
# オートエンコーダの学習ステップでは、この組み合わせた形を使います。`model.backward(loss.backward_logits(), skip_last=True)` とすると、出力の Sigmoid を飛ばし、その 1 つ手前の層から誤差逆伝播法が始まります。実際の使い方は、レッスン 04 で見ます。
#
# ## 自分のクラス
#
# それでは、ここまでの 4 つの部品を、レッスン 01 の `Dense` と同じように、ライブラリの層の約束に従うクラスとして実装しましょう。活性化関数はパラメータをもたないので、`params` と `grads` は空の辞書です。`forward` は、`backward` で必要になるもの（ReLU ならマスク、Sigmoid なら出力）を保持しておきます。損失関数には、損失の平均を返す `forward(pred, target)` と、dL/dpred を返す `backward()` を用意します。これらのクラスも残しておいてください。レッスン 05 では、これらを使ってオートエンコーダを組み立てます。（なお、これらのクラスは $p - t$ の近道を使わず、Sigmoid を通る連鎖律で勾配を計算します。どちらでも同じ学習ステップになることは、レッスン 05 で確かめます。）

# %%
import scratchae as sa


class ReLU:
    """out = max(x, 0), element by element."""

    def __init__(self):
        self.params, self.grads = {}, {}
        self.mask = None

    def forward(self, x):
        self.mask = x > 0
        return xp.where(self.mask, x, 0.0)

    def backward(self, dout):
        return xp.where(self.mask, dout, 0.0)  # x > 0 のところだけ勾配を通す


class Sigmoid:
    """out = 1 / (1 + exp(-x)), computed as (1 + tanh(x / 2)) / 2, which never overflows."""

    def __init__(self):
        self.params, self.grads = {}, {}
        self.out = None

    def forward(self, x):
        self.out = (1.0 + xp.tanh(x / 2.0)) / 2.0
        return self.out

    def backward(self, dout):
        return dout * self.out * (1.0 - self.out)


class BCE:
    """L = -mean(t log p + (1 - t) log(1 - p)), with p clipped to [eps, 1 - eps]."""

    def __init__(self, eps=1e-7):
        self.eps = eps
        self.p = self.t = None

    def forward(self, pred, target):
        self.p, self.t = xp.clip(pred, self.eps, 1.0 - self.eps), target
        return -xp.mean(target * xp.log(self.p) + (1.0 - target) * xp.log(1.0 - self.p))

    def backward(self):
        return (self.p - self.t) / (self.p * (1.0 - self.p)) / self.p.size  # dL/dpred。形は pred と同じ


class MSE:
    """L = mean((pred - target)^2)."""

    def __init__(self):
        self.diff = None

    def forward(self, pred, target):
        self.diff = pred - target
        return xp.mean(self.diff**2)

    def backward(self):
        return 2.0 * self.diff / self.diff.size


agree = {}
for name, mine, theirs in (("ReLU", ReLU(), sa.ReLU()), ("Sigmoid", Sigmoid(), sa.Sigmoid())):
    agree[name] = max(rel_error(mine.forward(x), theirs.forward(x)),
                      rel_error(mine.backward(dout), theirs.backward(dout)))
for name, mine, theirs in (("BCE", BCE(), sa.BCE()), ("MSE", MSE(), sa.MSE())):
    agree[name] = max(rel_error(mine.forward(p, t), theirs.forward(p, t)),
                      rel_error(mine.backward(), theirs.backward()))
checks = {"ReLU": check_layer(ReLU(), x, rng=3), "Sigmoid": check_layer(Sigmoid(), x, rng=4),
          "BCE": check_loss(BCE(), p, t), "MSE": check_loss(MSE(), p, t)}
for name in agree:
    print(f"{name:8s} against the library {agree[name]:.1e}, "
          f"gradient check {max(c.error for c in checks[name].values()):.1e}")

# %%
# 確認: どのクラスもライブラリのクラスと一致し（1e-16 程度。1e-12 を超えたら食い違っている）、
# ランダムな dout での勾配確認に合格する（1e-11〜1e-8。1e-7 を超えたらバグ）。
assert max(agree.values()) < 1e-12, agree
assert max(c.error for report in checks.values() for c in report.values()) < 1e-7
print("your ReLU, Sigmoid, BCE and MSE agree with the library's")

# %% [markdown]
# ## やってみよう
#
# 1. MSE の逆伝播 $\partial\,\text{MSE}/\partial p$ を実装してください。予測 `p` と教師データ `t` は、どんな形でもかまいません。セルは、結果を `mse` の中心差分と比べます。

# %%
from scratchae.exercises import try_it


def mse_backward(p, t):
    """p, t: same shape -> dL/dp, same shape, for L = mean((p - t) ** 2)."""
    raise NotImplementedError  # この行を自分の実装に置き換える


def check_mse_backward():
    p_try = xp.asarray(rng.uniform(0, 1, size=(3, 4)))
    numeric = numerical_gradient(lambda: float(mse(p_try, t[:3, :4])), p_try)
    error = rel_error(numeric, mse_backward(p_try, t[:3, :4]))
    assert error < 1e-7, f"relative error {error:.1e}: expect about 1e-10 (did you divide by the number of elements?)"


try_it("MSE backward", check_mse_backward)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def mse_backward(p, t):
#     """p, t: same shape -> dL/dp, same shape, for L = mean((p - t) ** 2)."""
#     return 2 * (p - t) / p.size  # 平均なので、バッチの大きさではなく全要素の数で割る
#
#
# def check_mse_backward():
#     p_try = xp.asarray(rng.uniform(0, 1, size=(3, 4)))
#     numeric = numerical_gradient(lambda: float(mse(p_try, t[:3, :4])), p_try)
#     error = rel_error(numeric, mse_backward(p_try, t[:3, :4]))
#     assert error < 1e-7, f"relative error {error:.1e}: expect about 1e-10 (did you divide by the number of elements?)"
#
#
# try_it("MSE backward", check_mse_backward)
# ```
#
# </details>
#
# 2. BCE の代わりに、MSE を Sigmoid の後ろに置いたとします。$\partial\,\text{MSE}/\partial z$ はどうなるでしょうか。また、上で見た 2 つの飽和した画素では、その値はどうなるでしょうか。ライブラリの `sa.Sigmoid` と `sa.MSE` を使って、答えを確かめてください。
#
# <details><summary>答え</summary>
#
# $\frac2n (p - t)\, p (1 - p)$ となり、$p(1-p)$ の因子が消えずに残ります。間違った側の端で飽和した画素では、この値は 0（あるいはごく小さな値）です。つまり Sigmoid の後ろに MSE を置くと、出力が飽和して勾配が消失するため、いちばん間違っているところほど学習が遅くなるのです。BCE では $\log$ がこの因子を打ち消します。これが、MNIST のオートエンコーダを BCE で学習させると MSE より速く進む理由の 1 つです。
#
# </details>
#
# 3. $-\log(1 - (1 - 10^{-7}))$ を、float32 と float64 のそれぞれで計算してください。float32 では、$p = 1$、$t = 0$ の画素のクリップ後の損失が 16.1 ではなく 15.9 になるのはなぜでしょうか。
#
# <details><summary>答え</summary>
#
# 1 の近くでは、float32 で表せる数は $2^{-24} \approx 6 \times 10^{-8}$ おきにしかありません。そのため $1 - 10^{-7}$ は $1 - 2 \cdot 2^{-24} = 1 - 1.19 \times 10^{-7}$ に丸められ、$-\log(1.19 \times 10^{-7}) = 15.94$ となります。一方、0 の近くではこの問題は起きません。float32 は $10^{-7}$ を 7 桁の精度で表せるので、$p = 0$、$t = 1$ の画素の損失は、丸めの影響を受けずに 16.12 になります。
#
# </details>
