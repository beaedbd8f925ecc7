"""Opening whole-slide images: levels, resolution (mpp) arithmetic, thumbnails and region reads.

OpenSlide does the reading; this module adds the physical-resolution bookkeeping that every
later step needs and turns OpenSlide's terse failures into errors that say what to do.
"""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import openslide
from PIL import Image

__all__ = ["Slide", "SlideError", "MissingMPPError", "open_slide", "mpp_to_magnification",
           "magnification_to_mpp", "SLIDE_EXTENSIONS"]

#: File extensions treated as slides when a folder is given.
SLIDE_EXTENSIONS = (".svs", ".tif", ".tiff", ".ndpi", ".mrxs", ".scn", ".vms", ".vmu", ".bif",
                    ".svslide", ".czi", ".dcm")


class SlideError(RuntimeError):
    """A slide file that cannot be opened or read."""


class MissingMPPError(SlideError):
    """The slide has no physical resolution metadata and none was given."""


def mpp_to_magnification(mpp: float) -> float:
    """Nominal objective magnification for a resolution (the common convention 10 / mpp)."""
    return 10.0 / mpp


def magnification_to_mpp(magnification: float) -> float:
    """Resolution in µm per pixel for a nominal magnification (20× → 0.5 µm/px)."""
    return 10.0 / magnification


