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
# # 11 · スパースなコード
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/11_sparse_codes.ipynb)
#
# 32 ユニットの潜在表現（コード）で数字を表すやり方は、2 通りあります。
# 32 個のユニットがすべて少しずつ働くやり方と、少数のユニットだけが強く働き、残りはちょうど 0 になるやり方です。
# 後者をスパースなコード（sparse code）と呼びます。スパースなコードは読み取りやすく、役に立つことも多いです。
# 所要時間は演習を含めて 40〜60 分です。このレッスンでは、コードに対する L1 の罰則（ペナルティ）を損失関数に加えます。
# その勾配を手で書いて確かめ、コードの活性化がどれだけ小さくなるかを測ります。
#
# このレッスンで学ぶこと
# - L1 正則化（活性化への罰則、L1 activity penalty）とその勾配 $\lambda\,\mathrm{sign}(h)/N$。
# - スパースオートエンコーダの逆伝播を、なぜコードのところで分けるのか。
# - 折れ点（kink）のある関数で勾配確認をする方法。
# - 罰則によって、コードの平均活性化と再構成の損失がどう変わるか。

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
# ## 罰則
#
# バッチのコードを $h = \mathrm{encode}(x)$ とします。形は $(N, k)$ です。
# 罰則は、データ 1 つごとに $k$ 個のコードユニットの $|h|$ を足し、それを $N$ 個のデータで平均したものです。
# これを再構成の損失に加えます。
#
# $$P(h) = \frac{\lambda}{N} \sum_{n=1}^{N} \sum_{j=1}^{k} |h_{nj}|, \qquad
# \frac{\partial P}{\partial h_{nj}} = \frac{\lambda}{N}\,\mathrm{sign}(h_{nj}), \qquad
# L = \ell(\mathrm{decode}(h), x) + P(h)$$
#
# Keras のブログ記事のスパースオートエンコーダは `regularizers.l1(10e-5)` と書いています。
# `10e-5` は $10 \times 10^{-5}$ なので、$\lambda = 10^{-4}$ です。
# ブログの数値は、この集計のしかた（ユニットについては和、バッチについては平均）で出たものです。

# %%
import numpy as np


def penalty_forward(h, lam):
    return lam * float(xp.sum(xp.abs(h))) / h.shape[0]  # ユニットとデータについて和をとり、データ数で割る


def penalty_backward(h, lam):
    return xp.sign(h) * (lam / h.shape[0])  # (N, k): h と同じ形


rng = np.random.default_rng(0)
h = xp.asarray(rng.standard_normal((4, 6)))  # float64: 勾配確認にはこの精度が必要
print("P(h) =", penalty_forward(h, 0.1))
print("dP/dh, first row:", penalty_backward(h, 0.1)[0, ...])

# %% [markdown]
# ## 折れ点のまわりで勾配確認をする
#
# $|h|$ は 0 のところに折れ点（kink）があります。そこでは微分が存在しません。
# 中心差分で数値微分をすると、左右 2 つの傾きが混ざってしまいます。
# ですから勾配確認に意味があるのは、すべての要素が 0 から、
# ステップ幅 $h_\text{step} = 10^{-5}$ より遠くにあるときだけです。正規分布の乱数なら、ほとんどの場合そうなります。
# ここでは念のため、それを確かめておきます。

# %%
from scratchae import numerical_gradient, rel_error

assert float(xp.min(xp.abs(h))) > 1e-3  # 折れ点から十分に離れている
numeric = numerical_gradient(lambda: penalty_forward(h, 0.1), h)
error = rel_error(numeric, penalty_backward(h, 0.1))
print(f"penalty gradient: relative error {error:.1e}")
# 確認: 1e-11 程度（float64 の丸め誤差）になるはずです。1e-7 を超えたら penalty_backward にバグがあります。
assert error < 1e-7, error

# %% [markdown]
# ライブラリの `L1Activity` は、この 2 つの式をクラスにしたものです。
# `forward(h)` は `h` を覚えておき、`backward()` は $\partial P/\partial h$ を返します。

# %%
import inspect

from scratchae.sparse import L1Activity

