"""Command line: ``python -m milhelpers tile|extract|data|encoders|run-notebooks|sweep ...``
and, for your own cohort, ``train|evaluate|predict|heatmap`` (:mod:`milhelpers.cli_cohort`).

Each slide command works on a slide file or a folder of slides, prints one line per slide and a
summary, and exits non-zero when any slide failed. A user error prints one ``error:`` line and
exits 2; Ctrl-C prints one line and exits 130 (rerunning the command resumes: finished outputs
are kept).
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path


def _number(kind, test, what):
    """An argparse type: ``kind(text)`` that must pass ``test``; otherwise a clean usage error."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value
    return parse


_positive_int = _number(int, lambda v: v > 0, "a whole number > 0")
_nonneg_int = _number(int, lambda v: v >= 0, "a whole number ≥ 0")
_fraction = _number(float, lambda v: 0 <= v <= 1, "a fraction between 0 and 1")


def _mpp_type(text: str) -> float:
    from .slides import check_mpp

    try:
        return check_mpp(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).replace("mpp must be", "must be")) from None


def _add_mpp_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mpp", type=_mpp_type, default=None,
                   help="level-0 µm/px (e.g. 0.25 for 40×), used for slides whose files lack it "
                        "or state an implausible value; a file's own value wins, and a --mpp "
                        "more than 10%% away from it is an error unless --force-mpp")
    p.add_argument("--force-mpp", action="store_true",
                   help="use --mpp even where it contradicts the file's own value")


def _add_tiling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target-mpp", type=_mpp_type, default=0.5,
                   help="patch resolution in µm/px (0.5 = 20×, 1.0 = 10×; default 0.5)")
    p.add_argument("--patch-size", type=_positive_int, default=256,
                   help="patch side in px at target mpp (> 0)")
    p.add_argument("--overlap", type=_nonneg_int, default=0,
                   help="overlap in px at target mpp (0 ≤ overlap < patch size)")
    p.add_argument("--min-tissue", type=_fraction, default=0.25,
                   help="minimum tissue fraction of a patch (0–1, default 0.25)")
    p.add_argument("--preset", default="biopsy", choices=["biopsy", "resection", "tcga"],
                   help="segmentation preset (default biopsy)")
    _add_mpp_args(p)


def _scheduler_type(text: str) -> str:
    from .cluster import parse_scheduler

    try:
        parse_scheduler(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).replace(f"--scheduler {text!r}", repr(text))) \
            from None
    return text


def _add_cluster_args(p: argparse.ArgumentParser, what: str) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--scheduler", type=_scheduler_type, default=None, metavar="ADDRESS",
                   help=f"run one Dask task per {what}: local (one worker per core), local:N, or "
                        "a running scheduler's address (tcp://host:8786); a progress bar counts "
                        "finished slides and the dashboard address is printed. Default: in this "
                        "process, which starts fastest for a few slides")
    g.add_argument("--cluster", default=None, metavar="FILE",
                   help="a YAML file describing a SLURM/PBS/SGE/LSF cluster (dask-jobqueue; "
                        "see docs/scaling.md)")


def cmd_tile(args) -> int:
    from .pipeline import find_slides, tile_folder

    t0 = time.perf_counter()
    slides = find_slides(args.slides)
    distributed = args.scheduler is not None or args.cluster is not None
    rep = tile_folder(slides, args.out, progress=distributed, scheduler=args.scheduler,
                      cluster_file=args.cluster, target_mpp=args.target_mpp,
                      patch_size=args.patch_size, overlap=args.overlap,
                      min_tissue=args.min_tissue, params=args.preset, mpp=args.mpp,
                      force_mpp=args.force_mpp, qc=not args.no_qc, overwrite=args.overwrite)
    for r in rep.results:
        where = r.coords_path or "no tissue: nothing written"
        what = "already tiled with these settings, kept" if r.skipped else f"in {r.seconds:.2f} s"
        print(f"{r.slide_id}: {r.n_patches} patches ({r.patch_size_level0} px at level 0, "
              f"level-0 {r.mpp:.4g} µm/px from {r.mpp_source}) {what} -> {where}")
    for name, msg in rep.failed.items():
        print(f"{name}: FAILED: {msg}", file=sys.stderr)
    n = sum(r.n_patches for r in rep.results)
    print(f"tiled {len(rep.results)}/{len(slides)} slides, {n} patches, "
          f"{len(rep.no_tissue)} without tissue, {len(rep.failed)} failed, "
          f"{time.perf_counter() - t0:.1f} s")
    return 1 if rep.failed else 0


