"""The work of one training step: the array operations each model's step issues (benchmarks/op_counts.py), under
a ceiling per model, so a change that adds launches on a GPU shows up here. What counts: scratchae/audit.py."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import op_counts  # noqa: E402  (a script in benchmarks/, imported by path)

# One training step's operations, at most; counted with the optimizer recipes.make_run builds (FusedAdam) and the
# builders' FastLSTM (benchmarks/README.md, "Operations per step"): each ceiling is that count plus about 10%, but
# the reference's, which is the target of 120.
CEILINGS = {
    "dense (reference)": 120,  # the target: 101 for the model and loss + 13 for FusedAdam = 114 (341 with Adam)
    "dense (keras-basic, MSE)": 45,
    "sparse (keras-sparse)": 60,
    "conv (keras-conv)": 185,
    "conv-pool": 270,
    "tf-denoiser (tf-denoise)": 185,
    "keras-denoiser (keras-denoise)": 265,
    "vae": 100,
    "seq2seq (rows LSTM)": 2350,
    "series lstm": 5280,
    "series dense": 50,
}


def test_every_model_has_a_ceiling():
    assert set(CEILINGS) == set(op_counts.TRAIN_RUNS) | set(op_counts.SERIES_RUNS)


@pytest.mark.parametrize("name", sorted(CEILINGS))
def test_one_step_stays_under_its_ceiling(name):
    from scratchae import audit

    ns = audit.namespace()
    if name in op_counts.TRAIN_RUNS:
        run = op_counts.train_run(ns, *op_counts.TRAIN_RUNS[name])
    else:
        run = op_counts.series_run(ns, op_counts.SERIES_RUNS[name])
    total, optimizer, by_name = run.counts()
    assert 0 < optimizer < total <= CEILINGS[name], by_name
    assert sum(by_name.values()) == total
