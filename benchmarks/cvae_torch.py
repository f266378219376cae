"""The convolutional VAE of ``--preset cvae`` written in PyTorch: the oracle its test loss is compared with.

Same architecture (scratchae/cvae.py), same initial weights (copied from scratchae's conv_vae(rng=seed)), same
binarized MNIST, same batches (data.epoch_order), same eps at every step (data.step_rng) and at evaluation
(evaluate_vae's), Adam lr 1e-4, batch 32. Only the arithmetic differs: PyTorch's convolutions and autograd
instead of scratchae's im2col and hand-written backward. The loss is BCE-with-logits summed over the pixels plus
the closed-form KL, per image; the evaluation also gives the tutorial's one-sample Monte Carlo estimate.

    python benchmarks/cvae_torch.py --epochs 1            # one epoch, prints the test loss after each epoch
    python benchmarks/cvae_torch.py --epochs 10 --out cvae_torch.json

TensorFlow's padding carried over: the encoder's "valid" convolutions are PyTorch's padding 0; a stride-2
"same" Conv2DTranspose pads the bottom and right only, which PyTorch's symmetric padding cannot say, so the twin
runs ConvTranspose2d with padding 0 (15x15 out of 7x7) and drops the last row and column; the stride-1 "same"
one pads 1 on each side, padding=1. Activations are NCHW inside the convolutions and turned to NHWC around the
Flatten and the Reshape, so the Dense weights need no reordering.
"""
import argparse
import json
import math
import time

import numpy as np
import torch

from scratchae.cvae import binarize, conv_vae
from scratchae.data import batch_slices, epoch_order, load, step_rng
from scratchae.vae import LOGVAR_RANGE


class TorchCVAE(torch.nn.Module):
    """x: (N, 784) -> logits: (N, 784), keeping mu and logvar (N, latent); eps is an input, as in scratchae."""

    def __init__(self, latent=2):
        super().__init__()
        nn = torch.nn
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, stride=2), nn.Conv2d(32, 64, 3, stride=2)
        self.mu, self.logvar = nn.Linear(2304, latent), nn.Linear(2304, latent)
        self.dense = nn.Linear(latent, 7 * 7 * 32)
        self.up1 = nn.ConvTranspose2d(32, 64, 3, stride=2)
        self.up2 = nn.ConvTranspose2d(64, 32, 3, stride=2)
        self.up3 = nn.ConvTranspose2d(32, 1, 3, stride=1, padding=1)

    def encode(self, x):
        """x: (N, 784) -> mu, logvar: (N, latent)."""
        h = torch.relu(self.conv2(torch.relu(self.conv1(x.reshape(-1, 1, 28, 28)))))  # (N, 64, 6, 6)
        h = h.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # NHWC order, as scratchae's Flatten
        return self.mu(h), self.logvar(h).clamp(*LOGVAR_RANGE)

    def decode(self, z):
        """z: (N, latent) -> logits: (N, 784)."""
        h = torch.relu(self.dense(z)).reshape(-1, 7, 7, 32).permute(0, 3, 1, 2)  # (N, 32, 7, 7)
        h = torch.relu(self.up1(h)[:, :, :14, :14])  # TF "same": the 15th row and column are the padding's
        h = torch.relu(self.up2(h)[:, :, :28, :28])
        return self.up3(h).reshape(-1, 784)

    def forward(self, x, eps):
        self.mu_, self.logvar_ = self.encode(x)
        self.z_ = self.mu_ + torch.exp(0.5 * self.logvar_) * eps
        return self.decode(self.z_)


