"""Shared fixtures: small generated slides (20× and 40×) with known tissue, and the real SVS."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from milhelpers import synth

ROOT = Path(__file__).resolve().parents[1]
REAL_SVS = ROOT / "data" / "cmu_small_region.svs"


def pytest_configure(config):
    """Under pytest-xdist (``make unit`` runs one worker per core), each worker and every program
    its tests start (chapters, the command line) get an equal share of the cores: two workers
    each running torch with a thread per core would put twice as many busy threads as cores,
    and OpenMP's spin-waiting makes that several times slower, not merely shared. An
    ``OMP_NUM_THREADS`` set by the caller wins."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        threads = int(os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (cores or 1) // workers))))
        torch.set_num_threads(threads)


def _block_slide(width: int, height: int) -> np.ndarray:
    """White slide with one pink H&E-like rectangle at a known place (x 25–75 %, y 20–60 %)."""
    img = np.full((height, width, 3), 242, np.uint8)
    rng = np.random.default_rng(0)
    x0, x1, y0, y1 = width // 4, 3 * width // 4, height // 5, 3 * height // 5
    tissue = np.array([225, 140, 185], np.uint8)
    img[y0:y1, x0:x1] = tissue
    pts = rng.integers([x0, y0], [x1, y1], size=(400, 2))
    for x, y in pts:  # nuclei
        img[max(y - 3, 0):y + 3, max(x - 3, 0):x + 3] = (80, 45, 130)
    return img


@pytest.fixture(scope="session")
def block_slides(tmp_path_factory) -> dict[float, Path]:
    """The same physical tissue block scanned at 0.5 µm/px (20×) and at 0.25 µm/px (40×)."""
    d = tmp_path_factory.mktemp("block")
    out = {}
    img20 = _block_slide(4096, 3072)
    out[0.5] = synth.write_pyramidal_tiff(d / "block20.tiff", img20, 0.5)
    img40 = np.repeat(np.repeat(img20, 2, axis=0), 2, axis=1)
    out[0.25] = synth.write_pyramidal_tiff(d / "block40.tiff", img40, 0.25)
    return out


@pytest.fixture(scope="session")
def synthetic_slide(tmp_path_factory):
    """One rendered cohort slide with a pen mark and tumour: (path, spec, tissue mask, tumour mask)."""
    cfg = synth.CohortConfig(n_slides=10, seed=3, min_side_mm=1.2, max_side_mm=1.4)
    spec = synth.SlideSpec("s_pen", 1, "solid", "large", 2600, 2400, seed=11, pen=True, dust=True)
    rgb, tissue, tumour = synth.render_slide(spec, cfg)
    path = synth.write_pyramidal_tiff(tmp_path_factory.mktemp("synth") / "s_pen.tiff", rgb, cfg.mpp)
    return path, spec, tissue, tumour, rgb


@pytest.fixture(scope="session")
def blank_slide(tmp_path_factory) -> Path:
    img = np.full((1024, 1024, 3), 243, np.uint8)
    return synth.write_pyramidal_tiff(tmp_path_factory.mktemp("blank") / "blank.tiff", img, 0.5)


def write_aperio_svs(path: Path, image: np.ndarray, mpp: float = 0.499, app_mag: int = 20,
                     steps: tuple[int, ...] = (1, 4, 16, 64), tile: int = 256) -> Path:
    """An Aperio-style SVS as a scanner writes it: tiled JPEG levels whose downsamples step by 4,
    a stripped thumbnail as the second directory, and an ImageDescription starting with
    "Aperio" and carrying ``MPP`` and ``AppMag`` (what OpenSlide's Aperio reader looks for)."""
    import cv2
    import tifffile

    h, w = image.shape[:2]
    desc = (f"Aperio Image Library v12.0.15\r\n{w}x{h} [0,0 {w}x{h}] ({tile}x{tile}) JPEG/RGB "
            f"Q=70|AppMag = {app_mag}|MPP = {mpp}")
    with tifffile.TiffWriter(path, bigtiff=False) as tw:
        for i, ds in enumerate(steps):
            lw, lh = max(1, w // ds), max(1, h // ds)
            lvl = image if ds == 1 else cv2.resize(image, (lw, lh), interpolation=cv2.INTER_AREA)
            tw.write(lvl, tile=(tile, tile), compression="jpeg", photometric="rgb",
                     description=desc if i == 0 else f"Aperio level {ds}", metadata=None)
            if i == 0:  # the thumbnail directory Aperio files have
                th = cv2.resize(image, (max(1, w // 32), max(1, h // 32)),
                                interpolation=cv2.INTER_AREA)
                tw.write(th, compression="jpeg", photometric="rgb",
                         description=f"Aperio thumbnail {th.shape[1]}x{th.shape[0]}", metadata=None)
    return path


# The browser test (JupyterLab + Chromium) runs only through `make browser-test`, which installs
# what it needs and sets MIL_BROWSER_TEST=1; `pytest tests` never collects it.
collect_ignore = [] if os.environ.get("MIL_BROWSER_TEST") == "1" else ["browser"]
