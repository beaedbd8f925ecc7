"""Chapter 03's instance explorer without a browser: the state behind each panel, and the widget
wiring (callbacks → state → figures and gallery) on two tiny slides with known patches."""
import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest

from milhelpers import synth
from milhelpers.widgets import (ExplorerState, InstanceExplorer, InstanceView, category_names,
                                instance_explorer)

# slide "a": 256×192 px, 64-px patches on a 4×3 grid, the bottom-right cell is glass (no patch)
A_COORDS = [(x, y) for y in range(0, 192, 64) for x in range(0, 256, 64)][:-1]   # 11 patches
# slide "b": 128×96 px, 32-px patches on the top two rows of a 4×3 grid
B_COORDS = [(x, y) for y in range(0, 64, 32) for x in range(0, 128, 32)]          # 8 patches
# instances interleave the slides (a, b, a, b, ...) so a slide mix-up cannot hide behind order
ORDER = ["a"] * 3 + ["b", "a"] * 8   # 11 a's and 8 b's
RED_A = 5                            # patch index within slide a painted pure red


def _layout():
    sids = np.array(ORDER)
    coords = np.zeros((len(sids), 2))
    coords[sids == "a"] = A_COORDS
    coords[sids == "b"] = B_COORDS
    n = len(sids)
    # an asymmetric, hand-placed embedding: x = i mod 7, y = i // 7 + 0.1 i (no two alike)
    i = np.arange(n)
    xy = np.c_[i % 7, i // 7 + 0.1 * i].astype(float)
    # branch 0 rises with the index, branch 1 falls with it (each normalised within its slide)
    att = np.c_[i + 1.0, (n - i) ** 2.0]
    for s in ("a", "b"):
        att[sids == s] /= att[sids == s].sum(axis=0)
    cats = np.where(i % 3 == 0, "solid", np.where(i % 3 == 1, "benign_glands", "normal"))
    return sids, coords, xy, att, cats


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    d = tmp_path_factory.mktemp("explorer")
    img_a = np.full((192, 256, 3), 225, np.uint8)
    x, y = A_COORDS[RED_A]
    img_a[y:y + 64, x:x + 64] = (220, 0, 0)
    img_b = np.full((96, 128, 3), 200, np.uint8)
    paths = {"a": synth.write_pyramidal_tiff(d / "a.tiff", img_a, mpp=0.5, min_levels=1),
             "b": synth.write_pyramidal_tiff(d / "b.tiff", img_b, mpp=0.5, min_levels=1)}
    sids, coords, xy, att, cats = _layout()
    extra = np.linspace(1, 0, len(sids))
    return InstanceView(xy=xy, slide_ids=sids, coords=coords, attention=att, slide_paths=paths,
                        patch_size0={"a": 64, "b": 32}, categories=category_names(cats),
                        extra=extra, extra_name="ABMIL attention", thumb_px=64)


def _index(sid, k):
    """Instance index of the k-th patch of slide ``sid``."""
    return int(np.flatnonzero(np.array(ORDER) == sid)[k])


def test_polygon_selects_exactly_the_points_inside(view):
    st = ExplorerState(view)
    # points (i % 7, i // 7 + 0.1 i). Triangle (0.5, -0.1) (5.5, -0.1) (0.5, 2.4): inside ⇔
    # x > 0.5, y > -0.1, y < -0.1 + (5.5 - x) / 2 → i = 1, 2, 3, 4 (y limit .65 at x = 4) and
    # 8 (1, 1.8); not 5 (5, .5: limit .15), 9 (2, 1.9: limit 1.65), 0 (x = 0)
    got = st.select_polygon([(0.5, -0.1), (5.5, -0.1), (0.5, 2.4)])
    assert got.tolist() == [1, 2, 3, 4, 8]
    # the triangle mirrored on the diagonal: x < -0.1 + (5.5 - y) / 2, y > .5 → 7 (0, 1.7),
    # 8 (1, 1.8), 14 (0, 3.4); not 9 (2, 1.9), 15 (1, 3.5). Swapped x and y would give 1..4, 8
    st.select_polygon([(-0.1, 0.5), (-0.1, 5.5), (2.4, 0.5)])
    assert st.selected.tolist() == [7, 8, 14]
    assert st.selection_source == "lasso"
    # a box with its corners given in any order; edges count as inside
    assert st.select_box((3, 2.8), (1, 1.8)).tolist() == [8, 9, 10]


def test_gallery_shows_the_top_scoring_selected_patches_in_order(view):
    st = ExplorerState(view, gallery_size=3)
    st.select_points([2, 7, 11, 4, 16])
    # branch 0 = (i + 1) / slide sum: slide a sums to 102, b to 88 → 16: 17/102 = .167,
    # 11: 12/88 = .136, 7: 8/88 = .091, 4: 5/102, 2: 3/102 (raw index order would put 11 first)
    assert st.gallery.tolist() == [16, 11, 7]
    assert st.gallery_text == "showing 3 of 5 selected"
    st.set_branch(1)  # (19 - i)² / slide sum (a: 1654, b: 816): 7 .176, 2 .175, 4 .136
    assert st.gallery.tolist() == [7, 2, 4]
    st.set_branch("extra")  # extra falls linearly with the index
    assert st.gallery.tolist() == [2, 4, 7]


def test_outlines_are_the_selected_patches_of_the_current_slide_only(view):
    st = ExplorerState(view)
    sel = [_index("a", 0), _index("b", 1), _index("b", 2), _index("a", 6), _index("b", 7)]
    st.select_points(sel)
    # no slide was current: the one holding most of the selection (b: 3 of 5) becomes current
    assert st.slide == "b"
    np.testing.assert_array_equal(st.outlined_coords, [B_COORDS[1], B_COORDS[2], B_COORDS[7]])
    st.select_slide("a", select=False)  # look at the other slide, keep the selection
    assert st.selected.tolist() == sorted(sel)
    np.testing.assert_array_equal(st.outlined_coords, [A_COORDS[0], A_COORDS[6]])
    # picking a slide in the dropdown selects all its patches
    st.select_slide("b")
    assert st.selected.tolist() == [_index("b", k) for k in range(8)]
    assert len(st.outlined) == 8


def test_click_on_a_patch_highlights_its_point_and_glass_highlights_nothing(view):
    st = ExplorerState(view)
    st.select_slide("a")
    x, y = A_COORDS[6]                         # (128, 64), side 64
    assert st.click_slide(x + 63.5, y + 63.5) == _index("a", 6)   # just inside its far corner
    np.testing.assert_array_equal(st.highlighted_xy, view.xy[_index("a", 6)])
    assert st.click_slide(x + 64, y + 10) == _index("a", 7)       # one past it: the neighbour
    assert st.click_slide(200, 150) is None                        # the glass cell: no patch
    assert st.highlighted is None and st.highlighted_xy is None
    # slide b's 32-px patches: (40, 40) is patch (32, 32) = b's 6th; with a's 64-px size it
    # would be (0, 0); on slide b the point (100, 80) is glass (only two rows of patches)
    st.select_slide("b")
    assert st.click_slide(40, 40) == _index("b", 5)
    assert st.click_slide(100, 80) is None
    with pytest.raises(ValueError, match="select_slide"):
        ExplorerState(view).click_slide(1, 1)


def test_branch_switch_changes_the_colour_values(view):
    st = ExplorerState(view)
    np.testing.assert_array_equal(st.colour_values, view.attention[:, 0])
    st.set_branch(1)
    np.testing.assert_array_equal(st.colour_values, view.attention[:, 1])
    assert st.score_label == "branch 2 attention"
    st.set_branch("category")
    assert st.colour_values is None
    assert st.colour_labels[:3].tolist() == ["solid tumour", "benign gland mimic", "normal"]
    np.testing.assert_allclose(st.scores, view.attention.mean(axis=1))
    with pytest.raises(ValueError, match="branch must be in 0..1"):
        st.set_branch(2)


def test_view_checks_name_the_bad_parameter(view):
    kw = dict(xy=view.xy, slide_ids=view.slide_ids, coords=view.coords,
              attention=view.attention, slide_paths=view.slide_paths, patch_size0=64)
    with pytest.raises(ValueError, match="slide_paths has no entry for slide"):
        InstanceView(**{**kw, "slide_paths": {"a": "a.tiff"}})
    with pytest.raises(ValueError, match="attention has shape"):
        InstanceView(**{**kw, "attention": view.attention[:-1]})
    with pytest.raises(ValueError, match="xy must be N×2"):
        InstanceView(**{**kw, "xy": view.xy[:, :1]})


def test_widget_wires_lasso_dropdown_and_click_to_the_panels(view):
    ex = instance_explorer(view, gallery_size=4, patch_px=32, show=False)
    assert repr(ex) == "InstanceExplorer(19 instances on 2 slides, 2 attention branches)"
    assert ex.gallery_box.children == ()            # nothing read until something is selected
    ex._on_lasso([(0.5, -0.1), (5.5, -0.1), (0.5, 2.4)])   # what the LassoSelector hands over
    assert ex.state.selected.tolist() == [1, 2, 3, 4, 8]
    assert "showing 4 of 5 selected" in ex.status.value
    assert len(ex.gallery_box.children) == 4
    assert ex.slide_picker.value == ex.state.slide == "a"       # a holds 4 of the 5
    assert ex.state.selected.tolist() == [1, 2, 3, 4, 8]        # syncing the dropdown kept it
    # the slide figure outlines exactly the selected patches of a (a PatchCollection)
    (boxes,) = ex.slide_ax.collections
    assert len(boxes.get_paths()) == len(ex.state.outlined) == 4
    # the dropdown selects all patches of a slide
    ex.slide_picker.value = "b"
    assert ex.state.selected.tolist() == [_index("b", k) for k in range(8)]
    assert "showing 4 of 8 selected" in ex.status.value
    # a click on a's red patch (level-0 coordinates on the slide axes) marks its point
    ex.slide_picker.value = "a"
    x, y = A_COORDS[RED_A]
    event = type("E", (), {"inaxes": ex.slide_ax, "button": 1, "xdata": x + 30, "ydata": y + 30})
    ex._on_slide_press(event)
    hx, hy = ex._hl_artist.get_data()
    np.testing.assert_array_equal([hx[0], hy[0]], view.xy[_index("a", RED_A)])
    assert ex.click_info.value.startswith(f"clicked patch: a at ({x}, {y})")
    ex.colour_picker.value = "category"
    assert ex._colorbar is None and ex._legend is not None
    labels = [t.get_text() for t in ex._legend.get_texts()]
    assert labels[:3] == ["solid tumour (7)", "benign gland mimic (6)", "normal (6)"]


def test_gallery_images_are_the_selected_patches(view):
    from io import BytesIO

    from PIL import Image

    ex = InstanceExplorer(view, gallery_size=2, patch_px=96)
    red, other = _index("a", RED_A), _index("a", 0)
    ex.state.select_points([other, red])
    ex.state.set_branch("extra")       # extra falls with the index: `other` (a's first) first
    ex.refresh()
    first, second = (np.asarray(Image.open(BytesIO(b.children[0].value)).convert("RGB"))
                     for b in ex.gallery_box.children)
    assert second[..., 0].mean() > 150 and second[..., 1].mean() < 60   # the red patch
    assert first.shape == (96, 96, 3)
    # a's grey (the scale bar sits lower right)
    assert np.abs(first[4:40, 4:40].astype(int) - 225).max() < 8
