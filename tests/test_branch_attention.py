"""Chapter 03's measures of multi-branch attention: cumulative top-K curves, top-k coverage, the
branch that claims an instance, and per-branch heatmaps — each checked on hand-computed cases."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from milhelpers import metrics, synth, viz


def test_cumulative_attention_hand_computed_with_bags_shorter_than_k():
    # slide 1: sorted (0.5, 0.3, 0.2), N = 3 (K = 4 saturates at 1); slide 2: uniform over 10
    a1, a2 = np.array([0.2, 0.5, 0.3]), np.full(10, 0.1)
    ks, c, u = metrics.cumulative_attention([a1, a2], k_max=4)
    assert ks.tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(c, [(0.5 + 0.1) / 2, (0.8 + 0.2) / 2, (1.0 + 0.3) / 2, (1.0 + 0.4) / 2])
    np.testing.assert_allclose(u, [(1 / 3 + 0.1) / 2, (2 / 3 + 0.2) / 2, (1 + 0.3) / 2, (1 + 0.4) / 2])


def test_cumulative_attention_averages_heads_into_the_slide_attention():
    # two branches each on one instance: the slide attention is (0.5, 0.5, 0), not 1 at K = 1
    a = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    _, c, _ = metrics.cumulative_attention([a], k_max=2)
    np.testing.assert_allclose(c, [0.5, 1.0])
    with pytest.raises(ValueError, match="k_max"):
        metrics.cumulative_attention([a], 0)


def test_topk_members_is_the_union_over_branches():
    a = np.array([[0.6, 0.3, 0.1, 0.0, 0.0],
                  [0.0, 0.1, 0.2, 0.3, 0.4]])
    assert metrics.topk_members(a, 1).tolist() == [True, False, False, False, True]
    assert metrics.topk_members(a, 2).tolist() == [True, True, False, True, True]
    assert metrics.topk_members(a[1], 2).tolist() == [False, False, False, True, True]
    assert metrics.topk_members(a, 9).all()          # k ≥ N: every instance


def test_top_branch_names_the_branch_that_weighs_it_most_among_those_with_it_in_top_k():
    # top 2 of branch 0 = {0, 1}, of branch 1 = {3, 1}. Instance 1 is in both: branch 1 weighs
    # it more (0.35 > 0.30). Instance 2 is in neither top 2 (-1), though branch 0 gives it 0.10.
    a = np.array([[0.55, 0.30, 0.10, 0.05],
                  [0.00, 0.35, 0.05, 0.60]])
    assert metrics.top_branch(a, 2).tolist() == [0, 1, -1, 1]
    assert metrics.top_branch(a, 1).tolist() == [0, -1, -1, 1]


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    img = np.full((128, 256, 3), 230, np.uint8)
    coords = np.array([(x, y) for y in range(0, 128, 64) for x in range(0, 256, 64)])  # 4 × 2
    path = synth.write_pyramidal_tiff(tmp_path_factory.mktemp("b") / "s.tiff", img, mpp=0.5,
                                      min_levels=1)
    return path, coords


def test_branch_heatmaps_one_panel_per_branch_on_a_shared_scale(slide):
    path, coords = slide
    a = np.full((2, 8), 0.02)
    a[0, 0], a[1, 7] = 0.86, 0.86                     # branch 1 top-left, branch 2 bottom-right
    ref = np.full(8, 1 / 8)
    fig = viz.branch_heatmaps(path, coords, 64, a, reference={"ABMIL": ref},
                              truth=np.eye(8)[7], ncols=3)
    panels = [ax for ax in fig.axes if ax.get_images()]
    titles = [ax.get_title() for ax in panels]
    assert titles == ["branch 1", "branch 2", "branch mean ā (slide attention)", "ABMIL",
                      "ground truth"]
    for ax in panels[:4]:
        assert ax.get_images()[-1].get_clim() == (0.0, 0.86)
    b1, b2, mean = (np.ma.filled(ax.get_images()[-1].get_array(), np.nan) for ax in panels[:3])
    h, w = b1.shape
    assert b1[h // 4, w // 8] == pytest.approx(0.86) and b1[3 * h // 4, 7 * w // 8] == pytest.approx(0.02)
    assert b2[3 * h // 4, 7 * w // 8] == pytest.approx(0.86)
    assert mean[h // 4, w // 8] == pytest.approx(0.44)
    with pytest.raises(ValueError, match="branches, N"):
        viz.branch_heatmaps(path, coords, 64, a[:, :5])
    plt.close("all")


def test_cumulative_attention_plot_labels_and_uniform_reference():
    ks, c, u = metrics.cumulative_attention([np.array([0.7, 0.2, 0.1])], 3)
    ax = viz.cumulative_attention_plot({"ABMIL": (ks, c)}, (ks, u))
    assert ax.get_xlabel().startswith("K") and "mass" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ABMIL", "uniform attention"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [1 / 3, 2 / 3, 1])
    plt.close("all")


# ----------------------------------------------------------------------------------------------
# what each head picks: composition of top-k, coverage against a one-head reference, the figure
# ----------------------------------------------------------------------------------------------
from milhelpers import instances  # noqa: E402

KINDS = {"s1": np.array(["solid", "normal", "lymphoid_aggregate", "glandular"]),
         "s2": np.array(["normal", "normal", "discohesive"])}


def test_kind_group_names_tumour_mimic_and_normal():
    got = instances.kind_group(["solid", "benign_glands", "normal", "tumour", "discohesive",
                                "lymphoid_aggregate", "stroma"])
    assert got.tolist() == ["tumour", "mimic", "normal", "tumour", "tumour", "mimic", "normal"]


def test_topk_composition_by_hand_with_ranks_per_run():
    att = {"run A": {"s1": np.array([[0.4, 0.3, 0.2, 0.1], [0.1, 0.1, 0.5, 0.3]]),
                     # ties broken by position: head 2's top 2 on s2 are patches 2 and 0
                     "s2": np.array([[0.5, 0.4, 0.1], [0.2, 0.2, 0.6]])},
           "run B": {"s2": np.array([[0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])}}
    t = instances.topk_composition(att, KINDS, k=2).set_index(["run", "head"])
    # run A, head 1: solid, normal | normal, normal -> tumour 1/4, normal 3/4
    assert t.loc[("run A", 1), list(instances.KIND_GROUPS)].tolist() == [0.25, 0.0, 0.75]
    # head 2: lymphoid, glandular | discohesive, normal -> 2/4 tumour, 1/4 mimic, 1/4 normal
    assert t.loc[("run A", 2), list(instances.KIND_GROUPS)].tolist() == [0.5, 0.25, 0.25]
    assert t.loc[("run A", 1), "rank"] == 2 and t.loc[("run A", 2), "rank"] == 1
    assert t.loc[("run A", 1), "n_picks"] == 4 and t.loc[("run A", 1), "n_slides"] == 2
    # run B ranks its own heads: head 1 (discohesive, normal) before head 2 (normal, normal)
    assert t.loc[("run B", 1), "rank"] == 1 and t.loc[("run B", 2), "tumour"] == 0.0
    # k larger than a slide: all its patches; a one-head model given as (N,) weights
    one = instances.topk_composition({"r": {"s2": np.array([0.2, 0.3, 0.5])}}, KINDS, k=5)
    assert one[["n_picks", "tumour", "normal", "rank"]].values.tolist() == [[3, 1 / 3, 2 / 3, 1]]
    with pytest.raises(ValueError, match="patch kinds"):
        instances.topk_composition({"r": {"s1": np.ones(3) / 3}}, KINDS, k=1)


def test_composition_table_averages_ranks_over_runs_with_a_chance_row():
    comp = pd.DataFrame({"run": [0, 0, 1, 1], "head": [1, 2, 1, 2], "n_slides": 1,
                         "n_picks": 2, "tumour": [0.8, 0.1, 0.3, 0.6],
                         "mimic": [0.0, 0.2, 0.2, 0.2], "normal": [0.2, 0.7, 0.5, 0.2],
                         "rank": [1, 2, 2, 1]})
    ref = comp[comp["head"] == 1].assign(rank=1)
    chance = instances.group_shares(KINDS)
    assert chance == pytest.approx({"tumour": 3 / 7, "mimic": 1 / 7, "normal": 3 / 7})
    t = instances.composition_table({"acmil": comp, "base": ref}, chance)
    assert list(t.index) == ["acmil, rank 1 of 2 (most tumour)", "acmil, rank 2 of 2 (least tumour)",
                             "base", "all patches (random picks)"]
    # rank 1 = (0.8, 0.6) -> 0.70; rank 2 = (0.1, 0.3) -> 0.20, with a bootstrap interval
    assert t.loc["acmil, rank 1 of 2 (most tumour)", "tumour"].startswith("0.70 [0.60, 0.80]")
    assert t.loc["acmil, rank 2 of 2 (least tumour)", "normal"].startswith("0.60 [")
    assert t.loc["all patches (random picks)", "tumour"] == "0.43" and t["runs"].iloc[0] == 2


def test_topk_coverage_by_hand_with_the_same_budget_control():
    kinds = {"s": np.array(["solid", "normal", "glandular", "normal", "lymphoid_aggregate"])}
    new = {"s": np.array([[0.5, 0.2, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.2, 0.5]])}
    ref = {"s": np.array([0.1, 0.4, 0.3, 0.1, 0.1])}
    cov = instances.topk_coverage(new, ref, kinds, k=1, display={"solid": "solid tumour"})
    t = cov.table
    union, bar, own, same = t.columns[2:]
    # union {0, 4}; ā = (0.3, .15, .1, .15, .3) -> patch 0 (tie with 4 broken by position);
    # reference top 1 = {1}; same budget (2 picks) = {1, 2}
    assert t.loc["solid tumour", [union, bar, own, same]].tolist() == [1, 1, 0, 0]
    assert t.loc["normal", [union, bar, own, same]].tolist() == [0, 0, 0.5, 0.5]
    assert t.loc["glandular", [union, bar, own, same]].tolist() == [0, 0, 0, 1]
    assert t.loc["lymphoid_aggregate", [union, bar, own, same]].tolist() == [1, 0, 0, 0]
    assert t.loc["normal", "patches"] == 2 and cov.union_sizes == {"s": 2}
    assert list(cov.precision.values()) == [0.5, 1.0, 0.0, 0.5]
    assert cov.tumour_share == pytest.approx(0.4)
    text = "\n".join(cov.sentences())
    assert "for 1 of 2 tumour kinds (solid tumour)" in text and "(median): 2 (at most 2 × 1" in text


def test_branch_heatmaps_paint_kinds_with_a_legend_and_share_one_colour_bar(slide):
    path, coords = slide
    a = np.full((2, 8), 0.02)
    a[0, 0], a[1, 7] = 0.86, 0.86
    kinds = np.array(["solid tumour"] + ["normal"] * 6 + ["lymphoid mimic"])
    fig = viz.branch_heatmaps(path, coords, 64, a, kinds=kinds, k=1, ncols=4)
    panels = [ax for ax in fig.axes if ax.get_images()]
    titles = [ax.get_title() for ax in panels]
    assert titles[:2] == ["branch 1\ntop 1: 1 solid tumour", "branch 2\ntop 1: 1 lymphoid mimic"]
    assert titles[-1] == "ground truth: what each patch is"
    bars = [ax for ax in fig.axes if ax.get_ylabel().startswith("attention weight")]
    assert len(bars) == 1                                  # one colour bar for every panel
    legend = [t.get_text() for t in panels[-1].get_legend().get_texts()]
    assert legend == ["solid tumour", "lymphoid mimic", "normal (clear)"]
    rgba = panels[-1].get_images()[-1].get_array()
    h, w = rgba.shape[:2]
    from matplotlib.colors import to_rgba
    from milhelpers.widgets import CATEGORY_COLOURS
    np.testing.assert_allclose(rgba[h // 4, w // 8, :3], to_rgba(CATEGORY_COLOURS["solid tumour"])[:3])
    np.testing.assert_allclose(rgba[3 * h // 4, 7 * w // 8, :3],
                               to_rgba(CATEGORY_COLOURS["lymphoid mimic"])[:3])
    assert rgba[h // 4, 3 * w // 8, 3] == 0                # a normal patch stays clear
    # the colour map: light where attention is low, perceptually ordered (lightness falls)
    lum = viz.ATTENTION_CMAP(np.linspace(0, 1, 5))[:, :3] @ [0.2126, 0.7152, 0.0722]
    assert lum[0] > 0.9 and np.all(np.diff(lum) < 0)
    assert panels[0].get_images()[-1].get_cmap() is viz.ATTENTION_CMAP
    plt.close("all")


def test_scatter_legend_follows_the_order_given():
    xy = np.zeros((5, 2))
    ax = viz.scatter_2d(xy, np.array(["2 of 3", "0 of 3", "1 of 3", "0 of 3", "x"]),
                        order=["0 of 3", "1 of 3", "2 of 3", "3 of 3"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "0 of 3 (2)", "1 of 3 (1)", "2 of 3 (1)", "x (1)"]
    plt.close("all")


def test_random_composition_is_ranked_like_the_heads_and_matches_chance_before_ranking():
    # one slide of 10 patches, 3 tumour; k = 2. A random head's tumour share averages 0.3; ranked,
    # the best of 3 heads is above it and the worst below, and the mean over ranks stays 0.3
    kinds = {"s": np.array(["solid"] * 3 + ["normal"] * 6 + ["benign_glands"])}
    att = {"run": {"s": np.ones((3, 10)) / 10}}
    null = instances.random_topk_composition(att, kinds, k=2, draws=4000, seed=1)
    assert null["rank"].tolist() == [1, 2, 3] and (null.n_slides == 1).all()
    t = null.tumour.to_numpy()
    assert t.mean() == pytest.approx(0.3, abs=0.01)
    assert t[0] > 0.3 + 0.1 and t[2] < 0.3 - 0.1 and t[0] > t[1] > t[2]
    # all patches picked when N <= k: every random head sees the whole slide
    whole = instances.random_topk_composition(att, kinds, k=10, draws=3)
    np.testing.assert_allclose(whole.tumour, 0.3)
    np.testing.assert_allclose(whole.mimic, 0.1)


def test_topk_counts_by_hand():
    a = np.array([[0.5, 0.3, 0.1, 0.1], [0.1, 0.3, 0.5, 0.1], [0.4, 0.1, 0.1, 0.4]])
    # top 2: head 1 {0, 1}, head 2 {2, 1}, head 3 {0, 3} (tie 0/3 broken by position)
    assert instances.topk_counts(a, 2).tolist() == [2, 2, 1, 1]
    assert instances.topk_counts(a[0], 1).tolist() == [1, 0, 0, 0]
    with pytest.raises(ValueError, match="k must be"):
        instances.topk_counts(a, 0)


def test_out_of_fold_attention_follows_the_runner_records(tmp_path):
    from bags import planted_bags
    from milhelpers import experiments as ex
    from milhelpers.methods import acmil_method

    ds = planted_bags(24, 8, 0, lengths=(10, 30), permute=False, id_width=2)
    m = acmil_method(3, 4, 0.5).with_options(name="acmil_small", embed_dim=16, attn_dim=8)
    res = ex.run_experiments(ds, [m], [0, 1], 3, epochs=1, cache_dir=tmp_path, progress=False)
    oof = res.out_of_fold(m.name)
    for seed in (0, 1):
        got = instances.out_of_fold_attention(res, m.name, seed)
        rows = oof[oof.seed == seed].set_index("slide_id")
        assert sorted(got) == sorted(rows.index)                   # every slide once per repeat
        for sid, p in got.items():
            assert p["fold"] == rows.loc[sid, "fold"] and p["label"] == rows.loc[sid, "label"]
            assert p["prob"] == pytest.approx(rows.loc[sid, "score"])
            assert p["attention"].shape == (3, len(ds.bags[ds.slide_ids.index(sid)].features))
            np.testing.assert_allclose(p["attention"].sum(1), 1, atol=1e-5)
    runs = instances.attention_by_run(res, m.name, label=1)
    assert sorted(runs) == [(s, f) for s in (0, 1) for f in range(3)]
    assert all(oof[(oof.slide_id == sid) & (oof.seed == s)].label.iloc[0] == 1 and
               oof[(oof.slide_id == sid) & (oof.seed == s)].fold.iloc[0] == f
               for (s, f), d in runs.items() for sid in d)
    assert sum(len(d) for d in runs.values()) == 2 * int(np.sum(ds.labels))
    with pytest.raises(KeyError, match="no runs"):
        instances.out_of_fold_attention(res, m.name, 7)


def test_composition_plot_draws_the_means_with_the_tumour_interval_and_chance():
    comp = pd.DataFrame({"run": [0, 0, 1, 1], "head": [1, 2, 1, 2], "tumour": [0.8, 0.1, 0.6, 0.3],
                         "mimic": [0.1, 0.2, 0.2, 0.2], "normal": [0.1, 0.7, 0.2, 0.5],
                         "rank": [1, 2, 1, 2]})
    ax = viz.topk_composition_plot({"m": comp}, {"tumour": 0.25, "mimic": 0.1, "normal": 0.65}, k=5)
    bars = ax.patches
    assert [round(b.get_width(), 3) for b in bars[:2]] == [0.7, 0.2]      # tumour by rank
    assert [round(b.get_x(), 3) for b in bars[2:4]] == [0.7, 0.2]         # mimic stacked after it
    assert [t.get_text() for t in ax.get_yticklabels()] == ["m, rank 1/2", "m, rank 2/2"]
    assert ax.lines[-1].get_xdata()[0] == 0.25 and "top-5" in ax.get_xlabel()
    plt.close("all")


def test_top_branch_only_considers_heads_with_the_instance_in_their_top_k():
    """Heads A = [.3, .25, .25, .2] and B = [.35, .65, 0, 0], k = 1: A's top-1 is instance 0, B's
    is instance 1. Instance 0 goes to A although B gives it more (.35 > .3), since it is not in
    B's top 1; instances 2, 3 are in no top 1 (−1). Catches the arg-max over all heads."""
    a = np.array([[.3, .25, .25, .2], [.35, .65, 0, 0]])
    assert metrics.top_branch(a, 1).tolist() == [0, 1, -1, -1]


