"""A synthetic slide cohort with ground truth: H&E-like pyramidal TIFFs, region masks, labels.

Real annotated WSIs are gigabytes and licence-bound; this generator gives the course slides that
OpenSlide opens like any scanner file and whose truth we know exactly. It is designed from what
makes real slides hard for attention MIL, and is frozen: it is not tuned to make any method win.

Tissue is rendered in optical-density space (Beer–Lambert, ``I = I₀·exp(−(h·H + e·E))`` with
haematoxylin/eosin stain vectors after Ruifrok & Johnston, Anal. Quant. Cytol. Histol. 2001), so
colours mix like stains do. Every slide has:

* **background tissue**: collagenous stroma (dense or loose, fibres in a local direction),
  fibroblasts, scattered lymphocytes, vessels with red cells, fat lobules;
* **mimics**, independent of the label: *lymphoid aggregates* (dense sheets of small, dark,
  round, uniform nuclei — the look-alike of solid tumour) and *benign glands* (one layer of
  small regular nuclei, basal and perpendicular to the basement membrane, around a round lumen —
  the look-alike of glandular tumour);
* in positive slides, **tumour** in three morphologies that differ from their mimics the way a
  pathologist tells them apart (nuclear size, pleomorphism, vesicular/coarse chromatin,
  nucleoli, loss of polarity), not by colour: ``solid`` sheets, ``glandular`` crowded,
  stratified, irregular glands, and the rare, subtle ``discohesive`` single files of slightly
  enlarged cells in stroma (≤ 20 % of positive slides);
* **burden skewed to small** (most positive slides carry a few tumour patches), bag lengths
  spread more than 20×, slides grouped into cases (patients) with a shared stain;
* the old strengths: pen marks and dust, pyramids, masks (tumour and all regions), a labels CSV
  with cases; deterministic from the seed; resumable builds. The labels carry no ``fold``: the
  experiment runner draws a stratified, case-grouped partition per repeat.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import tifffile

from ._progress import progress_bar
from .h5io import atomic_output, remove_partials

__all__ = ["MORPHOLOGIES", "MIMICS", "BURDENS", "REGIONS", "CohortConfig", "SlideSpec",
           "plan_cohort", "slide_regions", "render_slide", "write_pyramidal_tiff", "build_cohort",
           "load_tumour_mask", "load_region_mask", "burden_class", "Cohort", "MIN_SLIDES"]

#: The fewest slides a cohort may have: the course's experiments split it into 5 folds.
MIN_SLIDES = 10
#: Settings of older generators that no longer change the cohort: a cohort.json that has them
#: still matches (its labels.csv loses the ``fold`` column that ``n_folds`` made).
_RETIRED_SETTINGS = ("n_folds",)

MORPHOLOGIES = ("solid", "glandular", "discohesive")
MIMICS = ("lymphoid_aggregate", "benign_glands")
BURDENS = ("micro", "small", "large")
#: codes of the region mask (``masks/<id>_regions.png``); tumour codes are ≥ 4
REGIONS = ("background", "tissue") + MIMICS + MORPHOLOGIES
TUMOUR_CODE = {m: REGIONS.index(m) for m in MORPHOLOGIES}
MIMIC_CODE = {m: REGIONS.index(m) for m in MIMICS}

BACKGROUND = np.array([243, 241, 243], np.float32)
#: optical-density stain vectors (R, G, B) per unit concentration
H_OD = np.array([0.65, 0.70, 0.29], np.float32)
E_OD = np.array([0.09, 0.78, 0.30], np.float32)
#: a tumour patch for the burden count: ≥ this tumour fraction of a 112-µm grid cell
PATCH_TUMOUR_THRESHOLD = 0.25


def burden_class(tumour_patches: int) -> str:
    """``micro`` (≤ 5 tumour patches), ``small`` (6–20) or ``large`` (> 20); ``none`` for 0."""
    if tumour_patches <= 0:
        return "none"
    return "micro" if tumour_patches <= 5 else "small" if tumour_patches <= 20 else "large"


@dataclass(frozen=True)
class CohortConfig:
    """Everything that determines the cohort; the same config always gives the same pixels."""

    n_slides: int = 120
    seed: int = 0
    mpp: float = 0.5                  # level-0 µm/px (20×)
    min_side_mm: float = 0.7          # canvas side: min·(max/min)^(u^size_skew), u ~ U(0, 1),
    max_side_mm: float = 2.8          # so most slides are small biopsies and a few are large
    size_skew: float = 1.6
    positive_fraction: float = 0.5
    morphology_weights: tuple[float, float, float] = (0.45, 0.40, 0.15)  # solid, glandular, disc.
    mixed_probability: float = 0.15   # a positive slide also shows the other of solid/glandular
    burden_weights: tuple[float, float, float] = (0.45, 0.275, 0.275)  # planned micro, small, large
    mimic_probability: float = 0.7    # per mimic and slide, whatever the label
    second_slide_probability: float = 0.35  # a case (patient) has two slides
    pen_probability: float = 0.3
    dust_probability: float = 0.5
    mask_downsample: int = 8          # masks are stored at level-0 / 8
    render_mpp: float = 1.0           # drawn at this µm/px, then resized to level 0 (4× cheaper;
                                      # the course reads patches at 1 µm/px)
    patch_um: float = 112.0           # grid cell for counting tumour patches (the course's patch)
    jpeg_quality: int = 85

    def __post_init__(self):
        if len(self.morphology_weights) != len(MORPHOLOGIES):
            raise ValueError(f"morphology_weights needs one weight per {MORPHOLOGIES}")
        if self.n_slides < MIN_SLIDES:
            raise ValueError(f"n_slides={self.n_slides} (--n-slides) is too few for the course's "
                             f"5 folds; use at least {MIN_SLIDES}")
        if not 0 < self.min_side_mm <= self.max_side_mm:
            raise ValueError("need 0 < min_side_mm <= max_side_mm")
        ratio = self.mask_downsample * self.mpp / self.render_mpp
        if self.render_mpp < self.mpp or abs(ratio - round(ratio)) > 1e-9:
            raise ValueError("render_mpp must be >= mpp and divide mpp·mask_downsample")


@dataclass(frozen=True)
class SlideSpec:
    """One slide's plan. ``morphology`` is the primary tumour pattern ('none' for negatives),
    ``morphologies`` all patterns present, ``burden`` the planned lesion size class."""

    slide_id: str
    label: int
    morphology: str
    burden: str
    width: int
    height: int
    seed: int
    pen: bool
    dust: bool
    morphologies: tuple[str, ...] | None = None   # None: just ``morphology`` (if positive)
    mimics: tuple[str, ...] = ()
    case_id: str = ""
    stain_seed: int | None = None                 # None: the slide's own seed

    @property
    def tumour_morphologies(self) -> tuple[str, ...]:
        if not self.label:
            return ()
        return self.morphologies if self.morphologies is not None else (self.morphology,)


def _quota(rng, n: int, weights) -> np.ndarray:
    """``n`` category indices with counts as close to ``n·weights`` as rounding allows, shuffled
    (a rare category stays rare in every cohort, not only on average)."""
    w = np.asarray(weights, float) / np.sum(weights)
    counts = np.floor(n * w).astype(int)
    for j in np.argsort(-(n * w - counts))[: n - counts.sum()]:
        counts[j] += 1
    out = np.repeat(np.arange(len(w)), counts)
    rng.shuffle(out)
    return out


def plan_cohort(cfg: CohortConfig) -> list[SlideSpec]:
    """Decide every slide's case, label, morphologies, mimics, burden and size (no pixels)."""
    rng = np.random.default_rng(cfg.seed)
    n_pos = int(round(cfg.n_slides * cfg.positive_fraction))
    labels = np.array([1] * n_pos + [0] * (cfg.n_slides - n_pos))
    rng.shuffle(labels)
    morph_idx = iter(_quota(rng, n_pos, cfg.morphology_weights))
    burden_idx = iter(_quota(rng, n_pos, cfg.burden_weights))
    # stratified size quantiles: every cohort spans the whole range, from biopsy to resection
    size_u = iter((rng.permutation(cfg.n_slides) + rng.random(cfg.n_slides)) / cfg.n_slides)
    specs, case, stain = [], -1, 0
    for i, y in enumerate(labels):
        if i == 0 or not (specs[-1].case_id == f"case_{case:03d}" and
                          sum(s.case_id == specs[-1].case_id for s in specs) < 2 and
                          rng.random() < cfg.second_slide_probability):
            case, stain = case + 1, int(rng.integers(2**31))
        u = next(size_u) ** cfg.size_skew
        side = cfg.min_side_mm * (cfg.max_side_mm / cfg.min_side_mm) ** u
        aspect = rng.uniform(0.7, 1.4)
        width = int(side * 1000 / cfg.mpp * math.sqrt(aspect))
        height = int(side * 1000 / cfg.mpp / math.sqrt(aspect))
        mimics = tuple(m for m in MIMICS if rng.random() < cfg.mimic_probability)
        if y:
            morph = MORPHOLOGIES[next(morph_idx)]
            morphs = (morph,)
            if morph != "discohesive" and rng.random() < cfg.mixed_probability:
                morphs = (morph, "glandular" if morph == "solid" else "solid")
            burden = BURDENS[next(burden_idx)]
        else:
            morph, morphs, burden = "none", (), "none"
        specs.append(SlideSpec(f"synth_{i:03d}", int(y), morph, burden, width, height,
                               int(rng.integers(2**31)), bool(rng.random() < cfg.pen_probability),
                               bool(rng.random() < cfg.dust_probability), morphs, mimics,
                               f"case_{case:03d}", stain))
    return specs


