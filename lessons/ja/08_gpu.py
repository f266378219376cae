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
# # 08 · 同じコードを GPU で動かす
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/08_gpu.ipynb)
#
# scratchae の層、損失関数、最適化手法のコードは、それぞれ 1 つしかありません。
# ノートパソコンでは NumPy の上で動きます。NVIDIA の GPU があるマシン（Colab の T4 も含みます。
# *ランタイム → ランタイムのタイプを変更 → T4 GPU*）では、まったく同じ行が CuPy の上で動きます。このノートブックは、
# Colab で GPU ランタイムを使うように設定してあります。GPU がなければ CPU で動き、その理由を表示します。
# 演習を含めて 35〜50 分ほどかかります。
#
# このレッスンで学ぶこと
# - `xp` とは何か。ライブラリの計算のコードに `np.` が 1 つも出てこないのはなぜか。
# - データは、ミニバッチごとではなく、最初に 1 回だけデバイスに移すこと。
# - なぜ、わざとすべてを float32 にするのか。
# - 1 エポックの時間を、CPU と GPU で測る方法。

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
# ## `xp` とは何か
#
# NumPy や CuPy などのライブラリは、配列の関数の共通の標準を実装しています。
# [Python array API](https://data-apis.org/array-api/) です。配列は、どのライブラリで作られたかを覚えています。
# `sa.get_xp(x)` は、そのライブラリの *配列の名前空間*（array namespace）を返します。名前空間とは、
# 関数を呼び出すモジュールのことで、NumPy なら `np` にあたります。入力から `xp` を受け取り、
# 標準の関数だけを呼ぶコードは、入力がどこにあっても動きます。この書き方で、小さな Sigmoid を書いてみます。
#
# $$\sigma(x) = \tfrac12\big(1 + \tanh(x/2)\big)$$

# %%
import math
import time

import numpy as np

import scratchae as sa
from scratchae.backend import cpu_xp
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import init_output_bias
from scratchae.training import evaluate, train_step

N_TRAIN = 6000 if QUICK else 60000
BATCH, SEED = 256, 0


def sigmoid(x):
    xp = sa.get_xp(x)  # 名前空間はデータから取ります。グローバルな切り替えスイッチは使いません
    return 0.5 * (1.0 + xp.tanh(0.5 * x))


host = np.linspace(-4.0, 4.0, 5, dtype=np.float32)
on_device = sa.to_device(host, xp)  # 準備のセルが選んだデバイス上のコピー（CPU では何も移しません）
for x in (host, on_device):
    print(f"{type(x).__module__}.{type(x).__name__:9s} xp = {sa.get_xp(x).__name__:22s} {sigmoid(x)}")

# %% [markdown]
# GPU が手元になくても、`array_api_strict` が GPU の代わりになります。このライブラリは標準だけを実装していて、
# それ以外の関数はありません。配列を 2 つ目のデバイス `Device("device1")` に置くこともできます。
# CuPy の配列と同じように、ほかの場所の配列と混ぜようとすると拒みます。テストでは、
# ライブラリ全体をこの上で動かします。こうして、
# 計算のコードに NumPy でしか動かない呼び出しがないことを確かめています。
#
# 普通のインストールでは、`array_api_strict` は入りません（テスト用の extra で入ります）。Colab では、
# 下のセルがインストールします。小さなパッケージです。それ以外の環境で入っていないときは、
# strict を使う部分とその確認は実行せず、セルがそのことを表示します。

# %%
import importlib

try:
    import array_api_strict as strict
except ImportError:  # 普通のインストールでは不要です。テスト用の extra で入ります
    if "google.colab" in sys.modules:  # 小さな Python だけのパッケージです。Colab でも比べられるように入れます
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "array-api-strict>=2.2"], check=False)
        importlib.invalidate_caches()
    try:
        import array_api_strict as strict
    except ImportError:
        strict = None
        print("array_api_strict is not installed here, so the strict comparison does not run. "
              "To run it: pip install array-api-strict")

if strict is not None:
    far = sa.to_device(host, strict, strict.Device("device1"))
    print(f"{type(far).__module__}.{type(far).__name__} on {far.device}: {sigmoid(far)}")
    try:
        far + sa.to_device(host, strict)  # 同じ数ですが、こちらは既定のデバイスにあります
    except ValueError as err:
        print("mixing devices:", err)

