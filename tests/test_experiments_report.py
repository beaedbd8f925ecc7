"""Reading an experiment: verdict sentences, per-fold differences, correlations, mean [CI] tables."""
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from milhelpers import experiments as ex


def _result(b_minus_a, a=None, seeds=(0,), metric="auc"):
    """Runs of methods A and B on len(b_minus_a) folds; B = A + d per fold (every seed)."""
    a = np.full(len(b_minus_a), 0.6) if a is None else np.asarray(a, float)
    rows = []
    for s in seeds:
        for k, d in enumerate(b_minus_a):
            for m, v in (("A", a[k]), ("B", a[k] + d)):
                rows.append({"method": m, "seed": s, "fold": k,
                             **{x: np.nan for x in ex.METRICS}, metric: v, "key": "k"})
    return ex.ExperimentResult(pd.DataFrame(rows), Path("."), ["A", "B"])


def _numbers(d):
    lo, hi = ex.bootstrap_ci(d)
    return lo, hi


def test_verdict_clear_when_interval_excludes_zero_and_p_below_005():
    d = [0.05, 0.10, 0.15, 0.20, 0.25, 0.30]          # 6 folds, all up: exact p = 2/2⁶
    lo, hi = _numbers(d)
    text = ex.verdict(_result(d), "A", "B")
    assert text == (f"auc: B is better than A (mean difference B − A +0.175, 95% CI "
                    f"[{lo:+.3f}, {hi:+.3f}], p = 0.031, 6 folds)")
    # the same runs read the other way round: the leader is still B, the difference A − B
    text = ex.verdict(_result(d), "B", "A")
    assert text.startswith("auc: B is better than A (mean difference A − B -0.175")


def test_verdict_ahead_but_unclear_counts_the_folds_that_agree():
    # five folds all down for B: the interval excludes 0, but p cannot go below 0.0625
    text = ex.verdict(_result([-0.1, -0.2, -0.15, -0.05, -0.12]), "A", "B")
    assert text.startswith("auc: A ahead of B in 5 of 5 folds, but 5 folds cannot make it "
                           "clear (p = 0.062) (mean difference B − A -0.124")
    # four of five up (the fifth slightly down, the smallest |d|): W⁻ = 1, p = 4/32
    d = [0.30, 0.20, 0.25, 0.35, -0.01]
    assert ex.bootstrap_ci(d)[0] > 0
    text = ex.verdict(_result(d), "A", "B")
    assert "B ahead of A on average but in only 4 of 5 folds: the folds disagree (p = 0.125" in text


def test_verdict_no_clear_difference_and_too_few_runs():
    # |d| ranks 4, 5, 3, 1, 2 with signs + − + − +: W⁻ = 6, P(W ≤ 6) = 13/32, p = 26/32
    d = [0.1, -0.12, 0.05, -0.01, 0.03]
    text = ex.verdict(_result(d), "A", "B", "auc")
    lo, hi = _numbers(d)
    assert lo < 0 < hi
    assert text == (f"auc: no clear difference between B and A (mean difference B − A +0.010, "
                    f"95% CI [{lo:+.3f}, {hi:+.3f}], p = 0.812, 5 folds)")
    assert ex.verdict(_result([0.1]), "A", "B") == "B vs A: too few runs to compare"


def test_verdict_and_fold_differences_average_seeds_within_a_fold():
    # seed 1 flips fold 2: its fold mean is (0.2 − 0.4)/2 = −0.1, so 4 of 5 folds go up
    res = _result([0.1, 0.2, 0.2, 0.15, 0.3], seeds=(0, 1))
    runs = res.runs
    flip = (runs.method == "B") & (runs.seed == 1) & (runs.fold == 2)
    runs.loc[flip, "auc"] = 0.6 - 0.4
    d = ex.fold_differences(res, "A", "B", "auc")
    assert d.tolist() == pytest.approx([0.1, 0.2, -0.1, 0.15, 0.3])
    assert ex.fold_differences(res, "B", "A", "auc").tolist() == pytest.approx((-d).tolist())
    assert "in only 4 of 5 folds: the folds disagree" in ex.verdict(res, "A", "B")


