"""Paths of tiling and slide reading that the other tiling tests leave unexecuted or unasserted:
the black-ink and Otsu branches of segmentation, the physical closing kernel, the grid's order
and overlap step in level-0 pixels, sub-pixel boxes, the QC drawing and PNG channels, and the
Slide helpers (mpp bounds, per-level mpp, thumbnail downsample, outside-the-slide reads)."""
import math
import warnings

import cv2
import numpy as np
import pytest
import tifffile

from conftest import REAL_SVS
from milhelpers import synth, tiling
from milhelpers.slides import Slide, check_mpp

TISSUE = (225, 140, 185)
GLASS = 242


def _segment(path, params):
    with Slide(path) as s, warnings.catch_warnings():
        warnings.simplefilter("ignore", tiling.NoTissueWarning)
        return tiling.segment_tissue(s, params)


def _full_tissue(w0, h0, ds=4.0):
    mask = np.ones((int(np.ceil(h0 / ds)), int(np.ceil(w0 / ds))), np.uint8)
    return tiling.TissueMask(mask, (ds, ds), contours=[np.zeros((1, 2))], holes=[[]])


# ------------------------------------------------------------------------ colour filters
def test_black_marker_ink_is_not_tissue_but_dark_stain_is(tmp_path):
    """A near-black stroke RGB (50, 20, 40): V = 50 < 60, saturation 153, hue ≈ 165 (outside the
    green/blue ink band), so only the black-ink rule removes it. A dark purple stain RGB
    (110, 40, 90) has V = 110 ≥ 60 and stays tissue. Catches the black-ink V threshold lowered
    (the stroke kept) or raised past 110 (dark tissue dropped)."""
    img = np.full((2048, 2048, 3), GLASS, np.uint8)
    img[256:1024, 256:1024] = TISSUE
    img[1280:1792, 256:1024] = (110, 40, 90)                  # dark stain: tissue
    img[1280:1792, 1280:1792] = (50, 20, 40)                  # black marker
    hsv = cv2.cvtColor(np.array([[[50, 20, 40]], [[110, 40, 90]]], np.uint8), cv2.COLOR_RGB2HSV)
    assert hsv[0, 0, 2] < 60 and not 35 <= hsv[0, 0, 0] < 125 and hsv[0, 0, 1] > 60
    assert hsv[1, 0, 2] >= 60 and not 35 <= hsv[1, 0, 0] < 125
    path = synth.write_pyramidal_tiff(tmp_path / "black.tiff", img, 0.5)
    with_pen = _segment(path, "biopsy")
    no_pen = _segment(path, tiling.get_preset("biopsy").replace(exclude_pen=False))
    dx, dy = with_pen.downsample
    ink, stain = (int(1536 / dy), int(1536 / dx)), (int(1536 / dy), int(640 / dx))
    assert with_pen.mask[ink] == 0 and with_pen.mask[stain] == 1
    assert with_pen.mask[int(640 / dy), int(640 / dx)] == 1
    assert no_pen.mask[ink] == 1                      # the exclusion is what removes it
    assert len(with_pen.contours) == 2                # tissue and stain, no ink


def test_the_ink_exclusion_also_takes_the_ink_s_blurred_rim(tmp_path):
    """Without a median blur, the 1-px rim where black ink meets glass (RGB ≈ (146, 131, 141):
    bright, faintly saturated, not ink by colour) is above sthresh; the pen mask is dilated by one
    mask pixel so that rim goes with the ink. The ink edges are off the mask grid (1283, 1797), so
    the rim exists. Catches the dilation dropped (a thin ring of 'tissue' around the ink)."""
    img = np.full((2048, 2048, 3), GLASS, np.uint8)
    img[1283:1797, 1283:1797] = (50, 20, 40)
    path = synth.write_pyramidal_tiff(tmp_path / "rim.tiff", img, 0.5)
    params = tiling.get_preset("biopsy").replace(mthresh=1, close=0, a_t=0.001)
    tm = _segment(path, params)
    assert tm.is_empty and tm.mask.sum() == 0
    assert _segment(path, params.replace(exclude_pen=False)).mask.sum() > 0


def test_otsu_finds_faint_tissue_that_the_fixed_threshold_misses(tmp_path):
    """Pale tissue RGB (236, 228, 233) has saturation ≈ 8, under sthresh = 15: the fixed
    threshold finds nothing, Otsu (a threshold between glass at 0 and the tissue) finds it.
    Catches use_otsu ignored."""
    img = np.full((2048, 2048, 3), GLASS, np.uint8)
    img[512:1536, 512:1536] = (236, 228, 233)
    path = synth.write_pyramidal_tiff(tmp_path / "pale.tiff", img, 0.5)
    base = tiling.get_preset("biopsy").replace(exclude_pen=False)
    assert _segment(path, base).is_empty
    otsu = _segment(path, base.replace(use_otsu=True))
    assert len(otsu.contours) == 1
    dx, dy = otsu.downsample
    assert otsu.mask[int(1024 / dy), int(1024 / dx)] == 1 and otsu.mask[int(200 / dy), int(200 / dx)] == 0


def test_closing_kernel_is_a_physical_size_on_a_coarser_mask(tmp_path):
    """seg_mpp = 1.25 on a 0.5 µm/px scan asks downsample 2.5; the pyramid (1, 2, 4) gives the
    4× level at its own scale, so kernels shrink by k = 2.5/4: close = 8 → round(5.0) = 5 mask px,
    which cannot bridge a gap of 6 mask px (24 level-0 px); close = 12 → round(7.5) = 8 does.
    Unscaled, close = 8 would bridge it. Catches the closing kernel not scaled with the mask."""
    img = np.full((2048, 2048, 3), GLASS, np.uint8)
    img[512:1536, 512:1024] = TISSUE
    img[512:1536, 1048:1536] = TISSUE                       # gap x 1024..1048 = 6 mask px
    path = synth.write_pyramidal_tiff(tmp_path / "gap.tiff", img, 0.5)
    base = tiling.SegmentationParams(seg_mpp=1.25, mthresh=1, exclude_pen=False, a_t=1.0)
    assert _segment(path, base.replace(close=0)).downsample == (4.0, 4.0)
    assert len(_segment(path, base.replace(close=0)).contours) == 2
    assert len(_segment(path, base.replace(close=8)).contours) == 2
    assert len(_segment(path, base.replace(close=12)).contours) == 1



