"""``python -m milhelpers train | evaluate | predict | heatmap``: from the course to your own cohort.

The same registry, runner and files as the chapters (:mod:`milhelpers.trained`): ``train``
cross-validates a registered method on your features and labels and writes a run folder;
``evaluate`` scores that run on held-out labelled slides; ``predict`` scores new slides;
``heatmap`` draws one slide's attention.
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

_TRAIN_EXAMPLES = """\
examples:
  python -m milhelpers train --method abmil_gated --features out/features_efficientnet_lite0 \\
      --labels labels.csv --out runs/mine --epochs 20 --seeds 0 1 2
  python -m milhelpers train --method linear_attention --plugin my_methods.py \\
      --features feats/ --labels labels.csv --out runs/linear \\
      --label-map '{"normal": 0, "tumor": 1}'

Writes RUN_DIR/run.json (what rebuilds the models: method, options, code fingerprint, plugins,
input width, classes, label map), RUN_DIR/runs/ (one model per seed and fold: weights, test
predictions, metrics), RUN_DIR/predictions.csv (out-of-fold probabilities per slide and seed) and
RUN_DIR/summary.json. Folds: the labels' fold column where there is one, else --folds (default 5)
stratified folds grouped by case_id. A run's cached models are keyed by the method's code, so an
edited method is trained again. Interrupted? Run the same command again: finished folds are kept.
"""
_EVALUATE_EXAMPLES = """\
example:
  python -m milhelpers evaluate --run runs/mine --features heldout/features_efficientnet_lite0 \\
      --labels heldout/labels.csv

Every fold model of every seed scores each slide; a slide's probabilities are their mean. AUC and
balanced accuracy come with 95% percentile bootstrap intervals over cases (case_id; slides where
the CSV has none), all slides of a case resampled together.
"""
_PREDICT_EXAMPLES = """\
example:
  python -m milhelpers predict --run runs/mine --features new/features_efficientnet_lite0 \\
      --out new/predictions.csv

