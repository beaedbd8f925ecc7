import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from milhelpers import metrics, viz
from milhelpers.classic import PAPER_ACCURACY, run_classic_benchmark


def test_bag_metrics_and_summary():
    m = metrics.bag_metrics([0, 0, 1, 1], np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]]))
    assert m["auc"] == 1.0 and m["accuracy"] == 0.75 and m["balanced_accuracy"] == 0.75
    s = metrics.summarize([{"auc": 0.8}, {"auc": 1.0}])
    assert s.loc["auc", "mean"] == pytest.approx(0.9) and s.loc["auc", "mean ± std"] == "0.900 ± 0.141"


def test_balanced_accuracy_averages_the_per_class_recalls():
    """Imbalanced labels, everything called class 0: accuracy 3/4 but balanced accuracy
    (1 + 0)/2. Catches plain accuracy reported as balanced accuracy (on 2 + 2 labels, as above,
    both are 0.75)."""
    m = metrics.bag_metrics([0, 0, 0, 1], np.array([[0.9, 0.1]] * 4))
    assert m["accuracy"] == 0.75 and m["balanced_accuracy"] == 0.5


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


def test_localization_auc_skips_slides_that_are_all_tumour():
    """A slide whose patches are all tumour (every label >= 0.25) has no within-slide ranking to
    judge and does not count, like a negative slide. Catches only negative slides skipped (the
    all-tumour slide then counts, and its one-class AUC is NaN or an error)."""
    y = [np.array([0, 0, 1, 1.0]), np.array([0.5, 0.9, 1.0])]
    s = [np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.3, 0.1, 0.2])]
    assert metrics.localization_auc(s, y) == {"mean_slide_auc": 1.0, "pooled_auc": 1.0,
                                              "n_slides": 1}


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


# --------------------------------------------------------------------------------------------
# the figure standard
# --------------------------------------------------------------------------------------------
def test_setup_meets_the_dpi_standard():
    import matplotlib.pyplot as plt

    viz.setup()
    assert plt.rcParams["figure.dpi"] >= 100 and plt.rcParams["image.cmap"] != "jet"


def test_round_length_picks_1_2_5_times_a_power_of_ten():
    assert [viz.round_length(v) for v in (173, 999, 5, 2.5, 1000)] == [100, 500, 5, 2, 1000]
    assert viz.round_length(0.37) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="positive"):
        viz.round_length(0)


def test_scale_bar_length_in_pixels_is_microns_over_mpp():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.imshow(np.zeros((300, 400)))  # 400 px wide
    # 0.5 µm/px: the image is 200 µm wide; 30 % of it is 60 µm -> a round 50 µm = 100 px
    bar = viz.scale_bar(ax, 0.5)
    rect = bar.size_bar.get_children()[0]
    assert bar.length_um == 50 and rect.get_width() == pytest.approx(100)
    assert bar.txt_label.get_text() == "50 µm"
    # 4 µm/px: 1600 µm wide -> 480 µm allowed -> 200 µm = 50 px; an explicit 1 mm is 250 px
    assert viz.scale_bar(ax, 4.0).size_bar.get_children()[0].get_width() == pytest.approx(50)
    mm = viz.scale_bar(ax, 4.0, 1000)
    assert mm.size_bar.get_children()[0].get_width() == pytest.approx(250)
    assert mm.txt_label.get_text() == "1 mm"
    plt.close(fig)


def test_outline_mask_paints_only_the_boundary_and_copies():
    img = np.full((40, 80, 3), 100, np.uint8)
    low = np.zeros((10, 20), bool)
    low[2:8, 2:10] = True  # an off-centre rectangle at 1/4 resolution: image rows 8-31, cols 8-39
    out = viz.outline_mask(img, low, color=(255, 0, 0), thickness=1)
    assert (img == 100).all()  # the input is not drawn on
    painted = (out != 100).any(axis=2)
    assert (out[painted] == (255, 0, 0)).all()
    assert painted[8, 20] and painted[20, 8] and painted[31, 20] and painted[20, 39]  # the edges
    assert not painted[20, 24] and not painted[20, 60] and not painted[2, 2]  # inside / outside
    assert not painted[:, 45:].any()  # nothing on the right, where the mask is empty