def test_a_two_pixel_closing_is_the_smallest_that_runs(tmp_path):
    """At k = 1 (seg_mpp = the scan's mpp) two blocks 1 mask px apart: close = 1 is no closing
    (a 1 × 1 kernel changes nothing) and leaves two contours; close = 2, the biopsy preset's,
    closes the gap into one. (The file is JPEG with halved chroma, which smears the gap's
    saturation to about half the tissue's: sthresh 40 keeps it glass.) Catches the closing
    skipped below 3 (``close > 2``)."""
    img = np.full((256, 256, 3), GLASS, np.uint8)
    img[64:192, 64:128] = TISSUE
    img[64:192, 129:192] = TISSUE                           # gap: column 128, one pixel
    path = synth.write_pyramidal_tiff(tmp_path / "gap1.tiff", img, 1.0)
    base = tiling.SegmentationParams(seg_mpp=1.0, mthresh=1, exclude_pen=False, a_t=0.0,
                                     sthresh=40)
    assert _segment(path, base.replace(close=1)).downsample == (1.0, 1.0)
    assert len(_segment(path, base.replace(close=1)).contours) == 2
    assert len(_segment(path, base.replace(close=2)).contours) == 1

# --------------------------------------------------------------------------- patch grid
def test_grid_is_in_row_major_order():
    """160 × 100 px slide, 32-px patches at scale 1: xs 0, 32, 64, 96, 128; ys 0, 32, 64. The
    coordinates come row by row (y outer, x inner), the order band reads and the features
    files rely on. Catches a column-major grid (same set, other order)."""
    coords, _, _ = tiling.patch_grid((160, 100), 0.5, _full_tissue(160, 100), 0.5, 32, 0, 0.5)
    want = [[x, y] for y in (0, 32, 64) for x in (0, 32, 64, 96, 128)]
    assert coords.tolist() == want


def test_overlap_is_converted_to_level0_pixels():
    """32-px patches with 8 px overlap at 0.5 µm/px on a 0.25 µm/px scan: size0 = 64, step
    (32 − 8) · 2 = 48 level-0 px. On a 160 × 128 slide: xs 0, 48, 96 (96 + 64 = 160, the edge);
    ys 0, 48 (96 + 64 > 128). Catches the overlap subtracted in level-0 px (step 56)."""
    coords, _, size0 = tiling.patch_grid((160, 128), 0.25, _full_tissue(160, 128), 0.5, 32, 8, 0.5)
    assert size0 == 64
    assert coords.tolist() == [[x, y] for y in (0, 48) for x in (0, 48, 96)]


def test_a_box_smaller_than_a_mask_pixel_still_reads_that_pixel():
    """Mask at downsample 8 with one tissue pixel at (row 3, col 2) = level-0 x 16..24, y 24..32.
    A 2-px box at (16, 24) rounds to an empty span (x 2..2); it is widened to the one mask
    pixel under it: fraction 1. The box at (40, 24) reads column 5: 0. Catches the minimum
    width/height of one mask pixel dropped (every tiny box 0)."""
    mask = np.zeros((6, 6), np.uint8)
    mask[3, 2] = 1
    got = tiling.box_fraction(mask, (8.0, 8.0), np.array([[16, 24], [40, 24]]), 2)
    assert got.tolist() == [1.0, 0.0]


# ------------------------------------------------------------------------------ QC image
def test_qc_drawing_puts_boxes_contours_and_holes_where_they_are():
    """Thumbnail at downsample 4 (white, 60 × 80): a patch at level-0 (40, 80), size 64, is
    the box (10, 20)–(26, 36) in dark grey; the contour square (0, 0)–(200, 160) → (0, 0)–(50, 40)
    in green; its hole (100, 100)–(140, 140) → (25, 25)–(35, 35) in blue."""
    thumb = np.full((60, 80, 3), 255, np.uint8)
    sq = np.array([[0, 0], [200, 0], [200, 160], [0, 160]], np.float64)
    hole = np.array([[100, 100], [140, 100], [140, 140], [100, 140]], np.float64)
    tm = tiling.TissueMask(np.zeros((15, 20), np.uint8), (4.0, 4.0), [sq], [[hole]])
    img = tiling.draw_qc(thumb, 4.0, tm, np.array([[40, 80]]), 64)
    assert img.shape == thumb.shape and (thumb == 255).all()       # the input is not drawn on
    assert img[20, 10].tolist() == [40, 40, 40] and img[36, 26].tolist() == [40, 40, 40]
    assert img[28, 10].tolist() == [40, 40, 40] and img[28, 18].tolist() == [255, 255, 255]
    assert img[0, 45].tolist() == [0, 200, 0] and img[20, 50].tolist() == [0, 200, 0]
    assert img[25, 30].tolist() == [0, 80, 255] and img[35, 28].tolist() == [0, 80, 255]
    assert img[55, 70].tolist() == [255, 255, 255]


def test_save_png_keeps_rgb_channels_and_grey(tmp_path):
    """An RGB image saved and read back (OpenCV reads BGR) keeps red red; a 2-D image is grey."""
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200                              # red
    rgb[0, 0] = (10, 20, 30)
    p = tiling.save_png(tmp_path / "q" / "x.png", rgb)
    back = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, rgb)
    grey = np.arange(20, dtype=np.uint8).reshape(4, 5)
    g = tiling.save_png(tmp_path / "g.png", grey)
    assert np.array_equal(cv2.imread(str(g), cv2.IMREAD_UNCHANGED), grey)
    assert sorted(p.name for p in (tmp_path / "q").iterdir()) == ["x.png"]


# --------------------------------------------------------------------------------- slides
def test_check_mpp_accepts_both_ends_of_the_range():
    assert check_mpp(0.05) == 0.05 and check_mpp(20.0) == 20.0 and check_mpp("0.5") == 0.5
    for bad in (0.0499, 20.01):
        with pytest.raises(ValueError, match="between 0.05 and 20"):
            check_mpp(bad)


def test_level_mpp_grows_with_the_level_downsample(block_slides):
    """The 0.5 µm/px block: level k of the 2×-step pyramid is 0.5 · 2^k µm/px."""
    with Slide(block_slides[0.5]) as s:
        assert s.level_downsamples[:3] == pytest.approx((1.0, 2.0, 4.0))
        assert [s.level_mpp(k) for k in range(3)] == pytest.approx([0.5, 1.0, 2.0])


