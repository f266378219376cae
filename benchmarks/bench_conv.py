"""Time scratchae's convolutional autoencoder epoch against PyTorch eager on the same workload, in one run.

The workload: the keras-conv model (Conv2D 1->32 s2, Conv2D 32->64 s2, Conv2DTranspose 64->64 s2, Conv2DTranspose
64->32 s2, Conv2D 32->1, 3x3 "same", ReLU, Sigmoid output, BCE, Adam 1e-3) at batch 128 on 60,000 Fashion-MNIST
images. For each thread count the script times, in turn (A B C A B C ...), the same number of steps of: scratchae
(the training step of `python -m scratchae.train`); PyTorch eager with the same padding, the same initial weights
and BCEWithLogitsLoss; and only the matrix products of those steps on preallocated arrays (the GEMM limit). It
scales to one epoch (469 steps), reports medians and ratios, the im2col buffer sizes and the peak memory of a
training process.

    pip install -e .[bench]
    python benchmarks/bench_conv.py                      # full epochs, 1 and 2 threads, 3 repeats
    python benchmarks/bench_conv.py --steps 60           # 60 steps per round, scaled to an epoch
    python benchmarks/bench_conv.py --fast-paths --steps 30   # each fast path of conv.FAST off in turn, and torch

Run it with OpenBLAS's native kernel for this CPU (the script prints the kernel it got):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_conv.py ...
"""
import argparse
import json
import subprocess
import sys

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import scratchae as sa
from scratchae import conv
from scratchae.data import DataError, batch_slices, epoch_order, load
from scratchae.models import conv_autoencoder
from scratchae.training import train_step
from timing import interleaved  # benchmarks/timing.py: run as python3 benchmarks/<script>.py

N_TRAIN = 60000


def conv_layers(model):
    """The model's convolutions with their input and output (H, W) at 28x28 input."""
    x = np.zeros((1, 784), np.float32)
    found = []
    for layer in model.layers:
        before = x.shape
        x = layer.forward(x)
        if isinstance(layer, (sa.Conv2D, sa.Conv2DTranspose)):
            found.append((layer, before[1:3], x.shape[1:3]))
    return found


def products(model, batch):
    """(name, (rows, inner, cols)) of every matrix product one scratchae step makes, as the layers make them."""
    out = []
    for i, (layer, (h, w), (oh, ow)) in enumerate(conv_layers(model)):
        k2, c, f = layer.kernel_size ** 2, layer.in_channels, layer.filters
        if isinstance(layer, sa.Conv2DTranspose):  # x @ W.T, cols.T @ x, cols @ W with cols (N h w, k k F)
            m = batch * h * w
            shapes = [(m, c, k2 * f), (k2 * f, m, c), (m, k2 * f, c)]
        elif layer.by_output:  # x @ W', x.T @ dy, dy @ W'.T with dy (N H W, k k F)
            m = batch * h * w
            shapes = [(m, c, k2 * f), (c, m, k2 * f), (m, k2 * f, c)]
        else:  # cols @ W, cols.T @ dout, dout @ W.T with cols (N oh ow, k k C)
            m = batch * oh * ow
            shapes = [(m, k2 * c, f), (k2 * c, m, f), (m, f, k2 * c)]
        names = ["forward", "weight grad", "input grad"]
        out += [(f"{i}.{name}", s) for name, s in zip(names, shapes) if not (i == 0 and name == "input grad")]
    return out


def buffers(model, batch):
    """The biggest temporary of each convolution (im2col columns or their output-side twin), in MB."""
    rows = []
    for layer, (h, w), (oh, ow) in conv_layers(model):
        k2, c, f = layer.kernel_size ** 2, layer.in_channels, layer.filters
        if isinstance(layer, sa.Conv2DTranspose):
            shape, what = (batch * h * w, k2 * f), "cols of dout / x @ W.T"
        elif layer.by_output:
            shape, what = (batch * h * w, k2 * f), "x @ W' (output side)"
        else:
            shape, what = (batch * oh * ow, k2 * c), "im2col(x)"
        rows.append((repr(layer), what, shape, shape[0] * shape[1] * 4 / 2**20))
    return rows