def test_qc_legend_names_the_colours_draw_qc_paints():
    import matplotlib.pyplot as plt

    from milhelpers.tiling import TissueMask, draw_qc

    square = np.array([[10, 10], [90, 10], [90, 90], [10, 90]], float)
    hole = np.array([[40, 40], [60, 40], [60, 60], [40, 60]], float)
    tissue = TissueMask(np.ones((10, 10), np.uint8), (10.0, 10.0), [square], [[hole]])
    qc = draw_qc(np.full((100, 100, 3), 255, np.uint8), 1.0, tissue, np.array([[20, 20]]), 15)
    painted = {tuple(int(v) for v in c) for c in qc.reshape(-1, 3)} - {(255, 255, 255)}
    assert painted == set(viz.QC_COLOURS.values())
    ax = viz.show_qc(qc, 2.0, title="qc")
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == list(viz.QC_COLOURS)
    for line, colour in zip(legend.get_lines(), viz.QC_COLOURS.values()):
        assert np.allclose(line.get_color(), np.array(colour) / 255)
    assert any(hasattr(a, "length_um") for a in ax.artists)  # and a scale bar
    plt.close("all")


def test_resolution_ladder_reads_the_same_field_on_20x_and_40x_scans(block_slides):
    import matplotlib.pyplot as plt

    # 200 µm field whose top-left is at (1000, 700) level-0 px on the 20× scan = (2000, 1400) on 40×
    _, im20 = viz.resolution_ladder(block_slides[0.5], (1000, 700), 200, mpps=(0.5, 2.0))
    _, im40 = viz.resolution_ladder(block_slides[0.25], (2000, 1400), 200, mpps=(0.5, 2.0))
    assert [i.shape[:2] for i in im20] == [(400, 400), (100, 100)]  # field / mpp pixels
    assert [i.shape for i in im40] == [i.shape for i in im20]
    for a, b in zip(im20, im40):  # same tissue, whichever scan it was read from
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 8
    # the field straddles the tissue edge (x = 25 % of 4096 = 1024 px): glass left, tissue right
    assert im20[1][:, :5].mean() > 235 and im20[1][:, -20:].mean() < 225
    plt.close("all")


def test_heatmap_overlay_is_uniform_coloured_with_colourbar_and_absolute_scale():
    import matplotlib.pyplot as plt

    heat = np.array([[0.1, 0.2], [np.nan, 0.3]])
    ax = viz.heatmap_overlay(np.zeros((2, 2, 3), np.uint8), heat, vmin=0, vmax=1, label="weight")
    im = ax.images[1]
    assert im.get_cmap().name == "viridis" and im.get_clim() == (0, 1)
    assert len(ax.figure.axes) == 2 and ax.figure.axes[1].get_ylabel() == "weight"
    plt.close("all")


def test_show_images_adds_colourbars_to_graded_images_and_bars_where_a_resolution_is_given():
    import matplotlib.pyplot as plt

    graded, binary = np.arange(16.0).reshape(4, 4), np.eye(4)
    fig = viz.show_images([graded, binary, np.zeros((4, 4, 3), np.uint8)], ncols=3,
                          um_per_px=[None, None, 2.0], colorbar=True)
    assert len(fig.axes) == 4  # three panels + one colourbar (the graded image's only)
    bars = [[a for a in ax.artists if hasattr(a, "length_um")] for ax in fig.axes[:3]]
    assert [len(b) for b in bars] == [0, 0, 1]
    plt.close("all")


