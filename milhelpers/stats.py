"""Paired comparisons of two methods over slides, the one decision rule, and power by simulation.

The experiment runner (:mod:`milhelpers.experiments`) gives every slide one *out-of-fold* score
per repeat: repeat r partitions the slides into k folds, and each slide is scored by the model
that did not train on it. Two methods run on the same repeats give two (R, N) score matrices for
the same N slides, and the question "is B better than A?" becomes a question about those slides:

* :func:`paired_slide_comparison` — a metric of the pooled out-of-fold scores (AUC, balanced
  accuracy, macro F1), B − A averaged over repeats, with a **paired, stratified bootstrap over
  cases** (both methods' scores of a resampled slide move together);
* :func:`paired_slide_means` — the same for quantities defined per slide (localisation AUC,
  attention entropy, top-5 mass): the mean over slides of the per-slide difference;
* :func:`delong_test` — DeLong's test for two correlated AUCs on one repeat (a cross-check);
* :func:`corrected_t_test` — the Nadeau–Bengio corrected resampled t-test for per-run numbers
  that have no per-slide version (training seconds);
* :func:`holm` — Holm's step-down adjustment for a family of comparisons with one reference;
* :func:`is_clear` / :func:`describe` — the one decision rule: an effect is **clear** exactly
  when its 95 % interval excludes 0 (every test here reports a p with p < 0.05 ⇔ that), and a
  difference whose interval holds 0 is "no evidence either way", never a trend;
* :func:`rank_intervals` — where each of several methods ranks on a slide metric, with the
  95 % interval of its rank under the same case bootstrap; :func:`pareto_front` — the methods
  that no other beats on accuracy without costing more;
* :func:`simulate_scores`, :func:`power`, :func:`power_curve`, :func:`min_detectable_difference`
  — how often the rule says "clear" when nothing differs (calibration) and when something does
  (power), on cohorts simulated to look like the course's.

Why slides and not folds: with 5 folds there are 5 paired numbers, and no test on 5 numbers can
be convincing (the exact Wilcoxon p cannot go below 0.0625). The 120 slides are the units that
were sampled; resampling them (by patient) asks how the difference would move on another draw
of patients. What the interval does *not* cover: a new training run's luck beyond what the
repeats average out (each slide's score is the mean over the repeats' models), and other cohorts.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

__all__ = ["ALPHA", "SLIDE_METRICS", "BASE_AUC", "METHOD_CORRELATION", "REPEAT_CORRELATION",
           "SCORE_METRICS", "compare_settings", "settings_side_by_side",
           "case_strata", "slide_metric", "paired_slide_comparison", "paired_slide_means",
           "slide_metric_interval", "delong_test",
           "corrected_t_test", "holm", "is_clear", "describe", "within_class_correlation",
           "score_correlations", "rank_intervals", "pareto_front",
           "simulate_scores", "power", "power_curve", "min_detectable_difference"]

#: The significance level of the one rule: clear ⇔ the 1 − ALPHA interval excludes 0.
ALPHA = 0.05
#: Metrics of a set of slide scores that :func:`paired_slide_comparison` computes.
SLIDE_METRICS = ("auc", "balanced_accuracy", "f1")
#: Every metric :func:`slide_metric` and :func:`paired_slide_comparison` accept: the runner's
#: SLIDE_METRICS and plain accuracy (the classic MIL tables report it, :mod:`milhelpers.classic`).
SCORE_METRICS = SLIDE_METRICS + ("accuracy",)
#: Gated ABMIL's slide AUC on the course cohort: the simulations' level. Measured: the pooled
#: out-of-fold AUC of 3 repeats × 5 folds × 20 epochs, last epoch, 0.769
#: (``benchmarks/results/selection.json``, rule ``last``).
BASE_AUC = 0.77
#: Within-class correlation of two methods' slide scores in the same repeat: the planning value
#: of the course's power analysis, ρ ≈ 0.7 (``benchmarks/results/selection.json`` measures gated
#: ABMIL against ACMIL under the same protocol; see ``docs/protocol.md``).
METHOD_CORRELATION = 0.7
#: Within-class correlation of one method's out-of-fold scores between two repeats (each repeat
#: re-partitions the slides and re-trains), measured on the course cohort: gated ABMIL, 3 repeats
#: × 5 folds × 20 epochs, last epoch, normal-score correlation within class averaged over the 3
#: pairs of repeats = 0.625 (``benchmarks/results/selection.json``, rule ``last``;
#: ``benchmarks/selection.py``).
REPEAT_CORRELATION = 0.63


# --------------------------------------------------------------------------------------------
# resampling
# --------------------------------------------------------------------------------------------
def case_strata(y: Sequence[int], groups: Sequence | None = None
                ) -> tuple[np.ndarray, list[np.ndarray]]:
    """(case index of each slide, the case indices of each stratum) for the case bootstrap.

    A *case* is a patient: the slides sharing a ``groups`` value (each slide alone without
    groups). A case's stratum is the set of labels of its slides — {0}, {1}, or {0, 1} for a
    patient with a negative and a positive slide — so every resample keeps as many cases of each
    kind as the data has (no resample lacks positives, and the class balance does not wander).
    """
    y = np.asarray(y)
    if groups is None:
        case = np.arange(len(y))
    else:
        g = np.asarray(groups).astype(str)
        if g.shape != y.shape:
            raise ValueError(f"groups has shape {g.shape}, the labels {y.shape}")
        _, case = np.unique(g, return_inverse=True)
    kinds: dict[int, set] = {}
    for c, label in set(zip(case.tolist(), y.tolist())):
        kinds.setdefault(c, set()).add(label)
    label_sets: dict[tuple, list[int]] = {}
    for c in sorted(kinds):
        label_sets.setdefault(tuple(sorted(kinds[c])), []).append(c)
    return case, [np.asarray(v) for _, v in sorted(label_sets.items())]


def _case_weights(case: np.ndarray, strata: list[np.ndarray], n_boot: int,
                  rng: np.random.Generator) -> np.ndarray:
    """(n_boot, N) slide weights: how often each slide's case was drawn in each resample.

    Within each stratum of n_h cases, n_h cases are drawn with replacement (a multinomial count
    per case); a slide weighs what its case was drawn."""
    n_cases = sum(len(s) for s in strata)
    counts = np.zeros((n_boot, n_cases))
    for members in strata:
        n_h = len(members)
        draws = rng.integers(0, n_h, size=(n_boot, n_h)) + np.arange(n_boot)[:, None] * n_h
        counts[:, members] = np.bincount(draws.ravel(), minlength=n_boot * n_h).reshape(n_boot, n_h)
    return counts[:, case]


def _interval_and_p(d: np.ndarray, alpha: float = ALPHA) -> tuple[list[float], float]:
    """The percentile interval and the two-sided bootstrap p of resampled differences ``d``.

    With the B finite resamples sorted, d₍₁₎ ≤ … ≤ d₍B₎, and k = ⌈αB/2⌉, the interval is
    [d₍k₎, d₍B+1−k₎]; p = 2·min(#{d ≤ 0}, #{d ≥ 0}) / B, at most 1 and at least 1/B (a bootstrap
    of B resamples cannot show less). The two agree by construction: d₍k₎ > 0 exactly when fewer
    than k resamples are ≤ 0, i.e. when 2·#{d ≤ 0}/B < α, and likewise on the other side — so
    p < α ⇔ the interval excludes 0 (for any α > 1/B).
    """
    d = np.sort(d[np.isfinite(d)])
    b = len(d)
    if b == 0:
        return [float("nan"), float("nan")], float("nan")
    k = max(1, math.ceil(alpha * b / 2 - 1e-9))
    below, above = int((d <= 0).sum()), int((d >= 0).sum())
    p = min(1.0, max(2 * min(below, above) / b, 1 / b))
    return [float(d[k - 1]), float(d[b - k])], p


def _check_boot(n_boot: int) -> None:
    if int(n_boot) != n_boot or n_boot < 200:
        raise ValueError(f"n_boot={n_boot!r}: use at least 200 resamples (2,000 for a reported "
                         "interval), or the 2.5 % tails rest on a handful of values")


# --------------------------------------------------------------------------------------------
# slide metrics under resampling weights
# --------------------------------------------------------------------------------------------
def _as_scores(scores, n: int, name: str) -> np.ndarray:
    """(R, N) binary scores or (R, N, C) class probabilities, as float64."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 1:
        s = s[None]
    if s.ndim not in (2, 3) or s.shape[1] != n:
        raise ValueError(f"{name} must be (N,) or (repeats, N) scores, or (repeats, N, classes) "
                         f"probabilities, with N = {n} slides as in y; got shape {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError(f"{name} has NaN or infinite scores; every slide needs a score in "
                         "every repeat (drop the slides or repeats that lack one)")
    return s