def scratchae_runner(x, batch, steps, fast=None):
    """``steps`` scratchae training steps per call, continuing through the shuffled epochs, with conv.FAST set to
    ``fast`` (a dict of switches; None leaves them as they are) for the duration of each call."""
    model = conv_autoencoder(rng=0)
    loss, opt = sa.BCE(), sa.Adam(model, lr=1e-3)
    batches = _batches(x.shape[0], batch)

    def run():
        saved = dict(conv.FAST)
        conv.FAST.update(fast or {})
        try:
            for _ in range(steps):
                order = next(batches)
                train_step(model, loss, opt, x[order])
        finally:
            conv.FAST.update(saved)

    return run, model


def _batches(n, batch):
    epoch = 0
    while True:
        order = epoch_order(n, 0, epoch)
        for a, b in batch_slices(n, batch):
            yield order[a:b]
        epoch += 1


def torch_runner(torch, x, batch, steps, model):
    """``steps`` PyTorch eager steps per call: the same convolutions, padding and initial weights, BCEWithLogits."""
    F = torch.nn.functional
    weights = [(torch.tensor(sa.to_numpy(layer.params["W"]).transpose(3, 2, 0, 1).copy(), requires_grad=True),
                torch.tensor(sa.to_numpy(layer.params["b"]), requires_grad=True), layer, hw, out_hw)
               for layer, hw, out_hw in conv_layers(model)]
    params = [p for W, b, *_ in weights for p in (W, b)]
    opt = torch.optim.Adam(params, lr=1e-3)
    crit = torch.nn.BCEWithLogitsLoss()
    xt = torch.from_numpy(x)
    batches = _batches(x.shape[0], batch)

    def forward(xb):
        h = xb.reshape(-1, 1, 28, 28)
        for i, (W, b, layer, _, (oh, ow)) in enumerate(weights):
            top, bottom, left, right = layer.pads
            if isinstance(layer, sa.Conv2DTranspose):  # padding 0, then crop: Keras's "same" exactly
                h = F.conv_transpose2d(h, W, b, stride=layer.stride)[:, :, top:top + oh, left:left + ow]
            else:  # explicit, possibly asymmetric padding: Keras's "same" exactly
                h = F.conv2d(F.pad(h, (left, right, top, bottom)), W, b, stride=layer.stride)
            if i < len(weights) - 1:
                h = F.relu(h)
        return h.reshape(-1, 784)

    # Same model, same numbers: the logits of two images agree with scratchae's (the layer before its Sigmoid).
    probe = model.forward(x[:2])
    logits = forward(xt[:2]).detach().numpy()
    assert np.allclose(1 / (1 + np.exp(-logits)), probe, atol=1e-5), "torch model differs from scratchae's"

    def run():
        for _ in range(steps):
            xb = xt[torch.from_numpy(next(batches))]
            opt.zero_grad(set_to_none=True)
            value = crit(forward(xb), xb)
            value.backward()
            opt.step()
            value.item()
    return run


def gemm_runner(model, batch, steps):
    """Only the matrix products of ``steps`` scratchae steps, into preallocated arrays (the BLAS limit)."""
    rng = np.random.default_rng(0)
    arrays = [(rng.random((m, k), np.float32), rng.random((k, n), np.float32), np.empty((m, n), np.float32))
              for _, (m, k, n) in products(model, batch)]

    def run():
        for _ in range(steps):
            for a, b, out in arrays:
                np.matmul(a, b, out=out)
    return run


def training_images():
    try:
        return load("fashion-mnist")[0]
    except DataError:
        print("(Fashion-MNIST not found: timing on random images of the same shape)")
        return np.random.default_rng(0).random((N_TRAIN, 784), dtype=np.float32)


def cpu_section(x, args):
    import torch

    steps_per_epoch = -(-x.shape[0] // args.batch_size)
    scale = steps_per_epoch / args.steps
    model = conv_autoencoder(rng=0)
    flops = 2 * sum(m * k * n for _, (m, k, n) in products(model, args.batch_size)) * steps_per_epoch
    print(f"one epoch: {steps_per_epoch} steps of batch {args.batch_size}; matrix products {flops / 1e12:.2f} TFLOP; "
          f"timing {args.steps} steps per round, x{scale:.2f} to an epoch, {args.repeats} rounds, medians\n")
    print("| threads | scratchae s/epoch | torch s/epoch | GEMM only s/epoch | GEMM GFLOP/s | scratchae / torch "
          "| scratchae / GEMM |")
    print("|---|---|---|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        with threadpool_limits(threads):
            ours, model = scratchae_runner(x, args.batch_size, args.steps)
            runners = {"scratchae": ours, "torch": torch_runner(torch, x, args.batch_size, args.steps, model),
                       "gemm": gemm_runner(model, args.batch_size, args.steps)}
            med = {name: t * scale for name, t in interleaved(runners, args.repeats).items()}
            print(f"| {threads} | {med['scratchae']:.1f} | {med['torch']:.1f} | {med['gemm']:.1f} | "
                  f"{flops / med['gemm'] / 1e9:.0f} | {med['scratchae'] / med['torch']:.2f} | "
                  f"{med['scratchae'] / med['gemm']:.2f} |", flush=True)


def machine_line():
    """The BLAS kernel numpy runs (threadpoolctl's ``architecture``) and the load average, for each table."""
    blas = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}" for i in threadpool_info()
            if i.get("user_api") == "blas"]
    with open("/proc/loadavg") as fh:
        load = " ".join(fh.read().split()[:3])
    return f"BLAS: {', '.join(blas)}; load average {load}"


