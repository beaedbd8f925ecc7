"""Scaling benchmark: feature extraction through Dask with 1 and 2 local workers (and in this
process, the CLI's default), and Dask's own overhead per task.

Each repeat runs every configuration once, in a rotating order, on the same slides written to a
fresh folder, so that the machine's load drifts over all of them alike; the ratios are taken
within a repeat and their median and range reported. A cluster's start and its workers' first
imports are timed apart (``startup_s``): a long run pays them once.

    python benchmarks/scaling.py [--repeats 3] [--slides 12] [--input-size 112] [--json FILE]

Uses the course cohort's largest slides (``data/cohort``, built if missing). Reports slides/s and patches/s per
configuration, the 2-worker / 1-worker ratio, the per-slide time behind the 10,000-slide
projection in docs/scaling.md, and the round trip of a no-op task.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _noop(x):
    return x


def task_overhead(c, n: int = 200) -> dict:
    """Round trip of one no-op task (submit, run, result back), one after the other, and the
    cost per task when ``n`` are submitted at once."""
    for i in range(10):                                   # warm the connections
        c.submit(_noop, i, pure=False).result()
    t0 = time.perf_counter()
    for i in range(n):
        c.submit(_noop, i, pure=False).result()
    serial = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    c.gather(c.map(_noop, range(n), pure=False))
    batched = (time.perf_counter() - t0) / n
    return {"round_trip_ms": 1e3 * serial, "per_task_in_a_batch_ms": 1e3 * batched, "tasks": n}


def extract_once(slides, patches, out, *, input_size, client=None) -> tuple[float, int]:
    from milhelpers.pipeline import extract_folder

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    rep, _, _ = extract_folder(slides, patches, out, input_size=input_size, progress=False,
                               client=client, num_workers=1)
    seconds = time.perf_counter() - t0
    assert not rep.failed and len(rep.written) == len(slides), rep.failed
    return seconds, rep.n_patches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--slides", type=int, default=12)
    ap.add_argument("--input-size", type=int, default=112)
    ap.add_argument("--json", type=Path, default=None, help="write the numbers here")
    args = ap.parse_args()
    if args.repeats < 1 or args.slides < 2:
        ap.error("--repeats must be >= 1 and --slides >= 2")

    from milhelpers import cluster
    from milhelpers.pipeline import prepare_cohort

    root = ROOT / "data" / "cohort"
    if (root / "patches").is_dir() and any((root / "slides").glob("*.tiff")):
        # read only what exists (its config may be another branch's)
        data = SimpleNamespace(slides_dir=root / "slides", patches_dir=root / "patches")
    else:
        data = prepare_cohort(root, progress=False)
    # the slides with the most patches: a task encodes one slide in batches, and the cohort's
    # median slide (46 patches) is a batch or less, far from a real slide's thousands
    from milhelpers.h5io import read_coords

    by_size = sorted(data.slides_dir.glob("*.tiff"),
                     key=lambda s: -len(read_coords(data.patches_dir / f"{s.stem}.h5")[0]))
    slides = sorted(by_size[: args.slides])
    work = Path(tempfile.mkdtemp(prefix="scaling_bench_"))
    configs = ["serial", "local:1", "local:2"]
    clients, startup = {}, {}
    try:
        for name in configs[1:]:
            t0 = time.perf_counter()
            clients[name] = cluster.client(name)
            # first imports and the encoder, once per worker: what a long run pays once
            extract_once(slides[: int(name[-1])], data.patches_dir, work / "warm",
                         input_size=args.input_size, client=clients[name])
            startup[name] = time.perf_counter() - t0
        rows = []
        for r in range(args.repeats):
            order = configs[r % 3:] + configs[: r % 3]
            for name in order:
                seconds, n = extract_once(slides, data.patches_dir, work / name,
                                          input_size=args.input_size, client=clients.get(name))
                rows.append({"repeat": r, "config": name, "seconds": seconds, "patches": n})
                print(f"repeat {r}: {name:8s} {len(slides) / seconds:.3f} slides/s "
                      f"({n / seconds:.1f} patches/s, {seconds:.1f} s)", flush=True)
        overhead = task_overhead(clients["local:2"])
    finally:
        for c in clients.values():
            cluster._close(c, owned=True)
        shutil.rmtree(work, ignore_errors=True)

    def per(name, r):
        row = next(x for x in rows if x["config"] == name and x["repeat"] == r)
        return row["seconds"]

    ratios = {"local:2 / local:1": [per("local:1", r) / per("local:2", r)
                                    for r in range(args.repeats)],
              "local:1 / serial": [per("serial", r) / per("local:1", r)
                                   for r in range(args.repeats)]}
    n_patches = rows[0]["patches"]
    summary = {
        "slides": len(slides), "patches": n_patches, "input_size": args.input_size,
        "repeats": args.repeats, "startup_s": startup, "rows": rows,
        "slides_per_s": {c: statistics.median(len(slides) / x["seconds"] for x in rows
                                              if x["config"] == c) for c in configs},
        "seconds_per_slide": {c: statistics.median(x["seconds"] / len(slides) for x in rows
                                                   if x["config"] == c) for c in configs},
        "speedup": {k: {"median": statistics.median(v), "min": min(v), "max": max(v)}
                    for k, v in ratios.items()},
        "dask_task_overhead": overhead,
        # ---- RUNNER: runs/min of the experiment runner with 1 and 2 local workers ------------
        # Added when run_experiments moves to Dask (after the statistics branch lands): measure
        # it here, interleaved with the extraction repeats above, with the same `clients`.
        "runner_runs_per_min": None,
    }
    print(f"\n{len(slides)} largest cohort slides, {n_patches} patches at {args.input_size} px, "
          f"{args.repeats} interleaved repeats")
    for c in configs:
        print(f"  {c:8s} {summary['slides_per_s'][c]:.3f} slides/s, "
              f"{summary['seconds_per_slide'][c]:.2f} s/slide (median)"
              + (f"; cluster start + first imports {startup[c]:.1f} s" if c in startup else ""))
    for k, v in summary["speedup"].items():
        print(f"  speed-up {k}: median {v['median']:.2f} (range {v['min']:.2f}-{v['max']:.2f})")
    print(f"  Dask no-op task: round trip {overhead['round_trip_ms']:.1f} ms, "
          f"{overhead['per_task_in_a_batch_ms']:.2f} ms per task in a batch of {overhead['tasks']}")
    print("  runner runs/min: not measured yet (the runner moves to Dask later)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1))
        print(f"-> {args.json}")


if __name__ == "__main__":   # spawned Dask workers import this file: nothing runs on import
    main()