# %% [markdown]
# **確認。** 使える名前空間のすべてで、小さな Sigmoid とライブラリの `Sigmoid` が、
# NumPy で float64 で計算した $1/(1+e^{-x})$ と一致することを確かめます。
# 差は 1e-8 から 1e-7 くらい（float32 の丸め誤差）になるはずです。1e-5 を超えたら、式が間違っています。

# %%
reference = 1.0 / (1.0 + np.exp(-host.astype(np.float64)))
arrays = {"NumPy": host}  # 使える名前空間ごとに、配列を 1 つずつ
if xp is not cpu_xp:
    arrays["CuPy"] = on_device
if strict is not None:
    arrays["array_api_strict (device1)"] = far
for name, x in arrays.items():
    err = max(float(np.max(np.abs(sa.to_numpy(f(x)) - reference))) for f in (sigmoid, sa.Sigmoid().forward))
    print(f"{name:28s} toy and library: largest difference {err:.1e}")
    assert err < 1e-5

# %% [markdown]
# ## データは 1 回だけ移す
#
# GPU は速く計算します。でも、GPU のメモリは、ホスト（CPU の側）のメモリとは別のものです。
# データはバスを通って GPU に届きます。バスは、2 つをつなぐ、比較的遅い通り道です。
# ミニバッチ 1 つをバスで送る時間が、それを使って計算する時間より長くなることもあります。そこで、
# 訓練データは学習の前に 1 回だけ移し、ミニバッチはデバイスの上で切り出します（`xp.take`）。1 エポックの間、
# ミニバッチを毎回移す場合と、全体を 1 回だけ移す場合を比べます。（数を 1 つ読み戻す `float(...)` をすると、
# ホストはデバイスの計算が終わるまで待ちます。そのため、時計が測るのは実際の計算で、
# 計算の命令を出しただけの時間ではありません。）

# %%
x_train_host, _, x_test_host, _ = load("mnist")
x_train_host = x_train_host[:N_TRAIN]


