"""Interval bounds against a hand computation, not containment.

"lo ≤ estimate ≤ hi" holds for a 90 % interval passed off as a 95 % one, for a basic instead of a
percentile bootstrap, or for an interval of the wrong statistic. Here the bounds are computed
independently: the exact bootstrap distribution by enumerating every resample of a small sample
(n⁵ or n⁶ of them, each equally likely), whose quantiles a Monte-Carlo bootstrap with many
resamples must hit (the examples are chosen so the quantiles sit well inside an atom of the exact
distribution), and the normal approximation mean ± z·s/√n for a large sample.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import norm, rankdata

from milhelpers import experiments as ex

MANY = 100_000          # resamples: Monte-Carlo error ≈ 0.0005 in a tail probability


def _exact_quantiles(stats: np.ndarray, confidence: float) -> tuple[float, float]:
    """The (1 − c)/2 and (1 + c)/2 quantiles of an exact, equally weighted distribution, checked
    to lie inside an atom by a margin ≫ the Monte-Carlo error (so any correct bootstrap hits
    them)."""
    s = np.sort(stats)
    out = []
    for q in ((1 - confidence) / 2, (1 + confidence) / 2):
        a = s[int(math.ceil(q * len(s) - 1e-9)) - 1]
        below, upto = np.mean(s < a - 1e-12), np.mean(s <= a + 1e-12)
        assert below + 0.002 < q < upto - 0.002, "example too close to an atom's edge"
        out.append(float(a))
    return out[0], out[1]


def _all_resamples(n: int) -> np.ndarray:
    return np.array(list(itertools.product(range(n), repeat=n)))


def _exact_mean_ci(values, confidence):
    v = np.asarray(values, float)
    return _exact_quantiles(v[_all_resamples(len(v))].mean(1), confidence)


# ------------------------------------------------------------------------------ bootstrap_ci
@pytest.mark.parametrize("values", [[2.0, 2.0, 14.0, 16.0, 16.0],     # symmetric bounds
                                    [4.0, 14.0, 19.0, 24.0, 24.0]])   # skewed: percentile ≠ basic
@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_bootstrap_ci_bounds_are_the_exact_bootstrap_quantiles(values, confidence):
    want = _exact_mean_ci(values, confidence)
    got = ex.bootstrap_ci(values, n_resamples=MANY, confidence=confidence)
    assert got == pytest.approx(want, abs=1e-9)


def test_hand_values_of_the_exact_bootstrap():
    # spelled out for the record (5⁵ = 3125 resamples each)
    assert _exact_mean_ci([2, 2, 14, 16, 16], 0.95) == pytest.approx((4.4, 15.6))
    assert _exact_mean_ci([2, 2, 14, 16, 16], 0.90) == pytest.approx((4.8, 15.2))
    assert _exact_mean_ci([4, 14, 19, 24, 24], 0.95) == pytest.approx((10.0, 23.0))
    assert _exact_mean_ci([4, 14, 19, 24, 24], 0.90) == pytest.approx((11.0, 22.0))
    # a basic bootstrap interval would be 2·17 − (23, 10) = (11, 24): not this one


def test_bootstrap_ci_of_a_large_sample_is_the_normal_interval_at_its_level():
    """For n = 400 the bootstrap distribution of the mean is close to N(x̄, s²/n) (s with
    ddof 0), so the 95 % bounds sit at x̄ ± 1.96·s/√n; a 90 % interval would be 16 % narrower."""
    x = np.random.default_rng(3).normal(1.0, 2.0, 400)
    s = x.std() / math.sqrt(len(x))
    for confidence in (0.95, 0.9):
        lo, hi = ex.bootstrap_ci(x, n_resamples=20_000, confidence=confidence)
        z = norm.ppf((1 + confidence) / 2)
        assert (hi - lo) / 2 == pytest.approx(z * s, rel=0.03)
        assert (lo + hi) / 2 == pytest.approx(x.mean(), abs=0.1 * s)


def test_paired_stats_interval_is_the_interval_of_the_differences():
    a = np.array([0.5, 0.6, 0.7, 0.8, 0.9])
    d = np.array([4.0, 14.0, 19.0, 24.0, 24.0])
    s = ex.paired_stats(a, a + d, n_resamples=MANY)
    assert s["ci95"] == pytest.approx(list(_exact_mean_ci(d, 0.95)), abs=1e-9)
    assert s["diff"] == pytest.approx(17.0)


def test_wilcoxon_p_by_hand_with_two_negative_ranks():
    # |d| ranks 1 … 7, negatives at ranks 1 and 4: W− = 5. Subsets of {1…7} with sum ≤ 5:
    # ∅ {1} {2} {3} {4} {5} {1,2} {1,3} {1,4} {2,3} = 10 of 2⁷, two-sided p = 2·10/128
    d = [-1.5, 2.0, 3.0, -4.0, 5.0, 6.0, 7.0]
    s = ex.paired_stats(np.zeros(7), d)
    assert s["p"] == pytest.approx(20 / 128) and s["n"] == 7


# ----------------------------------------------------------------------------- correlation_ci
def _spearman_rows(x, y):
    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx, ry = rx - rx.mean(1, keepdims=True), ry - ry.mean(1, keepdims=True)
    den = np.sqrt((rx ** 2).sum(1) * (ry ** 2).sum(1))
    keep = den > 0                               # resamples with a constant x or y: undefined
    return (rx * ry).sum(1)[keep] / den[keep]


X = np.arange(1.0, 7.0)
Y = np.array([2.0, 6.0, 5.0, 1.0, 3.0, 4.0])


@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_correlation_ci_bounds_are_the_exact_bootstrap_quantiles(confidence):
    idx = _all_resamples(6)                                   # 6⁶ = 46,656 pair resamples
    want = _exact_quantiles(_spearman_rows(X[idx], Y[idx]), confidence)
    got = ex.correlation_ci(X, Y, n_resamples=MANY, confidence=confidence)
    assert got["ci95"] == pytest.approx(list(want), abs=1e-9)
    # ρ by hand: ranks of y 2 6 5 1 3 4, Σd² = 1+16+4+9+4+4 = 38, ρ = 1 − 6·38/(6·35)
    assert got["rho"] == pytest.approx(1 - 6 * 38 / 210)


def test_hand_values_of_the_exact_correlation_bootstrap():
    idx = _all_resamples(6)
    rho = _spearman_rows(X[idx], Y[idx])
    assert _exact_quantiles(rho, 0.95) == pytest.approx((-1.0, 1.0))
    lo, hi = _exact_quantiles(rho, 0.90)
    assert lo == pytest.approx(-31 / 33) and hi == pytest.approx(9 / 11)


def test_within_group_interval_is_the_interval_of_the_centred_values():
    rng = np.random.default_rng(0)
    g = np.repeat([0, 1, 2], 6)
    x = rng.normal(size=18) + 5 * g
    y = -x + rng.normal(size=18) + 10 * g                    # across groups up, within down
    xc = x - np.array([x[g == k].mean() for k in g])
    yc = y - np.array([y[g == k].mean() for k in g])
    within = ex.correlation_ci(x, y, groups=g, n_resamples=2000)
    centred = ex.correlation_ci(xc, yc, n_resamples=2000)
    assert within["rho"] == pytest.approx(centred["rho"]) and within["rho"] < 0
    assert within["ci95"] == pytest.approx(centred["ci95"])
    assert ex.correlation_ci(x, y, n_resamples=2000)["rho"] > 0


def test_resamples_with_a_constant_variable_are_dropped_not_counted_as_zero():
    """Three increasing pairs: 3 of the 27 resamples repeat one pair (ρ undefined, dropped), the
    other 24 have ρ = 1, so the interval is [1, 1]; counting the undefined ones as ρ = 0 would put
    11 % of the mass at 0 and the lower bound with it."""
    r = ex.correlation_ci([1.0, 2.0, 3.0], [10.0, 20.0, 30.0], n_resamples=20_000)
    assert r["rho"] == pytest.approx(1.0) and r["ci95"] == pytest.approx([1.0, 1.0])


# --- round 8: options, columns and ties
def _scipy_percentile(v, n_resamples, seed, confidence=0.95):
    from scipy.stats import bootstrap
    r = bootstrap((np.asarray(v, float),), np.mean, n_resamples=n_resamples,
                  confidence_level=confidence, method="percentile", vectorized=True,
                  random_state=np.random.default_rng(seed))
    return [r.confidence_interval.low, r.confidence_interval.high]


def test_r8_bootstrap_ci_seed_and_n_resamples_are_scipys():
    v = [0.1, 0.4, 0.35, 0.8, 0.55, 0.2, 0.9]
    for n, seed in ((300, 7), (300, 8), (500, 7)):
        assert list(ex.bootstrap_ci(v, n_resamples=n, seed=seed, confidence=0.8)) == \
            pytest.approx(_scipy_percentile(v, n, seed, 0.8), abs=0, rel=1e-12)
    assert ex.bootstrap_ci(v, 300, 7) != ex.bootstrap_ci(v, 300, 8)


def test_r8_paired_stats_every_field_and_its_seed_by_hand():
    from scipy.stats import wilcoxon
    a = np.array([0.5, 0.6, np.nan, 0.7, 0.55, 0.62])
    b = np.array([0.6, 0.58, 0.9, 0.8, 0.75, np.nan])
    d = np.array([0.1, -0.02, 0.1, 0.2])                  # the pairs with both defined
    for seed in (2, 3):
        r = ex.paired_stats(a, b, n_resamples=300, seed=seed)
        assert r["n"] == 4 and r["diff"] == pytest.approx(d.mean())
        assert r["p"] == pytest.approx(wilcoxon(d).pvalue)
        assert r["ci95"] == pytest.approx(_scipy_percentile(d, 300, seed), rel=1e-12)
    assert ex.paired_stats(a, b, 300, 2)["ci95"] != ex.paired_stats(a, b, 300, 3)["ci95"]


def test_r8_correlation_ci_seed_is_the_resample_draw_and_the_fields_by_hand():
    from scipy.stats import spearmanr
    x = np.array([0.1, 0.5, 0.3, 0.9, 0.7, 0.2, 0.8, 0.4])
    y = np.array([0.2, 0.4, 0.5, 0.7, 0.9, 0.1, 0.6, 0.3])
    for seed in (1, 2):
        got = ex.correlation_ci(x, y, n_resamples=200, seed=seed, confidence=0.9)
        idx = np.random.default_rng(seed).integers(0, 8, size=(200, 8))
        rho = np.array([spearmanr(x[i], y[i])[0] if np.ptp(x[i]) and np.ptp(y[i]) else np.nan
                        for i in idx])
        rho = rho[np.isfinite(rho)]
        assert got["ci95"] == pytest.approx(np.quantile(rho, [0.05, 0.95]))
        assert got["rho"] == pytest.approx(spearmanr(x, y)[0])
        assert got["p"] == pytest.approx(spearmanr(x, y)[1])
        assert got["n"] == 8 and got["within_groups"] is False
    g = ex.correlation_ci(x, y, groups=[0, 0, 0, 0, 1, 1, 1, 1], n_resamples=200)
    assert g["within_groups"] is True and g["n"] == 8
