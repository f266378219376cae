"""Time scratchae's LSTM autoencoder training steps against PyTorch eager with torch.nn.LSTM, on this machine, in one run.

The recipe is ``python -m scratchae.train --preset seq2seq``: Fashion-MNIST images read as 28 rows of 28 pixels,
LSTM(28 -> 100, all steps) -> LSTM(100 -> 30, last step) -> repeat 28 times -> LSTM(30 -> 100, all steps) ->
the same Dense(100 -> 28) on every step, MSE, Adam lr 1e-3, batch 32, float32. For each thread count the script
times, in turn (A B C D A B C D ...), the same ``--batches`` minibatches (the first ones of epoch 1's shuffled
order) with scratchae's ``train_step`` and ``make_adam`` (the command's step and optimizer) on the model the
command builds (lstm_fast.FastLSTM), on the same model with lstm.py's plain LSTM (``fast=False``, the one lesson
15 teaches), and with PyTorch eager twice (``nn.LSTM`` with batch_first, ``nn.Linear`` on the (N, T, 100) output,
``nn.MSELoss``, ``optim.Adam``): as it runs by default, where each LSTM layer is one call into oneDNN's fused RNN
kernel, and with oneDNN turned off, where it issues one operation per gate and time step as scratchae does. Same
initial weights (Keras layout mapped to PyTorch's: weight_ih = Wx.T, weight_hh = Wh.T, bias_ih = b, bias_hh = 0);
every step reads the loss. It prints medians after a warm-up, the ratios, the spread of the per-round ratio to
PyTorch (lowest and highest of the rounds), and the time of an epoch (1,719 steps) they imply.

    pip install -e .[bench]
    python benchmarks/bench_seq2seq.py                        # threads 1 and 2, 200 batches, 5 repeats
    python benchmarks/bench_seq2seq.py --batches 50 --repeats 3   # quicker
    python benchmarks/bench_seq2seq.py --profile              # where a scratchae step goes (cProfile, 1 thread)
"""
import argparse
import cProfile
import pstats
import statistics
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import scratchae as sa
from scratchae.data import batch_slices, epoch_order, load
from scratchae.lstm import LSTM
from scratchae.optim_fast import make_adam
from scratchae.seq2seq import rows_autoencoder
from scratchae.training import train_step
from timing import print_blas  # benchmarks/timing.py: run as python3 benchmarks/<script>.py

BATCH, STEPS_PER_EPOCH = 32, 1719  # 55,000 training images in batches of 32


def batches(x, n, batch_size):
    """The first ``n`` minibatches of epoch 1's order (seed 0), as (B, 784) float32 host arrays."""
    order = epoch_order(x.shape[0], 0, 0)
    return [np.take(x, order[a:b], axis=0) for a, b in list(batch_slices(x.shape[0], batch_size))[:n]]


def scratchae_runner(xbs, fast=True):
    model = rows_autoencoder(rng=0, fast=fast)
    opt, loss = make_adam(model, lr=1e-3), sa.MSE()  # the command's optimizer (FusedAdam)

    def run():
        for xb in xbs:
            float(train_step(model, loss, opt, xb))
    return run, model


def torch_runner(torch, model, xbs, onednn=True):
    """The same model in PyTorch, started from scratchae's initial weights.

    PyTorch's CPU ``nn.LSTM`` runs each layer's whole sequence, forward and backward, as one call into oneDNN's fused
    RNN primitive (the profiler shows ``aten::mkldnn_rnn_layer`` and ``mkldnn_rnn_layer_backward``). With
    ``onednn=False`` it falls back to one ATen operation per gate and time step, as scratchae's Python loop does.
    """
    nn = torch.nn
    lstm_layers = [layer for layer in model.layers if isinstance(layer, LSTM)]
    lstms = [nn.LSTM(layer.in_features, layer.units, batch_first=True) for layer in lstm_layers]
    dense = model.layers[-2].layer  # TimeDistributed(Dense(100, 28)), before the closing Flatten
    head = nn.Linear(dense.in_features, dense.out_features)
    with torch.no_grad():
        for ours, theirs in zip(lstm_layers, lstms):
            theirs.weight_ih_l0.copy_(torch.from_numpy(ours.params["Wx"].T.copy()))
            theirs.weight_hh_l0.copy_(torch.from_numpy(ours.params["Wh"].T.copy()))
            theirs.bias_ih_l0.copy_(torch.from_numpy(ours.params["b"]))
            theirs.bias_hh_l0.zero_()
        head.weight.copy_(torch.from_numpy(dense.params["W"].T.copy()))
        head.bias.copy_(torch.from_numpy(dense.params["b"]))
    params = [p for m in (*lstms, head) for p in m.parameters()]
    opt, mse = torch.optim.Adam(params, lr=1e-3), nn.MSELoss()
    xts = [torch.from_numpy(xb).reshape(-1, 28, 28) for xb in xbs]

    def step(x):
        h, _ = lstms[0](x)  # (N, 28, 100)
        _, (code, _) = lstms[1](h)  # the last h: (1, N, 30)
        seq = code[0].unsqueeze(1).expand(-1, 28, -1)  # (N, 28, 30), RepeatVector
        h, _ = lstms[2](seq)
        return head(h)  # (N, 28, 28)

    with torch.no_grad():  # the same model: the same output on the first batch, before any step
        gap = np.max(np.abs(step(xts[0]).numpy().reshape(xbs[0].shape) - model.forward(xbs[0])))
    assert gap < 1e-5, f"the PyTorch model differs from scratchae's by {gap}"

    def train():
        for x in xts:
            opt.zero_grad(set_to_none=True)
            loss = mse(step(x), x)
            loss.backward()
            loss.item()
            opt.step()

    def run():
        if onednn:
            return train()
        with warnings.catch_warnings():  # flags() warns that TF32 on oneDNN needs an Intel GPU: not used here
            warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
            with torch.backends.mkldnn.flags(enabled=False):
                return train()
    return run