One row per <slide_id>.h5 of DIR: slide_id, n_patches, prob_<class> for each class (the mean of the
fold models' probabilities) and the predicted class. A file that cannot be used is reported and
the others are scored (the command then exits 1).
"""
_HEATMAP_EXAMPLES = """\
example:
  python -m milhelpers heatmap --run runs/mine --slide slides/case_07.svs \\
      --features out/features_efficientnet_lite0/case_07.h5 --out case_07_attention.png

Two panels, as the chapters draw them: the models' mean attention a_k on an absolute scale, and
its rank within the slide; each with a colour bar and a µm scale bar.
"""


def _dict_arg(text: str) -> dict:
    """--label-map: a JSON object or a Python dict literal."""
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, dict):
            return value
    raise argparse.ArgumentTypeError(f"{text!r} is not a map of label text to class index, e.g. "
                                     "'{\"normal\": 0, \"tumor\": 1}'")


def _mpp_arg(text: str) -> float:
    from .slides import check_mpp

    try:
        return check_mpp(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).replace("mpp must be", "must be")) from None


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"{v} must be >= {minimum}")
        return v
    return parse


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="a folder written by train")
    p.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                   help="the plugin that registers the run's method, where it is not at the path "
                        "train recorded (repeatable)")
    p.add_argument("--allow-code-change", action="store_true",
                   help="use the saved weights even though the method's code changed since "
                        "training (by default such a run is refused)")


def _text_labels_need_a_map(labels: Path, label_map: dict | None) -> None:
    """Text labels without --label-map: the message shows the option to write."""
    import pandas as pd

    from .datasets import DataMismatchError

    if label_map is not None or not labels.is_file():
        return
    try:
        values = pd.read_csv(labels, usecols=["label"])["label"].dropna()
    except (ValueError, OSError):
        return                      # the loader says what is wrong with the file
    if len(values) and not pd.api.types.is_numeric_dtype(values):
        found = sorted(set(values.astype(str)))
        example = json.dumps({t: i for i, t in enumerate(found)})
        raise DataMismatchError(f"{labels}: the labels are text ({', '.join(found)}); say which "
                                f"class is which with --label-map '{example}' (the class with "
                                "index 1 is the positive one for the AUC)")


def _per_class(values, classes) -> str:
    """'0: 10, 1: 13' — slides per class name."""
    counts = values.astype(str).value_counts()
    return ", ".join(f"{c}: {int(counts.get(str(c), 0))}" for c in classes)


def _n(count: int, noun: str) -> str:
    """'1 seed', '3 seeds'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _folds_from(source: str) -> str:
    return ("the labels' fold column" if "column" in source
            else "stratified by label, grouped by case_id")


def _out_free(path: Path, overwrite: bool) -> None:
    from .trained import RunExistsError

    if path.exists() and not overwrite:
        raise RunExistsError(f"{path} exists; pass --overwrite to replace it")


def cmd_train(args) -> int:
    from .experiments import mean_ci_table
    from .trained import train_run

    _text_labels_need_a_map(Path(args.labels), args.label_map)
    t0 = time.perf_counter()
    result = train_run(args.method, args.features, args.labels, args.out, folds=args.folds,
                       seeds=args.seeds, epochs=args.epochs, label_map=args.label_map,
                       plugins=args.plugin, overwrite=args.overwrite, workers=args.workers,
                       progress=not args.quiet)
    info = json.loads((Path(args.out) / "run.json").read_text())
    n = len(result.runs)
    print(f"{info['method']} on {_n(len(info['slides']), 'slide')} ({info['in_dim']}-d "
          f"features, classes {', '.join(info['class_names'])}): {info['folds']} folds "
          f"({_folds_from(info['fold_source'])}) × {_n(len(info['seeds']), 'seed')}, "
          f"{_n(info['train_config']['epochs'], 'epoch')}; {result.n_trained} of {_n(n, 'run')} "
          f"trained, {n - result.n_trained} read from {Path(args.out) / 'runs'}; "
          f"{time.perf_counter() - t0:.1f} s")
    metrics = [m for m in ("auc", "balanced_accuracy", "f1", "loc_auc", "top5_mass", "entropy")
               if result.runs[m].notna().any()]
    table = mean_ci_table(result, metrics).T
    table.columns = ["mean [95% bootstrap CI] over the test folds"]
    print(table.to_string())
    print(f"wrote {Path(args.out) / 'run.json'}, predictions.csv (out-of-fold: "
          f"{_n(len(info['slides']), 'slide')} × {_n(len(info['seeds']), 'seed')}), "
          "summary.json")
    return 0


def cmd_evaluate(args) -> int:
    from .trained import TrainedRun, evaluate_run

    if args.out:
        _out_free(Path(args.out), args.overwrite)
    run = TrainedRun.load(args.run, args.plugin, args.allow_code_change)
    stats, table = evaluate_run(run, args.features, args.labels, n_resamples=args.resamples)
    if run.code_changed:
        print("warning: the method's code changed since training (--allow-code-change)")
    for what, ids in (("slides", stats["overlap_slides"]), ("cases", stats["overlap_cases"])):
        if ids:
            print(f"warning: {len(ids)} of these {what} were in the run's training data "
                  f"({', '.join(ids[:5])}{', …' if len(ids) > 5 else ''}): they are not "
                  "held out")
    print(f"{run.info['method']} ({_n(len(run.models), 'model')}: {run.info['folds']} folds × "
          f"{_n(len(run.info['seeds']), 'seed')}) on {_n(stats['n_slides'], 'held-out slide')} "
          f"from {_n(stats['n_cases'], 'case')} (per class: "
          f"{_per_class(table['label'], run.class_names)})")
    print(f"a slide's probabilities: the mean of the models'; intervals: "
          f"95% percentile bootstrap over cases ({stats['n_resamples']} resamples"
          + (f", {stats['auc_resamples']} with both classes for the AUC"
             if stats["auc_resamples"] < stats["n_resamples"] else "") + ")")
    for name, key in (("AUC", "auc"), ("balanced accuracy", "balanced_accuracy")):
        lo, hi = stats[f"{key}_ci"]
        print(f"  {name:18s} {stats[key]:.3f} [{lo:.3f}, {hi:.3f}]")
    if args.out:
        from .h5io import atomic_output

        with atomic_output(args.out) as tmp:
            table.to_csv(tmp, index=False)
        print(f"wrote {args.out} ({len(table)} slides)")
    return 0


def cmd_predict(args) -> int:
    from .h5io import atomic_output
    from .trained import TrainedRun, predict_folder

    out = Path(args.out)
    _out_free(out, args.overwrite)
    run = TrainedRun.load(args.run, args.plugin, args.allow_code_change)
    table, failed = predict_folder(run, args.features)
    for name, why in failed.items():
        print(f"{name}: FAILED: {why}", file=sys.stderr)
    if len(table):
        with atomic_output(out) as tmp:
            table.to_csv(tmp, index=False)
    print(f"predicted {_n(len(table), 'slide')} with {run.info['method']} (the mean of "
          f"{_n(len(run.models), 'model')}; predicted per class: "
          f"{_per_class(table['predicted'], run.class_names)}); {len(failed)} failed"
          + (f" -> {out}" if len(table) else "; nothing written"))
    return 1 if failed else 0


def cmd_heatmap(args) -> int:
    from .trained import TrainedRun, draw_heatmap

    out = Path(args.out)
    _out_free(out, args.overwrite)
    run = TrainedRun.load(args.run, args.plugin, args.allow_code_change)
    res = draw_heatmap(run, args.slide, args.features, out, mpp=args.mpp)
    probs = ", ".join(f"P({c}) = {p:.3f}" for c, p in zip(run.class_names, res["probs"]))
    top = float(res["attention"].max())
    print(f"{Path(args.slide).name}: {res['n_patches']} patches; {probs}; the top patch holds "
          f"{top:.1%} of the attention -> {out}")
    return 0


def add_commands(sub) -> None:
    """Add train, evaluate, predict and heatmap to ``python -m milhelpers``'s subparsers."""
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("train", formatter_class=raw, epilog=_TRAIN_EXAMPLES,
                       help="cross-validate a method on your features and labels; write a run "
                            "folder (weights, out-of-fold predictions, summary)",
                       description="Cross-validate a registered method on a features folder and "
                                   "a labels CSV and print the summary table.")
    p.add_argument("--method", required=True, metavar="NAME",
                   help="a registered method (abmil_gated, acmil, aem, mhim, packmil, …) or one "
                        "a --plugin registers")
    p.add_argument("--features", required=True, metavar="DIR",
                   help="features folder: <slide_id>.h5 with features (N × D) and coords")
    p.add_argument("--labels", required=True, metavar="CSV",
                   help="slide_id,label[,case_id][,fold]; slides of the folder it does not name "
                        "are reported and left out")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="the run folder to write")
    p.add_argument("--folds", type=_int_at_least(2), default=None, metavar="K",
                   help="number of folds (default: the labels' fold column, else 5)")
    p.add_argument("--seeds", type=_int_at_least(0), nargs="+", default=[0], metavar="S",
                   help="seeds, each a full cross-validation (default: 0)")
    p.add_argument("--epochs", type=_int_at_least(1), default=None, metavar="E",
                   help="training epochs (default: the method's own, 20 for most)")
    p.add_argument("--label-map", type=_dict_arg, default=None, metavar="JSON",
                   help="text labels to class indices, e.g. '{\"normal\": 0, \"tumor\": 1}' "
                        "(index 1 is the positive class of the AUC)")
    p.add_argument("--plugin", action="append", default=[], metavar="FILE",
                   help="a .py file or module that registers your method (repeatable)")
    p.add_argument("--workers", type=_int_at_least(1), default=1,
                   metavar="N", help="runs trained at once, on a local Dask cluster of N "
                                     "worker processes (default 1: one after another here)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a finished run in RUN_DIR (its runs with the same settings and "
                        "code are reused)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", formatter_class=raw, epilog=_EVALUATE_EXAMPLES,
                       help="a trained run on held-out labelled slides: AUC and balanced "
                            "accuracy with bootstrap intervals",
                       description="Score a trained run on a held-out features folder + labels "
                                   "CSV.")
    _add_run_args(p)
    p.add_argument("--features", required=True, metavar="DIR", help="held-out features folder")
    p.add_argument("--labels", required=True, metavar="CSV",
                   help="held-out labels (slide_id,label[,case_id]; text labels are read with "
                        "the run's label map)")
    p.add_argument("--out", default=None, metavar="CSV",
                   help="also write one row per slide (label, probabilities, predicted class)")
    p.add_argument("--resamples", type=_int_at_least(200), default=2000,
                   help="bootstrap resamples (default 2000, at least 200)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", formatter_class=raw, epilog=_PREDICT_EXAMPLES,
                       help="score new slides with a trained run: one row per slide",
                       description="Score every features file of a folder with a trained run.")
    _add_run_args(p)
    p.add_argument("--features", required=True, metavar="DIR", help="features folder to score")
    p.add_argument("--out", required=True, metavar="CSV", help="the predictions file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("heatmap", formatter_class=raw, epilog=_HEATMAP_EXAMPLES,
                       help="draw a trained run's attention on one slide (PNG)",
                       description="Draw the attention of a trained run's models on one slide.")
    _add_run_args(p)
    p.add_argument("--slide", required=True, metavar="SLIDE_FILE",
                   help="the slide (any format OpenSlide reads)")
    p.add_argument("--features", required=True, metavar="H5",
                   help="the slide's features file (features + coords)")
    p.add_argument("--out", required=True, metavar="PNG", help="the figure to write")
    p.add_argument("--mpp", type=_mpp_arg, default=None,
                   help="level-0 µm/px for a slide whose file lacks it (for the scale bar)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=cmd_heatmap)