def test_bag_metrics_macro_f1_by_hand():
    """labels [0,0,0,1], predictions [0,0,1,1]: F1(class 0) = 2·2/(2·2+0+1) = 0.8, F1(class 1) =
    2·1/(2·1+1+0) = 2/3, macro = 0.7333 (the weighted mean would be 0.7667). Catches a
    support-weighted F1."""
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7]])
    m = metrics.bag_metrics([0, 0, 0, 1], probs)
    assert m["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)


# --- round 6 (acmil self-audit): one-class and multiclass AUC, weight checks, ties, score shapes


def test_bag_metrics_with_one_class_gives_nan_auc_and_the_rest():
    """labels all 1, predictions [1, 0, 1]: AUC undefined (NaN), accuracy 2/3."""
    m = metrics.bag_metrics([1, 1, 1], np.array([[0.2, 0.8], [0.9, 0.1], [0.4, 0.6]]))
    assert np.isnan(m["auc"])
    assert m["accuracy"] == pytest.approx(2 / 3)


def test_one_class_auc_does_not_lean_on_scikit_learns_own_fallback(monkeypatch):
    """scikit-learn >= 1.6 returns NaN (with a warning) for one class, but 1.4 and 1.5, which the
    course allows, raise ValueError: bag_metrics must not ask it at all (asymmetric: two classes
    still go to it)."""
    def old_sklearn(y, s, **kw):
        if len(np.unique(y)) < 2:
            raise ValueError("Only one class present in y_true. ROC AUC score is not defined")
        return 0.25
    monkeypatch.setattr(metrics, "roc_auc_score", old_sklearn)
    assert np.isnan(metrics.bag_metrics([1, 1], np.array([[0.2, 0.8], [0.4, 0.6]]))["auc"])
    assert metrics.bag_metrics([0, 1], np.array([[0.2, 0.8], [0.4, 0.6]]))["auc"] == 0.25


def test_multiclass_auc_is_the_macro_one_vs_rest_mean():
    """Three classes: the AUC is the mean over classes of the binary AUC of P(class c) for
    'class c vs the rest' (one-vs-one averages over class pairs and differs here)."""
    labels = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    probs = np.array([[.6, .3, .1], [.2, .5, .3], [.3, .4, .3], [.1, .8, .1], [.2, .2, .6],
                      [.5, .1, .4], [.4, .4, .2], [.3, .3, .4]])
    ovr = np.mean([roc_auc_score(labels == c, probs[:, c]) for c in range(3)])
    assert metrics.bag_metrics(labels, probs)["auc"] == pytest.approx(ovr)
    assert ovr != pytest.approx(roc_auc_score(labels, probs, multi_class="ovo"))


def test_attention_metrics_reject_zero_negative_or_empty_weights():
    for bad in (np.zeros(3), np.array([[0.5, 0.5], [0.0, 0.0]]), np.array([0.5, -0.1, 0.6])):
        with pytest.raises(ValueError, match="non-negative"):
            metrics.attention_entropy(bad)
    for bad in (np.zeros((2, 0)), np.ones((2, 2, 2))):
        with pytest.raises(ValueError, match="N >= 1"):
            metrics.topk_mass(bad, 1)


def test_entropy_normalises_by_log_n_not_by_the_number_of_heads():
    """(2 heads, 4 instances): head 0 uniform (H = log 4), head 1 one-hot (H = 0); normalised
    by log 4: mean (1 + 0)/2 = 0.5. One instance per head: 0 (not 0/0)."""
    a = np.array([[.25, .25, .25, .25], [0, 0, 1.0, 0]])
    assert metrics.attention_entropy(a) == pytest.approx(0.5)
    assert metrics.attention_entropy(a, normalized=False) == pytest.approx(np.log(4) / 2)
    assert metrics.attention_entropy(np.array([[1.0], [2.0]])) == 0.0


def test_top_branch_breaks_ties_by_position():
    """Head 0 = [.4, .4, .2] has a tie for its top 1: the first position (instance 0) wins.
    Head 1's top 1 is instance 2. Instance 1 is in no head's top 1: −1."""
    a = np.array([[.4, .4, .2], [.1, .2, .7]])
    assert metrics.top_branch(a, 1).tolist() == [0, -1, 1]
    assert metrics.topk_members(a, 1).tolist() == [True, False, True]


def test_localisation_takes_one_row_scores_and_rejects_heads_and_length_mismatch():
    y = np.array([0.0, 0.5, 0.0, 1.0])
    s = np.array([0.1, 0.7, 0.3, 0.2])       # tumour ranks: 0.7 beats all 2 normals, 0.2 one of 2
    r = metrics.localization_auc([s[None]], [y])
    assert r["mean_slide_auc"] == pytest.approx(3 / 4) and r["n_slides"] == 1
    with pytest.raises(ValueError, match="one score per instance"):
        metrics.localization_auc([np.stack([s, s])], [y])
    with pytest.raises(ValueError, match="instance labels"):
        metrics.localization_auc([s[:3]], [y])       # more labels than scores
    with pytest.raises(ValueError, match="instance labels"):
        metrics.localization_auc([s], [y[:3]])


# --- round 7: k's lower bound of topk_mass and topk_members at exactly k = 0 and k = 1


def test_topk_mass_and_topk_members_refuse_k_zero_and_accept_k_one():
    """k = 0 (and below) is refused, not answered with an empty top set (mass 0, no member);
    k = 1 is the smallest valid k: top-1 of [0.1, 0.6, 0.3] holds 0.6, and it is instance 1."""
    a = np.array([0.1, 0.6, 0.3])
    for fn in (metrics.topk_mass, metrics.topk_members):
        for k in (0, -1):
            with pytest.raises(ValueError, match=f"k must be >= 1, got {k}"):
                fn(a, k)
    assert metrics.topk_mass(a, 1) == pytest.approx(0.6)
    assert metrics.topk_members(a, 1).tolist() == [False, True, False]


# --- round 8: options, columns and ties
def test_r8_summarize_digits_reach_both_numbers_and_the_columns_by_hand():
    s = metrics.summarize([{"auc": 0.8, "acc": 0.5}, {"auc": 1.0, "acc": 0.75}], digits=1)
    assert s.loc["auc", "mean"] == pytest.approx(0.9)
    assert s.loc["auc", "std"] == pytest.approx(np.sqrt(0.02))       # ddof = 1: √(2·0.1²/1)
    assert s.loc["auc", "mean ± std"] == "0.9 ± 0.1"
    assert metrics.summarize([{"a": 0.8}, {"a": 1.0}], digits=4).loc["a", "mean ± std"] == \
        "0.9000 ± 0.1414"
    assert s.loc["acc", "mean ± std"] == "0.6 ± 0.2"      # 0.625 → 0.6, 0.1768 → 0.2


def test_r8_tied_weights_enter_the_top_k_from_the_first_position():
    a = np.array([0.1, 0.3, 0.3, 0.3])
    assert metrics.topk_members(a, 2).tolist() == [False, True, True, False]
    assert metrics.topk_members(np.full(4, 0.25), 1).tolist() == [True, False, False, False]
    # top_branch: head 1 has patch 1 and 2 tied; k = 1 keeps patch 1 only
    heads = np.array([[0.7, 0.1, 0.1, 0.1], [0.2, 0.3, 0.3, 0.2]])
    assert metrics.top_branch(heads, 1).tolist() == [0, 1, -1, -1]
    # the top-k mass does not depend on which tied weight enters
    assert metrics.topk_mass(a, 2) == pytest.approx(0.6)


# --- round 9: every value localization_auc returns, on slides where mean != median ------------
def test_r9_localization_auc_means_slides_ranks_within_them_and_counts_the_judged_ones():
    """Three judged slides with within-slide AUCs 1, 1 and 0, plus a negative slide and an
    all-tumour slide that must be skipped. Catches the median taken over slides (1 instead of
    2/3), raw ranks or raw scores pooled instead of percentile ranks, a label exactly at the
    threshold not counted as tumour, skipped slides counted in ``n_slides``, and the all-tumour
    slide judged (its one-class AUC is undefined)."""
    scores = [np.array([[0.1, 0.9]]),               # (1, N) is one head: read as (N,)
              np.array([0.2, 0.3, 0.8]),
              np.array([0.7, 0.4]),
              np.array([0.5, 0.6]),                 # negative slide: skipped
              np.array([0.3, 0.1])]                 # all tumour: skipped
    labels = [np.array([0.0, 0.25]),                # 0.25 is exactly the threshold: tumour
              np.array([0.1, 0.2, 0.9]),
              np.array([0.24, 0.3]),                # the tumour patch scores lower: AUC 0
              np.array([0.0, 0.1]),
              np.array([0.5, 1.0])]
    loc = metrics.localization_auc(scores, labels)
    assert loc["n_slides"] == 3
    assert loc["mean_slide_auc"] == pytest.approx(2 / 3)          # median would say 1
    # percentile ranks within slides: tumour 1.0, 1.0, 0.5; non-tumour 0.5, 1/3, 2/3, 1.0.
    # Of the 12 (tumour, non-tumour) pairs: 1.0 beats three and ties one (3.5, twice); 0.5 beats
    # 1/3 and ties 0.5 (1.5): (7 + 1.5) / 12
    assert loc["pooled_auc"] == pytest.approx(8.5 / 12)
    # a higher threshold turns slide 0's 0.25 patch into non-tumour: it drops out
    high = metrics.localization_auc(scores, labels, threshold=0.26)
    assert high["n_slides"] == 2 and high["mean_slide_auc"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="slide 1: 3 scores but 2 instance labels"):
        metrics.localization_auc(scores[:2], [labels[0], labels[0]])


def test_r10_bag_metrics_predicts_the_arg_max_of_three_classes_by_hand():
    """Three classes, row 3 of class 1 predicted as class 0 (0.45 > 0.40). Predictions are
    [0, 1, 2, 0]: accuracy 3/4, balanced accuracy (1 + 1/2 + 1)/3, macro F1 (2/3 + 2/3 + 1)/3.
    Catches a 0.5 threshold on one column instead of the arg-max (accuracy 1/4), balanced
    accuracy replaced by accuracy, and weighted or micro F1 (3/4) instead of macro."""
    probs = np.array([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.2, 0.3, 0.5], [0.45, 0.4, 0.15]])
    m = metrics.bag_metrics([0, 1, 2, 1], probs)
    assert m["accuracy"] == pytest.approx(3 / 4)
    assert m["balanced_accuracy"] == pytest.approx(5 / 6)
    assert m["macro_f1"] == pytest.approx(7 / 9)
    # the audit's example: every row's largest entry is its label, only the last column >= 0.5
    m = metrics.bag_metrics([0, 1, 2], probs[:3])
    assert m["accuracy"] == 1.0 and m["auc"] == 1.0


