"""Checks for the chapters' exercises: one function per exercise, ``check_chNN_*(answer, ...)``.

A check recomputes the true answer from the course's data or the chapter's own results (never
from numbers typed here) and compares it with the learner's. Chapters 01–06's checks print
both and return whether the learner's answer holds (03–06's: None while unanswered); chapter
07's return a sentence, raise ``AssertionError`` with a hint on a wrong answer and say "not answered yet" for ``None``. Each
chapter's worked answer (a collapsed cell after its exercise) calls the same function, so nbval
tests the check on every run. One block per chapter, so chapters add theirs without touching
each other's; a check never writes into a chapter's output folders.
"""
from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["check_ch01_patch_counts", "check_ch01_strand", "check_ch02_power",
           "check_ch02_repeats", "check_ch07_ex1", "check_ch07_ex2"]


def _verdict(ok: bool) -> str:
    return "your answer holds" if ok else "not quite: compare with the numbers above"


# ============================================================================================
# chapter 01 — tiling and features
# ============================================================================================
def check_ch01_patch_counts(predicted: Mapping[float, float], slide_path: str | Path, *,
                            patch_size: int = 256, mpp: float | None = None,
                            tolerance: float = 0.25) -> bool:
    """Exercise 1 of chapter 01: patch counts predicted at other resolutions (``target_mpp`` →
    count), against the grid :func:`milhelpers.tiling.tile_slide` lays (same ``patch_size``,
    default tissue settings). Holds when every prediction is within ``tolerance`` (relative)
    of the true count. Any :class:`~milhelpers.tiling.UpsamplingWarning` is printed: a
    ``target_mpp`` finer than the scan enlarges every read. A few seconds per resolution."""
    from .tiling import tile_slide

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for target, guess in predicted.items():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = tile_slide(slide_path, Path(tmp) / f"{target:g}", target_mpp=target,
                                 patch_size=patch_size, mpp=mpp, qc=False)
            for w in caught:
                print(f"  warning ({w.category.__name__}): {w.message}")
            close = guess is not None and abs(guess - res.n_patches) <= tolerance * res.n_patches
            ok &= close
            print(f"target_mpp {target:g}: you predicted {guess}, the grid has {res.n_patches} "
                  f"patches of {res.patch_size_level0} level-0 px "
                  f"({'within' if close else 'outside'} {tolerance:.0%})")
    print(_verdict(ok))
    return bool(ok)


def check_ch01_strand(params: Any, min_tissue: float, slide_path: str | Path,
                      strand_box: Sequence[int], *, target_mpp: float = 0.5,
                      patch_size: int = 256, mpp: float | None = None) -> bool:
    """Exercise 2 of chapter 01: segmentation ``params`` and a ``min_tissue`` that give the
    thin strand (inside ``strand_box`` = x, y, width, height in level-0 px) at least one patch.
    Prints how much of the box the mask covers and how many patches start in it. About 1 s."""
    from .slides import Slide
    from .tiling import patch_grid, segment_tissue

    x0, y0, w, h = strand_box
    with Slide(slide_path, mpp=mpp) as s:
        tissue = segment_tissue(s, params)
        coords, _, size0 = patch_grid(s.dimensions, s.mpp, tissue, target_mpp, patch_size, 0,
                                      min_tissue)
    ds = tissue.downsample[0]
    box = tissue.mask[int(y0 / ds): int((y0 + h) / ds), int(x0 / ds): int((x0 + w) / ds)]
    centre = coords + size0 / 2
    inside = ((centre[:, 0] >= x0) & (centre[:, 0] < x0 + w)
              & (centre[:, 1] >= y0) & (centre[:, 1] < y0 + h)) if len(coords) else np.zeros(0, bool)
    print(f"mask covers {box.mean():.1%} of the strand's box; {int(inside.sum())} of "
          f"{len(coords)} patches are centred in it (min_tissue {min_tissue:g})")
    ok = bool(inside.any())
    print(_verdict(ok))
    return ok


