"""The instance explorer in a real JupyterLab, driven like a person would: Run All from the
menu, a lasso drawn with the mouse on the embedding, a slide picked in the dropdown, a click on a
patch of the slide heatmap. Each step asserts what the explorer then shows and leaves a
screenshot under build/browser/.

Where to draw and click is read off the rendered canvases (the axes frame, the plotted points,
the red patch outlines), so the test holds for any embedding and slide the notebook shows.
"""
from __future__ import annotations

import io
import os
import re

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(os.environ.get("MIL_BROWSER_TEST") != "1",
                                reason="run with `make browser-test` (sets MIL_BROWSER_TEST=1)")

ROOT = Path(__file__).resolve().parents[2]
STATUS = re.compile(r"showing (\d+) of (\d+) selected")
# an error output of any cell: JupyterLab renders tracebacks as stderr text with the error name
ERROR_JS = """() => [...document.querySelectorAll(
                       '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
                     .map(e => e.textContent).filter(t => /Traceback|Error:/.test(t))
                     .join('\\n---\\n')"""


def _png(locator) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB")).astype(int)


def _axes_frame(img: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the main axes in a figure screenshot: its top and bottom spines are
    the longest dark horizontal runs (a colourbar's outline is much narrower)."""
    dark = img.sum(axis=2) < 150
    best = []
    for y in range(dark.shape[0]):
        xs = np.flatnonzero(dark[y])
        if len(xs) < 20:
            continue
        runs = np.split(xs, np.flatnonzero(np.diff(xs) > 1) + 1)
        r = max(runs, key=len)
        best.append((len(r), y, r[0], r[-1]))
    length = max(b[0] for b in best)
    rows = [b for b in best if b[0] >= 0.9 * length]
    return rows[0][2], rows[0][1], rows[0][3], rows[-1][1]


def _densest_points(img: np.ndarray, frame, grid: int = 6) -> tuple[float, float, float]:
    """Centre (x, y) and half-size of the grid cell inside the axes with the most point pixels
    (coloured, neither white background nor grey/black text and lines)."""
    x0, y0, x1, y1 = frame
    inner = img[y0 + 3:y1 - 2, x0 + 3:x1 - 2]
    coloured = (inner.max(axis=2) - inner.min(axis=2)) > 40
    h, w = coloured.shape
    cells = coloured[: h // grid * grid, : w // grid * grid]
    counts = cells.reshape(grid, h // grid, grid, w // grid).sum(axis=(1, 3))
    r, c = np.unravel_index(np.argmax(counts), counts.shape)
    assert counts[r, c] > 0, "no plotted points found on the embedding canvas"
    cw, ch = w / grid, h / grid
    return x0 + 3 + (c + 0.5) * cw, y0 + 3 + (r + 0.5) * ch, 0.6 * min(cw, ch)


def _inside_a_red_box(img: np.ndarray) -> tuple[int, int]:
    """A pixel enclosed by the nearest red outline on all four sides, with the smallest
    enclosure: the middle of one outlined patch."""
    red = (img[..., 0] > 200) & (img[..., 1] < 80) & (img[..., 2] < 80)
    ys, xs = np.nonzero(red)
    assert len(ys), "no red patch outlines on the slide canvas"
    best, where = None, None
    for y in range(ys.min() + 2, ys.max() - 1, 2):
        row = np.flatnonzero(red[y])
        for x in range(xs.min() + 2, xs.max() - 1, 2):
            if red[y, x]:
                continue
            left, right = row[row < x], row[row > x]
            col = np.flatnonzero(red[:, x])
            up, down = col[col < y], col[col > y]
            if not (len(left) and len(right) and len(up) and len(down)):
                continue
            dl, dr, du, dd = x - left[-1], right[0] - x, y - up[-1], down[0] - y
            if min(dl, dr, du, dd) < 3:
                continue
            score = dl + dr + du + dd + abs(dl - dr) + abs(du - dd)   # small and centred
            if best is None or score < best:
                best, where = score, (x, y)
    assert where is not None, "found no outlined patch to click"
    return where


def _new_stable_image(page, locator, before: np.ndarray, timeout_s: float = 60) -> np.ndarray:
    """The canvas image once it differs from ``before`` and two looks 0.5 s apart agree (the
    kernel has redrawn the figure and the front-end has painted it)."""
    last = None
    for _ in range(int(timeout_s / 0.5)):
        img = _png(locator)
        if last is not None and img.shape == last.shape and (img == last).all() and (
                img.shape != before.shape or (img != before).any()):
            return img
        last = img
        page.wait_for_timeout(500)
    raise AssertionError("the canvas was not redrawn")


def _wait_status(page, predicate, timeout_ms: int = 60_000) -> str:
    """Wait until the explorer's status line satisfies ``predicate`` (a JS expression on t)."""
    page.wait_for_function(
        f"() => {{ const e = document.querySelector('.mil-explorer-status');"
        f" if (!e) return false; const t = e.textContent; return {predicate}; }}",
        timeout=timeout_ms)
    return page.locator(".mil-explorer-status").inner_text()


def test_explorer_in_jupyterlab(lab, notebook, browser_page, out_dir):
    try:
        _drive(lab, notebook, browser_page, out_dir)
    except BaseException:
        browser_page.screenshot(path=str(out_dir / "failure.png"))
        raise


def _drive(lab, notebook, page, out_dir):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    url, token = lab
    page.set_default_timeout(60_000)
    rel = notebook.relative_to(ROOT).as_posix()
    page.goto(f"{url}/lab/tree/{rel}?token={token}", wait_until="domcontentloaded",
              timeout=120_000)
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
    # a "Select Kernel" dialog may still ask (the settings say: start the preferred kernel)
    try:
        page.locator(".jp-Dialog", has_text="Select Kernel").wait_for(timeout=5_000)
        page.locator(".jp-Dialog .jp-mod-accept").click()
    except PlaywrightTimeout:
        pass
    # the kernel has started (the status bar names it and says idle)
    page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\| Idle")).first.wait_for(
        timeout=120_000)

    # Run All, from the Run menu
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel",
                 has_text=re.compile(r"^Run All Cells$")).click()

    # wait for the explorer (or fail fast on the first traceback)
    timeout_s = float(os.environ.get("MIL_BROWSER_TIMEOUT", "1200"))
    handle = page.wait_for_function(
        "() => document.querySelector('.mil-explorer-title') ? 'explorer' : (" + ERROR_JS
        + ")() || false", timeout=timeout_s * 1000, polling=1000)
    result = handle.json_value()
    page.screenshot(path=str(out_dir / "01_run_all.png"))
    assert result == "explorer", f"a cell failed before the explorer appeared:\n{result}"
    explorer = page.locator(".mil-explorer").first
    expect(explorer.locator(".mil-explorer-title")).to_contain_text("Instance explorer")
    explorer.scroll_into_view_if_needed()

    # the embedding canvas has been drawn (the front-end asked the kernel for its image)
    umap = explorer.locator(".mil-explorer-umap canvas").last
    umap.wait_for(state="visible")
    page.wait_for_function(
        "c => c.width > 100 && c.height > 100", arg=umap.element_handle())
    for _ in range(60):   # until the points are on it
        img = _png(umap)
        if ((img.max(axis=2) - img.min(axis=2)) > 40).sum() > 200:
            break
        page.wait_for_timeout(500)
    frame = _axes_frame(img)
    slide_canvas = explorer.locator(".mil-explorer-slide-view canvas").last

    # 1. lasso: drag an octagon around the densest patch of points, with the mouse
    cx, cy, r = _densest_points(img, frame)
    box = umap.bounding_box()
    ring = [(cx + r * np.cos(t), cy + r * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 9)]
    page.mouse.move(box["x"] + ring[0][0], box["y"] + ring[0][1])
    page.mouse.down()
    for x, y in ring[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
    page.mouse.up()
    text = _wait_status(page, "/showing [1-9]\\d* of \\d+ selected \\(lasso/.test(t)")
    k, n = map(int, STATUS.search(text).groups())
    assert 0 < k <= min(12, n)
    # the slide holding most of the selection is shown, its selected patches outlined in red
    m, current = re.search(r"(\d+) of them on (\S+), outlined", text).groups()
    assert int(m) > 0
    explorer.locator(f".mil-explorer-slide-view.mil-shows-{current}").wait_for()
    limg = _new_stable_image(page, slide_canvas, np.zeros((1, 1, 3)))
    assert ((limg[..., 0] > 200) & (limg[..., 1] < 80) & (limg[..., 2] < 80)).sum() > 20
    _new_stable_image(page, umap, img)   # the embedding rings the selected points
    gallery = explorer.locator(".mil-explorer-gallery img.mil-explorer-patch")
    expect(gallery).to_have_count(k)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.mil-explorer-gallery img')]"
        ".every(i => i.complete && i.naturalWidth > 0)")
    explorer.screenshot(path=str(out_dir / "02_lasso_selection.png"))

    # 2. pick a slide in the dropdown: all its patches are selected
    before = limg
    picker = explorer.locator(".mil-explorer-slide select")
    options = [o.strip() for o in picker.locator("option").all_inner_texts() if o.strip()]
    slide = next(o for o in options[3:] + options if o not in text)  # not the lasso's slide
    picker.select_option(label=slide)
    text = _wait_status(page, f"t.includes('all patches of {slide}')")
    k, n = map(int, STATUS.search(text).groups())
    assert k == min(12, n) and n > 0
    expect(gallery).to_have_count(k)
    captions = explorer.locator(".mil-explorer-gallery .widget-html").all_inner_texts()
    assert len(captions) == k and all(slide in c for c in captions), captions
    # the slide canvas marks which slide its last image shows; then wait for it to be painted
    explorer.locator(f".mil-explorer-slide-view.mil-shows-{slide}").wait_for()
    simg = _new_stable_image(page, slide_canvas, before)
    red = (simg[..., 0] > 200) & (simg[..., 1] < 80) & (simg[..., 2] < 80)
    assert red.sum() > 50, "the picked slide's patches are not outlined"
    explorer.screenshot(path=str(out_dir / "03_slide_picked.png"))

    # 3. click inside one outlined patch: its point is marked on the embedding
    x, y = _inside_a_red_box(simg)
    sbox = slide_canvas.bounding_box()
    umap_before = _png(umap)
    page.mouse.click(sbox["x"] + x, sbox["y"] + y)
    click = explorer.locator(".mil-explorer-click")
    expect(click).to_contain_text(
        re.compile(rf"clicked patch: {re.escape(slide)} at \(\d+, \d+\)"), timeout=60_000)
    # the embedding marks the patch's point with a cyan star (viridis has no pure cyan)
    uimg = _new_stable_image(page, umap, umap_before)
    cyan = (uimg[..., 0] < 60) & (uimg[..., 1] > 200) & (uimg[..., 2] > 200)
    assert cyan.sum() > 20, "the clicked patch's point is not marked on the embedding"
    _new_stable_image(page, slide_canvas, simg)   # the slide outlines the patch in cyan too
    explorer.screenshot(path=str(out_dir / "04_patch_clicked.png"))
