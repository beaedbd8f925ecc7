"""Chapter 04's figures: shared attention scales, cumulative attention, λ curves, correlations."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from milhelpers import synth, viz  # noqa: E402


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    img = np.full((128, 256, 3), 230, np.uint8)
    coords = np.array([(x, y) for y in range(0, 128, 64) for x in range(0, 256, 64)])  # 8 patches
    path = synth.write_pyramidal_tiff(tmp_path_factory.mktemp("s") / "s.tiff", img, mpp=0.5,
                                      min_levels=1)
    return path, coords


def test_attention_row_puts_every_model_on_one_absolute_scale(slide):
    path, coords = slide
    sharp = np.full(8, 0.02); sharp[3] = 1 - 0.02 * 7      # one patch holds 86 %
    flat = np.full(8, 1 / 8)
    truth = np.zeros(8); truth[3] = 1.0
    fig = viz.attention_row(path, coords, 64, {"λ = 0": sharp, "λ = 10": flat}, truth)
    imgs = [ax.get_images()[-1] for ax in fig.axes[:3]]
    assert imgs[0].get_clim() == imgs[1].get_clim() == (0.0, pytest.approx(sharp.max()))
    assert imgs[2].get_clim() == (0.0, 1.0)
    assert len(fig.axes) == 6                                # 3 panels + 3 colourbars
    assert fig.axes[0].get_title() == f"λ = 0\nmax a_k = {sharp.max() * 8:.1f}× uniform"
    assert fig.axes[1].get_title().endswith("max a_k = 1.0× uniform")
    # the flat model's map is uniformly cold: all its pixels at 1/8 of a scale topping at 0.86
    flat_px = np.ma.compressed(imgs[1].get_array())
    assert np.allclose(flat_px, 1 / 8)
    with pytest.raises(ValueError, match="3 weights for 8 patches"):
        viz.attention_row(path, coords, 64, {"bad": np.ones(3) / 3})
    # one colourbar for the shared attention scale, one for the truth: 3 panels + 2 bars
    fig = viz.attention_row(path, coords, 64, {"λ = 0": sharp, "λ = 10": flat}, truth,
                            shared_colorbar=True)
    assert len(fig.axes) == 5
    bars = [ax for ax in fig.axes[3:]]
    assert sorted(ax.get_ylabel() for ax in bars) == ["attention a_k (every model)",
                                                      "tumour fraction of the patch"]
    plt.close("all")


def test_cumulative_attention_curves_and_reference_lines():
    a = np.array([0.1, 0.6, 0.3])
    ax = viz.slide_cumulative_attention({"model": a, "flat": np.ones(4) / 4},
                                  truth=np.array([0.0, 1.0, 0.3, 0.0]))
    lines = {l.get_label(): l for l in ax.get_lines()}
    x, y = lines["model"].get_data()
    assert x.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert y.tolist() == pytest.approx([0, 0.6, 0.9, 1.0])     # sorted largest first
    assert lines["flat"].get_data()[1].tolist() == pytest.approx([0, .25, .5, .75, 1])
    # the threshold (≥ 25 %) counts 1.0 and 0.3, not 0.0: 2 of 4 patches
    assert lines["tumour patches (≥ 25% tumour): 50%"].get_data()[0][0] == pytest.approx(0.5)
    assert ax.get_xlabel().startswith("fraction of the bag") and "uniform (mean pooling)" in lines
    plt.close("all")


def test_lambda_curves_one_line_per_variant_with_references():
    t = pd.DataFrame({"variant": ["constant"] * 3 + ["cosine"],
                      "lam": [0.0, 0.1, 10.0, 10.0], "mean": [0.7, 0.8, 0.6, 0.75],
                      "lo": [0.6, 0.7, 0.5, 0.7], "hi": [0.8, 0.9, 0.7, 0.8]})
    ax = viz.lambda_curves(t, "auc", references={"mean_pool": 0.65})
    assert ax.get_xscale() == "symlog" and ax.get_ylabel() == "auc"
    lines = {l.get_label(): l for l in ax.get_lines() if not l.get_label().startswith("_")}
    assert lines["mean_pool"].get_ydata()[0] == 0.65
    ys = [c.lines[0].get_ydata().tolist() for c in ax.containers]
    assert ys == [[0.7, 0.8, 0.6], [0.75]]
    xs = ax.containers[0].lines[0].get_xdata().tolist()
    assert xs == [0.0, 0.1, 10.0]                           # the first variant is not offset
    with pytest.raises(KeyError, match="'hi'"):
        viz.lambda_curves(t.drop(columns="hi"), "auc")
    plt.close("all")


def test_correlation_scatter_and_aem_variants_label_their_axes():
    stats = {"rho": 0.42, "ci95": [-0.1, 0.8], "n": 4}
    ax = viz.correlation_scatter([0.8, 0.9, 0.95, 1.0], [0.7, 0.8, 0.75, 0.9],
                                 ["a", "a", "b", "b"], stats, xlabel="entropy", ylabel="AUC")
    assert ax.get_title() == "Spearman ρ = +0.42, 95% CI [-0.10, +0.80] (4 runs)"
    assert [c.get_offsets().shape[0] for c in ax.collections] == [2, 2]
    assert ax.get_xlabel() == "entropy" and ax.get_ylabel() == "AUC"
    axes = viz.aem_variants(2.0, [12, 100, 400])
    const, cos = axes[0].get_lines()
    assert const.get_ydata().tolist() == [2.0] * 101
    assert cos.get_ydata()[0] == pytest.approx(2.0) and cos.get_ydata()[-1] == pytest.approx(0)
    none = axes[1].collections[0].get_offsets()
    assert np.asarray(none)[:, 1] == pytest.approx(np.log([12, 100, 400]))
    with pytest.raises(ValueError, match="lengths"):
        viz.aem_variants(1.0, [])
    plt.close("all")


def test_lambda_axis_starts_at_zero_and_bag_lengths_read_as_plain_numbers():
    t = pd.DataFrame({"variant": ["constant"] * 2, "lam": [0.0, 0.1], "mean": [0.7, 0.8],
                      "lo": [0.6, 0.7], "hi": [0.8, 0.9]})
    ax = viz.lambda_curves(t, "auc")
    assert -0.1 < ax.get_xlim()[0] < 0                    # no negative decades before λ = 0
    axes = viz.aem_variants(1.0, [12, 40, 400])
    assert [t.get_text() for t in axes[1].get_xticklabels()] == ["20", "50", "100", "200"]
    plt.close("all")


def test_lambda_curves_markers_only_draws_no_line_and_keeps_dodged_markers_in_view():
    t = pd.DataFrame({"variant": ["constant"] * 3 + ["cosine", "log_n"],
                      "lam": [0.0, 1.0, 10.0, 10.0, 10.0], "mean": [0.7, 0.8, 0.6, 0.75, 0.72],
                      "lo": [0.6, 0.7, 0.5, 0.7, 0.7], "hi": [0.8, 0.9, 0.7, 0.8, 0.8]})
    ax = viz.lambda_curves(t, "auc", markers_only=["cosine", "log_n"])
    styles = [c.lines[0].get_linestyle() for c in ax.containers]
    assert styles == ["-", "None", "None"]
    # log_n (third variant) sits at 10 × 1.16; the axis must reach past it
    assert ax.get_xlim()[1] > 10 * 1.16
    plt.close("all")


def test_paired_comparison_label_and_title_name_folds_and_seed():
    runs = pd.DataFrame({"method": ["A"] * 3 + ["B"] * 3, "seed": [2] * 6,
                         "fold": [0, 1, 2] * 2, "loc_auc": [.6, .7, .8, .7, .75, .9]})
    ax = viz.paired_comparison(runs, "loc_auc", ["A", "B"], label="localisation AUC")
    assert ax.get_ylabel() == "localisation AUC"
    assert ax.get_title() == "localisation AUC: 3 test folds, seed 2"
    two = pd.concat([runs, runs.assign(seed=3)])
    assert viz.paired_comparison(two, "loc_auc", ["A", "B"]).get_title() == \
        "loc auc: 6 (seed, fold) runs"
    assert ax.get_legend() is not None                      # default: the legend is drawn
    assert viz.paired_comparison(runs, "loc_auc", ["A", "B"], legend=False).get_legend() is None
    plt.close("all")


def test_correlation_scatter_order_keeps_one_colour_per_group_across_subsets():
    ax = viz.correlation_scatter([0.8, 0.9], [0.7, 0.8], ["c", "c"], order=["a", "b", "c"])
    (dots,) = ax.collections                               # only "c" is drawn, in its own colour
    assert np.allclose(dots.get_facecolor()[0], plt.get_cmap("tab10")(2))
    with pytest.raises(ValueError, match="order lacks the groups"):
        viz.correlation_scatter([0.8], [0.7], ["z"], order=["a"])
    plt.close("all")