def rounds(runners, repeats):
    """Each runner once as warm-up, then ``repeats`` rounds A B C ...; returns {clock: {runner: [seconds]}}.

    timing.interleaved's loop, keeping every round so that the spread of the per-round ratios can be printed, and
    timing each round twice: wall clock (perf_counter) and this process's CPU time (process_time). On a machine
    shared with other work the CPU time leaves out the time spent waiting for a core; it still pays for caches
    that other processes share. With more than one thread, CPU time adds up the threads and is not comparable.
    """
    times = {clock: {name: [] for name in runners} for clock in ("wall", "cpu")}
    for round_ in range(repeats + 1):
        for name, run in runners.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            if round_:
                times["wall"][name].append(time.perf_counter() - wall)
                times["cpu"][name].append(time.process_time() - cpu)
    return times


def row(label, threads, times, batches):
    """One Markdown table row: medians per step, the ratios, the per-round spread of FastLSTM / torch."""
    a, p, b, u = (statistics.median(times[k]) / batches for k in ("fast", "plain", "torch", "torch_unfused"))
    spread = [f / t for f, t in zip(times["fast"], times["torch"])]  # the ratio within each round
    return (f"| {threads} | {label} | {a * 1e3:.1f} | {p * 1e3:.1f} | {b * 1e3:.1f} | {u * 1e3:.1f} | {a / b:.2f} "
            f"({min(spread):.2f}-{max(spread):.2f}) | {p / b:.2f} | {a / u:.2f} | {a / p:.2f} | "
            f"{a * STEPS_PER_EPOCH:.0f} | {b * STEPS_PER_EPOCH:.0f} |")


def profile(xbs, fast=True):
    run, _ = scratchae_runner(xbs, fast)
    run()  # warm-up
    prof = cProfile.Profile()
    with threadpool_limits(1):
        prof.enable()
        run()
        prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(12)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per variant after one warm-up (median)")
    p.add_argument("--batches", type=int, default=200, help="minibatches per timed round")
    p.add_argument("--profile", action="store_true", help="profile scratchae's steps instead of timing")
    p.add_argument("--plain", action="store_true", help="with --profile: the plain LSTM of lstm.py")
    args = p.parse_args()
    print_blas()
    xbs = batches(load("fashion-mnist")[0][:55000], args.batches, BATCH)
    if args.profile:
        return profile(xbs, fast=not args.plain)
    import torch

    print(f"workload: LSTM autoencoder 28x28 rows, LSTM 100 -> 30 -> repeat 28 -> LSTM 100 -> Dense 28, MSE, "
          f"Adam 1e-3, batch {BATCH}, {args.batches} batches per round")
    print(f"numpy {np.__version__}, torch {torch.__version__}, scratchae {sa.__version__}; "
          f"median of {args.repeats} rounds after one warm-up, interleaved\n")
    print("| threads | clock | FastLSTM ms/step | plain LSTM ms/step | torch ms/step | torch, oneDNN off ms/step | "
          "FastLSTM / torch (rounds: low-high) | plain / torch | FastLSTM / torch, oneDNN off | FastLSTM / plain | "
          "FastLSTM s/epoch | torch s/epoch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        with threadpool_limits(threads):
            fast, model = scratchae_runner(xbs)
            plain, _ = scratchae_runner(xbs, fast=False)
            times = rounds({"fast": fast, "plain": plain, "torch": torch_runner(torch, model, xbs),
                            "torch_unfused": torch_runner(torch, model, xbs, onednn=False)}, args.repeats)
        print(row("wall", threads, times["wall"], args.batches), flush=True)
        if threads == 1:
            print(row("CPU", threads, times["cpu"], args.batches), flush=True)


if __name__ == "__main__":
    main()
