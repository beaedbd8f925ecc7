"""Folder-level runs of tiling and feature extraction, and the course's default data build.

Used by the CLI (``python -m milhelpers tile|extract|data``) and by the notebooks, which call
:func:`prepare_cohort` so that each chapter runs alone on a fresh clone.
"""
from __future__ import annotations

import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ._progress import progress_bar
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
    """Create ``folder`` if needed and prove a file can be written there, before any slide work.

    Raises PermissionError (an OSError) that names the folder and says what to do.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
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


def tile_folder(slides: str | Path | list[Path], out_dir: str | Path, *, progress: bool = True,
                **tile_kwargs) -> FolderReport:
    """Tile every slide; a slide that fails is reported and the others go on.

    Before any slide is read: the numbers are validated, slide names must be unique, the output
    folders must be writable, and every existing coordinates file must have been made with the
    requested settings (else :class:`~milhelpers.tiling.StaleOutputError`, unless ``overwrite``).
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
    for p in progress_bar(paths, desc="tiling", unit="slide", enabled=progress):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", NoTissueWarning)
                res: TilingResult = tile_slide(p, out_dir, **tile_kwargs)
            for w in caught:
                if not issubclass(w.category, NoTissueWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            if res.n_patches == 0:
                report.no_tissue.append(res.slide_id)
            report.results.append(res)
        except (SlideError, OSError, ValueError) as err:
            report.failed[Path(p).name] = str(err)
    report.seconds = time.perf_counter() - t0
    return report


def extract_folder(slides: str | Path | list[Path], patches_dir: str | Path, out_dir: str | Path,
                   encoder_name: str = "efficientnet_lite0", *, weights: str | None = None,
                   input_size: int | None = None, batch_size: int = 64, num_workers: int = 1,
                   mpp: float | None = None, progress: bool = True, overwrite: bool = False):
    """Encode every slide that has ``patches_dir/<id>.h5`` into ``out_dir/features_<enc>/``.

    Returns ``(ExtractionReport, features_dir, missing)`` where ``missing`` lists slides without
    coordinates (not tiled, or no tissue). Slide names must be unique and the features folder
    writable (checked before the encoder is loaded); per-slide failures are in
    ``report.failed``.
    """
    from .encoders import get_encoder
    from .features import ExtractionJob, extract_features

    if input_size is not None and (isinstance(input_size, bool) or int(input_size) != input_size
                                   or input_size <= 0):
        raise ValueError(f"input_size must be a positive whole number of pixels, got {input_size!r}")
    if batch_size <= 0 or num_workers < 0:
        raise ValueError(f"batch_size must be > 0 and num_workers ≥ 0, got {batch_size}, "
                         f"{num_workers}")
    if mpp is not None:
        check_mpp(mpp)
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
    encoder = get_encoder(encoder_name, weights=weights, input_size=input_size)
    report = extract_features(jobs, encoder, batch_size=batch_size, num_workers=num_workers,
                              progress=progress, overwrite=overwrite)
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
