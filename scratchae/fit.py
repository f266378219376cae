"""The one epoch loop both commands use: minibatches in a seeded order, a running loss, Ctrl-C and checkpoints.

Around a ``step(xb, rng)`` (training.train_step or a variant's): the shuffled order of each epoch (a function of
seed and epoch, so a resumed run sees the same batches), a generator per step (data.step_rng), the losses kept on
the device and read every SYNC_EVERY steps, a check that they stay finite, and a checkpoint at the end of every
epoch and on Ctrl-C, which resumes exactly.
"""
import math
import signal
import time
from dataclasses import asdict, dataclass, field

from tqdm import tqdm

from .backend import device_of, get_xp, to_device, to_numpy
from .data import batch_slices, epoch_order, step_rng
from .serialize import CheckpointError, atomic_savez, model_arrays, model_meta, read_npz, restore_model


class Diverged(RuntimeError):
    """The loss became NaN or infinite."""


class Interrupted(RuntimeError):
    """Training stopped on Ctrl-C (after saving a checkpoint, where fit was given one)."""


@dataclass
class Progress:
    """Where training stands: completed epochs, steps done in the current one, and the running sums of its losses."""

    epoch: int = 0
    step: int = 0
    sums: dict = field(default_factory=dict)  # term name -> sum over the epoch's images so far of the batch value
    seen: int = 0
    seconds: float = 0.0
    metrics: list = field(default_factory=list)


def save_checkpoint(path, model, optimizer, progress, config):
    """Write model, optimizer state, progress and config to one .npz file, atomically."""
    arrays = model_arrays(model)
    scalars = {}
    for key, value in optimizer.state_dict().items():
        if isinstance(value, dict):
            arrays.update({f"optim.{key}/{name}": a for name, a in value.items()})
        else:
            scalars[key] = value
    atomic_savez(path, arrays, {**model_meta(model), "optimizer": scalars, "progress": asdict(progress),
                                "config": config})


def load_checkpoint(path, *, xp=None, device=None):
    """Read a checkpoint: returns (model, optimizer state dict, Progress, config)."""
    arrays, meta = read_npz(path)
    try:
        model = restore_model(arrays, meta, xp=xp, device=device, path=str(path))
        state = dict(meta["optimizer"])
        for key, a in arrays.items():
            if key.startswith("optim."):
                group, name = key[len("optim."):].split("/", 1)
                state.setdefault(group, {})[name] = a
        return model, state, Progress(**meta["progress"]), meta["config"]
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: not a training checkpoint (no {err}); give the checkpoint.npz of a run") from None


class StopFlag:
    """Turns SIGINT (Ctrl-C) into a flag the loop reads after each step, so a step is never cut in half."""

    def __init__(self):
        self.raised = False

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.raised = True

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self.previous)


SYNC_EVERY = 10  # steps between reads of the losses: each read waits for the device (a GPU would idle otherwise)


class RunningLoss:
    """The epoch's per-step losses, kept as device scalars and read in one transfer every SYNC_EVERY steps."""

    def __init__(self, progress):
        self.progress, self.pending = progress, []  # pending: (step index, batch size, {name: 0-d device array})

    def add(self, k, size, terms):
        self.pending.append((k, size, terms))

    def flush(self, epoch):
        """Read the pending losses, add them to progress.sums and progress.seen; raise Diverged on a bad one."""
        if not self.pending:
            return
        names = list(self.pending[0][2])
        xp = get_xp(self.pending[0][2][names[0]])
        stacked = xp.stack([xp.stack([terms[name] for name in names]) for _, _, terms in self.pending])
        values = to_numpy(stacked).tolist()  # (steps, terms): the one device-to-host copy
        p = self.progress
        for (k, size, _), row in zip(self.pending, values):
            if not math.isfinite(row[0]):  # the checkpoint on disk predates this step: nothing to roll back
                self.pending = []
                raise Diverged(f"loss became {row[0]} at epoch {epoch + 1}, step {k + 1}")
            for name, value in zip(names, row):
                p.sums[name] = p.sums.get(name, 0.0) + value * size  # weighted: the last batch may be smaller
            p.seen += size
        self.pending = []


def fit(model, optimizer, step, evaluate, x_train, *, epochs, batch_size, seed, progress=None, checkpoint=None,
        config=None, on_epoch=print, quiet=False, label=""):
    """Train until ``epochs`` epochs are complete, starting from ``progress``; returns the list of metric rows.

    Epoch e visits x_train in the order epoch_order(N, seed, e), in batches of batch_size (the last may be smaller);
    step k of epoch e gets the generator step_rng(seed, e, k). step(xb, rng) trains on one batch and returns its
    loss (a 0-d array) or a dict of 0-d arrays with "loss" first; each term is reported as ``train_<name>``, the
    mean over the epoch's images. evaluate() returns the rest of the epoch's row ({"test_loss": ...}); None adds
    nothing. With a ``checkpoint`` path, model, optimizer, progress and ``config`` are saved there after every
    epoch and on Ctrl-C. A progress bar shows on a terminal only (never with quiet): in a log, on_epoch's line is
    all. Raises Diverged on a NaN or infinite loss and Interrupted after Ctrl-C.
    """
    progress = Progress() if progress is None else progress
    n, xp = x_train.shape[0], get_xp(x_train)
    slices = list(batch_slices(n, batch_size))
    running = RunningLoss(progress)
    with StopFlag() as stop:
        while progress.epoch < epochs:
            epoch = progress.epoch
            order = to_device(epoch_order(n, seed, epoch), xp, device_of(x_train))  # (n,) on the device, once an epoch
            started = time.perf_counter()
            bar = tqdm(total=len(slices), initial=progress.step, desc=f"{label}epoch {epoch + 1}/{epochs}",
                       unit="batch", disable=True if quiet else None, leave=False, dynamic_ncols=True)
            try:
                for k in range(progress.step, len(slices)):
                    a, b = slices[k]
                    terms = step(xp.take(x_train, order[a:b], axis=0), step_rng(seed, epoch, k))  # xb: (B, D)
                    running.add(k, b - a, terms if isinstance(terms, dict) else {"loss": terms})
                    progress.step = k + 1
                    bar.update(1)
                    if (k + 1) % SYNC_EVERY == 0 or stop.raised:
                        running.flush(epoch)
                        bar.set_postfix(loss=f"{progress.sums['loss'] / progress.seen:.4f}", refresh=False)
                    if stop.raised:
                        progress.seconds += time.perf_counter() - started
                        if checkpoint is not None:
                            save_checkpoint(checkpoint, model, optimizer, progress, config)
                        raise Interrupted(f"interrupted at epoch {epoch + 1}, step {k + 1}")
            finally:
                bar.close()
            running.flush(epoch)
            seconds = progress.seconds + time.perf_counter() - started
            row = {"epoch": epoch + 1, **{f"train_{name}": s / progress.seen for name, s in progress.sums.items()},
                   **(evaluate() if evaluate is not None else {}), "seconds": seconds,
                   "images_per_s": progress.seen / seconds}
            progress.metrics.append(row)
            progress.epoch, progress.step, progress.sums, progress.seen, progress.seconds = epoch + 1, 0, {}, 0, 0.
            if checkpoint is not None:
                save_checkpoint(checkpoint, model, optimizer, progress, config)
            on_epoch(row)
    return progress.metrics