def test_r10_bag_metrics_binary_tie_goes_to_class_0_and_one_row_still_scores():
    """Binary: a 0.5/0.5 tie is predicted class 0 (arg-max takes the first), which a
    'P(class 1) >= 0.5' rule would call class 1. A single-row, single-class input gives NaN AUC
    and still an accuracy."""
    m = metrics.bag_metrics([0, 1], np.array([[0.5, 0.5], [0.2, 0.8]]))
    assert m["accuracy"] == 1.0 and m["auc"] == 1.0
    one = metrics.bag_metrics([1], np.array([[0.2, 0.8]]))
    assert np.isnan(one["auc"]) and one["accuracy"] == 1.0


def test_r10_cumulative_attention_means_over_slides_of_different_lengths():
    """Four slides (three of 2 instances, one of 3, one unnormalised), K = 1..3 by hand.
    Catches the median over slides instead of the mean (0.7 instead of 0.725 at K = 1; 0.5
    instead of 11/24 for the uniform curve), an ascending sort, and a uniform reference that
    does not stop at 1 once K >= N."""
    slides = [np.array([2.0, 0.0]), np.array([0.5, 0.5]), np.array([0.1, 0.9]),
              np.array([0.2, 0.3, 0.5])]
    ks, curve, uniform = metrics.cumulative_attention(slides, 3)
    assert ks.tolist() == [1, 2, 3]
    # per slide: [1, 1, 1], [.5, 1, 1], [.9, 1, 1], [.5, .8, 1]
    np.testing.assert_allclose(curve, [2.9 / 4, 3.8 / 4, 1.0])
    # uniform: [.5, 1, 1] for the 2-instance slides, [1/3, 2/3, 1] for the 3-instance one
    np.testing.assert_allclose(uniform, [(1.5 + 1 / 3) / 4, (3 + 2 / 3) / 4, 1.0])
    # the audit's example: mean 0.8 where the median is 0.9
    _, c1, _ = metrics.cumulative_attention([[1, 0], [0.5, 0.5], [0.9, 0.1]], 1)
    np.testing.assert_allclose(c1, [0.8])


