"""Where does a scratchae training step spend its time? Times each layer's forward and backward, the loss and Adam.

    python benchmarks/profile_step.py --batch-size 256 --threads 1

Runs the same calls as scratchae.training.train_step, one part at a time, over two epochs of the MNIST training
set, and prints the seconds per epoch of each part (the second epoch, after warm-up).
"""
import argparse
import collections
import time

from threadpoolctl import threadpool_limits

import scratchae as sa
from scratchae.data import batch_slices, epoch_order, load
from timing import print_blas  # benchmarks/timing.py: run as python3 benchmarks/<script>.py


def loss_value(loss, out, target):
    return float(loss.forward(out, target))


def profile_epoch(model, loss, opt, x, batch_size, epoch):
    xp = sa.get_xp(x)
    spent = collections.defaultdict(float)
    order = sa.to_device(epoch_order(x.shape[0], 0, epoch), xp)

    def timed(name, fn, *args, **kwargs):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        spent[name] += time.perf_counter() - start
        return result

    layers = model.layers
    for a, b in batch_slices(x.shape[0], batch_size):
        xb = timed("gather batch", xp.take, x, order[a:b], axis=0)
        h = xb
        for layer in layers:
            h = timed(f"forward {type(layer).__name__}", layer.forward, h)
        timed("BCE forward (loss value)", loss_value, loss, h, xb)
        d = timed("BCE backward_logits", loss.backward_logits)
        for i in range(len(layers) - 2, -1, -1):  # the Sigmoid is skipped: its gradient is in backward_logits
            d = timed(f"backward {type(layers[i]).__name__}", layers[i].backward, d, input_grad=i > 0)
        timed("Adam step", opt.step)
    return spent


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    print_blas()
    x = load("mnist")[0]
    model = sa.dense_autoencoder(rng=0)
    loss, opt = sa.BCE(), sa.Adam(model)
    with threadpool_limits(args.threads):
        profile_epoch(model, loss, opt, x, args.batch_size, 0)
        spent = profile_epoch(model, loss, opt, x, args.batch_size, 1)
    total = sum(spent.values())
    print(f"batch {args.batch_size}, {args.threads} thread(s): {total:.3f} s per epoch")
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:26s} {seconds:6.3f} s  {100 * seconds / total:5.1f} %")


if __name__ == "__main__":
    main()
