"""Chapter 02's attention figures: absolute scales, colourbars, titles naming the right patches."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from milhelpers import synth, viz


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    # 4 × 3 grid of 64-px patches; patch 7 is red so we can see which patch a panel shows
    img = np.full((192, 256, 3), 230, np.uint8)
    coords = np.array([(x, y) for y in range(0, 192, 64) for x in range(0, 256, 64)])
    x, y = coords[7]
    img[y:y + 64, x:x + 64] = (200, 0, 0)
    path = synth.write_pyramidal_tiff(tmp_path_factory.mktemp("s") / "s.tiff", img, mpp=0.5,
                                      min_levels=1)
    return path, coords



def test_attention_panels_raw_on_the_given_absolute_scale(slide):
    path, coords = slide
    a = np.full(len(coords), 0.01)
    a[7] = 1 - 0.01 * (len(coords) - 1)
    truth = np.zeros(len(coords)); truth[7] = 1.0
    axes = viz.attention_panels(path, coords, 64, a, truth, raw_vmax=0.5)
    raw_img, rank_img, gt_img = (ax.get_images()[-1] for ax in axes)
    assert raw_img.get_clim() == (0.0, 0.5)          # the shared scale, not this slide's max
    assert rank_img.get_clim() == (0.0, 1.0) and gt_img.get_clim() == (0.0, 1.0)
    fig = axes[0].figure
    assert len(fig.axes) == 6                         # three panels, three colourbars
    labels = [ax.get_ylabel() for ax in fig.axes[3:]]
    assert labels == ["attention a_k", "rank within slide (0–1)", "tumour fraction of the patch"]
    # the hottest pixel of the rank map is the footprint of patch 7
    rank = np.ma.filled(rank_img.get_array(), np.nan)
    ys, xs = np.nonzero(rank == np.nanmax(rank))
    assert xs.min() >= 180 * rank.shape[1] / 256 - 1 and ys.min() >= 60 * rank.shape[0] / 192 - 1
    plt.close("all")


def test_ranked_patches_titles_name_weight_and_truth(slide):
    path, coords = slide
    a = np.linspace(0.01, 0.12, len(coords))[::-1].copy()   # patch 0 highest ... patch 11 lowest
    a[7], a[0] = a[0], a[7]                                  # now patch 7 is the top one
    truth = np.arange(len(coords)) / 20
    fig = viz.ranked_patches(path, coords, 64, a, truth, k=2, out_px=32)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0] == f"top 1: a={a[7]:.2g}\ntumour {truth[7]:.0%}"
    assert titles[2] == f"bottom 1: a={a[11]:.2g}\ntumour {truth[11]:.0%}"
    top_img = fig.axes[0].get_images()[0].get_array()
    assert top_img[..., 0].mean() > 150 and top_img[..., 1].mean() < 60   # the red patch
    plt.close("all")


def test_toy_attention_and_concentration_plot_label_their_axes():
    axes = viz.toy_attention(np.array([1.0, -1.0, 0.0]), np.array([0.66, 0.09, 0.25]))
    assert axes[1].get_ylabel() == "attention weight a_k" and axes[0].get_xlabel() == "instance k"
    heights = [p.get_height() for p in axes[1].patches]
    assert heights == pytest.approx([0.66, 0.09, 0.25])
    axes = viz.concentration_plot([10, 100, 1000], [0.9, 0.5, 0.2], [0.5, 0.6, 0.9], [0, 1, 1])
    assert axes[1].get_xscale() == "log" and axes[1].get_ylabel() == "attention mass of the top 5"
    uniform = [l for l in axes[1].get_lines() if l.get_label() == "uniform: 5/N"][0]
    x, y = uniform.get_data()
    assert y == pytest.approx(np.minimum(1, 5 / x))
    plt.close("all")