def test_thumbnail_downsample_is_level0_width_over_thumbnail_width():
    """cmu_small_region is 2220 × 2967. thumbnail(3): scale 989, size (round(2.24), 3) = (2, 3):
    the x downsample is 2220 / 2 = 1110 (not 2967 / 3 = 989). thumbnail(4000) is level 0 at 1."""
    with Slide(REAL_SVS) as s:
        thumb, ds = s.thumbnail(3)
        assert thumb.shape == (3, 2, 3) and ds == 1110.0
        thumb, ds = s.thumbnail(512)
        assert max(thumb.shape[:2]) == 512 and ds == pytest.approx(2220 / thumb.shape[1])
        full, ds = s.thumbnail(4000)
        assert full.shape == (2967, 2220, 3) and ds == 1.0


def test_reads_beyond_the_slide_edge_are_white():
    """A region half outside the slide (x from w0 − 10, 20 px wide): the outer 10 columns are
    white (255), like glass, not black."""
    with Slide(REAL_SVS) as s:
        w0, _ = s.dimensions
        rgb = s.read_region((w0 - 10, 100), 0, (20, 5))
    assert rgb.shape == (5, 20, 3)
    assert (rgb[:, 10:] == 255).all()
    assert (rgb[:, :10] < 255).any()


def test_file_mpp_averages_x_and_y(tmp_path):
    """A TIFF with 20,000 px/cm across (0.5 µm/px) and 16,000 px/cm down (0.625 µm/px): the
    level-0 mpp is their mean, 0.5625. Catches the y resolution ignored."""
    img = np.full((600, 600, 3), 240, np.uint8)
    p = tmp_path / "xy.tiff"
    tifffile.imwrite(p, img, tile=(256, 256), photometric="rgb", metadata=None,
                     resolution=(20000, 16000), resolutionunit="CENTIMETER")
    with Slide(p) as s:
        assert s.file_mpp == pytest.approx(0.5625)
        assert s.mpp == pytest.approx(0.5625) and s.mpp_source == "file"


# --------------------------------------------------------------------- coordinates file
def test_coordinates_file_records_the_slide_and_every_setting(block_slides, tmp_path):
    """block20 is 4096 × 3072 px at 0.5 µm/px. 32-px patches at 4 µm/px are 256 level-0 px;
    overlap 8 px → step (32 − 8) · 8 = 192 level-0 px. Every attribute a rerun or the
    extraction checks is in the file, with its value."""
    import dataclasses
    import json

    from milhelpers.h5io import read_coords

    res = tiling.tile_slide(block_slides[0.5], tmp_path, target_mpp=4.0, patch_size=32,
                            overlap=8, min_tissue=0.5, qc=False)
    coords, attrs = read_coords(res.coords_path)
    seg = json.loads(attrs.pop("segmentation"))
    assert seg == dataclasses.asdict(tiling.get_preset("biopsy"))
    assert attrs == {"patch_size": 32, "patch_size_level0": 256, "target_mpp": 4.0,
                     "level0_mpp": pytest.approx(0.5), "overlap": 8, "min_tissue": 0.5,
                     "name": "block20", "level0_width": 4096, "level0_height": 3072}
    assert res.patch_size_level0 == 256 and res.mpp_source == "file"
    assert len(coords) == res.n_patches > 0 and (coords % 192 == 0).all()
    assert (coords[:, 0] + 256 <= 4096).all() and (coords[:, 1] + 256 <= 3072).all()


def test_an_even_median_kernel_is_refused():
    with Slide(REAL_SVS) as s, pytest.raises(ValueError, match="mthresh must be odd, got 4"):
        tiling.segment_tissue(s, tiling.get_preset("biopsy").replace(mthresh=4))


# ----------------------------------------------------------------- presets and small helpers
def test_presets_and_defaults_are_clams_numbers():
    """CLAM's presets/*.csv: biopsy (15, 11, 2, 1, 1, 2), resection (15, 11, 4, 100, 16, 8),
    tcga (8, 7, 4, 16, 4, 8) as (sthresh, mthresh, close, a_t, a_h, max_n_holes); all at
    4 µm/px with the fixed threshold and the pen exclusion."""
    got = {n: (p.sthresh, p.mthresh, p.close, p.a_t, p.a_h, p.max_n_holes)
           for n, p in tiling.PRESETS.items()}
    assert got == {"biopsy": (15, 11, 2, 1, 1, 2), "resection": (15, 11, 4, 100, 16, 8),
                   "tcga": (8, 7, 4, 16, 4, 8)}
    for p in tiling.PRESETS.values():
        assert (p.seg_mpp, p.use_otsu, p.exclude_pen) == (4.0, False, True)
    assert tiling.get_preset("tcga") is tiling.PRESETS["tcga"]
    assert tiling.SegmentationParams() == tiling.PRESETS["biopsy"]


def test_small_helpers_by_hand():
    """level0_patch_size rounds and never goes below 1 px; an empty box list and an empty
    tissue mask give empty answers of the right shape; an all-zero mask has fraction 0."""
    assert tiling.level0_patch_size(256, 0.5, 0.25) == 512
    assert tiling.level0_patch_size(100, 0.455, 0.5) == 91       # 91.0
    assert tiling.level0_patch_size(1, 0.05, 20.0) == 1           # round(0.0025) = 0 → 1
    assert tiling.box_fraction(np.ones((4, 4)), (1.0, 1.0), np.zeros((0, 2)), 2).shape == (0,)
    empty = tiling.TissueMask(np.zeros((8, 8), np.uint8), (4.0, 4.0))
    assert empty.is_empty and empty.tissue_fraction == 0.0
    coords, frac, size0 = tiling.patch_grid((64, 64), 0.5, empty, 0.5, 16, 0, 0.0)
    assert coords.shape == (0, 2) and coords.dtype == np.int64 and frac.shape == (0,)
    assert size0 == 16
    part = tiling.TissueMask(np.pad(np.ones((2, 4), np.uint8), ((0, 6), (0, 4))), (1.0, 1.0))
    assert part.tissue_fraction == 8 / 64


