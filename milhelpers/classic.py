"""ABMIL on the classic MIL benchmark tables (MUSK1, MUSK2, Elephant, UCSB breast), with the
numbers Ilse et al. (2018) report, so chapter 02 and ``benchmarks/classic_mil.py`` share one
protocol."""
from __future__ import annotations

import numpy as np
import torch

from ._progress import progress_bar
from .datasets import Bag, ListBagDataset, load_mil_table, stratified_folds
from .models import build_model
from .train import TrainConfig, fit, predict

__all__ = ["PAPER_ACCURACY", "PAPER_NOTES", "standardise", "run_classic_benchmark"]

#: Ilse, Tomczak & Welling, ICML 2018 (arXiv 1802.04712): Table 1 (accuracy, mean ± standard
#: error over 5 × 10-fold CV) and the UCSB breast table. Transcribed by hand: check a value against
#: the paper before quoting it.
PAPER_ACCURACY = {
    "musk1": {"abmil_tanh": (0.892, 0.040), "abmil_gated": (0.900, 0.050)},
    "musk2": {"abmil_tanh": (0.858, 0.048), "abmil_gated": (0.863, 0.042)},
    "elephant": {"abmil_tanh": (0.868, 0.022), "abmil_gated": (0.857, 0.027)},
    "ucsb_breast": {"abmil_tanh": (0.745, 0.018), "abmil_gated": (0.755, 0.016)},
}

#: Where the comparison is not like-for-like.
PAPER_NOTES = {
    "ucsb_breast": "the paper trained a CNN on 32×32 image patches; the benchmark table holds 708 "
                   "hand-crafted features per patch, so this row is not a reproduction",
}


def standardise(train: ListBagDataset, *others: ListBagDataset) -> list[ListBagDataset]:
    """z-score every bag with the mean/std of the training bags' instances."""
    x = torch.cat([b.features for b in train.bags])
    mu, sd = x.mean(0), x.std(0).clamp_min(1e-6)
    return [ListBagDataset([Bag((b.features - mu) / sd, b.label, b.slide_id) for b in d.bags])
            for d in (train, *others)]


def run_classic_benchmark(datasets, variants=("abmil_tanh", "abmil_gated"), repeats: int = 5,
                          folds: int = 10, epochs: int = 40, seed: int = 0, batch_size: int = 8,
                          progress: bool = True) -> dict:
    """Accuracy of each variant per dataset: ``{ds: {variant: {mean, std, std_folds, folds}}}``.

    ``std`` is the standard deviation of the per-repeat mean accuracies (the paper's spread over
    repeated cross-validation); ``std_folds`` the spread over all individual folds.
    """
    out: dict = {}
    for name in datasets:
        data = load_mil_table(name)
        out[name] = {}
        for var in variants:
            per_repeat, per_fold = [], []
            jobs = [(r, k, tr, te) for r in range(repeats)
                    for k, (tr, te) in enumerate(stratified_folds(data.labels, folds, seed + r))]
            for r, k, tr, te in progress_bar(jobs, desc=f"{name} {var}", enabled=progress,
                                             leave=False):
                train, test = standardise(data.subset(tr), data.subset(te))
                cfg = TrainConfig(epochs=epochs, lr=5e-4, weight_decay=1e-4, batch_size=batch_size,
                                  seed=seed + 1000 * r + k, progress=False)
                res = fit(lambda: build_model(var, data.dim, embed_dim=128, attn_dim=64,
                                              dropout=0.25), train, None, cfg)
                acc = predict(res.model, test).metrics()["accuracy"]
                per_fold.append(acc)
                if k == folds - 1:
                    per_repeat.append(float(np.mean(per_fold[-folds:])))
            out[name][var] = {"mean": float(np.mean(per_fold)),
                              "std": float(np.std(per_repeat, ddof=1)) if repeats > 1 else float(
                                  np.std(per_fold, ddof=1)),
                              "std_folds": float(np.std(per_fold, ddof=1)),
                              "folds": per_fold}
    return out