def test_r10_entropy_and_topk_mass_average_three_heads_not_take_their_median_or_max():
    """Three heads over N = 4: two one-hot heads (entropy 0, top-1 mass 1) and a uniform one
    (entropy 1, top-1 mass 1/4). The mean over heads is 1/3 and 3/4; the median would give 0
    and 1, the max 1 and 1, and the flattened (3, 4) array something else again."""
    a = np.array([[1.0, 0, 0, 0], [0, 0, 0, 2.0], [1.0, 1.0, 1.0, 1.0]])
    assert metrics.attention_entropy(a) == pytest.approx(1 / 3)
    assert metrics.attention_entropy(a, normalized=False) == pytest.approx(np.log(4) / 3)
    assert metrics.topk_mass(a, 1) == pytest.approx(3 / 4)
    assert metrics.topk_mass(a, 2) == pytest.approx((1 + 1 + 1 / 2) / 3)


def test_r10_summarize_takes_a_data_frame_keeps_column_order_and_skips_text_columns():
    """A DataFrame of three folds (not a list of dicts), metric columns in the order 'b', 'a',
    and a text column. Catches the DataFrame branch dropped, the median instead of the mean
    (0.2 for 'b'), population std (ddof=0), sorted rows and the text column summarised."""
    import pandas as pd
    df = pd.DataFrame({"fold": ["x", "y", "z"], "b": [0.1, 0.2, 0.6], "a": [1, 2, 3]})
    s = metrics.summarize(df, digits=2)
    assert s.index.tolist() == ["b", "a"]
    assert s.columns.tolist() == ["mean", "std", "mean ± std"]
    assert s.loc["b", "mean"] == pytest.approx(0.3)
    assert s.loc["b", "std"] == pytest.approx(np.sqrt(0.14 / 2))   # deviations −.2, −.1, .3
    assert s["mean ± std"].tolist() == ["0.30 ± 0.26", "2.00 ± 1.00"]


