"""Checks for the chapters' exercises: one function per exercise, ``check_chNN_exM(answer, ...)``.

Each takes the learner's answer (``None`` until there is one) and, where the right answer
depends on the learner's own run, the data the chapter computed — so a check holds for any
parameters, not only the defaults. It prints whether the answer holds and why, and returns
True or False (None while unanswered). One block per chapter, so chapters add theirs without
touching each other's.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

__all__: list[str] = []


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
