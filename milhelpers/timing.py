"""Training speed next to accuracy: methods timed over the same folds, interleaved repeats.

Chapter 06 (PackMIL) and ``benchmarks/packing.py`` compare training recipes that differ in how
many bags a step holds. A fair timing runs them on the same folds, with the same epochs, one
after the other inside each repeat (so a slow minute on a shared machine hits every method),
and reports the median. The epoch time is the whole fit — training steps *and* the validation
pass that selects the epoch — divided by the epochs: what a user waits for.
"""
from __future__ import annotations

import time
import warnings
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from torch.utils.data import Dataset

from .datasets import train_val_split
from .methods import Method, as_method
from .models.base import MILModel
from .train import predict, run_seed, seed_everything, torch_threads

__all__ = ["timed_runs", "timing_table", "validation_pass_seconds"]


def timed_runs(dataset: Dataset, methods: Mapping[str, Method | str],
               splits: Sequence[tuple[np.ndarray, np.ndarray]], epochs: int, *,
               folds: Sequence[int] | None = None, repeats: int = 1,
               timing_folds: Sequence[int] | None = None, seed: int = 0,
               val_fraction: float = 0.2, threads: int | None = 1) -> pd.DataFrame:
    """Train every method (label → method) on each fold of ``folds`` (default all), timed.

    Repeat 0 trains every fold in ``folds`` (its test AUC is measured); repeats 1 … ``repeats``−1
    train ``timing_folds`` again (default: the first fold) for the timing only. Inside a
    (repeat, fold) the methods run one after the other in the given order. Each run uses the
    runner's seed :func:`~milhelpers.train.run_seed` ``(seed, fold)`` and validation split, and
    ``epochs`` for every method (no early stopping: patience off).

    Returns one row per run: ``mode, repeat, fold, seconds, epoch_seconds, steps_per_epoch,
    auc`` (NaN for timing-only repeats).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    methods = {k: as_method(m) for k, m in methods.items()}
    folds = list(range(len(splits))) if folds is None else list(folds)
    timing_folds = folds[:1] if timing_folds is None else list(timing_folds)
    labels = np.asarray(dataset.labels)
    groups = getattr(dataset, "case_ids", None)
    rows = []
    with torch_threads(threads), warnings.catch_warnings():
        # a one-class validation split falls back to val_loss with a warning; the same for all
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        seed_everything(seed)          # torch's one-time imports stay out of the first timing
        for rep in range(repeats):
            for k in (folds if rep == 0 else timing_folds):
                tr, te = splits[k]
                rs = run_seed(seed, k)
                tr_idx, va_idx = train_val_split(tr, labels, val_fraction, seed=rs,
                                                 **({"groups": groups} if groups is not None
                                                    else {}))
                for mode, m in methods.items():
                    cfg = m.train_config(seed=rs, progress=False, epochs=int(epochs),
                                         patience=None)
                    t0 = time.perf_counter()
                    res = m.fit(dataset.subset(tr_idx), dataset.subset(va_idx), cfg, fold=k)
                    seconds = time.perf_counter() - t0
                    auc = (predict(res.model, dataset.subset(te)).metrics()["auc"]
                           if rep == 0 else float("nan"))
                    steps = -(-len(tr_idx) // cfg.batch_size)
                    rows.append({"mode": mode, "method": m.name, "repeat": rep, "fold": k,
                                 "seconds": seconds, "epoch_seconds": seconds / epochs,
                                 "steps_per_epoch": steps, "auc": auc})
    return pd.DataFrame(rows)


def timing_table(runs: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Per mode: median epoch seconds over all its runs, its ratio to ``reference``'s, the mean
    test AUC over folds, the AUC difference to ``reference`` (same folds), steps per epoch."""
    g = runs.groupby("mode", sort=False)
    t = g.epoch_seconds.median()
    auc = g.auc.mean()
    out = pd.DataFrame({"epoch_seconds": t, "time_vs_" + reference: t / t[reference],
                        "auc": auc, "auc_minus_" + reference: auc - auc[reference],
                        "steps_per_epoch": g.steps_per_epoch.first(),
                        "timed_runs": g.size()})
    return out


def validation_pass_seconds(model: MILModel, dataset: Dataset, repeats: int = 5,
                            threads: int | None = 1) -> float:
    """Median wall time of one validation pass, :func:`~milhelpers.train.predict` over
    ``dataset``: every bag whole, one at a time, eval mode, no gradient — what ``fit`` runs after
    every epoch whatever the batching, so it is the part of an epoch packing cannot shrink.
    ``threads`` as in the runner (1 by default) so the time compares with its ``seconds``."""
    if isinstance(repeats, bool) or int(repeats) != repeats or repeats < 1:
        raise ValueError(f"repeats={repeats!r} must be an integer >= 1 (timed passes; the median "
                         "is returned)")
    times = []
    with torch_threads(threads):
        for _ in range(int(repeats)):
            t0 = time.perf_counter()
            predict(model, dataset)
            times.append(time.perf_counter() - t0)
    return float(np.median(times))
