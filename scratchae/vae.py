"""The variational autoencoder (Kingma & Welling, arXiv 1312.6114), every backward written by hand.

q(z | x) = N(mu(x), diag(exp(logvar(x)))): an encoder with two Dense heads, mu and logvar. The reparameterisation
z = mu + exp(logvar / 2) * eps, eps ~ N(0, I), moves the randomness into an input, so z is a plain function of mu
and logvar and backprop reaches both heads. The decoder's Sigmoid output is the mean of a Bernoulli p(x | z).
The loss per image, in nats, is the negative ELBO: BCE summed over the pixels plus KL(q(z | x) || N(0, I)),

    -ELBO(x) = E_q[-log p(x | z)] + KL(q(z | x) || N(0, I)),

estimated with one z per image; the KL has a closed form (Kingma & Welling, appendix B). Both terms are averaged
over the batch, as the PyTorch examples VAE reports them. The model, its loss, its training step and its
evaluation are all in this module. eps is drawn with NumPy on the host from a seeded Generator and moved to the device, so NumPy, CuPy and a resumed
run all see the same noise.
"""
import math

from .backend import device_of, get_xp, make_rng, to_device
from .data import batch_slices
from .layers import Clip, Dense, ReLU, Sigmoid, check_forward_ran, check_positive_int
from .losses import BCE
from .models import Sequential

# log-variance limits: sigma from exp(-15) ~ 3e-7 to exp(10) ~ 2.2e4. exp(logvar) overflows float32 above 88.7;
# trained MNIST VAEs keep logvar within about [-10, 2], so the limits only ever catch a runaway step.
LOGVAR_RANGE = (-30.0, 20.0)


class Reparameterize:
    """z = mu + exp(logvar / 2) * eps.  mu, logvar, eps: (N, latent) -> z: (N, latent); eps is an input."""

    def __init__(self):
        self.noise = None

    def forward(self, mu, logvar, eps):
        """mu, logvar, eps -> z = mu + sigma * eps with sigma = exp(logvar / 2); caches sigma * eps."""
        self.noise = get_xp(mu).exp(0.5 * logvar) * eps  # (N, latent), = z - mu
        return mu + self.noise

    def backward(self, dz):
        """dz -> (dmu, dlogvar): dmu = dz, dlogvar = dz * sigma * eps / 2 (since d sigma / d logvar = sigma / 2)."""
        check_forward_ran(self, self.noise, "forward(mu, logvar, eps)")
        return dz + 0.0, 0.5 * dz * self.noise  # dz + 0.0: a fresh array, never the caller's dz


class VAE:
    """x -> h = encoder(x) -> mu = mu_head(h), logvar = clip(logvar_head(h)) -> z = mu + exp(logvar / 2) eps
    -> out = decoder(z).  x: (N, D) -> mu, logvar, z: (N, latent) -> out: (N, D).

    logvar is clipped to ``logvar_range`` (default LOGVAR_RANGE) before any exp, so neither sigma nor the KL's
    exp(logvar) can overflow in float32; outside the range its gradient is 0, the derivative of the clip.
    """

    def __init__(self, encoder, mu_head, logvar_head, decoder, *, logvar_range=LOGVAR_RANGE):
        self.encoder, self.mu_head, self.logvar_head, self.decoder = encoder, mu_head, logvar_head, decoder
        self.clip = Clip(*logvar_range)
        self.reparam = Reparameterize()
        self.latent = mu_head.out_features
        self.mu = self.logvar = None

    def __repr__(self):
        return (f"VAE(encoder={self.encoder!r}, mu={self.mu_head!r}, logvar={self.logvar_head!r}, "
                f"decoder={self.decoder!r})")

    @property
    def layers(self):
        """All layers, encoder, then the two heads, then decoder (the last is the output layer)."""
        return self.encoder.layers + [self.mu_head, self.logvar_head] + self.decoder.layers

    def encode(self, x):
        """x: (N, D) -> mu: (N, latent), the mean code (what the latent plots show)."""
        return self.mu_head.forward(self.encoder.forward(x))

    def decode(self, z):
        """z: (N, latent) -> out: (N, D) in [0, 1]."""
        return self.decoder.forward(z)

    def forward(self, x, eps):
        """x: (N, D), eps: (N, latent) -> out: (N, D); keeps mu and logvar (N, latent) for the KL term."""
        h = self.encoder.forward(x)  # (N, hidden)
        self.mu = self.mu_head.forward(h)  # (N, latent)
        self.logvar = self.clip.forward(self.logvar_head.forward(h))  # (N, latent)
        z = self.reparam.forward(self.mu, self.logvar, eps)  # (N, latent)
        return self.decoder.forward(z)

    def backward(self, dout, *, dmu=None, dlogvar=None, input_grad=True, skip_last=False):
        """dout: (N, D) -> dx: (N, D); dmu, dlogvar (N, latent): gradients that reach mu and logvar directly (the KL).

        dh = dmu_total @ W_mu.T + dlogvar_total @ W_logvar.T: the two heads' input gradients add up at h.
        """
        dz = self.decoder.backward(dout, skip_last=skip_last)  # (N, latent)
        dmu_z, dlogvar_z = self.reparam.backward(dz)
        if dmu is not None:
            dmu_z += dmu
        if dlogvar is not None:
            dlogvar_z += dlogvar
        dh = self.mu_head.backward(dmu_z)  # (N, hidden)
        dh += self.logvar_head.backward(self.clip.backward(dlogvar_z))
        return self.encoder.backward(dh, input_grad=input_grad)

    def named_params(self):
        """Yield (name, param, grad): ``encoder.0.W``, ``mu.W``, ``logvar.b``, ``decoder.2.W``, ..."""
        yield from self.encoder.named_params("encoder.")
        for prefix, head in (("mu.", self.mu_head), ("logvar.", self.logvar_head)):
            for key, p in head.params.items():
                yield prefix + key, p, head.grads[key]
        yield from self.decoder.named_params("decoder.")

    def spec(self):
        """The architecture as plain data (saved with the weights)."""
        return {"type": "VAE", "encoder": self.encoder.spec(), "mu": self.mu_head.spec(),
                "logvar": self.logvar_head.spec(), "decoder": self.decoder.spec(),
                "logvar_range": [self.clip.low, self.clip.high]}

    def draw_eps(self, n, like, rng):
        """eps ~ N(0, I), shape (n, latent), drawn in float64 on the host from ``rng`` and moved next to ``like``."""
        host = make_rng(rng).standard_normal((n, self.latent))
        return to_device(host, get_xp(like), device_of(like), like.dtype)

    def sample(self, n, rng):
        """n new images: z ~ N(0, I) from ``rng`` (a Generator or seed), decoded.  -> (n, D) in [0, 1]."""
        return self.decode(self.draw_eps(n, self.mu_head.params["W"], rng))