# --- round 11: every per-head function normalises each head on its own first ------------------
# Heads with different raw totals (4 and 1): only after per-head normalisation does head 1's
# 0.9 beat head 0's 2 (= 0.5 of its head).
_R11_RAW = np.array([[2.0, 2.0, 0.0], [0.9, 0.1, 0.0]])


def test_r11_per_head_functions_normalise_each_head_not_the_raw_or_whole_array():
    """By hand on _R11_RAW, per-head normalised [[.5, .5, 0], [.9, .1, 0]]:
    top_branch k=1: instance 0 is head 0's top (tie broken by position) and head 1's; head 1
    holds it more (0.9 > 0.5) → [1, -1, -1]. topk_mass k=1: mean(0.5, 0.9) = 0.7.
    cumulative_attention: slide attention [.7, .3, 0] → [.7, 1, 1]; entropy: mean of
    H(.5,.5)/log 3 and H(.9,.1)/log 3. Catches raw weights (head 0 wins on 2 > 0.9), one
    normalisation over the whole array, or heads averaged before normalising
    ([5.5, 1.5, 0]/7 → 0.786 at K = 1)."""
    assert metrics.top_branch(_R11_RAW, 1).tolist() == [1, -1, -1]
    assert metrics.topk_mass(_R11_RAW, 1) == pytest.approx(0.7)
    ks, curve, uniform = metrics.cumulative_attention([_R11_RAW], 3)
    assert ks.tolist() == [1, 2, 3]
    assert curve == pytest.approx([0.7, 1.0, 1.0])
    assert uniform == pytest.approx([1 / 3, 2 / 3, 1.0])
    h = lambda p: -sum(x * np.log(x) for x in p if x > 0)  # noqa: E731
    want = (h([0.5, 0.5]) + h([0.9, 0.1])) / 2
    assert metrics.attention_entropy(_R11_RAW) == pytest.approx(want / np.log(3))
    assert metrics.attention_entropy(_R11_RAW, normalized=False) == pytest.approx(want)


