"""Bag metrics (scikit-learn), cross-validation summaries, attention localisation and
concentration.

Attention concentration is the problem the method chapters attack: a softmax over thousands of
patches tends to put almost all its mass on a few. We measure it by the normalised entropy
H(a) / log N (1 = uniform, 0 = one patch) and by the mass of the top-k patches.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

__all__ = ["bag_metrics", "summarize", "attention_entropy", "topk_mass", "localization_auc"]


def bag_metrics(labels: Sequence[int], probs: np.ndarray) -> dict[str, float]:
    """AUC (binary: P(class 1); multiclass: one-vs-rest macro), accuracy, balanced accuracy and
    macro F1 of the arg-max prediction."""
    labels = np.asarray(labels)
    probs = np.asarray(probs)
    pred = probs.argmax(1)
    if len(np.unique(labels)) < 2:
        auc = float("nan")
    elif probs.shape[1] == 2:
        auc = roc_auc_score(labels, probs[:, 1])
    else:
        auc = roc_auc_score(labels, probs, multi_class="ovr", labels=np.arange(probs.shape[1]))
    return {"auc": float(auc), "accuracy": float(accuracy_score(labels, pred)),
            "balanced_accuracy": float(balanced_accuracy_score(labels, pred)),
            "macro_f1": float(f1_score(labels, pred, average="macro"))}


def summarize(rows: Sequence[dict], digits: int = 3) -> pd.DataFrame:
    """Per-metric mean, std (ddof=1) and a 'mean ± std' string over folds or repeats."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    num = df.select_dtypes("number")
    out = pd.DataFrame({"mean": num.mean(), "std": num.std(ddof=1)})
    out["mean ± std"] = [f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in zip(out["mean"], out["std"])]
    return out


def attention_entropy(a: np.ndarray, normalized: bool = True) -> float:
    """Shannon entropy of one attention distribution over N instances (÷ log N if normalized)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    a = a / a.sum()
    h = float(-(a[a > 0] * np.log(a[a > 0])).sum())
    if not normalized:
        return h
    return h / np.log(len(a)) if len(a) > 1 else 0.0


def topk_mass(a: np.ndarray, k: int) -> float:
    """Share of attention held by the k most-attended instances."""
    a = np.asarray(a, dtype=np.float64).ravel()
    return float(np.sort(a)[::-1][:k].sum() / a.sum())


def localization_auc(scores: Sequence[np.ndarray], instance_labels: Sequence[np.ndarray],
                     threshold: float = 0.25) -> dict[str, float]:
    """How well attention finds tumour patches (instance label ≥ ``threshold``).

    ``mean_slide_auc``: AUC of attention against instance labels within each slide that has
    both tumour and normal patches, averaged. ``pooled_auc``: one AUC over all patches of those
    slides after turning each slide's scores into within-slide percentile ranks (raw softmax
    weights are not comparable across bags of different lengths).
    """
    aucs, ranks, ys = [], [], []
    for s, y in zip(scores, instance_labels):
        s = np.asarray(s, float).ravel()
        y = np.asarray(y).ravel() >= threshold
        if y.all() or not y.any():
            continue
        aucs.append(roc_auc_score(y, s))
        ranks.append(pd.Series(s).rank(pct=True).to_numpy())
        ys.append(y)
    if not aucs:
        return {"mean_slide_auc": float("nan"), "pooled_auc": float("nan"), "n_slides": 0}
    return {"mean_slide_auc": float(np.mean(aucs)),
            "pooled_auc": float(roc_auc_score(np.concatenate(ys), np.concatenate(ranks))),
            "n_slides": len(aucs)}
