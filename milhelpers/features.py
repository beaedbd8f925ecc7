"""Patch features: read patches on the fly from coordinates, encode them, write HDF5 atomically.

One :class:`torch.utils.data.DataLoader` streams the patches of *all* pending slides, so worker
processes start once per run, not once per slide; features are written slide by slide as soon as
a slide's last patch is encoded, so an interrupted run keeps every finished slide and resumes
with the next.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ._progress import progress_bar
from .encoders import Encoder
from .h5io import read_coords, write_features
from .slides import Slide

__all__ = ["ExtractionJob", "PatchDataset", "normalise", "extract_features", "ExtractionReport"]


@dataclass(frozen=True)
class ExtractionJob:
    """One slide to encode: where its pixels, coordinates and output live."""

    slide_path: Path
    coords_path: Path
    out_path: Path
    mpp: float | None = None


class PatchDataset(Dataset):
    """All patches of a list of jobs, in order; item = (uint8 CHW image tensor, job index).

    Images stay uint8 until the batch reaches the encoder (:func:`normalise`): four times less
    data between processes, and one vectorised normalisation per batch. Slide handles are
    opened lazily in whichever process reads, and a few are kept open.
    """

    def __init__(self, jobs: list[ExtractionJob], input_size: int):
        self.jobs = list(jobs)
        self.input_size = int(input_size)
        self.coords, self.size0 = [], []
        for job in self.jobs:
            coords, attrs = read_coords(job.coords_path)
            if "patch_size_level0" not in attrs:
                raise KeyError(f"{job.coords_path} lacks the 'patch_size_level0' attribute; "
                               "re-tile with milhelpers or TRIDENT.")
            self.coords.append(coords)
            self.size0.append(int(attrs["patch_size_level0"]))
        lengths = np.array([len(c) for c in self.coords], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(lengths)])
        self.runs = [_row_runs(c, s) for c, s in zip(self.coords, self.size0)]
        self._open: OrderedDict[int, Slide] = OrderedDict()
        self._band_key: tuple[int, int] | None = None
        self._band: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _slide(self, j: int) -> Slide:
        if j not in self._open:
            self._open[j] = Slide(self.jobs[j].slide_path, mpp=self.jobs[j].mpp)
            while len(self._open) > 4:
                self._open.popitem(last=False)[1].close()
        return self._open[j]

    def __getitem__(self, i: int):
        j = int(np.searchsorted(self.offsets, i, side="right") - 1)
        k = int(i - self.offsets[j])
        rgb = self._read_from_band(j, k)
        return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))), j

    def _read_from_band(self, j: int, k: int) -> np.ndarray:
        """Read a patch out of its row band: one OpenSlide call serves up to ``BAND`` adjacent
        patches of a row, which costs little more than one patch (the per-call tile work
        dominates small reads)."""
        run_of, first, last = self.runs[j]
        r = int(run_of[k])
        slide, size0, out = self._slide(j), self.size0[j], self.input_size
        level = slide.best_level_for_downsample(size0 / out)
        ds = slide.level_downsamples[level]
        x0, y0 = self.coords[j][first[r]]
        if self._band_key != (j, r):
            width = self.coords[j][last[r]][0] + size0 - x0
            self._band = slide.read_region((x0, y0), level, (max(1, round(width / ds)),
                                                             max(1, round(size0 / ds))))
            self._band_key = (j, r)
        n = max(1, round(size0 / ds))
        ox = round((self.coords[j][k][0] - x0) / ds)
        rgb = self._band[:, ox:ox + n]
        if n != out:
            rgb = cv2.resize(rgb, (out, out), interpolation=cv2.INTER_AREA if n > out
                             else cv2.INTER_LINEAR)
        return rgb

    def __getstate__(self):  # slide handles cannot cross process boundaries
        state = self.__dict__.copy()
        state["_open"], state["_band_key"], state["_band"] = OrderedDict(), None, None
        return state


#: Most patches one band read serves.
BAND = 16


def _row_runs(coords: np.ndarray, size0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group consecutive patches lying on one row and touching or overlapping (as a row-major
    grid produces) into runs of at most :data:`BAND`. Returns (run index per patch, first and
    last patch index per run)."""
    n = len(coords)
    run_of = np.zeros(n, np.int64)
    first, last = [0], []
    for k in range(1, n):
        dx = coords[k, 0] - coords[k - 1, 0]
        same_run = (coords[k, 1] == coords[k - 1, 1] and 0 < dx <= size0
                    and k - first[-1] < BAND)
        if not same_run:
            last.append(k - 1)
            first.append(k)
        run_of[k] = len(first) - 1
    last.append(n - 1)
    return run_of, np.asarray(first), np.asarray(last)


