"""Chapter 06's figures: what each draws, checked on hand-made packs."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from milhelpers import viz  # noqa: E402


def test_pack_strip_colours_tokens_by_slide_and_blanks_padding():
    idx = np.array([[0, 0, 1, 1, 1], [2, -1, -1, -1, -1]])
    ax = viz.pack_strip(idx, labels=[1, 0, 1])
    data = ax.get_images()[0].get_array()
    assert data.mask.tolist() == (idx < 0).tolist()
    assert data[0].tolist() == [0, 0, 1, 1, 1]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["pack 0", "pack 1"]
    # one separator, between slides 0 and 1 of pack 0 (none at the padding, none in pack 1)
    lines = [(tuple(ln.get_xdata()), tuple(ln.get_ydata())) for ln in ax.get_lines()]
    assert lines == [((1.5, 1.5), (-0.5, 0.5))]
    plt.close("all")


def test_pack_mask_is_membership_and_block_diagonal():
    axes = viz.pack_mask([0, 0, 1, -1])
    member = axes[0].get_images()[0].get_array()
    block = axes[1].get_images()[0].get_array()
    assert member.tolist() == [[1, 1, 0, 0], [0, 0, 1, 0]]
    assert block.tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    # a binary mask gets a two-colour bar with its two values named, not a 0…1 ramp
    cbar = axes[1].get_images()[0].colorbar
    assert list(cbar.get_ticks()) == [0, 1]
    assert [t.get_text() for t in cbar.ax.get_yticklabels()] == ["0: masked", "1: may attend"]
    assert cbar.cmap.N == 2
    plt.close("all")


def test_hyperslide_bars_are_the_soft_labels():
    counts = np.array([[30, 10, 0], [0, 0, 5]])
    ax = viz.hyperslide_labels(counts, [0, 1, 1])
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([0.75, 0.0, 0.25, 1.0])   # class 0 bars, then class 1
    plt.close("all")


def test_hyperslide_targets_draw_both_targets_of_one_pack():
    counts = np.array([[30, 10, 5, 0], [0, 0, 3, 9]])
    ax = viz.hyperslide_targets(counts, [0, 1, 1, 0], pack=0, class_names=["neg", "pos"])
    heights = [p.get_height() for p in ax.patches]
    # multi-hot: 1 negative and 2 positive members -> [0.5, 1]; tokens: [30, 15] / 45
    assert heights == pytest.approx([0.5, 1.0, 30 / 45, 15 / 45])
    assert "neg: 1 slide / 30 tokens" in ax.get_title() and "pos: 2 slides / 15 tokens" in ax.get_title()
    ax = viz.hyperslide_targets(counts, [0, 1, 1, 0], pack=1)
    assert [p.get_height() for p in ax.patches] == pytest.approx([1.0, 1.0, 0.75, 0.25])
    with pytest.raises(ValueError, match="pack=2"):
        viz.hyperslide_targets(counts, [0, 1, 1, 0], pack=2)
    plt.close("all")


def test_padding_waste_and_speed_accuracy_draw_their_numbers():
    axes = viz.padding_waste([10, 10, 30, 30], batch_sizes=(1, 2), max_len=64)
    assert [p.get_height() for p in axes[1].patches][0] == 0.0     # B = 1 pads nothing
    # main parts ⌊0.5 n⌋ = 5, 5, 15, 15 fill one pack of 40 tokens: no padding at all
    assert axes[1].get_lines()[0].get_ydata()[0] == pytest.approx(0.0)
    plt.close("all")
    # with p = 0.4: ⌊0.4·n⌋ = 4, 4, 12, 12 capped at L = 12 -> packs [4, 4], [12], [12] of 12
    # tokens: 32 real of 36 -> 1/9 padding (the line follows p, not a fixed half)
    axes = viz.padding_waste([10, 10, 30, 30], batch_sizes=(1, 2), max_len=12, p=0.4)
    assert axes[1].get_lines()[0].get_ydata()[0] == pytest.approx(1 / 9)
    plt.close("all")
    t = pd.DataFrame({"epoch_seconds": [1.0, 0.2], "auc": [0.8, 0.79]}, index=["b1", "packed"])
    ax = viz.speed_accuracy(t, reference="b1")
    pts = np.concatenate([c.get_offsets() for c in ax.collections])
    assert pts.tolist() == [[1.0, 0.8], [0.2, 0.79]]
    assert ax.get_xscale() == "log"
    plt.close("all")
    # the target region: time ≤ 0.25 × b1's 1.0 s, AUC ≥ 0.8 − 0.02
    ax = viz.speed_accuracy(t, reference="b1", target=(0.25, 0.02))
    region = [c for c in ax.collections if c.get_label().startswith("target")][0]
    verts = region.get_paths()[0].vertices
    assert verts[:, 0].max() == pytest.approx(0.25)
    assert verts[:, 1].min() == pytest.approx(0.78)
    assert ax.get_xlim()[0] < 0.2                     # the packed point is inside the axes
    plt.close("all")
    with pytest.raises(ValueError, match="reference"):
        viz.speed_accuracy(t, target=(0.25, 0.02))
    plt.close("all")


def test_padding_waste_pads_the_same_parts_it_packs():
    # lengths 10, 10, 30, 300 with p = 0.5, L = 16: main parts 5, 5, 15, 16 (the cap bites once)
    axes = viz.padding_waste([10, 10, 30, 300], batch_sizes=(4,), max_len=16, p=0.5)
    hatched, solid = axes[1].patches[0], axes[1].patches[1]
    assert hatched.get_height() == pytest.approx(1 - 350 / (4 * 300))      # whole slides, no cap
    assert solid.get_height() == pytest.approx(1 - 41 / (4 * 16))          # the capped main parts
    # packed: [5, 5], [15], [16] into packs of ≤ 16 -> 41 real of 3 × 16
    assert axes[1].get_lines()[0].get_ydata()[0] == pytest.approx(1 - 41 / 48)
    plt.close("all")


def test_visibility_bars_regime_and_cost_curves_draw_their_numbers():
    summary = pd.DataFrame({"bags": [5, 3, 0], "random_only": [0.2, 0.1, np.nan],
                            "v1": [0.3, 0.15, np.nan]}, index=["all", "1–5", "none"])
    ax = viz.visibility_bars(summary)
    assert [p.get_height() for p in ax.patches] == pytest.approx([0.2, 0.1, 0.3, 0.15])
    assert len(ax.get_xticklabels()) == 2                  # the empty group is left out
    plt.close("all")
    n = np.array([10, 100, 1000])
    ax = viz.packing_regime(n, {"B = 16": [0.5, 0.9, 0.2]}, cap_at=512,
                            measured={"cohort": (46, 0.7)})
    line = ax.get_lines()[0]
    assert line.get_xdata().tolist() == [10, 100, 1000] and line.get_ydata().tolist() == [0.5, 0.9, 0.2]
    assert any(l.get_ydata()[0] == 0.25 for l in ax.get_lines()[1:])     # the target
    assert ax.collections[0].get_offsets().tolist() == [[46, 0.7]]
    plt.close("all")
    curves = pd.DataFrame({"mode": ["a", "a", "b"], "epoch": [1, 2, 1], "steps": [10, 20, 2],
                           "seconds": [1.0, 2.0, 0.5], "val_auc": [0.6, 0.7, 0.65]})
    axes = viz.auc_by_cost(curves, target=0.68)
    a_steps, a_secs = axes[0].get_lines()[0], axes[1].get_lines()[0]
    assert a_steps.get_xdata().tolist() == [10, 20] and a_secs.get_xdata().tolist() == [1.0, 2.0]
    assert axes[0].get_lines()[-1].get_ydata()[0] == 0.68
    plt.close("all")
