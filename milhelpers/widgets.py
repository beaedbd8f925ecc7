"""ipywidgets explorers for a live kernel. Executed copies (papermill, nbval, GitHub) show only the
controls, so chapters also draw the same views statically (:mod:`milhelpers.viz`).

* :func:`attention_explorer` (chapter 02): one slide at a time, raw and rank heatmaps.
* :func:`instance_explorer` (chapter 03): a 2-D embedding (UMAP) of every patch linked to the
  slides. Its logic lives in :class:`ExplorerState`, which needs no browser (and is what the
  tests drive); :class:`InstanceExplorer` only wires widgets and figures to it.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import ipywidgets as _ipw
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgba

from . import viz

__all__ = ["SlideAttention", "show_slide_attention", "attention_explorer",
           "CATEGORY_NAMES", "CATEGORY_COLOURS", "category_names", "InstanceView",
           "ExplorerState", "InstanceExplorer", "instance_explorer"]


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


# --------------------------------------------------------------------------------------------
# chapter 03: a 2-D embedding of every patch, linked to the slides
# --------------------------------------------------------------------------------------------
#: display names of :func:`milhelpers.instances.patch_kind`'s patch kinds
CATEGORY_NAMES = {"solid": "solid tumour", "glandular": "glandular tumour",
                  "discohesive": "discohesive tumour", "lymphoid_aggregate": "lymphoid mimic",
                  "benign_glands": "benign gland mimic", "normal": "normal", "tumour": "tumour"}

#: fixed colours per category, so a category keeps its colour across figures: tumours warm,
#: their mimics cool, normal tissue grey (from matplotlib's tab10, distinguishable in print)
CATEGORY_COLOURS = {"solid tumour": "#d62728", "glandular tumour": "#ff7f0e",
                    "discohesive tumour": "#e377c2", "tumour": "#d62728",
                    "lymphoid mimic": "#1f77b4", "benign gland mimic": "#17becf",
                    "normal": "#7f7f7f"}


def category_names(kinds: Sequence[str]) -> np.ndarray:
    """Patch kinds (``"solid"``, ``"benign_glands"``, ...) → display names (``"solid tumour"``,
    ``"benign gland mimic"``, ...); unknown kinds are kept as they are."""
    return np.array([CATEGORY_NAMES.get(str(k), str(k)) for k in kinds], dtype=object)


def _per_slide(value, name: str, slides: Sequence[str], cast) -> dict:
    """A per-slide mapping (or one value for every slide) checked to cover ``slides``."""
    if not isinstance(value, Mapping):
        return {s: cast(value) for s in slides}
    missing = [s for s in slides if s not in value]
    if missing:
        raise ValueError(f"{name} has no entry for slide(s) {missing[:5]}"
                         f"{' ...' if len(missing) > 5 else ''}: give one per slide id")
    return {s: cast(value[s]) for s in slides}


@dataclass
class InstanceView:
    """Everything the instance explorer shows, one row per instance (patch) ``i = 0..N-1``.

    ``xy`` (N×2): the 2-D embedding (UMAP, PCA, ...), axes named by ``axis_names``.
    ``slide_ids`` (N,): the slide of each instance; ``coords`` (N×2): its level-0 top-left.
    ``attention`` (N×M): column ``m`` is branch ``m``'s weight of the instance *within its own
    slide*, :math:`a^{(m)}_k = \\mathrm{softmax}_k(e^{(m)})`, so each column sums to 1 over a
    slide; a 1-D array is one branch. ``extra`` (N,): optionally one more per-instance score,
    named ``extra_name`` (e.g. ABMIL's attention). ``categories`` (N,): optional ground-truth
    names (see :func:`category_names`).
    ``slide_paths`` and ``patch_size0`` (the patch side in level-0 px): per slide id (a single
    ``patch_size0`` applies to all slides). ``thumb_px``: longest side of the slide thumbnail
    the heatmap is drawn on (thumbnail downsample = level-0 width / thumbnail width).
    """

    xy: np.ndarray
    slide_ids: np.ndarray
    coords: np.ndarray
    attention: np.ndarray
    slide_paths: Mapping[str, str | Path]
    patch_size0: Mapping[str, int] | int
    categories: np.ndarray | None = None
    extra: np.ndarray | None = None
    extra_name: str = "extra score"
    branch_names: Sequence[str] | None = None
    axis_names: tuple[str, str] = ("UMAP 1", "UMAP 2")
    thumb_px: int = 512
    _index: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.xy = np.asarray(self.xy, dtype=float)
        if self.xy.ndim != 2 or self.xy.shape[1] != 2:
            raise ValueError(f"xy must be N×2 embedding coordinates, got shape {self.xy.shape}")
        n = len(self.xy)
        if not np.isfinite(self.xy).all():
            raise ValueError("xy has NaN or infinite coordinates: drop those instances or fix "
                             "the embedding")
        self.slide_ids = np.asarray(self.slide_ids).astype(str)
        self.coords = np.asarray(self.coords, dtype=float)
        att = np.asarray(self.attention, dtype=float)
        self.attention = att[:, None] if att.ndim == 1 else att
        for name, arr, shape in (("slide_ids", self.slide_ids, (n,)),
                                 ("coords", self.coords, (n, 2)),
                                 ("attention", self.attention, (n, self.attention.shape[-1]))):
            if arr.shape != shape:
                raise ValueError(f"{name} has shape {arr.shape}, expected {shape} (one row per "
                                 f"instance, like xy's {n} rows)")
        if self.attention.ndim != 2 or self.attention.shape[1] < 1:
            raise ValueError("attention must be N×M (one column per branch)")
        if self.categories is not None:
            self.categories = np.asarray(self.categories).astype(str).astype(object)
            if self.categories.shape != (n,):
                raise ValueError(f"categories has shape {self.categories.shape}, expected ({n},)")
        if self.extra is not None:
            self.extra = np.asarray(self.extra, dtype=float).ravel()
            if self.extra.shape != (n,):
                raise ValueError(f"extra has {len(self.extra)} values for {n} instances")
        m = self.attention.shape[1]
        if self.branch_names is None:
            self.branch_names = [f"branch {j + 1}" for j in range(m)]
        elif len(self.branch_names) != m:
            raise ValueError(f"branch_names has {len(self.branch_names)} names for {m} "
                             "attention columns")
        self.slide_paths = _per_slide(self.slide_paths, "slide_paths", self.slides, Path)
        self.patch_size0 = _per_slide(self.patch_size0, "patch_size0", self.slides, int)
        if int(self.thumb_px) < 16:
            raise ValueError(f"thumb_px must be >= 16 (thumbnail side in px), got {self.thumb_px}")

    @classmethod
    def from_table(cls, table, xy: np.ndarray, attention: np.ndarray,
                   slide_paths: Mapping[str, str | Path], patch_size0: Mapping[str, int] | int,
                   category_column: str | None = "kind", **kwargs) -> "InstanceView":
        """From a patch table (columns ``slide_id``, ``x``, ``y`` and, if present, the
        category column; e.g. :func:`milhelpers.instances.cohort_patch_table`'s), row-aligned
        with ``xy`` and ``attention``. Kinds are turned into display names."""
        cats = None
        if category_column is not None and category_column in table:
            cats = category_names(table[category_column].to_numpy())
        return cls(xy=xy, slide_ids=table["slide_id"].to_numpy(),
                   coords=table[["x", "y"]].to_numpy(), attention=attention,
                   slide_paths=slide_paths, patch_size0=patch_size0, categories=cats, **kwargs)

    def __len__(self) -> int:
        return len(self.xy)

    @property
    def n_branches(self) -> int:
        return self.attention.shape[1]

    @property
    def slides(self) -> list[str]:
        """Slide ids in order of first appearance."""
        return list(dict.fromkeys(self.slide_ids.tolist()))

    def instances_of(self, slide_id: str) -> np.ndarray:
        """Indices of the instances of one slide (ascending)."""
        if self._index is None:
            order = np.argsort(self.slide_ids, kind="stable")
            ids, starts = np.unique(self.slide_ids[order], return_index=True)
            self._index = dict(zip(ids.tolist(), np.split(order, starts[1:])))
        if slide_id not in self._index:
            raise KeyError(f"unknown slide {slide_id!r}; slides: {self.slides[:5]}...")
        return self._index[slide_id]


class ExplorerState:
    """What each panel of the instance explorer shows, and the actions that change it.

    No widgets here: :class:`InstanceExplorer` calls the actions from its callbacks and redraws
    from the properties, and tests drive the same methods.

    * **selection** (:attr:`selected`, sorted instance indices) comes from a slide
      (:meth:`select_slide`: all its patches) or from the embedding (:meth:`select_points`,
      :meth:`select_polygon` for a lasso, :meth:`select_box`).
    * **current slide** (:attr:`slide`): shown as a heatmap with the selected patches on it
      outlined (:attr:`outlined`). A selection with no patch on the current slide moves to
      the slide holding most of the selection.
    * **colouring** (:meth:`set_branch`): branch ``m`` (0-based; shown as "branch m+1"),
      ``"extra"`` or ``"category"``. :attr:`scores` (branch ``m``'s column, the extra score,
      or for ``"category"`` the branch mean) rank the gallery and paint the slide heatmap;
      :attr:`colour_values` colour the embedding (None when coloured by category).
    * **gallery** (:attr:`gallery`): the selected instances with the highest scores, at most
      ``gallery_size``, best first.
    * **clicked patch** (:attr:`highlighted`): :meth:`click_slide` at a level-0 point of the
      current slide picks the patch under it; the embedding marks its point.
    """

    def __init__(self, view: InstanceView, gallery_size: int = 12):
        if gallery_size < 1:
            raise ValueError(f"gallery_size must be >= 1, got {gallery_size}")
        self.view = view
        self.gallery_size = int(gallery_size)
        self.slide: str | None = None
        self.colour_by: int | str = 0
        self.selected = np.empty(0, dtype=int)
        self.selection_source = ""
        self.highlighted: int | None = None

    # ---------------------------------------------------------------- actions
    def select_slide(self, slide_id: str, select: bool = True) -> None:
        """Make ``slide_id`` the current slide; with ``select``, select all its patches."""
        idx = self.view.instances_of(slide_id)  # KeyError names the unknown slide
        if slide_id != self.slide and self.highlighted is not None \
                and self.view.slide_ids[self.highlighted] != slide_id:
            self.highlighted = None  # the clicked patch is on the slide we leave
        self.slide = slide_id
        if select:
            self.selected = idx.copy()
            self.selection_source = f"all patches of {slide_id}"

    def select_points(self, indices, source: str = "points") -> np.ndarray:
        """Select instances by index (ints) or by a boolean mask over all N instances."""
        arr = np.asarray(indices)
        if arr.dtype == bool:
            if arr.shape != (len(self.view),):
                raise ValueError(f"a boolean selection needs {len(self.view)} values, "
                                 f"got {arr.shape}")
            arr = np.flatnonzero(arr)
        arr = np.unique(arr.astype(int).ravel())
        if len(arr) and (arr[0] < 0 or arr[-1] >= len(self.view)):
            raise IndexError(f"instance indices must be in [0, {len(self.view)}), got "
                             f"{arr[0]}..{arr[-1]}")
        self.selected = arr
        self.selection_source = source
        if len(arr) and (self.slide is None or not np.any(self.view.slide_ids[arr] == self.slide)):
            ids, counts = np.unique(self.view.slide_ids[arr], return_counts=True)
            best = ids[counts == counts.max()]
            # ties: the slide that comes first in the view's slide order
            first = min(best, key=self.view.slides.index)
            self.select_slide(str(first), select=False)
        return arr

    def select_polygon(self, vertices: np.ndarray) -> np.ndarray:
        """Select the instances whose embedding point lies inside the polygon (a lasso's
        vertices in embedding coordinates). Fewer than 3 vertices select nothing new."""
        from matplotlib.path import Path as MplPath

        v = np.asarray(vertices, dtype=float)
        if v.ndim != 2 or v.shape[1] != 2:
            raise ValueError(f"vertices must be K×2 points, got shape {v.shape}")
        if len(v) < 3:
            return self.selected
        inside = MplPath(v).contains_points(self.view.xy)
        return self.select_points(inside, source="lasso")

    def select_box(self, corner1: Sequence[float], corner2: Sequence[float]) -> np.ndarray:
        """Select the instances inside the axis-aligned box spanned by two corners (edges
        included)."""
        (x0, x1), (y0, y1) = sorted((corner1[0], corner2[0])), sorted((corner1[1], corner2[1]))
        x, y = self.view.xy[:, 0], self.view.xy[:, 1]
        return self.select_points((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1), source="box")

    def clear_selection(self) -> None:
        self.selected = np.empty(0, dtype=int)
        self.selection_source = ""

    def set_branch(self, which: int | str) -> None:
        """Colour by attention branch ``which`` (0-based int), ``"extra"`` or ``"category"``."""
        if isinstance(which, str):
            if which == "category" and self.view.categories is None:
                raise ValueError("this view has no categories; pass categories= to InstanceView")
            if which == "extra" and self.view.extra is None:
                raise ValueError("this view has no extra score; pass extra= to InstanceView")
            if which not in ("category", "extra"):
                raise ValueError(f"colour by a branch index 0..{self.view.n_branches - 1}, "
                                 f"'extra' or 'category', got {which!r}")
        elif not 0 <= int(which) < self.view.n_branches:
            raise ValueError(f"branch must be in 0..{self.view.n_branches - 1}, got {which}")
        else:
            which = int(which)
        self.colour_by = which

    def click_slide(self, x: float, y: float) -> int | None:
        """Highlight the patch of the current slide under the level-0 point ``(x, y)``.

        A patch covers ``[x_k, x_k + s) × [y_k, y_k + s)``; where patches overlap, the one whose
        centre is nearest wins. A point on no patch (glass, background) highlights nothing.
        Returns the instance index or None.
        """
        if self.slide is None:
            raise ValueError("no current slide: pick one with select_slide() first")
        idx = self.view.instances_of(self.slide)
        s = self.view.patch_size0[self.slide]
        cx, cy = self.view.coords[idx, 0], self.view.coords[idx, 1]
        hit = idx[(cx <= x) & (x < cx + s) & (cy <= y) & (y < cy + s)]
        if len(hit) == 0:
            self.highlighted = None
        else:
            centres = self.view.coords[hit] + s / 2
            self.highlighted = int(hit[np.argmin(np.hypot(*(centres - (x, y)).T))])
        return self.highlighted

    # ---------------------------------------------------------------- what the panels show
    @property
    def categorical(self) -> bool:
        return self.colour_by == "category"

    @property
    def scores(self) -> np.ndarray:
        """Per-instance score that ranks the gallery and paints the heatmap (N,)."""
        if self.colour_by == "extra":
            return self.view.extra
        if self.colour_by == "category":
            return self.view.attention.mean(axis=1)
        return self.view.attention[:, self.colour_by]

    @property
    def score_label(self) -> str:
        if self.colour_by == "extra":
            return self.view.extra_name
        if self.colour_by == "category":
            return "mean attention over branches"
        return f"{self.view.branch_names[self.colour_by]} attention"

    @property
    def colour_values(self) -> np.ndarray | None:
        """What colours the embedding: the scores, or None when coloured by category."""
        return None if self.categorical else self.scores

    @property
    def colour_labels(self) -> np.ndarray | None:
        return self.view.categories if self.categorical else None

    @property
    def gallery(self) -> np.ndarray:
        """Selected instances by decreasing score (ties: lower index first), at most
        ``gallery_size``."""
        sel = self.selected
        order = np.argsort(-self.scores[sel], kind="stable")
        return sel[order[: self.gallery_size]]

    @property
    def gallery_text(self) -> str:
        return f"showing {len(self.gallery)} of {len(self.selected)} selected"

    @property
    def slide_instances(self) -> np.ndarray:
        return (np.empty(0, dtype=int) if self.slide is None
                else self.view.instances_of(self.slide))

    @property
    def outlined(self) -> np.ndarray:
        """Selected instances on the current slide (the ones outlined on its heatmap)."""
        if self.slide is None:
            return np.empty(0, dtype=int)
        return self.selected[self.view.slide_ids[self.selected] == self.slide]

    @property
    def outlined_coords(self) -> np.ndarray:
        return self.view.coords[self.outlined]

    @property
    def highlighted_xy(self) -> np.ndarray | None:
        return None if self.highlighted is None else self.view.xy[self.highlighted]

    def describe(self, i: int) -> str:
        """One line about instance ``i``: slide, level-0 position, category, score."""
        v = self.view
        cat = f" · {v.categories[i]}" if v.categories is not None else ""
        x, y = (int(round(c)) for c in v.coords[i])
        return f"{v.slide_ids[i]} at ({x}, {y}){cat} · {self.score_label} {self.scores[i]:.3g}"

    def status_text(self) -> str:
        """The status line under the figures."""
        if not len(self.selected):
            return "nothing selected: pick a slide, or draw around points on the embedding"
        n_slides = len(np.unique(self.view.slide_ids[self.selected]))
        where = (f"; {len(self.outlined)} of them on {self.slide}, outlined in red"
                 if self.slide is not None else "")
        return (f"{self.gallery_text} ({self.selection_source}; on {n_slides} "
                f"slide{'s' if n_slides != 1 else ''}{where}), best {self.score_label} first")


def _interactive_figure(figsize: tuple[float, float]):
    """A matplotlib figure on an ipympl canvas widget, without touching pyplot's backend (so
    the chapter's static figures stay inline). Toolbar hidden: its pan/zoom would take the
    mouse from the lasso."""
    try:
        from ipympl.backend_nbagg import Canvas, FigureManager
    except ImportError as err:  # pragma: no cover - ipympl is a dependency
        raise ImportError("the instance explorer draws with ipympl: pip install ipympl") from err
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=100, layout="constrained")
    canvas = Canvas(fig)
    FigureManager(canvas, 0)
    canvas.header_visible = False
    canvas.footer_visible = False
    canvas.toolbar_visible = False
    canvas.resizable = False
    return fig, canvas


def _patch_png(rgb: np.ndarray, um_per_px: float | None) -> bytes:
    """A patch as PNG bytes, with a µm scale bar when ``um_per_px`` is given (Agg, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    h, w = rgb.shape[:2]
    fig = Figure(figsize=(w / 100, h / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(rgb, interpolation="antialiased")
    ax.axis("off")
    if um_per_px:
        viz.scale_bar(ax, um_per_px, max_fraction=0.5)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


class InstanceExplorer(_ipw.VBox):
    """The instance explorer: embedding (left) ↔ slide heatmap (right), a status line and a
    gallery of the selected patches. All logic is in :attr:`state` (an :class:`ExplorerState`).

    Draw around points (lasso, or box) to select them; pick a slide to select all its patches;
    colour by a branch, the extra score or the category; click a patch on the slide to mark its
    point on the embedding. Thumbnails and patches are read only when a slide or a selection
    needs them, so building and displaying the explorer in an executed notebook stays cheap.
    """

    def __init__(self, view: InstanceView, gallery_size: int = 12, patch_px: int = 96,
                 title: str = "Instance explorer", point_size: float = 5.0):
        import ipywidgets as w
        from matplotlib.widgets import LassoSelector, RectangleSelector

        self.state = ExplorerState(view, gallery_size)
        self.view = view
        self.patch_px = int(patch_px)
        self.point_size = float(point_size)
        self._thumbs: dict[str, tuple[np.ndarray, float, float]] = {}
        self._syncing = False

        head = w.HTML(f"<h3>{title}</h3><p style='margin:0'>Draw around points on the "
                      "embedding (lasso or box), or pick a slide; click a patch on the slide "
                      "to find its point.</p>")
        head.add_class("mil-explorer-title")
        colour_options = [(name, j) for j, name in enumerate(view.branch_names)]
        if view.extra is not None:
            colour_options.append((view.extra_name, "extra"))
        if view.categories is not None:
            colour_options.append(("category", "category"))
        self.slide_picker = w.Dropdown(options=view.slides, value=None, description="slide",
                                       placeholder="pick a slide",
                                       layout=w.Layout(width="220px"))
        self.slide_picker.add_class("mil-explorer-slide")
        self.colour_picker = w.Dropdown(options=colour_options, value=0, description="colour by",
                                        layout=w.Layout(width="260px"))
        self.colour_picker.add_class("mil-explorer-colour")
        self.tool = w.ToggleButtons(options=["lasso", "box"], value="lasso",
                                    description="select with", layout=w.Layout(width="auto"),
                                    style={"button_width": "56px", "description_width": "initial"},
                                    tooltips=["draw around points", "drag a rectangle"])
        self.tool.add_class("mil-explorer-tool")
        self.clear_button = w.Button(description="clear selection")
        self.status = w.HTML()
        self.status.add_class("mil-explorer-status")
        self.click_info = w.HTML("<i>click a patch on the slide to mark its point</i>")
        self.click_info.add_class("mil-explorer-click")
        self.gallery_box = w.Box(layout=w.Layout(flex_flow="row wrap"))
        self.gallery_box.add_class("mil-explorer-gallery")

        self.umap_fig, self.umap_canvas = _interactive_figure((5.2, 4.2))
        self.umap_canvas.add_class("mil-explorer-umap")
        self.slide_fig, self.slide_canvas = _interactive_figure((4.6, 4.2))
        self.slide_canvas.add_class("mil-explorer-slide-view")
        self.umap_ax = self.umap_fig.add_subplot()
        self.slide_ax = self.slide_fig.add_subplot()
        self._colorbar = self._legend = self._slide_colorbar = None
        self._scatter = None
        self._sel_artist = self.umap_ax.scatter([], [], s=16, facecolors="none",
                                                edgecolors="red", linewidths=0.7, zorder=3,
                                                label="selected")
        (self._hl_artist,) = self.umap_ax.plot([], [], marker="*", ms=16, color="cyan",
                                               mec="black", mew=0.8, ls="none", zorder=4,
                                               label="clicked patch")
        self.umap_ax.set_xlabel(view.axis_names[0])
        self.umap_ax.set_ylabel(view.axis_names[1])

        self._lasso = LassoSelector(self.umap_ax, self._on_lasso, useblit=False,
                                    props={"color": "red", "lw": 1.2})
        self._box = RectangleSelector(self.umap_ax, self._on_box, useblit=False,
                                      props={"edgecolor": "red", "fill": False},
                                      minspanx=1e-9, minspany=1e-9, spancoords="data")
        self._box.set_active(False)
        self.slide_canvas.mpl_connect("button_press_event", self._on_slide_press)
        self.slide_canvas.mpl_connect("draw_event", self._on_slide_drawn)

        self.slide_picker.observe(self._on_slide_picked, names="value")
        self.colour_picker.observe(self._on_colour, names="value")
        self.tool.observe(self._on_tool, names="value")
        self.clear_button.on_click(self._on_clear)

        self._draw_embedding()
        self._draw_slide()
        self._update_text()
        controls = w.HBox([self.slide_picker, self.colour_picker, self.tool, self.clear_button],
                          layout=w.Layout(flex_flow="row wrap"))
        super().__init__([head, controls, w.HBox([self.umap_canvas, self.slide_canvas]),
                          self.status, self.click_info, self.gallery_box])
        self.add_class("mil-explorer")

    def __repr__(self) -> str:  # the text/plain nbval compares: no widget ids, no options
        v = self.view
        return (f"InstanceExplorer({len(v)} instances on {len(v.slides)} slides, "
                f"{v.n_branches} attention branches)")

    # ------------------------------------------------------- callbacks → state → redraw
    def _on_lasso(self, verts) -> None:
        if len(verts) < 3:
            return  # a click, not a lasso: keep the selection
        self.state.select_polygon(np.asarray(verts))
        self.refresh()

    def _on_box(self, press, release) -> None:
        if None in (press.xdata, release.xdata):
            return
        self.state.select_box((press.xdata, press.ydata), (release.xdata, release.ydata))
        self.refresh()

    def _on_slide_press(self, event) -> None:
        if event.inaxes is not self.slide_ax or event.button != 1 or self.state.slide is None:
            return
        self.state.click_slide(event.xdata, event.ydata)
        self.refresh(gallery=False)

    def _on_slide_drawn(self, _event) -> None:
        # the slide canvas's CSS classes say which slide its last rendered image shows
        # (mil-shows-<slide id>), so a browser test knows when the new image has arrived
        shown = f"mil-shows-{self.state.slide}" if self.state.slide else "mil-shows-none"
        classes = [c for c in self.slide_canvas._dom_classes if not c.startswith("mil-shows-")]
        if shown not in self.slide_canvas._dom_classes:
            self.slide_canvas._dom_classes = (*classes, shown)

    def _on_slide_picked(self, change) -> None:
        if self._syncing or change["new"] is None:
            return
        self.state.select_slide(change["new"], select=True)
        self.refresh()

    def _on_colour(self, change) -> None:
        self.state.set_branch(change["new"])
        self.refresh()

    def _on_tool(self, change) -> None:
        self._lasso.set_active(change["new"] == "lasso")
        self._box.set_active(change["new"] == "box")

    def _on_clear(self, _button) -> None:
        self.state.clear_selection()
        self.refresh()

    def refresh(self, gallery: bool = True) -> None:
        """Redraw every panel from the state (the callbacks call it; so may a test)."""
        if self.slide_picker.value != self.state.slide:
            self._syncing = True  # a lasso moved the current slide: don't re-select its patches
            try:
                self.slide_picker.value = self.state.slide
            finally:
                self._syncing = False
        self._draw_embedding()
        self._draw_slide()
        if gallery:
            self._fill_gallery()
        self._update_text()  # last: a new status line means every panel has been updated

    # ---------------------------------------------------------------- drawing
    def _draw_embedding(self) -> None:
        st, v, ax, fig = self.state, self.view, self.umap_ax, self.umap_fig
        # the colourbar goes before its mappable (it needs the mappable's axes to let go)
        for artist in (self._colorbar, self._scatter, self._legend):
            if artist is not None:
                artist.remove()
        self._colorbar = self._legend = None
        xy = v.xy
        if st.categorical:
            labels = st.colour_labels
            cats = list(dict.fromkeys(labels.tolist()))
            palette = plt.get_cmap("tab10")
            colours = {c: CATEGORY_COLOURS.get(c, palette(i % 10)) for i, c in enumerate(cats)}
            rgba = np.array([to_rgba(colours[c]) for c in labels])
            self._scatter = ax.scatter(xy[:, 0], xy[:, 1], s=self.point_size, c=rgba,
                                       linewidths=0, alpha=0.7)
            from matplotlib.lines import Line2D

            handles = [Line2D([], [], marker="o", ls="none", color=colours[c],
                              label=f"{c} ({int(np.sum(labels == c))})") for c in cats]
        else:
            vals = st.colour_values
            vmax = float(np.percentile(vals, 99)) or float(vals.max()) or 1.0
            self._scatter = ax.scatter(xy[:, 0], xy[:, 1], s=self.point_size, c=vals,
                                       cmap="viridis", vmin=0.0, vmax=vmax, linewidths=0)
            self._colorbar = fig.colorbar(self._scatter, ax=ax, extend="max", fraction=0.05,
                                          label=f"{st.score_label} (within slide)")
            handles = []
        self._scatter.set_zorder(1)
        self._sel_artist.set_offsets(xy[st.selected] if len(st.selected) else np.empty((0, 2)))
        hl = st.highlighted_xy
        self._hl_artist.set_data(([hl[0]], [hl[1]]) if hl is not None else ([], []))
        if len(st.selected):
            handles.append(self._sel_artist)
        if hl is not None:
            handles.append(self._hl_artist)
        if handles:
            self._legend = fig.legend(handles=handles, loc="outside lower center",
                                      ncol=min(3, len(handles)), fontsize=7, frameon=False,
                                      markerscale=0.8)
        what = "category" if st.categorical else st.score_label
        ax.set_title(f"each point a patch; colour: {what}")
        self.umap_canvas.draw_idle()

    def _thumbnail(self, sid: str) -> tuple[np.ndarray, float, float]:
        """(thumbnail, downsample, level-0 µm/px) of a slide, read once."""
        from .slides import Slide

        if sid not in self._thumbs:
            if len(self._thumbs) >= 16:  # a few slides are enough to keep
                self._thumbs.pop(next(iter(self._thumbs)))
            with Slide(self.view.slide_paths[sid]) as s:
                thumb, ds = s.thumbnail(int(self.view.thumb_px))
                self._thumbs[sid] = (thumb, ds, s.mpp)
        return self._thumbs[sid]

    def _draw_slide(self) -> None:
        from matplotlib.collections import PatchCollection
        from matplotlib.patches import Rectangle

        st, v, ax, fig = self.state, self.view, self.slide_ax, self.slide_fig
        if self._slide_colorbar is not None:
            self._slide_colorbar.remove()
            self._slide_colorbar = None
        ax.clear()
        ax.axis("off")
        if st.slide is None:
            ax.text(0.5, 0.5, "pick a slide, or select points\non the embedding",
                    ha="center", va="center", transform=ax.transAxes, color="0.4")
            self.slide_canvas.draw_idle()
            return
        thumb, ds, mpp = self._thumbnail(st.slide)
        idx = st.slide_instances
        s0 = v.patch_size0[st.slide]
        scores = st.scores[idx]
        heat = viz.attention_map(thumb.shape[:2], ds, v.coords[idx], s0, scores)
        # image axes in level-0 px: clicks arrive as level-0 coordinates, outlines need none
        extent = (0, thumb.shape[1] * ds, thumb.shape[0] * ds, 0)
        ax.imshow(thumb, extent=extent, interpolation="antialiased")
        im = ax.imshow(np.ma.masked_invalid(heat), extent=extent, cmap="viridis", alpha=0.6,
                       vmin=0.0, vmax=float(scores.max()) if len(scores) else 1.0)
        self._slide_colorbar = fig.colorbar(im, ax=ax, fraction=0.046,
                                            label=f"{st.score_label} a_k")
        boxes = [Rectangle(tuple(c), s0, s0) for c in st.outlined_coords]
        if boxes:
            ax.add_collection(PatchCollection(boxes, facecolor="none", edgecolor="red", lw=1.0))
        if st.highlighted is not None:
            ax.add_patch(Rectangle(tuple(v.coords[st.highlighted]), s0, s0, fill=False,
                                   edgecolor="cyan", lw=2.2))
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        viz.scale_bar(ax, mpp)
        ax.set_title(f"{st.slide}: {len(idx)} patches, {len(st.outlined)} selected")
        self.slide_canvas.draw_idle()

    def _update_text(self) -> None:
        self.status.value = f"<b>{self.state.status_text()}</b>"
        hl = self.state.highlighted
        if hl is not None:
            self.click_info.value = f"clicked patch: {self.state.describe(hl)}"
        elif self.state.slide is not None:
            self.click_info.value = ("clicked patch: none (click on a coloured patch of the "
                                     "slide)")

    def _fill_gallery(self) -> None:
        import ipywidgets as w

        st, v = self.state, self.view
        items = []
        for j, i in enumerate(st.gallery):
            sid = v.slide_ids[i]
            s0 = v.patch_size0[sid]
            rgb = viz.read_patches(v.slide_paths[sid], v.coords[i:i + 1], s0, self.patch_px)[0]
            mpp = self._thumbnail(sid)[2] if j == 0 else None
            img = w.Image(value=_patch_png(rgb, mpp * s0 / self.patch_px if mpp else None),
                          format="png", width=self.patch_px, height=self.patch_px)
            img.add_class("mil-explorer-patch")
            cat = f"<br>{v.categories[i]}" if v.categories is not None else ""
            cap = w.HTML(f"<div style='font-size:10px;line-height:1.2'>{j + 1}. {sid}<br>"
                         f"a={st.scores[i]:.3g}{cat}</div>")
            items.append(w.VBox([img, cap], layout=w.Layout(width=f"{self.patch_px + 14}px")))
        self.gallery_box.children = items


def instance_explorer(view: InstanceView, gallery_size: int = 12, show: bool = True,
                      **kwargs) -> InstanceExplorer:
    """Build the instance explorer for ``view``, display it (unless ``show=False``) and return
    it; keyword arguments go to :class:`InstanceExplorer`.

    Its plain-text form — what an executed notebook keeps and nbval compares — is one stable
    line of counts; the figures are drawn by the live front-end, and thumbnails and patches
    are read only when a slide or a selection asks for them.
    """
    explorer = InstanceExplorer(view, gallery_size=gallery_size, **kwargs)
    if show:
        from IPython.display import display

        display(explorer)
    return explorer
