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
# # 05 · 自分で組み立てる
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/05_build_it_yourself.ipynb)
#
# このレッスンは、課題そのものです。作るのは全結合層を重ねたオートエンコーダで、エンコーダの幅は 784-256-128-64-32-32、デコーダはそれを逆にたどります。中間の層の活性化関数は ReLU、出力層は Sigmoid、損失関数は BCE、最適化手法は Adam です。レッスン 04 では同じモデルをライブラリが組み立ててくれましたが、今回はレッスン 01〜03 で自分で書いたクラスから組み立てます。そして、そのモデルが正しく動くことを確かめてから学習させ、最後に重みを保存します。
#
# 演習を含めて 85〜150 分ほどかかります。
#
# このレッスンで学ぶこと
# - レッスン 01〜03 の 5 つのクラスを、2 つのループで動く 1 つのモデルにまとめる方法
# - モデル全体の勾配確認を一度に行う方法と、学習の 1 ステップをライブラリのステップと照らし合わせる方法
# - 検証データを取り分けて学習を進め、テストデータには最後に 1 回だけ触れるという手順
# - 重みを保存し、新しいモデルに読み込む方法（Colab では、そのファイルを Google ドライブに残す方法も）
# - 課題レポートに必要なもの（課題の記法で書いた数式、ファイルとして保存した図、提出物のまとめ方）

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
# ## 自分のクラス
#
# <!-- self-study only -->
#
# 次のセルには、レッスン 01〜03 で書いてきたクラス（01 の `Dense`、02 の `ReLU`、`Sigmoid`、`BCE`、`MSE`、03 の `Adam`）の私たちの実装が並んでいます。**ここに、あなたが自分で書いたクラスを貼り付けて、置き換えてください**。そうすれば、この後の確認はどれも、私たちの実装ではなく、あなたの実装を調べることになります。
#
# <!-- end self-study only -->
#
# <!-- student edition only
# 次のセルに並んでいるのは、レッスン 01〜03 のクラスです（01 の `Dense`、02 の `ReLU`、`Sigmoid`、`BCE`、`MSE`、03 の `Adam`）。ただし、メソッドの中身は空にしてあります。どのメソッドにも引数と docstring（何を受け取り、何を返すか、配列の形はどうなるか）だけが残っていて、中身を書くまでは `NotImplementedError` を送出します。**ここに実装を書いてください**。レッスン 01〜03 で書いたクラスを貼り付けてもかまいません。この後の確認は、書き終えたクラスから順に調べていきます。モデルのクラスより後ろのセルは、8 つのクラスがすべてそろうまで待ちます。
# -->
#
# どのクラスも、ライブラリのレイヤと同じ約束に従っています。`forward` は `backward` で必要になるものを覚えておき、`backward(dout)` は `grads` に勾配を代入してから `dx` を返します。そして `params` と `grads` は、同じキーを持つ辞書です。

# %%
import math

import numpy as np


class Dense:
    """out = x @ W + b.  x: (N, n_in) -> out: (N, n_out); W: (n_in, n_out), b: (n_out,)."""

    def __init__(self, n_in, n_out, rng, dtype):
        """W drawn from rng with He init (std sqrt(2 / n_in)), then on xp in dtype; b zeros; grads alike."""
        W = rng.standard_normal((n_in, n_out)) * math.sqrt(2.0 / n_in)  # Heの初期値。乱数はホストで引く
        self.params = {"W": xp.asarray(W, dtype=dtype), "b": xp.zeros((n_out,), dtype=dtype)}
        self.grads = {name: xp.zeros_like(p) for name, p in self.params.items()}
        self.x = None

    def forward(self, x):
        """x: (N, n_in) -> out: (N, n_out); keeps x for backward."""
        self.x = x  # backward が dW を求めるのに x を使う
        return x @ self.params["W"] + self.params["b"]  # (N, n_out)

    def backward(self, dout):
        """dout: (N, n_out) -> dx: (N, n_in); assigns grads["W"]: (n_in, n_out) and grads["b"]: (n_out,)."""
        self.grads["W"] = self.x.T @ dout  # (n_in, N) @ (N, n_out) -> (n_in, n_out)
        self.grads["b"] = xp.sum(dout, axis=0)  # (n_out,)
        return dout @ self.params["W"].T  # (N, n_out) @ (n_out, n_in) -> (N, n_in)


class ReLU:
    """out = max(x, 0), element by element."""

    def __init__(self):
        """No parameters: params and grads are empty dicts."""
        self.params, self.grads = {}, {}
        self.mask = None

    def forward(self, x):
        """x: (N, D) -> out: (N, D); keeps where x > 0 for backward."""
        self.mask = x > 0
        return xp.where(self.mask, x, 0.0)

    def backward(self, dout):
        """dout: (N, D) -> dx: (N, D)."""
        return xp.where(self.mask, dout, 0.0)  # x > 0 のところだけ勾配を通す


class Sigmoid:
    """out = 1 / (1 + exp(-x)), computed as (1 + tanh(x / 2)) / 2, which never overflows."""

    def __init__(self):
        """No parameters: params and grads are empty dicts."""
        self.params, self.grads = {}, {}
        self.out = None

    def forward(self, x):
        """x: (N, D) -> out: (N, D), with no overflow for any x; keeps out for backward."""
        self.out = (1.0 + xp.tanh(x / 2.0)) / 2.0
        return self.out

    def backward(self, dout):
        """dout: (N, D) -> dx: (N, D)."""
        return dout * self.out * (1.0 - self.out)


