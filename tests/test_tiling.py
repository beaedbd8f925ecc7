
import cv2
import numpy as np
import pytest

from conftest import REAL_SVS
from milhelpers import tiling
from milhelpers.h5io import read_coords
from milhelpers.slides import Slide


def test_tissue_mask_on_real_svs():
    with Slide(REAL_SVS) as s:
        tm = tiling.segment_tissue(s, "biopsy")
    assert len(tm.contours) >= 1
    assert 0.25 < tm.tissue_fraction < 0.5  # a vertical strip of skin on white glass
    # the right third of the region is mostly glass
    assert tm.mask[:, int(tm.mask.shape[1] * 0.85):].mean() < 0.05
    x0, y0 = np.concatenate(tm.contours).min(0)
    assert x0 >= 0 and y0 >= 0


def test_segmentation_matches_ground_truth_and_ignores_pen(synthetic_slide):
    path, spec, tissue_gt, _, rgb = synthetic_slide
    with Slide(path) as s:
        tm = tiling.segment_tissue(s, "biopsy")
    gt = cv2.resize(tissue_gt.astype(np.uint8), tm.mask.shape[::-1], interpolation=cv2.INTER_NEAREST)
    iou = (gt & tm.mask).sum() / (gt | tm.mask).sum()
    assert iou > 0.8
    # pen ink (green: G > R) lies outside the mask
    small = cv2.resize(rgb, tm.mask.shape[::-1], interpolation=cv2.INTER_AREA).astype(int)
    pen = (small[..., 1] > small[..., 0] + 30) & (gt == 0)
    assert pen.sum() > 20, "fixture should contain a pen mark"
    assert tm.mask[pen].mean() < 0.05


def test_no_tissue_warns_and_writes_nothing(blank_slide, tmp_path):
    with pytest.warns(tiling.NoTissueWarning, match="No tissue"):
        res = tiling.tile_slide(blank_slide, tmp_path)
    assert res.n_patches == 0 and res.coords_path is None
    assert not (tmp_path / "patches").exists() or not any((tmp_path / "patches").iterdir())


def test_box_fraction_is_exact_on_aligned_boxes():
    mask = np.zeros((100, 100), np.uint8)
    mask[20:60, 30:70] = 1
    coords = np.array([[30 * 4, 20 * 4], [50 * 4, 40 * 4], [0, 0], [60 * 4, 50 * 4]])
    frac = tiling.box_fraction(mask, (4.0, 4.0), coords, 20 * 4)
    np.testing.assert_allclose(frac, [1.0, 1.0, 0.0, 0.25])


