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
# # 11 · スパースな潜在表現
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/11_sparse_codes.ipynb)
#
# 32 次元の潜在表現で数字を 1 つ表すとき、やり方は大きく分けて 2 通りあります。32 個のユニットがどれも少しずつ値を持つやり方と、ごく一部のユニットだけが大きな値を持ち、残りはちょうど 0 になるやり方です。後者をスパース（疎）な潜在表現と呼びます。スパースな潜在表現は、どのユニットが働いているかを見るだけで何を表しているかを読み取りやすく、実際に役に立つことも多い表現です。所要時間は演習を含めて 40〜70 分です。このレッスンでは、潜在表現に対する L1 の罰則項（ペナルティ）を損失関数に加え（このように学習させるオートエンコーダを、スパースオートエンコーダと呼びます）、その勾配を手で導いて勾配確認をします。そのうえで、罰則項によって潜在表現の活性化がどれだけ小さくなるかを測ります。
#
# このレッスンで学ぶこと
# - 活性化に対する L1 の罰則項（L1 activity penalty）と、その勾配 $\lambda\,\mathrm{sign}(h)/N$
# - スパースオートエンコーダの逆伝播を、潜在表現のところで 2 つに分ける理由
# - 折れ点（kink）のある関数を勾配確認するときの注意
# - 罰則項によって、潜在表現の平均活性化と再構成の損失がどう変わるか

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
# ## 罰則項
#
# ミニバッチの潜在表現を $h = \mathrm{encode}(x)$ と書きます。形は $(N, k)$ です。罰則項は、データ 1 つごとに $k$ 個のユニットについて $|h|$ を足し合わせ、それを $N$ 個のデータで平均したものです。これを再構成の損失 $\ell$（このレッスンでは BCE）に加えたものが、学習で最小化する損失関数 $L$ になります。
#
# $$P(h) = \frac{\lambda}{N} \sum_{n=1}^{N} \sum_{j=1}^{k} |h_{nj}|, \qquad
# \frac{\partial P}{\partial h_{nj}} = \frac{\lambda}{N}\,\mathrm{sign}(h_{nj}), \qquad
# L = \ell(\mathrm{decode}(h), x) + P(h)$$
#
# Keras のブログ記事のスパースオートエンコーダは、`regularizers.l1(10e-5)` と書いています。`10e-5` は $10 \times 10^{-5}$ のことなので、$\lambda = 10^{-4}$ です。ブログに載っている数値も、この集計のしかた（ユニットについては和、ミニバッチについては平均）で計算されたものです。

# %%
import numpy as np


def penalty_forward(h, lam):
    return lam * float(xp.sum(xp.abs(h))) / h.shape[0]  # ユニットとデータについての和を、データ数で割る


def penalty_backward(h, lam):
    return xp.sign(h) * (lam / h.shape[0])  # (N, k)、h と同じ形


rng = np.random.default_rng(0)
h = xp.asarray(rng.standard_normal((4, 6)))  # float64: 勾配確認にはこの精度が要る
print("P(h) =", penalty_forward(h, 0.1))
print("dP/dh, first row:", penalty_backward(h, 0.1)[0, ...])

# %% [markdown]
# ## 折れ点のまわりで勾配確認をする
#
# $|h|$ のグラフは 0 のところで折れ曲がっています。この折れ点（kink）では微分が定義できず、中心差分で数値微分をすると、左右 2 つの傾きを混ぜた値が出てきてしまいます。したがって勾配確認に意味があるのは、どの要素も 0 から数値微分の幅 $h_\text{step} = 10^{-5}$ より遠くにあるときだけです。正規分布の乱数ならほぼ確実にそうなりますが、念のため確かめてから数値微分をします。

# %%
from scratchae import numerical_gradient, rel_error

assert float(xp.min(xp.abs(h))) > 1e-3  # 折れ点から十分に離れている
numeric = numerical_gradient(lambda: penalty_forward(h, 0.1), h)
error = rel_error(numeric, penalty_backward(h, 0.1))
print(f"penalty gradient: relative error {error:.1e}")
# 確認: 1e-11 程度（float64 の丸め誤差）になる。1e-7 を超えたら penalty_backward のバグ
assert error < 1e-7, error

# %% [markdown]
# ライブラリの `L1Activity` は、この 2 つの式をそのままクラスにしたものです。`forward(h)` は `h` を保持しておき、`backward()` はそれを使って $\partial P/\partial h$ を返します。

# %%
import inspect

from scratchae.sparse import L1Activity

print(inspect.getsource(L1Activity.forward))
print(inspect.getsource(L1Activity.backward))
penalty = L1Activity(0.1)
agreement = max(abs(float(penalty.forward(h)) - penalty_forward(h, 0.1)),
                rel_error(penalty.backward(), penalty_backward(h, 0.1)))
# 確認: 和をとる順番のほかは同じ計算なので 1e-16 程度になる。1e-12 を超えたら 2 つは別の計算をしている
assert agreement < 1e-12, agreement
print("L1Activity agrees with the hand-written penalty:", agreement)

