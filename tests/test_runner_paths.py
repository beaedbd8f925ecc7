"""The runner's statistics on the paths and boundaries the other tests leave alone: case strata
with groups, order statistics at odd B, zeros in the bootstrap p, thresholds, unpaired resampling,
one-slide and one-class inputs, confidence levels, Holm per metric, the one rule at its edges,
the sentences at their boundaries, per-run NaNs, positives-only quantities, cached-run splits.
Hand-computed values on tiny inputs; sklearn / numpy as the independent reference."""
import math
import statistics
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from milhelpers import comparison as cmp
from milhelpers import experiments as ex
from milhelpers import stats
from milhelpers.instances import KIND_GROUPS


def _weighted_auc(y, s, w):
    """Σ_{i pos, j neg} w_i w_j h_ij / (W_P W_N), h = 1[s_i > s_j] + ½ 1[s_i = s_j], by loops."""
    pos = [i for i in range(len(y)) if y[i] == 1]
    neg = [j for j in range(len(y)) if y[j] == 0]
    num = sum(w[i] * w[j] * ((s[i] > s[j]) + 0.5 * (s[i] == s[j])) for i in pos for j in neg)
    return num / (sum(w[i] for i in pos) * sum(w[j] for j in neg))


def test_weighted_auc_helper_is_sklearns_weighted_auc():
    y = [0, 0, 1, 1, 0, 1]
    s = [0.1, 0.5, 0.5, 0.9, 0.7, 0.3]
    w = [2.0, 0.0, 1.0, 3.0, 1.0, 1.0]
    assert _weighted_auc(y, s, w) == pytest.approx(roc_auc_score(y, s, sample_weight=w))


# --------------------------------------------------------------------------------------------
# resampling: cases, strata, weights, order statistics
# --------------------------------------------------------------------------------------------
def test_case_strata_by_hand_with_a_patient_holding_both_labels():
    # p1: two negative slides; p2: one positive; p3: a negative and a positive slide
    y = [0, 0, 1, 1, 0]
    case, strata = stats.case_strata(y, ["p1", "p1", "p2", "p3", "p3"])
    assert case.tolist() == [0, 0, 1, 2, 2]
    # strata sorted by their label set: (0,) → p1, (0, 1) → p3, (1,) → p2
    assert [s.tolist() for s in strata] == [[0], [2], [1]]
    # without groups every slide is its own case
    case, strata = stats.case_strata([1, 0, 1])
    assert case.tolist() == [0, 1, 2] and [s.tolist() for s in strata] == [[1], [0, 2]]


def test_case_weights_draw_every_case_and_keep_each_strata_size():
    case, strata = stats.case_strata([0, 0, 0, 1, 1, 1, 1], ["a", "b", "c", "d", "e", "f", "f"])
    w = stats._case_weights(case, strata, 400, np.random.default_rng(3))
    # 3 negative cases drawn 3 times per resample, 3 positive cases (f has two slides) 3 times
    assert (w[:, :3].sum(1) == 3).all()
    assert (w[:, 3] + w[:, 4] + w[:, 5] == 3).all()
    assert (w[:, 5] == w[:, 6]).all()                       # one case, one weight
    assert (w[:, :6] > 0).any(0).all()                      # every case is drawn sometimes
    assert w[:, :6].mean(0) == pytest.approx(np.ones(6), abs=0.15)


@pytest.mark.parametrize("b, lo, hi", [(200, 5, 196), (201, 6, 196), (199, 5, 195)])
def test_interval_order_statistics_at_odd_and_even_resample_counts(b, lo, hi):
    # d = 1 … B; k = ⌈0.05·B/2⌉: B = 200 → 5, 201 → ⌈5.025⌉ = 6, 199 → ⌈4.975⌉ = 5;
    # the interval is [d_(k), d_(B+1−k)]
    d = np.random.default_rng(0).permutation(np.arange(1.0, b + 1))
    ci, p = stats._interval_and_p(d)
    assert ci == [lo, hi]
    assert p == pytest.approx(1 / b)                         # none ≤ 0: the floor 1/B


def test_bootstrap_p_counts_zero_resamples_on_both_sides():
    # 10 zeros and 190 positive: #{d ≤ 0} = 10, #{d ≥ 0} = 200 → p = 2·10/200 = 0.1;
    # k = 5, d_(5) = 0: the interval touches 0, not clear, as p ≥ 0.05 says
    d = np.r_[np.zeros(10), np.linspace(0.01, 1, 190)]
    ci, p = stats._interval_and_p(d)
    assert p == pytest.approx(0.1)
    assert ci[0] == 0.0 and not stats.is_clear({"ci95": ci})
    # NaN resamples are dropped before counting: B = 200 finite ones
    ci2, p2 = stats._interval_and_p(np.r_[d, np.full(7, np.nan)])
    assert ci2 == ci and p2 == p
    assert all(math.isnan(v) for v in stats._interval_and_p(np.full(3, np.nan))[0])


# --------------------------------------------------------------------------------------------
# metrics and comparisons
# --------------------------------------------------------------------------------------------
def test_a_score_exactly_at_the_threshold_predicts_the_negative_class():
    y = [0, 1, 0, 1]
    s = [0.5, 0.9, 0.2, 0.5]        # P(class 1) > 0.5 → predictions 0, 1, 0, 0
    assert stats.slide_metric(y, s, "accuracy") == pytest.approx(0.75)
    assert stats.slide_metric(y, s, "balanced_accuracy") == pytest.approx((1 + 0.5) / 2)
    assert stats.slide_metric(y, s, "accuracy", threshold=0.1) == pytest.approx(0.5)


def test_unpaired_resamples_draw_the_two_methods_cases_independently():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    a = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.3, 0.9, 0.6])
    b = np.array([0.2, 0.1, 0.5, 0.3, 0.8, 0.6, 0.4, 0.95])
    n = 200
    un = stats.paired_slide_comparison(y, a, b, n_boot=n, seed=5, paired=False,
                                       return_resamples=True)
    pa = stats.paired_slide_comparison(y, a, b, n_boot=n, seed=5, return_resamples=True)
    assert un["diff"] == pytest.approx(pa["diff"])
    assert un["diff"] == pytest.approx(roc_auc_score(y, b) - roc_auc_score(y, a))
    # by hand: B's weights are the first draw of the seed's generator, A's the second
    case, strata = stats.case_strata(y)
    rng = np.random.default_rng(5)
    wb = stats._case_weights(case, strata, n, rng)
    wa = stats._case_weights(case, strata, n, rng)
    hand = [_weighted_auc(y, b, wb[i]) - _weighted_auc(y, a, wa[i]) for i in range(n)]
    assert un["resamples"] == pytest.approx(hand)
    paired_hand = [_weighted_auc(y, b, wb[i]) - _weighted_auc(y, a, wb[i]) for i in range(n)]
    assert pa["resamples"] == pytest.approx(paired_hand)
    assert "unpaired case bootstrap" in un["test"] and "paired case bootstrap" in pa["test"]


def test_per_slide_means_of_a_single_defined_slide_have_no_interval():
    y = [0, 1, 0, 1]
    a = [np.nan, 0.2, np.nan, np.nan]
    b = [np.nan, 0.5, np.nan, 0.7]          # slide 3 lacks A: not counted
    out = stats.paired_slide_means(a, b, y=y, n_boot=200)
    assert out["diff"] == pytest.approx(0.3) and out["n_slides"] == 1
    assert all(math.isnan(v) for v in out["ci95"]) and math.isnan(out["p"])
    assert not stats.is_clear(out)
    # two defined slides: an interval from the resamples, within the two differences
    out = stats.paired_slide_means([np.nan, 0.2, np.nan, 0.1], b, y=y, n_boot=200)
    assert out["n_slides"] == 2 and out["diff"] == pytest.approx((0.3 + 0.6) / 2)
    assert out["ci95"] == pytest.approx([0.3, 0.6])


def test_slide_metric_interval_balanced_accuracy_of_one_class_and_auc_refused():
    y, s = [1, 1, 1, 1], [0.9, 0.2, 0.7, 0.8]
    out = stats.slide_metric_interval(y, s, metric="balanced_accuracy", n_boot=200)
    assert out["value"] == pytest.approx(0.75)               # recall of class 1: 3 of 4
    assert 0.25 <= out["ci"][0] <= out["ci"][1] <= 1.0
    with pytest.raises(ValueError, match="both classes"):
        stats.slide_metric_interval(y, s, metric="auc", n_boot=200)


@pytest.mark.parametrize("confidence", [0.5, 0.8, 0.95])
def test_slide_metric_interval_is_the_order_statistic_at_its_confidence(confidence):
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    s = np.array([0.1, 0.5, 0.3, 0.7, 0.2, 0.6, 0.4, 0.9, 0.8, 0.65])
    groups = ["a", "a", "b", "c", "d", "e", "f", "f", "g", "h"]
    n = 201
    out = stats.slide_metric_interval(y, s, groups=groups, n_boot=n, seed=2,
                                      confidence=confidence)
    case, strata = stats.case_strata(y, groups)
    w = stats._case_weights(case, strata, n, np.random.default_rng(2))
    boot = np.sort([_weighted_auc(y, s, w[i]) for i in range(n)])
    k = math.ceil((1 - confidence) * n / 2 - 1e-9)
    assert out["ci"] == pytest.approx([boot[k - 1], boot[n - k]])
    assert out["value"] == pytest.approx(roc_auc_score(y, s))
    assert (out["n_slides"], out["n_cases"], out["confidence"]) == (10, 8, confidence)


def test_mean_rank_of_two_methods_is_one_plus_the_share_of_resamples_it_loses():
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    a = np.array([0.1, 0.5, 0.3, 0.7, 0.2, 0.6, 0.4, 0.9, 0.8, 0.65])
    b = np.array([0.2, 0.3, 0.35, 0.6, 0.1, 0.7, 0.45, 0.5, 0.8, 0.66])
    t = stats.rank_intervals(y, {"A": a, "B": b}, n_boot=2000, seed=1).set_index("method")
    d = stats.paired_slide_comparison(y, a, b, n_boot=2000, seed=1,
                                      return_resamples=True)["resamples"]
    lose, tie = np.mean(d < -1e-12), np.mean(np.abs(d) <= 1e-12)
    assert 0.05 < lose < 0.95                               # a mean, not a median, is asked
    assert t.loc["B", "mean_rank"] == pytest.approx(1 + lose + 0.5 * tie)
    assert t.loc["A", "mean_rank"] == pytest.approx(3 - t.loc["B", "mean_rank"])


