"""Shared fixtures: small generated slides (20× and 40×) with known tissue, and the real SVS."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from milhelpers import synth

ROOT = Path(__file__).resolve().parents[1]
REAL_SVS = ROOT / "data" / "cmu_small_region.svs"


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
