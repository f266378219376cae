"""Files written before the restructuring (commit 9ebd188) still load, bit for bit.

tests/data/old-checkpoint-9ebd188.npz: a small conv + dense autoencoder after three Adam steps, saved by that
commit's training.save_checkpoint; old-vae-9ebd188.npz: a dense VAE saved with its serialize.atomic_savez. Each
also records the input and the output the old code computed.
"""
import pathlib

import numpy as np
import pytest

from scratchae import Adam, load_model
from scratchae.fit import load_checkpoint
from scratchae.serialize import read_npz

DATA = pathlib.Path(__file__).parent / "data"


def raw_arrays(path):
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files if name != "meta"}


def test_an_old_training_checkpoint_loads_bit_for_bit():
    path = DATA / "old-checkpoint-9ebd188.npz"
    model, state, progress, config = load_checkpoint(path)
    saved = raw_arrays(path)
    names = [name for name, _, _ in model.named_params()]
    assert len(names) == 10 and all(f"param/{name}" in saved for name in names)
    for name, p, _ in model.named_params():
        assert p.dtype == saved[f"param/{name}"].dtype
        np.testing.assert_array_equal(p, saved[f"param/{name}"])  # bit for bit
    optimizer = Adam(model, lr=1e-2)
    optimizer.load_state_dict(state)
    assert optimizer.state_dict()["t"] == 3 and progress.epoch == 3 and progress.metrics == [{"epoch": 1}]
    for name, _, _ in model.named_params():
        np.testing.assert_array_equal(optimizer.state_dict()["m"][name], saved[f"optim.m/{name}"])
    x = np.asarray(config["x"], dtype=np.float32)
    np.testing.assert_allclose(model.forward(x), np.asarray(config["out"]), rtol=1e-6, atol=1e-7)


def test_an_old_vae_file_loads_bit_for_bit():
    path = DATA / "old-vae-9ebd188.npz"
    vae = load_model(path)
    _, meta = read_npz(path)
    saved = raw_arrays(path)
    for name, p, _ in vae.named_params():
        np.testing.assert_array_equal(p, saved[f"param/{name}"])
    assert (vae.clip.low, vae.clip.high) == pytest.approx((-30.0, 20.0)) and vae.latent == 2
    out = vae.forward(np.asarray(meta["x"], dtype=np.float32), np.asarray(meta["eps"], dtype=np.float32))
    np.testing.assert_allclose(out, np.asarray(meta["out"]), rtol=1e-6, atol=1e-7)
