"""The head-to-head methods on real bags: UCSB breast (58 histology images as bags of patches).

    python benchmarks/ucsb.py --json benchmarks/results/ucsb.json          (about 15–20 min on
        two shared cores: 10 methods × 3 repeats × 5 folds, 20 epochs, two runs at a time)
    python benchmarks/ucsb.py --methods abmil_gated aem --seeds 0 --epochs 2   (a quick look)

Every method at its defaults through the experiment runner, exactly as on the synthetic cohort
(``benchmarks/methods.py``): each repeat draws its own stratified partition into 5 folds, a
validation split is carved from each training part, every method trains a fixed number of
epochs and keeps the last, and each bag is scored out of fold once per repeat; B − A against the
first method with the paired case bootstrap over bags and Holm across the methods.

What differs from the cohort: the bags are the table of Kandemir et al. (2014) — 2,002 patches ×
708 hand-crafted features, 26 of 58 images malignant, as shipped with the ``mil`` package (see
``data/README.md``) — held in memory; the features are z-scored with the mean and standard
deviation of all 2,002 patches (``milhelpers.classic.standardise``, labels not used: hand-crafted
features span several orders of magnitude); there are no patient ids, so each image is its own
case; there are no instance labels, so the localisation AUC is undefined. JSON: the layout of
``benchmarks/methods.py --json`` plus ``meta.dataset``.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

DATASET = {"name": "ucsb_breast", "bags": 58, "source": "Kandemir et al. 2014, via the mil package",
           "features": "708 hand-crafted features per patch, z-scored over all patches (labels "
                       "not used)", "cases": "each image its own case (no patient ids)",
           "instance_labels": "none: localisation AUC undefined"}


def ucsb_bags():
    """UCSB breast as in-memory bags, features z-scored over all patches."""
    from milhelpers.classic import standardise
    from milhelpers.datasets import load_mil_table

    return standardise(load_mil_table("ucsb_breast"))[0]


def main(argv=None) -> int:
    from methods import _int_at_least, format_table, write_json

    from milhelpers.comparison import HEAD_TO_HEAD

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=list(HEAD_TO_HEAD),
                    help="registered methods; the first is the reference (default: %(default)s)")
    ap.add_argument("--seeds", nargs="+", type=_int_at_least(0, "seed"), default=[0, 1, 2])
    ap.add_argument("--folds", type=_int_at_least(2), default=5)
    ap.add_argument("--epochs", type=_int_at_least(1), default=20)
    ap.add_argument("--workers", type=_int_at_least(1), default=2)
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "ucsb_runs")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    args = ap.parse_args(argv)
    from milhelpers.experiments import run_experiments
    from _refuse import refusal

    why = refusal(args.methods, args.json, args.overwrite)
    if why:
        print(f"error: {why}", file=sys.stderr)
        return 2
    ds = ucsb_bags()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        result = run_experiments(ds, args.methods, args.seeds, args.folds, epochs=args.epochs,
                                 cache_dir=args.cache, workers=args.workers)
    wall = time.perf_counter() - t0
    result.meta["dataset"] = dict(DATASET)   # (no wall time: a rerun from the cache takes seconds)
    print(f"\nUCSB breast: {len(args.methods)} method(s) × {len(args.seeds)} repeat(s) × "
          f"{args.folds} folds, {args.epochs} epochs; {result.n_trained} runs trained; "
          f"{wall:.0f} s")
    print(format_table(result))
    if args.json is not None:
        write_json(result, args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; rerun the same command to resume", file=sys.stderr)
        sys.exit(130)
