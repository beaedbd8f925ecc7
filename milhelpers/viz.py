"""Plotting helpers shared by the chapters: image grids, patch galleries, scatter plots.

Figures use modest DPI (set in :func:`setup`) so executed notebooks stay small.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .slides import Slide

__all__ = ["setup", "show_images", "patch_gallery", "read_patches", "scatter_2d"]


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