def test_r11_top_branch_only_heads_that_hold_the_instance_in_their_top_k_compete():
    """k = 2, heads [[.7, .3, 0, 0], [0, .32, .34, .34]]: instance 1 is in head 0's top 2 but not
    in head 1's (its .34s outrank .32), so it goes to head 0 although head 1 weights it more;
    instances 2 and 3 go to head 1; nothing is -1 here. With k = 1 instance 1 is in no top and
    the tie .34/.34 keeps instance 2 only → [0, -1, 1, -1]. Catches the arg-max over all heads,
    a top k+1, an ascending sort, and top_branch's k ignored."""
    a = np.array([[0.7, 0.3, 0.0, 0.0], [0.0, 0.32, 0.34, 0.34]])
    assert metrics.top_branch(a, 2).tolist() == [0, 0, 1, 1]
    assert metrics.top_branch(a, 1).tolist() == [0, -1, 1, -1]
    assert metrics.topk_members(a, 1).tolist() == [True, False, True, False]
    assert metrics.topk_members(a, 2).tolist() == [True, True, True, True]
    # a 1-D attention is one head: head 0 for the top k, -1 for the rest
    assert metrics.top_branch(np.array([0.1, 0.6, 0.3]), 2).tolist() == [-1, 0, 0]


_R11_BAD = [(np.array([[1.0, 1.0], [0.0, 0.0]]), "positive sum per head"),
            (np.array([[2.0, -1.0, 1.0]]), "non-negative"),
            (np.zeros((2, 0)), "N >= 1"),
            (np.ones((1, 2, 2)), r"must be \(N,\) or \(heads, N\)")]


@pytest.mark.parametrize("fn", ["top_branch", "topk_members", "topk_mass", "attention_entropy",
                                "cumulative_attention"])
@pytest.mark.parametrize("bad, match", _R11_BAD)
def test_r11_per_head_functions_reject_bad_attention_with_valueerror(fn, bad, match):
    """A head of all zeros (one head is enough, the other sums to 2), a negative weight in a
    positively-summing head, N = 0, and a 3-D array: each per-head function raises ValueError
    saying which. Catches the check for ``<= 0`` widened to ``< 0`` (NaN weights), the
    negative-weight check dropped, the empty-N check dropped."""
    call = {"top_branch": lambda a: metrics.top_branch(a, 1),
            "topk_members": lambda a: metrics.topk_members(a, 1),
            "topk_mass": lambda a: metrics.topk_mass(a, 1),
            "attention_entropy": metrics.attention_entropy,
            "cumulative_attention": lambda a: metrics.cumulative_attention([a], 1)}[fn]
    with pytest.raises(ValueError, match=match):
        call(bad)


