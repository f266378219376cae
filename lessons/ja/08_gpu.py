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
# # 08 · 同じプログラムを GPU で動かす
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scratchae/scratchae/blob/main/lessons/ja/08_gpu.ipynb)
#
# scratchae では、レイヤも損失関数も最適化手法も、実装は 1 つずつしかありません。ノートパソコンではその実装が NumPy の上で動き、NVIDIA の GPU を積んだマシン（Colab の T4 も含みます。*ランタイム → ランタイムのタイプを変更 → T4 GPU* で選べます）では、まったく同じ行がそのまま CuPy の上で動きます。このノートブックは、Colab で GPU ランタイムを使うように設定してあります。GPU がなければ CPU で動き、GPU を使えない理由を表示します。演習を含めて 40〜80 分ほどかかります。
#
# このレッスンで学ぶこと
# - `xp` とは何か、そしてライブラリの計算の実装に `np.` が一度も出てこないのはなぜか
# - データはミニバッチごとではなく、最初に一度だけデバイスへ移すこと
# - すべてをわざと float32 にそろえている理由
# - 1 エポックにかかる時間を、CPU と GPU で測る方法

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
# ## `xp` とは何か
#
# NumPy や CuPy などの配列ライブラリは、[Python array API](https://data-apis.org/array-api/) という共通の標準に沿って、同じ名前の関数をそろえています。配列は自分を作ったライブラリを覚えていて、`sa.get_xp(x)` を呼ぶと、そのライブラリの*名前空間*（namespace）が返ってきます。名前空間とは、関数を呼び出す先のモジュールのことで、NumPy なら `np` にあたります。したがって、入力の配列から `xp` を取り出し、標準の関数だけを呼ぶように書いておけば、その実装は入力がどのデバイスにあっても動くことになります。試しに、この書き方で小さな Sigmoid を実装してみましょう。
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
    xp = sa.get_xp(x)  # 名前空間はデータから取る。グローバルな切り替えスイッチは使わない
    return 0.5 * (1.0 + xp.tanh(0.5 * x))


host = np.linspace(-4.0, 4.0, 5, dtype=np.float32)
on_device = sa.to_device(host, xp)  # 準備のセルが選んだデバイス上のコピー（CPU では実際には何も移さない）
for x in (host, on_device):
    print(f"{type(x).__module__}.{type(x).__name__:9s} xp = {sa.get_xp(x).__name__:22s} {sigmoid(x)}")

# %% [markdown]
# 手元に GPU がなくても、`array_api_strict` を GPU の代わりに使えます。このライブラリは標準に書かれた関数だけを実装していて、それ以外の関数は持っていません。配列を 2 つ目のデバイス `Device("device1")` に置くこともでき、そうした配列は CuPy の配列と同じように、別の場所の配列と混ぜて計算しようとするとエラーになります。scratchae のテストは、ライブラリ全体をこの上で動かしています。計算の実装に NumPy でしか動かない呼び出しが 1 つもないと言えるのは、そのためです。
#
# `array_api_strict` は、普通のインストールでは入りません（テスト用の extra に含まれています）。小さなパッケージなので、Colab では下のセルがその場でインストールします。それ以外の環境で見つからないときは、strict を使う部分とその確認を実行せず、そのことをセルが表示します。

# %%
import importlib

try:
    import array_api_strict as strict
except ImportError:  # 普通のインストールには不要。テスト用の extra で入る
    if "google.colab" in sys.modules:  # Python だけの小さなパッケージなので、Colab でも比べられるように入れる
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
        far + sa.to_device(host, strict)  # 同じ数だが、こちらは既定のデバイスにある
    except ValueError as err:
        print("mixing devices:", err)

# %% [markdown]
# **確認。** 使えるすべての名前空間で、ここで書いた小さな Sigmoid とライブラリの `Sigmoid` の両方が、NumPy を使って float64 で計算した $1/(1+e^{-x})$ と一致することを確かめます。差は 1e-8 から 1e-7 程度（float32 の丸め誤差）になるはずです。1e-5 を超えるようなら、式のどこかが間違っています。

# %%
reference = 1.0 / (1.0 + np.exp(-host.astype(np.float64)))
arrays = {"NumPy": host}  # 使える名前空間ごとに配列を 1 つずつ
if xp is not cpu_xp:
    arrays["CuPy"] = on_device
if strict is not None:
    arrays["array_api_strict (device1)"] = far