def fast_path_section(x, args):
    """One keras-conv epoch (scaled from ``args.steps`` steps) with each fast path of conv.FAST off in turn."""
    import torch

    scale = -(-x.shape[0] // args.batch_size) / args.steps
    on = {name: True for name in conv.FAST}
    configs = {"all fast": on, **{f"no {name}": {**on, name: False} for name in conv.FAST},
               "all reference": {name: False for name in conv.FAST}}
    print(f"fast paths: {args.steps} steps per round, x{scale:.2f} to an epoch, {args.repeats} rounds, medians")
    for threads in args.threads:
        torch.set_num_threads(threads)
        with threadpool_limits(threads):
            print(f"\n{threads} thread(s); before: {machine_line()}", flush=True)
            runners = {name: scratchae_runner(x, args.batch_size, args.steps, fast)[0]
                       for name, fast in configs.items()}
            runners["torch"] = torch_runner(torch, x, args.batch_size, args.steps, conv_autoencoder(rng=0))
            med = {name: t * scale for name, t in interleaved(runners, args.repeats).items()}
            print(f"after: {machine_line()}")
            print("| variant | s/epoch | / all fast | share bought by the path | / torch |\n|---|---|---|---|---|")
            for name, t in med.items():
                share = f"{(t - med['all fast']) / t:.1%}" if name.startswith("no ") else ""
                print(f"| {name} | {t:.1f} | {t / med['all fast']:.2f} | {share} | {t / med['torch']:.2f} |",
                      flush=True)


def memory_child(which, batch, steps):
    """In a fresh process: load the data, train ``steps`` steps, print peak and baseline RSS (MB) as JSON."""
    def status_mb(field):
        with open("/proc/self/status") as fh:  # VmHWM: this process's own peak RSS
            line = next(line for line in fh if line.startswith(field + ":"))
        return int(line.split()[1]) / 1024
    if which == "torch":
        import torch
    baseline = status_mb("VmRSS")
    x = training_images()
    run, model = scratchae_runner(x, batch, steps)
    if which == "torch":
        run = torch_runner(torch, x, batch, steps, model)
    run()
    print(json.dumps({"baseline_mb": baseline, "data_mb": x.nbytes / 2**20, "peak_mb": status_mb("VmHWM")}))


def memory_section(args):
    print("\n| process | RSS after imports MB | data MB | peak RSS MB | peak - imports - data MB |")
    print("|---|---|---|---|---|")
    for which in ("scratchae", "torch"):
        done = subprocess.run([sys.executable, __file__, "--memory-child", which, "--steps", "10",
                               "--batch-size", str(args.batch_size)], capture_output=True, text=True, check=True)
        m = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {which} | {m['baseline_mb']:.0f} | {m['data_mb']:.0f} | {m['peak_mb']:.0f} | "
              f"{m['peak_mb'] - m['baseline_mb'] - m['data_mb']:.0f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=469, help="steps timed per round, scaled to one epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fast-paths", action="store_true", help="time each fast path of conv.FAST off in turn")
    parser.add_argument("--memory-child", choices=["scratchae", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.batch_size, args.steps)
        return
    print(machine_line())
    if args.fast_paths:
        fast_path_section(training_images(), args)
        return
    model = conv_autoencoder(rng=0)
    print("| layer | biggest temporary | shape | MB |\n|---|---|---|---|")
    for name, what, shape, mb in buffers(model, args.batch_size):
        print(f"| {name} | {what} | {shape} | {mb:.1f} |")
    print()
    cpu_section(training_images(), args)
    memory_section(args)


if __name__ == "__main__":
    main()
