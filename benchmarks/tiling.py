"""Tiling benchmark: segmentation + grid + h5 on the real SVS and on a ≥50k × 50k pyramidal TIFF.

Prints patches/s, the ratio of tiling time to the time of reading the slide's low-resolution
level once (the floor for any tiler that looks at the whole slide), the wall time of the whole
`python -m milhelpers tile` command (imports included) and its peak memory.

    python benchmarks/tiling.py [--side 51200] [--keep]
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import imagecodecs
import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from milhelpers import tiling  # noqa: E402
from milhelpers.slides import Slide  # noqa: E402

TILE = 256


def _texture(rng, n):
    """A 256-px H&E-like tile (pink stroma + purple nuclei)."""
    img = np.full((n, n, 3), (232, 150, 190), np.uint8)
    for _ in range(60):
        x, y = rng.integers(0, n, 2)
        cv2.ellipse(img, (int(x), int(y)), (6, 4), float(rng.uniform(0, 180)), 0, 360, (80, 45, 130), -1)
    return img


def make_large_slide(path: Path, side: int, mpp: float = 0.25) -> Path:
    """A side×side pyramidal JPEG TIFF (0.25 µm/px) with a few large tissue blobs.

    Level-0 tiles are written from pre-encoded templates, so a 50k × 50k slide takes seconds.
    """
    rng = np.random.default_rng(0)
    grid = side // TILE
    # tissue layout on the tile grid: three elliptical blobs
    yy, xx = np.mgrid[0:grid, 0:grid] / grid
    tissue = np.zeros((grid, grid), bool)
    for cx, cy, r in [(0.3, 0.35, 0.18), (0.65, 0.6, 0.22), (0.35, 0.75, 0.1)]:
        tissue |= (xx - cx) ** 2 + (yy - cy) ** 2 < r ** 2
    tissue_jpg = imagecodecs.jpeg_encode(_texture(rng, TILE), level=80)
    white_jpg = imagecodecs.jpeg_encode(np.full((TILE, TILE, 3), 243, np.uint8), level=80)
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        level, ds = 0, 1
        while True:
            g = grid // ds
            res = 1e4 / (mpp * ds)
            kw = dict(tile=(TILE, TILE), compression="jpeg", photometric="rgb",
                      resolution=(res, res), resolutionunit="CENTIMETER",
                      subfiletype=1 if level else 0, metadata=None)
            if g >= 16:  # large levels: pre-encoded template tiles
                t = cv2.resize(tissue.astype(np.uint8), (g, g), interpolation=cv2.INTER_NEAREST) > 0
                tiles = (tissue_jpg if v else white_jpg for v in t.ravel())
                tw.write(tiles, shape=(g * TILE, g * TILE, 3), dtype=np.uint8, **kw)
            else:  # small levels: render from the layout mask
                n = side // ds
                m = cv2.resize(tissue.astype(np.uint8), (n, n), interpolation=cv2.INTER_NEAREST) > 0
                img = np.full((n, n, 3), 243, np.uint8)
                img[m] = (226, 150, 190)
                tw.write(img, **kw)
            level, ds = level + 1, ds * 2
            if side // ds < 512:
                break
    return path


def time_tiling(path: Path, out: Path, **kw) -> tuple[float, int]:
    t0 = time.perf_counter()
    res = tiling.tile_slide(path, out, qc=False, overwrite=True, **kw)
    return time.perf_counter() - t0, res.n_patches


def time_read_level(path: Path, long_side: int) -> tuple[float, tuple[int, int]]:
    with Slide(path) as s:
        lvl = int(np.argmin([abs(max(d) - long_side) for d in s.level_dimensions]))
        t0 = time.perf_counter()
        s.read_level(lvl)
        return time.perf_counter() - t0, s.level_dimensions[lvl]


def time_cli(path: Path, out: Path) -> tuple[float, float]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "milhelpers", "tile", str(path), str(out),
                        "--overwrite"], capture_output=True, text=True, cwd=ROOT)
    dt = time.perf_counter() - t0
    if r.returncode:
        raise RuntimeError(r.stderr)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return dt, peak_mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", type=int, default=51200)
    ap.add_argument("--keep", action="store_true", help="keep the generated slide")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tiling_bench_"))

    rows = []
    svs = ROOT / "data" / "cmu_small_region.svs"
    time_tiling(svs, tmp / "warm")  # warm caches and imports
    t_tile, n = min(time_tiling(svs, tmp / "svs") for _ in range(3))
    t_read, dims = min(time_read_level(svs, 2500) for _ in range(3))
    rows.append(("real SVS 2220×2967 (20×)", n, t_tile, t_read, dims))

    t0 = time.perf_counter()
    big = make_large_slide(tmp / "large.tiff", args.side)
    gen = time.perf_counter() - t0
    size_mb = big.stat().st_size / 2**20
    t_tile, n = min(time_tiling(big, tmp / "big") for _ in range(3))
    t_read, dims = min(time_read_level(big, 2500) for _ in range(3))
    rows.append((f"synthetic {args.side}×{args.side} (40×)", n, t_tile, t_read, dims))
    t_cli, peak = time_cli(big, tmp / "cli")

    print(f"generated the large slide in {gen:.1f} s ({size_mb:.0f} MB)\n")
    print(f"{'slide':32s} {'patches':>8s} {'tile s':>8s} {'patches/s':>10s} {'read-level s':>13s} {'ratio':>6s}")
    for name, n, t, r, d in rows:
        print(f"{name:32s} {n:8d} {t:8.3f} {n / t:10.0f} {r:13.3f} {t / r:6.2f}   (level {d[0]}×{d[1]})")
    print(f"\nwhole `python -m milhelpers tile` on the large slide (imports + QC image): {t_cli:.2f} s, "
          f"peak RSS {peak:.0f} MB")
    print("targets: tiling ≤ 3× reading the ~2500-px level; CLI ≤ 6 s "
          "(histolab's tissue-checked tiler: ~120 s on a 40k × 40k slide, measured for the issue)")
    if not args.keep:
        for p in sorted(tmp.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        tmp.rmdir()


if __name__ == "__main__":
    main()