# ============================================================================================
# chapter 02 — ABMIL and the evidence
# ============================================================================================
def check_ch02_power(min_detectable: float, repeats: int = 2, *, n_slides: int = 120,
                     tolerance: float = 0.01, n_cohorts: int = 100, seed: int = 0) -> bool:
    """Exercise 2 of chapter 02: the smallest true difference in slide AUC that the one rule
    calls clear in 80 % of simulated cohorts of ``n_slides`` slides with ``repeats`` repeats
    (:func:`milhelpers.stats.power_curve` on ΔAUC 0.03–0.11, ``n_cohorts`` cohorts per point,
    the course's planning correlations). Holds within ``tolerance``. About 5–10 s."""
    from .stats import min_detectable_difference, power_curve

    curve = power_curve(deltas=(0.03, 0.05, 0.07, 0.09, 0.11), repeats=(repeats,),
                        n_slides=n_slides, n_cohorts=n_cohorts, n_boot=300, seed=seed)
    mdd = min_detectable_difference(curve)[repeats]
    print("power (share of cohorts called clear):",
          {round(d, 2): round(p, 2) for d, p in zip(curve.delta_auc, curve.power)})
    ok = bool(np.isfinite(mdd) and abs(min_detectable - mdd) <= tolerance)
    print(f"{repeats} repeats, {n_slides} slides: 80 % power at ΔAUC ≈ {mdd:.3f} "
          f"(you said {min_detectable:.3f}; ± {tolerance} allowed for {n_cohorts} cohorts a point)")
    print(_verdict(ok))
    return ok


def check_ch02_repeats(result: Any, n_repeats: int) -> bool:
    """Exercise 1 of chapter 02: a result (:class:`~milhelpers.experiments.ExperimentResult`)
    with ``n_repeats`` repeats, each its own partition: every slide scored once per repeat, and
    some slide tested in different folds by different repeats (one partition for every repeat
    would keep each slide in one fold). Instant (reads the result)."""
    oof = result.out_of_fold()
    ok = True
    for m, rows in oof.groupby("method"):
        per = rows.groupby("slide_id").seed.nunique()
        once = bool((rows.groupby(["seed", "slide_id"]).size() == 1).all())
        moved = float((rows.groupby("slide_id").fold.nunique() > 1).mean())
        good = bool(per.min() == n_repeats and once and (n_repeats == 1 or moved > 0))
        ok &= good
        print(f"{m}: {rows.seed.nunique()} repeat(s), every slide scored once in each"
              + (f"; {moved:.0%} of slides change test fold between repeats" if n_repeats > 1 else ""))
    print(_verdict(ok))
    return bool(ok)



def _names(value: Any, what: str) -> set[str]:
    if isinstance(value, str) or not isinstance(value, (Sequence, set, frozenset)):
        raise AssertionError(f"{what} must be a list of method names (possibly empty), got "
                             f"{value!r}")
    return set(map(str, value))


# --------------------------------------------------------------------------------------------
# chapter 07: head to head
# --------------------------------------------------------------------------------------------
def check_ch07_ex1(answer: Mapping[str, Sequence[str]] | None, family,
                   metric: str = "auc") -> str:
    """Chapter 07, exercise 1: of the methods whose difference from the reference on ``metric``
    has a 95 % interval that excludes 0 when read alone (no adjustment), which stay clear after
    Holm's adjustment across the family (``kept``) and which do not (``lost``)?

    ``answer``: ``{"kept": [...], "lost": [...]}``; ``family``: the chapter's
    :meth:`ExperimentResult.compare` table (columns ``metric``, ``method``, ``lo``, ``hi``,
    ``clear``)."""
    if answer is None:
        return "not answered yet: set answer = {'kept': [...], 'lost': [...]}"
    if not isinstance(answer, Mapping) or set(answer) != {"kept", "lost"}:
        raise AssertionError("answer must be a dict with exactly the keys 'kept' and 'lost'")
    rows = family[family.metric == metric].set_index("method")
    alone = rows[(rows.lo > 0) | (rows.hi < 0)]
    kept = set(alone.index[alone.clear.astype(bool)])
    lost = set(alone.index) - kept
    got_kept, got_lost = _names(answer["kept"], "kept"), _names(answer["lost"], "lost")
    if (got_kept, got_lost) != (kept, lost):
        extra = (got_kept | got_lost) - set(alone.index)
        hint = (f" {sorted(extra)} {'has' if len(extra) == 1 else 'have'} an interval that "
                "holds 0 even unadjusted." if extra else "")
        raise AssertionError(f"not quite: {len(alone)} method(s) have an unadjusted interval "
                             f"that excludes 0; of those, look at which markers are filled (clear "
                             f"after Holm).{hint}")
    return (f"correct: {len(alone)} interval(s) exclude 0 unadjusted; still clear after Holm: "
            f"{', '.join(sorted(kept)) or 'none'}; lost to the adjustment: "
            f"{', '.join(sorted(lost)) or 'none'}")


