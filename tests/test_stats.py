"""milhelpers.stats: the paired slide bootstrap, DeLong, Nadeau–Bengio, Holm, the one rule, and the
rule's calibration and power on simulated cohorts (fixed seeds, tolerances, no timing)."""
import math

import numpy as np
import pytest
from scipy.stats import norm
from scipy.stats import t as student_t
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

from milhelpers import stats


def _cohort(n=40, r=3, seed=0, shift=0.5):
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)]
    a = rng.normal(size=(r, n)) + y
    b = 0.7 * a + 0.5 * rng.normal(size=(r, n)) + shift * y
    # ties inside and between methods: the AUC's ½ for ties must be exact
    a, b = np.round(a, 1), np.round(b, 1)
    return y, a, b


# --------------------------------------------------------------------------------------------
# the statistic
# --------------------------------------------------------------------------------------------
def test_auc_difference_is_the_mean_over_repeats_of_sklearn_aucs():
    y, a, b = _cohort()
    s = stats.paired_slide_comparison(y, a, b, n_boot=200)
    want = np.mean([roc_auc_score(y, b[r]) - roc_auc_score(y, a[r]) for r in range(3)])
    assert s["diff"] == pytest.approx(want, abs=1e-12)
    assert s["n_slides"] == 40 and s["n_repeats"] == 3 and s["unit"] == "slides"
    # one repeat given as (N,)
    one = stats.paired_slide_comparison(y, a[1], b[1], n_boot=200)
    assert one["diff"] == pytest.approx(roc_auc_score(y, b[1]) - roc_auc_score(y, a[1]))
    assert one["n_repeats"] == 1
    # direction: B − A
    back = stats.paired_slide_comparison(y, b, a, n_boot=200)
    assert back["diff"] == pytest.approx(-s["diff"])


@pytest.mark.parametrize("metric", ["auc", "balanced_accuracy", "f1", "accuracy"])
def test_resampling_weights_count_a_case_as_often_as_it_was_drawn(metric):
    """A resample with weights w must give the metric of the data with slide i written w_i
    times: checked against scikit-learn on the expanded data, for binary scores (with ties) and
    three-class probabilities."""
    rng = np.random.default_rng(3)
    y, a, _ = _cohort(n=30, r=2, seed=3)
    p = 1 / (1 + np.exp(-a))                                  # P(class 1), for the thresholds
    w = rng.integers(0, 4, size=(5, 30)).astype(float)
    w[:, 0] = w[:, -1] = 1                                    # both classes present
    got = stats._metric_values(w, y, p, metric, 0.5)
    for row, value in zip(w, got):
        rep = np.repeat(np.arange(30), row.astype(int))
        per = []
        for r in range(2):
            if metric == "auc":
                per.append(roc_auc_score(y[rep], p[r, rep]))
            elif metric == "balanced_accuracy":
                per.append(balanced_accuracy_score(y[rep], (p[r, rep] > 0.5).astype(int)))
            elif metric == "accuracy":
                per.append(accuracy_score(y[rep], (p[r, rep] > 0.5).astype(int)))
            else:
                per.append(f1_score(y[rep], (p[r, rep] > 0.5).astype(int), average="macro",
                                    zero_division=0))
        assert value == pytest.approx(np.mean(per), abs=1e-12)
    # three classes: macro one-vs-rest AUC / arg-max predictions, as scikit-learn
    y3 = np.arange(30) % 3
    logits = rng.normal(size=(2, 30, 3)) + 1.5 * np.eye(3)[y3]
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    got = stats._metric_values(w, y3, probs, metric, 0.5)
    for row, value in zip(w, got):
        rep = np.repeat(np.arange(30), row.astype(int))
        per = []
        for r in range(2):
            if metric == "auc":
                per.append(roc_auc_score(y3[rep], probs[r, rep], multi_class="ovr"))
            elif metric == "balanced_accuracy":
                per.append(balanced_accuracy_score(y3[rep], probs[r, rep].argmax(1)))
            elif metric == "accuracy":
                per.append(accuracy_score(y3[rep], probs[r, rep].argmax(1)))
            else:
                per.append(f1_score(y3[rep], probs[r, rep].argmax(1), average="macro",
                                    zero_division=0))
        assert value == pytest.approx(np.mean(per), abs=1e-12)


def test_accuracy_difference_by_hand_and_as_a_mean_of_per_slide_correctness():
    """Six bags, two repeats, worked by hand: A is right on 3 and 4 of 6 (0.5, 0.667), B on 5
    and 5 (0.833, 0.833): B − A = (0.333 + 0.167) / 2 = 0.25. Accuracy is the mean over bags of
    each bag's share of correct repeats, so its case bootstrap is the per-slide bootstrap of
    that share, resample for resample (the same seed draws the same cases)."""
    y = np.array([0, 0, 0, 1, 1, 1])
    a = np.array([[0.2, 0.7, 0.6, 0.9, 0.4, 0.8],     # right: 1, 4, 6       -> 3 of 6
                  [0.1, 0.3, 0.6, 0.9, 0.4, 0.8]])    # right: 1, 2, 4, 6    -> 4 of 6
    b = np.array([[0.2, 0.3, 0.4, 0.9, 0.6, 0.3],     # right: 1-5           -> 5 of 6
                  [0.2, 0.3, 0.6, 0.9, 0.6, 0.7]])    # right: 1, 2, 4, 5, 6 -> 5 of 6
    assert stats.slide_metric(y, a[0], "accuracy") == pytest.approx(0.5)
    s = stats.paired_slide_comparison(y, a, b, metric="accuracy", n_boot=400, seed=3)
    assert s["diff"] == pytest.approx(0.25, abs=1e-12)
    right_a, right_b = (((m > 0.5) == y).astype(float) for m in (a, b))
    by_slide = stats.paired_slide_means(right_a, right_b, y=y, n_boot=400, seed=3)
    assert s["ci95"] == pytest.approx(by_slide["ci95"]) and s["p"] == by_slide["p"]
    with pytest.raises(ValueError, match="'acc'.*'accuracy'"):
        stats.paired_slide_comparison(y, a, b, metric="acc", n_boot=400)


def test_cases_are_resampled_within_their_label_stratum_and_slides_of_a_case_move_together():
    y = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    groups = ["c0", "c0", "c1", "c2", "c3", "c3", "c4", "c4"]   # c4 has a negative and a positive
    case, strata = stats.case_strata(y, groups)
    assert case[0] == case[1] and case[4] == case[5] and case[6] == case[7]
    kinds = sorted(tuple(sorted(set(y[np.isin(case, s)]))) for s in strata)
    assert kinds == [(0,), (0, 1), (1,)]
    w = stats._case_weights(case, strata, 500, np.random.default_rng(0))
    assert np.array_equal(w[:, 0], w[:, 1]) and np.array_equal(w[:, 6], w[:, 7])
    for s in strata:                         # each stratum draws as many cases as it has
        first = [int(np.flatnonzero(case == c)[0]) for c in s]
        assert (w[:, first].sum(1) == len(s)).all()
    assert (w[:, y == 1].sum(1) > 0).all() and (w[:, y == 0].sum(1) > 0).all()
    assert len(np.unique(w[:, 0])) > 2       # it does resample
    # no groups: every slide is its own case
    case, strata = stats.case_strata(y)
    assert list(case) == list(range(8)) and sorted(map(len, strata)) == [4, 4]


