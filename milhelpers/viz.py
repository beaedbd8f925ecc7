"""Plotting helpers shared by the chapters, and the course's one figure standard.

The standard: figures at >= 100 dpi (:func:`setup`), axis labels on every plot, a colourbar on
every heatmap, a µm scale bar on every slide image (:func:`scale_bar`), a legend on QC images
(:func:`show_qc`), and perceptually uniform colour maps (viridis, magma, cividis; never jet,
whose brightness bands invent edges that are not in the data — Borland & Taylor, IEEE Computer
Graphics and Applications 2007, doi:10.1109/MCG.2007.323435).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from .slides import Slide

__all__ = ["setup", "show_images", "round_length", "scale_bar", "show_slide", "outline_mask",
           "show_qc", "QC_COLOURS", "resolution_ladder", "scatter_values", "OUTLINE_COLOURS",
           "label_points",
           "show_outlined", "patch_rows", "patch_gallery",
           "read_patches", "scatter_2d", "umap_scatter", "scale_scores", "attention_map",
           "heatmap_overlay",
           "slide_heatmap", "topk_gallery", "learning_curves", "split_curves", "paired_comparison",
           "attention_panels", "ranked_patches", "toy_attention", "concentration_plot",
           "cumulative_attention_plot", "branch_heatmaps", "attention_row", "ATTENTION_CMAP",
           "category_map", "GROUP_COLOURS", "topk_composition_plot",
           "slide_cumulative_attention",
           "lambda_curves", "correlation_scatter", "aem_variants", "mask_evolution",
           "recycle_network",
           "visibility_bars", "packing_regime", "auc_by_cost",
           "padding_waste", "pack_strip", "pack_mask", "hyperslide_labels", "hyperslide_targets",
           "speed_accuracy", "sweep_results", "SWEEP_Y_FLOOR", "power_curves", "scaling_results",
           "forest_plot", "rank_plot", "cost_accuracy", "attention_grid", "kind_shares_plot"]


def setup(dpi: int = 100) -> None:
    """Consistent figures for notebooks: >= 100 dpi, readable fonts, a perceptually uniform
    default colour map. Keep figures compact (a few inches) so executed notebooks stay small."""
    plt.rcParams.update({"figure.dpi": dpi, "savefig.dpi": dpi, "font.size": 8,
                         "axes.titlesize": 8, "figure.autolayout": True,
                         "image.interpolation": "nearest", "image.cmap": "viridis"})


def show_images(images: Sequence[np.ndarray], titles: Sequence[str] | None = None,
                ncols: int = 4, size: float = 2.6, cmap: str | None = None,
                um_per_px: float | Sequence[float | None] | None = None, colorbar: bool = False):
    """A grid of images with optional titles; returns the figure.

    ``um_per_px`` (one value, or one per image; None for no bar) adds a µm scale bar to each
    slide image: see :func:`scale_bar`. ``colorbar`` adds one to each single-channel image that
    is not binary (a saturation map, a heatmap), so its values can be read off.
    """
    n = len(images)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, img in enumerate(images):
        ax = axes.ravel()[i]
        im = ax.imshow(img, cmap=cmap if np.ndim(img) == 2 else None)
        if colorbar and np.ndim(img) == 2 and len(np.unique(img)) > 2:
            plt.colorbar(im, ax=ax, fraction=0.046)
        if titles is not None:
            ax.set_title(titles[i])
        mpp = um_per_px[i] if np.ndim(um_per_px) else um_per_px
        if mpp:
            scale_bar(ax, mpp)
    return fig


# --------------------------------------------------------------------------------------------
# slide images: scale bars, mask outlines, QC legends, the resolution ladder
# --------------------------------------------------------------------------------------------
def round_length(max_length: float) -> float:
    """The largest 1, 2 or 5 × 10^k that does not exceed ``max_length`` (> 0).

    Scale bars use it so they read "200 µm", never "173 µm".
    """
    if not max_length > 0:
        raise ValueError(f"max_length must be positive, got {max_length}")
    decade = 10.0 ** np.floor(np.log10(max_length))
    for m in (5.0, 2.0, 1.0):
        if m * decade <= max_length * (1 + 1e-9):
            return float(m * decade)
    return float(decade)  # unreachable: 1 × decade <= max_length by construction


def _format_um(length_um: float) -> str:
    if length_um >= 1000:
        return f"{length_um / 1000:g} mm"
    return f"{length_um:g} µm"


def scale_bar(ax, um_per_px: float, length_um: float | None = None, *, max_fraction: float = 0.3,
              loc: str = "lower right", color: str = "black"):
    """Draw a physical scale bar on an image axis whose data units are image pixels.

    The bar spans ``length_um / um_per_px`` pixels. Without ``length_um`` the longest round
    length (:func:`round_length`) up to ``max_fraction`` of the image width is used. Returns the
    artist (an ``AnchoredSizeBar``); its length in µm is ``artist.length_um``.
    """
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    if not um_per_px > 0:
        raise ValueError(f"um_per_px must be positive, got {um_per_px}")
    x0, x1 = ax.get_xlim()
    width_px = abs(x1 - x0)
    if length_um is None:
        length_um = round_length(max_fraction * width_px * um_per_px)
    bar = AnchoredSizeBar(ax.transData, length_um / um_per_px, _format_um(length_um), loc,
                          pad=0.3, borderpad=0.4, sep=2, color=color, frameon=True,
                          size_vertical=width_px / 100, fontproperties={"size": 7})
    bar.patch.set_alpha(0.7)  # a light box keeps the bar readable on tissue and on glass
    bar.length_um = length_um
    ax.add_artist(bar)
    return bar


def show_slide(image: np.ndarray, um_per_px: float, ax=None, title: str | None = None,
               size: float = 3.5):
    """An RGB slide image (thumbnail, region, QC) without ticks and with a µm scale bar."""
    if ax is None:
        h, w = image.shape[:2]
        _, ax = plt.subplots(figsize=(size, size * h / w) if w >= h else (size * w / h, size))
    # antialiased, not the course's default 'nearest': a 1024-px QC image shown at a few hundred
    # pixels would otherwise drop most of its 1-px grid lines and show a random subset of them
    ax.imshow(image, interpolation="antialiased")
    ax.axis("off")
    if title:
        ax.set_title(title)
    scale_bar(ax, um_per_px)
    return ax


def outline_mask(image: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = (255, 200, 0),
                 thickness: int | None = None) -> np.ndarray:
    """A copy of RGB ``image`` with the boundary of ``mask`` drawn on it.

    ``mask`` may be at any resolution (it is resized, nearest neighbour, to the image), e.g. a
    low-resolution tumour mask on a thumbnail. Only the outline is painted, so the tissue under
    it stays visible.
    """
    import cv2

    h, w = image.shape[:2]
    m = np.asarray(mask).astype(np.uint8)
    if m.shape != (h, w):
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours((m > 0).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    out = np.ascontiguousarray(np.array(image, dtype=np.uint8, copy=True))
    thickness = thickness or max(1, round(max(h, w) / 300))
    cv2.drawContours(out, contours, -1, tuple(int(c) for c in color), thickness)
    return out


#: What :func:`milhelpers.tiling.draw_qc` paints, in RGB: the legend of every QC image.
QC_COLOURS = {"tissue contour": (0, 200, 0), "hole": (0, 80, 255), "patch": (40, 40, 40)}


def show_qc(qc_image: np.ndarray, um_per_px: float, ax=None, title: str | None = None,
            size: float = 3.5):
    """A tiling QC image (from :func:`milhelpers.tiling.draw_qc`) with its legend and scale bar."""
    from matplotlib.lines import Line2D

    if ax is None:  # room on the right for the legend
        h, w = qc_image.shape[:2]
        _, ax = plt.subplots(figsize=(size * min(w / h, 1.5) + 1.4, size))
    ax = show_slide(qc_image, um_per_px, ax, title, size)
    handles = [Line2D([], [], color=np.array(c) / 255, lw=1.5, label=k) for k, c in QC_COLOURS.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7,
              frameon=False)  # outside the image: it must not hide tissue
    return ax


def resolution_ladder(slide_path: str | Path, location: tuple[int, int], field_um: float,
                      mpps: Sequence[float] = (0.5, 1.0, 2.0, 4.0, 8.0), size: float = 1.8,
                      mpp: float | None = None, overview_px: int = 400):
    """One field of view read at several resolutions, each panel with a µm scale bar.

    The field (top-left ``location`` in level-0 px, side ``field_um``) becomes
    ``field_um / mpp`` pixels at each resolution, read from the deepest pyramid level that still
    has enough pixels (:meth:`Slide.read_patch`). A first panel shows the field on a thumbnail.
    Returns ``(figure, images)``.
    """
    with Slide(slide_path, mpp=mpp) as s:
        size0 = int(round(field_um / s.mpp))
        images = [s.read_patch(location, size0, max(1, int(round(field_um / m)))) for m in mpps]
        thumb, tds = s.thumbnail(overview_px)
        thumb_mpp = s.mpp * tds
    fig, axes = plt.subplots(1, len(mpps) + 1, figsize=(size * (len(mpps) + 1), size * 1.15))
    box = plt.Rectangle((location[0] / tds, location[1] / tds), size0 / tds, size0 / tds,
                        fill=False, color="yellow", lw=1.5)
    show_slide(thumb, thumb_mpp, axes[0], "the field on the slide")
    axes[0].add_patch(box)
    for ax, img, m in zip(axes[1:], images, mpps):
        show_slide(img, m, ax, f"{m:g} µm/px ({10 / m:g}×)\n{img.shape[1]} px across")
    return fig, images


def _axes_note(ax, note: str | None) -> None:
    """A small grey line in the axes' lower-right corner: what the reader must know about the
    points shown (e.g. that they are a subsample)."""
    if note:
        ax.text(0.99, 0.01, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=6,
                color="0.3", bbox=dict(boxstyle="square,pad=0.15", facecolor="white", alpha=0.7,
                                       linewidth=0))


def scatter_values(xy: np.ndarray, values: np.ndarray, ax=None, label: str = "",
                   title: str | None = None, cmap: str = "viridis", s: float = 6,
                   xlabel: str = "dimension 1", ylabel: str = "dimension 2",
                   note: str | None = None):
    """2-D scatter coloured by a continuous value, with a labelled colourbar (and an optional
    ``note`` in the lower-right corner)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=values, s=s, cmap=cmap, linewidths=0)
    plt.colorbar(sc, ax=ax, fraction=0.046, label=label)
    ax.set_xlabel(xlabel), ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    _axes_note(ax, note)
    return ax


#: outline colours (RGB) for region masks drawn on slide thumbnails
OUTLINE_COLOURS = {"tumour": (255, 200, 0), "mimic": (0, 190, 255)}


def show_outlined(images: Sequence[np.ndarray], outlines: Sequence[dict[str, np.ndarray]],
                  titles: Sequence[str], um_per_px: Sequence[float], ncols: int = 3,
                  size: float = 2.6, colours: dict[str, tuple[int, int, int]] | None = None,
                  thickness: int = 2):
    """Slide thumbnails with named masks outlined (e.g. ``{"tumour": m1, "mimic": m2}``, masks
    at any resolution), a µm scale bar on each and one legend for the outline colours."""
    from matplotlib.lines import Line2D

    colours = colours or OUTLINE_COLOURS
    drawn = []
    for img, named in zip(images, outlines):
        for name, mask in named.items():
            img = outline_mask(img, mask, colours[name], thickness)
        drawn.append(img)
    fig = show_images(drawn, titles, ncols=ncols, size=size, um_per_px=list(um_per_px))
    used = list(dict.fromkeys(k for named in outlines for k in named))
    handles = [Line2D([], [], color=np.array(colours[k]) / 255, lw=2, label=k) for k in used]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    return fig


def cohort_slides(root: str | Path, picks: dict[str, str], labels, ncols: int = 3,
                  size: float = 2.7, thumb_px: int = 360):
    """Synthetic-cohort slides (``picks``: caption → slide id) as thumbnails with tumour and
    mimics outlined from the region maps, a µm scale bar each, and a title from the labels table
    (burden, tumour patches, mimics present): :func:`show_outlined` for ``root``'s slides."""
    from .synth import MIMIC_CODE, TUMOUR_CODE, load_region_mask

    root = Path(root)
    table = labels.set_index("slide_id")
    thumbs, outlines, titles, mpps = [], [], [], []
    for what, sid in picks.items():
        with Slide(root / "slides" / f"{sid}.tiff") as s:
            thumb, tds = s.thumbnail(thumb_px)
            mpps.append(s.mpp * tds)
        codes, _ = load_region_mask(root, sid)
        thumbs.append(thumb)
        outlines.append({"tumour": codes >= min(TUMOUR_CODE.values()),
                         "mimic": np.isin(codes, list(MIMIC_CODE.values()))})
        row = table.loc[sid]
        titles.append(f"{what}: {sid}\n{row.burden}, {row.tumour_patches} tumour patches\n"
                      f"mimics: {row.mimics.replace(';', ', ') or 'none'}")
    return show_outlined(thumbs, outlines, titles, mpps, ncols=ncols, size=size)


