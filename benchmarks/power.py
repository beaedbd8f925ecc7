"""How often the one decision rule says "clear": false positives and power on simulated cohorts.

    python benchmarks/power.py [--slides 120] [--cohorts 1000] [--json benchmarks/results/power.json]

Cohorts of out-of-fold scores are simulated as ``milhelpers.stats.simulate_scores`` describes
(binormal scores; gated ABMIL's AUC on the course cohort; within-class correlation between
methods ``--rho-methods`` and between repeats ``--rho-repeats``, the latter measured on the
course cohort), and each is compared with the paired case bootstrap of ``paired_slide_comparison``
(2,000 resamples here, as for reported intervals). Reported: the share called clear when the two
methods are equally good (the false-positive rate; 5 % if the bootstrap is calibrated), the
share at true differences of 0.04, 0.08 and 0.12 (power), with 1, 3 and 5 repeats, and the
minimum detectable difference at 80 % power from a power curve (500 resamples per cohort).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    from milhelpers import stats

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slides", type=int, default=120)
    ap.add_argument("--cohorts", type=int, default=1000,
                    help="simulated cohorts per false-positive / power number")
    ap.add_argument("--curve-cohorts", type=int, default=300,
                    help="simulated cohorts per point of the power curve")
    ap.add_argument("--rho-methods", type=float, default=stats.METHOD_CORRELATION)
    ap.add_argument("--rho-repeats", type=float, default=stats.REPEAT_CORRELATION)
    ap.add_argument("--rho-cross", type=float, default=None,
                    help="correlation of the two methods in different repeats (default: the "
                    "smaller of the two others)")
    ap.add_argument("--rates", action=argparse.BooleanOptionalAction, default=True,
                    help="the false-positive and power numbers at 2,000 resamples (--no-rates: "
                    "only the power curve)")
    ap.add_argument("--base-auc", type=float, default=stats.BASE_AUC)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    if args.json is not None and args.json.exists() and not args.overwrite:
        print(f"error: {args.json} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    from milhelpers.experiments import json_text
    from milhelpers.h5io import atomic_output

    model = {"rho_methods": args.rho_methods, "rho_repeats": args.rho_repeats,
             "rho_cross": args.rho_cross, "base_auc": args.base_auc}
    t0 = time.perf_counter()
    rows = []
    for reps in (1, 3, 5) if args.rates else ():
        for delta in (0.0, 0.04, 0.08, 0.12):
            r = stats.power(delta, n_slides=args.slides, n_repeats=reps, n_cohorts=args.cohorts,
                            n_boot=2000, seed=1, **model)
            rows.append({"n_repeats": reps, "delta_auc": delta, "clear": r["clear"],
                         "ci_width": r["ci_width"], "n_cohorts": r["n_cohorts"]})
            print(f"{reps} repeat(s), ΔAUC {delta:.2f}: clear in {r['clear']:.1%} of "
                  f"{args.cohorts} cohorts (mean 95% CI width {r['ci_width']:.3f})", flush=True)
    curve = stats.power_curve((0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15, 0.18), (1, 3, 5),
                              n_slides=args.slides, n_cohorts=args.curve_cohorts, seed=2,
                              **model)
    mdd = stats.min_detectable_difference(curve)
    for reps, d in mdd.items():
        print(f"minimum detectable ΔAUC at 80 % power, {args.slides} slides, {reps} repeat(s): "
              f"{d:.3f}")
    wall = time.perf_counter() - t0
    print(f"{wall:.0f} s")
    if args.json is not None:
        out = {"meta": {"n_slides": args.slides, "cohorts": args.cohorts,
                        "curve_cohorts": args.curve_cohorts, **model, "seconds": wall,
                        "resamples": {"rates": 2000, "curve": 500}},
               "rates": rows, "curve": curve.to_dict(orient="records"),
               "min_detectable": [{"n_repeats": r, "delta_auc": d} for r, d in mdd.items()]}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(args.json) as tmp:
            tmp.write_text(json_text(out))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
