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

__all__ = ["Slide", "SlideError", "MissingMPPError", "MPPConflictError", "ImplausibleMPPError",
           "open_slide", "mpp_to_magnification", "magnification_to_mpp", "check_mpp",
           "SLIDE_EXTENSIONS", "MPP_RANGE", "MPP_TOLERANCE"]

#: File extensions treated as slides when a folder is given.
SLIDE_EXTENSIONS = (".svs", ".tif", ".tiff", ".ndpi", ".mrxs", ".scn", ".vms", ".vmu", ".bif",
                    ".svslide", ".czi", ".dcm")


#: Largest region (pixels) read in one call when a whole level is resampled; 8 M RGBA px = 32 MB.
STRIP_PIXELS = 8_000_000


class SlideError(RuntimeError):
    """A slide file that cannot be opened or read."""


class MissingMPPError(SlideError):
    """The slide has no physical resolution metadata and none was given."""


class MPPConflictError(SlideError):
    """A given mpp contradicts the file's own value (and was not forced)."""


class ImplausibleMPPError(SlideError):
    """The file's mpp is outside what any microscope scanner produces."""


#: Plausible level-0 resolutions (µm/px): below 0.05 is beyond optical resolution, above 20 is a
#: thumbnail, not a scan. Metadata outside this range is wrong (e.g. a TIFF's default 72 dpi).
MPP_RANGE = (0.05, 20.0)
#: Relative difference between a given mpp and the file's own value that counts as agreement.
MPP_TOLERANCE = 0.10


def check_mpp(value: float, name: str = "mpp") -> float:
    """``value`` as a float if it is a plausible µm/px (within :data:`MPP_RANGE`), else ValueError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of microns per pixel, got {value!r}") from None
    lo, hi = MPP_RANGE
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{name} must be a resolution in microns per pixel between {lo} and {hi} "
                         f"(0.25 = 40×, 0.5 = 20×, 1.0 = 10×), got {value!r}")
    return v


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
        Level-0 microns per pixel for files that lack it (or whose value is implausible). When
        the file has its own value, that value is used; a given ``mpp`` that differs from it by
        more than :data:`MPP_TOLERANCE` is an error (:class:`MPPConflictError`) ...
    force_mpp:
        ... unless ``force_mpp``, which makes ``mpp`` win over the file.
    """

    def __init__(self, path: str | Path, mpp: float | None = None, force_mpp: bool = False):
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
        self._mpp_override = check_mpp(mpp) if mpp is not None else None
        self._force_mpp = bool(force_mpp)

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
        """Level-0 µm/px actually used; :attr:`mpp_source` says where it came from."""
        return self._resolve_mpp()[0]

    @property
    def mpp_source(self) -> str:
        """Where :attr:`mpp` comes from, in words (for per-slide reports)."""
        return self._resolve_mpp()[1]

    def _resolve_mpp(self) -> tuple[float, str]:
        """The file's value wins; ``mpp`` fills in when the file has none (or an implausible one)
        and must agree with the file within :data:`MPP_TOLERANCE` unless forced."""
        given, file = self._mpp_override, self.file_mpp
        lo, hi = MPP_RANGE
        if file is not None and not lo <= file <= hi:
            if given is not None:
                return given, f"given mpp (the file's {file:g} µm/px is implausible)"
            raise ImplausibleMPPError(
                f"{self.path.name}: the file says level-0 is {file:g} µm/px, outside the "
                f"plausible {lo}–{hi} µm/px, so its resolution metadata is wrong. Pass the "
                "scanner's real level-0 resolution, e.g. --mpp 0.25 for a 40× scan or --mpp 0.5 "
                "for 20× (Slide(path, mpp=...)).")
        if file is None:
            if given is None:
                raise MissingMPPError(
                    f"{self.path.name} has no resolution metadata (openslide.mpp-x is missing), "
                    "so physical patch sizes cannot be computed. Pass the scanner's level-0 "
                    "resolution explicitly, e.g. Slide(path, mpp=0.25) for a 40× scan or "
                    "mpp=0.5 for 20× (CLI: --mpp 0.25).")
            return given, "given mpp (the file has none)"
        if given is None:
            return file, "file"
        if abs(given - file) <= MPP_TOLERANCE * file:
            return file, f"file (agrees with the given {given:g})"
        if self._force_mpp:
            return given, f"given mpp, forced over the file's {file:g}"
        raise MPPConflictError(
            f"{self.path.name}: the given mpp {given:g} µm/px contradicts the file's own "
            f"{file:g} µm/px (more than {MPP_TOLERANCE:.0%} apart; patches would be "
            f"{file / given:.2g}× the intended physical size). Drop --mpp to use the file's "
            "value, or add --force-mpp (force_mpp=True) if the file is wrong.")

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

    def read_level_resized(self, level: int, size: tuple[int, int],
                           max_pixels: int = STRIP_PIXELS) -> np.ndarray:
        """Pyramid ``level`` resized (area-averaged) to ``size`` = (w, h), read in horizontal
        strips of at most ``max_pixels`` source pixels, so memory stays bounded by the output
        plus one strip however large the level is.

        Strip seams fall on output rows; when the level is an integer multiple of ``size`` each
        output pixel averages exactly the same source pixels as a whole-level resize would.
        """
        lw, lh = self.level_dimensions[level]
        out_w, out_h = int(size[0]), int(size[1])
        d = self.level_downsamples[level]
        fy = lh / out_h  # source rows per output row
        rows = max(1, min(out_h, int(max_pixels // max(1.0, lw * fy))))
        out = np.empty((out_h, out_w, 3), np.uint8)
        for oy0 in range(0, out_h, rows):
            oy1 = min(out_h, oy0 + rows)
            sy0, sy1 = int(math.floor(oy0 * fy)), min(lh, int(math.ceil(oy1 * fy)))
            strip = self.read_region((0, int(round(sy0 * d))), level, (lw, max(1, sy1 - sy0)))
            if strip.shape[:2] != (oy1 - oy0, out_w):
                strip = cv2.resize(strip, (out_w, oy1 - oy0), interpolation=cv2.INTER_AREA)
            out[oy0:oy1] = strip
        return out

    def thumbnail(self, max_size: int = 1024) -> tuple[np.ndarray, float]:
        """RGB thumbnail whose longer side is at most ``max_size`` px, and its downsample
        relative to level 0 (thumbnail px × downsample = level-0 px)."""
        w, h = self.dimensions
        scale = max(w, h) / max_size
        if scale <= 1:
            return self.read_level(0), 1.0
        level = self.best_level_for_downsample(scale)
        size = (max(1, round(w / scale)), max(1, round(h / scale)))
        return self.read_level_resized(level, size), w / size[0]

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


def open_slide(path: str | Path, mpp: float | None = None, force_mpp: bool = False) -> Slide:
    """Open a slide; see :class:`Slide`."""
    return Slide(path, mpp=mpp, force_mpp=force_mpp)
