"""Folder-level runs of tiling and feature extraction, and the course's default data build.

Used by the CLI (``python -m milhelpers tile|extract|data``) and by the notebooks, which call
:func:`prepare_cohort` so that each chapter runs alone on a fresh clone.
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ._progress import progress_bar
from .h5io import remove_partials
from .slides import SLIDE_EXTENSIONS, SlideError, check_mpp
from .tiling import (PRESETS, NoTissueWarning, StaleOutputError, TilingResult,
                     check_tiling_params, get_preset, stale_coords_reason, tile_slide,
                     tiling_settings)

__all__ = ["find_slides", "check_unique_ids", "check_writable", "tile_folder", "extract_folder",
           "CohortData", "prepare_cohort", "COHORT_TILING", "COHORT_ENCODER", "COHORT_INPUT_SIZE", "FolderReport"]

#: How the synthetic cohort is tiled and encoded by default (see chapter 01 for the trade-off):
#: 112-px patches at 1 µm/px (10×), encoded at their native 112 px — about 6× cheaper than
#: 224-px inputs, which keeps the whole build within minutes on two CPU cores. The biopsy preset
#: with a smaller median blur keeps the thin fragments of the small synthetic slides.
COHORT_TILING = dict(target_mpp=1.0, patch_size=112, overlap=0, min_tissue=0.25,
                     params=PRESETS["biopsy"].replace(mthresh=7))
COHORT_ENCODER = "efficientnet_lite0"
COHORT_INPUT_SIZE = 112


def find_slides(path: str | Path) -> list[Path]:
    """A single slide file, or every slide file (by extension) directly inside a folder.

    Hidden files (``.name``, including macOS ``._name.svs`` resource forks) are skipped. Two
    slides sharing a stem (``a.svs`` and ``a.tif``) would write the same ``patches/a.h5``, so
    they are refused before any work.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"No slide file or folder at {path}")
    slides = sorted(p for p in path.iterdir()
                    if p.suffix.lower() in SLIDE_EXTENSIONS and not p.name.startswith("."))
    if not slides:
        raise FileNotFoundError(f"No slides ({', '.join(SLIDE_EXTENSIONS)}) in {path}")
    check_unique_ids(slides)
    return slides


def check_unique_ids(paths: list[Path]) -> None:
    """Raise ValueError naming every group of slides whose outputs would share a file name."""
    by_id: dict[str, list[Path]] = {}
    for p in paths:
        by_id.setdefault(Path(p).stem, []).append(Path(p))
    clashes = [ps for ps in by_id.values() if len(ps) > 1]
    if clashes:
        names = "; ".join(" and ".join(str(p) for p in ps) for ps in clashes)
        raise ValueError(f"Slides with the same name would write the same output file: {names}. "
                         "Outputs are named after the file name without its extension; rename "
                         "or move one of each pair, then run again.")


