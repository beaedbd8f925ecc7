"""A synthetic slide cohort with ground truth: H&E-like pyramidal TIFFs, tumour masks, labels.

Real annotated WSIs are gigabytes and licence-bound; this generator gives the course slides that
OpenSlide opens like any scanner file and whose truth we know exactly, so every later chapter can
check attention against tumour masks. It is deterministic from a seed and exhibits what the MIL
chapters need:

* H&E-like tissue fragments (pink eosin stroma, purple haematoxylin nuclei, fat vacuoles) on a
  white background, plus distractors tissue detection must ignore (green pen marks, grey dust);
* tumour in two morphologies whose nuclei differ from normal ones: ``solid`` sheets of large,
  dark, crowded, irregular nuclei, and ``glandular`` rings of enlarged columnar nuclei around
  lumina, so discriminative instances form several clusters;
* tumour burden from a micro-metastasis covering a handful of patches to large regions;
* slide sizes varying so that bag lengths differ by more than 10×.
"""
from __future__ import annotations

import json
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import tifffile

from ._progress import progress_bar
from .h5io import atomic_output

__all__ = ["MORPHOLOGIES", "BURDENS", "CohortConfig", "SlideSpec", "plan_cohort", "render_slide",
           "write_pyramidal_tiff", "build_cohort", "load_tumour_mask", "Cohort"]

MORPHOLOGIES = ("solid", "glandular")
BURDENS = ("micro", "small", "large")

BACKGROUND = np.array([243, 241, 243], np.float32)


@dataclass(frozen=True)
class CohortConfig:
    """Everything that determines the cohort; the same config always gives the same pixels."""

    n_slides: int = 120
    seed: int = 0
    mpp: float = 0.5                  # level-0 µm/px (20×)
    min_side_mm: float = 0.6          # canvas side, drawn log-uniformly between these
    max_side_mm: float = 2.4
    positive_fraction: float = 0.5
    morphologies: tuple[str, ...] = MORPHOLOGIES
    burden_weights: tuple[float, float, float] = (0.3, 0.35, 0.35)  # micro, small, large
    pen_probability: float = 0.3
    dust_probability: float = 0.5
    n_folds: int = 5
    mask_downsample: int = 8           # tumour masks are stored at level-0 / 8
    jpeg_quality: int = 85

    def __post_init__(self):
        unknown = set(self.morphologies) - set(MORPHOLOGIES)
        if unknown:
            raise ValueError(f"unknown morphologies {sorted(unknown)}; choose from {MORPHOLOGIES}")
        if self.n_slides < 2 * self.n_folds:
            raise ValueError(f"n_slides={self.n_slides} is too few for {self.n_folds} folds")


@dataclass(frozen=True)
class SlideSpec:
    slide_id: str
    label: int
    morphology: str   # 'none' for negatives
    burden: str       # 'none' for negatives
    width: int
    height: int
    seed: int
    pen: bool
    dust: bool


def plan_cohort(cfg: CohortConfig) -> list[SlideSpec]:
    """Decide every slide's label, morphology, burden and size (cheap; no pixels)."""
    rng = np.random.default_rng(cfg.seed)
    n_pos = int(round(cfg.n_slides * cfg.positive_fraction))
    labels = np.array([1] * n_pos + [0] * (cfg.n_slides - n_pos))
    rng.shuffle(labels)
    specs = []
    k = 0
    w = np.asarray(cfg.burden_weights, float)
    for i, y in enumerate(labels):
        side = np.exp(rng.uniform(np.log(cfg.min_side_mm), np.log(cfg.max_side_mm)))
        aspect = rng.uniform(0.75, 1.33)
        width = int(side * 1000 / cfg.mpp * math.sqrt(aspect))
        height = int(side * 1000 / cfg.mpp / math.sqrt(aspect))
        if y:
            morph = cfg.morphologies[k % len(cfg.morphologies)]
            burden = str(rng.choice(BURDENS, p=w / w.sum()))
            k += 1
        else:
            morph, burden = "none", "none"
        specs.append(SlideSpec(f"synth_{i:03d}", int(y), morph, burden, width, height,
                               int(rng.integers(2**31)), bool(rng.random() < cfg.pen_probability),
                               bool(rng.random() < cfg.dust_probability)))
    return specs