class Slide:
    """A whole-slide image opened with OpenSlide, with its level-0 resolution resolved.

    Parameters
    ----------
    path:
        Any file OpenSlide reads (SVS, NDPI, MRXS, tiled pyramidal TIFF, ...).
    mpp:
        Level-0 microns per pixel. Overrides the file's metadata; required when the file has none.
    """

    def __init__(self, path: str | Path, mpp: float | None = None):
        self.path = Path(path)
        if not self.path.exists():
            raise SlideError(f"Slide file not found: {self.path}")
        try:
            self._osr = openslide.OpenSlide(str(self.path))
        except openslide.OpenSlideUnsupportedFormatError as err:
            raise SlideError(
                f"{self.path.name}: OpenSlide does not recognise this file as a slide ({err}). "
                "If it is a plain (non-tiled) TIFF/PNG/JPEG, convert it to a tiled pyramidal TIFF "
                "first (e.g. `milhelpers.synth.write_pyramidal_tiff` or `vips tiffsave --tile "
                "--pyramid`); if it should be a slide, the file is probably truncated or corrupt."
            ) from err
        except openslide.OpenSlideError as err:
            raise SlideError(f"{self.path.name}: the file is corrupt or unreadable ({err}).") from err
        self._mpp_override = float(mpp) if mpp is not None else None
        if self._mpp_override is not None and not (self._mpp_override > 0):
            raise ValueError(f"mpp must be a positive number of microns per pixel, got {mpp!r}")

    # -- basic geometry -------------------------------------------------------------------
    @property
    def name(self) -> str:
        """Slide id: the file name without its extension."""
        return self.path.stem

    @property
    def dimensions(self) -> tuple[int, int]:
        """Level-0 (width, height) in pixels."""
        return self._osr.dimensions

    @property
    def level_count(self) -> int:
        return self._osr.level_count

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        return self._osr.level_dimensions

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        return self._osr.level_downsamples

    @property
    def properties(self) -> dict[str, str]:
        return dict(self._osr.properties)

    # -- resolution -----------------------------------------------------------------------
    @property
    def file_mpp(self) -> float | None:
        """Level-0 µm/px as stored in the file, or None when the file does not say."""
        props = self._osr.properties
        vals = []
        for key in (openslide.PROPERTY_NAME_MPP_X, openslide.PROPERTY_NAME_MPP_Y):
            try:
                v = float(props.get(key, "nan"))
            except ValueError:
                v = float("nan")
            if math.isfinite(v) and v > 0:
                vals.append(v)
        return float(np.mean(vals)) if vals else None

    @property
    def mpp(self) -> float:
        """Level-0 µm/px: the override if given, else the file's value; raises if neither exists."""
        if self._mpp_override is not None:
            return self._mpp_override
        mpp = self.file_mpp
        if mpp is None:
            raise MissingMPPError(
                f"{self.path.name} has no resolution metadata (openslide.mpp-x is missing), so "
                "physical patch sizes cannot be computed. Pass the scanner's level-0 resolution "
                "explicitly, e.g. Slide(path, mpp=0.25) for a 40× scan or mpp=0.5 for 20× "
                "(CLI: --mpp 0.25)."
            )
        return mpp

    @property
    def magnification(self) -> float:
        """Nominal level-0 magnification derived from mpp (10 / mpp)."""
        return mpp_to_magnification(self.mpp)

    def level_mpp(self, level: int) -> float:
        return self.mpp * self.level_downsamples[level]

    def best_level_for_downsample(self, downsample: float) -> int:
        """Deepest level whose downsample does not exceed ``downsample`` (reads never upsample)."""
        best = 0
        for i, d in enumerate(self.level_downsamples):
            if d <= downsample * (1 + 1e-6):
                best = i
        return best

    # -- reading --------------------------------------------------------------------------
    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        """RGB uint8 array (h, w, 3) of ``size`` (w, h) at ``level``; ``location`` is level-0 (x, y).

        Areas outside the slide come back white, not black, so they look like background. The
        array may be a read-only view; copy it before writing into it.
        """
        try:
            rgba = self._osr.read_region((int(location[0]), int(location[1])), level,
                                         (int(size[0]), int(size[1])))
        except openslide.OpenSlideError as err:
            raise SlideError(f"{self.path.name}: reading region {location} at level {level} "
                             f"failed; the file is probably corrupt ({err}).") from err
        arr = np.asarray(rgba)
        rgb = arr[..., :3]
        alpha = arr[..., 3]
        if alpha.min() < 255:  # transparent = outside the scanned area
            rgb = rgb.copy()
            rgb[alpha == 0] = 255
        return rgb

    def read_patch(self, location: tuple[int, int], size0: int, out_px: int) -> np.ndarray:
        """A square patch of side ``size0`` level-0 px, returned at ``out_px``×``out_px``.

        Reads from the deepest pyramid level that still has at least ``out_px`` pixels across the
        patch, then resizes, so a 20× patch on a 40× slide reads the 20× level when it exists.
        """
        level = self.best_level_for_downsample(size0 / out_px)
        ds = self.level_downsamples[level]
        n = max(1, int(round(size0 / ds)))
        rgb = self.read_region(location, level, (n, n))
        if n != out_px:
            interp = cv2.INTER_AREA if n > out_px else cv2.INTER_LINEAR
            rgb = cv2.resize(rgb, (out_px, out_px), interpolation=interp)
        return rgb

    def read_level(self, level: int) -> np.ndarray:
        """A whole pyramid level as an RGB array (use only on low-resolution levels)."""
        w, h = self.level_dimensions[level]
        if w * h > 2e8:
            raise ValueError(f"Level {level} of {self.name} is {w}×{h} px, too large to read whole.")
        return self.read_region((0, 0), level, (w, h))

    def thumbnail(self, max_size: int = 1024) -> tuple[np.ndarray, float]:
        """RGB thumbnail whose longer side is at most ``max_size`` px, and its downsample
        relative to level 0 (thumbnail px × downsample = level-0 px)."""
        w, h = self.dimensions
        scale = max(w, h) / max_size
        if scale <= 1:
            return self.read_level(0), 1.0
        level = self.best_level_for_downsample(scale)
        img = Image.fromarray(self.read_level(level))
        size = (max(1, round(w / scale)), max(1, round(h / scale)))
        img = img.resize(size, Image.Resampling.BOX)
        return np.asarray(img), w / size[0]

    def close(self) -> None:
        self._osr.close()

    def __enter__(self) -> "Slide":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        mpp = self._mpp_override or self.file_mpp
        mpp_s = f"{mpp:.3f} µm/px" if mpp else "mpp unknown"
        return (f"Slide({self.path.name!r}, {self.dimensions[0]}×{self.dimensions[1]} px, "
                f"{self.level_count} levels, {mpp_s})")


def open_slide(path: str | Path, mpp: float | None = None) -> Slide:
    """Open a slide; see :class:`Slide`."""
    return Slide(path, mpp=mpp)
