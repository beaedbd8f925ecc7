"""How each method's training epoch should be chosen: a measurement of model-selection rules.

    python benchmarks/selection.py --data-root data/cohort \\
        [--methods abmil_gated acmil] [--seeds 0 1 2] [--folds 5] [--epochs 20] \\
        [--json benchmarks/results/selection.json] [--overwrite]

Each run is a run of the experiment runner's protocol — repeat r draws its own stratified,
case-grouped partition into k folds, the validation split is carved from the training part with
``run_seed(r, fold)``, the method trains for ``--epochs`` epochs with its own recipe — trained
once, for all epochs. After every epoch the history records the validation metrics (loss, AUC,
accuracy, macro F1), and, **as a measurement of the protocol only**, the test fold's predictions.
The test predictions never choose anything: each selection rule chooses its epoch from the
validation columns alone, exactly as :func:`milhelpers.train.fit` would (the first epoch with
the best value), and the test predictions at that epoch say what the rule would have delivered:

* ``val_loss`` (lowest validation cross-entropy), ``val_auc``, ``val_f1_auc`` (macro F1 + AUC),
  ``val_acc_auc`` (accuracy + AUC), and ``last`` (fixed-epoch training: no selection).

Reported per method and rule: the chosen-epoch distribution, the validation AUC at the chosen
epoch, the test AUC at the chosen epoch (mean ± std over runs), the AUC of each repeat's pooled
out-of-fold scores, the paired difference of that AUC against fixed-epoch training (paired case
bootstrap over slides, ``milhelpers.stats``), and how repeatable a slide's out-of-fold score is
between repeats (``stats.within_class_correlation``, averaged over pairs of repeats).

The course cohort's labels may still carry the older generator's ``fold`` column: it is left
out here (the runner draws a partition per repeat for the course cohort). Runs take one torch
thread each, one at a time (about 15 s per gated-ABMIL run of 20 epochs on the course machine).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RULES = {"val_loss": ("val_loss", "min"), "val_auc": ("val_auc", "max"),
         "val_f1_auc": ("val_f1_auc", "max"), "val_acc_auc": ("val_acc_auc", "max"),
         "last": (None, None)}


def chosen_epoch(history: pd.DataFrame, rule: str) -> int:
    """The epoch ``rule`` selects from the validation columns of ``history`` (1-based): the first
    epoch with the best value, as :func:`milhelpers.train.fit` keeps it (strict improvement;
    NaN epochs never chosen); ``last``: the final epoch."""
    col, direction = RULES[rule]
    if col is None:
        return int(history.epoch.iloc[-1])
    v = history[col].to_numpy(np.float64)
    v = np.where(np.isnan(v), np.inf if direction == "min" else -np.inf, v)
    i = int(np.argmin(v) if direction == "min" else np.argmax(v))
    return int(history.epoch.iloc[i])


def measure(ds, method_name: str, seeds, folds: int, epochs: int, val_fraction: float = 0.2,
            progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train every (seed, fold) once; return (per-epoch history with the test AUC, per-epoch
    test scores of every slide: method, seed, fold, epoch, slide_id, label, score)."""
    import torch

    from milhelpers.datasets import train_val_split
    from milhelpers.experiments import experiment_folds
    from milhelpers.methods import get_method
    from milhelpers.metrics import bag_metrics
    from milhelpers.train import Callback, predict, run_seed

    method = get_method(method_name)
    labels = np.asarray(ds.labels)
    groups = getattr(ds, "case_ids", None)
    hist_rows, score_rows = [], []

    class TestEachEpoch(Callback):
        """Predicts the test fold after the last step of every epoch (a measurement only; the
        random streams are forked, so the training run is the one it would be without it)."""

        def __init__(self, test_ds):
            self.test_ds, self.by_epoch = test_ds, {}

        def on_step_end(self, model, state) -> None:
            if (state.step + 1) % state.steps_per_epoch == 0:
                with torch.random.fork_rng(devices=[]):
                    self.by_epoch[state.epoch] = predict(model, self.test_ds)

    for seed in seeds:
        for k, (tr, te) in enumerate(experiment_folds(ds, folds, seed=seed)):
            t0 = time.perf_counter()
            rs = run_seed(seed, k)
            tr_idx, va_idx = train_val_split(tr, labels, val_fraction, seed=rs,
                                             **({"groups": groups} if groups is not None else {}))
            cfg = method.train_config(seed=rs, epochs=epochs, progress=False)
            rec = TestEachEpoch(ds.subset(te))
            res = method.fit(ds.subset(tr_idx), ds.subset(va_idx), cfg, fold=k,
                             extra_callbacks=[rec])
            h = res.history.copy()
            h["test_auc"] = [bag_metrics(rec.by_epoch[e].labels, rec.by_epoch[e].probs)["auc"]
                             for e in h.epoch]
            h["method"], h["seed"], h["fold"] = method_name, seed, k
            h["monitor_epoch"] = res.best_epoch    # what the method's own monitor chose
            hist_rows.append(h)
            for e, p in rec.by_epoch.items():
                score_rows += [{"method": method_name, "seed": seed, "fold": k, "epoch": e,
                                "slide_id": sid, "label": int(y), "score": float(pr[1])}
                               for sid, y, pr in zip(p.slide_ids, p.labels, p.probs)]
            if progress:
                print(f"  {method_name} seed {seed} fold {k}: {time.perf_counter() - t0:.1f} s "
                      f"(its monitor {res.monitor} chose epoch {res.best_epoch})", flush=True)
    return pd.concat(hist_rows, ignore_index=True), pd.DataFrame(score_rows)


