"""Checks for the chapters' exercises: one function per exercise, ``check_chNN_*(answer, ...)``.

A check recomputes the true answer from the course's data or the chapter's own results (never
from numbers typed here) and compares it with the learner's. Chapters 01–02's checks print both
and return whether the learner's answer holds; chapter 07's return a sentence, raise
``AssertionError`` with a hint on a wrong answer and say "not answered yet" for ``None``. Each
chapter's worked answer (a collapsed cell after its exercise) calls the same function, so nbval
tests the check on every run. One block per chapter, so chapters add theirs without touching
each other's; a check never writes into a chapter's output folders.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

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
