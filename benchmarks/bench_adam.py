"""Time the teaching Adam (optim.Adam) against FusedAdam (optim_fast) on this CPU, alone and in a whole step.

The reference model (784-256-128-64-32-32 and the mirror back, 20 parameter arrays, ReLU, Sigmoid output, BCE,
lr 1e-3) in float32 on batches of 256 MNIST training images. Four runners take turns (A B C D A B C D ...), each
doing ``--steps`` steps per call: Adam.step and FusedAdam.step alone on one backward's gradients, and
training.train_step with each optimizer on the same batches. The two whole-step runners start from the same weights
and must end bit for bit equal (checked after the timing: the timed code computed the same thing). Prints the
median seconds per step, the ratios Adam / FusedAdam and the load average before and after (the machine is shared).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_adam.py               # threads 1 and 2
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_adam.py --repeats 3 --threads 1
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_adam.py --dims 784 32 8   # a small model
"""
import argparse
import os

import numpy as np
from threadpoolctl import threadpool_limits

from scratchae import BCE, Adam, dense_autoencoder
from scratchae.data import load
from scratchae.optim_fast import FusedAdam
from scratchae.training import backward_from_loss, train_step
from timing import interleaved, print_blas  # benchmarks/timing.py: run as python3 benchmarks/<script>.py

BATCH = 256


def step_only(make_optimizer, dims, xb, steps):
    """optimizer.step() ``steps`` times on the gradients of one forward and backward pass."""
    model, loss = dense_autoencoder(dims, rng=0), BCE()
    opt = make_optimizer(model)
    loss.forward(model.forward(xb), xb)
    backward_from_loss(model, loss)

    def run():
        for _ in range(steps):
            opt.step()
    return run


def whole_step(make_optimizer, dims, batches):
    """train_step (forward, loss, backward, optimizer step) once per batch; returns (runner, model)."""
    model, loss = dense_autoencoder(dims, rng=0), BCE()
    opt = make_optimizer(model)

    def run():
        for xb in batches:
            train_step(model, loss, opt, xb)
    return run, model


def load_line():
    return "load average (1, 5, 15 min): " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds after one warm-up round")
    parser.add_argument("--steps", type=int, default=20, help="steps per runner per round")
    parser.add_argument("--dims", type=int, nargs="+", default=[784, 256, 128, 64, 32, 32],
                        help="the dense model's widths, mirrored (default: the reference model's)")
    args = parser.parse_args()
    print_blas()
    x = load("mnist")[0]
    print(f"model {'-'.join(map(str, args.dims))} and its mirror, float32, batch {BATCH}")
    batches = [x[k * BATCH:(k + 1) * BATCH] for k in range(args.steps)]  # (256, 784) float32 each
    for threads in args.threads:
        print(f"\nthreads {threads}; {load_line()}", flush=True)
        with threadpool_limits(limits=threads, user_api="blas"):
            plain_step, fused_step = (whole_step(make, args.dims, batches) for make in (Adam, FusedAdam))
            runners = {"Adam.step": step_only(Adam, args.dims, batches[0], args.steps),
                       "FusedAdam.step": step_only(FusedAdam, args.dims, batches[0], args.steps),
                       "train step, Adam": plain_step[0], "train step, FusedAdam": fused_step[0]}
            seconds = interleaved(runners, args.repeats)
        for (name, p, _), (_, q, _) in zip(plain_step[1].named_params(), fused_step[1].named_params(), strict=True):
            assert np.array_equal(p, q), f"{name}: the two runs differ; the timing compared different work"
        ms = {name: 1e3 * s / args.steps for name, s in seconds.items()}
        print(f"median of {args.repeats} rounds of {args.steps} steps, ms per step; {load_line()}")
        for name, value in ms.items():
            print(f"  {name:<22} {value:8.3f}")
        print(f"  Adam.step / FusedAdam.step             {ms['Adam.step'] / ms['FusedAdam.step']:.2f}x")
        print(f"  train step: Adam / FusedAdam           {ms['train step, Adam'] / ms['train step, FusedAdam']:.3f}x")
        print(f"  the optimizer's share of a step: Adam {ms['Adam.step'] / ms['train step, Adam']:.0%}, "
              f"FusedAdam {ms['FusedAdam.step'] / ms['train step, FusedAdam']:.0%}")
        print("  both train-step runs ended with the same weights, bit for bit", flush=True)


if __name__ == "__main__":
    main()