# --------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------
def _smooth_noise(rng, shape, cells: float) -> np.ndarray:
    """Smooth random field in [−1, 1]-ish with about ``cells`` blobs across the larger side."""
    h, w = shape
    gh, gw = max(2, int(round(cells * h / max(h, w))) + 2), max(2, int(round(cells * w / max(h, w))) + 2)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _blob(shape, centre, radius_px, rng, roughness=0.35) -> np.ndarray:
    """A rough, roughly elliptical region (float field > 0 inside)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ax = radius_px * rng.uniform(0.7, 1.3)
    ay = radius_px * rng.uniform(0.7, 1.3)
    d = np.sqrt(((xx - centre[0]) / ax) ** 2 + ((yy - centre[1]) / ay) ** 2)
    cells = max(3.0, 3 * max(h, w) / max(radius_px, 1))
    return 1.0 - d + roughness * _smooth_noise(rng, shape, cells)


def _masks_lowres(spec: SlideSpec, cfg: CohortConfig, rng) -> tuple[np.ndarray, np.ndarray]:
    """Tissue and tumour masks at level-0 / mask_downsample."""
    g = cfg.mask_downsample
    um = cfg.mpp * g  # µm per low-res pixel
    h, w = int(math.ceil(spec.height / g)), int(math.ceil(spec.width / g))
    n_frag = int(rng.choice([1, 1, 2, 3]))
    field_ = np.full((h, w), -np.inf, np.float32)
    for _ in range(n_frag):
        spread = 0.12 if n_frag == 1 else 0.22
        c = (rng.uniform(0.5 - spread, 0.5 + spread) * w, rng.uniform(0.5 - spread, 0.5 + spread) * h)
        r = min(h, w) * rng.uniform(0.26, 0.34) * (1.0 if n_frag == 1 else 0.7)
        field_ = np.maximum(field_, _blob((h, w), c, r, rng, 0.3))
    # taper towards the canvas edge so fragments never touch it
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    edge = np.minimum(np.minimum(xx, w - 1 - xx) / w, np.minimum(yy, h - 1 - yy) / h)
    tissue = (field_ - np.clip(0.08 - edge, 0, None) * 20) > 0
    # fat vacuoles: holes in the tissue
    ys, xs = np.nonzero(tissue)
    for _ in range(int(rng.integers(2, 8))):
        if len(xs) == 0:
            break
        j = rng.integers(len(xs))
        rad = max(1, int(rng.uniform(25, 90) / um))
        cv2.circle(tissue.view(np.uint8), (int(xs[j]), int(ys[j])), rad, 0, -1)
    tissue = tissue.astype(bool)
    tumour = np.zeros_like(tissue)
    if spec.label:
        ys, xs = np.nonzero(tissue)
        if spec.burden == "micro":
            radii, n = (60, 100), 1
        elif spec.burden == "small":
            radii, n = (140, 260), int(rng.integers(1, 3))
        else:
            radii, n = (350, 650), int(rng.integers(1, 3))
        depth = cv2.distanceTransform(tissue.astype(np.uint8), cv2.DIST_L2, 5)
        for _ in range(n):
            r = rng.uniform(*radii) / um
            # centre the lesion inside the tissue (not on its edge) where the tissue is deep enough
            inner = np.flatnonzero(depth[ys, xs] >= min(r, 0.8 * depth.max()))
            j = rng.choice(inner) if len(inner) else rng.integers(len(xs))
            tumour |= _blob((h, w), (xs[j], ys[j]), r, rng, 0.25 if spec.burden != "micro" else 0.1) > 0
        tumour &= tissue
        if tumour.sum() == 0:  # guarantee a positive slide has tumour
            j = rng.integers(len(xs))
            cv2.circle(tumour.view(np.uint8), (int(xs[j]), int(ys[j])), max(2, int(60 / um)), 1, -1)
            tumour &= tissue
    return tissue, tumour


def _upsample_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Smooth-edged upsampling of a low-res boolean mask to (w, h)."""
    up = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    return up > 0.5


def _draw_nuclei(img, centres, axes, angles, colours):
    for (x, y), (a, b), t, c in zip(centres, axes, angles, colours):
        cv2.ellipse(img, (int(x), int(y)), (max(1, int(a)), max(1, int(b))), float(t), 0, 360,
                    tuple(float(v) for v in c), -1, lineType=cv2.LINE_AA)


def _poisson_points(rng, region: np.ndarray, spacing_px: float, g: int) -> np.ndarray:
    """Random points (level-0 px) inside a low-res region, one per ``spacing_px``² on average."""
    ys, xs = np.nonzero(region)
    if len(xs) == 0:
        return np.zeros((0, 2))
    n = rng.poisson(len(xs) * (g * g) / spacing_px ** 2)
    j = rng.integers(len(xs), size=n)
    return np.stack([(xs[j] + rng.random(n)) * g, (ys[j] + rng.random(n)) * g], 1)


def render_slide(spec: SlideSpec, cfg: CohortConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one slide: ``(rgb level-0 image, tissue mask, tumour mask)`` (masks low-res)."""
    rng = np.random.default_rng(spec.seed)
    g = cfg.mask_downsample
    px = 1.0 / cfg.mpp  # pixels per µm
    W, H = spec.width, spec.height
    tissue_lr, tumour_lr = _masks_lowres(spec, cfg, rng)
    tissue = _upsample_mask(tissue_lr, (W, H))
    tumour = _upsample_mask(tumour_lr, (W, H)) & tissue

    # stain variation per slide
    eosin = np.array([236, 152, 190], np.float32) + rng.normal(0, 6, 3).astype(np.float32)
    haem = np.array([78, 48, 132], np.float32) + rng.normal(0, 6, 3).astype(np.float32)

    img = np.empty((H, W, 3), np.float32)
    img[:] = BACKGROUND
    # stroma: streaky fibres = anisotropic noise modulating eosin intensity
    fib = cv2.resize(rng.standard_normal((max(2, H // 24), max(2, W // 96))).astype(np.float32),
                     (W, H), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        fib = cv2.resize(rng.standard_normal((max(2, H // 96), max(2, W // 24))).astype(np.float32),
                         (W, H), interpolation=cv2.INTER_LINEAR)
    shade = 1.0 + 0.06 * fib + 0.04 * _smooth_noise(rng, (H, W), 6)
    img[tissue] = eosin[None] * shade[tissue][:, None]

    if spec.label and spec.morphology == "solid":
        cyto = np.array([206, 146, 200], np.float32)
        img[tumour] = cyto * (1 + 0.04 * np.random.default_rng(spec.seed + 1).standard_normal(
            (int(tumour.sum()), 1))).astype(np.float32)

    normal_region = tissue_lr & ~cv2.dilate(tumour_lr.astype(np.uint8), np.ones((3, 3))).astype(bool)
    # normal nuclei: elongated fibroblasts + round lymphocytes, sparse
    pts = _poisson_points(rng, normal_region, 16 * px, g)
    n = len(pts)
    lymph = rng.random(n) < 0.3
    a = np.where(lymph, rng.uniform(2.2, 3.0, n), rng.uniform(3.5, 5.5, n)) * px
    b = np.where(lymph, a / px * rng.uniform(0.85, 1.0, n), rng.uniform(1.2, 2.0, n)) * px
    cols = haem[None] * rng.uniform(0.9, 1.1, (n, 1)) * np.where(lymph, 0.75, 1.0)[:, None]
    _draw_nuclei(img, pts, np.stack([a, b], 1), rng.uniform(0, 180, n), cols)

    if spec.label and spec.morphology == "solid":
        pts = _poisson_points(rng, tumour_lr, 9.5 * px, g)
        n = len(pts)
        a = rng.uniform(3.6, 6.0, n) * px
        b = a * rng.uniform(0.6, 0.95, n)
        cols = haem[None] * rng.uniform(0.55, 0.75, (n, 1))
        _draw_nuclei(img, pts, np.stack([a, b], 1), rng.uniform(0, 180, n), cols)
    elif spec.label and spec.morphology == "glandular":
        lumen_col = np.array([246, 236, 242], np.float32)
        epi_col = np.array([214, 140, 196], np.float32)
        centres = _poisson_points(rng, tumour_lr, 40 * px, g)
        if len(centres) == 0:
            ys, xs = np.nonzero(tumour_lr)
            centres = np.array([[xs[len(xs) // 2] * g, ys[len(ys) // 2] * g]], float)
        tum_u8 = tumour.astype(np.uint8)
        gland_layer = np.zeros((H, W), np.uint8)
        nuclei = []
        for cx, cy in centres:
            r_l = rng.uniform(10, 22) * px
            r_o = r_l + rng.uniform(11, 15) * px
            cv2.circle(gland_layer, (int(cx), int(cy)), int(r_o), 1, -1)
            cv2.circle(gland_layer, (int(cx), int(cy)), int(r_l), 2, -1)
            m = int(2 * np.pi * (r_l + 5 * px) / (5.5 * px))
            th = np.linspace(0, 2 * np.pi, m, endpoint=False) + rng.uniform(0, 1)
            rr = r_l + rng.uniform(4, 7, m) * px
            for t, r in zip(th, rr):
                nuclei.append((cx + r * np.cos(t), cy + r * np.sin(t), np.degrees(t)))
        gland_layer *= tum_u8
        img[gland_layer == 1] = epi_col
        img[gland_layer == 2] = lumen_col
        if nuclei:
            nu = np.asarray(nuclei)
            n = len(nu)
            inside = tum_u8[np.clip(nu[:, 1].astype(int), 0, H - 1),
                            np.clip(nu[:, 0].astype(int), 0, W - 1)] > 0
            nu = nu[inside]
            n = len(nu)
            axes = np.stack([rng.uniform(4.0, 5.5, n) * px, rng.uniform(1.8, 2.6, n) * px], 1)
            cols = haem[None] * rng.uniform(0.6, 0.8, (n, 1))
            _draw_nuclei(img, nu[:, :2], axes, nu[:, 2], cols)

    # distractors
    if spec.pen:
        pen_col = np.array([60, 150, 95], np.float32) + rng.normal(0, 8, 3).astype(np.float32)
        k = int(rng.integers(3, 6))
        side = int(rng.integers(4))
        t = np.linspace(0.1, 0.9, k)
        jitter = rng.uniform(0.02, 0.1, k)
        if side < 2:
            x = t * W
            y = (jitter if side == 0 else 1 - jitter) * H
        else:
            y = t * H
            x = (jitter if side == 2 else 1 - jitter) * W
        pts = np.stack([x, y], 1).astype(np.int32)[:, None, :]
        layer = np.zeros((H, W), np.uint8)
        cv2.polylines(layer, [pts], False, 1, int(rng.uniform(25, 50) * px), lineType=cv2.LINE_AA)
        alpha = 0.75
        img[layer > 0] = (1 - alpha) * img[layer > 0] + alpha * pen_col
    if spec.dust:
        for _ in range(int(rng.integers(3, 12))):
            c = (int(rng.uniform(0, W)), int(rng.uniform(0, H)))
            grey = float(rng.uniform(90, 170))
            cv2.circle(img, c, int(rng.uniform(2, 8) * px), (grey, grey, grey + 3), -1,
                       lineType=cv2.LINE_AA)

    # optics: slight blur and sensor noise
    img = cv2.GaussianBlur(img, (0, 0), 0.6 * px)
    noise = np.empty((H, W), np.float32)
    cv2.setRNGSeed(spec.seed % 2**31)
    cv2.randn(noise, 0.0, 3.0)
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
def _render_and_write(args) -> dict:
    spec, cfg, root = args
    slide_path = root / "slides" / f"{spec.slide_id}.tiff"
    mask_path = root / "masks" / f"{spec.slide_id}.png"
    if slide_path.exists() and mask_path.exists():  # resuming: only the masks are needed
        tissue_lr, tumour_lr = _masks_lowres(spec, cfg, np.random.default_rng(spec.seed))
    else:
        rgb, tissue_lr, tumour_lr = render_slide(spec, cfg)
        if not slide_path.exists():
            write_pyramidal_tiff(slide_path, rgb, cfg.mpp, quality=cfg.jpeg_quality)
    if not mask_path.exists():
        ok, buf = cv2.imencode(".png", tumour_lr.astype(np.uint8) * 255)
        with atomic_output(mask_path) as tmp:
            tmp.write_bytes(buf.tobytes())
    frac = float(tumour_lr.sum() / max(1, tissue_lr.sum()))
    return {"slide_id": spec.slide_id, "label": spec.label, "tumour_fraction": round(frac, 5),
            "morphology": spec.morphology, "burden": spec.burden, "width": spec.width,
            "height": spec.height, "pen_mark": spec.pen, "dust": spec.dust}


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


def _config_dict(cfg: CohortConfig) -> dict:
    d = asdict(cfg)
    d["morphologies"] = list(cfg.morphologies)
    d["burden_weights"] = list(cfg.burden_weights)
    return d


def build_cohort(root: str | Path, cfg: CohortConfig = CohortConfig(), workers: int = 2,
                 progress: bool = True) -> Cohort:
    """Generate the cohort under ``root`` (slides/, masks/, labels.csv, cohort.json).

    Idempotent: a cohort already built with the same config is returned as is; slides that
    already exist are not re-rendered. ``labels.csv`` is written last, so its presence marks
    a complete cohort.
    """
    from sklearn.model_selection import StratifiedKFold
    root = Path(root)
    meta_path, labels_path = root / "cohort.json", root / "labels.csv"
    if meta_path.exists() and labels_path.exists():
        if json.loads(meta_path.read_text()) == _config_dict(cfg):
            return Cohort(root, cfg, pd.read_csv(labels_path))
        raise FileExistsError(f"{root} holds a cohort built with another config; choose another "
                              "folder or delete it to rebuild.")
    (root / "slides").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    specs = plan_cohort(cfg)
    jobs = [(s, cfg, root) for s in specs]
    rows: list[dict] = []
    bar = progress_bar(total=len(jobs), desc="synthesising slides", enabled=progress)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for row in pool.map(_render_and_write, jobs, chunksize=1):
                rows.append(row)
                bar.update()
    else:
        for job in jobs:
            rows.append(_render_and_write(job))
            bar.update()
    bar.close()
    df = pd.DataFrame(rows)
    skf = StratifiedKFold(cfg.n_folds, shuffle=True, random_state=cfg.seed)
    df["fold"] = -1
    for k, (_, test) in enumerate(skf.split(df, df["label"])):
        df.loc[test, "fold"] = k
    with atomic_output(meta_path) as tmp:
        tmp.write_text(json.dumps(_config_dict(cfg), indent=1))
    with atomic_output(labels_path) as tmp:
        df.to_csv(tmp, index=False)
    return Cohort(root, cfg, df)


def load_tumour_mask(root: str | Path, slide_id: str) -> tuple[np.ndarray, tuple[float, float]]:
    """Ground-truth tumour mask (bool, low-res) and its (x, y) downsample relative to level 0."""
    root = Path(root)
    mask = cv2.imread(str(root / "masks" / f"{slide_id}.png"), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise FileNotFoundError(f"no tumour mask for {slide_id} under {root / 'masks'}")
    labels = pd.read_csv(root / "labels.csv", index_col="slide_id")
    w, h = labels.loc[slide_id, ["width", "height"]]
    return mask > 127, (w / mask.shape[1], h / mask.shape[0])