def test_segmentation_steps_are_kept_only_when_asked(tmp_path):
    """keep_steps keeps each stage as it was: the threshold image still holds the ink (the pen
    exclusion comes after it), the pen image marks it, the closed mask has it removed."""
    img = np.full((1024, 1024, 3), GLASS, np.uint8)
    img[128:512, 128:512] = TISSUE
    img[640:896, 640:896] = (50, 20, 40)                       # black ink
    path = synth.write_pyramidal_tiff(tmp_path / "steps.tiff", img, 0.5)
    with Slide(path) as s:
        tm = tiling.segment_tissue(s, "biopsy", keep_steps=True)
        plain = tiling.segment_tissue(s, "biopsy")
    assert plain.steps == {}
    assert set(tm.steps) == {"rgb", "saturation", "blurred", "threshold", "pen", "closed"}
    dx, dy = tm.downsample
    ink, tissue = (int(768 / dy), int(768 / dx)), (int(320 / dy), int(320 / dx))
    assert tm.steps["threshold"][ink] == 1 and tm.steps["pen"][ink] == 1
    assert tm.steps["closed"][ink] == 0 and tm.steps["closed"][tissue] == 1
    assert tm.steps["rgb"].shape == tm.mask.shape + (3,)
    assert np.array_equal(tm.mask, plain.mask)


def test_a_kept_grid_reports_the_files_values_and_an_overwrite_redraws_the_qc(block_slides,
                                                                              tmp_path):
    """A rerun with the same settings keeps the file and reports its grid (no tissue mask, no
    QC path when qc=False). Re-tiling with overwrite=True at another patch size draws the QC
    picture of the new grid, not the old one (a 16-px grid has more box outlines than 32-px)."""
    kw = dict(target_mpp=4.0, qc=True)
    first = tiling.tile_slide(block_slides[0.5], tmp_path, patch_size=32, **kw)
    qc_first = cv2.imread(str(first.qc_path))
    kept = tiling.tile_slide(block_slides[0.5], tmp_path, patch_size=32, target_mpp=4.0,
                             qc=False)
    assert kept.skipped and kept.qc_path is None and kept.tissue is None
    assert kept.patch_size_level0 == 256 and kept.n_patches == first.n_patches
    assert kept.mpp == pytest.approx(0.5) and kept.mpp_source == "file"
    assert kept.coords_path == first.coords_path
    new = tiling.tile_slide(block_slides[0.5], tmp_path, patch_size=16, overwrite=True, **kw)
    assert not new.skipped and new.n_patches > 2 * first.n_patches
    qc_new = cv2.imread(str(new.qc_path))
    dark = lambda im: int((im == 40).all(axis=2).sum())  # noqa: E731 - box outline pixels
    assert dark(qc_new) > dark(qc_first) > 0


def test_pen_mask_bands_at_their_edges():
    """OpenCV HSV triples: green/blue ink is hue in [35, 125) with saturation > 60; black ink is
    value < 60 at any hue. Each edge from both sides."""
    hsv = np.array([[
        [35, 61, 200], [34, 61, 200],      # hue at the green edge: ink / not
        [124, 61, 200], [125, 61, 200],    # hue at the purple edge: ink / not (H&E)
        [80, 61, 200], [80, 60, 200],      # saturation: > 60 ink, = 60 not
        [160, 200, 59], [160, 200, 60],    # value: < 60 black ink, = 60 not
        [0, 0, 0],                         # black at hue 0
    ]], np.uint8)
    got = tiling._pen_mask(hsv)[0].tolist()
    assert got == [True, False, True, False, True, False, True, False, True]


def test_box_fraction_rounds_box_edges_to_the_nearest_mask_pixel():
    """Mask row of 8 pixels at downsample 4, tissue in column 1 only. The 8-px box at x = 7 spans
    mask x 1.75..3.75 → rounded 2..4: no tissue (truncating would give 1..3: half). The box at
    x = 5 spans 1.25..3.25 → 1..3: half."""
    mask = np.zeros((1, 8), np.uint8)
    mask[0, 1] = 1
    got = tiling.box_fraction(mask, (4.0, 4.0), np.array([[7, 0], [5, 0]]), 8)
    assert got.tolist() == [0.0, 0.5]


@pytest.mark.parametrize("kwargs,name", [
    (dict(patch_size=True), "patch_size"), (dict(overlap=True), "overlap"),
    (dict(overlap=2.0), "overlap"), (dict(min_tissue="0.5"), "min_tissue"),
    (dict(target_mpp=25.0), "target_mpp"),
])
def test_tiling_numbers_of_the_wrong_kind_are_refused(kwargs, name):
    args = {"target_mpp": 0.5, "patch_size": 256, "overlap": 0, "min_tissue": 0.25, **kwargs}
    with pytest.raises(ValueError, match=name):
        tiling.check_tiling_params(**args)
    tiling.check_tiling_params(0.5, np.int64(256), np.int64(255), 1)     # the largest valid ones


def test_a_segmentation_finer_than_the_scan_stays_at_level0(tmp_path):
    """seg_mpp 0.25 on a 0.5 µm/px scan would be an upsampled mask: the mask is level 0."""
    img = np.full((1024, 1024, 3), GLASS, np.uint8)
    img[256:768, 256:768] = TISSUE
    path = synth.write_pyramidal_tiff(tmp_path / "fine.tiff", img, 0.5)
    tm = _segment(path, tiling.SegmentationParams(seg_mpp=0.25, a_t=0.5))
    assert tm.downsample == (1.0, 1.0) and tm.mask.shape == (1024, 1024)
    assert len(tm.contours) == 1 and tm.mask[512, 512] == 1 and tm.mask[100, 100] == 0


def test_magnification_repr_and_open_slide():
    from milhelpers.slides import magnification_to_mpp, mpp_to_magnification, open_slide

    assert mpp_to_magnification(0.25) == 40.0 and magnification_to_mpp(20) == 0.5
    with open_slide(REAL_SVS) as s:
        assert s.magnification == pytest.approx(10 / 0.499)
        assert repr(s) == f"Slide('cmu_small_region.svs', 2220×2967 px, {s.level_count} levels, 0.499 µm/px)"
    with open_slide(REAL_SVS, mpp=0.25, force_mpp=True) as s:
        assert s.mpp == 0.25 and "forced" in s.mpp_source


# --- round 7: bounds at exactly the bound ------------------------------------------------------
@pytest.mark.parametrize("w, h", [(600, 400), (400, 600)])
def test_tile_slide_takes_a_patch_exactly_as_large_as_the_slides_shorter_side(tmp_path, w, h):
    """A 400-px patch at the scan's own 0.5 µm/px is 400 level-0 px: on a 600×400 (or 400×600)
    slide exactly one row (column) of one patch fits, so tile_slide keeps it; 401 px does not
    fit and is refused. Catches the refusal at size0 >= the shorter side (a slide refused
    although one patch fits)."""
    img = np.full((h, w, 3), GLASS, np.uint8)
    img[:400, :400] = TISSUE
    path = synth.write_pyramidal_tiff(tmp_path / "edge.tiff", img, 0.5)
    res = tiling.tile_slide(path, tmp_path / "out", target_mpp=0.5, patch_size=400, qc=False)
    assert res.patch_size_level0 == 400 and res.coords.tolist() == [[0, 0]]
    with pytest.raises(tiling.PatchLargerThanSlideError, match="401 level-0 px"):
        tiling.tile_slide(path, tmp_path / "out2", target_mpp=0.5, patch_size=401, qc=False)


