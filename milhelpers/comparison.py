"""Many methods on one protocol: their table, ranks and costs, where they look, subgroups of
slides, a second cohort, and which method to use when.

Everything here reads an :class:`~milhelpers.experiments.ExperimentResult` — live, or from a
results file (``ExperimentResult.from_json``) — and rests on the statistics of
:mod:`milhelpers.stats`: per-slide out-of-fold scores, paired differences with a case bootstrap,
Holm across a family of methods against one reference, and the one rule (clear ⇔ the interval
excludes 0, or Holm-adjusted p < 0.05 in a family)::

    res = ExperimentResult.from_json(json.loads(Path("head_to_head.json").read_text()))
    method_table(res)                            # one row per method: AUC, ..., seconds, peak MB
    res.compare("abmil_gated", ["auc"])          # the forest plot's numbers (Holm across methods)
    method_ranks(res, "auc")                     # ranks with bootstrap intervals
    sub = subgroup_result(res, cohort_subgroups(labels)["micro"])   # micro-lesions vs negatives
    replication({"seed 0": t0, "seed 1": t1})    # which differences hold on both cohort draws
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import stats
from .instances import KIND_GROUPS, kind_group, topk_kind_shares

__all__ = ["HEAD_TO_HEAD", "TABLE_METRICS", "TABLE_LABELS", "method_table", "format_table",
           "format_differences", "recompute_full", "score_matrices", "method_ranks", "cost_front",
           "subgroup_result", "cohort_subgroups", "SUBGROUPS", "replication", "draw_verdict",
           "which_method_when", "situation_evidence", "packing_verdict", "where_looks",
           "share_summary", "showcase_slides", "where_looks_summary"]

#: Every registered method of chapters 02–06 at its authors' defaults: chapter 07's protocol.
HEAD_TO_HEAD = ("abmil_gated", "abmil_tanh", "mean_pool", "max_pool", "acmil", "aem", "acmil_aem",
                "mhim", "mhim_v2", "packmil")

#: The head-to-head table's columns: (metric, where it comes from). ``oof``: the metric of each
#: repeat's pooled out-of-fold records, mean over repeats (what the paired comparisons compare);
#: ``runs``: the mean over runs (training seconds and peak memory are per run).
TABLE_METRICS = (("auc", "oof"), ("balanced_accuracy", "oof"), ("loc_auc", "oof"),
                 ("top5_mass", "oof"), ("entropy", "oof"), ("seconds", "runs"),
                 ("peak_mb", "runs"))


def method_table(result, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per method: for each of :data:`TABLE_METRICS` its mean and ``<metric>_sd`` (the
    standard deviation over repeats for ``oof`` metrics, over runs for ``runs`` ones), and
    ``runs`` (how many runs). Slide AUC and balanced accuracy are of the pooled out-of-fold
    scores; localisation AUC and entropy the mean over slides (localisation: positive slides
    with tumour and non-tumour patches), top-5 mass over positive slides."""
    summary = result.summary()
    methods = list(methods) if methods is not None else list(result.methods)
    rows = []
    for m in methods:
        row: dict[str, Any] = {"method": m}
        for k, source in TABLE_METRICS:
            s = summary[m].get(f"oof_{k}" if source == "oof" else k) or {}
            row[k], row[f"{k}_sd"] = s.get("mean", np.nan), s.get("std", np.nan)
        row["runs"] = summary[m]["auc"]["n"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


#: Column headers of :func:`format_table`.
TABLE_LABELS = {"auc": "slide AUC", "balanced_accuracy": "balanced acc.", "loc_auc": "loc. AUC",
                "top5_mass": "top-5 mass", "entropy": "entropy", "seconds": "s / run",
                "peak_mb": "peak MB / run"}


def format_table(table: pd.DataFrame, metrics: Sequence[str] | None = None,
                 digits: int = 3) -> pd.DataFrame:
    """A :func:`method_table` as text: "mean ± sd" for the accuracy and attention columns (sd
    over repeats), seconds to 0.1 s and peak memory to 1 MB (means over runs), "—" where a
    metric is undefined (mean pooling's flat attention has no localisation)."""
    metrics = list(metrics) if metrics is not None else [k for k, _ in TABLE_METRICS]

    def cell(v: float, sd: float, k: str) -> str:
        if not np.isfinite(v):
            return "—"
        if k == "seconds":
            return f"{v:.1f}"
        if k == "peak_mb":
            return f"{v:.0f}"
        return f"{v:.{digits}f}" + (f" ± {sd:.{digits}f}" if np.isfinite(sd) else "")

    return pd.DataFrame({TABLE_LABELS.get(k, k): [cell(table.loc[m, k], table.loc[m, f"{k}_sd"], k)
                                                 for m in table.index] for k in metrics},
                        index=table.index)


def format_differences(rep: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """A :func:`replication` table as text: per draw "diff [lo, hi]" with a * where the
    difference is clear (Holm), and the verdict."""
    draws = [c[len("diff "):] for c in rep.columns if c.startswith("diff ")]
    out = {}
    for d in draws:
        out[d] = [f"{r[f'diff {d}']:+.{digits}f} [{r[f'lo {d}']:+.{digits}f}, "
                  f"{r[f'hi {d}']:+.{digits}f}]" + ("*" if r[f"clear {d}"] else "")
                  if np.isfinite(r[f"diff {d}"]) else "—" for _, r in rep.iterrows()]
    out["verdict"] = rep.verdict.tolist()
    return pd.DataFrame(out, index=rep.index)


def score_matrices(result, methods: Sequence[str] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, list[str], dict[str, np.ndarray]]:
    """``(y, cases, slide_ids, {method: (R, N) scores})`` over the repeats every method ran and
    the slides each of those repeats scored: the input of
    :func:`milhelpers.stats.rank_intervals`."""
    methods = list(methods) if methods is not None else list(result.methods)
    oof = result.out_of_fold()
    oof = oof[oof.method.isin(methods)]
    seeds = sorted(set.intersection(*(set(oof[oof.method == m].seed) for m in methods)))
    if not seeds:
        raise KeyError(f"methods {methods} share no repeat")
    oof = oof[oof.seed.isin(seeds)]
    count = oof.groupby("slide_id").size()
    ids = [s for s in dict.fromkeys(oof.slide_id) if count[s] == len(methods) * len(seeds)]
    first = oof.drop_duplicates("slide_id").set_index("slide_id").loc[ids]
    mats = {m: result.slide_matrix(m).loc[seeds, ids].to_numpy(np.float64) for m in methods}
    return first.label.to_numpy(int), first.case_id.to_numpy(), ids, mats


def method_ranks(result, metric: str = "auc", methods: Sequence[str] | None = None, *,
                 n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Every method's rank on ``metric`` (auc, balanced_accuracy, f1) with its 95 % bootstrap
    interval over cases: :func:`milhelpers.stats.rank_intervals` on the out-of-fold scores."""
    y, cases, _, mats = score_matrices(result, methods)
    return stats.rank_intervals(y, mats, groups=cases, metric=metric, n_boot=n_boot, seed=seed)


def cost_front(table: pd.DataFrame, costs: Sequence[str] = ("seconds", "peak_mb"),
               value: str = "auc") -> pd.Series:
    """Which rows of a :func:`method_table` are on the Pareto front of ``costs`` (minimised
    jointly) against ``value`` (maximised): :func:`milhelpers.stats.pareto_front`."""
    return pd.Series(stats.pareto_front(table[list(costs)].to_numpy(np.float64),
                                        table[value].to_numpy(np.float64)),
                     index=table.index, name="pareto")


# --------------------------------------------------------------------------------------------
# subgroups of slides
# --------------------------------------------------------------------------------------------
#: The subgroups of positive slides the course cohort's labels define, with what selects them.
SUBGROUPS = {
    "micro": "positives with micro burden (≤ 5 tumour patches: labels' burden = micro)",
    "small": "positives with small burden (6–20 tumour patches)",
    "large": "positives with large burden (> 20 tumour patches: diffuse tumour)",
    "discohesive": "positives that show the rare discohesive morphology",
}


def cohort_subgroups(labels: pd.DataFrame) -> dict[str, list[str]]:
    """The positive slides of each of :data:`SUBGROUPS`, from a course cohort's labels table
    (columns ``slide_id``, ``label``, ``burden``, ``morphologies``)."""
    need = {"slide_id", "label", "burden", "morphologies"} - set(labels)
    if need:
        raise KeyError(f"the labels table lacks {sorted(need)}: subgroups need the course "
                       "cohort's labels.csv")
    pos = labels[labels.label == 1]
    morph = pos.morphologies.fillna("").astype(str).str.split(";")
    return {"micro": pos.slide_id[pos.burden == "micro"].astype(str).tolist(),
            "small": pos.slide_id[pos.burden == "small"].astype(str).tolist(),
            "large": pos.slide_id[pos.burden == "large"].astype(str).tolist(),
            "discohesive": pos.slide_id[morph.map(lambda m: "discohesive" in m)]
            .astype(str).tolist()}


def subgroup_result(result, positives: Sequence[str]):
    """The experiment restricted to the positive slides ``positives`` and **every** negative
    slide: its :meth:`~milhelpers.experiments.ExperimentResult.compare` then asks how well each
    method tells *these* positives from the negatives (the AUC of a subgroup), with the same
    paired case bootstrap and Holm. The per-run table is kept (per-run seconds are not
    subgroup quantities)."""
    from .experiments import ExperimentResult

    oof = result.out_of_fold()
    keep = (oof.label == 0) | oof.slide_id.isin(set(map(str, positives)))
    if not (oof[keep].label == 1).any():
        raise ValueError("none of the given positive slides is in the experiment's out-of-fold "
                         "records")
    return ExperimentResult(result.runs, result.cache_dir, list(result.methods), 0,
                            dict(result.meta), oof[keep].reset_index(drop=True))


# --------------------------------------------------------------------------------------------
# a second cohort, and which method when
# --------------------------------------------------------------------------------------------
def _outcome(row) -> int:
    """+1 clearly better than the reference, −1 clearly worse, 0 no evidence either way."""
    if not bool(row["clear"]):
        return 0
    return 1 if row["diff"] > 0 else -1


def replication(tables: Mapping[str, pd.DataFrame], metric: str = "auc") -> pd.DataFrame:
    """Does each method's difference from the reference hold on every cohort draw?

    ``tables``: draw name → :meth:`ExperimentResult.compare` of one draw (every method against
    the same reference, Holm across them). One row per method: per draw ``diff``, ``lo``, ``hi``,
    ``clear`` (Holm) as ``<column> <draw>``; ``same_sign`` (the point estimates agree in sign on
    every draw) and ``verdict``: "clearly better on every draw", "clearly worse on every draw",
    "clear on <draw> only", "clear in opposite directions" or "no evidence either way on any
    draw"."""
    draws = list(tables)
    per = {d: t[t.metric == metric].set_index("method") for d, t in tables.items()}
    methods = list(dict.fromkeys(m for t in per.values() for m in t.index))
    rows = []
    for m in methods:
        row: dict[str, Any] = {"method": m}
        outcomes, signs = {}, []
        for d in draws:
            if m not in per[d].index:
                raise KeyError(f"method {m!r} is missing from draw {d!r}")
            r = per[d].loc[m]
            row.update({f"diff {d}": r["diff"], f"lo {d}": r["lo"], f"hi {d}": r["hi"],
                        f"clear {d}": bool(r["clear"])})
            outcomes[d] = _outcome(r)
            signs.append(np.sign(r["diff"]))
        row["same_sign"] = bool(len(set(signs)) == 1 and signs[0] != 0)
        row["verdict"] = draw_verdict(outcomes)
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def draw_verdict(outcomes: Mapping[str, int]) -> str:
    """The sentence for one method's outcomes over draws (+1 clearly better, −1 clearly worse,
    0 no evidence either way)."""
    vals = set(outcomes.values())
    if vals == {1}:
        return "clearly better on every draw"
    if vals == {-1}:
        return "clearly worse on every draw"
    if {1, -1} <= vals:
        return "clear in opposite directions"
    if vals == {0}:
        return "no evidence either way on any draw"
    clear = [d for d, o in outcomes.items() if o != 0]
    word = "better" if outcomes[clear[0]] > 0 else "worse"
    return f"clearly {word} on {', '.join(clear)} only"


def which_method_when(evidence: Sequence[Mapping[str, Any]], reference: str) -> pd.DataFrame:
    """The which-method-when table: one row per situation, each resting on its evidence.

    ``evidence``: one mapping per situation with ``situation``, ``evidence`` (what was compared,
    in words) and ``tables`` (draw name → a :meth:`compare` table holding ``metric``, every
    method against ``reference``), or instead a ready ``verdict`` (for evidence that is not a
    comparison of methods, such as a timing measurement). The method *favoured* is the one
    clearly better than the reference on **every** draw (several: all of them, by their
    smallest difference); when every other method is clearly worse on every draw, the
    reference; otherwise "no evidence either way". ``avoid`` lists the methods clearly worse
    than the reference on every draw."""
    rows = []
    for ev in evidence:
        if "verdict" in ev:
            rows.append({"situation": ev["situation"], "favoured": ev["verdict"],
                         "avoid": ev.get("avoid", ""), "evidence": ev["evidence"]})
            continue
        rep = replication(ev["tables"], ev.get("metric", "auc"))
        draws = list(ev["tables"])
        better = rep[rep.verdict == "clearly better on every draw"]
        worse = rep[rep.verdict == "clearly worse on every draw"]
        if len(better):
            low = better[[f"diff {d}" for d in draws]].min(1).sort_values(ascending=False)
            favoured = ", ".join(low.index)
        elif len(worse) == len(rep):
            favoured = reference
        else:
            favoured = f"no evidence either way (no method clearly beats {reference} on every draw)"
        rows.append({"situation": ev["situation"], "favoured": favoured,
                     "avoid": ", ".join(worse.index), "evidence": ev["evidence"]})
    return pd.DataFrame(rows, columns=["situation", "favoured", "avoid", "evidence"])


def situation_evidence(draws: Mapping[str, Any],
                       subgroups: Mapping[str, Mapping[str, Sequence[str]]],
                       reference: str = "abmil_gated", *, real_bags: Any = None,
                       packing: Mapping[str, Any] | None = None, n_boot: int = 2000
                       ) -> list[dict[str, Any]]:
    """The evidence behind each row of the which-method-when table (:func:`which_method_when`).

    ``draws``: cohort draw name → its :class:`~milhelpers.experiments.ExperimentResult`;
    ``subgroups``: draw name → :func:`cohort_subgroups` of that draw's labels; ``real_bags``: the
    same methods on a real dataset (UCSB breast) or None; ``packing``: the packing benchmark's
    results (:func:`packing_verdict`) or None. Rows: all slides (slide AUC); focal micro-lesions,
    diffuse tumour and the rare morphology (slide AUC of that subgroup of positives against every
    negative, :func:`subgroup_result`); a heatmap that finds the tumour (localisation AUC); very
    long bags or a GPU (the packing measurement); few slides (the real bags: one dataset, so
    "every draw" is that one)."""
    def family(metric: str, group: str | None = None) -> dict[str, pd.DataFrame]:
        out = {}
        for d, res in draws.items():
            r = res if group is None else subgroup_result(res, subgroups[d][group])
            out[d] = r.compare(reference, [metric], n_boot=n_boot)
        return out

    n = len(next(iter(draws.values())).methods) - 1
    how = (f"each method − {reference}, paired case bootstrap, Holm over {n} methods, "
           f"on each cohort draw ({', '.join(draws)})")
    rows = [
        {"situation": "any slide (the whole cohort)", "tables": family("auc"),
         "evidence": f"slide AUC, all slides; {how}"},
        {"situation": "focal micro-lesions", "tables": family("auc", "micro"),
         "evidence": f"slide AUC of micro-burden positives (≤ 5 tumour patches) against all "
                     f"negatives; {how}"},
        {"situation": "diffuse tumour", "tables": family("auc", "large"),
         "evidence": f"slide AUC of large-burden positives (> 20 tumour patches) against all "
                     f"negatives; {how}"},
        {"situation": "rare morphology", "tables": family("auc", "discohesive"),
         "evidence": f"slide AUC of positives with discohesive tumour against all negatives; "
                     f"{how}"},
        {"situation": "a heatmap that finds the tumour", "tables": family("loc_auc"),
         "metric": "loc_auc",
         "evidence": f"localisation AUC (per positive slide, patches ≥ 25 % tumour); {how}"},
        {"situation": "very long bags or a GPU", "verdict": packing_verdict(packing),
         "evidence": "benchmarks/results/packing.json (chapter 06 §5): epoch times on one machine, "
                     "not a comparison held to the two-draw rule; accuracy only on the course cohort"},
    ]
    if real_bags is not None:
        m = len(real_bags.methods) - 1
        rows.append({"situation": "few slides",
                     "tables": {"UCSB breast": real_bags.compare(reference, ["auc"],
                                                                 n_boot=n_boot)},
                     "evidence": f"slide AUC on UCSB breast (58 real bags, one dataset: no "
                                 f"second draw); each method − {reference}, Holm over {m}"})
    return rows


def _interval_words(d: Mapping[str, Any]) -> tuple[str, int]:
    """"diff [lo, hi] (verdict)" of a paired difference, and its sign if clear (else 0) by the
    one rule, :func:`milhelpers.stats.is_clear`."""
    lo, hi = d["ci95"]
    sign = (1 if lo > 0 else -1) if stats.is_clear(d) else 0
    word = {-1: "clearly lower", 1: "clearly higher", 0: "no evidence either way"}[sign]
    return f"{d['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}] ({word})", sign


def packing_verdict(packing: Mapping[str, Any] | None) -> str:
    """The sentence of the which-method-when row "very long bags or a GPU", computed from the
    packing benchmark's results (``benchmarks/results/packing.json``, ``benchmarks/packing.py``).

    Long bags (its ``scale`` part: generated bags with the paper's length profile, one epoch per
    recipe, at the largest max length where batch 1, batch 1 on the capped main parts and packed
    all ran): each recipe's epoch ÷ batch 1's on whole bags. The favoured recipe is the fastest
    of PackMIL (with and, where measured, without ADS) and batch 1 on the same capped parts
    (subsampling without packing) — if it is faster than batch 1 and its slide AUC on the course
    cohort (``cohort``: ``table.packed.auc_minus_batch1``, or the ``batch1 → batch1_main``
    comparison) is not clearly lower (clear ⇔ the 95 % interval excludes 0); else gated ABMIL on
    whole bags. Without a ``scale`` part the cohort's PackMIL row alone decides, the same way.
    The device is named; on a CPU the sentence says no GPU was measured. An older file with a
    ready ``regime.verdict`` is read as such."""
    if packing is None:
        return ("not measured here yet (benchmarks/results/packing.json is missing): no "
                "evidence either way")
    if not isinstance(packing, Mapping):
        return "benchmarks/results/packing.json is not a results object: no evidence either way"
    regime = packing.get("regime")
    if isinstance(regime, Mapping) and isinstance(regime.get("verdict"), str):
        return regime["verdict"]
    try:
        row = packing["cohort"]["table"]["packed"]
        ratio = float(row["time_vs_batch1"])
        auc, auc_sign = _interval_words(row["auc_minus_batch1"])
    except (KeyError, TypeError):
        return ("benchmarks/results/packing.json holds no cohort measurement of PackMIL against "
                "batch 1: no evidence either way from it")
    device = packing.get("device", "?")
    sub = next((c for c in packing["cohort"].get("comparisons", [])
                if c.get("a") == "batch1" and c.get("b") == "batch1_main"), None)
    sub_words, sub_sign = _interval_words(sub) if sub else ("not measured", 0)
    cohort = (f"on the course cohort PackMIL's epoch took {ratio:.2f}× batch 1's, slide AUC "
              f"{auc}; the capped parts alone (batch 1), slide AUC {sub_words}")
    by_len = (packing.get("scale") or {}).get("by_max_length") or {}
    sizes = [k for k in by_len if all(isinstance(by_len[k].get(m), Mapping)
                                      and "epoch_seconds" in by_len[k][m]
                                      for m in ("batch1", "batch1_main", "packed"))]
    gpu = "" if device != "cpu" else "; no GPU was measured"
    if not sizes:
        if ratio < 1 and auc_sign >= 0:
            head = "packmil, for time"
        elif auc_sign < 0:
            head = "abmil_gated (PackMIL's time is bought with accuracy)"
        else:
            head = "abmil_gated (packing saves no time here)"
        return f"{head} ({device}): {cohort}{gpu}"
    top = max(sizes, key=int)
    t = {m: float(r["epoch_seconds"]) for m, r in by_len[top].items()
         if isinstance(r, Mapping) and "epoch_seconds" in r}
    ratios = {"packmil": t["packed"] / t["batch1"],
              "batch 1 on the capped parts": t["batch1_main"] / t["batch1"]}
    if "packed_noads" in t:
        ratios["packmil without ADS"] = t["packed_noads"] / t["batch1"]
    fastest = min(ratios, key=ratios.get)
    sign = sub_sign if fastest.startswith("batch 1") else auc_sign
    if ratios[fastest] >= 1:
        head = "abmil_gated on whole bags (no recipe was faster)"
    elif sign < 0:
        head = f"abmil_gated on whole bags ({fastest} was faster but clearly less accurate)"
    elif fastest.startswith("batch 1"):
        head = "abmil_gated on capped parts (subsampling), not packing"
    else:
        head = fastest
    speeds = ", ".join(f"{k} {v:.2f}×" for k, v in ratios.items())
    return (f"{head}: on generated bags of up to {int(top):,} instances ({device}; time only, "
            f"no accuracy at that length), epoch time ÷ batch 1 on whole bags: {speeds}; "
            f"{cohort}{gpu}")


# --------------------------------------------------------------------------------------------
# where each method looks
# --------------------------------------------------------------------------------------------
def where_looks(result, kinds: Mapping[str, np.ndarray], *, k: int = 5,
                methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Per run, where the k most-attended patches of its test slides lie.

    ``kinds``: slide id → per-patch kind (:func:`milhelpers.instances.cohort_patch_kinds`).
    For every (method, seed, fold) run and each label, the mean over the run's test slides of
    that label of :func:`~milhelpers.instances.topk_kind_shares` (the share of the slide's top-k
    patches on tumour, mimics, normal tissue) and ``n_slides``; with ``patch_<kind>``, the mean
    patch share (what uniform attention would give on the same slides). Needs the runs'
    predictions (the runner's cache)."""
    methods = list(methods) if methods is not None else list(result.methods)
    rows = []
    for r in result.runs[result.runs.method.isin(methods)].itertuples():
        p = result.predictions(r.method, int(r.seed), int(r.fold))
        per_label: dict[int, list[dict[str, float]]] = {}
        for sid, a, y in zip(p.slide_ids, p.slide_attention, p.labels):
            kk = kinds[sid]
            s = topk_kind_shares(a, kk, k)
            g = kind_group(kk)
            s.update({f"patch_{n}": float(np.mean(g == n)) for n in KIND_GROUPS})
            per_label.setdefault(int(y), []).append(s)
        for y, shares in sorted(per_label.items()):
            mean = pd.DataFrame(shares).mean()
            rows.append({"method": r.method, "seed": int(r.seed), "fold": int(r.fold),
                         "label": y, "n_slides": len(shares), **mean.to_dict()})
    return pd.DataFrame(rows)


def share_summary(runs: pd.DataFrame, label: int = 1) -> pd.DataFrame:
    """Means over runs of :func:`where_looks`' shares for slides of ``label``, with 95 %
    percentile-bootstrap intervals over the runs (the runs share slides, so the interval
    describes these runs): one row per (method, kind) with ``share``, ``lo``, ``hi``,
    ``patch_share`` and ``n_runs``."""
    from .experiments import bootstrap_ci

    rows = []
    sel = runs[runs.label == label]
    for m, g in sel.groupby("method", sort=False):
        for kind in KIND_GROUPS:
            v = g[kind].to_numpy(np.float64)
            lo, hi = bootstrap_ci(v)
            rows.append({"method": m, "kind": kind, "share": float(v.mean()), "lo": lo,
                         "hi": hi, "patch_share": float(g[f"patch_{kind}"].mean()),
                         "n_runs": len(v)})
    return pd.DataFrame(rows)


def showcase_slides(labels: pd.DataFrame, kinds: Mapping[str, np.ndarray]) -> dict[str, dict]:
    """Three slides to look at, chosen by a stated rule (never by how a method did on them):

    * ``micro``: a positive with 1–3 tumour patches (from the masks) and no discohesive
      tumour — the one with the most patches (the smallest needle in the largest haystack);
    * ``discohesive``: among positives whose primary morphology is discohesive, the one with
      the median number of tumour patches (the lower median);
    * ``mimics``: the negative with the most mimic patches (then the larger share of them).

    Ties go to the smaller slide id. Returns name → {slide_id, rule, n_patches, n_tumour,
    n_mimic}."""
    info = []
    for r in labels.itertuples():
        sid = str(r.slide_id)
        if sid not in kinds:
            continue
        g = kind_group(kinds[sid])
        info.append({"slide_id": sid, "label": int(r.label),
                     "morphology": str(getattr(r, "morphology", "")),
                     "discohesive": "discohesive" in list(kinds[sid]),
                     "n_patches": len(g), "n_tumour": int((g == "tumour").sum()),
                     "n_mimic": int((g == "mimic").sum())})
    t = pd.DataFrame(info).sort_values("slide_id").reset_index(drop=True)
    out = {}
    micro = t[(t.label == 1) & t.n_tumour.between(1, 3) & ~t.discohesive]
    disc = t[(t.label == 1) & (t.morphology == "discohesive")]
    neg = t[(t.label == 0) & (t.n_mimic > 0)].assign(mimic_share=lambda d: d.n_mimic / d.n_patches)
    rules = {"micro": (micro, "a positive with 1–3 tumour patches and no discohesive tumour: "
                              "the one with the most patches"),
             "discohesive": (disc, "the discohesive positive with the (lower) median number "
                                   "of tumour patches"),
             "mimics": (neg, "the negative with the most mimic patches")}
    for name, (cands, rule) in rules.items():
        if cands.empty:
            raise ValueError(f"no slide fits the rule for {name!r} ({rule})")
        if name == "micro":
            pick = cands.sort_values(["n_patches", "slide_id"], ascending=[False, True]).iloc[0]
        elif name == "discohesive":
            ranked = cands.sort_values(["n_tumour", "slide_id"]).reset_index(drop=True)
            pick = ranked.iloc[(len(ranked) - 1) // 2]
        else:
            pick = cands.sort_values(["n_mimic", "mimic_share", "slide_id"],
                                     ascending=[False, False, True]).iloc[0]
        out[name] = {"slide_id": pick.slide_id, "rule": rule, "n_patches": int(pick.n_patches),
                     "n_tumour": int(pick.n_tumour), "n_mimic": int(pick.n_mimic)}
    return out


def where_looks_summary(result, cohort_root, *, k: int = 5) -> dict[str, Any]:
    """Everything chapter 07 shows about where the methods of ``result`` look, as one
    JSON-ready dict (``benchmarks/where_looks.py`` writes it; the chapter's ``full=True`` run
    computes it live): ``runs`` (:func:`where_looks` on every test slide, patch kinds from the
    cohort's masks), ``showcase`` (:func:`showcase_slides`, each with every method's
    out-of-fold attention from the first repeat, 4 significant digits) and ``subgroups``
    (:func:`cohort_subgroups`). Needs the runs' predictions (the runner's cache)."""
    from pathlib import Path

    from .instances import cohort_patch_kinds

    root = Path(cohort_root)
    labels = pd.read_csv(root / "labels.csv")
    ids = sorted(set(result.out_of_fold().slide_id))
    labels = labels[labels.slide_id.astype(str).isin(ids)]
    kinds = cohort_patch_kinds(root, root / "features_efficientnet_lite0", ids)
    rows = where_looks(result, kinds, k=k)
    picks = showcase_slides(labels, kinds)
    first = int(result.runs.seed.min())
    for pick in picks.values():
        pick["attention"] = {
            m: [float(f"{v:.4g}") for v in np.asarray(
                result.slide_prediction(m, first, pick["slide_id"])["attention"], float)]
            for m in result.methods}
    meta = {"cohort": root.name, "k": int(k), "methods": list(result.methods),
            "repeat_shown": first, "n_runs": int(len(result.runs)),
            "shares": "per run and label: mean over the run's test slides of that label of the "
                      "share of the slide's k most-attended patches on tumour, mimic, normal "
                      "tissue (ties share their places); patch_<kind>: the mean patch share "
                      "on the same slides"}
    return {"meta": meta, "runs": rows.round(6).to_dict(orient="records"), "showcase": picks,
            "subgroups": cohort_subgroups(labels)}


def recompute_full(cohort_dir, second_cohort_dir=None, cache_dir="runs/full", *,
                   methods: Sequence[str] = HEAD_TO_HEAD, seeds: Sequence[int] = (0, 1, 2),
                   folds: int = 5, epochs: int = 20, workers: int = 2,
                   progress: bool = True) -> tuple[dict, dict, Any]:
    """Chapter 07's full setting from nothing (hours on two cores): ``(draws, looks, real_bags)``.

    ``draws``: {"seed 0": ...} the experiment of ``methods`` × ``seeds`` × ``folds`` ×
    ``epochs`` on the course cohort, and with ``second_cohort_dir`` also {"seed 1": ...} on the
    seed-1 draw (built there if missing); ``looks``: :func:`where_looks_summary` of each draw;
    ``real_bags``: the same methods on UCSB breast (features z-scored over all patches). Every
    run is cached in ``cache_dir``, so an interrupted call resumes."""
    from pathlib import Path

    from .classic import standardise
    from .datasets import load_mil_table
    from .experiments import open_dataset, run_experiments
    from .pipeline import prepare_cohort
    from .synth import CohortConfig

    roots = {"seed 0": Path(cohort_dir)}
    prepare_cohort(roots["seed 0"], progress=progress)
    if second_cohort_dir is not None:
        roots["seed 1"] = Path(second_cohort_dir)
        prepare_cohort(roots["seed 1"], CohortConfig(seed=1), progress=progress)
    run = {"seeds": list(seeds), "folds": folds, "epochs": epochs, "cache_dir": cache_dir,
           "workers": workers, "progress": progress}
    draws = {d: run_experiments(open_dataset(root), list(methods), **run)
             for d, root in roots.items()}
    looks = {d: where_looks_summary(draws[d], roots[d]) for d in draws}
    real = run_experiments(standardise(load_mil_table("ucsb_breast"))[0], list(methods), **run)
    return draws, looks, real
