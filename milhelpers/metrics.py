"""Bag metrics (scikit-learn), cross-validation summaries, attention localisation and
concentration.

Attention concentration is the problem the method chapters attack: a softmax over thousands of
patches tends to put almost all its mass on a few. We measure it by the normalised entropy
H(a) / log N (1 = uniform, 0 = one patch) and by the mass of the top-k patches.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

__all__ = ["bag_metrics", "summarize", "attention_entropy", "topk_mass", "localization_auc",
           "cumulative_attention", "topk_members", "top_branch"]


def bag_metrics(labels: Sequence[int], probs: np.ndarray) -> dict[str, float]:
    """AUC (binary: P(class 1); multiclass: one-vs-rest macro), accuracy, balanced accuracy and
    macro F1 of the arg-max prediction."""
    labels = np.asarray(labels)
    probs = np.asarray(probs)
    pred = probs.argmax(1)
    with warnings.catch_warnings():
        # a validation split with one class: AUC is NaN (below), the rest is still defined
        warnings.simplefilter("ignore", UserWarning)
        return _bag_metrics(labels, probs, pred)


def _bag_metrics(labels: np.ndarray, probs: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    if len(np.unique(labels)) < 2:
        auc = float("nan")
    elif probs.shape[1] == 2:
        auc = roc_auc_score(labels, probs[:, 1])
    else:
        auc = roc_auc_score(labels, probs, multi_class="ovr", labels=np.arange(probs.shape[1]))
    return {"auc": float(auc), "accuracy": float(accuracy_score(labels, pred)),
            "balanced_accuracy": float(balanced_accuracy_score(labels, pred)),
            "macro_f1": float(f1_score(labels, pred, average="macro", zero_division=0))}


def summarize(rows: Sequence[dict], digits: int = 3) -> pd.DataFrame:
    """Per-metric mean, std (ddof=1) and a 'mean ± std' string over folds or repeats."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    num = df.select_dtypes("number")
    out = pd.DataFrame({"mean": num.mean(), "std": num.std(ddof=1)})
    out["mean ± std"] = [f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in zip(out["mean"], out["std"])]
    return out