# %% [markdown]
# ## スパースオートエンコーダの学習ステップ: 逆伝播を潜在表現のところで分ける
#
# $h$ には、2 つの経路から勾配が届きます。再構成の損失の勾配はデコーダを通って $h$ に戻ってきますが、罰則項は $h$ に直接かかっているので、その勾配はデコーダを通りません。計算グラフで言えば $h$ から枝が 2 本出ているので、逆伝播ではこの 2 つの勾配を足し合わせることになります。そこで学習ステップでは、まずデコーダの逆伝播だけを行い、$h$ のところで罰則項の勾配を足します。エンコーダの逆伝播を行うのは、そのあとです。それ以外は、これまでの学習ステップとまったく同じです。

# %%
from scratchae.sparse import sparse_step

print(inspect.getsource(sparse_step))

# %% [markdown]
# ## 罰則項のあり・なしを比べる
#
# モデルは Keras のブログ記事と同じ 784-32-784 の全結合のオートエンコーダで、潜在表現の活性化関数は ReLU、出力は Sigmoid、損失関数は二値交差エントロピー誤差（BCE）です。同じ重みの初期値と同じミニバッチの順番で、$\lambda = 10^{-4}$ と $\lambda = 0$ の 2 通りで学習させます。そのうえで、テストデータでの BCE と、潜在表現の平均活性化を比べます。平均活性化とは、テスト画像すべて、ユニットすべてにわたる $h$ の平均のことです。ブログもこの値を報告していて、100 エポックの学習のあと、罰則項ありで 3.33、なしで 7.30 でした。

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
# 確認: 罰則項があれば潜在表現の活性化は小さくなるはず。平均活性化は罰則項なしのモデルよりはっきり小さく
# （クイックモードの 10 エポックで比はおよそ 0.7、ブログでは 3.33 対 7.30）、BCE はわずかに大きくなる。
# 比が 0.9 を超えたら、罰則項の勾配がエンコーダまで届いていない
ratio = sparse["test_code_mean"] / plain["test_code_mean"]
assert ratio < 0.9, (sparse, plain)
print(f"mean activation ratio, with / without: {ratio:.2f}")

# %% [markdown]
# ## 活性化はどこへ行ったのか
#
# テスト画像の潜在表現の値をすべて集めて、ヒストグラムにしてみましょう（縦軸は対数目盛りです）。L1 の罰則項は、小さな活性化をちょうど 0 まで引き下げ（いったん 0 になると、ReLU がそこにとどめます）、残りの活性化も小さくします。

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
# 同じことは、コマンドラインからもできます。`--sparsity 1e-4`（どのモデルにも付けられます）か `--preset keras-sparse`（ブログのモデル）を指定すると、エポックごとに罰則項と潜在表現の平均活性化を表示します。
#
# ## やってみよう
#
# 1. 活性化への罰則項には、L2 の罰則項 $P_2(h) = \frac{\lambda}{N}\sum_{n,j} h_{nj}^2$ もよく使われます。その順伝播と逆伝播を実装してください。下のセルが、あなたの逆伝播を勾配確認します。

# %%
from scratchae.exercises import try_it


def l2_forward(h, lam):
    raise NotImplementedError  # この行を自分の実装に置き換える


def l2_backward(h, lam):
    raise NotImplementedError  # この行を自分の実装に置き換える


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
#     return h * (2 * lam / h.shape[0])  # (N, k)、h と同じ形
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
# 2. L1 の代わりに、自分で書いた L2 の罰則項で学習させてみてください（`forward(h)` と `backward()` を持つクラスにすれば、`sparse_step` の中で `L1Activity` の代わりに使えます）。ちょうど 0 になる活性化が多いのはどちらでしょうか。それはなぜでしょうか。
#
# <details><summary>答え</summary>
#
# L1 です。L1 の罰則項の勾配は、$h$ がどれほど小さくなっても $\lambda/N$ のままです。そのため小さな活性化も同じ強さで押し下げ続け、最後には ReLU がちょうど 0 に切り落とします。一方、L2 の勾配 $2\lambda h/N$ は、$h$ が小さくなるにつれて 0 に近づき、押す力も弱まっていきます。その結果、L2 の罰則項は活性化を小さくはしますが、ちょうど 0 にすることはめったにありません。
#
# </details>
#
# 3. Keras 1 は、このレッスンと同じく、活性化への罰則項をミニバッチについて平均していました。ところが後のバージョンでは、ミニバッチについての和に変わりました。そのため、ブログの `10e-5` はブログのバッチサイズ 256 のもとで 256 倍強く効くことになり、記事を再現した人たちのテストの損失は 0.10 ではなく 0.26 近くになりました。この強い罰則項は、このレッスンの集計のしかたでは、どの $\lambda$ にあたるでしょうか。その $\lambda$ で学習させると、潜在表現の平均活性化と再構成画像はどうなるでしょうか。
#
# <details><summary>答え</summary>
#
# $\lambda = 256 \times 10^{-4} = 0.0256$ です。ここまで強いと、罰則項のほうが再構成の損失よりも重くなります。潜在表現のユニットのほとんどは 0 を出したまま二度と動かなくなり、平均活性化は 0 に近づきます。デコーダは、ぼやけた平均的な数字しか描けなくなります。
#
# </details>
