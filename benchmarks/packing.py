"""When does packing pay? PackMIL against batch-1, padded and subsampled training, measured.

    python benchmarks/packing.py [--data-root data/cohort] [--epochs 20] [--long-epochs 60]
        [--repeats 2] [--target-auc AUC] [--step-lengths 8 32 128 512 2048]
        [--scale-max-lengths 2000 10000 50000] [--scale-bags 16] [--big-bag 200000]
        [--skip-steps] [--skip-cohort] [--skip-scale] [--json PATH] [--overwrite]

Runs on CUDA when a GPU is visible (and records the device, the torch version, the threads and
the machine's load average before and after), else on the CPU with one torch thread.

**Step costs** (``milhelpers.timing.step_costs``): seconds per optimizer step of the real
trainer against the tokens a step holds, for one-slide steps (gated ABMIL) and packed steps
(PackMIL, B slides), on generated bags of constant length; the line seconds = c0 + c1·tokens
fitted per mode (c0: the fixed cost of a step). From it, the packed ÷ batch-1 epoch-time ratio
predicted for cohorts of any bag length, batch size and cap (``predicted_time_ratio``), and the
share of tokens the caps keep on the paper's length profile.

**Cohort** (5 folds, seed 0; the runner's folds, seeds and validation splits): the recipes of
``milhelpers.timing.packing_modes``, each differing from a neighbour in one thing — batch 1 on
whole slides, batch 1 capped at L, batch 1 on PackMIL's main part (share p, cap L), padded
batches of B whole slides and of B main parts, packed main parts without and with the residual
branch — plus packed training for ``--long-epochs`` (about as many steps per slide seen as
batch 1 would need for the same wall time). Every mode trains ``--epochs`` epochs on each fold;
repeats 1 … R−1 retrain fold 0 for the timing only (interleaved, medians). Recorded per run:
fit seconds, step seconds (training without the validation passes), the validation AUC after
every epoch, the test scores. Reported: epoch time and its ratio to batch 1; the pooled
out-of-fold test AUC; every AUC difference as B − A with a 95 % paired case-bootstrap interval
and p (``milhelpers.stats.paired_slide_comparison``); steps and seconds until the fold-mean
validation AUC first reaches ``--target-auc`` (default: batch 1's last-epoch value − 0.02);
the step time each mode's epochs would take by the fitted costs, next to the measured one;
the padding share of padded batches of whole slides and of the capped main parts against
packing's; and PackMIL's "positive" main parts and hyperslides that hold no tumour patch
(``milhelpers.visibility.packing_tumour_audit``, 20 epochs of draws).

**Scale** (generated features with the paper's length profile: log-uniform 200 … max
instances, D = 1024, a planted signal): one epoch of each mode over ``--scale-bags`` bags per
max length, each in a fresh process; time and peak memory (the peak RSS of the epoch itself,
VmHWM reset just before it, minus the RSS with the bags loaded; on CUDA
``torch.cuda.max_memory_allocated``). Packed modes use the paper's TCGA-BRCA sizes (p = 0.5,
L = 2400, min_len 128; ADS r = 4 or none, B = 8), and ``batch1_main`` trains one slide per step on the same main parts — the control that tells
packing from subsampling. Padded batches (B = 8) are skipped where they would pass
``--padded-limit-gb``. Last, one 200,000-instance bag through gated ABMIL forward + backward,
plain and with ``checkpointed_forward``.

JSON (``--json``, written atomically; an existing file is kept unless ``--overwrite``):
{"device", "torch", "threads", "loadavg_start", "loadavg_end", "settings",
 "step_costs": {"rows", "fit", "regime"}, "cohort": {"modes", "runs", "table", "comparisons",
 "target_auc", "time_to_auc", "curves", "predicted_vs_measured", "padding", "audit"},
 "scale": {...}}.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCALE_MODES = ("batch1", "batch1_main", "padded8", "packed", "packed_noads")
#: The paper's TCGA-BRCA sizes (the authors' config), used at scale.
SCALE_PACK = dict(p=0.5, max_len=2400, min_len=128, batch_size=8)
#: The paper's PANDA command (README: ABMIL, batch 128, p = 0.4; config: L = 600, min_len 0).
PANDA = dict(p=0.4, max_len=600, min_len=0, batch_size=128)
#: Which comparisons the cohort reports (A, B, what B − A isolates).
COMPARISONS = [
    ("batch1", "batch1_cap", "the cap L alone (one slide per step)"),
    ("batch1", "batch1_main", "subsampling to the main part alone (one slide per step)"),
    ("batch1_main", "packed_main", "packing alone: the same tokens, B slides per step"),
    ("padded_main", "packed_main", "packing against padding: the same tokens and steps"),
    ("packed_main", "packed", "the residual branch (hyperslides)"),
    ("batch1", "padded", "padding B whole slides"),
    ("batch1", "packed", "PackMIL against batch 1"),
    ("packed", "packed_long", "PackMIL trained longer"),
    ("batch1", "packed_long", "PackMIL trained longer against batch 1"),
]


def _rss_kb() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux: writing 5 to /proc/self/clear_refs resets VmHWM),
    so the peak read after a measurement is that measurement's, not the imports' or the bags'
    generation's. False where the kernel does not allow it (then the peak is the process's)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_rss_kb() -> int:
    """The peak RSS since the last :func:`_reset_peak_rss` (VmHWM), else the process's."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _scale_bags(max_len: int, n_bags: int, dim: int, seed: int):
    """Bags of log-uniform length in [200, max_len]; positives (odd index) hold 5 % of their
    instances shifted along one secret direction."""
    import numpy as np
    import torch

    from milhelpers.datasets import Bag, ListBagDataset
    rng = np.random.default_rng(seed)
    g = torch.Generator().manual_seed(seed)
    direction = torch.nn.functional.normalize(torch.randn(dim, generator=g), dim=0)
    lo = min(200, max_len)
    lengths = np.exp(rng.uniform(np.log(lo), np.log(max_len), n_bags)).astype(int)
    bags = []
    for i, n in enumerate(lengths):
        x = torch.randn(int(n), dim, generator=g)     # float32 directly: no float64 peak
        if i % 2:
            k = max(1, int(0.05 * n))
            x[:k] += 3 * direction
        bags.append(Bag(x, i % 2, f"b{i}"))
    return ListBagDataset(bags)