def check_ch07_ex2(answer: Sequence[str] | None, draws: Mapping[str, Any],
                   subgroups: Mapping[str, Mapping[str, Sequence[str]]],
                   reference: str = "abmil_gated") -> str:
    """Chapter 07, exercise 2: on the small-burden positives (6–20 tumour patches) against
    every negative, which methods are clearly better than ``reference`` on slide AUC on every
    cohort draw in ``draws`` (one draw or several; Holm across the methods)? ``answer``: a list of method names (possibly
    empty); ``draws``: draw → ExperimentResult; ``subgroups``: draw → its cohort subgroups."""
    from .comparison import replication, subgroup_result

    if answer is None:
        return "not answered yet: set answer = [...] (a list of method names, possibly empty)"
    tables = {d: subgroup_result(res, subgroups[d]["small"]).compare(reference, ["auc"])
              for d, res in draws.items()}
    rep = replication(tables)
    truth = set(rep.index[rep.verdict == "clearly better on every draw"])
    got = _names(answer, "answer")
    if got != truth:
        raise AssertionError("not quite: build the subgroup with subgroup_result(res, "
                             "subgroups[draw]['small']) on each draw, compare it with "
                             f"{reference} and keep the methods that are clearly better on both "
                             "(replication(...).verdict)")
    return ("correct: " + (", ".join(sorted(truth)) if truth else "no method") + " is clearly "
            f"better than {reference} on small-burden positives on every draw")


# ============================================================================================
# chapters 05 (MHIM-MIL) and 06 (PackMIL)
# ============================================================================================
__all__ += ["check_ch05_ex1", "check_ch05_ex2", "check_ch06_ex1", "check_ch06_ex2"]


def _ch0506_report(ok: bool, right: str, wrong: str) -> bool:
    print(("✓ " + right) if ok else ("✗ " + wrong))
    return bool(ok)


def _ch0506_unanswered(answer: Any, how: str) -> bool:
    if answer is None or (isinstance(answer, (tuple, list)) and any(a is None for a in answer)):
        print(f"Not answered yet: {how}, then run this cell again (the worked answer is in the "
              "collapsed cell below).")
        return True
    return False


def check_ch05_ex1(answer: tuple[float, float] | None, n: int = 20, n_tumour: int = 3,
                   r: float = 0.5) -> bool | None:
    """Chapter 05, exercise 1 (instant): a positive bag of ``n`` patches holds ``n_tumour``
    tumour patches. ``answer`` = (P(no tumour patch visible) under v1's random masking alone,
    the same when the teacher's top patch — a tumour patch — is hidden as well). Random masking
    hides m = ⌈n·r⌉ patches drawn from all n, so the first is C(n − u, m − u) / C(n, m) with
    u = ``n_tumour``, the second the same with u − 1 (the top patch is hidden anyway, and the
    random draw may land on it too). Holds within 0.005 each."""
    if _ch0506_unanswered(answer, "set answer = (p_random_only, p_with_top_patch)"):
        return None
    m = math.ceil(n * r - 1e-9)
    truth = [math.comb(n - u, m - u) / math.comb(n, m) for u in (n_tumour, n_tumour - 1)]
    ok = all(abs(float(a) - t) <= 0.005 for a, t in zip(answer, truth))
    return _ch0506_report(
        ok, f"C({n - n_tumour}, {m - n_tumour})/C({n}, {m}) = {truth[0]:.3f} with the random half "
            f"alone, {truth[1]:.3f} once the top patch is hidden too: one hidden favourite more "
            f"than doubles the chance that a {n_tumour}-patch lesion vanishes from the step",
        f"expected {truth[0]:.3f} and {truth[1]:.3f} (you gave {tuple(answer)}); count the ways to "
        f"draw the other m − u patches of the random {m} among the n − u non-tumour ones")


