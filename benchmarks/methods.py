"""MIL methods × repeats × folds on a cohort, compared with the first method over slides.

    python benchmarks/methods.py --data-root data/cohort       (a quick look: 3 baselines ×
        5 folds × 1 repeat × 6 epochs, two runs at a time; about 40 s on two cores)
    python benchmarks/methods.py --data-root data/cohort \\
        --methods abmil_gated mean_pool max_pool --seeds 0 1 2 --folds 5 --epochs 20 \\
        [--json PATH] [--cache DIR] [--overwrite]             (the README's setting)
    python benchmarks/methods.py --features DIR --labels CSV ...     (your own data)
    python benchmarks/methods.py --plugin my_methods.py --methods abmil_gated my_method ...
                                                              (your own method, see
                                                               milhelpers.methods)

Each (method, seed, fold) run is cached under --cache, so a rerun trains only what is missing.
A run's key holds the fingerprint of the method's code (its model, loss terms, callbacks,
batching and the trainer, in milhelpers and in your own modules; not library code such as
PyTorch): edit a method and its runs are trained again, leave it and they are reused.
The default is chapter-sized (6 epochs, as chapter 02); the README's tables use --epochs 20, the
methods' own default, and 3 repeats. The missing runs are Dask tasks (one per method, repeat and
fold; a two-stage method's waits for its first stage): --workers N on a local cluster of N
processes (default 2, one per core of the course machine; 1 trains them one after another here),
--scheduler tcp://host:8786 on a running scheduler, --cluster slurm.yaml on batch jobs
(docs/scaling.md). The results are those of one run at a time; the runs' seconds are measured
side by side, so compare them within one call.

Each seed is a repeat with its own partition of the slides into stratified, case-grouped folds,
so every repeat scores every slide once, out of fold (a labels ``fold`` column instead fixes the
folds for every repeat, and the comparisons are then conditional on those folds: the output says
so). The first table gives, per method, the mean ± std over runs and the pooled out-of-fold
metric (mean over repeats). Then each method minus the first (the reference), B − A:

* slide AUC, balanced accuracy, macro F1: the metric of each repeat's pooled out-of-fold scores,
  averaged over repeats; localisation AUC, entropy, top-5 mass (positive slides): the mean over
  slides of the per-slide difference — both with a paired case bootstrap over slides, stratified
  by label (``milhelpers.stats``), 95 % interval and p (p < 0.05 exactly when it excludes 0);
* seconds per run: Nadeau–Bengio corrected resampled t-test over runs matched on (seed, fold);
* with several methods against one reference, Holm's adjustment over them per metric, and
  "clear" means Holm-adjusted p < 0.05; with one, clear means the interval excludes 0.

JSON (--json): {"runs": [{method, seed, fold, auc, balanced_accuracy, f1, loc_auc, top5_mass,
entropy, seconds, peak_mb, best_epoch}, …], "summary": {method: {metric: {mean, std, n}}} (with oof_*
pooled metrics), "paired": {"A|B": {metric: {diff, ci95, p, p_holm, n_slides, n_repeats, unit,
test}}}, "oof": [{method, seed, fold, slide_id, case_id, label, score, loc_auc, entropy,
top5_mass}, …], "meta": {…}} with diff = B − A; NaN is null; one record per line.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_METHODS = ["abmil_gated", "mean_pool", "max_pool"]
TABLE_METRICS = ["auc", "balanced_accuracy", "f1", "loc_auc", "top5_mass", "entropy",
                 "seconds", "peak_mb", "best_epoch"]
PAIRED_METRICS = ["auc", "balanced_accuracy", "f1", "loc_auc", "top5_mass", "entropy", "seconds"]


def _int_at_least(minimum: int, noun: str = ""):
    """An argparse type: an integer >= ``minimum`` (``noun`` names it in the messages)."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not an integer{' ' + noun if noun else ''}") from None
        if v < minimum:
            name = f"{noun} " if noun else ""
            raise argparse.ArgumentTypeError(f"{name}{v} must be >= {minimum}")
        return v
    return parse