def cmd_extract(args) -> int:
    from .pipeline import extract_folder, find_slides

    slides = find_slides(args.slides)
    patches = Path(args.patches_dir) if args.patches_dir else Path(args.out) / "patches"
    if not patches.is_dir():
        print(f"No coordinates folder {patches}: run `python -m milhelpers tile` first or pass "
              "--patches-dir.", file=sys.stderr)
        return 2
    report, feat_dir, missing = extract_folder(
        slides, patches, args.out, args.encoder, weights=args.weights,
        input_size=args.input_size, batch_size=args.batch_size, num_workers=args.workers,
        mpp=args.mpp, progress=not args.quiet, overwrite=args.overwrite, device=args.device,
        precision=args.precision, scheduler=args.scheduler, cluster_file=args.cluster)
    for p in report.written:
        print(f"{p.stem}: written {p}")
    for p in report.skipped:
        print(f"{p.stem}: already done with these settings, skipped")
    for m in missing:
        print(f"{m}: FAILED: no coordinates in {patches} (not tiled, tiling failed, or no "
              "tissue): tile it first, or leave it out", file=sys.stderr)
    for name, msg in report.failed.items():
        print(f"{name}: FAILED: {msg}", file=sys.stderr)
    print(f"encoded {report.n_patches} patches from {len(report.written)} slides with "
          f"{args.encoder} on {report.device} ({report.precision}) in {report.seconds:.1f} s "
          f"({report.patches_per_second:.1f} patches/s); {len(report.skipped)} skipped, "
          f"{len(missing)} without coordinates, {len(report.failed)} failed -> {feat_dir}")
    return 1 if report.failed or missing else 0


def cmd_data(args) -> int:
    from .pipeline import prepare_cohort
    from .synth import CohortConfig

    t0 = time.perf_counter()
    cfg = CohortConfig(n_slides=args.n_slides, seed=args.seed)
    default = CohortConfig()
    # the default cohort lives in ROOT/cohort; any other gets its own folder, never mixed
    name = "cohort" if (cfg.seed, cfg.n_slides) == (default.seed, default.n_slides) else \
        f"cohort_seed{cfg.seed}_n{cfg.n_slides}"
    d = prepare_cohort(Path(args.root) / name, cfg, workers=args.workers, progress=not args.quiet)
    n = len(list(d.features_dir.glob("*.h5")))
    print(f"cohort ready: {n} slides with features in {d.features_dir} "
          f"({time.perf_counter() - t0:.1f} s)")
    return 0


def cmd_run_notebooks(args) -> int:
    """Execute notebooks with papermill (cwd = the notebook's folder) and print one line each."""
    import papermill as pm

    import ast

    params = {}
    for key, value in args.param or []:
        try:
            params[key] = ast.literal_eval(value)  # numbers, None, lists; anything else is a string
        except (ValueError, SyntaxError):
            params[key] = value
    failed = 0
    for nb in map(Path, args.notebooks):
        out = nb if args.inplace else Path(args.out) / nb.name
        out.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(nb), str(out), parameters=params, cwd=str(nb.parent),
                                kernel_name="python3", progress_bar=False)
            status = "ok"
        except Exception as err:  # papermill raises PapermillExecutionError with the cell
            status, failed = f"FAILED ({type(err).__name__}: {str(err).splitlines()[0][:120]})", failed + 1
        key = _key_result(out) if out.exists() else ""
        print(f"{nb.name}: {status} in {time.perf_counter() - t0:.0f} s{' - ' + key if key else ''}",
              flush=True)
    return 1 if failed else 0