def test_delong_interval_is_two_sided_at_196_standard_errors():
    y = [0, 0, 0, 1, 1, 1]
    a = [0.1, 0.4, 0.6, 0.3, 0.7, 0.8]
    b = [0.2, 0.1, 0.3, 0.9, 0.6, 0.5]
    r = stats.delong_test(y, a, b)
    q = 1.959963984540054
    assert r["ci95"] == pytest.approx([r["diff"] - q * r["se"], r["diff"] + q * r["se"]])
    assert r["diff"] == pytest.approx(roc_auc_score(y, b) - roc_auc_score(y, a))


def test_corrected_t_of_constant_differences():
    # every run the same nonzero difference: se = 0, the interval is the point, p = 0: clear
    r = stats.corrected_t_test([0.5, 0.5, 0.5, np.nan], 0.25)
    assert r["n_runs"] == 3 and r["se"] == 0 and r["p"] == 0.0
    assert r["ci95"] == pytest.approx([0.5, 0.5]) and stats.is_clear(r)
    r = stats.corrected_t_test([0.0, 0.0, 0.0], 0.25)
    assert r["p"] == 1.0 and not stats.is_clear(r)
    r = stats.corrected_t_test([0.3], 0.25)                   # one run: no test
    assert r["diff"] == pytest.approx(0.3) and math.isnan(r["p"])


def test_holm_family_is_the_defined_pvalues_only():
    adj = stats.holm([0.01, np.nan, 0.04])
    assert adj[[0, 2]] == pytest.approx([0.02, 0.04]) and math.isnan(adj[1])
    assert np.isnan(stats.holm([np.nan, np.nan])).all()


# --------------------------------------------------------------------------------------------
# the one rule and its sentences at the boundaries
# --------------------------------------------------------------------------------------------
def _stat(lo, hi, diff=0.02, p=0.05, **kw):
    return {"diff": diff, "ci95": [lo, hi], "p": p, "n_slides": 120, "n_repeats": 3,
            "unit": "slides", "test": "paired case bootstrap", **kw}


def test_an_interval_ending_exactly_at_zero_is_not_clear():
    assert not stats.is_clear(_stat(0.0, 0.1))
    assert not stats.is_clear(_stat(-0.1, 0.0, diff=-0.02))
    assert stats.is_clear(_stat(1e-9, 0.1)) and stats.is_clear(_stat(-0.1, -1e-9, diff=-0.02))
    assert "no clear difference" in stats.describe(_stat(0.0, 0.1), "a", "b")
    assert not stats.is_clear(_stat(np.nan, np.nan))


def test_a_holm_adjusted_p_of_exactly_alpha_is_not_clear():
    s = _stat(0.01, 0.1)
    assert not stats.is_clear(s, p_holm=0.05) and stats.is_clear(s, p_holm=0.0499)
    text = stats.describe(s, "a", "b", "auc", p_holm=0.05)
    assert "not clear after Holm's adjustment" in text and "Holm-adjusted p = 0.050" in text


def test_describe_names_units_for_one_repeat_and_for_runs():
    text = stats.describe(_stat(0.01, 0.1, n_repeats=1, p=0.01), "a", "b", "auc")
    assert "; 120 slides, paired case bootstrap)" in text and "repeats" not in text
    text = stats.describe(_stat(0.01, 0.1, p=0.01), "a", "b", "auc")
    assert "; 120 slides × 3 repeats, paired" in text
    runs = {"diff": -2.0, "ci95": [-3.0, -1.0], "p": 0.001, "unit": "runs", "n_runs": 15,
            "test": "Nadeau–Bengio corrected resampled t-test"}
    assert stats.describe(runs, "a", "b", "seconds") == (
        "seconds: b has lower seconds than a (b − a -2.000, 95% CI [-3.000, -1.000], p = 0.001; "
        "15 runs, Nadeau–Bengio corrected resampled t-test)")
    assert stats.describe(_stat(np.nan, np.nan, n_repeats=1), "a", "b").startswith(
        "auc: b vs a: too few slides or runs to compare (120 slides)")


def test_compare_settings_agree_only_when_clear_in_the_same_direction():
    def table(diff, lo, hi, clear):
        return pd.DataFrame({"metric": ["auc"], "method": ["m"], "diff": [diff], "lo": [lo],
                             "hi": [hi], "clear": [clear]})

    up, down = table(0.05, 0.01, 0.09, True), table(-0.05, -0.09, -0.01, True)
    out = stats.compare_settings({"quick": up, "full": down})
    assert out.agree.tolist() == [False]
    assert out.quick[0] == "+0.050 [+0.010, +0.090] clear"
    assert out.full[0] == "-0.050 [-0.090, -0.010] clear"
    assert stats.compare_settings({"quick": down, "full": down}).agree.tolist() == [True]
    held = table(0.02, -0.01, 0.05, False)
    out = stats.compare_settings({"quick": held, "full": table(-0.01, -0.04, 0.02, False)})
    assert out.agree.tolist() == [True] and out.quick[0].endswith("—")


# --------------------------------------------------------------------------------------------
# correlations, simulation, power
# --------------------------------------------------------------------------------------------
def test_a_class_of_fewer_than_three_slides_is_left_out_of_the_correlation():
    y = [0, 0, 0, 0, 1, 1]
    x1 = [1, 2, 3, 4, 1, 2]
    x2 = [10, 20, 30, 40, 2, 1]          # class 0 in the same order, class 1 reversed
    assert stats.within_class_correlation(y, x1, x2) == pytest.approx(1.0)
    assert math.isnan(stats.within_class_correlation([0, 0, 1, 1], [1, 2, 3, 4], [1, 2, 3, 4]))


def test_score_correlations_by_hand_on_two_repeats():
    y = [0] * 4 + [1] * 4
    up, down = [1, 2, 3, 4] * 2, [4, 3, 2, 1] * 2
    a = np.array([up, up])                # repeat 0, repeat 1
    b = np.array([down, up])
    r = stats.score_correlations(y, a, b)
    # methods: corr(a0, b0) = −1, corr(a1, b1) = +1 → 0; cross: corr(a0, b1) = +1,
    # corr(a1, b0) = −1 → 0; repeats: a +1, b −1
    assert r == pytest.approx({"repeats_a": 1.0, "repeats_b": -1.0, "methods": 0.0, "cross": 0.0})
    one = stats.score_correlations(y, a[:1], b[:1])
    assert math.isnan(one["repeats_a"]) and math.isnan(one["cross"])
    assert one["methods"] == pytest.approx(-1.0)


def test_simulated_cohort_has_the_asked_prevalence_and_its_seed_matters():
    y, a, b = stats.simulate_scores(n_slides=20, n_repeats=2, prevalence=0.25, seed=4,
                                    base_auc=0.99, delta_auc=0.0)
    assert y.tolist() == [0] * 15 + [1] * 5
    assert a.shape == b.shape == (1, 2, 20)
    assert a[0][:, y == 1].mean() > a[0][:, y == 0].mean() + 1   # μ = √2 Φ⁻¹(0.99) ≈ 3.3
    y2, a2, _ = stats.simulate_scores(n_slides=20, n_repeats=2, prevalence=0.25, seed=4,
                                      base_auc=0.99)
    _, a3, _ = stats.simulate_scores(n_slides=20, n_repeats=2, prevalence=0.25, seed=5,
                                     base_auc=0.99)
    assert np.array_equal(a, a2) and not np.allclose(a, a3)


def test_min_detectable_difference_uses_the_running_maximum_of_power():
    # power 0.1, 0.6, 0.5, 0.9: the running max is 0.1, 0.6, 0.6, 0.9 → 0.8 is reached between
    # 0.04 (0.6) and 0.06 (0.9): 0.04 + (0.8 − 0.6)/(0.9 − 0.6)·0.02 = 0.05333…
    curve = pd.DataFrame({"n_repeats": [3] * 4, "delta_auc": [0.06, 0.0, 0.02, 0.04],
                          "power": [0.9, 0.1, 0.6, 0.5]})
    assert stats.min_detectable_difference(curve)[3] == pytest.approx(0.04 + 0.2 / 0.3 * 0.02)


# --------------------------------------------------------------------------------------------
# the experiment runner's tables
# --------------------------------------------------------------------------------------------
def test_paired_stats_drop_a_pair_with_nan_on_either_side():
    r = ex.paired_stats([0.5, 0.6, 0.7, np.nan], [0.6, np.nan, 0.9, 0.8])
    assert r["n"] == 2 and r["diff"] == pytest.approx(0.15)
    assert r["ci95"] == pytest.approx([0.1, 0.2])


def _runs(values):
    """ExperimentResult from {method: [(seed, fold, seconds), ...]}."""
    rows = [{"method": m, "seed": s, "fold": k, **{x: np.nan for x in ex.METRICS},
             "seconds": v, "best_epoch": 10 + k, "key": "k"}
            for m, vals in values.items() for s, k, v in vals]
    return ex.ExperimentResult(pd.DataFrame(rows), Path("."), list(values))


def test_run_differences_drop_runs_missing_a_value_and_summary_std_is_sample_std():
    res = _runs({"A": [(0, 0, 1.0), (0, 1, 2.0), (0, 2, 4.0)],
                 "B": [(0, 0, 1.5), (0, 1, np.nan), (0, 2, 3.0)]})
    d = ex.run_differences(res, "A", "B", "seconds")
    assert d.index.tolist() == [(0, 0), (0, 2)] and d.tolist() == pytest.approx([0.5, -1.0])
    s = res.summary()["A"]["seconds"]
    assert s["mean"] == pytest.approx(7 / 3) and s["n"] == 3
    assert s["std"] == pytest.approx(statistics.stdev([1.0, 2.0, 4.0]))
    assert res.summary()["B"]["seconds"]["n"] == 2


def test_compare_applies_holm_within_each_metric_not_across_metrics():
    res = _runs({"A": [(0, k, 1.0 + k) for k in range(5)],
                 "B": [(0, k, 1.5 + k + 0.1 * k) for k in range(5)],
                 "C": [(0, k, 1.0 + k - 0.2 * (k % 2)) for k in range(5)]})
    res.meta["test_train_ratio"] = 0.25
    t = res.compare("A", ["seconds", "best_epoch"])
    for k, g in t.groupby("metric"):
        p = g.p.to_numpy()
        if np.isnan(p).all():
            continue
        assert g.p_holm.to_numpy() == pytest.approx(stats.holm(p), nan_ok=True)
    sec = t[t.metric == "seconds"].set_index("method")
    lo, hi = sorted(sec.p)               # a family of two: 2·p₍₁₎, then max(that, p₍₂₎)
    assert sorted(sec.p_holm) == pytest.approx([min(1, 2 * lo), max(min(1, 2 * lo), hi)])
    assert t.clear.tolist() == [bool(p < 0.05) for p in t.p_holm]