_positive = _int_at_least(1)
_seed = _int_at_least(0, "seed")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, help="course cohort root (labels.csv, "
                    "features_efficientnet_lite0/, masks/)")
    ap.add_argument("--features", type=Path, help="features folder (<slide_id>.h5), with --labels")
    ap.add_argument("--labels", type=Path, help="labels CSV (slide_id,label[,case_id][,fold])")
    ap.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                    help="a .py file or module that registers methods "
                    "(milhelpers.methods.register); repeatable")
    ap.add_argument("--methods", nargs="+", default=DEFAULT_METHODS,
                    help="registered method names; the first is the reference (default: "
                    "%(default)s)")
    ap.add_argument("--seeds", nargs="+", type=_seed, default=[0],
                    help="repeats: each draws its own partition into folds (default: %(default)s)")
    ap.add_argument("--folds", type=_positive, default=None,
                    help="number of folds (default: the labels' fold column, else 5)")
    ap.add_argument("--epochs", type=_positive, default=6,
                    help="training epochs of every method (default %(default)s: a chapter-sized "
                    "run; 20, the methods' own default, is the README's setting)")
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--threads", type=_positive, default=1,
                    help="torch CPU threads (default 1: one bag per step is too small an "
                    "operation for more to pay off)")
    ap.add_argument("--workers", type=_positive, default=None,
                    help="runs trained at once on a local Dask cluster of this many worker "
                    "processes (short for --scheduler local:N; default 2, one per core of the "
                    "course machine; 1: one after another in this process)")
    ap.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="train the missing runs as Dask tasks: local (a worker per core), "
                    "local:N, or a running scheduler's tcp://host:8786 (its workers must see "
                    "--cache and the data)")
    ap.add_argument("--cluster", type=Path, default=None, metavar="FILE",
                    help="a dask-jobqueue YAML (SLURM, PBS, SGE, LSF) describing the batch "
                    "jobs that train the runs (pip install -e '.[cluster]'; docs/scaling.md)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--cache", type=Path, default=ROOT / "runs" / "experiments",
                    help="per-run cache folder (default: %(default)s)")
    ap.add_argument("--figure", type=Path, default=None,
                    help="save the paired-comparison figure (AUC, localisation AUC, top-5 mass) "
                    "here (.png)")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace existing --json / --figure files")
    return ap


def _fmt(x, digits: int = 3) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def format_table(result, n_boot: int = 2000) -> str:
    """Per-method mean ± std over runs and the pooled out-of-fold metric, then every method
    against the first over slides (Holm across the methods when there are several)."""
    methods = result.methods
    summary = result.summary()
    cells = {}
    for k in TABLE_METRICS:
        for m in methods:
            s = summary[m][k]
            oof = summary[m].get(f"oof_{k}")
            cells[k, m] = f"{_fmt(s['mean'])} ± {_fmt(s['std'])}" + (
                f" [{_fmt(oof['mean'])}]" if oof is not None else "")
    w = max(len(c) for c in [*cells.values(), *methods]) + 2
    reps = len(result.meta.get("seeds", [])) or result.runs.seed.nunique()
    lines = [f"{'metric':18s}" + "".join(f"{m:>{w}s}" for m in methods),
             f"{'':18s}" + "".join(f"{'runs: mean ± std [oof]':>{w}s}" for _ in methods)]
    lines += [f"{k:18s}" + "".join(f"{cells[k, m]:>{w}s}" for m in methods)
              for k in TABLE_METRICS]
    lines.append(f"[oof]: the metric of each repeat's pooled out-of-fold predictions (all "
                 f"{result.meta.get('n_slides', '?')} slides), mean over {reps} repeat(s)")
    if len(methods) < 2:
        return "\n".join(lines)
    ref = methods[0]
    table = result.compare(ref, PAIRED_METRICS, n_boot=n_boot)
    family = len(methods) - 1
    lines += ["", f"each method − {ref} (B − A), over slides: auc/balanced_accuracy/f1 of the "
                  "pooled out-of-fold scores and loc_auc/top5_mass/entropy per slide, paired case "
                  f"bootstrap ({n_boot} resamples, stratified by label); seconds per run, "
                  "Nadeau–Bengio corrected t-test"
                  + (f"; Holm over the {family} methods per metric, clear = Holm p < 0.05"
                     if family > 1 else "; clear = the 95% CI excludes 0")]
    if result.meta.get("partitions") == "fixed":
        lines.append("  (the labels' fold column fixes the folds for every repeat: these "
                     "intervals are conditional on those folds)")
    head = (f"  {'metric':18s}{'method':>16s}{'diff':>9s}  {'95% CI':>18s}  {'p':>7s}"
            f"{'p Holm':>8s}  {'slides × repeats':>17s}  verdict")
    lines.append(head)
    for r in table.itertuples():
        ci = f"[{_fmt(r.lo)}, {_fmt(r.hi)}]"
        where = (f"{r.n_slides} × {r.n_repeats}" if r.unit == "slides"
                 else f"{r.n_repeats} × {result.meta.get('folds', '?')} runs")
        word = ("clear" if r.clear else "no evidence either way") if not math.isnan(r.lo) \
            else "too few to compare"
        lines.append(f"  {r.metric:18s}{r.method:>16s}{_fmt(r.diff):>9s}  {ci:>18s}  "
                     f"{_fmt_p(r.p):>7s}{_fmt_p(r.p_holm):>8s}  {where:>17s}  {word}")
    if reps > 1:
        from milhelpers.stats import score_correlations

        lines.append("  out-of-fold score correlation within class (normal scores): one method "
                     "between repeats; both methods in one repeat; both in different repeats")
        for b in methods[1:]:
            y, _, _, mats = result._aligned(ref, b)
            c = score_correlations(y, mats[ref]["score"], mats[b]["score"])
            lines.append(f"  {b} vs {ref}: repeats {_fmt(c['repeats_b'], 2)} / "
                         f"{_fmt(c['repeats_a'], 2)}, same repeat {_fmt(c['methods'], 2)}, "
                         f"different repeats {_fmt(c['cross'], 2)}")
    for b in methods[1:]:
        sa, sb = summary[ref]["seconds"]["mean"], summary[b]["seconds"]["mean"]
        lines.append(f"  training cost {b} / {ref}: {_fmt(sb / sa, 2)}× (mean seconds per run "
                     f"{_fmt(sb, 1)} vs {_fmt(sa, 1)}; a two-stage method's seconds include its "
                     "first stage)")
    return "\n".join(lines)


