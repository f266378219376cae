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
# # 03 · SGD から Adam へ
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/03_sgd_to_adam.ipynb)
#
# 逆伝播によって、すべてのパラメータの勾配が求まるようになりました。次に必要なのは、その勾配をもとに重みを実際にどれだけ動かすかを決める仕組みです。これが最適化手法の役割です。このレッスンでは、答えがあらかじめわかっている小さな問題を使って、素朴な勾配降下法（SGD）と Adam を動かしてみます。続いて、Adam のバイアス補正が最初の数ステップで何をしているのかをグラフで確かめ、最後にライブラリの Adam を論文のアルゴリズムと 1 行ずつ照らし合わせます。時間は、演習を含めて 55〜100 分を見てください。
#
# このレッスンで学ぶこと
# - SGD と Adam の更新式、そして 1 つの学習率ではすべての方向にうまく合わない理由
# - Adam のバイアス補正が何を直しているのか（最初の数ステップをグラフにして確かめます）
# - 最適化手法の正しさの確かめ方: SGD は閉じた式（closed form）と、Adam は Kingma と Ba（2015 年）の Algorithm 1 をそのまま書き写した実装と比べます
# - Adam を 2 つに分けると、Momentum と RMSProp になること
# - モデルの名前付きパラメータを扱うクラスとして `Adam` を実装する方法（レッスン 05 で使います）

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
# ## 答えのわかっている谷で SGD を動かす
#
# 勾配降下法は、勾配 $g = \nabla_\theta L$ と逆の向きにパラメータを動かします。このとき学習率 $\eta$ は 1 つだけで、すべてのパラメータに同じ値を使います。これを $L(\theta) = \tfrac12 (a_1 \theta_1^2 + a_2 \theta_2^2)$、$a = (1, 1000)$ という関数で試してみましょう。この関数は細長い谷の形をしていて、$\theta_2$ の方向は $\theta_1$ の方向より 1000 倍も急です。勾配は $a \odot \theta$ なので、SGD の 1 ステップは、各座標に決まった係数をかけるだけです。したがって、$t$ ステップ後の値は次のように式で書けます。
#
# $$\theta \leftarrow \theta - \eta\, g, \qquad \theta_i^{(t)} = (1 - \eta\, a_i)^t\, \theta_i^{(0)}$$
#
# 急な方向が発散しないためには、$\eta < 2/1000$ でなければなりません。ところがそうすると、ゆるやかな方向は 1 ステップあたり $1 - \eta$ 倍にしかならず、なかなか縮みません。ライブラリの最適化手法は、`named_params()` メソッドを持つオブジェクトなら何にでも使えます。そこで、$\theta$ を持たせるだけの小さなクラスを用意します。

# %%
import numpy as np

from scratchae import SGD, Adam, rel_error


class Valley:
    """L(theta) = 1/2 sum(a * theta**2), holding theta and its gradient the way a model holds its weights."""

    def __init__(self, a, theta):
        self.a, self.theta = xp.asarray(a), xp.asarray(theta)
        self.grad = xp.zeros_like(self.theta)

    def loss_and_backward(self):
        self.grad = self.a * self.theta  # 層の backward と同じく、毎ステップ新しい配列を代入する
        return float(0.5 * xp.sum(self.a * self.theta**2))

    def named_params(self):
        yield "theta", self.theta, self.grad


def descend(valley, optimizer, steps):
    losses = []
    for _ in range(steps):
        losses.append(valley.loss_and_backward())
        optimizer.step()
    return losses


a, theta0, steps = [1.0, 1000.0], [1.0, 1.0], 200
sgd_valley = Valley(a, theta0)
sgd_losses = descend(sgd_valley, SGD(sgd_valley, lr=0.0019), steps)
closed_form = (1 - 0.0019 * np.asarray(a)) ** steps * np.asarray(theta0)
print("SGD after", steps, "steps:", sgd_valley.theta, " closed form:", closed_form)

