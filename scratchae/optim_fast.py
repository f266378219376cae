"""FusedAdam: optim.Adam's update in 13 array operations per step, however many parameters there are.

The teaching Adam (optim.py, lesson 03) runs its twelve elementwise operations once per parameter: 240 for the
reference model's 20 arrays, and on a GPU each is a kernel launch that costs host time. FusedAdam runs the same
twelve once, over flat buffers. At construction it copies every parameter into one flat buffer (one per dtype and
device) and rebinds each layer's ``params[key]`` to a reshaped view of its slice, so the layers compute with the
buffer itself and ``p[...] = saved`` (serialize.restore_model, load_state_dict) writes into it. m and v are flat
buffers too. A step gathers the gradients with one concat and updates the buffer in place: Adam's operations in
Adam's order, elementwise, so the numbers are Adam's bit for bit (tests/test_optim_fast.py).

The array API does not promise views, so the constructor checks once that a write through the views reaches the
buffer (one host read, never inside a step); ``make_adam`` falls back to the teaching Adam where it does not.
The state is Adam's format (moments keyed by parameter name, "type": "Adam"): checkpoints move between the two.
"""
import math
from dataclasses import dataclass

from .backend import device_of, get_xp
from .optim import Adam


class ViewsUnavailable(ValueError):
    """FusedAdam cannot share one buffer with the layers: the backend copies, or a parameter is in no layer."""


@dataclass
class FlatGroup:
    """Parameters of one dtype and device as one buffer.  p, m, v: (n,), n = the sum of the members' sizes."""

    index: list  # positions in model.named_params() of the members, in order
    p: object
    m: object
    v: object


def views_into(flat, shapes):
    """Consecutive slices of flat (n,) reshaped to ``shapes``: views on NumPy, CuPy and array_api_strict, where a
    slice of a contiguous array and its reshape copy nothing (shared_views checks it)."""
    xp, out, start = get_xp(flat), [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(xp.reshape(flat[start:start + size], shape))
        start += size
    return out


def shared_views(params):
    """A zero buffer (n,) and views of it shaped like ``params`` (one dtype, one device); raises ViewsUnavailable
    unless a write through every view reaches the buffer (checked with ones, then the buffer is zeroed)."""
    xp, p0 = get_xp(*params), params[0]
    flat = xp.zeros((sum(math.prod(p.shape) for p in params),), dtype=p0.dtype, device=device_of(p0))
    try:
        views = views_into(flat, [tuple(p.shape) for p in params])
    except (AttributeError, TypeError, ValueError, NotImplementedError) as err:
        raise ViewsUnavailable(f"FusedAdam: {xp.__name__} cannot slice and reshape one buffer ({err})") from None
    for view in views:
        view[...] = 1.0
    if not bool(xp.all(flat == 1.0)):  # read once, at construction: never inside a step
        raise ViewsUnavailable(f"FusedAdam: {xp.__name__} gave copies where views were asked for")
    flat[...] = 0.0
    return flat, views


def layer_slots(model):
    """id(param) -> the (params dict, key) pairs that hold it, over every layer of ``model.layers``."""
    slots, seen = {}, set()
    for layer in getattr(model, "layers", ()):
        if id(layer.params) in seen:  # TimeDistributed shares its wrapped layer's dict
            continue
        seen.add(id(layer.params))
        for key, p in layer.params.items():
            slots.setdefault(id(p), []).append((layer.params, key))
    return slots


class FusedAdam(Adam):
    """Adam over flat buffers: the same constructor, numbers and state as optim.Adam, 13 array operations a step.

    After construction each layer's parameter is a view into the buffer: keep the model, not old parameter arrays.
    Raises ViewsUnavailable where that cannot be arranged (use make_adam to fall back to Adam).
    """

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(model, lr, betas, eps)  # checks the settings; m and v are replaced by views below
        named = list(model.named_params())
        slots = layer_slots(model)
        if len({id(p) for _, p, _ in named}) != len(named):
            raise ViewsUnavailable("FusedAdam: a parameter appears twice in named_params(); use optim.Adam")
        for name, p, _ in named:
            if id(p) not in slots:
                raise ViewsUnavailable(f"FusedAdam: parameter {name!r} is not in the params of any of the model's "
                                       "layers; use optim.Adam for this model")
        keys = []  # one (dtype, device) per group, compared with ==: devices need not be hashable
        for i, (_, p, _) in enumerate(named):
            key = (p.dtype, device_of(p))
            if key not in keys:
                keys.append(key)
        members = [[i for i, (_, p, _) in enumerate(named) if (p.dtype, device_of(p)) == key] for key in keys]
        self.groups, shared = [], []
        for index in members:  # every check first: a refusal leaves the model as it was
            params = [named[i][1] for i in index]
            flat_p, views = shared_views(params)
            flat_m, m_views = shared_views(params)
            flat_v, v_views = shared_views(params)
            self.groups.append(FlatGroup(index, flat_p, flat_m, flat_v))
            shared.append((index, params, views, m_views, v_views))
        self.views = [None] * len(named)  # what each layer holds now, in named_params order
        for index, params, views, m_views, v_views in shared:
            for i, p, view, m, v in zip(index, params, views, m_views, v_views):
                name = named[i][0]
                view[...] = p
                self.m[name], self.v[name], self.views[i] = m, v, view
                for params_dict, key in slots[id(p)]:
                    params_dict[key] = view

    def step(self):
        """Update every parameter from its current gradient: Adam.step's operations once over each flat buffer."""
        self.t += 1
        b1, b2 = self.betas
        # As Adam.step: both bias corrections folded into one step size and one scaled eps (Python floats).
        c2 = math.sqrt(1.0 - b2**self.t)
        lr_t = self.lr * c2 / (1.0 - b1**self.t)
        eps_t = self.eps * c2
        grads = []
        for (name, p, g), view in zip(self.model.named_params(), self.views, strict=True):
            if p is not view:  # rebound after construction (another FusedAdam?): our buffer no longer feeds it
                raise RuntimeError(f"FusedAdam: parameter {name!r} is no longer the view this optimizer updates; "
                                   "build one optimizer per model")
            grads.append(g)
        for group in self.groups:
            xp = get_xp(group.p)
            # axis=None flattens every gradient as it joins them (the standard's concat): one call, no reshapes;
            # CuPy joins many same-dtype arrays (more than eight, up to a size) in one kernel.
            g = xp.concat([grads[i] for i in group.index], axis=None)  # (n,)
            m, v = group.m, group.v
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            g *= g  # g is concat's new array, ours to overwrite: Adam's g2 = g * g without a temporary (n,)
            g *= 1.0 - b2
            v += g
            denom = xp.sqrt(v)
            denom += eps_t
            step = m / denom
            step *= lr_t
            group.p -= step  # (n,): every layer's parameter moves, through its view


def make_adam(model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """FusedAdam where the model's backend gives views (NumPy, CuPy, array_api_strict), else the teaching Adam.

    Both compute the same numbers and save the same state, so the choice changes only the speed.
    """
    try:
        return FusedAdam(model, lr, betas, eps)
    except ViewsUnavailable:
        return Adam(model, lr, betas, eps)