# --------------------------------------------------------------------------------------------
# regions (low resolution, cheap): tissue, mimics, tumour
# --------------------------------------------------------------------------------------------
def _smooth_noise(rng, shape, cells: float) -> np.ndarray:
    """Smooth random field (unit-ish variance) with about ``cells`` blobs across the larger side."""
    h, w = shape
    gh = max(2, int(round(cells * h / max(h, w))) + 2)
    gw = max(2, int(round(cells * w / max(h, w))) + 2)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _blob(shape, centre, radius_px, rng, roughness=0.35) -> np.ndarray:
    """A rough, roughly elliptical region (float field > 0 inside)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ax = radius_px * rng.uniform(0.75, 1.25)
    ay = radius_px * rng.uniform(0.75, 1.25)
    d = np.sqrt(((xx - centre[0]) / ax) ** 2 + ((yy - centre[1]) / ay) ** 2)
    cells = max(3.0, 3 * max(h, w) / max(radius_px, 1))
    return 1.0 - d + roughness * _smooth_noise(rng, shape, cells)


def _pick_inside(rng, region: np.ndarray, depth: np.ndarray, r: float) -> tuple[float, float]:
    """A point of ``region`` at least ``r`` deep if possible (lesions sit inside the tissue)."""
    ys, xs = np.nonzero(region)
    inner = np.flatnonzero(depth[ys, xs] >= min(r, 0.8 * depth.max()))
    j = rng.choice(inner) if len(inner) else rng.integers(len(xs))
    return float(xs[j]), float(ys[j])


def _grid_fraction(mask: np.ndarray, cell: int) -> np.ndarray:
    """Fraction of each ``cell``×``cell`` block (grid from the origin, like the tiler) in ``mask``."""
    h, w = (mask.shape[0] // cell) * cell, (mask.shape[1] // cell) * cell
    m = mask[:h, :w].astype(np.float32)
    return m.reshape(h // cell, cell, w // cell, cell).mean((1, 3))


def _cell(cfg: CohortConfig) -> int:
    return max(1, int(round(cfg.patch_um / (cfg.mpp * cfg.mask_downsample))))


def slide_regions(spec: SlideSpec, cfg: CohortConfig) -> np.ndarray:
    """The slide's region map at level-0 / ``mask_downsample`` (uint8 codes of :data:`REGIONS`).

    Mimics are placed independently of the label; tumour lesions overwrite what lies under them.
    A positive slide always has at least one grid cell with ≥ 25 % tumour.
    """
    rng = np.random.default_rng([spec.seed, 0])
    g = cfg.mask_downsample
    um = cfg.mpp * g  # µm per low-res pixel
    h, w = int(math.ceil(spec.height / g)), int(math.ceil(spec.width / g))
    n_frag = int(rng.choice([1, 1, 1, 2, 3]))
    field_ = np.full((h, w), -np.inf, np.float32)
    for _ in range(n_frag):
        spread = 0.1 if n_frag == 1 else 0.22
        c = (rng.uniform(0.5 - spread, 0.5 + spread) * w, rng.uniform(0.5 - spread, 0.5 + spread) * h)
        r = min(h, w) * rng.uniform(0.36, 0.44) * (1.0 if n_frag == 1 else 0.66)
        field_ = np.maximum(field_, _blob((h, w), c, r, rng, 0.3))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    edge = np.minimum(np.minimum(xx, w - 1 - xx) / w, np.minimum(yy, h - 1 - yy) / h)
    tissue = (field_ - np.clip(0.04 - edge, 0, None) * 25) > 0
    if not tissue.any():
        tissue[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = True
    regions = tissue.astype(np.uint8)
    depth = cv2.distanceTransform(tissue.astype(np.uint8), cv2.DIST_L2, 5)
    area_mm2 = tissue.sum() * (um / 1000) ** 2

    if "lymphoid_aggregate" in spec.mimics:
        for _ in range(1 + rng.poisson(min(3.0, 1.5 * area_mm2))):
            r = rng.uniform(50, 170) / um
            m = (_blob((h, w), _pick_inside(rng, tissue, depth, r), r, rng, 0.15) > 0) & tissue
            regions[m] = MIMIC_CODE["lymphoid_aggregate"]
    if "benign_glands" in spec.mimics:
        for _ in range(1 + rng.poisson(min(3.0, 1.5 * area_mm2))):
            r = rng.uniform(90, 260) / um
            m = (_blob((h, w), _pick_inside(rng, tissue, depth, r), r, rng, 0.3) > 0) & tissue
            regions[m] = MIMIC_CODE["benign_glands"]

    morphs = spec.tumour_morphologies
    r_max = 0.6 * math.sqrt(tissue.sum() / math.pi)  # a lesion never swallows the whole slide
    if morphs:
        radii, n = {"micro": ((50, 85), 1), "small": ((90, 170), int(rng.integers(1, 3))),
                    "large": ((300, 650), int(rng.integers(1, 4)))}[spec.burden]
        n = max(n, len(morphs))
        cell = _cell(cfg)
        for attempt in range(8):
            tum = regions.copy()
            for k in range(n):
                morph = morphs[k % len(morphs)]
                # discohesive cells infiltrate sparsely: the same cells spread over a wider area
                scale = (1.5 if morph == "discohesive" else 1.0) * 1.25 ** attempt
                r = min(rng.uniform(*radii) * scale / um, r_max * 1.25 ** attempt)
                m = _blob((h, w), _pick_inside(rng, tissue, depth, r), r, rng,
                          0.1 if spec.burden == "micro" else 0.3) > 0
                tum[m & tissue] = TUMOUR_CODE[morph]
            if (_grid_fraction(tum >= 4, cell) >= PATCH_TUMOUR_THRESHOLD).any():
                break
        regions = tum
    return regions


# --------------------------------------------------------------------------------------------
# rendering: stain densities h (haematoxylin) and e (eosin) at level 0, then Beer–Lambert
# --------------------------------------------------------------------------------------------
def _upsample_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Smooth-edged upsampling of a low-res boolean mask to (w, h)."""
    up = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    return up > 0.5