def normalise(images: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 (B, 3, S, S) → float (B, 3, S, S) with the encoder's per-channel mean and std."""
    m = torch.tensor(mean, dtype=torch.float32, device=images.device).view(1, 3, 1, 1) * 255
    s = torch.tensor(std, dtype=torch.float32, device=images.device).view(1, 3, 1, 1) * 255
    return (images.float() - m) / s


@dataclass
class ExtractionReport:
    written: list[Path]
    skipped: list[Path]
    n_patches: int
    seconds: float

    @property
    def patches_per_second(self) -> float:
        return self.n_patches / self.seconds if self.seconds else float("nan")


def extract_features(jobs: list[ExtractionJob], encoder: Encoder, *, batch_size: int = 64,
                     num_workers: int = 1, overwrite: bool = False,
                     progress: bool = True) -> ExtractionReport:
    """Encode every job's patches and write ``features``/``coords`` HDF5 files.

    Jobs whose output exists are skipped (resume) unless ``overwrite``. Output files carry
    the encoder name and input size as attributes.
    """
    t0 = time.perf_counter()
    pending = [j for j in jobs if overwrite or not Path(j.out_path).exists()]
    skipped = [Path(j.out_path) for j in jobs if j not in pending]
    if not pending:
        return ExtractionReport([], skipped, 0, time.perf_counter() - t0)
    ds = PatchDataset(pending, encoder.input_size)
    loader = DataLoader(ds, batch_size=batch_size, num_workers=num_workers, shuffle=False,
                        persistent_workers=False, prefetch_factor=4 if num_workers else None)
    device = next(encoder.model.parameters()).device
    buffers: dict[int, list[np.ndarray]] = {}
    written: list[Path] = []

    def flush(j: int) -> None:
        feats = np.concatenate(buffers.pop(j), axis=0) if len(ds.coords[j]) else np.zeros(
            (0, encoder.dim), np.float32)
        if not np.isfinite(feats).all():
            raise FloatingPointError(f"{pending[j].slide_path.name}: the encoder produced "
                                     "non-finite features; check the slide and the weights.")
        _, cattrs = read_coords(pending[j].coords_path)
        write_features(pending[j].out_path, feats, ds.coords[j], coords_attrs=cattrs,
                       encoder=encoder.name, input_size=encoder.input_size)
        written.append(Path(pending[j].out_path))

    done_upto = 0  # jobs [0, done_upto) are written
    bar = progress_bar(total=len(ds), desc=f"encoding ({encoder.name})", unit="patch",
                       enabled=progress)
    for images, owners in loader:
        feats = encoder(normalise(images.to(device), encoder.mean, encoder.std)).float().cpu().numpy()
        owners = owners.numpy()
        for j in np.unique(owners):
            buffers.setdefault(int(j), []).append(feats[owners == j])
        # a job is complete once a later job's patches have appeared
        while done_upto < int(owners.max()):
            flush(done_upto)
            done_upto += 1
        bar.update(len(images))
    bar.close()
    while done_upto < len(pending):
        if done_upto not in buffers:
            buffers[done_upto] = []
        flush(done_upto)
        done_upto += 1
    return ExtractionReport(written, skipped, len(ds), time.perf_counter() - t0)
