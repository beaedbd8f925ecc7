"""Chapter 02's evidence figures draw the numbers they are given."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from milhelpers import stats, viz  # noqa: E402


def _table(rows):
    return pd.DataFrame(rows, columns=["metric", "method", "diff", "lo", "hi", "clear"])


def test_difference_forest_places_each_interval_and_fills_only_clear_ones():
    quick = _table([("auc", "m1", -0.05, -0.09, -0.01, True), ("auc", "m2", 0.02, -0.03, 0.07, False),
                    ("loc_auc", "m1", 0.3, 0.2, 0.4, True)])
    full = _table([("auc", "m1", -0.06, -0.08, -0.04, True), ("auc", "m2", -0.04, -0.07, -0.01, True)])
    ax = viz.difference_forest({"quick": quick, "full": full}, "auc", reference="ref")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["m1", "m2"]
    lines = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    got = sorted((float(ln.get_xdata()[0]), ln.get_markerfacecolor() == "white") for ln in lines)
    assert got == [(-0.06, False), (-0.05, False), (-0.04, False), (0.02, True)]
    # the error bars span lo..hi (loc_auc's 0.3 is not drawn on the auc panel)
    segs = [s for c in ax.collections for s in c.get_segments()]
    spans = sorted((round(s[0][0], 3), round(s[1][0], 3)) for s in segs)
    assert spans == [(-0.09, -0.01), (-0.08, -0.04), (-0.07, -0.01), (-0.03, 0.07)]
    assert "ref" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["quick", "full",
                                                                    "open: no evidence either way"]
    plt.close("all")


def test_bootstrap_resamples_marks_both_intervals_and_zero():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(30, int), np.ones(30, int)]
    a = rng.normal(size=60) + y
    b = 0.8 * a + 0.4 * rng.normal(size=60) + 0.3 * y
    p = stats.paired_slide_comparison(y, a, b, n_boot=400, return_resamples=True)
    u = stats.paired_slide_comparison(y, a, b, n_boot=400, paired=False, return_resamples=True)
    ax = viz.bootstrap_resamples(p, u, a="abmil_gated", b="abmil_tanh")
    xs = sorted(float(ln.get_xdata()[0]) for ln in ax.get_lines())
    want = sorted([*p["ci95"], *u["ci95"], 0.0, p["diff"]])
    assert np.allclose(xs, want)
    assert sum(patch.get_height() for patch in ax.patches) == 800   # both histograms, all resamples
    assert "abmil_tanh − abmil_gated" in ax.get_xlabel()
    plt.close("all")


def test_fold_curves_mark_the_last_epoch_of_every_fold():
    hists = [pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.7, 0.5, 0.3],
                           "val_loss": [0.6, 0.55, 0.6 + k / 10], "val_auc": [0.6, 0.7, 0.65]})
             for k in range(2)]
    axes = viz.fold_curves(hists, "abmil_gated")
    marks = [ln for ln in axes[0].get_lines() if ln.get_marker() == "o"]
    assert [(float(m.get_xdata()[0]), round(float(m.get_ydata()[0]), 3)) for m in marks] == \
        [(3.0, 0.6), (3.0, 0.7)]
    assert axes[1].get_ylabel() == "validation AUC"
    plt.close("all")


def test_cohort_slides_outline_tumour_and_mimics_with_titles_from_the_labels(tmp_path):
    from milhelpers import synth

    cfg = synth.CohortConfig(n_slides=10, seed=5, min_side_mm=0.5, max_side_mm=0.6)
    synth.build_cohort(tmp_path, cfg, workers=1, progress=False)
    labels = pd.read_csv(tmp_path / "labels.csv", keep_default_na=False)
    pos = labels[labels.label == 1].iloc[0]
    fig = viz.cohort_slides(tmp_path, {"a positive": pos.slide_id}, labels, thumb_px=120)
    ax = fig.axes[0]
    assert ax.get_title().startswith(f"a positive: {pos.slide_id}\n{pos.burden}, "
                                     f"{pos.tumour_patches} tumour patches")
    img = ax.get_images()[0].get_array()
    yellow = np.all(np.asarray(img)[..., :3] == viz.OUTLINE_COLOURS["tumour"], axis=-1)
    assert yellow.any()                                    # the tumour outline is drawn
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["tumour", "mimic"]
    plt.close("all")