@pytest.mark.parametrize("k", [0, -1])
def test_r11_top_branch_rejects_k_below_one_like_topk_members(k):
    """top_branch(a, 0) raises as topk_members(a, 0) does, not answer silently (a package bug
    found in round 11: k = 0 gave all -1 and k = -1 kept all but the last)."""
    with pytest.raises(ValueError, match="k must be >= 1"):
        metrics.top_branch(np.array([[0.7, 0.3, 0.0]]), k)


# --------------------------------------------------------------------------------------------
# round 12: one-class AUC, entropy's default, localisation's checks and percentile ranks
# --------------------------------------------------------------------------------------------
def test_r12_bag_metrics_of_one_class_has_nan_auc_and_the_rest_defined():
    out = metrics.bag_metrics([1, 1], np.array([[0.2, 0.8], [0.6, 0.4]]))
    assert np.isnan(out["auc"])
    assert out["accuracy"] == 0.5 and out["balanced_accuracy"] == 0.5
    # macro F1 over the classes present in labels or predictions: class 1 F1 = 2/3, class 0 F1 = 0
    assert out["macro_f1"] == pytest.approx(1 / 3)


def test_r12_attention_entropy_is_normalised_by_default():
    a = np.array([0.5, 0.25, 0.25, 0.0])
    h = -(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25))        # 1.5 log 2 nats
    assert metrics.attention_entropy(a) == pytest.approx(h / np.log(4))   # 0.75
    assert metrics.attention_entropy(a, normalized=False) == pytest.approx(h)


def test_r12_localization_refuses_multihead_scores_and_mismatched_labels():
    with pytest.raises(ValueError, match="average the heads first"):
        metrics.localization_auc([np.ones((2, 2))], [np.array([0.0, 1.0])])
    with pytest.raises(ValueError, match="slide 0: 3 scores but 2 instance labels"):
        metrics.localization_auc([np.array([0.1, 0.2, 0.3])], [np.array([0.0, 1.0])])
    # (1, N) scores are one slide's scores
    out = metrics.localization_auc([np.array([[0.1, 0.9]])], [np.array([0.0, 1.0])])
    assert out == {"mean_slide_auc": 1.0, "pooled_auc": 1.0, "n_slides": 1}


def test_r12_localization_pools_percentile_ranks_not_raw_ranks_or_scores():
    scores = [np.array([0.1, 0.9]), np.array([0.1, 0.2, 0.3, 0.4])]
    labels = [np.array([0.0, 1.0]), np.array([1.0, 0.0, 0.0, 0.0])]
    out = metrics.localization_auc(scores, labels)
    # per slide: 1.0 and 0.0. Pooled percentile ranks: positives 1.0 (slide A) and 0.25 (slide
    # B); negatives 0.5 (A), 0.5, 0.75, 1.0 (B): 1.0 wins 3 pairs and ties 1, 0.25 wins none
    # → 3.5 / 8. The raw scores would give (4 + ½) / 8, ranks within slides (1, 2 | 1 … 4) 2 / 8
    assert out["mean_slide_auc"] == 0.5 and out["n_slides"] == 2
    assert out["pooled_auc"] == pytest.approx(3.5 / 8)
    # no slide with both kinds of patch: NaN and 0 slides
    none = metrics.localization_auc([np.array([0.1, 0.2])], [np.array([0.0, 0.1])])
    assert np.isnan(none["mean_slide_auc"]) and np.isnan(none["pooled_auc"])
    assert none["n_slides"] == 0


def test_r13_attention_summaries_are_computed_in_float64():
    """Audit 13 survivor: the per-head normalisation works in float64, so a share that is exact in
    float64 (0.7 of a total 1.0) comes back exactly, not as float32's 0.699999988."""
    assert metrics.topk_mass([0.1, 0.2, 0.7], 1) == 0.7
    assert metrics.topk_mass(np.array([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]], np.float32), 1) \
        == pytest.approx((0.7 + 0.4) / 2, abs=1e-7)