@pytest.mark.parametrize("downsamples, target, expected", [
    ((1, 2), 1.1, (0, 1.1)),      # level 0 is exactly 10 % finer: resized, not the 2× level
    ((1, 2), 1.2, (1, 2.0)),      # more than 10 % finer: the coarser level at most 2× away
    ((1, 4), 2.0, (1, 4.0)),      # the next level exactly 2× coarser is still taken
])
def test_segmentation_level_at_exactly_its_two_thresholds(downsamples, target, expected):
    # catches `>= target / 1.1` made strict (at 1.1 the 2× level would be read instead of
    # resizing level 0) and a 2× rule tightened below 2× (level 0 read in strips)
    assert tiling.segmentation_level(downsamples, target) == expected


# --- round 9: pixel arithmetic on non-square slides and anisotropic downsamples ----------------
class _ArrayOSR:
    """OpenSlide stand-in that serves exact pixels (no JPEG): one RGB array per level, level 0
    first, with the given downsamples. Locations are level-0 (x, y) as in OpenSlide; pixels
    outside a level are transparent. Each level may hold other content than a resize of level 0,
    so a test sees which level was read."""

    def __init__(self, levels: list[np.ndarray], downsamples: tuple[float, ...], mpp: float):
        self.levels = levels
        self.level_downsamples = tuple(float(d) for d in downsamples)
        self.level_dimensions = tuple((a.shape[1], a.shape[0]) for a in levels)
        self.dimensions = self.level_dimensions[0]
        self.level_count = len(levels)
        self.properties = {"openslide.mpp-x": str(mpp), "openslide.mpp-y": str(mpp)}

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        d = self.level_downsamples[level]
        x, y = int(round(location[0] / d)), int(round(location[1] / d))
        w, h = size
        src = self.levels[level]
        out = np.zeros((h, w, 4), np.uint8)                     # transparent outside
        sx0, sy0 = max(x, 0), max(y, 0)
        sx1, sy1 = min(x + w, src.shape[1]), min(y + h, src.shape[0])
        if sx1 > sx0 and sy1 > sy0:
            out[sy0 - y:sy1 - y, sx0 - x:sx1 - x, :3] = src[sy0:sy1, sx0:sx1]
            out[sy0 - y:sy1 - y, sx0 - x:sx1 - x, 3] = 255
        return out

    def close(self) -> None:
        pass


def _array_slide(levels: list[np.ndarray], downsamples: tuple[float, ...], mpp: float) -> Slide:
    """A real :class:`Slide` reading from :class:`_ArrayOSR` (exact pixels, chosen levels)."""
    s = Slide(REAL_SVS)
    s._osr.close()
    s._osr = _ArrayOSR(levels, downsamples, mpp)
    return s


def _plain(h: int, w: int, value: int | tuple[int, int, int] = GLASS) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def _box_fraction_by_hand(mask: np.ndarray, ds: tuple[float, float], x: int, y: int,
                          size0: int) -> float:
    """The documented rule, written out: each box edge goes to the nearest mask pixel edge
    (x by ds[0], y by ds[1]), clipped to the mask, at least one mask pixel wide and high."""
    h, w = mask.shape

    def edge(v: float, d: float, n: int) -> int:
        return min(max(math.floor(v / d + 0.5), 0), n)

    x0, x1 = edge(x, ds[0], w), edge(x + size0, ds[0], w)
    y0, y1 = edge(y, ds[1], h), edge(y + size0, ds[1], h)
    x1, y1 = max(x1, min(x0 + 1, w)), max(y1, min(y0 + 1, h))
    return float(mask[y0:y1, x0:x1].sum()) / max((x1 - x0) * (y1 - y0), 1)


def test_r9_box_fraction_on_an_anisotropic_mask_by_hand():
    """Mask 6 rows × 10 columns at downsample (4, 8) (x by 4, y by 8): level-0 40 × 48.
    Tissue in the top two rows and the last column. By hand:
    (0, 0) side 16 → x 0..4, y 0..2: all tissue → 1 (y's bottom by the x downsample: rows 0..4,
    8/16 = 0.5); (31, 35) side 13 → x 7.75..11 → 8..10 (clipped), y 4.4..6 → 4..6: column 9 →
    2/4 (x0 truncated: 7..10, 2/6); (5, 11) side 14 → x 1.25..4.75 → 1..5, y 1.4..3.1 → 1..3:
    row 1 → 4/8 (x1 truncated: 1..4, 3/6; y1 rounded up: 1..4, 4/12).
    Then a sweep of 13-px boxes over a random mask, at positions where no edge falls on a half
    mask pixel, against the rule written out. Catches any edge floored/ceiled instead of
    rounded, an x/y downsample or width/height swapped, and a clip to the wrong side."""
    mask = np.zeros((6, 10), np.uint8)
    mask[:2] = 1
    mask[:, 9] = 1
    got = [tiling.box_fraction(mask, (4.0, 8.0), np.array([[0, 0]]), 16)[0],
           tiling.box_fraction(mask, (4.0, 8.0), np.array([[31, 35]]), 13)[0],
           tiling.box_fraction(mask, (4.0, 8.0), np.array([[5, 11]]), 14)[0]]
    assert got == [1.0, 2 / 4, 4 / 8]

    rnd = (np.random.default_rng(9).random((6, 10)) < 0.45).astype(np.uint8)
    size0 = 13
    boxes = [(x, y) for y in range(0, 52, 3) for x in range(0, 46, 3)
             if x % 4 != 2 and (x + size0) % 4 != 2 and y % 8 != 4 and (y + size0) % 8 != 4]
    assert len(boxes) > 50
    got = tiling.box_fraction(rnd, (4.0, 8.0), np.array(boxes), size0)
    want = [_box_fraction_by_hand(rnd, (4.0, 8.0), x, y, size0) for x, y in boxes]
    assert got.tolist() == pytest.approx(want)


