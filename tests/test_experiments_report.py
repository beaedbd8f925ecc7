"""Reading an experiment: verdict sentences, per-run differences, correlations, mean [CI] tables."""
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from milhelpers import experiments as ex
from milhelpers import stats


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


def _oof_result(scores_a, scores_b, y, entropy_shift=0.0):
    """Methods A and B with out-of-fold records: scores (seeds × slides), slide i in fold i % 3;
    B's entropy is A's + ``entropy_shift`` on every slide."""
    rows, slides = [], []
    for m, sc in (("A", scores_a), ("B", scores_b)):
        for s in range(len(sc)):
            for k in range(3):
                rows.append({"method": m, "seed": s, "fold": k, **{x: np.nan for x in ex.METRICS},
                             "key": "k"})
            for i, v in enumerate(sc[s]):
                slides.append({"method": m, "seed": s, "fold": i % 3, "slide_id": f"s{i:03d}",
                               "case_id": f"s{i:03d}", "label": int(y[i]), "score": float(v),
                               "loc_auc": np.nan,
                               "entropy": 0.5 + 0.01 * (i % 7) + (entropy_shift if m == "B" else 0),
                               "top5_mass": 0.3})
    return ex.ExperimentResult(pd.DataFrame(rows), Path("."), ["A", "B"], 0, {"n_slides": len(y)},
                               pd.DataFrame(slides))


def _scores(shift, seed=0, n=120, r=3):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    noise = rng.normal(size=(r, n))       # within class: sd 1 each, correlation 0.7
    a = noise + 1.1 * y
    b = 0.7 * noise + np.sqrt(0.51) * rng.normal(size=(r, n)) + (1.1 + shift) * y
    return y, a, b


def test_verdict_clear_when_the_interval_over_slides_excludes_zero():
    y, a, b = _scores(shift=1.0)
    res = _oof_result(a, b, y)
    s = res.paired("A", "B", ["auc"])["auc"]
    assert s["ci95"][0] > 0 and s["p"] < 0.05
    text = ex.verdict(res, "A", "B")
    assert text == stats.describe(s, "A", "B", "auc")
    assert text.startswith(f"auc: B is better than A (B − A {s['diff']:+.3f}, 95% CI "
                           f"[{s['ci95'][0]:+.3f}, {s['ci95'][1]:+.3f}], p = ")
    assert "120 slides × 3 repeats" in text
    # the same runs read the other way round: the leader is still B, the difference A − B
    text = ex.verdict(res, "B", "A")
    assert text.startswith(f"auc: B is better than A (A − B {-s['diff']:+.3f}")


def test_verdict_no_clear_difference_when_the_interval_holds_zero():
    y, a, b = _scores(shift=0.0, seed=3)
    res = _oof_result(a, b, y)
    s = res.paired("A", "B", ["auc"])["auc"]
    assert s["ci95"][0] <= 0 <= s["ci95"][1] and s["p"] >= 0.05
    text = ex.verdict(res, "A", "B", "auc")
    assert text.startswith("auc: no clear difference between B and A (the interval holds 0: "
                           "no evidence either way)")
    assert "better" not in text and "ahead" not in text


def test_verdict_on_a_per_slide_quantity_and_with_nothing_to_compare():
    y, a, b = _scores(shift=0.0)
    res = _oof_result(a, b, y, entropy_shift=0.02)
    text = ex.verdict(res, "A", "B", "entropy")
    assert text.startswith("entropy: B has higher entropy than A (B − A +0.020")
    assert ex.verdict(res, "A", "B", "loc_auc").startswith("loc_auc: B vs A: too few")


def test_run_differences_match_runs_on_seed_and_fold():
    res = _result([0.1, 0.2, 0.2, 0.15, 0.3], seeds=(0, 1))
    runs = res.runs
    flip = (runs.method == "B") & (runs.seed == 1) & (runs.fold == 2)
    runs.loc[flip, "auc"] = 0.6 - 0.4
    d = ex.run_differences(res, "A", "B", "auc")
    assert list(d.index) == [(s, k) for s in (0, 1) for k in range(5)]
    assert d.tolist() == pytest.approx([0.1, 0.2, 0.2, 0.15, 0.3, 0.1, 0.2, -0.4, 0.15, 0.3])
    assert ex.run_differences(res, "B", "A", "auc").tolist() == pytest.approx((-d).tolist())


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


def test_describe_correlation_an_interval_ending_at_zero_still_holds_zero():
    """The interval is closed: [0, 0.6] and [−0.6, 0] hold 0, so no link is claimed; [0.001,
    0.6] excludes it. Catches ``lo < 0 < hi``."""
    for ci in ([0.0, 0.6], [-0.6, 0.0]):
        s = {"rho": 0.3 if ci[0] == 0 else -0.3, "ci95": ci, "p": 0.05, "n": 20}
        assert ex.describe_correlation(s).endswith("no clear link: the interval holds 0"), ci
    s = {"rho": 0.3, "ci95": [0.001, 0.6], "p": 0.04, "n": 20}
    assert ex.describe_correlation(s).endswith("higher entropy went with higher AUC")


def test_json_text_is_strict_json_with_one_record_per_line():
    obj = {"runs": [{"a": 1, "b": None}, {"a": 2, "b": [1, 2]}], "hist": {3: 4, "x": {5: 6}}}
    text = ex.json_text(obj)
    back = json.loads(text)
    assert back == {"runs": [{"a": 1, "b": None}, {"a": 2, "b": [1, 2]}],
                    "hist": {"3": 4, "x": {"5": 6}}}          # keys become text, as json does
    assert '  {"a": 1, "b": null},\n' in text and text.endswith("}\n")
    with pytest.raises(ValueError):
        ex.json_text({"x": float("nan")})                       # NaN must be None first


# --- round 8: options, columns and ties
def test_r8_mean_ci_table_digits_reach_every_number_and_methods_default_to_all():
    res = _result([0.1, 0.2, 0.3])
    res.runs.loc[res.runs.method == "A", "loc_auc"] = [0.5, np.nan, np.nan]
    t = ex.mean_ci_table(res, ["auc", "loc_auc"], digits=1)
    assert list(t.index) == ["A", "B"]
    lo, hi = ex.bootstrap_ci([0.7, 0.8, 0.9])
    assert t.loc["B", "auc"] == f"0.8 [{lo:.1f}, {hi:.1f}]"
    assert t.loc["A", "auc"] == "0.6 [0.6, 0.6]"          # every run 0.6
    assert t.loc["A", "loc_auc"] == "0.5"
    t4 = ex.mean_ci_table(res, ["loc_auc"], digits=4)
    assert t4.loc["A", "loc_auc"] == "0.5000"
    f = ex.summary_frame(res, ["auc"])
    assert f.method.tolist() == ["A", "B"] and f["mean"].tolist() == pytest.approx([0.6, 0.8])