def _key_result(path: Path) -> str:
    """The text after 'KEY RESULT:' printed by a notebook's final check, if any."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    for cell in reversed(nb.cells):
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            for line in text.splitlines():
                if line.startswith("KEY RESULT:"):
                    return line[len("KEY RESULT:"):].strip()
    return ""


def cmd_sweep(args) -> int:
    """Run a notebook over a parameter grid; one line per run, a summary, the table's path."""
    from .sweep import run_sweep, sweep_grid

    nb = Path(args.notebook)
    options = [(p[0], p[1:]) for p in args.param or []]
    grid = sweep_grid(nb, options)           # bad names or values stop here, before any run
    out = Path(args.out) if args.out else Path("build") / "sweeps" / nb.stem
    t0 = time.perf_counter()

    def report(run) -> None:
        if run.status == "failed":
            where = run.notebook if run.notebook.exists() else "no notebook written"
            print(f"{run.name}: FAILED ({run.error}) -> {where}", file=sys.stderr, flush=True)
            return
        what = ("done before with these parameters and this code, skipped (--overwrite redoes it)"
                if run.status == "skipped" else f"ok in {run.seconds:.0f} s")
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in run.results.items() if not isinstance(v, (list, dict)))
        shown = shown or "recorded nothing (call milhelpers.record)"
        print(f"{run.name}: {what} - {shown}", flush=True)

    print(f"sweep of {nb}: {len(grid)} runs -> {out}", flush=True)
    res = run_sweep(nb, grid, out, scheduler=args.scheduler, cluster_file=args.cluster,
                    overwrite=args.overwrite, report=report)
    n = {s: sum(r.status == s for r in res.runs) for s in ("ok", "skipped", "failed")}
    fig = f", {res.figure_path}" if res.figure_path else ""
    kept = f" (+ {len(res.earlier)} finished runs of earlier sweeps)" if res.earlier else ""
    print(f"swept {len(res.runs)} runs: {n['ok']} run now, {n['skipped']} skipped, {n['failed']} "
          f"failed, {time.perf_counter() - t0:.0f} s -> {res.table_path}{kept}{fig}")
    return 1 if res.failed else 0


def cmd_encoders(args) -> int:
    from .encoders import list_encoders

    print("\n".join(list_encoders()))
    return 0


