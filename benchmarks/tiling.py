"""Tiling benchmark: segmentation + grid + h5 on the real SVS, on a generated pyramidal TIFF whose
levels step by 2, and on Aperio-style SVS files whose levels step by 4 (downsamples 1, 4, 16, 64),
as scanners write them: a 40,000² 20× slide and a 100,000 × 80,000 40× slide.

For each slide it prints the patches, the tiling time (in-process `tile_slide`, QC image
included) and patches/s, the ratio of tiling time to reading the level that segmentation uses
(the floor for any tiler that looks at the whole slide; median and range over interleaved pairs
in alternating order, since one measurement of each side is not a ratio on a shared machine),
and the wall time and peak RSS of the whole `python -m milhelpers tile` command (imports and
QC included; peak RSS measured from a small intermediary process).

    python benchmarks/tiling.py [--pairs 5] [--runs 3] [--only svs,tiff,aperio20,aperio40] [--keep]

Targets on a 2-core machine: 40,000² Aperio 20× ≤ 2 s and ≤ 600 MB for the whole command;
100,000 × 80,000 Aperio 40× ≤ 1 GB.
"""
from __future__ import annotations

import argparse
import statistics
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


def _layout(gw: int, gh: int) -> np.ndarray:
    """Tissue layout on a gw × gh grid: three elliptical blobs."""
    yy, xx = np.mgrid[0:gh, 0:gw]
    yy, xx = yy / gh, xx / gw
    tissue = np.zeros((gh, gw), bool)
    for cx, cy, r in [(0.3, 0.35, 0.18), (0.65, 0.6, 0.22), (0.35, 0.75, 0.1)]:
        tissue |= (xx - cx) ** 2 + (yy - cy) ** 2 < r ** 2
    return tissue