def dense_vae(dims=(784, 400), latent=20, *, gain=1 / 3, rng=None, xp=None, device=None, dtype="float32"):
    """The PyTorch examples VAE by default: 784-400 ReLU encoder, heads 400-20, decoder 20-400-784, Sigmoid output.

    dims: input and hidden widths (Dense+ReLU each); the decoder mirrors them from ``latent``. Weights are
    W ~ N(0, gain / in): the default gain 1/3 gives the spread of PyTorch's default Linear init, U(+-1/sqrt(in)),
    that the example trains with (gain 2 is He-normal, Dense's own), and reaches PyTorch's published test loss
    (docs/results.md#vae-weight-gain).
    """
    dims = tuple(dims)
    if len(dims) < 2:
        raise ValueError(f"dense_vae: dims must be the input and one or more hidden widths such as (784, 400), "
                         f"got {dims!r}")
    for i, d in enumerate(dims):
        check_positive_int("dense_vae", f"dims[{i}]", d)
    check_positive_int("dense_vae", "latent", latent)
    rng = make_rng(rng)
    kw = {"rng": rng, "xp": xp, "device": device, "dtype": dtype}
    encoder = []
    for n_in, n_out in zip(dims[:-1], dims[1:]):
        encoder += [Dense(n_in, n_out, **kw), ReLU()]
    mu_head, logvar_head = Dense(dims[-1], latent, **kw), Dense(dims[-1], latent, **kw)
    up = (latent,) + dims[::-1]
    decoder = []
    for n_in, n_out in zip(up[:-1], up[1:]):
        decoder += [Dense(n_in, n_out, **kw), ReLU()]
    decoder[-1] = Sigmoid()
    scale = math.sqrt(gain / 2.0)  # Dense draws He-normal, std sqrt(2 / in)
    for layer in encoder + [mu_head, logvar_head] + decoder:
        if "W" in layer.params:
            layer.params["W"][...] *= scale
    return VAE(Sequential(encoder), mu_head, logvar_head, Sequential(decoder))


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
        check_forward_ran(self, self.mu, "forward(mu, logvar)")
        n = self.mu.shape[0]
        return self.mu * (1.0 / n), (self.var - 1.0) * (0.5 / n)


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
    recon_loss, kl_loss = recon_loss or BCE(reduction="image"), kl_loss or KL()
    rng = make_rng(seed)  # a fresh generator each call: every evaluation sees the same eps
    totals = {"recon": 0.0, "kl": 0.0}
    for start, stop in batch_slices(x.shape[0], batch_size):
        xb = x[start:stop, ...]
        out = model.forward(xb, model.draw_eps(stop - start, xb, rng))
        totals["recon"] += float(recon_loss.forward(out, xb)) * (stop - start)
        totals["kl"] += float(kl_loss.forward(model.mu, model.logvar)) * (stop - start)
    means = {key: value / x.shape[0] for key, value in totals.items()}
    return {"loss": means["recon"] + means["kl"], **means}
