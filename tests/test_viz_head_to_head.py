"""Chapter 07's figures: the forest plot, ranks, cost against accuracy with the Pareto front,
the methods × slides attention grid and the top-k tissue shares."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from milhelpers import synth, viz


def _table(rows, metric="auc"):
    return pd.DataFrame([{"metric": metric, "method": m, "diff": d, "lo": lo, "hi": hi,
                          "clear": c} for m, d, lo, hi, c in rows])


def test_forest_plot_draws_each_interval_and_fills_only_clear_differences():
    t0 = _table([("a", 0.05, 0.01, 0.09, True), ("b", -0.02, -0.06, 0.03, False)])
    t1 = _table([("a", 0.01, -0.03, 0.05, False), ("b", -0.08, -0.12, -0.04, True)])
    extra = _table([("a", 0.3, 0.2, 0.4, True)], metric="loc_auc")
    ax = viz.forest_plot({"seed 0": pd.concat([t0, extra]), "seed 1": t1}, "auc", "ref")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2 and ln.get_linestyle() == "-"]
    spans = sorted(tuple(np.round(ln.get_xdata(), 3)) for ln in lines)
    assert spans == sorted([(0.01, 0.09), (-0.06, 0.03), (-0.03, 0.05), (-0.12, -0.04)])
    # the loc_auc row of the same table is not drawn
    assert (0.2, 0.4) not in spans
    points = [c for c in ax.collections if len(c.get_offsets())]
    filled = {tuple(np.round(c.get_offsets()[0], 2)): c.get_facecolors()[0][:3].tolist()
              for c in points}
    white = [1.0, 1.0, 1.0]
    xs = {x: fc for (x, _), fc in filled.items()}
    assert xs[0.05] != white and xs[-0.08] != white           # clear: filled
    assert xs[-0.02] == white and xs[0.01] == white           # not clear: hollow
    # draws are offset within a row and named in the legend
    ys = sorted(y for (x, y) in filled if x in (0.05, 0.01))
    assert ys[0] != ys[1] and abs(ys[0] - ys[1]) < 0.5
    assert {"seed 0", "seed 1"} <= {t.get_text() for t in ax.get_legend().get_texts()}
    assert "method − ref" in ax.get_xlabel() and ax.get_ylabel() == "method"
    with pytest.raises(ValueError, match="entropy"):
        viz.forest_plot(t0, "entropy")
    plt.close("all")


def test_rank_plot_spans_each_methods_rank_interval():
    ranks = pd.DataFrame({"method": ["x", "y", "z"], "value": [0.9, 0.8, 0.7],
                          "rank": [1.0, 2.0, 3.0], "rank_lo": [1.0, 1.0, 2.0],
                          "rank_hi": [2.0, 3.0, 3.0], "mean_rank": [1.2, 2.0, 2.8],
                          "p_first": [0.8, 0.2, 0.0]})
    ax = viz.rank_plot(ranks)
    segs = ax.collections[0].get_segments()
    got = {round(s[0][1]): (s[0][0], s[1][0]) for s in segs}   # y → (lo, hi)
    assert got == {2: (1.0, 2.0), 1: (1.0, 3.0), 0: (2.0, 3.0)}    # x at the top
    ticks = dict(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()]))
    assert ticks == {2: "x", 1: "y", 0: "z"}                      # the best at the top
    assert {t.get_text() for t in ax.texts} == {"0.900", "0.800", "0.700"}
    assert "1 = best" in ax.get_xlabel()
    plt.close("all")


def test_cost_accuracy_rings_the_pareto_front():
    t = pd.DataFrame({"seconds": [10.0, 20.0, 40.0], "auc": [0.7, 0.8, 0.75],
                      "auc_sd": [0.01, 0.02, 0.03]}, index=["cheap", "best", "dominated"])
    ax = viz.cost_accuracy(t, front=[True, True, False])
    rings = [c for c in ax.collections if c.get_label().startswith("Pareto")]
    assert len(rings) == 1
    assert sorted(map(tuple, rings[0].get_offsets().tolist())) == [(10.0, 0.7), (20.0, 0.8)]
    assert {a.get_text() for a in ax.texts} == {"cheap", "best", "dominated"}
    assert ax.get_xscale() == "log" and "seconds" in ax.get_xlabel() and ax.get_ylabel()
    plt.close("all")


def test_label_points_keeps_names_apart_and_off_other_points():
    # four methods almost on one spot and one alone (as acmil / aem / mhim sat in chapter 07)
    fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
    x = np.array([100.0, 101.0, 102.0, 100.5, 10.0])
    y = np.array([0.80, 0.801, 0.799, 0.802, 0.60])
    ax.scatter(x, y)
    ax.set_xlim(1, 200)
    ax.set_ylim(0.5, 0.9)
    names = ["acmil_aem", "aem", "mhim_v2", "acmil", "alone"]
    texts = viz.label_points(ax, x, y, names, colors=["C0", "C1", "C2", "C3", "C4"])
    r = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(r) for t in texts]
    assert [t.get_text() for t in texts] == names                 # in the order given
    assert not any(boxes[i].overlaps(boxes[j]) for i in range(5) for j in range(i + 1, 5))
    assert texts[4].get_position() == (4, 3) and texts[4].get_ha() == "left"   # first spot
    assert {t.get_position() for t in texts[:4]} != {(4, 3)}       # the crowd moved
    assert matplotlib.colors.same_color(texts[2].get_color(), "C2")
    # no name sits on another point (5 px around it)
    xy = ax.transData.transform(np.column_stack([x, y]))
    for i, b in enumerate(boxes):
        for k, (px, py) in enumerate(xy):
            if k != i:
                assert not (b.x0 - 5 < px < b.x1 + 5 and b.y0 - 5 < py < b.y1 + 5)
    plt.close("all")


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    img = np.full((192, 256, 3), 230, np.uint8)
    coords = np.array([(x, y) for y in range(0, 192, 64) for x in range(0, 256, 64)])
    path = synth.write_pyramidal_tiff(tmp_path_factory.mktemp("s") / "s.tiff", img, mpp=0.5,
                                      min_levels=1)
    return path, coords


def test_attention_grid_has_methods_as_rows_rank_scaled_maps_truth_and_scale_bars(slide):
    path, coords = slide
    truth = np.zeros((24, 32), bool)
    truth[8:16, 8:16] = True                          # downsample 8: level-0 px 64..128
    a1 = np.linspace(0, 1, len(coords))
    a2 = np.full(len(coords), 1e-4)
    a2[5] = 0.5                                       # weights of another magnitude
    mimic = np.zeros((24, 32), bool)
    mimic[0:8, 16:24] = True
    slides = [{"path": path, "coords": coords, "size0": 64, "title": "one",
               "truth": (truth, (8.0, 8.0)), "mimics": (mimic, (8.0, 8.0))},
              {"path": path, "coords": coords, "size0": 64, "title": "two"}]
    fig = viz.attention_grid(slides, {"m1": [a1, a1], "m2": [a2, a2]})
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 4
    grid = np.array(panels[:4]).reshape(2, 2)
    assert [ax.get_ylabel() for ax in grid[:, 0]] == ["m1", "m2"]
    assert [ax.get_title() for ax in grid[0]] == ["one", "two"]
    for ax in grid.ravel():
        heat = ax.get_images()[-1]
        assert heat.get_clim() == (0.0, 1.0)          # rank-scaled on every slide
        assert any(type(c).__name__ == "AnchoredSizeBar" for c in ax.artists)
    # the top patch of m2 (patch 5) is the brightest spot whatever its raw size
    h = np.ma.filled(grid[1, 0].get_images()[-1].get_array(), np.nan)
    ys, xs = np.nonzero(h == np.nanmax(h))
    x5, y5 = coords[5] * h.shape[1] / 256
    assert xs.min() >= x5 - 1 and ys.min() >= y5 - 1
    # the truth (red) and mimic (white) outlines are drawn on the first slide's column only
    colours = [sorted(tuple(np.round(c.get_edgecolor()[0][:3], 2)) for c in ax.collections
                      if hasattr(c, "levels")) for ax in grid.ravel()]
    both = [(1.0, 0.0, 0.0), (1.0, 1.0, 1.0)]
    assert colours == [both, [], both, []]
    # the tumour outline is drawn after the mimics' (on top where they meet) and thicker
    drawn = [(tuple(np.round(c.get_edgecolor()[0][:3], 2)), c.get_linewidth()[0])
             for c in grid[0, 0].collections if hasattr(c, "levels")]
    assert drawn == [((1.0, 1.0, 1.0), 0.8), ((1.0, 0.0, 0.0), 1.2)]
    cbar = [ax for ax in fig.axes if "rank on the slide" in ax.get_ylabel()]
    assert len(cbar) == 1
    with pytest.raises(ValueError, match="weights"):
        viz.attention_grid(slides, {"bad": [a1[:3], a1]})
    plt.close("all")


def test_kind_shares_plot_bars_are_the_mean_shares_with_their_intervals():
    rows = []
    for m, tum in (("a", 0.6), ("b", 0.2)):
        for k, share in (("tumour", tum), ("mimic", 0.1), ("normal", 0.9 - tum)):
            rows.append({"method": m, "kind": k, "share": share, "lo": share - 0.05,
                         "hi": share + 0.05, "patch_share": 0.3, "n_runs": 15})
    ax = viz.kind_shares_plot(pd.DataFrame(rows))
    heights = [round(p.get_height(), 3) for p in ax.patches]
    assert heights == [0.6, 0.2, 0.1, 0.1, 0.3, 0.7]   # tumour bars, then mimic, then normal
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert ax.get_ylim() == (0.0, 1.0) and "top-k" in ax.get_ylabel()
    assert viz.kind_shares_plot(pd.DataFrame(rows), k=5).get_ylabel() == "share of the top-5 patches"
    plt.close("all")