def _scale_method(mode: str):
    from milhelpers.methods import get_method, packmil_method
    from milhelpers.timing import MainShare
    base = get_method("abmil_gated")
    s = SCALE_PACK
    return {"batch1": base,
            "batch1_main": dataclasses.replace(base, name="abmil_gated_main_scale",
                                               train_transform=MainShare(s["p"], s["max_len"],
                                                                         s["min_len"])),
            "padded8": dataclasses.replace(base, name="abmil_gated_B8", config={"batch_size": 8}),
            "packed": packmil_method(ads_ratio=4, **s),
            "packed_noads": packmil_method(**s),
            }[mode]


def worker(spec: dict) -> dict:
    """One measurement in this (fresh) process: a scale epoch or the 200,000-instance bag."""
    import torch

    from milhelpers.train import resolve_device
    torch.set_num_threads(spec["threads"])
    device = resolve_device("auto")
    if spec["kind"] == "big":
        from milhelpers.models import ABMIL
        torch.manual_seed(0)
        model = ABMIL(spec["dim"], 2, gated=True).to(device).train()
        x = torch.randn(spec["n"], spec["dim"]).to(device)
        _reset_peak_rss()
        base = _rss_kb()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        if spec.get("checkpoint"):
            from milhelpers.models import checkpointed_forward
            out = checkpointed_forward(model, x, chunk=16384)
        else:
            out = model(x)
        torch.nn.functional.cross_entropy(out.logits, torch.tensor([1], device=device)).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        peak = (torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda"
                else (_peak_rss_kb() - base) / 2**20)
        return {"n": spec["n"], "checkpointed": bool(spec.get("checkpoint")), "seconds": seconds,
                "peak_gb_above_input": peak, "input_gb": x.numel() * 4 / 2**30,
                "device": str(device)}
    ds = _scale_bags(spec["max_len"], spec["n_bags"], spec["dim"], spec["seed"])
    m = _scale_method(spec["mode"])
    cfg = m.train_config(epochs=1, seed=0, progress=False)
    from milhelpers.train import seed_everything
    seed_everything(0)              # torch's one-time imports (about 2 s) stay out of the timing
    _reset_peak_rss()
    base = _rss_kb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    m.fit(ds, None, cfg)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda"
            else (_peak_rss_kb() - base) / 2**20)
    n = [len(b.features) for b in ds.bags]
    return {"epoch_seconds": seconds, "peak_gb": peak, "instances": int(sum(n)),
            "max_bag": int(max(n)), "method": m.name, "device": str(device)}