#: What Ctrl-C prints (then the command exits 130, the shell's code for SIGINT).
INTERRUPTED = "interrupted; rerun the same command to resume"


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print(f"\n{INTERRUPTED}", file=sys.stderr)
        return 130


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m milhelpers",
                                     description="Tiling, feature extraction, course data, "
                                                 "notebook runs, parameter sweeps, and training, "
                                                 "evaluating, predicting and drawing heatmaps "
                                                 "on your own cohort.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = tile_parser = sub.add_parser("tile", help="segment tissue and write patch coordinates "
                                                  "(+ QC images)")
    p.add_argument("slides", help="a slide file or a folder of slides")
    p.add_argument("out", help="output folder (writes patches/ and qc/)")
    _add_tiling_args(p)
    p.add_argument("--no-qc", action="store_true", help="skip the QC images")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing outputs (without it, outputs made with the same "
                        "settings are kept and ones made otherwise stop the run)")
    _add_cluster_args(p, "slide")
    p.set_defaults(func=cmd_tile)

    p = sub.add_parser("extract", help="encode patches into features_<encoder>/<id>.h5")
    p.add_argument("slides", help="a slide file or a folder of slides")
    p.add_argument("out", help="output folder (reads out/patches unless --patches-dir)")
    p.add_argument("--encoder", default="efficientnet_lite0")
    p.add_argument("--weights", default=None, help="local weights file for the encoder")
    p.add_argument("--input-size", type=_positive_int, default=None,
                   help="override encoder input size (px, > 0)")
    p.add_argument("--patches-dir", default=None)
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--workers", type=_nonneg_int, default=1,
                   help="patch-reading processes beside the encoder (default 1; with "
                        "--scheduler/--cluster each Dask worker reads its own slide instead)")
    p.add_argument("--device", default="auto",
                   help="where the encoder runs: auto (CUDA when a GPU is visible), cpu, cuda, "
                        "cuda:N; each Dask worker of a multi-GPU host takes its own GPU")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="auto: mixed precision (bf16, else fp16) on a GPU, fp32 on the CPU")
    p.add_argument("--mpp", type=_mpp_type, default=None,
                   help="level-0 µm/px for slides whose files lack it (patch positions and sizes "
                        "come from the coordinates files)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing feature files (without it, files made with the same "
                        "encoder, input size and coordinates are kept and others stop the run)")
    p.add_argument("--quiet", action="store_true")
    _add_cluster_args(p, "slide")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("data", help="build the course's synthetic cohort + coordinates + features")
    p.add_argument("--root", default="data",
                   help="data folder; the default cohort goes to ROOT/cohort, others to "
                        "ROOT/cohort_seed<S>_n<N>")
    p.add_argument("--n-slides", type=int, default=120, help="slides in the cohort (default 120)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("run-notebooks", help="execute notebooks with papermill")
    p.add_argument("notebooks", nargs="+")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--out", help="folder for the executed copies")
    g.add_argument("--inplace", action="store_true", help="overwrite the notebooks' outputs")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="papermill parameter (repeatable)")
    p.set_defaults(func=cmd_run_notebooks)

    p = sub.add_parser("sweep", help="run a notebook over a grid of parameter values with "
                                     "papermill and tabulate what it records")
    p.add_argument("notebook",
                   help="the notebook; its cell tagged 'parameters' names what can vary")
    p.add_argument("-p", "--param", nargs="+", action="append", metavar=("NAME", "VALUE"),
                   help="a parameter and its values, e.g. -p lam 0 0.1 1 (repeatable: the grid "
                        "runs every combination); values take the type of the default")
    p.add_argument("--out", default=None,
                   help="output folder: <out>/<name>=<value>,.../notebook.ipynb per run, "
                        "<out>/results.csv and results.png (default build/sweeps/<notebook>)")
    p.add_argument("--scheduler", default=None, metavar="local|local:N|tcp://HOST:PORT",
                   help="where the runs go, one Dask task each: a local cluster of one worker "
                        "per core (default), of N workers (local:N: N notebooks at once), or a "
                        "running Dask scheduler whose workers see --out and the notebook")
    p.add_argument("--cluster", default=None, metavar="FILE",
                   help="a dask-jobqueue cluster (SLURM, PBS, SGE, LSF) described by a YAML "
                        "file (see milhelpers.cluster); instead of --scheduler")
    p.add_argument("--overwrite", action="store_true",
                   help="run again the runs already done (by default a run whose result.json "
                        "has the same parameters, notebook code cells and milhelpers sources is "
                        "skipped; data files the notebook reads are not compared)")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("encoders", help="list registered encoders")
    p.set_defaults(func=cmd_encoders)

    from .cli_cohort import add_commands

    add_commands(sub)     # train, evaluate, predict, heatmap

    args = parser.parse_args(argv)
    if args.command == "tile" and args.overlap >= args.patch_size:
        tile_parser.error(f"argument --overlap: {args.overlap} must be smaller than --patch-size "
                     f"({args.patch_size})")
    warnings.simplefilter("default")
    # a warning is one line for the user, not the source line of the package that raised it
    plain_format = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *args, **kw: f"warning: {message}\n"
    try:
        return args.func(args)
    except (OSError, ValueError, KeyError, RuntimeError) as err:  # user errors: no traceback
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {msg}", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = plain_format


if __name__ == "__main__":
    sys.exit(main())