for name, x in arrays.items():
    err = max(float(np.max(np.abs(sa.to_numpy(f(x)) - reference))) for f in (sigmoid, sa.Sigmoid().forward))
    print(f"{name:28s} toy and library: largest difference {err:.1e}")
    assert err < 1e-5

# %% [markdown]
# ## データは一度だけ移す
#
# GPU は計算こそ速いものの、そのメモリはホスト（CPU の側）のメモリとは別になっています。データは、両者をつなぐバスという比較的遅い通り道を通って GPU に届きます。そのため、ミニバッチ 1 つをバスで送る時間のほうが、それを使った計算の時間より長くなることさえあります。そこで、訓練データは学習を始める前に一度だけデバイスへ移しておき、各ミニバッチはデバイスの上で切り出すことにします（`xp.take`）。ここでは、1 エポック分のミニバッチを毎回移す場合と、データ全体を一度だけ移す場合とで、かかる時間を比べてみましょう。
#
# なお、`float(...)` で数を 1 つ読み戻すと、ホストはデバイスの計算が終わるまで待たされます。時間を測る処理はどれも最後にこうして数を読み戻すので、時計が測るのは実際の計算の時間であり、計算を命じただけの時間ではありません。

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
# CPU では、どちらの方法でもほとんど時間はかかりません。NumPy の「移動」は、データがすでにある場所への移動にすぎないからです。一方 GPU では、ミニバッチごとに移すと、その時間がエポックのたびにかかるうえ、GPU はステップごとにデータの到着を待たされます。一度だけ移しておけば、データはすべてのエポックを通して GPU の上にとどまります。
#
# ## わざと float32 を使う
#
# 学習で使う配列は、すべて float32 にしています。float32 なら、メモリは float64 の半分で済み、1 回のメモリアクセスで 2 倍の数を読めます。さらに、たいていの GPU では演算そのものもずっと速くなります（T4 の演算性能は float32 で約 8 TFLOP/s、float64 では 0.25 TFLOP/s です）。一方、勾配確認では float64 を使います。丸め誤差に紛れて、間違った式を見逃すわけにはいかないからです。
#
# 気をつけたいのは、知らないうちに計算が float64 に切り替わってしまうことです。`np.sqrt(2.0)` のような NumPy のスカラーは float64 なので、float32 の配列と計算すると、結果が float64 になってしまいます。Python の float なら、そうはなりません。

# %%
x32 = np.ones(3, dtype=np.float32)
print("float32 array * np.sqrt(2.0)   ->", (x32 * np.sqrt(2.0)).dtype)
print("float32 array * math.sqrt(2.0) ->", (x32 * math.sqrt(2.0)).dtype)

for dtype in ("float32", "float64"):
    a = sa.to_device(np.random.default_rng(0).random((1024, 1024)), xp, dtype=dtype)
    t = seconds(lambda: float((a @ a)[0, 0]))
    print(f"1024 x 1024 matrix product on {sa.backend.describe(xp)} in {dtype}: {t * 1e3:6.2f} ms")

# %% [markdown]
# scratchae のライブラリは、こうした型の混在を黙って float64 で計算したりはせず、エラーにして知らせます。

# %%
layer = sa.Dense(784, 32, rng=SEED)  # 重みは float32
try:
    layer.forward(np.ones((2, 784)))  # np.ones が作るのは float64 の配列
except TypeError as err:
    print("TypeError:", err)

# %% [markdown]
# ## それぞれのデバイスで 1 エポック
#
# 次の関数は、どの名前空間でも同じように 1 エポックの学習を行います。重みはホスト側で NumPy を使って生成してからデバイスへ移すので、どのデバイスでもまったく同じ重みから始まり、まったく同じミニバッチで学習が進みます。ただし GPU では、最初の数ステップのあいだに CuPy が*カーネル*（kernel）のコンパイルも行います。ここでいうカーネルとは、行列の積 1 回のような、GPU が実行する小さなプログラム 1 つのことです。このコンパイルの時間を測定に含めないように、先に数ステップのウォームアップをしておきます。

