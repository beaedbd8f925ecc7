"""Classic MIL benchmarks with ABMIL (tanh and gated), next to Ilse et al. (2018), Table 1.

Protocol (as in the paper): 10-fold cross-validation repeated 5 times; mean accuracy ± std over
the per-repeat mean accuracies; the spread over all single folds is in the JSON as std_folds.
Features are standardised with the training fold's statistics. No test fold is ever used for
model selection: every run trains for a fixed number of epochs.

    python benchmarks/classic_mil.py --datasets musk1 musk2 elephant [--repeats R] [--folds K]
                                     [--epochs E] [--json PATH]

The JSON maps dataset → model variant → {"mean": …, "std": …} (accuracy).
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
from milhelpers.classic import PAPER_ACCURACY, PAPER_NOTES, run_classic_benchmark  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["musk1", "musk2", "elephant", "ucsb_breast"],
                    choices=["musk1", "musk2", "elephant", "ucsb_breast"])
    ap.add_argument("--variants", nargs="+", default=["abmil_tanh", "abmil_gated"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    t0 = time.perf_counter()
    table = run_classic_benchmark(args.datasets, args.variants, repeats=args.repeats,
                                  folds=args.folds, epochs=args.epochs, seed=args.seed,
                                  progress=True)
    print(f"\nABMIL on the classic MIL benchmarks: {args.folds}-fold CV × {args.repeats} repeats, "
          f"{args.epochs} epochs ({time.perf_counter() - t0:.0f} s)")
    print(f"{'dataset':12s} {'variant':12s} {'ours (mean ± std)':>20s} {'paper':>16s}  within 1 std?")
    for ds, per_variant in table.items():
        for var, r in per_variant.items():
            paper = PAPER_ACCURACY.get(ds, {}).get(var)
            ptxt = f"{paper[0]:.3f} ± {paper[1]:.3f}" if paper else "—"
            ok = "yes" if paper and abs(r["mean"] - paper[0]) <= max(r["std"], paper[1]) else (
                "no" if paper else "")
            print(f"{ds:12s} {var:12s} {r['mean']:11.3f} ± {r['std']:.3f} {ptxt:>16s}  {ok}")
    for ds in table:
        if ds in PAPER_NOTES:
            print(f"note ({ds}): {PAPER_NOTES[ds]}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(table, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