def _heaviside_mean(s: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """(n_pos, n_neg) mean over repeats of 1[s_i > s_j] + ½·1[s_i = s_j] (i positive, j not)."""
    diff = s[:, pos][:, :, None] - s[:, neg][:, None, :]
    return ((diff > 0) + 0.5 * (diff == 0)).mean(0)


def _auc_kernels(y: np.ndarray, s: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(positives, the rest, mean h over repeats) per one-vs-rest class (one for binary scores)."""
    classes = np.unique(y)
    binary = s.ndim == 2
    out = []
    for c in (classes[1:] if binary else classes):
        pos, neg = y == c, y != c
        out.append((pos, neg, _heaviside_mean(s if binary else s[..., c], pos, neg)))
    return out


def _weighted_auc(w: np.ndarray, kernels) -> np.ndarray:
    """Σ_ij w_i w_j h_ij / (W_P W_N) per row of ``w``, averaged over the one-vs-rest classes.
    Linear in h: with h_B − h_A it is AUC_B − AUC_A under the same weights."""
    vals = [((w[:, pos] @ h) * w[:, neg]).sum(1) / (w[:, pos].sum(1) * w[:, neg].sum(1))
            for pos, neg, h in kernels]
    return np.mean(vals, 0)


def _metric_values(w: np.ndarray, y: np.ndarray, s: np.ndarray, metric: str,
                   threshold: float) -> np.ndarray:
    """(n_boot,) the metric of scores ``s`` on slides weighted by each row of ``w``, averaged
    over the repeats.

    AUC with weights: Σ_{i∈P} Σ_{j∈N} w_i w_j h_ij / (W_P W_N), h_ij = 1[s_i > s_j] + ½ 1[s_i = s_j]
    (the Mann–Whitney form; a case drawn twice counts twice); the mean over repeats of a sum
    linear in h is the same sum over the mean h, so repeats cost nothing here. Several classes:
    the one-vs-rest AUC of each class's probability, averaged (scikit-learn's macro "ovr").
    Balanced accuracy: the mean over classes of the weighted recall of the predicted class
    (P(class 1) > ``threshold`` for binary scores, the arg-max of probabilities otherwise).
    Macro F1: per class 2TP / (2TP + FP + FN) from weighted counts (0 when undefined, as
    scikit-learn's zero_division=0), averaged over classes, then over repeats. Accuracy:
    Σ_i w_i c_i / Σ_i w_i with c_i the share of repeats that predict slide i's class.
    """
    classes = np.unique(y)
    binary = s.ndim == 2
    if metric == "auc":
        return _weighted_auc(w, _auc_kernels(y, s))
    pred = (s > threshold).astype(int) if binary else s.argmax(-1)          # (R, N)
    if metric == "accuracy":                                                 # Σ w_i c_i / Σ w_i
        return w @ (pred == y[None]).mean(0) / w.sum(1)
    if metric == "balanced_accuracy":
        correct = (pred == y[None]).mean(0)                                  # (N,) over repeats
        return np.mean([w[:, y == c] @ correct[y == c] / w[:, y == c].sum(1) for c in classes], 0)
    if metric == "f1":
        f1 = []
        for c in classes:
            hit = (pred == c).T.astype(float)                                # (N, R)
            tp = w @ (hit * (y == c)[:, None])
            fp = w @ (hit * (y != c)[:, None])
            fn = w @ ((1 - hit) * (y == c)[:, None])
            den = 2 * tp + fp + fn
            f1.append(np.divide(2 * tp, den, out=np.zeros_like(den), where=den > 0))
        return np.mean(f1, 0).mean(1)
    raise ValueError(f"metric={metric!r}: choose one of {SCORE_METRICS}")


def slide_metric(y: Sequence[int], scores, metric: str = "auc", threshold: float = 0.5) -> float:
    """The metric of one set of slide scores ((N,) P(class 1), or (N, C) probabilities), every
    slide once: the quantity whose difference :func:`paired_slide_comparison` resamples."""
    y = _check_labels(y)
    s = np.asarray(scores, np.float64)
    s = _as_scores(s[None], len(y), "scores")
    if metric not in SCORE_METRICS:
        raise ValueError(f"metric={metric!r}: choose one of {SCORE_METRICS}")
    return float(_metric_values(np.ones((1, len(y))), y, s, metric, threshold)[0])


def _check_labels(y, n_classes_needed: int = 2) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be one integer label per slide; got {y.dtype} of shape {y.shape}")
    if len(np.unique(y)) < n_classes_needed:
        raise ValueError(f"y has only class(es) {np.unique(y).tolist()}: comparing slide metrics "
                         "needs slides of both classes")
    return y


def paired_slide_comparison(y: Sequence[int], scores_a, scores_b, *,
                            groups: Sequence | None = None, metric: str = "auc",
                            n_boot: int = 2000, seed: int = 0, threshold: float = 0.5,
                            paired: bool = True, return_resamples: bool = False
                            ) -> dict[str, Any]:
    """B − A on a metric of the slides' out-of-fold scores, with a case bootstrap.

    ``y``: (N,) labels. ``scores_a``, ``scores_b``: (R, N) — repeats × slides, each row one full
    out-of-fold prediction (P(class 1), or any score for the AUC) — or (N,) for one repeat, or
    (R, N, C) class probabilities. ``groups``: (N,) case (patient) ids. ``metric``: ``"auc"``,
    ``"balanced_accuracy"``, ``"f1"`` (macro) or ``"accuracy"`` (see :func:`_metric_values`).

    The statistic is Δ = (1/R) Σ_r [M(B_r) − M(A_r)], M the metric of one repeat's N scores.
    Its interval and p come from a paired, stratified bootstrap over cases: each of ``n_boot``
    resamples draws the cases of each stratum (:func:`case_strata`) with replacement, each slide
    weighs what its case was drawn, and Δ* is recomputed with those weights for *both* methods
    and every repeat — a resampled slide carries both methods' scores and all its repeats, which
    is what makes the comparison paired. ``ci95`` is the percentile interval of Δ*, ``p`` the
    two-sided bootstrap p of the same resamples, so p < 0.05 exactly when the interval excludes
    0 (:func:`_interval_and_p`). Fully vectorised: 120 slides × 2,000 resamples take a few ms.

    ``paired=False`` resamples the two methods' cases independently, as if they had been tested
    on different slides — only to show what pairing gains. Returns ``diff``, ``ci95``, ``p``,
    ``n_slides``, ``n_repeats``, ``unit`` ("slides"), ``test``, and ``resamples`` (Δ*) when
    asked.
    """
    _check_boot(n_boot)
    y = _check_labels(y)
    a = _as_scores(scores_a, len(y), "scores_a")
    b = _as_scores(scores_b, len(y), "scores_b")
    if a.shape != b.shape:
        raise ValueError(f"scores_a {a.shape} and scores_b {b.shape} must have one shape: the same "
                         "repeats of the same slides")
    if metric not in SCORE_METRICS:
        raise ValueError(f"metric={metric!r}: choose one of {SCORE_METRICS}")
    if a.ndim == 2 and len(np.unique(y)) > 2:
        raise ValueError("several classes need (repeats, N, classes) probabilities, not one score "
                         "per slide")
    case, strata = case_strata(y, groups)
    rng = np.random.default_rng(seed)
    ones = np.ones((1, len(y)))
    diff = float(_metric_values(ones, y, b, metric, threshold)[0]
                 - _metric_values(ones, y, a, metric, threshold)[0])
    w = _case_weights(case, strata, n_boot, rng)
    if paired and metric == "auc":   # one product with h_B − h_A instead of two
        kernels = [(p, n, hb - ha) for (p, n, ha), (_, _, hb)
                   in zip(_auc_kernels(y, a), _auc_kernels(y, b))]
        boot = _weighted_auc(w, kernels)
    else:
        w_a = w if paired else _case_weights(case, strata, n_boot, rng)
        boot = (_metric_values(w, y, b, metric, threshold)
                - _metric_values(w_a, y, a, metric, threshold))
    ci, p = _interval_and_p(boot)
    out = {"diff": diff, "ci95": ci, "p": p, "n_slides": int(len(y)), "n_repeats": int(len(a)),
           "unit": "slides",
           "test": f"{'paired' if paired else 'unpaired'} case bootstrap of the {metric} "
                   f"({n_boot} resamples, stratified by label)"}
    if return_resamples:
        out["resamples"] = boot
    return out


def paired_slide_means(values_a, values_b, *, y: Sequence[int], groups: Sequence | None = None,
                       n_boot: int = 2000, seed: int = 0, return_resamples: bool = False
                       ) -> dict[str, Any]:
    """B − A on a quantity defined per slide (localisation AUC, entropy, top-5 mass), with the
    same case bootstrap as :func:`paired_slide_comparison`.

    ``values_a``, ``values_b``: (R, N) or (N,), the quantity of each slide in each repeat (from
    the model that held the slide out). Per slide, d_i = mean over the repeats where *both*
    values are defined of (b_ri − a_ri); the statistic is the mean of d_i over the slides where
    any repeat defines it, and a resample recomputes that mean with the case weights.

    NaN means "undefined for this slide": the localisation AUC of a negative slide (no tumour
    patch to find) or of a slide whose patches are all tumour; such slides simply do not count
    (``n_slides`` says how many did), and the bootstrap still draws their cases, so the number of
    counted slides varies between resamples as it would on another draw of patients. Restrict a
    quantity to some slides (top-5 mass on positives) by passing NaN for the others.
    """
    _check_boot(n_boot)
    y = np.asarray(y)
    a, b = np.asarray(values_a, np.float64), np.asarray(values_b, np.float64)
    a, b = (a[None] if a.ndim == 1 else a), (b[None] if b.ndim == 1 else b)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != len(y):
        raise ValueError(f"values_a {a.shape} and values_b {b.shape} must both be (repeats, N) "
                         f"with N = {len(y)} slides as in y")
    both = ~(np.isnan(a) | np.isnan(b))
    with np.errstate(invalid="ignore"):
        d = np.where(both, b - a, 0.0).sum(0) / both.sum(0)        # NaN where no repeat has both
    ok = both.any(0)
    out = {"diff": float(d[ok].mean()) if ok.any() else float("nan"), "ci95": [np.nan, np.nan],
           "p": float("nan"), "n_slides": int(ok.sum()), "n_repeats": int(len(a)),
           "unit": "slides",
           "test": f"paired case bootstrap of per-slide differences ({n_boot} resamples, "
                   "stratified by label)"}
    if ok.sum() < 2:
        return out
    case, strata = case_strata(y, groups)
    w = _case_weights(case, strata, n_boot, np.random.default_rng(seed))
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = (w[:, ok] @ d[ok]) / w[:, ok].sum(1)                 # NaN: no counted slide drawn
    out["ci95"], out["p"] = _interval_and_p(boot)
    if return_resamples:
        out["resamples"] = boot
    return out


def slide_metric_interval(y: Sequence[int], scores, *, groups: Sequence | None = None,
                          metric: str = "auc", n_boot: int = 2000, seed: int = 0,
                          confidence: float = 0.95, threshold: float = 0.5) -> dict[str, Any]:
    """One method's metric of its slide scores, with the case bootstrap of
    :func:`paired_slide_comparison` applied to one set of scores (e.g. a trained run on
    held-out slides).

    ``scores``: (N,) P(class 1) or (N, C) probabilities. Each of ``n_boot`` resamples draws the cases of each stratum (:func:`case_strata`:
    cases with negative slides, with positive slides, with both) with replacement, each slide
    weighs what its case was drawn, and the metric is recomputed with those weights
    (:func:`_metric_values`); ``ci`` is the percentile interval at ``confidence``, the
    ⌈αB/2⌉-th smallest and largest of the B resampled values (α = 1 − confidence). Stratified,
    no resample lacks a class, so every resample has an AUC. Balanced accuracy needs one class;
    the AUC and F1 need two. Returns ``value``, ``ci``, ``confidence``, ``n_boot``,
    ``n_slides``, ``n_cases``, ``test``.
    """
    _check_boot(n_boot)
    if metric not in SLIDE_METRICS:
        raise ValueError(f"metric={metric!r}: choose one of {SLIDE_METRICS}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must be between 0 and 1 (e.g. 0.95)")
    y = _check_labels(y, 1 if metric == "balanced_accuracy" else 2)
    s = np.asarray(scores, np.float64)
    if s.ndim not in (1, 2):
        raise ValueError(f"scores must be (N,) P(class 1) or (N, classes) probabilities; got "
                         f"shape {s.shape}")
    s = _as_scores(s[None], len(y), "scores")
    case, strata = case_strata(y, groups)
    value = float(_metric_values(np.ones((1, len(y))), y, s, metric, threshold)[0])
    boot = _metric_values(_case_weights(case, strata, n_boot, np.random.default_rng(seed)), y, s,
                          metric, threshold)
    ci, _ = _interval_and_p(boot, alpha=1 - confidence)
    return {"value": value, "ci": ci, "confidence": confidence, "n_boot": int(n_boot),
            "n_slides": int(len(y)), "n_cases": int(len(np.unique(case))),
            "test": f"case bootstrap of the {metric} ({n_boot} resamples, stratified by label)"}


# --------------------------------------------------------------------------------------------
# many methods: ranks and the Pareto front
# --------------------------------------------------------------------------------------------
def rank_intervals(y: Sequence[int], scores: dict[str, Any], *, groups: Sequence | None = None,
                   metric: str = "auc", n_boot: int = 2000, seed: int = 0,
                   threshold: float = 0.5) -> pd.DataFrame:
    """Each method's rank on a slide metric, and how sure that rank is.

    ``scores``: method → (R, N) out-of-fold scores (or (N,), or (R, N, C) probabilities) of the
    same N slides, every method the same shape. The metric M_m of method m is the mean over its
    repeats of the metric of one repeat's N scores (as :func:`paired_slide_comparison`); methods
    are ranked by it, 1 = the highest, tied methods sharing the mean of their ranks. Each of the
    ``n_boot`` resamples draws cases with replacement within their label stratum
    (:func:`case_strata` — the resamples of :func:`paired_slide_comparison` with the same
    ``seed``), recomputes every M_m on those slides and ranks the methods again; ``rank_lo`` /
    ``rank_hi`` is the percentile interval of a method's resampled rank (the order statistics of
    :func:`_interval_and_p`), ``mean_rank`` its mean and ``p_first`` the share of resamples where
    it ranks first alone.

    Returns one row per method, sorted by rank: ``method``, ``value`` (M_m on all slides),
    ``rank``, ``rank_lo``, ``rank_hi``, ``mean_rank``, ``p_first``. A rank interval that spans
    several places says the data cannot order those methods; with two methods, rank 1 in a
    resample is exactly a positive paired difference there.
    """
    from scipy.stats import rankdata

    _check_boot(n_boot)
    y = _check_labels(y)
    if metric not in SLIDE_METRICS:
        raise ValueError(f"metric={metric!r}: choose one of {SLIDE_METRICS}")
    if len(scores) < 2:
        raise ValueError(f"rank_intervals needs at least two methods, got {list(scores)}")
    names = list(scores)
    mats = {m: _as_scores(scores[m], len(y), f"scores[{m!r}]") for m in names}
    shapes = {m: s.shape for m, s in mats.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"every method needs the same repeats of the same slides; shapes "
                         f"{shapes}")
    case, strata = case_strata(y, groups)
    w = _case_weights(case, strata, n_boot, np.random.default_rng(seed))
    ones = np.ones((1, len(y)))
    value = np.array([_metric_values(ones, y, mats[m], metric, threshold)[0] for m in names])
    boot = np.stack([_metric_values(w, y, mats[m], metric, threshold) for m in names], 1)
    boot = np.where(np.isfinite(boot), boot, -np.inf)   # undefined metric: ranked last
    ranks = rankdata(-boot, axis=1, method="average")    # (n_boot, methods)
    observed = rankdata(-value, method="average")
    rows = []
    for j, m in enumerate(names):
        (lo, hi), _ = _interval_and_p(ranks[:, j])
        first = (ranks[:, j] == 1) & ((ranks == 1).sum(1) == 1)
        rows.append({"method": m, "value": float(value[j]), "rank": float(observed[j]),
                     "rank_lo": lo, "rank_hi": hi, "mean_rank": float(ranks[:, j].mean()),
                     "p_first": float(first.mean())})
    return pd.DataFrame(rows).sort_values(["rank", "method"], kind="stable").reset_index(drop=True)


def pareto_front(costs, values) -> np.ndarray:
    """Which points are on the Pareto front of cost (lower is better) against value (higher is
    better): (n,) booleans.

    ``costs``: (n,) or (n, k) — several costs (seconds and memory) are minimised jointly;
    ``values``: (n,). Point j *dominates* point i when every cost of j is ≤ i's, its value is ≥
    i's, and at least one of them is strictly better; the front is the points no other point
    dominates. Two identical points are both on it. A point with a NaN is never on the front and
    dominates nothing.
    """
    c = np.asarray(costs, np.float64)
    c = c[:, None] if c.ndim == 1 else c
    v = np.asarray(values, np.float64)
    if c.ndim != 2 or v.ndim != 1 or len(c) != len(v):
        raise ValueError(f"costs must be (n,) or (n, k) and values (n,); got {c.shape} and "
                         f"{v.shape}")
    ok = np.isfinite(c).all(1) & np.isfinite(v)
    front = ok.copy()
    for i in np.flatnonzero(ok):
        others = ok & (np.arange(len(v)) != i)
        no_worse = (c <= c[i]).all(1) & (v >= v[i])
        better = (c < c[i]).any(1) | (v > v[i])
        if (others & no_worse & better).any():
            front[i] = False
    return front


# --------------------------------------------------------------------------------------------
# DeLong, Nadeau–Bengio, Holm
# --------------------------------------------------------------------------------------------
def delong_test(y: Sequence[int], scores_a: Sequence[float], scores_b: Sequence[float]
                ) -> dict[str, Any]:
    """DeLong's test of two correlated ROC AUCs on the same slides (DeLong, DeLong &
    Clarke-Pearson, Biometrics 1988), for one repeat: a cross-check of the bootstrap.

    With m positives X_i and n negatives Y_j, h(x, y) = 1[x > y] + ½ 1[x = y], each method's
    placements are V10_i = (1/n) Σ_j h(X_i, Y_j) (per positive) and V01_j = (1/m) Σ_i h(X_i, Y_j)
    (per negative); AUC = mean V10 = mean V01. With S10 and S01 the 2 × 2 sample covariances
    (ddof 1) of the two methods' V10 and V01, Var(AUC_B − AUC_A) = (S10_aa + S10_bb − 2 S10_ab)/m
    + (S01_aa + S01_bb − 2 S01_ab)/n; z = Δ / se, p = 2(1 − Φ(|z|)), ``ci95`` = Δ ± 1.96 se
    (so again p < 0.05 ⇔ the interval excludes 0). Binary labels only.
    """
    from scipy.stats import norm

    y = _check_labels(y)
    if set(np.unique(y).tolist()) != {0, 1}:
        raise ValueError("DeLong's test here is for binary labels 0/1")
    s = np.stack([np.asarray(scores_a, np.float64), np.asarray(scores_b, np.float64)])
    if s.shape[1] != len(y):
        raise ValueError(f"scores must be (N,) with N = {len(y)}; got {s.shape[1:]}")
    pos, neg = y == 1, y == 0
    diff = s[:, pos][:, :, None] - s[:, neg][:, None, :]
    h = (diff > 0) + 0.5 * (diff == 0)                    # (2, m, n)
    v10, v01 = h.mean(2), h.mean(1)                       # (2, m), (2, n)
    auc = v10.mean(1)
    m, n = pos.sum(), neg.sum()
    c = np.array([1.0, -1.0])                             # the contrast B − A, as (−1, 1)·(a, b)
    var = 0.0
    if m > 1:
        var += c @ np.cov(v10) @ c / m
    if n > 1:
        var += c @ np.cov(v01) @ c / n
    d = float(auc[1] - auc[0])
    se = float(np.sqrt(var))
    z = d / se if se > 0 else (0.0 if d == 0 else math.copysign(math.inf, d))
    p = float(2 * norm.sf(abs(z)))
    q = norm.ppf(1 - ALPHA / 2)
    return {"diff": d, "ci95": [d - q * se, d + q * se], "p": p, "n_slides": int(len(y)),
            "n_repeats": 1, "unit": "slides", "test": "DeLong's test of correlated AUCs",
            "auc_a": float(auc[0]), "auc_b": float(auc[1]), "se": se, "z": float(z)}


def corrected_t_test(differences: Sequence[float], test_train_ratio: float) -> dict[str, Any]:
    """The Nadeau–Bengio corrected resampled t-test (Machine Learning 2003) for a per-run number.

    ``differences``: d_j = B − A of J runs matched on (repeat, fold); ``test_train_ratio``:
    n_test / n_train of one run (1/(k − 1) for k folds). The runs re-use the same slides, so
    their d_j are correlated and the naive variance s²/J is too small; Nadeau and Bengio replace
    it by s²·(1/J + n_test/n_train). t = mean(d) / that root, J − 1 degrees of freedom, ``ci95`` =
    mean ± t_{0.975, J−1}·se, two-sided p (p < 0.05 ⇔ the interval excludes 0). NaNs dropped.
    """
    from scipy.stats import t as student_t

    d = np.asarray(differences, np.float64)
    d = d[~np.isnan(d)]
    j = len(d)
    out = {"diff": float(d.mean()) if j else float("nan"), "ci95": [np.nan, np.nan],
           "p": float("nan"), "n_runs": j, "unit": "runs",
           "test": "Nadeau–Bengio corrected resampled t-test"}
    if j < 2:
        return out
    se = float(np.sqrt(d.var(ddof=1) * (1 / j + test_train_ratio)))
    q = float(student_t.ppf(1 - ALPHA / 2, j - 1))
    if se == 0:
        p = 1.0 if out["diff"] == 0 else 0.0
    else:
        p = float(2 * student_t.sf(abs(out["diff"]) / se, j - 1))
    out.update(ci95=[out["diff"] - q * se, out["diff"] + q * se], p=p, se=se)
    return out


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm, Scand. J. Statistics 1979), NaNs left out.

    Sort the m p-values, p₍₁₎ ≤ … ≤ p₍m₎; the adjusted p₍j₎ = max_{i ≤ j} min(1, (m − i + 1) p₍i₎).
    Calling "clear" where the adjusted p < α keeps the chance of *any* false "clear" in the family
    at most α, whatever the dependence between the comparisons.
    """
    p = np.asarray(pvalues, np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adj)
    return out


