"""Plotting helpers shared by the chapters: image grids, patch galleries, scatter plots.

Figures use modest DPI (set in :func:`setup`) so executed notebooks stay small.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .slides import Slide

__all__ = ["setup", "show_images", "patch_gallery", "read_patches", "scatter_2d", "scale_scores",
           "attention_map", "heatmap_overlay", "slide_heatmap", "topk_gallery", "learning_curves",
           "paired_comparison"]


def setup(dpi: int = 72) -> None:
    """Consistent, light figures for notebooks (small PNGs, readable fonts)."""
    plt.rcParams.update({"figure.dpi": dpi, "savefig.dpi": dpi, "font.size": 9,
                         "axes.titlesize": 9, "figure.autolayout": True,
                         "image.interpolation": "nearest"})


def show_images(images: Sequence[np.ndarray], titles: Sequence[str] | None = None,
                ncols: int = 4, size: float = 2.6, cmap: str | None = None):
    """A grid of images with optional titles; returns the figure."""
    n = len(images)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, img in enumerate(images):
        ax = axes.ravel()[i]
        ax.imshow(img, cmap=cmap if np.ndim(img) == 2 else None)
        if titles is not None:
            ax.set_title(titles[i])
    return fig


def read_patches(slide_path: str | Path, coords: np.ndarray, size0: int, out_px: int = 112,
                 mpp: float | None = None) -> list[np.ndarray]:
    """RGB patches at ``coords`` (level-0 top-left, side ``size0``) resized to ``out_px``."""
    with Slide(slide_path, mpp=mpp) as s:
        return [s.read_patch(tuple(c), size0, out_px) for c in np.asarray(coords)]


def patch_gallery(slide_path: str | Path, coords: np.ndarray, size0: int,
                  titles: Sequence[str] | None = None, ncols: int = 8, out_px: int = 112,
                  size: float = 1.4):
    """Show the patches at ``coords`` of one slide in a grid."""
    return show_images(read_patches(slide_path, coords, size0, out_px), titles, ncols, size)


def scatter_2d(xy: np.ndarray, labels: Sequence, ax=None, title: str | None = None,
               s: float = 6, alpha: float = 0.6, palette: dict | None = None):
    """2-D scatter coloured by a categorical label, with a legend."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    labels = np.asarray(labels)
    cats = list(dict.fromkeys(labels.tolist()))
    cmap = plt.get_cmap("tab10")
    for i, c in enumerate(cats):
        m = labels == c
        colour = (palette or {}).get(c, cmap(i % 10))
        ax.scatter(xy[m, 0], xy[m, 1], s=s, alpha=alpha, color=colour, label=f"{c} ({m.sum()})",
                   linewidths=0)
    ax.legend(markerscale=2, fontsize=7, frameon=False)
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


