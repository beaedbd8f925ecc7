"""Patch features: read patches on the fly from coordinates, encode them, write HDF5 atomically.

One :class:`torch.utils.data.DataLoader` streams the patches of *all* pending slides, so worker
processes start once per run, not once per slide; features are written slide by slide as soon as
a slide's last patch is encoded, so an interrupted run keeps every finished slide and resumes
with the next. A slide that cannot be read fails alone: its patches come back flagged, nothing
is written for it, and the other slides go on.
"""
from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ._progress import progress_bar
from .encoders import Encoder, get_encoder, resolve_device
from .h5io import h5_attrs, read_coords, remove_partials, write_features
from .slides import Slide, SlideError

__all__ = ["ExtractionJob", "PatchDataset", "normalise", "extract_features", "ExtractionReport",
           "StaleFeaturesError", "stale_features_reason", "split_done", "resolve_precision",
           "PRECISIONS", "extract_slide"]


class StaleFeaturesError(ValueError):
    """An existing features file was made with other settings or other coordinates."""


@dataclass(frozen=True)
class ExtractionJob:
    """One slide to encode: where its pixels, coordinates and output live."""

    slide_path: Path
    coords_path: Path
    out_path: Path
    mpp: float | None = None


class PatchDataset(Dataset):
    """All patches of a list of jobs, in order; item = (uint8 CHW image tensor, job index,
    error message — empty unless the slide could not be read, when the image is blank).

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
        self._failed: dict[int, str] = {}  # per process: slides already found unreadable

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
        if j not in self._failed:
            try:
                rgb = self._read_from_band(j, k)
                return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))), j, ""
            except (SlideError, OSError) as err:  # fail this slide, not the DataLoader
                self._failed[j] = str(err) or type(err).__name__
                self._band_key = None
        blank = torch.zeros((3, self.input_size, self.input_size), dtype=torch.uint8)
        return blank, j, self._failed[j]

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
        state["_failed"] = {}
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


def _prefetched(batches, depth: int = 2):
    """Iterate ``batches`` with the next ``depth`` read ahead by a thread, so that reading a
    slide (OpenSlide and OpenCV release the GIL) overlaps encoding when there are no reader
    processes (a Dask worker's task). Order and values are unchanged."""
    q: queue.Queue = queue.Queue(depth)
    stop, done = threading.Event(), object()

    def fill() -> None:
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            q.put(err)

    threading.Thread(target=fill, daemon=True, name="patch-prefetch").start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def normalise(images: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 (B, 3, S, S) → float (B, 3, S, S) with the encoder's per-channel mean and std."""
    m = torch.tensor(mean, dtype=torch.float32, device=images.device).view(1, 3, 1, 1) * 255
    s = torch.tensor(std, dtype=torch.float32, device=images.device).view(1, 3, 1, 1) * 255
    return (images.float() - m) / s


@dataclass
class ExtractionReport:
    """Outcome of :func:`extract_features`; ``failed`` maps a slide file name to why it failed."""

    written: list[Path]
    skipped: list[Path]
    n_patches: int
    seconds: float
    failed: dict[str, str] = field(default_factory=dict)
    device: str = "cpu"          #: where the encoder ran ("cpu", "cuda:0"; several: "cuda:0, cuda:1")
    precision: str = "fp32"      #: the encoder's arithmetic: fp32, or autocast to bf16 / fp16

    @property
    def patches_per_second(self) -> float:
        return self.n_patches / self.seconds if self.seconds else float("nan")


def stale_features_reason(job: ExtractionJob, encoder: Encoder) -> str | None:
    """Why the existing ``job.out_path`` does not match this encoder and the current coordinates
    file (None if it does): encoder name, input size, and the coordinates themselves (a re-tiled
    slide has new ones) must all agree."""
    diffs = []
    fattrs = h5_attrs(job.out_path, "features")
    for key, want in (("encoder", encoder.name), ("input_size", int(encoder.input_size))):
        have = fattrs.get(key)
        have = have.decode() if isinstance(have, bytes) else have
        if have is None or have != want:
            diffs.append(f"{key} (file {have if have is not None else 'not recorded'}, "
                         f"requested {want})")
    fcoords, fcattrs = read_coords(job.out_path)
    try:
        coords, cattrs = read_coords(job.coords_path)
    except (OSError, KeyError):
        coords, cattrs = None, {}
    if coords is not None:
        if fcoords.shape != coords.shape or not np.array_equal(fcoords, coords):
            diffs.append(f"coordinates (the features hold {len(fcoords)} patches, "
                         f"{job.coords_path} now has {len(coords)} or other positions)")
        else:
            for key in ("patch_size_level0", "patch_size", "target_mpp"):
                a, b = fcattrs.get(key), cattrs.get(key)
                if a is not None and b is not None and not math.isclose(float(a), float(b)):
                    diffs.append(f"{key} (features {a}, coordinates file {b})")
    if not diffs:
        return None
    return (f"{job.out_path} was made with other settings: {'; '.join(diffs)}. Pass --overwrite "
            "(overwrite=True) to replace it, or write to another output folder.")


#: ``--precision`` choices: ``auto`` is fp32 on the CPU and mixed precision on a GPU (bf16 where
#: the GPU supports it — its range is fp32's, so large ViT activations cannot overflow — else fp16).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``fp32``, ``bf16`` or ``fp16`` for a ``--precision`` value on ``device`` (see
    :data:`PRECISIONS`)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if torch.device(device).type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _autocast(device: torch.device, precision: str):
    """The context the encoder runs in: none for fp32, else ``torch.autocast`` to the half type
    (matrix products and convolutions in half precision, reductions in fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def split_done(jobs: list[ExtractionJob], encoder: Encoder,
               overwrite: bool = False) -> tuple[list[ExtractionJob], list[Path]]:
    """``(pending jobs, outputs kept)``: a job whose output exists is kept (resume) when it was
    made with this encoder, input size and the current coordinates; otherwise
    :class:`StaleFeaturesError` names every such file, before any work, unless ``overwrite``."""
    pending = [j for j in jobs if overwrite or not Path(j.out_path).exists()]
    done = [j for j in jobs if j not in pending]
    stale = [r for j in done if (r := stale_features_reason(j, encoder))]
    if stale:
        raise StaleFeaturesError("\n".join(stale))
    return pending, [Path(j.out_path) for j in done]


def _check_job(job: ExtractionJob) -> str | None:
    """Why ``job`` cannot be encoded (unreadable coordinates or slide, coordinates made from
    another slide), or None. Runs in the main process, before any worker starts."""
    try:
        _, attrs = read_coords(job.coords_path)
    except (OSError, KeyError) as err:
        return f"cannot read the coordinates {job.coords_path}: {err}; re-tile this slide."
    if "patch_size_level0" not in attrs:
        return (f"{job.coords_path} lacks the 'patch_size_level0' attribute; re-tile with "
                "milhelpers or TRIDENT.")
    try:
        with Slide(job.slide_path, mpp=job.mpp) as slide:
            dims = slide.dimensions
    except SlideError as err:
        return str(err)
    want = (attrs.get("level0_width"), attrs.get("level0_height"))
    if None not in want and tuple(int(v) for v in want) != tuple(dims):
        return (f"{job.coords_path} was made from a {want[0]}×{want[1]} px slide but "
                f"{job.slide_path.name} is {dims[0]}×{dims[1]} px: the coordinates belong to "
                "another slide. Re-tile it with --overwrite.")
    return None


def extract_features(jobs: list[ExtractionJob], encoder: Encoder, *, batch_size: int = 64,
                     num_workers: int = 1, overwrite: bool = False, progress: bool = True,
                     precision: str = "auto") -> ExtractionReport:
    """Encode every job's patches and write ``features``/``coords`` HDF5 files.

    Jobs whose output exists with the same encoder, input size and coordinates are skipped
    (resume); an existing output made otherwise raises :class:`StaleFeaturesError` before any
    work, unless ``overwrite``. A slide that cannot be read is recorded in ``report.failed`` and
    the others go on. Output files carry the encoder name and input size as attributes. The
    encoder runs where its weights are (``get_encoder(..., device=)``), in ``precision`` (see
    :data:`PRECISIONS`); features are stored as float32 either way.
    """
    t0 = time.perf_counter()
    device = next(encoder.model.parameters()).device
    precision = resolve_precision(precision, device)
    pending, skipped = split_done(jobs, encoder, overwrite)
    failed: dict[str, str] = {}
    for j in list(pending):
        why = _check_job(j)
        if why:
            failed[Path(j.slide_path).name] = why
            pending.remove(j)
    if not pending:
        return ExtractionReport([], skipped, 0, time.perf_counter() - t0, failed, str(device),
                                precision)
    ds = PatchDataset(pending, encoder.input_size)
    loader = DataLoader(ds, batch_size=batch_size, num_workers=num_workers, shuffle=False,
                        persistent_workers=False, prefetch_factor=4 if num_workers else None,
                        pin_memory=device.type == "cuda")
    buffers: dict[int, list[np.ndarray]] = {}
    broken: dict[int, str] = {}
    written: list[Path] = []

    def flush(j: int) -> None:
        name = pending[j].slide_path.name
        parts = buffers.pop(j, [])
        if j in broken:
            failed[name] = f"reading patches failed: {broken[j]}"
            return
        feats = np.concatenate(parts, axis=0) if parts else np.zeros((0, encoder.dim), np.float32)
        if not np.isfinite(feats).all():
            failed[name] = ("the encoder produced non-finite features; check the slide and the "
                            "weights.")
            return
        try:
            _, cattrs = read_coords(pending[j].coords_path)
            write_features(pending[j].out_path, feats, ds.coords[j], coords_attrs=cattrs,
                           encoder=encoder.name, input_size=encoder.input_size)
        except OSError as err:
            failed[name] = f"writing {pending[j].out_path} failed: {err}"
            return
        written.append(Path(pending[j].out_path))

    done_upto = 0  # jobs [0, done_upto) are written (or failed)
    n_encoded = 0
    bar = progress_bar(total=len(ds), desc=f"encoding ({encoder.name})", unit="patch",
                       enabled=progress)
    for images, owners, errors in (loader if num_workers else _prefetched(loader)):
        owners = owners.numpy()
        ok = np.array([not e for e in errors])
        for j, e in zip(owners[~ok], np.asarray(errors, dtype=object)[~ok]):
            broken.setdefault(int(j), e)
        if ok.any():  # a batch of only unreadable patches is not worth a forward pass
            batch = images[torch.from_numpy(ok)].to(device, non_blocking=True)
            with _autocast(device, precision):
                feats = encoder(normalise(batch, encoder.mean, encoder.std))
            feats = feats.float().cpu().numpy()
            for j in np.unique(owners[ok]):
                if int(j) not in broken:
                    buffers.setdefault(int(j), []).append(feats[owners[ok] == j])
            n_encoded += int(ok.sum())
        # a job is complete once a later job's patches have appeared
        while done_upto < int(owners.max()):
            flush(done_upto)
            done_upto += 1
        bar.update(len(images))
    bar.close()
    while done_upto < len(pending):
        flush(done_upto)
        done_upto += 1
    return ExtractionReport(written, skipped, n_encoded, time.perf_counter() - t0, failed,
                            str(device), precision)


#: Encoders built in this process, by (name, weights, input size, device): a Dask worker builds
#: its encoder once, not once per slide.
_ENCODERS: dict[tuple, Encoder] = {}


def extract_slide(job: ExtractionJob, *, encoder_name: str, weights: str | None = None,
                  input_size: int | None = None, batch_size: int = 64, device: str = "auto",
                  precision: str = "auto", overwrite: bool = False) -> ExtractionReport:
    """One slide's extraction as a Dask task (:func:`milhelpers.pipeline.extract_folder` with a
    scheduler): the worker's encoder, built once per worker process, on its device (worker k of
    a multi-GPU host takes GPU k), with the worker's share of the CPU threads. The task reads
    its slide's patches itself: parallel reading comes from more workers (several may share a
    GPU), not from reader processes — forked from a Dask worker they made a slide 4× slower
    here. Temporary files left by an earlier, killed attempt at this slide are removed first."""
    from .cluster import worker_slot, worker_threads

    torch.set_num_threads(worker_threads())
    dev = resolve_device(device, slot=worker_slot())
    key = (encoder_name, None if weights is None else str(weights), input_size, str(dev))
    if key not in _ENCODERS:
        _ENCODERS[key] = get_encoder(encoder_name, weights=weights, input_size=input_size,
                                     device=dev)
    remove_partials(job.out_path)
    return extract_features([job], _ENCODERS[key], batch_size=batch_size, num_workers=0,
                            overwrite=overwrite, progress=False, precision=precision)