def test_r9_patch_grid_on_a_non_square_slide_by_hand():
    """A 130 × 80 px slide at 0.3 µm/px, 25-px patches at 0.5 µm/px with 3 px overlap:
    size0 = round(41.67) = 42, step round(22 · 5/3 = 36.67) = 37. xs 0, 37, 74 (74 + 42 ≤ 130);
    ys 0, 37 (37 + 42 ≤ 80). Tissue: mask at downsample (4, 8), columns 0..15 (x < 64).
    Box x 0..42 → columns 0..round(10.5)=10 → 1.0; x 37..79 → round(9.25)=9..round(19.75)=20:
    7 of 11 tissue → 7/11; x 74.. → 0 (dropped). Catches size0 or the step truncated (41, 36),
    width and height swapped (3 rows, 2 columns) and tissue fractions off by an edge."""
    mask = np.zeros((10, 33), np.uint8)
    mask[:, :16] = 1
    tm = tiling.TissueMask(mask, (4.0, 8.0), contours=[np.zeros((1, 2))], holes=[[]])
    coords, frac, size0 = tiling.patch_grid((130, 80), 0.3, tm, 0.5, 25, 3, 0.5)
    assert size0 == 42
    assert coords.tolist() == [[0, 0], [37, 0], [0, 37], [37, 37]]
    assert frac.tolist() == pytest.approx([1.0, 7 / 11, 1.0, 7 / 11])
    assert tiling.level0_patch_size(25, 0.5, 0.3) == 42                 # 41.67 rounds up
    assert tiling.upsampling_factor(25, 0.5, 0.3) == pytest.approx(25 / 42)


def test_r9_thumbnail_of_a_1000_by_999_slide_rounds_its_height_and_reads_the_right_level():
    """1000 × 999 px with levels at downsamples 1, 2, 4 (each level a flat grey of its own, so
    the level read shows). thumbnail(300): scale 1000/300 = 3.33 → the 2× level (the deepest not
    coarser than asked), size (300, round(299.7) = 300), downsample 1000/300. Catches the size
    truncated (height 299), the 4× level read (coarser than asked) or level 0 read."""
    levels = [_plain(999, 1000, 100), _plain(499, 500, 150), _plain(249, 250, 200)]
    with _array_slide(levels, (1, 2, 4), 0.5) as s:
        thumb, ds = s.thumbnail(300)
        small, ds_small = s.thumbnail(7)           # 142.9: (7, round(6.99) = 7), the 4× level
    assert thumb.shape == (300, 300, 3) and ds == pytest.approx(1000 / 300)
    assert (thumb == 150).all()
    assert small.shape == (7, 7, 3) and ds_small == pytest.approx(1000 / 7) and (small == 200).all()


def test_r9_read_patch_rounds_the_level_read_and_resizes_it_by_area():
    """size0 = 255 level-0 px at out_px = 64: 255/64 = 3.98 → the 2× level (not the 4× one),
    n = round(127.5) = 128 level px read from level-0 (20, 10) = level (10, 5), then area-halved
    to 64. The 2× level is black except its patch's columns 126–127 (200) and rows 126–127
    (100), so the output's last column is 200 and its last row 100, everything else 0: the
    whole 128-px read, both axes. Level 0 (50) and the 4× level (250) must not show. Catches n
    floored to 127 (the last column blurred into the one before), the level chosen from
    out_px / size0, and the location's x and y swapped. A 100-px patch asked at 128 px is read
    from level 0 (100 px) and enlarged to 128 × 128 (caught: an enlargement skipped)."""
    lv1 = np.zeros((300, 300, 3), np.uint8)
    lv1[5 + 126:5 + 128, :] = 100          # rows 126–127 of the patch
    lv1[:, 10 + 126:10 + 128] = 200        # columns 126–127 of the patch
    levels = [_plain(600, 600, 50), lv1, _plain(150, 150, 250)]
    with _array_slide(levels, (1, 2, 4), 0.5) as s:
        patch = s.read_patch((20, 10), 255, 64)
        enlarged = s.read_patch((20, 10), 100, 128)
    assert enlarged.shape == (128, 128, 3) and (enlarged == 50).all()
    want = np.zeros((64, 64, 3), np.uint8)
    want[63, :] = 100
    want[:, 63] = 200
    assert patch.shape == (64, 64, 3)
    assert np.array_equal(patch, want)


def test_r9_level_read_in_strips_takes_each_strip_from_its_own_rows():
    """Level 1 (downsample 2) of 6 × 12 px, red = 10 · row, green = 20 · column, resized to 3 × 4
    (2 columns, 3 rows per output pixel) one output row per strip: output row i averages rows
    3i..3i+2 → red 10 · (3i + 1); column j averages 2j, 2j+1 → green 20 · 2j + 10. Catches a
    strip's level-0 location given in level px, the row factor taken from the width, and the
    strip's last row dropped. With 10 rows to 4 (2.5 per output row) a strip reads from
    floor(2.5 i) to ceil(2.5 (i + 1)): rows 0–2, 2–4, 5–7, 7–9 → red 10, 30, 60, 80 (a rounded
    top reads rows 8–9 for the last: 85; a floored bottom rows 0–1 for the first: 5)."""
    lv1 = np.zeros((12, 6, 3), np.uint8)
    lv1[..., 0] = (10 * np.arange(12))[:, None]
    lv1[..., 1] = (20 * np.arange(6))[None, :]
    with _array_slide([_plain(24, 12, 0), lv1], (1, 2), 0.5) as s:
        out = s.read_level_resized(1, (3, 4), max_pixels=1)
        whole = s.read_level_resized(1, (3, 4))
    assert out[..., 0].tolist() == [[10 * (3 * i + 1)] * 3 for i in range(4)]
    assert out[..., 1].tolist() == [[20 * 2 * j + 10 for j in range(3)]] * 4
    assert np.array_equal(out, whole)
    lv1 = np.zeros((10, 6, 3), np.uint8)
    lv1[..., 0] = (10 * np.arange(10))[:, None]
    with _array_slide([_plain(20, 12, 0), lv1], (1, 2), 0.5) as s:
        out = s.read_level_resized(1, (3, 4), max_pixels=1)
    assert out[:, 0, 0].tolist() == [10, 30, 60, 80]