def test_cumulative_attention_rejects_k_max_zero_and_no_slides_and_accepts_k_max_one():
    """K = 1 is the smallest curve: the top weight, 0.5 of [0.5, 0.3, 0.2], against uniform 1/3;
    K = 0 and an empty list of slides are errors, not empty curves."""
    ks, curve, uniform = metrics.cumulative_attention([np.array([0.2, 0.5, 0.3])], 1)
    assert ks.tolist() == [1] and curve == pytest.approx([0.5]) and uniform == pytest.approx([1 / 3])
    with pytest.raises(ValueError, match="k_max must be >= 1"):
        metrics.cumulative_attention([np.array([0.2, 0.5, 0.3])], 0)
    with pytest.raises(ValueError, match="no slides"):
        metrics.cumulative_attention([], 2)


def test_random_heads_draw_their_picks_among_all_of_a_slides_patches():
    """One head, one slide of 20 patches whose only tumour patch is the first, k = 2: a random
    pick of 2 of 20 holds it with probability 2/20, so its tumour share averages 1/20 — not the
    1 of a 'random' head that always picks the slide's first patches."""
    kinds = {"s": np.array(["solid"] + ["normal"] * 19)}
    att = {"run": {"s": np.ones((1, 20)) / 20}}
    null = instances.random_topk_composition(att, kinds, k=2, draws=4000, seed=0)
    assert null.tumour.iloc[0] == pytest.approx(1 / 20, abs=0.01)
    assert null.normal.iloc[0] == pytest.approx(19 / 20, abs=0.01)
