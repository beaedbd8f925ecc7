"""What each patch (instance) of a slide is: its features, coordinates and ground truth.

A *patch table* joins a features file with what is known about every patch in it: the
fraction of the patch covered by ground-truth tumour (from a mask, where one exists) and the
fraction covered by tissue as the tiling step measured it (the rest is glass). Both come from
the same integral-image box sum the tiling uses (:func:`milhelpers.tiling.box_fraction`):
for a patch with top-left :math:`(x, y)` and side :math:`s` (level-0 px),

.. math:: f = \\frac{1}{|B|}\\sum_{p \\in B} m(p), \\qquad B = [x, x+s) \\times [y, y+s)

read on the low-resolution mask :math:`m`. Where a region map exists (the synthetic cohort's
``masks/<id>_regions.png``), the same sum gives the fraction of each region under the patch
(every tumour morphology and every benign mimic), and :func:`patch_kind` names the patch.
Chapters use these tables to check what the features (and later the attention) pick up, and
MIL training never sees them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ._progress import progress_bar
from .h5io import h5_attrs, read_features
from .slides import Slide
from .tiling import SegmentationParams, TissueMask, box_fraction, segment_tissue

__all__ = ["PatchTable", "patch_table", "cohort_patch_table", "patch_kind", "KIND_THRESHOLD",
           "tumour_probe", "PROBE_NEGATIVES", "cohort_patch_kinds",
           "attention_share_by_kind", "KIND_GROUPS", "kind_group", "topk_kind_shares", "mimic_mask"]

#: a patch is tumour (or a mimic) when at least this fraction of it is (the course's instance
#: label, as in :func:`milhelpers.datasets.cohort_instance_labels`)
KIND_THRESHOLD = 0.25


@dataclass
class PatchTable:
    """One slide's patches: ``features`` (N×D), level-0 ``coords`` (N×2), patch side
    ``patch_size0`` (level-0 px), and per-patch ``tumour_fraction`` / ``tissue_fraction`` in
    [0, 1] (None where unknown); ``region_fractions`` maps each region name of a region map
    (e.g. ``"solid"``, ``"benign_glands"``) to its per-patch fraction."""

    slide_id: str
    features: np.ndarray
    coords: np.ndarray
    patch_size0: int
    tumour_fraction: np.ndarray | None = None
    tissue_fraction: np.ndarray | None = None
    region_fractions: dict[str, np.ndarray] | None = None

    def frame(self) -> pd.DataFrame:
        """The per-patch columns (no features) as a DataFrame, one row per patch."""
        n = len(self.coords)
        nan = np.full(n, np.nan)
        cols = {
            "slide_id": self.slide_id, "x": self.coords[:, 0], "y": self.coords[:, 1],
            "tumour_fraction": nan if self.tumour_fraction is None else self.tumour_fraction,
            "tissue_fraction": nan if self.tissue_fraction is None else self.tissue_fraction}
        for name, frac in (self.region_fractions or {}).items():
            cols[f"{name}_fraction"] = frac
        return pd.DataFrame(cols)


def patch_table(features_path: str | Path, *,
                tumour_mask: tuple[np.ndarray, tuple[float, float]] | None = None,
                tissue: TissueMask | None = None,
                region_mask: tuple[np.ndarray, tuple[float, float]] | None = None) -> PatchTable:
    """Read a features file and measure each patch against the masks given.

    ``tumour_mask`` is ``(mask, (downsample_x, downsample_y))`` as returned by
    :func:`milhelpers.synth.load_tumour_mask`; ``tissue`` a :class:`~milhelpers.tiling.TissueMask`;
    ``region_mask`` ``(codes, downsample)`` as returned by :func:`milhelpers.synth.load_region_mask`
    (code ``c`` is region ``synth.REGIONS[c]``; background and plain tissue are not measured).
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
    regions = None
    if region_mask is not None:
        from .synth import REGIONS

        codes, ds = region_mask
        regions = {name: box_fraction(codes == c, ds, coords, size0)
                   for c, name in enumerate(REGIONS) if c >= 2}
    return PatchTable(path.stem, features, coords, size0, tumour, tissue_frac, regions)