def _points(rng, region: np.ndarray, spacing_px: float, g: int) -> np.ndarray:
    """Random points (level-0 px) inside a low-res region, one per ``spacing_px``² on average."""
    ys, xs = np.nonzero(region)
    if len(xs) == 0:
        return np.zeros((0, 2))
    n = rng.poisson(len(xs) * (g * g) / spacing_px ** 2)
    j = rng.integers(len(xs), size=n)
    return np.stack([(xs[j] + rng.random(n)) * g, (ys[j] + rng.random(n)) * g], 1)


def _jittered_grid(rng, region: np.ndarray, spacing_px: float, g: int, jitter=0.35) -> np.ndarray:
    """Points on a jittered grid (level-0 px) inside a low-res region: crowded but not overlapping."""
    h, w = region.shape
    xs = np.arange(spacing_px / 2, w * g, spacing_px)
    ys = np.arange(spacing_px / 2, h * g, spacing_px)
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    pts = np.stack([gx.ravel(), gy.ravel()], 1)
    pts = pts + rng.uniform(-jitter, jitter, pts.shape) * spacing_px
    ix = np.clip((pts[:, 0] / g).astype(int), 0, w - 1)
    iy = np.clip((pts[:, 1] / g).astype(int), 0, h - 1)
    return pts[region[iy, ix]]


def _polys(rng, centres, a, b, angle_deg, irregular: float, n_vert: int = 12) -> np.ndarray:
    """Nuclear outlines: ellipses (semi-axes a, b px, angle) with radial jitter ``irregular``
    (0 = smooth oval, 0.2 = pleomorphic). Returns int32 (n, n_vert, 2) at 4× sub-pixel precision."""
    n = len(centres)
    t = np.linspace(0, 2 * np.pi, n_vert, endpoint=False)[None]
    jit = 1 + irregular * (rng.standard_normal((n, n_vert)) * 0.7
                           + 0.5 * np.sin(2 * t + rng.uniform(0, 6.3, (n, 1))))
    jit = cv2.GaussianBlur(jit.astype(np.float32), (3, 1), 0) if n else jit
    th = np.radians(np.asarray(angle_deg, float))[:, None]
    x = np.asarray(a)[:, None] * np.cos(t) * jit
    y = np.asarray(b)[:, None] * np.sin(t) * jit
    px = np.asarray(centres)[:, 0:1] + x * np.cos(th) - y * np.sin(th)
    py = np.asarray(centres)[:, 1:2] + x * np.sin(th) + y * np.cos(th)
    return np.round(np.stack([px, py], -1) * 4).astype(np.int32)


def _fill(layer: np.ndarray, polys: np.ndarray, values: np.ndarray, bins: int = 8) -> None:
    """Fill polygons into ``layer`` with per-polygon ``values`` (binned: one cv2 call per bin)."""
    if len(polys) == 0:
        return
    values = np.asarray(values, float)
    edges = np.quantile(values, np.linspace(0, 1, bins + 1))
    idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    for k in np.unique(idx):
        sel = idx == k
        cv2.fillPoly(layer, list(polys[sel]), float(values[sel].mean()), lineType=cv2.LINE_8, shift=2)