def test_r10_compare_keeps_the_requested_metric_and_method_order():
    """Catches compare sorting its rows by metric name (or method name) instead of keeping the
    order asked for; and pins diff = method − reference by hand: B − A = 0.5 + 0.1·k, mean 0.7
    over k = 0 … 4; C − A = −0.2 on odd folds, mean −0.08."""
    res = _runs({"A": [(0, k, 1.0 + k) for k in range(5)],
                 "B": [(0, k, 1.5 + k + 0.1 * k) for k in range(5)],
                 "C": [(0, k, 1.0 + k - 0.2 * (k % 2)) for k in range(5)]})
    res.meta["test_train_ratio"] = 0.25
    t = res.compare("A", ["seconds", "best_epoch"])
    assert list(zip(t.metric, t.method)) == [("seconds", "B"), ("seconds", "C"),
                                             ("best_epoch", "B"), ("best_epoch", "C")]
    assert t.metric.tolist() == ["seconds", "seconds", "best_epoch", "best_epoch"]
    t = res.compare("A", ["best_epoch", "seconds"])
    assert t.metric.tolist() == ["best_epoch", "best_epoch", "seconds", "seconds"]
    t = res.compare("A", ["seconds"], methods=["C", "B", "A"])   # the reference is left out
    assert t.method.tolist() == ["C", "B"]
    assert t["diff"].tolist() == pytest.approx([-0.08, 0.7])
    assert t.loc[1, "lo"] > 0 and t.loc[0, "lo"] < 0 < t.loc[0, "hi"]


def _oof(top5, labels, seeds=(0,)):
    """Methods A, B with out-of-fold records; B's top-5 mass = A's + top5 per slide."""
    rows, slides = [], []
    for m in ("A", "B"):
        for s in seeds:
            rows.append({"method": m, "seed": s, "fold": 0, **{x: np.nan for x in ex.METRICS},
                         "key": "k"})
            for i, (t, y) in enumerate(zip(top5, labels)):
                slides.append({"method": m, "seed": s, "fold": 0, "slide_id": f"s{i}",
                               "case_id": f"s{i}", "label": y, "score": 0.1 + 0.1 * i,
                               "loc_auc": np.nan, "entropy": 0.5,
                               "top5_mass": 0.2 + (t if m == "B" else 0.0)})
    return ex.ExperimentResult(pd.DataFrame(rows), Path("."), ["A", "B"], 0, {"n_slides": 4},
                               pd.DataFrame(slides))


def test_top5_mass_is_compared_and_summarised_over_positive_slides_only():
    # B − A per slide: negatives +0.5, positives +0.1 and +0.3 → over positives 0.2
    res = _oof([0.5, 0.1, 0.5, 0.3], [0, 1, 0, 1])
    r = res.paired("A", "B", ["top5_mass"], n_boot=200)["top5_mass"]
    assert r["diff"] == pytest.approx(0.2) and r["n_slides"] == 2
    summ = res.summary()["B"]["oof_top5_mass"]
    assert summ["mean"] == pytest.approx(0.2 + 0.2)            # mean of 0.3 and 0.5
    assert res.summary()["A"]["oof_top5_mass"]["mean"] == pytest.approx(0.2)


def test_a_runs_top5_mass_is_the_mean_over_its_positive_slides():
    p = SimpleNamespace(metrics=lambda: {"auc": 0.7, "balanced_accuracy": 0.6, "macro_f1": 0.5})
    slides = [{"label": 0, "loc_auc": np.nan, "top5_mass": 0.9, "entropy": 0.2},
              {"label": 1, "loc_auc": 0.8, "top5_mass": 0.3, "entropy": 0.4},
              {"label": 1, "loc_auc": np.nan, "top5_mass": 0.5, "entropy": 0.9}]
    m = ex._run_metrics(p, slides)
    assert m == pytest.approx({"auc": 0.7, "balanced_accuracy": 0.6, "f1": 0.5, "loc_auc": 0.8,
                               "top5_mass": 0.4, "entropy": 0.5})


# --------------------------------------------------------------------------------------------
# comparison helpers
# --------------------------------------------------------------------------------------------
def test_interval_words_follow_the_one_rule():
    assert cmp._interval_words({"diff": 0.01, "ci95": [-0.01, 0.03]}) == (
        "+0.010 [-0.010, +0.030] (no evidence either way)", 0)
    assert cmp._interval_words({"diff": 0.02, "ci95": [0.0, 0.04]})[1] == 0
    assert cmp._interval_words({"diff": 0.02, "ci95": [0.01, 0.03]}) == (
        "+0.020 [+0.010, +0.030] (clearly higher)", 1)
    assert cmp._interval_words({"diff": -0.02, "ci95": [-0.03, -0.01]})[1] == -1


def test_which_method_when_orders_favoured_methods_by_their_smallest_difference():
    def draw(dx, dy):
        return pd.DataFrame({"metric": ["auc", "auc"], "method": ["X", "Y"], "diff": [dx, dy],
                             "lo": [dx - 0.005, dy - 0.005], "hi": [dx + 0.01, dy + 0.01],
                             "clear": [True, True]})

    ev = [{"situation": "s", "evidence": "e",
           "tables": {"seed 0": draw(0.10, 0.05), "seed 1": draw(0.02, 0.04)}}]
    out = cmp.which_method_when(ev, "ref")
    assert out.favoured.tolist() == ["Y, X"] and out.avoid.tolist() == [""]


def test_share_summary_reads_only_the_slides_of_the_asked_label():
    rows = []
    for fold, (pos, neg) in enumerate(((0.6, 0.0), (0.8, 0.1))):
        for label, tumour in ((1, pos), (0, neg)):
            r = {"method": "m", "seed": 0, "fold": fold, "label": label, "n_slides": 3}
            r.update({k: 0.0 for k in KIND_GROUPS})
            r.update({f"patch_{k}": 0.0 for k in KIND_GROUPS})
            r["tumour"], r["patch_tumour"] = tumour, tumour / 10
            rows.append(r)
    out = cmp.share_summary(pd.DataFrame(rows)).set_index("kind")
    assert out.loc["tumour", "share"] == pytest.approx(0.7)
    assert out.loc["tumour", "patch_share"] == pytest.approx(0.07)
    assert out.loc["tumour", "n_runs"] == 2
    assert out.loc["tumour", ["lo", "hi"]].tolist() == pytest.approx([0.6, 0.8])
    neg = cmp.share_summary(pd.DataFrame(rows), label=0).set_index("kind")
    assert neg.loc["tumour", "share"] == pytest.approx(0.05)


# --------------------------------------------------------------------------------------------
# a cached run's split
# --------------------------------------------------------------------------------------------
def test_run_split_refuses_a_fold_outside_the_repeat():
    from milhelpers.cached_runs import run_split

    ds = SimpleNamespace(labels=np.array([0, 1] * 10))
    tr, va, te = run_split(ds, seed=1, fold=4, folds=5)
    assert len(te) == 4 and len(tr) + len(va) == 16
    assert set(tr).isdisjoint(te) and set(va).isdisjoint(te) and set(tr).isdisjoint(va)
    for bad in (5, -1):
        with pytest.raises(ValueError, match="folds 0 … 4"):
            run_split(ds, seed=1, fold=bad, folds=5)


@pytest.mark.parametrize("val_fraction,n_val", [(0.5, 10), (0.25, 5), (0.2, 4)])
def test_r10_run_split_passes_val_fraction_folds_and_seed_on(val_fraction: float, n_val: int):
    """Catches run_split ignoring val_fraction (always the default 0.2), folds (always 5) or seed:
    40 bags in 2 folds leave 20 to train on, of which val_fraction · 20 validate."""
    from milhelpers.cached_runs import run_split

    ds = SimpleNamespace(labels=np.array([0, 1] * 20))
    tr, va, te = run_split(ds, 0, 0, folds=2, val_fraction=val_fraction)
    assert (len(tr), len(va), len(te)) == (20 - n_val, n_val, 20)
    assert len(run_split(ds, 0, 0)[2]) == 8                  # folds=None: 5 folds of 8
    # another repeat draws another partition (the seed reaches the folds)
    assert set(run_split(ds, 1, 0, folds=2)[2]) != set(te)