def cohort_patch_table(cohort_root: str | Path, features_dir: str | Path,
                       slide_ids: Sequence[str], params: SegmentationParams | str | None = None,
                       ) -> tuple[np.ndarray, pd.DataFrame]:
    """All patches of ``slide_ids`` in one table: ``(X, table)`` with ``X`` (N×D) row-aligned
    with ``table`` (columns slide_id, x, y, tumour_fraction, tissue_fraction, and where the
    cohort has region maps one ``<region>_fraction`` column per region plus ``kind``, see
    :func:`patch_kind`).

    Tumour fractions come from the cohort's masks (``cohort_root/masks``); tissue fractions from
    re-segmenting each slide (``cohort_root/slides/<id>.tiff``) with ``params`` (default: the
    segmentation the cohort was tiled with, :data:`milhelpers.pipeline.COHORT_TILING`).
    """
    from .pipeline import COHORT_TILING
    from .synth import load_region_mask, load_tumour_mask

    root, features_dir = Path(cohort_root), Path(features_dir)
    params = COHORT_TILING["params"] if params is None else params
    xs, frames = [], []
    for sid in slide_ids:
        with Slide(root / "slides" / f"{sid}.tiff") as s:
            tissue = segment_tissue(s, params)
        has_regions = (root / "masks" / f"{sid}_regions.png").exists()
        t = patch_table(features_dir / f"{sid}.h5", tumour_mask=load_tumour_mask(root, sid),
                        tissue=tissue,
                        region_mask=load_region_mask(root, sid) if has_regions else None)
        xs.append(t.features)
        frames.append(t.frame())
    table = pd.concat(frames, ignore_index=True)
    table["kind"] = patch_kind(table)
    return np.concatenate(xs), table


