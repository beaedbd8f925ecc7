"""Tissue segmentation, the patch grid, coordinate files and visual QC.

Segmentation follows CLAM's recipe on a low-resolution copy of the slide: HSV saturation →
median blur → fixed threshold (or Otsu) → morphological closing → contours filtered by area.
The patch grid is then decided from that mask alone (an integral image gives each candidate
patch's tissue fraction), so no level-0 pixel is read while tiling.
"""
from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .h5io import atomic_output, write_coords
from .slides import Slide

__all__ = ["SegmentationParams", "PRESETS", "get_preset", "TissueMask", "NoTissueWarning",
           "segment_tissue", "box_fraction", "patch_grid", "TilingResult", "tile_slide", "draw_qc",
           "save_png"]

#: CLAM measures areas in units of a 512×512 level-0 patch at 40× (0.25 µm/px) = (128 µm)².
REFERENCE_AREA_UM2 = 128.0 ** 2


class NoTissueWarning(UserWarning):
    """Segmentation found no tissue on a slide."""


@dataclass(frozen=True)
class SegmentationParams:
    """Knobs of the tissue detector (CLAM names; areas in units of a (128 µm)² patch).

    seg_mpp: resolution the mask is computed at (µm/px); 4 µm/px is a 2,500-px mask for a 1-cm slide.
    sthresh: saturation threshold (0–255) when ``use_otsu`` is False.
    mthresh: median-blur kernel (odd, mask pixels).
    close: closing kernel size (mask pixels); 0 disables.
    a_t / a_h: minimum net tissue area / hole area, in reference-patch units.
    max_n_holes: holes kept per tissue contour (largest first).
    exclude_pen: drop green/blue/black marker ink, which is saturated but is not tissue.
    """

    seg_mpp: float = 4.0
    sthresh: int = 15
    mthresh: int = 11
    close: int = 2
    use_otsu: bool = False
    a_t: float = 1.0
    a_h: float = 1.0
    max_n_holes: int = 2
    exclude_pen: bool = True

    def replace(self, **changes) -> "SegmentationParams":
        return dataclasses.replace(self, **changes)


#: Named presets after CLAM's ``presets/*.csv`` (see methods.md §6.3).
PRESETS: dict[str, SegmentationParams] = {
    "biopsy": SegmentationParams(sthresh=15, mthresh=11, close=2, a_t=1, a_h=1, max_n_holes=2),
    "resection": SegmentationParams(sthresh=15, mthresh=11, close=4, a_t=100, a_h=16,
                                    max_n_holes=8),
    "tcga": SegmentationParams(sthresh=8, mthresh=7, close=4, a_t=16, a_h=4, max_n_holes=8),
}


@dataclass
class TissueMask:
    """Binary tissue mask at ``downsample`` (level-0 px per mask px) plus contours in level-0 px."""

    mask: np.ndarray  # uint8 {0,1}, H×W
    downsample: tuple[float, float]  # (x, y)
    contours: list[np.ndarray] = field(default_factory=list)  # each K×2 float, level-0
    holes: list[list[np.ndarray]] = field(default_factory=list)  # per contour
    steps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # keep_steps=True

    @property
    def tissue_fraction(self) -> float:
        return float(self.mask.mean()) if self.mask.size else 0.0

    @property
    def is_empty(self) -> bool:
        return not self.contours


def _pen_mask(hsv: np.ndarray) -> np.ndarray:
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    # OpenCV hue is 0–180. H&E lives in purple→pink→red (≈125–180 and 0–10); marker ink is green
    # (35–95) or blue (95–125) and strongly saturated, or black (very dark at any hue).
    coloured_ink = (h >= 35) & (h < 125) & (s > 60)
    black_ink = v < 60
    return coloured_ink | black_ink


