"""Classic MIL benchmarks (MUSK1, MUSK2, Elephant, UCSB breast) with any registered MIL method,
next to Ilse et al. (2018), Table 1 for ABMIL.

Protocol (as in the paper): 10-fold cross-validation repeated 5 times; mean accuracy ± std over
the per-repeat mean accuracies; the spread over all single folds is in the JSON as std_folds.
Features are standardised with the training fold's statistics. No test fold is ever used for
model selection: every run trains for a fixed number of epochs. Every method sees the same folds
and seeds, and every repeat scores every bag once, out of fold; with several methods each is
compared with the first over the bags (B − A of the out-of-fold accuracy and AUC, averaged over
the repeats; 95 % interval and p from the paired bootstrap over bags, stratified by label:
``milhelpers.classic.classic_paired``; clear exactly when the interval excludes 0).

    python benchmarks/classic_mil.py --datasets musk1 musk2 elephant [--variants abmil_gated aem]
                                     [--repeats R] [--folds K] [--epochs E] [--json PATH]

The JSON maps dataset → method → {"mean", "std", "std_folds", "folds", "auc", "auc_folds",
"labels", "oof"} (accuracy unless named auc; oof: repeats × bags out-of-fold P(class 1)), plus
"paired": dataset → "A|B" → metric → {diff, ci95, p, n_slides (bags), n_repeats, unit, test}
(diff = B − A) when several methods ran.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from milhelpers.classic import (PAPER_ACCURACY, PAPER_NOTES, classic_paired,  # noqa: E402
                                run_classic_benchmark)
from milhelpers.methods import available_methods  # noqa: E402
from milhelpers.stats import is_clear  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["musk1", "musk2", "elephant", "ucsb_breast"],
                    choices=["musk1", "musk2", "elephant", "ucsb_breast"])
    ap.add_argument("--variants", nargs="+", default=["abmil_tanh", "abmil_gated"],
                    help="registered method names (e.g. abmil_gated aem); the first is the "
                    "reference of the paired differences (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    unknown = [v for v in args.variants if v not in available_methods()]
    if unknown:
        print(f"error: unknown method(s) {unknown} in --variants; choose from "
              f"{available_methods()}", file=sys.stderr)
        return 2
    if len(set(args.variants)) != len(args.variants):
        print(f"error: --variants lists a method twice: {args.variants}", file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, torch.get_num_threads()))

    t0 = time.perf_counter()
    table = run_classic_benchmark(args.datasets, args.variants, repeats=args.repeats,
                                  folds=args.folds, epochs=args.epochs, seed=args.seed,
                                  progress=True)
    print(f"\nMIL methods on the classic MIL benchmarks: {args.folds}-fold CV × {args.repeats} "
          f"repeats, {args.epochs} epochs ({time.perf_counter() - t0:.0f} s)")
    print(f"{'dataset':12s} {'method':14s} {'accuracy (mean ± std)':>22s} {'AUC':>6s} "
          f"{'paper':>16s}  within 1 std?")
    for ds, per_variant in table.items():
        for var, r in per_variant.items():
            paper = PAPER_ACCURACY.get(ds, {}).get(var)
            ptxt = f"{paper[0]:.3f} ± {paper[1]:.3f}" if paper else "—"
            ok = "yes" if paper and abs(r["mean"] - paper[0]) <= max(r["std"], paper[1]) else (
                "no" if paper else "")
            print(f"{ds:12s} {var:14s} {r['mean']:13.3f} ± {r['std']:.3f} {r['auc']:6.3f} "
                  f"{ptxt:>16s}  {ok}")
    paired: dict = {}
    if len(args.variants) > 1:
        ref = args.variants[0]
        print(f"\npaired differences (method − {ref}) over the bags' out-of-fold scores, "
              "averaged over repeats; paired bag bootstrap:")
        for ds in table:
            paired[ds] = {}
            for var in args.variants[1:]:
                paired[ds][f"{ref}|{var}"] = {}
                for metric in ("accuracy", "auc"):
                    s = classic_paired(table, ds, ref, var, metric)
                    paired[ds][f"{ref}|{var}"][metric] = s
                    clear = "clear" if is_clear(s) else "no evidence either way"
                    print(f"  {ds:12s} {var:14s} {metric:8s} {s['diff']:+.3f} "
                          f"[{s['ci95'][0]:+.3f}, {s['ci95'][1]:+.3f}]  p = {s['p']:.3f}  "
                          f"({s['n_slides']} bags × {s['n_repeats']} repeats: {clear})")
    for ds in table:
        if ds in PAPER_NOTES:
            print(f"note ({ds}): {PAPER_NOTES[ds]}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**table, **({"paired": paired} if paired else {})},
                                        indent=1, default=float))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