print(inspect.getsource(L1Activity.forward))
print(inspect.getsource(L1Activity.backward))
penalty = L1Activity(0.1)
agreement = max(abs(float(penalty.forward(h)) - penalty_forward(h, 0.1)),
                rel_error(penalty.backward(), penalty_backward(h, 0.1)))
# 確認: 足す順番のほかは同じ計算です。1e-16 程度になるはずです。1e-12 を超えたら、2 つは違う計算をしています。
assert agreement < 1e-12, agreement
print("L1Activity agrees with the hand-written penalty:", agreement)

# %% [markdown]
# ## スパースオートエンコーダの学習ステップ: 逆伝播をコードのところで分ける
#
# 再構成の損失は、デコーダを通って $h$ に届きます。罰則は $h$ に直接かかります。
# そこでこのステップでは、まずデコーダの逆伝播だけを実行し、$h$ のところで罰則の勾配を足します。
# そのあとで、エンコーダの逆伝播を実行します。それ以外は、普通の学習ステップと同じです。

# %%
from scratchae.sparse import sparse_step

print(inspect.getsource(sparse_step))

# %% [markdown]
# ## 罰則あり・なしを比べる
#
# Keras のブログ記事のモデルを使います。
# 784-32-784 の全結合層で、コードは ReLU、出力は Sigmoid、損失関数は二値交差エントロピー誤差（BCE）です。
# 同じ初期の重みと同じミニバッチで、2 回学習します。1 回は $\lambda = 10^{-4}$、もう 1 回は $\lambda = 0$ です。
# そして、テストデータでの BCE と、コードの平均活性化を比べます。
# コードの平均活性化とは、テスト画像とユニットすべてについての $h$ の平均です。
# ブログもこの値を報告していて、100 エポック後に、罰則ありが 3.33、なしが 7.30 でした。

# %%
from scratchae import BCE, Adam, dense_autoencoder
from scratchae.backend import to_device, to_numpy
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import init_output_bias
from scratchae.sparse import evaluate_sparse

x_train, _, x_test, _ = load("mnist")
if QUICK:
    x_train, x_test = x_train[:6000], x_test[:1000]
EPOCHS = 10 if QUICK else 50
train, test = to_device(x_train, xp), to_device(x_test, xp)


def train_sparse(lam):
    model = dense_autoencoder((784, 32), rng=0, xp=xp)  # Dense(784, 32) + ReLU、続いて Dense(32, 784) + Sigmoid
    init_output_bias(model, to_device(x_train.mean(axis=0), xp))
    loss, penalty, optimizer = BCE(), L1Activity(lam), Adam(model, lr=1e-3)
    for epoch in range(EPOCHS):
        order = to_device(epoch_order(train.shape[0], 0, epoch), xp)
        for a, b in batch_slices(train.shape[0], 256):
            sparse_step(model, loss, penalty, optimizer, xp.take(train, order[a:b], axis=0))
    return model, evaluate_sparse(model, loss, L1Activity(1e-4), test)  # 比べるため、どちらも lambda = 1e-4 で測る


sparse_model, sparse = train_sparse(1e-4)
plain_model, plain = train_sparse(0.0)
for name, scores in (("lambda = 1e-4", sparse), ("lambda = 0   ", plain)):
    print(f"{name}: test BCE {scores['test_loss']:.4f}, mean code activation {scores['test_code_mean']:.2f}, "
          f"penalty {scores['test_penalty']:.4f}")

# %%
# 確認: 罰則があれば、コードの活性化は小さくなるはずです。平均活性化は罰則なしのモデルより
# はっきり小さくなり（クイックモードの 10 エポックで比はおよそ 0.7、ブログでは 3.33 対 7.30）、BCE は少しだけ
# 大きくなります。比が 0.9 を超えたら、罰則の勾配がエンコーダに届いていません。
ratio = sparse["test_code_mean"] / plain["test_code_mean"]
assert ratio < 0.9, (sparse, plain)
print(f"mean activation ratio, with / without: {ratio:.2f}")

