"""Where each method of a results file looks: top-k tissue shares per run, and the attention of
three slides chosen by a stated rule — for chapter 07, which cannot retrain the full runs.

    python benchmarks/where_looks.py --results benchmarks/results/head_to_head.json \\
        --cache build/bench_runs --data-root data/cohort --json benchmarks/results/where_looks.json

The results file (``benchmarks/methods.py --json``) holds every run's metrics and out-of-fold
scores but no attention; the attention of each test slide is in the runner's cache (the
``--cache`` the results were made with). Each run of the file is found there by its method,
repeat and fold and by its recorded metrics (so a cache holding other settings' runs too is
fine); nothing is trained — a run that is not in the cache is an error.

Per run and label, the mean over its test slides of the share of the slide's k most-attended
patches on tumour, on mimics and on normal tissue (``milhelpers.comparison.where_looks``; patch
kinds from the cohort's masks, ``milhelpers.instances.cohort_patch_kinds``), with the patch
shares (what random picks would give). Then three slides (``comparison.showcase_slides``: a
micro-lesion positive, a discohesive positive, a negative full of mimics) and, for each, every
method's out-of-fold attention from repeat 0 (the model that held the slide out). Last, the
cohort's subgroups of positive slides (``comparison.cohort_subgroups``: micro, large burden,
discohesive), which chapter 07 needs for a cohort draw that is not built where it runs.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class CacheError(Exception):
    """A run of the results file that the cache does not hold."""


def attach_cache_keys(result, cache_dir: Path) -> None:
    """Fill ``result.runs.key`` (empty in a results file) with each run's cache key: the cached
    run of the same method, repeat and fold whose recorded metrics are the file's."""
    keys = []
    for r in result.runs.itertuples():
        found = None
        for path in sorted((cache_dir / r.method).glob(f"seed{r.seed}_fold{r.fold}_*.json")):
            try:
                rec = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            m = rec.get("metrics", {})
            if all(_same(m.get(k), getattr(r, k)) for k in ("auc", "seconds", "entropy")):
                found = rec["key"]
                break
        if found is None:
            raise CacheError(f"run ({r.method}, repeat {r.seed}, fold {r.fold}) of the results "
                             f"file is not in {cache_dir}: give the --cache the results were "
                             "made with (nothing is trained here)")
        keys.append(found)
    result.runs["key"] = keys


def _same(a, b) -> bool:
    a = float("nan") if a is None else float(a)
    b = float("nan") if b is None else float(b)
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(1.0, abs(b))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, required=True,
                    help="a results file of benchmarks/methods.py --json")
    ap.add_argument("--cache", type=Path, required=True, help="the runner's cache it was made with")
    ap.add_argument("--data-root", type=Path, default=ROOT / "data" / "cohort",
                    help="the cohort the results were computed on (masks give the patch kinds)")
    ap.add_argument("--k", type=int, default=5, help="top-k patches per slide (default 5)")
    ap.add_argument("--json", type=Path, required=True, help="write the summary here")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    args = ap.parse_args(argv)

    from milhelpers.comparison import where_looks_summary
    from milhelpers.experiments import ExperimentResult, json_text
    from milhelpers.h5io import atomic_output

    def fail(msg: str) -> int:
        print(f"error: {msg}", file=sys.stderr)
        return 2

    if args.json.exists() and not args.overwrite:
        return fail(f"{args.json} exists; pass --overwrite to replace it")
    for p, what in ((args.results, "--results"), (args.cache, "--cache"),
                    (args.data_root / "labels.csv", "--data-root")):
        if not p.exists():
            return fail(f"{what}: {p} does not exist")
    if args.k < 1:
        return fail(f"--k {args.k} must be >= 1")
    result = ExperimentResult.from_json(json.loads(args.results.read_text()), args.cache)
    try:
        attach_cache_keys(result, args.cache)
    except CacheError as err:
        return fail(str(err))
    out = where_looks_summary(result, args.data_root, k=args.k)
    out["meta"].update({"results": args.results.name,
                        "command": "python benchmarks/where_looks.py --results ... --cache ... "
                                   "--data-root ... --json ..."})
    args.json.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(args.json) as tmp:
        tmp.write_text(json_text(out))
    print(f"wrote {args.json}: {len(out['runs'])} run × label rows, slides "
          + ", ".join(f"{k} = {v['slide_id']}" for k, v in out["showcase"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