__all__ += ["cohort_slides"]


def patch_rows(rows: dict[str, Sequence[np.ndarray]], um_per_px: float, size: float = 1.2,
               titles: dict[str, Sequence[str]] | None = None):
    """Patches in labelled rows (row name on the left, a µm scale bar on each row's first
    patch), e.g. tumour patches above the patches of their benign mimic."""
    ncols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), ncols, figsize=(size * ncols + 0.8, size * len(rows)),
                             squeeze=False)
    for r, (name, imgs) in enumerate(rows.items()):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if c < len(imgs):
                ax.imshow(imgs[c])
                if titles and name in titles:
                    ax.set_title(titles[name][c], fontsize=6)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center")
        if len(imgs):
            scale_bar(axes[r, 0], um_per_px)
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
               s: float = 6, alpha: float = 0.6, palette: dict | None = None,
               xlabel: str = "dimension 1", ylabel: str = "dimension 2",
               note: str | None = None, order: Sequence | None = None):
    """2-D scatter coloured by a categorical label, with a legend and axis labels (and an
    optional ``note`` in the lower-right corner). Categories are drawn — and listed in the
    legend — in ``order`` (categories absent from the points are skipped; those not named come
    after, in order of first appearance), so name a rare category last to put it on top."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    labels = np.asarray(labels)
    seen = list(dict.fromkeys(labels.tolist()))
    cats = [c for c in (order or []) if c in set(seen)]
    cats += [c for c in seen if c not in set(cats)]
    cmap = plt.get_cmap("tab10")
    for i, c in enumerate(cats):
        m = labels == c
        colour = (palette or {}).get(c, cmap(i % 10))
        ax.scatter(xy[m, 0], xy[m, 1], s=s, alpha=alpha, color=colour, label=f"{c} ({m.sum()})",
                   linewidths=0)
    ax.legend(markerscale=2, fontsize=7, frameon=False)
    ax.set_xlabel(xlabel), ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    _axes_note(ax, note)
    return ax


def umap_scatter(embedding, values: Sequence, ax=None, title: str | None = None, *,
                 kind: str = "auto", label: str = "", note: str | None = None,
                 palette: dict | None = None, cmap: str = "viridis", s: float = 6,
                 order: Sequence | None = None):
    """A UMAP (a :class:`milhelpers.embedding.Embedding`) coloured by ``values``: one value per
    row of the features it was computed from (``embedding.n_input`` of them); the rows laid out,
    ``embedding.indices``, are picked here, so colours always match points.

    ``kind``: ``"category"`` (a legend, :func:`scatter_2d`), ``"continuous"`` (a colourbar
    labelled ``label``, :func:`scatter_values`; highest values drawn last, on top) or ``"auto"``
    (continuous for floating-point values, else categories; ``order`` the categories' drawing
    and legend order, see :func:`scatter_2d`). Axes read "UMAP 1" and "UMAP 2"
    (UMAP's axes have no units); a subsampled embedding says so in the corner, followed by
    ``note``.
    """
    values = np.asarray(values)
    if values.ndim != 1 or len(values) != embedding.n_input:
        raise ValueError(f"values must hold one value per input row ({embedding.n_input}, the "
                         f"rows umap_embedding was given), got shape {values.shape}")
    if kind == "auto":
        kind = "continuous" if np.issubdtype(values.dtype, np.floating) else "category"
    if kind not in ("category", "continuous"):
        raise ValueError(f"kind must be 'auto', 'category' or 'continuous', got {kind!r}")
    v = values[embedding.indices]
    text = "; ".join(t for t in (embedding.note if embedding.subsampled else None, note) if t)
    axis_labels = dict(xlabel="UMAP 1", ylabel="UMAP 2", note=text or None)
    if kind == "category":
        return scatter_2d(embedding.xy, v, ax=ax, title=title, s=s, palette=palette,
                          order=order, **axis_labels)
    order = np.argsort(v, kind="stable")
    return scatter_values(embedding.xy[order], v[order], ax=ax, label=label, title=title,
                          cmap=cmap, s=s, **axis_labels)


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
    if not size0 or size0 <= 0:
        raise ValueError("the level-0 patch size is unknown for this slide (features without a "
                         "'patch_size_level0' attribute and no regular grid); pass "
                         "patch_size_level0= to BagDataset")
    if len(coords) != len(values):
        raise ValueError(f"{len(values)} values for {len(coords)} patch coordinates")
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


def heatmap_overlay(thumb: np.ndarray, heat: np.ndarray, ax=None, cmap: str = "viridis",
                    alpha: float = 0.6, title: str | None = None, colorbar: bool = True,
                    vmin: float | None = None, vmax: float | None = None, label: str = "",
                    um_per_px: float | None = None):
    """Draw a thumbnail with a heatmap (NaN = transparent) on top, with a colourbar.

    The colour range defaults to the heatmap's own min and max; pass ``vmin``/``vmax`` to put
    several slides on one absolute scale (raw attention, where a 'cold' map must look cold).
    ``um_per_px`` (the thumbnail's resolution) adds a scale bar.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(3.5, 3.5))
    ax.imshow(thumb)
    im = ax.imshow(np.ma.masked_invalid(heat), cmap=cmap, alpha=alpha,
                   vmin=np.nanmin(heat) if vmin is None else vmin,
                   vmax=np.nanmax(heat) if vmax is None else vmax)
    ax.axis("off")
    if title:
        ax.set_title(title)
    if colorbar:
        plt.colorbar(im, ax=ax, fraction=0.046, label=label)
    if um_per_px:
        scale_bar(ax, um_per_px)
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
    ax.set_ylabel(" / ".join(m for m in metrics if m in history))
    ax.legend(fontsize=7, frameon=False)
    return ax


# --------------------------------------------------------------------------------------------
# method comparisons (the experiment runner's standard figure)
# --------------------------------------------------------------------------------------------
def split_curves(curves, metrics: Sequence[str] = ("loss", "auc"),
                 parts: Sequence[str] = ("train", "validation"), axes=None):
    """Learning curves of several methods (:func:`milhelpers.curves.learning_curves`' table):
    one panel per metric, epoch on x; one colour per method, one line style per part (training
    solid, validation dashed, test dotted)."""
    import pandas as pd

    df = pd.DataFrame(curves)
    if axes is None:
        _, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.4),
                               layout="constrained", squeeze=False)
        axes = axes[0]
    styles = {"train": "-", "validation": "--", "test": ":"}
    names = {"loss": "cross-entropy loss (nats)", "auc": "slide AUC"}
    colours = plt.get_cmap("tab10")
    for ax, metric in zip(np.atleast_1d(axes), metrics):
        for i, (method, g) in enumerate(df.groupby("method", sort=False)):
            for part in parts:
                p = g[g.part == part].sort_values("epoch")
                ax.plot(p.epoch, p[metric], styles.get(part, "-"), color=colours(i % 10),
                        marker="o", ms=2.5, lw=1.4, label=f"{method}, {part}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(names.get(metric, metric))
    # one legend, outside the last panel: inside, it hides the curves wherever they cross
    np.atleast_1d(axes)[-1].legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return axes


def paired_comparison(runs, metric: str = "auc", methods: Sequence[str] | None = None,
                      ax=None, n_resamples: int = 10_000, label: str | None = None,
                      legend: bool = True):
    """Methods side by side on one metric, over the same (seed, fold) runs.

    ``runs``: a table with ``method``, ``seed``, ``fold`` and ``metric`` columns (an
    :class:`~milhelpers.experiments.ExperimentResult`'s ``runs``). Each run is a dot; a grey line
    joins the dots of the same (seed, fold) across methods, so a paired gain reads as lines that
    rise; beside the dots, the mean with its 95 % percentile-bootstrap interval. ``label`` names
    the metric on the y axis and in the title (default: the column name). ``legend=False`` leaves
    the legend out (side-by-side panels of the same methods need it once, not squeezing each).
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
    label = label or metric.replace("_", " ")
    seeds = wide.index.get_level_values("seed").unique()
    over = (f"{len(wide)} test folds, seed {seeds[0]}" if len(seeds) == 1
            else f"{len(wide)} (seed, fold) runs")
    ax.set_ylabel(label)
    ax.set_title(f"{label}: {over}")
    if legend:
        ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def power_curves(curve, ax=None, target: float = 0.8, n_slides: int | None = None):
    """Power against the true AUC difference, one line per number of repeats.

    ``curve``: :func:`milhelpers.stats.power_curve`'s table (``n_repeats``, ``delta_auc``,
    ``power``). A dashed line marks ``target`` power and the 5 % that no true difference should
    exceed; each curve's minimum detectable difference
    (:func:`milhelpers.stats.min_detectable_difference`) is marked and written in the legend."""
    from .stats import ALPHA, min_detectable_difference

    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 3.4), dpi=100, layout="constrained")
    mdd = min_detectable_difference(curve, target)
    colours = plt.get_cmap("viridis")
    groups = list(curve.groupby("n_repeats"))
    for i, (r, g) in enumerate(groups):
        g = g.sort_values("delta_auc")
        c = colours(i / max(len(groups) - 1, 1) * 0.85)
        d = mdd[int(r)]
        where = f"{d:.3f}" if np.isfinite(d) else f"> {g.delta_auc.max():.2f}"
        ax.plot(g.delta_auc, g.power, "o-", color=c, ms=3.5, lw=1.4,
                label=f"{int(r)} repeat{'s' if r != 1 else ''}: {int(target * 100)} % at ΔAUC {where}")
        if np.isfinite(d):
            ax.plot([d, d], [0, target], color=c, lw=0.8, ls=":")
    ax.axhline(target, color="0.4", lw=0.8, ls="--")
    ax.axhline(ALPHA, color="0.6", lw=0.8, ls=":", label=f"{ALPHA:.0%} (false positives)")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("true difference in slide AUC (B − A)")
    ax.set_ylabel("share of cohorts called clear")
    n = n_slides or (curve.attrs.get("n_slides") if hasattr(curve, "attrs") else None)
    ax.set_title("power of the paired slide bootstrap" + (f", {n} slides" if n else ""))
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return ax


# --------------------------------------------------------------------------------------------
# chapter 02: the evidence (bootstrap resamples, differences in two settings, learning curves)
# --------------------------------------------------------------------------------------------
def bootstrap_resamples(paired: dict, unpaired: dict | None = None, ax=None,
                        metric: str = "AUC", a: str = "A", b: str = "B"):
    """The resampled differences Δ* = B − A of a case bootstrap (a
    :func:`milhelpers.stats.paired_slide_comparison` result made with ``return_resamples``),
    as a histogram with its 95 % interval; with ``unpaired`` (the same call with
    ``paired=False``) both, so the width pairing saves is visible. 0 is marked: the one rule
    calls the difference clear exactly when the interval leaves it out."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 3.2), dpi=100, layout="constrained")
    entries = [("paired", paired, "tab:blue")]
    if unpaired is not None:
        entries.append(("unpaired", unpaired, "tab:orange"))
    allv = np.concatenate([np.asarray(st["resamples"]) for _, st, _ in entries])
    bins = np.linspace(np.nanmin(allv), np.nanmax(allv), 41)
    for name, st, c in entries:
        lo, hi = st["ci95"]
        ax.hist(st["resamples"], bins=bins, color=c, alpha=0.5,
                label=f"{name}: 95% CI [{lo:+.3f}, {hi:+.3f}]")
        for v in (lo, hi):
            ax.axvline(v, color=c, lw=1.2, ls="--")
    ax.axvline(0, color="black", lw=1)
    ax.axvline(paired["diff"], color="0.3", lw=1, ls=":", label=f"observed {paired['diff']:+.3f}")
    ax.set_xlabel(f"resampled difference in {metric} ({b} − {a})")
    ax.set_ylabel("resamples")
    ax.set_title(f"case bootstrap, {len(paired['resamples'])} resamples")
    ax.legend(fontsize=7, frameon=False)
    return ax


