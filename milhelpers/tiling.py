"""Tissue segmentation, the patch grid, coordinate files and visual QC.

Segmentation follows CLAM's recipe on a low-resolution copy of the slide: HSV saturation →
median blur → fixed threshold (or Otsu) → morphological closing → contours filtered by area.
The patch grid is then decided from that mask alone (an integral image gives each candidate
patch's tissue fraction), so no level-0 pixel is read while tiling.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .h5io import atomic_output, h5_attrs, read_coords, write_coords
from .slides import Slide, check_mpp

__all__ = ["SegmentationParams", "PRESETS", "get_preset", "TissueMask", "NoTissueWarning",
           "UpsamplingWarning", "UPSAMPLE_TOLERANCE", "upsampling_factor",
           "PatchLargerThanSlideError", "StaleOutputError", "check_tiling_params",
           "level0_patch_size", "segmentation_level", "tiling_settings", "segment_tissue",
           "box_fraction", "patch_grid", "TilingResult", "tile_slide", "stale_coords_reason", "draw_qc",
           "save_png"]

#: CLAM measures areas in units of a 512×512 level-0 patch at 40× (0.25 µm/px) = (128 µm)².
REFERENCE_AREA_UM2 = 128.0 ** 2


class NoTissueWarning(UserWarning):
    """Segmentation found no tissue on a slide."""


class UpsamplingWarning(UserWarning):
    """Patches are asked finer than the scan holds: each is read from fewer level-0 pixels than
    it has, and enlarged."""


#: How much enlargement :func:`tile_slide` lets pass silently: scanners' "40×" ranges from about
#: 0.23 to 0.26 µm/px, so asking 0.25 µm/px of a 0.263 µm/px scan (5 %) is ordinary; asking
#: 0.25 of a 20× scan (0.5 µm/px, 2×) invents half the pixels of every patch.
UPSAMPLE_TOLERANCE = 0.10


class PatchLargerThanSlideError(ValueError):
    """One patch is larger than the whole slide, so no grid fits."""


class StaleOutputError(ValueError):
    """An existing output was made with other settings than the ones requested now."""


def check_tiling_params(target_mpp: float, patch_size: int, overlap: int = 0,
                        min_tissue: float = 0.25) -> None:
    """Raise ValueError naming the first invalid tiling number (before any slide is opened)."""
    check_mpp(target_mpp, "target_mpp")
    if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)) \
            or patch_size <= 0:
        raise ValueError(f"patch_size must be a positive whole number of pixels, got {patch_size!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)) \
            or not 0 <= overlap < patch_size:
        raise ValueError(f"overlap must be a whole number of pixels in [0, patch_size) = "
                         f"[0, {patch_size}), got {overlap!r}")
    if not (isinstance(min_tissue, (int, float, np.number)) and 0 <= min_tissue <= 1):
        raise ValueError(f"min_tissue is a fraction in [0, 1], got {min_tissue!r}")


def level0_patch_size(patch_size: int, target_mpp: float, level0_mpp: float) -> int:
    """Side of a patch in level-0 pixels: ``round(patch_size · target_mpp / level0_mpp)``."""
    return max(1, int(round(patch_size * target_mpp / level0_mpp)))


def upsampling_factor(patch_size: int, target_mpp: float, level0_mpp: float) -> float:
    """How many times each patch is enlarged when read: ``patch_size / s₀`` with
    s₀ = :func:`level0_patch_size` the level-0 pixels it is read from (≤ 1: no upsampling).
    A 256-px patch at 0.25 µm/px on a 0.499 µm/px scan is read from 128 level-0 px: factor 2."""
    return patch_size / level0_patch_size(patch_size, target_mpp, level0_mpp)


def _warn_upsampling(name: str, patch_size: int, target_mpp: float, level0_mpp: float) -> None:
    factor = upsampling_factor(patch_size, target_mpp, level0_mpp)
    if factor > 1 + UPSAMPLE_TOLERANCE:
        size0 = level0_patch_size(patch_size, target_mpp, level0_mpp)
        warnings.warn(
            f"{name}: target_mpp={target_mpp:g} µm/px is finer than the scan "
            f"({level0_mpp:g} µm/px): each {patch_size}-px patch is read from {size0} level-0 px "
            f"and enlarged {factor:.2f}×, which adds no detail. Use target_mpp >= "
            f"{level0_mpp:g} (or a scan at that resolution).", UpsamplingWarning, stacklevel=3)


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


#: Named presets after CLAM's ``presets/*.csv`` (Lu et al., Nature Biomedical Engineering 2021,
#: arXiv 2004.09666).
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
    level, mask_ds = segmentation_level(slide.level_downsamples, target_ds)
    out_w, out_h = max(1, round(w0 / mask_ds)), max(1, round(h0 / mask_ds))
    img = slide.read_level_resized(level, (out_w, out_h))
    ds = (w0 / out_w, h0 / out_h)
    # kernels are physical sizes: on a coarser mask they shrink with it, so a thin strand that
    # survives the median blur at seg_mpp survives it here too
    k = target_ds / mask_ds
    mthresh = max(1, 2 * int(round((params.mthresh * k - 1) / 2)) + 1)
    close = int(round(params.close * k))

    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    sat = cv2.medianBlur(hsv[..., 1], mthresh) if mthresh > 1 else hsv[..., 1].copy()
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
    if close > 1:
        kernel = np.ones((close, close), np.uint8)
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


def segmentation_level(downsamples: tuple[float, ...], target_ds: float) -> tuple[int, float]:
    """Pyramid level to segment from and the mask's downsample (level-0 px per mask px).

    The finest level with downsample ≤ ``target_ds`` is resized to ``target_ds`` when it is
    close to it (within 10 %). Otherwise (Aperio pyramids step by 4: 1, 4, 16, 64) the next
    coarser level is used at its own resolution when it is at most 2× coarser than asked, so a
    20× slide is segmented from its 16× level (8 µm/px) instead of decoding the whole 4× level;
    with no such level the finer level is read in strips (bounded memory either way).
    """
    fine = 0
    for i, d in enumerate(downsamples):
        if d <= target_ds * (1 + 1e-6):
            fine = i
    if downsamples[fine] >= target_ds / 1.1 or fine + 1 >= len(downsamples):
        return fine, float(target_ds)
    coarse = downsamples[fine + 1]
    if coarse <= 2 * target_ds * (1 + 1e-6):
        return fine + 1, float(coarse)
    return fine, float(target_ds)


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
    # OpenCV's integral image is int32 (4 B/px) and made in one pass; two numpy int64 cumsums
    # held ~4 copies of 8 B/px, the largest allocation when tiling a 100,000-px slide
    ii = cv2.integral((mask > 0).astype(np.uint8))
    h, w = mask.shape
    x0 = np.clip(np.round(coords[:, 0] / downsample[0]).astype(int), 0, w)
    y0 = np.clip(np.round(coords[:, 1] / downsample[1]).astype(int), 0, h)
    x1 = np.clip(np.round((coords[:, 0] + size0) / downsample[0]).astype(int), 0, w)
    y1 = np.clip(np.round((coords[:, 1] + size0) / downsample[1]).astype(int), 0, h)
    x1, y1 = np.maximum(x1, np.minimum(x0 + 1, w)), np.maximum(y1, np.minimum(y0 + 1, h))
    area = np.maximum((x1 - x0) * (y1 - y0), 1)
    inside = ii[y1, x1].astype(np.int64) - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]
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
    check_tiling_params(target_mpp, patch_size, overlap, min_tissue)
    scale = target_mpp / level0_mpp
    size0 = level0_patch_size(patch_size, target_mpp, level0_mpp)
    step0 = max(1, int(round((patch_size - overlap) * scale)))
    w0, h0 = dimensions
    if size0 > min(w0, h0):
        raise PatchLargerThanSlideError(
            f"a {patch_size}-px patch at {target_mpp:g} µm/px is {size0} level-0 px, larger than "
            f"the slide ({w0}×{h0} px at {level0_mpp:g} µm/px); lower patch_size or target_mpp.")
    xs = np.arange(0, w0 - size0 + 1, step0)
    ys = np.arange(0, h0 - size0 + 1, step0)
    if tissue.is_empty:
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
    """What :func:`tile_slide` produced for one slide (``skipped``: an existing file with the
    same settings was kept; ``mpp_source`` says where the level-0 mpp came from)."""

    slide_id: str
    n_patches: int
    patch_size_level0: int
    coords_path: Path | None
    qc_path: Path | None
    seconds: float
    tissue: TissueMask | None = field(repr=False)
    coords: np.ndarray = field(repr=False)
    mpp: float = float("nan")
    mpp_source: str = ""
    skipped: bool = False


def tiling_settings(target_mpp: float, patch_size: int, overlap: int, min_tissue: float,
                  params: SegmentationParams) -> dict:
    """The settings a coordinates file records and a rerun must match (level0_mpp aside)."""
    return dict(patch_size=int(patch_size), target_mpp=float(target_mpp), overlap=int(overlap),
                min_tissue=float(min_tissue),
                segmentation=json.dumps(dataclasses.asdict(params), sort_keys=True))


def _same_json(a: str, b: str) -> bool:
    """Whether two JSON texts hold the same values: ``{"a_t": 1}`` and ``{"a_t": 1.0}`` are the
    same segmentation (a preset's int and a float from a command line or a YAML file)."""
    try:
        return json.loads(a) == json.loads(b)
    except (TypeError, ValueError):
        return a == b


def stale_coords_reason(path: str | Path, requested: dict) -> str | None:
    """Why the coordinates file ``path`` does not match ``requested`` settings (None if it does).

    Compares every requested key with the file's ``coords`` attributes; a key the file does not
    record counts as a difference, since the file cannot vouch for it.
    """
    attrs = h5_attrs(path, "coords")
    diffs = []
    for key, want in requested.items():
        have = attrs.get(key)
        if isinstance(have, bytes):
            have = have.decode()
        if have is None:
            diffs.append(f"{key} (not recorded in the file; requested {want})")
        elif isinstance(want, float):
            if not math.isclose(float(have), want, rel_tol=1e-6):
                diffs.append(f"{key} (file {float(have):g}, requested {want:g})")
        elif key == "segmentation":
            if not _same_json(have, want):
                diffs.append("segmentation parameters (preset or seg params differ)")
        elif have != want:
            diffs.append(f"{key} (file {have}, requested {want})")
    if not diffs:
        return None
    return (f"{path} was made with other settings: {'; '.join(diffs)}. Pass --overwrite "
            "(overwrite=True) to replace it, or write to another output folder.")


def tile_slide(slide_path: str | Path, out_dir: str | Path, *, target_mpp: float = 0.5,
               patch_size: int = 256, overlap: int = 0, min_tissue: float = 0.25,
               params: SegmentationParams | str = "biopsy", mpp: float | None = None,
               force_mpp: bool = False, qc: bool = True, overwrite: bool = False) -> TilingResult:
    """Segment, grid and save ``out_dir/patches/<id>.h5`` (+ ``out_dir/qc/<id>.png``).

    A slide without tissue produces no coordinates file (and a :class:`NoTissueWarning`).
    ``target_mpp`` finer than the scan by more than :data:`UPSAMPLE_TOLERANCE` warns
    (:class:`UpsamplingWarning`): the patches would be enlarged reads. An
    existing coordinates file made with the same settings is kept (``skipped``); one made with
    other settings raises :class:`StaleOutputError` unless ``overwrite``. A patch larger than the
    slide raises :class:`PatchLargerThanSlideError`. ``mpp``/``force_mpp``: see :class:`Slide`.
    """
    t0 = time.perf_counter()
    check_tiling_params(target_mpp, patch_size, overlap, min_tissue)
    out_dir = Path(out_dir)
    if isinstance(params, str):
        params = get_preset(params)
    with Slide(slide_path, mpp=mpp, force_mpp=force_mpp) as slide:
        level0_mpp, mpp_source = slide.mpp, slide.mpp_source
        _warn_upsampling(slide.name, patch_size, target_mpp, level0_mpp)
        coords_path = out_dir / "patches" / f"{slide.name}.h5"
        qc_path = out_dir / "qc" / f"{slide.name}.png"
        requested = dict(tiling_settings(target_mpp, patch_size, overlap, min_tissue, params),
                         level0_mpp=float(level0_mpp))
        if coords_path.exists() and not overwrite:
            reason = stale_coords_reason(coords_path, requested)
            if reason:
                raise StaleOutputError(reason)
            coords, attrs = read_coords(coords_path)
            size0, tissue = int(attrs["patch_size_level0"]), None
            if qc and not qc_path.exists():  # only the picture is missing: draw the kept grid
                tissue = segment_tissue(slide, params)
                thumb, tds = slide.thumbnail(1024)
                save_png(qc_path, draw_qc(thumb, tds, tissue, coords, size0))
            return TilingResult(slide.name, len(coords), size0, coords_path,
                                qc_path if qc else None, time.perf_counter() - t0, tissue, coords,
                                level0_mpp, mpp_source, skipped=True)
        w0, h0 = slide.dimensions
        size0 = level0_patch_size(patch_size, target_mpp, level0_mpp)
        if size0 > min(w0, h0):  # before segmenting: nothing could be kept
            raise PatchLargerThanSlideError(
                f"{slide.path.name}: a {patch_size}-px patch at {target_mpp:g} µm/px is {size0} "
                f"level-0 px, larger than the slide ({w0}×{h0} px at {level0_mpp:g} µm/px); "
                "lower --patch-size or --target-mpp.")
        tissue = segment_tissue(slide, params)
        coords, _, size0 = patch_grid(slide.dimensions, level0_mpp, tissue, target_mpp,
                                      patch_size, overlap, min_tissue)
        if len(coords) == 0:
            if not tissue.is_empty:
                warnings.warn(f"{slide.name}: tissue was found but no patch reaches "
                              f"min_tissue={min_tissue}; lower min_tissue or patch_size.",
                              NoTissueWarning, stacklevel=2)
            coords_path_out = None
            if overwrite and coords_path.exists():  # the old grid no longer describes the slide
                coords_path.unlink()
        else:
            coords_path_out = write_coords(
                coords_path, coords, patch_size_level0=size0, name=slide.name,
                level0_width=w0, level0_height=h0, **requested)
        qc_out = None
        if qc:  # the picture of the grid just computed (never of an older one)
            thumb, tds = slide.thumbnail(1024)
            qc_out = save_png(qc_path, draw_qc(thumb, tds, tissue, coords, size0))
    return TilingResult(slide.name, len(coords), size0, coords_path_out, qc_out,
                        time.perf_counter() - t0, tissue, coords, level0_mpp, mpp_source)
