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
    plt.close("all")


def test_pack_mask_is_membership_and_block_diagonal():
    axes = viz.pack_mask([0, 0, 1, -1])
    member = axes[0].get_images()[0].get_array()
    block = axes[1].get_images()[0].get_array()
    assert member.tolist() == [[1, 1, 0, 0], [0, 0, 1, 0]]
    assert block.tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    plt.close("all")


def test_hyperslide_bars_are_the_soft_labels():
    counts = np.array([[30, 10, 0], [0, 0, 5]])
    ax = viz.hyperslide_labels(counts, [0, 1, 1])
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([0.75, 0.0, 0.25, 1.0])   # class 0 bars, then class 1
    plt.close("all")


def test_padding_waste_and_speed_accuracy_draw_their_numbers():
    axes = viz.padding_waste([10, 10, 30, 30], batch_sizes=(1, 2), max_len=64)
    assert [p.get_height() for p in axes[1].patches][0] == 0.0     # B = 1 pads nothing
    plt.close("all")
    t = pd.DataFrame({"epoch_seconds": [1.0, 0.2], "auc": [0.8, 0.79]}, index=["b1", "packed"])
    ax = viz.speed_accuracy(t, reference="b1")
    pts = np.concatenate([c.get_offsets() for c in ax.collections])
    assert pts.tolist() == [[1.0, 0.8], [0.2, 0.79]]
    assert ax.get_xscale() == "log"
    plt.close("all")