def check_ch05_ex2(answer: str | None, comparison: dict) -> bool | None:
    """Chapter 05, exercise 2 (instant, reads the sensitivity file): does the variant's
    localisation AUC differ from ``mhim``'s? ``answer``: ``"better"``, ``"worse"`` or
    ``"no evidence"``; ``comparison``: the variant's row of the chapter's sensitivity table as a
    dict with ``diff``, ``lo``, ``hi`` and ``p_holm`` (Holm over the variants). The course's
    rule: clear only when the Holm-adjusted p < 0.05 (one comparison: the interval excludes
    0)."""
    if _ch0506_unanswered(answer, "set answer = 'better', 'worse' or 'no evidence'"):
        return None
    p = comparison.get("p_holm", comparison.get("p"))
    clear = p is not None and float(p) < 0.05
    truth = ("better" if comparison["diff"] > 0 else "worse") if clear else "no evidence"
    return _ch0506_report(
        str(answer).strip().lower() == truth,
        f"{truth}: {comparison['diff']:+.3f} [{comparison['lo']:+.3f}, {comparison['hi']:+.3f}], "
        f"Holm-adjusted p = {float(p):.3f}",
        f"the rule says {truth!r}: {comparison['diff']:+.3f} [{comparison['lo']:+.3f}, "
        f"{comparison['hi']:+.3f}], Holm-adjusted p = {float(p):.3f} — a mean difference alone "
        "is not a finding")


def check_ch06_ex1(answer: tuple[Sequence[float], Sequence[float]] | None,
                   labels: Sequence[int] = (0, 1, 1, 1),
                   tokens: Sequence[int] = (40, 12, 8, 20)) -> bool | None:
    """Chapter 06, exercise 1 (instant): the two hyperslide targets of a residual pack whose
    member slides have ``labels`` and contribute ``tokens``. ``answer`` = (multi-hot target,
    token mixture), each [class 0, class 1]. Checked against
    :func:`milhelpers.packing.hyperslide_label` within 0.01."""
    from .packing import hyperslide_label

    if _ch0506_unanswered(answer, "set answer = ([multihot_0, multihot_1], [mix_0, mix_1])"):
        return None
    # float64 before rounding: a float32 0.333 prints as 0.3330000042915344
    multihot = hyperslide_label(list(labels), np.asarray(tokens, np.float32), 2).numpy().astype(float)
    mix = hyperslide_label(list(labels), np.asarray(tokens, np.float32), 2, "tokenmix").numpy().astype(float)
    ok = (np.allclose(np.asarray(answer[0], float), multihot, atol=0.01)
          and np.allclose(np.asarray(answer[1], float), mix, atol=0.01))
    return _ch0506_report(
        ok, f"multi-hot {multihot.round(3).tolist()} (members per class ÷ the largest count), "
            f"token mixture {mix.round(3).tolist()} (tokens per class ÷ all tokens)",
        f"expected multi-hot {multihot.round(3).tolist()} and mixture {mix.round(3).tolist()}; "
        "the multi-hot target counts member slides, the mixture counts tokens")


def check_ch06_ex2(answer: float | str | None, costs, batch_size: int = 16, p: float = 0.5,
                   max_len: int = 256, min_len: int = 16, target: float = 0.25) -> bool | None:
    """Chapter 06, exercise 2 (instant): from the fitted per-step costs ``costs``
    (:func:`milhelpers.timing.fit_step_cost`), up to which bag length does packed training
    (B = ``batch_size``, these caps) stay at or below ``target`` × batch-1's epoch time by
    :func:`milhelpers.timing.predicted_time_ratio`? (Short bags: the per-step cost dominates and
    packing divides it by B; longer bags: the tokens dominate and the ratio climbs.) ``answer``:
    that length, or ``"none"`` if even 2-instance bags miss the target. Holds within 25 %."""
    from .timing import predicted_time_ratio

    if _ch0506_unanswered(answer, "set answer = a bag length, or 'none'"):
        return None
    grid = np.unique(np.geomspace(2, 200_000, 2000).astype(int))
    ratio = predicted_time_ratio(grid, costs, batch_size, p, max_len, min_len)
    if ratio[0] > target:
        return _ch0506_report(str(answer).strip().lower() == "none",
                              f"none: even 2-instance bags give {ratio[0]:.2f}× batch-1's time",
                              f"even 2-instance bags give {ratio[0]:.2f}× (> {target}); answer "
                              "'none'")
    above = np.flatnonzero(ratio > target)
    truth = int(grid[above[0] - 1]) if len(above) else int(grid[-1])
    ok = not isinstance(answer, str) and abs(float(answer) - truth) <= 0.25 * truth
    return _ch0506_report(
        ok, f"about {truth} instances per slide: below it a step's fixed cost dominates and "
            f"packing {batch_size} slides per step divides it by {batch_size}",
        f"the predicted ratio passes {target} at about {truth} instances per slide (you gave "
        f"{answer!r}); evaluate timing.predicted_time_ratio on a grid of lengths")