def test_pairing_moves_both_methods_and_every_repeat_together():
    y, a, b = _cohort()
    # identical methods: every paired resample differs by exactly 0
    same = stats.paired_slide_comparison(y, a, a.copy(), n_boot=500)
    assert same["diff"] == 0 and same["ci95"] == [0.0, 0.0] and same["p"] == 1.0
    unpaired = stats.paired_slide_comparison(y, a, a.copy(), n_boot=500, paired=False)
    assert unpaired["ci95"][0] < -0.02 and unpaired["ci95"][1] > 0.02
    # repeat 0: A = s, B = t; repeat 1: A = t, B = s. For weights shared by the repeats the two
    # differences cancel in every resample; repeats resampled apart would not cancel
    s_, t_ = a[0], b[0]
    mirror = stats.paired_slide_comparison(y, np.stack([s_, t_]), np.stack([t_, s_]), n_boot=500,
                                           return_resamples=True)
    assert mirror["diff"] == pytest.approx(0) and np.abs(mirror["resamples"]).max() < 1e-12


def test_a_clear_interval_and_p_below_005_are_the_same_statement():
    # at the boundary: 2,000 resamples, k = 50; 49 at or below 0 is clear, 50 is not
    for n_below, clear in ((49, True), (50, False), (51, False)):
        d = np.r_[-np.linspace(0.01, 0.1, n_below), np.linspace(0.01, 0.2, 2000 - n_below)]
        ci, p = stats._interval_and_p(np.random.default_rng(0).permutation(d))
        assert p == pytest.approx(2 * n_below / 2000)
        assert (ci[0] > 0) is clear and (p < 0.05) is clear
    # mirrored: clear below 0
    d = np.r_[np.linspace(0.01, 0.1, 49), -np.linspace(0.01, 0.2, 1951)]
    ci, p = stats._interval_and_p(d)
    assert ci[1] < 0 and p < 0.05
    # zeros count on both sides; p never below 1/B
    ci, p = stats._interval_and_p(np.zeros(300))
    assert ci == [0.0, 0.0] and p == 1.0
    assert stats._interval_and_p(np.full(400, 0.3))[1] == pytest.approx(1 / 400)
    # and for the real comparisons, over cohorts from no effect to a large one
    seen = set()
    for i in range(60):
        y, a, b = _cohort(n=30, r=2, seed=100 + i, shift=0.02 * i)
        for metric in ("auc", "balanced_accuracy"):
            s = stats.paired_slide_comparison(y, a, b, metric=metric, n_boot=400, seed=i)
            assert stats.is_clear(s) == (s["p"] < 0.05), (i, metric, s)
            seen.add(stats.is_clear(s))
        m = stats.paired_slide_means(a, b, y=y, n_boot=400, seed=i)
        assert stats.is_clear(m) == (m["p"] < 0.05)
    assert seen == {True, False}              # both sides of the rule were exercised


def test_per_slide_means_use_the_repeats_where_both_are_defined():
    y = np.array([0, 0, 1, 1, 1])
    nan = np.nan
    a = np.array([[nan, nan, 0.5, 0.6, 0.2],
                  [nan, nan, 0.7, nan, 0.4]])
    b = np.array([[nan, nan, 0.9, 0.8, nan],
                  [nan, nan, 0.8, 0.9, 0.3]])
    # slide 2: mean(0.4, 0.1) = 0.25; slide 3: only repeat 0 has both, 0.2; slide 4: only
    # repeat 1, −0.1; the negatives are undefined and do not count
    s = stats.paired_slide_means(a, b, y=y, n_boot=500, return_resamples=True)
    assert s["diff"] == pytest.approx((0.25 + 0.2 - 0.1) / 3)
    assert s["n_slides"] == 3 and s["n_repeats"] == 2
    # every resample is a weighted mean of the three per-slide differences
    r = s["resamples"]
    assert r.min() >= -0.1 - 1e-12 and r.max() <= 0.25 + 1e-12 and len(np.unique(r)) > 3
    # no slide defined for both: NaN, not a number from nothing
    empty = stats.paired_slide_means(np.full((2, 5), nan), b, y=y, n_boot=200)
    assert math.isnan(empty["diff"]) and empty["n_slides"] == 0 and math.isnan(empty["p"])
    with pytest.raises(ValueError, match="repeats, N"):
        stats.paired_slide_means(a, b[:, :4], y=y)


def test_bad_input_is_refused_with_a_message():
    y, a, b = _cohort()
    with pytest.raises(ValueError, match="one shape"):
        stats.paired_slide_comparison(y, a, b[:2])
    with pytest.raises(ValueError, match="NaN"):
        bad = a.copy()
        bad[0, 3] = np.nan
        stats.paired_slide_comparison(y, bad, b)
    with pytest.raises(ValueError, match="both classes"):
        stats.paired_slide_comparison(np.zeros(40, int), a, b)
    with pytest.raises(ValueError, match="metric"):
        stats.paired_slide_comparison(y, a, b, metric="precision")
    with pytest.raises(ValueError, match="at least 200"):
        stats.paired_slide_comparison(y, a, b, n_boot=50)


# --------------------------------------------------------------------------------------------
# DeLong, Nadeau–Bengio, Holm
# --------------------------------------------------------------------------------------------
def test_delong_on_a_small_example_worked_by_hand():
    # positives A 0.9 0.6 0.3, B 0.8 0.4 0.7; negatives A 0.7 0.2, B 0.5 0.1
    y = [1, 1, 1, 0, 0]
    a = [0.9, 0.6, 0.3, 0.7, 0.2]
    b = [0.8, 0.4, 0.7, 0.5, 0.1]
    # placements: V10_A = (1, ½, ½), V10_B = (1, ½, 1); V01_A = (⅓, 1), V01_B = (⅔, 1)
    # AUC_A = 2/3, AUC_B = 5/6, Δ = 1/6
    # V10_B − V10_A = (0, 0, ½): variance 1/12; V01_B − V01_A = (⅓, 0): variance 1/18
    # Var Δ = (1/12)/3 + (1/18)/2 = 1/18, se = 1/√18, z = (1/6)·√18 = 1/√2
    s = stats.delong_test(y, a, b)
    assert s["auc_a"] == pytest.approx(2 / 3) and s["auc_b"] == pytest.approx(5 / 6)
    assert s["diff"] == pytest.approx(1 / 6)
    assert s["se"] == pytest.approx(1 / math.sqrt(18))
    assert s["z"] == pytest.approx(1 / math.sqrt(2))
    assert s["p"] == pytest.approx(2 * norm.sf(1 / math.sqrt(2)))      # 0.4795
    q = norm.ppf(0.975)
    assert s["ci95"] == pytest.approx([1 / 6 - q / math.sqrt(18), 1 / 6 + q / math.sqrt(18)])
    assert stats.delong_test(y, b, a)["diff"] == pytest.approx(-1 / 6)
    # agrees with the bootstrap on a larger cohort (one repeat): same sign, similar spread
    yy, aa, bb = _cohort(n=120, r=1, seed=5)
    d = stats.delong_test(yy, aa[0], bb[0])
    bs = stats.paired_slide_comparison(yy, aa, bb)
    assert d["diff"] == pytest.approx(bs["diff"])
    width = lambda s: s["ci95"][1] - s["ci95"][0]   # noqa: E731
    assert 0.75 < width(bs) / width(d) < 1.3