@pytest.mark.parametrize("mpp,size0", [(0.5, 256), (0.25, 512)])
def test_grid_is_physical_at_20x_and_40x(block_slides, mpp, size0):
    with Slide(block_slides[mpp]) as s:
        tm = tiling.segment_tissue(s, "biopsy")
        coords, frac, s0 = tiling.patch_grid(s.dimensions, s.mpp, tm, 0.5, 256, 0, 0.9)
        w, h = s.dimensions
    assert s0 == size0
    assert (coords % size0 == 0).all()  # grid from (0, 0) with a one-patch step
    assert (coords[:, 0] + size0 <= w).all() and (coords[:, 1] + size0 <= h).all()
    assert (frac >= 0.9).all()
    # tissue block is x 25–75 %, y 20–60 % of the slide: count full patches inside it
    x0, x1, y0, y1 = w // 4, 3 * w // 4, h // 5, 3 * h // 5
    inside = ((coords[:, 0] >= x0 - size0 // 8) & (coords[:, 0] + size0 <= x1 + size0 // 8)
              & (coords[:, 1] >= y0 - size0 // 8) & (coords[:, 1] + size0 <= y1 + size0 // 8))
    assert inside.all()
    expected = ((x1 // size0) - int(np.ceil(x0 / size0))) * ((y1 // size0) - int(np.ceil(y0 / size0)))
    assert abs(len(coords) - expected) <= 2 * (x1 - x0) // size0


def test_same_tissue_same_patches_at_20x_and_40x(block_slides):
    n = {}
    for mpp, path in block_slides.items():
        with Slide(path) as s:
            tm = tiling.segment_tissue(s, "biopsy")
            c, _, s0 = tiling.patch_grid(s.dimensions, s.mpp, tm, 0.5, 256, 0, 0.5)
            n[mpp] = (len(c), (c / s0).round().astype(int).tolist())
    assert n[0.5] == n[0.25]


def test_grid_keeps_exactly_the_patches_above_min_tissue(block_slides):
    with Slide(block_slides[0.5]) as s:
        tm = tiling.segment_tissue(s, "biopsy")
        dims = s.dimensions
    size0 = 256
    xs, ys = np.arange(0, dims[0] - size0 + 1, size0), np.arange(0, dims[1] - size0 + 1, size0)
    all_c = np.array([(x, y) for y in ys for x in xs])
    brute = np.array([tm.mask[int(round(y / tm.downsample[1])):int(round((y + size0) / tm.downsample[1])),
                              int(round(x / tm.downsample[0])):int(round((x + size0) / tm.downsample[0]))].mean()
                      for x, y in all_c])
    for t in (0.1, 0.5, 0.95):
        coords, _, _ = tiling.patch_grid(dims, 0.5, tm, 0.5, 256, 0, t)
        assert {tuple(c) for c in coords} == {tuple(c) for c in all_c[(brute >= t) & (brute > 0)]}


def test_more_min_tissue_fewer_patches_and_overlap_more(synthetic_slide):
    path = synthetic_slide[0]
    with Slide(path) as s:
        tm = tiling.segment_tissue(s, "biopsy")
        counts = [len(tiling.patch_grid(s.dimensions, s.mpp, tm, 0.5, 128, 0, t)[0])
                  for t in (0.0, 0.25, 0.5, 0.75, 1.0)]
        with_overlap = len(tiling.patch_grid(s.dimensions, s.mpp, tm, 0.5, 128, 64, 0.25)[0])
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    assert with_overlap > 3 * counts[1]
    with pytest.raises(ValueError):
        tiling.patch_grid((100, 100), 0.5, tm, 0.5, 128, 128, 0.25)


def test_tile_slide_writes_trident_layout(tmp_path):
    res = tiling.tile_slide(REAL_SVS, tmp_path, target_mpp=0.5, patch_size=256)
    coords, attrs = read_coords(res.coords_path)
    assert coords.dtype == np.int64 and coords.shape == (res.n_patches, 2) and res.n_patches > 20
    assert attrs["patch_size"] == 256 and attrs["patch_size_level0"] == round(256 * 0.5 / 0.499)
    assert attrs["target_mpp"] == 0.5 and attrs["level0_mpp"] == pytest.approx(0.499)
    assert attrs["overlap"] == 0
    assert res.qc_path.exists() and cv2.imread(str(res.qc_path)) is not None
    assert not list(tmp_path.rglob("*.part"))  # no temp files left behind


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="biopsy"):
        tiling.get_preset("nope")


@pytest.mark.parametrize("downsamples,target,expected", [
    ((1, 4, 16, 64), 8.0, (2, 16.0)),   # Aperio 20×: the 16× level (8 µm/px), not the 4× level
    ((1, 4, 16, 64), 16.0, (2, 16.0)),  # Aperio 40×: an exact level
    ((1, 2, 4, 8), 8.0, (3, 8.0)),      # 2×-step pyramid: the exact level, as before
    ((1, 2, 4, 8), 4.2, (2, 4.2)),      # within 10 %: the finer level, resized
    ((1, 2, 4, 8), 7.5, (3, 8.0)),      # else a level at most 2× coarser, at its own scale
    ((1, 4, 16, 64), 6.0, (1, 6.0)),    # next level 2.7× too coarse: finer level, read in strips
    ((1,), 8.0, (0, 8.0)),              # single-level file
])
def test_segmentation_level_choice(downsamples, target, expected):
    assert tiling.segmentation_level(downsamples, target) == expected


def test_only_the_largest_holes_are_cut_out_up_to_max_n_holes(tmp_path):
    """A tissue square with three background holes of 480, 320 and 240 level-0 px (60, 40, 30
    mask px at 4 µm/px; all above a_h = 0.5 reference patch = 512 mask px): with max_n_holes = n
    the n *largest* are cut out of the mask and the rest stay tissue. Catches the holes kept
    smallest first."""
    from milhelpers import synth

    img = np.full((2048, 2048, 3), 242, np.uint8)
    img[128:1920, 128:1920] = (225, 140, 185)
    holes = [(400, 520, 480), (1200, 520, 320), (800, 1300, 240)]   # x, y, side; largest first
    for x, y, side in holes:
        img[y:y + side, x:x + side] = 242
    path = synth.write_pyramidal_tiff(tmp_path / "holes.tiff", img, 0.5)
    for n in (1, 2):
        params = tiling.get_preset("biopsy").replace(max_n_holes=n, close=0, a_h=0.5)
        with Slide(path) as s:
            tm = tiling.segment_tissue(s, params)
        assert len(tm.contours) == 1 and len(tm.holes[0]) == n
        dx, dy = tm.downsample
        centre = [tm.mask[int((y + side / 2) / dy), int((x + side / 2) / dx)]
                  for x, y, side in holes]
        assert centre == [0] * n + [1] * (3 - n), (n, centre)
        # the holes kept are the largest, in level-0 px² (contours trace the pixel centres)
        areas = sorted((cv2.contourArea(h.astype(np.float32)) for h in tm.holes[0]),
                       reverse=True)
        for area, (_, _, side) in zip(areas, holes):
            assert area == pytest.approx(side ** 2, rel=0.1)


def test_thin_strands_survive_segmentation_on_a_4x_step_pyramid(tmp_path):
    """An Aperio-style 20× pyramid (downsamples 1, 4, 16, 64) is segmented from its 16× level
    (bounded memory) and still keeps every thin strand of tissue that segmenting at 4 µm/px (the
    2×-step pyramid of the same image) keeps."""
    from conftest import write_aperio_svs
    from milhelpers import synth

    img = np.full((4096, 4096, 3), 242, np.uint8)
    strands = {32: 600, 20: 1600, 12: 2600}  # width in µm -> left edge (level-0 px, 0.5 µm/px)
    for width_um, x in strands.items():
        img[500:3500, x:x + 2 * width_um] = (225, 140, 185)
    svs = write_aperio_svs(tmp_path / "strands.svs", img, mpp=0.5)
    tif = synth.write_pyramidal_tiff(tmp_path / "strands.tiff", img, 0.5)

    def kept(path):
        with Slide(path) as s:
            tm = tiling.segment_tissue(s, "biopsy")
        out = {}
        for width_um, x in strands.items():
            cols = slice(int(x / tm.downsample[0]), int(np.ceil((x + 2 * width_um) / tm.downsample[0])))
            rows = slice(int(600 / tm.downsample[1]), int(3400 / tm.downsample[1]))
            out[width_um] = tm.mask[rows, cols].max(axis=1).mean()  # share of its length found
        return tm, out

    tm4, new = kept(svs)
    tm2, old = kept(tif)
    assert tm4.downsample == (16.0, 16.0) and tm2.downsample == (8.0, 8.0)
    assert old[32] > 0.9  # the reference keeps at least the widest strand
    for width_um, share in old.items():
        if share > 0.9:
            assert new[width_um] > 0.9, (width_um, old, new)


@pytest.mark.parametrize("kwargs,name", [
    (dict(target_mpp=0), "target_mpp"), (dict(target_mpp=-1.0), "target_mpp"),
    (dict(patch_size=0), "patch_size"), (dict(patch_size=-256), "patch_size"),
    (dict(patch_size=256.5), "patch_size"),
    (dict(overlap=-1), "overlap"), (dict(patch_size=128, overlap=128), "overlap"),
    (dict(min_tissue=-0.1), "min_tissue"), (dict(min_tissue=1.5), "min_tissue"),
])
def test_invalid_numbers_are_refused_before_the_slide_is_opened(tmp_path, kwargs, name):
    # the slide does not exist: a ValueError (not a SlideError) proves nothing was opened
    with pytest.raises(ValueError, match=name):
        tiling.tile_slide(tmp_path / "missing.svs", tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_patch_larger_than_the_slide_says_so(tmp_path):
    # 4096 px at 0.5 µm/px is 4104 level-0 px; the slide is 2220 × 2967
    with pytest.raises(tiling.PatchLargerThanSlideError, match=r"4104 level-0 px, larger than the slide \(2220×2967"):
        tiling.tile_slide(REAL_SVS, tmp_path, patch_size=4096)
    assert not (tmp_path / "patches").exists() or not any((tmp_path / "patches").iterdir())


def test_rerun_keeps_matching_coords_and_refuses_other_settings(tmp_path):
    first = tiling.tile_slide(REAL_SVS, tmp_path, patch_size=256, qc=False)
    again = tiling.tile_slide(REAL_SVS, tmp_path, patch_size=256, qc=False)
    assert again.skipped and again.n_patches == first.n_patches
    assert np.array_equal(again.coords, first.coords)
    for kwargs, name in [(dict(patch_size=128), "patch_size"), (dict(overlap=64), "overlap"),
                         (dict(target_mpp=1.0), "target_mpp"), (dict(min_tissue=0.5), "min_tissue"),
                         (dict(params="tcga"), "segmentation")]:
        with pytest.raises(tiling.StaleOutputError, match=rf"{name}.*--overwrite"):
            tiling.tile_slide(REAL_SVS, tmp_path, qc=False, **{"patch_size": 256, **kwargs})
        coords, attrs = read_coords(first.coords_path)  # untouched
        assert attrs["patch_size"] == 256 and np.array_equal(coords, first.coords)
    new = tiling.tile_slide(REAL_SVS, tmp_path, patch_size=128, qc=False, overwrite=True)
    coords, attrs = read_coords(first.coords_path)
    assert attrs["patch_size"] == 128 and len(coords) == new.n_patches > first.n_patches


def test_file_without_recorded_settings_is_not_trusted(tmp_path):
    """A coordinates file from another tool that does not record min_tissue cannot vouch for it."""
    from milhelpers.h5io import write_coords
    write_coords(tmp_path / "patches" / "cmu_small_region.h5", np.zeros((1, 2)), patch_size=256,
                 patch_size_level0=257, target_mpp=0.5, overlap=0)
    with pytest.raises(tiling.StaleOutputError, match="min_tissue.*not recorded"):
        tiling.tile_slide(REAL_SVS, tmp_path, qc=False)


def test_kept_coords_get_their_missing_qc_image_drawn(tmp_path):
    first = tiling.tile_slide(REAL_SVS, tmp_path, qc=False)
    again = tiling.tile_slide(REAL_SVS, tmp_path, qc=True)
    assert again.skipped and np.array_equal(again.coords, first.coords)
    assert again.qc_path.exists() and cv2.imread(str(again.qc_path)) is not None


def test_upsampling_warns_on_a_20x_scan_asked_for_40x_and_not_at_its_own_resolution(tmp_path):
    """Exercise 1 of chapter 01: 0.25 µm/px of a 0.499 µm/px scan reads 128 level-0 px per
    256-px patch and enlarges them 2×; 0.5 µm/px (257 px read for 256) must stay silent."""
    import warnings

    with pytest.warns(tiling.UpsamplingWarning, match=r"cmu_small_region: target_mpp=0.25 µm/px "
                      r"is finer than the scan \(0.499 µm/px\).*read from 128 level-0 px and "
                      r"enlarged 2.00×"):
        res = tiling.tile_slide(REAL_SVS, tmp_path / "40x", target_mpp=0.25, patch_size=256,
                                qc=False)
    assert res.patch_size_level0 == 128 and res.n_patches > 0   # a warning, not a refusal
    with warnings.catch_warnings():
        warnings.simplefilter("error", tiling.UpsamplingWarning)
        tiling.tile_slide(REAL_SVS, tmp_path / "20x", target_mpp=0.5, patch_size=256, qc=False)
    assert tiling.upsampling_factor(256, 0.25, 0.499) == 2.0
    assert tiling.upsampling_factor(256, 0.5, 0.499) == pytest.approx(256 / 257)


@pytest.mark.parametrize("target_mpp,size0,warns", [(0.455, 91, False), (0.45, 90, True)])
def test_upsampling_tolerance_both_sides_of_the_threshold(block_slides, tmp_path, target_mpp,
                                                          size0, warns):
    """A 100-px patch on the 0.5 µm/px block: 91 level-0 px is 1.099× (inside the 10 %
    tolerance), 90 px is 1.111× (outside)."""
    import warnings

    assert tiling.UPSAMPLE_TOLERANCE == 0.10
    factor = tiling.upsampling_factor(100, target_mpp, 0.5)
    assert factor == pytest.approx(100 / size0) and (factor > 1.1) == warns
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = tiling.tile_slide(block_slides[0.5], tmp_path, target_mpp=target_mpp,
                                patch_size=100, qc=False)
    assert res.patch_size_level0 == size0
    assert any(issubclass(w.category, tiling.UpsamplingWarning) for w in caught) == warns


def test_upsampling_warning_reaches_the_caller_of_tile_folder(tmp_path):
    from milhelpers.pipeline import tile_folder

    with pytest.warns(tiling.UpsamplingWarning, match="enlarged 2.00×"):
        rep = tile_folder([REAL_SVS], tmp_path, progress=False, target_mpp=0.25, qc=False)
    assert not rep.failed and rep.results[0].n_patches > 0


def test_box_fraction_with_a_non_square_downsample_by_hand():
    """Mask 10 (h) × 20 (w) at downsample (4, 8): mask x = level-0 x / 4, mask y = level-0 y / 8.
    Tissue in columns 0–4 and column 18. Boxes of side 32 (level 0): at (0, 0) → x 0..8, y 0..4,
    5 of 8 columns tissue → 5/8; at (72, 64) → x 18..20, y 8..10 (clipped at both edges) → 2/4;
    at (64, 72) → x 16..20 (4 columns), y 9..10 (1 row, clipped) → 1/4, area 4·1, not 4².
    Catches x divided by the y downsample and the area taken as (x1 − x0)²."""
    mask = np.zeros((10, 20), np.uint8)
    mask[:, :5] = 1
    mask[:, 18] = 1
    coords = np.array([[0, 0],       # x 0..8, y 0..4 → 5/8
                       [72, 64],     # x 18..26→20 (2 cols), y 8..12→10 (2 rows): col 18 → 2/4
                       [64, 72]])    # x 16..24→20 (4 cols), y 9..13→10 (1 row): col 18 → 1/4
    got = tiling.box_fraction(mask, (4, 8), coords, 32)
    assert got.tolist() == pytest.approx([5 / 8, 2 / 4, 1 / 4])


def test_segment_tissue_mask_size_follows_a_wide_slides_aspect(tmp_path):
    """A 4:1 slide (2048 × 512 px at 0.5 µm/px; 4 µm/px target → downsample 8): the mask is
    (h, w) ≈ (64, 256), not transposed. Catches out_w and out_h swapped."""
    from milhelpers import synth

    img = np.full((512, 2048, 3), 242, np.uint8)
    img[100:400, 200:1800] = (225, 140, 185)
    path = synth.write_pyramidal_tiff(tmp_path / "wide.tiff", img, 0.5)
    with Slide(path) as s:
        tm = tiling.segment_tissue(s, "biopsy")
    assert tm.downsample == pytest.approx((8.0, 8.0))
    assert abs(tm.mask.shape[0] - 512 / 8) <= 2 and abs(tm.mask.shape[1] - 2048 / 8) <= 2
    assert tm.mask.shape[1] > 3 * tm.mask.shape[0]


def test_saturation_exactly_at_sthresh_is_not_tissue(tmp_path):
    """Threshold is strict: a slide of uniform saturation S gives an empty mask with sthresh = S
    and a full one with sthresh = S − 1. Catches ``sat >= sthresh``."""
    import warnings
    from milhelpers import synth

    hsv = np.zeros((1024, 1024, 3), np.uint8)
    hsv[..., 0], hsv[..., 1], hsv[..., 2] = 150, 40, 220
    img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    path = synth.write_pyramidal_tiff(tmp_path / "flat.tiff", img, 0.5)
    with Slide(path) as s:
        rgb = s.read_level_resized(0, (8, 8))
    sat = int(np.unique(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 1])[0])
    base = tiling.get_preset("biopsy").replace(exclude_pen=False, close=0, mthresh=1)
    with Slide(path) as s, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        at = tiling.segment_tissue(s, base.replace(sthresh=sat))
        below = tiling.segment_tissue(s, base.replace(sthresh=sat - 1))
    assert at.mask.sum() == 0
    assert below.mask.all()


def test_tissue_area_filter_counts_the_net_area_inside_holes_excluded(tmp_path):
    """A 1024-px square of tissue (512 µm: 16 reference patches of (128 µm)²) with an 800-px
    hole (400 µm: 9.77 patches) has a net area of 6.2 patches: a_t = 4 keeps it, a_t = 8 drops
    it although its outline alone (16) would pass. Catches the holes left out of the net area."""
    import warnings
    from milhelpers import synth

    img = np.full((2048, 2048, 3), 242, np.uint8)
    img[512:1536, 512:1536] = (225, 140, 185)
    img[624:1424, 624:1424] = 242
    path = synth.write_pyramidal_tiff(tmp_path / "ring.tiff", img, 0.5)
    base = tiling.get_preset("biopsy").replace(close=0, mthresh=3, a_h=1.0)
    with Slide(path) as s:
        kept = tiling.segment_tissue(s, base.replace(a_t=4.0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tiling.NoTissueWarning)
            dropped = tiling.segment_tissue(s, base.replace(a_t=8.0))
    assert len(kept.contours) == 1 and len(kept.holes[0]) == 1
    dx, dy = kept.downsample
    assert kept.mask[int(560 / dy), int(560 / dx)] == 1          # the ring is tissue
    assert kept.mask[int(1024 / dy), int(1024 / dx)] == 0        # the hole is not
    assert dropped.is_empty and dropped.mask.sum() == 0


def test_blue_marker_ink_is_not_tissue(tmp_path):
    """A saturated blue stroke (OpenCV hue ≈ 120, inside the 95–125 blue-ink band) beside pink
    tissue: the tissue is found, the ink is not; with exclude_pen=False the ink is (saturated)
    'tissue' too, so the exclusion is what removes it. Catches the blue band dropped from the
    pen mask."""
    from milhelpers import synth

    img = np.full((2048, 2048, 3), 242, np.uint8)
    img[256:1024, 256:1024] = (225, 140, 185)                   # tissue
    img[1280:1792, 1024:1792] = (40, 60, 200)                    # blue marker
    hue = cv2.cvtColor(np.array([[[40, 60, 200]]], np.uint8), cv2.COLOR_RGB2HSV)[0, 0, 0]
    assert 95 <= hue < 125
    path = synth.write_pyramidal_tiff(tmp_path / "ink.tiff", img, 0.5)
    with Slide(path) as s:
        with_pen = tiling.segment_tissue(s, "biopsy")
        no_pen = tiling.segment_tissue(s, tiling.get_preset("biopsy").replace(exclude_pen=False))
    dx, dy = with_pen.downsample
    ink, tissue = (int(1536 / dy), int(1408 / dx)), (int(640 / dy), int(640 / dx))
    assert with_pen.mask[tissue] == 1 and with_pen.mask[ink] == 0
    assert len(with_pen.contours) == 1
    assert no_pen.mask[ink] == 1


def test_overwrite_that_finds_no_patch_removes_the_old_coordinates(tmp_path):
    """Re-tiling with overwrite=True where no patch reaches min_tissue any more must not leave
    the previous grid's coordinates file behind (the next steps would read it as this tiling's).
    A 200-px blob: at min_tissue 0.1 a 256-px patch covers part of it; at 1.0 none is full."""
    from milhelpers import synth

    img = np.full((2048, 2048, 3), 242, np.uint8)
    img[500:700, 500:700] = (225, 140, 185)
    path = synth.write_pyramidal_tiff(tmp_path / "blob.tiff", img, 0.5)
    params = tiling.get_preset("biopsy").replace(a_t=0.1)
    first = tiling.tile_slide(path, tmp_path, params=params, min_tissue=0.1, qc=False)
    assert first.n_patches >= 1 and first.coords_path.exists()
    with pytest.warns(tiling.NoTissueWarning, match="no patch reaches min_tissue=1.0"):
        again = tiling.tile_slide(path, tmp_path, params=params, min_tissue=1.0, qc=False,
                                  overwrite=True)
    assert again.n_patches == 0 and again.coords_path is None
    assert not first.coords_path.exists()


# ---- round 12: defaults and each parameter reaching the result --------------------------------
def _band_mask(rows_a: int, rows_b: int) -> tiling.TissueMask:
    """A 256×512 mask at downsample 1: patch A (x 0–255) has ``rows_a`` tissue rows of 256,
    patch B (x 256–511) ``rows_b``."""
    mask = np.zeros((256, 512), np.uint8)
    mask[:rows_a, :256] = 1
    mask[:rows_b, 256:] = 1
    return tiling.TissueMask(mask=mask, downsample=(1.0, 1.0), contours=[np.zeros((1, 2))])


def test_r12_patch_grid_default_min_tissue_is_a_quarter():
    """Without ``min_tissue`` a patch 31 % tissue (80/256 rows) is kept and one 24.6 % (63/256)
    dropped: the default is 0.25 (catches it changed to 0.5, 0.2, or 0)."""
    coords, frac, size0 = tiling.patch_grid((512, 256), 0.5, _band_mask(80, 63))
    assert size0 == 256
    assert coords.tolist() == [[0, 0]]
    np.testing.assert_allclose(frac, [80 / 256])
    # exactly a quarter is kept (>=), with the default
    coords, frac, _ = tiling.patch_grid((512, 256), 0.5, _band_mask(64, 63))
    assert coords.tolist() == [[0, 0]] and frac.tolist() == [0.25]


def test_r12_tile_slide_defaults_are_256_px_at_half_a_micron_a_quarter_tissue_biopsy(
        block_slides, tmp_path):
    """tile_slide with nothing but the slide and the folder: 256-px patches at 0.5 µm/px with no
    overlap (a 256-px step on the 20× block), min_tissue 0.25, the biopsy preset, and a QC
    picture. Catches any of tile_slide's own defaults changed (check_tiling_params' and
    patch_grid's are not used there)."""
    import dataclasses
    import json

    res = tiling.tile_slide(block_slides[0.5], tmp_path)
    coords, attrs = read_coords(res.coords_path)
    assert json.loads(attrs["segmentation"]) == dataclasses.asdict(tiling.PRESETS["biopsy"])
    assert (attrs["patch_size"], attrs["target_mpp"], attrs["overlap"], attrs["min_tissue"]) == \
        (256, 0.5, 0, 0.25)
    assert res.patch_size_level0 == 256 and (coords % 256 == 0).all() and len(coords) > 0
    assert res.qc_path is not None and res.qc_path.is_file()


def test_r12_tile_slide_passes_mpp_and_force_mpp_to_the_slide(block_slides, tmp_path):
    """block20's file says 0.5 µm/px; mpp=1.0 with force_mpp=True wins over it, so a 256-px patch
    at 0.5 µm/px is 128 level-0 px and the file records level0_mpp 1.0. Catches force_mpp (or
    mpp) not passed on to the Slide (then MPPConflictError, or the file's 0.5 and 256 px)."""
    with pytest.warns(tiling.UpsamplingWarning, match=r"finer than the scan \(1 µm/px\)"):
        res = tiling.tile_slide(block_slides[0.5], tmp_path, mpp=1.0, force_mpp=True, qc=False)
    _, attrs = read_coords(res.coords_path)
    assert res.patch_size_level0 == 128 and attrs["patch_size_level0"] == 128
    assert attrs["level0_mpp"] == 1.0 and res.mpp == 1.0 and "forced" in res.mpp_source
    with pytest.raises(Exception, match="contradicts"):
        tiling.tile_slide(block_slides[0.5], tmp_path / "b", mpp=1.0, qc=False)


def test_r12_same_json_compares_values_and_falls_back_to_the_text():
    """JSON texts are equal by value (1 and 1.0, key order); text that is not JSON is compared
    as text. Catches the fallback made always-true or always-false, and the values compared as
    text."""
    assert tiling._same_json('{"a_t": 1, "b": 2}', '{"b": 2, "a_t": 1.0}')
    assert not tiling._same_json('{"a_t": 1}', '{"a_t": 2}')
    assert tiling._same_json("biopsy preset", "biopsy preset")
    assert not tiling._same_json("biopsy preset", "tcga preset")


def test_r12_patch_grid_without_tissue_is_an_empty_int64_grid_with_the_patch_side():
    """An empty mask (no contour) gives a (0, 2) int64 grid, no fractions, and the level-0 side
    still computed (512 for 256 px at 0.5 µm/px on a 0.25 µm/px scan); a patch larger than the
    slide is refused even then."""
    empty = tiling.TissueMask(mask=np.ones((8, 8), np.uint8), downsample=(64.0, 64.0))
    coords, frac, size0 = tiling.patch_grid((512, 600), 0.25, empty)
    assert coords.shape == (0, 2) and coords.dtype == np.int64
    assert frac.shape == (0,) and size0 == 512
    with pytest.raises(tiling.PatchLargerThanSlideError):
        tiling.patch_grid((511, 600), 0.25, empty)


def test_r12_stale_coordinates_message_gives_each_files_and_requested_value(tmp_path):
    """The reason lists each differing setting in the request's order, the file's value first,
    joined by '; ', then the advice. Catches the two values swapped, the float formatting of
    the wrong side, and the separator changed."""
    from milhelpers.h5io import write_coords

    seg = tiling.PRESETS["biopsy"]
    path = write_coords(tmp_path / "s.h5", np.array([[0, 0]]), patch_size_level0=512,
                        **tiling.tiling_settings(0.5, 256, 0, 0.25, seg), level0_mpp=0.25)
    want = dict(tiling.tiling_settings(1.0, 224, 0, 0.25, tiling.PRESETS["tcga"]),
                level0_mpp=0.25)
    assert tiling.stale_coords_reason(path, want) == (
        f"{path} was made with other settings: patch_size (file 256, requested 224); "
        "target_mpp (file 0.5, requested 1); segmentation parameters (preset or seg params "
        "differ). Pass --overwrite (overwrite=True) to replace it, or write to another output "
        "folder.")


def test_r12_the_no_tissue_warning_names_the_slide_and_the_thresholds_used(blank_slide):
    params = tiling.PRESETS["biopsy"].replace(sthresh=9, a_t=3.5)
    with Slide(blank_slide) as s, pytest.warns(tiling.NoTissueWarning,
                                               match=r"No tissue found in blank \(sthresh=9, "
                                                     r"a_t=3.5\)"):
        tm = tiling.segment_tissue(s, params)
    assert tm.is_empty and tm.contours == [] and tm.holes == []


@pytest.mark.parametrize("kwargs, message", [
    (dict(patch_size=0), "patch_size must be a positive whole number of pixels, got 0"),
    (dict(overlap=300), r"overlap must be a whole number of pixels in \[0, patch_size\) = "
                        r"\[0, 256\), got 300"),
    (dict(min_tissue=1.5), r"min_tissue is a fraction in \[0, 1\], got 1.5"),
])
def test_r12_tiling_numbers_are_refused_with_the_valid_range_and_the_value(kwargs, message):
    args = {"target_mpp": 0.5, "patch_size": 256, "overlap": 0, "min_tissue": 0.25, **kwargs}
    with pytest.raises(ValueError, match=f"^{message}$"):
        tiling.check_tiling_params(**args)


def test_r12_tile_slide_writes_the_qc_picture_beside_the_patches_folder(block_slides, tmp_path):
    res = tiling.tile_slide(block_slides[0.5], tmp_path, target_mpp=4.0, patch_size=32)
    assert res.qc_path == tmp_path / "qc" / "block20.png" and res.qc_path.is_file()
    assert res.coords_path == tmp_path / "patches" / "block20.h5"
    thumb = cv2.imread(str(res.qc_path))
    assert max(thumb.shape[:2]) == 1024                     # drawn on a 1024-px thumbnail


def test_r12_segment_tissue_takes_a_preset_by_name():
    """segment_tissue(slide, 'tcga') is the tcga preset's segmentation, which differs from the
    default biopsy one on the real slide. Catches a preset name ignored (biopsy used)."""
    with Slide(REAL_SVS) as s:
        by_name = tiling.segment_tissue(s, "tcga")
        given = tiling.segment_tissue(s, tiling.PRESETS["tcga"])
        biopsy = tiling.segment_tissue(s)
    np.testing.assert_array_equal(by_name.mask, given.mask)
    assert not np.array_equal(by_name.mask, biopsy.mask)


# --- audit 14's survivors ----------------------------------------------------------------------
@pytest.mark.parametrize("on", [1, 255, True])
def test_a14_box_fraction_counts_any_nonzero_mask_pixel_once(on):
    """A mask as OpenCV and PNG files write it (0/255), as 0/1 or as bool: the same fractions,
    all in [0, 1]. Catches the mask summed without binarising it first (255 per pixel; audit 14)."""
    mask = np.zeros((8, 8), np.uint8 if on is not True else bool)
    mask[:4, :4] = on
    coords = np.array([[0, 0], [2, 2], [4, 4], [3, 0]])
    got = tiling.box_fraction(mask, (1.0, 1.0), coords, 4)
    np.testing.assert_allclose(got, [1.0, 0.25, 0.0, 0.25])
