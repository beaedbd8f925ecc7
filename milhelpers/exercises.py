"""Checks for the chapters' exercises: one function per exercise, ``check_chNN_exM(answer, ...)``.

Each takes the learner's answer (``None`` until there is one) and, where the right answer
depends on the learner's own run, the data the chapter computed — so a check holds for any
parameters, not only the defaults. It prints whether the answer holds and why, and returns
True or False (None while unanswered). The worked answer follows each exercise in a collapsed
cell of the chapter.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__: list[str] = []


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
