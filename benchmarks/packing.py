"""PackMIL's speed and accuracy: batch-1 ABMIL, padded batches and packed batches.

    python benchmarks/packing.py [--data-root data/cohort] [--epochs 20] [--repeats 3]
        [--scale-max-lengths 2000 10000 50000] [--scale-bags 16] [--json PATH] [--skip-scale]

**Cohort** (5 folds, one seed): every mode trains ``--epochs`` epochs on each fold's training
part (validation split and seed as the experiment runner), test AUC per fold; epoch time = fit
time ÷ epochs (training steps + the validation pass), median over the interleaved runs (repeat 0
over all folds, repeats 1 … R−1 on fold 0). Modes: ``batch1`` (abmil_gated, 1 slide per step),
``padded16`` (abmil_gated, 16 padded slides per step, PackMIL's lr), ``packed`` (the paper's
subtyping settings: p, caps, ADS r = 4 — ``packmil_ads4``), ``packed_noads`` (``packmil``) and
``packed_noresidual``.

**Scale** (generated features with the paper's length profile: log-uniform 200 … max instances,
D = 1024, a planted signal): one epoch of each mode over ``--scale-bags`` bags for each max
length, each in a fresh process; time and peak memory = the process's peak resident set size
(``resource.getrusage``, which sees torch's own allocations, unlike ``tracemalloc``) minus its
resident size with the bags already loaded. Packed modes use the paper's TCGA-BRCA setting
(p = 0.5, L = 2400, min_len 128, ADS r = 4 or none); padded batches hold B = 8 bags and are
skipped (and their need estimated) where the padded batch would pass ``--padded-limit-gb``.
Last, one 200,000-instance bag through gated ABMIL forward + backward (training mode), plain
and with :func:`milhelpers.models.checkpointed_forward` (chunks of 16,384 under activation
checkpointing), each in a fresh process.

A CUDA GPU is used where present (and said so); the timings in the README were taken on CPU.
JSON: {"device", "cohort": {mode: {"epoch_seconds", "auc", ...}}, "scale": {...},
"ratios": {"packed_vs_batch1_time", "packed_vs_batch1_auc_diff", ...}}.
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

SCALE_MODES = ("batch1", "padded8", "packed", "packed_noads")


def _rss_kb() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


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


def _method(mode: str):
    from milhelpers.methods import get_method, packmil_method
    base = get_method("abmil_gated")
    return {"batch1": base,
            "padded8": dataclasses.replace(base, name="abmil_gated_B8", config={"batch_size": 8}),
            "packed": packmil_method(p=0.5, max_len=2400, min_len=128, ads_ratio=4, batch_size=8),
            "packed_noads": packmil_method(p=0.5, max_len=2400, min_len=128, batch_size=8),
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
        x = torch.randn(spec["n"], spec["dim"])
        x = x.to(device)
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
        seconds = time.perf_counter() - t0
        peak = (torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda"
                else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 2**20)
        return {"n": spec["n"], "checkpointed": bool(spec.get("checkpoint")), "seconds": seconds, "peak_gb_above_input": peak,
                "input_gb": x.numel() * 4 / 2**30}
    ds = _scale_bags(spec["max_len"], spec["n_bags"], spec["dim"], spec["seed"])
    m = _method(spec["mode"])
    cfg = m.train_config(epochs=1, seed=0, progress=False)
    from milhelpers.train import seed_everything
    seed_everything(0)              # torch's one-time imports (about 2 s) stay out of the timing
    base = _rss_kb()
    t0 = time.perf_counter()
    m.fit(ds, None, cfg)
    seconds = time.perf_counter() - t0
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 2**20
    n = [len(b.features) for b in ds.bags]
    return {"epoch_seconds": seconds, "peak_gb": peak, "instances": int(sum(n)),
            "max_bag": int(max(n)), "method": m.name}


def _in_fresh_process(spec: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_scale(args) -> dict:
    from milhelpers.train import resolve_device
    res: dict = {"bags": args.scale_bags, "dim": 1024, "profile": "log-uniform 200 … max",
                 "padded_batch": 8, "by_max_length": {}}
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
    res["device"] = str(resolve_device("auto"))
    return res


def run_cohort(args) -> dict:
    import dataclasses as dc

    from milhelpers.experiments import experiment_folds, open_dataset
    from milhelpers.methods import get_method
    from milhelpers.timing import timed_runs, timing_table
    ds = open_dataset(args.data_root)
    splits = experiment_folds(ds)
    packed = get_method("packmil")
    modes = {"batch1": get_method("abmil_gated"),
             "padded16": dc.replace(get_method("abmil_gated"), name="abmil_gated_B16",
                                    config={"batch_size": 16, "lr": packed.config["lr"]}),
             "packed": get_method("packmil_ads4"),
             "packed_noads": packed,
             "packed_noresidual": get_method("packmil_noresidual")}
    runs = timed_runs(ds, modes, splits, args.epochs, repeats=args.repeats, seed=args.seed,
                      threads=args.threads)
    table = timing_table(runs, "batch1")
    print(table.round(3).to_string())
    return {"runs": runs.to_dict(orient="records"),
            "modes": {k: m.name for k, m in modes.items()},
            "table": {mode: {k: float(v) for k, v in row.items()}
                      for mode, row in table.iterrows()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=ROOT / "data" / "cohort")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--scale-bags", type=int, default=16)
    ap.add_argument("--scale-max-lengths", type=int, nargs="+", default=[2000, 10000, 50000])
    ap.add_argument("--padded-limit-gb", type=float, default=4.0)
    ap.add_argument("--big-bag", type=int, default=200_000)
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--skip-cohort", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--update", action="store_true",
                    help="keep the parts of an existing --json file that this run skips")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    for name in ("epochs", "repeats", "threads", "scale_bags", "big_bag"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    import torch

    from milhelpers.train import resolve_device
    device = resolve_device("auto")
    print(f"device: {device}" + (" (a CUDA GPU: timings are GPU timings)"
                                 if device.type == "cuda" else f", {args.threads} torch thread(s)"))
    out: dict = {"device": str(device), "torch": torch.__version__, "threads": args.threads,
                 "epochs": args.epochs, "repeats": args.repeats}
    if not args.skip_cohort:
        print(f"cohort: {args.epochs} epochs, 5 folds, timing median over {args.repeats} "
              "interleaved repeat(s)")
        out["cohort"] = run_cohort(args)
        t = out["cohort"]["table"]
        out["ratios"] = {
            "packed_vs_batch1_time": t["packed"]["time_vs_batch1"],
            "packed_vs_batch1_auc_diff": t["packed"]["auc_minus_batch1"],
            "packed_noads_vs_batch1_time": t["packed_noads"]["time_vs_batch1"],
            "packed_noads_vs_batch1_auc_diff": t["packed_noads"]["auc_minus_batch1"],
            "padded16_vs_batch1_time": t["padded16"]["time_vs_batch1"],
            "padded16_vs_batch1_auc_diff": t["padded16"]["auc_minus_batch1"]}
        print("ratios (one run): " + ", ".join(f"{k} {v:+.3f}" if "diff" in k else f"{k} {v:.3f}"
                                              for k, v in out["ratios"].items()))
    if not args.skip_scale:
        print(f"scale: {args.scale_bags} generated bags per max length, D = 1024, one epoch "
              "per mode in a fresh process")
        out["scale"] = run_scale(args)
        for how, b in out["scale"]["big_bag"].items():
            if "seconds" in b:
                print(f"one {b['n']:,}-instance bag, gated ABMIL forward + backward ({how}): "
                      f"{b['seconds']:.1f} s, peak {b['peak_gb_above_input']:.2f} GB above its "
                      f"{b['input_gb']:.2f} GB input")
            else:
                print(f"big bag ({how}):", b)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        if args.update and args.json.exists():
            out = {**json.loads(args.json.read_text()), **out}
        args.json.write_text(json.dumps(out, indent=1, default=float))
        print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
