"""What each patch (instance) of a slide is: its features, coordinates and ground truth.

A *patch table* joins a features file with what is known about every patch in it: the
fraction of the patch covered by ground-truth tumour (from a mask, where one exists) and the
fraction covered by tissue as the tiling step measured it (the rest is glass). Both come from
the same integral-image box sum the tiling uses (:func:`milhelpers.tiling.box_fraction`):
for a patch with top-left :math:`(x, y)` and side :math:`s` (level-0 px),

.. math:: f = \\frac{1}{|B|}\\sum_{p \\in B} m(p), \\qquad B = [x, x+s) \\times [y, y+s)

read on the low-resolution mask :math:`m`. Chapters use these tables to check what the
features (and later the attention) pick up, and MIL training never sees them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .h5io import h5_attrs, read_features
from .slides import Slide
from .tiling import SegmentationParams, TissueMask, box_fraction, segment_tissue

__all__ = ["PatchTable", "patch_table", "cohort_patch_table"]


@dataclass
class PatchTable:
    """One slide's patches: ``features`` (N×D), level-0 ``coords`` (N×2), patch side
    ``patch_size0`` (level-0 px), and per-patch ``tumour_fraction`` / ``tissue_fraction`` in
    [0, 1] (None where unknown)."""

    slide_id: str
    features: np.ndarray
    coords: np.ndarray
    patch_size0: int
    tumour_fraction: np.ndarray | None = None
    tissue_fraction: np.ndarray | None = None

    def frame(self) -> pd.DataFrame:
        """The per-patch columns (no features) as a DataFrame, one row per patch."""
        n = len(self.coords)
        nan = np.full(n, np.nan)
        return pd.DataFrame({
            "slide_id": self.slide_id, "x": self.coords[:, 0], "y": self.coords[:, 1],
            "tumour_fraction": nan if self.tumour_fraction is None else self.tumour_fraction,
            "tissue_fraction": nan if self.tissue_fraction is None else self.tissue_fraction})


def patch_table(features_path: str | Path, *,
                tumour_mask: tuple[np.ndarray, tuple[float, float]] | None = None,
                tissue: TissueMask | None = None) -> PatchTable:
    """Read a features file and measure each patch against the masks given.

    ``tumour_mask`` is ``(mask, (downsample_x, downsample_y))`` as returned by
    :func:`milhelpers.synth.load_tumour_mask`; ``tissue`` a :class:`~milhelpers.tiling.TissueMask`.
    The patch side is the ``patch_size_level0`` attribute that tiling writes on ``coords``.
    """
    path = Path(features_path)
    features, coords = read_features(path)
    if len(coords) == 0:
        raise ValueError(f"{path}: the features file has no 'coords' dataset, so patches cannot "
                         "be placed on the slide; extract features with coordinates "
                         "(python -m milhelpers extract).")
    size0 = h5_attrs(path, "coords").get("patch_size_level0")
    if size0 is None:
        raise ValueError(f"{path}: 'coords' has no 'patch_size_level0' attribute (the patch side "
                         "in level-0 px). Add it with h5py, e.g. f['coords'].attrs"
                         "['patch_size_level0'] = 512 for 256-px patches at 20× on a 40× scan.")
    size0 = int(size0)
    tumour = box_fraction(*tumour_mask, coords, size0) if tumour_mask is not None else None
    tissue_frac = (box_fraction(tissue.mask, tissue.downsample, coords, size0)
                   if tissue is not None else None)
    return PatchTable(path.stem, features, coords, size0, tumour, tissue_frac)


def cohort_patch_table(cohort_root: str | Path, features_dir: str | Path,
                       slide_ids: Sequence[str], params: SegmentationParams | str | None = None,
                       ) -> tuple[np.ndarray, pd.DataFrame]:
    """All patches of ``slide_ids`` in one table: ``(X, table)`` with ``X`` (N×D) row-aligned
    with ``table`` (columns slide_id, x, y, tumour_fraction, tissue_fraction).

    Tumour fractions come from the cohort's masks (``cohort_root/masks``); tissue fractions from
    re-segmenting each slide (``cohort_root/slides/<id>.tiff``) with ``params`` (default: the
    segmentation the cohort was tiled with, :data:`milhelpers.pipeline.COHORT_TILING`).
    """
    from .pipeline import COHORT_TILING
    from .synth import load_tumour_mask

    root, features_dir = Path(cohort_root), Path(features_dir)
    params = COHORT_TILING["params"] if params is None else params
    xs, frames = [], []
    for sid in slide_ids:
        with Slide(root / "slides" / f"{sid}.tiff") as s:
            tissue = segment_tissue(s, params)
        t = patch_table(features_dir / f"{sid}.h5", tumour_mask=load_tumour_mask(root, sid),
                        tissue=tissue)
        xs.append(t.features)
        frames.append(t.frame())
    return np.concatenate(xs), pd.concat(frames, ignore_index=True)