def check_writable(folder: str | Path) -> Path:
    """Prove that files can be written in ``folder``, before any slide work, without creating
    it: the folder, or the nearest existing folder above it, must take a file (folders are made
    only when an output is written into them).

    Raises PermissionError (an OSError) that names the folder and says what to do.
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is a file, not a folder")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise PermissionError(
            f"Cannot write to the output folder {folder} ({err.strerror or err}). Choose a folder "
            "you can write to, or fix its permissions.") from err
    return folder


@dataclass
class FolderReport:
    """Outcome of a folder run: per-slide results and failures (slide → message)."""

    results: list = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    no_tissue: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _distributed(scheduler, cluster_file, client) -> bool:
    return scheduler is not None or cluster_file is not None or client is not None


def _tile_one(path: Path, out_dir: Path, tile_kwargs: dict) -> tuple[TilingResult, list]:
    """Tile one slide; warnings other than "no tissue" come back to be shown by the caller.
    Temporary files left by an earlier, killed attempt at this slide are removed first."""
    stem = Path(path).stem
    remove_partials(out_dir / "patches" / f"{stem}.h5")
    remove_partials(out_dir / "qc" / f"{stem}.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NoTissueWarning)
        res = tile_slide(path, out_dir, **tile_kwargs)
    shown = [(str(w.message), w.category, w.filename, w.lineno) for w in caught
             if not issubclass(w.category, NoTissueWarning)]
    return res, shown


def _tile_task(path: Path, out_dir: Path, tile_kwargs: dict) -> tuple[TilingResult, list]:
    """:func:`_tile_one` as a Dask task: the tissue mask stays on the worker."""
    res, shown = _tile_one(path, out_dir, tile_kwargs)
    return dataclasses.replace(res, tissue=None), shown


#: Per-slide errors that are the slide's (reported by message alone, the others go on).
SLIDE_ERRORS = (SlideError, OSError, ValueError)


def tile_folder(slides: str | Path | list[Path], out_dir: str | Path, *, progress: bool = True,
                scheduler: str | None = None, cluster_file: str | Path | None = None,
                client=None, **tile_kwargs) -> FolderReport:
    """Tile every slide; a slide that fails is reported and the others go on.

    Before any slide is read: the numbers are validated, slide names must be unique, the output
    folders must be writable, and every existing coordinates file must have been made with the
    requested settings (else :class:`~milhelpers.tiling.StaleOutputError`, unless ``overwrite``).
    Folders are created only when a file is written into them.

    In this process by default; with ``scheduler`` (``"local:N"``, ``"tcp://…"``),
    ``cluster_file`` or a Dask ``client``, one task per slide on that cluster
    (:func:`milhelpers.cluster.run_tasks`), with the same files, skips and failures.
    """
    t0 = time.perf_counter()
    check_tiling_params(tile_kwargs.get("target_mpp", 0.5), tile_kwargs.get("patch_size", 256),
                        tile_kwargs.get("overlap", 0), tile_kwargs.get("min_tissue", 0.25))
    paths = slides if isinstance(slides, list) else find_slides(slides)
    check_unique_ids(paths)
    out_dir = Path(out_dir)
    check_writable(out_dir / "patches")
    if tile_kwargs.get("qc", True):
        check_writable(out_dir / "qc")
    if not tile_kwargs.get("overwrite", False):
        params = tile_kwargs.get("params", "biopsy")
        requested = tiling_settings(tile_kwargs.get("target_mpp", 0.5),
                                  tile_kwargs.get("patch_size", 256), tile_kwargs.get("overlap", 0),
                                  tile_kwargs.get("min_tissue", 0.25),
                                  get_preset(params) if isinstance(params, str) else params)
        stale = [reason for p in paths
                 if (cp := out_dir / "patches" / f"{Path(p).stem}.h5").exists()
                 and (reason := stale_coords_reason(cp, requested))]
        if stale:
            raise StaleOutputError("\n".join(stale))
    report = FolderReport()

    def add(res: TilingResult, shown: list) -> None:
        for message, category, filename, lineno in shown:
            warnings.warn_explicit(message, category, filename, lineno)
        if res.n_patches == 0:
            report.no_tissue.append(res.slide_id)
        report.results.append(res)

    if not _distributed(scheduler, cluster_file, client):
        for p in progress_bar(paths, desc="tiling", unit="slide", enabled=progress):
            try:
                add(*_tile_one(p, out_dir, tile_kwargs))
            except SLIDE_ERRORS as err:
                report.failed[Path(p).name] = str(err)
    else:
        from .cluster import run_tasks

        def cleanup(name: str) -> None:   # a stopped worker's half-written files
            stem = Path(name).stem
            remove_partials(out_dir / "patches" / f"{stem}.h5")
            remove_partials(out_dir / "qc" / f"{stem}.png")

        done = run_tasks(_tile_task, paths, keys=[Path(p).name for p in paths],
                         args=(out_dir, tile_kwargs), client=client, scheduler=scheduler,
                         cluster_file=cluster_file, desc="tiling", unit="slide",
                         progress=progress, expected=SLIDE_ERRORS, cleanup=cleanup)
        for res, shown in done.results.values():
            add(res, shown)
        report.failed.update(done.failed)
    report.seconds = time.perf_counter() - t0
    return report


def extract_folder(slides: str | Path | list[Path], patches_dir: str | Path, out_dir: str | Path,
                   encoder_name: str = "efficientnet_lite0", *, weights: str | None = None,
                   input_size: int | None = None, batch_size: int = 64, num_workers: int = 1,
                   mpp: float | None = None, progress: bool = True, overwrite: bool = False,
                   device: str = "auto", precision: str = "auto", scheduler: str | None = None,
                   cluster_file: str | Path | None = None, client=None):
    """Encode every slide that has ``patches_dir/<id>.h5`` into ``out_dir/features_<enc>/``.

    Returns ``(ExtractionReport, features_dir, missing)`` where ``missing`` lists slides without
    coordinates (not tiled, tiling failed, or no tissue). Before any slide is read: the numbers
    and the encoder name are checked, slide names must be unique, the features folder writable
    (it is created only when a file is written) and the encoder loadable; per-slide failures
    are in ``report.failed``.

    ``device``: ``auto`` (CUDA when present), ``cpu``, ``cuda``; ``precision``: ``auto`` (mixed
    precision on a GPU, fp32 on the CPU), ``fp32``, ``bf16``, ``fp16``. With ``scheduler`` /
    ``cluster_file`` / ``client``, one task per slide on that cluster: each worker builds the
    encoder once, on its own GPU where it has one, reads its slide's patches itself
    (``num_workers`` applies to the in-process run only) and writes its slides' files; the
    driver only checks the inputs and gathers the reports.
    """
    from .encoders import check_device, check_encoder_name, get_encoder, resolve_device
    from .features import ExtractionJob, ExtractionReport, extract_features, resolve_precision

    if input_size is not None and (isinstance(input_size, bool) or int(input_size) != input_size
                                   or input_size <= 0):
        raise ValueError(f"input_size must be a positive whole number of pixels, got {input_size!r}")
    if batch_size <= 0 or num_workers < 0:
        raise ValueError(f"batch_size must be > 0 and num_workers ≥ 0, got {batch_size}, "
                         f"{num_workers}")
    if mpp is not None:
        check_mpp(mpp)
    check_encoder_name(encoder_name)
    check_device(device)
    distributed = _distributed(scheduler, cluster_file, client)
    # the driver of a cluster run checks the encoder on its CPU; the workers pick their device
    dev = resolve_device("cpu" if distributed else device)
    resolve_precision(precision, dev)
    paths = slides if isinstance(slides, list) else find_slides(slides)
    check_unique_ids(paths)
    patches_dir, out_dir = Path(patches_dir), Path(out_dir)
    feat_dir = out_dir / f"features_{encoder_name}"
    jobs, missing = [], []
    for p in paths:
        cp = patches_dir / f"{Path(p).stem}.h5"
        if cp.exists():
            jobs.append(ExtractionJob(Path(p), cp, feat_dir / f"{Path(p).stem}.h5", mpp))
        else:
            missing.append(Path(p).stem)
    if jobs:
        check_writable(feat_dir)
    encoder = get_encoder(encoder_name, weights=weights, input_size=input_size, device=dev)
    if not distributed:
        report = extract_features(jobs, encoder, batch_size=batch_size, num_workers=num_workers,
                                  progress=progress, overwrite=overwrite, precision=precision)
        return report, feat_dir, missing
    from .cluster import run_tasks
    from .features import extract_slide, split_done

    t0 = time.perf_counter()
    pending, skipped = split_done(jobs, encoder, overwrite)
    done = run_tasks(extract_slide, pending, keys=[j.slide_path.name for j in pending],
                     kwargs=dict(encoder_name=encoder_name, weights=weights,
                                 input_size=input_size, batch_size=batch_size, device=device,
                                 precision=precision, overwrite=overwrite),
                     client=client, scheduler=scheduler, cluster_file=cluster_file,
                     desc=f"encoding ({encoder_name})", unit="slide", progress=progress,
                     expected=SLIDE_ERRORS,
                     cleanup=lambda name: remove_partials(feat_dir / f"{Path(name).stem}.h5"))
    parts = list(done.results.values())
    report = ExtractionReport(
        [p for r in parts for p in r.written], skipped + [p for r in parts for p in r.skipped],
        sum(r.n_patches for r in parts), time.perf_counter() - t0,
        {**{k: v for r in parts for k, v in r.failed.items()}, **done.failed},
        ", ".join(sorted({r.device for r in parts})) or check_device(device),
        ", ".join(sorted({r.precision for r in parts})) or resolve_precision(precision, dev))
    return report, feat_dir, missing


@dataclass
class CohortData:
    """Where the default course data lives once :func:`prepare_cohort` has run."""

    root: Path
    slides_dir: Path
    labels_csv: Path
    patches_dir: Path
    features_dir: Path
    masks_dir: Path


def prepare_cohort(root: str | Path = "data/cohort", cfg=None, *, workers: int = 2,
                   progress: bool = True) -> CohortData:
    """Build (or reuse) the synthetic cohort, its coordinates and its features.

    Every stage skips work already on disk, so a second call returns in about a second.
    """
    from .synth import CohortConfig, build_cohort

    root = Path(root)
    cfg = cfg or CohortConfig()
    cohort = build_cohort(root, cfg, workers=workers, progress=progress)
    slides = sorted(cohort.slides_dir.glob("*.tiff"))
    pending = [s for s in slides if not (root / "patches" / f"{s.stem}.h5").exists()]
    if pending:
        rep = tile_folder(pending, root, progress=progress, qc=False, **COHORT_TILING)
        if rep.failed:
            raise RuntimeError(f"tiling failed for {rep.failed}")
    feat_dir = root / f"features_{COHORT_ENCODER}"
    if any(not (feat_dir / f"{s.stem}.h5").exists() for s in slides):
        extract_folder(slides, root / "patches", root, COHORT_ENCODER,
                       input_size=COHORT_INPUT_SIZE, progress=progress)
    return CohortData(root, cohort.slides_dir, cohort.labels_csv, root / "patches", feat_dir,
                      root / "masks")