def seconds(fn, repeat=3):
    """Best of ``repeat`` wall-clock times of fn() (fn must end by reading a value back)."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


once = seconds(lambda: float(sa.to_device(x_train_host, xp)[0, 0]))
per_batch = seconds(lambda: [float(sa.to_device(x_train_host[a:b], xp)[0, 0])
                             for a, b in batch_slices(N_TRAIN, BATCH)])
print(f"{N_TRAIN} images, {x_train_host.nbytes / 1e6:.0f} MB: moved once {once * 1e3:.2f} ms, "
      f"batch by batch {per_batch * 1e3:.2f} ms (every epoch)")

# %% [markdown]
# CPU では、どちらもほとんど時間がかかりません（NumPy の「移動」は、データがすでにある場所への移動だからです）。
# GPU では、ミニバッチごとに移すと、その時間がエポックのたびにかかり、GPU はステップのたびに待たされます。
# 1 回だけ移せば、データはすべてのエポックの間、GPU に置いたままです。
#
# ## わざと float32 を使う
#
# 学習で使う配列は、すべて float32 です。メモリは float64 の半分で、1 回のメモリアクセスで 2 倍の数を読めます。
# そして、たいていの GPU では計算がずっと速くなります（T4 は float32 で約 8 TFLOP/s、
# float64 では 0.25 TFLOP/s です）。勾配確認には float64 を使います。丸め誤差のせいで、
# 間違った式を見逃してはいけないからです。気をつけたいのは、知らないうちに float64 に変わってしまうことです。
# `np.sqrt(2.0)` のような NumPy のスカラーは float64 なので、
# float32 の配列との計算結果を float64 に変えてしまいます。Python の float では、そうなりません。

# %%
x32 = np.ones(3, dtype=np.float32)
print("float32 array * np.sqrt(2.0)   ->", (x32 * np.sqrt(2.0)).dtype)
print("float32 array * math.sqrt(2.0) ->", (x32 * math.sqrt(2.0)).dtype)

for dtype in ("float32", "float64"):
    a = sa.to_device(np.random.default_rng(0).random((1024, 1024)), xp, dtype=dtype)
    t = seconds(lambda: float((a @ a)[0, 0]))
    print(f"1024 x 1024 matrix product on {sa.backend.describe(xp)} in {dtype}: {t * 1e3:6.2f} ms")

# %% [markdown]
# ライブラリは、こっそり float64 で計算するのではなく、型が混ざった入力を拒みます。

# %%
layer = sa.Dense(784, 32, rng=SEED)  # 重みは float32
try:
    layer.forward(np.ones((2, 784)))  # np.ones は float64 の配列を作ります
except TypeError as err:
    print("TypeError:", err)

# %% [markdown]
# ## それぞれのデバイスで 1 エポック
#
# 同じ関数が、どの名前空間でも 1 エポックの学習をします。重みはホストの NumPy で作ってから移すので、
# どのデバイスもまったく同じ重みから始まり、まったく同じミニバッチを使います。GPU での最初の数ステップでは、
# CuPy が *カーネル*（kernel）もコンパイルします。カーネルとは、GPU が実行する 1 つの小さなプログラムのことです。
# 行列の積 1 回が、その一例です。最初に数ステップのウォームアップをして、この時間を測定に含めないようにします。

# %%
def one_epoch(xp, device=None):
    """Train the reference model for one epoch on (xp, device); returns (seconds, test BCE)."""
    x_train = sa.to_device(x_train_host, xp, device)  # 1 回だけ移します
    x_test = sa.to_device(x_test_host, xp, device)
    model = sa.dense_autoencoder(rng=SEED, xp=xp, device=device)
    init_output_bias(model, sa.to_device(x_train_host.mean(axis=0), xp, device))
    optimizer, bce = sa.Adam(model, lr=1e-3), sa.BCE()
    warm = sa.dense_autoencoder(rng=SEED, xp=xp, device=device)
    for _ in range(3):  # 捨てるモデルでウォームアップします。カーネルをコンパイルし、メモリプールを満たします
        float(train_step(warm, bce, sa.Adam(warm), x_train[:BATCH, ...]))
    order = sa.to_device(epoch_order(N_TRAIN, SEED, 0), xp, device)
    start = time.perf_counter()
    for a, b in batch_slices(N_TRAIN, BATCH):
        loss = train_step(model, bce, optimizer, xp.take(x_train, order[a:b], axis=0))
    float(loss)  # 最後の損失を読み戻すと、デバイスがすべてのステップを終えるまで待ちます
    return time.perf_counter() - start, evaluate(model, bce, x_test)


results = {"CPU (NumPy)": one_epoch(cpu_xp)}
try:
    results["GPU (CuPy)"] = one_epoch(sa.gpu_xp())
except sa.GPUUnavailableError as err:
    print(f"no GPU run: {err.reason}")
for name, (secs, loss) in results.items():
    print(f"{name:12s} one epoch of {N_TRAIN} images: {secs:6.2f} s, {N_TRAIN / secs:8.0f} images/s, "
          f"test BCE {loss:.5f}")

# %% [markdown]
# **確認。** 2 つの実行は、同じ学習を計算しました。GPU では、行列の積が項を別の順番で足します。
# そのため float32 の結果は少しだけ違い、その差は 1 エポックの間に少しずつ大きくなります。2 つのテスト BCE は、
# 相対的に 1e-5 か 1e-4 くらいまで一致するはずです。1e-3 を超えたら、GPU 側が別のものを計算しています。
# GPU がないときは、array_api_strict の 2 つ目のデバイスで同じエポックを実行します。
# 結果は NumPy とぴったり同じになるはずです（中では NumPy が、同じ順番で計算しているからです）。

# %%
cpu_loss = results["CPU (NumPy)"][1]
if "GPU (CuPy)" in results:
    gpu_loss = results["GPU (CuPy)"][1]
    print(f"test BCE: CPU {cpu_loss:.7f}, GPU {gpu_loss:.7f}, rel. difference {abs(gpu_loss / cpu_loss - 1):.1e}")
    print(f"the GPU was {results['CPU (NumPy)'][0] / results['GPU (CuPy)'][0]:.1f}x faster")
    assert abs(gpu_loss / cpu_loss - 1) < 1e-3
elif strict is not None:
    strict_secs, strict_loss = one_epoch(strict, strict.Device("device1"))
    print(f"test BCE: NumPy {cpu_loss:.7f}, array_api_strict on device1 {strict_loss:.7f} ({strict_secs:.2f} s)")
    assert strict_loss == cpu_loss
else:
    print("no second backend here to compare with")

# %% [markdown]
# このくらい小さなモデルでは、GPU の強みはバッチが大きいほど大きくなります。バッチ 256 では、
# T4 はステップの時間の多くを待って過ごします。ステップごとに数百ある小さなカーネルの、
# 次の 1 つを Python が起動するのを待っているのです（Adam だけでも、パラメータの配列 1 つにつき、
# いくつものカーネルを起動します）。コマンドラインでは、
# 同じ切り替えがフラグ 1 つでできます: `python -m scratchae.train --gpu`。
#
# ## やってみよう
#
# 1. どの名前空間でも動く関数を書いてください。`softplus(x)` $= \log(1 + e^x)$ です。`xp` は `x` から取り、
#    標準の関数だけを使います。式をそのまま書くと、float32 では $x > 88$ でオーバーフローし、
#    $x < -17$ では 0 を返してしまいます。
#    $\log(1+e^x) = \max(x, 0) + \log(1 + e^{-|x|})$ と `xp.log1p` を使ってください。下のセルは、
#    使える名前空間のすべてで確かめます。

# %%
from scratchae.exercises import try_it


def softplus(x):
    """log(1 + exp(x)), elementwise, in x's own namespace and dtype, finite for every finite x."""
    raise NotImplementedError  # この行を、あなたのコードに置き換えてください


