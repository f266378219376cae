"""The work of one training step: the array operations each model's step issues (benchmarks/op_counts.py), under
a ceiling per model, so a change that adds launches on a GPU shows up here. What counts: scratchae/audit.py."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import op_counts  # noqa: E402  (a script in benchmarks/, imported by path)

# One training step's operations, at most; counted with the optimizer recipes.make_run builds. Measured with Adam
# (benchmarks/README.md, "Operations per step"): each ceiling is that count plus about 10%, but the reference's.
CEILINGS = {
    "dense (reference)": 341,  # 120 once FusedAdam is the default (issue 24 item 3)
    "dense (keras-basic, MSE)": 80,
    "sparse (keras-sparse)": 97,
    "conv (keras-conv)": 300,
    "conv-pool": 390,
    "tf-denoiser (tf-denoise)": 300,
    "keras-denoiser (keras-denoise)": 385,
    "vae": 215,
    "seq2seq (rows LSTM)": 2730,
    "series lstm": 6020,
    "series dense": 140,
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