# %%
# 確認: SGD は閉じた式と一致する。相対誤差は 1e-15 程度（200 ステップ分の丸め誤差）で、1e-12 を超えたらバグ。
assert rel_error(sgd_valley.theta, closed_form) < 1e-12
print(f"SGD vs closed form: relative error {rel_error(sgd_valley.theta, closed_form):.1e}")

# %% [markdown]
# ## Adam
#
# Adam は、パラメータごとに 2 つの移動平均を持ちます。1 つは勾配の移動平均 $m$、もう 1 つは勾配の 2 乗の移動平均 $v$ です。そして、この 2 つの比を使ってパラメータを更新します。比をとることで勾配の大きさが打ち消されるので、どの座標も、その尺度に関係なくほぼ同じ速さで動くことになります。
#
# $$m \leftarrow \beta_1 m + (1 - \beta_1) g, \qquad v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \qquad
# \theta \leftarrow \theta - \eta\, \frac{\hat m}{\sqrt{\hat v} + \epsilon}, \quad
# \hat m = \frac{m}{1 - \beta_1^t},\; \hat v = \frac{v}{1 - \beta_2^t}$$
#
# 次のセルの `PaperAdam` では、論文（Kingma & Ba, arXiv 1412.6980）の Algorithm 1 をそのまま実装します。アルゴリズムの 1 行が実装の 1 行に対応するように書き、既定値も論文と同じ $\alpha = 0.001$、$\beta_1 = 0.9$、$\beta_2 = 0.999$、$\epsilon = 10^{-8}$ にしてあります。論文の $\alpha$ は学習率のことで、上の式の $\eta$ にあたります。ライブラリの Adam は、その後で取り上げます。

