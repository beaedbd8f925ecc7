"""Scaling benchmark: feature extraction and the experiment runner through Dask with 1 and 2 local
workers (and in this process, the default), Dask's own overhead per task, and what sending the
runner's dataset to the workers costs.

Each repeat runs every configuration once, in a rotating order, on the same slides written to a
fresh folder (extraction) or the same runs trained into a fresh cache (runner), so that the
machine's load drifts over all of them alike; the ratios are taken within a repeat and their
median and range reported. A cluster's start and its workers' first imports are timed apart
(``startup_s``): a long run pays them once.

    python benchmarks/scaling.py [--repeats 3] [--slides 12] [--input-size 112] [--json FILE]
    python benchmarks/scaling.py --only runner --json benchmarks/results/scaling.json
        (the runner's part alone, written into an existing results file: its extraction part
        is kept)

Uses the course cohort (``data/cohort``, built if missing): its largest slides for extraction;
for the runner, gated ABMIL, 1 repeat × 5 folds × 2 epochs on all 120 slides. Reports slides/s
and patches/s, runs/min, the 2-worker / 1-worker ratios, the per-slide time behind the
10,000-slide projection in docs/scaling.md, the round trip of a no-op task, and the time a task
takes to receive the runner's dataset (sent with every task, or scattered once).
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


def _takes(x) -> int:
    return 0 if x is None else 1


def _opens(sent) -> int:
    from milhelpers.experiments import _unpickled

    return len(_unpickled(sent))


def dataset_transfer(c, dataset, n: int = 5) -> dict:
    """What a task pays to receive the runner's dataset: a no-op task given the dataset itself
    (serialised and sent with every task) against the runner's way — pickled once here, the
    bytes scattered to the workers, unpickled once per worker process and reused."""
    import uuid

    import cloudpickle

    from milhelpers.experiments import _Pickled

    c.submit(_takes, None, pure=False).result()              # warm
    t0 = time.perf_counter()
    for _ in range(n):
        c.submit(_takes, dataset, pure=False).result()
    each = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    blob = cloudpickle.dumps(dataset)
    data = c.scatter(_Pickled(uuid.uuid4().hex, blob), hash=False, broadcast=True)
    scatter = time.perf_counter() - t0
    t0 = time.perf_counter()
    c.gather([c.submit(_opens, data, pure=False, workers=[w]) for w in c.nthreads()])
    first = time.perf_counter() - t0                          # each worker unpickles it once
    t0 = time.perf_counter()
    for _ in range(n):
        c.submit(_opens, data, pure=False).result()
    reuse = (time.perf_counter() - t0) / n
    del data
    return {"pickled_mb": len(blob) / 1e6, "per_task_with_the_dataset_s": each,
            "pickle_and_scatter_s": scatter, "first_use_per_worker_s": first,
            "per_task_with_a_scattered_dataset_s": reuse, "tasks": n}


RUNNER = dict(method="abmil_gated", seeds=[0], folds=5, epochs=2)


def runner_once(dataset, cache: Path, client=None) -> float:
    """Seconds for the runner's setting (``RUNNER``) into a fresh cache ``cache``."""
    from milhelpers.experiments import run_experiments

    shutil.rmtree(cache, ignore_errors=True)
    t0 = time.perf_counter()
    res = run_experiments(dataset, [RUNNER["method"]], RUNNER["seeds"], RUNNER["folds"],
                          epochs=RUNNER["epochs"], cache_dir=cache, progress=False,
                          client=client)
    seconds = time.perf_counter() - t0
    assert res.n_trained == len(res.runs) == RUNNER["folds"] * len(RUNNER["seeds"])
    return seconds


