"""UMAP benchmark: :func:`milhelpers.embedding.umap_embedding` on 5,000 of the cohort's patch
features (all ``features_efficientnet_lite0/*.h5`` concatenated, subsampled with seed 0 by the
function itself), each run in a fresh Python process, as a notebook kernel restart sees it:

* ``cold``   — the first call with an empty numba cache folder (umap's kernels compile and are
  written to disk), then a second call in the same process (kernels already in memory);
* ``warm``   — a new process with the cache that a cold run filled: the everyday case;
* ``umap``   — (``--umap-default``) umap-learn's own path for comparison: ``umap.UMAP(...,
  random_state=0).fit_transform`` with its pynndescent neighbour search and no cache of umap's
  kernels.

"call" is the ``umap_embedding`` call (it imports umap lazily, so umap's import is inside it);
"process" is the whole child process, interpreter start and ``import milhelpers.embedding``
included. The kinds are run in interleaved repeats (the order alternates) and reported as
medians [range]. The coordinates of every cold, second and warm call must be bit-identical
(the same seed in different processes); the benchmark fails otherwise.

    python benchmarks/embedding.py [--repeats 3] [--points 5000] [--umap-default]

Writes ``build/benchmarks/embedding.json``. Target: warm ≤ 15 s per process on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FEATURES = ROOT / "data" / "cohort" / "features_efficientnet_lite0"
SEED = 0
TARGET_S = 15.0


def load_features(folder: Path) -> np.ndarray:
    """All patches of all slides, in file-name order."""
    from milhelpers.h5io import read_features

    files = sorted(folder.glob("*.h5"))
    if not files:
        raise SystemExit(f"no features in {folder}; build the cohort first (make data)")
    return np.concatenate([read_features(f)[0] for f in files]).astype(np.float32)


def child(kind: str, data: Path, points: int, out: Path) -> None:
    """One measurement in this (fresh) process; prints its timings as JSON."""
    t0 = time.perf_counter()
    from milhelpers.embedding import subsample, umap_embedding

    t_import = time.perf_counter() - t0
    X = np.load(data)
    res: dict = {"import_s": t_import}
    if kind == "umap":
        import warnings

        t1 = time.perf_counter()
        import umap

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            xy = umap.UMAP(n_neighbors=15, min_dist=0.1, metric="cosine",
                           random_state=SEED).fit_transform(X[subsample(len(X), points, SEED)])
        res["call_s"] = time.perf_counter() - t1
        np.save(out.with_suffix(".first.npy"), xy)
    else:
        t1 = time.perf_counter()
        e = umap_embedding(X, seed=SEED, max_points=points)
        res["call_s"] = time.perf_counter() - t1
        np.save(out.with_suffix(".first.npy"), e.xy)
        if kind == "cold":
            t2 = time.perf_counter()
            e2 = umap_embedding(X, seed=SEED, max_points=points)
            res["second_s"] = time.perf_counter() - t2
            np.save(out.with_suffix(".second.npy"), e2.xy)
    print(json.dumps(res))


def run_child(kind: str, data: Path, points: int, cache: Path, out: Path) -> dict:
    env = dict(os.environ, MILHELPERS_CACHE_DIR=str(cache), TQDM_DISABLE="1")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, __file__, "--child", kind, "--data", str(data),
                        "--points", str(points), "--out", str(out)],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    if r.returncode:
        raise RuntimeError(f"{kind} run failed:\n{r.stderr}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["process_s"] = wall
    return res


def _stat(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats of each kind")
    ap.add_argument("--points", type=int, default=5000, help="points laid out (subsample)")
    ap.add_argument("--umap-default", action="store_true",
                    help="also time umap-learn's default path (about a minute per run)")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "benchmarks" / "embedding.json")
    ap.add_argument("--child", choices=["cold", "warm", "umap"], help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.data, args.points, args.out)
    if args.repeats < 1:
        ap.error("--repeats must be ≥ 1")

    tmp = Path(tempfile.mkdtemp(prefix="embedding_bench_"))
    X = load_features(FEATURES)
    data = tmp / "features.npy"
    np.save(data, X)
    print(f"{len(X):,} patches × {X.shape[1]} features; laying out {min(args.points, len(X)):,} "
          f"(seed {SEED}); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
          flush=True)

    warm_cache = tmp / "cache_warm"
    kinds = ["cold", "warm"] + (["umap"] if args.umap_default else [])
    runs: dict[str, list[dict]] = {k: [] for k in kinds}
    for rep in range(args.repeats):
        for kind in (kinds if rep % 2 == 0 else kinds[::-1]):
            # repeat 1 runs cold first; the cache it fills is the warm one from then on
            cache = tmp / f"cache_cold_{rep}" if kind == "cold" else warm_cache
            res = run_child(kind, data, args.points, cache, tmp / f"{kind}_{rep}")
            if kind == "cold" and not warm_cache.exists():
                cache.rename(warm_cache)
            runs[kind].append(res)
            print(f"  repeat {rep + 1}: {kind:5s} call {res['call_s']:6.2f} s, "
                  f"process {res['process_s']:6.2f} s", flush=True)

    # the same seed must give the same coordinates in every process and in every call
    ref = np.load(tmp / "cold_0.first.npy")
    ours = sorted(tmp.glob("cold_*.npy")) + sorted(tmp.glob("warm_*.npy"))
    identical = all(np.array_equal(ref, np.load(p)) for p in ours)

    summary = {k: {m: _stat([r[m] for r in v]) for m in v[0]} for k, v in runs.items()}
    print(f"\n{args.repeats} interleaved repeats, each in a fresh process: median [range], s")
    print(f"{'kind':32s} {'call':>22s} {'process':>22s}")
    rows = [("cold: first call", "cold", "call_s"), ("cold: second call, same process", "cold",
            "second_s"), ("warm cache: first call", "warm", "call_s")]
    if args.umap_default:
        rows.append(("umap-learn default path", "umap", "call_s"))
    for name, kind, metric in rows:
        c, p = summary[kind][metric], summary[kind]["process_s"]
        proc = (f"{p['median']:6.2f} [{p['min']:.2f}–{p['max']:.2f}]" if metric != "second_s"
                else "")
        call = f"{c['median']:6.2f} [{c['min']:.2f}–{c['max']:.2f}]"
        print(f"{name:32s} {call:>22s} {proc:>22s}")
    warm = summary["warm"]["process_s"]["median"]
    print(f"\nsame coordinates in every call and process (seed {SEED}): {identical}")
    print(f"target: a fresh process with a warm cache ≤ {TARGET_S:g} s — "
          f"{'met' if warm <= TARGET_S else 'NOT met'} ({warm:.2f} s)")

    import numba
    import sklearn
    import umap

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "points": min(args.points, len(X)), "patches": len(X), "dim": int(X.shape[1]),
        "seed": SEED, "repeats": args.repeats, "identical_across_processes": identical,
        "target_warm_process_s": TARGET_S, "results": summary,
        "versions": {"umap-learn": umap.__version__, "numba": numba.__version__,
                     "scikit-learn": sklearn.__version__, "python": platform.python_version()},
        "cpus": os.cpu_count(), "load_average_end": os.getloadavg()[0],
    }, indent=2))
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    for p in sorted(tmp.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    tmp.rmdir()
    if not identical:
        raise SystemExit("coordinates differ between processes for the same seed")


if __name__ == "__main__":
    main()
