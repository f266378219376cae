"""The inputs the grader chooses: fixed float64 arrays for every class, perturbed copies for numerical gradients.

All of it is made here, in the parent, from fixed seeds, and sent to the child as one ``.npz``. The child only
evaluates the student's classes on these arrays; the parent turns the raw outputs into numerical gradients:
d(sum(f(x) * dout))/dx_i = (sum(f(x + h e_i) * dout) - sum(f(x - h e_i) * dout)) / 2h.
"""
import numpy as np

H = 1e-5  # central-difference step: float64 error ~ h^2 + eps/h, about 1e-10 relative
DIMS = (784, 256, 128, 64, 32, 32)  # the assignment's encoder widths
SMALL_DIMS = (12, 10, 8, 6, 5, 4)  # the end-to-end check's widths: the same depth, a few hundred parameters
ADAM_LR, ADAM_STEPS = 3e-3, 5  # a non-default learning rate, so an Adam that ignores lr cannot pass
TRAIN_STEPS, TRAIN_BATCH, TRAIN_LR = 60, 64, 1e-3
N_TRAIN, N_EVAL = 1024, 256


def perturbed(x, h=H):
    """x: any shape -> (2 x.size, *x.shape): x + h e_i for each i, then x - h e_i for each i."""
    eye = np.eye(x.size).reshape((x.size, *x.shape)) * h
    return np.concatenate([x[None] + eye, x[None] - eye])


def away_from_zero(rng, shape, gap=0.1):
    """Normal draws pushed |x| >= gap away from 0, so no perturbation crosses ReLU's kink."""
    x = rng.standard_normal(shape)
    return x + gap * np.sign(x)


def activation_inputs(rng, key, large=False):
    x = away_from_zero(rng, (6, 5))
    found = {f"{key}.x": x, f"{key}.dout": rng.standard_normal(x.shape), f"{key}.x_pert": perturbed(x)}
    if large:  # where the naive 1 / (1 + exp(-x)) overflows
        found[f"{key}.x_large"] = np.array([[-1000.0, -100.0, -50.0, -30.0, 0.0],
                                            [30.0, 50.0, 100.0, 1000.0, -745.5]])
    return found


def dense_inputs(rng, key, n, n_in, n_out):
    x, W, b = rng.standard_normal((n, n_in)), rng.standard_normal((n_in, n_out)), rng.standard_normal(n_out)
    return {f"{key}.x": x, f"{key}.W": W, f"{key}.b": b, f"{key}.dout": rng.standard_normal((n, n_out)),
            f"{key}.x_pert": perturbed(x), f"{key}.W_pert": perturbed(W), f"{key}.b_pert": perturbed(b)}


def loss_inputs(rng, key):
    p, t = rng.uniform(0.05, 0.95, size=(6, 5)), rng.uniform(0.0, 1.0, size=(6, 5))
    return {f"{key}.pred": p, f"{key}.target": t, f"{key}.pred_pert": perturbed(p)}


def adam_inputs(rng):
    """Two parameters: one with gradients of size ~1, one with gradients ~1e-4 (where eps placement shows)."""
    return {"adam.lr": np.array(ADAM_LR), "adam.p0": rng.standard_normal((4, 3)), "adam.p1": rng.standard_normal(3),
            "adam.g0": rng.standard_normal((ADAM_STEPS, 4, 3)),
            "adam.g1": 1e-4 * rng.standard_normal((ADAM_STEPS, 3))}


def end_to_end_inputs(rng, n=4, per_array=6):
    """Images in (0, 1) for SMALL_DIMS, and which entries to nudge: fractions u, entry floor(u * size)."""
    x = rng.uniform(0.05, 0.95, size=(n, SMALL_DIMS[0]))
    return {"e2e.x": x, "e2e.target": x.copy(), "e2e.u": rng.uniform(0.0, 1.0, size=per_array),
            "e2e.x_index": rng.choice(x.size, size=per_array, replace=False), "e2e.h": np.array(H)}


def training_inputs(train, test):
    """The first N_TRAIN training images (float32, (N, 784)), N_EVAL test images, and every step's batch."""
    order = np.random.default_rng(7).integers(0, N_TRAIN, size=(TRAIN_STEPS, TRAIN_BATCH))
    return {"train.x": train[:N_TRAIN].astype(np.float32), "train.eval": test[:N_EVAL].astype(np.float32),
            "train.order": order, "train.lr": np.array(TRAIN_LR)}


def make_inputs(train, test, seed=25):
    """Every input the child needs, as one dict of NumPy arrays (saved with np.savez, read with allow_pickle=False)."""
    rng = np.random.default_rng(seed)
    found = {"h": np.array(H), "dims": np.array(DIMS), "small_dims": np.array(SMALL_DIMS)}
    found |= activation_inputs(rng, "relu")
    found |= activation_inputs(rng, "sigmoid", large=True)
    found |= dense_inputs(rng, "dense", 6, 5, 3)
    found |= dense_inputs(rng, "dense_sq", 5, 4, 4)  # square W: dout @ W (W not transposed) runs and is wrong
    found |= loss_inputs(rng, "bce")
    found |= loss_inputs(rng, "mse")
    found |= adam_inputs(rng)
    found |= end_to_end_inputs(rng)
    found |= training_inputs(train, test)
    return found