def difference_forest(tables: dict, metric: str = "auc", ax=None, reference: str = "A"):
    """B − A with its 95 % interval for each method and each setting (one colour per setting),
    from :meth:`~milhelpers.experiments.ExperimentResult.compare` tables: a filled marker is a
    clear difference (interval without 0), an open one is no evidence either way."""
    names = list(tables)
    methods = list(dict.fromkeys(m for t in tables.values() for m in t.method[t.metric == metric]))
    if ax is None:
        _, ax = plt.subplots(figsize=(5.6, 0.55 * len(methods) * len(names) + 1.2), dpi=100,
                             layout="constrained")
    colours = plt.get_cmap("viridis")
    step = 0.8 / max(len(names), 1)
    for j, n in enumerate(names):
        t = tables[n].set_index(["metric", "method"])
        c = colours(j / max(len(names) - 1, 1) * 0.8)
        for i, m in enumerate(methods):
            if (metric, m) not in t.index:
                continue
            r = t.loc[(metric, m)]
            y = i + (j - (len(names) - 1) / 2) * step
            ax.errorbar(r["diff"], y, xerr=[[r["diff"] - r["lo"]], [r["hi"] - r["diff"]]],
                        fmt="o", color=c, mfc=c if r["clear"] else "white", capsize=3)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colours(j / max(len(names) - 1, 1) * 0.8), marker="o", label=n)
               for j, n in enumerate(names)]
    handles.append(Line2D([], [], color="0.4", marker="o", mfc="white", ls="none",
                          label="open: no evidence either way"))
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(methods)))
    ax.set_yticklabels(methods)
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric.replace('_', ' ')}: method − {reference} (95% CI; filled = clear)")
    ax.set_ylabel("method (B)")
    ax.legend(handles=handles, fontsize=7, frameon=False, loc="best")
    return ax


def fold_curves(histories: Sequence, title: str = "", axes=None):
    """Per-fold learning curves of one method: train (dashed) and validation loss, and
    validation AUC, one colour per fold; the last epoch, which the course keeps, is marked."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 3), dpi=100, layout="constrained")
    cmap = plt.get_cmap("viridis")
    for k, h in enumerate(histories):
        c = cmap(k / max(len(histories) - 1, 1) * 0.9)
        axes[0].plot(h["epoch"], h["train_loss"], color=c, ls="--", lw=1)
        axes[0].plot(h["epoch"], h["val_loss"], color=c, lw=1.2, label=f"fold {k}")
        axes[0].plot(h["epoch"].iloc[-1], h["val_loss"].iloc[-1], "o", color=c, ms=4)
        if "val_auc" in h:
            axes[1].plot(h["epoch"], h["val_auc"], color=c, lw=1.2, label=f"fold {k}")
            axes[1].plot(h["epoch"].iloc[-1], h["val_auc"].iloc[-1], "o", color=c, ms=4)
    axes[0].set_ylabel("cross-entropy")
    axes[0].set_title(f"{title}: train (dashed) and validation loss; ● = kept (last)")
    axes[1].set_ylabel("validation AUC")
    axes[1].set_title("validation AUC (recorded, not used to choose)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7, frameon=False)
    return axes


__all__ += ["bootstrap_resamples", "difference_forest", "fold_curves"]


# --------------------------------------------------------------------------------------------
# chapter 02: attention on slides, ranked patches, a toy bag
# --------------------------------------------------------------------------------------------
def attention_panels(slide_path: str | Path, coords: np.ndarray, size0: int, attention: np.ndarray,
                     truth: np.ndarray | None = None, axes=None, raw_vmax: float | None = None,
                     title: str = "", max_size: int = 384, cmap: str = "viridis",
                     mpp: float | None = None):
    """One slide in a row: raw attention on an absolute scale, its within-slide rank, and (if
    given) the true tumour fraction of each patch; each panel with a colourbar and a scale bar.
    ``mpp``: the level-0 µm/px for a slide whose file lacks it (the file's own value wins).

    Raw weights a_k sum to 1 over the bag, so on an absolute scale ``[0, raw_vmax]`` a slide
    whose attention is spread thin looks cold; rank scaling stretches *any* slide over the whole
    colour map, so a benign slide looks as hot as a tumour. Returns the axes.
    """
    n = 3 if truth is not None else 2
    if axes is None:
        _, axes = plt.subplots(1, n, figsize=(3.1 * n, 2.9))
    with Slide(slide_path, mpp=mpp) as s:
        thumb, ds = s.thumbnail(max_size)
        mpp = s.mpp * ds
    a = np.asarray(attention, float).ravel()
    raw = attention_map(thumb.shape[:2], ds, coords, size0, a)
    vmax = float(a.max()) if raw_vmax is None else float(raw_vmax)
    heatmap_overlay(thumb, raw, axes[0], cmap=cmap, vmin=0.0, vmax=vmax, label="attention a_k",
                    title=f"{title}\nraw a_k, scale 0–{vmax:.3g}", um_per_px=mpp)
    rank = attention_map(thumb.shape[:2], ds, coords, size0, scale_scores(a, "rank"))
    heatmap_overlay(thumb, rank, axes[1], cmap=cmap, vmin=0.0, vmax=1.0,
                    label="rank within slide (0–1)", title="rank-scaled", um_per_px=mpp)
    if truth is not None:
        gt = attention_map(thumb.shape[:2], ds, coords, size0, np.asarray(truth, float))
        heatmap_overlay(thumb, gt, axes[2], cmap="magma", vmin=0.0, vmax=1.0,
                        label="tumour fraction of the patch", title="ground truth",
                        um_per_px=mpp)
    return axes


def ranked_patches(slide_path: str | Path, coords: np.ndarray, size0: int, attention: np.ndarray,
                   truth: np.ndarray | None = None, k: int = 5, out_px: int = 96,
                   size: float = 1.35, mpp: float | None = None):
    """The k most- and k least-attended patches of a slide in two rows, each titled with its
    attention a_k (and its true tumour fraction where known); a µm scale bar on the first of
    each row. Returns the figure."""
    a = np.asarray(attention, float).ravel()
    order = np.argsort(-a, kind="stable")
    k = max(1, min(k, len(order) // 2))
    idx = np.concatenate([order[:k], order[::-1][:k]])
    titles = []
    for j, i in enumerate(idx):
        head = f"top {j + 1}" if j < k else f"bottom {j - k + 1}"
        tail = f"\ntumour {truth[i]:.0%}" if truth is not None else ""
        titles.append(f"{head}: a={a[i]:.2g}{tail}")
    with Slide(slide_path, mpp=mpp) as s:
        patch_mpp = s.mpp * size0 / out_px
    return show_images(read_patches(slide_path, np.asarray(coords)[idx], size0, out_px, mpp),
                       titles, ncols=k, size=size,
                       um_per_px=[patch_mpp if j % k == 0 else None for j in range(2 * k)])


def toy_attention(e: np.ndarray, a: np.ndarray, names: Sequence[str] | None = None, axes=None):
    """A toy bag's raw attention logits e_k and weights a_k = softmax(e)_k side by side."""
    e, a = np.asarray(e, float).ravel(), np.asarray(a, float).ravel()
    names = list(names) if names is not None else [f"x{k + 1}" for k in range(len(e))]
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(6.5, 2.4))
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.9, len(e)))
    axes[0].bar(names, e, color=colours)
    axes[0].axhline(0, color="0.5", lw=0.6)
    axes[0].set_xlabel("instance k"), axes[0].set_ylabel("attention logit e_k")
    axes[0].set_title("e_k = wᵀ(tanh(V h_k) ⊙ σ(U h_k))")
    axes[1].bar(names, a, color=colours)
    axes[1].axhline(1 / len(a), color="0.3", ls=":", lw=0.8, label="uniform 1/N")
    axes[1].set_xlabel("instance k"), axes[1].set_ylabel("attention weight a_k")
    axes[1].set_title("a = softmax(e), Σ a_k = 1")
    axes[1].legend(fontsize=7, frameon=False)
    return axes


def concentration_plot(n_patches: Sequence[int], entropy: Sequence[float], top5: Sequence[float],
                       labels: Sequence[int], axes=None):
    """Attention concentration per test slide: normalised entropy histogram by class, and the
    top-5 mass against bag length (log x) with the top-5 mass of uniform attention, 5/N."""
    n, ent, t5, y = (np.asarray(v) for v in (n_patches, entropy, top5, labels))
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 3))
    for lab, c, name in ((0, "tab:blue", "negative slides"), (1, "tab:red", "positive slides")):
        m = y == lab
        axes[0].hist(ent[m], bins=np.linspace(0, 1, 21), alpha=0.6, color=c, label=name)
        axes[1].scatter(n[m], t5[m], s=9, color=c, label=name)
    grid = np.geomspace(max(5, n.min()), n.max(), 50)
    axes[1].plot(grid, np.minimum(1, 5 / grid), color="0.4", ls=":", label="uniform: 5/N")
    axes[0].set_xlabel("normalised attention entropy H(a)/log N"), axes[0].set_ylabel("slides")
    axes[1].set_xscale("log")
    from matplotlib.ticker import NullFormatter, ScalarFormatter
    ticks = [t for t in (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
             if n.min() <= t <= n.max()]
    if ticks:
        axes[1].set_xticks(ticks)
    axes[1].xaxis.set_major_formatter(ScalarFormatter())   # 10, 100, 1000 — not 10^1 ...
    axes[1].xaxis.set_minor_formatter(NullFormatter())     # minor labels collide on a log axis
    axes[1].set_xlabel("patches in the bag (N)"), axes[1].set_ylabel("attention mass of the top 5")
    for ax in axes:
        ax.legend(fontsize=7, frameon=False)
    return axes


def cumulative_attention_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]],
                              uniform: tuple[np.ndarray, np.ndarray], ax=None,
                              title: str = "positive test slides"):
    """Top-K cumulative attention curves (:func:`milhelpers.metrics.cumulative_attention`), one
    line per model, with uniform attention's curve dotted: the higher a curve starts, the fewer
    patches hold the slide's attention."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    colours = plt.get_cmap("tab10")
    for i, (name, (ks, c)) in enumerate(curves.items()):
        ax.plot(ks, c, color=colours(i), lw=1.6, label=name)
    ax.plot(*uniform, color="0.4", ls=":", label="uniform attention")
    ax.set_xlabel("K (most-attended patches)")
    ax.set_ylabel("attention mass of the top K")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=7, frameon=False)
    return ax


# --------------------------------------------------------------------------------------------
# chapter 04: attention entropy maximisation (AEM)
# --------------------------------------------------------------------------------------------
def attention_row(slide_path: str | Path, coords: np.ndarray, size0: int,
                  attentions: dict[str, np.ndarray], truth: np.ndarray | None = None,
                  raw_vmax: float | None = None, max_size: int = 320, size: float = 2.5,
                  cmap: str = "viridis", shared_colorbar: bool = False):
    """One slide's raw attention under several models, side by side on **one** absolute scale
    ``[0, raw_vmax]`` (default: the largest weight of any model), then the true tumour fraction.

    A model whose attention is spread thin looks cold on the shared scale, so flattening reads
    directly from the colours. Each panel has a colourbar (or, with ``shared_colorbar``, the
    attention panels share one, since they share the scale) and a µm scale bar; each title names
    the model with its largest weight in units of uniform attention (max a_k · N). Returns the
    figure.
    """
    if not attentions:
        raise ValueError("attentions is empty: give at least one model's weights")
    arrs = {k: np.asarray(v, float).ravel() for k, v in attentions.items()}
    for k, a in arrs.items():
        if len(a) != len(coords):
            raise ValueError(f"attentions[{k!r}] has {len(a)} weights for {len(coords)} patches")
    n = len(arrs) + (truth is not None)
    # a colourbar spanning several axes needs constrained layout (tight_layout cannot place it)
    fig, axes = plt.subplots(1, n, figsize=(size * n, size), squeeze=False,
                             layout="constrained" if shared_colorbar else None)
    axes = axes[0]
    with Slide(slide_path) as s:
        thumb, ds = s.thumbnail(max_size)
        mpp = s.mpp * ds
    vmax = max(float(a.max()) for a in arrs.values()) if raw_vmax is None else float(raw_vmax)
    for ax, (name, a) in zip(axes, arrs.items()):
        heat = attention_map(thumb.shape[:2], ds, coords, size0, a)
        heatmap_overlay(thumb, heat, ax, cmap=cmap, vmin=0.0, vmax=vmax, label="attention a_k",
                        title=f"{name}\nmax a_k = {a.max() * len(a):.1f}× uniform",
                        um_per_px=mpp, colorbar=not shared_colorbar)
    if shared_colorbar:
        fig.colorbar(axes[0].get_images()[-1], ax=list(axes[:len(arrs)]), fraction=0.02, pad=0.01,
                     label="attention a_k (every model)")
    if truth is not None:
        gt = attention_map(thumb.shape[:2], ds, coords, size0, np.asarray(truth, float))
        heatmap_overlay(thumb, gt, axes[-1], cmap="magma", vmin=0.0, vmax=1.0,
                        label="tumour fraction of the patch", title="ground truth",
                        um_per_px=mpp)
    return fig


def slide_cumulative_attention(attentions: dict[str, np.ndarray], ax=None,
                         truth: np.ndarray | None = None, threshold: float = 0.25):
    """Attention mass held by the most-attended patches: for each model, the weights sorted
    from largest to smallest, cumulated, against the fraction of the bag's patches.

    Uniform attention (mean pooling) is the diagonal; one-hot attention (max pooling) jumps to 1
    at the first patch. With ``truth`` (each patch's tumour fraction) a dotted vertical line
    marks the share of tumour patches (fraction ≥ ``threshold``): an attention curve that
    reaches ~1 there has put its mass on as many patches as there is tumour.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(3.8, 3.2))
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, max(len(attentions), 1)))
    for c, (name, a) in zip(colours, attentions.items()):
        a = np.sort(np.asarray(a, float).ravel())[::-1]
        frac = np.arange(0, len(a) + 1) / len(a)
        ax.step(frac, np.concatenate([[0.0], np.cumsum(a) / a.sum()]), where="post", color=c,
                label=name)
    ax.plot([0, 1], [0, 1], color="0.4", ls=":", lw=1, label="uniform (mean pooling)")
    if truth is not None:
        share = float(np.mean(np.asarray(truth) >= threshold))
        ax.axvline(share, color="tab:red", ls="--", lw=0.8,
                   label=f"tumour patches (≥ {threshold:.0%} tumour): {share:.0%}")
    ax.set_xlabel("fraction of the bag's patches, most attended first")
    ax.set_ylabel("cumulative attention mass")
    ax.set_xlim(0, 1), ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return ax