def test_nadeau_bengio_corrects_the_variance_for_overlapping_training_sets():
    d = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]      # J = 6 runs of 5-fold CV: n_test/n_train = 1/4
    s = stats.corrected_t_test(d, 0.25)
    # mean 3.5, s² = 3.5, corrected variance 3.5·(1/6 + 1/4) = 35/24, t = 3.5/√(35/24) = √8.4
    se = math.sqrt(35 / 24)
    assert s["diff"] == 3.5 and s["se"] == pytest.approx(se) and s["n_runs"] == 6
    assert s["p"] == pytest.approx(2 * student_t.sf(math.sqrt(8.4), 5))
    q = student_t.ppf(0.975, 5)
    assert s["ci95"] == pytest.approx([3.5 - q * se, 3.5 + q * se])
    # the naive s²/J would be far narrower: the correction is applied
    assert s["se"] > 1.5 * math.sqrt(3.5 / 6)
    assert stats.is_clear(s) == (s["p"] < 0.05)
    # NaNs dropped; one run cannot be tested
    assert stats.corrected_t_test([1.0, np.nan], 0.25)["n_runs"] == 1
    assert math.isnan(stats.corrected_t_test([1.0], 0.25)["p"])


def test_holm_adjusts_step_down_and_keeps_the_order():
    # sorted 0.01·3 = 0.03, 0.04·2 = 0.08, 0.045·1 = 0.045 → running max 0.08
    adj = stats.holm([0.04, 0.01, 0.045, np.nan])
    assert adj[:3] == pytest.approx([0.08, 0.03, 0.08]) and math.isnan(adj[3])
    assert stats.holm([0.3, 0.6]) == pytest.approx([0.6, 0.6])
    assert stats.holm([0.02]) == pytest.approx([0.02])
    assert stats.holm([0.5, 0.9, 0.8]).max() <= 1.0


def test_describe_says_clear_only_when_the_rule_does():
    clear = {"diff": 0.05, "ci95": [0.01, 0.09], "p": 0.012, "n_slides": 120, "n_repeats": 3,
             "unit": "slides", "test": "paired case bootstrap"}
    text = stats.describe(clear, "abmil", "aem", "auc")
    assert text.startswith("auc: aem is better than abmil (aem − abmil +0.050, 95% CI "
                           "[+0.010, +0.090], p = 0.012; 120 slides × 3 repeats")
    worse = dict(clear, diff=-0.05, ci95=[-0.09, -0.01])
    assert stats.describe(worse, "abmil", "aem", "auc").startswith("auc: abmil is better than aem")
    assert stats.describe(clear, "a", "b", "entropy").startswith("entropy: b has higher entropy")
    held = dict(clear, ci95=[-0.001, 0.09], p=0.06)
    text = stats.describe(held, "abmil", "aem", "auc")
    assert "no clear difference between aem and abmil" in text and "no evidence either way" in text
    assert "better" not in text
    # in a Holm family the adjusted p decides
    assert not stats.is_clear(clear, p_holm=0.06) and stats.is_clear(held, p_holm=0.04)
    assert "not clear after Holm" in stats.describe(clear, "a", "b", "auc", p_holm=0.06)


# --------------------------------------------------------------------------------------------
# simulation, calibration and power
# --------------------------------------------------------------------------------------------
def test_simulated_scores_have_the_asked_aucs_and_correlations():
    y, a, b = stats.simulate_scores(4000, 3, 0.1, base_auc=0.75, rho_methods=0.6,
                                    rho_repeats=0.8, rho_cross=0.5, seed=1)
    assert roc_auc_score(y, a[0, 0]) == pytest.approx(0.75, abs=0.015)
    assert roc_auc_score(y, b[0, 2]) == pytest.approx(0.85, abs=0.015)
    rc = stats.within_class_correlation
    assert rc(y, a[0, 0], b[0, 0]) == pytest.approx(0.6, abs=0.04)      # same repeat
    assert rc(y, a[0, 0], a[0, 1]) == pytest.approx(0.8, abs=0.04)      # same method
    assert rc(y, b[0, 1], b[0, 2]) == pytest.approx(0.8, abs=0.04)
    assert rc(y, a[0, 0], b[0, 1]) == pytest.approx(0.5, abs=0.04)      # neither
    with pytest.raises(ValueError, match="valid model"):
        stats.simulate_scores(rho_methods=0.9, rho_repeats=0.9, rho_cross=0.5)


def test_within_class_correlation_ignores_what_the_labels_explain():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 500)
    x1, x2 = 3 * y + rng.normal(size=1000), 3 * y + rng.normal(size=1000)
    assert np.corrcoef(x1, x2)[0, 1] > 0.6                       # the labels alone
    assert abs(stats.within_class_correlation(y, x1, x2)) < 0.1
    assert stats.within_class_correlation(y, x1, np.exp(x1)) == pytest.approx(1.0)


def test_within_class_correlation_weights_each_class_by_its_size():
    """The classes' correlations are averaged weighted by class size: 10 negatives with x2 = x1
    (ρ₀ = 1) and 30 positives with x2 = −x1 (ρ₁ = −1 exactly, after normal scores) give
    (10 · 1 + 30 · (−1)) / 40 = −0.5. Catches an unweighted average (which gives 0)."""
    x1 = np.random.default_rng(0).standard_normal(40)
    y = np.r_[np.zeros(10, int), np.ones(30, int)]
    x2 = np.where(y == 1, -x1, x1)
    assert stats.within_class_correlation(y, x1, x2) == pytest.approx(-0.5)
    assert stats.within_class_correlation(1 - y, x1, x2) == pytest.approx(-0.5)   # labels swapped


def test_null_cohorts_are_called_clear_about_5_percent_of_the_time():
    """Two methods with the same true AUC, scores correlated as real runs are: the rule's
    false-positive rate over 400 simulated cohorts of 120 slides × 3 repeats."""
    res = stats.power(0.0, n_slides=120, n_repeats=3, n_cohorts=400, seed=11)
    assert 0.02 <= res["clear"] <= 0.09, res
    assert abs(res["mean_diff"]) < 0.01


def test_power_rises_with_the_difference_and_reaches_80_percent_at_012():
    """One repeat, methods correlated ρ = 0.7 within class, 120 slides, 300 cohorts each:
    about 0.2, 0.7 and 0.96 called clear (benchmarks/results/power.json has 1,000 cohorts)."""
    shares = [stats.power(d, n_slides=120, n_repeats=1, n_cohorts=300, seed=12,
                          rho_methods=0.7)["clear"] for d in (0.04, 0.08, 0.12)]
    assert shares[0] < shares[1] < shares[2], shares
    assert shares[2] >= 0.8 and shares[0] < 0.4 and shares[1] - shares[0] > 0.2, shares
    # three repeats average out part of each run's luck: more power at the smallest difference
    three = stats.power(0.04, n_slides=120, n_repeats=3, n_cohorts=300, seed=12, rho_methods=0.7)
    assert three["clear"] > shares[0] + 0.1


