"""Learning curves: loss and AUC on the training, validation and test bags after every epoch.

The trainer records the validation metrics each epoch and the *running* training loss (the mean
over the epoch's steps, in training mode, while the weights still move). To see over-fitting —
the training loss still falling while the validation loss turns up — both sides must be measured
the same way: :class:`EpochEvaluation` predicts every bag of the training, validation and test
parts in evaluation mode at the end of each epoch and records, per part,

.. math:: \\mathrm{loss} = -\\frac{1}{n}\\sum_i \\log p_{i, y_i}, \\qquad
          \\mathrm{AUC} = P(s_i > s_j \\mid y_i = 1, y_j = 0) \\;(\\text{ties } \\tfrac12)

with :math:`p_i` the softmax of bag i's logits and :math:`s_i = p_{i,1}`.

:func:`learning_curves` trains one (repeat, fold) of the experiment runner — the same partition,
validation split, seed and recipe as :func:`milhelpers.experiments.run_experiments`, so the
validation columns equal the runner's history of that run — with the evaluation attached, and
caches the result under ``<cache_dir>/curves/`` keyed like the runner's runs (the method's code
included). Prediction draws no random numbers, so evaluating does not change the training.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from torch.utils.data import Dataset

from ._progress import progress_bar
from .h5io import atomic_output
from .methods import Method, as_method
from .metrics import bag_metrics
from .train import Callback, TrainState, predict, run_seed

__all__ = ["EpochEvaluation", "learning_curves", "summarize_curves", "CURVES_VERSION"]

#: Bump when what a cached curve holds changes.
CURVES_VERSION = 1


def _loss_and_auc(model, ds: Dataset) -> tuple[float, float]:
    """Mean cross-entropy and AUC of ``model`` on every bag of ``ds`` (evaluation mode)."""
    pred = predict(model, ds)
    p = np.clip(pred.probs[np.arange(len(pred.labels)), pred.labels], 1e-7, 1.0)
    return float(-np.log(p).mean()), float(bag_metrics(pred.labels, pred.probs)["auc"])


class EpochEvaluation(Callback):
    """After the last step of every epoch, the loss and AUC of the model on each of ``parts``
    (name → dataset), in evaluation mode; ``rows`` holds one dict per (epoch, part):
    ``{epoch, part, loss, auc}``. Training mode is restored afterwards (:func:`predict`)."""

    def __init__(self, parts: dict[str, Dataset]):
        self.parts = {name: ds for name, ds in parts.items() if ds is not None and len(ds)}
        self.rows: list[dict] = []

    def on_step_end(self, model, state: TrainState) -> None:
        if (state.step + 1) % state.steps_per_epoch:
            return
        for name, ds in self.parts.items():
            loss, auc = _loss_and_auc(model, ds)
            self.rows.append({"epoch": state.epoch, "part": name, "loss": loss, "auc": auc})


def learning_curves(dataset: Dataset, methods: Sequence[Method | str], *, epochs: int,
                    seed: int = 0, fold: int = 0, folds: int | None = None,
                    val_fraction: float = 0.2, cache_dir: str | Path = "runs/experiments",
                    progress: bool = True, threads: int | None = 1) -> pd.DataFrame:
    """Per epoch, loss and AUC on the training, validation and test bags of one run of each
    method: repeat ``seed``, fold ``fold`` of ``folds``, trained ``epochs`` epochs as the runner
    trains it (:func:`milhelpers.experiments.run_experiments`).

    Returns a long table: ``method``, ``epoch``, ``part`` (``train``, ``validation``, ``test``),
    ``loss``, ``auc``, plus, on the validation rows, every column of the trainer's history for
    that epoch prefixed ``history_`` (e.g. ``history_val_f1_auc``: what a selection rule would
    read). Cached per run in ``<cache_dir>/curves/<method>/``; a rerun reads it.
    ``progress``: one bar over the methods, shown whether a run is read or trained, so that a
    notebook's output does not depend on the cache (off under ``TQDM_DISABLE``); ``threads``: torch's
    CPU threads while training, as the runner's (one bag per step: one thread is faster).
    """
    from .train import torch_threads

    if isinstance(epochs, bool) or int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    with torch_threads(threads):
        return _curves(dataset, methods, int(epochs), seed, fold, folds, val_fraction,
                       Path(cache_dir), progress)


def _curves(dataset, methods, epochs, seed, fold, folds, val_fraction, cache_dir, progress):
    from .datasets import train_val_split
    from .experiments import data_fingerprint, experiment_folds, run_key

    splits = experiment_folds(dataset, folds, seed=seed)
    if not 0 <= fold < len(splits):
        raise ValueError(f"fold={fold} is not one of the {len(splits)} folds (0 … {len(splits) - 1})")
    tr, te = splits[fold]
    rs = run_seed(seed, fold)
    groups = getattr(dataset, "case_ids", None)
    tr_idx, va_idx = train_val_split(tr, np.asarray(dataset.labels), val_fraction, seed=rs,
                                     **({"groups": groups} if groups is not None else {}))
    ids = list(dataset.slide_ids)
    fingerprint = data_fingerprint(dataset)
    frames = []
    methods = list(map(as_method, methods))
    for method in progress_bar(methods, enabled=progress, desc="learning curves", unit="run"):
        cfg = method.train_config(seed=rs, progress=False, epochs=int(epochs))
        key = run_key(method, cfg, fingerprint, seed, fold, [ids[i] for i in te], val_fraction)
        path = (cache_dir / "curves" / method.name
                / f"seed{seed}_fold{fold}_v{CURVES_VERSION}_{key[:16]}.json")
        rows = _read(path)
        if rows is None:
            parts = {"train": dataset.subset(tr_idx), "validation": dataset.subset(va_idx),
                     "test": dataset.subset(te)}
            evaluation = EpochEvaluation(parts)
            res = method.fit(parts["train"], parts["validation"], cfg, fold=fold,
                             extra_callbacks=[evaluation])
            history = res.history.set_index("epoch")
            rows = []
            for r in evaluation.rows:
                if r["part"] == "validation":
                    r = {**r, **{f"history_{c}": float(v) for c, v in
                                 history.loc[r["epoch"]].items()}}
                rows.append(r)
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(path) as tmp:
                tmp.write_text(json.dumps({"key": key, "rows": rows}, allow_nan=True))
        frames.append(pd.DataFrame(rows).assign(method=method.name))
    out = pd.concat(frames, ignore_index=True)
    first = ["method", "epoch", "part", "loss", "auc"]
    return out[first + [c for c in out.columns if c not in first]]


def _read(path: Path) -> list[dict] | None:
    """The cached rows at ``path``, or None when absent or unreadable (then trained again)."""
    try:
        return json.loads(path.read_text())["rows"]
    except (OSError, ValueError, KeyError):
        return None


def summarize_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per method of :func:`learning_curves`' table: at the last epoch the training and
    validation loss and AUC; the epoch of the lowest validation loss and that loss; and the epoch
    that selection on validation macro F1 + AUC would keep (the first best, as the trainer;
    ``history_val_f1_auc``)."""
    rows = {}
    for method, g in curves.groupby("method", sort=False):
        tr = g[g.part == "train"].set_index("epoch").sort_index()
        va = g[g.part == "validation"].set_index("epoch").sort_index()
        last = int(va.index.max())
        row = {"epochs": last, "train loss (last)": tr.loss.iloc[-1],
               "validation loss (last)": va.loss.iloc[-1],
               "lowest validation loss": va.loss.min(),
               "at epoch": int(va.loss.idxmin()),
               "train AUC (last)": tr.auc.iloc[-1], "validation AUC (last)": va.auc.iloc[-1]}
        if "history_val_f1_auc" in va:
            f1auc = va.history_val_f1_auc.to_numpy(float)
            row["val macro F1 + AUC keeps epoch"] = (int(va.index[int(np.nanargmax(f1auc))])
                                                     if np.isfinite(f1auc).any() else np.nan)
        rows[method] = row
    return pd.DataFrame.from_dict(rows, orient="index")