# ============================================================================================
# chapters 03 (ACMIL) and 04 (AEM)
# ============================================================================================
__all__ += ["check_ch03_ex1", "check_ch03_ex2", "check_ch03_ex3",
            "check_ch04_ex1", "check_ch04_ex2", "check_ch04_ex3", "CH03_EX1_PAIRS"]


def _ch0304_report(ok: bool, right: str, wrong: str) -> bool:
    print(("✓ " + right) if ok else ("✗ " + wrong))
    return bool(ok)


def _ch0304_unanswered(answer: Any, how: str) -> bool:
    if answer is None or (isinstance(answer, tuple) and any(a is None for a in answer)):
        print(f"Not answered yet: {how}, then run this cell again (the worked answer is in the "
              "collapsed cell below).")
        return True
    return False


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


#: Exercise 03.1's two pairs of branch attentions over four patches.
CH03_EX1_PAIRS = {"disjoint": ([0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]),
                  "overlapping": ([0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1])}


def check_ch03_ex1(cos_disjoint: float | None, cos_overlapping: float | None) -> bool | None:
    """Chapter 03, exercise 1: the diversity term of two branches is the cosine of their attention
    vectors, cos(a, b) = Σ_k a_k b_k / (‖a‖ ‖b‖). Answers within 0.01 of
    :data:`CH03_EX1_PAIRS`' cosines hold."""
    if _ch0304_unanswered((cos_disjoint, cos_overlapping), "set cos_disjoint and cos_overlapping"):
        return None
    want = {k: _cosine(np.asarray(a), np.asarray(b)) for k, (a, b) in CH03_EX1_PAIRS.items()}
    ok = (abs(cos_disjoint - want["disjoint"]) < 0.01
          and abs(cos_overlapping - want["overlapping"]) < 0.01)
    return _ch0304_report(ok, f"cosines {want['disjoint']:.3f} and {want['overlapping']:.3f}: two "
                       "branches on different patches score 0 whatever those patches are — two "
                       "branches on two different tumour patches are as 'diverse' as a branch on "
                       "tumour and one on normal tissue, so the term cannot tell them apart",
                   f"not quite: the cosines are {want['disjoint']:.3f} and "
                   f"{want['overlapping']:.3f} (Σ a_k b_k divided by both norms)")


def check_ch03_ex2(below_chance: bool | None, composition: pd.DataFrame,
                   random_composition: pd.DataFrame) -> bool | None:
    """Chapter 03, exercise 2: does the branch ranked last (least tumour) in each run pick tumour
    less often than a random picker ranked last among as many, on average over the runs?
    ``composition``: :func:`milhelpers.instances.topk_composition` of the learner's run;
    ``random_composition``: :func:`milhelpers.instances.random_topk_composition` of the same
    runs."""
    if _ch0304_unanswered(below_chance, "set below_chance = True or False"):
        return None
    last = composition["rank"].max()
    share = float(composition[composition["rank"] == last]["tumour"].mean())
    null = float(random_composition[random_composition["rank"] == last]["tumour"].mean())
    truth = share < null
    return _ch0304_report(
        bool(below_chance) == truth,
        f"yes, it holds: the least-tumour branch's picks are {share:.0%} tumour against "
        f"{null:.0%} for the last-ranked of {last} random pickers — "
        + ("below chance: that branch is pushed off the tumour" if truth
           else "not below chance: no branch avoids the tumour more than ranking alone explains"),
        f"look again: the least-tumour branch's picks are {share:.0%} tumour, the last-ranked "
        f"random picker's {null:.0%}")


