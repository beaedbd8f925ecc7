"""Measure the synthetic cohort against the targets it was designed for (listed below).

    python benchmarks/cohort.py [--root data/cohort] [--seed 0] [--n-slides 120]
                                [--seeds 0 1 2] [--epochs 20] [--json PATH]
                                [--cache DIR] [--workers 2] [--overwrite]

Builds the cohort if ``--root`` holds none (timing the build from nothing: slides, masks,
tiling, features), then reports

* bag lengths (patches per slide) and their spread (max / min; target ≥ 20×, longest ≥ 300);
* burden: tumour patches per positive slide (target: ≥ 40 % of positives with ≤ 5);
* a supervised logistic probe (standardised features, slide-grouped 5-fold CV) separating
  tumour patches (≥ 50 % one morphology) from mimic patches (≥ 50 % lymphoid aggregate or benign
  glands, no tumour): out-of-fold AUC per morphology and per mimic (target 0.85–0.97);
* gated ABMIL over the labels' 5 folds × ``--seeds`` through the experiment runner (the runs of
  ``benchmarks/methods.py --methods abmil_gated``, shared through ``--cache``; epoch chosen on a
  validation split carved from the training folds): slide AUC (target 0.75–0.92),
  localisation AUC (mean per-slide AUC of attention against patches with ≥ 25 % tumour;
  target ≤ 0.90) and top-5 attention mass on positive slides (target ≥ 0.5).

CPU-heavy (minutes): it is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from milhelpers import synth  # noqa: E402
from milhelpers.datasets import BagDataset, cohort_instance_labels  # noqa: E402
from milhelpers.h5io import atomic_output  # noqa: E402
from milhelpers.metrics import localization_auc  # noqa: E402
from milhelpers.pipeline import prepare_cohort  # noqa: E402
from milhelpers.tiling import box_fraction  # noqa: E402


def region_fractions(root: Path, ds: BagDataset) -> pd.DataFrame:
    """One row per patch: slide and the fraction of each region under the patch."""
    rows = []
    for bag in ds.bags:
        reg, dsmp = synth.load_region_mask(root, bag.slide_id)
        fr = {name: box_fraction(reg == code, dsmp, bag.coords, bag.patch_size0)
              for code, name in enumerate(synth.REGIONS) if code >= 2}
        fr["slide_id"] = bag.slide_id
        fr["i"] = np.arange(len(bag.coords))
        rows.append(pd.DataFrame(fr))
    return pd.concat(rows, ignore_index=True)


def probe(ds: BagDataset, fr: pd.DataFrame, seed: int = 0) -> dict:
    """Logistic probe tumour vs mimic patches, slide-grouped CV, AUC per morphology and mimic."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_all = np.concatenate([b.features.numpy() for b in ds.bags])
    tum = fr[list(synth.MORPHOLOGIES)]
    mim = fr[list(synth.MIMICS)]
    morph = np.where(tum.max(axis=1) >= 0.5, tum.idxmax(axis=1), "")
    mimic = np.where((mim.max(axis=1) >= 0.5) & (tum.sum(axis=1) == 0), mim.idxmax(axis=1), "")
    use = (morph != "") | (mimic != "")
    X, y, groups = X_all[use], (morph[use] != "").astype(int), fr.slide_id.values[use]
    scores = np.zeros(len(y))
    for tr, te in GroupKFold(5, shuffle=True, random_state=seed).split(X, y, groups):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=3000))
        clf.fit(X[tr], y[tr])
        scores[te] = clf.decision_function(X[te])
    m, mi = morph[use], mimic[use]
    out = {"n_tumour": int(y.sum()), "n_mimic": int((1 - y).sum())}
    out["auc_all"] = float(roc_auc_score(y, scores))
    for name in synth.MORPHOLOGIES:
        sel = (m == name) | (mi != "")
        if (m == name).sum() >= 5:
            out[f"auc_{name}"] = float(roc_auc_score(y[sel], scores[sel]))
            out[f"n_{name}"] = int((m == name).sum())
    for name in synth.MIMICS:
        sel = (m != "") | (mi == name)
        if (mi == name).sum() >= 5:
            out[f"auc_vs_{name}"] = float(roc_auc_score(y[sel], scores[sel]))
            out[f"n_{name}"] = int((mi == name).sum())
    return out


