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
           "tumour_probe", "PROBE_NEGATIVES", "cohort_patch_kinds", "attention_share_by_kind",
           "KIND_GROUPS", "kind_group", "topk_kind_shares", "mimic_mask", "out_of_fold_attention",
           "topk_composition", "group_shares", "composition_table", "Coverage", "topk_coverage",
           "attention_by_run", "topk_counts", "random_topk_composition"]

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


# --------------------------------------------------------------------------------------------
# what each attention head picks (chapter 03): coverage of patch kinds, composition of top-k
# --------------------------------------------------------------------------------------------
#: The three groups a patch kind falls in: a tumour morphology, a benign mimic, or the rest.
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


def out_of_fold_attention(result, method: str, seed: int) -> dict[str, dict]:
    """Every slide's prediction by the run of repeat ``seed`` that held it out:
    slide id → ``{attention: (H, N) softmax weights of every head, prob: P(class 1), label,
    fold}`` (``result`` an :class:`~milhelpers.experiments.ExperimentResult` with its cache)."""
    runs = result.runs[(result.runs.method == method) & (result.runs.seed == seed)]
    if runs.empty:
        raise KeyError(f"no runs of ({method!r}, seed {seed}) in this experiment")
    out = {}
    for fold in sorted(int(f) for f in runs.fold.unique()):
        p = result.predictions(method, seed, fold)
        for i, sid in enumerate(p.slide_ids):
            out[sid] = {"attention": np.asarray(p.attention[i], float),
                        "prob": float(p.probs[i, -1]), "label": int(p.labels[i]), "fold": fold}
    return out


def attention_by_run(result, method: str, label: int | None = None) -> dict:
    """The test slides' attention of every run of ``method``: (seed, fold) → {slide id → (H, N)
    softmax weights} (``label``: only slides of that class), the input of
    :func:`topk_composition` — within one run a head keeps its meaning."""
    out: dict = {}
    for seed in sorted(int(s) for s in result.runs[result.runs.method == method].seed.unique()):
        for sid, p in out_of_fold_attention(result, method, seed).items():
            if label is None or p["label"] == label:
                out.setdefault((seed, p["fold"]), {})[sid] = p["attention"]
    return out


def topk_counts(attention: np.ndarray, k: int) -> np.ndarray:
    """(N,) int: for each patch, how many heads of (H, N) attention have it in their top ``k``
    (ties broken by position, as :func:`milhelpers.metrics.topk_members`)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    a = _heads(attention)
    counts = np.zeros(a.shape[1], int)
    for row in a:
        counts[_top(row, k)] += 1
    return counts


def _heads(a) -> np.ndarray:
    a = np.asarray(a, float)
    return a[None] if a.ndim == 1 else a


def _top(row: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values (all when fewer; ties broken by position)."""
    return np.argsort(-row, kind="stable")[:k]