def _salt_and_blocks(h: int, w: int) -> np.ndarray:
    """Mask-resolution picture: glass, a 10 × 10 tissue block at (x 5..15, y 5..15), a 3 × 3
    tissue speck at (x 25..28, y 5..8) and a 2 × 2 salt speck at (x 30..32, y 20..22)."""
    img = _plain(h, w)
    img[5:15, 5:15] = TISSUE
    img[5:8, 25:28] = TISSUE
    img[20:22, 30:32] = TISSUE
    return img


def test_r9_a_three_pixel_median_blur_removes_salt_and_rounds_corners():
    """At the scan's own resolution (seg_mpp = mpp = 4 µm/px: k = 1) mthresh = 3 is a 3 × 3
    median: the 2 × 2 salt speck (4 of 9 neighbours) vanishes, the block loses its four corner
    pixels (4 of 9) but keeps its edges (6 of 9), the 3 × 3 speck keeps its plus-shaped middle.
    Catches the blur skipped at mthresh = 3 (the salt becomes tissue, a third contour)."""
    params = tiling.SegmentationParams(seg_mpp=4.0, mthresh=3, close=0, exclude_pen=False,
                                       a_t=1e-4)
    with _array_slide([_salt_and_blocks(30, 40)], (1,), 4.0) as s:
        tm = tiling.segment_tissue(s, params)
    assert tm.downsample == (1.0, 1.0) and tm.mask.shape == (30, 40)
    assert tm.mask[20:22, 30:32].sum() == 0                       # salt gone
    assert [tm.mask[5, 5], tm.mask[14, 14], tm.mask[5, 10], tm.mask[10, 10]] == [0, 0, 1, 1]
    assert tm.mask[5:8, 25:28].tolist() == [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    assert len(tm.contours) == 2


def test_r9_median_and_closing_kernels_round_to_their_physical_size():
    """seg_mpp 10 on a 4 µm/px scan asks downsample 2.5; the pyramid (1, 4) gives the 4× level
    at its own scale (level 0 is glass, so reading it would find nothing), k = 2.5/4 = 0.625.
    mthresh 7 → (7k − 1)/2 = 1.69 → 2 → a 5 × 5 median: the 3 × 3 speck (9 of 25) vanishes,
    the 10 × 10 block stays. close 3 → 1.875 → 2: two blocks one mask pixel apart become one
    contour; close 1 → round(0.625) = 1 → no closing. Catches either kernel truncated instead
    of rounded (a 3 × 3 median keeps the speck; a 1-px closing leaves the gap), and the mask
    read from level 0."""
    lv1 = _salt_and_blocks(30, 40)
    lv0 = _plain(120, 160)
    blurred = tiling.SegmentationParams(seg_mpp=10.0, mthresh=7, close=0, exclude_pen=False,
                                        a_t=1e-4)
    gap = _plain(30, 40)
    gap[5:15, 5:15] = TISSUE
    gap[5:15, 16:26] = TISSUE                                        # gap: column 15
    closing = blurred.replace(mthresh=1)
    with _array_slide([lv0, lv1], (1, 4), 4.0) as s:
        tm = tiling.segment_tissue(s, blurred)
    assert tm.downsample == (4.0, 4.0) and tm.mask.shape == (30, 40)
    assert tm.mask[5:8, 25:28].sum() == 0 and tm.mask[10, 10] == 1
    assert len(tm.contours) == 1
    with _array_slide([lv0, gap], (1, 4), 4.0) as s:
        one = tiling.segment_tissue(s, closing.replace(close=3))
        two = tiling.segment_tissue(s, closing.replace(close=1))
    assert len(one.contours) == 1 and one.mask[10, 15] == 1
    assert len(two.contours) == 2 and two.mask[10, 15] == 0


def test_r9_segmenting_a_1000_by_999_slide_keeps_its_anisotropic_downsample():
    """1000 × 999 px at 1 µm/px, segmented at 4 µm/px from level 0: the mask is
    round(1000/4) × round(249.75) = 250 × 250, so its downsample is (4.0, 999/250 = 3.996).
    A tissue band x 400..600 over the full height is mask columns 100..149, rows 0..249; its
    contour in level-0 px spans x 400..149·4 = 596, y 0..249·3.996 = 995.004. A glass hole at
    x 480..520, y 400..800 is mask columns 120..129, rows 100..199 (row 100 is 90 % glass); its
    contour runs through the tissue pixels around it (columns 119 and 130, rows 99 and 200):
    level-0 x 476..520, y 99·3.996 = 395.604..799.2, area 11 · 101 − 4 corners · ½ = 1109 mask
    px². The net area 49 · 249 − 1109 = 11092 mask px is, in (128 µm)² patches of
    16384 / (4 · 3.996) = 1025.03 mask px, 10.8212: a_t = 10.815 keeps it, 10.827 drops it
    (with one axis's downsample squared it would be 10.832 or 10.810). Catches the mask height
    truncated (249 rows, downsample 4.012) or recorded as the nominal 4.0, the mask made at
    level 0 (seg_mpp / mpp inverted), contours or holes scaled by the wrong axis or not at all,
    and the reference area taken from one axis only."""
    img = _plain(999, 1000)
    img[:, 400:600] = TISSUE
    img[400:800, 480:520] = GLASS
    params = tiling.SegmentationParams(seg_mpp=4.0, mthresh=1, close=0, exclude_pen=False,
                                       a_t=1.0, a_h=1.0)
    with _array_slide([img], (1,), 1.0) as s:
        tm = tiling.segment_tissue(s, params)
        assert tm.mask.shape == (250, 250) and tm.downsample == (4.0, 3.996)
        assert len(tm.contours) == 1 and len(tm.holes[0]) == 1
        c = tm.contours[0]
        assert c.min(0).tolist() == pytest.approx([400.0, 0.0])
        assert c.max(0).tolist() == pytest.approx([596.0, 995.004])
        hole = tm.holes[0][0]
        assert hole.min(0).tolist() == pytest.approx([476.0, 395.604])
        assert hole.max(0).tolist() == pytest.approx([520.0, 799.2])
        assert tm.mask[150, 125] == 0 and tm.mask[150, 110] == 1
        assert (49 * 249 - 1109) / (16384 / (4.0 * 3.996)) == pytest.approx(10.821, abs=5e-4)
        kept = tiling.segment_tissue(s, params.replace(a_t=10.815))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tiling.NoTissueWarning)
            dropped = tiling.segment_tissue(s, params.replace(a_t=10.827))
    assert len(kept.contours) == 1 and dropped.is_empty