class BCE:
    """L = -mean(t log p + (1 - t) log(1 - p)), with p clipped to [eps, 1 - eps]."""

    def __init__(self, eps=1e-7):
        """eps keeps p away from 0 and 1, so that log never sees 0."""
        self.eps = eps
        self.p = self.t = None

    def forward(self, pred, target):
        """pred, target: (N, D) -> L, the mean over all N * D elements (a 0-d array)."""
        self.p, self.t = xp.clip(pred, self.eps, 1.0 - self.eps), target
        return -xp.mean(target * xp.log(self.p) + (1.0 - target) * xp.log(1.0 - self.p))

    def backward(self):
        """-> dpred: (N, D), the gradient of forward's L with respect to pred."""
        return (self.p - self.t) / (self.p * (1.0 - self.p)) / self.p.size  # dL/dpred。形は pred と同じ


class MSE:
    """L = mean((pred - target)^2)."""

    def __init__(self):
        """No settings: forward keeps pred - target for backward."""
        self.diff = None

    def forward(self, pred, target):
        """pred, target: (N, D) -> L, the mean over all N * D elements (a 0-d array)."""
        self.diff = pred - target
        return xp.mean(self.diff**2)

    def backward(self):
        """-> dpred: (N, D), the gradient of forward's L with respect to pred."""
        return 2.0 * self.diff / self.diff.size