def lambda_curves(table, metric: str, ax=None, references: dict[str, float] | None = None,
                  ylabel: str | None = None, markers_only: Sequence[str] = ()):
    """A metric against the AEM weight λ, one line per variant, with 95 % intervals.

    ``table``: rows with ``variant``, ``lam``, ``mean``, ``lo``, ``hi`` for this metric (e.g.
    from :func:`milhelpers.experiments.summary_frame` plus the λ and variant of each method).
    The x axis is symmetric-log so λ = 0 (the baseline, shared by every variant) sits on it.
    ``references``: horizontal lines, e.g. ``{"mean_pool": 0.74}``. ``markers_only``: variants
    measured at too few λ for a line (a line would invent the values in between) — drawn as
    markers with their intervals, unconnected.
    """
    import pandas as pd

    df = pd.DataFrame(table)
    for col in ("variant", "lam", "mean", "lo", "hi"):
        if col not in df:
            raise KeyError(f"lambda_curves needs a column {col!r}; have {list(df.columns)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(3.8, 3.0))
    markers = "osD^v"
    colours = plt.get_cmap("tab10")
    x_right = 0.0
    for i, (variant, g) in enumerate(df.groupby("variant", sort=False)):
        g = g.sort_values("lam")
        lo = (g["mean"] - g["lo"]).clip(lower=0).to_numpy()
        hi = (g["hi"] - g["mean"]).clip(lower=0).to_numpy()
        yerr = None if np.isnan(lo).all() else np.nan_to_num(np.vstack([lo, hi]))
        # variants are offset a little in x so their intervals do not hide each other
        x = g["lam"].to_numpy(float) * (1 + 0.08 * i)
        ax.errorbar(x, g["mean"], yerr=yerr, marker=markers[i % len(markers)], ms=4, lw=1.2,
                    ls="none" if variant in set(markers_only) else "-",
                    capsize=2, color=colours(i % 10), label=str(variant))
        x_right = max(x_right, float(x.max()))
    for j, (name, value) in enumerate((references or {}).items()):
        ax.axhline(value, color="0.35", ls=["--", ":", "-."][j % 3], lw=1, label=name)
    positive = df.loc[df["lam"] > 0, "lam"]
    linthresh = float(positive.min()) if len(positive) else 1.0
    ax.set_xscale("symlog", linthresh=linthresh)
    # λ < 0 means nothing: no room for it on the axis; on the right, room for the dodged markers
    ax.set_xlim(-0.2 * linthresh, max(x_right * 1.6, linthresh))
    ax.set_xlabel("AEM weight λ (symmetric log scale)")
    ax.set_ylabel(ylabel or metric.replace("_", " "))
    ax.legend(fontsize=7, frameon=False)
    return ax


#: A light, perceptually uniform colour map for attention drawn over tissue: magma reversed and
#: cut before its darkest 15 %, so the many patches with little attention get a pale tint that
#: leaves the tissue visible and the few with much attention the saturated end (viridis' dark
#: end would cover most of the slide in dark purple).
ATTENTION_CMAP = ListedColormap(plt.get_cmap("magma_r")(np.linspace(0.0, 0.85, 256)),
                                name="magma_light")


def category_map(shape_hw: tuple[int, int], downsample: float, coords: np.ndarray, size0: int,
                 labels: Sequence[str], palette: dict[str, str],
                 skip: Sequence[str] = ("normal",), alpha: float = 0.8) -> np.ndarray:
    """An RGBA image at thumbnail resolution where each patch is painted with its category's
    colour (``palette``; categories in ``skip`` and pixels without a patch stay transparent).
    Where patches overlap, a pixel takes the category that covers it most."""
    from matplotlib.colors import to_rgba

    labels = np.asarray(labels).astype(str)
    cats = [c for c in dict.fromkeys(labels.tolist()) if c not in set(skip)]
    rgba = np.zeros((*shape_hw, 4))
    best = np.zeros(shape_hw)
    for c in cats:
        if c not in palette:
            raise KeyError(f"no colour for category {c!r} in the palette ({sorted(palette)})")
        cover = np.nan_to_num(attention_map(shape_hw, downsample, coords, size0,
                                            (labels == c).astype(float)))
        win = cover > best
        rgba[win] = (*to_rgba(palette[c])[:3], alpha)
        best = np.maximum(best, cover)
    return rgba


def _topk_text(a: np.ndarray, kinds: np.ndarray, k: int) -> str:
    """'top 5: 3 solid tumour, 2 normal' for one head's weights."""
    top = kinds[np.argsort(-a, kind="stable")[:k]]
    names, counts = np.unique(top, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return f"top {len(top)}: " + ", ".join(f"{counts[i]} {names[i]}" for i in order)


def branch_heatmaps(slide_path: str | Path, coords: np.ndarray, size0: int,
                    attention: np.ndarray, reference: dict[str, np.ndarray] | None = None,
                    truth: np.ndarray | None = None, max_size: int = 320, ncols: int = 4,
                    cmap=ATTENTION_CMAP, title: str = "", kinds: Sequence[str] | None = None,
                    k: int | None = None, palette: dict[str, str] | None = None):
    """One slide seen by each attention branch: branch m's raw weights a_mk, the branches' mean
    ā_k (the slide attention), each ``reference`` map (e.g. ABMIL's weights), and the ground
    truth. Every attention panel shares one absolute scale [0, max] — and one colour bar — so a
    branch that spreads its weight looks pale rather than stretched; each has a µm scale bar.
    ``attention`` is (M, N) softmax weights.

    Ground truth: with ``kinds`` (each patch's display name, e.g. ``"solid tumour"``; colours
    from ``palette``, default :data:`milhelpers.widgets.CATEGORY_COLOURS`) every patch is
    painted with its kind (normal patches left clear) and a legend names the kinds present;
    otherwise ``truth`` (tumour fraction per patch) on a colour bar. With ``kinds`` and ``k``
    each attention panel's title says what its top-k patches are. Returns the figure."""
    a = np.asarray(attention, float)
    if a.ndim != 2 or a.shape[1] != len(coords):
        raise ValueError(f"attention must be (branches, N) with N = {len(coords)} patches; got "
                         f"shape {a.shape}")
    if kinds is not None and len(kinds) != len(coords):
        raise ValueError(f"kinds has {len(kinds)} entries for {len(coords)} patches")
    panels = [(f"branch {m + 1}", a[m]) for m in range(len(a))]
    panels.append(("branch mean ā (slide attention)", a.mean(0)))
    panels += [(name, np.asarray(v, float)) for name, v in (reference or {}).items()]
    vmax = max(float(v.max()) for _, v in panels)
    has_truth = truth is not None or kinds is not None
    n = len(panels) + has_truth
    rows = -(-n // ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(3.0 * ncols, 2.9 * rows), layout="constrained",
                             squeeze=False)
    with Slide(slide_path) as s:
        thumb, ds = s.thumbnail(max_size)
        mpp = s.mpp * ds
    kinds_arr = None if kinds is None else np.asarray(kinds).astype(str)
    for ax, (name, v) in zip(axes.flat, panels):
        label = name if kinds_arr is None or k is None else f"{name}\n{_topk_text(v, kinds_arr, k)}"
        heatmap_overlay(thumb, attention_map(thumb.shape[:2], ds, coords, size0, v), ax,
                        cmap=cmap, vmin=0.0, vmax=vmax, title=label, um_per_px=mpp,
                        colorbar=False)
        ax.title.set_fontsize(8)
    fig.colorbar(axes.flat[0].get_images()[-1], ax=list(axes.flat[:len(panels)]), shrink=0.6,
                 label="attention weight a_k (every panel)")
    if kinds_arr is not None:
        if palette is None:
            from .widgets import CATEGORY_COLOURS as palette
        ax = axes.flat[len(panels)]
        ax.imshow(thumb)
        ax.imshow(category_map(thumb.shape[:2], ds, coords, size0, kinds_arr, palette))
        ax.axis("off")
        ax.set_title("ground truth: what each patch is", fontsize=8)
        scale_bar(ax, mpp)
        from matplotlib.patches import Patch

        present = [c for c in palette if c in set(kinds_arr)]
        ax.legend(handles=[Patch(color=palette[c], label=c) for c in present if c != "normal"]
                  + [Patch(facecolor="none", edgecolor="0.5", label="normal (clear)")],
                  fontsize=6, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.02),
                  ncol=2)
    elif truth is not None:
        gt = attention_map(thumb.shape[:2], ds, coords, size0, np.asarray(truth, float))
        heatmap_overlay(thumb, gt, axes.flat[len(panels)], cmap="magma", vmin=0.0, vmax=1.0,
                        label="tumour fraction", title="ground truth", um_per_px=mpp)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return fig


#: Colours of the patch groups of :data:`milhelpers.instances.KIND_GROUPS`.
GROUP_COLOURS = {"tumour": "#d62728", "mimic": "#1f77b4", "normal": "#bbbbbb"}


def topk_composition_plot(compositions: dict, chance: dict[str, float] | None = None, ax=None,
                          k: int | None = None):
    """What each head's top-k patches are: one stacked bar per row of
    :func:`milhelpers.instances.composition_table` (a model's heads by rank over the runs, or a
    one-head model), tumour / mimic / normal shares averaged over the runs, the tumour share's
    95 % bootstrap interval over runs as an error bar, and the tumour share of random picks
    (``chance``) as a dashed line."""
    from .experiments import bootstrap_ci
    from .instances import KIND_GROUPS

    rows = []
    for name, comp in compositions.items():
        n_heads = int(comp["rank"].max())
        for r, g in comp.groupby("rank"):
            label = name if n_heads == 1 else f"{name}, rank {r}/{n_heads}"
            rows.append((label, {grp: g[grp].to_numpy(float) for grp in KIND_GROUPS}))
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 0.42 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    left = np.zeros(len(rows))
    for grp in KIND_GROUPS:
        means = np.array([v[grp].mean() for _, v in rows])
        ax.barh(y, means, left=left, color=GROUP_COLOURS[grp], label=grp, height=0.7)
        if grp == "tumour":
            ci = np.array([bootstrap_ci(v[grp]) for _, v in rows])
            ok = ~np.isnan(ci[:, 0])
            ax.errorbar(means[ok], y[ok], xerr=np.abs(ci[ok].T - means[ok]), fmt="none",
                        ecolor="black", capsize=2, lw=1)
        left += means
    if chance is not None:
        ax.axvline(chance["tumour"], color="black", ls="--", lw=1,
                   label=f"tumour share of all patches ({chance['tumour']:.0%})")
    ax.set_yticks(y, [name for name, _ in rows], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"share of the head's top-{k or 'k'} patches (mean over runs; "
                  "bar: 95 % CI of the tumour share)")
    ax.legend(fontsize=7, frameon=False, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return ax


def correlation_scatter(x, y, groups, stats: dict | None = None, ax=None, xlabel: str = "",
                        ylabel: str = "", order: Sequence[str] | None = None):
    """One dot per run (x, y), coloured by ``groups`` (e.g. the method), titled with the rank
    correlation ``stats`` from :func:`milhelpers.experiments.correlation_ci`. ``order``: the
    group names in colour order (default: as they first appear), so panels showing different
    subsets of the groups keep one colour per group."""
    x, y, g = np.asarray(x, float), np.asarray(y, float), np.asarray(groups).astype(str)
    if not (len(x) == len(y) == len(g)):
        raise ValueError(f"x, y and groups differ in length: {len(x)}, {len(y)}, {len(g)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 3.4))
    names = list(dict.fromkeys(order if order is not None else g))
    missing = sorted(set(g) - set(names))
    if missing:
        raise ValueError(f"order lacks the groups {missing}: list every group name once")
    colours = plt.get_cmap("tab10")
    for i, name in enumerate(names):
        m = g == name
        if m.any():
            ax.scatter(x[m], y[m], s=16, color=colours(i % 10), label=name)
    if stats is not None:
        lo, hi = stats["ci95"]
        ax.set_title(f"Spearman ρ = {stats['rho']:+.2f}, 95% CI [{lo:+.2f}, {hi:+.2f}] "
                     f"({stats['n']} runs)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def aem_variants(lam: float, lengths, axes=None):
    """What AEM's variants change, before any training.

    Left: the weight λ_t over training — ``constant`` (the authors' code) and ``cosine``,
    λ(1 + cos πt)/2 (our reconstruction of the paper's annealing). Right: how far the
    regulariser can push each bag, the range of −R = H(a): [0, log N] with ``none`` (grows with
    the bag length N, here the given bags' lengths) and [0, 1] with ``log_n``.
    """
    n = np.sort(np.asarray(lengths, float))
    if len(n) == 0 or (n < 1).any():
        raise ValueError("lengths must be a non-empty list of bag lengths >= 1")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(8, 2.8))
    t = np.linspace(0, 1, 101)
    axes[0].plot(t, np.full_like(t, lam), color="tab:blue", label="constant")
    axes[0].plot(t, lam * (1 + np.cos(np.pi * t)) / 2, color="tab:orange",
                 label="cosine (our reconstruction)")
    axes[0].set_xlabel("fraction of training done, t"), axes[0].set_ylabel("weight λ_t")
    axes[0].set_title(f"λ = {lam:g}: the schedules")
    axes[0].legend(fontsize=7, frameon=False)
    axes[1].scatter(n, np.log(n), s=8, color="tab:blue", label="none: max H = log N (nats)")
    axes[1].scatter(n, np.where(n > 1, 1.0, 0.0), s=8, color="tab:green",
                    label="log_n: max H / log N = 1 (unitless)")
    axes[1].set_xscale("log")
    from matplotlib.ticker import NullFormatter, ScalarFormatter
    ticks = [t for t in (2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
             if n.min() <= t <= n.max()]
    if ticks:
        axes[1].set_xticks(ticks)
    axes[1].xaxis.set_major_formatter(ScalarFormatter())   # 10, 100 — not 10^1, 10^2
    axes[1].xaxis.set_minor_formatter(NullFormatter())     # minor labels collide on a log axis
    axes[1].set_xlabel("patches in the bag (N)")
    axes[1].set_ylabel("largest −R the term rewards\n(nats for none; ÷ log N for log_n)")
    axes[1].set_title("the normalisations, at these bags' lengths")
    axes[1].legend(fontsize=7, frameon=False)
    return axes


def mask_evolution(slide_path: str | Path, coords: np.ndarray, size0: int,
                   records: dict, truth: np.ndarray | None = None, max_size: int = 320,
                   size: float = 3.0, high_label: str = "high attn."):
    """Small multiples of what MHIM's teacher hides on one slide over training, then the truth.

    ``records`` maps a panel title (e.g. ``"epoch 1"``) to ``{'masked': (N,) bool, 'high': (N,)
    bool}`` (:class:`milhelpers.methods.MaskRecorder`'s records). Each patch is coloured by what
    happened to it: 0 visible, 1 hidden by random/low masking, 2 hidden by high-score masking
    (the teacher's "easy" patches, called ``high_label``). The last panel is the true tumour
    fraction per patch. Every panel has a colourbar and a µm scale bar. Returns the figure.

    The same figure compares teacher scores on one slide: pass
    :func:`milhelpers.models.mhim.score_picks`'s records, e.g. ``{"attention (v1)":
    picks["attention"], "class-aware (v2)": picks["class_aware"]}`` with ``high_label="top
    score"``: which patches each score would hide, next to the ground truth.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap

    if not records:
        raise ValueError("records is empty: record at least one epoch (MaskRecorder(epochs=...))")
    n = len(records) + (truth is not None)
    fig, axes = plt.subplots(1, n, figsize=(size * n, size), squeeze=False)
    axes = axes[0]
    with Slide(slide_path) as s:
        thumb, ds = s.thumbnail(max_size)
        mpp = s.mpp * ds
    cmap = ListedColormap([plt.get_cmap("cividis")(v) for v in (0.05, 0.55, 0.95)])
    norm = BoundaryNorm([-0.5, 0.5, 1.5, 2.5], 3)
    for ax, (title, rec) in zip(axes, records.items()):
        masked = np.asarray(rec["masked"], bool).ravel()
        high = np.asarray(rec.get("high", np.zeros_like(masked)), bool).ravel()
        if len(masked) != len(coords) or len(high) != len(coords):
            raise ValueError(f"records[{title!r}] has {len(masked)} patches for {len(coords)} "
                             "coordinates")
        code = np.where(high & masked, 2, np.where(masked, 1, 0)).astype(float)
        heat = attention_map(thumb.shape[:2], ds, coords, size0, code)
        ax.imshow(thumb)
        im = ax.imshow(np.ma.masked_invalid(heat), cmap=cmap, norm=norm, alpha=0.75,
                       interpolation="nearest")
        ax.axis("off")
        # the high-attention picks are part of the hidden count (the rules' union), so say so
        ax.set_title(f"{title}\n{int(masked.sum())} of {len(masked)} hidden, "
                     f"{int((high & masked).sum())} by {high_label}", fontsize=9)
        cb = plt.colorbar(im, ax=ax, fraction=0.046, ticks=[0, 1, 2])
        cb.ax.set_yticklabels(["visible", "random/low", high_label], fontsize=7)
        scale_bar(ax, mpp)
    if truth is not None:
        gt = attention_map(thumb.shape[:2], ds, coords, size0, np.asarray(truth, float))
        heatmap_overlay(thumb, gt, axes[-1], cmap="magma", vmin=0.0, vmax=1.0,
                        label="tumour fraction of the patch", title="ground truth",
                        um_per_px=mpp)
    fig.tight_layout()
    return fig


def recycle_network(masked, recycled, scores=None, n_queries: int = 1, momentum: float = 0.999,
                    ax=None, per_row: int = 20, title: str | None = None):
    """MHIM-MIL v2's global recycle network drawn for one bag of one training step.

    ``masked`` (N,) True where the teacher's score hid the patch, ``recycled`` (N,) True where
    v2's random masking sent it to the recycle network (``out.extras['mhim_masked']`` and
    ``['mhim_recycled']`` of an :class:`~milhelpers.models.MHIM` in training); the rest is kept.
    The bag's patches are drawn as a grid ordered by ``scores`` (the teacher's, highest first,
    when given), coloured by fate; arrows show the recycled patches pooled by cross-attention
    with the k = ``n_queries`` global queries G (kept by an EMA with ``momentum``) into tokens Z,
    and the student pooling [kept ; Z]. Returns the axes.
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

    masked = np.asarray(masked, bool).ravel()
    recycled = np.asarray(recycled, bool).ravel()
    if masked.shape != recycled.shape:
        raise ValueError(f"masked has {masked.size} patches, recycled {recycled.size}")
    if (masked & recycled).any():
        raise ValueError("a patch cannot be both hidden by the teacher and recycled")
    n = masked.size
    order = np.argsort(-np.asarray(scores, float).ravel(), kind="stable") if scores is not None \
        else np.arange(n)
    if scores is not None and len(order) != n:
        raise ValueError(f"scores has {len(order)} values for {n} patches")
    colours = {"hidden": "0.25", "recycled": plt.get_cmap("viridis")(0.35),
               "kept": plt.get_cmap("viridis")(0.85)}
    fate = np.where(masked, "hidden", np.where(recycled, "recycled", "kept"))
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.6), layout="constrained")
    rows = int(np.ceil(n / per_row))
    cell = 1.0
    for pos, i in enumerate(order):
        r, c = divmod(pos, per_row)
        ax.add_patch(Rectangle((c * cell, -r * cell), 0.85 * cell, 0.85 * cell,
                               color=colours[fate[i]]))
    width = per_row * cell
    ax.text(width / 2, 1.3, "bag: patches ordered by the teacher's score (highest first)"
            if scores is not None else "bag", ha="center", fontsize=8)
    # the recycle network and the student, to the right of the bag
    x0, ymid = width + 2.0, -(rows - 1) * cell / 2
    box = dict(boxstyle="round,pad=0.4", fc="white", ec="0.3")
    ax.add_patch(FancyBboxPatch((x0, ymid - 1.2), 7.0, 2.4, **box))
    ax.text(x0 + 3.5, ymid + 0.5, "cross-attention\nq = LN(G), k = v = LN(recycled)",
            ha="center", va="center", fontsize=7)
    ax.text(x0 + 3.5, ymid - 0.7, f"G: {n_queries} global quer{'y' if n_queries == 1 else 'ies'}, "
            f"EMA m = {momentum:g}", ha="center", va="center", fontsize=7, color="0.3")
    for q in range(n_queries):
        ax.add_patch(Rectangle((x0 + 8.0 + q * 0.9, ymid - 0.4), 0.8, 0.8,
                               color=plt.get_cmap("viridis")(0.05)))
    zx = x0 + 8.0 + n_queries * 0.9
    ax.text(x0 + 8.0 + n_queries * 0.45, ymid + 0.9, "tokens Z", ha="center", fontsize=8)
    ax.add_patch(FancyBboxPatch((zx + 1.5, ymid - 1.2), 6.0, 2.4, **box))
    ax.text(zx + 4.5, ymid, "student ABMIL\npools [kept ; Z] → ŷ", ha="center", va="center",
            fontsize=8)
    arrow = dict(arrowstyle="-|>", mutation_scale=10, color="0.3", lw=1)
    ax.add_patch(FancyArrowPatch((width + 0.2, ymid), (x0, ymid), **arrow))
    ax.add_patch(FancyArrowPatch((x0 + 7.0, ymid), (x0 + 8.0, ymid), **arrow))
    ax.add_patch(FancyArrowPatch((zx, ymid), (zx + 1.5, ymid), **arrow))
    y_low = -rows * cell - 0.6                       # the kept patches go straight to the student
    ax.plot([width / 2, width / 2, zx + 4.5], [-rows * cell + 0.8, y_low, y_low], ls="--",
            color="0.3", lw=1)
    ax.add_patch(FancyArrowPatch((zx + 4.5, y_low), (zx + 4.5, ymid - 1.3), ls="--", **arrow))
    ax.text(width / 2 + 0.5, y_low + 0.15, "kept patches", fontsize=7, color="0.3")
    counts = {k: int((fate == k).sum()) for k in colours}
    handles = [Rectangle((0, 0), 1, 1, color=colours[k]) for k in colours]
    labels = [f"hidden by the teacher's score ({counts['hidden']})",
              f"recycled: random share 1 − ρ of the rest ({counts['recycled']})",
              f"kept ({counts['kept']})"]
    ax.legend(handles, labels, fontsize=7, frameon=False, loc="upper left",
              bbox_to_anchor=(0, -0.02), ncol=3)
    ax.set_xlim(-0.5, zx + 8.0)
    ax.set_ylim(-rows * cell - 1.2, 2.0)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"MHIM-MIL v2 on one bag of {n} patches: what the student sees",
                 fontsize=9)
    return ax


