"""Checks for the chapters' exercises: one function per exercise, ``check_chNN_exM(answer, ...)``.

A check recomputes the answer from the chapter's own results (never from numbers typed here),
compares it with the learner's and returns a sentence saying so; a wrong answer raises
``AssertionError`` with a hint, an answer still ``None`` returns "not answered yet". Each
chapter's worked answer (a collapsed cell after its exercise) calls the same function, so nbval
tests the check on every run.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

__all__ = ["check_ch07_ex1", "check_ch07_ex2"]


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
