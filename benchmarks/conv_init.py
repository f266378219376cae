"""Glorot-uniform (Keras's default) against He-normal init on short keras-conv runs: test BCE per epoch.

The keras-conv setting (Fashion-MNIST, BCE, Adam 1e-3, batch 128) for a few epochs per init and seed, on the
same shuffled order. Prints one line per epoch; the README's init statement quotes them.

    python benchmarks/conv_init.py --epochs 2 --seeds 0 1
"""
import argparse
import time

import numpy as np

from scratchae import BCE, Adam
from scratchae.data import batch_slices, epoch_order, load
from scratchae.models import conv_autoencoder
from scratchae.training import evaluate, train_step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    args = parser.parse_args()
    x_train, _, x_test, _ = load("fashion-mnist")
    x_train = x_train[:args.limit]
    for seed in args.seeds:
        for init in ("glorot_uniform", "he_normal"):
            model = conv_autoencoder(init=init, rng=seed)
            loss, opt = BCE(), Adam(model, lr=1e-3)
            start = time.perf_counter()
            for epoch in range(args.epochs):
                xs = x_train[epoch_order(x_train.shape[0], seed, epoch)]
                train = [train_step(model, loss, opt, xs[a:b]) for a, b in batch_slices(xs.shape[0], 128)]
                test = evaluate(model, loss, x_test, batch_size=500)
                print(f"seed {seed} {init:15s} epoch {epoch + 1}: train BCE {np.mean(train):.4f}  test BCE {test:.4f}"
                      f"  ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
