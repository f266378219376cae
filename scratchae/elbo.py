"""The VAE's loss, the negative ELBO per image in nats, and its training step and evaluation.

-ELBO(x) = E_q[-log p(x | z)] + KL(q(z | x) || N(0, I)), estimated with one z per image: the reconstruction term is
BCE summed over the pixels of the decoded z, the KL term has a closed form (Kingma & Welling, appendix B). Both are
averaged over the batch, as the PyTorch examples VAE reports them (its sum over the data set divided by N).
"""
from .backend import get_xp, make_rng
from .data import batch_slices
from .losses import BCE


class KL:
    """KL(N(mu, exp(logvar)) || N(0, I)) per image, mean over the batch: -1/2 sum(1 + logvar - mu^2 - exp(logvar)) / N.

    mu, logvar: (N, latent) -> 0-d loss in nats.
    """

    def __init__(self):
        self.mu = self.var = None

    def __repr__(self):
        return "KL()"

    def forward(self, mu, logvar):
        """mu, logvar: (N, latent) -> 0-d KL per image."""
        xp = get_xp(mu, logvar)
        var = xp.exp(logvar)  # (N, latent)
        self.mu, self.var = mu, var
        return -0.5 * xp.sum(1.0 + logvar - mu * mu - var) / mu.shape[0]

    def backward(self):
        """-> (dmu, dlogvar) = (mu / N, (exp(logvar) - 1) / 2N)."""
        if self.mu is None:
            raise RuntimeError("KL: backward called before forward")
        n = self.mu.shape[0]
        return self.mu * (1.0 / n), (self.var - 1.0) * (0.5 / n)


class BCESum(BCE):
    """BCE summed over each row's pixels, mean over the batch: L = -sum(t log p + (1 - t) log(1 - p)) / N, in nats.

    pred, target: (N, D). This is D times BCE's mean per pixel; the same clipping applies.
    """

    def __repr__(self):
        return f"BCESum(eps={self.eps})"

    def forward(self, pred, target):
        """pred, target: (N, D) -> 0-d loss per image."""
        return super().forward(pred, target) * float(pred.shape[-1])

    def backward(self):
        """-> dpred = (p - t) / (p (1 - p)) / N."""
        return super().backward() * float(self.p.shape[-1])

    def backward_logits(self):
        """-> dlogits = (pred - t) / N at the input of a Sigmoid output layer (see BCE.backward_logits)."""
        if self.pred is None:
            raise RuntimeError(f"{self!r}: backward_logits called before forward")
        dz = self.pred - self.t
        dz *= 1.0 / dz.shape[0]
        return dz


def vae_step(model, recon_loss, kl_loss, optimizer, xb, rng):
    """One Adam step on the batch xb (B, D) with eps from ``rng``; returns {"loss", "recon", "kl"}, 0-d on the device."""
    eps = model.draw_eps(xb.shape[0], xb, rng)  # (B, latent) ~ N(0, I), the only randomness
    out = model.forward(xb, eps)  # x -> mu, logvar -> z = mu + exp(logvar / 2) * eps -> out
    recon = recon_loss.forward(out, xb)  # BCE summed over pixels, mean over the batch
    kl = kl_loss.forward(model.mu, model.logvar)  # closed form, mean over the batch
    dmu, dlogvar = kl_loss.backward()  # the KL's gradient reaches mu and logvar directly...
    # ...and the reconstruction's through the decoder and z (Sigmoid + BCE fused into (p - x) / B).
    model.backward(recon_loss.backward_logits(), dmu=dmu, dlogvar=dlogvar, input_grad=False, skip_last=True)
    optimizer.step()
    return {"loss": recon + kl, "recon": recon, "kl": kl}


def evaluate_vae(model, x, *, seed=0, batch_size=1000, recon_loss=None, kl_loss=None):
    """Mean recon, KL and loss (= recon + KL, the negative ELBO) per image over the rows of x, one z per image.

    z is sampled as in training (eps from numpy's Generator seeded with ``seed``), so the test loss is the same
    quantity as the training loss. Returns a dict of Python floats.
    """
    recon_loss, kl_loss = recon_loss or BCESum(), kl_loss or KL()
    rng = make_rng(seed)  # a fresh generator each call: every evaluation sees the same eps
    totals = {"recon": 0.0, "kl": 0.0}
    for start, stop in batch_slices(x.shape[0], batch_size):
        xb = x[start:stop, ...]
        out = model.forward(xb, model.draw_eps(stop - start, xb, rng))
        totals["recon"] += float(recon_loss.forward(out, xb)) * (stop - start)
        totals["kl"] += float(kl_loss.forward(model.mu, model.logvar)) * (stop - start)
    means = {key: value / x.shape[0] for key, value in totals.items()}
    return {"loss": means["recon"] + means["kl"], **means}