def check_softplus():
    host = np.array([-30.0, -5.0, 0.0, 3.0, 100.0], dtype=np.float32)
    reference = np.logaddexp(0.0, host.astype(np.float64))  # float64 で、別の方法で計算した値
    for name, x in arrays.items():
        x = sa.to_device(host, sa.get_xp(x), sa.backend.device_of(x))
        out = softplus(x)
        assert sa.get_xp(out) is sa.get_xp(x), f"{name}: the result left x's namespace; use xp = sa.get_xp(x)"
        err = float(np.max(np.abs(sa.to_numpy(out) / reference - 1)))
        assert err < 1e-5, f"{name}: relative error {err:.1e} (expect about 1e-7): {sa.to_numpy(out)}"


try_it("softplus on every namespace", check_softplus)

# %% [markdown]
# <details><summary>解答</summary>
#
# ```python
# from scratchae.exercises import try_it
#
#
# def softplus(x):
#     """log(1 + exp(x)), elementwise, in x's own namespace and dtype, finite for every finite x."""
#     xp = sa.get_xp(x)
#     relu = (x + xp.abs(x)) * 0.5  # 標準の関数だけで書いた max(x, 0)
#     return relu + xp.log1p(xp.exp(-xp.abs(x)))  # 0 以下の数の exp は、オーバーフローしません
#
#
# def check_softplus():
#     host = np.array([-30.0, -5.0, 0.0, 3.0, 100.0], dtype=np.float32)
#     reference = np.logaddexp(0.0, host.astype(np.float64))  # float64 で、別の方法で計算した値
#     for name, x in arrays.items():
#         x = sa.to_device(host, sa.get_xp(x), sa.backend.device_of(x))
#         out = softplus(x)
#         assert sa.get_xp(out) is sa.get_xp(x), f"{name}: the result left x's namespace; use xp = sa.get_xp(x)"
#         err = float(np.max(np.abs(sa.to_numpy(out) / reference - 1)))
#         assert err < 1e-5, f"{name}: relative error {err:.1e} (expect about 1e-7): {sa.to_numpy(out)}"
#
#
# try_it("softplus on every namespace", check_softplus)
# ```
#
# </details>
#
# 2. バッチサイズ 64、256、1024 で、それぞれのデバイスの 1 エポックの時間を測ってください（`BATCH` を変えて、
#    `one_epoch` をもう一度実行します）。GPU が CPU を引き離すのはどこからでしょうか。それはなぜでしょうか。
#
# <details><summary>答え</summary>
#
# CPU では、画像 1 枚あたりの時間は、バッチの大きさであまり変わりません。GPU では大きく下がります。
# GPU での 1 ステップの時間は、ほとんどが数百のカーネルを起動する時間で、
# カーネルの大きさにはあまりよらないからです。バッチ 64 では、GPU が CPU に負けることさえあります。
# バッチ 1024 では、GPU が大きな差で勝ちます。
#
# </details>
#
# 3. `one_epoch` を書き換えて、データを 1 回だけ移す代わりに、ループの中でミニバッチを毎回ホストから移してください。
#    また、float64 で学習させてください（`dense_autoencoder` に `dtype="float64"` を渡し、
#    データも float64 にします）。それぞれ、どれだけ遅くなるでしょうか。
#
# <details><summary>答え</summary>
#
# ミニバッチを毎回移すと、CPU ではわずかに、GPU でははっきりと遅くなります（ステップのたびに、
# バスを通るコピーと待ち時間があるからです）。float64 にすると、CPU では約 2 倍の時間がかかります。
# T4 ではそれよりずっと遅くなります。T4 の float64 の計算速度は、float32 の 32 分の 1 しかないからです。
#
# </details>
