"""Time scratchae's training epoch against PyTorch eager on the same workload, on this machine, in one run.

The workload: the reference autoencoder (784-256-128-64-32-32 and the mirror, ReLU, Sigmoid output, BCE, Adam lr
1e-3) on the 60,000 MNIST training images (float32). For each thread count and batch size the script times, in
turn (A B C D A B C D ...), one epoch of: scratchae; PyTorch with Sigmoid + BCELoss (the literal model); PyTorch
with BCEWithLogitsLoss (its fast path); and only the matrix products of one scratchae epoch, on preallocated
arrays (the GEMM limit). It reports medians after a warm-up, the ratios, the peak memory of a training process,
and the same comparison on a GPU where CuPy and PyTorch CUDA find one.

    pip install -e .[bench]
    python benchmarks/bench_train.py                 # full table (about 10 minutes here)
    python benchmarks/bench_train.py --quick         # fewer repeats, B=256 only
"""
import argparse
import json
import subprocess
import sys

import numpy as np
from threadpoolctl import threadpool_limits

import scratchae as sa
from scratchae.data import batch_slices, epoch_order, load
from scratchae.training import train_step
from timing import interleaved, print_blas  # benchmarks/timing.py: run as python3 benchmarks/<script>.py

DIMS = (784, 256, 128, 64, 32, 32)


def layer_shapes(dims=DIMS):
    """(in, out) of every Dense layer, encoder then decoder."""
    up = dims[::-1]
    return list(zip(dims[:-1], dims[1:])) + list(zip(up[:-1], up[1:]))


def epoch_flops(n, dims=DIMS):
    """FLOPs of one epoch's matrix products: forward, weight gradients, input gradients (none for the first layer)."""
    per_row = [2 * k * m for k, m in layer_shapes(dims)]
    return {"forward": n * sum(per_row), "weight grads": n * sum(per_row), "input grads": n * sum(per_row[1:])}


def scratchae_runner(x, batch_size):
    """One scratchae epoch per call, exactly the steps `python -m scratchae.train` runs."""
    xp = sa.get_xp(x)
    model = sa.dense_autoencoder(DIMS, rng=0, xp=xp)
    loss, opt = sa.BCE(), sa.Adam(model, lr=1e-3)
    slices = list(batch_slices(x.shape[0], batch_size))
    epoch = [0]

    def run():
        order = sa.to_device(epoch_order(x.shape[0], 0, epoch[0]), xp)
        epoch[0] += 1
        for a, b in slices:
            train_step(model, loss, opt, xp.take(x, order[a:b], axis=0))
    return run, model


def torch_runner(torch, x, batch_size, logits, init, sync=lambda: None):
    """One PyTorch eager epoch per call: same layers, same initial weights, Adam, the loss read every step."""
    layers = []
    for k, m in layer_shapes():
        layers += [torch.nn.Linear(k, m), torch.nn.ReLU()]
    layers = layers[:-1] + ([] if logits else [torch.nn.Sigmoid()])
    model = torch.nn.Sequential(*layers).to(x.device)
    with torch.no_grad():
        dense = [layer for layer in model if isinstance(layer, torch.nn.Linear)]
        for layer, (W, b) in zip(dense, init):
            layer.weight.copy_(torch.from_numpy(W.T.copy()))
            layer.bias.copy_(torch.from_numpy(b))
    crit = torch.nn.BCEWithLogitsLoss() if logits else torch.nn.BCELoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    slices = list(batch_slices(x.shape[0], batch_size))
    epoch = [0]

    def run():
        order = torch.from_numpy(epoch_order(x.shape[0], 0, epoch[0])).to(x.device)
        epoch[0] += 1
        for a, b in slices:
            xb = x[order[a:b]]
            opt.zero_grad(set_to_none=True)
            value = crit(model(xb), xb)
            value.backward()
            opt.step()
            value.item()
        sync()
    return run


def gemm_runner(n, batch_size):
    """Only the matrix products of one epoch (forward, dW, dx but the first layer's), into preallocated arrays."""
    rng = np.random.default_rng(0)
    sizes = [b - a for a, b in batch_slices(n, batch_size)]
    arrays = {}
    for rows in set(sizes):
        arrays[rows] = [(rng.random((rows, k), np.float32), rng.random((k, m), np.float32), np.empty((rows, m), np.float32),
                         rng.random((rows, m), np.float32), np.empty((k, m), np.float32), np.empty((rows, k), np.float32))
                        for k, m in layer_shapes()]

    def run():
        for rows in sizes:
            for i, (x, W, out, dout, dW, dx) in enumerate(arrays[rows]):
                np.matmul(x, W, out=out)
                np.matmul(x.T, dout, out=dW)
                if i:
                    np.matmul(dout, W.T, out=dx)
    return run




def initial_weights(model):
    """The scratchae model's Dense weights and biases as host arrays, to start PyTorch from the same point."""
    layers = [layer for layer in model.layers if "W" in layer.params]
    return [(sa.to_numpy(layer.params["W"]), sa.to_numpy(layer.params["b"])) for layer in layers]