def topk_composition(attention: dict, kinds: dict[str, Sequence[str]], k: int) -> pd.DataFrame:
    """What each attention head's top-``k`` patches are, per run.

    ``attention``: run → {slide id → (H, N) or (N,) weights}; a run is one trained model (e.g.
    ``(seed, fold)``), so a head keeps its meaning within it. ``kinds``: slide id → per-patch
    kind. For head h of run r, over the run's slides s, with T_hs its top-k (all patches when
    N_s ≤ k) and g(i) the group of patch i (:func:`kind_group`):

        share_g(r, h) = Σ_s |{i ∈ T_hs : g(i) = g}| / Σ_s |T_hs|

    Returns one row per (run, head): ``run``, ``head`` (1-based), ``n_slides``, ``n_picks``,
    one share column per group of :data:`KIND_GROUPS`, and ``rank``: 1 for the head with the
    largest tumour share in its run, H for the smallest (ties by head order) — head numbers are
    arbitrary across runs, ranks are comparable.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rows = []
    for run, per_slide in attention.items():
        counts, picks, n_heads = None, None, None
        for sid, a in per_slide.items():
            a = _heads(a)
            g = kind_group(kinds[sid])
            if len(g) != a.shape[1]:
                raise ValueError(f"slide {sid}: {a.shape[1]} attention weights but {len(g)} "
                                 "patch kinds")
            if n_heads is None:
                n_heads = len(a)
                counts, picks = np.zeros((n_heads, len(KIND_GROUPS))), np.zeros(n_heads)
            elif len(a) != n_heads:
                raise ValueError(f"run {run!r}: slide {sid} has {len(a)} heads, others {n_heads}")
            for h, row in enumerate(a):
                top = g[_top(row, k)]
                counts[h] += [(top == name).sum() for name in KIND_GROUPS]
                picks[h] += len(top)
        if n_heads is None:
            continue
        shares = counts / picks[:, None]
        rank = np.empty(n_heads, int)
        rank[np.argsort(-shares[:, 0], kind="stable")] = np.arange(1, n_heads + 1)
        for h in range(n_heads):
            rows.append({"run": run, "head": h + 1, "n_slides": len(per_slide),
                         "n_picks": int(picks[h]),
                         **dict(zip(KIND_GROUPS, shares[h].tolist())), "rank": int(rank[h])})
    return pd.DataFrame(rows, columns=["run", "head", "n_slides", "n_picks", *KIND_GROUPS,
                                       "rank"])


def random_topk_composition(attention: dict, kinds: dict[str, Sequence[str]], k: int,
                            draws: int = 200, seed: int = 0) -> pd.DataFrame:
    """The null model of :func:`topk_composition`: heads that pick their top ``k`` at random.

    For every run of ``attention`` (only its slides and its number of heads H are used), each
    of ``draws`` draws gives H random heads — per slide k patches drawn uniformly without
    replacement (all when N ≤ k) — ranked by tumour share as :func:`topk_composition` ranks real
    heads. Rows: one per (run, rank), the group shares averaged over the draws. Ranking alone
    makes the last-ranked random head's tumour share fall below the patches' tumour share (the
    minimum of H noisy shares); a real head below *this* row is below chance after ranking."""
    if k < 1 or draws < 1:
        raise ValueError(f"k and draws must be >= 1, got {k} and {draws}")
    rng = np.random.default_rng(seed)
    rows = []
    for run, per_slide in attention.items():
        n_heads = _heads(next(iter(per_slide.values()))).shape[0]
        groups = {sid: kind_group(kinds[sid]) for sid in per_slide}
        totals = np.zeros((n_heads, len(KIND_GROUPS)))
        for _ in range(draws):
            counts = np.zeros((n_heads, len(KIND_GROUPS)))
            for g in groups.values():
                picks = np.argsort(rng.random((n_heads, len(g))), axis=1)[:, :k]
                counts += np.stack([(g[picks] == name).sum(1) for name in KIND_GROUPS], 1)
            shares = counts / counts.sum(1, keepdims=True)
            totals += shares[np.argsort(-shares[:, 0], kind="stable")]
        for r, share in enumerate(totals / draws, 1):
            rows.append({"run": run, "head": r, "n_slides": len(per_slide),
                         **dict(zip(KIND_GROUPS, share.tolist())), "rank": r})
    return pd.DataFrame(rows, columns=["run", "head", "n_slides", *KIND_GROUPS, "rank"])


def group_shares(kinds: dict[str, Sequence[str]]) -> dict[str, float]:
    """The share of each group of :data:`KIND_GROUPS` among all patches of the slides given: what
    a head picking patches at random would get on average."""
    g = np.concatenate([kind_group(v) for v in kinds.values()])
    return {name: float((g == name).mean()) for name in KIND_GROUPS}


def composition_table(compositions: dict[str, pd.DataFrame],
                      chance: dict[str, float] | None = None, digits: int = 2) -> pd.DataFrame:
    """Rows "model, rank r of H" (heads ranked within each run, see :func:`topk_composition`; a one-head
    model is one row), columns the groups of :data:`KIND_GROUPS`: "mean [95 % CI]" of the share
    of the head's top-k picks in that group over the runs (percentile bootstrap over runs,
    :func:`milhelpers.experiments.bootstrap_ci`), and ``runs``. ``chance``
    (:func:`group_shares`) adds a last row: what random picks would give."""
    from .experiments import bootstrap_ci

    def cell(v: np.ndarray) -> str:
        lo, hi = bootstrap_ci(v)
        return (f"{v.mean():.{digits}f}" if np.isnan(lo) else
                f"{v.mean():.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]")

    rows = {}
    for name, comp in compositions.items():
        n_heads = int(comp["rank"].max())
        for r, g in comp.groupby("rank"):
            label = name if n_heads == 1 else (
                f"{name}, rank {r} of {n_heads}"
                + (" (most tumour)" if r == 1 else " (least tumour)" if r == n_heads else ""))
            rows[label] = {**{grp: cell(g[grp].to_numpy(float)) for grp in KIND_GROUPS},
                           "runs": len(g)}
    if chance is not None:
        rows["all patches (random picks)"] = {**{grp: f"{chance[grp]:.{digits}f}"
                                                 for grp in KIND_GROUPS}, "runs": ""}
    return pd.DataFrame.from_dict(rows, orient="index")


@dataclass
class Coverage:
    """:func:`topk_coverage`'s result: ``table`` (one row per patch kind: ``patches`` and the share
    of those patches each selection picks), ``precision`` (selection → share of its picks that
    are tumour), ``tumour_share`` (tumour's share of all patches), ``union_sizes`` (slide →
    patches in some head's top k) and the names it was built with."""

    table: pd.DataFrame
    precision: dict[str, float]
    tumour_share: float
    union_sizes: dict[str, int]
    k: int
    new: str
    ref: str
    n_heads: int

    def sentences(self) -> list[str]:
        """The table read out: precision of each selection, the union's median size, and per
        tumour kind whether the heads together cover more of it than the reference given the
        same number of picks (the comparison that separates better-aimed heads from a larger
        budget)."""
        union, _, own, same = list(self.table.columns[2:])
        out = ["share of the picks that are tumour: "
               + ", ".join(f"{c} {v:.0%}" for c, v in self.precision.items())
               + f" (tumour is {self.tumour_share:.0%} of these slides' patches)",
               f"patches per slide in some head's top {self.k} (median): "
               f"{int(np.median(list(self.union_sizes.values())))} (at most {self.n_heads} × "
               f"{self.k} = {self.n_heads * self.k})"]
        tumours = [i for i in self.table.index if kind_group([self.table.loc[i, "kind"]])[0]
                   == "tumour"]
        for i in tumours:
            row = self.table.loc[i]
            out.append(f"{i}: {row[union]:.0%} covered by {self.new}'s heads, {row[own]:.0%} by "
                       f"{self.ref}'s top {self.k}, {row[same]:.0%} by {self.ref} with the same "
                       "number of picks")
        wins = [i for i in tumours if self.table.loc[i, union] > self.table.loc[i, same]]
        if tumours:
            out.append(f"{self.new}'s heads cover more tumour than {self.ref} given the same "
                       f"number of picks for {len(wins)} of {len(tumours)} tumour kinds"
                       + (f" ({', '.join(wins)})" if wins else ""))
        return out


def topk_coverage(att_new: dict[str, np.ndarray], att_ref: dict[str, np.ndarray],
                  kinds: dict[str, Sequence[str]], k: int, new: str = "acmil",
                  ref: str = "acmil_base", display: dict[str, str] | None = None) -> Coverage:
    """Which kinds of patch a multi-head model (``att_new``: slide → (H, N)) and a one-head
    reference (``att_ref``: slide → (N,) or (1, N)) put in their top ``k``, over the slides of
    ``att_new``.

    Per kind, the share of its patches (pooled over slides) that fall in: some head's top k
    (the union U_s, at most H·k patches), the top k of the heads' mean ā, the reference's top k,
    and the reference's top |U_s| (*same budget*: as many picks as the heads together made on
    that slide, so that more heads cannot win by more picks). ``precision``: per selection, the
    share of its picks that are tumour. ``display`` renames kinds in the table (e.g.
    :data:`milhelpers.widgets.CATEGORY_NAMES`); the raw kind stays in column ``kind``.
    """
    from .metrics import topk_members

    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    cols = [f"{new}: some head's top {k}", f"{new}: top {k} of ā", f"{ref}: top {k}",
            f"{ref}: same number of picks"]
    picks, kind_list, union = {c: [] for c in cols}, [], {}
    for sid, a in att_new.items():
        a, r = _heads(a), _heads(att_ref[sid])[0]
        kk = np.asarray(kinds[sid]).astype(str)
        if not (a.shape[1] == len(r) == len(kk)):
            raise ValueError(f"slide {sid}: {a.shape[1]} weights per head, {len(r)} reference "
                             f"weights, {len(kk)} patch kinds")
        u = topk_members(a, k)
        union[sid] = int(u.sum())
        for c, m in zip(cols, (u, topk_members(a.mean(0), k), topk_members(r, k),
                               topk_members(r, union[sid]))):
            picks[c].append(m)
        kind_list.append(kk)
    kind_all = np.concatenate(kind_list)
    members = {c: np.concatenate(v) for c, v in picks.items()}
    frame = pd.DataFrame({"kind": kind_all, **members})
    table = frame.groupby("kind").agg(patches=("kind", "size"),
                                      **{c: (c, "mean") for c in cols})
    table = table.sort_values("patches", ascending=False).reset_index()
    table.index = [(display or {}).get(x, x) for x in table["kind"]]
    is_tumour = kind_group(kind_all) == "tumour"
    precision = {c: float(is_tumour[m].mean()) if m.any() else float("nan")
                 for c, m in members.items()}
    return Coverage(table, precision, float(is_tumour.mean()), union, k, new, ref,
                    int(_heads(next(iter(att_new.values()))).shape[0]))
