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
    scores: np.ndarray                 # one weight per patch (attention a_k)
    truth: np.ndarray | None = None    # optional per-patch ground truth in [0, 1]
    title: str = ""


def show_slide_attention(item: SlideAttention, k: int = 6) -> None:
    """Raw attention on an absolute scale, its within-slide rank, the ground truth (if any) and
    the top/bottom-k patches titled with a_k (and the true tumour fraction)."""
    viz.attention_panels(item.slide_path, item.coords, item.size0, item.scores, item.truth,
                         title=item.title or Path(item.slide_path).stem)
    plt.show()
    viz.ranked_patches(item.slide_path, item.coords, item.size0, item.scores, item.truth, k=k)
    plt.show()


def attention_explorer(items: dict[str, SlideAttention], k: int = 6):
    """Dropdown over slides + top-k slider → raw and rank heatmaps, ground truth, and the
    ranked patches."""
    import ipywidgets as w
    from IPython.display import display

    slide = w.Dropdown(options=list(items), value=None, description="slide",
                       placeholder="pick a slide")
    topk = w.IntSlider(value=k, min=2, max=12, description="top-k")
    out = w.Output()

    def update(*_):
        if slide.value is None:
            return
        out.clear_output(wait=True)
        with out:
            show_slide_attention(items[slide.value], topk.value)

    for c in (slide, topk):
        c.observe(update, names="value")
    box = w.VBox([w.HBox([slide, topk]), out])
    display(box)  # nothing is drawn until a slide is picked: executed copies stay light
    return box