def cpu_section(x, args):
    import torch

    flops = sum(epoch_flops(x.shape[0]).values())
    print("| threads | batch | scratchae s | torch BCELoss s | torch BCEWithLogits s | GEMM only s | GEMM GFLOP/s "
          "| scratchae / torch BCELoss | scratchae / torch logits | scratchae / GEMM |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        with threadpool_limits(threads):
            for batch in args.batch_sizes:
                ours, model = scratchae_runner(x, batch)
                init = initial_weights(model)
                xt = torch.from_numpy(x)
                med = interleaved({"scratchae": ours,
                                   "torch": torch_runner(torch, xt, batch, logits=False, init=init),
                                   "logits": torch_runner(torch, xt, batch, logits=True, init=init),
                                   "gemm": gemm_runner(x.shape[0], batch)}, args.repeats)
                row = {"threads": threads, "batch": batch, **med}
                rows.append(row)
                print(f"| {threads} | {batch} | {med['scratchae']:.3f} | {med['torch']:.3f} | {med['logits']:.3f} | "
                      f"{med['gemm']:.3f} | {flops / med['gemm'] / 1e9:.0f} | {med['scratchae'] / med['torch']:.2f} | "
                      f"{med['scratchae'] / med['logits']:.2f} | {med['scratchae'] / med['gemm']:.2f} |", flush=True)
    return rows


def memory_child(which, batch, epochs):
    """Run in a fresh process: load MNIST, train ``epochs`` epochs, print peak and baseline RSS as JSON."""
    def status_mb(field):
        # /proc's VmHWM is this process's own peak; ru_maxrss would carry over the parent's peak across exec.
        with open("/proc/self/status") as fh:
            line = next(line for line in fh if line.startswith(field + ":"))
        return int(line.split()[1]) / 1024
    if which == "torch":
        import torch
    baseline = status_mb("VmRSS")
    x_train, _, x_test, _ = load("mnist")
    data_mb = (x_train.nbytes + x_test.nbytes) / 2**20
    model = sa.dense_autoencoder(DIMS, rng=0)
    if which == "torch":
        run = torch_runner(torch, torch.from_numpy(x_train), batch, logits=True, init=initial_weights(model))
    else:
        run, _ = scratchae_runner(x_train, batch)
    for _ in range(epochs):
        run()
    peak = status_mb("VmHWM")
    print(json.dumps({"baseline_mb": baseline, "data_mb": data_mb, "peak_mb": peak}))


def memory_section(args):
    print("\n| process | RSS after imports MB | data set MB | peak RSS MB | peak - imports - data MB |")
    print("|---|---|---|---|---|")
    for which in ("scratchae", "torch"):
        done = subprocess.run([sys.executable, __file__, "--memory-child", which, "--batch-sizes", "256",
                               "--memory-epochs", str(args.memory_epochs)], capture_output=True, text=True, check=True)
        m = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {which} | {m['baseline_mb']:.0f} | {m['data_mb']:.0f} | {m['peak_mb']:.0f} | "
              f"{m['peak_mb'] - m['baseline_mb'] - m['data_mb']:.0f} |", flush=True)


def gpu_section(x_host, args):
    missing = []
    try:
        xp = sa.gpu_xp()
    except sa.GPUUnavailableError as err:
        missing.append(f"scratchae: {err}")
    try:
        import torch
        if not torch.cuda.is_available():
            missing.append("PyTorch: torch.cuda.is_available() is False")
    except ImportError:
        missing.append("PyTorch is not installed")
    if missing:
        print("\nGPU: not measured, no usable CUDA device here (" + "; ".join(missing) + ")")
        return
    print(f"\nGPU: {torch.cuda.get_device_name()}")
    print("| batch | scratchae (CuPy) s | torch BCELoss s | torch BCEWithLogits s | scratchae / torch logits |")
    print("|---|---|---|---|---|")
    x, xt = sa.to_device(x_host, xp), torch.from_numpy(x_host).cuda()
    for batch in args.batch_sizes:
        ours, model = scratchae_runner(x, batch)
        init = initial_weights(model)
        med = interleaved({"scratchae": ours,
                           "torch": torch_runner(torch, xt, batch, False, init, torch.cuda.synchronize),
                           "logits": torch_runner(torch, xt, batch, True, init, torch.cuda.synchronize)}, args.repeats)
        print(f"| {batch} | {med['scratchae']:.3f} | {med['torch']:.3f} | {med['logits']:.3f} | "
              f"{med['scratchae'] / med['logits']:.2f} |", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 256, 1024])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=5, help="timed epochs per variant after one warm-up (median)")
    p.add_argument("--memory-epochs", type=int, default=2, help="epochs of the peak-memory runs")
    p.add_argument("--quick", action="store_true", help="B=256 only, 2 repeats")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    p.add_argument("--memory-child", choices=["scratchae", "torch"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child, args.batch_sizes[0], args.memory_epochs)
    if args.quick:
        args.batch_sizes, args.repeats = [256], 2
    print_blas()
    import torch

    x = load("mnist")[0]
    flops = epoch_flops(x.shape[0])
    print(f"workload: {'-'.join(map(str, DIMS))} autoencoder and mirror, {x.shape[0]} x 784 float32, BCE, Adam; "
          f"one epoch = " + ", ".join(f"{k} {v / 1e9:.1f}" for k, v in flops.items())
          + f" = {sum(flops.values()) / 1e9:.1f} GFLOP")
    print(f"numpy {np.__version__}, torch {torch.__version__}, scratchae {sa.__version__}; "
          f"median of {args.repeats} epochs after one warm-up, interleaved\n")
    cpu_section(x, args)
    if not args.no_memory:
        memory_section(args)
    gpu_section(x, args)


if __name__ == "__main__":
    main()
