"""The sequence-to-sequence autoencoder: an LSTM encoder reads a sequence into one code, an LSTM decoder writes it back.

The Keras blog's LSTM -> RepeatVector -> LSTM, with Hands-On Machine Learning's (3rd edition) recurrent
autoencoder as the recipe: two LSTMs down to the code, the code repeated at every step, one LSTM and a
time-distributed linear Dense back to the features. The builders use lstm_fast.FastLSTM, which computes what
lstm.py's LSTM (the one lesson 15 teaches) computes with fewer operations per time step; ``fast=False`` builds the
plain one. Both save the same checkpoints.
"""
from .backend import make_rng
from .layers import Dense
from .lstm import LSTM
from .lstm_fast import FastLSTM
from .models import Autoencoder, Sequential
from .pooling import Flatten, Reshape
from .seq import RepeatVector, TimeDistributed


def lstm_autoencoder(steps, features, hidden=100, code=30, *, rng=None, xp=None, device=None, dtype="float32",
                     fast=True):
    """x: (N, T, D) -> z: (N, code) -> out: (N, T, D), with T = steps, D = features.

    encoder: LSTM(D, hidden, return_sequences=True) -> LSTM(hidden, code), the last h is the code;
    decoder: RepeatVector(T) -> LSTM(code, hidden, return_sequences=True) -> TimeDistributed(Dense(hidden, D)).
    The output is linear (no activation), for an MSE loss. The LSTMs are FastLSTM, or LSTM with ``fast=False``.
    """
    kw = {"rng": make_rng(rng), "xp": xp, "device": device, "dtype": dtype}  # one generator for all layers
    lstm = FastLSTM if fast else LSTM  # the same weights from the same rng either way
    encoder = [lstm(features, hidden, return_sequences=True, **kw), lstm(hidden, code, **kw)]
    decoder = [RepeatVector(steps), lstm(code, hidden, return_sequences=True, **kw),
               TimeDistributed(Dense(hidden, features, **kw))]
    return Autoencoder(Sequential(encoder), Sequential(decoder))


def rows_autoencoder(rows=28, cols=28, hidden=100, code=30, *, rng=None, xp=None, device=None, dtype="float32",
                     fast=True):
    """lstm_autoencoder on images read row by row: each flat image is a sequence of ``rows`` steps of ``cols`` pixels.

    x: (N, rows cols) -> Reshape -> (N, rows, cols) -> z: (N, code) -> (N, rows, cols) -> Flatten -> out: (N, rows cols).
    Images stay flat rows outside the model, as for the conv models, so the training command needs no special case.
    """
    model = lstm_autoencoder(rows, cols, hidden, code, rng=rng, xp=xp, device=device, dtype=dtype, fast=fast)
    return Autoencoder(Sequential([Reshape((rows, cols)), *model.encoder.layers]),
                       Sequential([*model.decoder.layers, Flatten()]))