# --------------------------------------------------------------------------------------------
# the one rule
# --------------------------------------------------------------------------------------------
#: Metrics where higher is better (the others are described as higher or lower).
_BETTER_HIGH = {"auc", "balanced_accuracy", "f1", "loc_auc"}


def is_clear(stat: dict[str, Any], p_holm: float | None = None) -> bool:
    """The one decision rule: clear exactly when the 95 % interval excludes 0.

    Every test in this module reports p with p < 0.05 ⇔ its interval excludes 0, so this is also
    p < 0.05. In a family of comparisons with one reference pass the comparison's Holm-adjusted p
    (:func:`holm`): clear is then adjusted p < 0.05 (the family-wise rule)."""
    lo, hi = stat["ci95"]
    if p_holm is not None:
        return bool(p_holm < ALPHA)
    if lo is None or hi is None or np.isnan(lo) or np.isnan(hi):
        return False
    return bool(lo > 0 or hi < 0)


def describe(stat: dict[str, Any], a: str, b: str, metric: str = "auc",
             p_holm: float | None = None) -> str:
    """One sentence on B against A from a comparison's ``diff``, ``ci95`` and ``p``.

    Clear (:func:`is_clear`): "B is better than A" (AUCs, accuracies, localisation AUC) or "B has
    higher/lower <metric> than A" (entropy, top-5 mass, seconds). Not clear: "no clear difference
    … the interval holds 0: no evidence either way" — never a trend. The numbers follow."""
    n = stat.get("n_slides")
    reps = stat.get("n_repeats")
    if stat.get("unit") == "runs":
        units = f"{stat.get('n_runs', '?')} runs"
    else:
        units = (f"{n} {stat.get('unit') or 'slides'}"
                 + (f" × {reps} repeats" if reps and reps > 1 else ""))
    lo, hi = stat["ci95"]
    if lo is None or np.isnan(lo):
        return f"{metric}: {b} vs {a}: too few slides or runs to compare ({units})"
    d = stat["diff"]
    holm_txt = "" if p_holm is None else f", Holm-adjusted p = {p_holm:.3f}"
    numbers = (f"{b} − {a} {d:+.3f}, 95% CI [{lo:+.3f}, {hi:+.3f}], p = {stat['p']:.3f}"
               f"{holm_txt}; {units}, {stat.get('test', 'paired test')}")
    if is_clear(stat, p_holm):
        if metric in _BETTER_HIGH:
            leader, other = (b, a) if d > 0 else (a, b)
            word = f"{leader} is better than {other}"
        else:
            word = f"{b} has {'higher' if d > 0 else 'lower'} {metric} than {a}"
    else:
        held = "the interval holds 0" if p_holm is None else "not clear after Holm's adjustment"
        word = f"no clear difference between {b} and {a} ({held}: no evidence either way)"
    return f"{metric}: {word} ({numbers})"