def abmil(ds: BagDataset, seeds, epochs: int, cache: Path, workers: int) -> list[dict]:
    """Gated ABMIL over repeats × folds (a partition per repeat), through the experiment runner (the same runs,
    cache and protocol as ``benchmarks/methods.py``): per-run AUC, localisation, top-5 mass."""
    from milhelpers.experiments import run_experiments

    result = run_experiments(ds, ["abmil_gated"], seeds, epochs=epochs, cache_dir=cache,
                             progress=False, workers=workers)
    inst = {b.slide_id: b.instance_labels for b in ds.bags}
    runs = []
    for r in result.runs.itertuples():
        # the runner's loc_auc is the mean per-slide AUC; the pooled one is kept for comparison
        p = result.predictions("abmil_gated", r.seed, r.fold)
        loc = localization_auc(p.slide_scores, [inst[s] for s in p.slide_ids])
        runs.append({"seed": int(r.seed), "fold": int(r.fold), "auc": r.auc,
                     "balanced_accuracy": r.balanced_accuracy, "loc_auc": r.loc_auc,
                     "loc_pooled_auc": loc["pooled_auc"], "top5_mass": r.top5_mass,
                     "best_epoch": int(r.best_epoch), "seconds": r.seconds})
    print(f"  gated ABMIL: {result.n_trained} of {len(runs)} runs trained, the rest from {cache}",
          flush=True)
    return runs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=ROOT / "data" / "cohort")
    ap.add_argument("--seed", type=int, default=0, help="cohort seed (when building)")
    ap.add_argument("--n-slides", type=int, default=120, help="cohort size (when building)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="ABMIL training seeds")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--skip-abmil", action="store_true", help="only the cheap measurements")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    ap.add_argument("--cache", type=Path, default=ROOT / "runs" / "experiments",
                    help="the experiment runner's per-run cache, shared with "
                    "benchmarks/methods.py (default: %(default)s)")
    ap.add_argument("--workers", type=int, default=2,
                    help="ABMIL runs trained at once on a local Dask cluster of this many worker "
                    "processes (default %(default)s; 1: one after another here)")
    args = ap.parse_args()
    if args.json is not None and args.json.exists() and not args.overwrite:
        print(f"error: {args.json} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    if args.workers < 1:
        print(f"error: --workers {args.workers} must be at least 1", file=sys.stderr)
        return 2

    cfg = synth.CohortConfig(n_slides=args.n_slides, seed=args.seed)
    fresh = not args.root.exists() or not any(args.root.iterdir())
    t0 = time.perf_counter()
    data = prepare_cohort(args.root, cfg, progress=False)
    build_s = time.perf_counter() - t0
    res: dict = {"root": str(args.root), "config": json.loads((args.root / "cohort.json").read_text()),
                 "build_seconds_from_nothing": round(build_s, 1) if fresh else None}

    labels = pd.read_csv(data.labels_csv, keep_default_na=False)
    ds = BagDataset(data.features_dir, labels, instance_labels=cohort_instance_labels(args.root))
    lengths = np.array([len(b.features) for b in ds.bags])
    pos = labels[labels.label == 1]
    morph_counts = {m: int(pos.morphologies.str.split(";").apply(lambda v: m in v).sum())
                    for m in synth.MORPHOLOGIES}
    res["bags"] = {"n_slides": len(lengths), "n_patches": int(lengths.sum()),
                   "min": int(lengths.min()), "median": float(np.median(lengths)),
                   "max": int(lengths.max()), "spread": float(lengths.max() / lengths.min())}
    res["burden"] = {"positives": len(pos),
                     "share_le5_tumour_patches": float((pos.tumour_patches <= 5).mean()),
                     "tumour_patches_quartiles": [float(q) for q in np.percentile(pos.tumour_patches, [0, 25, 50, 75, 100])],
                     "classes": pos.burden.value_counts().to_dict(),
                     "morphology_slides": morph_counts,
                     "rare_share": morph_counts["discohesive"] / len(pos),
                     "mimics_in_negatives": float((labels[labels.label == 0].mimics != "").mean()),
                     "mimics_in_positives": float((pos.mimics != "").mean())}
    res["probe"] = probe(ds, region_fractions(args.root, ds))

    b, bu, pr = res["bags"], res["burden"], res["probe"]
    print(f"cohort {args.root} (seed {cfg.seed}, {cfg.n_slides} slides)")
    if fresh:
        print(f"build from nothing        {build_s:7.1f} s (target <= 210)")
    print(f"patches                   {b['n_patches']:7d} (target <= ~12000)")
    print(f"bag length min/median/max {b['min']}/{b['median']:.0f}/{b['max']}  spread {b['spread']:.1f}x "
          "(target >= 20x, max >= 300)")
    print(f"positives with <= 5 tumour patches {bu['share_le5_tumour_patches']:.2f} (target >= 0.40); "
          f"classes {bu['classes']}")
    print(f"morphology slides {morph_counts}; rare share {bu['rare_share']:.2f} (target <= 0.20)")
    print("probe AUC tumour vs mimic (target 0.85-0.97): " +
          ", ".join(f"{k[4:]} {v:.3f}" for k, v in pr.items() if k.startswith("auc_")))

    if not args.skip_abmil:
        runs = abmil(ds, args.seeds, args.epochs, args.cache, args.workers)
        df = pd.DataFrame(runs)
        res["abmil_runs"] = runs
        res["abmil"] = {m: {"mean": float(df[m].mean()), "std": float(df[m].std(ddof=1)), "n": int(df[m].count())}
                        for m in ["auc", "balanced_accuracy", "loc_auc", "loc_pooled_auc", "top5_mass", "best_epoch", "seconds"]}
        a = res["abmil"]
        print(f"gated ABMIL, {len(args.seeds)} seeds x {df.fold.nunique()} folds, {args.epochs} epochs:")
        print(f"  slide AUC        {a['auc']['mean']:.3f} ± {a['auc']['std']:.3f} (target 0.75-0.92)")
        print(f"  localisation AUC {a['loc_auc']['mean']:.3f} ± {a['loc_auc']['std']:.3f} (target <= 0.90); "
              f"pooled {a['loc_pooled_auc']['mean']:.3f}")
        print(f"  top-5 mass (pos) {a['top5_mass']['mean']:.3f} ± {a['top5_mass']['std']:.3f} (target >= 0.50)")
    if args.json:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(res, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