# %%
def one_epoch(xp, device=None):
    """Train the reference model for one epoch on (xp, device); returns (seconds, test BCE)."""
    x_train = sa.to_device(x_train_host, xp, device)  # 一度だけ移す
    x_test = sa.to_device(x_test_host, xp, device)
    model = sa.dense_autoencoder(rng=SEED, xp=xp, device=device)
    init_output_bias(model, sa.to_device(x_train_host.mean(axis=0), xp, device))
    optimizer, bce = sa.Adam(model, lr=1e-3), sa.BCE()
    warm = sa.dense_autoencoder(rng=SEED, xp=xp, device=device)
    for _ in range(3):  # 使い捨てのモデルでウォームアップ。カーネルをコンパイルし、メモリプールを埋める
        float(train_step(warm, bce, sa.Adam(warm), x_train[:BATCH, ...]))
    order = sa.to_device(epoch_order(N_TRAIN, SEED, 0), xp, device)
    start = time.perf_counter()
    for a, b in batch_slices(N_TRAIN, BATCH):
        loss = train_step(model, bce, optimizer, xp.take(x_train, order[a:b], axis=0))
    float(loss)  # 最後の損失を読み戻すと、デバイスがすべてのステップを終えるまで待つ
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
# **確認。** CPU と GPU の 2 つの実行は、まったく同じ学習をしています。ただし GPU では、行列の積が項を足し合わせる順番が CPU とは異なります。そのため float32 の結果はわずかに食い違い、その差は 1 エポックのあいだに少しずつ広がります。2 つのテスト BCE は、相対誤差にして 1e-5 から 1e-4 程度の範囲で一致するはずです。1e-3 を超えるなら、GPU 側の計算がどこか違っています。GPU がない場合は、array_api_strict の 2 つ目のデバイスで同じエポックを実行します。こちらは NumPy の結果とぴったり一致しなければなりません。中で NumPy が、同じ順番で計算しているからです。

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
# この程度の小さなモデルでは、GPU の強みはバッチを大きくするほど目立ってきます。というのも、バッチサイズが 256 のとき、T4 は 1 ステップの時間の多くを、Python が次のカーネルを起動するのを待つことに費やしているからです。1 ステップで起動する小さなカーネルは数百個にもなります（Adam だけでも、パラメータの配列 1 つにつき、いくつものカーネルを起動します）。なお、コマンドラインでは、この切り替えはフラグ 1 つ（`python -m scratchae.train --gpu`）で済みます。
#
# ## やってみよう
#
# 1. どの名前空間でも動く関数 `softplus(x)` $= \log(1 + e^x)$ を実装してください。`xp` は `x` から取り、標準の関数だけを使います。式をそのまま書くと、float32 では $x > 88$ でオーバーフローし、$x < -17$ では 0 を返してしまいます。そこで $\log(1+e^x) = \max(x, 0) + \log(1 + e^{-|x|})$ と変形し、`xp.log1p` を使いましょう。下のセルが、使えるすべての名前空間で確かめます。

# %%
from scratchae.exercises import try_it


def softplus(x):
    """log(1 + exp(x)), elementwise, in x's own namespace and dtype, finite for every finite x."""
    raise NotImplementedError  # この行を自分の実装に置き換える


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
#     return relu + xp.log1p(xp.exp(-xp.abs(x)))  # 0 以下の数の exp はオーバーフローしない
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
# 2. バッチサイズを 64、256、1024 と変えて、それぞれのデバイスで 1 エポックの時間を測ってください（`BATCH` を変えてから、`one_epoch` をもう一度実行します）。GPU が CPU を引き離すのはどのあたりからでしょうか。また、それはなぜでしょうか。
#
# <details><summary>答え</summary>
#
# CPU では、画像 1 枚あたりの時間はバッチサイズによってほとんど変わりません。一方 GPU では、バッチを大きくするにつれてどんどん短くなります。GPU での 1 ステップのコストは、その大半が数百個のカーネルを起動する時間で、これはカーネルが扱うデータの大きさにほとんどよらないからです。バッチ 64 では GPU が CPU に負けることさえありますが、バッチ 1024 では GPU が大差で勝ちます。
#
# </details>
#
# 3. `one_epoch` を書き換えて、データを一度だけ移すのではなく、ループの中でミニバッチを毎回ホストから移すようにしてください。また、float64 でも学習させてみてください（`dense_autoencoder` に `dtype="float64"` を渡し、データも float64 にします）。それぞれ、どれくらい遅くなるでしょうか。
#
# <details><summary>答え</summary>
#
# ミニバッチを毎回移すと、CPU ではわずかしか遅くなりませんが、GPU でははっきり遅くなります。ステップのたびに、バスを通るコピーとその完了待ちが入るからです。float64 にすると、CPU では約 2 倍の時間がかかり、T4 ではそれよりはるかに遅くなります。T4 の float64 の演算性能は、float32 の 32 分の 1 しかないからです。
#
# </details>