# %%
class PaperAdam:
    """Algorithm 1 of Kingma & Ba (2015), literally, for a dict of parameters updated in place."""

    def __init__(self, params, alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        self.alpha, self.beta1, self.beta2, self.eps = alpha, beta1, beta2, eps
        self.m = {name: xp.zeros_like(p) for name, p in params.items()}  # m_0 <- 0
        self.v = {name: xp.zeros_like(p) for name, p in params.items()}  # v_0 <- 0
        self.t = 0  # t <- 0

    def step(self, params, grads):
        self.t = self.t + 1  # t <- t + 1
        for name, theta in params.items():
            g = grads[name]  # g_t <- theta_{t-1} での勾配
            self.m[name] = self.beta1 * self.m[name] + (1 - self.beta1) * g  # 偏りのある 1 次モーメント
            self.v[name] = self.beta2 * self.v[name] + (1 - self.beta2) * g**2  # 偏りのある 2 次モーメント（g の 2 乗の平均）
            m_hat = self.m[name] / (1 - self.beta1**self.t)  # バイアス補正した 1 次モーメント
            v_hat = self.v[name] / (1 - self.beta2**self.t)  # バイアス補正した 2 次モーメント
            theta -= self.alpha * m_hat / (xp.sqrt(v_hat) + self.eps)  # その場で更新する。params[name] も変わる


adam_valley = Valley(a, theta0)
paper = PaperAdam({"theta": adam_valley.theta}, alpha=0.02)
adam_losses = []
for _ in range(steps):
    adam_losses.append(adam_valley.loss_and_backward())
    paper.step({"theta": adam_valley.theta}, {"theta": adam_valley.grad})

import matplotlib.pyplot as plt

plt.figure(figsize=(6, 3))
plt.semilogy(sgd_losses, label="SGD, lr 0.0019 (above 0.002 it diverges)")
plt.semilogy(adam_losses, label="Adam, lr 0.02")
plt.xlabel("step")
plt.ylabel("loss")
plt.legend()
plt.show()
print(f"after {steps} steps: SGD loss {sgd_losses[-1]:.1e}, Adam loss {adam_losses[-1]:.1e}")

# %% [markdown]
# SGD の学習率の上限は、急な方向によって決まってしまいます。そのため SGD は、急な方向こそ数ステップで落ち着かせるものの、その後はゆるやかな方向に沿ってごくゆっくりとしか進めません。一方 Adam は、各座標のステップを、その座標自身の勾配の大きさで割ります。その結果、$a$ の値に関係なく、どちらの座標も 1 ステップにおよそ $\eta$ ずつ動きます（実際、この谷での Adam の軌跡は、$a = (1, 1)$ としても同じになるはずです）。Adam の曲線に見えるくぼみは、Momentum にあたる移動平均 $m$ の勢いで谷底を行き過ぎ、また引き返してくるために生じます。それでも 200 ステップ後には、Adam の損失は SGD のおよそ 100 万分の 1 になっています。
#
# ## 最初の数ステップで見るバイアス補正
#
# $m$ と $v$ はどちらも 0 から始まるので、はじめのうちは本来の値より小さくなっています。たとえば一定の勾配 $g$ が $t$ ステップ続いたとすると、$m = (1 - \beta_1^t)\, g$、$v = (1 - \beta_2^t)\, g^2$ となります。$1 - \beta^t$ で割るのは、ちょうどこの係数を打ち消すためです。もし補正をしなければ、ステップは $\eta\,(1 - \beta_1^t) / \sqrt{1 - \beta_2^t}$ となります。$\beta_1 = 0.9$、$\beta_2 = 0.999$ なら、ステップ 1 では本来の $0.1 / \sqrt{0.001} \approx 3.2$ 倍にもなります。この倍率はその後さらに大きくなり、ステップ 12 で最大の 6.57 倍に達します。というのも、$v$ は $m$ より 100 倍ゆっくりと立ち上がるからです。

# %%
t = np.arange(1, 3001)
g = 1.0  # 一定の勾配。このとき理想のステップは、ちょうど lr に g / (|g| + eps) をかけたもの
m, v = (1 - 0.9**t) * g, (1 - 0.999**t) * g**2  # t ステップの後に 2 つの漸化式が与える値
uncorrected = m / (np.sqrt(v) + 1e-8)
corrected = (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)

plt.figure(figsize=(6, 3))
plt.semilogx(t, uncorrected, label="without bias correction")
plt.semilogx(t, corrected, label="with bias correction (Adam)")
plt.xlabel("step t")
plt.ylabel("step size / lr")
plt.legend()
plt.show()
print(f"without correction: step 1 is {uncorrected[0]:.2f} lr, the largest {uncorrected.max():.2f} lr at step "
      f"{t[uncorrected.argmax()]}; still {uncorrected[999]:.2f} lr at step 1000")

# %%
# 確認: ライブラリの Adam に一定の勾配 1 を与えると、各ステップで lr * 1 / (1 + eps) だけ動く。
# ステップと lr の比のずれは 1e-8 程度（eps の大きさ）のはず。1e-6 を超えてずれたら補正が間違っている。
# 次に、ライブラリのステップから補正を取り除くと、上の曲線と一致するはず（eps による差は 3e-7 程度）。
flat = Valley([0.0], [0.0])
flat.grad = xp.asarray([1.0])  # 計算し直さないので、毎ステップ同じ勾配
library_adam = Adam(flat, lr=0.001)
positions = [0.0]
for _ in range(20):
    library_adam.step()
    positions.append(float(flat.theta[0]))
library_steps = -np.diff(positions) / 0.001
print("library's first steps / lr:", np.round(library_steps[:5], 10))
assert np.max(np.abs(library_steps - 1)) < 1e-6
k = t[:20]
undone = library_steps * (1 - 0.9**k) / np.sqrt(1 - 0.999**k)  # ライブラリのステップから補正を除いたもの
print(f"largest difference from the curve above: {np.max(np.abs(undone / uncorrected[:20] - 1)):.1e}")
assert np.max(np.abs(undone / uncorrected[:20] - 1)) < 1e-5

# %% [markdown]
# ## ライブラリの Adam と Algorithm 1 を比べる
#
# `scratchae.Adam` は、これと同じ計算を、より少ない配列演算で行います。論文の Section 2 で示されているとおり、2 つのバイアス補正を、スカラーのステップ幅 1 つと、倍率をかけた $\epsilon$ 1 つにまとめてしまうのです。式で書くと $\eta\, \hat m / (\sqrt{\hat v} + \epsilon) = \eta_t\, m / (\sqrt{v} + \hat\epsilon)$ で、ここで $\eta_t = \eta \sqrt{1 - \beta_2^t} / (1 - \beta_1^t)$、$\hat\epsilon = \epsilon \sqrt{1 - \beta_2^t}$ です。この 2 つの形は、丸め誤差のない正確な計算では等しくなります。したがって、float64 で同じモデルを 2 つ用意し、それぞれの最適化手法で並べて学習させれば、両者は丸め誤差の範囲で一致し続けるはずです。

# %%
import inspect

print(inspect.getsource(Adam.step))

# %%
from scratchae import MSE, Dense, ReLU, Sequential


def small_model():
    return Sequential([Dense(8, 16, rng=0, xp=xp, dtype="float64"), ReLU(), Dense(16, 8, rng=1, xp=xp, dtype="float64")])


rng = np.random.default_rng(0)
x, target = xp.asarray(rng.standard_normal((32, 8))), xp.asarray(rng.standard_normal((32, 8)))
ours, theirs = small_model(), small_model()
start = {name: xp.asarray(p, copy=True) for name, p, _ in theirs.named_params()}
library_adam = Adam(theirs, lr=0.01)
paper = PaperAdam(dict((name, p) for name, p, _ in ours.named_params()), alpha=0.01)
for step in range(50):
    for model in (ours, theirs):
        loss = MSE()
        loss.forward(model.forward(x), target)
        model.backward(loss.backward())
    library_adam.step()
    paper.step({n: p for n, p, _ in ours.named_params()}, {n: g for n, _, g in ours.named_params()})

difference = max(rel_error(p, q) for (_, p, _), (_, q, _) in zip(ours.named_params(), theirs.named_params()))
moved = min(rel_error(p, start[name]) for name, p, _ in theirs.named_params())
print(f"after 50 steps: weights moved by at least {moved:.1e}; library vs Algorithm 1 differ by {difference:.1e}")

# %%
# 確認: 重みは確かに動いており（1e-3 より大きい）、2 つの最適化手法は丸め誤差の範囲で一致する。
# 差は 1e-15 程度のはず。1e-10 を超えたら、ライブラリの Adam は論文の Adam になっていない。
assert moved > 1e-3
assert difference < 1e-10

# %% [markdown]
# ## Adam を 2 つに分ける: Momentum と RMSProp
#
# 『ゼロから作るDeep Learning』では、SGD から始めて、Momentum、AdaGrad、Adam の順に最適化手法を学びました。実は Adam は、このうち真ん中の 2 つを組み合わせたものとみなせます。まず、Adam の更新式の分子にある $m$ が Momentum にあたります。Momentum は速度 $v$ を持ち、$v \leftarrow \alpha v - \eta g$、$\theta \leftarrow \theta + v$ と更新するのでした（この $\alpha$ は同書の表記どおり Momentum の係数で、論文の Adam の学習率 $\alpha$ とは別のものです）。一方、Adam から 2 乗の移動平均 $v$ を取り除いて（バイアス補正も外します）、$m \leftarrow \beta_1 m + (1 - \beta_1) g$、$\theta \leftarrow \theta - \eta\, m$ としたものを考えます。この 1 行目の両辺に $-\eta$ をかけると、次の式が得られます。
#
# $$-\eta\, m_t = \beta_1 (-\eta\, m_{t-1}) - \eta (1 - \beta_1)\, g_t$$
#
# これは、速度を $v = -\eta\, m$ とし、$\alpha = \beta_1$、学習率を $\eta(1 - \beta_1)$ とした Momentum そのものです。
#
# 次に、分母の $\sqrt{v}$ は、AdaGrad を改良した RMSProp にあたります。AdaGrad は、これまでの勾配の 2 乗をすべて足し合わせた和 $h \leftarrow h + g^2$ の平方根で割るので、ステップはいつまでも小さくなり続けます。RMSProp は、和の代わりに移動平均をとります。更新式は $v \leftarrow \beta_2 v + (1 - \beta_2) g^2$、$\theta \leftarrow \theta - \eta\, g / (\sqrt{v} + \epsilon)$ です。ここで Adam の $\beta_1$ を 0 にすると、$m = \hat m = g$ となるので、更新式は次のようになります。
#
# $$\theta \leftarrow \theta - \eta\, \frac{g}{\sqrt{\hat v} + \epsilon}, \qquad \hat v = \frac{v}{1 - \beta_2^t}$$
#
# これは、$v$ に Adam のバイアス補正を加えた RMSProp です。まとめると、Adam は分子が Momentum、分母が RMSProp で、その両方にバイアス補正をかけたもの、ということになります。次のセルでは、この 3 つの手法を谷の問題に対して実装し、2 つの等式が成り立つことを確かめます。

# %%
import scratchae as sa


class Momentum:
    """Deep Learning from Scratch's Momentum: v <- alpha v - lr g;  p <- p + v.  One v per parameter name."""

    def __init__(self, model, lr, alpha=0.9):
        self.model, self.lr, self.alpha = model, lr, alpha
        self.v = {name: xp.zeros_like(p) for name, p, _ in model.named_params()}

    def step(self):
        for name, p, g in self.model.named_params():
            self.v[name] = self.alpha * self.v[name] - self.lr * g
            p += self.v[name]


class AdamTop:
    """Adam's first half alone: m <- beta1 m + (1 - beta1) g;  p <- p - lr m (no v, no bias correction)."""

    def __init__(self, model, lr, beta1=0.9):
        self.model, self.lr, self.beta1 = model, lr, beta1
        self.m = {name: xp.zeros_like(p) for name, p, _ in model.named_params()}

    def step(self):
        for name, p, g in self.model.named_params():
            self.m[name] = self.beta1 * self.m[name] + (1 - self.beta1) * g
            p -= self.lr * self.m[name]


class RMSProp:
    """v <- beta2 v + (1 - beta2) g^2;  p <- p - lr g / (sqrt(v_hat) + eps), v_hat = v / (1 - beta2^t)."""

    def __init__(self, model, lr, beta2=0.999, eps=1e-8):
        self.model, self.lr, self.beta2, self.eps = model, lr, beta2, eps
        self.v = {name: xp.zeros_like(p) for name, p, _ in model.named_params()}
        self.t = 0

    def step(self):
        self.t += 1
        for name, p, g in self.model.named_params():
            self.v[name] = self.beta2 * self.v[name] + (1 - self.beta2) * g**2
            v_hat = self.v[name] / (1 - self.beta2**self.t)  # Adam の補正。本来の RMSProp にはない
            p -= self.lr * g / (xp.sqrt(v_hat) + self.eps)


def final_theta(make_optimizer, steps=200):
    valley = Valley(a, theta0)
    descend(valley, make_optimizer(valley), steps)
    return valley.theta


momentum = final_theta(lambda m: Momentum(m, lr=0.01 * (1 - 0.9), alpha=0.9))
top = final_theta(lambda m: AdamTop(m, lr=0.01, beta1=0.9))
rmsprop = final_theta(lambda m: RMSProp(m, lr=0.02))
adam_beta1_0 = final_theta(lambda m: sa.Adam(m, lr=0.02, betas=(0.0, 0.999)))
print("Momentum", sa.to_numpy(momentum), " Adam's m alone", sa.to_numpy(top))
print("RMSProp ", sa.to_numpy(rmsprop), " Adam, beta1 = 0", sa.to_numpy(adam_beta1_0))

# %%
# 確認: 200 ステップ後、どちらの組も丸め誤差の範囲で一致する（1e-15 程度。1e-12 を超えたら等式が間違っている）。
# また、どの最適化手法も θ を出発点 (1, 1) から確かに動かしている。
assert rel_error(momentum, top) < 1e-12, rel_error(momentum, top)
assert rel_error(rmsprop, adam_beta1_0) < 1e-12, rel_error(rmsprop, adam_beta1_0)
assert min(rel_error(th, xp.asarray(theta0)) for th in (momentum, rmsprop)) > 1e-2
print(f"Momentum = Adam's m: {rel_error(momentum, top):.1e};  RMSProp = Adam with beta1 = 0: "
      f"{rel_error(rmsprop, adam_beta1_0):.1e}")

# %% [markdown]
# ## 自分の Adam をクラスにする
#
# `PaperAdam` は、パラメータと勾配を辞書で受け取りました。これに対して、ライブラリの最適化手法はモデルそのものを受け取ります。そして `step()` が呼ばれるたびに `model.named_params()` を読み、`(name, param, grad)` の組を順に受け取ります。状態（$m$ と $v$）は、`scratchae.Adam` と同じく、パラメータの名前をキーとする辞書に持たせます。このクラスは、レッスン 05 でオートエンコーダを学習させるときに使うので、残しておいてください。なお、勾配はステップのたびに読み直す必要があります。というのも、逆伝播（backward）は `grads` の中の配列を書き換えるのではなく、新しい配列を代入するからです。

# %%
class Adam:
    """Adam (Kingma & Ba 2015, Algorithm 1) over model.named_params(); m and v are keyed by parameter name."""

    def __init__(self, model, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.model, self.lr, self.beta1, self.beta2, self.eps = model, lr, beta1, beta2, eps
        self.m = {name: xp.zeros_like(p) for name, p, _ in model.named_params()}
        self.v = {name: xp.zeros_like(p) for name, p, _ in model.named_params()}
        self.t = 0

    def step(self):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        for name, p, g in self.model.named_params():  # 毎回読み直す。backward が grads に新しい配列を代入しているため
            self.m[name] = b1 * self.m[name] + (1.0 - b1) * g
            self.v[name] = b2 * self.v[name] + (1.0 - b2) * g * g
            m_hat = self.m[name] / (1.0 - b1**self.t)
            v_hat = self.v[name] / (1.0 - b2**self.t)
            p -= self.lr * m_hat / (xp.sqrt(v_hat) + self.eps)  # その場で更新する。層は同じ配列を持ち続ける


ours, theirs = small_model(), small_model()
mine, library_adam = Adam(ours, lr=0.01), sa.Adam(theirs, lr=0.01)
for step in range(50):
    for model in (ours, theirs):
        loss = MSE()
        loss.forward(model.forward(x), target)
        model.backward(loss.backward())
    mine.step()
    library_adam.step()
yours_vs_library = max(rel_error(p, q) for (_, p, _), (_, q, _) in zip(ours.named_params(), theirs.named_params()))
moments = max(rel_error(mine.v[name], library_adam.v[name]) for name in library_adam.v)
print(f"after 50 steps: weights differ by {yours_vs_library:.1e}, second moments by {moments:.1e}; "
      f"state keys {sorted(mine.m) == sorted(library_adam.m)}")

# %%
# 確認: 自分の Adam はライブラリの Adam と同じように重みを動かし、名前ごとに同じ状態を持つ
# （差は 1e-15 程度。1e-10 を超えたら、自分の Adam はライブラリの Adam と違っている）。
assert sorted(mine.m) == sorted(library_adam.m)
assert yours_vs_library < 1e-10 and moments < 1e-10, (yours_vs_library, moments)
print("your Adam agrees with the library's")

# %% [markdown]
# ## やってみよう
#
# 1. Adam のいちばん最初のステップは、閉じた式で書けます。$t = 1$ では $\hat m = g$、$\hat v = g^2$ となるからです。Adam を実行せずに、勾配 `g`（形は任意）と学習率 `lr` から最初のステップを計算する関数を書いてください。下のセルは、その結果をライブラリの Adam の最初のステップと比べます。

# %%
from scratchae.exercises import try_it


def adam_first_step(g, lr):
    """g: the first gradient -> the change Adam makes to the parameters at t = 1, same shape as g."""
    raise NotImplementedError  # この行を自分の実装に置き換える


def check_first_step():
    g = xp.asarray(rng.standard_normal(5) * 10.0 ** rng.integers(-6, 3, size=5))  # 大きさは 1e-6 から 1e2 まで
    valley = Valley([0.0] * 5, [0.0] * 5)
    valley.grad = g
    sa.Adam(valley, lr=0.001).step()
    error = rel_error(adam_first_step(g, 0.001), valley.theta)
    assert error < 1e-12, f"relative error {error:.1e}: expect about 1e-16 (mind eps where |g| is tiny)"


try_it("Adam's first step", check_first_step)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def adam_first_step(g, lr):
#     """g: the first gradient -> the change Adam makes to the parameters at t = 1, same shape as g."""
#     return -lr * g / (xp.abs(g) + 1e-8)  # およそ -lr * sign(g)。最初のステップは勾配の大きさによらない
#
#
# def check_first_step():
#     g = xp.asarray(rng.standard_normal(5) * 10.0 ** rng.integers(-6, 3, size=5))  # 大きさは 1e-6 から 1e2 まで
#     valley = Valley([0.0] * 5, [0.0] * 5)
#     valley.grad = g
#     sa.Adam(valley, lr=0.001).step()
#     error = rel_error(adam_first_step(g, 0.001), valley.theta)
#     assert error < 1e-12, f"relative error {error:.1e}: expect about 1e-16 (mind eps where |g| is tiny)"
#
#
# try_it("Adam's first step", check_first_step)
# ```
#
# </details>
#
# 2. 谷の問題で、`lr=0.0025` として SGD を実行してみましょう。何が起こるでしょうか。また、先におかしくなるのはどちらの座標でしょうか。
#
# <details><summary>答え</summary>
#
# 発散します。急な方向の座標は毎ステップ $1 - 0.0025 \cdot 1000 = -1.5$ 倍されるので、符号を反転させながら、1 回ごとに 1.5 倍ずつ大きくなっていきます。その間も、ゆるやかな方向の座標は $0.9975$ 倍ずつ縮み続けています。$\eta > 2 / a_\text{max} = 0.002$ であれば、どの学習率でも同じことが起こります。これに対して Adam のステップ幅は、$a$ にまったく依存しません。
#
# </details>
#
# 3. `PaperAdam` からバイアス補正の 2 行を削除し（`m` と `v` をそのまま使います）、谷の問題をもう一度実行してください。最初の数ステップと損失の曲線は、どのように変わるでしょうか。
#
# <details><summary>答え</summary>
#
# 最初のステップで、各座標は 0.02 ではなく 0.063 動きます（3.2 倍です）。その後もステップは大きくなり続け、上のグラフが示すとおり、ステップ 12 で $\eta$ の 6.57 倍に達します。この谷では、損失ははじめのうちこそ速く下がり、10 ステップ後には 0.03 になります。しかしその後は大きく行き過ぎてしまい、ステップ 17 で 61 まで跳ね上がってから、ゆっくりと下がっていきます。ステップ 25 でも、まだ 10 です（これらの数値は、このレッスンの谷と lr = 0.02 で測ったものです）。実際のネットワークでは、この大きすぎる最初のステップが、$m$ と $v$ がまだノイズの多い数個のミニバッチしか平均していない時期に重なります。バイアス補正は、それを防ぐためのものです。
#
# </details>
