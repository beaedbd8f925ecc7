"""A run of the experiment runner reopened from its cache: its split and its trained model.

:func:`~milhelpers.experiments.run_experiments` trains every (method, seed, fold) once and keeps
the weights next to the predictions. A chapter that wants to look *inside* one of those models —
which patches MHIM's teacher would hide, what its class-aware score picks — reopens the run
here instead of training it again: :func:`run_split` gives the slides the run trained, validated
and was tested on (the runner's own draw), :func:`trained_model` the model with its cached
weights.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .datasets import train_val_split
from .experiments import ExperimentResult, experiment_folds
from .methods import BuildContext, Method, as_method, n_classes_of
from .models.base import MILModel
from .train import run_seed

__all__ = ["run_split", "trained_model"]


def run_split(dataset: Dataset, seed: int, fold: int, folds: int | None = None,
              val_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, validation, test) indices of the runner's run (``seed``, ``fold``): repeat
    ``seed``'s partition into ``folds`` folds (:func:`~milhelpers.experiments.experiment_folds`),
    and the validation share drawn from the training part with the run's seed
    ``run_seed(seed, fold)``, grouped by case — the same draw the runner makes."""
    parts = experiment_folds(dataset, folds, seed=seed)
    if not 0 <= fold < len(parts):
        raise ValueError(f"fold={fold}: repeat {seed} has folds 0 … {len(parts) - 1}")
    tr, te = parts[fold]
    groups = getattr(dataset, "case_ids", None)
    tr_idx, va_idx = train_val_split(tr, np.asarray(dataset.labels), val_fraction,
                                     seed=run_seed(seed, fold),
                                     **({"groups": groups} if groups is not None else {}))
    return tr_idx, va_idx, np.asarray(te)


def trained_model(result: ExperimentResult, dataset: Dataset, method: Method | str, seed: int,
                  fold: int) -> MILModel:
    """The trained model of run (``method``, ``seed``, ``fold``) of ``result``, its weights read
    from the runner's cache (no training), in eval mode on the CPU.

    Two-stage methods (MHIM) are rebuilt with a placeholder first stage: their cached weights hold
    the teacher too, so every weight comes from the cache. A run cached without its weights (an
    older runner) raises with what to do."""
    method = as_method(method)
    json_path, _ = result._files(method.name, seed, fold)
    pt = json_path.with_suffix(".pt")
    if not pt.exists():
        raise FileNotFoundError(f"{pt}: the run ({method.name}, seed {seed}, fold {fold}) has no "
                                "cached weights; run the experiment again (delete its folder "
                                "under the cache) to keep them")
    state = torch.load(pt, map_location="cpu", weights_only=True)
    ctx = BuildContext(int(dataset.dim), n_classes_of(dataset), fold, run_seed(seed, fold))

    def placeholder(other: Any) -> MILModel:
        return as_method(other).build_model(ctx)    # overwritten by the cached state below

    ctx = BuildContext(ctx.in_dim, ctx.n_classes, fold, ctx.seed, pretrained=placeholder)
    model = method.build_model(ctx)
    model.load_state_dict(state)
    return model.eval()