def compare_settings(tables: dict[str, pd.DataFrame], digits: int = 3) -> pd.DataFrame:
    """The same comparisons in several settings, side by side (a chapter's quick runs and the
    committed full-setting results).

    ``tables``: setting name → a table of :meth:`~milhelpers.experiments.ExperimentResult.compare`
    (``metric``, ``method``, ``diff``, ``lo``, ``hi``, ``clear``). One row per (metric, method)
    present in every setting; per setting a column "B − A [95% CI]" with the verdict (``clear``
    or ``—`` for no evidence either way); ``agree`` is True when every setting reaches the same
    verdict: all clear in one direction, or none clear.
    """
    names = list(tables)
    keyed = {n: t.set_index(["metric", "method"]) for n, t in tables.items()}
    common = [k for k in keyed[names[0]].index if all(k in keyed[n].index for n in names[1:])]
    rows = []
    for k in common:
        row = {"metric": k[0], "method": k[1]}
        calls = set()
        for n in names:
            r = keyed[n].loc[k]
            call = ("+" if r["diff"] > 0 else "−") if r["clear"] else "none"
            calls.add(call)
            row[n] = (f"{r['diff']:+.{digits}f} [{r['lo']:+.{digits}f}, {r['hi']:+.{digits}f}] "
                      + ("clear" if r["clear"] else "—"))
        row["agree"] = len(calls) == 1
        rows.append(row)
    return pd.DataFrame(rows, columns=["metric", "method", *names, "agree"])


# --------------------------------------------------------------------------------------------
# correlation of scores, simulation and power
# --------------------------------------------------------------------------------------------
def within_class_correlation(y: Sequence[int], x1: Sequence[float], x2: Sequence[float]) -> float:
    """How alike two score vectors on the same slides are, once the labels are accounted for.

    Within each class the scores are turned into normal scores, Φ⁻¹((rank − ½)/n) (so only their
    order matters, as for the AUC), and correlated (Pearson); the classes' correlations are
    averaged, weighted by class size. This is the ρ of :func:`simulate_scores`: the correlation
    of the noise around each class's mean, not the (larger) one that the labels themselves
    create."""
    from scipy.stats import norm, rankdata

    y = np.asarray(y)
    x1, x2 = np.asarray(x1, np.float64), np.asarray(x2, np.float64)
    rs, ws = [], []
    for c in np.unique(y):
        m = y == c
        if m.sum() < 3:
            continue
        z1 = norm.ppf((rankdata(x1[m]) - 0.5) / m.sum())
        z2 = norm.ppf((rankdata(x2[m]) - 0.5) / m.sum())
        if np.ptp(z1) == 0 or np.ptp(z2) == 0:
            continue
        rs.append(np.corrcoef(z1, z2)[0, 1])
        ws.append(m.sum())
    return float(np.average(rs, weights=ws)) if rs else float("nan")


def score_correlations(y: Sequence[int], scores_a, scores_b) -> dict[str, float]:
    """The correlation structure of two methods' (R, N) out-of-fold scores, as
    :func:`simulate_scores` parametrises it (:func:`within_class_correlation`, averaged):
    ``repeats_a`` / ``repeats_b`` (one method, two repeats), ``methods`` (both methods, the same
    repeat), ``cross`` (both methods, different repeats). NaN where fewer than two repeats."""
    a, b = np.atleast_2d(scores_a), np.atleast_2d(scores_b)
    r = len(a)
    pairs = [(i, j) for i in range(r) for j in range(r) if i != j]
    wcc = within_class_correlation

    def avg(vals):
        return float(np.mean(vals)) if vals else float("nan")

    return {"repeats_a": avg([wcc(y, a[i], a[j]) for i, j in pairs if i < j]),
            "repeats_b": avg([wcc(y, b[i], b[j]) for i, j in pairs if i < j]),
            "methods": avg([wcc(y, a[i], b[i]) for i in range(r)]),
            "cross": avg([wcc(y, a[i], b[j]) for i, j in pairs])}


def simulate_scores(n_slides: int = 120, n_repeats: int = 3, delta_auc: float = 0.0, *,
                    base_auc: float = BASE_AUC, rho_methods: float = METHOD_CORRELATION,
                    rho_repeats: float = REPEAT_CORRELATION, rho_cross: float | None = None,
                    prevalence: float = 0.5, n_cohorts: int = 1, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cohorts of out-of-fold scores of two methods whose true AUCs are ``base_auc`` and
    ``base_auc + delta_auc``: ``(y (N,), scores_a, scores_b (n_cohorts, R, N))``.

    Binormal model: slide i of label y_i, method m, repeat r scores
    s = μ_m y_i + a·c_i + b·u_im + g·v_ir + h·e_imr with independent standard normal c (the slide
    itself: what makes it easy or hard for everyone), u (what method m makes of the slide, the
    same in every repeat), v (what repeat r's partition and training make of it, shared by both
    methods) and e (the rest). Each class has variance 1, so AUC_m = Φ(μ_m / √2) and
    μ_m = √2 Φ⁻¹(AUC_m). The within-class correlations are
    corr(A_r, B_r) = a² + g² = ``rho_methods``, corr(A_r, A_r') = a² + b² = ``rho_repeats``,
    corr(A_r, B_r') = a² = ``rho_cross`` (default min(rho_methods, rho_repeats)).

    The slides are their own cases (the course cohort's 1–2 slides per patient would widen
    intervals a little); ``round(prevalence · N)`` of them are positive, as in a labelled cohort.
    """
    from scipy.stats import norm

    rho_cross = min(rho_methods, rho_repeats) if rho_cross is None else rho_cross
    a2, g2, b2 = rho_cross, rho_methods - rho_cross, rho_repeats - rho_cross
    h2 = 1 - a2 - b2 - g2
    if min(a2, g2, b2, h2) < -1e-12:
        raise ValueError(f"correlations rho_methods={rho_methods}, rho_repeats={rho_repeats}, "
                         f"rho_cross={rho_cross} are not a valid model: need rho_cross <= both "
                         "and rho_methods + rho_repeats - rho_cross <= 1")
    for auc in (base_auc, base_auc + delta_auc):
        if not 0.5 <= auc < 1:
            raise ValueError(f"AUC {auc} must be in [0.5, 1)")
    a, g, b, h = (math.sqrt(max(v, 0.0)) for v in (a2, g2, b2, h2))
    n_pos = int(round(prevalence * n_slides))
    if not 0 < n_pos < n_slides:
        raise ValueError(f"prevalence={prevalence} leaves no slides of one class")
    y = np.r_[np.zeros(n_slides - n_pos, int), np.ones(n_pos, int)]
    rng = np.random.default_rng(seed)
    shape = (n_cohorts, n_repeats, n_slides)
    common = a * rng.standard_normal((n_cohorts, 1, n_slides))
    shared_repeat = g * rng.standard_normal(shape)
    out = []
    for auc in (base_auc, base_auc + delta_auc):
        mu = math.sqrt(2) * norm.ppf(auc)
        out.append(mu * y + common + shared_repeat
                   + b * rng.standard_normal((n_cohorts, 1, n_slides))
                   + h * rng.standard_normal(shape))
    return y, out[0], out[1]


def power(delta_auc: float, *, n_slides: int = 120, n_repeats: int = 3, n_cohorts: int = 300,
          n_boot: int = 500, seed: int = 0, paired: bool = True, **model) -> dict[str, float]:
    """How often the one rule calls B − A "clear" on simulated cohorts (:func:`simulate_scores`,
    ``model`` its keyword arguments), with :func:`paired_slide_comparison` on the AUC.

    Returns ``clear`` (share of cohorts), ``ci_width`` (mean interval width), ``mean_diff`` and
    ``n_cohorts``. With ``delta_auc = 0`` the share is the false-positive rate (the rule's
    calibration; 5 % if the bootstrap is right). ``n_boot`` defaults to 500 resamples per
    cohort: the share over hundreds of cohorts hardly moves with more (each resample count only
    blurs where a cohort's interval ends, it does not shift it), and 500 keep a power curve
    within a chapter's budget; reported intervals use 2,000.
    """
    from threadpoolctl import threadpool_limits

    y, a, b = simulate_scores(n_slides, n_repeats, delta_auc, n_cohorts=n_cohorts, seed=seed,
                              **model)
    clear, widths, diffs = [], [], []
    with threadpool_limits(1, user_api="blas"):   # small products: a second thread only waits
        for i in range(n_cohorts):
            s = paired_slide_comparison(y, a[i], b[i], n_boot=n_boot,
                                        seed=seed + 7919 * (i + 1), paired=paired)
            clear.append(is_clear(s))
            widths.append(s["ci95"][1] - s["ci95"][0])
            diffs.append(s["diff"])
    return {"clear": float(np.mean(clear)), "ci_width": float(np.mean(widths)),
            "mean_diff": float(np.mean(diffs)), "n_cohorts": int(n_cohorts)}


def power_curve(deltas: Sequence[float] = (0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15),
                repeats: Sequence[int] = (1, 3, 5), *, n_slides: int = 120, n_cohorts: int = 200,
                n_boot: int = 500, seed: int = 0, **model) -> pd.DataFrame:
    """:func:`power` over a grid: one row per (n_repeats, delta_auc) with ``power`` (the share
    called clear), ``ci_width`` and ``n_cohorts``. The same seed for every point, so the curves
    differ by the settings, not by the draw (common random numbers)."""
    rows = []
    for r in repeats:
        for d in deltas:
            res = power(float(d), n_slides=n_slides, n_repeats=int(r), n_cohorts=n_cohorts,
                        n_boot=n_boot, seed=seed, **model)
            rows.append({"n_repeats": int(r), "delta_auc": float(d), "power": res["clear"],
                         "ci_width": res["ci_width"], "n_cohorts": res["n_cohorts"]})
    out = pd.DataFrame(rows)
    out.attrs["n_slides"] = int(n_slides)
    return out


def min_detectable_difference(curve: pd.DataFrame, target: float = 0.8) -> dict[int, float]:
    """n_repeats → the smallest ΔAUC whose power reaches ``target``, interpolated linearly
    between the grid points of :func:`power_curve` (NaN when the grid never reaches it)."""
    out = {}
    for r, g in curve.sort_values("delta_auc").groupby("n_repeats"):
        d, pw = g.delta_auc.to_numpy(), np.maximum.accumulate(g.power.to_numpy())
        hit = np.flatnonzero(pw >= target)
        if not len(hit):
            out[int(r)] = float("nan")
        elif hit[0] == 0:
            out[int(r)] = float(d[0])
        else:
            i = hit[0]
            out[int(r)] = float(d[i - 1] + (target - pw[i - 1]) * (d[i] - d[i - 1])
                                / (pw[i] - pw[i - 1]))
    return out


# --------------------------------------------------------------------------------------------
# one comparison in several settings (chapters 03 and 04: the quick run next to the benchmark)
# --------------------------------------------------------------------------------------------
def settings_side_by_side(results: dict[str, Any], reference: str, methods: Sequence[str],
                     metrics: Sequence[str] = ("auc", "loc_auc"), n_boot: int = 2000,
                     digits: int = 3) -> pd.DataFrame:
    """The same paired comparisons in several settings, side by side, computed from the results
    (:func:`compare_settings` does the same from tables :meth:`compare` already made, and adds
    whether the settings agree).

    ``results``: setting name → an :class:`~milhelpers.experiments.ExperimentResult` (a live run,
    or a results file read with ``ExperimentResult.from_json``). For each setting, every method
    of ``methods`` it ran is compared with ``reference`` by
    :meth:`~milhelpers.experiments.ExperimentResult.compare` (B − A over slides, paired case
    bootstrap; Holm over the methods of that setting within one metric). One row per (method,
    metric); per setting two columns: ``"<setting>"`` = "Δ [95 % CI]" and ``"<setting>:
    verdict"`` = ``clear`` (Holm-adjusted p < 0.05, i.e. the family's rule) or ``no evidence
    either way``; "not run" where the setting lacks the method."""
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for name, res in results.items():
        present = [m for m in methods if m in res.methods and m != reference]
        if reference not in res.methods or not present:
            continue
        table = res.compare(reference, metrics, present, n_boot=n_boot)
        for r in table.itertuples():
            cell = cells.setdefault((f"{r.method} − {reference}", r.metric), {})
            cell[name] = (f"{r.diff:+.{digits}f} [{r.lo:+.{digits}f}, {r.hi:+.{digits}f}]"
                          if r.lo == r.lo else f"{r.diff:+.{digits}f} [n/a]")
            cell[f"{name}: verdict"] = "clear" if r.clear else "no evidence either way"
    rows = []
    for m in methods:
        if m == reference:
            continue
        for k in metrics:
            cell = cells.get((f"{m} − {reference}", k), {})
            row = {"comparison (B − A)": f"{m} − {reference}", "metric": k}
            for name in results:
                row[name] = cell.get(name, "not run")
                row[f"{name}: verdict"] = cell.get(f"{name}: verdict", "")
            rows.append(row)
    return pd.DataFrame(rows)