def test_pairing_narrows_the_interval_when_scores_are_correlated():
    kw = dict(n_slides=120, n_repeats=1, n_cohorts=60, seed=13)
    paired = stats.power(0.05, rho_methods=0.7, rho_repeats=0.7, **kw)
    unpaired = stats.power(0.05, rho_methods=0.7, rho_repeats=0.7, paired=False, **kw)
    assert paired["ci_width"] < 0.75 * unpaired["ci_width"]
    assert paired["clear"] > unpaired["clear"]
    # with uncorrelated methods pairing has nothing to remove
    p0 = stats.power(0.05, rho_methods=0.0, rho_repeats=0.0, **kw)
    u0 = stats.power(0.05, rho_methods=0.0, rho_repeats=0.0, paired=False, **kw)
    assert p0["ci_width"] == pytest.approx(u0["ci_width"], rel=0.1)


def test_more_repeats_lower_the_minimum_detectable_difference():
    curve = stats.power_curve((0.02, 0.06, 0.10, 0.14), (1, 5), n_cohorts=80, seed=14,
                              rho_methods=0.7, rho_repeats=0.7)
    assert set(curve.columns) >= {"n_repeats", "delta_auc", "power", "ci_width"}
    mdd = stats.min_detectable_difference(curve)
    assert 0.02 < mdd[5] < mdd[1] <= 0.14
    w = curve.groupby("n_repeats").ci_width.mean()
    assert w[5] < w[1]


def test_min_detectable_difference_interpolates_between_grid_points():
    import pandas as pd

    curve = pd.DataFrame({"n_repeats": [1, 1, 1, 3, 3], "delta_auc": [0.0, 0.1, 0.2, 0.0, 0.1],
                          "power": [0.05, 0.6, 1.0, 0.05, 0.5]})
    got = stats.min_detectable_difference(curve)
    assert got[1] == pytest.approx(0.1 + 0.1 * (0.8 - 0.6) / 0.4)      # 0.15
    assert math.isnan(got[3])


def test_power_curve_figure_marks_the_minimum_detectable_difference():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from milhelpers.viz import power_curves

    curve = pd.DataFrame({"n_repeats": [1, 1, 1, 3, 3, 3], "delta_auc": [0, 0.1, 0.2] * 2,
                          "power": [0.05, 0.6, 1.0, 0.05, 0.9, 1.0]})
    ax = power_curves(curve, n_slides=120)    # 3 repeats: 0.1 · (0.8 − 0.05) / (0.9 − 0.05)
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == "1 repeat: 80 % at ΔAUC 0.150" and labels[1] == "3 repeats: 80 % at ΔAUC 0.088"
    assert ax.get_xlabel() and ax.get_ylabel() and "120 slides" in ax.get_title()
    assert ax.get_legend() is not None and ax.figure.dpi >= 100
    plt.close(ax.figure)


def test_score_correlations_recover_the_simulated_structure():
    y, a, b = stats.simulate_scores(3000, 3, 0.05, rho_methods=0.7, rho_repeats=0.8,
                                    rho_cross=0.6, seed=4)
    c = stats.score_correlations(y, a[0], b[0])
    assert c["methods"] == pytest.approx(0.7, abs=0.03) and c["cross"] == pytest.approx(0.6, abs=0.03)
    assert c["repeats_a"] == pytest.approx(0.8, abs=0.03)
    assert c["repeats_b"] == pytest.approx(0.8, abs=0.03)
    assert math.isnan(stats.score_correlations(y, a[0, :1], b[0, :1])["cross"])


# --------------------------------------------------------------------------------------------
# many methods: ranks with bootstrap intervals, the Pareto front
# --------------------------------------------------------------------------------------------
def test_rank_intervals_order_methods_by_the_metric_and_are_certain_when_far_apart():
    rng = np.random.default_rng(5)
    n = 60
    y = np.r_[np.zeros(n // 2, int), np.ones(n // 2, int)]
    perfect = np.stack([y + 0.1 * rng.random(n) for _ in range(2)])          # AUC 1 always
    middle = np.stack([0.3 * y + rng.random(n) for _ in range(2)])            # AUC ≈ 0.7
    inverse = 1 - perfect                                                     # AUC 0 always
    table = stats.rank_intervals(y, {"inverse": inverse, "middle": middle, "perfect": perfect},
                                 n_boot=400, seed=1)
    assert table.method.tolist() == ["perfect", "middle", "inverse"]
    assert table["rank"].tolist() == [1.0, 2.0, 3.0]
    assert table.rank_lo.tolist() == [1.0, 2.0, 3.0] and table.rank_hi.tolist() == [1.0, 2.0, 3.0]
    assert table.p_first.tolist() == [1.0, 0.0, 0.0]
    want = np.mean([roc_auc_score(y, middle[r]) for r in range(2)])
    assert table.set_index("method").loc["middle", "value"] == pytest.approx(want, abs=1e-12)


def test_two_methods_rank_first_exactly_where_the_paired_bootstrap_difference_is_positive():
    """The ranks come from the same case resamples as paired_slide_comparison (same seed,
    grouped cases): with two methods, B ranks first alone exactly in the resamples where B − A
    is above 0, A where it is below, and a tie ranks neither first."""
    y, a, b = _cohort(n=40, r=3, seed=7, shift=0.15)
    pa, pb = 1 / (1 + np.exp(-a)), 1 / (1 + np.exp(-b))
    groups = np.array([f"case{i // 2}" for i in range(40)])
    groups[19], groups[20] = "mixed", "mixed"          # one case with a negative and a positive
    for metric in ("balanced_accuracy", "auc"):
        s = stats.paired_slide_comparison(y, pa, pb, groups=groups, metric=metric, n_boot=500,
                                          seed=3, return_resamples=True)
        t = stats.rank_intervals(y, {"A": pa, "B": pb}, groups=groups, metric=metric,
                                 n_boot=500, seed=3).set_index("method")
        d = s["resamples"]
        tol = 1e-12 if metric == "auc" else 0.0        # the AUC path differences h first
        assert t.loc["B", "p_first"] == pytest.approx(np.mean(d > tol), abs=0.01 if tol else 0)
        assert t.loc["A", "p_first"] == pytest.approx(np.mean(d < -tol), abs=0.01 if tol else 0)
        assert 0 < t.loc["B", "p_first"] < 1                 # close methods: both orders occur
        assert (t.rank_lo.min(), t.rank_hi.max()) == (1.0, 2.0)


def test_tied_methods_share_a_rank_and_never_rank_first_alone():
    y, a, _ = _cohort(n=30, r=2, seed=2)
    t = stats.rank_intervals(y, {"x": a, "same": a.copy(), "worse": -a}, n_boot=300)
    t = t.set_index("method")
    assert t.loc["x", "rank"] == t.loc["same", "rank"] == 1.5 and t.loc["worse", "rank"] == 3
    assert t.loc["x", "p_first"] == t.loc["same", "p_first"] == 0.0
    assert t.loc["x", "mean_rank"] == pytest.approx(1.5)


def test_rank_intervals_refuse_mismatched_methods():
    y, a, b = _cohort(n=20, r=2)
    with pytest.raises(ValueError, match="same repeats"):
        stats.rank_intervals(y, {"a": a, "b": b[:1]}, n_boot=200)
    with pytest.raises(ValueError, match="at least two"):
        stats.rank_intervals(y, {"a": a}, n_boot=200)
    with pytest.raises(ValueError, match="metric"):
        stats.rank_intervals(y, {"a": a, "b": b}, metric="loc_auc", n_boot=200)


def test_pareto_front_by_hand_with_two_costs_ties_and_nan():
    #            seconds  MB    AUC
    pts = [("A", 10.0, 100.0, 0.80),   # front: cheapest in seconds
           ("B", 20.0, 50.0, 0.80),    # front: cheaper in memory than A, same AUC
           ("C", 30.0, 200.0, 0.79),   # dominated by A (dearer on both, lower AUC)
           ("D", 30.0, 200.0, 0.85),   # front: best AUC
           ("E", 30.0, 200.0, 0.85),   # identical to D: both stay
           ("F", 40.0, 300.0, 0.85),   # dominated by D (same AUC, dearer)
           ("G", 5.0, float("nan"), 0.99)]   # NaN: never on the front, dominates nothing
    costs = np.array([[s, m] for _, s, m, _ in pts])
    auc = np.array([v for *_, v in pts])
    got = dict(zip([p[0] for p in pts], stats.pareto_front(costs, auc)))
    assert got == {"A": True, "B": True, "C": False, "D": True, "E": True, "F": False, "G": False}
    # seconds alone, without G: B (dearer than A, same AUC) drops off
    one = dict(zip("ABCDEF", stats.pareto_front(costs[:6, 0], auc[:6])))
    assert one == {"A": True, "B": False, "C": False, "D": True, "E": True, "F": False}
    # with G's seconds known (its memory is not asked): cheapest and best, alone on the front
    assert stats.pareto_front(costs[:, 0], auc).tolist() == [False] * 6 + [True]
    with pytest.raises(ValueError, match="costs"):
        stats.pareto_front(costs, auc[:3])


def test_compare_settings_calls_agreement_only_on_the_same_verdict():
    import pandas as pd

    def table(rows):
        return pd.DataFrame(rows, columns=["metric", "method", "diff", "lo", "hi", "clear"])

    quick = table([("auc", "m1", -0.05, -0.09, -0.01, True), ("auc", "m2", 0.02, -0.03, 0.07, False),
                   ("auc", "m3", 0.04, 0.01, 0.07, True), ("loc_auc", "m1", 0.1, 0.05, 0.15, True)])
    full = table([("auc", "m1", -0.06, -0.08, -0.04, True), ("auc", "m2", -0.04, -0.07, -0.01, True),
                  ("auc", "m3", -0.03, -0.05, -0.01, True)])
    t = stats.compare_settings({"quick": quick, "full": full}).set_index("method")
    assert list(t.index) == ["m1", "m2", "m3"]            # loc_auc/m1 is not in both settings
    assert t.loc["m1", "quick"] == "-0.050 [-0.090, -0.010] clear"
    assert t.loc["m2", "quick"].endswith("—")
    assert t.agree.tolist() == [True, False, False]         # same sign / clear vs not / opposite


# --- round 7: power exactly at the target, tests at their smallest sizes, hand-computed points --
@pytest.mark.parametrize("power, want", [
    ([0.05, 0.5, 0.8], 0.2),             # the last grid point reaches 0.8 exactly: it counts
    ([0.05, 0.8, 0.8, 1.0], 0.1),        # a plateau at exactly 0.8: its first point
    ([0.8, 0.9, 1.0], 0.0),              # the first point already reaches it
    ([0.05, 0.6, 1.0], 0.15),            # between grid points: linear, 0.1 + 0.1 · 0.2 / 0.4
])
def test_min_detectable_difference_counts_power_equal_to_the_target(power, want):
    """"Reaches" is ≥: catches `pw > target` (the last case above would be NaN, the plateau
    0.2 instead of 0.1)."""
    import pandas as pd

    curve = pd.DataFrame({"n_repeats": 1, "delta_auc": [0.1 * i for i in range(len(power))],
                          "power": power})
    assert stats.min_detectable_difference(curve, 0.8)[1] == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("y, a, b", [
    ([1, 0, 0], [0.5, 0.2, 0.7], [0.9, 0.3, 0.4]),     # one positive
    ([0, 1, 1], [0.5, 0.2, 0.7], [0.1, 0.3, 0.4]),     # one negative
])
def test_delong_with_a_single_positive_or_negative_by_hand(y, a, b):
    """m = 1 (or n = 1): that side has no sample variance and adds nothing; the other side's
    placements differ by (0, 1) between the methods: variance ½, over 2 → se = ½. AUCs ½ and 1,
    Δ = ½, z = 1. Catches `m > 1` loosened to `>= 1` (a NaN covariance of one placement)."""
    s = stats.delong_test(y, a, b)
    assert (s["auc_a"], s["auc_b"], s["diff"]) == (0.5, 1.0, 0.5)
    assert s["se"] == pytest.approx(0.5) and s["z"] == pytest.approx(1.0)
    assert s["p"] == pytest.approx(2 * norm.sf(1.0))


def test_delong_with_zero_standard_error():
    """se = 0: identical methods give z = 0, p = 1; a perfect against an inverted ranking gives
    Δ = 1, z = +inf, p = 0. Catches `se > 0` loosened to `>= 0` (a division by zero)."""
    y = [1, 1, 0, 0]
    a = [0.1, 0.2, 0.3, 0.4]                  # AUC 0, every placement 0
    same = stats.delong_test(y, a, a)
    assert (same["diff"], same["se"], same["z"], same["p"]) == (0.0, 0.0, 0.0, 1.0)
    flip = stats.delong_test(y, a, [0.9, 0.8, 0.1, 0.2])
    assert (flip["diff"], flip["se"], flip["z"], flip["p"]) == (1.0, 0.0, math.inf, 0.0)


def test_corrected_t_test_of_two_runs_by_hand():
    """J = 2 is the smallest testable: d = (1, 3), mean 2, s² = 2, ratio ¼: se = √(2·(½ + ¼)) =
    √1.5, t = 2/√1.5 on 1 degree of freedom. Catches `j < 2` made `<= 2` (NaN for two runs)."""
    s = stats.corrected_t_test([1.0, 3.0], 0.25)
    se = math.sqrt(1.5)
    assert s["n_runs"] == 2 and s["se"] == pytest.approx(se)
    assert s["p"] == pytest.approx(2 * student_t.sf(2 / se, 1))
    q = student_t.ppf(0.975, 1)
    assert s["ci95"] == pytest.approx([2 - q * se, 2 + q * se])


def test_simulation_accepts_correlations_at_the_model_boundary_despite_rounding():
    """rho_methods + rho_repeats − rho_cross = 1 leaves no independent noise: 1 − 0 − 0.9 − 0.1
    is −2.8e-17 in floating point, which is 0, not an invalid model. Catches the validity check
    without its tolerance (`< 0`) and a square root of the unclipped variance (math domain error)."""
    y, a, b = stats.simulate_scores(20, 2, 0.0, rho_methods=0.1, rho_repeats=0.9, rho_cross=0.0,
                                    seed=0)
    assert a.shape == b.shape == (1, 2, 20) and np.isfinite(a).all()


# --- round 8: options, columns and ties
# y and two methods' scores where the threshold changes both accuracies; a[1] sits exactly at
# 0.5 and b[1] exactly at 0.1: a score equal to the threshold is class 0 (P(class 1) > t).
R8_Y = np.array([0, 0, 1, 1])
R8_A = np.array([0.2, 0.5, 0.45, 0.9])
R8_B = np.array([0.05, 0.1, 0.6, 0.7])


def test_r8_threshold_reaches_the_paired_difference_and_a_score_at_it_is_class_0():
    # t = 0.5: A predicts 0,0,0,1 (3/4 right), B 0,0,1,1 (4/4): B − A = 0.25
    # t = 0.1: A predicts 1,1,1,1 (2/4), B 0,0,1,1 (4/4): B − A = 0.5
    at5 = stats.paired_slide_comparison(R8_Y, R8_A, R8_B, metric="accuracy", n_boot=200)
    at1 = stats.paired_slide_comparison(R8_Y, R8_A, R8_B, metric="accuracy", n_boot=200,
                                        threshold=0.1)
    assert at5["diff"] == pytest.approx(0.25) and at1["diff"] == pytest.approx(0.5)
    # the other fields by hand: 4 slides, 1 repeat (a (N,) input), the unit and the test
    assert (at5["n_slides"], at5["n_repeats"], at5["unit"]) == (4, 1, "slides")
    assert at5["test"] == ("paired case bootstrap of the accuracy (200 resamples, stratified by "
                           "label)")
    three = stats.paired_slide_comparison(R8_Y, np.stack([R8_A] * 3), np.stack([R8_B] * 3),
                                          metric="accuracy", n_boot=200, paired=False)
    assert three["n_repeats"] == 3 and three["n_slides"] == 4
    assert three["test"].startswith("unpaired case bootstrap of the accuracy (200 resamples")


def test_r8_rank_intervals_threshold_and_every_column_by_hand():
    # t = 0.1: A's balanced accuracy is (0 + 1)/2 on every resample (all slides called 1), B's
    # is 1 on every resample (all right): B ranks 1 always, A 2 always.
    t = stats.rank_intervals(R8_Y, {"A": R8_A, "B": R8_B}, metric="balanced_accuracy", n_boot=200,
                             threshold=0.1)
    assert t.method.tolist() == ["B", "A"]
    assert t["value"].tolist() == pytest.approx([1.0, 0.5])
    assert t["rank"].tolist() == [1.0, 2.0]
    assert t["rank_lo"].tolist() == [1.0, 2.0] and t["rank_hi"].tolist() == [1.0, 2.0]
    assert t["mean_rank"].tolist() == [1.0, 2.0] and t["p_first"].tolist() == [1.0, 0.0]
    # t = 0.5: A is (2/2 + 1/2)/2 = 3/4
    t5 = stats.rank_intervals(R8_Y, {"A": R8_A, "B": R8_B}, metric="balanced_accuracy",
                              n_boot=200)
    assert t5.set_index("method")["value"].to_dict() == pytest.approx({"A": 0.75, "B": 1.0})


def test_r8_rank_intervals_seed_picks_the_resamples_of_the_paired_comparison_with_that_seed():
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    a = rng.normal(size=40) + y
    b = a + 0.5 * rng.normal(size=40)      # close to A: the rank is uncertain
    got = []
    for seed in (3, 6):
        t = stats.rank_intervals(y, {"A": a, "B": b}, n_boot=400, seed=seed).set_index("method")
        d = stats.paired_slide_comparison(y, a, b, n_boot=400, seed=seed,
                                          return_resamples=True)["resamples"]
        assert t.loc["B", "p_first"] == pytest.approx(np.mean(d > 0))
        assert t.loc["A", "p_first"] == pytest.approx(np.mean(d < 0))
        got.append(t.loc["B", "p_first"])
    assert got[0] != got[1]


def test_r8_slide_means_seed_gives_the_resamples_of_the_comparison_with_that_seed():
    # per-slide correctness (threshold 0.5) as the per-slide quantity: the mean difference of
    # correctness is the accuracy difference, so the two bootstraps with one seed coincide
    rng = np.random.default_rng(1)
    y = np.arange(30) % 2
    a, b = rng.uniform(size=30), rng.uniform(size=30)
    ca, cb = ((a > 0.5) == y).astype(float), ((b > 0.5) == y).astype(float)
    seen = []
    for seed in (5, 6):
        m = stats.paired_slide_means(ca, cb, y=y, n_boot=300, seed=seed, return_resamples=True)
        c = stats.paired_slide_comparison(y, a, b, metric="accuracy", n_boot=300, seed=seed,
                                          return_resamples=True)
        assert m["resamples"] == pytest.approx(c["resamples"])
        assert m["diff"] == pytest.approx(np.mean(cb - ca))
        seen.append(m["resamples"])
    assert not np.allclose(seen[0], seen[1])
    # the fields by hand: NaN slides drop out of n_slides, two repeats
    v = np.array([[0.1, np.nan, 0.3, 0.4], [0.2, np.nan, np.nan, 0.4]])
    r = stats.paired_slide_means(v, v + 1, y=[0, 1, 0, 1], n_boot=200)
    assert (r["n_slides"], r["n_repeats"], r["unit"]) == (3, 2, "slides")
    assert r["diff"] == pytest.approx(1.0)


# --- round 9: power's three summaries and compare_settings' columns, by hand ------------------
def test_r9_power_means_each_summary_over_cohorts_and_seeds_each_cohort(monkeypatch):
    """The simulation and the per-cohort comparison replaced by fixed results (three cohorts
    with asymmetric widths and differences, so mean != median): ``clear`` is the share of clear
    intervals, ``ci_width`` and ``mean_diff`` are means; cohort i gets seed + 7919·(i + 1) and
    the ``paired`` option. Catches a median or the first cohort taken, the seed offset off by
    one cohort, and ``paired`` not passed on."""
    per = [{"diff": 0.01, "ci95": [-0.02, 0.04]},        # width 0.06, not clear
           {"diff": 0.05, "ci95": [0.01, 0.09]},         # width 0.08, clear
           {"diff": 0.24, "ci95": [0.10, 0.38]}]         # width 0.28, clear
    calls = []

    def simulate(n_slides, n_repeats, delta, n_cohorts, seed, **model):
        assert (n_slides, n_repeats, delta, n_cohorts, seed, model) == (30, 2, 0.1, 3, 5,
                                                                        {"rho_methods": 0.4})
        return np.zeros(30), np.zeros((3, 2, 30)), np.ones((3, 2, 30)) * np.arange(3)[:, None, None]

    def compare(y, a, b, n_boot, seed, paired):
        i = int(b[0, 0])                                  # which cohort: b holds its index
        calls.append((i, n_boot, seed, paired))
        return per[i]

    monkeypatch.setattr(stats, "simulate_scores", simulate)
    monkeypatch.setattr(stats, "paired_slide_comparison", compare)
    res = stats.power(0.1, n_slides=30, n_repeats=2, n_cohorts=3, n_boot=50, seed=5,
                      paired=False, rho_methods=0.4)
    assert res == pytest.approx({"clear": 2 / 3, "ci_width": (0.06 + 0.08 + 0.28) / 3,
                                 "mean_diff": 0.1, "n_cohorts": 3})
    assert calls == [(0, 50, 5 + 7919, False), (1, 50, 5 + 2 * 7919, False),
                     (2, 50, 5 + 3 * 7919, False)]


def test_r9_compare_settings_three_settings_digits_and_rows_only_all_share():
    """Three settings; a row missing from the last is left out (in the first setting's order);
    ``digits`` reaches all three numbers; agree is True for all-clear-one-way or none-clear
    and False for a mix of clear and not clear. Catches any() for all() over the settings, a
    fixed 3 digits for the interval ends, and 'clear but not the same way' counted as agreeing."""
    import pandas as pd

    def table(rows):
        return pd.DataFrame(rows, columns=["metric", "method", "diff", "lo", "hi", "clear"])

    one = table([("auc", "m", 0.051, 0.012, 0.094, True), ("auc", "n", 0.02, -0.01, 0.05, False),
                 ("f1", "m", -0.1, -0.2, -0.04, True), ("auc", "q", 0.1, 0.05, 0.2, True)])
    two = table([("f1", "m", -0.05, -0.09, -0.01, True), ("auc", "m", 0.03, -0.004, 0.06, False),
                 ("auc", "n", -0.01, -0.03, 0.01, False), ("auc", "q", 0.1, 0.05, 0.2, True)])
    three = table([("auc", "n", 0.0, -0.02, 0.02, False), ("f1", "m", -0.2, -0.3, -0.1, True),
                   ("auc", "m", 0.04, 0.01, 0.07, True)])
    out = stats.compare_settings({"A": one, "B": two, "C": three}, digits=2)
    assert out.columns.tolist() == ["metric", "method", "A", "B", "C", "agree"]
    assert out.values.tolist() == [
        ["auc", "m", "+0.05 [+0.01, +0.09] clear", "+0.03 [-0.00, +0.06] —",
         "+0.04 [+0.01, +0.07] clear", False],
        ["auc", "n", "+0.02 [-0.01, +0.05] —", "-0.01 [-0.03, +0.01] —",
         "+0.00 [-0.02, +0.02] —", True],
        ["f1", "m", "-0.10 [-0.20, -0.04] clear", "-0.05 [-0.09, -0.01] clear",
         "-0.20 [-0.30, -0.10] clear", True]]


# --------------------------------------------------------------------------------------------
# round 9: slide_metric of three classes by hand, and its input checks
# --------------------------------------------------------------------------------------------
# six slides, unbalanced classes (2, 1, 3); the arg-max predicts 0, 1, 2, 0, 2, 1. Slide 1's
# P(class 1) = 0.45 < 0.5: thresholding column 1 would call it class 0, the arg-max class 1
_Y3 = [0, 1, 2, 2, 2, 0]
_P3 = [[0.5, 0.3, 0.2], [0.2, 0.45, 0.35], [0.1, 0.3, 0.6],
       [0.4, 0.35, 0.25], [0.1, 0.2, 0.7], [0.25, 0.55, 0.2]]


@pytest.mark.parametrize("metric,expected", [
    ("accuracy", 4 / 6),
    # recall per class 1/2, 1/1, 2/3: their mean, not the median (2/3) nor the pooled accuracy
    ("balanced_accuracy", (1 / 2 + 1 + 2 / 3) / 3),
    # F1 per class 2·1/(2+1+1), 2·1/(2+1+0), 2·2/(4+0+1): mean 0.6556, median would be 2/3
    ("f1", (1 / 2 + 2 / 3 + 4 / 5) / 3)])
def test_r10_slide_metric_of_three_classes_by_hand(metric: str, expected: float):
    """Catches the multiclass branch taking the binary path (threshold one column), a macro
    average turned into a median or a pooled count, and a wrong arg-max axis."""
    assert stats.slide_metric(_Y3, _P3, metric) == pytest.approx(expected)
    # the threshold is for binary scores only: it must not move a multiclass metric
    assert stats.slide_metric(_Y3, _P3, metric, threshold=0.1) == pytest.approx(expected)


def test_r10_slide_metric_three_class_auc_is_the_macro_one_vs_rest():
    """Catches the multiclass AUC scoring one column only, or averaging classes other than
    scikit-learn's macro one-vs-rest."""
    want = roc_auc_score(_Y3, _P3, multi_class="ovr", average="macro")
    assert stats.slide_metric(_Y3, _P3, "auc") == pytest.approx(want)
    assert want != pytest.approx(roc_auc_score(np.array(_Y3) == 1, np.array(_P3)[:, 1]))


@pytest.mark.parametrize("y,scores,metric,phrase", [
    ([0.0, 1.0, 0.0, 1.0], [0.1, 0.9, 0.2, 0.8], "auc", "one integer label per slide"),
    ([[0, 1], [0, 1]], [0.1, 0.9], "auc", "one integer label per slide"),
    ([1, 1, 1, 1], [0.1, 0.9, 0.2, 0.8], "auc", "needs slides of both classes"),
    ([0, 1, 0, 1], [0.1, 0.9, 0.2], "auc", "N = 4 slides"),
    ([0, 1, 0, 1], [0.1, np.nan, 0.2, 0.8], "auc", "NaN or infinite"),
    ([0, 1, 0, 1], [0.1, np.inf, 0.2, 0.8], "accuracy", "NaN or infinite"),
    ([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], "AUC", "choose one of"),
    ([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], "loc_auc", "choose one of")])
def test_r10_slide_metric_refuses_bad_inputs_with_a_value_error(y, scores, metric: str,
                                                                phrase: str):
    """Catches any of slide_metric's checks dropped, widened or raising another type: float or
    2-D labels, one class, a score count unlike the labels', NaN/inf scores, an unknown metric."""
    with pytest.raises(ValueError, match=phrase):
        stats.slide_metric(y, scores, metric)


# --------------------------------------------------------------------------------------------
# round 12: defaults, falsy non-None values, empty resamples, groups reaching the bootstrap
# --------------------------------------------------------------------------------------------
def test_r12_interval_and_p_of_no_finite_resample_is_nan():
    ci, p = stats._interval_and_p(np.array([np.nan, np.inf, -np.inf]))
    assert all(math.isnan(v) for v in ci) and math.isnan(p)
    # one finite value among them: B = 1, k = 1, the interval is that value, p = 1/B capped at 1
    ci, p = stats._interval_and_p(np.array([np.nan, 0.3]))
    assert ci == [0.3, 0.3] and p == 1.0


def test_r12_slide_metric_defaults_are_the_auc_at_threshold_one_half():
    y = [0, 1, 1]
    # AUC: positives 0.55, 0.7 against the negative 0.6 → (0 + 1) / 2
    assert stats.slide_metric(y, [0.6, 0.55, 0.7]) == pytest.approx(0.5)
    # accuracy at the default threshold 0.5: 0.45 → 0, 0.55 and 0.7 → 1: all right (0.6 would
    # miss the 0.55, 0.4 would call the 0.45 positive)
    assert stats.slide_metric(y, [0.45, 0.55, 0.7], "accuracy") == 1.0
    assert stats.slide_metric(y, [0.45, 0.55, 0.7], "accuracy", threshold=0.6) == pytest.approx(2 / 3)


def test_r12_slide_metric_interval_defaults_confidence_and_threshold():
    y = [0, 0, 1, 1]
    s = [0.2, 0.55, 0.65, 0.9]
    out = stats.slide_metric_interval(y, s, metric="balanced_accuracy", n_boot=200)
    # threshold 0.5: predictions 0, 1, 1, 1 → recalls 1/2 and 1 → 0.75 (0.6 would give 1.0)
    assert out["value"] == pytest.approx(0.75)
    assert out["confidence"] == 0.95 and out["n_boot"] == 200
    assert out["test"] == "case bootstrap of the balanced_accuracy (200 resamples, stratified by label)"
    assert stats.slide_metric_interval(y, s, metric="balanced_accuracy", n_boot=200,
                                       threshold=0.6)["value"] == pytest.approx(1.0)


def test_r12_paired_slide_means_groups_reach_the_bootstrap_and_defaults():
    y = [0, 0, 1, 1]
    a, b = [0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0]
    # one case per stratum: every resample draws each case once, so every Δ* is Δ = 2.5
    one = stats.paired_slide_means(a, b, y=y, groups=["p", "p", "q", "q"], n_boot=200)
    assert one["diff"] == 2.5 and one["ci95"] == [2.5, 2.5]
    # without groups four cases: the interval opens around 2.5
    four = stats.paired_slide_means(a, b, y=y, n_boot=200)
    assert four["ci95"][0] < 2.5 < four["ci95"][1]
    # defaults: 2000 resamples, no resamples returned unless asked
    d = stats.paired_slide_means(a, b, y=y)
    assert "(2000 resamples" in d["test"] and "resamples" not in d
    r = stats.paired_slide_means(a, b, y=y, n_boot=300, return_resamples=True)
    assert r["resamples"].shape == (300,)


def test_r12_is_clear_and_describe_take_a_holm_p_of_zero_as_given():
    stat = {"diff": 0.02, "ci95": [-0.01, 0.05], "p": 0.2, "n_slides": 10, "n_repeats": 1,
            "unit": "slides", "test": "t"}
    # the interval holds 0, but a Holm-adjusted p of 0.0 (falsy, not None) decides
    assert stats.is_clear(stat, p_holm=0.0) is True
    text = stats.describe(stat, "A", "B", p_holm=0.0)
    assert "B is better than A" in text and "Holm-adjusted p = 0.000" in text
    # an interval that excludes 0 but a Holm p above 0.05: not clear after Holm
    clear = {**stat, "ci95": [0.01, 0.05], "p": 0.01}
    text = stats.describe(clear, "A", "B", p_holm=0.2)
    assert "not clear after Holm's adjustment" in text and "Holm-adjusted p = 0.200" in text
    assert "interval holds 0" in stats.describe(stat, "A", "B")


def test_r12_is_clear_needs_both_ends_of_the_interval():
    assert stats.is_clear({"ci95": [0.1, float("nan")]}) is False
    assert stats.is_clear({"ci95": [float("nan"), -0.1]}) is False
    assert stats.is_clear({"ci95": [None, -0.1]}) is False
    assert stats.is_clear({"ci95": [0.1, None]}) is False
    assert stats.is_clear({"ci95": [0.1, 0.2]}) is True


def test_r12_score_correlations_pair_each_method_with_its_own_repeats():
    rng = np.random.default_rng(0)
    y = np.array([0] * 6 + [1] * 6)
    a = rng.normal(size=(2, 12))
    b = np.stack([a[0] + 0.1 * rng.normal(size=12), -a[0] + 0.1 * rng.normal(size=12)])
    wcc = stats.within_class_correlation
    out = stats.score_correlations(y, a, b)
    assert out["repeats_a"] == pytest.approx(wcc(y, a[0], a[1]))
    assert out["repeats_b"] == pytest.approx(wcc(y, b[0], b[1])) and out["repeats_b"] < -0.5
    assert out["methods"] == pytest.approx((wcc(y, a[0], b[0]) + wcc(y, a[1], b[1])) / 2)
    assert out["cross"] == pytest.approx((wcc(y, a[0], b[1]) + wcc(y, a[1], b[0])) / 2)
    one = stats.score_correlations(y, a[0], b[0])
    assert math.isnan(one["repeats_a"]) and math.isnan(one["cross"])
    assert one["methods"] == pytest.approx(wcc(y, a[0], b[0]))


def test_r12_paired_slide_comparison_defaults_and_what_it_reports():
    y = [0, 0, 1, 1]
    a, b = [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]
    out = stats.paired_slide_comparison(y, a, b)
    # default metric AUC: B 0 − A 1 (balanced accuracy at 0.5 would be 0.5 − 0.5 = 0)
    assert out["diff"] == -1.0 and out["n_slides"] == 4 and out["n_repeats"] == 1
    assert out["unit"] == "slides" and "resamples" not in out
    assert out["test"] == "paired case bootstrap of the auc (2000 resamples, stratified by label)"
    un = stats.paired_slide_comparison(y, a, b, paired=False, n_boot=200, return_resamples=True)
    assert un["test"].startswith("unpaired case bootstrap of the auc (200 resamples")
    assert un["resamples"].shape == (200,)


def test_r12_case_strata_by_label_set_in_sorted_order_and_checked_groups():
    case, strata = stats.case_strata([0, 1, 0], ["p", "p", "q"])
    # patient p holds both labels: stratum (0, 1); q: stratum (0,); strata sorted by label set
    assert case.tolist() == [0, 0, 1] and [s.tolist() for s in strata] == [[1], [0]]
    case, strata = stats.case_strata([1, 0, 1, 0], ["p", "q", "p", "r"])
    assert case.tolist() == [0, 1, 0, 2] and [s.tolist() for s in strata] == [[1, 2], [0]]
    with pytest.raises(ValueError, match=r"groups has shape \(2,\), the labels \(3,\)"):
        stats.case_strata([0, 1, 0], ["p", "q"])
    with pytest.raises(ValueError, match=r"y must be one integer label per slide; got float64 of "
                                         r"shape \(3,\)"):
        stats.slide_metric([0.0, 1.0, 0.0], [0.1, 0.2, 0.3])


def test_r13_power_curve_passes_n_boot_on_to_each_point():
    """Audit 13 survivor: every point of the curve is :func:`stats.power` with the curve's own
    n_boot (not power's default 500), so the interval widths are the same numbers."""
    kw = dict(n_slides=40, n_cohorts=3, seed=1)
    curve = stats.power_curve(deltas=(0.05,), repeats=(1,), n_boot=200, **kw)
    own = stats.power(0.05, n_repeats=1, n_boot=200, **kw)
    default = stats.power(0.05, n_repeats=1, **kw)
    assert curve.ci_width[0] == pytest.approx(own["ci_width"], rel=1e-12)
    assert own["ci_width"] != pytest.approx(default["ci_width"], rel=1e-9)