def _region_columns(table: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    return table[[f"{n}_fraction" for n in names]].fillna(0.0).set_axis(list(names), axis=1)


def patch_kind(table: pd.DataFrame, threshold: float = KIND_THRESHOLD) -> np.ndarray:
    """Name each patch by what covers it: the tumour morphology with the largest fraction if
    tumour covers ≥ ``threshold`` of the patch; else the mimic with the largest fraction if it
    covers ≥ ``threshold``; else ``"normal"``.

    Tumour wins over a mimic because the instance label (tumour or not) must not depend on what
    else lies in the patch. A table without region columns gives ``"tumour"`` / ``"normal"``.
    """
    from .synth import MIMICS, MORPHOLOGIES

    tumour = table["tumour_fraction"].fillna(0.0).to_numpy() >= threshold
    if not all(f"{n}_fraction" in table for n in MORPHOLOGIES + MIMICS):
        return np.where(tumour, "tumour", "normal")
    tum, mim = _region_columns(table, MORPHOLOGIES), _region_columns(table, MIMICS)
    mimic = mim.max(axis=1).to_numpy() >= threshold
    kind = np.full(len(table), "normal", dtype=object)
    kind[mimic] = mim.idxmax(axis=1).to_numpy()[mimic]
    kind[tumour] = tum.idxmax(axis=1).to_numpy()[tumour]
    return kind.astype(str)


#: What :func:`tumour_probe` separates tumour from: clear-cut mimic patches, or plain stroma.
PROBE_NEGATIVES = ("mimics", "stroma")


def tumour_probe(X: np.ndarray, table: pd.DataFrame, *, against: str = "mimics",
                 groups: Sequence | None = None, purity: float = 0.5, n_splits: int = 5,
                 C: float = 0.01, seed: int = 0, progress: bool = False) -> pd.DataFrame:
    """How well a supervised linear probe on patch features tells tumour from a look-alike.

    Clear-cut patches only: *tumour* patches are ≥ ``purity`` one morphology; the negatives are,
    with ``against="mimics"``, patches ≥ ``purity`` one mimic with no tumour at all, and with
    ``against="stroma"``, plain tissue — no tumour and no mimic under the patch, ≥ ``purity``
    tissue (the background stroma in which discohesive tumour lies). A logistic regression
    :math:`p(y=1\mid x) = \sigma(w^\top z + b)` on standardised features :math:`z` (L2 penalty,
    inverse strength ``C``) is trained on tumour against those negatives and scored out of fold,
    with folds grouped by ``groups`` — case ids (one per patch) to keep a patient's slides
    together, the slide by default — since patches of one slide (and of one patient's slides)
    share a stain, and a split that ignores it tests on what it trained on. Returns one row per
    morphology present (its tumour patches against all the negatives) and an ``all`` row:
    ``n_tumour``, ``n_negative``, ``auc``. ``progress``: a bar over the folds (tens of seconds on
    the course cohort with 1280-d features).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .synth import MIMICS, MORPHOLOGIES

    if against not in PROBE_NEGATIVES:
        raise ValueError(f"against={against!r}: choose one of {PROBE_NEGATIVES}")
    if len(X) != len(table):
        raise ValueError(f"X has {len(X)} rows but the patch table {len(table)}: pass the pair "
                         "returned by cohort_patch_table")
    missing = [f"{n}_fraction" for n in MORPHOLOGIES + MIMICS if f"{n}_fraction" not in table]
    if missing:
        raise ValueError(f"the patch table lacks {missing}: the probe needs region maps "
                         "(masks/<id>_regions.png, written by the synthetic cohort)")
    groups = table["slide_id"].to_numpy() if groups is None else np.asarray(groups)
    if groups.shape != (len(table),):
        raise ValueError(f"groups has shape {groups.shape}: give one group id per patch "
                         f"({len(table)})")
    tum, mim = _region_columns(table, MORPHOLOGIES), _region_columns(table, MIMICS)
    morph = np.where(tum.max(axis=1) >= purity, tum.idxmax(axis=1), "")
    no_tumour = (tum.sum(axis=1) == 0).to_numpy()
    if against == "mimics":
        negative = (mim.max(axis=1) >= purity).to_numpy() & no_tumour
    else:
        negative = no_tumour & (mim.sum(axis=1) == 0).to_numpy() & (
            table["tissue_fraction"].to_numpy() >= purity)
    use = (morph != "") | negative
    y = (morph[use] != "").astype(int)
    g = groups[use]
    n_groups = len(np.unique(g))
    if y.sum() == 0 or y.sum() == len(y) or n_groups < n_splits:
        raise ValueError(f"the probe needs tumour and {against} patches in at least {n_splits} "
                         f"groups; found {int(y.sum())} tumour and {int(len(y) - y.sum())} "
                         f"{against} patches in {n_groups} groups")
    Xu, scores = np.asarray(X)[use], np.zeros(len(y))
    folds = list(GroupKFold(n_splits, shuffle=True, random_state=seed).split(Xu, y, g))
    for tr, te in progress_bar(folds, desc=f"probe vs {against}", unit="fold",
                               enabled=progress):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000))
        scores[te] = clf.fit(Xu[tr], y[tr]).decision_function(Xu[te])
    rows, m = [], morph[use]
    for name in MORPHOLOGIES + ("all",):
        sel = (m == name) | (y == 0) if name != "all" else np.ones(len(y), bool)
        n_t = int(y[sel].sum())
        if n_t:
            rows.append({"morphology": name, "n_tumour": n_t, "n_negative": int((y == 0).sum()),
                         "auc": float(roc_auc_score(y[sel], scores[sel]))})
    return pd.DataFrame(rows).set_index("morphology")


def cohort_patch_kinds(cohort_root: str | Path, features_dir: str | Path,
                       slide_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Each slide's per-patch kind (:func:`patch_kind`: a tumour morphology, a mimic or
    ``normal``), from the cohort's tumour and region masks — without re-segmenting tissue, so it
    is cheap enough for every test slide of a chapter."""
    from .synth import load_region_mask, load_tumour_mask

    root, features_dir = Path(cohort_root), Path(features_dir)
    out = {}
    for sid in slide_ids:
        has_regions = (root / "masks" / f"{sid}_regions.png").exists()
        t = patch_table(features_dir / f"{sid}.h5", tumour_mask=load_tumour_mask(root, sid),
                        region_mask=load_region_mask(root, sid) if has_regions else None)
        out[sid] = patch_kind(t.frame())
    return out


def attention_share_by_kind(attention: Sequence[np.ndarray],
                            kinds: Sequence[np.ndarray]) -> pd.DataFrame:
    """How much of a slide's attention falls on each kind of patch.

    For slide s with weights a (Σ a = 1) and kind k: A_sk = Σ_{i: kind_i = k} a_i (attention
    share) and P_sk = |{i: kind_i = k}| / N_s (patch share: what uniform attention would give).
    Per kind, the means over the slides that contain it: ``attention_share``, ``patch_share``,
    ``enrichment`` = mean A / mean P (> 1: attended more than its area), ``n_slides``.
    """
    if len(attention) != len(kinds):
        raise ValueError(f"{len(attention)} attention vectors for {len(kinds)} kind vectors")
    rows = []
    for a, k in zip(attention, kinds):
        a, k = np.asarray(a, float).ravel(), np.asarray(k).ravel()
        if len(a) != len(k):
            raise ValueError(f"a slide has {len(a)} attention weights but {len(k)} patch kinds")
        for name in np.unique(k):
            sel = k == name
            rows.append({"kind": str(name), "attention_share": float(a[sel].sum()),
                         "patch_share": float(sel.mean())})
    df = pd.DataFrame(rows, columns=["kind", "attention_share", "patch_share"])
    out = df.groupby("kind").agg(attention_share=("attention_share", "mean"),
                                 patch_share=("patch_share", "mean"),
                                 n_slides=("patch_share", "size"))
    out["enrichment"] = out.attention_share / out.patch_share
    return out[["attention_share", "patch_share", "enrichment", "n_slides"]]


#: The three kinds of tissue a top-k pick can land on (:func:`kind_group`).
KIND_GROUPS = ("tumour", "mimic", "normal")


def kind_group(kinds: Sequence[str]) -> np.ndarray:
    """Each patch kind of :func:`patch_kind` as one of :data:`KIND_GROUPS`: a tumour morphology
    (or ``"tumour"``) → ``"tumour"``, a benign mimic → ``"mimic"``, the rest → ``"normal"``."""
    from .synth import MIMICS, MORPHOLOGIES

    k = np.asarray(kinds).astype(str)
    out = np.full(k.shape, "normal", dtype=object)
    out[np.isin(k, list(MIMICS))] = "mimic"
    out[np.isin(k, [*MORPHOLOGIES, "tumour"])] = "tumour"
    return out.astype(str)


def topk_kind_shares(attention: np.ndarray, kinds: Sequence[str], k: int = 5) -> dict[str, float]:
    """Where a slide's k most-attended patches lie: the share of them on tumour, on mimics and
    on normal tissue (:func:`kind_group`), summing to 1.

    With k' = min(k, N) and t the k'-th largest weight, every patch with a_i > t counts 1 and
    the n_t patches with a_i = t share the remaining k' − #{a_i > t} places equally (the mean
    over random tie-breaks); share(kind) = Σ_{i of that kind} count_i / k'. So uniform attention
    (mean pooling) gets exactly the slide's patch shares, not its first k patches."""
    a = np.asarray(attention, np.float64).ravel()
    g = kind_group(kinds)
    if len(a) != len(g):
        raise ValueError(f"{len(a)} attention weights for {len(g)} patch kinds")
    if not len(a) or int(k) < 1:
        raise ValueError(f"need at least one patch and k >= 1 (got {len(a)} patches, k={k})")
    kk = min(int(k), len(a))
    t = np.sort(a)[::-1][kk - 1]
    above, tied = a > t, a == t
    count = above.astype(float) + tied * (kk - above.sum()) / tied.sum()
    return {name: float(count[g == name].sum() / kk) for name in KIND_GROUPS}


def mimic_mask(cohort_root: str | Path, slide_id: str) -> tuple[np.ndarray, tuple[float, float]]:
    """Where a cohort slide's benign mimics are: ``(mask, downsample)`` (bool, at the region
    map's resolution, as :func:`milhelpers.synth.load_tumour_mask` gives the tumour), from
    ``masks/<id>_regions.png``."""
    from .synth import MIMICS, REGIONS, load_region_mask

    codes, ds = load_region_mask(Path(cohort_root), slide_id)
    return np.isin(codes, [REGIONS.index(m) for m in MIMICS]), ds