def _fmt_p(p) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from milhelpers.datasets import DataMismatchError
    from milhelpers.experiments import open_dataset, run_experiments
    from milhelpers.methods import available_methods
    from milhelpers.plugins import PluginError, load_entry_points, load_plugin

    def fail(msg: str) -> int:
        print(f"error: {msg}", file=sys.stderr)
        return 2

    for plugin in args.plugin:
        try:
            print(f"plugin {plugin}: registered {', '.join(load_plugin(plugin)) or 'nothing'}")
        except PluginError as err:
            return fail(str(err))
    if any(m not in available_methods() for m in args.methods):
        load_entry_points()           # installed packages' methods, only when needed
    unknown = [m for m in args.methods if m not in available_methods()]
    if unknown:
        return fail(f"unknown method(s) {unknown}; choose from {available_methods()}, or load "
                    "your own with --plugin FILE")
    if len(set(args.methods)) != len(args.methods):
        return fail(f"--methods lists a method twice: {args.methods}")
    if (args.data_root is None) == (args.features is None and args.labels is None):
        return fail("give either --data-root DIR or --features DIR --labels CSV")
    if args.data_root is None and (args.features is None or args.labels is None):
        return fail("--features and --labels go together")
    if not 0 < args.val_fraction < 1:
        return fail(f"--val-fraction {args.val_fraction} must be between 0 and 1 (e.g. 0.2)")
    for out in (args.json, args.figure):
        if out is not None and out.exists() and not args.overwrite:
            return fail(f"{out} exists; pass --overwrite to replace it")
    if sum(x is not None for x in (args.workers, args.scheduler, args.cluster)) > 1:
        return fail("give one of --workers, --scheduler and --cluster: each says where the "
                    "runs are trained")
    if args.cluster is not None and not args.cluster.is_file():
        return fail(f"--cluster {args.cluster} does not exist")
    if args.scheduler is not None:
        from milhelpers.cluster import parse_scheduler

        try:
            parse_scheduler(args.scheduler)
        except ValueError as err:
            return fail(str(err))
    workers = 2 if args.workers is None else args.workers
    try:
        if args.data_root is not None:
            ds = open_dataset(args.data_root)
        else:
            for p, flag in ((args.features, "--features"), (args.labels, "--labels")):
                if not p.exists():
                    return fail(f"{flag} {p} does not exist")
            ds = open_dataset(features_dir=args.features, labels_csv=args.labels)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            result = run_experiments(ds, args.methods, args.seeds, args.folds, epochs=args.epochs,
                                     val_fraction=args.val_fraction, cache_dir=args.cache,
                                     threads=args.threads,
                                     workers=1 if args.scheduler or args.cluster else workers,
                                     scheduler=args.scheduler, cluster_file=args.cluster)
        wall = time.perf_counter() - t0
    except (DataMismatchError, FileNotFoundError, ValueError, KeyError, OSError) as err:
        return fail(err.args[0] if err.args else str(err))
    n = len(result.runs)
    print(f"\n{len(args.methods)} method(s) × {len(args.seeds)} repeat(s) × "
          f"{result.meta['folds']} folds on {len(ds)} slides ({result.meta['fold_source']}); "
          f"epochs: {args.epochs}; {result.n_trained} of {n} runs trained, "
          f"{n - result.n_trained} from {args.cache}"
          + (f" (and {extra} first-stage runs trained for them)"
             if (extra := result.meta.get("first_stages_trained")) else "")
          + f"; {wall:.1f} s")
    print(format_table(result))
    if args.json is not None:
        write_json(result, args.json)
        print(f"wrote {args.json}")
    if args.figure is not None:
        save_figure(result, args.figure)
        print(f"wrote {args.figure}")
    return 0


def write_json(result, path: Path) -> None:
    """The results file of ``--json`` (the layout of ``ExperimentResult.to_json``, one record per
    line), written atomically: what ``benchmarks/report.py`` renders tables from."""
    from milhelpers.experiments import json_text
    from milhelpers.h5io import atomic_output

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        tmp.write_text(json_text(result.to_json()))


def save_figure(result, path: Path) -> None:
    """The standard paired figure for the slide AUC, localisation AUC and top-5 mass."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from milhelpers.h5io import atomic_output
    from milhelpers.viz import paired_comparison

    metrics = ["auc", "loc_auc", "top5_mass"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.6 * len(metrics), 3.8), dpi=100,
                             layout="constrained")
    for ax, m in zip(axes, metrics):
        paired_comparison(result.runs, m, result.methods, ax=ax)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)


def run(argv=None) -> int:
    """:func:`main`, with Ctrl-C as one line and exit status 130 (rerunning resumes: every
    finished run is in the cache)."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("\ninterrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(run())