class _Canvas:
    """Stain-density layers of one slide and the drawing primitives the tissues share."""

    def __init__(self, H, W, px, g, rng):
        self.H, self.W, self.px, self.g, self.rng = H, W, px, g, rng
        self.h = np.zeros((H, W), np.float32)     # haematoxylin density
        self.e = np.zeros((H, W), np.float32)     # eosin density
        self.tex = np.zeros((H, W), np.float32)   # chromatin coarseness of the nucleus there

    def nuclei(self, centres, a_um, b_um, angle, density, *, irregular=0.05, coarse=0.15,
               rim=0.0, nucleolus=0.0, nucleolus_um=1.0):
        """Draw nuclei: fill of ``density``; ``rim`` > 0 darkens the membrane and pales the
        centre (vesicular chromatin); ``nucleolus`` is the fraction with a dark nucleolus."""
        n = len(centres)
        if n == 0:
            return
        a = np.broadcast_to(np.asarray(a_um, float) * self.px, (n,))
        b = np.broadcast_to(np.asarray(b_um, float) * self.px, (n,))
        angle = np.broadcast_to(np.asarray(angle, float), (n,))
        polys = _polys(self.rng, centres, a, b, angle, irregular)
        dens = np.asarray(density, float) * np.ones(n)
        if rim > 0:
            _fill(self.h, polys, dens)
            inner = _polys(self.rng, centres, a * 0.72, b * 0.72, angle, irregular * 0.5)
            _fill(self.h, inner, dens * (1 - rim))
        else:
            _fill(self.h, polys, dens)
        cv2.fillPoly(self.tex, list(polys), float(coarse), shift=2)
        if nucleolus > 0:
            k = self.rng.random(n) < nucleolus
            off = self.rng.uniform(-0.3, 0.3, (n, 2)) * np.stack([a, b], 1)
            for (x, y), d in zip(np.asarray(centres)[k] + off[k], dens[k]):
                cv2.circle(self.h, (int(x * 4), int(y * 4)), int(nucleolus_um * self.px * 4),
                           float(d * 1.5), -1, shift=2)

    def cells(self, centres, r_um, e_density, h_density=0.0):
        """Cytoplasm around nuclei (drawn first, nuclei on top)."""
        if len(centres) == 0:
            return
        r = np.asarray(r_um) * self.px * np.ones(len(centres))
        polys = _polys(self.rng, centres, r, r * self.rng.uniform(0.75, 1.0, len(centres)),
                       self.rng.uniform(0, 180, len(centres)), 0.1, 10)
        cv2.fillPoly(self.e, list(polys), float(e_density), shift=2)
        if h_density:
            cv2.fillPoly(self.h, list(polys), float(h_density), shift=2)


def _fibres(rng, h, w, px, angle_deg: float, q: int) -> np.ndarray:
    """Collagen fibre texture in [0, 1] at 1/``q`` size: noise smeared along ``angle``."""
    noise = rng.standard_normal((h, w)).astype(np.float32)
    L = max(5, int(30 * px / q) | 1)  # fibre length ≈ 30 µm
    k = np.zeros((L, L), np.float32)
    c = L // 2
    dx, dy = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    cv2.line(k, (int(c - dx * c), int(c - dy * c)), (int(c + dx * c), int(c + dy * c)), 1.0, 1)
    k /= k.sum()
    f = cv2.GaussianBlur(cv2.filter2D(noise, -1, k), (0, 0), 0.6)
    f /= f.std() + 1e-6
    return 1 / (1 + np.exp(-2.2 * f))


def _region_full(regions_lr: np.ndarray, code: int | tuple, size) -> np.ndarray:
    codes = (code,) if isinstance(code, int) else code
    return _upsample_mask(np.isin(regions_lr, codes), size)