# --------------------------------------------------------------------------------------------
# chapter 06: padding, packs, hyperslides, speed
# --------------------------------------------------------------------------------------------
def visibility_bars(summary, columns: dict | None = None, ax=None):
    """How often a positive training step shows the student no tumour patch, per group of
    positive bags (rows of :func:`milhelpers.visibility.visibility_summary`; bag counts in the
    tick labels; groups without bags are left out) and masking rule (``columns``: column → legend
    label). Returns the axes."""
    columns = columns or {"random_only": "v1, random half only",
                          "v1": "v1, teacher's top + random half",
                          "v2_kept": "v2, no tumour kept (recycled or hidden)"}
    columns = {k: v for k, v in columns.items() if k in summary}
    summary = summary[summary.bags > 0]          # an empty group has no share to draw
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.4), layout="constrained")
    x = np.arange(len(summary))
    width = 0.8 / max(len(columns), 1)
    colours = plt.get_cmap("viridis")(np.linspace(0.15, 0.85, max(len(columns), 1)))
    for j, (c, (col, label)) in enumerate(zip(colours, columns.items())):
        bars = ax.bar(x + j * width, summary[col].to_numpy(float), width, color=c, label=label)
        ax.bar_label(bars, labels=[f"{v:.0%}" for v in summary[col]], fontsize=6.5, padding=1)
    ax.set_xticks(x + width * (len(columns) - 1) / 2)
    ax.set_xticklabels([f"{g}\n({int(b)} bag-folds)" for g, b in zip(summary.index,
                                                                     summary.bags)], fontsize=7)
    ax.set_ylabel("share of training steps\nwith no tumour visible")
    ax.set_ylim(0, 1.15)
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    return ax