def _per_head(a: np.ndarray) -> np.ndarray:
    """(N,) or (H, N) attention as float64 (H, N), each head normalised to sum 1."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] == 0:
        raise ValueError(f"attention must be (N,) or (heads, N) with N >= 1; got shape {a.shape}")
    total = a.sum(1, keepdims=True)
    if (total <= 0).any() or (a < 0).any():
        raise ValueError("attention weights must be non-negative with a positive sum per head")
    return a / total


def attention_entropy(a: np.ndarray, normalized: bool = True) -> float:
    """Shannon entropy H(a) = −Σ_k a_k log a_k of an attention distribution over N instances.

    ``a`` is (N,) or (H, N): with several heads (ACMIL's branches) the entropy is computed per head
    and the heads are averaged; flattening (H, N) into one distribution would add log H that no
    head has. ``normalized`` divides by log N (1 = uniform, 0 = all mass on one instance).
    :class:`~milhelpers.train.Predictions` and the runner pass the slide attention (the heads'
    mean softmax, one distribution); pass (H, N) here for the branches' own concentration.
    """
    a = _per_head(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(a > 0, a * np.log(a), 0.0).sum(1)
    if normalized:
        n = a.shape[1]
        h = h / np.log(n) if n > 1 else np.zeros_like(h)
    return float(h.mean())


def topk_mass(a: np.ndarray, k: int) -> float:
    """Share of attention held by the k most-attended instances, Σ_{top k} a_k / Σ_k a_k.

    Per head for (H, N) input, then averaged over heads (as :func:`attention_entropy`).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    a = _per_head(a)
    return float(np.sort(a, axis=1)[:, ::-1][:, :k].sum(1).mean())


def cumulative_attention(attentions: Sequence[np.ndarray], k_max: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-K cumulative attention averaged over slides: how much of a slide's attention its K
    most-attended instances hold, for K = 1 … ``k_max``.

    For slide s with weights sorted descending a_(1) ≥ a_(2) ≥ …, c_s(K) = Σ_{j ≤ min(K, N_s)} a_(j)
    (1 once K ≥ N_s); the curve is the mean over slides. The reference is what uniform attention
    gives, u_s(K) = min(K, N_s) / N_s, averaged the same way, so bags of different lengths are
    compared with their own uniform. A curve near 1 at K = 1 … 5 means a handful of patches
    decide the slide. Each ``attentions[s]`` is (N,) or (H, N) (heads are averaged into the
    slide attention first). Returns ``(K, mean curve, uniform curve)``.
    """
    if k_max < 1:
        raise ValueError(f"k_max must be >= 1, got {k_max}")
    if not len(attentions):
        raise ValueError("no slides: pass at least one attention vector")
    ks = np.arange(1, k_max + 1)
    curves, uniform = [], []
    for a in attentions:
        a = _per_head(a).mean(0)
        c = np.cumsum(np.sort(a)[::-1])
        curves.append(c[np.minimum(ks, len(c)) - 1])
        uniform.append(np.minimum(ks, len(c)) / len(c))
    return ks, np.mean(curves, 0), np.mean(uniform, 0)


def topk_members(attention: np.ndarray, k: int) -> np.ndarray:
    """(N,) bool: instances in the top ``k`` of at least one head of (H, N) or (N,) attention.

    A head's top k are its k largest weights (all N when N ≤ k; ties broken by position). With
    several branches (ACMIL) this is the union of what the branches attend to — the coverage the
    ACMIL paper argues a single attention head lacks.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    a = _per_head(attention)
    member = np.zeros(a.shape[1], bool)
    for row in a:
        member[np.argsort(-row, kind="stable")[:k]] = True
    return member


def top_branch(attention: np.ndarray, k: int) -> np.ndarray:
    """(N,) int: for each instance, the head that gives it the largest weight among the heads
    that have it in their top ``k``; −1 for instances in no head's top k."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    a = _per_head(attention)
    inside = np.zeros(a.shape, bool)
    for h, row in enumerate(a):
        inside[h, np.argsort(-row, kind="stable")[:k]] = True
    best = np.where(inside, a, -np.inf).argmax(0)
    return np.where(inside.any(0), best, -1)


def localization_auc(scores: Sequence[np.ndarray], instance_labels: Sequence[np.ndarray],
                     threshold: float = 0.25) -> dict[str, float]:
    """How well instance scores (attention) find tumour patches.

    A patch is tumour when its instance label (tumour fraction of the patch) is ≥ ``threshold``.
    Only slides with both tumour and non-tumour patches count (negative slides and slides that are
    all tumour have no within-slide ranking to judge); ``n_slides`` says how many.

    ``mean_slide_auc``: the ROC AUC of the scores against the tumour labels within each slide,
    averaged over slides. ``pooled_auc``: one AUC over all patches of those slides after turning
    each slide's scores into within-slide percentile ranks (average ranks for ties): raw softmax
    weights are not comparable across bags of different lengths, since 1/N differs 20-fold.

    ``scores``: one (N,) array per slide (or (1, N); average multi-head scores first).
    """
    aucs, ranks, ys = [], [], []
    for i, (s, y) in enumerate(zip(scores, instance_labels)):
        s = np.asarray(s, float)
        if s.ndim == 2 and s.shape[0] == 1:
            s = s[0]
        if s.ndim != 1:
            raise ValueError(f"scores of slide {i} have shape {s.shape}; pass one score per "
                             "instance (average the heads first)")
        y = np.asarray(y).ravel() >= threshold
        if len(y) != len(s):
            raise ValueError(f"slide {i}: {len(s)} scores but {len(y)} instance labels")
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
