"""MIL methods × seeds × folds on a cohort, with paired comparisons against the first method.

    python benchmarks/methods.py --data-root data/cohort       (a quick look: 3 baselines ×
        5 folds × 1 seed × 6 epochs, two runs at a time; about 40 s on two cores)
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
methods' own default, and 3 seeds. --workers trains that many runs at once (default 2 on Linux,
one per core of the course machine): the results are the same as one at a time, and the runs'
seconds are measured side by side, so compare them within one call.
Folds come from the labels' ``fold`` column where there is one (the same for every seed); the
seed varies initial weights, data order and the validation split. The table gives mean ± std
and the 95 % bootstrap CI of the mean per method, then each method minus the first, one pair per
test fold (runs matched on seed and fold, then averaged over seeds: the seeds share their test
slides), with its 95 % CI and Wilcoxon signed-rank p.

JSON (--json): {"runs": [{method, seed, fold, auc, balanced_accuracy, f1, loc_auc, top5_mass,
entropy, seconds, best_epoch}, …], "summary": {method: {metric: {mean, std, n}}},
"paired": {"A|B": {metric: {diff, ci95, p}}}, "meta": {…}} with diff = B − A; NaN is null.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_METHODS = ["abmil_gated", "mean_pool", "max_pool"]
TABLE_METRICS = ["auc", "balanced_accuracy", "f1", "loc_auc", "top5_mass", "entropy",
                 "seconds", "best_epoch"]


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
    ap.add_argument("--seeds", nargs="+", type=_seed, default=[0])
    ap.add_argument("--folds", type=_positive, default=None,
                    help="number of folds (default: the labels' fold column, else 5)")
    ap.add_argument("--epochs", type=_positive, default=6,
                    help="training epochs of every method (default %(default)s: a chapter-sized "
                    "run; 20, the methods' own default, is the README's setting)")
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--threads", type=_positive, default=1,
                    help="torch CPU threads (default 1: one bag per step is too small an "
                    "operation for more to pay off)")
    ap.add_argument("--workers", type=_positive,
                    default=2 if sys.platform.startswith("linux") else 1,
                    help="runs trained at once, in forked processes (default: %(default)s; "
                    "forking needs Linux)")
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


def format_table(result) -> str:
    """Per-method mean ± std [95 % CI], then B − A against the first method."""
    from milhelpers.experiments import bootstrap_ci

    methods = result.methods
    summary = result.summary()
    cells = {}
    for k in TABLE_METRICS:
        for m in methods:
            s = summary[m][k]
            lo, hi = bootstrap_ci(result.values(m, k).to_numpy())
            cells[k, m] = f"{_fmt(s['mean'])} ± {_fmt(s['std'])} [{_fmt(lo)}, {_fmt(hi)}]"
    w = max(len(c) for c in [*cells.values(), *methods]) + 2
    lines = [f"{'metric':18s}" + "".join(f"{m:>{w}s}" for m in methods),
             f"{'':18s}" + "".join(f"{'mean ± std [95% CI]':>{w}s}" for _ in methods)]
    lines += [f"{k:18s}" + "".join(f"{cells[k, m]:>{w}s}" for m in methods)
              for k in TABLE_METRICS]
    ref = methods[0]
    for b in methods[1:]:
        lines += ["", f"{b} − {ref}: diff = B − A, one pair per fold (seeds averaged), "
                      "95% bootstrap CI, Wilcoxon signed-rank p"]
        pairs = result.paired(ref, b, TABLE_METRICS[:-2])
        n = pairs["auc"]["n"]
        if 1 < n < 10:
            lines[-1] += f" (with {n} pairs no p can be below 2/2^{n} = {2 / 2 ** n:.3f})"
        for k, st in pairs.items():
            ci = f"[{_fmt(st['ci95'][0])}, {_fmt(st['ci95'][1])}]"
            p = st["p"]
            ptxt = f"{p:.1e}" if p is not None and p < 0.001 else _fmt(p)
            lines.append(f"  {k:18s}{_fmt(st['diff']):>8s}  {ci:>18s}  p = {ptxt}"
                         f"  (n = {st['n']})")
        sa, sb = summary[ref]["seconds"]["mean"], summary[b]["seconds"]["mean"]
        lines.append(f"  training cost {b} / {ref}: {_fmt(sb / sa, 2)}× (mean seconds per run "
                     f"{_fmt(sb, 1)} vs {_fmt(sa, 1)}; a two-stage method's seconds include its "
                     "first stage)")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from milhelpers.datasets import DataMismatchError
    from milhelpers.experiments import open_dataset, run_experiments
    from milhelpers.h5io import atomic_output
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
                                     threads=args.threads, workers=args.workers)
        wall = time.perf_counter() - t0
    except (DataMismatchError, FileNotFoundError, ValueError, KeyError, OSError) as err:
        return fail(err.args[0] if err.args else str(err))
    n = len(result.runs)
    print(f"\n{len(args.methods)} method(s) × {len(args.seeds)} seed(s) × "
          f"{result.meta['folds']} folds on {len(ds)} slides ({result.meta['fold_source']}); "
          f"epochs: {args.epochs}; {result.n_trained} of {n} runs trained, "
          f"{n - result.n_trained} from {args.cache}"
          + (f" (and {extra} first-stage runs trained for them)"
             if (extra := result.meta.get("first_stages_trained")) else "")
          + f"; {wall:.1f} s")
    print(format_table(result))
    if args.json is not None:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(result.to_json(), indent=1))
        print(f"wrote {args.json}")
    if args.figure is not None:
        save_figure(result, args.figure)
        print(f"wrote {args.figure}")
    return 0


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