def padding_waste(lengths, batch_sizes: Sequence[int] = (1, 4, 16, 32), max_len: int = 256,
                  profiles: dict | None = None, axes=None, p: float = 0.5, min_len: int = 0):
    """Left: bag lengths (log x) of the cohort and of any ``profiles`` (name → lengths).
    Right, like with like: the share of padding among the tokens of random padded batches of each
    B built from the **same parts packing packs** — each slide's main part, ⌊p·n⌋ (at least 1;
    whole below ``min_len``) capped at ``max_len`` — as solid bars (value written on each bar),
    against the share of padding in sequential packs of ≤ ``max_len`` tokens of those parts
    (dashed lines). Hatched bars: padded batches of whole, uncapped slides, so the part of the
    saving that the cap makes (not the packing) can be read off."""
    from .packing import packing_efficiency, padded_token_share

    profiles = {"this cohort": np.asarray(lengths), **(profiles or {})}
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
    ax = axes[0]
    lo = min(v.min() for v in profiles.values())
    hi = max(v.max() for v in profiles.values())
    bins = np.geomspace(max(lo, 1), hi, 40)
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.8, len(profiles)))
    for c, (name, n) in zip(colours, profiles.items()):
        # each profile's bars sum to 1 (a density on log-spaced bins would hide the long bags)
        ax.hist(n, bins=bins, color=c, alpha=0.6, label=f"{name} (median {int(np.median(n))})",
                weights=np.full(len(n), 1 / len(n)))
    ax.axvline(max_len / p, color="0.3", ls=":", lw=1, label=f"main part reaches L = {max_len}")
    ax.set_xscale("log")
    ax.set_xlabel("instances per bag (log scale)")
    ax.set_ylabel("share of bags per bin")
    ax.set_title("bag lengths")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)      # room for the legend above the bars
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    ax = axes[1]
    x = np.arange(len(batch_sizes))
    width = 0.8 / len(profiles)
    for i, (c, (name, n)) in enumerate(zip(colours, profiles.items())):
        n = np.asarray(n, dtype=np.int64)
        main = np.where(n < min_len, n, np.maximum(np.floor(p * n), 1)).astype(int)
        main = np.minimum(main, max_len)
        whole = [padded_token_share(n, b) for b in batch_sizes]
        same = [padded_token_share(main, b) for b in batch_sizes]
        ax.bar(x + i * width, whole, width, facecolor="none", edgecolor=c, hatch="///", lw=0.8,
               label=f"padded whole slides, no cap: {name}")
        bars = ax.bar(x + i * width, same, width, color=c,
                      label=f"padded main parts (p = {p:g}, cap L): {name}")
        ax.bar_label(bars, labels=[f"{v:.0%}" for v in same], fontsize=6.5, padding=1)
        packed = 1 - packing_efficiency(main, max_len)
        ax.axhline(packed, color=c, ls="--", lw=1,
                   label=f"packed main parts (L = {max_len}): {name} ({packed:.0%})")
    ax.set_xticks(x + width * (len(profiles) - 1) / 2)
    ax.set_xticklabels([str(b) for b in batch_sizes])
    ax.set_xlabel("bags per step B")
    ax.set_ylabel("share of padding tokens")
    ax.set_ylim(0, 1.45)          # room for the legend above the tallest bar
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_title("padding: the same tokens padded or packed")
    ax.legend(fontsize=6.5, frameon=False, loc="upper left")
    return axes


def pack_strip(slide_index, ax=None, title: str | None = None, labels=None):
    """Packs drawn as strips: row = pack, column = token, colour = the slide a token comes from
    (white: padding; a white line between two slides). ``labels`` (S,) adds each slide's label
    to the colourbar ticks."""
    idx = np.asarray(slide_index)
    n = int(idx.max()) + 1
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.45 * len(idx) + 1.0), layout="constrained")
    cmap = plt.get_cmap("viridis", n).with_extremes(bad="white")
    im = ax.imshow(np.ma.masked_less(idx, 0), aspect="auto", cmap=cmap, vmin=-0.5,
                   vmax=n - 0.5, interpolation="nearest")
    # neighbours in batch order get neighbouring colours: a white line marks each slide boundary
    for p, row in enumerate(idx):
        for t in np.flatnonzero((row[1:] != row[:-1]) & (row[1:] >= 0) & (row[:-1] >= 0)):
            ax.plot([t + 0.5, t + 0.5], [p - 0.5, p + 0.5], color="white", lw=1.2)
    cb = plt.colorbar(im, ax=ax, pad=0.01)
    step = max(1, n // 8)
    cb.set_ticks(range(0, n, step))
    if labels is not None:
        cb.set_ticklabels([f"{s} (y={int(labels[s])})" for s in range(0, n, step)])
    cb.set_label("slide (batch order)")
    ax.set_yticks(range(len(idx)))
    ax.set_yticklabels([f"pack {p}" for p in range(len(idx))])
    ax.set_xlabel("token position in the pack (white: padding)")
    ax.set_title(title or f"{n} slides in {len(idx)} packs")
    return ax


def pack_mask(slide_index_row, ax=None, title: str | None = None):
    """The attention mask of one pack as an image: left, the (slides × tokens) membership mask
    ABMIL's per-slide softmax uses; right, the (tokens × tokens) block-diagonal mask a
    transformer aggregator would use (token i may attend to j only within one slide)."""
    idx = np.asarray(slide_index_row)
    slides = np.unique(idx[idx >= 0])
    member = (idx[None, :] == slides[:, None]).astype(float)
    block = ((idx[:, None] == idx[None, :]) & (idx[:, None] >= 0)).astype(float)
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained",
                             gridspec_kw={"width_ratios": [1.6, 1]})
    # two levels only: a two-colour map and a colour bar with two labelled ticks, not a ramp
    cmap = plt.get_cmap("cividis", 2)
    im = ax[0].imshow(member, aspect="auto", cmap=cmap, vmin=-0.5, vmax=1.5)
    ax[0].set_yticks(range(len(slides)))
    ax[0].set_yticklabels([str(s) for s in slides])
    ax[0].set_xlabel("token position in the pack")
    ax[0].set_ylabel("slide")
    ax[0].set_title("ABMIL: M_st = 1 if token t belongs to slide s")
    im2 = ax[1].imshow(block, cmap=cmap, vmin=-0.5, vmax=1.5)
    ax[1].set_xlabel("key token j")
    ax[1].set_ylabel("query token i")
    ax[1].set_title("transformer: block-diagonal mask")
    cb = plt.colorbar(im2, ax=ax, shrink=0.8, ticks=[0, 1])
    cb.set_ticklabels(["0: masked", "1: may attend"])
    cb.set_label("mask value")
    if title:
        plt.gcf().suptitle(title, fontsize=9)
    return ax


def hyperslide_labels(counts, labels, n_classes: int = 2, ax=None,
                      class_names: Sequence[str] | None = None):
    """Each hyperslide (residual pack) as a stacked bar of its members' tokens by class: the
    bar's class shares are the token mixture ỹ = Σ_s w_s onehot(y_s) / Σ_s w_s, the target of
    ``packmil_tokenmix`` (``packmil`` trains on the authors' multi-hot target instead:
    :func:`hyperslide_targets`)."""
    w = np.asarray(counts, dtype=float)               # (R, S)
    y = np.asarray(labels, dtype=int)
    by_class = np.stack([w[:, y == c].sum(1) for c in range(n_classes)], 1)   # (R, C)
    share = by_class / by_class.sum(1, keepdims=True)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.0), layout="constrained")
    colours = plt.get_cmap("viridis")(np.linspace(0.15, 0.85, n_classes))
    bottom = np.zeros(len(w))
    names = class_names or [f"class {c}" for c in range(n_classes)]
    for c in range(n_classes):
        ax.bar(range(len(w)), share[:, c], bottom=bottom, color=colours[c], label=names[c])
        for r in range(len(w)):
            if share[r, c] > 0.08:
                ax.text(r, bottom[r] + share[r, c] / 2, f"{share[r, c]:.2f}", ha="center",
                        va="center", fontsize=7, color="white" if c == 0 else "black")
        bottom += share[:, c]
    ax.set_xticks(range(len(w)))
    ax.set_xticklabels([f"hyperslide {r}\n({int((w[r] > 0).sum())} slides)"
                        for r in range(len(w))], fontsize=7)
    ax.set_ylabel("token share of class c")
    ax.set_ylim(0, 1)
    ax.set_title("hyperslides: members' labels weighted by their tokens (tokenmix target)")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    return ax