def measure_runner(clients: dict, repeats: int, work: Path) -> dict:
    """Runs/min of the runner in this process and with 1 and 2 local workers (interleaved)."""
    import os

    from milhelpers.experiments import open_dataset

    dataset = open_dataset(ROOT / "data" / "cohort")
    n_runs = RUNNER["folds"] * len(RUNNER["seeds"])
    configs = ["serial", *clients]
    startup = {}
    for name, c in clients.items():    # first imports, the dataset's first trip: paid once
        t0 = time.perf_counter()
        runner_once(dataset, work / "warm", client=c)
        startup[name] = time.perf_counter() - t0
    transfer = dataset_transfer(clients["local:2"], dataset)
    rows = []
    for r in range(repeats):
        order = configs[r % len(configs):] + configs[: r % len(configs)]
        for name in order:
            seconds = runner_once(dataset, work / f"runs_{name}", client=clients.get(name))
            rows.append({"repeat": r, "config": name, "seconds": seconds,
                         "load_avg_1min": os.getloadavg()[0]})
            print(f"repeat {r}: runner {name:8s} {60 * n_runs / seconds:.2f} runs/min "
                  f"({seconds:.1f} s)", flush=True)

    def per(name, r):
        return next(x["seconds"] for x in rows if x["config"] == name and x["repeat"] == r)

    ratios = {"local:2 / local:1": [per("local:1", r) / per("local:2", r) for r in range(repeats)],
              "local:1 / serial": [per("serial", r) / per("local:1", r) for r in range(repeats)]}
    return {
        "setting": {**RUNNER, "slides": len(dataset), "runs": n_runs, "threads_per_run": 1},
        "repeats": repeats, "rows": rows, "warm_up_s": startup,
        "runs_per_min": {c: statistics.median(60 * n_runs / x["seconds"] for x in rows
                                              if x["config"] == c) for c in configs},
        "speedup": {k: {"median": statistics.median(v), "min": min(v), "max": max(v)}
                    for k, v in ratios.items()},
        "dataset_transfer": transfer,
    }


def print_runner(runner: dict) -> None:
    st = runner["setting"]
    print(f"\nrunner: {st['method']}, {len(st['seeds'])} repeat x {st['folds']} folds x "
          f"{st['epochs']} epochs on {st['slides']} slides, {runner['repeats']} interleaved "
          "repeats")
    for c, v in runner["runs_per_min"].items():
        print(f"  {c:8s} {v:.2f} runs/min (median)")
    for k, v in runner["speedup"].items():
        print(f"  speed-up {k}: median {v['median']:.2f} (range {v['min']:.2f}-{v['max']:.2f})")
    t = runner["dataset_transfer"]
    print(f"  dataset ({t['pickled_mb']:.0f} MB pickled): {t['per_task_with_the_dataset_s']:.2f} s "
          f"per task when sent with each task; pickled and scattered once in "
          f"{t['pickle_and_scatter_s']:.2f} s, unpickled by the workers in "
          f"{t['first_use_per_worker_s']:.2f} s, then "
          f"{1e3 * t['per_task_with_a_scattered_dataset_s']:.0f} ms per task")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--slides", type=int, default=12)
    ap.add_argument("--input-size", type=int, default=112)
    ap.add_argument("--json", type=Path, default=None, help="write the numbers here")
    ap.add_argument("--only", choices=["runner"], default=None,
                    help="measure the runner alone and update its part of --json")
    args = ap.parse_args()
    if args.repeats < 1 or args.slides < 2:
        ap.error("--repeats must be >= 1 and --slides >= 2")

    from milhelpers import cluster

    if args.only == "runner":
        work = Path(tempfile.mkdtemp(prefix="scaling_bench_"))
        clients = {}
        try:
            for name in ("local:1", "local:2"):
                clients[name] = cluster.client(name)
            runner = measure_runner(clients, args.repeats, work)
        finally:
            for c in clients.values():
                cluster._close(c, owned=True)
            shutil.rmtree(work, ignore_errors=True)
        print_runner(runner)
        if args.json:
            summary = json.loads(args.json.read_text()) if args.json.exists() else {}
            summary["runner"] = runner
            summary.pop("runner_runs_per_min", None)
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(summary, indent=1))
            print(f"-> {args.json}")
        return
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
        runner = measure_runner(clients, args.repeats, work)
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
        "runner": runner,
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
    print_runner(runner)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1))
        print(f"-> {args.json}")


if __name__ == "__main__":   # spawned Dask workers import this file: nothing runs on import
    main()