def _outline(x0: int, y0: int, x1: int, y1: int) -> set[tuple[int, int]]:
    """The (x, y) pixels of a one-pixel rectangle outline from (x0, y0) to (x1, y1)."""
    return ({(x, y) for x in range(x0, x1 + 1) for y in (y0, y1)}
            | {(x, y) for y in range(y0, y1 + 1) for x in (x0, x1)})


def test_r9_qc_drawing_rounds_to_the_nearest_thumbnail_pixel_and_widens_lines_on_tall_images():
    """Thumbnail downsample 3. Boxes of side 25 (8.33 thumbnail px): at level-0 (11, 32) →
    (3.67, 10.67)–(12, 19) → (4, 11)–(12, 19); at (40, 5) → (13.33, 1.67)–(21.67, 10) →
    (13, 2)–(22, 10): exactly those outlines are dark. On a 1100 × 100 (tall) thumbnail lines
    are round(1100 / 400) = 3 thick, which OpenCV draws 5 px wide: the contour's left edge at
    level-0 x 62 → 20.67 → 21 is green in columns 19–23 of row 450, its right edge 238 → 79 in
    77–81; the hole's edges 101 → 34 and 170 → 57 are blue in 32–36 and 55–59 of row 220.
    Catches a box corner, contour or hole truncated instead of rounded, and the line width
    taken from the shorter side or truncated (1 or 2 thick: 1 or 3 px wide)."""
    white = np.full((30, 26, 3), 255, np.uint8)
    empty = tiling.TissueMask(np.zeros((10, 9), np.uint8), (3.0, 3.0))
    img = tiling.draw_qc(white, 3.0, empty, np.array([[11, 32], [40, 5]]), 25)
    ys, xs = np.nonzero((img == 40).all(axis=2))
    assert set(zip(xs.tolist(), ys.tolist())) == _outline(4, 11, 12, 19) | _outline(13, 2, 22, 10)

    tall = np.full((1100, 100, 3), 255, np.uint8)
    sq = np.array([[62, 300], [238, 300], [238, 2400], [62, 2400]], np.float64)
    hole = np.array([[101, 601], [170, 601], [170, 700], [101, 700]], np.float64)
    tm = tiling.TissueMask(np.zeros((367, 34), np.uint8), (3.0, 3.0), [sq], [[hole]])
    img = tiling.draw_qc(tall, 3.0, tm)
    green = np.nonzero((img[450] == (0, 200, 0)).all(axis=1))[0].tolist()
    blue = np.nonzero((img[220] == (0, 80, 255)).all(axis=1))[0].tolist()
    assert green == [19, 20, 21, 22, 23, 77, 78, 79, 80, 81]
    assert blue == [32, 33, 34, 35, 36, 55, 56, 57, 58, 59]


def test_r9_tile_slide_on_a_wide_slide_grids_and_draws_by_hand(tmp_path, monkeypatch):
    """End to end on a 2048 × 1000 px slide at 1 µm/px (levels 1 and 2, exact pixels): tissue at
    x 512..1536, y 200..800. 32-px patches at 2 µm/px are 64 level-0 px on a 64-px grid. The
    mask (4 µm/px, read from the 2× level) has tissue in rows 50..199, so the row of boxes at
    y = 192 is 14/16 = 0.875 tissue (kept at min_tissue 0.875), y = 768 half (dropped): 9 rows
    (192..704) × 16 columns (512..1472), row-major. The QC picture is the 1024 × 500 thumbnail
    (downsample 2): each box is a 32-px outline at coords / 2 (not 16 px, the patch size at the
    target resolution), the contour's sides are 5 px wide around x = 256 and 766. Catches the QC
    boxes drawn at the target patch size, and any axis or rounding slip between grid and
    picture."""
    from milhelpers import slides as slides_mod

    lv0 = _plain(1000, 2048)
    lv0[200:800, 512:1536] = TISSUE
    lv1 = cv2.resize(lv0, (1024, 500), interpolation=cv2.INTER_AREA)
    monkeypatch.setattr(slides_mod.openslide, "OpenSlide",
                        lambda path: _ArrayOSR([lv0, lv1], (1, 2), 1.0))
    path = tmp_path / "wide.svs"
    path.write_bytes(b"")                                    # Slide checks that the file exists
    params = tiling.SegmentationParams(mthresh=1, close=0)
    res = tiling.tile_slide(path, tmp_path / "out", target_mpp=2.0, patch_size=32,
                            min_tissue=0.875, params=params)
    want = [[x, y] for y in range(192, 705, 64) for x in range(512, 1473, 64)]
    assert res.patch_size_level0 == 64 and res.coords.tolist() == want
    assert res.tissue.mask.shape == (250, 512) and res.tissue.downsample == (4.0, 4.0)
    qc = cv2.cvtColor(cv2.imread(str(res.qc_path)), cv2.COLOR_BGR2RGB)
    assert qc.shape == (500, 1024, 3)
    boxes = set().union(*(_outline(x // 2, y // 2, x // 2 + 32, y // 2 + 32) for x, y in want))
    ys, xs = np.nonzero((qc[110:390, 262:760] == 40).all(axis=2))
    assert set(zip((xs + 262).tolist(), (ys + 110).tolist())) == \
        {(x, y) for x, y in boxes if 110 <= y < 390 and 262 <= x < 760}
    green = np.nonzero((qc[250] == (0, 200, 0)).all(axis=1))[0].tolist()
    assert green == [254, 255, 256, 257, 258, 764, 765, 766, 767, 768]


# ---- round 12: an enlarged patch is interpolated linearly -----------------------------------
def test_r12_read_patch_enlarges_with_linear_interpolation():
    """A 4-px level-0 patch returned at 8 px is enlarged with INTER_LINEAR (area averaging is
    for shrinking): on a column ramp the result equals OpenCV's linear resize of the region and
    differs from its area resize. Catches the interpolation fixed to INTER_AREA."""
    ramp = np.zeros((8, 8, 3), np.uint8)
    ramp[:, :, 0] = np.array([0, 200, 40, 240, 10, 90, 30, 70], np.uint8)[None, :]
    s = _array_slide([ramp], (1.0,), 0.5)
    patch = s.read_patch((0, 0), 4, 8)
    region = ramp[:4, :4]
    linear = cv2.resize(region, (8, 8), interpolation=cv2.INTER_LINEAR)
    area = cv2.resize(region, (8, 8), interpolation=cv2.INTER_AREA)
    assert not np.array_equal(linear, area)                 # the two rules differ here
    np.testing.assert_array_equal(patch, linear)
