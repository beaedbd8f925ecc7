"""Both sides of every threshold, at exactly the threshold.

``<`` against ``<=`` or a ``+ 1`` at an edge changes nothing away from the edge, so each rule is
probed at the value where it switches and one step either side: STKIM's switch and its counts,
the packing split, caps and pack length, the patch grid at the slide edge and at exactly
``min_tissue``, tissue and hole area filters in physical units (µm², the same decision at 0.5
and 1 µm/px), the localisation threshold, and early stopping.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from milhelpers import synth, tiling
from milhelpers.datasets import Bag, ListBagDataset
from milhelpers.metrics import localization_auc
from milhelpers.models import ABMIL, ACMIL, stkim_mask
from milhelpers.packing import compressed_length, pack_collate, sequential_packs, split_slide
from milhelpers.slides import Slide
from milhelpers.train import TrainConfig, fit, torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


# --------------------------------------------------------------------------------- STKIM
@pytest.mark.parametrize("top_k, mask_drop, on", [(10, 0.1, True), (10, 0.09, False),
                                                  (5, 0.2, True), (5, 0.19, False),
                                                  (4, 0.5, True)])
def test_stkim_switches_on_exactly_when_floor_k_times_drop_reaches_one(top_k, mask_drop, on):
    model = ACMIL(6, 2, embed_dim=8, attn_dim=4, n_branches=2, top_k=top_k, mask_drop=mask_drop)
    assert model.masks_in_training is on
    torch.manual_seed(0)
    out = model.train()(torch.randn(1, 30, 6))
    assert int(out.extras["stkim_hidden"].sum()) == (2 * math.floor(top_k * mask_drop) if on
                                                     else 0)


@pytest.mark.parametrize("n_real, padded, hidden", [(9, 9, 0), (10, 10, 1), (11, 11, 1),
                                                    (9, 12, 0), (10, 12, 1)])
def test_stkim_count_around_a_bag_of_exactly_k(n_real, padded, hidden):
    """K' = min(K, N_real) with K = 10, mask_drop 0.1: a bag of exactly 10 hides ⌊1.0⌋ = 1 per
    branch, a bag of 9 hides ⌊0.9⌋ = 0, also when padded beyond 10."""
    scores = torch.randn(1, 3, padded, generator=torch.Generator().manual_seed(n_real))
    mask = torch.zeros(1, padded, dtype=torch.bool)
    mask[0, :n_real] = True
    got = stkim_mask(scores, mask, 10, 0.1)
    assert got.sum(-1).tolist() == [[hidden] * 3] and not got[0, :, n_real:].any()


# ------------------------------------------------------------------------------- packing
@pytest.mark.parametrize("n, min_len, whole", [(15, 16, True), (16, 16, False), (17, 16, False),
                                               (1, 2, True), (2, 2, False)])
def test_split_whole_to_both_only_below_min_len(n, min_len, whole):
    main, res = split_slide(n, 0.5, min_len=min_len, generator=torch.Generator().manual_seed(0))
    if whole:
        assert main.tolist() == res.tolist() == list(range(n))
    else:
        assert len(main) == max(1, n // 2) and not set(main.tolist()) & set(res.tolist())


@pytest.mark.parametrize("n, whole", [(7, True), (8, False)])
def test_collate_min_len_counts_in_instances_before_the_ads(n, whole):
    """min_len = 4 with ADS r = 2: slides under 4·2 = 8 instances go whole to both branches."""
    bags = [Bag(torch.arange(float(n))[:, None].repeat(1, 3), 1, "s0")]
    batch = pack_collate(p=0.5, max_len=16, min_len=4, ads_ratio=2,
                         generator=torch.Generator().manual_seed(0))(bags)
    n_main = int((batch.slide_index >= 0).sum())
    n_res = int((batch.residual_slide_index >= 0).sum())
    assert (n_main, n_res) == ((n, n) if whole else (n // 2, n - n // 2))


def test_parts_are_capped_at_l_times_r_instances():
    """With ADS r = 2 and L = 8 a part keeps up to L·r = 16 instances, which compress to L."""
    bags = [Bag(torch.randn(40, 3), 0, "s0"), Bag(torch.randn(33, 3), 1, "s1")]
    batch = pack_collate(p=0.5, max_len=8, min_len=0, ads_ratio=2,
                         generator=torch.Generator().manual_seed(0))(bags)
    per_slide = torch.bincount(batch.slide_index[batch.slide_index >= 0]).tolist()
    assert per_slide == [16, 16]                            # 20 → 16 and 16 stays 16
    assert batch.features.shape[0] == 2                     # ⌈16/2⌉ = 8 = L: one part per pack


@pytest.mark.parametrize("lengths, max_len, packs", [
    ([4, 4], 8, [[0, 1]]),             # exactly full: one pack
    ([4, 4], 7, [[0], [1]]),           # one over: two packs
    ([8], 8, [[0]]),                   # a part of exactly L fits
    ([3, 5, 1], 8, [[0, 1], [2]]),
    ([3, 4, 1], 8, [[0, 1, 2]]),
])
def test_pack_length_at_exactly_max_len(lengths, max_len, packs):
    assert sequential_packs(lengths, max_len) == packs


def test_a_part_one_over_max_len_is_refused():
    with pytest.raises(ValueError, match="cap the parts"):
        sequential_packs([9], 8)


@pytest.mark.parametrize("n, r, m", [(8, 4, 2), (9, 4, 3), (7, 4, 2), (4, 4, 1), (1, 4, 1),
                                     (12, 1, 12)])
def test_compressed_length_is_the_ceiling(n, r, m):
    assert compressed_length(n, r) == m


# ------------------------------------------------------------------------------ patch grid
def _full_tissue(w0, h0, ds=4.0):
    mask = np.ones((int(math.ceil(h0 / ds)), int(math.ceil(w0 / ds))), np.uint8)
    return tiling.TissueMask(mask, (ds, ds), contours=[np.zeros((1, 2))], holes=[[]])


@pytest.mark.parametrize("w0, columns", [(96, 3), (95, 2), (97, 3), (32, 1)])
def test_grid_keeps_the_patch_that_ends_exactly_at_the_slide_edge(w0, columns):
    coords, _, size0 = tiling.patch_grid((w0, 64), 0.5, _full_tissue(w0, 64), 0.5, 32, 0, 0.5)
    assert size0 == 32
    xs = sorted(set(coords[:, 0].tolist()))
    assert xs == [32 * i for i in range(columns)]
    assert sorted(set(coords[:, 1].tolist())) == [0, 32]   # 64 rows: two rows, the last at the edge
    assert (coords + size0 <= np.array([w0, 64])).all()


def test_grid_edge_in_y_and_a_patch_as_large_as_the_slide():
    coords, _, _ = tiling.patch_grid((64, 95), 0.5, _full_tissue(64, 95), 0.5, 32, 0, 0.5)
    assert sorted(set(coords[:, 1].tolist())) == [0, 32]
    coords, _, _ = tiling.patch_grid((32, 32), 0.5, _full_tissue(32, 32), 0.5, 32, 0, 0.5)
    assert coords.tolist() == [[0, 0]]
    with pytest.raises(tiling.PatchLargerThanSlideError):
        tiling.patch_grid((31, 64), 0.5, _full_tissue(31, 64), 0.5, 32, 0, 0.5)


def _quarter_mask():
    """A 64×64 level-0 slide, mask at downsample 4 (16×16 px), 32-px patches (8×8 mask px):
    patch (0,0) holds exactly 16/64 = 0.25 tissue, (32,0) 15/64, (0,32) none, (32,32) all."""
    m = np.zeros((16, 16), np.uint8)
    m[0:4, 0:4] = 1                                         # 16 px in patch (0, 0)
    m[0:3, 8:13] = 1                                        # 15 px in patch (32, 0)
    m[8:16, 8:16] = 1
    return tiling.TissueMask(m, (4.0, 4.0), contours=[np.zeros((1, 2))], holes=[[]])


@pytest.mark.parametrize("min_tissue, kept", [
    (0.25, {(0, 0), (32, 32)}),                    # exactly 0.25 is enough
    (0.25 + 1e-9, {(32, 32)}),                     # a hair above is not
    (15 / 64, {(0, 0), (32, 0), (32, 32)}),
    (0.0, {(0, 0), (32, 0), (32, 32)}),            # min_tissue 0 still needs some tissue
    (1.0, {(32, 32)}),                             # a full patch passes 1.0
])
def test_min_tissue_at_exactly_the_threshold(min_tissue, kept):
    coords, frac, _ = tiling.patch_grid((64, 64), 0.5, _quarter_mask(), 0.5, 32, 0, min_tissue)
    assert {tuple(c) for c in coords.tolist()} == kept
    assert dict(zip(map(tuple, coords.tolist()), frac.tolist())).get((0, 0), 0.25) == 0.25


# --------------------------------------------------------- area filters in physical units
def _square_slide(path, mpp, side_um=256, hole_um=0):
    """A 1 mm × 1 mm slide at ``mpp`` with one tissue square of ``side_um`` µm (and a centred
    square hole of ``hole_um`` µm)."""
    n, side = int(round(1024 / mpp)), int(round(side_um / mpp))
    img = np.full((n, n, 3), 242, np.uint8)
    o = n // 2 - side // 2
    img[o:o + side, o:o + side] = (225, 140, 185)
    if hole_um:
        h = int(round(hole_um / mpp))
        c = n // 2 - h // 2
        img[c:c + h, c:c + h] = 242
    return synth.write_pyramidal_tiff(path, img, mpp)


@pytest.fixture(scope="module")
def squares(tmp_path_factory):
    d = tmp_path_factory.mktemp("squares")
    return {mpp: (_square_slide(d / f"sq{mpp}.tiff", mpp),
                  _square_slide(d / f"hole{mpp}.tiff", mpp, 384, 160)) for mpp in (1.0, 0.5)}


def _segment(path, **kw):
    import warnings
    with Slide(path) as s, warnings.catch_warnings():
        warnings.simplefilter("ignore", tiling.NoTissueWarning)
        return tiling.segment_tissue(s, tiling.SegmentationParams(close=0, **kw))


@pytest.mark.parametrize("mpp", [1.0, 0.5])
def test_tissue_area_filter_is_in_physical_units(squares, mpp):
    """A 256 µm square is 4 reference areas of (128 µm)², whatever the resolution: kept by a_t = 3,
    dropped by a_t = 5, at 1 and at 0.5 µm/px alike."""
    square, _ = squares[mpp]
    assert len(_segment(square, a_t=3.0).contours) == 1
    assert _segment(square, a_t=5.0).is_empty


@pytest.mark.parametrize("mpp", [1.0, 0.5])
def test_hole_area_filter_is_in_physical_units(squares, mpp):
    """A 160 µm hole is 1.56 reference areas: kept as a hole by a_h = 1, filled by a_h = 2.5."""
    _, holed = squares[mpp]
    kept = _segment(holed, a_t=1.0, a_h=1.0)
    assert len(kept.contours) == 1 and len(kept.holes[0]) == 1
    filled = _segment(holed, a_t=1.0, a_h=2.5)
    assert len(filled.contours) == 1 and filled.holes == [[]]
    assert filled.mask.sum() > kept.mask.sum()


def test_tissue_and_hole_areas_at_exactly_the_threshold(squares):
    """At 1 µm/px the mask is at 4 µm/px, so a reference area is exactly 1024 mask pixels and
    a_t = area/1024 is exact: a contour of net area exactly a_t·(128 µm)² is dropped (the rule
    is "more than a_t"), one pixel less of threshold keeps it; the same for holes and a_h."""
    square, holed = squares[1.0]
    tm = _segment(square, a_t=0.1)
    assert tm.downsample == (4.0, 4.0)
    area = cv2.contourArea((tm.contours[0] / 4.0).astype(np.float32)[:, None, :])
    assert _segment(square, a_t=area / 1024).is_empty
    assert len(_segment(square, a_t=(area - 1) / 1024).contours) == 1
    tm = _segment(holed, a_t=0.1, a_h=0.1)
    hole = cv2.contourArea((tm.holes[0][0] / 4.0).astype(np.float32)[:, None, :])
    assert _segment(holed, a_t=0.1, a_h=hole / 1024).holes == [[]]
    assert len(_segment(holed, a_t=0.1, a_h=(hole - 1) / 1024).holes[0]) == 1


# ------------------------------------------------------------------ localisation threshold
def test_a_patch_of_exactly_the_tumour_threshold_is_tumour():
    scores = [np.array([0.9, 0.1, 0.5])]
    at = localization_auc(scores, [np.array([0.25, 0.0, 0.2])], threshold=0.25)
    assert at["n_slides"] == 1 and at["mean_slide_auc"] == 1.0
    below = localization_auc(scores, [np.array([0.2499, 0.0, 0.2])], threshold=0.25)
    assert below["n_slides"] == 0                          # no tumour patch: slide not counted


# ------------------------------------------------------------------------ early stopping
def _frozen_fit(**cfg):
    """lr = 0: the validation loss is the same every epoch, so it improves once (epoch 1).
    Early stopping needs a validation monitor (the default, ``"last"``, trains every epoch)."""
    g = torch.Generator().manual_seed(0)
    bags = [Bag(torch.randn(6, 4, generator=g), i % 2, f"b{i}") for i in range(4)]
    ds = ListBagDataset(bags)
    return fit(lambda: ABMIL(4, 2, embed_dim=8, attn_dim=4), ds, ds,
               TrainConfig(epochs=8, lr=0.0, progress=False, monitor="val_loss", **cfg))


@pytest.mark.parametrize("patience, min_epochs, epochs_run", [(2, 0, 3), (1, 0, 2), (3, 0, 4),
                                                              (1, 3, 3), (1, 4, 4)])
def test_early_stopping_at_exactly_patience_and_min_epochs(patience, min_epochs, epochs_run):
    res = _frozen_fit(patience=patience, min_epochs=min_epochs)
    assert len(res.history) == epochs_run
    assert res.best_epoch == 1                               # a tie never moves the selection