# --------------------------------------------------------------------------------------------
# attention heatmaps (work for any model: they need only coordinates and one score per patch)
# --------------------------------------------------------------------------------------------
def scale_scores(values: np.ndarray, method: str = "rank") -> np.ndarray:
    """Map per-patch scores to [0, 1] for display.

    ``raw``: unchanged (softmax weights: a few patches near 1/k, most near 0 — a 'cold' map).
    ``minmax``: linear to [0, 1]. ``percentile``: clip to the 1st–99th percentile, then linear.
    ``rank``: the patch's rank among the bag's patches (uniform colours, order preserved; tied
    scores share their average rank, so a uniform bag is one flat colour, not a gradient in patch
    order).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if method == "raw":
        return v
    if method == "rank":
        from scipy.stats import rankdata

        return (rankdata(v, method="average") - 1) / max(len(v) - 1, 1)
    if method == "percentile":
        lo, hi = np.percentile(v, [1, 99])
        v = np.clip(v, lo, hi)
    elif method != "minmax":
        raise ValueError(f"unknown scaling {method!r}: raw, minmax, percentile or rank")
    span = v.max() - v.min()
    return (v - v.min()) / span if span > 0 else np.zeros_like(v)


def attention_map(shape_hw: tuple[int, int], downsample: float, coords: np.ndarray, size0: int,
                  values: np.ndarray) -> np.ndarray:
    """Per-pixel map at thumbnail resolution: each patch paints its value over its own footprint;
    where patches overlap the values are averaged (no blur). Pixels without a patch are NaN."""
    h, w = shape_hw
    acc = np.zeros((h, w), np.float64)
    cnt = np.zeros((h, w), np.float64)
    side = size0 / downsample
    for (x, y), v in zip(np.asarray(coords, float) / downsample, np.asarray(values, float)):
        x0, y0 = int(round(x)), int(round(y))
        x1, y1 = max(int(round(x + side)), x0 + 1), max(int(round(y + side)), y0 + 1)
        acc[y0:y1, x0:x1] += v
        cnt[y0:y1, x0:x1] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, acc / cnt, np.nan)


def heatmap_overlay(thumb: np.ndarray, heat: np.ndarray, ax=None, cmap: str = "jet",
                    alpha: float = 0.5, title: str | None = None, colorbar: bool = False):
    """Draw a thumbnail with a heatmap (NaN = transparent) on top."""
    if ax is None:
        _, ax = plt.subplots(figsize=(3.5, 3.5))
    ax.imshow(thumb)
    im = ax.imshow(np.ma.masked_invalid(heat), cmap=cmap, alpha=alpha, vmin=np.nanmin(heat),
                   vmax=np.nanmax(heat))
    ax.axis("off")
    if title:
        ax.set_title(title)
    if colorbar:
        plt.colorbar(im, ax=ax, fraction=0.046)
    return ax


def slide_heatmap(slide_path: str | Path, coords: np.ndarray, size0: int, scores: np.ndarray,
                  scale: str = "rank", max_size: int = 512):
    """``(thumbnail, heat, downsample)`` for a slide, scores scaled with :func:`scale_scores`."""
    with Slide(slide_path) as s:
        thumb, ds = s.thumbnail(max_size)
    return thumb, attention_map(thumb.shape[:2], ds, coords, size0, scale_scores(scores, scale)), ds


def topk_gallery(slide_path: str | Path, coords: np.ndarray, size0: int, scores: np.ndarray,
                 k: int = 6, out_px: int = 96, size: float = 1.3):
    """The k highest- and k lowest-scoring patches of a slide, in two rows."""
    order = np.argsort(-np.asarray(scores))
    k = min(k, len(order) // 2) or 1
    idx = np.concatenate([order[:k], order[::-1][:k]])
    titles = [f"top {i + 1}" for i in range(k)] + [f"bottom {i + 1}" for i in range(k)]
    return show_images(read_patches(slide_path, np.asarray(coords)[idx], size0, out_px), titles,
                       ncols=k, size=size)


def learning_curves(history, metrics: Sequence[str] = ("train_loss", "val_loss", "val_auc"),
                    ax=None, label: str = ""):
    """Plot per-epoch history columns (a DataFrame from :func:`milhelpers.train.fit`)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3))
    for m in metrics:
        if m in history:
            ax.plot(history["epoch"], history[m], label=f"{label}{m}", marker=".")
    ax.set_xlabel("epoch")
    ax.legend(fontsize=7, frameon=False)
    return ax


# --------------------------------------------------------------------------------------------
# method comparisons (the experiment runner's standard figure)
# --------------------------------------------------------------------------------------------
def paired_comparison(runs, metric: str = "auc", methods: Sequence[str] | None = None,
                      ax=None, n_resamples: int = 10_000):
    """Methods side by side on one metric, over the same (seed, fold) runs.

    ``runs``: a table with ``method``, ``seed``, ``fold`` and ``metric`` columns (an
    :class:`~milhelpers.experiments.ExperimentResult`'s ``runs``). Each run is a dot; a grey line
    joins the dots of the same (seed, fold) across methods, so a paired gain reads as lines that
    rise; beside the dots, the mean with its 95 % percentile-bootstrap interval.
    """
    from .experiments import bootstrap_ci

    methods = list(methods) if methods is not None else list(dict.fromkeys(runs["method"]))
    if metric not in runs:
        raise KeyError(f"no column {metric!r} in the runs; have {list(runs.columns)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(1.3 * len(methods) + 3.0, 3.4), dpi=100,
                             layout="constrained")
    wide = runs.pivot_table(index=["seed", "fold"], columns="method", values=metric)
    wide = wide.reindex(columns=methods)
    x = np.arange(len(methods), dtype=float)
    jitter = np.linspace(-0.12, 0.12, len(wide)) if len(wide) > 1 else np.zeros(1)
    for j, (_, row) in enumerate(wide.iterrows()):
        ax.plot(x + jitter[j], row.to_numpy(float), color="0.75", lw=0.7, zorder=1,
                label="same (seed, fold)" if j == 0 else None)
    colours = plt.get_cmap("tab10")
    for i, m in enumerate(methods):
        v = wide[m].to_numpy(float)
        ax.scatter(x[i] + jitter[: len(v)], v, s=14, color=colours(i % 10), zorder=2,
                   label=f"{m} (runs)")
        ok = v[~np.isnan(v)]
        if len(ok):
            lo, hi = bootstrap_ci(ok, n_resamples)
            mean = ok.mean()
            yerr = None if np.isnan(lo) else [[mean - lo], [hi - mean]]
            ax.errorbar(x[i] + 0.3, mean, yerr=yerr, fmt="D", ms=5, color="black", capsize=3,
                        zorder=3, label="mean ± 95% CI" if i == 0 else None)
    ax.set_xticks(x)
    ax.set_xticklabels(methods, rotation=20, ha="right")
    ax.set_xlim(-0.5, len(methods) - 0.3)
    ax.set_xlabel("method")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(f"{metric.replace('_', ' ')} over {len(wide)} (seed, fold) runs")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax
