import numpy as np
import pytest

from milhelpers import metrics, viz
from milhelpers.classic import PAPER_ACCURACY, run_classic_benchmark


def test_bag_metrics_and_summary():
    m = metrics.bag_metrics([0, 0, 1, 1], np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]]))
    assert m["auc"] == 1.0 and m["accuracy"] == 0.75 and m["balanced_accuracy"] == 0.75
    s = metrics.summarize([{"auc": 0.8}, {"auc": 1.0}])
    assert s.loc["auc", "mean"] == pytest.approx(0.9) and s.loc["auc", "mean ± std"] == "0.900 ± 0.141"


def test_entropy_and_topk():
    assert metrics.attention_entropy(np.ones(10) / 10) == pytest.approx(1.0)
    assert metrics.attention_entropy(np.eye(10)[3]) == pytest.approx(0.0)
    assert metrics.topk_mass(np.array([0.5, 0.2, 0.2, 0.1]), 2) == pytest.approx(0.7)
    # unnormalised weights are normalised: top-1 of [2, 1, 1] holds half the mass
    assert metrics.topk_mass(np.array([2.0, 1.0, 1.0]), 1) == pytest.approx(0.5)


def test_multi_head_attention_is_measured_per_head():
    # two branches, each uniform over 2 of 4 instances: per-head normalised entropy
    # ln 2 / ln 4 = 0.5 and top-1 mass 0.5. Flattening (2, 4) into one distribution would give
    # ln 4 / ln 8 = 0.667 and 0.25.
    a = np.array([[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    assert metrics.attention_entropy(a) == pytest.approx(0.5)
    assert metrics.attention_entropy(a, normalized=False) == pytest.approx(np.log(2))
    assert metrics.topk_mass(a, 1) == pytest.approx(0.5)
    # heads are averaged: one peaked head (entropy 0) and one uniform head (1) give 0.5
    b = np.array([[1.0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]])
    assert metrics.attention_entropy(b) == pytest.approx(0.5)
    assert metrics.topk_mass(b, 1) == pytest.approx((1 + 0.25) / 2)


def test_pooled_localisation_uses_within_slide_ranks():
    # slide A scores everything high, slide B low; within each slide the tumour patch is on top.
    # Ranks: perfect pooled AUC 1.0. Raw scores: pairs (11>10, 11>0, 1<10, 1>0) give 0.75.
    scores = [np.array([10.0, 11.0]), np.array([0.0, 1.0])]
    labels = [np.array([0, 1]), np.array([0, 1])]
    loc = metrics.localization_auc(scores, labels)
    assert loc["pooled_auc"] == 1.0 and loc["mean_slide_auc"] == 1.0
    with pytest.raises(ValueError, match="average the heads"):
        metrics.localization_auc([np.ones((2, 3))], [np.array([0, 1, 0])])


def test_localization_auc():
    y = [np.array([0, 0, 1, 1.0]), np.array([1, 0, 0.0]), np.zeros(3)]
    perfect = [np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.9, 0.0, 0.1]), np.ones(3)]
    assert metrics.localization_auc(perfect, y) == {"mean_slide_auc": 1.0, "pooled_auc": 1.0, "n_slides": 2}
    worst = [-s for s in perfect]
    assert metrics.localization_auc(worst, y)["mean_slide_auc"] == 0.0


def test_heatmap_places_values_at_coordinates_and_averages_overlaps():
    coords = np.array([[0, 0], [400, 200], [600, 200]])
    m = viz.attention_map((100, 100), 10.0, coords, 400, np.array([1.0, 2.0, 4.0]))
    assert m[0:40, 0:40].min() == m[0:40, 0:40].max() == 1.0
    assert np.isnan(m[50, 10])  # no patch there
    assert m[25, 45] == 2.0 and m[25, 70] == 3.0 and m[25, 90] == 4.0  # overlap averaged, no blur


def test_scalings():
    v = np.array([1e-4, 2e-4, 0.5, 3e-4, 0.4996])
    r = viz.scale_scores(v, "rank")
    assert r.tolist() == [0.0, 0.25, 1.0, 0.5, 0.75]
    # ties share their average rank: uniform attention is one flat colour, not a row-order ramp
    assert viz.scale_scores(np.full(5, 0.2), "rank").tolist() == [0.5] * 5
    assert viz.scale_scores(np.array([1.0, 1.0, 2.0]), "rank").tolist() == [0.25, 0.25, 1.0]
    assert viz.scale_scores(v, "minmax").max() == 1.0
    with pytest.raises(ValueError):
        viz.scale_scores(v, "nope")


def test_classic_benchmark_runs_and_learns_musk1():
    r = run_classic_benchmark(["musk1"], ["abmil_gated"], repeats=1, folds=3, epochs=15, progress=False)
    res = r["musk1"]["abmil_gated"]
    assert len(res["folds"]) == 3 and res["mean"] > 0.7
    assert PAPER_ACCURACY["musk1"]["abmil_gated"] == (0.900, 0.050)