# %% [markdown]
# ## 活性化はどこへ行ったのか
#
# テスト画像のコードの値をすべて集めて、ヒストグラムにします。
# L1 の罰則は、小さな活性化をちょうど 0 まで引き下げ（そのあとは ReLU が 0 のまま保ちます）、残りの値を小さくします。

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, model in (("lambda = 1e-4", sparse_model), ("lambda = 0", plain_model)):
    codes = to_numpy(model.encode(test)).ravel()
    ax.hist(codes, bins=60, alpha=0.6, label=f"{name}: {np.mean(codes == 0):.0%} exactly 0")
ax.set_xlabel("code activation")
ax.set_ylabel("count")
ax.set_yscale("log")
ax.legend()
plt.show()

# %% [markdown]
# コマンドラインでも同じことができます。
# `--sparsity 1e-4`（どのモデルにも使えます）か、`--preset keras-sparse`（ブログのモデル）を指定します。
# エポックごとに、罰則とコードの平均活性化を表示します。
#
# ## やってみよう
#
# 1. L2 正則化（活性化への罰則）$P_2(h) = \frac{\lambda}{N}\sum_{n,j} h_{nj}^2$ も、よく使われます。
#    その順伝播と逆伝播を書いてください。このセルが、あなたの逆伝播を勾配確認します。

# %%
from scratchae.exercises import try_it


def l2_forward(h, lam):
    raise NotImplementedError  # この行をあなたのコードに置き換えてください


def l2_backward(h, lam):
    raise NotImplementedError  # この行をあなたのコードに置き換えてください


def check_l2():
    numeric = numerical_gradient(lambda: l2_forward(h, 0.1), h)
    error = rel_error(numeric, l2_backward(h, 0.1))
    assert error < 1e-7, f"relative error {error:.1e}: expect about 1e-10"


try_it("L2 activity penalty", check_l2)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def l2_forward(h, lam):
#     return lam * float(xp.sum(h * h)) / h.shape[0]
#
#
# def l2_backward(h, lam):
#     return h * (2 * lam / h.shape[0])  # (N, k): h と同じ形
#
#
# def check_l2():
#     numeric = numerical_gradient(lambda: l2_forward(h, 0.1), h)
#     error = rel_error(numeric, l2_backward(h, 0.1))
#     assert error < 1e-7, f"relative error {error:.1e}: expect about 1e-10"
#
#
# try_it("L2 activity penalty", check_l2)
# ```
#
# </details>
#
# 2. L1 の代わりに、あなたの L2 の罰則で学習してください（`forward(h)` と `backward()` を持つクラスなら、
#    `sparse_step` の中で `L1Activity` の代わりに使えます）。ちょうど 0 になる活性化が多いのは、どちらでしょうか。
#    それはなぜでしょうか。
#
# <details><summary>答え</summary>
#
# L1 です。L1 の勾配は、$h$ がどんなに小さくても $\lambda/N$ のままです。
# そのため小さな活性化を押し続け、最後には ReLU がそれをちょうど 0 に切り落とします。
# L2 の勾配 $2\lambda h/N$ は、$h$ が小さくなるにつれて 0 に近づきます。
# そのため、活性化を小さくはしますが、ちょうど 0 にすることはあまりありません。
#
# </details>
#
# 3. Keras 1 は、このレッスンと同じように、活性化への罰則をバッチについて平均していました。
#    その後のバージョンでは、バッチについての和に変わりました。
#    そのため、ブログの `10e-5` は、ブログのバッチサイズ 256 では 256 倍強くなりました。
#    記事を再現した人たちのテストの損失は、0.10 ではなく 0.26 くらいでした。
#    この強い罰則は、このレッスンの集計のしかたでは、どの $\lambda$ にあたるでしょうか。その値で学習してみてください。
#    コードの平均活性化と再構成画像は、どうなるでしょうか。
#
# <details><summary>答え</summary>
#
# $\lambda = 256 \times 10^{-4} = 0.0256$ です。このとき、罰則が再構成よりも重くなります。
# ほとんどのコードユニットは止まったまま二度と動かなくなり、平均活性化は 0 に近づきます。
# デコーダは、ぼやけた平均的な数字しか描けなくなります。
#
# </details>