def render_slide(spec: SlideSpec, cfg: CohortConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one slide: ``(rgb level-0 image, tissue mask, tumour mask)`` (masks low-res;
    :func:`slide_regions` gives the full region map)."""
    regions = slide_regions(spec, cfg)
    rng = np.random.default_rng([spec.seed, 1])
    srng = np.random.default_rng([spec.stain_seed if spec.stain_seed is not None else spec.seed, 2])
    # draw at render_mpp on a canvas whose mask pixel is g render pixels; resize at the end
    g = int(round(cfg.mask_downsample * cfg.mpp / cfg.render_mpp))
    px = 1.0 / cfg.render_mpp
    W, H = regions.shape[1] * g, regions.shape[0] * g
    tissue_lr, tumour_lr = regions > 0, regions >= 4
    tissue = _upsample_mask(tissue_lr, (W, H))
    cv = _Canvas(H, W, px, g, rng)
    lr_h, lr_w = regions.shape
    um = cfg.render_mpp * g

    # --- stroma: dense or loose collagen with fibres in a slowly turning direction
    # (computed at 1/4 size, 2 µm/px: fibres are a few µm wide, and it is 16× cheaper)
    q = 4
    qs = (max(8, H // q), max(8, W // q))
    angle = rng.uniform(0, 180)
    fib = _fibres(rng, *qs, px, angle, q)
    fib2 = _fibres(rng, *qs, px, angle + rng.uniform(40, 80), q)
    turn = cv2.resize(_smooth_noise(rng, (lr_h, lr_w), 3), qs[::-1]) > 0
    fib = np.where(turn, fib2, fib)
    looseness = cv2.resize(_smooth_noise(rng, (lr_h, lr_w), 4), qs[::-1]) * 0.5 + rng.uniform(-0.3, 0.3)
    dens = np.clip(0.55 - 0.18 * looseness, 0.25, 0.8)
    stroma = dens * (0.6 + 0.55 * fib)
    clefts = fib < np.clip(0.1 + 0.12 * looseness, 0.02, 0.3)  # loose stroma: pale gaps
    stroma[clefts] *= 0.45
    stroma = cv2.resize(stroma, (W, H), interpolation=cv2.INTER_LINEAR)
    np.copyto(cv.e, stroma, where=tissue)
    del fib, fib2, turn, looseness, stroma, clefts

    # --- fat lobules and vessels in plain tissue
    plain = regions == 1
    depth = cv2.distanceTransform(tissue_lr.astype(np.uint8), cv2.DIST_L2, 5)
    fat_lr = np.zeros_like(plain)
    r_eq = math.sqrt(tissue_lr.sum() / math.pi)
    for _ in range(rng.poisson(1.2)):
        if not plain.any():
            break
        r = min(rng.uniform(60, 200) / um, 0.3 * r_eq)
        fat_lr |= (_blob((lr_h, lr_w), _pick_inside(rng, plain, depth, 0), r, rng, 0.3) > 0) & plain
    if fat_lr.any():
        # adipocytes: polygonal cells (Voronoi facets of jittered centres) with thin membranes
        fat = _upsample_mask(fat_lr, (W, H))
        ctr = _jittered_grid(rng, fat_lr, 60 * px, g, 0.4)
        sub = cv2.Subdiv2D((0, 0, W, H))
        for x, y in np.clip(ctr, 0, [W - 1, H - 1]):
            sub.insert((float(x), float(y)))
        facets, _ = sub.getVoronoiFacetList([])
        memb = np.zeros((H, W), np.uint8)
        cv2.polylines(memb, [np.round(f).astype(np.int32) for f in facets], True, 1,
                      max(1, int(1.2 * px)))
        e_fat = np.where(memb > 0, np.float32(0.45), np.float32(0.02))
        np.copyto(cv.e, e_fat, where=fat)
        del e_fat, memb
        pts = _points(rng, fat_lr, 60 * px, g)
        cv.nuclei(pts, rng.uniform(2.5, 4, len(pts)), 1.2, rng.uniform(0, 180, len(pts)), 0.7)
    for c in _points(rng, plain & ~fat_lr, 230 * px, g):
        ax, ay = rng.uniform(6, 35) * px, rng.uniform(4, 16) * px
        th = rng.uniform(0, 180)
        wall = rng.uniform(3, 9) * px
        cen = (int(c[0]), int(c[1]))
        cv2.ellipse(cv.e, cen, (int(ax + wall), int(ay + wall)), th, 0, 360, 0.85, -1)
        cv2.ellipse(cv.e, cen, (int(ax), int(ay)), th, 0, 360, 0.03, -1)
        cv2.ellipse(cv.h, cen, (int(ax + wall), int(ay + wall)), th, 0, 360, 0.0, -1)
        n_rbc = int(rng.uniform(0, 1) * ax * ay / (12 * px * px))
        if n_rbc:
            rr = rng.uniform(0, 0.8, n_rbc) ** 0.5
            tt = rng.uniform(0, 2 * np.pi, n_rbc)
            t0 = math.radians(th)
            xx, yy = rr * ax * np.cos(tt), rr * ay * np.sin(tt)
            for x, y in zip(c[0] + xx * math.cos(t0) - yy * math.sin(t0),
                            c[1] + xx * math.sin(t0) + yy * math.cos(t0)):
                cv2.circle(cv.e, (int(x), int(y)), int(3.5 * px), 1.25, -1)
        m = int(2 * np.pi * max(ax, ay) / (12 * px)) + 3  # flat endothelial nuclei on the lumen
        tt = np.linspace(0, 2 * np.pi, m, endpoint=False)
        t0 = math.radians(th)
        xx, yy = (ax + 1.2 * px) * np.cos(tt), (ay + 1.2 * px) * np.sin(tt)
        ctr = np.stack([c[0] + xx * math.cos(t0) - yy * math.sin(t0),
                        c[1] + xx * math.sin(t0) + yy * math.cos(t0)], 1)
        tang = np.degrees(np.arctan2(ay * np.cos(tt), -ax * np.sin(tt))) + th
        cv.nuclei(ctr, rng.uniform(4, 6, m), rng.uniform(1.0, 1.4, m), tang, 0.9)

    # --- stromal cells everywhere outside the epithelial/lymphoid structures
    stroma_lr = (regions == 1) & ~fat_lr
    if "discohesive" in spec.tumour_morphologies:
        stroma_lr |= regions == TUMOUR_CODE["discohesive"]  # single files lie *in* stroma
    pts = _points(rng, stroma_lr, rng.uniform(15, 20) * px, g)
    n = len(pts)
    cv.nuclei(pts, rng.uniform(4, 7, n), rng.uniform(1.1, 1.8, n),
              angle + rng.normal(0, 20, n), rng.uniform(0.7, 1.0, n), irregular=0.05, coarse=0.1)
    # inflammatory cells: lymphocytes (small, round, dark) and plasma cells, density varies
    infl = _points(rng, stroma_lr & (_smooth_noise(rng, (lr_h, lr_w), 5) > rng.uniform(0.3, 1.2)),
                   rng.uniform(14, 30) * px, g)
    n = len(infl)
    r = rng.uniform(2.4, 3.1, n)
    cv.nuclei(infl, r, r * rng.uniform(0.85, 1.0, n), rng.uniform(0, 180, n),
              rng.uniform(1.05, 1.35, n), irregular=0.04, coarse=0.2)

    # --- mimic: lymphoid aggregates, packed small round uniform dark nuclei
    lym_lr = regions == MIMIC_CODE["lymphoid_aggregate"]
    if lym_lr.any():
        cv.e[_region_full(regions, MIMIC_CODE["lymphoid_aggregate"], (W, H))] = 0.22
        pts = _jittered_grid(rng, lym_lr, rng.uniform(6.8, 7.8) * px, g, 0.4)
        n = len(pts)
        r = rng.uniform(2.5, 3.3, n)
        cv.nuclei(pts, r, r * rng.uniform(0.85, 1.0, n), rng.uniform(0, 180, n),
                  rng.uniform(1.05, 1.4, n), irregular=0.05, coarse=0.25)
        # germinal-centre cells (centroblasts: larger, paler, a nucleolus) and macrophages: the
        # reason a lymphoid aggregate is a classic mimic of solid tumour at low power
        big = _points(rng, lym_lr, 16 * px, g)
        m = len(big)
        a = rng.uniform(3.6, 4.6, m)
        cv.nuclei(big, a, a * rng.uniform(0.75, 0.95, m), rng.uniform(0, 180, m),
                  rng.uniform(0.6, 0.85, m), irregular=0.06, coarse=0.3, rim=0.25, nucleolus=0.4,
                  nucleolus_um=0.7)

    def glands(region_lr, spacing, lumen, thick, layers, nuc_a, nuc_b, dens, polar, irregular,
               coarse, rim, nucleolus, cyto_e, cyto_h, myoepithelium, crowd=1.0):
        """Acini: a lumen inside an epithelial ring with nuclei in ``layers`` rows. ``polar``
        (0–1) is how strictly nuclei sit basally and point at the lumen (benign = 1)."""
        centres = _jittered_grid(rng, region_lr, spacing * px, g, 0.3)
        if not len(centres):
            return
        regm = _upsample_mask(region_lr, (W, H))
        ring = np.zeros((H, W), np.uint8)
        lum = np.zeros((H, W), np.uint8)
        nuc, ax_a, ax_b, ang, dd, myo = [], [], [], [], [], []
        for cx, cy in centres:
            rl = rng.uniform(*lumen) * px
            el = rng.uniform(0.6, 1.0) if polar < 1 else rng.uniform(0.85, 1.0)
            t0 = rng.uniform(0, 180)
            tk = rng.uniform(*thick) * px
            cv2.ellipse(ring, (int(cx), int(cy)), (int(rl + tk), int((rl * el) + tk)), t0, 0, 360, 1, -1)
            cv2.ellipse(lum, (int(cx), int(cy)), (int(rl), int(rl * el)), t0, 0, 360, 1, -1)
            for layer in range(layers):
                depth_frac = (0.62 if polar >= 1 else rng.uniform(0.25, 0.85)) if layers == 1 else \
                    (layer + 0.5) / layers
                rr = rl + tk * depth_frac
                m = max(4, int(crowd * 2 * np.pi * rr / ((2 * nuc_b[1] + 1.0) * px)))
                tt = np.linspace(0, 2 * np.pi, m, endpoint=False) + rng.uniform(0, 1)
                jitter_r = (1 - polar) * tk * 0.25 * rng.standard_normal(m)
                jitter_r = np.maximum(jitter_r, (depth_frac - 0.15) * -tk)  # not in the lumen
                x = (rr + jitter_r) * np.cos(tt)
                y = (rr * el + jitter_r) * np.sin(tt)
                tr = math.radians(t0)
                nuc.append(np.stack([cx + x * math.cos(tr) - y * math.sin(tr),
                                     cy + x * math.sin(tr) + y * math.cos(tr)], 1))
                radial = np.degrees(tt) + t0
                ang.append(radial + (1 - polar) * rng.uniform(-90, 90, m))
                ax_a.append(rng.uniform(*nuc_a, m))
                ax_b.append(rng.uniform(*nuc_b, m))
                dd.append(rng.uniform(*dens, m))
            if myoepithelium:
                m = max(4, int(2 * np.pi * (rl + tk) / (14 * px)))
                tt = np.linspace(0, 2 * np.pi, m, endpoint=False)
                x, y = (rl + tk) * np.cos(tt), (rl * el + tk) * np.sin(tt)
                tr = math.radians(t0)
                myo.append((np.stack([cx + x * math.cos(tr) - y * math.sin(tr),
                                      cy + x * math.sin(tr) + y * math.cos(tr)], 1),
                            np.degrees(tt) + t0 + 90))
        ring = (ring > 0) & regm
        lum = (lum > 0) & regm
        cv.e[ring] = cyto_e
        cv.h[ring] = cyto_h
        cv.e[lum] = 0.04
        cv.h[lum] = 0.0
        nuc = np.concatenate(nuc)
        inside = regm[np.clip(nuc[:, 1].astype(int), 0, H - 1), np.clip(nuc[:, 0].astype(int), 0, W - 1)]
        cv.nuclei(nuc[inside], np.concatenate(ax_a)[inside], np.concatenate(ax_b)[inside],
                  np.concatenate(ang)[inside], np.concatenate(dd)[inside], irregular=irregular,
                  coarse=coarse, rim=rim, nucleolus=nucleolus)
        for ctr, th in myo:
            k = regm[np.clip(ctr[:, 1].astype(int), 0, H - 1), np.clip(ctr[:, 0].astype(int), 0, W - 1)]
            cv.nuclei(ctr[k], 3.0, 1.0, th[k], 1.0, irregular=0.03, coarse=0.1)

    # --- mimic: benign glands, one layer of small regular basal nuclei pointing at a round lumen
    ben_lr = regions == MIMIC_CODE["benign_glands"]
    if ben_lr.any():
        glands(ben_lr, 62, (8, 16), (9, 12), 1, (3.4, 4.0), (2.2, 2.6), (0.7, 0.85), 1.0, 0.03,
               0.12, 0.0, 0.0, 0.42, 0.04, True)

    # --- tumour
    for morph in spec.tumour_morphologies:
        reg = regions == TUMOUR_CODE[morph]
        if not reg.any():
            continue
        if morph == "solid":
            # sheets: amphophilic cytoplasm, high nuclear/cytoplasmic ratio, enlarged pleomorphic
            # vesicular nuclei with nucleoli
            full = _region_full(regions, TUMOUR_CODE[morph], (W, H))
            cv.e[full] = 0.38
            cv.h[full] = 0.1
            pts = _jittered_grid(rng, reg, rng.uniform(10, 11.5) * px, g, 0.35)
            n = len(pts)
            grade = rng.uniform(3.8, 4.6)  # median nuclear semi-axis (µm) varies between tumours
            a = rng.lognormal(np.log(grade), 0.2, n)
            cv.nuclei(pts, a, a * rng.uniform(0.6, 0.95, n), rng.uniform(0, 180, n),
                      rng.uniform(0.7, 1.1, n), irregular=0.15, coarse=0.55, rim=0.35,
                      nucleolus=0.6, nucleolus_um=0.9)
        elif morph == "glandular":
            # crowded irregular glands, stratified enlarged nuclei in any orientation
            glands(reg, 50, (6, 15), (12, 17), 2, (4.2, 6.0), (2.5, 3.3), (0.8, 1.1), 0.3,
                   0.14, 0.55, 0.3, 0.35, 0.45, 0.1, False, crowd=1.0)
        else:
            # discohesive: single files of slightly enlarged round cells running with the fibres
            pts = _points(rng, reg, 55 * px, g)
            for x0, y0 in pts:
                th = math.radians(angle + rng.normal(0, 25))
                m = int(rng.integers(3, 10))
                step = rng.uniform(9, 12) * px
                s = np.arange(m) * step
                perp = rng.normal(0, 1.2 * px, m)
                ctr = np.stack([x0 + s * math.cos(th) - perp * math.sin(th),
                                y0 + s * math.sin(th) + perp * math.cos(th)], 1)
                keep = tissue[np.clip(ctr[:, 1].astype(int), 0, H - 1),
                              np.clip(ctr[:, 0].astype(int), 0, W - 1)]
                ctr, m = ctr[keep], int(keep.sum())
                cv.cells(ctr, rng.uniform(5.0, 6.0), 0.3, 0.06)
                r = rng.lognormal(np.log(3.9), 0.12, m)
                cv.nuclei(ctr + rng.normal(0, 1.0 * px, (m, 2)), r, r * rng.uniform(0.75, 0.95, m),
                          rng.uniform(0, 180, m), rng.uniform(0.85, 1.1, m), irregular=0.1,
                          coarse=0.45, rim=0.2, nucleolus=0.3, nucleolus_um=0.7)

    # --- chromatin texture: fine granules whose strength follows each nucleus's coarseness
    grain = np.empty((H, W), np.float32)
    cv2.setRNGSeed(int(spec.seed) % 2**31)
    cv2.randn(grain, 0.0, 1.0)
    sigma = 0.5 * px
    grain = cv2.GaussianBlur(grain, (0, 0), sigma)
    grain *= 2 * sigma * math.sqrt(math.pi)  # blurred unit white noise has std 1 / (2σ√π)
    grain *= cv.tex
    grain += 1
    np.maximum(grain, 0.2, out=grain)
    cv.h *= grain
    del grain

    # --- Beer–Lambert with this case's stain
    Hv = H_OD * (1 + srng.normal(0, 0.05, 3)).astype(np.float32) * srng.uniform(0.85, 1.15)
    Ev = E_OD * (1 + srng.normal(0, 0.05, 3)).astype(np.float32) * srng.uniform(0.8, 1.2)
    img = np.empty((H, W, 3), np.float32)
    for ch in range(3):
        img[..., ch] = BACKGROUND[ch] * np.exp(-(cv.h * Hv[ch] + cv.e * Ev[ch]))
    del cv

    # --- distractors
    if spec.pen:
        pen_col = np.array([60, 150, 95], np.float32) + rng.normal(0, 8, 3).astype(np.float32)
        k = int(rng.integers(3, 6))
        side = int(rng.integers(4))
        t = np.linspace(0.1, 0.9, k)
        jitter = rng.uniform(0.02, 0.1, k)
        if side < 2:
            x, y = t * W, (jitter if side == 0 else 1 - jitter) * H
        else:
            y, x = t * H, (jitter if side == 2 else 1 - jitter) * W
        pts = np.stack([x, y], 1).astype(np.int32)[:, None, :]
        layer = np.zeros((H, W), np.uint8)
        cv2.polylines(layer, [pts], False, 1, int(rng.uniform(25, 50) * px), lineType=cv2.LINE_AA)
        img[layer > 0] = 0.25 * img[layer > 0] + 0.75 * pen_col
    if spec.dust:
        for _ in range(int(rng.integers(3, 12))):
            c = (int(rng.uniform(0, W)), int(rng.uniform(0, H)))
            grey = float(rng.uniform(90, 170))
            cv2.circle(img, c, int(rng.uniform(2, 8) * px), (grey, grey, grey + 3), -1,
                       lineType=cv2.LINE_AA)

    # --- optics: slight blur and sensor noise
    img = cv2.GaussianBlur(img, (0, 0), 0.45 * px)
    scale = cfg.render_mpp / cfg.mpp
    img = cv2.resize(img[: int(math.ceil(spec.height / scale)), : int(math.ceil(spec.width / scale))],
                     None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)[: spec.height, : spec.width]
    noise = np.empty(img.shape[:2], np.float32)
    cv2.randn(noise, 0.0, 2.5)
    img += noise[..., None]
    rgb = np.clip(img, 0, 255, out=img).astype(np.uint8)
    return rgb, tissue_lr, tumour_lr


def write_pyramidal_tiff(path: str | Path, image: np.ndarray, mpp: float, *, tile: int = 256,
                         min_levels: int = 3, quality: int = 85) -> Path:
    """Write ``image`` as a tiled, JPEG-compressed pyramidal TIFF that OpenSlide opens.

    Levels halve in size until the smaller side is ≤ 512 px (and at least ``min_levels``); each
    level carries its resolution tags, so OpenSlide reports ``openslide.mpp-x``.
    """
    path = Path(path)
    with atomic_output(path) as tmp:
        big = image.nbytes > 2**31
        with tifffile.TiffWriter(tmp, bigtiff=big) as tw:
            level, i = image, 0
            while True:
                res = 1e4 / (mpp * 2 ** i)  # pixels per centimetre
                tw.write(level, tile=(tile, tile), compression="jpeg",
                         compressionargs={"level": quality}, photometric="rgb",
                         resolution=(res, res), resolutionunit="CENTIMETER",
                         subfiletype=1 if i else 0, metadata=None)
                i += 1
                if i >= min_levels and min(level.shape[:2]) <= 512:
                    break
                h, w = level.shape[:2]
                level = cv2.resize(level, (max(1, w // 2), max(1, h // 2)),
                                   interpolation=cv2.INTER_AREA)
    return path


# --------------------------------------------------------------------------------------------
# the cohort on disk
# --------------------------------------------------------------------------------------------
def _write_png(path: Path, mask: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", mask)
    with atomic_output(path) as tmp:
        tmp.write_bytes(buf.tobytes())


def _outputs(root: Path, slide_id: str) -> tuple[Path, Path, Path]:
    return (root / "slides" / f"{slide_id}.tiff", root / "masks" / f"{slide_id}.png",
            root / "masks" / f"{slide_id}_regions.png")


def _render_and_write(spec: SlideSpec, cfg: CohortConfig, root: Path) -> dict:
    """Render one slide and its masks (each file skipped when present) and return its labels
    row. Temporary files of an earlier, killed attempt at this slide are removed first."""
    slide_path, mask_path, region_path = _outputs(root, spec.slide_id)
    for path in (slide_path, mask_path, region_path):
        remove_partials(path)
    if not slide_path.exists():
        rgb, _, _ = render_slide(spec, cfg)
        write_pyramidal_tiff(slide_path, rgb, cfg.mpp, quality=cfg.jpeg_quality)
        del rgb
    regions = slide_regions(spec, cfg)  # cheap, so a resumed build recomputes the labels
    tissue, tumour = regions > 0, regions >= 4
    if not mask_path.exists():
        _write_png(mask_path, tumour.astype(np.uint8) * 255)
    if not region_path.exists():
        _write_png(region_path, regions)
    cell = _cell(cfg)
    n_tum = int((_grid_fraction(tumour, cell) >= PATCH_TUMOUR_THRESHOLD).sum())
    present = [m for m in spec.tumour_morphologies if (regions == TUMOUR_CODE[m]).any()]
    mimics = [m for m in MIMICS if (regions == MIMIC_CODE[m]).any()]
    return {"slide_id": spec.slide_id, "label": spec.label,
            "tumour_fraction": round(float(tumour.sum() / max(1, tissue.sum())), 5),
            "morphology": spec.morphology, "burden": burden_class(n_tum) if spec.label else "none",
            "case_id": spec.case_id, "morphologies": ";".join(present), "mimics": ";".join(mimics),
            "tumour_patches": n_tum, "width": spec.width, "height": spec.height,
            "pen_mark": spec.pen, "dust": spec.dust}


@dataclass
class Cohort:
    """Paths of a built cohort."""

    root: Path
    config: CohortConfig
    labels: pd.DataFrame = field(repr=False)

    @property
    def slides_dir(self) -> Path:
        return self.root / "slides"

    @property
    def labels_csv(self) -> Path:
        return self.root / "labels.csv"

    def slide_path(self, slide_id: str) -> Path:
        return self.slides_dir / f"{slide_id}.tiff"

    def tumour_mask(self, slide_id: str) -> tuple[np.ndarray, tuple[float, float]]:
        return load_tumour_mask(self.root, slide_id)

    def region_mask(self, slide_id: str) -> tuple[np.ndarray, tuple[float, float]]:
        return load_region_mask(self.root, slide_id)


def _config_dict(cfg: CohortConfig) -> dict:
    return json.loads(json.dumps(asdict(cfg)))  # tuples as lists, as they read back


def _retire_old_settings(root: Path, meta: dict) -> dict:
    """A cohort built by an older generator: drop the ``fold`` column its labels carried and the
    settings that made it (the runner now draws a partition per repeat), rewriting both files
    atomically. Slides, masks, cases and labels are untouched."""
    labels_path = root / "labels.csv"
    df = pd.read_csv(labels_path, dtype=str, keep_default_na=False)   # the text as written
    if "fold" in df:
        with atomic_output(labels_path) as tmp:
            df.drop(columns="fold").to_csv(tmp, index=False)
    meta = {k: v for k, v in meta.items() if k not in _RETIRED_SETTINGS}
    with atomic_output(root / "cohort.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    return meta


def build_cohort(root: str | Path, cfg: CohortConfig = CohortConfig(), workers: int = 2,
                 progress: bool = True) -> Cohort:
    """Generate the cohort under ``root`` (slides/, masks/, labels.csv, cohort.json).

    ``workers`` > 1 renders slides in a local Dask cluster of that many worker processes
    (:func:`milhelpers.cluster.run_tasks`), which stop when the build stops — Ctrl-C, or the
    process or notebook kernel killed.

    ``labels.csv`` columns: slide_id, label, tumour_fraction, morphology (primary), burden
    (from the count), case_id, morphologies and mimics (``;``-separated), tumour_patches
    (112-µm grid cells with ≥ 25 % tumour), width, height, pen_mark, dust. No ``fold``: the
    experiment runner draws a stratified, case-grouped partition for each repeat.
    Idempotent: a cohort already built with the same config is returned as is (one built by an
    older generator loses its ``fold`` column, nothing else); slides that already exist are not
    re-rendered. ``labels.csv`` is written last, so its presence marks a complete cohort.
    """
    root = Path(root)
    meta_path, labels_path = root / "cohort.json", root / "labels.csv"
    if meta_path.exists() and labels_path.exists():
        meta = json.loads(meta_path.read_text())
        if any(k in meta for k in _RETIRED_SETTINGS):
            if {k: v for k, v in meta.items() if k not in _RETIRED_SETTINGS} == _config_dict(cfg):
                meta = _retire_old_settings(root, meta)
        if meta == _config_dict(cfg):
            return Cohort(root, cfg, pd.read_csv(labels_path, keep_default_na=False))
        raise FileExistsError(f"{root} holds a cohort built with another config (see "
                              f"{meta_path}); choose another --root or delete it to rebuild.")
    (root / "slides").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    specs = plan_cohort(cfg)
    # largest first, so the last worker is not left alone with a big slide
    specs = sorted(specs, key=lambda sp: -sp.width * sp.height)
    if workers > 1:
        from .cluster import run_tasks

        def cleanup(slide_id: str) -> None:   # what a stopped worker was writing
            for path in _outputs(root, slide_id):
                remove_partials(path)

        done = run_tasks(_render_and_write, specs, keys=[sp.slide_id for sp in specs],
                         args=(cfg, root), scheduler=f"local:{workers}", desc="synthesising slides",
                         unit="slide", progress=progress, echo=None, cleanup=cleanup)
        if done.failed:
            raise RuntimeError("rendering failed for " + "; ".join(
                f"{k}: {v}" for k, v in done.failed.items()))
        rows = list(done.results.values())
    else:
        rows = [_render_and_write(sp, cfg, root) for sp in
                progress_bar(specs, desc="synthesising slides", enabled=progress)]
    df = pd.DataFrame(rows).sort_values("slide_id").reset_index(drop=True)
    with atomic_output(meta_path) as tmp:
        tmp.write_text(json.dumps(_config_dict(cfg), indent=1))
    with atomic_output(labels_path) as tmp:
        df.to_csv(tmp, index=False)
    return Cohort(root, cfg, pd.read_csv(labels_path, keep_default_na=False))


def _load_mask(root: Path, slide_id: str, name: str) -> tuple[np.ndarray, tuple[float, float]]:
    mask = cv2.imread(str(root / "masks" / name), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise FileNotFoundError(f"no mask {name} for {slide_id} under {root / 'masks'}; build the "
                                "cohort with `python -m milhelpers data`")
    labels = pd.read_csv(root / "labels.csv", index_col="slide_id")
    w, h = labels.loc[slide_id, ["width", "height"]]
    return mask, (w / mask.shape[1], h / mask.shape[0])


def load_tumour_mask(root: str | Path, slide_id: str) -> tuple[np.ndarray, tuple[float, float]]:
    """Ground-truth tumour mask (bool, low-res) and its (x, y) downsample relative to level 0."""
    mask, ds = _load_mask(Path(root), slide_id, f"{slide_id}.png")
    return mask > 127, ds


def load_region_mask(root: str | Path, slide_id: str) -> tuple[np.ndarray, tuple[float, float]]:
    """Region map (uint8 codes: ``REGIONS[code]`` names it) and its downsample to level 0."""
    return _load_mask(Path(root), slide_id, f"{slide_id}_regions.png")