def segment_tissue(slide: Slide, params: SegmentationParams | str = "biopsy",
                   keep_steps: bool = False) -> TissueMask:
    """Segment tissue on a low-resolution copy of ``slide``.

    Returns an empty :class:`TissueMask` (and warns) when nothing passes the filters. With
    ``keep_steps`` the intermediate images (rgb, saturation, blurred, threshold, pen, closed) are
    kept in ``.steps`` for teaching and debugging.
    """
    if isinstance(params, str):
        params = get_preset(params)
    if params.mthresh % 2 == 0:
        raise ValueError(f"mthresh must be odd, got {params.mthresh}")
    w0, h0 = slide.dimensions
    target_ds = max(1.0, params.seg_mpp / slide.mpp)
    level = slide.best_level_for_downsample(target_ds)
    img = slide.read_level(level)
    out_w, out_h = max(1, round(w0 / target_ds)), max(1, round(h0 / target_ds))
    if (img.shape[1], img.shape[0]) != (out_w, out_h):
        img = cv2.resize(img, (out_w, out_h), interpolation=cv2.INTER_AREA)
    ds = (w0 / out_w, h0 / out_h)

    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    sat = cv2.medianBlur(hsv[..., 1], params.mthresh)
    if params.use_otsu:
        _, binary = cv2.threshold(sat, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    else:
        binary = (sat > params.sthresh).astype(np.uint8)
    steps = {"rgb": img, "saturation": hsv[..., 1], "blurred": sat,
             "threshold": binary.copy()} if keep_steps else {}
    if params.exclude_pen:
        pen = cv2.dilate(_pen_mask(hsv).astype(np.uint8), np.ones((3, 3), np.uint8))
        binary[pen > 0] = 0
        if keep_steps:
            steps["pen"] = pen
    if params.close > 0:
        kernel = np.ones((params.close, params.close), np.uint8)
        binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel)
    if keep_steps:
        steps["closed"] = binary.copy()

    ref_area = REFERENCE_AREA_UM2 / ((slide.mpp ** 2) * ds[0] * ds[1])  # in mask pixels
    contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    mask = np.zeros_like(binary)
    kept_c, kept_h = [], []
    if hierarchy is not None:
        hierarchy = hierarchy[0]
        for i, c in enumerate(contours):
            if hierarchy[i][3] != -1:  # a hole; handled with its parent
                continue
            holes = [contours[j] for j in range(len(contours)) if hierarchy[j][3] == i]
            hole_areas = [cv2.contourArea(hc) for hc in holes]
            net = cv2.contourArea(c) - sum(hole_areas)
            if net <= params.a_t * ref_area:
                continue
            order = np.argsort(hole_areas)[::-1][: params.max_n_holes]
            holes = [holes[j] for j in order if hole_areas[j] > params.a_h * ref_area]
            cv2.drawContours(mask, [c], -1, 1, thickness=cv2.FILLED)
            if holes:
                cv2.drawContours(mask, holes, -1, 0, thickness=cv2.FILLED)
            scale = np.array(ds)
            kept_c.append(c[:, 0, :].astype(np.float64) * scale)
            kept_h.append([hc[:, 0, :].astype(np.float64) * scale for hc in holes])
    result = TissueMask(mask=mask, downsample=ds, contours=kept_c, holes=kept_h, steps=steps)
    if result.is_empty:
        warnings.warn(
            f"No tissue found in {slide.name} (sthresh={params.sthresh}, a_t={params.a_t}). "
            "If the slide does contain tissue, try the 'biopsy' preset, a lower sthresh, "
            "use_otsu=True or a smaller a_t.", NoTissueWarning, stacklevel=2)
    return result


def get_preset(name: str) -> SegmentationParams:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"Unknown segmentation preset {name!r}; choose one of {sorted(PRESETS)}"
                         ) from None


def box_fraction(mask: np.ndarray, downsample: tuple[float, float], coords: np.ndarray,
                 size0: float) -> np.ndarray:
    """Fraction of each level-0 box (top-left ``coords``, side ``size0``) covered by ``mask``.

    Uses an integral image, so the cost is one pass over the mask plus O(1) per box.
    Boxes are snapped to whole mask pixels (a patch spans many mask pixels, so the error is small).
    """
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    if len(coords) == 0:
        return np.zeros(0)
    ii = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    ii[1:, 1:] = np.cumsum(np.cumsum(mask.astype(np.int64) > 0, axis=0), axis=1)
    h, w = mask.shape
    x0 = np.clip(np.round(coords[:, 0] / downsample[0]).astype(int), 0, w)
    y0 = np.clip(np.round(coords[:, 1] / downsample[1]).astype(int), 0, h)
    x1 = np.clip(np.round((coords[:, 0] + size0) / downsample[0]).astype(int), 0, w)
    y1 = np.clip(np.round((coords[:, 1] + size0) / downsample[1]).astype(int), 0, h)
    x1, y1 = np.maximum(x1, np.minimum(x0 + 1, w)), np.maximum(y1, np.minimum(y0 + 1, h))
    area = np.maximum((x1 - x0) * (y1 - y0), 1)
    inside = ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]
    return inside / area


