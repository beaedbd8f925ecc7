"""Chapter 03's measures of multi-branch attention: cumulative top-K curves, top-k coverage, the
branch that claims an instance, and per-branch heatmaps — each checked on hand-computed cases."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
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