class Adam:
    """Adam (Kingma & Ba 2015, Algorithm 1) over model.named_params(); m and v are keyed by parameter name."""

    def __init__(self, model, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        """m and v: one zero array per parameter of model, keyed by its name; t: the steps taken so far."""
        self.model, self.lr, self.beta1, self.beta2, self.eps = model, lr, beta1, beta2, eps
        self.m = {name: xp.zeros_like(p) for name, p, _ in model.named_params()}
        self.v = {name: xp.zeros_like(p) for name, p, _ in model.named_params()}
        self.t = 0

    def step(self):
        """Moves every parameter in place by Algorithm 1's update, with the bias-corrected m_hat and v_hat."""
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        for name, p, g in self.model.named_params():  # 毎回読み直す。backward が grads に新しい配列を代入しているため
            self.m[name] = b1 * self.m[name] + (1.0 - b1) * g
            self.v[name] = b2 * self.v[name] + (1.0 - b2) * g * g
            m_hat = self.m[name] / (1.0 - b1**self.t)
            v_hat = self.v[name] / (1.0 - b2**self.t)
            p -= self.lr * m_hat / (xp.sqrt(v_hat) + self.eps)  # その場で更新する。レイヤは同じ配列を持ち続ける


# %% [markdown]
# ## 部品を 1 つずつ確かめる
#
# まずはクラスを 1 つずつ、ライブラリの勾配確認で調べます（float64 で計算し、上流からの勾配にはランダムな値を使います）。まだ `NotImplementedError` を送出するクラスは「not written yet」（まだ書かれていない）と表示されるだけで、残りのクラスの確認はそのまま続きます。

# %%
import scratchae as sa
from scratchae.data import batch_slices, epoch_order, load
from scratchae.gradcheck import assert_close, worst

rng = np.random.default_rng(1)
x64 = xp.asarray(rng.standard_normal((6, 5)))
x64 = x64 + 0.1 * xp.sign(x64)  # ReLU の入力を 0 の折れ点から離しておく
p64 = xp.asarray(rng.uniform(0.05, 0.95, size=(6, 5)))
t64 = xp.asarray(rng.uniform(0.0, 1.0, size=(6, 5)))
checks = {"Dense": lambda: sa.check_layer(Dense(5, 3, rng, xp.float64), x64, rng=2),
          "ReLU": lambda: sa.check_layer(ReLU(), x64, rng=3), "Sigmoid": lambda: sa.check_layer(Sigmoid(), x64, rng=4),
          "BCE": lambda: sa.check_loss(BCE(), p64, t64), "MSE": lambda: sa.check_loss(MSE(), p64, t64)}
pieces, unwritten = {}, []
for piece, check in checks.items():
    try:
        pieces[piece] = check()
    except NotImplementedError as stub:  # まだ書かれていないクラス。そう表示して、ほかのクラスの確認に進む
        unwritten.append(piece)
        print(f"{piece:8s} not written yet ({stub})")
        continue
    print(f"{piece:8s} worst rel. error {worst(pieces[piece]):.1e}")

# %%
# 確認: どの部品も 1e-10 程度以下になるはず。1e-7 を超えたら、そのクラスにバグがある。
for piece, report in pieces.items():
    assert_close(report, tol=1e-7)
print(f"{len(pieces)} of {len(checks)} pieces pass their gradient check")

# %% [markdown]
# ## モデルを組み立てる
#
# モデルといっても、その正体はレイヤのリストと 2 つのループにすぎません。順伝播ではレイヤを前から順にたどり、逆伝播では後ろから逆の順にたどります。`named_params` が返す名前（`"encoder.0.W"`、...、`"decoder.8.b"`）はライブラリと同じにしてあるので、2 つのモデルをパラメータごとに比べることができます。エンコーダは Dense と ReLU の組を重ねたもので、幅は 784-256-128-64-32-32 と細くなっていきます。デコーダはその逆の 32-32-64-128-256-784 ですが、最後の ReLU だけは Sigmoid に置き換えます。画素の値は $[0, 1]$ の範囲にあるので、出力もその範囲に収めたいからです。

# %%
class Autoencoder:
    """x: (N, 784) -> z = encode(x): (N, 32) -> out: (N, 784)."""

    def __init__(self, encoder, decoder):
        """encoder, decoder: lists of layers, each run in order by forward."""
        self.encoder, self.decoder = encoder, decoder  # レイヤのリストが 2 つ

    def encode(self, x):
        """x: (N, 784) -> z: (N, 32), through the encoder's layers."""
        for layer in self.encoder:
            x = layer.forward(x)
        return x

    def forward(self, x):
        """x: (N, 784) -> out: (N, 784), through the encoder, then the decoder."""
        out = self.encode(x)
        for layer in self.decoder:
            out = layer.forward(out)
        return out

    def backward(self, dout):
        """dout: (N, 784) -> dx: (N, 784), through every layer in reverse order."""
        for layer in reversed(self.encoder + self.decoder):
            dout = layer.backward(dout)
        return dout  # dL/dx

    def named_params(self):
        """Yields (name, param, grad) for every parameter, e.g. ("encoder.0.W", W, dW), encoder first."""
        for part, layers in (("encoder", self.encoder), ("decoder", self.decoder)):
            for i, layer in enumerate(layers):
                for key, p in layer.params.items():
                    yield f"{part}.{i}.{key}", p, layer.grads[key]


def build_autoencoder(dims, seed, dtype):
    """Dense + ReLU down dims, then the mirror back up, with a Sigmoid on the output; one rng draws every W."""
    rng = np.random.default_rng(seed)  # 1 つの乱数生成器をすべての層で使い、ライブラリと同じ順番で引く
    encoder, decoder = [], []
    for n_in, n_out in zip(dims[:-1], dims[1:]):
        encoder += [Dense(n_in, n_out, rng, dtype), ReLU()]
    up = dims[::-1]
    for n_in, n_out in zip(up[:-1], up[1:]):
        decoder += [Dense(n_in, n_out, rng, dtype), ReLU()]
    decoder[-1] = Sigmoid()
    return Autoencoder(encoder, decoder)


# %%
# まだ中身のない（NotImplementedError を送出する）クラスはどれか。小さなモデルで学習を 1 ステップ行えば、
# Autoencoder、build_autoencoder、Adam のメソッドをすべて通る。この後のセルは 8 つのクラスすべてを使う。
def first_stub(run):
    """The message of the NotImplementedError that run() reaches (it names the stub), or None if run() ends."""
    try:
        run()
    except NotImplementedError as stub:
        return str(stub) or "NotImplementedError"
    return None


def tiny_step():
    """One training step of a float64 model 4-3-2-3-4 on two rows, with your classes."""
    tiny = build_autoencoder((4, 3, 2), seed=0, dtype=xp.float64)
    x = xp.asarray(np.random.default_rng(0).uniform(0.1, 0.9, size=(2, 4)))
    bce = BCE()
    bce.forward(tiny.forward(x), x)
    tiny.backward(bce.backward())
    Adam(tiny, lr=1e-3).step()
    tiny.encode(x)


reached = first_stub(tiny_step)
left = unwritten + ([reached] if reached else [])
WRITTEN = not left
print("every class is written: the cells below check it for real" if WRITTEN else f"still to write: {'; '.join(left)}")

# %%
DIMS = (784, 256, 128, 64, 32, 32)
model = build_autoencoder(DIMS, seed=0, dtype=xp.float32)
for name, p, _ in model.named_params():
    print(f"{name:12s} {tuple(p.shape)}")
print(f"{sum(p.size for _, p, _ in model.named_params()):,} parameters")

# %% [markdown]
# ## モデル全体を確かめる
#
# 部品が正しいとわかったら、次はモデル全体をまとめて確かめます。`sa.check_model` は、すべてのパラメータと入力のそれぞれについて、最大 20 個（クイックモードでは 8 個）の要素を少しだけ動かし、そのときの損失の変化を、あなたの逆伝播が求めた勾配と比べます。どこか 1 行でも間違っていれば、その場所で大きな誤差が出るはずです。

# %%
x_train_host, _, x_test_host, _ = load("mnist")
model64 = build_autoencoder(DIMS, seed=0, dtype=xp.float64)
xb64 = xp.asarray(x_train_host[:8].astype(np.float64))  # float64 の画像 8 枚
PROBES = 8 if QUICK else 20  # 配列ごとに動かす要素の数。1 つにつき順伝播が 2 回かかる
report = sa.check_model(model64, BCE(), xb64, xb64, rng=0, max_entries=PROBES)
for check in list(report.values())[:4]:
    print(check)
print(f"... {len(report)} arrays checked, worst rel. error {worst(report):.1e}")

# %%
# 確認: 20 層（Dense 10、ReLU 9、Sigmoid 1）すべてを通しても 1e-8 程度以下になるはず。1e-7 を超えたら、
# どれかのクラスにバグがある。
assert_close(report, tol=1e-7)
print("the whole model passes the end-to-end gradient check")

# %% [markdown]
# ## 1 ステップをライブラリのステップと比べる
#
# 今度は、同じ学習ステップを 2 通りのやり方で 1 回ずつ行います。1 回目はあなたのクラスで、2 回目はライブラリ（`sa.dense_autoencoder`、`sa.BCE`、`sa.Adam` と `train_step`）で行い、どちらも同じ重みから始めて同じバッチを使います。ライブラリのモデルは出力が平均画像から始まるようにしてあるので（レッスン 04）、その重みをすべてあなたのモデルにコピーしてそろえておきます。そのうえで、損失、すべての勾配、すべてのパラメータの更新量を比べます。
#
# 両者の違いは、float32 の丸め誤差だけのはずです。ライブラリはレッスン 02 で見た $p - t$ の近道を使いますが、あなたのクラスは連鎖律のとおりに BCE と Sigmoid の逆伝播を順に計算します。計算の道筋が違うので丸め方はわずかに変わりますが、違うのはそこだけです。なお、比べるのはパラメータそのものではなく、*更新量*のほうです。更新量は 1e-3 程度と重みよりずっと小さいので、パラメータどうしを比べたのでは、間違った更新量も重みの丸め誤差に埋もれて見えなくなってしまうからです。

# %%
from scratchae.models import init_output_bias
from scratchae.training import train_step

SEED, BATCH, LR = 0, 256, 1e-3
library = sa.dense_autoencoder(DIMS, rng=SEED, xp=xp)
init_output_bias(library, sa.to_device(x_train_host.mean(axis=0), xp))
ours = build_autoencoder(DIMS, seed=SEED, dtype=xp.float32)
for (name, p, _), (name_lib, p_lib, _) in zip(ours.named_params(), library.named_params()):
    assert name == name_lib, (name, name_lib)
    p[...] = p_lib  # 同じ初期値の重みを、その場でコピーする
start = {name: xp.asarray(p, copy=True) for name, p, _ in library.named_params()}

xb = sa.to_device(x_train_host[:BATCH], xp)  # (256, 784) float32
loss_lib = float(train_step(library, sa.BCE(), sa.Adam(library, lr=LR), xb))
bce, adam = BCE(), Adam(ours, lr=LR)
loss_ours = float(bce.forward(ours.forward(xb), xb))
ours.backward(bce.backward())
adam.step()

pairs = list(zip(ours.named_params(), library.named_params()))
grad_err = max(sa.rel_error(g, g_lib) for (_, _, g), (_, _, g_lib) in pairs)
update_err = max(sa.rel_error(p - start[name], p_lib - start[name]) for (name, p, _), (_, p_lib, _) in pairs)
print(f"loss: yours {loss_ours:.7f}, library {loss_lib:.7f}")
print(f"worst rel. error over {len(pairs)} parameters: gradients {grad_err:.1e}, updates {update_err:.1e}")

# %%
# 確認: 損失は同じ（相対誤差 1e-7 程度）、勾配も同じ（1e-7 程度）、更新量も同じ（数 × 1e-6）になるはず。
# 更新量の誤差がやや大きいのは、Adam が勾配の大きさで割るため、勾配がほぼ 0 のところで丸め誤差が拡大されるから。
# 1e-4 を超えたら、あなたのステップはライブラリのステップと違う。
assert abs(loss_ours - loss_lib) < 1e-5 * loss_lib, (loss_ours, loss_lib)
assert grad_err < 1e-4, f"gradients differ: {grad_err:.1e}"
assert update_err < 1e-4, f"updates differ: {update_err:.1e}"
print("your step is the library's step")

# %% [markdown]
# ## 学習させる
#
# データはすべて、準備のセルで選んだ `xp`（NumPy か CuPy）の配列として用意します。ですから GPU のランタイムなら、あなたのクラスも一切書き換えずに GPU の上で動きます。訓練データのうち**最後の 5,000 枚**は、検証データとして取り分けておきます。エポック数や学習率といった設定は、この検証データでの結果を見ながら選びます。一方、10,000 枚のテスト画像は最後まで取っておき、すべての設定を決め終えてから 1 回だけ使います。そうしておけば、テストデータでの値を、まだ見たことのない画像に対する性能の正直な見積もりとして使えるからです。なお、レッスン 04 と同じく、出力は平均画像から始まるようにしてあります。そうしてはじめて、テストデータで測った値が、まだ見たことのない画像に対する正直な見積もりになるのです。出力は、レッスン 04 と同じように平均画像から始めます。

# %%
import time

import matplotlib.pyplot as plt

EPOCHS = 2 if QUICK else 20
N_FIT = 6000 if QUICK else 55000  # 学習に使う画像の枚数。訓練データの先頭から取る
x_fit = sa.to_device(x_train_host[:N_FIT], xp)
x_val = sa.to_device(x_train_host[55000:], xp)  # 最後の 5,000 枚。学習には使わない
print(f"fit {tuple(x_fit.shape)}, validation {tuple(x_val.shape)}")


def set_output_bias(model, mean_image, eps=1e-3):
    """The last Dense's bias becomes logit(mean image), so the untrained model draws the average digit."""
    m = np.clip(mean_image, eps, 1.0 - eps)
    last = model.decoder[-2]  # Sigmoid の直前の Dense レイヤ
    last.params["b"][...] = sa.to_device(np.log(m / (1.0 - m)), xp)


def mean_loss(model, x, batch=1000):
    """Mean BCE per pixel of model over the rows of x, forward only."""
    total = 0.0
    for a, b in batch_slices(x.shape[0], batch):
        total += float(BCE().forward(model.forward(x[a:b, ...]), x[a:b, ...])) * (b - a)
    return total / x.shape[0]


model = build_autoencoder(DIMS, seed=SEED, dtype=xp.float32)
set_output_bias(model, x_train_host[:N_FIT].mean(axis=0))
loss, optimizer = BCE(), Adam(model, lr=LR)
rows = [{"epoch": 0, "train": None, "val": mean_loss(model, x_val)}]
for epoch in range(EPOCHS):
    started = time.perf_counter()
    order = sa.to_device(epoch_order(N_FIT, SEED, epoch), xp)  # エポックごとに新しくシャッフルする
    total = 0.0
    for a, b in batch_slices(N_FIT, BATCH):
        xb = xp.take(x_fit, order[a:b], axis=0)  # (B, 784)
        value = loss.forward(model.forward(xb), xb)  # 1-2. 順伝播と損失
        model.backward(loss.backward())  # 3-4. 損失の逆伝播、続いて各レイヤの逆伝播
        optimizer.step()  # 5. Adam がすべてのパラメータを更新する
        total = total + value * (b - a)  # デバイスの上に置いたまま足す。ステップごとに結果を待たない
    rows.append({"epoch": epoch + 1, "train": float(total) / N_FIT, "val": mean_loss(model, x_val)})
    print(f"epoch {epoch + 1:2d}  train BCE {rows[-1]['train']:.5f}  validation BCE {rows[-1]['val']:.5f}  "
          f"{time.perf_counter() - started:.1f} s")

# %%
fig, (ax, ax_img) = plt.subplots(1, 2, figsize=(10, 3.5), gridspec_kw={"width_ratios": [1, 1.6]})
ax.plot([r["epoch"] for r in rows[1:]], [r["train"] for r in rows[1:]], "o-", label="train (mean over the epoch)")
ax.plot([r["epoch"] for r in rows], [r["val"] for r in rows], "s-", label="validation (after the epoch)")
ax.set_xlabel("epoch")
ax.set_ylabel("BCE per pixel")
ax.legend()
shown = sa.to_numpy(x_val[:8, ...])
recon = sa.to_numpy(model.forward(x_val[:8, ...]))
ax_img.imshow(np.concatenate([np.hstack(list(shown.reshape(8, 28, 28))),
                              np.hstack(list(recon.reshape(8, 28, 28)))]), cmap="gray")
ax_img.set_title("validation images (top) and your reconstructions (bottom)")
ax_img.axis("off")
plt.show()

# %% [markdown]
# **確認。** 学習後の検証データの BCE は、出発点の値（平均画像を描くだけの学習前のモデルで約 0.27）をはっきり下回っていなければなりません。クイックモード（6,000 枚で 2 エポック）なら 0.21 くらいになるはずです。本来の設定（55,000 枚で 20 エポック）で測ったところ、検証データの BCE は 0.1001、テストデータの BCE は 0.0991 でした。基準モデルは 60,000 枚すべてを使って 0.0980 に届きますが（レッスン 04）、あなたのモデルはそれより 5,000 枚少ない画像で学習しています。同じ 55,000 枚でライブラリのコマンド（`python -m scratchae.train --limit 55000`）を実行したときは 0.0993 で、あなたのモデルとはばらつきの範囲で一致します。すべての設定が決まったいま、ここではじめて、テストデータに 1 回だけ触れます。

# %%
assert rows[-1]["val"] < 0.9 * rows[0]["val"], "the model did not learn"
test_bce = mean_loss(model, sa.to_device(x_test_host, xp))  # テストデータを見るのは、この 1 回だけ
print(f"validation BCE {rows[0]['val']:.4f} -> {rows[-1]['val']:.4f}; test BCE {test_bce:.4f} "
      "(the reference model: 0.0980)")
if not QUICK and (EPOCHS, N_FIT, BATCH, LR, SEED) == (20, 55000, 256, 1e-3, 0):  # このレッスンの設定のときだけ
    assert test_bce < 0.105, "20 full epochs should reach about 0.098"

# %% [markdown]
# ## 重みを保存して、新しいモデルに読み込む
#
# 学習済みのモデルとは、つまるところ、そのパラメータのことです。そこで、各パラメータをホストにコピーし（`sa.to_numpy`）、名前をキーにして 1 つの `.npz` ファイルに保存します。次に、別のランダムな重みで作った新しいモデルにそのファイルを読み込みます。同じ数値を同じプログラムに通すのですから、新しいモデルの再構成は元のモデルと*完全に一致*しなければなりません。Colab では、次のセルでファイルを Google ドライブに置くこともできます。ドライブに置いたファイルは、セッションが終わっても消えません。

# %%
import tempfile

SAVE_DIR = tempfile.mkdtemp(prefix="scratchae-")  # 新しいフォルダ。Colab では、次のセルが代わりにドライブのフォルダを選ぶことがある

# %%
# Google ドライブをマウントする（Colab のときだけ）。アクセスの許可を求められ、許可すれば、
# ファイルは Colab のセッションが終わっても残る。
import sys

if "google.colab" in sys.modules:
    from google.colab import drive

    drive.mount("/content/drive")
    SAVE_DIR = "/content/drive/MyDrive/scratchae"
    os.makedirs(SAVE_DIR, exist_ok=True)
else:
    print("not on Colab: Google Drive is skipped, the file stays in", SAVE_DIR)

# %%
path = os.path.join(SAVE_DIR, "capstone_autoencoder.npz")
np.savez(path, **{name: sa.to_numpy(p) for name, p, _ in model.named_params()})

fresh = build_autoencoder(DIMS, seed=123, dtype=xp.float32)  # 別の重み
with np.load(path) as saved:
    for name, p, _ in fresh.named_params():
        p[...] = sa.to_device(saved[name], xp)  # その場で、xp のデバイスの上に書き込む
same = bool(xp.all(fresh.forward(x_val) == model.forward(x_val)))
print(f"saved {os.path.getsize(path) / 1e6:.1f} MB to {path}; identical reconstructions: {same}")

# %%
# 確認: 読み込んだ重みは、5,000 枚の検証画像すべてについて、元とまったく同じ再構成を出す。
assert same, "the loaded model reconstructs differently"

# %% [markdown]
# ## 課題レポートのために
#
# 課題の提出物は短いレポートです。書く内容は、概要、ネットワーク（図、層ごとの一覧、設定）、数式、Colab での実行方法、実行環境、結果、参考文献です。この節では、いま学習させたモデルからレポートに必要な事実をすべて取り出し、図をファイルに保存して、最後にレポートのひな形を入れた提出用のアーカイブを作ります。ただし、自分の言葉で書くべきところは、あなた自身が書いてください。
#
# **課題の記法で書いた数式。** エンコーダ $f_\theta$ は、画像 $x$（$[0, 1]$ の値をとる 784 個の画素を 1 行に並べたもの）を潜在表現 $z$ に写します。デコーダ $g_\phi$ は、その $z$ を再構成 $\hat{x}$ に戻します。
#
# $$z = f_\theta(x), \qquad \hat{x} = g_\phi(z), \qquad \theta = \{W_l, b_l\}_{l=1}^{5}, \quad \phi = \{W_l, b_l\}_{l=6}^{10}.$$
#
# 層ごとに書き下すと、次のようになります（$\sigma$ は Sigmoid です）。
#
# $$h_1 = \mathrm{ReLU}(x W_1 + b_1),\ h_2 = \mathrm{ReLU}(h_1 W_2 + b_2),\ \dots,\ z = h_5 = \mathrm{ReLU}(h_4 W_5 + b_5),$$
# $$h_6 = \mathrm{ReLU}(z W_6 + b_6),\ \dots,\ h_9 = \mathrm{ReLU}(h_8 W_9 + b_9),\ \hat{x} = \sigma(h_9 W_{10} + b_{10}),$$
#
# ここで $\mathrm{ReLU}(u) = \max(u, 0)$、$\sigma(u) = 1 / (1 + e^{-u})$ で、どちらも要素ごとに計算します。このコースのレッスンでは、DLFS と同じく層を $x W + b$ と書きます。$x$ は行ベクトルで（ミニバッチは行ベクトルを縦に並べたものです）、$W$ の形は `(n_in, n_out)` です。一方、講義のスライドなどでは列ベクトルを使って $W x + b$ と書き、$W$ の形を `(n_out, n_in)` とすることがよくあります。転置しているだけで、どちらも同じ層を表しています。レポートには、どちらの書き方を使うのかを明記してください。
#
# 次のセルは、層の一覧をあなたのモデルから直接読み取ります。ですから、表示される一覧はどこかから書き写したものではなく、モデルそのものの姿です。

# %%
from scratchae.netfig import count_params, layer_rows
from scratchae.teacher.handin_report import layer_formulas

layers = layer_rows(model)  # Dense レイヤ 1 つにつき 1 行。あなたのモデルから読む
for r in layers:
    print(f"W{r['l']:<2d} b{r['l']:<2d} {r['part']:7s} {r['n_in']:3d} -> {r['n_out']:3d}  then {r['activation']}")
print("\n".join(layer_formulas(layers)))
n_layers = len(model.encoder) + len(model.decoder)
n_params = sum(p.size for _, p, _ in model.named_params())
print(f"{len(layers)} Dense layers, {n_layers} layers in all, {n_params:,} parameters")

# %%
# 確認: Dense 10 個、ReLU 9 個、Sigmoid 1 個で 20 層。手で数えると、重みが 2 (784*256 + 256*128 + 128*64 + 64*32
# + 32*32) 個、バイアスが (256 + 128 + 64 + 32 + 32) + (32 + 64 + 128 + 256 + 784) 個で、合わせて 491,248 個になる。
assert n_layers == 20 and len(layers) == 10
assert n_params == count_params(layers) == 2 * (784 * 256 + 256 * 128 + 128 * 64 + 64 * 32 + 32 * 32) + 512 + 1264
print("20 layers, 491,248 parameters")

# %% [markdown]
# **784 画素についての和で書いた BCE。** 課題では、画像 1 枚の損失を、その画素についての和で書きます。
#
# $$L(x, \hat{x}) = -\sum_{j=1}^{784} \left[ x_j \log \hat{x}_j + (1 - x_j) \log (1 - \hat{x}_j) \right]$$
#
# そして、これをミニバッチの画像について平均します。一方、このレッスンの `BCE` は、すべての画像のすべての画素についての平均をとります。そのため、このレッスンで表示する値はどれも 1 画素あたりの値で、784 倍すれば画像 1 枚あたりのナット（nats）になります（テストデータの BCE 0.0991 は、画像 1 枚あたり 77.7 ナットです）。では、学習にはどちらを使えばよいのでしょうか。実は Adam を使うかぎり、どちらを選んでもほとんど変わりません。和の勾配は平均の勾配のちょうど 784 倍ですが、Adam は各ステップを勾配の大きさで割るので、ステップの違いは小さな $\epsilon$ の分だけになるからです。ところが素朴な SGD では、ステップは勾配に学習率を掛けたものなので、和を使うなら学習率を 784 分の 1 にしなければなりません。次のセルでは、この換算を実際に確かめ、さらに小さなモデルを Adam で、両方の損失を使って学習させてみます。

# %%
x_some = sa.to_device(x_test_host[:100], xp)
per_pixel = float(BCE().forward(model.forward(x_some), x_some))  # このレッスンが表示する値
p = np.clip(sa.to_numpy(model.forward(x_some)).astype(np.float64), 1e-7, 1 - 1e-7)
t = x_test_host[:100].astype(np.float64)
per_image = -(t * np.log(p) + (1 - t) * np.log(1 - p)).sum(axis=1)  # 課題の和。画像 1 枚につき 1 つの値
print(f"100 test images: {per_pixel:.5f} per pixel x 784 = {784 * per_pixel:.2f}; "
      f"summed over the pixels: {per_image.mean():.2f} nats per image")
print(f"all 10,000 test images: {test_bce:.4f} per pixel = {784 * test_bce:.1f} nats per image")


def train_small(scale, steps=100):
    """A small model trained ``steps`` Adam steps with its loss gradient multiplied by ``scale``: its test BCE."""
    small = build_autoencoder((784, 64, 16), seed=0, dtype=xp.float32)
    bce, adam = BCE(), Adam(small, lr=LR)
    for k in range(steps):
        xb = sa.to_device(x_train_host[k * 128:(k + 1) * 128], xp)
        bce.forward(small.forward(xb), xb)
        small.backward(scale * bce.backward())  # scale 784 は、画素についての和の勾配
        adam.step()
    return mean_loss(small, sa.to_device(x_test_host[:2000], xp))


with_mean, with_sum = train_small(1.0), train_small(784.0)
adam_gap = abs(with_sum - with_mean) / with_mean
print(f"Adam, 100 steps: test BCE {with_mean:.5f} with the mean, {with_sum:.5f} with the sum "
      f"(relative difference {adam_gap:.1e})")

# %%
# 確認: 784 倍した値は、画素についての和に（丸め誤差の範囲で）一致する。Adam では 2 つの損失で同じように学習が
# 進む（測定では相対差 1.2e-4。eps = 1e-12 にすると 1e-7 になる。違いを生むのは eps だけ）。
assert abs(784 * per_pixel - per_image.mean()) < 1e-4 * per_image.mean()
assert adam_gap < 1e-3, adam_gap

# %% [markdown]
# **図をファイルにする。** レポートに載せるには、ノートブックの中のプロットではなく、画像ファイルが必要です。次のセルは、`python -m scratchae.train` が書き出すのと同じ形式で実行フォルダを作ります。中身は、`config.json`（すべての設定）、`metrics.csv`（エポックごとの損失）、`checkpoint.npz`（ライブラリのファイル形式で保存したあなたの重み）と、3 つの図です。図は、あなたのモデルから描いたネットワークの図 `network.png`、エポックごとの訓練データと検証データの損失にテストデータの BCE を添えたグラフ `loss_curve.png`、各数字の最初の**テスト**画像とその再構成を並べた `reconstructions.png` です（上のプロットで見せたのは検証画像でした）。これらの図は、このノートブックにも表示します。
#
# **設定とデータ。** MNIST には、訓練画像が 60,000 枚、テスト画像が 10,000 枚あります。ここでは最初の 55,000 枚で学習し、最後の 5,000 枚は検証用に取り置きました。検証用の画像があるおかげで、テストデータに触れずに設定（エポック数や学習率）を選べるわけです。下に表示する表は、学習に実際に使った変数から読み取ったものです。
#
# **時間。** このプロジェクトの共有マシン（2 コアの CPU、BLAS のスレッドは 1 つ）で、同じモデルの 1 エポック（ライブラリのコマンドで 60,000 枚）にかかった時間は、ほかの処理でロードアベレージが 10〜16 だったときで 8〜72 秒（中央値 15 秒）、マシンがほぼ空いていたときで 6〜9 秒でした（測定の記録は docs/results.md にあります）。Colab の T4 GPU なら、1 エポックあたり 1〜3 秒と*見積もって*います。というのも、このモデルは小さいので、約 215 回あるステップのそれぞれで時間を使うのは、計算そのものよりも、数百回におよぶ小さな GPU カーネルの起動のほうだからです。ただし、これはあくまで見積もりで、T4 で測った値ではありません。レポートには、あなた自身の 1 エポックの時間を書いてください（学習のセルが表示しています）。

# %%
from IPython.display import Image, display

from scratchae.teacher.notebook_run import lesson_config, save_run

_, _, _, y_test_host = load("mnist")
config = lesson_config(epochs=EPOCHS, n_fit=N_FIT, batch_size=BATCH, lr=LR, seed=SEED, gpu=xp.__name__ != "numpy")
metrics = [{"epoch": r["epoch"], "train_loss": r["train"], "val_loss": r["val"],
            "test_loss": test_bce if r is rows[-1] else None} for r in rows[1:]]  # テストデータは最後に 1 回だけ
run_dir = save_run(os.path.join(SAVE_DIR, "report_run"), model, config, metrics, x_test_host, y_test_host)
settings_table = {"data": "MNIST", "images trained on": f"{N_FIT:,}", "held out for validation": "5,000",
                  "test images": f"{x_test_host.shape[0]:,}", "epochs": EPOCHS, "minibatch": BATCH,
                  "optimizer": f"Adam, lr {LR:g}, betas (0.9, 0.999), eps 1e-8", "loss": "BCE, mean per pixel",
                  "seed": SEED, "parameters": f"{n_params:,}"}
for key, value in settings_table.items():
    print(f"{key:24s} {value}")
print("files in", run_dir, ":", ", ".join(sorted(os.listdir(run_dir))))
for name in ("network.png", "loss_curve.png", "reconstructions.png"):
    display(Image(filename=os.path.join(run_dir, name), width=700))

# %%
# 確認: ライブラリが checkpoint.npz からあなたの重みを読み直し、同じテスト BCE を（丸め誤差の範囲で）再現する。
# 採点でも、提出物に対して同じことを行う。
reread = sa.load_model(os.path.join(run_dir, "checkpoint.npz"), xp=xp)
again = mean_loss(reread, sa.to_device(x_test_host, xp))
assert abs(again - test_bce) < 5e-5, (again, test_bce)
print(f"test BCE from the saved checkpoint {again:.6f}, yours {test_bce:.6f}")

# %% [markdown]
# **提出物をまとめる。** 最後のセルは `handin.zip` を書き出します。中に入るのは、このノートブック、実行フォルダ、`provenance.json`（バージョン、デバイス、データファイルの SHA-256、すべての設定）、そして `report.md` です。`report.md` は課題の構成に沿ったレポートで、事実はすべて埋めてあり、あなたが書くところには短い指示（`>` で始まる行）が置いてあります。Colab では、このファイルは Google ドライブ（上でマウントした `MyDrive/scratchae`）に保存されます。`report.md` を取り出して自分で書く部分を仕上げたら、`python -m scratchae.handin NOTEBOOK RUN_DIR --out handin.zip --report report.md` を実行して、あなたのレポートと一緒にもう一度まとめてください。レポートは、ノートブックと同じ言語で書かれます（日本語版のノートブックなら日本語です）。

# %%
import json

from scratchae.teacher.handin import pack

NOTEBOOK = "05_build_it_yourself.ipynb"  # チェックアウトの中にある、このノートブック
if "google.colab" in sys.modules:  # Colab ではノートブックはドライブにある。いま画面に見えている内容を Colab から受け取る
    from google.colab import _message

    NOTEBOOK = os.path.join(SAVE_DIR, NOTEBOOK)
    with open(NOTEBOOK, "w", encoding="utf-8") as fh:
        json.dump(_message.blocking_request("get_ipynb", timeout_sec=60)["ipynb"], fh)
if os.path.isfile(NOTEBOOK):
    manifest = pack(NOTEBOOK, run_dir, os.path.join(SAVE_DIR, "handin.zip"))
    print(f"packed {len(manifest['files'])} files ({manifest['lang']}) into", os.path.join(SAVE_DIR, "handin.zip"))
else:
    print(f"save this notebook as {NOTEBOOK} next to where it runs, then run this cell again")

# %% [markdown]
# ## やってみよう
#
# 1. **バグを探そう。** 下の `SuspectDense` は、あなたの `Dense` と 1 行だけ違っています。上流からの勾配がすべて 1 なら勾配確認に合格してしまいますが、ランダムな勾配を使うと失敗します（次のセルは両方の結果を表示します）。その 1 行を見つけ、直したものを `FixedDense` として書いてください。

# %%
class SuspectDense(Dense):
    def backward(self, dout):
        self.grads["W"] = self.x.T @ dout
        self.grads["b"] = xp.sum(dout * dout, axis=0)
        return dout @ self.params["W"].T


suspect = SuspectDense(5, 3, rng, xp.float64)
ones = xp.ones((6, 3), dtype=xp.float64)
with_ones = worst(sa.check_layer(suspect, x64, dout=ones))
with_random = worst(sa.check_layer(suspect, x64, rng=5))
print(f"all-ones dout: worst rel. error {with_ones:.1e}; random dout: {with_random:.1e}")

# %%
# 確認: すべて 1 の dout ではバグが隠れ（1e-11 程度）、ランダムな dout では現れる（1e-2 より大きい）。
assert with_ones < 1e-7 and with_random > 1e-2, (with_ones, with_random)

# %%
from scratchae.exercises import try_it


class FixedDense(SuspectDense):
    def backward(self, dout):
        raise NotImplementedError  # この行を自分の実装に置き換える


def check_fixed_dense():
    layer = FixedDense(5, 3, rng, xp.float64)
    error = worst(sa.check_layer(layer, x64, rng=6))
    assert error < 1e-7, f"worst rel. error {error:.1e} with a random dout: expect about 1e-10"


try_it("find the bug", check_fixed_dense)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# class FixedDense(SuspectDense):
#     def backward(self, dout):
#         self.grads["W"] = self.x.T @ dout
#         self.grads["b"] = xp.sum(dout, axis=0)  # バグは dout * dout だった。dout が 1 のときだけ dout と等しい
#         return dout @ self.params["W"].T
#
#
# def check_fixed_dense():
#     layer = FixedDense(5, 3, rng, xp.float64)
#     error = worst(sa.check_layer(layer, x64, rng=6))
#     assert error < 1e-7, f"worst rel. error {error:.1e} with a random dout: expect about 1e-10"
#
#
# try_it("find the bug", check_fixed_dense)
# ```
#
# </details>
#
# 2. **別の構成のモデル。** 自分の `build_autoencoder` を使って、幅や深さの違うモデルを作ってみましょう。たとえば 784-128-64-32-16-8 や 784-128-16 です。そのモデルも、float64 でのモデル全体の勾配確認に合格しなければなりません。あなたのクラスは、どこも書き換える必要がないはずです。

# %%
def build_my_model():
    """A float64 autoencoder with other widths (and depth) than DIMS, from your classes."""
    raise NotImplementedError  # この行を自分の実装に置き換える


def check_my_model():
    mine = build_my_model()
    widths = [tuple(p.shape) for name, p, _ in mine.named_params() if name.endswith(".W")]
    assert widths != [tuple(p.shape) for name, p, _ in model.named_params() if name.endswith(".W")], \
        "choose other widths than the assignment's"
    assert_close(sa.check_model(mine, BCE(), xb64, xb64, rng=0), tol=1e-7)


try_it("another architecture", check_my_model)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# def build_my_model():
#     """A float64 autoencoder with other widths (and depth) than DIMS, from your classes."""
#     return build_autoencoder((784, 128, 64, 32, 16, 8), seed=0, dtype=xp.float64)
#
#
# def check_my_model():
#     mine = build_my_model()
#     widths = [tuple(p.shape) for name, p, _ in mine.named_params() if name.endswith(".W")]
#     assert widths != [tuple(p.shape) for name, p, _ in model.named_params() if name.endswith(".W")], \
#         "choose other widths than the assignment's"
#     assert_close(sa.check_model(mine, BCE(), xb64, xb64, rng=0), tol=1e-7)
#
#
# try_it("another architecture", check_my_model)
# ```
#
# </details>
#
# 3. `BCE()` の代わりに `MSE()` で学習させてみましょう（`loss, optimizer = ...` の行を書き換えます）。2 つのモデルは、それぞれが学習に使った損失ではなく、検証データの BCE で比べてください。同じエポック数だけ学習させたとき、低くなるのはどちらでしょうか。また、それはなぜでしょうか。
#
# <details><summary>答え</summary>
#
# BCE で学習したほうが低くなります。クイックモードで測ったところ、検証データの BCE は、BCE で学習した後が 0.2112、MSE で学習した後が 0.2160 でした（このとき「train BCE」の列に表示されるのは MSE の値です。この列は、学習に使った損失をそのまま表示するからです）。Sigmoid の後ろに MSE を置くと、その勾配には $p(1-p)$ という因子が残ります（レッスン 02 の演習 2）。そのため、出力が間違った側の端で飽和した画素では勾配がほとんど消失してしまい、学習がゆっくりとしか進みません。比べるときには、物差しを 1 つに決めることが大切です。どの損失も、その損失自身を目的にして学習したモデルでいちばん小さくなるものなので、MSE モデルを MSE で測った値を見ても、その BCE については何もわかりません。
#
# </details>