def hyperslide_targets(counts, labels, n_classes: int = 2, pack: int = 0, ax=None,
                       class_names: Sequence[str] | None = None):
    """The two hyperslide targets of one residual pack side by side, per class: the authors'
    multi-hot target (member slides of the class ÷ the largest such count; ``packmil``) and the
    token mixture (tokens of the class ÷ all tokens; ``packmil_tokenmix``), from ``counts``
    (R, S) tokens per slide per pack and the slides' ``labels`` (S,). Returns the axes."""
    import torch

    from .packing import hyperslide_label

    w = torch.as_tensor(np.asarray(counts, dtype=np.float32))
    if not 0 <= pack < len(w):
        raise ValueError(f"pack={pack} is not one of the {len(w)} residual packs")
    y = np.asarray(labels, dtype=int)
    targets = {"multi-hot (authors', packmil)": hyperslide_label(y, w[pack], n_classes).numpy(),
               "token mixture (packmil_tokenmix)":
                   hyperslide_label(y, w[pack], n_classes, "tokenmix").numpy()}
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.0), layout="constrained")
    names = class_names or [f"class {c}" for c in range(n_classes)]
    width = 0.38
    for j, (name, t) in enumerate(targets.items()):
        xs = np.arange(n_classes) + (j - 0.5) * width
        ax.bar(xs, t, width, color=plt.get_cmap("viridis")(0.25 + 0.5 * j), label=name)
        for x, v in zip(xs, t):
            ax.text(x, v + 0.02, f"{v:.2f}", ha="center", fontsize=7)
    members = np.flatnonzero(w[pack].numpy() > 0)
    def said(c: int) -> str:
        k = int((y[members] == c).sum())
        return (f"{names[c]}: {k} slide{'' if k == 1 else 's'} / "
                f"{int(w[pack, members[y[members] == c]].sum())} tokens")
    per_class = ", ".join(said(c) for c in range(n_classes))
    ax.set_xticks(range(n_classes))
    ax.set_xticklabels(names)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("target ỹ_c")
    ax.set_title(f"hyperslide {pack}: {per_class}", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    return ax


def speed_accuracy(table, time_col: str = "epoch_seconds", auc_col: str = "auc", ax=None,
                   reference: str | None = None, target: tuple[float, float] | None = None):
    """Epoch time (log x, plain seconds) against AUC, one point per training mode (rows of
    ``table``, colours C0, C1, … in row order as in :func:`paired_comparison`); a dashed line
    at the reference's AUC. ``target`` (time ratio, AUC tolerance), e.g. (0.25, 0.02), shades
    the region a mode must reach: ≤ ratio × the reference's time and AUC ≥ its AUC − tolerance."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 3.2), layout="constrained")
    for i, (name, row) in enumerate(table.iterrows()):
        ax.scatter(row[time_col], row[auc_col], color=f"C{i}", s=40, label=name, zorder=2)
    if reference is not None:
        ax.axhline(table.loc[reference, auc_col], color="0.6", ls="--", lw=1,
                   label=f"{reference} AUC")
    ax.set_xscale("log")
    if target is not None:
        if reference is None:
            raise ValueError("target needs reference= (the mode its time ratio refers to)")
        ratio, tol = target
        t_ref, a_ref = table.loc[reference, time_col], table.loc[reference, auc_col]
        lo_t = min(ratio * t_ref, table[time_col].min()) / 1.5
        ax.set_xlim(lo_t, table[time_col].max() * 1.5)
        y_lo, y_hi = ax.get_ylim()
        ax.set_ylim(min(y_lo, a_ref - tol - 0.01), max(y_hi, a_ref + 0.01))
        ax.fill_between([lo_t, ratio * t_ref], a_ref - tol, ax.get_ylim()[1], color="0.85",
                        zorder=0, label=f"target: ≤ {ratio:g}× {reference}'s time,\n"
                                        f"AUC within {tol:g}")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g s"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("seconds per epoch (log scale)")
    ax.set_ylabel("test slide AUC (mean over folds)")
    ax.set_title("speed and accuracy of each way to batch")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    return ax


def packing_regime(bag_length, ratios: dict, target: float = 0.25, cap_at: float | None = None,
                   measured: dict | None = None, ax=None, title: str | None = None):
    """Where packing pays: the packed ÷ batch-1 epoch time predicted from the measured per-step
    costs (:func:`milhelpers.timing.predicted_time_ratio`) against the bag length (log x), one line
    per entry of ``ratios`` (label → ratio per length, e.g. one per batch size B); the
    ``target`` ratio dashed; ``cap_at`` (L/p: the length from which the cap drops tokens) dotted;
    ``measured`` (label → (bag length, ratio)) as points. Returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.2, 3.6), layout="constrained")
    n = np.asarray(bag_length, float)
    colours = plt.get_cmap("viridis")(np.linspace(0.05, 0.85, max(len(ratios), 1)))
    for c, (label, r) in zip(colours, ratios.items()):
        ax.plot(n, np.asarray(r, float), color=c, lw=1.6, label=label)
    ax.axhline(1.0, color="0.6", lw=0.8)
    ax.axhline(target, color="tab:red", ls="--", lw=1, label=f"target: {target:g}× batch-1 time")
    if cap_at is not None:
        ax.axvline(cap_at, color="0.3", ls=":", lw=1, label=f"caps start dropping tokens (n = {cap_at:g})")
    for i, (label, (x, y)) in enumerate((measured or {}).items()):
        ax.scatter([x], [y], marker="o", s=45, color=f"C{i + 1}", edgecolor="k", zorder=3,
                   label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("instances per slide (every slide the same length, log scale)")
    ax.set_ylabel("packed ÷ batch-1 time per epoch (log)")
    ax.set_title(title or "predicted from this machine's per-step and per-token costs", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))
    return ax


