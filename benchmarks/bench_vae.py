"""Time scratchae's VAE training epoch against PyTorch eager on the same recipe, on this machine, in one run.

The recipe is the PyTorch examples VAE: 784-400 ReLU encoder, two 400-20 heads (mu, logvar), decoder 20-400-784
with a Sigmoid output, loss BCE summed over pixels + KL, Adam lr 1e-3, batch 128, on the 60,000 MNIST training
images (float32). For each thread count the script times, in turn (A B C A B C ...), one epoch of: scratchae's
``vae_step`` (eps from a NumPy Generator per step, as ``python -m scratchae.train --preset vae`` does); PyTorch
written as the example is (Sigmoid + binary_cross_entropy, ``randn_like`` for eps); and PyTorch with
binary_cross_entropy_with_logits (its fast path). Same initial weights, same batches; every step reads the loss.
It prints medians after a warm-up and the ratios.

    pip install -e .[bench]
    python benchmarks/bench_vae.py                   # threads 1 and 2, 5 repeats (about 5 minutes here)
    python benchmarks/bench_vae.py --repeats 2       # quicker
"""
import argparse

import numpy as np
from threadpoolctl import threadpool_limits

import scratchae as sa
from scratchae.data import batch_slices, epoch_order, load
from scratchae.losses import BCE
from scratchae.vae import KL, vae_step
from timing import interleaved, print_blas  # benchmarks/timing.py: run as python3 benchmarks/<script>.py

HIDDEN, LATENT, BATCH = 400, 20, 128


def scratchae_runner(x, batch_size):
    """One scratchae VAE epoch per call: the step and the per-step eps generator of the training command."""
    model = sa.dense_vae((784, HIDDEN), LATENT, rng=0)
    opt, recon, kl = sa.Adam(model, lr=1e-3), BCE(reduction="image"), KL()
    slices = list(batch_slices(x.shape[0], batch_size))
    epoch = [0]

    def run():
        order = epoch_order(x.shape[0], 0, epoch[0])
        for k, (a, b) in enumerate(slices):
            terms = vae_step(model, recon, kl, opt, np.take(x, order[a:b], axis=0), np.random.default_rng([0, epoch[0], k]))
            float(terms["loss"])
        epoch[0] += 1
    return run, model


def torch_runner(torch, x, batch_size, init, logits):
    """One PyTorch eager epoch per call, the examples VAE's model, loss and loop (loss summed, as it is there)."""
    F = torch.nn.functional
    fc1, fc21, fc22, fc3, fc4 = (torch.nn.Linear(k, m) for k, m in init["shapes"])
    params = []
    with torch.no_grad():
        for layer, (W, b) in zip((fc1, fc21, fc22, fc3, fc4), init["arrays"]):
            layer.weight.copy_(torch.from_numpy(W.T.copy()))
            layer.bias.copy_(torch.from_numpy(b))
            params += list(layer.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    slices = list(batch_slices(x.shape[0], batch_size))
    epoch = [0]

    def step(xb):
        h = F.relu(fc1(xb))
        mu, logvar = fc21(h), fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        out = fc4(F.relu(fc3(z)))
        if logits:
            bce = F.binary_cross_entropy_with_logits(out, xb, reduction="sum")
        else:
            bce = F.binary_cross_entropy(torch.sigmoid(out), xb, reduction="sum")
        return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())

    def run():
        order = torch.from_numpy(epoch_order(x.shape[0], 0, epoch[0]))
        epoch[0] += 1
        for a, b in slices:
            opt.zero_grad(set_to_none=True)
            loss = step(x[order[a:b]])
            loss.backward()
            loss.item()
            opt.step()
    return run


def initial_weights(model):
    """The scratchae VAE's Dense layers in the example's order fc1, fc21, fc22, fc3, fc4, as host arrays."""
    dense = [model.encoder.layers[0], model.mu_head, model.logvar_head, model.decoder.layers[0], model.decoder.layers[2]]
    return {"shapes": [(d.in_features, d.out_features) for d in dense],
            "arrays": [(sa.to_numpy(d.params["W"]), sa.to_numpy(d.params["b"])) for d in dense]}




def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=5, help="timed epochs per variant after one warm-up (median)")
    p.add_argument("--batch-size", type=int, default=BATCH)
    args = p.parse_args()
    print_blas()
    import torch

    x = load("mnist")[0]
    print(f"workload: VAE 784-{HIDDEN}-{LATENT} (two heads) and 20-{HIDDEN}-784, {x.shape[0]} x 784 float32, "
          f"BCE sum + KL, Adam 1e-3, batch {args.batch_size}")
    print(f"numpy {np.__version__}, torch {torch.__version__}, scratchae {sa.__version__}; "
          f"median of {args.repeats} epochs after one warm-up, interleaved\n")
    print("| threads | scratchae s | torch (example) s | torch logits s | scratchae / torch (example) "
          "| scratchae / torch logits |")
    print("|---|---|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        with threadpool_limits(threads):
            ours, model = scratchae_runner(x, args.batch_size)
            init, xt = initial_weights(model), torch.from_numpy(x)
            med = interleaved({"scratchae": ours, "torch": torch_runner(torch, xt, args.batch_size, init, False),
                               "logits": torch_runner(torch, xt, args.batch_size, init, True)}, args.repeats)
        print(f"| {threads} | {med['scratchae']:.3f} | {med['torch']:.3f} | {med['logits']:.3f} | "
              f"{med['scratchae'] / med['torch']:.2f} | {med['scratchae'] / med['logits']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