def copy_weights(model, twin):
    """Copy scratchae's conv_vae weights into the twin: kernels (k, k, a, b) become (b, a, k, k), Dense W its .T."""
    p = {name: torch.tensor(np.asarray(param)) for name, param, _ in model.named_params()}
    pairs = {"conv1": "encoder.1", "conv2": "encoder.3", "mu": "mu", "logvar": "logvar", "dense": "decoder.0",
             "up1": "decoder.3", "up2": "decoder.5", "up3": "decoder.7"}
    with torch.no_grad():
        for mine, theirs in pairs.items():
            W = p[theirs + ".W"]
            getattr(twin, mine).weight.copy_(W.T if W.ndim == 2 else W.permute(3, 2, 0, 1))
            getattr(twin, mine).bias.copy_(p[theirs + ".b"])
    return twin


def negative_elbo(twin, x, eps):
    """(loss, recon, kl): BCE-with-logits summed over pixels and closed-form KL, each averaged over the batch."""
    logits = twin(x, eps)
    recon = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
    mu, logvar = twin.mu_, twin.logvar_
    kl = -0.5 * torch.sum(1 + logvar - mu * mu - logvar.exp()) / x.shape[0]
    return recon + kl, recon, kl


@torch.no_grad()
def evaluate(twin, x, seed=0, batch_size=1000):
    """Test recon, KL, loss and the one-sample Monte Carlo loss, eps drawn as scratchae's evaluate_vae draws it."""
    rng, totals = np.random.default_rng(seed), {"recon": 0.0, "kl": 0.0, "kl_sample": 0.0}
    for start, stop in batch_slices(x.shape[0], batch_size):
        xb = x[start:stop]
        eps = torch.tensor(rng.standard_normal((stop - start, twin.mu.out_features)), dtype=x.dtype)
        _, recon, kl = negative_elbo(twin, xb, eps)
        log_q = -0.5 * torch.sum(eps ** 2 + twin.logvar_ + math.log(2 * math.pi), dim=1)  # (z - mu)^2 / var = eps^2
        log_p = -0.5 * torch.sum(twin.z_ ** 2 + math.log(2 * math.pi), dim=1)
        totals["recon"] += recon.item() * (stop - start)
        totals["kl"] += kl.item() * (stop - start)
        totals["kl_sample"] += torch.sum(log_q - log_p).item()
    means = {k: v / x.shape[0] for k, v in totals.items()}
    return {"loss": means["recon"] + means["kl"], "mc_loss": means["recon"] + means["kl_sample"], **means}


def train(epochs, seed=0, batch_size=32, lr=1e-4, limit=None, out=None, threads=None):
    """Train the twin as ``--preset cvae`` trains scratchae's; returns the list of per-epoch rows."""
    if threads:
        torch.set_num_threads(threads)
    x_train, _, x_test, _ = load("mnist")
    x_train, x_test = binarize(x_train[:limit]), binarize(x_test)
    twin = copy_weights(conv_vae(rng=seed), TorchCVAE())
    opt = torch.optim.Adam(twin.parameters(), lr=lr)
    xt, xtest, rows = torch.tensor(x_train), torch.tensor(x_test), []
    for epoch in range(epochs):
        order, started, seen, total = torch.tensor(epoch_order(len(xt), seed, epoch)), time.perf_counter(), 0, 0.0
        for k, (a, b) in enumerate(batch_slices(len(xt), batch_size)):
            eps = torch.tensor(step_rng(seed, epoch, k).standard_normal((b - a, 2)), dtype=torch.float32)
            loss, _, _ = negative_elbo(twin, xt[order[a:b]], eps)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, seen = total + loss.item() * (b - a), seen + b - a
        row = {"epoch": epoch + 1, "train_loss": total / seen, "seconds": time.perf_counter() - started,
               **{"test_" + k: v for k, v in evaluate(twin, xtest, seed).items()}}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if out:
            with open(out, "w") as f:
                json.dump(rows, f, indent=1)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--limit", type=int, help="train on the first N images only")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--out", help="write the rows as JSON here after every epoch")
    args = p.parse_args()
    train(args.epochs, limit=args.limit, out=args.out, threads=args.threads)


if __name__ == "__main__":
    main()