def test_r10_run_split_keeps_each_case_on_one_side_of_the_validation_split():
    """Catches run_split not passing the dataset's case ids on: 20 cases of two same-label bags;
    the grouped draw keeps each case whole (an ungrouped draw of this seed splits c4 and c7)."""
    from milhelpers.cached_runs import run_split

    cases = np.array([f"c{i // 2}" for i in range(40)])
    labels = np.array([(i // 2) % 2 for i in range(40)])
    tr, va, te = run_split(SimpleNamespace(labels=labels, case_ids=cases), 0, 0, folds=2,
                           val_fraction=0.5)
    assert len(tr) + len(va) == 20 and len(va) > 0
    assert not set(cases[tr]) & set(cases[va]) and not set(cases[tr]) & set(cases[te])


# --------------------------------------------------------------------------------------------
# input checks at their edges
# --------------------------------------------------------------------------------------------
def test_inputs_are_refused_exactly_at_their_edges():
    y, a, b = [0, 1, 0, 1], [0.1, 0.8, 0.3, 0.6], [0.2, 0.7, 0.1, 0.9]
    with pytest.raises(ValueError, match="at least 200"):
        stats.paired_slide_comparison(y, a, b, n_boot=199)
    assert stats.paired_slide_comparison(y, a, b, n_boot=200)["diff"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        stats.paired_slide_comparison(y, a, [0.2, np.inf, 0.1, 0.9], n_boot=200)
    with pytest.raises(ValueError, match="one integer label"):
        stats.paired_slide_comparison([0.0, 1.0, 0.0, 1.0], a, b, n_boot=200)
    with pytest.raises(ValueError, match="several classes"):
        stats.paired_slide_comparison([0, 1, 2, 1], a, b, n_boot=200)
    for conf in (1.0, 0.0):
        with pytest.raises(ValueError, match="between 0 and 1"):
            stats.slide_metric_interval(y, a, n_boot=200, confidence=conf)


def test_per_slide_means_count_a_slide_defined_in_one_repeat_only():
    # slide 0: both repeats, d = (0.2 + 0.4)/2 = 0.3; slide 1: repeat 1 only, d = 0.1 → 0.2
    a = [[0.1, np.nan], [0.2, 0.3]]
    b = [[0.3, 0.5], [0.6, 0.4]]
    out = stats.paired_slide_means(a, b, y=[0, 1], n_boot=200)
    assert out["n_slides"] == 2 and out["n_repeats"] == 2
    assert out["diff"] == pytest.approx(0.2)


def test_describe_calls_a_higher_localisation_auc_better():
    text = stats.describe(_stat(0.01, 0.1, p=0.01), "abmil", "acmil", "loc_auc")
    assert text.startswith("loc_auc: acmil is better than abmil (")
    text = stats.describe(_stat(0.01, 0.1, p=0.01), "abmil", "acmil", "top5_mass")
    assert text.startswith("top5_mass: acmil has higher top5_mass than abmil (")


def test_compare_settings_keeps_only_rows_every_setting_has():
    t1 = pd.DataFrame({"metric": ["auc", "auc"], "method": ["m", "n"], "diff": [0.1, 0.2],
                       "lo": [0.05, 0.1], "hi": [0.15, 0.3], "clear": [True, True]})
    t2 = t1.iloc[[1]]
    out = stats.compare_settings({"one": t1, "two": t2})
    assert out.method.tolist() == ["n"] and out.agree.tolist() == [True]


def test_a_class_with_constant_scores_is_left_out_of_the_correlation():
    y = [0, 0, 0, 1, 1, 1]
    x1 = [1, 2, 3, 1, 2, 3]
    x2 = [1, 2, 3, 5, 5, 5]              # class 1 of x2 constant: no correlation there
    assert stats.within_class_correlation(y, x1, x2) == pytest.approx(1.0)


def test_simulation_accepts_auc_one_half_and_refuses_a_cohort_of_one_class():
    y, a, b = stats.simulate_scores(n_slides=10, n_repeats=1, base_auc=0.5, seed=0)
    assert y.sum() == 5 and np.isfinite(a).all()
    for prevalence in (1.0, 0.0):
        with pytest.raises(ValueError, match="no slides of one class"):
            stats.simulate_scores(n_slides=10, prevalence=prevalence)


def test_power_is_the_share_of_cohorts_called_clear_each_with_its_own_resamples():
    kw = dict(n_slides=20, n_repeats=2, n_cohorts=3, seed=1)
    res = stats.power(0.1, n_boot=200, **kw)
    y, a, b = stats.simulate_scores(delta_auc=0.1, **kw)
    # cohort i is resampled with seed + 7919·(i + 1)
    per = [stats.paired_slide_comparison(y, a[i], b[i], n_boot=200, seed=1 + 7919 * (i + 1))
           for i in range(3)]
    assert res["n_cohorts"] == 3
    assert res["clear"] == pytest.approx(np.mean([stats.is_clear(s) for s in per]))
    assert res["ci_width"] == pytest.approx(np.mean([s["ci95"][1] - s["ci95"][0] for s in per]))
    assert res["mean_diff"] == pytest.approx(np.mean([s["diff"] for s in per]))
    diffs = sorted(s["diff"] for s in per)
    assert diffs[1] != pytest.approx(np.mean(diffs))        # a mean, not a median


# --------------------------------------------------------------------------------------------
# the runner's results at their edges
# --------------------------------------------------------------------------------------------
def test_correlation_of_two_pairs_is_undefined():
    r = ex.correlation_ci([1.0, 2.0], [3.0, 5.0], n_resamples=100)
    assert r["n"] == 2 and math.isnan(r["rho"]) and math.isnan(r["ci95"][0])
    assert ex.correlation_ci([1.0, 2.0, 3.0], [3.0, 5.0, 4.0], n_resamples=100)["rho"] == (
        pytest.approx(0.5))


def test_bootstrap_ci_of_one_defined_value_is_undefined():
    assert all(math.isnan(v) for v in ex.bootstrap_ci([0.3, np.nan]))
    assert ex.bootstrap_ci([0.3, 0.3, np.nan]) == (0.3, 0.3)


def test_run_level_comparison_counts_the_repeats_both_methods_ran():
    res = _runs({"A": [(s, k, 1.0 + k) for s in (0, 1) for k in range(3)],
                 "B": [(0, k, 1.5 + k + 0.1 * k) for k in range(3)]})
    r = res.paired("A", "B", ["seconds"])["seconds"]
    assert r["n_repeats"] == 1 and r["n_runs"] == 3 and r["unit"] == "runs"
    assert r["diff"] == pytest.approx(0.6)


def test_compare_faces_only_the_asked_methods():
    res = _runs({"A": [(0, k, 1.0 + k) for k in range(3)],
                 "B": [(0, k, 2.0 + k) for k in range(3)],
                 "C": [(0, k, 0.5 + k * 1.1) for k in range(3)]})
    t = res.compare("A", ["seconds"], methods=["C"])
    assert t.method.tolist() == ["C"] and t.p_holm.tolist() == pytest.approx(t.p.tolist())
    assert t["diff"].tolist() == pytest.approx([-0.4])       # C − A per fold: −0.5 + 0.1·k


def test_from_json_keeps_the_files_method_order():
    runs = [{"method": m, "seed": 0, "fold": 0, "auc": 0.7} for m in ("B", "A")]
    res = ex.ExperimentResult.from_json({"runs": runs, "summary": {"B": {}, "A": {}}})
    assert res.methods == ["B", "A"]
    assert ex.ExperimentResult.from_json({"runs": runs}).methods == ["B", "A"]


def test_summary_skips_a_repeat_whose_records_hold_one_class():
    rows, slides = [], []
    for s, labels in ((0, [0, 1, 0, 1]), (1, [0, 0, 0, 0])):
        rows.append({"method": "A", "seed": s, "fold": 0, **{x: np.nan for x in ex.METRICS},
                     "key": "k"})
        for i, y in enumerate(labels):
            slides.append({"method": "A", "seed": s, "fold": 0, "slide_id": f"s{s}{i}",
                           "case_id": f"s{s}{i}", "label": y, "score": [0.1, 0.8, 0.9, 0.6][i],
                           "loc_auc": np.nan, "entropy": 0.5, "top5_mass": 0.3})
    res = ex.ExperimentResult(pd.DataFrame(rows), Path("."), ["A"], 0, {}, pd.DataFrame(slides))
    auc = res.summary()["A"]["oof_auc"]
    # seed 0: positives 0.8, 0.6 against negatives 0.1, 0.9 → (1 + 0 + 1 + 0)/4 = 0.5
    assert auc["n"] == 1 and auc["mean"] == pytest.approx(0.5)


# --------------------------------------------------------------------------------------------
# comparison sentences and tables at their edges
# --------------------------------------------------------------------------------------------
def test_format_table_writes_seconds_to_a_tenth_and_memory_to_a_megabyte():
    t = pd.DataFrame({"auc": [0.81234], "auc_sd": [0.01], "seconds": [12.345],
                      "seconds_sd": [1.0], "peak_mb": [1234.6], "peak_mb_sd": [3.0],
                      "loc_auc": [np.nan], "loc_auc_sd": [np.nan]}, index=["m"])
    out = cmp.format_table(t, ["auc", "seconds", "peak_mb", "loc_auc"])
    assert out.loc["m"].tolist() == ["0.812 ± 0.010", "12.3", "1235", "—"]
    assert out.columns.tolist() == ["slide AUC", "s / run", "peak MB / run", "loc. AUC"]


def test_replication_same_sign_needs_one_nonzero_sign():
    def draw(d):
        return pd.DataFrame({"metric": ["auc"], "method": ["m"], "diff": [d], "lo": [d - 0.1],
                             "hi": [d + 0.1], "clear": [False]})

    assert not cmp.replication({"x": draw(0.0), "y": draw(0.0)}).same_sign["m"]
    assert cmp.replication({"x": draw(0.02), "y": draw(0.03)}).same_sign["m"]
    assert not cmp.replication({"x": draw(0.02), "y": draw(-0.03)}).same_sign["m"]


def test_draw_verdict_with_opposite_and_unclear_draws():
    assert cmp.draw_verdict({"a": 1, "b": -1, "c": 0}) == "clear in opposite directions"
    assert cmp.draw_verdict({"a": 0, "b": -1}) == "clearly worse on b only"
    assert cmp.draw_verdict({"a": 1, "b": 1}) == "clearly better on every draw"


def test_packing_verdict_without_scale_favours_packing_when_accuracy_is_not_clearly_lower():
    def packing(device, lo, hi, ratio=0.8):
        return {"device": device, "cohort": {"table": {"packed": {
            "time_vs_batch1": ratio, "auc_minus_batch1": {"diff": (lo + hi) / 2, "ci95": [lo, hi]}}}}}

    text = cmp.packing_verdict(packing("cuda", -0.02, 0.04))
    assert text.startswith("packmil, for time (cuda): on the course cohort PackMIL's epoch took "
                           "0.80× batch 1's, slide AUC +0.010 [-0.020, +0.040] (no evidence")
    assert not text.endswith("no GPU was measured")
    assert cmp.packing_verdict(packing("cpu", -0.02, 0.04)).endswith("; no GPU was measured")
    assert cmp.packing_verdict(packing("cuda", -0.05, -0.01)).startswith(
        "abmil_gated (PackMIL's time is bought with accuracy)")
    assert cmp.packing_verdict(packing("cuda", -0.02, 0.04, ratio=1.2)).startswith(
        "abmil_gated (packing saves no time here)")


# --------------------------------------------------------------------------------------------
# the runner's arguments and fixed folds
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"seeds": [0, 0]}, "seeds must be distinct"),
    ({"seeds": [1, -1]}, "seeds must be distinct"),
    ({"seeds": []}, "seeds must be distinct"),
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"workers": True}, "workers must be an integer"),
    ({"workers": 0}, "workers must be an integer"),
    ({"workers": 1.5}, "workers must be an integer"),
    ({"workers": 2, "scheduler": "local:2"}, "give one of"),
])
def test_run_experiments_refuses_bad_arguments_before_touching_the_data(tmp_path, kwargs, message):
    # the dataset is never read: a bad argument fails before any fold is drawn
    with pytest.raises(ValueError, match=message):
        ex.run_experiments(None, ["abmil_gated"], cache_dir=tmp_path, progress=False, **kwargs)
    assert not any(tmp_path.iterdir())