def _in_fresh_process(spec: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------ parts
def run_steps(args) -> dict:
    import numpy as np

    from milhelpers import timing
    from milhelpers.packing import PackCollate
    rows = timing.step_costs(args.step_lengths, dim=args.step_dim, n_bags=args.step_bags,
                             batch_size=16, threads=args.threads, progress=True)
    fit = timing.fit_step_cost(rows)
    print(rows.round(5).to_string(index=False))
    print(fit.to_string())
    d = PackCollate()                      # the course's PackMIL sizes
    grid = np.unique(np.geomspace(10, 200_000, 41).astype(int))
    regime = {"bag_length": grid.tolist(), "ratio": {}}
    for b in (8, 16, 32, 128):
        regime["ratio"][str(b)] = timing.predicted_time_ratio(
            grid, fit, b, d.p, d.max_len, d.min_len).tolist()
    regime["ratio_panda_sizes_B128"] = timing.predicted_time_ratio(
        grid, fit, PANDA["batch_size"], PANDA["p"], PANDA["max_len"], PANDA["min_len"]).tolist()
    rng = np.random.default_rng(0)          # the paper's range as a log-uniform profile
    profile = np.exp(rng.uniform(np.log(200), np.log(200_000), 10_000)).astype(int)
    kept = timing.main_tokens(profile, PANDA["p"], PANDA["max_len"], PANDA["min_len"])
    regime["paper_profile_token_share_panda_caps"] = float(kept.sum() / profile.sum())
    regime["paper_profile_ratio_panda_sizes"] = (
        timing.predicted_epoch_seconds(profile, fit, "packed", PANDA["batch_size"], PANDA["p"],
                                       PANDA["max_len"], PANDA["min_len"])
        / timing.predicted_epoch_seconds(profile, fit, "batch1"))
    regime["course_sizes"] = {"p": d.p, "max_len": d.max_len, "min_len": d.min_len}
    regime["panda_sizes"] = PANDA
    print(f"paper's length profile with the PANDA caps (p {PANDA['p']}, L {PANDA['max_len']}): "
          f"{regime['paper_profile_token_share_panda_caps']:.1%} of the tokens kept; predicted "
          f"packed/batch-1 step time {regime['paper_profile_ratio_panda_sizes']:.3f}")
    return {"rows": rows.to_dict(orient="records"),
            "fit": {m: {k: float(v) for k, v in r.items()} for m, r in fit.iterrows()},
            "settings": {"lengths": list(args.step_lengths), "dim": args.step_dim,
                         "bags": args.step_bags, "batch_size": 16},
            "regime": regime}


def _paired(y, groups, a, b) -> dict:
    from milhelpers import stats
    s = stats.paired_slide_comparison(y, a, b, groups=groups, n_boot=2000, seed=0)
    return {"diff": s["diff"], "ci95": s["ci95"], "p": s["p"], "n_slides": s["n_slides"],
            "test": s["test"]}


def run_cohort(args, fit=None) -> dict:
    import numpy as np
    import pandas as pd

    from milhelpers import packing, stats, timing
    from milhelpers.cached_runs import run_split
    from milhelpers.experiments import experiment_folds, open_dataset
    from milhelpers.visibility import packing_tumour_audit
    ds = open_dataset(args.data_root)
    splits = experiment_folds(ds, seed=args.seed)
    modes = timing.packing_modes()
    modes["packed_long"] = dataclasses.replace(modes["packed"],
                                               name=f"{modes['packed'].name}_long")
    epochs = {k: (args.long_epochs if k == "packed_long" else args.epochs) for k in modes}
    print(f"cohort: {len(ds)} slides, modes {list(modes)}; {args.epochs} epochs "
          f"({args.long_epochs} for packed_long), 5 folds + {args.repeats - 1} timing repeat(s) "
          "of fold 0", flush=True)
    runs = timing.timed_runs(ds, modes, splits, epochs, repeats=args.repeats, seed=args.seed,
                             threads=args.threads)
    first = runs[runs.repeat == 0]
    ids = list(ds.slide_ids)
    y_all = dict(zip(ids, np.asarray(ds.labels)))
    case = dict(zip(ids, ds.case_ids))
    oof = {}
    for mode, g in first.groupby("mode", sort=False):
        oof[mode] = dict(s for r in g.itertuples() for s in zip(r.test_ids, r.test_scores))
    order = sorted(oof["batch1"])
    y = np.array([y_all[s] for s in order])
    groups = np.array([case[s] for s in order])
    score = {m: np.array([oof[m][s] for s in order]) for m in oof}
    table = {}
    med = runs.groupby("mode", sort=False)[["epoch_seconds", "train_seconds"]].median()
    for mode in modes:
        g = first[first["mode"] == mode]
        row = {"method": modes[mode].name, "epochs": int(epochs[mode]),
               "steps_per_epoch": int(g.steps_per_epoch.iloc[0]),
               "epoch_seconds": float(med.loc[mode, "epoch_seconds"]),
               "train_seconds": float(med.loc[mode, "train_seconds"]),
               "fit_seconds": float(runs[runs["mode"] == mode].seconds.median()),
               "time_vs_batch1": float(med.loc[mode, "epoch_seconds"]
                                       / med.loc["batch1", "epoch_seconds"]),
               "oof_auc": stats.slide_metric(y, score[mode]),
               "mean_fold_auc": float(g.auc.mean())}
        if mode != "batch1":
            row["auc_minus_batch1"] = _paired(y, groups, score["batch1"], score[mode])
        table[mode] = row
    comparisons = [{"a": a, "b": b, "what": what, **_paired(y, groups, score[a], score[b])}
                   for a, b, what in COMPARISONS]
    curves = timing.cost_curves(runs)
    last = curves[(curves["mode"] == "batch1") & (curves.epoch == args.epochs)].val_auc.iloc[0]
    target = args.target_auc if args.target_auc is not None else round(float(last) - 0.02, 3)
    tta = timing.time_to_auc(curves, target)
    print(pd.DataFrame(table).T[["steps_per_epoch", "epoch_seconds", "time_vs_batch1",
                                 "oof_auc"]].to_string())
    for c in comparisons:
        print(f"  {c['b']} − {c['a']} ({c['what']}): {c['diff']:+.3f} "
              f"[{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}], p = {c['p']:.3f}")
    print(f"time to a fold-mean validation AUC of {target}:\n{tta.to_string()}")
    lengths = np.array([len(b.features) for b in ds.bags])
    main = timing.main_tokens(lengths, 0.5, 256, 16, residual=False)
    padding = {"padded16_whole": packing.padded_token_share(lengths, 16),
               "padded16_main_same_cap": packing.padded_token_share(main, 16),
               "packed_main": 1 - packing.packing_efficiency(main, 256)}
    predicted = {}
    if fit is not None:
        costs = pd.DataFrame(fit).T
        tr_lengths = [lengths[run_split(ds, args.seed, k)[0]] for k in range(len(splits))]
        for mode, kind, residual in (("batch1", "batch1", True), ("packed", "packed", True),
                                     ("packed_main", "packed", False)):
            pred = np.mean([timing.predicted_epoch_seconds(t, costs, kind, 16, 0.5, 256, 16,
                                                           residual) for t in tr_lengths])
            predicted[mode] = {"predicted_train_seconds": float(pred),
                               "measured_train_seconds": table[mode]["train_seconds"]}
    audit = packing_tumour_audit(ds, 0.5, 256, 16, 16, epochs=20, seed=args.seed)
    print(f"audit: {audit['main_without_tumour']} of {audit['positive_main_parts']} positive "
          f"main parts and {audit['positive_hyperslides_without_tumour']} of "
          f"{audit['positive_hyperslides']} positive hyperslides hold no tumour patch")
    keep = ["mode", "method", "repeat", "fold", "epochs", "seconds", "epoch_seconds",
            "train_seconds", "steps_per_epoch", "auc", "val_auc", "cum_seconds"]
    return {"modes": {k: m.name for k, m in modes.items()},
            "summaries": {k: m.summary for k, m in modes.items()},
            "runs": runs[keep].to_dict(orient="records"),
            "oof": {"slide_id": order, "label": y.tolist(), "case_id": groups.tolist(),
                    "scores": {m: s.tolist() for m, s in score.items()}},
            "table": table, "comparisons": comparisons, "target_auc": target,
            "time_to_auc": {m: {"reached": bool(r.reached),
                                **{k: (None if not r.reached else float(r[k]))
                                   for k in ("epoch", "steps", "seconds")}}
                            for m, r in tta.iterrows()},
            "curves": curves.to_dict(orient="records"), "predicted_vs_measured": predicted,
            "padding": padding, "audit": audit}


def run_scale(args) -> dict:
    res: dict = {"bags": args.scale_bags, "dim": 1024, "profile": "log-uniform 200 … max",
                 "padded_batch": 8, "pack": SCALE_PACK, "by_max_length": {}}
    per_token_gb = None
    for max_len in args.scale_max_lengths:
        row = {}
        for mode in SCALE_MODES:
            est = 8 * max_len * (per_token_gb or 0)
            if mode == "padded8" and per_token_gb and est > args.padded_limit_gb:
                row[mode] = {"skipped": f"needs about {est:.1f} GB (8 × {max_len} padded "
                             f"tokens × {per_token_gb * 2**20:.1f} KB each, measured at "
                             "shorter lengths)", "estimated_peak_gb": est}
                continue
            spec = {"kind": "epoch", "mode": mode, "max_len": max_len, "n_bags": args.scale_bags,
                    "dim": 1024, "seed": 0, "threads": args.threads}
            r = _in_fresh_process(spec)
            row[mode] = r
            if mode == "padded8" and "peak_gb" in r:   # memory per padded token, for estimates
                per_token_gb = r["peak_gb"] / (8 * r["max_bag"])
            print(f"  max {max_len:>6d}  {mode:13s} " + (
                f"{r['epoch_seconds']:7.1f} s/epoch  peak {r['peak_gb']:5.2f} GB"
                if "epoch_seconds" in r else str(r)), flush=True)
        res["by_max_length"][str(max_len)] = row
    res["big_bag"] = {how: _in_fresh_process({"kind": "big", "n": args.big_bag, "dim": 1024,
                                              "threads": args.threads,
                                              "checkpoint": how == "checkpointed"})
                      for how in ("plain", "checkpointed")}
    for how, b in res["big_bag"].items():
        if "seconds" in b:
            print(f"one {b['n']:,}-instance bag, gated ABMIL forward + backward ({how}): "
                  f"{b['seconds']:.1f} s, peak {b['peak_gb_above_input']:.2f} GB above its "
                  f"{b['input_gb']:.2f} GB input")
        else:
            print(f"big bag ({how}):", b)
    return res


def _positive_ints(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be >= 1")
    return v


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=ROOT / "data" / "cohort")
    ap.add_argument("--epochs", type=_positive_ints, default=20)
    ap.add_argument("--long-epochs", type=_positive_ints, default=60,
                    help="epochs of the packed_long mode (default 60)")
    ap.add_argument("--repeats", type=_positive_ints, default=2)
    ap.add_argument("--target-auc", type=float, default=None,
                    help="validation AUC for the time-to-AUC table (default: batch 1's "
                         "fold-mean validation AUC at its last epoch − 0.02)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=_positive_ints, default=1)
    ap.add_argument("--step-lengths", type=_positive_ints, nargs="+",
                    default=[8, 32, 128, 512, 2048])
    ap.add_argument("--step-dim", type=_positive_ints, default=1280)
    ap.add_argument("--step-bags", type=_positive_ints, default=64)
    ap.add_argument("--scale-bags", type=_positive_ints, default=16)
    ap.add_argument("--scale-max-lengths", type=_positive_ints, nargs="+",
                    default=[2000, 10000, 50000])
    ap.add_argument("--padded-limit-gb", type=float, default=4.0)
    ap.add_argument("--big-bag", type=_positive_ints, default=200_000)
    ap.add_argument("--skip-steps", action="store_true")
    ap.add_argument("--skip-cohort", action="store_true")
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if args.json is not None and args.json.exists() and not args.overwrite:
        print(f"error: {args.json} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    if not args.skip_cohort and not (args.data_root / "labels.csv").exists():
        print(f"error: --data-root {args.data_root} has no labels.csv; build the cohort with "
              f"`python -m milhelpers data --root {args.data_root}` or pass --skip-cohort",
              file=sys.stderr)
        return 2
    import torch

    from milhelpers.h5io import atomic_output
    from milhelpers.train import resolve_device
    device = resolve_device("auto")
    print(f"device: {device}" + (" (a CUDA GPU: timings are GPU timings)"
                                 if device.type == "cuda" else f", {args.threads} torch thread(s)"))
    out: dict = {"device": str(device), "torch": torch.__version__, "threads": args.threads,
                 "cpu_count": os.cpu_count(), "loadavg_start": list(os.getloadavg()),
                 "settings": {k: (str(v) if isinstance(v, Path) else v)
                              for k, v in vars(args).items() if k not in ("worker", "json")}}
    t0 = time.time()
    if not args.skip_steps:
        out["step_costs"] = run_steps(args)
    if not args.skip_cohort:
        out["cohort"] = run_cohort(args, out.get("step_costs", {}).get("fit"))
    if not args.skip_scale:
        print(f"scale: {args.scale_bags} generated bags per max length, D = 1024, one epoch "
              "per mode in a fresh process", flush=True)
        out["scale"] = run_scale(args)
    out["loadavg_end"] = list(os.getloadavg())
    out["wall_seconds"] = time.time() - t0
    if args.json:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(out, indent=1, default=float))
        print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
