"""keras-conv quality: test BCE per epoch of the conv autoencoder, for given inits and seeds.

The keras-conv setting (Fashion-MNIST, BCE, Adam 1e-3, batch 128) with the training command's step and shuffled
order (epoch_order(n, seed, epoch), weights from rng=seed), so its numbers are the command's. Prints one line per
epoch; the README quotes them.

    python benchmarks/conv_quality.py --epochs 2 --seeds 0 1    # the init comparison

The full 20-epoch run is the command itself: python -m scratchae.train --preset keras-conv.
"""
import argparse
import pathlib
import time

import numpy as np

from scratchae import BCE, Adam, save_model
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import conv_autoencoder
from scratchae.training import evaluate, train_step
from timing import print_blas  # benchmarks/timing.py: run as python3 benchmarks/<script>.py


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--inits", nargs="+", default=["glorot_uniform", "he_normal"])
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--save", type=pathlib.Path, help="save the weights after every epoch in this folder")
    args = parser.parse_args()
    print_blas()
    x_train, _, x_test, _ = load("fashion-mnist")
    x_train = x_train[:args.limit]
    for seed in args.seeds:
        for init in args.inits:
            model = conv_autoencoder(init=init, rng=seed)
            loss, opt = BCE(), Adam(model, lr=1e-3)
            start = time.perf_counter()
            for epoch in range(args.epochs):
                xs = x_train[epoch_order(x_train.shape[0], seed, epoch)]
                train = [train_step(model, loss, opt, xs[a:b]) for a, b in batch_slices(xs.shape[0], 128)]
                test = evaluate(model, loss, x_test, batch_size=500)
                print(f"seed {seed} {init:15s} epoch {epoch + 1}: train BCE {np.mean(train):.4f}  test BCE {test:.5f}"
                      f"  ({time.perf_counter() - start:.0f} s)", flush=True)
                if args.save:
                    args.save.mkdir(parents=True, exist_ok=True)
                    save_model(model, args.save / f"{init}-seed{seed}-epoch{epoch + 1}.npz")


if __name__ == "__main__":
    main()