def test_a_fold_column_gives_its_folds_for_any_repeat_and_checks_their_number():
    ds = SimpleNamespace(table=pd.DataFrame({"fold": [0, 1, 0, 1, 2, 2]}))
    for seed in (0, 3):
        parts = ex.experiment_folds(ds, seed=seed)
        assert [te.tolist() for _, te in parts] == [[0, 2], [1, 3], [4, 5]]
        assert [tr.tolist() for tr, _ in parts] == [[1, 3, 4, 5], [0, 2, 4, 5], [0, 1, 2, 3]]
    assert len(ex.experiment_folds(ds, 3)) == 3
    with pytest.raises(ValueError, match="defines 3 folds"):
        ex.experiment_folds(ds, 2)
    ds = SimpleNamespace(table=pd.DataFrame({"fold": [0, 1, np.nan, 1]}))
    with pytest.raises(ValueError, match="empty cells"):
        ex.experiment_folds(ds)


# --------------------------------------------------------------------------------------------
# subgroups and score matrices
# --------------------------------------------------------------------------------------------
def test_a_subgroup_keeps_its_positives_and_every_negative():
    res = _oof([0.5, 0.1, 0.5, 0.3], [0, 1, 0, 1])
    sub = cmp.subgroup_result(res, ["s3"])
    oof = sub.out_of_fold("A")
    assert oof.slide_id.tolist() == ["s0", "s2", "s3"] and oof.label.tolist() == [0, 0, 1]
    assert sub.methods == ["A", "B"] and len(sub.runs) == len(res.runs)
    with pytest.raises(ValueError, match="none of the given positive slides"):
        cmp.subgroup_result(res, ["s0", "nowhere"])


def test_score_matrices_use_only_the_repeats_every_method_ran():
    res = _oof([0.5, 0.1, 0.5, 0.3], [0, 1, 0, 1], seeds=(0, 1))
    keep = ~((res.slides.method == "B") & (res.slides.seed == 1))
    res.slides = res.slides[keep].reset_index(drop=True)
    y, cases, ids, mats = cmp.score_matrices(res)
    assert ids == ["s0", "s1", "s2", "s3"] and y.tolist() == [0, 1, 0, 1]
    assert cases.tolist() == ids
    assert mats["A"].shape == mats["B"].shape == (1, 4)
    assert mats["A"][0] == pytest.approx([0.1, 0.2, 0.3, 0.4])


def test_slide_records_keep_every_class_probability_only_beyond_two_classes():
    """A binary run's slide record holds P(class 1) as ``score`` and nothing more (the paired
    comparisons then read one score per slide); with three classes it also keeps ``probs``, the
    three probabilities, which the multiclass AUC needs. Catches ``probs`` recorded for two
    classes, which would send binary runs down the multiclass path."""
    import torch
    from milhelpers.datasets import Bag, ListBagDataset
    from milhelpers.train import Predictions

    att = [np.array([[0.25, 0.75]])]
    ds = ListBagDataset([Bag(torch.zeros(2, 4), 1, "s")])
    two = Predictions(["s"], np.array([1]), np.array([[0.3, 0.7]]), att, att, np.zeros((1, 4)))
    (rec,) = ex._slide_records(two, ds)
    assert rec["score"] == pytest.approx(0.7) and "probs" not in rec
    three = Predictions(["s"], np.array([1]), np.array([[0.2, 0.5, 0.3]]), att, att,
                        np.zeros((1, 4)))
    (rec,) = ex._slide_records(three, ds)
    assert rec["score"] == pytest.approx(0.5) and rec["probs"] == pytest.approx([0.2, 0.5, 0.3])


def test_paired_slide_means_resamples_divide_by_the_drawn_slides():
    """Every slide's difference is 0.3, so every resample's mean is 0.3 and the interval is
    [0.3, 0.3] — whatever cases it draws. Cases hold 1–3 slides, so the number of slides drawn
    varies between resamples: dividing by the slides of the original sample instead of the drawn
    ones would spread the resamples around 0.3."""
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    groups = ["a", "a", "a", "b", "c", "c", "d", "e"]
    a = np.array([0.1, 0.4, 0.2, 0.5, 0.3, 0.0, 0.6, 0.2])
    r = stats.paired_slide_means(a, a + 0.3, y=y, groups=groups, n_boot=300, seed=1,
                                 return_resamples=True)
    assert r["diff"] == pytest.approx(0.3)
    np.testing.assert_allclose(r["resamples"], 0.3)
    assert r["ci95"] == pytest.approx([0.3, 0.3])


def test_paired_comparisons_use_only_the_seeds_both_methods_ran():
    """A ran seeds 0 and 1, B only seed 0: the pairs are seed 0's (one repeat), where B − A on
    the top-5 mass is 0.2 on the positives. Taking the seeds either method ran would ask for a
    seed-1 B that does not exist."""
    res = _oof([0.5, 0.1, 0.5, 0.3], [0, 1, 0, 1], seeds=(0, 1))
    keep = ~((res.slides.method == "B") & (res.slides.seed == 1))
    res = ex.ExperimentResult(res.runs[~((res.runs.method == "B") & (res.runs.seed == 1))],
                              Path("."), ["A", "B"], 0, {"n_slides": 4}, res.slides[keep])
    r = res.paired("A", "B", ["top5_mass"], n_boot=200)["top5_mass"]
    assert r["n_repeats"] == 1 and r["n_slides"] == 2 and r["diff"] == pytest.approx(0.2)


def test_settings_side_by_side_calls_clear_on_the_holm_adjusted_p():
    """Two methods against A in one setting: B's raw p 0.03 is not clear after Holm (p_holm
    0.06), C's is (0.004 → 0.008). The verdict column follows ``clear``, not the raw p."""
    table = pd.DataFrame({"method": ["B", "C"], "metric": ["auc", "auc"],
                          "diff": [0.05, 0.09], "lo": [0.01, 0.04], "hi": [0.09, 0.14],
                          "p": [0.03, 0.004], "p_holm": [0.06, 0.008], "clear": [False, True]})
    res = SimpleNamespace(methods=["A", "B", "C"], compare=lambda *a, **k: table)
    out = stats.settings_side_by_side({"s1": res}, "A", ["B", "C"], metrics=("auc",))
    assert out["s1: verdict"].tolist() == ["no evidence either way", "clear"]
    assert out["s1"].tolist() == ["+0.050 [+0.010, +0.090]", "+0.090 [+0.040, +0.140]"]


def test_cached_predictions_come_back_one_array_per_slide_of_its_own_length(tmp_path):
    # three slides of unequal lengths and two heads: the cache concatenates along the instance
    # axis and must cut at the running totals 4 and 5, not also at the end (a fourth, empty array)
    from milhelpers.train import Predictions
    rng = np.random.default_rng(0)
    lengths = [4, 1, 3]
    att = [rng.random((2, n)) for n in lengths]
    logits = [rng.normal(size=(2, n)) for n in lengths]
    scores = [rng.normal(size=(2, n)) for n in lengths]
    p = Predictions(["s_a", "s_b", "s_c"], np.array([1, 0, 1]), rng.random((3, 2)), att, logits,
                    rng.random((3, 5)), scores)
    ex._save_predictions(tmp_path / "run.npz", p)
    q = ex._load_predictions(tmp_path / "run.npz")
    assert q.slide_ids == ["s_a", "s_b", "s_c"]
    for got, want in ((q.attention, att), (q.attention_logits, logits), (q.scores, scores)):
        assert [g.shape for g in got] == [(2, 4), (2, 1), (2, 3)]
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(q.probs, p.probs)
    np.testing.assert_array_equal(q.embeddings, p.embeddings)


@pytest.mark.parametrize("n, prevalence, n_pos", [(100, 0.29, 29), (10, 0.25, 2), (10, 0.35, 4),
                                                  (7, 0.5, 4)])
def test_simulated_cohorts_round_the_number_of_positives(n, prevalence, n_pos):
    # round(), not int(): 0.29 · 100 is 28.999999999999996 in floating point; halves go to the
    # even neighbour (2.5 → 2, 3.5 → 4), where int() would give 28, 2, 3, 3
    y, a, _ = stats.simulate_scores(n_slides=n, n_repeats=1, prevalence=prevalence, seed=0)
    assert y.sum() == n_pos and len(y) == n and a.shape == (1, 1, n)


# --- round 7: the meta the runner writes, by hand on a tiny experiment (no training) -----------
def _fake_runs(monkeypatch):
    """_Runs.one_run without training: each (method, seed, fold) 'trains' (seed 0 also a first
    stage), with seconds A = 10 and B = 10 + a difference that depends on (seed, fold)."""
    def one_run(self, method, seed, k, force=False):
        self.trained.add((method.name, seed, k))
        if seed == 0:
            self.trained.add(("first_stage", seed, k))
        metrics = {m: float("nan") for m in ex.METRICS}
        metrics["seconds"] = 10.0 + (0.0 if method.name == "abmil_gated" else (seed + 1) * (k + 2) ** 2)
        return (metrics, []), f"key-{method.name}-{seed}-{k}", None

    monkeypatch.setattr(ex._Runs, "one_run", one_run)


@pytest.mark.parametrize("fold_column, ratio", [
    # fixed folds of 1, 1 and 2 of 4 slides: n_test/n_train = 1/3, 1/3, 2/2 → mean 5/9
    ([0, 1, 2, 2], 5 / 9),
    # 10 slides drawn into 5 stratified folds: 2 tested, 8 trained → 1/4 (never 8/2 = 4)
    (None, 0.25),
])
def test_runner_meta_by_hand_and_its_test_train_ratio_reaches_the_corrected_t(
        tmp_path, monkeypatch, fold_column, ratio):
    """meta['test_train_ratio'] is n_test / n_train of a run, averaged over the runs, and the
    Nadeau–Bengio comparison of seconds uses it. Catches the ratio inverted (≈ 4), the partitions
    called fixed/repeated the wrong way round, and first stages or trained runs miscounted."""
    import torch

    from milhelpers.datasets import Bag, ListBagDataset

    n = 4 if fold_column else 10
    ds = ListBagDataset([Bag(torch.full((2, 3), float(i)), i % 2, f"s{i}") for i in range(n)])
    if fold_column:
        ds.table = pd.DataFrame({"fold": fold_column})
    _fake_runs(monkeypatch)
    res = ex.run_experiments(ds, ["abmil_gated", "mean_pool"], seeds=[0, 1],
                             folds=None if fold_column else 5, epochs=1, val_fraction=0.25,
                             cache_dir=tmp_path, progress=False)
    k = 3 if fold_column else 5
    m = res.meta
    assert m["test_train_ratio"] == pytest.approx(ratio, abs=1e-12)
    assert (m["seeds"], m["folds"], m["epochs"], m["n_slides"], m["val_fraction"]) == \
        ([0, 1], k, 1, n, 0.25)
    assert m["partitions"] == ("fixed" if fold_column else "repeated")
    assert m["fold_source"].startswith("the labels' 'fold' column" if fold_column
                                       else "a partition per repeat")
    assert m["first_stages_trained"] == k                 # seed 0's first stage, once per fold
    assert res.n_trained == 2 * 2 * k                     # every listed run, no first stage
    assert m["data_fingerprint"] == ex.data_fingerprint(ds)
    # the ratio is what corrects the interval of a per-run comparison
    d = ex.run_differences(res, "abmil_gated", "mean_pool", "seconds").to_numpy()
    assert sorted(d.tolist()) == sorted((s + 1) * (f + 2) ** 2 for s in (0, 1) for f in range(k))
    want = stats.corrected_t_test(d, ratio)
    got = res.paired("abmil_gated", "mean_pool", ["seconds"])["seconds"]
    assert got["ci95"] == pytest.approx(want["ci95"]) and got["p"] == pytest.approx(want["p"])
    assert got["n_runs"] == 2 * k and got["n_repeats"] == 2


