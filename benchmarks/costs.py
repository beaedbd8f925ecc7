"""What each method costs per epoch, timed fairly: the methods interleaved in one sitting.

    python benchmarks/costs.py [--data-root data/cohort] [--methods ...] [--epochs 2]
        [--repeats 3] [--json benchmarks/results/costs.json] [--overwrite]

The training seconds a results file records (``benchmarks/methods.py``) come from runs trained
whenever the cache missed them, often hours apart and at different machine loads, so they cannot
rank the methods' cost. Here every method trains ``--epochs`` epochs on fold 0 of repeat 0 (the
runner's split, seed and validation slides), one method after the other, ``--repeats`` times
(``milhelpers.timing.timed_runs``, one torch thread); the median seconds per epoch over the
repeats and its ratio to gated ABMIL's are reported, with the machine's load average before and
after. Two-stage methods (MHIM-MIL) are not timed here: their cost is their first stage (a gated
ABMIL run) plus a student stage.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ONE_STAGE = ["abmil_gated", "abmil_tanh", "mean_pool", "max_pool", "acmil", "aem", "acmil_aem",
             "packmil"]


def summarise(runs, methods: list[str], reference: str = "abmil_gated") -> list[dict]:
    """One row per method of ``runs`` (``timing.timed_runs``' table): the median, least and
    largest seconds per epoch over its runs, the median's ratio to ``reference``'s median (NaN
    when the reference was not timed) and its optimiser steps per epoch."""
    med = runs.groupby("method").epoch_seconds.median()
    ref = float(med[reference]) if reference in med.index else float("nan")
    rows = []
    for m in methods:
        mine = runs[runs.method == m]
        rows.append({"method": m, "epoch_seconds": float(med[m]),
                     "min_s": float(mine.epoch_seconds.min()),
                     "max_s": float(mine.epoch_seconds.max()),
                     "ratio": float(med[m]) / ref, "steps_per_epoch": int(mine.steps_per_epoch.iloc[0])})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=str(ROOT / "data" / "cohort"))
    ap.add_argument("--methods", nargs="+", default=ONE_STAGE)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "costs.json"))
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    if args.epochs < 1 or args.repeats < 1:
        print("error: --epochs and --repeats must be >= 1", file=sys.stderr)
        return 2
    out = Path(args.json)
    if out.exists() and not args.overwrite:
        print(f"error: {out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2

    from milhelpers import timing
    from milhelpers.experiments import experiment_folds, open_dataset
    from milhelpers.h5io import atomic_output
    from milhelpers.methods import get_method

    try:
        methods = {m: get_method(m) for m in args.methods}
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    ds = open_dataset(args.data_root)
    splits = experiment_folds(ds, seed=0)
    load_before = os.getloadavg()[0]
    runs = timing.timed_runs(ds, methods, splits, args.epochs, folds=[0], repeats=args.repeats,
                             timing_folds=[0], seed=0)
    load_after = os.getloadavg()[0]
    rows = summarise(runs, args.methods)
    summary = {"setting": {"epochs": args.epochs, "repeats": args.repeats, "fold": 0,
                           "n_train": int(len(splits[0][0])), "threads": 1,
                           "load_avg_before": load_before, "load_avg_after": load_after},
               "rows": rows}
    with atomic_output(out) as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=1) + "\n")
    for r in rows:
        print(f"{r['method']:12s} {r['epoch_seconds']:6.2f} s/epoch  ×{r['ratio']:.2f}")
    print(f"wrote {out} (load {load_before:.1f} → {load_after:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