def summarise(hist: pd.DataFrame, scores: pd.DataFrame, n_boot: int = 2000) -> dict:
    """method → rule → the numbers of the table (see the module docstring)."""
    from milhelpers import stats

    out = {}
    for m, hm in hist.groupby("method", sort=False):
        out[m] = {}
        sm = scores[scores.method == m]
        ids = sorted(sm.slide_id.unique())
        y = sm.drop_duplicates("slide_id").set_index("slide_id").label.loc[ids].to_numpy()
        seeds = sorted(hm.seed.unique())
        oof = {}
        for rule in RULES:
            runs = []
            mats = np.zeros((len(seeds), len(ids)))
            for (s, k), h in hm.groupby(["seed", "fold"]):
                e = chosen_epoch(h, rule)
                row = h[h.epoch == e].iloc[0]
                runs.append({"seed": int(s), "fold": int(k), "epoch": e,
                             "val_auc": float(row.val_auc), "test_auc": float(row.test_auc)})
                sel = sm[(sm.seed == s) & (sm.fold == k) & (sm.epoch == e)]
                mats[seeds.index(s), [ids.index(i) for i in sel.slide_id]] = sel.score
            oof[rule] = mats
            r = pd.DataFrame(runs)
            per_repeat = [stats.slide_metric(y, mats[i]) for i in range(len(seeds))]
            pairs = [(i, j) for i in range(len(seeds)) for j in range(i + 1, len(seeds))]
            rho = [stats.within_class_correlation(y, mats[i], mats[j]) for i, j in pairs]
            counts = r.epoch.value_counts().sort_index()
            out[m][rule] = {
                "epochs": r.epoch.tolist(),
                "epoch_histogram": {int(e): int(c) for e, c in counts.items()},
                "epoch_median": float(r.epoch.median()),
                "share_epoch_le_3": float((r.epoch <= 3).mean()),
                "val_auc": {"mean": float(r.val_auc.mean()), "std": float(r.val_auc.std(ddof=1))},
                "test_auc": {"mean": float(r.test_auc.mean()),
                             "std": float(r.test_auc.std(ddof=1)), "n": int(len(r))},
                "oof_auc": {"mean": float(np.mean(per_repeat)),
                            "per_repeat": [float(v) for v in per_repeat]},
                "repeat_correlation": float(np.mean(rho)) if rho else None}
        for rule in RULES:
            if rule != "last":
                out[m][rule]["vs_last"] = stats.paired_slide_comparison(
                    y, oof["last"], oof[rule], metric="auc", n_boot=n_boot)
    return out


def table_records(summary: dict) -> list[dict]:
    """One flat record per (method, rule): what ``benchmarks/report.py`` renders."""
    rows = []
    for m, rules in summary.items():
        for rule, s in rules.items():
            vs = s.get("vs_last") or {}
            lo, hi = vs.get("ci95", [None, None])
            rows.append({"method": m, "rule": rule, "epoch_median": s["epoch_median"],
                         "share_epoch_le_3": s["share_epoch_le_3"],
                         "val_auc": s["val_auc"]["mean"], "val_auc_std": s["val_auc"]["std"],
                         "test_auc": s["test_auc"]["mean"], "test_auc_std": s["test_auc"]["std"],
                         "oof_auc": s["oof_auc"]["mean"], "vs_last": vs.get("diff"),
                         "vs_last_lo": lo, "vs_last_hi": hi, "vs_last_p": vs.get("p"),
                         "repeat_correlation": s["repeat_correlation"]})
    return rows