def auc_by_cost(curves, target: float | None = None, axes=None, labels: dict | None = None):
    """Validation AUC (mean over folds) after each epoch against the optimizer steps taken and
    against the wall time spent (median over folds; both log x), one line per mode of
    :func:`milhelpers.timing.cost_curves`; ``target`` as a dashed line. Returns the axes."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.4), layout="constrained")
    for i, (mode, g) in enumerate(curves.groupby("mode", sort=False)):
        name = (labels or {}).get(mode, mode)
        for ax, x in zip(axes, ("steps", "seconds")):
            ax.plot(g[x], g.val_auc, color=f"C{i}", marker="o", ms=2.5, lw=1.3, label=name)
    for ax, xl in zip(axes, ("optimizer steps (log scale)", "wall time of the fit, s (log scale)")):
        if target is not None:
            ax.axhline(target, color="0.4", ls="--", lw=1, label=f"target {target:.3f}")
        ax.set_xscale("log")
        # plain numbers at the decades and no minor labels: minor "2×10⁰ 3×10⁰ …" overlap
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.set_xlabel(xl)
        ax.set_ylabel("validation AUC (mean over folds)")
    axes[0].set_title("per optimizer step", fontsize=9)
    axes[1].set_title("per second of training (validation passes included)", fontsize=9)
    axes[1].legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))
    return axes


#: A panel of :func:`sweep_results` spans at least this much, times its largest |value| when that
#: is above 1: differences far below the noise of a course-sized run (AUCs, their differences,
#: correlations, attention shares all live on a scale of 1) are not drawn as steep slopes.
SWEEP_Y_FLOOR = 0.05


def _t_interval(values: np.ndarray) -> float:
    """Half-width of the 95 % t-interval of the mean of ``values``: t(0.975, n−1) · s / √n
    (NaN for one value)."""
    from scipy import stats

    n = len(values)
    if n < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, n - 1) * np.std(values, ddof=1) / np.sqrt(n))


def _sweep_label(value) -> str:
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


def sweep_results(table, swept: Sequence[str], repeat: Sequence[str] = (),
                  ignore: Sequence[str] = ()):
    """Each numeric column of a sweep's ``table`` against a swept parameter (a matplotlib Figure,
    or None when nothing numeric was recorded).

    * x axis: the first varying parameter not in ``repeat`` (a numeric one if any); each
      combination of the other varying ones is one line. λ-like axes spanning ≥ 2 decades are
      drawn on a log scale (symlog when 0 is among the values).
    * Runs that differ only in ``repeat`` parameters (several seeds at one λ) are one point:
      their mean with its 95 % t-interval (mean ± t(0.975, n−1) · s/√n), each run drawn as a dot.
    * A column with the same value in every run is written in the title, not drawn as a line.
    * Each panel's y range spans at least :data:`SWEEP_Y_FLOOR` × max(1, its largest |value|);
      a panel whose values spread less says so ("all within …").
    """
    import pandas as pd
    from matplotlib.figure import Figure

    df = pd.DataFrame(table)
    fixed = set(swept) | set(ignore)
    metrics = [c for c in df.columns if c not in fixed and pd.api.types.is_numeric_dtype(df[c])
               and not pd.api.types.is_bool_dtype(df[c]) and df[c].notna().any()]
    swept = [p for p in swept if p in df]
    if df.empty or not metrics or not swept:
        return None
    varying = [p for p in swept if df[p].astype(str).nunique() > 1]
    settings = [p for p in varying if p not in set(repeat)] or varying or swept[:1]
    numeric = [p for p in settings if all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                          for v in df[p])]
    x = (numeric or settings)[0]
    others = [p for p in settings if p != x]
    constants, drawn = [], []
    for m in metrics:
        v = df[m].dropna().to_numpy(float)
        (constants if np.ptp(v) <= 1e-12 * max(1.0, np.abs(v).max()) else drawn).append(m)
    const_text = "same in every run: " + ", ".join(
        f"{m} = {df[m].dropna().iloc[0]:.4g}" for m in constants) if constants else ""
    ncols = min(3, len(drawn)) or 1
    nrows = max(1, math.ceil(len(drawn) / ncols))
    fig = Figure(figsize=(3.4 * ncols, 2.8 * nrows if drawn else 0.8), dpi=100,
                 layout="constrained")
    if const_text:
        fig.suptitle(const_text, fontsize=8)
    if not drawn:
        return fig
    xs = list(dict.fromkeys(df[x].tolist()))
    as_number = x in numeric
    colours = plt.get_cmap("tab10")
    groups = list(df.groupby(others, sort=False)) if others else [((), df)]
    for i, metric in enumerate(drawn):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        extent: list[float] = []
        dots_labelled = False
        for j, (key, g) in enumerate(groups):
            key = key if isinstance(key, tuple) else (key,)
            name = ", ".join(f"{p}={_sweep_label(v)}" for p, v in zip(others, key))
            g = g[g[metric].notna()]
            if g.empty:
                continue
            pos = [v if as_number else xs.index(v) for v in g[x]]
            points = pd.DataFrame({"pos": pos, "y": g[metric].to_numpy(float)})
            agg = points.groupby("pos", sort=True)["y"].agg(
                mean="mean", n="size", ci=lambda v: _t_interval(v.to_numpy()))
            colour = colours(j % 10)
            extent += points.y.tolist()
            if (agg.n > 1).any():
                over = ", ".join(p for p in repeat if p in df and g[p].astype(str).nunique() > 1)
                ax.scatter(points.pos, points.y, s=9, color=colour, alpha=0.45, lw=0,
                           label=None if dots_labelled else "single runs")
                dots_labelled = True
                ax.errorbar(agg.index.to_numpy(), agg["mean"].to_numpy(),
                            yerr=agg.ci.fillna(0).to_numpy(), fmt="o-", ms=4,
                            lw=1.2, capsize=3, color=colour,
                            label=(f"{name}: " if name else "")
                            + f"mean ± 95 % CI over {over or 'repeats'}")
                extent += (agg["mean"] - agg.ci.fillna(0)).tolist() + \
                    (agg["mean"] + agg.ci.fillna(0)).tolist()
            else:
                ax.plot(agg.index.to_numpy(), agg["mean"].to_numpy(), "o-", ms=4, lw=1.2,
                        color=colour,
                        label=name or "one run per point")
        if as_number:
            positive = [v for v in xs if v > 0]
            if positive and max(positive) / min(positive) >= 100:
                if min(xs) > 0:
                    ax.set_xscale("log")
                elif min(xs) == 0:
                    ax.set_xscale("symlog", linthresh=min(positive))
        else:
            ax.set_xticks(range(len(xs)), [_sweep_label(v) for v in xs])
        lo, hi = float(np.nanmin(extent)), float(np.nanmax(extent))
        floor = SWEEP_Y_FLOOR * max(1.0, abs(lo), abs(hi))
        if hi - lo < floor:
            mid = (lo + hi) / 2
            ax.set_ylim(mid - 0.6 * floor, mid + 0.6 * floor)
            ax.text(0.02, 0.97, f"all within {hi - lo:.2g}", transform=ax.transAxes,
                    fontsize=7, va="top", color="0.3")
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
        ax.set_xlabel(x)
        ax.set_ylabel(metric)
        ax.legend(fontsize=7, frameon=False, loc="best")
    return fig


#: How :func:`scaling_results` names the configurations of ``benchmarks/scaling.py``.
SCALING_LABELS = {"serial": "this process", "local:1": "Dask, 1 worker", "local:2": "Dask, 2 workers"}


def scaling_results(summary: dict, axes=None):
    """The measurements of ``benchmarks/scaling.py`` (its JSON as a dict): feature extraction in
    slides/s and the experiment runner in runs/min, one panel each, per configuration (in this
    process, 1 and 2 local Dask workers) — each repeat a dot, the median a bar — with the
    2-worker / 1-worker speed-up (median over the interleaved repeats) in the title. A part the
    file lacks is left out. Returns the figure."""
    parts = []
    if summary.get("rows"):
        n = summary["slides"]
        parts.append(("feature extraction", "slides / s",
                      [(r["config"], n / r["seconds"]) for r in summary["rows"]],
                      summary.get("speedup", {})))
    runner = summary.get("runner")
    if runner and runner.get("rows"):
        n = runner["setting"]["runs"]
        parts.append(("experiment runner", "runs / min",
                      [(r["config"], 60 * n / r["seconds"]) for r in runner["rows"]],
                      runner.get("speedup", {})))
    if not parts:
        raise ValueError("the scaling summary has neither extraction nor runner measurements")
    if axes is None:
        fig, axes = plt.subplots(1, len(parts), figsize=(3.6 * len(parts), 2.8), squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    for ax, (what, unit, values, speedup) in zip(axes, parts):
        configs = [c for c in SCALING_LABELS if any(v[0] == c for v in values)]
        for i, c in enumerate(configs):
            ys = np.array([v for k, v in values if k == c])
            ax.bar(i, np.median(ys), color=plt.get_cmap("viridis")(0.25 + 0.3 * i), alpha=0.6,
                   label="median" if i == 0 else None)
            ax.scatter(np.full(len(ys), i), ys, s=12, color="k", zorder=3,
                       label="one repeat" if i == 0 else None)
        ax.set_xticks(range(len(configs)), [SCALING_LABELS[c] for c in configs])
        ax.set_ylabel(unit)
        ratio = speedup.get("local:2 / local:1", {}).get("median")
        ax.set_title(what + (f": 2 workers / 1 = {ratio:.2f}×" if ratio else ""))
        ax.set_ylim(0, None)
        ax.legend(fontsize=7, frameon=False, loc="best")
    return fig

# --------------------------------------------------------------------------------------------
# chapter 07: many methods head to head
# --------------------------------------------------------------------------------------------
def forest_plot(tables, metric: str = "auc", reference: str = "abmil_gated", ax=None,
                methods: Sequence[str] | None = None, label: str | None = None):
    """Each method's paired difference from ``reference`` with its 95 % interval, one row per
    method — for one cohort draw or several side by side.

    ``tables``: an :meth:`~milhelpers.experiments.ExperimentResult.compare` table (columns
    ``metric``, ``method``, ``diff``, ``lo``, ``hi``, ``clear``), or draw name → such a table
    (each draw its own colour, offset within the method's row). A filled marker is a clear
    difference by the table's rule (Holm-adjusted p < 0.05 across the family), a hollow one is
    "no evidence either way"; the dashed line is no difference."""
    import pandas as pd

    if isinstance(tables, pd.DataFrame):
        tables = {"": tables}
    per = {d: t[t.metric == metric].set_index("method") for d, t in tables.items()}
    if not all(len(t) for t in per.values()):
        raise ValueError(f"no rows for metric {metric!r} in a table")
    methods = list(methods) if methods is not None else list(
        dict.fromkeys(m for t in per.values() for m in t.index))
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, max(2.2, 0.32 * len(methods) + 1.2)),
                             layout="constrained")
    n = len(per)
    offsets = np.linspace(-0.18, 0.18, n) if n > 1 else np.zeros(1)
    y = np.arange(len(methods))[::-1].astype(float)
    for j, (draw, t) in enumerate(per.items()):
        colour = f"C{j}"
        for i, m in enumerate(methods):
            if m not in t.index:
                continue
            r = t.loc[m]
            yy = y[i] + offsets[j]
            ax.plot([r["lo"], r["hi"]], [yy, yy], color=colour, lw=1.4)
            ax.scatter([r["diff"]], [yy], s=28, zorder=3, color=colour,
                       facecolors=colour if bool(r["clear"]) else "white")
        ax.scatter([], [], color=colour, s=28, label=draw or "B − A, 95 % CI")
    ax.scatter([], [], color="0.3", facecolors="0.3", s=28,
               label="filled: clear after Holm\n(bars: unadjusted 95 % CI)")
    ax.scatter([], [], color="0.3", facecolors="white", s=28,
               label="hollow: no evidence either way")
    ax.axvline(0, color="0.5", ls="--", lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels(methods)
    ax.set_ylim(-0.7, len(methods) - 0.3)
    what = label or metric.replace("_", " ")
    ax.set_xlabel(f"{what}: method − {reference} (95 % CI)")
    ax.set_ylabel("method")
    ax.set_title(f"{what}: paired difference from {reference}, over slides")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def rank_plot(ranks, ax=None, label: str = "slide AUC"):
    """Each method's rank (1 = best) with the 95 % bootstrap interval of its rank, methods in
    rank order (:func:`milhelpers.stats.rank_intervals`' table); the metric's value is written
    beside each point. Overlapping intervals: the data cannot order those methods."""
    t = ranks.reset_index(drop=True)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 0.32 * len(t) + 1.2), layout="constrained")
    y = np.arange(len(t))[::-1].astype(float)
    ax.hlines(y, t.rank_lo, t.rank_hi, color="C0", lw=2.5, alpha=0.6,
              label="95 % bootstrap interval of the rank")
    ax.scatter(t["rank"], y, color="black", s=22, zorder=3, label="rank on all slides")
    for yy, r in zip(y, t.itertuples()):
        ax.text(len(t) + 0.6, yy, f"{r.value:.3f}", va="center", fontsize=7)
    ax.set_yticks(y)
    ax.set_yticklabels(t.method)
    ax.set_xlim(0.5, len(t) + 1.4)
    ax.set_xticks(range(1, len(t) + 1))
    ax.set_xlabel(f"rank by {label} (1 = best; the value on the right)")
    ax.set_ylabel("method")
    ax.set_title(f"ranks by {label}, case bootstrap over slides")
    ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14),
              ncol=2)      # below the axes: inside, it would cover the last method's row
    return ax


def cost_accuracy(table, cost: str = "seconds", value: str = "auc", front=None, ax=None,
                  cost_label: str = "training seconds per run", value_label: str = "slide AUC",
                  log: bool = True):
    """Cost against accuracy, one point per method (rows of
    :func:`milhelpers.comparison.method_table`), the value's spread over repeats as a vertical
    bar where the table has ``<value>_sd``; ``front`` (booleans per row, e.g.
    :func:`milhelpers.comparison.cost_front`) rings the Pareto-optimal methods and joins them."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 3.6), layout="constrained")
    x, v = table[cost].to_numpy(float), table[value].to_numpy(float)
    sd = table[f"{value}_sd"].to_numpy(float) if f"{value}_sd" in table else None
    for i, m in enumerate(table.index):
        ax.errorbar(x[i], v[i], yerr=None if sd is None else sd[i], fmt="o", ms=5,
                    color=f"C{i % 10}", capsize=2, lw=0.8)
    if front is not None:
        f = np.asarray(front, bool)
        order = np.argsort(x[f])
        ax.plot(x[f][order], v[f][order], color="0.3", ls=":", lw=1, zorder=0)
        ax.scatter(x[f], v[f], s=150, facecolors="none", edgecolors="0.2", lw=1,
                   label="Pareto front (no method is better for less)")
        ax.legend(fontsize=7, frameon=False, loc="lower right")
    if log:
        from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(cost_label + (" (log scale)" if log else ""))
    ax.set_ylabel(f"{value_label} (mean ± sd over repeats)")
    ax.set_title(f"{value_label} against {cost_label}")
    label_points(ax, x, v, [str(m) for m in table.index],
                 colors=[f"C{i % 10}" for i in range(len(table))])
    return ax


#: Where :func:`label_points` tries a label, in points from its point: (dx, dy, ha, va).
_LABEL_SPOTS = [(4, 3, "left", "bottom"), (4, -3, "left", "top"), (-4, 3, "right", "bottom"),
                (-4, -3, "right", "top"), (4, 11, "left", "bottom"), (4, -11, "left", "top"),
                (-4, 11, "right", "bottom"), (-4, -11, "right", "top"), (0, 19, "center", "bottom"),
                (0, -19, "center", "top")]


def label_points(ax, x, y, labels: Sequence[str], fontsize: float = 7,
                 colors: Sequence | None = None) -> list:
    """Name each point next to it, at the first spot of :data:`_LABEL_SPOTS` where the name
    overlaps no name placed before it and no other point (the most crowded points first); a
    name that fits nowhere takes the first spot; ``colors`` (one per point) tie names to points.
    Returns the text artists, in the order of ``labels``."""
    renderer = ax.figure.canvas.get_renderer()
    xy = ax.transData.transform(np.column_stack([x, y]))
    crowd = [int(np.sum(np.hypot(*(xy - p).T) < 40)) for p in xy]
    placed, texts = [], [None] * len(labels)

    def put(i, spot):
        dx, dy, ha, va = spot
        t = ax.annotate(labels[i], (x[i], y[i]), xytext=(dx, dy), textcoords="offset points",
                        fontsize=fontsize, ha=ha, va=va,
                        color=None if colors is None else colors[i])
        return t, t.get_window_extent(renderer).expanded(1.04, 1.1)

    from matplotlib.transforms import Bbox

    marks = [Bbox.from_extents(px - 5, py - 5, px + 5, py + 5) for px, py in xy]
    for i in sorted(range(len(labels)), key=lambda k: -crowd[k]):
        others = placed + [b for k, b in enumerate(marks) if k != i]
        for spot in _LABEL_SPOTS:
            t, box = put(i, spot)
            if not any(box.overlaps(b) for b in others):
                break
            t.remove()
        else:
            t, box = put(i, _LABEL_SPOTS[0])
        placed.append(box)
        texts[i] = t
    return texts


def attention_grid(slides: Sequence[dict], attentions, *, max_size: int = 192, size: float = 1.35,
                   cmap: str = "viridis"):
    """Where each method looks on a few slides: methods as rows, slides as columns.

    ``slides``: one dict per column with ``path`` (the slide file), ``coords`` (N × 2 level-0
    patch corners), ``size0`` (patch side, level-0 px), ``title`` and optionally ``truth``
    (``(mask, downsample)`` as :func:`milhelpers.synth.load_tumour_mask` returns it) and
    ``mimics`` (the same for the benign mimics).
    ``attentions``: method → one (N,) attention vector per slide. Every heatmap is rank-scaled
    on its slide (:func:`scale_scores`: 0 = the slide's least-attended patch, 1 = its most), so
    methods whose weights differ by orders of magnitude read alike; the ground-truth tumour is
    outlined in red, the mimics in white; each panel carries a µm scale bar, and one colour bar
    serves all."""
    import cv2

    methods = list(attentions)
    fig, axes = plt.subplots(len(methods), len(slides), squeeze=False, layout="constrained",
                             figsize=(size * len(slides) + 0.9, size * len(methods) + 0.4))
    im = None
    for j, sl in enumerate(slides):
        with Slide(sl["path"]) as s:
            thumb, ds = s.thumbnail(max_size)
            mpp = s.mpp * ds
        outlines = {}
        for key, colour in (("mimics", "white"), ("truth", "red")):   # tumour drawn last, on top
            if sl.get(key) is not None:
                mask = np.asarray(sl[key][0]).astype(np.uint8)
                outlines[colour] = cv2.resize(mask, (thumb.shape[1], thumb.shape[0]),
                                              interpolation=cv2.INTER_NEAREST)
        for i, m in enumerate(methods):
            a = np.asarray(attentions[m][j], float).ravel()
            if len(a) != len(sl["coords"]):
                raise ValueError(f"{m}: {len(a)} weights for {len(sl['coords'])} patches of "
                                 f"slide {sl.get('title', j)}")
            ax = axes[i, j]
            heat = attention_map(thumb.shape[:2], ds, sl["coords"], sl["size0"],
                                 scale_scores(a, "rank"))
            ax.imshow(thumb)
            im = ax.imshow(np.ma.masked_invalid(heat), cmap=cmap, alpha=0.75, vmin=0, vmax=1)
            for colour, outline in outlines.items():
                if outline.any():
                    ax.contour(outline, levels=[0.5], colors=colour,
                               linewidths=1.2 if colour == "red" else 0.8)
            ax.set_xticks([]), ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            scale_bar(ax, mpp)
            if j == 0:
                ax.set_ylabel(m, fontsize=7)
            if i == 0:
                ax.set_title(sl.get("title", ""), fontsize=7)
    fig.colorbar(im, ax=axes, fraction=0.03, pad=0.02,
                 label="attention rank on the slide (0 lowest, 1 highest)")
    return fig


def kind_shares_plot(summary, ax=None, kinds: Sequence[str] = ("tumour", "mimic", "normal"),
                     k: int | None = None):
    """Where each method's top-k patches lie: per method, the mean share on each kind of tissue
    with its 95 % interval over runs (:func:`milhelpers.comparison.share_summary`), and a black
    tick at the patch share — what picks made at random would give on the same slides."""
    methods = list(dict.fromkeys(summary.method))
    t = summary.set_index(["method", "kind"])
    if ax is None:
        _, ax = plt.subplots(figsize=(0.62 * len(methods) + 2.4, 3.2), layout="constrained")
    x = np.arange(len(methods), dtype=float)
    width = 0.8 / len(kinds)
    colours = {"tumour": "#c0392b", "mimic": "#8e44ad", "normal": "#95a5a6"}
    for j, kind in enumerate(kinds):
        rows = t.xs(kind, level="kind").reindex(methods)
        xx = x - 0.4 + width * (j + 0.5)
        err = np.vstack([rows.share - rows.lo, rows.hi - rows.share])
        ax.bar(xx, rows.share, width, yerr=err, capsize=2, color=colours.get(kind, f"C{j}"),
               label=f"on {kind}", error_kw={"lw": 0.8})
        ax.scatter(xx, rows.patch_share, marker="_", s=80, color="black", zorder=3,
                   label="patch share (random picks)" if j == 0 else None)
    ax.set_xticks(x)
    ax.set_xticklabels(methods, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_xlabel("method")
    ax.set_ylabel(f"share of the top-{k or 'k'} patches")
    ax.set_title("where the most-attended patches lie (mean over runs, 95 % CI)")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax
