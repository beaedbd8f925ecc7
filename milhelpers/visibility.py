"""Does the tumour survive a training step's sampling? Exact counts with the instance labels.

Methods that hide or split a slide while training still train on the *slide's* label. When a
positive slide's tumour is a handful of patches, the part the model sees may hold none of it,
and the step then teaches "this tumour-free tissue is positive". With instance labels (each
patch's tumour fraction from the annotation masks) this is countable:

* **MHIM-MIL** (chapter 05): for one bag, teacher scores and a masking rule,
  :func:`p_no_tumour_visible` is the exact probability that the union of high-score, random and
  low-score masking (:func:`milhelpers.models.mhim_mask`) covers every tumour patch; v2's random
  keep share is :func:`p_no_tumour_kept`. :func:`mhim_visibility` applies both to every positive
  training bag of every fold of an experiment, with the fold's trained teacher.
* **PackMIL** (chapter 06): :func:`packing_tumour_audit` draws PackMIL's split and packs epoch
  after epoch and counts the positive slides whose main part holds no tumour patch, and the
  hyperslides whose target calls them positive although none of their tokens is tumour.

A patch counts as tumour when its tumour fraction is at least ``threshold`` (0.25, the
localisation AUC's threshold).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from .experiments import LOC_THRESHOLD, ExperimentResult
from .methods import as_method
from .models.mhim import instance_scores, mask_count
from .packing import compressed_length, sequential_packs, split_slide

__all__ = ["p_no_tumour_visible", "p_no_tumour_kept", "r_h_schedule", "mhim_visibility",
           "visibility_summary", "packing_tumour_audit", "teacher_masks", "TUMOUR_BINS"]

#: Tumour-patch counts the summaries group positive bags by.
TUMOUR_BINS = ((1, 5), (6, 20), (21, 10**9))


def _hypergeom(k: int, successes: int, draws: int, j: int) -> float:
    """P(j successes in ``draws`` draws without replacement from ``k`` items, ``successes`` of
    them successes)."""
    if j < 0 or j > successes or draws - j > k - successes or draws - j < 0:
        return 0.0
    return math.comb(successes, j) * math.comb(k - successes, draws - j) / math.comb(k, draws)


def _p_all_in_random(n: int, u: int, m: int) -> float:
    """P(u given items are all among m drawn uniformly without replacement from n):
    C(n − u, m − u) / C(n, m)."""
    if u == 0:
        return 1.0
    if u > m:
        return 0.0
    return math.comb(n - u, m - u) / math.comb(n, m)


def p_no_tumour_visible(tumour: Sequence[bool], scores: Sequence[float], r_h: float,
                        r_hr: float = 1.0, r: float = 0.0, r_l: float = 0.0) -> float:
    """The probability that MHIM v1's masks hide every tumour patch of one bag.

    ``tumour`` (N,) True on tumour patches, ``scores`` (N,) the teacher's scores; the rules and
    counts of :func:`milhelpers.models.mhim_mask`: the low set L (the ⌈N·r_l⌉ lowest) is fixed,
    the high set H is ⌈k·r_hr⌉ drawn from the pool of the top k = ⌈N·r_h/r_hr⌉, the random set R
    is m = ⌈N·r⌉ drawn from all N, H and R independent. With T' the tumour patches outside L,
    t_p of them in the pool, and j ~ Hypergeometric(k, t_p, |H|) those H takes,

        P(T ⊆ H ∪ R ∪ L) = Σ_j P(j) · C(N − u, m − u) / C(N, m),   u = |T'| − j.

    A bag with no tumour patch gives 1. Exact while the three sets cannot cover the whole bag
    (|H| + m + |L| < N; always at the course's settings), where mhim_mask's guard shows the
    lowest-scored patch again; otherwise an upper bound.
    """
    t = np.asarray(tumour, bool).ravel()
    s = np.asarray(scores, np.float64).ravel()
    if t.shape != s.shape:
        raise ValueError(f"tumour has {t.size} patches, scores {s.size}")
    n = t.size
    if n == 0:
        raise ValueError("an empty bag has no patches to hide")
    if not t.any():
        return 1.0
    order = np.argsort(-s, kind="stable")         # best first, ties by position (as mhim_mask)
    low = np.zeros(n, bool)
    n_low = mask_count(n, r_l)
    if n_low:
        low[order[n - n_low:]] = True
    t_rest = t & ~low
    if r_h > 0:
        if r_h / r_hr >= 1:
            pool, n_h = np.arange(n), mask_count(n, r_h)
        else:
            pool = order[:mask_count(n, r_h / r_hr)]
            n_h = mask_count(len(pool), r_hr)
    else:
        pool, n_h = np.array([], int), 0
    k, t_pool, m = len(pool), int(t_rest[pool].sum()), mask_count(n, r)
    total = int(t_rest.sum())
    return float(sum(_hypergeom(k, t_pool, n_h, j) * _p_all_in_random(n, total - j, m)
                     for j in range(0, min(t_pool, n_h) + 1)))


def p_no_tumour_kept(tumour: Sequence[bool], scores: Sequence[float], r_h: float,
                     keep_ratio: float) -> tuple[float, float]:
    """MHIM-MIL v2 on one bag: (P(no tumour patch among the kept ones), 1 if every tumour patch
    is among the top ⌈N·r_h⌉ the teacher hides else 0).

    v2 hides the top ⌈N·r_h⌉ by score; of the L patches left a uniform ⌊L·ρ⌋ (``keep_ratio`` ρ)
    are kept, the rest recycled (their information still reaches the student through the recycle
    network's tokens, unless the network is off). With u tumour patches among the L,
    P(none kept) = C(L − u, ⌊Lρ⌋) / C(L, ⌊Lρ⌋)."""
    t = np.asarray(tumour, bool).ravel()
    s = np.asarray(scores, np.float64).ravel()
    if t.shape != s.shape:
        raise ValueError(f"tumour has {t.size} patches, scores {s.size}")
    if not t.any():
        return 1.0, 1.0
    n = t.size
    hidden = np.argsort(-s, kind="stable")[:mask_count(n, r_h)]
    left = np.ones(n, bool)
    left[hidden] = False
    n_left, u = int(left.sum()), int((t & left).sum())
    keep = int(n_left * keep_ratio)
    p_none_kept = math.comb(n_left - u, keep) / math.comb(n_left, keep) if u <= n_left - keep \
        else 0.0
    return float(p_none_kept), float(u == 0)


def r_h_schedule(r_h: float, decay: bool, points: int = 50) -> np.ndarray:
    """r_h at ``points`` evenly spaced moments t ∈ [0, 1) of training: ½·r_h·(1 + cos πt) with
    ``decay`` (MHIM's :class:`~milhelpers.methods.MHIMSchedule`), else r_h throughout."""
    t = np.arange(points) / points
    return 0.5 * r_h * (1 + np.cos(np.pi * t)) if decay else np.full(points, float(r_h))


@torch.no_grad()
def mhim_visibility(result: ExperimentResult, dataset: Dataset, seed: int = 0,
                    v1: str = "mhim", v2: str | None = "mhim_v2",
                    threshold: float = LOC_THRESHOLD, points: int = 50,
                    baseline=None) -> pd.DataFrame:
    """For every positive bag of every fold's training part (the runner's split, validation
    left out) of repeat ``seed``: how often a training step shows the student no tumour patch.

    The teacher is the fold's trained first stage (``v1``'s baseline — a registered name, or the
    method given as ``baseline`` — read from ``result``'s cache), scoring in eval mode (the training teacher adds dropout noise and drifts by EMA, so
    these are the masks of the teacher training starts with). Columns: ``fold``, ``slide_id``,
    ``n``, ``n_tumour``; ``random_only`` — P(no tumour visible) under v1's random masking alone
    (r_h = 0); ``v1`` — under v1's full masks (high + random + low), averaged over r_h's schedule;
    with ``v2``: ``v2_kept`` — P(no tumour patch kept by v2) and ``v2_all_hidden`` — 1 when v2's
    high-score masking alone hides the whole tumour (then not even the recycle network sees it).
    """
    from .cached_runs import run_split, trained_model

    m1 = as_method(v1)
    o1 = dict(m1.model_kwargs)
    o2 = dict(as_method(v2).model_kwargs) if v2 is not None else None
    if o2 is not None and o2["baseline"] != o1["baseline"]:
        raise ValueError(f"{v1} and {v2} must share their first stage to share a teacher")
    schedule = r_h_schedule(o1["r_h"], o1["decay"], points)
    labels = np.asarray(dataset.labels)
    rows = []
    for fold in sorted(result.runs[result.runs.seed == seed].fold.unique()):
        teacher = trained_model(result, dataset, baseline or o1["baseline"], seed, int(fold))
        tr_idx, _, _ = run_split(dataset, seed, int(fold), int(result.runs.fold.nunique()))
        for i in tr_idx[labels[tr_idx] == 1]:
            bag = dataset[int(i)]
            if bag.instance_labels is None:
                raise ValueError(f"{bag.slide_id} has no instance labels: this count needs the "
                                 "course cohort's annotation masks")
            tumour = np.asarray(bag.instance_labels) >= threshold
            out = teacher(bag.features)
            att = instance_scores(out, teacher, "attention")[0].numpy()
            row = {"fold": int(fold), "slide_id": bag.slide_id, "n": len(tumour),
                   "n_tumour": int(tumour.sum()),
                   "random_only": p_no_tumour_visible(tumour, att, 0.0, 1.0, o1["r"], o1["r_l"]),
                   "v1": float(np.mean([p_no_tumour_visible(tumour, att, rh, o1["r_hr"], o1["r"],
                                                            o1["r_l"]) for rh in schedule]))}
            if o2 is not None:
                s2 = instance_scores(out, teacher, o2["score"])[0].numpy()
                row["v2_kept"], row["v2_all_hidden"] = p_no_tumour_kept(
                    tumour, s2, o2["r_h"], o2["merge_ratio"])
            rows.append(row)
    return pd.DataFrame(rows)


def visibility_summary(table: pd.DataFrame, bins: Sequence[tuple[int, int]] = TUMOUR_BINS
                       ) -> pd.DataFrame:
    """Mean of each probability column of :func:`mhim_visibility` (the expected share of
    positive training steps that show no tumour), over all bags and per tumour-patch count bin
    (``bins`` of (low, high) inclusive), with ``bags`` = the bag-fold rows in each group and
    ``share_of_bags`` their share."""
    cols = [c for c in ("random_only", "v1", "v2_kept", "v2_all_hidden") if c in table]
    groups = [("all positive bags", np.ones(len(table), bool))]
    for lo, hi in bins:
        name = f"{lo}–{hi} tumour patches" if hi < 10**9 else f"> {lo - 1} tumour patches"
        groups.append((name, ((table.n_tumour >= lo) & (table.n_tumour <= hi)).to_numpy()))
    groups.append(("no tumour patch", (table.n_tumour == 0).to_numpy()))
    out = []
    for name, sel in groups:
        sub = table[sel]
        out.append({"group": name, "bags": int(sel.sum()),
                    "share_of_bags": float(sel.mean()) if len(table) else float("nan"),
                    **{c: float(sub[c].mean()) if len(sub) else float("nan") for c in cols}})
    return pd.DataFrame(out).set_index("group")


def packing_tumour_audit(dataset: Dataset, p: float = 0.5, max_len: int = 256,
                         min_len: int = 16, batch_size: int = 16, epochs: int = 20,
                         seed: int = 0, threshold: float = LOC_THRESHOLD) -> dict[str, float]:
    """PackMIL's split and hyperslides drawn as in training (:class:`~milhelpers.packing.
    PackCollate` without ADS: :func:`~milhelpers.packing.split_slide` for every slide of a
    shuffled batch of ``batch_size``, residual parts packed with
    :func:`~milhelpers.packing.sequential_packs`), ``epochs`` times over ``dataset``.

    Returns counts and shares: ``positive_main_parts`` (positive slides drawn),
    ``main_without_tumour`` (their main part holds no tumour patch: a positive label on tumour-free
    tissue), ``hyperslides``, ``positive_hyperslides`` (at least one positive member: the
    multi-hot target gives the positive class a positive value, the token mixture a positive
    share), ``positive_hyperslides_without_tumour`` (…and no tumour token among them), and
    ``positive_slides_without_tumour_patch`` (positive slides with no patch ≥ ``threshold`` at
    all, counted once each)."""
    gen = torch.Generator().manual_seed(int(seed))
    rng = np.random.default_rng(int(seed))
    bags = [dataset[i] for i in range(len(dataset))]
    if any(b.instance_labels is None for b in bags):
        raise ValueError("packing_tumour_audit needs instance labels (the course cohort's masks)")
    tumour = [np.asarray(b.instance_labels) >= threshold for b in bags]
    counts = dict.fromkeys(("positive_main_parts", "main_without_tumour", "hyperslides",
                            "positive_hyperslides", "positive_hyperslides_without_tumour"), 0)
    for _ in range(int(epochs)):
        order = rng.permutation(len(bags))
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            res_tumour, res_len, labels = [], [], []
            for i in batch:
                main, res = split_slide(len(tumour[i]), p, min_len, max_len, gen)
                y = int(bags[i].label)
                labels.append(y)
                if y == 1:
                    counts["positive_main_parts"] += 1
                    counts["main_without_tumour"] += int(not tumour[i][main.numpy()].any())
                res_tumour.append(bool(tumour[i][res.numpy()].any()))
                res_len.append(compressed_length(len(res)))
            for pack in sequential_packs(res_len, max_len):
                counts["hyperslides"] += 1
                if any(labels[j] == 1 for j in pack):
                    counts["positive_hyperslides"] += 1
                    counts["positive_hyperslides_without_tumour"] += int(
                        not any(res_tumour[j] for j in pack))
    pos = [t for b, t in zip(bags, tumour) if int(b.label) == 1]
    out: dict[str, float] = dict(counts)
    out["positive_slides_without_tumour_patch"] = int(sum(not t.any() for t in pos))
    out["positive_slides"] = len(pos)
    out["main_without_tumour_share"] = counts["main_without_tumour"] / max(
        counts["positive_main_parts"], 1)
    out["positive_hyperslides_without_tumour_share"] = (
        counts["positive_hyperslides_without_tumour"] / max(counts["positive_hyperslides"], 1))
    out["epochs"] = int(epochs)
    return out


@torch.no_grad()
def teacher_masks(result: ExperimentResult, dataset: Dataset, method: str, seed: int, fold: int,
                  slide_id: str, draw_seed: int = 0, baseline=None) -> dict[str, dict]:
    """What MHIM's teacher hides on one slide at the start and at the end of a cached run.

    ``start``: the fold's trained first stage as teacher (the model training starts from) with
    r_h at its initial value; ``end``: the run's final teacher (after its EMA steps) with the r_h
    of the last step (½·r_h·(1 + cos π(T−1)/T) with decay, T = epochs × steps). Both from the
    runner's cache (:func:`milhelpers.cached_runs.trained_model`), one draw each from
    ``draw_seed`` (``baseline``: the first stage's method where its name is not registered).
    Each record holds ``masked`` and ``high`` (N,) bool (as
    :class:`~milhelpers.methods.MaskRecorder`, for :func:`milhelpers.viz.mask_evolution`),
    ``r_h``, the teacher's ``scores`` (attention) and ``teacher_scores`` (the score the mask was
    drawn from), and for v2 ``recycled`` (N,) bool: of the patches left, those v2's random share
    sends to the recycle network (:func:`milhelpers.models.mhim.recycle_split`)."""
    import copy

    from .cached_runs import run_split, trained_model
    from .models.mhim import recycle_split

    m = as_method(method)
    opts = dict(m.model_kwargs)
    end = trained_model(result, dataset, m, seed, fold)
    start = copy.deepcopy(end)
    start.teacher.load_state_dict(
        trained_model(result, dataset, baseline or opts["baseline"], seed, fold).state_dict())
    epochs = result.meta.get("epochs") or m.train_config().epochs
    steps = int(epochs) * len(run_split(dataset, seed, fold, int(result.runs.fold.nunique()))[0])
    r_last = (0.5 * opts["r_h"] * (1 + math.cos(math.pi * (steps - 1) / steps))
              if opts["decay"] else opts["r_h"])
    i = list(dataset.slide_ids).index(slide_id)
    x = dataset[i].features
    out = {}
    for stage, model, r_h in (("start", start, opts["r_h"]), ("end", end, r_last)):
        model.r_h = r_h
        model.generator = torch.Generator().manual_seed(int(draw_seed))
        (masked, parts), t = model.hide(x, parts=True)
        rec = {"masked": masked[0].numpy(), "high": parts["high"][0].numpy(), "r_h": r_h,
               "scores": t.slide_attention[0].numpy(),
               "teacher_scores": t.extras["teacher_scores"][0].numpy()}
        if model.recycle is not None or model.merge_ratio < 1:
            _, recycled = recycle_split(~masked, model.merge_ratio, model.generator,
                                        min_keep=int(model.recycle is None))
            rec["recycled"] = recycled[0].numpy()
        out[stage] = rec
    return out