def format_table(summary: dict) -> str:
    lines = []
    for m, rules in summary.items():
        lines += ["", f"{m}: rule → chosen epoch (median, share ≤ 3), validation AUC and test AUC at "
                      "that epoch (mean ± std over runs), pooled out-of-fold AUC (mean over "
                      "repeats), Δ pooled AUC vs fixed-epoch [95% CI], p, ρ between repeats",
                  f"  {'rule':12s}{'epoch':>8s}{'≤3':>6s}{'val AUC':>16s}{'test AUC':>16s}"
                  f"{'oof AUC':>9s}  {'Δ vs last [95% CI], p':>32s}{'ρ rep':>7s}"]
        for rule, s in rules.items():
            vs = s.get("vs_last")
            d = "" if vs is None else (f"{vs['diff']:+.3f} [{vs['ci95'][0]:+.3f}, "
                                       f"{vs['ci95'][1]:+.3f}], {vs['p']:.3f}")
            lines.append(f"  {rule:12s}{s['epoch_median']:8.1f}{s['share_epoch_le_3']:6.2f}"
                         f"{s['val_auc']['mean']:9.3f} ± {s['val_auc']['std']:.3f}"
                         f"{s['test_auc']['mean']:9.3f} ± {s['test_auc']['std']:.3f}"
                         f"{s['oof_auc']['mean']:9.3f}  {d:>32s}"
                         f"{s['repeat_correlation'] or float('nan'):7.2f}")
        for rule, s in rules.items():
            lines.append(f"  chosen epochs, {rule}: {s['epoch_histogram']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=ROOT / "data" / "cohort")
    ap.add_argument("--methods", nargs="+", default=["abmil_gated"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)

    from milhelpers.experiments import fixed_folds, json_text, open_dataset
    from milhelpers.h5io import atomic_output
    from _refuse import refusal
    from milhelpers.train import torch_threads

    why = refusal(args.methods, args.json, args.overwrite)
    if why:
        print(f"error: {why}", file=sys.stderr)
        return 2
    try:
        ds = open_dataset(args.data_root)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        note = "a partition per repeat"
        if fixed_folds(ds):
            plain = Path(tmp) / "labels.csv"
            ds.table.drop(columns="fold").to_csv(plain, index=False)
            ds = open_dataset(args.data_root, labels_csv=plain)
            note += " (the labels' older 'fold' column left out)"
        print(f"{len(args.methods)} method(s) × {len(args.seeds)} repeats × {args.folds} folds × "
              f"{args.epochs} epochs on {len(ds)} slides, {note}", flush=True)
        t0 = time.perf_counter()
        hists, scores = [], []
        with torch_threads(1):
            for m in args.methods:
                h, s = measure(ds, m, args.seeds, args.folds, args.epochs)
                hists.append(h)
                scores.append(s)
    hist, score = pd.concat(hists, ignore_index=True), pd.concat(scores, ignore_index=True)
    summary = summarise(hist, score)
    wall = time.perf_counter() - t0
    print(format_table(summary))
    print(f"\n{wall:.0f} s")
    if args.json is not None:
        keep = ["method", "seed", "fold", "epoch", "val_loss", "val_auc", "val_accuracy", "val_f1",
                "val_f1_auc", "val_acc_auc", "test_auc", "monitor_epoch", "train_loss"]
        result = {"meta": {"methods": args.methods, "seeds": args.seeds, "folds": args.folds,
                           "epochs": args.epochs, "n_slides": len(ds), "partitions": note,
                           "seconds": wall,
                           "note": "test_auc per epoch is a measurement of the protocol only: no "
                                   "rule reads it; each rule chooses on the validation columns "
                                   "(first best epoch), 'last' trains a fixed number of epochs. "
                                   "vs_last: pooled out-of-fold AUC of the rule minus that of "
                                   "the last epoch, paired case bootstrap over slides."},
                  "summary": summary, "table": table_records(summary),
                  "per_epoch": hist[[c for c in keep if c in hist]].to_dict(orient="records")}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(args.json) as tmp:
            from milhelpers.experiments import _nan_to_none
            tmp.write_text(json_text(_nan_to_none(result)))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