def patch_grid(dimensions: tuple[int, int], level0_mpp: float, tissue: TissueMask,
               target_mpp: float = 0.5, patch_size: int = 256, overlap: int = 0,
               min_tissue: float = 0.25) -> tuple[np.ndarray, np.ndarray, int]:
    """Regular grid of level-0 top-left coordinates over tissue.

    ``patch_size`` and ``overlap`` are in pixels at ``target_mpp``; the level-0 patch side is
    ``round(patch_size · target_mpp / level0_mpp)`` (512 at 40× for 256 px at 20×). Only whole
    patches inside the slide are kept, in row-major order. Returns ``(coords, tissue_fraction,
    patch_size_level0)``.
    """
    if not 0 <= overlap < patch_size:
        raise ValueError(f"overlap must be in [0, patch_size), got {overlap}")
    if not 0 <= min_tissue <= 1:
        raise ValueError(f"min_tissue is a fraction in [0, 1], got {min_tissue}")
    scale = target_mpp / level0_mpp
    size0 = int(round(patch_size * scale))
    step0 = max(1, int(round((patch_size - overlap) * scale)))
    w0, h0 = dimensions
    xs = np.arange(0, w0 - size0 + 1, step0)
    ys = np.arange(0, h0 - size0 + 1, step0)
    if tissue.is_empty or len(xs) == 0 or len(ys) == 0:
        return np.zeros((0, 2), np.int64), np.zeros(0), size0
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    cand = np.stack([gx.ravel(), gy.ravel()], axis=1)
    frac = box_fraction(tissue.mask, tissue.downsample, cand, size0)
    keep = (frac >= min_tissue) & (frac > 0)
    return cand[keep].astype(np.int64), frac[keep], size0


def draw_qc(thumbnail: np.ndarray, thumb_downsample: float, tissue: TissueMask,
            coords: np.ndarray | None = None, size0: int | None = None) -> np.ndarray:
    """Thumbnail with tissue contours (green), holes (blue) and the patch grid (dark outlines)."""
    img = np.ascontiguousarray(thumbnail.copy())
    thick = max(1, round(max(img.shape[:2]) / 400))
    if coords is not None and len(coords) and size0:
        for x, y in np.asarray(coords) / thumb_downsample:
            p0 = (int(round(x)), int(round(y)))
            p1 = (int(round(x + size0 / thumb_downsample)), int(round(y + size0 / thumb_downsample)))
            cv2.rectangle(img, p0, p1, (40, 40, 40), 1)
    for c, holes in zip(tissue.contours, tissue.holes):
        pts = np.round(c / thumb_downsample).astype(np.int32)[:, None, :]
        cv2.polylines(img, [pts], True, (0, 200, 0), thick)
        for hc in holes:
            hp = np.round(hc / thumb_downsample).astype(np.int32)[:, None, :]
            cv2.polylines(img, [hp], True, (0, 80, 255), thick)
    return img


def save_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB (or grey) image to PNG atomically."""
    path = Path(path)
    arr = rgb if rgb.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise RuntimeError(f"could not encode {path}")
    with atomic_output(path) as tmp:
        tmp.write_bytes(buf.tobytes())
    return path


@dataclass
class TilingResult:
    """What :func:`tile_slide` produced for one slide."""

    slide_id: str
    n_patches: int
    patch_size_level0: int
    coords_path: Path | None
    qc_path: Path | None
    seconds: float
    tissue: TissueMask = field(repr=False)
    coords: np.ndarray = field(repr=False)


def tile_slide(slide_path: str | Path, out_dir: str | Path, *, target_mpp: float = 0.5,
               patch_size: int = 256, overlap: int = 0, min_tissue: float = 0.25,
               params: SegmentationParams | str = "biopsy", mpp: float | None = None,
               qc: bool = True, overwrite: bool = False) -> TilingResult:
    """Segment, grid and save ``out_dir/patches/<id>.h5`` (+ ``out_dir/qc/<id>.png``).

    A slide without tissue produces no coordinates file (and a :class:`NoTissueWarning`).
    An existing coordinates file is kept unless ``overwrite``.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    if isinstance(params, str):
        params = get_preset(params)
    with Slide(slide_path, mpp=mpp) as slide:
        coords_path = out_dir / "patches" / f"{slide.name}.h5"
        tissue = segment_tissue(slide, params)
        coords, _, size0 = patch_grid(slide.dimensions, slide.mpp, tissue, target_mpp,
                                      patch_size, overlap, min_tissue)
        if len(coords) == 0:
            if not tissue.is_empty:
                warnings.warn(f"{slide.name}: tissue was found but no patch reaches "
                              f"min_tissue={min_tissue}; lower min_tissue or patch_size.",
                              NoTissueWarning, stacklevel=2)
            coords_path_out = None
        else:
            coords_path_out = coords_path
            if overwrite or not coords_path.exists():
                write_coords(coords_path, coords, patch_size=patch_size,
                             patch_size_level0=size0, target_mpp=target_mpp,
                             level0_mpp=slide.mpp, overlap=overlap, name=slide.name,
                             level0_width=slide.dimensions[0],
                             level0_height=slide.dimensions[1])
        qc_path = None
        if qc:
            thumb, tds = slide.thumbnail(1024)
            qc_path = save_png(out_dir / "qc" / f"{slide.name}.png",
                               draw_qc(thumb, tds, tissue, coords, size0))
    return TilingResult(slide.name, len(coords), size0, coords_path_out, qc_path,
                        time.perf_counter() - t0, tissue, coords)
