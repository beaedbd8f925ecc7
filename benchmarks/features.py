"""Feature-extraction benchmark: end-to-end throughput (DataLoader reading + encoding + h5 writing)
as a ratio of the bare encoder forward throughput on the same batches, in the same process.

    python benchmarks/features.py [--slides 12] [--input-size 112] [--batch-size 64] [--workers 1]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from milhelpers import encoders  # noqa: E402
from milhelpers.features import ExtractionJob, PatchDataset, extract_features, normalise  # noqa: E402
from milhelpers.pipeline import prepare_cohort  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slides", type=int, default=12)
    ap.add_argument("--input-size", type=int, default=112)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--encoder", default="efficientnet_lite0")
    args = ap.parse_args()

    data = prepare_cohort(ROOT / "data" / "cohort", progress=False)
    slides = sorted(data.slides_dir.glob("*.tiff"))[: args.slides]
    out = Path(tempfile.mkdtemp(prefix="feat_bench_"))
    jobs = [ExtractionJob(s, data.patches_dir / f"{s.stem}.h5", out / f"{s.stem}.h5") for s in slides]
    enc = encoders.get_encoder(args.encoder, input_size=args.input_size)

    # the same batches, pre-read into memory: the encoder's own speed
    ds = PatchDataset(jobs, enc.input_size)
    batches = []
    for i in range(0, len(ds), args.batch_size):
        batches.append(torch.stack([ds[j][0] for j in range(i, min(i + args.batch_size, len(ds)))]))
    batches = [normalise(b, enc.mean, enc.std) for b in batches]
    enc(batches[0])  # warm-up
    t0 = time.perf_counter()
    for b in batches:
        enc(b)
    bare = len(ds) / (time.perf_counter() - t0)

    rep = extract_features(jobs, enc, batch_size=args.batch_size, num_workers=args.workers,
                           progress=False, overwrite=True)
    e2e = rep.patches_per_second
    print(f"{len(ds)} patches from {len(slides)} slides, {args.encoder} at {args.input_size} px, "
          f"batch {args.batch_size}, {args.workers} worker(s), {torch.get_num_threads()} torch threads")
    print(f"bare encoder forward : {bare:7.1f} patches/s")
    print(f"end-to-end extraction: {e2e:7.1f} patches/s")
    print(f"ratio end-to-end / bare = {e2e / bare:.2f}   (goal ≥ 0.9)")


if __name__ == "__main__":
    main()