def test_correlation_hand_computed_and_perfect_ranks():
    # ranks x = 1 2 3 4, y = 1 3 2 4: Σd² = 2, ρ = 1 − 6·2 / (4·15) = 0.8
    r = ex.correlation_ci([1.0, 2.0, 3.0, 4.0], [10.0, 30.0, 20.0, 40.0])
    assert r["rho"] == pytest.approx(0.8) and r["n"] == 4 and not r["within_groups"]
    assert r["ci95"][0] <= 0.8 <= r["ci95"][1]
    # a monotone (not linear) link is rank correlation 1 in every resample
    x = np.arange(8.0)
    r = ex.correlation_ci(x, np.exp(x))
    assert r["rho"] == pytest.approx(1.0) and r["ci95"] == pytest.approx([1.0, 1.0])
    assert ex.correlation_ci(x, -x ** 3)["rho"] == pytest.approx(-1.0)
    # NaN pairs dropped; a constant variable has no correlation
    r = ex.correlation_ci([1, 2, np.nan, 4], [1, 2, 3, np.nan])
    assert r["n"] == 2 and math.isnan(r["rho"])
    assert math.isnan(ex.correlation_ci([1, 2, 3, 4], [5, 5, 5, 5])["rho"])
    with pytest.raises(ValueError, match="one length"):
        ex.correlation_ci([1, 2, 3], [1, 2])


def test_correlation_within_groups_removes_group_offsets():
    # across the two groups x and y rise together; inside each group y falls as x rises
    x = [0, 1, 2, 10, 11, 12]
    y = [2, 1, 0, 12, 11, 10]
    g = [0, 0, 0, 1, 1, 1]
    assert ex.correlation_ci(x, y)["rho"] > 0.3
    r = ex.correlation_ci(x, y, groups=g)
    assert r["rho"] == pytest.approx(-1.0) and r["within_groups"]


def test_mean_ci_table_formats_one_value_many_values_and_none():
    res = _result([0.1, 0.2, 0.3])
    res.runs.loc[res.runs.method == "A", "loc_auc"] = [0.5, np.nan, np.nan]
    t = ex.mean_ci_table(res, ["auc", "loc_auc"], ["B", "A"])
    assert list(t.index) == ["B", "A"] and list(t.columns) == ["auc", "loc_auc"]
    lo, hi = ex.bootstrap_ci([0.7, 0.8, 0.9])
    assert t.loc["B", "auc"] == f"0.800 [{lo:.3f}, {hi:.3f}]"
    assert t.loc["A", "loc_auc"] == "0.500" and t.loc["B", "loc_auc"] == "n/a"


def test_summary_frame_numbers_per_method_and_metric():
    res = _result([0.1, 0.2, 0.3])
    res.runs.loc[res.runs.method == "A", "loc_auc"] = [0.5, np.nan, np.nan]
    f = ex.summary_frame(res, ["auc", "loc_auc"], ["B", "A"])
    assert f[["method", "metric"]].values.tolist() == [["B", "auc"], ["B", "loc_auc"],
                                                       ["A", "auc"], ["A", "loc_auc"]]
    b = f.iloc[0]
    assert b["mean"] == pytest.approx(0.8) and b["n"] == 3
    assert [b["lo"], b["hi"]] == pytest.approx(ex.bootstrap_ci([0.7, 0.8, 0.9]))
    one = f.iloc[3]
    assert one["mean"] == 0.5 and one["n"] == 1 and math.isnan(one["lo"])
    assert f.iloc[1]["n"] == 0 and math.isnan(f.iloc[1]["mean"])


def test_describe_correlation_sentences():
    s = {"rho": 0.4, "ci95": [0.1, 0.7], "p": 0.01, "n": 20}
    assert ex.describe_correlation(s) == ("ρ = +0.40 [95% CI +0.10, +0.70], p = 0.010, 20 runs: "
                                          "higher entropy went with higher AUC")
    s = {"rho": -0.5, "ci95": [-0.8, -0.2], "p": 0.02, "n": 20}
    assert ex.describe_correlation(s, y="loc AUC").endswith("higher entropy went with lower loc AUC")
    s = {"rho": 0.1, "ci95": [-0.3, 0.5], "p": 0.6, "n": 20}
    assert ex.describe_correlation(s).endswith("no clear link: the interval holds 0")
    s = ex.correlation_ci([1, 2], [3, 4])
    assert ex.describe_correlation(s).startswith("entropy vs AUC: too few runs")
