"""MIL methods on the classic MIL benchmark tables (MUSK1, MUSK2, Elephant, UCSB breast), with
the numbers Ilse et al. (2018) report for ABMIL, so the chapters and
``benchmarks/classic_mil.py`` share one protocol.

Any registered method (or :class:`~milhelpers.methods.Method`) runs here with the classic small
sizes (:data:`CLASSIC_MODEL`) and its own loss terms, so ``aem`` is ABMIL + the entropy term on
exactly the same folds and seeds as ``abmil_gated``. Every repeat of the cross-validation scores
every bag once, out of fold, so :func:`classic_paired` compares two methods over the *bags* with
the course's paired case bootstrap (:func:`milhelpers.stats.paired_slide_comparison`), as the
chapters compare methods over slides — not over a handful of fold means.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from ._progress import progress_bar
from .datasets import Bag, ListBagDataset, load_mil_table, stratified_folds
from .methods import Method, as_method
from .stats import SCORE_METRICS, paired_slide_comparison
from .train import predict, torch_threads

__all__ = ["PAPER_ACCURACY", "PAPER_NOTES", "CLASSIC_MODEL", "standardise",
           "run_classic_benchmark", "classic_paired", "paper_table"]

#: Model sizes for the classic tables (a few hundred features, tens of bags): ABMIL's
#: embedding 128, attention 64, dropout 0.25, given to every method's model.
CLASSIC_MODEL = {"embed_dim": 128, "attn_dim": 64, "dropout": 0.25}

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


def run_classic_benchmark(datasets, variants: Sequence[str | Method] = ("abmil_tanh", "abmil_gated"),
                          repeats: int = 5, folds: int = 10, epochs: int = 40, seed: int = 0,
                          batch_size: int = 8, progress: bool = True,
                          threads: int | None = 1) -> dict:
    """Accuracy of each method per dataset:
    ``{ds: {name: {mean, std, std_folds, folds, auc, auc_folds, labels, oof}}}``.

    ``variants``: registered method names (``abmil_gated``, ``aem``, ``acmil`` …) or
    :class:`~milhelpers.methods.Method` objects, each run with :data:`CLASSIC_MODEL` sizes and
    its own loss terms and callbacks. Every method sees the same folds (``stratified_folds(labels,
    folds, seed + r)`` in repeat r) and the same seed per fold (``seed + 1000 r + k``), so fold
    results pair across methods. Training: Adam(-W as the method says), lr 5e-4, weight decay
    1e-4, ``batch_size`` bags per step, ``epochs`` fixed (no validation split, no selection).

    ``std`` is the standard deviation of the per-repeat mean accuracies (the paper's spread over
    repeated cross-validation; with one repeat, the spread over folds); ``std_folds`` the spread
    over all folds; ``folds`` / ``auc_folds`` list each fold's accuracy / AUC in order (repeat
    0's folds first). ``labels`` (N,) are the bags' labels and ``oof`` (repeats × N) each
    bag's out-of-fold P(class 1) in every repeat (the input of :func:`classic_paired`).

    ``threads``: torch's CPU threads while training (restored afterwards; ``None`` leaves the
    setting alone). These models are tiny: on the course's shared 2-core machine two threads
    mostly wait on each other, and one trained several times faster.
    """
    with torch_threads(threads):
        return _run_classic(datasets, variants, repeats, folds, epochs, seed, batch_size, progress)


def _run_classic(datasets, variants, repeats, folds, epochs, seed, batch_size, progress) -> dict:
    methods = [as_method(v) for v in variants]
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"variants must have distinct names: {names}")
    out: dict = {}
    for name in datasets:
        data = load_mil_table(name)
        out[name] = {}
        for method in methods:
            small = method.with_options(**CLASSIC_MODEL)
            per_repeat, per_fold, aucs = [], [], []
            oof = np.full((repeats, len(data.labels)), np.nan)
            jobs = [(r, k, tr, te) for r in range(repeats)
                    for k, (tr, te) in enumerate(stratified_folds(data.labels, folds, seed + r))]
            for r, k, tr, te in progress_bar(jobs, desc=f"{name} {method.name}",
                                             enabled=progress, leave=False):
                train, test = standardise(data.subset(tr), data.subset(te))
                cfg = small.train_config(epochs=epochs, lr=5e-4, weight_decay=1e-4,
                                         batch_size=batch_size, seed=seed + 1000 * r + k,
                                         progress=False)
                # the model's weights come from cfg.seed alone (Method.build_model), then the
                # trainer reseeds: the same draws as fit(factory) for the ABMIL variants
                try:
                    res = small.fit(train, None, cfg, fold=k)
                except TypeError as err:   # e.g. mean pooling has no attention size
                    raise ValueError(f"{method.name}: its model does not take the classic sizes "
                                     f"{CLASSIC_MODEL} ({err}); the classic tables run ABMIL- "
                                     "and ACMIL-family methods") from None
                pred = predict(res.model, test)
                oof[r, te] = pred.probs[:, 1]
                m = pred.metrics()
                per_fold.append(m["accuracy"])
                aucs.append(m["auc"])
                if k == folds - 1:
                    per_repeat.append(float(np.mean(per_fold[-folds:])))
            out[name][method.name] = {
                "mean": float(np.mean(per_fold)),
                "std": float(np.std(per_repeat, ddof=1)) if repeats > 1 else float(
                    np.std(per_fold, ddof=1)),
                "std_folds": float(np.std(per_fold, ddof=1)),
                "folds": per_fold,
                "auc": float(np.nanmean(aucs)), "auc_folds": aucs,
                "labels": [int(v) for v in data.labels], "oof": oof.tolist()}
    return out


def classic_paired(result: dict, dataset: str, a: str, b: str, metric: str = "accuracy", *,
                   n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """B − A on one classic table, paired over its bags: ``{diff, ci95, p, n_slides, n_repeats,
    unit, test}`` (``n_slides`` counts the bags, ``unit`` is "bags").

    ``diff`` is the metric of each repeat's out-of-fold scores (every bag scored once per repeat
    by the model that did not train on it), B − A, averaged over the repeats; ``ci95`` and ``p``
    come from the paired case bootstrap over bags, stratified by label
    (:func:`milhelpers.stats.paired_slide_comparison`: a resampled bag carries both methods'
    scores in every repeat). ``metric``: ``accuracy`` (P(class 1) > 0.5, the paper's number),
    ``auc``, ``balanced_accuracy`` or ``f1``. Clear exactly when the interval excludes 0.

    The bags are the sample: the interval asks how the difference would move on another draw of
    bags of the same kind, given the repeats' trained models — not over other data sets.
    """
    if metric not in SCORE_METRICS:
        raise ValueError(f"metric={metric!r}: choose one of {SCORE_METRICS}")
    if dataset not in result:
        raise KeyError(f"no dataset {dataset!r} in the result; have {list(result)}")
    per = result[dataset]
    for m in (a, b):
        if m not in per:
            raise KeyError(f"no method {m!r} on {dataset}; have {list(per)}")
        if "oof" not in per[m]:
            raise KeyError(f"{dataset}/{m} has no out-of-fold scores (a result from an older "
                           "run_classic_benchmark): run it again")
    out = paired_slide_comparison(np.asarray(per[a]["labels"]), per[a]["oof"], per[b]["oof"],
                                  metric=metric, n_boot=n_boot, seed=seed)
    out["unit"] = "bags"
    return out


def paper_table(result: dict, setting: str) -> pd.DataFrame:
    """Our accuracy next to the paper's, one row per (dataset, method) of
    :func:`run_classic_benchmark`'s ``result``: ``ours`` (mean ± std as that function defines
    them), ``setting`` (e.g. "5-fold × 1"), ``paper`` (mean ± standard error over 5 × 10-fold CV,
    :data:`PAPER_ACCURACY`; "—" for a method the paper did not run) and ``difference`` (ours −
    paper's mean, NaN without one)."""
    rows = []
    for name, per in result.items():
        for method, r in per.items():
            paper = PAPER_ACCURACY.get(name, {}).get(method)
            rows.append({"dataset": name, "method": method,
                         "ours": f"{r['mean']:.3f} ± {r['std']:.3f}", "setting": setting,
                         "paper (10-fold × 5)": f"{paper[0]:.3f} ± {paper[1]:.3f}" if paper
                         else "—",
                         "difference": round(r["mean"] - paper[0], 3) if paper else np.nan})
    return pd.DataFrame(rows, columns=["dataset", "method", "ours", "setting",
                                       "paper (10-fold × 5)", "difference"])