def check_ch03_ex3(branch: int | None, attention: np.ndarray, kinds, k: int) -> bool | None:
    """Chapter 03, exercise 3: which branch (numbered from 1) of the shown slide's model puts the
    largest share of its top-``k`` on normal tissue (every branch tied for the largest counts)?
    ``attention``: (M, N) of that slide; ``kinds``: its per-patch kinds."""
    if _ch0304_unanswered(branch, "set branch to a branch number (1 … M)"):
        return None
    from .instances import kind_group

    g = kind_group(kinds)
    a = np.asarray(attention, float)
    normal = [float(np.mean(g[np.argsort(-row, kind="stable")[:k]] == "normal")) for row in a]
    best = [m + 1 for m, v in enumerate(normal) if v == max(normal)]
    if not 1 <= int(branch) <= len(a):
        return _ch0304_report(False, "", f"there are branches 1 … {len(a)}")
    return _ch0304_report(
        branch in best, f"branch {branch}: {normal[branch - 1]:.0%} of its top {k} are normal "
                        "tissue, the most of any branch",
        f"branch {branch} has {normal[branch - 1]:.0%} of its top {k} on normal tissue; the "
        f"most is {max(normal):.0%} (branch {', '.join(map(str, best))})")


def check_ch04_ex1(R: float | None, effective: float | None) -> bool | None:
    """Chapter 04, exercise 1: for a = (0.7, 0.1, 0.1, 0.1), R = Σ a_k log a_k (natural log, in
    nats) and the effective number of patches e^H = e^(−R). Within 0.01 holds."""
    if _ch0304_unanswered((R, effective), "set R_answer and effective_answer"):
        return None
    a = np.array([0.7, 0.1, 0.1, 0.1])
    want_r = float((a * np.log(a)).sum())
    ok = abs(R - want_r) < 0.01 and abs(effective - np.exp(-want_r)) < 0.01
    return _ch0304_report(ok, f"R = {want_r:.3f} nats, e^H = {np.exp(-want_r):.2f} of 4 patches: one "
                       "dominant patch and three small ones count as about two and a half",
                   f"not quite: R = Σ a ln a = {want_r:.3f} and e^H = e^(−R) = "
                   f"{np.exp(-want_r):.2f}")


def check_ch04_ex2(epoch: int | None, curves: pd.DataFrame, method: str = "aem") -> bool | None:
    """Chapter 04, exercise 2: on the learning curves' run, which epoch would the AEM authors'
    rule (the first epoch with the highest validation macro F1 + AUC) keep for ``method``?
    ``curves``: :func:`milhelpers.curves.learning_curves`."""
    if _ch0304_unanswered(epoch, "set epoch_answer to the epoch the rule keeps"):
        return None
    val = curves[(curves.method == method) & (curves.part == "validation")].sort_values("epoch")
    if val.empty:
        raise KeyError(f"no validation rows of {method!r} in the curves")
    score = val["history_val_f1_auc"].to_numpy(float)
    best = int(val["epoch"].iloc[int(np.nanargmax(score))])
    last = int(val["epoch"].max())
    return _ch0304_report(int(epoch) == best,
                   f"epoch {best} of {last} (validation macro F1 + AUC {np.nanmax(score):.3f}); "
                   f"the course keeps epoch {last}",
                   f"the rule keeps epoch {best} (macro F1 + AUC {np.nanmax(score):.3f}, the "
                   "first of its highest values)")


def check_ch04_ex3(mdd_1: float | None, mdd_3: float | None,
                   min_detectable: dict[int, float]) -> bool | None:
    """Chapter 04, exercise 3: the smallest slide-AUC difference the course's rule detects in
    80 % of simulated cohorts with 1 and with 3 repeats (``min_detectable``: repeats → ΔAUC,
    from ``benchmarks/results/power.json``). Within 0.005 holds."""
    if _ch0304_unanswered((mdd_1, mdd_3), "set mdd_1_answer and mdd_3_answer"):
        return None
    ok = abs(mdd_1 - min_detectable[1]) < 0.005 and abs(mdd_3 - min_detectable[3]) < 0.005
    return _ch0304_report(ok, f"{min_detectable[1]:.3f} with one repeat, {min_detectable[3]:.3f} with "
                       "three: a one-seed sweep cannot resolve the few hundredths that separate "
                       "λ values or schedules",
                   f"not quite: {min_detectable[1]:.3f} (1 repeat) and {min_detectable[3]:.3f} "
                   "(3 repeats)")
