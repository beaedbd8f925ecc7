"""The committed full-setting results, read for a chapter: paired differences with intervals.

A chapter's live runs use a quick setting; the full setting (3 repeats × 5 folds × 20 epochs)
lives in ``benchmarks/results/*.json`` (``benchmarks/methods.py --json``). These functions read
such a file back (:meth:`~milhelpers.experiments.ExperimentResult.from_json`) and lay out the
comparisons a chapter quotes, with the course's one decision rule (clear exactly when the 95 %
interval excludes 0; with several methods against one reference, Holm-adjusted p < 0.05). A
file that is not there is said so in one line (``None`` comes back), so a chapter still runs
before the benchmark has been committed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pandas as pd

from .experiments import ExperimentResult

__all__ = ["load_result", "setting", "versus_reference", "pairs", "wide", "level", "cost_ratio"]


def load_result(path: str | Path, make: str = "") -> ExperimentResult | None:
    """The experiment in ``path``, or None with a line saying what is missing (and ``make``:
    the command that writes it)."""
    path = Path(path)
    if not path.exists():
        print(f"{path} is not there yet" + (f": {make}" if make else ""))
        return None
    return ExperimentResult.from_json(json.loads(path.read_text()))


def setting(result: ExperimentResult) -> str:
    """The setting a result file was run at, read from its ``meta``: "3 repeats × 5 folds × 20
    epochs, 120 slides" (so a chapter states the file's setting, not the one it was promised)."""
    m = result.meta
    reps = len(m.get("seeds") or [])
    return (f"{reps} repeat{'s' if reps != 1 else ''} × {m.get('folds')} folds × "
            f"{m.get('epochs')} epochs, {m.get('n_slides')} slides")


def versus_reference(result: ExperimentResult, reference: str, methods: Sequence[str],
                     metrics: Sequence[str] = ("auc", "loc_auc")) -> pd.DataFrame:
    """Each of ``methods`` − ``reference`` on each metric, one family per metric (Holm over the
    methods): :meth:`~milhelpers.experiments.ExperimentResult.compare`'s long table (``metric,
    method, diff, lo, hi, p, p_holm, clear, …``) plus ``reference``."""
    t = result.compare(reference, list(metrics), methods=[reference, *methods])
    return t.assign(reference=reference)


def pairs(result: ExperimentResult, comparisons: Sequence[tuple[str, str]],
          metrics: Sequence[str] = ("auc", "loc_auc")) -> pd.DataFrame:
    """B − A for each (A, B) of ``comparisons``, each its own question (no adjustment:
    ``p_holm`` = p, ``clear`` = the interval excludes 0), in the layout of
    :func:`versus_reference`."""
    rows = []
    for a, b in comparisons:
        for k, s in result.paired(a, b, list(metrics)).items():
            lo, hi = s["ci95"]
            rows.append({"metric": k, "method": b, "diff": s["diff"], "lo": lo, "hi": hi,
                         "p": s["p"], "p_holm": s["p"], "clear": bool(lo > 0 or hi < 0),
                         "n_slides": s["n_slides"], "n_repeats": s["n_repeats"],
                         "unit": s["unit"], "test": s["test"], "reference": a})
    return pd.DataFrame(rows)


def wide(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """One row per comparison ("B − A"), one column per metric: "Δ [lo, hi] p=…" (p Holm-adjusted
    where the table is a family), ending in " clear" where the rule says so (else nothing: no
    evidence either way)."""
    def cell(r) -> str:
        return (f"{r['diff']:+.{digits}f} [{r.lo:+.{digits}f}, {r.hi:+.{digits}f}] "
                f"p={r.p_holm:.3f}" + (" clear" if r.clear else ""))

    t = table.assign(comparison=table.method + " − " + table.reference,
                     text=table.apply(cell, axis=1))
    out = t.pivot(index="comparison", columns="metric", values="text")
    order = list(dict.fromkeys(t.comparison))
    return out.loc[order, list(dict.fromkeys(t.metric))]


def level(result: ExperimentResult, methods: Sequence[str],
          metrics: Sequence[str] = ("auc", "loc_auc")) -> pd.DataFrame:
    """Per method: each metric of the pooled out-of-fold predictions, mean over repeats
    (``oof_<metric>`` of :meth:`~milhelpers.experiments.ExperimentResult.summary`), and the mean
    training seconds per run."""
    s = result.summary()
    return pd.DataFrame({m: {**{k: s[m][f"oof_{k}"]["mean"] for k in metrics},
                             "seconds per run": s[m]["seconds"]["mean"]} for m in methods}).T


def cost_ratio(result: ExperimentResult, a: str, b: str) -> float:
    """Mean training seconds per run of ``b`` ÷ those of ``a`` (a two-stage method's seconds
    include its first stage)."""
    s = result.summary()
    return float(s[b]["seconds"]["mean"] / s[a]["seconds"]["mean"])