@pytest.mark.parametrize("kwargs, dask", [
    ({"workers": 1}, None),                                   # one worker: trained here, no Dask
    ({"workers": 2}, {"scheduler": "local:2", "cluster_file": None, "client": None}),
    ({"scheduler": "local:1"}, {"scheduler": "local:1", "cluster_file": None, "client": None}),
])
def test_one_worker_trains_in_process_and_two_start_a_local_cluster(tmp_path, monkeypatch,
                                                                    kwargs, dask):
    # catches `workers > 1` loosened to `>= 1` (every default call would start a Dask cluster)
    seen = {}
    monkeypatch.setattr(ex, "_run_all", lambda *a: seen.setdefault("dask", a[8]))
    ex.run_experiments(None, ["abmil_gated"], cache_dir=tmp_path, progress=False, **kwargs)
    assert seen["dask"] == dask


# --- audit 8 survivors
def test_side_by_side_holm_family_is_only_the_asked_methods():
    """Four methods ran; only B is asked for. B − A per fold (seconds): 1, 2, 1, 2, 1: mean 1.4,
    s² = 0.3, se = √(0.3·(1/5 + 0.25)) = 0.3674, t = 3.810 on 4 df: p = 0.0189, interval
    1.4 ± 2.7764·0.3674 = [0.380, 2.420]. Alone in its family (Holm over B only) p_holm = p
    < 0.05: clear. Holm over B, C, D (C, D: p = 1) would give 3·0.0189 = 0.057: not clear."""
    a = [1.0 + k for k in range(5)]
    res = _runs({"A": [(0, k, a[k]) for k in range(5)],
                 "B": [(0, k, a[k] + d) for k, d in enumerate([1, 2, 1, 2, 1])],
                 "C": [(0, k, a[k] + d) for k, d in enumerate([0.5, -0.5, 0.5, -0.5, 0])],
                 "D": [(0, k, a[k] + d) for k, d in enumerate([-0.5, 0.5, -0.5, 0.5, 0])]})
    res.meta["test_train_ratio"] = 0.25
    p = res.paired("A", "B", ["seconds"])["seconds"]["p"]
    assert p == pytest.approx(0.018935, abs=1e-6) and 3 * p > 0.05 > p
    t = stats.settings_side_by_side({"s": res}, "A", ["A", "B"], metrics=["seconds"])
    assert t["comparison (B − A)"].tolist() == ["B − A"]
    assert t.loc[0, "s"] == "+1.400 [+0.380, +2.420]"
    assert t.loc[0, "s: verdict"] == "clear"


# --- round 8: options, columns and ties
def test_r8_slide_metric_interval_threshold_reaches_value_and_interval_with_every_field():
    y = np.array([0, 0, 1, 1])
    s = np.array([0.2, 0.5, 0.45, 0.9])          # 0.5 sits exactly at the default threshold
    # t = 0.1: every slide called 1, so the accuracy is 2/4 on the data and on every stratified
    # resample (2 negatives and 2 positives drawn): the interval is [0.5, 0.5]
    out = stats.slide_metric_interval(y, s, metric="balanced_accuracy", n_boot=200,
                                      threshold=0.1, seed=4, confidence=0.9)
    assert out["value"] == pytest.approx(0.5) and out["ci"] == pytest.approx([0.5, 0.5])
    assert (out["confidence"], out["n_boot"], out["n_slides"], out["n_cases"]) == (0.9, 200, 4, 4)
    assert out["test"] == ("case bootstrap of the balanced_accuracy (200 resamples, stratified "
                           "by label)")
    # t = 0.5: 0.5 is class 0 (right), 0.45 wrong: (2/2 + 1/2) / 2
    at5 = stats.slide_metric_interval(y, s, metric="balanced_accuracy", n_boot=200)
    assert at5["value"] == pytest.approx(0.75) and at5["ci"][0] < at5["ci"][1]
    cases = stats.slide_metric_interval(y, s, groups=["p", "p", "q", "r"],
                                        metric="balanced_accuracy", n_boot=200)
    assert cases["n_cases"] == 3


# --- round 9: paired_stats' degenerate differences on both sides; run names that clash --------
@pytest.mark.parametrize("a, b, diff, p, n", [
    # one zero difference among five positive ones: zeros are dropped, exact p = 2 / 2⁵
    ([0, 0, 0, 0, 0, 0], [0, 1, 1, 1, 1, 1], 5 / 6, 2 / 32, 6),
    # a zero and mixed signs: d = 0, 1, -2, 3, 4, 5 → ranks 1..5 with W- = 2; the subsets of
    # {1..5} summing to <= 2 are {}, {1}, {2}: p = 2 · 3 / 32
    ([1, 1, 1, 1, 1, 1], [1, 2, -1, 4, 5, 6], 11 / 6, 6 / 32, 6),
    # all differences zero: no evidence either way, p = 1 and a zero-width interval
    ([0.5, 0.2, 0.9], [0.5, 0.2, 0.9], 0.0, 1.0, 3),
    # two pairs, both zero, once the NaN pair is dropped
    ([0.3, np.nan, 0.4], [0.3, 0.8, 0.4], 0.0, 1.0, 2),
])
def test_r9_paired_stats_some_or_all_differences_zero(a, b, diff, p, n):
    """Catches `all differences zero` made `any difference zero` (one tied pair then gives
    p = 1 whatever the others say), and the median difference reported for the mean."""
    r = ex.paired_stats(a, b, n_resamples=200)
    assert r["diff"] == pytest.approx(diff) and r["n"] == n
    assert r["p"] == pytest.approx(p)
    if diff == 0.0:
        assert r["ci95"] == [0.0, 0.0]


def test_r9_paired_stats_one_pair_or_none_gives_nan_interval_and_p():
    """Below two pairs there is no test: catches the cut moved to n < 1 or n < 3."""
    one = ex.paired_stats([0.5, np.nan], [0.75, 0.1])
    assert one["diff"] == 0.25 and one["n"] == 1
    assert np.isnan(one["p"]) and all(np.isnan(one["ci95"]))
    none = ex.paired_stats([np.nan], [0.1])
    assert np.isnan(none["diff"]) and none["n"] == 0
    two = ex.paired_stats([0.5, 0.5], [0.6, 0.7])
    assert two["n"] == 2 and two["p"] == pytest.approx(0.5)     # exact: 2 · 1/4


@pytest.mark.parametrize("methods", [
    ["abmil_gated", "abmil_gated"],
    ["mean_pool", "abmil_gated", "mean_pool"],
    [lambda fold: None, lambda fold: None],           # two factories are both named 'custom'
])
def test_r9_runner_refuses_two_methods_that_would_share_cached_runs(tmp_path, methods):
    """Two methods of one name would read and write the same cached runs. Catches the check
    made to allow one repeat, or to compare only neighbours; nothing is written first."""
    with pytest.raises(ValueError, match=r"method names must be distinct \(they name the cached "
                       r"runs\)"):
        ex.run_experiments(None, methods, cache_dir=tmp_path, progress=False)
    assert not any(tmp_path.iterdir())


def test_r9_correlation_ci_three_pairs_within_groups_and_a_sentence_at_zero():
    """Three pairs are enough (two are not); within groups the correlation is of the centred
    values: two groups each perfectly reversed, but the second higher in both, give ρ = -1
    within and 1 − 6·16/(6·35) = 0.543 pooled. An interval ending exactly at 0 holds 0. Catches
    the cut moved to n < 2, only one of x, y centred, and `lo <= 0 <= hi` made strict."""
    three = ex.correlation_ci([1, 2, 3], [1, 3, 2], n_resamples=200)
    assert three["rho"] == pytest.approx(0.5) and three["n"] == 3     # Σd² = 2: 1 − 12/24
    two = ex.correlation_ci([1, 2, np.nan], [2, 1, 5], n_resamples=200)
    assert math.isnan(two["rho"]) and two["n"] == 2 and all(map(math.isnan, two["ci95"]))
    x, y, g = [1, 2, 3, 11, 12, 13], [3, 2, 1, 13, 12, 11], list("aaabbb")
    pooled = ex.correlation_ci(x, y, n_resamples=200)
    assert pooled["rho"] == pytest.approx(1 - 6 * 16 / (6 * 35)) and not pooled["within_groups"]
    within = ex.correlation_ci(x, y, groups=g, n_resamples=200)
    assert within["rho"] == pytest.approx(-1.0) and within["within_groups"] and within["n"] == 6
    at_zero = {"rho": 0.3, "ci95": [0.0, 0.6], "p": 0.04, "n": 12}
    assert ex.describe_correlation(at_zero) == ("ρ = +0.30 [95% CI +0.00, +0.60], p = 0.040, "
                                                "12 runs: no clear link: the interval holds 0")
    below = {"rho": -0.3, "ci95": [-0.6, -0.01], "p": 0.04, "n": 12}
    assert ex.describe_correlation(below, "top-5 mass", "loc AUC").endswith(
        "12 runs: higher top-5 mass went with lower loc AUC")


