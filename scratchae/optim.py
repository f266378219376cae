"""Optimizers: SGD and Adam, updating every parameter of a model in place from its current gradient.

An optimizer takes anything with ``named_params()`` yielding ``(name, param, grad)`` (a Sequential, an
Autoencoder) and reads it afresh at every ``step()``, because backward assigns new gradient arrays. Parameters are
changed in place (``p -= ...``), never rebound, so the layers keep seeing their own arrays. State is keyed by
parameter name and can be read with ``state_dict()`` and restored with ``load_state_dict()`` to resume exactly.
"""
import math

from .backend import device_of, get_xp, to_device


def _check_lr(lr):
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"learning rate must be a finite number > 0, got {lr!r}")
    return float(lr)


def _copy_into(dst, src, name):
    """Copy ``src`` (any array, host or device) into ``dst`` in place, checking the shape."""
    if tuple(src.shape) != tuple(dst.shape):
        raise ValueError(f"state for {name!r} has shape {tuple(src.shape)}, the model's is {tuple(dst.shape)}")
    xp = get_xp(dst)
    if get_xp(src) is not xp:  # host NumPy arrays from a checkpoint: move them to the parameter's device
        src = to_device(src, xp, device_of(dst))
    dst[...] = xp.astype(src, dst.dtype)


class SGD:
    """Plain gradient descent, p <- p - lr * g."""

    def __init__(self, model, lr):
        self.model, self.lr = model, _check_lr(lr)

    def step(self):
        """Update every parameter in place from its current gradient."""
        for _, p, g in self.model.named_params():
            p -= self.lr * g

    def state_dict(self):
        """The optimizer's settings and state as plain data and arrays."""
        return {"type": "SGD", "lr": self.lr}

    def load_state_dict(self, state):
        """Restore what ``state_dict()`` returned."""
        if state.get("type") != "SGD":
            raise ValueError(f"cannot load {state.get('type')!r} optimizer state into SGD")
        self.lr = _check_lr(state["lr"])


class Adam:
    """Adam (Kingma & Ba, arXiv 1412.6980, Algorithm 1): bias-corrected moments, eps outside the square root.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  p <- p - lr m_hat / (sqrt(v_hat) + eps),
    with m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t).  m, v: one array per parameter, same shape and dtype.
    """

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"Adam betas must lie in [0, 1), got {betas!r}")
        if not eps > 0:
            raise ValueError(f"Adam eps must be > 0, got {eps!r}")
        self.model, self.lr, self.betas, self.eps = model, _check_lr(lr), (float(b1), float(b2)), float(eps)
        self.t = 0
        self.m, self.v = {}, {}
        for name, p, _ in model.named_params():
            xp = get_xp(p)
            self.m[name], self.v[name] = xp.zeros_like(p), xp.zeros_like(p)

    def step(self):
        """Update every parameter in place from its current gradient."""
        self.t += 1
        b1, b2 = self.betas
        # Fold both bias corrections into one scalar step size and one scaled eps (the paper's Section 2 remark):
        # lr m_hat / (sqrt(v_hat) + eps) == lr_t m / (sqrt(v) + eps_t), exactly, with these two Python floats.
        c2 = math.sqrt(1.0 - b2**self.t)
        lr_t = self.lr * c2 / (1.0 - b1**self.t)
        eps_t = self.eps * c2
        for name, p, g in self.model.named_params():
            m, v = self.m[name], self.v[name]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            g2 = g * g
            g2 *= 1.0 - b2  # in place: one (in, out) temporary fewer per parameter, the same numbers
            v += g2
            denom = get_xp(v).sqrt(v)
            denom += eps_t
            step = m / denom
            step *= lr_t
            p -= step

    def state_dict(self):
        """The optimizer's settings and state (step count, both moments by parameter name)."""
        return {"type": "Adam", "lr": self.lr, "betas": list(self.betas), "eps": self.eps, "t": self.t,
                "m": dict(self.m), "v": dict(self.v)}

    def load_state_dict(self, state):
        """Restore what ``state_dict()`` returned (arrays may be host NumPy arrays from a checkpoint)."""
        if state.get("type") != "Adam":
            raise ValueError(f"cannot load {state.get('type')!r} optimizer state into Adam")
        names = set(self.m)
        for key in ("m", "v"):
            if set(state[key]) != names:
                raise ValueError(f"optimizer state names {sorted(state[key])} do not match the model's {sorted(names)}")
        for key, ours in (("m", self.m), ("v", self.v)):
            for name, src in state[key].items():
                _copy_into(ours[name], src, name)
        self.lr, self.betas, self.eps = float(state["lr"]), tuple(state["betas"]), float(state["eps"])
        self.t = int(state["t"])
