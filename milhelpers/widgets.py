"""ipywidgets explorers for a live kernel. Executed copies (papermill, nbval, GitHub) show only the
controls, so chapters also draw the same views statically (:mod:`milhelpers.viz`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from . import viz

__all__ = ["SlideAttention", "show_slide_attention", "attention_explorer"]


@dataclass
class SlideAttention:
    """What the explorer needs for one slide."""

    slide_path: Path
    coords: np.ndarray
    size0: int
    scores: np.ndarray                 # one score per patch (attention or its logit)
    truth: np.ndarray | None = None    # optional per-patch ground truth in [0, 1]
    title: str = ""


def show_slide_attention(item: SlideAttention, scale: str = "rank", k: int = 6) -> None:
    """Thumbnail, attention heatmap, ground truth (if any) and the top/bottom-k patches."""
    thumb, heat, ds = viz.slide_heatmap(item.slide_path, item.coords, item.size0, item.scores, scale)
    n = 3 if item.truth is not None else 2
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2))
    axes[0].imshow(thumb), axes[0].axis("off"), axes[0].set_title(item.title or item.slide_path.stem)
    viz.heatmap_overlay(thumb, heat, axes[1], title=f"attention ({scale})")
    if item.truth is not None:
        gt = viz.attention_map(thumb.shape[:2], ds, item.coords, item.size0, item.truth)
        viz.heatmap_overlay(thumb, gt, axes[2], cmap="Reds", title="ground-truth tumour")
    plt.show()
    viz.topk_gallery(item.slide_path, item.coords, item.size0, item.scores, k=k)
    plt.show()


def attention_explorer(items: dict[str, SlideAttention], scale: str = "rank", k: int = 6):
    """Dropdown over slides + scaling choice → thumbnail, heatmap, ground truth, top/bottom patches."""
    import ipywidgets as w
    from IPython.display import display

    slide = w.Dropdown(options=list(items), value=None, description="slide",
                       placeholder="pick a slide")
    scaling = w.ToggleButtons(options=["rank", "percentile", "raw"], value=scale,
                              description="scale")
    topk = w.IntSlider(value=k, min=2, max=12, description="top-k")
    out = w.Output()

    def update(*_):
        if slide.value is None:
            return
        out.clear_output(wait=True)
        with out:
            show_slide_attention(items[slide.value], scaling.value, topk.value)

    for c in (slide, scaling, topk):
        c.observe(update, names="value")
    box = w.VBox([w.HBox([slide, topk]), scaling, out])
    display(box)  # nothing is drawn until a slide is picked: executed copies stay light
    return box