# --------------------------------------------------------------------------------------------
# round 11: ExperimentResult's methods with each argument at a non-default value and NaN
# per-slide values on both sides of every NaN rule
# --------------------------------------------------------------------------------------------
# Method A, slides s0 … s3 with labels 1, 0, 1, 0, three repeats (listed seed 2, 1, 0 so an
# unsorted table would show). NaN: loc_auc of the negatives and of some positives, a top-5 mass
# of a negative and of a positive, an entropy of a positive.
_R11_Y = [1, 0, 1, 0]
_R11_A = {   # seed: (score, loc_auc, top5_mass, entropy) per slide
    2: ([0.9, 0.1, 0.8, 0.2], [np.nan] * 4, [0.1] * 4, [0.0] * 4),
    1: ([0.3, 0.5, 0.4, 0.6], [0.9, np.nan, np.nan, np.nan], [0.5, 0.1, np.nan, 0.7], [1.0] * 4),
    0: ([0.9, 0.1, 0.4, 0.6], [0.8, np.nan, 0.6, np.nan], [0.4, 0.9, 0.2, np.nan],
        [1.0, 2.0, np.nan, 3.0]),
}
# B − A per slide where defined: loc_auc +0.1 on s0 and +0.3 on s2, entropy +0.25, top-5 +0.05;
# B's scores are A's reversed within each repeat.
_R11_DLOC = [0.1, 0.0, 0.3, 0.0]


def _r11_result(b_seeds: tuple[int, ...] = (2, 1, 0)) -> ex.ExperimentResult:
    """A (all three repeats) and B (``b_seeds``) with out-of-fold records built from _R11_A."""
    rows, slides = [], []
    for m, seeds in (("A", (2, 1, 0)), ("B", b_seeds)):
        for s in seeds:
            score, loc, top5, ent = (np.asarray(v, np.float64) for v in _R11_A[s])
            if m == "B":
                score, loc = score[::-1], loc + np.asarray(_R11_DLOC)
                top5, ent = top5 + 0.05, ent + 0.25
            rows.append({"method": m, "seed": s, "fold": 0, **{x: np.nan for x in ex.METRICS},
                         "key": "k"})
            for i in range(4):
                slides.append({"method": m, "seed": s, "fold": 0, "slide_id": f"s{i}",
                               "case_id": f"c{i}", "label": _R11_Y[i], "score": score[i],
                               "loc_auc": loc[i], "entropy": ent[i], "top5_mass": top5[i]})
    return ex.ExperimentResult(pd.DataFrame(rows), Path("."), ["A", "B"], 0, {"n_slides": 4},
                               pd.DataFrame(slides))


def test_r11_slide_matrix_is_the_asked_quantity_of_the_asked_method_by_seed():
    """Catches slide_matrix ignoring ``quantity`` (always the scores) or ``method`` (the first
    method's rows), or leaving its rows in the records' seed order."""
    res = _r11_result()
    loc = res.slide_matrix("A", "loc_auc")
    assert loc.index.tolist() == [0, 1, 2] and loc.columns.tolist() == ["s0", "s1", "s2", "s3"]
    np.testing.assert_allclose(loc.to_numpy(), [[0.8, np.nan, 0.6, np.nan],
                                                [0.9, np.nan, np.nan, np.nan],
                                                [np.nan] * 4])
    np.testing.assert_allclose(res.slide_matrix("A").to_numpy(),          # default: the score
                               [_R11_A[0][0], _R11_A[1][0], _R11_A[2][0]])
    np.testing.assert_allclose(res.slide_matrix("B").loc[0].to_numpy(), [0.6, 0.4, 0.1, 0.9])
    np.testing.assert_allclose(res.slide_matrix("B", "entropy").loc[1].to_numpy(), [1.25] * 4)
    with pytest.raises(KeyError, match="no out-of-fold records of method 'C'"):
        res.slide_matrix("C")


def test_r11_oof_summary_drops_undefined_slides_and_repeats_but_counts_negatives():
    """Catches the per-repeat means keeping NaN slides (NaN mean), counting a repeat with no
    defined slide, taking top-5 mass over negatives too, dropping the negatives' entropy, or
    summarising another method's records. By hand from _R11_A:
    loc_auc: seed 0 (0.8 + 0.6)/2 = 0.7, seed 1 0.9, seed 2 none → mean 0.8, n 2;
    top5_mass (positives s0, s2): 0.3, 0.5 (s2 NaN dropped), 0.1 → mean 0.3;
    entropy (every slide): seed 0 (1 + 2 + 3)/3 = 2, seed 1 1, seed 2 0 → mean 1;
    auc: seed 0 3/4, seed 1 0, seed 2 1."""
    res = _r11_result()
    np.testing.assert_allclose(res._per_repeat("A", "loc_auc"), [0.7, 0.9])
    np.testing.assert_allclose(res._per_repeat("A", "top5_mass"), [0.3, 0.5, 0.1])
    np.testing.assert_allclose(res._per_repeat("A", "entropy"), [2.0, 1.0, 0.0])
    np.testing.assert_allclose(res._per_repeat("A", "auc"), [0.75, 0.0, 1.0])
    s = res.summary()
    assert s["A"]["oof_loc_auc"] == pytest.approx({"mean": 0.8, "std": math.sqrt(0.02), "n": 2})
    assert s["A"]["oof_top5_mass"] == pytest.approx({"mean": 0.3, "std": 0.2, "n": 3})
    assert s["A"]["oof_entropy"] == pytest.approx({"mean": 1.0, "std": 1.0, "n": 3})
    assert s["A"]["oof_auc"]["mean"] == pytest.approx(1.75 / 3)
    # B: loc_auc 0.7 + (0.1 + 0.3)/2 = 0.9 and 1.0; entropy + 0.25; scores reversed: auc 1/4, 1, 0
    assert s["B"]["oof_loc_auc"] == pytest.approx({"mean": 0.95, "std": math.sqrt(0.005),
                                                   "n": 2})
    assert s["B"]["oof_entropy"]["mean"] == pytest.approx(1.25)
    np.testing.assert_allclose(res._per_repeat("B", "auc"), [0.25, 1.0, 0.0])


def test_r11_summary_of_run_metrics_drops_nan_runs_per_metric():
    """Catches summary averaging a metric over NaN runs (NaN mean) or counting them in ``n``,
    and a method's row taken from another method's runs."""
    res = _runs({"A": [(0, 0, 2.0), (0, 1, np.nan), (1, 0, 4.0)], "B": [(0, 0, 7.0)]})
    res.runs.loc[res.runs.method == "A", "auc"] = [0.6, 0.9, np.nan]
    s = res.summary()
    assert s["A"]["seconds"] == pytest.approx({"mean": 3.0, "std": math.sqrt(2), "n": 2})
    assert s["A"]["auc"] == pytest.approx({"mean": 0.75, "std": math.sqrt(0.045), "n": 2})
    assert s["B"]["seconds"]["mean"] == 7.0 and math.isnan(s["B"]["seconds"]["std"])
    assert s["B"]["auc"]["n"] == 0 and math.isnan(s["B"]["auc"]["mean"])
    assert "oof_auc" not in s["A"]                       # no out-of-fold records, no oof_ keys


def test_r11_paired_slide_quantities_by_hand_each_from_its_own_column():
    """Catches paired reading one slide quantity for another (or the scores), keeping slides
    where either side is NaN, or pairing over seeds only one method ran. B − A: loc_auc per slide
    s0 +0.1, s2 +0.3 (s1, s3 undefined) → 0.2 over 2 slides; entropy +0.25 over all 4;
    top-5 mass +0.05 over the 2 positives; auc of B − A per repeat: 1/4 − 3/4, 1 − 0, 0 − 1."""
    res = _r11_result()
    r = res.paired("A", "B", ["loc_auc", "entropy", "top5_mass", "auc"], n_boot=200, seed=3)
    assert list(r) == ["loc_auc", "entropy", "top5_mass", "auc"]
    assert r["loc_auc"]["diff"] == pytest.approx(0.2) and r["loc_auc"]["n_slides"] == 2
    assert r["entropy"]["diff"] == pytest.approx(0.25) and r["entropy"]["n_slides"] == 4
    assert r["top5_mass"]["diff"] == pytest.approx(0.05) and r["top5_mass"]["n_slides"] == 2
    assert r["auc"]["diff"] == pytest.approx((-0.5 + 1.0 - 1.0) / 3)
    assert r["loc_auc"]["n_repeats"] == 3
    # B ran seed 0 only: seeds 1, 2 of A are left out (A's seed-0 auc 3/4, B's 1/4)
    r0 = _r11_result(b_seeds=(0,)).paired("A", "B", ["auc", "loc_auc"], n_boot=200)
    assert r0["auc"]["diff"] == pytest.approx(-0.5) and r0["auc"]["n_repeats"] == 1
    assert r0["loc_auc"]["diff"] == pytest.approx(0.2)


def test_r11_paired_bootstrap_follows_its_seed_and_number_of_resamples():
    """Catches paired ignoring ``seed`` or ``n_boot`` (the default resamples every time). The
    four slides give only a few distinct resamples, so the p-values (shares of resamples) are
    what moves: with 200 resamples the smallest loc_auc p is 1/200, with 2,000 it is 1/2000."""
    res = _r11_result()
    ks = ["auc", "loc_auc", "entropy"]
    one = res.paired("A", "B", ks, n_boot=2000, seed=1)
    assert one == res.paired("A", "B", ks, n_boot=2000, seed=1)           # reproducible
    assert one["auc"]["p"] != res.paired("A", "B", ["auc"], n_boot=2000, seed=0)["auc"]["p"]
    few = res.paired("A", "B", ["loc_auc"], n_boot=200, seed=1)["loc_auc"]
    assert few["p"] == pytest.approx(1 / 200) and one["loc_auc"]["p"] == pytest.approx(1 / 2000)
    # entropy differs by exactly +0.25 on every slide: every resample gives 0.25
    assert one["entropy"]["ci95"] == pytest.approx([0.25, 0.25])


def test_r11_values_and_out_of_fold_refuse_unknown_methods_with_their_message():
    """Catches values/out_of_fold returning an empty table for an unknown method (or another
    exception type), out_of_fold(None) returning one method only, and values unsorted."""
    res = _r11_result()
    with pytest.raises(KeyError, match=r"no runs of method 'C'; the experiment has \['A', 'B'\]"):
        res.values("C", "auc")
    with pytest.raises(KeyError, match="no out-of-fold records of method 'C'"):
        res.out_of_fold("C")
    assert len(res.out_of_fold()) == 24 and len(res.out_of_fold("B")) == 12
    assert res.out_of_fold("B").method.unique().tolist() == ["B"]
    assert res.values("A", "seconds").index.tolist() == [(0, 0), (1, 0), (2, 0)]
    bare = _runs({"A": [(0, 0, 1.0)]})
    with pytest.raises(KeyError, match="no out-of-fold records"):
        bare.out_of_fold()


# --------------------------------------------------------------------------------------------
# round 12: out-of-fold scores, correlations with groups and NaN
# --------------------------------------------------------------------------------------------
def test_r12_scores_of_uses_binary_scores_when_every_probs_entry_is_missing():
    rows = pd.DataFrame({"score": [0.2, 0.8], "probs": [None, None]})
    out = ex._scores_of(rows)
    assert out.dtype == np.float64 and out.tolist() == [0.2, 0.8]
    # probabilities where some row carries them: (n, C)
    rows = pd.DataFrame({"score": [0.2, 0.8], "probs": [[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]})
    assert ex._scores_of(rows).tolist() == [[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]
    # no probs column at all
    assert ex._scores_of(pd.DataFrame({"score": [0.3]})).tolist() == [0.3]


def test_r12_correlation_with_groups_drops_nan_pairs_before_centring():
    out = ex.correlation_ci([1, 2, 3, np.nan, 5, 6], [1, 2, 3, 4, 6, 5], groups=[0, 0, 0, 1, 1, 1],
                            n_resamples=200)
    # group 0: x = y = (1, 2, 3) centred (-1, 0, 1); group 1 without its NaN pair: x (5, 6) →
    # (-0.5, 0.5), y (6, 5) → (0.5, -0.5). Ranks of x: 1, 3, 5, 2, 4; of y: 1, 3, 5, 4, 2
    # → Σd² = 0 + 0 + 0 + 4 + 4 = 8, ρ = 1 − 6·8 / (5·24) = 0.6
    assert out["n"] == 5 and out["within_groups"] is True
    assert out["rho"] == pytest.approx(0.6)


def test_r12_json_text_writes_empty_containers_inline_and_refuses_nan_in_records():
    obj = {"a": [{"x": 1, "y": [1, 2]}, {"x": 2, "y": []}], "b": {}, "c": [],
           "d": [{"x": {"deep": 1}}]}
    assert ex.json_text(obj) == ('{\n'
                                 ' "a": [\n'
                                 '  {"x": 1, "y": [1, 2]},\n'
                                 '  {"x": 2, "y": []}\n'
                                 ' ],\n'
                                 ' "b": {},\n'
                                 ' "c": [],\n'
                                 ' "d": [{"x": {"deep": 1}}]\n'
                                 '}\n')
    # a list of lists of dicts is not flat either: written on one line
    assert ex.json_text({"e": [{"x": [{"y": 1}]}]}) == '{\n "e": [{"x": [{"y": 1}]}]\n}\n'
    with pytest.raises(ValueError):
        ex.json_text({"runs": [{"x": float("nan")}]})     # a record's NaN is refused as well


def test_r12_nan_to_none_converts_numpy_scalars_and_tuples():
    out = ex._nan_to_none({"a": [np.float32("nan"), np.int64(2), np.bool_(True), (1.5, np.nan)],
                           "b": np.float64(0.25)})
    assert out == {"a": [None, 2, True, [1.5, None]], "b": 0.25}
    assert type(out["a"][1]) is int and type(out["a"][2]) is bool and type(out["b"]) is float


def test_r12_json_default_writes_paths_arrays_and_numpy_scalars_as_plain_json():
    assert ex._json_default(Path("runs") / "x.h5") == "runs/x.h5"
    assert ex._json_default(np.array([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    one = ex._json_default(np.float32(0.5))
    assert one == 0.5 and type(one) is float
    assert ex._json_default(np.bool_(False)) is False

    def inner():
        pass
    assert ex._json_default(inner) == (
        f"{__name__}.test_r12_json_default_writes_paths_arrays_and_numpy_scalars_as_plain_json"
        ".<locals>.inner")


def test_r12_paired_stats_refuses_unequal_runs_and_all_zero_differences_have_p_one():
    with pytest.raises(ValueError, match="paired values need the same runs"):
        ex.paired_stats([0.1, 0.2], [0.1, 0.2, 0.3])
    out = ex.paired_stats([0.5, 0.6, np.nan], [0.5, 0.6, 0.9])
    assert out["n"] == 2 and out["diff"] == 0.0 and out["p"] == 1.0
    assert out["ci95"] == [0.0, 0.0]
    one = ex.paired_stats([0.5, np.nan], [0.7, 0.1])
    assert one["n"] == 1 and one["diff"] == pytest.approx(0.2) and math.isnan(one["p"])


def test_r12_correlation_needs_three_pairs_and_one_shape():
    # exactly three pairs is enough: ranks (1, 2, 3) and (1, 3, 2) → ρ = 1 − 6·2/(3·8) = 0.5
    out = ex.correlation_ci([1, 2, 3], [1, 3, 2], n_resamples=200)
    assert out["n"] == 3 and out["rho"] == pytest.approx(0.5) and out["within_groups"] is False
    two = ex.correlation_ci([1, 2, np.nan], [1, 3, 2])
    assert two["n"] == 2 and math.isnan(two["rho"]) and math.isnan(two["ci95"][0])
    flat = ex.correlation_ci([1, 2, 3, 4], [5, 5, 5, 5])
    assert flat["n"] == 4 and math.isnan(flat["rho"])
    with pytest.raises(ValueError, match="x and y must be 1-d and of one length"):
        ex.correlation_ci([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="x and y must be 1-d"):
        ex.correlation_ci([[1, 2], [3, 4]], [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="groups has shape"):
        ex.correlation_ci([1, 2, 3], [1, 3, 2], groups=[0, 1])


def test_r12_bootstrap_ci_of_constant_values_is_the_value_and_defaults_are_95_percent():
    assert ex.bootstrap_ci([0.3, 0.3, 0.3]) == (0.3, 0.3)
    assert all(math.isnan(v) for v in ex.bootstrap_ci([0.3, np.nan]))
    v = [0.1, 0.5, 0.2, 0.9, 0.4, 0.6, 0.3, 0.8]
    assert ex.bootstrap_ci(v) == ex.bootstrap_ci(v, 10_000, 0, 0.95)
    lo, hi = ex.bootstrap_ci(v, confidence=0.5)
    lo95, hi95 = ex.bootstrap_ci(v)
    assert lo95 < lo < hi < hi95


def _r12_result(slides, folds=(0, 1, 2, 3), meta=None):
    runs = pd.DataFrame([{"method": m, "seed": 0, "fold": f, **{x: np.nan for x in ex.METRICS},
                          "key": "k"} for m in ("A", "B") for f in folds])
    return ex.ExperimentResult(runs, Path("."), ["A", "B"], 0, dict(meta or {}),
                               None if slides is None else pd.DataFrame(slides))


def test_r12_test_train_ratio_from_meta_even_zero_else_from_the_folds():
    assert _r12_result(None, meta={"test_train_ratio": 0.0})._test_train_ratio() == 0.0
    assert _r12_result(None, meta={"test_train_ratio": 0.25})._test_train_ratio() == 0.25
    # 4 folds (8 runs of 2 methods): 1/3; one fold: 1
    assert _r12_result(None)._test_train_ratio() == pytest.approx(1 / 3)
    assert _r12_result(None, folds=(0,))._test_train_ratio() == 1.0


def test_r12_aligned_keeps_the_shared_seeds_and_the_slides_each_of_them_scored():
    def rec(m, seed, sid, score, label=0):
        return {"method": m, "seed": seed, "fold": 0, "slide_id": sid, "case_id": "c" + sid,
                "label": label, "score": score, "loc_auc": np.nan, "entropy": 0.5,
                "top5_mass": 0.3}
    slides = [rec("A", 0, "s1", 0.1), rec("A", 0, "s2", 0.2, 1), rec("A", 0, "s3", 0.3),
              rec("A", 1, "s1", 0.4), rec("A", 1, "s2", 0.5, 1), rec("A", 1, "s3", 0.6),
              rec("B", 1, "s1", 0.7), rec("B", 1, "s2", 0.8, 1),
              rec("B", 2, "s1", 0.9), rec("B", 2, "s2", 0.95, 1), rec("B", 2, "s3", 0.99)]
    res = _r12_result(slides)
    y, cases, seeds, mats = res._aligned("A", "B")
    # seeds both ran: 1; slides every shared repeat scored for both: s1, s2 (B missed s3)
    assert seeds == [1] and y.tolist() == [0, 1] and cases.tolist() == ["cs1", "cs2"]
    assert mats["A"]["score"].tolist() == [[0.4, 0.5]] and mats["B"]["score"].tolist() == [[0.7, 0.8]]
    assert mats["A"]["entropy"].shape == (1, 2)
    only_a = _r12_result([rec("A", 0, "s1", 0.1), rec("B", 1, "s1", 0.2)])
    with pytest.raises(KeyError, match="'A' and 'B' share no seed"):
        only_a._aligned("A", "B")


def test_r12_out_of_fold_says_what_is_missing():
    with pytest.raises(KeyError, match="has no out-of-fold records"):
        _r12_result(None).out_of_fold()
    res = _r12_result([{"method": "A", "seed": 0, "fold": 0, "slide_id": "s1", "case_id": "s1",
                        "label": 0, "score": 0.5, "loc_auc": np.nan, "entropy": 0.5,
                        "top5_mass": 0.3}])
    assert len(res.out_of_fold()) == 1 and len(res.out_of_fold("A")) == 1
    with pytest.raises(KeyError, match=r"no out-of-fold records of method 'B'; the experiment has "
                                       r"\['A', 'B'\]"):
        res.out_of_fold("B")


def test_r13_a_worker_keeps_at_most_two_unpickled_datasets_dropping_the_oldest():
    """Audit 13 survivor: the per-worker cache of unpickled datasets holds two; a third evicts the
    first sent, and a dataset already held is not unpickled again."""
    import pickle
    ex._UNPICKLED.clear()
    try:
        sent = {t: ex._Pickled(t, pickle.dumps({"name": t})) for t in "abc"}
        first = ex._unpickled(sent["a"])
        assert ex._unpickled(sent["a"]) is first
        ex._unpickled(sent["b"])
        assert sorted(ex._UNPICKLED) == ["a", "b"]
        assert ex._unpickled(sent["c"]) == {"name": "c"}
        assert sorted(ex._UNPICKLED) == ["b", "c"]
    finally:
        ex._UNPICKLED.clear()