def make_aperio_svs(path: Path, width: int, height: int, mpp: float, app_mag: int,
                    steps: tuple[int, ...] = (1, 4, 16, 64)) -> Path:
    """An Aperio-style SVS: tiled JPEG levels with downsamples ``steps``, a stripped thumbnail as
    the second directory, and an ImageDescription that starts with "Aperio" and carries
    ``AppMag`` and ``MPP`` (what OpenSlide's Aperio reader needs).

    Tissue is laid out on blocks of ``TILE · steps[1]`` level-0 px, so every level shows the same
    tissue: levels of at least 64 tiles are streamed as pre-encoded template tiles from a
    generator (one tile never straddles a block edge), smaller ones are rendered. A 100,000 ×
    80,000 slide therefore never exists in memory.
    """
    rng = np.random.default_rng(0)
    tissue_jpg = imagecodecs.jpeg_encode(_texture(rng, TILE), level=80)
    white_jpg = imagecodecs.jpeg_encode(np.full((TILE, TILE, 3), 243, np.uint8), level=80)
    block = TILE * steps[1]
    blocks = _layout(-(-width // block), -(-height // block))
    desc = (f"Aperio Image Library v12.0.15\r\n{width}x{height} [0,0 {width}x{height}] "
            f"({TILE}x{TILE}) JPEG/RGB Q=80|AppMag = {app_mag}|MPP = {mpp}")
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for i, ds in enumerate(steps):
            lw, lh = -(-width // ds), -(-height // ds)
            gw, gh = -(-lw // TILE), -(-lh // TILE)
            kw = dict(tile=(TILE, TILE), compression="jpeg", photometric="rgb", metadata=None,
                      description=desc if i == 0 else f"Aperio level {ds}")
            if gw * gh >= 64 and TILE * ds <= block:
                t = blocks[np.arange(gh) * TILE * ds // block][:, np.arange(gw) * TILE * ds // block]
                tw.write((tissue_jpg if v else white_jpg for v in t.ravel()), shape=(lh, lw, 3),
                         dtype=np.uint8, **kw)
            else:
                m = blocks[np.arange(lh) * ds // block][:, np.arange(lw) * ds // block]
                img = np.full((lh, lw, 3), 243, np.uint8)
                img[m] = (226, 150, 190)
                tw.write(img, **kw)
            if i == 0:
                tw.write(np.full((256, 256 * width // height, 3), 243, np.uint8), metadata=None,
                         compression="jpeg", photometric="rgb", description="Aperio thumbnail")
    return path


def _segmentation_read(path: Path) -> tuple[int, tuple[int, int], float]:
    """The level segmentation reads, the size it resamples it to, and the time that read takes."""
    with Slide(path) as s:
        params = tiling.get_preset("biopsy")
        level, mask_ds = tiling.segmentation_level(s.level_downsamples,
                                                   max(1.0, params.seg_mpp / s.mpp))
        size = (max(1, round(s.dimensions[0] / mask_ds)), max(1, round(s.dimensions[1] / mask_ds)))
        t0 = time.perf_counter()
        s.read_level_resized(level, size)
        return level, size, time.perf_counter() - t0


def ratio_pairs(path: Path, out: Path, pairs: int) -> dict:
    """Interleaved pairs (tiling, reading the segmentation level) in alternating order."""
    tile_s, read_s, n = [], [], 0
    for k in range(pairs):
        for side in ((0, 1) if k % 2 == 0 else (1, 0)):
            if side == 0:
                t0 = time.perf_counter()
                n = tiling.tile_slide(path, out, overwrite=True).n_patches
                tile_s.append(time.perf_counter() - t0)
            else:
                level, size, dt = _segmentation_read(path)
                read_s.append(dt)
    ratios = [t / r for t, r in zip(tile_s, read_s)]
    return dict(n=n, tile=statistics.median(tile_s), read=statistics.median(read_s),
                ratio=statistics.median(ratios), lo=min(ratios), hi=max(ratios),
                level=level, size=size)


#: Runs the command in a small intermediary process: a child forked from this (large) benchmark
#: process would count the parent's pages in its own peak RSS.
_MEASURE = ("import resource, subprocess, sys, time\n"
            "t0 = time.perf_counter()\n"
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
            "dt = time.perf_counter() - t0\n"
            "sys.stderr.write(r.stderr.decode())\n"
            "print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.exit(r.returncode)")


def time_cli(path: Path, out: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one whole `python -m milhelpers tile` command."""
    r = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "milhelpers", "tile",
                        str(path), str(out), "--overwrite"], capture_output=True, text=True,
                       cwd=ROOT)
    if r.returncode:
        raise RuntimeError(r.stderr)
    dt, kb = r.stdout.split()
    return float(dt), float(kb) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=5, help="interleaved (tile, read) pairs per slide")
    ap.add_argument("--runs", type=int, default=3, help="runs of the whole CLI command per slide")
    ap.add_argument("--side", type=int, default=51200, help="side of the 2×-step TIFF")
    ap.add_argument("--only", default="svs,tiff,aperio20,aperio40",
                    help="comma-separated subset of svs,tiff,aperio20,aperio40")
    ap.add_argument("--keep", action="store_true", help="keep the generated slides")
    args = ap.parse_args()
    only = set(args.only.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="tiling_bench_"))

    slides = []
    if "svs" in only:
        slides.append(("real SVS 2220×2967 (20×, 1 level)", ROOT / "data" / "cmu_small_region.svs"))
    makers = {
        "tiff": (f"2×-step TIFF {args.side}² (40×)",
                 lambda: make_large_slide(tmp / "large.tiff", args.side)),
        "aperio20": ("Aperio 40,000² (20×, 4× steps)",
                     lambda: make_aperio_svs(tmp / "aperio20.svs", 40000, 40000, 0.499, 20)),
        "aperio40": ("Aperio 100,000×80,000 (40×, 4× steps)",
                     lambda: make_aperio_svs(tmp / "aperio40.svs", 100000, 80000, 0.2499, 40)),
    }
    for key, (name, make) in makers.items():
        if key in only:
            t0 = time.perf_counter()
            path = make()
            print(f"generated {name} in {time.perf_counter() - t0:.1f} s "
                  f"({path.stat().st_size / 2**20:.0f} MB)", flush=True)
            slides.append((name, path))

    rows = []
    for name, path in slides:
        tiling.tile_slide(path, tmp / "warm", overwrite=True)  # warm caches and imports
        r = ratio_pairs(path, tmp / "pairs", args.pairs)
        cli = [time_cli(path, tmp / "cli") for _ in range(args.runs)]
        r.update(cli=statistics.median(c[0] for c in cli), cli_lo=min(c[0] for c in cli),
                 cli_hi=max(c[0] for c in cli), rss=max(c[1] for c in cli))
        rows.append((name, r))
        print(f"measured {name}", flush=True)

    print(f"\n{args.pairs} interleaved pairs per slide (ratio = median [range]); "
          f"{args.runs} runs of the whole CLI command (median [range], max peak RSS)")
    print(f"{'slide':40s} {'patches':>8s} {'tile s':>7s} {'patch/s':>8s} {'read s':>7s} "
          f"{'ratio':>18s} {'CLI s':>18s} {'peak MB':>8s}")
    for name, r in rows:
        print(f"{name:40s} {r['n']:8d} {r['tile']:7.3f} {r['n'] / r['tile']:8.0f} {r['read']:7.3f} "
              f"{r['ratio']:6.2f} [{r['lo']:.2f}–{r['hi']:.2f}] "
              f"{r['cli']:6.2f} [{r['cli_lo']:.2f}–{r['cli_hi']:.2f}] {r['rss']:8.0f}"
              f"   (segments level {r['level']} → {r['size'][0]}×{r['size'][1]})")
    print("\ntargets: 40,000² Aperio 20× CLI ≤ 2 s and ≤ 600 MB; 100,000×80,000 Aperio 40× ≤ 1 GB")
    if not args.keep:
        for p in sorted(tmp.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        tmp.rmdir()
    else:
        print(f"slides kept in {tmp}")


if __name__ == "__main__":
    main()
