"""Feature-extraction benchmark: end-to-end throughput (DataLoader reading + encoding + h5 writing)
as a ratio of the bare encoder forward throughput on the same batches, in the same process.

One measurement of each side is not a ratio on a shared machine (three single runs here gave
0.85, 0.86 and 1.06), so the two sides are measured in interleaved pairs, alternating which goes
first, and the median ratio is reported with its range.

    python benchmarks/features.py [--pairs 5] [--slides 12] [--input-size 112] [--batch-size 64]
                                  [--workers 1] [--slides-dir DIR --patches-dir DIR]

Without ``--slides-dir`` it uses the course cohort (built by ``prepare_cohort`` if missing).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from milhelpers import encoders  # noqa: E402
from milhelpers.features import ExtractionJob, PatchDataset, extract_features, normalise  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=5, help="interleaved (bare, end-to-end) pairs")
    ap.add_argument("--slides", type=int, default=12)
    ap.add_argument("--input-size", type=int, default=112)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--encoder", default="efficientnet_lite0")
    ap.add_argument("--slides-dir", type=Path, default=None, help="slides already tiled into --patches-dir")
    ap.add_argument("--patches-dir", type=Path, default=None)
    args = ap.parse_args()
    if args.pairs < 1:
        ap.error("--pairs must be ≥ 1")

    if args.slides_dir:
        from milhelpers.pipeline import find_slides
        slides, patches = find_slides(args.slides_dir), args.patches_dir or args.slides_dir / "patches"
    else:
        from milhelpers.pipeline import prepare_cohort
        data = prepare_cohort(ROOT / "data" / "cohort", progress=False)
        slides, patches = sorted(data.slides_dir.glob("*.tiff")), data.patches_dir
    slides = [s for s in slides if (patches / f"{s.stem}.h5").exists()][: args.slides]
    out = Path(tempfile.mkdtemp(prefix="feat_bench_"))
    jobs = [ExtractionJob(s, patches / f"{s.stem}.h5", out / f"{s.stem}.h5") for s in slides]
    enc = encoders.get_encoder(args.encoder, input_size=args.input_size)

    # the same batches, pre-read into memory: the encoder's own speed
    ds = PatchDataset(jobs, enc.input_size)
    batches = []
    for i in range(0, len(ds), args.batch_size):
        batches.append(torch.stack([ds[j][0] for j in range(i, min(i + args.batch_size, len(ds)))]))
    batches = [normalise(b, enc.mean, enc.std) for b in batches]
    enc(batches[0])  # warm-up

    def bare() -> float:
        t0 = time.perf_counter()
        for b in batches:
            enc(b)
        return len(ds) / (time.perf_counter() - t0)

    def end_to_end() -> float:
        return extract_features(jobs, enc, batch_size=args.batch_size, num_workers=args.workers,
                                progress=False, overwrite=True).patches_per_second

    b_s, e_s = [], []
    for k in range(args.pairs):
        if k % 2 == 0:
            b_s.append(bare())
            e_s.append(end_to_end())
        else:
            e_s.append(end_to_end())
            b_s.append(bare())
    ratios = [e / b for e, b in zip(e_s, b_s)]
    print(f"{len(ds)} patches from {len(slides)} slides, {args.encoder} at {args.input_size} px, "
          f"batch {args.batch_size}, {args.workers} worker(s), {torch.get_num_threads()} torch threads, "
          f"{args.pairs} interleaved pairs")
    print(f"bare encoder forward : median {statistics.median(b_s):7.1f} patches/s "
          f"[{min(b_s):.1f}–{max(b_s):.1f}]")
    print(f"end-to-end extraction: median {statistics.median(e_s):7.1f} patches/s "
          f"[{min(e_s):.1f}–{max(e_s):.1f}]")
    print(f"ratio end-to-end / bare = {statistics.median(ratios):.2f} "
          f"[{min(ratios):.2f}–{max(ratios):.2f}]   (goal ≥ 0.9)")


if __name__ == "__main__":
    main()
